//! Where table files live: the local filesystem or S3-compatible object storage.
//!
//! Settings travel as Iceberg FileIO properties (`s3.endpoint`, …) because that
//! is the one form every path shares: iceberg's own IO reads them, the REST
//! client merges credentials a catalog vends into them, and the Polars reader
//! takes its cloud options from a table's FileIO properties (see `exec::cloud`).

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{LocalFsStorageFactory, StorageFactory};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use serde::Deserialize;

/// S3-compatible object storage settings for one catalog.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// `http://127.0.0.1:3900` for Garage/MinIO; unset for AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which most non-AWS servers need.
    #[serde(default)]
    pub path_style: bool,
    /// Names of environment variables holding the keys; secrets never appear inline.
    pub access_key_id_env: Option<String>,
    pub secret_access_key_env: Option<String>,
    pub session_token_env: Option<String>,
}

impl S3Settings {
    /// The FileIO properties for these settings; keys are read from the
    /// environment now, so a missing variable stops start-up with its name.
    pub fn file_io_props(&self) -> Result<HashMap<String, String>, String> {
        let mut props = HashMap::new();
        let mut set = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                props.insert(key.to_string(), value.clone());
            }
        };
        set(iceberg::io::S3_ENDPOINT, &self.endpoint);
        set(iceberg::io::S3_REGION, &self.region);
        for (key, variable) in [
            (iceberg::io::S3_ACCESS_KEY_ID, &self.access_key_id_env),
            (iceberg::io::S3_SECRET_ACCESS_KEY, &self.secret_access_key_env),
            (iceberg::io::S3_SESSION_TOKEN, &self.session_token_env),
        ] {
            if let Some(variable) = variable {
                let value =
                    std::env::var(variable).map_err(|_| format!("environment variable {variable} is not set"))?;
                props.insert(key.to_string(), value);
            }
        }
        if self.path_style {
            props.insert(iceberg::io::S3_PATH_STYLE_ACCESS.to_string(), "true".to_string());
        }
        Ok(props)
    }
}

/// The storage a catalog's tables need. Locations with a scheme (`s3://`,
/// `file://`) resolve per path; plain paths (Floe's embedded warehouse and
/// every table it wrote before S3 existed) stay on the local filesystem,
/// which the resolving factory would refuse as not being URLs.
pub fn factory_for(warehouse: Option<&str>) -> Arc<dyn StorageFactory> {
    match warehouse {
        Some(location) if !location.contains("://") => Arc::new(LocalFsStorageFactory),
        _ => Arc::new(OpenDalResolvingStorageFactory::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_environment_and_missing_ones_are_named() {
        std::env::set_var("FLOE_TEST_S3_KEY", "AKIA");
        let settings = S3Settings {
            endpoint: Some("http://127.0.0.1:3900".into()),
            path_style: true,
            access_key_id_env: Some("FLOE_TEST_S3_KEY".into()),
            ..Default::default()
        };
        let props = settings.file_io_props().unwrap();
        assert_eq!(props["s3.access-key-id"], "AKIA");
        assert_eq!(props["s3.path-style-access"], "true");
        let missing = S3Settings { secret_access_key_env: Some("FLOE_TEST_S3_NOT_SET".into()), ..Default::default() };
        assert!(missing.file_io_props().unwrap_err().contains("FLOE_TEST_S3_NOT_SET"));
    }
}
