//! The HTTP side of the Flight port (axum beside tonic on one listener):
//! Kubernetes probes now; the HTTP API lands here next. Everything here but
//! the probes goes through the same auth layer as Flight.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::workload::Workloads;

/// Paths open without credentials: probes carry none.
pub const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// How long readiness may wait on a catalog before the probe says no.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router(workloads: Arc<Workloads>) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(move || readyz(workloads.clone())))
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Alive: the process serves requests.
async fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({ "status": "ok" }))
}

/// Ready: every catalog answers within the probe's bound, so queries can plan.
async fn readyz(workloads: Arc<Workloads>) -> Response {
    let lake = workloads.engine().lake();
    for catalog in lake.catalog_names() {
        let answered = tokio::time::timeout(READY_TIMEOUT, lake.namespaces(catalog)).await;
        let problem = match answered {
            Ok(Ok(_)) => continue,
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {}s", READY_TIMEOUT.as_secs()),
        };
        let body = serde_json::json!({ "status": "unavailable", "catalog": catalog, "details": problem });
        return json(StatusCode::SERVICE_UNAVAILABLE, body);
    }
    json(StatusCode::OK, serde_json::json!({ "status": "ready" }))
}
