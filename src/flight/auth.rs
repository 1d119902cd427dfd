//! Authentication: static bearer tokens, Basic credentials exchanged in the
//! Flight handshake for a bearer token, client certificates (mTLS), and the
//! peer token of other Floe nodes. Enforced by a tower layer in front of
//! every RPC, metadata included; only the handshake itself is open. The
//! layer hands the caller's principal to the handlers.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_flight::HandshakeResponse;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use futures::Stream;
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

use crate::access::Principal;
use crate::error::Error;
use crate::proto::SessionDefaults;
use crate::ticket::{Keyring, Kind};

const HANDSHAKE_PATH: &str = "/arrow.flight.protocol.FlightService/Handshake";

/// Go's Flight client (ADBC) sends Basic credentials without base64 padding;
/// others pad. Accept both.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

/// Who may call: static tokens (each a principal by name), Basic users,
/// and client certificates when the listener requires them.
pub struct Auth {
    /// Token → principal name.
    tokens: HashMap<String, String>,
    users: HashMap<String, String>,
    /// Client certificates are verified by TLS; their subject is the principal.
    client_certificates: bool,
    keyring: Keyring,
}

fn unauthenticated(message: &str) -> Status {
    Error::Unauthenticated(message.to_string()).into()
}

impl Auth {
    /// `tokens` are `(principal, token)` pairs.
    pub fn new(tokens: Vec<(String, String)>, users: Vec<(String, String)>, keyring: Keyring) -> Self {
        let tokens = tokens.into_iter().map(|(name, token)| (token, name)).collect();
        Self { tokens, users: users.into_iter().collect(), client_certificates: false, keyring }
    }

    pub fn with_client_certificates(mut self, required: bool) -> Self {
        self.client_certificates = required;
        self
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty() || self.client_certificates
    }

    fn bearer(&self, token: &str) -> Option<Principal> {
        if let Some(name) = self.tokens.get(token) {
            return Some(Principal::Named(name.clone()));
        }
        if self.keyring.is_peer_token(token) {
            return Some(Principal::Peer);
        }
        // Tokens the handshake issued are sealed, so every node accepts them.
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let issued = self.keyring.open::<SessionDefaults>(&bytes, Kind::Bearer, &Principal::Peer).ok()?;
        Some(Principal::Named(issued.principal))
    }

    /// The caller of a request with this `authorization` header and (under
    /// mTLS) this verified client-certificate subject.
    pub fn check(&self, authorization: Option<&str>, certificate_subject: Option<String>) -> Result<Principal, Status> {
        let token = authorization.and_then(|value| value.strip_prefix("Bearer ")).map(str::trim);
        // Other nodes call with the peer token even where clients use certificates.
        if let Some(principal) = token.and_then(|token| self.bearer(token)) {
            return Ok(principal);
        }
        if let Some(subject) = certificate_subject {
            return Ok(Principal::Named(subject));
        }
        if !self.enabled() {
            return Ok(Principal::Anonymous);
        }
        match token {
            Some(_) => Err(unauthenticated("invalid bearer token")),
            None => Err(unauthenticated(
                "authentication required: send `authorization: Bearer <token>`, or Basic credentials in the Flight handshake",
            )),
        }
    }

