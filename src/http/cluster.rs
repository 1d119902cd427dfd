//! The observatory's cluster view: this node's host samples and, on a
//! coordinator, each live worker's heartbeat age and the host samples its
//! heartbeats carried.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use super::reply::{json, ApiError, Unauthorized};
use super::Api;
use crate::cluster::WorkerView;
use crate::host::Sample;

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterResponse {
    pub ok: bool,
    /// `coordinator`, `worker` or `single` (no cluster).
    pub role: String,
    /// This node's host samples, the last hour.
    pub host: Vec<Sample>,
    pub workers: Vec<WorkerView>,
}

/// Describe the cluster.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "observatory",
    responses(
        (status = 200, description = "This node and its workers", body = ClusterResponse),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
    ),
    security(("bearerAuth" = [])))]
pub async fn cluster(State(api): State<Api>) -> Result<Response, ApiError> {
    let (role, workers) = match api.workloads.cluster() {
        Some(cluster) => ("coordinator", cluster.workers()),
        None if api.workloads.is_worker() => ("worker", Vec::new()),
        None => ("single", Vec::new()),
    };
    Ok(json(StatusCode::OK, ClusterResponse { ok: true, role: role.into(), host: api.workloads.host().all(), workers }))
}
