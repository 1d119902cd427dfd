//! Download links of stored results: `GET /api/v1/results/<link>.parquet`
//! (the stored file) or `.arrow` (an Arrow IPC stream). The link is sealed
//! with the ticket key and expires with the result, so it is its own
//! credential, like a presigned object-store URL.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::reply::{ApiError, Failure};
use super::Api;
use crate::access::Principal;
use crate::proto::ResultLink;
use crate::results::Stored;
use crate::ticket::{self, Kind};

pub const PREFIX: &str = "/api/v1/results/";

/// Where the whole of a truncated result is, until it expires.
#[derive(Debug, Serialize, ToSchema)]
pub struct Download {
    /// The result as one Parquet file.
    pub parquet: String,
    /// The result as an Arrow IPC stream.
    pub arrow: String,
    /// Rows in the stored result.
    pub rows: u64,
    /// When the links stop working and the result is deleted (RFC 3339, UTC).
    pub expires_at: String,
}

/// `scheme://host` of the request, as the client reached this server.
fn origin(api: &Api, headers: &HeaderMap, uri: Option<&Uri>) -> String {
    let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    let scheme = forwarded.unwrap_or(if api.tls { "https" } else { "http" });
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.and_then(|u| u.authority()).map(|a| a.to_string()));
    host.map(|host| format!("{scheme}://{host}")).unwrap_or_default()
}

pub fn links(api: &Api, stored: &Stored, headers: &HeaderMap, uri: &Uri) -> Download {
    let keyring = api.workloads.engine().keyring();
    let payload = ResultLink { path: stored.path.clone(), rows: stored.rows };
    let sealed = keyring.seal_for(Kind::Result, &payload, &Principal::Anonymous, stored.time_left());
    let base = format!("{}{PREFIX}{}", origin(api, headers, Some(uri)), URL_SAFE_NO_PAD.encode(sealed));
    let expires_at = chrono::DateTime::from_timestamp(stored.expires_at, 0).map(|t| t.to_rfc3339()).unwrap_or_default();
    Download { parquet: format!("{base}.parquet"), arrow: format!("{base}.arrow"), rows: stored.rows, expires_at }
}

fn gone(details: impl Into<String>) -> ApiError {
    ApiError { status: StatusCode::GONE, body: json!({ "error": "Gone", "details": details.into() }) }
}

/// Download a stored result.
#[utoipa::path(
    get,
    path = "/api/v1/results/{file}",
    tag = "results",
    params(("file" = String, Path, description = "The link's name: `<link>.parquet` or `<link>.arrow`")),
    responses(
        (status = 200, description = "The result", content(
            (Vec<u8> = "application/vnd.apache.parquet"),
            (Vec<u8> = "application/vnd.apache.arrow.stream"),
        )),
        (status = 400, description = "Not a download link", body = Failure),
        (status = 404, description = "No such link", body = Failure),
        (status = 410, description = "The result expired and was deleted", body = Failure),
    )
)]
pub async fn download(State(api): State<Api>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let (link, format) = file.rsplit_once('.').ok_or_else(|| ApiError::bad_request("a link ends in .parquet or .arrow"))?;
    if format != "parquet" && format != "arrow" {
        return Err(ApiError::bad_request(format!("unknown format `{format}`: use .parquet or .arrow")));
    }
    let bytes = URL_SAFE_NO_PAD.decode(link).map_err(|_| ApiError::bad_request("not a download link"))?;
    let opened = match api.workloads.engine().keyring().open::<ResultLink>(&bytes, Kind::Result, &Principal::Peer) {
        Ok(opened) => opened,
        Err(ticket::Error::Expired { ago, .. }) => return Err(gone(format!("the link expired {ago}s ago with its result"))),
        Err(err) => return Err(ApiError::from(crate::error::Error::from(err))),
    };
    let results = api.workloads.results();
    let unavailable = |err: crate::results::Error| match err {
        crate::results::Error::Gone => gone(err.to_string()),
        other => ApiError::from(crate::error::Error::from(other)),
    };
    if format == "parquet" {
        let stored = results.read(&opened.payload.path).await.map_err(unavailable)?;
        let headers = [
            (header::CONTENT_TYPE, "application/vnd.apache.parquet"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"result.parquet\""),
        ];
        return Ok((headers, stored).into_response());
    }
    let (schema, batches) = results.read_batches(&opened.payload.path).await.map_err(unavailable)?;
    let stream = arrow_stream(&schema, &batches)
        .map_err(|e| ApiError::from(crate::error::Error::Internal(format!("encoding a stored result: {e}"))))?;
    let headers = [
        (header::CONTENT_TYPE, "application/vnd.apache.arrow.stream"),
        (header::CONTENT_DISPOSITION, "attachment; filename=\"result.arrows\""),
    ];
    Ok((headers, stream).into_response())
}

/// A stored result's rows as an Arrow IPC stream.
fn arrow_stream(schema: &arrow::datatypes::Schema, batches: &[arrow::record_batch::RecordBatch]) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.into_inner()
}
