//! Answers and failures in the API's JSON: `{error, details}` for what the
//! caller can fix, `{error: "Unauthorized"}` for credentials, `{status}`
//! for the server's own faults. The code comes from the one error gate.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json as value;
use utoipa::ToSchema;

use crate::error::{http_status, Error};

pub fn json(status: StatusCode, body: impl Serialize) -> Response {
    let text = serde_json::to_string(&body).unwrap_or_else(|e| format!(r#"{{"status":500,"error":"{e}"}}"#));
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// A failed request: `{error, details}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Failure {
    /// What kind of failure (the gRPC code's name: `InvalidArgument`, `NotFound`, …).
    pub error: String,
    /// What went wrong, for a person; a failing script's traceback.
    pub details: String,
}

/// No valid credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unauthorized {
    #[schema(example = "Unauthorized")]
    pub error: String,
}

/// The server's own fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerError {
    #[schema(default = 500, format = Int32)]
    pub status: i32,
    pub error: String,
}

/// A failure as the API answers it.
pub struct ApiError {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl ApiError {
    /// A request the caller must fix (unreadable JSON, a missing field).
    pub fn bad_request(details: impl Into<String>) -> Self {
        Self::from(Error::InvalidArgument(details.into()))
    }

    /// The warehouse endpoints answer 400 for every error in the query or
    /// script itself, unknown tables included (oleander's contract).
    pub fn in_workload(mut self) -> Self {
        if self.status == StatusCode::NOT_FOUND {
            self.status = StatusCode::BAD_REQUEST;
        }
        self
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let (code, details) = err.into_http();
        let status = http_status(code);
        let body = match status {
            StatusCode::UNAUTHORIZED => value!({ "error": "Unauthorized", "details": details }),
            s if s.is_server_error() && s != StatusCode::SERVICE_UNAVAILABLE && s != StatusCode::NOT_IMPLEMENTED => {
                value!({ "status": s.as_u16(), "error": details })
            }
            _ => value!({ "error": format!("{code:?}"), "details": details }),
        };
        Self { status, body }
    }
}

impl From<crate::exec::Error> for ApiError {
    fn from(err: crate::exec::Error) -> Self {
        Error::from(err).into()
    }
}

impl From<crate::catalog::Error> for ApiError {
    fn from(err: crate::catalog::Error) -> Self {
        Error::from(err).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json(self.status, self.body)
    }
}

/// Paths the API does not have.
pub async fn no_route(uri: axum::http::Uri) -> Response {
    json(StatusCode::NOT_FOUND, value!({ "error": "NotFound", "details": format!("no such endpoint: {}", uri.path()) }))
}
