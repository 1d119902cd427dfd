//! Lake browsing in the envelopes of oleander's catalog API: catalogs,
//! their namespaces (nested ones dotted), tables, and a table's Iceberg
//! metadata. A caller sees only namespaces its grants reach.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use iceberg::NamespaceIdent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::reply::{json, ApiError, Failure, Unauthorized};
use super::Api;
use crate::access::{Principal, Right};
use crate::catalog::{self, TableRef};
use crate::error::Error;

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredCatalog {
    pub name: String,
    /// `sql` or `rest`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Connection settings, secrets left out.
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableName {
    pub catalog: String,
    /// Dotted when nested.
    pub namespace: String,
    pub table: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogsResponse {
    pub ok: bool,
    #[serde(rename = "registeredCatalogs")]
    pub registered_catalogs: Vec<RegisteredCatalog>,
    /// Every visible table with `?counts=true`; empty otherwise.
    pub catalogs: Vec<TableName>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamespacesResponse {
    pub ok: bool,
    pub catalog: String,
    pub namespaces: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TablesResponse {
    pub ok: bool,
    pub tables: Vec<TableName>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableResponse {
    pub ok: bool,
    /// The table's Iceberg metadata as the spec's JSON (`format-version`,
    /// `location`, `schemas`, `current-schema-id`, `partition-specs`, `snapshots`, `properties`, …).
    #[schema(value_type = Object)]
    pub table: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CatalogsQuery {
    /// `true` lists every visible table too.
    #[param(value_type = Option<bool>)]
    counts: Option<String>,
}

impl CatalogsQuery {
    fn counts(&self) -> Result<bool, ApiError> {
        match self.counts.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("`counts` is true or false, not `{other}`"))),
        }
    }
}

/// The namespaces of `catalog` the caller may see, dotted.
async fn visible_namespaces(api: &Api, catalog: &str, who: &Principal) -> crate::error::Result<Vec<String>> {
    let lake = api.workloads.engine().lake();
    let policy = api.workloads.engine().policy();
    let namespaces = lake.namespaces(catalog).await?;
    Ok(namespaces.iter().map(|ns| ns.join(".")).filter(|ns| policy.sees(who, catalog, ns)).collect())
}

async fn tables_of(api: &Api, catalog: &str, namespace: &str, who: &Principal) -> crate::error::Result<Vec<TableName>> {
    if !visible_namespaces(api, catalog, who).await?.iter().any(|ns| ns == namespace) {
        return Err(catalog::Error::SchemaNotFound(format!("{catalog}.{namespace}")).into());
    }
    let ident = namespace_ident(namespace)?;
    let tables = api.workloads.engine().lake().tables(catalog, &ident).await?;
    Ok(tables
        .into_iter()
        .map(|t| TableName { catalog: catalog.to_string(), namespace: namespace.to_string(), table: t.name().to_string() })
        .collect())
}

fn namespace_ident(namespace: &str) -> crate::error::Result<NamespaceIdent> {
    let parts: Vec<String> = namespace.split('.').map(str::to_string).collect();
    NamespaceIdent::from_vec(parts).map_err(|_| catalog::Error::InvalidName(namespace.to_string()).into())
}

/// List catalogs.
#[utoipa::path(get, path = "/api/v1/catalogs", tag = "catalogs", params(CatalogsQuery),
    responses(
        (status = 200, description = "The catalogs", body = CatalogsResponse),
        (status = 400, description = "`counts` is not true or false", body = Failure),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
    ),
    security(("bearerAuth" = [])))]
pub async fn catalogs(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Query(query): Query<CatalogsQuery>,
) -> Result<Response, ApiError> {
    let counts = query.counts()?;
    let lake = api.workloads.engine().lake();
    let mut registered = Vec::new();
    let mut tables = Vec::new();
    for name in lake.catalog_names() {
        let info = lake.info(name).map_err(Error::from)?;
        registered.push(RegisteredCatalog { name: name.to_string(), kind: info.kind.into(), properties: info.properties.clone() });
        if counts {
            for namespace in visible_namespaces(&api, name, &who).await? {
                tables.extend(tables_of(&api, name, &namespace, &who).await?);
            }
        }
    }
    Ok(json(StatusCode::OK, CatalogsResponse { ok: true, registered_catalogs: registered, catalogs: tables }))
}

/// List a catalog's namespaces.
#[utoipa::path(get, path = "/api/v1/catalogs/{catalog}/namespaces", tag = "catalogs",
    params(("catalog" = String, Path, description = "Catalog name")),
    responses(
        (status = 200, description = "Namespaces, nested ones dotted", body = NamespacesResponse),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
        (status = 404, description = "No such catalog", body = Failure),
    ),
    security(("bearerAuth" = [])))]
pub async fn namespaces(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Path(catalog): Path<String>,
) -> Result<Response, ApiError> {
    let namespaces = visible_namespaces(&api, &catalog, &who).await?;
    Ok(json(StatusCode::OK, NamespacesResponse { ok: true, catalog, namespaces }))
}

/// List a namespace's tables.
#[utoipa::path(get, path = "/api/v1/catalogs/{catalog}/namespaces/{namespace}/tables", tag = "catalogs",
    params(("catalog" = String, Path, description = "Catalog name"), ("namespace" = String, Path, description = "Namespace, dotted when nested")),
    responses(
        (status = 200, description = "The tables", body = TablesResponse),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
        (status = 404, description = "No such catalog or namespace", body = Failure),
    ),
    security(("bearerAuth" = [])))]
pub async fn tables(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Path((catalog, namespace)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let tables = tables_of(&api, &catalog, &namespace, &who).await?;
    Ok(json(StatusCode::OK, TablesResponse { ok: true, tables }))
}

/// A table's Iceberg metadata.
#[utoipa::path(get, path = "/api/v1/catalogs/{catalog}/namespaces/{namespace}/tables/{table}", tag = "catalogs",
    params(
        ("catalog" = String, Path, description = "Catalog name"),
        ("namespace" = String, Path, description = "Namespace, dotted when nested"),
        ("table" = String, Path, description = "Table name"),
    ),
    responses(
        (status = 200, description = "The table's metadata", body = TableResponse),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
        (status = 403, description = "The caller may not read the table", body = Failure),
        (status = 404, description = "No such catalog, namespace or table", body = Failure),
    ),
    security(("bearerAuth" = [])))]
pub async fn table(
    State(api): State<Api>,
    Extension(who): Extension<Principal>,
    Path((catalog, namespace, table)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let engine = api.workloads.engine();
    engine.lake().info(&catalog).map_err(Error::from)?;
    let table_ref = TableRef { catalog, ident: iceberg::TableIdent::new(namespace_ident(&namespace)?, table) };
    engine.authorize(&who, &table_ref, Right::Read)?;
    let loaded = engine.lake().load(&table_ref).await.map_err(Error::from)?;
    let metadata = serde_json::to_value(loaded.metadata())
        .map_err(|e| Error::Internal(format!("table `{table_ref}` metadata as JSON: {e}")))?;
    Ok(json(StatusCode::OK, TableResponse { ok: true, table: metadata }))
}
