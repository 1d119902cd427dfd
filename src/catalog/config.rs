//! `--config floe.toml`: more catalogs beside the one the flags define.
//!
//! ```toml
//! [[catalogs]]
//! name = "archive"
//! type = "sql"
//! uri_env = "ARCHIVE_CATALOG"  # secrets (URIs with passwords) only from the environment
//! warehouse = "/data/archive"
//!
//! [[catalogs]]
//! name = "lake"
//! type = "rest"
//! uri = "https://catalog.example.com"
//! warehouse = "analytics"            # optional: what the REST server calls the warehouse
//! token_env = "LAKE_TOKEN"           # bearer token, or:
//! credential_env = "LAKE_CREDENTIAL" # OAuth2 client credentials `id:secret`
//! oauth2_server_uri = "https://auth.example.com/token"
//! scope = "catalog"
//! headers = { "X-Tenant" = "acme" }
//!
//! [[catalogs]]
//! name = "s3lake"
//! type = "sql"
//! uri = "sqlite:///data/s3lake.db"
//! warehouse = "s3://bucket/warehouse"
//! [catalogs.s3]                      # for REST catalogs too, unless the catalog vends credentials
//! endpoint = "http://127.0.0.1:3900"
//! region = "garage"
//! path_style = true
//! access_key_id_env = "S3_KEY_ID"
//! secret_access_key_env = "S3_SECRET"
//! ```

use std::path::Path;

use serde::Deserialize;

use super::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub catalogs: Vec<CatalogConfig>,
    /// Authorization (`access::Policy` reads them).
    #[serde(default, rename = "grants")]
    _grants: Vec<toml::Value>,
    #[serde(default, rename = "tokens")]
    _tokens: Vec<toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    pub name: String,
    #[serde(rename = "type", default = "sql_kind")]
    pub kind: String,
    pub uri: Option<String>,
    pub uri_env: Option<String>,
    pub warehouse: Option<String>,
    /// REST only: secrets by environment variable name, never inline.
    pub token_env: Option<String>,
    pub credential_env: Option<String>,
    pub oauth2_server_uri: Option<String>,
    pub scope: Option<String>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Object storage for the catalog's tables (and credentials a REST catalog does not vend).
    #[serde(default)]
    pub s3: super::storage::S3Settings,
}

fn sql_kind() -> String {
    "sql".into()
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {message}", path.display()))
}

/// A resolved SQL catalog: name, connection URI, warehouse and the FileIO
/// properties of its storage (`s3.*`; empty for local files).
pub struct SqlCatalogSpec {
    pub name: String,
    pub uri: String,
    pub warehouse: String,
    pub storage: std::collections::HashMap<String, String>,
}

/// A resolved REST catalog: its URI and the properties iceberg's REST client takes
/// (`warehouse`, `token`, `credential`, `oauth2-server-uri`, `scope`, `header.*`).
pub struct RestCatalogSpec {
    pub name: String,
    pub uri: String,
    pub props: std::collections::HashMap<String, String>,
}

pub enum CatalogSpec {
    Sql(SqlCatalogSpec),
    Rest(RestCatalogSpec),
}

/// What the HTTP API shows of a catalog: its type and settings, secrets left out.
#[derive(Debug, Clone)]
pub struct CatalogInfo {
    pub kind: &'static str,
    pub properties: std::collections::BTreeMap<String, String>,
}

impl CatalogSpec {
    pub fn info(&self) -> CatalogInfo {
        let mut properties = std::collections::BTreeMap::new();
        let kind = match self {
            CatalogSpec::Sql(spec) => {
                properties.insert("uri".into(), super::redacted(&spec.uri));
                properties.insert("warehouse".into(), spec.warehouse.clone());
                "sql"
            }
            CatalogSpec::Rest(spec) => {
                properties.insert("uri".into(), super::redacted(&spec.uri));
                if let Some(warehouse) = spec.props.get("warehouse") {
                    properties.insert("warehouse".into(), warehouse.clone());
                }
                "rest"
            }
        };
        CatalogInfo { kind, properties }
    }

    pub fn name(&self) -> &str {
        match self {
            CatalogSpec::Sql(spec) => &spec.name,
            CatalogSpec::Rest(spec) => &spec.name,
        }
    }
}

pub fn load(path: &Path) -> Result<Vec<CatalogSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| invalid(path, e))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| invalid(path, e))?;
    file.catalogs.into_iter().map(|catalog| resolve(path, catalog)).collect()
}

fn env_secret(path: &Path, catalog: &str, variable: &str) -> Result<String> {
    std::env::var(variable).map_err(|_| invalid(path, format!("catalog `{catalog}`: environment variable {variable} is not set")))
}

