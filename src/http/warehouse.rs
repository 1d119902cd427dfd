//! oleander's warehouse endpoints: `POST /api/v1/warehouse/polars` (a
//! Polars workload, the same request as `floe.run`) and
//! `POST /api/v1/warehouse/query` (plain SQL), their rows answered inline.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::reply::{json, ApiError, Failure, ServerError, Unauthorized};
use super::results::Download;
use super::rows::json_rows;
use super::Api;
use crate::access::{audit, statement_kind, Principal};
use crate::proto::SessionDefaults;
use tracing::Instrument;
use crate::workload::inline::Inline;
use crate::workload::request::{Compute, Saved};
use crate::workload::RunRequest;

/// Rows answered inline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Results {
    /// Column names in result order.
    pub columns: Vec<String>,
    /// Polars dtype of each column (`Int64`, `Utf8`, `Datetime(time_unit='us', time_zone='UTC')`, …).
    pub column_types: Vec<String>,
    /// Rows as arrays of values: dates, times and decimals as strings, binary as base64.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// True when the result had more rows than an answer holds: `download` has them all.
    pub truncated: bool,
}

/// The answer of `POST /api/v1/warehouse/polars`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolarsResponse {
    /// Whether the workload executed successfully.
    pub success: bool,
    /// Inline results (omitted when `destination` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,
    /// Total number of rows in the result (written, with `destination`).
    pub row_count: u64,
    /// Wall-clock time of the workload, e.g. `"340ms"`.
    pub execution_time: String,
    /// Error message if `success` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Present when `destination` was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<Saved>,
    pub compute: Compute,
    /// Links to the whole result when it was too large to answer inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<Download>,
}

/// Plain SQL for `POST /api/v1/warehouse/query`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// One SQL statement: a query, or DDL/DML (answered with `rows_affected`).
    #[schema(example = "SELECT species, count(*) AS n FROM default.flowers GROUP BY species")]
    pub query: String,
    /// Catalog for names without one (the server's default when omitted).
    pub catalog: Option<String>,
    /// Namespace for names without one (`default` when omitted).
    pub namespace: Option<String>,
}

/// The answer of `POST /api/v1/warehouse/query`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResponse {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,
    pub row_count: u64,
    pub execution_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// The statement as received.
    pub query: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<Download>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

fn results(api: &Api, inline: &Inline, headers: &HeaderMap, uri: &Uri) -> Result<(Results, Option<Download>), ApiError> {
    let (columns, column_types) = crate::workload::run::describe(&inline.schema);
    let rows = json_rows(&inline.head).map_err(|e| ApiError::from(crate::error::Error::Internal(format!("rows as JSON: {e}"))))?;
    let download = inline.stored.as_ref().map(|stored| super::results::links(api, stored, headers, uri));
    Ok((Results { columns, column_types, rows, truncated: download.is_some() }, download))
}

/// Run a Polars workload.
///
/// Runs a query (Polars SQL over the registered `tables`) or a sandboxed
/// Python script that assigns `result`. Rows come back inline up to the
/// server's cap; past it `results.truncated` is true and `download` links
/// to the whole result. With `destination` the rows are written to that
/// table instead.
#[utoipa::path(
    post,
    path = "/api/v1/warehouse/polars",
    operation_id = "runPolars",
    tag = "warehouse",
    request_body = RunRequest,
    responses(
        (status = 200, description = "Workload executed successfully", body = PolarsResponse),
        (status = 400, description = "Invalid request or script/query error.", body = Failure),
        (status = 401, description = "Unauthorized – missing or invalid Bearer token.", body = Unauthorized),
        (status = 403, description = "The token's principal lacks a right the workload needs.", body = Failure),
        (status = 429, description = "Too many workloads running; retry later.", body = Failure),
        (status = 500, description = "Unexpected error.", body = ServerError),
        (status = 503, description = "A catalog, object store or worker is unreachable.", body = Failure),
        (status = 504, description = "The workload ran past its time limit.", body = Failure),
    ),
    security(("bearerAuth" = []))
)]
pub async fn polars(
    State(api): State<Api>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: RunRequest = parse(&body)?;
    let session = SessionDefaults { lineage: crate::lineage::context(&headers), ..Default::default() };
    let span = crate::telemetry::http_span("POST /api/v1/warehouse/polars", &headers);
    let outcome = api.workloads.run_inline(request, session, &principal).instrument(span).await;
    let outcome_name = outcome.as_ref().map_or_else(|e| format!("{:?}", e.code()), |_| "ok".into());
    audit(&principal, "http", "FLOE.RUN", &[], &outcome_name);
    let (response, inline) = outcome.map_err(|e| ApiError::from(e).in_workload())?;
    let (results, download) = match &inline {
        Some(inline) => {
            let (results, download) = results(&api, inline, &headers, &uri)?;
            (Some(results), download)
        }
        None => (None, None),
    };
    let answer = PolarsResponse {
        success: true,
        results,
        row_count: response.row_count,
        execution_time: response.execution_time,
        error: None,
        saved: response.saved,
        compute: response.compute,
        download,
    };
    Ok(json(StatusCode::OK, answer))
}

