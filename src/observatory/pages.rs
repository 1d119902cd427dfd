//! The observatory's pages: one HTML shell per page (the script fills it
//! from the JSON API), and the login form.

use axum::response::Html;

pub const SCRIPT: &str = include_str!("assets/app.js");
pub const STYLE: &str = include_str!("assets/app.css");

const NAV: [(&str, &str); 4] = [("/queries", "Queries"), ("/lake", "Lake"), ("/console", "Console"), ("/cluster", "Cluster")];

fn shell(title: &str, body: &str) -> String {
    let links: String = NAV.iter().map(|(href, name)| format!(r#"<a href="{href}">{name}</a>"#)).collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Floe observatory</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/app.css"></head>
<body><header><span class="brand">Floe observatory</span><nav>{links}</nav><a class="logout" href="/logout">Log out</a></header>
{body}
</body></html>"#
    )
}

pub async fn page(title: &'static str, name: &'static str) -> Html<String> {
    Html(shell(title, &format!(r#"<main id="app" data-page="{name}"><p class="muted">Loading…</p></main><script src="/assets/app.js"></script>"#)))
}

pub async fn login_form() -> Html<String> {
    login_page(None)
}

pub fn login_page(error: Option<&str>) -> Html<String> {
    let error = error.map(|e| format!(r#"<p class="error">{}</p>"#, escape(e))).unwrap_or_default();
    Html(shell(
        "Log in",
        &format!(
            r#"<main><h1>Log in</h1>{error}
<form method="post" action="/login" class="login">
<label>User <input name="user" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<p class="muted">or</p>
<label>Token <input name="token" type="password"></label>
<button type="submit">Log in</button></form></main>"#
        ),
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
