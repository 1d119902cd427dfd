//! Kubernetes probes: alive, and ready to plan queries.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::reply::json;
use super::Api;

/// How long readiness may wait on a catalog before the probe says no.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Alive: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, description = "The process serves requests")))]
pub async fn healthz() -> Response {
    json(StatusCode::OK, json!({ "status": "ok" }))
}

/// Ready: every catalog answers within the probe's bound, so queries can plan.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "Every catalog answers"),
    (status = 503, description = "A catalog does not answer"),
))]
pub async fn readyz(State(api): State<Api>) -> Response {
    let lake = api.workloads.engine().lake();
    for catalog in lake.catalog_names() {
        let answered = tokio::time::timeout(READY_TIMEOUT, lake.namespaces(catalog)).await;
        let problem = match answered {
            Ok(Ok(_)) => continue,
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {}s", READY_TIMEOUT.as_secs()),
        };
        let body = json!({ "status": "unavailable", "catalog": catalog, "details": problem });
        return json(StatusCode::SERVICE_UNAVAILABLE, body);
    }
    json(StatusCode::OK, json!({ "status": "ready" }))
}
