//! Commits to an Iceberg REST catalog that iceberg-rust's public API cannot
//! make (an overwrite snapshot): the REST protocol's own commit endpoint, with
//! requirements the server checks atomically, so a concurrent writer makes the
//! commit fail with 409 rather than be lost.

use std::collections::HashMap;

use iceberg::{TableIdent, TableRequirement, TableUpdate};
use serde::Deserialize;

use super::{Error, Result};

pub struct RestCommitter {
    catalog: String,
    client: reqwest::Client,
    /// `{uri}/v1/{prefix}` as the server's `/v1/config` describes it.
    base: String,
    headers: reqwest::header::HeaderMap,
    oauth: Option<OAuth>,
}

struct OAuth {
    server: String,
    client_id: String,
    client_secret: String,
    scope: String,
}

#[derive(Deserialize)]
struct ConfigResponse {
    #[serde(default)]
    overrides: HashMap<String, String>,
    #[serde(default)]
    defaults: HashMap<String, String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl RestCommitter {
    /// Reads the server's configuration (its URL prefix) with the catalog's
    /// properties: `warehouse`, `token`, `credential`, `oauth2-server-uri`, `scope`, `header.*`.
    pub async fn connect(catalog: &str, uri: &str, props: &HashMap<String, String>, timeout: std::time::Duration) -> Result<Self> {
        let fail = |message: String| Error::Pointer { catalog: catalog.to_string(), message };
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| fail(e.to_string()))?;
        let uri = uri.trim_end_matches('/').to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        for (key, value) in props {
            if let Some(name) = key.strip_prefix("header.") {
                let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| fail(e.to_string()))?;
                headers.insert(name, value.parse().map_err(|_| fail(format!("header `{key}` is not a valid value")))?);
            }
        }
        if let Some(token) = props.get("token") {
            let value = format!("Bearer {token}").parse().map_err(|_| fail("token is not a valid header value".into()))?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let oauth = props.get("credential").map(|credential| {
            let (client_id, client_secret) = credential.split_once(':').unwrap_or(("", credential.as_str()));
            OAuth {
                server: props.get("oauth2-server-uri").cloned().unwrap_or_else(|| format!("{uri}/v1/oauth/tokens")),
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
                scope: props.get("scope").cloned().unwrap_or_else(|| "catalog".into()),
            }
        });
        let mut committer = Self { catalog: catalog.to_string(), client, base: format!("{uri}/v1"), headers, oauth };
        let mut config = committer.request(reqwest::Method::GET, &format!("{uri}/v1/config")).await?;
        if let Some(warehouse) = props.get("warehouse") {
            config = config.query(&[("warehouse", warehouse)]);
        }
        let response = config.send().await.map_err(|e| fail(e.to_string()))?;
        let response = committer.checked(response).await?;
        let config: ConfigResponse = response.json().await.map_err(|e| fail(e.to_string()))?;
        if let Some(prefix) = config.overrides.get("prefix").or(config.defaults.get("prefix")) {
            committer.base = format!("{uri}/v1/{}", prefix.trim_matches('/'));
        }
        Ok(committer)
    }

    async fn request(&self, method: reqwest::Method, url: &str) -> Result<reqwest::RequestBuilder> {
        let mut request = self.client.request(method, url).headers(self.headers.clone());
        if let Some(oauth) = &self.oauth {
            request = request.bearer_auth(self.token(oauth).await?);
        }
        Ok(request)
    }

    /// A fresh client-credentials token per commit: commits are rare, and a
    /// cached token would need its own expiry handling.
    async fn token(&self, oauth: &OAuth) -> Result<String> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", oauth.client_id.as_str()),
            ("client_secret", oauth.client_secret.as_str()),
            ("scope", oauth.scope.as_str()),
        ];
        let response = self.client.post(&oauth.server).form(&form).send().await.map_err(|e| self.fail(e))?;
        let token: TokenResponse = self.checked(response).await?.json().await.map_err(|e| self.fail(e))?;
        Ok(token.access_token)
    }

    fn fail(&self, err: impl std::fmt::Display) -> Error {
        Error::Pointer { catalog: self.catalog.clone(), message: err.to_string() }
    }

    async fn checked(&self, response: reqwest::Response) -> Result<reqwest::Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(self.fail(format!("HTTP {status}: {}", body.chars().take(500).collect::<String>())))
    }

    /// Applies `updates` if `requirements` still hold; false when another
    /// writer committed first (HTTP 409), so the caller can rebuild and retry.
    pub async fn commit(&self, table: &TableIdent, requirements: Vec<TableRequirement>, updates: Vec<TableUpdate>) -> Result<bool> {
        let namespace = table.namespace().join("\u{1f}");
        let url = format!("{}/namespaces/{}/tables/{}", self.base, encode(&namespace), encode(table.name()));
        let body = serde_json::json!({
            "identifier": { "namespace": table.namespace().as_ref(), "name": table.name() },
            "requirements": requirements,
            "updates": updates,
        });
        let response = self.request(reqwest::Method::POST, &url).await?.json(&body).send().await.map_err(|e| self.fail(e))?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            return Ok(false);
        }
        self.checked(response).await?;
        Ok(true)
    }
}

/// Percent-encodes a path segment (the REST spec joins namespace levels with 0x1F).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn nested_namespaces_are_joined_with_unit_separators_and_encoded() {
        assert_eq!(super::encode("a\u{1f}b c"), "a%1Fb%20c");
    }
}
