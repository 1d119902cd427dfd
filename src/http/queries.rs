//! The observatory's query list as JSON, and its cancel button: this node's
//! statements and workloads (running ones with their progress), as the
//! caller may see them, and cancellation of one the caller may see.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::reply::{json, ApiError, Failure, Unauthorized};
use super::Api;
use crate::access::Principal;
use crate::history::Record;

#[derive(Debug, Deserialize, IntoParams)]
pub struct QueriesQuery {
    /// `running`, `finished`, `failed` or `cancelled`.
    state: Option<String>,
    principal: Option<String>,
    /// `flight`, `floe.run` or `http`.
    protocol: Option<String>,
    /// Statements that read or wrote this table (as written, e.g. `default.flowers`).
    table: Option<String>,
    /// At most this many, newest first (default 100, at most 10000).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueriesResponse {
    pub ok: bool,
    pub queries: Vec<Record>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelResponse {
    pub ok: bool,
    /// Whether the query was still running when the cancellation arrived.
    pub cancelled: bool,
}

impl QueriesQuery {
    fn keeps(&self, record: &Record) -> bool {
        self.state.as_deref().is_none_or(|state| record.state.as_str() == state)
            && self.principal.as_deref().is_none_or(|principal| record.principal == principal)
            && self.protocol.as_deref().is_none_or(|protocol| record.protocol == protocol)
            && self.table.as_deref().is_none_or(|table| record.tables.iter().any(|t| t.eq_ignore_ascii_case(table)))
    }

    fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.as_deref().map(str::parse::<usize>) {
            None => Ok(100),
            Some(Ok(limit)) if (1..=10_000).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError::bad_request("`limit` is a whole number from 1 to 10000")),
        }
    }
}

/// List queries.
#[utoipa::path(get, path = "/api/v1/queries", tag = "observatory", params(QueriesQuery),
    responses(
        (status = 200, description = "Running queries first, then finished ones, newest first", body = QueriesResponse),
        (status = 400, description = "A filter is not valid", body = Failure),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
    ),
    security(("bearerAuth" = [])))]
pub async fn queries(State(api): State<Api>, Extension(who): Extension<Principal>, Query(query): Query<QueriesQuery>) -> Result<Response, ApiError> {
    let limit = query.limit()?;
    if let Some(state) = query.state.as_deref() {
        if !["running", "finished", "failed", "cancelled"].contains(&state) {
            return Err(ApiError::bad_request("`state` is running, finished, failed or cancelled"));
        }
    }
    let records = api.workloads.engine().history().visible_to(&who).into_iter().filter(|r| query.keeps(r)).take(limit).collect();
    Ok(json(StatusCode::OK, QueriesResponse { ok: true, queries: records }))
}

/// Cancel a query.
#[utoipa::path(post, path = "/api/v1/queries/{query_id}/cancel", tag = "observatory",
    params(("query_id" = String, Path, description = "The query's id")),
    responses(
        (status = 200, description = "Cancellation requested (as CancelFlightInfo does)", body = CancelResponse),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
        (status = 404, description = "No query the caller may see has this id", body = Failure),
    ),
    security(("bearerAuth" = [])))]
pub async fn cancel(State(api): State<Api>, Extension(who): Extension<Principal>, Path(query_id): Path<String>) -> Result<Response, ApiError> {
    let record = visible(&api, &who, &query_id)?;
    let cancelled = record.state == crate::history::State::Running && api.workloads.engine().running().cancel(&query_id);
    Ok(json(StatusCode::OK, CancelResponse { ok: true, cancelled }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueryDetailResponse {
    pub ok: bool,
    pub query: Record,
    /// For a query: the plan Floe would run now (`EXPLAIN`: each scan's
    /// snapshot and pruning, then Polars' optimized plan), if it still plans.
    pub plan: Option<String>,
}

/// Describe a query.
#[utoipa::path(get, path = "/api/v1/queries/{query_id}", tag = "observatory",
    params(("query_id" = String, Path, description = "The query's id")),
    responses(
        (status = 200, description = "The query and its plan", body = QueryDetailResponse),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
        (status = 404, description = "No query the caller may see has this id", body = Failure),
    ),
    security(("bearerAuth" = [])))]
pub async fn query(State(api): State<Api>, Extension(who): Extension<Principal>, Path(query_id): Path<String>) -> Result<Response, ApiError> {
    let record = visible(&api, &who, &query_id)?;
    let plan = match record.kind.as_str() {
        "SELECT" | "WITH" => explain(api.workloads.engine(), &record.sql, &who).await,
        _ => None,
    };
    Ok(json(StatusCode::OK, QueryDetailResponse { ok: true, query: record, plan }))
}

/// The query with this id, if the caller may see it: another's is "not found".
fn visible(api: &Api, who: &Principal, query_id: &str) -> Result<Record, ApiError> {
    let found = api.workloads.engine().history().visible_to(who).into_iter().find(|r| r.query_id == query_id);
    found.ok_or_else(|| crate::exec::Error::NotFound(format!("no query `{query_id}` that you may see")).into())
}

async fn explain(engine: &crate::exec::Engine, sql: &str, who: &Principal) -> Option<String> {
    use futures::TryStreamExt;
    let plan = engine.plan(&format!("EXPLAIN {sql}"), Vec::new(), Default::default(), who).await.ok()?;
    let (_, batches) = engine.execute(&plan.ticket, who).await.ok()?;
    let batches: Vec<arrow::record_batch::RecordBatch> = batches.try_collect().await.ok()?;
    let mut lines = Vec::new();
    for batch in &batches {
        let column = batch.column(batch.num_columns() - 1);
        let text = column.as_any().downcast_ref::<arrow::array::StringArray>()?;
        lines.extend(text.iter().flatten().map(str::to_string));
    }
    Some(lines.join("\n"))
}