    fn basic_user(&self, authorization: &str) -> Result<String, Status> {
        let encoded = authorization.strip_prefix("Basic ").unwrap_or_default();
        let decoded = BASIC
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| unauthenticated("malformed Basic credentials"))?;
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        match self.users.get(user) {
            Some(expected) if expected == password => Ok(user.to_string()),
            _ => Err(unauthenticated("invalid user name or password")),
        }
    }

    /// A user's password buys a sealed bearer token (the observatory's login).
    pub fn login(&self, user: &str, password: &str) -> Result<String, Status> {
        match self.users.get(user) {
            Some(expected) if expected == password => {
                let sealed = self.keyring.seal(Kind::Bearer, &SessionDefaults::default(), &Principal::Named(user.to_string()));
                Ok(URL_SAFE_NO_PAD.encode(sealed))
            }
            _ => Err(unauthenticated("invalid user name or password")),
        }
    }

    /// Basic credentials buy a bearer token, returned in the `authorization`
    /// header and as the handshake payload (clients read one or the other).
    /// The token is sealed (principal and expiry inside), so it needs no
    /// server state and works on every node of a cluster.
    pub fn handshake(&self, metadata: &MetadataMap) -> Result<Response<HandshakeStream>, Status> {
        let authorization = metadata.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = if !self.enabled() {
            String::new()
        } else if authorization.starts_with("Basic ") {
            let user = self.basic_user(authorization)?;
            let sealed = self.keyring.seal(Kind::Bearer, &SessionDefaults::default(), &Principal::Named(user));
            URL_SAFE_NO_PAD.encode(sealed)
        } else {
            self.check(Some(authorization), None)?;
            authorization.trim_start_matches("Bearer ").trim().to_string()
        };
        let reply = HandshakeResponse { protocol_version: 0, payload: token.clone().into() };
        let mut response: Response<HandshakeStream> = Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        if !token.is_empty() {
            let header = format!("Bearer {token}").parse().map_err(|_| Error::Internal("token is not a header value".into()))?;
            response.metadata_mut().insert("authorization", header);
        }
        Ok(response)
    }
}

/// Tower layer that rejects unauthenticated calls before they reach a handler.
#[derive(Clone)]
pub struct AuthLayer(pub Arc<Auth>);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, auth: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let open = path == HANDSHAKE_PATH || (!is_grpc(&request) && crate::http::is_open(request.method(), path));
        if !open {
            let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
            match self.auth.check(header, super::tls::client_subject(&request)) {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                }
                Err(status) if is_grpc(&request) => return Box::pin(async move { Ok(status.into_http()) }),
                Err(_) => return Box::pin(async move { Ok(unauthorized_http()) }),
            }
        }
        Box::pin(self.inner.call(request))
    }
}

fn is_grpc<B>(request: &http::Request<B>) -> bool {
    request.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/grpc"))
}

/// What an HTTP client without valid credentials gets: 401 with the JSON
/// body oleander's API answers (a gRPC status in an HTTP 200 would read as success).
fn unauthorized_http() -> http::Response<tonic::body::Body> {
    let body = tonic::body::Body::new(axum::body::Body::from(r#"{"error":"Unauthorized"}"#));
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn auth() -> Auth {
        let keyring = Keyring::new(b"0123456789abcdef0123456789abcdef", std::time::Duration::from_secs(60)).unwrap();
        Auth::new(vec![("etl".into(), "secret".into())], vec![("ana".into(), "pw".into())], keyring)
    }

    #[test]
    fn tokens_and_basic_credentials_name_their_principal() {
        let auth = auth();
        assert_eq!(auth.check(Some("Bearer secret"), None).unwrap(), Principal::Named("etl".into()));
        assert_eq!(auth.check(Some("Bearer nope"), None).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(auth.check(None, None).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(auth.check(None, Some("alice".into())).unwrap(), Principal::Named("alice".into()));

        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", format!("Basic {}", STANDARD.encode("ana:pw")).parse().unwrap());
        let response = auth.handshake(&metadata).unwrap();
        let mut unpadded = MetadataMap::new();
        unpadded.insert("authorization", format!("Basic {}", STANDARD.encode("ana:pw").trim_end_matches('=')).parse().unwrap());
        assert!(auth.handshake(&unpadded).is_ok());
        let issued = response.metadata().get("authorization").unwrap().to_str().unwrap().to_string();
        assert_eq!(auth.check(Some(&issued), None).unwrap(), Principal::Named("ana".into()));

        metadata.insert("authorization", format!("Basic {}", STANDARD.encode("ana:wrong")).parse().unwrap());
        assert_eq!(auth.handshake(&metadata).err().map(|s| s.code()), Some(tonic::Code::Unauthenticated));
    }

    #[test]
    fn other_nodes_are_peers_and_no_credentials_means_open() {
        let auth = auth();
        let peer = format!("Bearer {}", auth.keyring.peer_token());
        assert_eq!(auth.check(Some(&peer), None).unwrap(), Principal::Peer);
        let open = Auth::new(vec![], vec![], Keyring::generate(std::time::Duration::from_secs(1)));
        assert_eq!(open.check(None, None).unwrap(), Principal::Anonymous);
    }
}