/// Run one SQL statement.
///
/// A query answers its rows inline (past the server's cap, `download` links
/// to all of them); DDL and DML answer `rows_affected`.
#[utoipa::path(
    post,
    path = "/api/v1/warehouse/query",
    operation_id = "runQuery",
    tag = "warehouse",
    request_body = QueryRequest,
    responses(
        (status = 200, description = "The statement ran", body = QueryResponse),
        (status = 400, description = "Invalid request or query error", body = QueryResponse),
        (status = 401, description = "Missing or invalid Bearer token", body = Unauthorized),
        (status = 403, description = "The token's principal lacks a right the statement needs", body = QueryResponse),
        (status = 409, description = "A concurrent write won; retry", body = QueryResponse),
        (status = 429, description = "Too many queries running; retry later", body = QueryResponse),
        (status = 500, description = "Unexpected error", body = ServerError),
        (status = 501, description = "SQL Floe does not support", body = QueryResponse),
        (status = 503, description = "A catalog, object store or worker is unreachable", body = QueryResponse),
        (status = 504, description = "The query ran past its time limit", body = QueryResponse),
    ),
    security(("bearerAuth" = []))
)]
pub async fn query(
    State(api): State<Api>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request: QueryRequest = match parse(&body) {
        Ok(request) => request,
        Err(failure) => return query_failure(failure, String::new(), started),
    };
    let session = SessionDefaults {
        catalog: request.catalog.clone().unwrap_or_default(),
        schema: request.namespace.clone().unwrap_or_default(),
        lineage: crate::lineage::context(&headers),
        ..Default::default()
    };
    let span = crate::telemetry::http_span("POST /api/v1/warehouse/query", &headers);
    let (inline, tables) = match run_statement(&api, &request.query, session, &principal).instrument(span).await {
        Ok(ran) => ran,
        Err(err) => {
            audit(&principal, "http", &statement_kind(&request.query), &[], &format!("{:?}", err.code()));
            return query_failure(ApiError::from(err).in_workload(), request.query, started);
        }
    };
    audit(&principal, "http", &statement_kind(&request.query), &tables, "ok");
    let (results, download) = results(&api, &inline, &headers, &uri)?;
    let answer = QueryResponse {
        success: true,
        row_count: inline.row_count,
        results: Some(results),
        execution_time: format!("{}ms", started.elapsed().as_millis()),
        error: None,
        details: None,
        query: request.query,
        download,
    };
    Ok(json(StatusCode::OK, answer))
}

/// A failed statement answers in the query endpoint's own shape, with the
/// statement; only the server's own faults answer `{status}`.
fn query_failure(failure: ApiError, query: String, started: Instant) -> Result<Response, ApiError> {
    if failure.body.get("status").is_some() {
        return Err(failure);
    }
    let text = |key: &str| failure.body.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let answer = QueryResponse {
        success: false,
        results: None,
        row_count: 0,
        execution_time: format!("{}ms", started.elapsed().as_millis()),
        error: text("error"),
        details: text("details"),
        query,
        download: None,
    };
    Ok(json(failure.status, answer))
}

async fn run_statement(
    api: &Api,
    sql: &str,
    session: SessionDefaults,
    principal: &Principal,
) -> crate::error::Result<(Inline, Vec<String>)> {
    let workloads = &api.workloads;
    if !session.catalog.is_empty() {
        workloads.engine().lake().catalog(&session.catalog)?;
    }
    let planned = workloads.plan_statement(sql, Vec::new(), session, principal).await?;
    let rows = workloads.start_placed(planned.placement, principal).await?;
    let inline = crate::workload::inline::collect(workloads.results(), rows.schema, rows.batches).await?;
    Ok((inline, planned.tables))
}
