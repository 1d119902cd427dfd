//! `--config floe.toml`: more catalogs beside the one the flags define.
//!
//! ```toml
//! [[catalogs]]
//! name = "archive"
//! type = "sql"                 # "rest" comes later
//! uri_env = "ARCHIVE_CATALOG"  # secrets (URIs with passwords) only from the environment
//! warehouse = "/data/archive"
//! ```

use std::path::Path;

use serde::Deserialize;

use super::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub catalogs: Vec<CatalogConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    pub name: String,
    #[serde(rename = "type", default = "sql_kind")]
    pub kind: String,
    pub uri: Option<String>,
    pub uri_env: Option<String>,
    pub warehouse: String,
}

fn sql_kind() -> String {
    "sql".into()
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {message}", path.display()))
}

/// A resolved SQL catalog: name, connection URI and warehouse.
pub struct SqlCatalogSpec {
    pub name: String,
    pub uri: String,
    pub warehouse: String,
}

pub fn load(path: &Path) -> Result<Vec<SqlCatalogSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| invalid(path, e))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| invalid(path, e))?;
    file.catalogs.into_iter().map(|catalog| resolve(path, catalog)).collect()
}

fn resolve(path: &Path, catalog: CatalogConfig) -> Result<SqlCatalogSpec> {
    if catalog.kind != "sql" {
        return Err(invalid(path, format!("catalog `{}`: type `{}` is not supported yet (use \"sql\")", catalog.name, catalog.kind)));
    }
    let uri = match (catalog.uri, catalog.uri_env) {
        (Some(uri), None) => {
            if has_password(&uri) {
                return Err(invalid(path, format!(
                    "catalog `{}`: the uri holds a password; put it in an environment variable and name it with uri_env",
                    catalog.name
                )));
            }
            uri
        }
        (None, Some(variable)) => std::env::var(&variable)
            .map_err(|_| invalid(path, format!("catalog `{}`: environment variable {variable} is not set", catalog.name)))?,
        _ => return Err(invalid(path, format!("catalog `{}`: set exactly one of uri and uri_env", catalog.name))),
    };
    Ok(SqlCatalogSpec { name: catalog.name, uri, warehouse: catalog.warehouse })
}

/// `scheme://user:password@host…`
fn has_password(uri: &str) -> bool {
    uri.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(credentials, _)| credentials.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_catalogs_and_keeps_secrets_out_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floe.toml");
        std::env::set_var("FLOE_TEST_ARCHIVE_URI", "postgres://u:secret@db/archive");
        std::fs::write(
            &path,
            "[[catalogs]]\nname = \"a\"\nuri = \"sqlite:///tmp/a.db\"\nwarehouse = \"/tmp/a\"\n\n\
             [[catalogs]]\nname = \"b\"\nuri_env = \"FLOE_TEST_ARCHIVE_URI\"\nwarehouse = \"/tmp/b\"\n",
        )
        .unwrap();
        let catalogs = load(&path).unwrap();
        assert_eq!(catalogs[1].uri, "postgres://u:secret@db/archive");

        std::fs::write(&path, "[[catalogs]]\nname = \"c\"\nuri = \"postgres://u:pw@db/x\"\nwarehouse = \"/w\"\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Config(m)) if m.contains("uri_env")));
        std::fs::write(&path, "[[catalogs]]\nname = \"r\"\ntype = \"rest\"\nuri = \"http://x\"\nwarehouse = \"w\"\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Config(m)) if m.contains("not supported yet")));
        std::fs::write(&path, "[[catalogs]]\nname = \"x\"\nwarehouse = \"w\"\ncolour = 1\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Config(m)) if m.contains("colour")));
    }
}
