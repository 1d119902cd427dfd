//! The observatory: a web dashboard in the binary, on its own port
//! (`--http-listen`, default 127.0.0.1:3001, like Polars on-premises'), over
//! the same JSON the HTTP API answers (mounted here too). Pages are HTML
//! shells that `assets/app.js` fills from that JSON and refreshes; charts
//! are SVG drawn by the same script. Assets are embedded: the page never
//! reaches the network. Credentials are Flight's: a bearer token, or a
//! login (user and password, or a token) that sets a session cookie.

mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::access::Principal;
use crate::config::HttpArgs;
use crate::flight::auth::Auth;
use crate::workload::Workloads;

pub const COOKIE: &str = "floe_observatory";

/// Binds the observatory and serves it in the background. Without
/// credentials it serves only on loopback, like Flight. A port already in
/// use is a warning, not a failure: the data server still serves.
pub async fn serve(listen: SocketAddr, workloads: Arc<Workloads>, auth: Arc<Auth>, http: &HttpArgs, authenticated: bool) -> anyhow::Result<()> {
    if !authenticated && !listen.ip().is_loopback() {
        anyhow::bail!("refusing to serve the observatory on {listen} without credentials; set --token or --user, or --http-listen 127.0.0.1:3001");
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(%listen, %err, "the observatory is not served: cannot listen (set --http-listen, or `off`)");
            return Ok(());
        }
    };
    let address = listener.local_addr()?;
    let app = router(workloads, auth, http);
    tracing::info!(%address, "observatory on http://{address}");
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "the observatory stopped");
        }
    });
    Ok(())
}

fn router(workloads: Arc<Workloads>, auth: Arc<Auth>, http: &HttpArgs) -> Router {
    let api = crate::http::router(workloads, http, false);
    Router::new()
        .route("/", get(|| async { Redirect::to("/queries") }))
        .route("/queries", get(|| pages::page("Queries", "queries")))
        .route("/queries/{query_id}", get(|| pages::page("Query", "query")))
        .route("/lake", get(|| pages::page("Lake", "lake")))
        .route("/lake/{catalog}/{namespace}/{table}", get(|| pages::page("Table", "table")))
        .route("/console", get(|| pages::page("Console", "console")))
        .route("/cluster", get(|| pages::page("Cluster", "cluster")))
        .route("/login", get(pages::login_form).post(login))
        .route("/logout", get(logout))
        .route("/assets/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], pages::SCRIPT) }))
        .route("/assets/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], pages::STYLE) }))
        .with_state(auth.clone())
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(auth, authenticate))
}

/// Puts the caller's principal on the request, from the `authorization`
/// header or the session cookie; pages without one go to the login form.
async fn authenticate(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let open = path == "/login" || path.starts_with("/assets/") || crate::http::is_open(request.method(), &path);
    if open {
        request.extensions_mut().insert(Principal::Anonymous);
        return next.run(request).await;
    }
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let from_cookie = cookie(&request).map(|token| format!("Bearer {token}"));
    match auth.check(header.or(from_cookie).as_deref(), None) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(_) if path.starts_with("/api/") => (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], r#"{"error":"Unauthorized"}"#).into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

fn cookie(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('=').map(str::to_string))
}

#[derive(serde::Deserialize)]
struct Login {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
}

/// A user's password or a token, checked and kept in an HttpOnly cookie.
async fn login(State(auth): State<Arc<Auth>>, axum::Form(form): axum::Form<Login>) -> Response {
    let token = if form.token.trim().is_empty() {
        auth.login(form.user.trim(), &form.password)
    } else {
        auth.check(Some(&format!("Bearer {}", form.token.trim())), None).map(|_| form.token.trim().to_string())
    };
    match token {
        Ok(token) => {
            let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            ([(header::SET_COOKIE, cookie)], Redirect::to("/queries")).into_response()
        }
        Err(status) => (StatusCode::UNAUTHORIZED, pages::login_page(Some(status.message()))).into_response(),
    }
}

async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}
