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
    let live = matches!(record.state, crate::history::State::Running | crate::history::State::Queued);
    let cancelled = live && api.workloads.engine().running().cancel(&query_id);
    Ok(json(StatusCode::OK, CancelResponse { ok: true, cancelled }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueryDetailResponse {
    pub ok: bool,
    pub query: Record,
    /// For a query: its plan at the snapshots it read (`EXPLAIN`: each
    /// scan's snapshot and pruning, then Polars' optimized plan), if it still plans.
    pub plan: Option<String>,
    /// On a coordinator, the attempts of its distributed partitions and
    /// shuffle map tasks, per worker.
    pub tasks: Vec<crate::cluster::TaskRun>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse {
    pub ok: bool,
    /// `EXPLAIN ANALYZE` at the snapshots the query read, a line each.
    pub plan: Vec<String>,
    /// Each Polars operator and when it ran, in microseconds from the start.
    pub operators: Vec<Operator>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Operator {
    pub operator: String,
    pub start_us: i64,
    pub end_us: i64,
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
    let plan = match is_query(&record) {
        true => explain(api.workloads.engine(), "EXPLAIN", &record, &who).await.ok().map(|lines| plan_text(&lines)),
        false => None,
    };
    let tasks = api.workloads.cluster().map(|cluster| cluster.tasks_of(&query_id)).unwrap_or_default();
    Ok(json(StatusCode::OK, QueryDetailResponse { ok: true, query: record, plan, tasks }))
}

/// Profile a query.
#[utoipa::path(post, path = "/api/v1/queries/{query_id}/profile", tag = "observatory",
    params(("query_id" = String, Path, description = "The query's id")),
    responses(
        (status = 200, description = "The query run again under Polars' profiler, at the snapshots it read", body = ProfileResponse),
        (status = 400, description = "Not a query (a write, a script), or it no longer plans", body = Failure),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
        (status = 404, description = "No query the caller may see has this id", body = Failure),
    ),
    security(("bearerAuth" = [])))]
pub async fn profile(State(api): State<Api>, Extension(who): Extension<Principal>, Path(query_id): Path<String>) -> Result<Response, ApiError> {
    let record = visible(&api, &who, &query_id)?;
    if !is_query(&record) {
        return Err(ApiError::bad_request(format!("a {} is not profiled: only queries run again", record.kind)));
    }
    let lines = explain(api.workloads.engine(), "EXPLAIN ANALYZE", &record, &who).await?;
    let operators = lines
        .iter()
        .filter_map(|line| Some(Operator { operator: line.1.clone()?, start_us: line.2?, end_us: line.3? }))
        .collect();
    Ok(json(StatusCode::OK, ProfileResponse { ok: true, plan: lines.into_iter().map(|line| line.0).collect(), operators }))
}

fn is_query(record: &Record) -> bool {
    matches!(record.kind.as_str(), "SELECT" | "WITH" | "VALUES") && record.protocol == "flight"
}

/// The query with this id, if the caller may see it: another's is "not found".
fn visible(api: &Api, who: &Principal, query_id: &str) -> Result<Record, ApiError> {
    let found = api.workloads.engine().history().visible_to(who).into_iter().find(|r| r.query_id == query_id);
    found.ok_or_else(|| crate::exec::Error::NotFound(format!("no query `{query_id}` that you may see")).into())
}

type Line = (String, Option<String>, Option<i64>, Option<i64>);

/// `EXPLAIN [ANALYZE]` of the record's statement, pinned to the snapshots
/// it read where they are known (a table it read may have moved on since).
async fn explain(engine: &crate::exec::Engine, how: &str, record: &Record, who: &Principal) -> Result<Vec<Line>, ApiError> {
    use arrow::array::{Array, Int64Array, StringArray};
    use futures::TryStreamExt;
    let mut plan = engine.plan(&format!("{how} {}", record.sql), Vec::new(), Default::default(), who).await?;
    for pin in &mut plan.ticket.tables {
        if let Some(scan) = record.scans.iter().find(|scan| scan.table == pin.relation && scan.snapshot_id.is_some()) {
            pin.snapshot_id = scan.snapshot_id;
        }
    }
    let (_, batches) = engine.execute(&plan.ticket, who).await?;
    let batches: Vec<arrow::record_batch::RecordBatch> = batches.try_collect().await?;
    let mut lines = Vec::new();
    for batch in &batches {
        let text = |i: usize| batch.column(i).as_any().downcast_ref::<StringArray>().cloned();
        let number = |i: usize| batch.column(i).as_any().downcast_ref::<Int64Array>().cloned();
        let Some(plan) = text(0) else { continue };
        let (operator, start, end) = match batch.num_columns() {
            4 => (text(1), number(2), number(3)),
            _ => (None, None, None),
        };
        for row in 0..batch.num_rows() {
            let at = |array: &Option<Int64Array>| array.as_ref().filter(|a| a.is_valid(row)).map(|a| a.value(row));
            let name = operator.as_ref().filter(|a| a.is_valid(row)).map(|a| a.value(row).to_string());
            lines.push((plan.value(row).to_string(), name, at(&start), at(&end)));
        }
    }
    Ok(lines)
}

fn plan_text(lines: &[Line]) -> String {
    lines.iter().map(|line| line.0.as_str()).collect::<Vec<_>>().join("\n")
}
