//! CORS, off unless origins are configured: browsers on those origins may
//! call the API (credentials travel as bearer tokens, never cookies).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

pub fn layer(router: Router, origins: &[String]) -> Router {
    if origins.is_empty() {
        return router;
    }
    router.layer(axum::middleware::from_fn_with_state(Arc::new(origins.to_vec()), cors))
}

async fn cors(State(origins): State<Arc<Vec<String>>>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let allowed = origin.filter(|o| origins.iter().any(|allowed| allowed == "*" || o.as_bytes() == allowed.as_bytes()));
    let Some(origin) = allowed else { return next.run(request).await };
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}
