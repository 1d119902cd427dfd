//! `GET /api/v1/openapi.json`: the API's OpenAPI document, generated from
//! the handlers and the very types they read and write, so it cannot drift.

use axum::http::StatusCode;
use axum::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::reply::json;

pub const PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Floe API",
        description = "Polars workloads, SQL and lake browsing over Apache Iceberg: oleander's warehouse API, self-hosted.",
    ),
    paths(
        super::warehouse::polars,
        super::warehouse::query,
        super::queries::queries,
        super::queries::query,
        super::queries::cancel,
        super::queries::profile,
        super::cluster::cluster,
        super::catalogs::catalogs,
        super::catalogs::namespaces,
        super::catalogs::tables,
        super::catalogs::table,
        super::results::download,
        super::probes::healthz,
        super::probes::readyz,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "warehouse", description = "Run Polars workloads and SQL"),
        (name = "catalogs", description = "Browse the lake"),
        (name = "observatory", description = "What the server runs: queries live and past, and their cancellation"),
        (name = "results", description = "Results too large to answer inline"),
        (name = "probes", description = "Kubernetes liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The document, built once.
fn document_json() -> &'static serde_json::Value {
    static DOCUMENT: once_cell::sync::Lazy<serde_json::Value> =
        once_cell::sync::Lazy::new(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or_default());
    &DOCUMENT
}

/// The OpenAPI document.
pub async fn document() -> Response {
    json(StatusCode::OK, document_json())
}
