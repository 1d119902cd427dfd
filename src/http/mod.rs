//! The HTTP side of the Flight port (axum beside tonic on one listener):
//! oleander's warehouse API (`/api/v1/warehouse/polars`, `/query`), lake
//! browsing (`/api/v1/catalogs/…`), stored-result downloads, the OpenAPI
//! document and Kubernetes probes. Everything but the probes, the document
//! and signed download links goes through the same auth layer as Flight,
//! which hands handlers the caller's principal.

mod catalogs;
mod cluster;
mod cors;
mod openapi;
mod probes;
mod queries;
mod reply;
mod results;
mod rows;
mod warehouse;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::config::HttpArgs;
use crate::workload::Workloads;

/// What every handler shares.
#[derive(Clone)]
pub struct Api {
    workloads: Arc<Workloads>,
    /// Whether clients reach this listener over TLS (download links say https).
    tls: bool,
}

/// Requests that carry no credentials: probes, the API's description,
/// download links (signed themselves) and CORS preflights.
pub fn is_open(method: &http::Method, path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | openapi::PATH)
        || path.starts_with(results::PREFIX)
        || method == http::Method::OPTIONS
}

pub fn router(workloads: Arc<Workloads>, settings: &HttpArgs, tls: bool) -> Router {
    let api = Api { workloads, tls };
    let router = Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route(openapi::PATH, get(openapi::document))
        .route("/api/v1/warehouse/polars", post(warehouse::polars))
        .route("/api/v1/warehouse/query", post(warehouse::query))
        .route("/api/v1/queries", get(queries::queries))
        .route("/api/v1/queries/{query_id}", get(queries::query))
        .route("/api/v1/queries/{query_id}/cancel", post(queries::cancel))
        .route("/api/v1/queries/{query_id}/profile", post(queries::profile))
        .route("/api/v1/cluster", get(cluster::cluster))
        .route("/api/v1/catalogs", get(catalogs::catalogs))
        .route("/api/v1/catalogs/{catalog}/namespaces", get(catalogs::namespaces))
        .route("/api/v1/catalogs/{catalog}/namespaces/{namespace}/tables", get(catalogs::tables))
        .route("/api/v1/catalogs/{catalog}/namespaces/{namespace}/tables/{table}", get(catalogs::table))
        .route(&format!("{}{{file}}", results::PREFIX), get(results::download))
        .fallback(reply::no_route)
        .with_state(api);
    cors::layer(router, &settings.cors_origins)
}