fn resolve(path: &Path, catalog: CatalogConfig) -> Result<CatalogSpec> {
    match catalog.kind.as_str() {
        "sql" => resolve_sql(path, catalog).map(CatalogSpec::Sql),
        "rest" => resolve_rest(path, catalog).map(CatalogSpec::Rest),
        other => Err(invalid(path, format!("catalog `{}`: type `{other}` is not one of \"sql\", \"rest\"", catalog.name))),
    }
}

fn resolve_rest(path: &Path, catalog: CatalogConfig) -> Result<RestCatalogSpec> {
    let name = catalog.name.clone();
    let uri = match (catalog.uri, catalog.uri_env) {
        (Some(uri), None) => uri,
        (None, Some(variable)) => env_secret(path, &name, &variable)?,
        _ => return Err(invalid(path, format!("catalog `{name}`: set exactly one of uri and uri_env"))),
    };
    let mut props = std::collections::HashMap::new();
    if let Some(warehouse) = catalog.warehouse {
        props.insert("warehouse".to_string(), warehouse);
    }
    if let Some(variable) = catalog.token_env {
        props.insert("token".to_string(), env_secret(path, &name, &variable)?);
    }
    if let Some(variable) = catalog.credential_env {
        props.insert("credential".to_string(), env_secret(path, &name, &variable)?);
    }
    if let Some(server) = catalog.oauth2_server_uri {
        props.insert("oauth2-server-uri".to_string(), server);
    }
    if let Some(scope) = catalog.scope {
        props.insert("scope".to_string(), scope);
    }
    for (header, value) in catalog.headers {
        props.insert(format!("header.{header}"), value);
    }
    // Credentials the catalog vends with a table override these.
    props.extend(storage_props(path, &name, &catalog.s3)?);
    Ok(RestCatalogSpec { name, uri, props })
}

fn resolve_sql(path: &Path, catalog: CatalogConfig) -> Result<SqlCatalogSpec> {
    let Some(warehouse) = catalog.warehouse.clone() else {
        return Err(invalid(path, format!("catalog `{}`: a SQL catalog needs `warehouse`", catalog.name)));
    };
    if catalog.token_env.is_some() || catalog.credential_env.is_some() || !catalog.headers.is_empty() {
        return Err(invalid(path, format!("catalog `{}`: token, credential and headers are for REST catalogs", catalog.name)));
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
        (None, Some(variable)) => env_secret(path, &catalog.name, &variable)?,
        _ => return Err(invalid(path, format!("catalog `{}`: set exactly one of uri and uri_env", catalog.name))),
    };
    let storage = storage_props(path, &catalog.name, &catalog.s3)?;
    Ok(SqlCatalogSpec { name: catalog.name, uri, warehouse, storage })
}

fn storage_props(
    path: &Path,
    catalog: &str,
    s3: &super::storage::S3Settings,
) -> Result<std::collections::HashMap<String, String>> {
    s3.file_io_props().map_err(|e| invalid(path, format!("catalog `{catalog}`: s3: {e}")))
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
        assert!(matches!(&catalogs[1], CatalogSpec::Sql(spec) if spec.uri == "postgres://u:secret@db/archive"));

        std::fs::write(&path, "[[catalogs]]\nname = \"c\"\nuri = \"postgres://u:pw@db/x\"\nwarehouse = \"/w\"\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Config(m)) if m.contains("uri_env")));
        std::fs::write(&path, "[[catalogs]]\nname = \"r\"\ntype = \"hive\"\nuri = \"thrift://x\"\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Config(m)) if m.contains("not one of")));
        // REST: the token comes from the environment; headers become `header.*` properties.
        std::env::set_var("FLOE_TEST_REST_TOKEN", "t0k3n");
        std::fs::write(
            &path,
            "[[catalogs]]\nname = \"r\"\ntype = \"rest\"\nuri = \"http://x\"\nwarehouse = \"w\"\n\
             token_env = \"FLOE_TEST_REST_TOKEN\"\nheaders = { \"X-Tenant\" = \"acme\" }\n",
        )
        .unwrap();
        let catalogs = load(&path).unwrap();
        let CatalogSpec::Rest(rest) = &catalogs[0] else { panic!("not a REST catalog") };
        assert_eq!((rest.uri.as_str(), rest.props["token"].as_str()), ("http://x", "t0k3n"));
        assert_eq!((rest.props["warehouse"].as_str(), rest.props["header.X-Tenant"].as_str()), ("w", "acme"));
        std::fs::write(&path, "[[catalogs]]\nname = \"r\"\ntype = \"rest\"\nuri = \"http://x\"\ntoken = \"inline\"\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Config(m)) if m.contains("token")));
        std::fs::write(&path, "[[catalogs]]\nname = \"x\"\nwarehouse = \"w\"\ncolour = 1\n").unwrap();
        assert!(matches!(load(&path), Err(Error::Config(m)) if m.contains("colour")));
    }
}
