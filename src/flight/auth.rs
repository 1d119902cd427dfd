//! Authentication: static bearer tokens, and Basic credentials exchanged in
//! the Flight handshake for a bearer token. Enforced by a tower layer in front
//! of every RPC, metadata included; only the handshake itself is open.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use arrow_flight::HandshakeResponse;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use futures::Stream;
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

const HANDSHAKE_PATH: &str = "/arrow.flight.protocol.FlightService/Handshake";

/// Go's Flight client (ADBC) sends Basic credentials without base64 padding;
/// others pad. Accept both.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

pub struct Auth {
    tokens: HashSet<String>,
    users: HashMap<String, String>,
    issued: RwLock<HashSet<String>>,
}

impl Auth {
    pub fn new(tokens: Vec<String>, users: Vec<(String, String)>) -> Self {
        Self { tokens: tokens.into_iter().collect(), users: users.into_iter().collect(), issued: Default::default() }
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty()
    }

    fn token_is_valid(&self, token: &str) -> bool {
        self.tokens.contains(token) || self.issued.read().expect("issued tokens lock").contains(token)
    }

    /// Checks an `authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), Status> {
        if !self.enabled() {
            return Ok(());
        }
        match authorization.and_then(|value| value.strip_prefix("Bearer ")) {
            Some(token) if self.token_is_valid(token.trim()) => Ok(()),
            Some(_) => Err(Status::unauthenticated("invalid bearer token")),
            None => Err(Status::unauthenticated(
                "authentication required: send `authorization: Bearer <token>`, or Basic credentials in the Flight handshake",
            )),
        }
    }

    fn basic_user(&self, authorization: &str) -> Result<(), Status> {
        let encoded = authorization.strip_prefix("Basic ").unwrap_or_default();
        let decoded = BASIC
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| Status::unauthenticated("malformed Basic credentials"))?;
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        match self.users.get(user) {
            Some(expected) if expected == password => Ok(()),
            _ => Err(Status::unauthenticated("invalid user name or password")),
        }
    }

    /// Basic credentials buy a bearer token, returned in the `authorization`
    /// header and as the handshake payload (clients read one or the other).
    pub fn handshake(&self, metadata: &MetadataMap) -> Result<Response<HandshakeStream>, Status> {
        let authorization = metadata.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = if !self.enabled() {
            String::new()
        } else if authorization.starts_with("Basic ") {
            self.basic_user(authorization)?;
            let token = uuid::Uuid::new_v4().simple().to_string();
            self.issued.write().expect("issued tokens lock").insert(token.clone());
            token
        } else {
            self.check(Some(authorization))?;
            authorization.trim_start_matches("Bearer ").trim().to_string()
        };
        let reply = HandshakeResponse { protocol_version: 0, payload: token.clone().into() };
        let mut response: Response<HandshakeStream> = Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        if !token.is_empty() {
            let header = format!("Bearer {token}").parse().map_err(|_| Status::internal("token is not a header value"))?;
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != HANDSHAKE_PATH {
            let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
            if let Err(status) = self.auth.check(header) {
                return Box::pin(async move { Ok(status.into_http()) });
            }
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn tokens_and_basic_credentials() {
        let auth = Auth::new(vec!["secret".into()], vec![("ana".into(), "pw".into())]);
        assert!(auth.check(Some("Bearer secret")).is_ok());
        assert_eq!(auth.check(Some("Bearer nope")).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(auth.check(None).unwrap_err().code(), tonic::Code::Unauthenticated);

        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", format!("Basic {}", STANDARD.encode("ana:pw")).parse().unwrap());
        let response = auth.handshake(&metadata).unwrap();
        let mut unpadded = MetadataMap::new();
        unpadded.insert("authorization", format!("Basic {}", STANDARD.encode("ana:pw").trim_end_matches('=')).parse().unwrap());
        assert!(auth.handshake(&unpadded).is_ok());
        let issued = response.metadata().get("authorization").unwrap().to_str().unwrap().to_string();
        assert!(auth.check(Some(&issued)).is_ok());

        metadata.insert("authorization", format!("Basic {}", STANDARD.encode("ana:wrong")).parse().unwrap());
        assert_eq!(auth.handshake(&metadata).err().map(|s| s.code()), Some(tonic::Code::Unauthenticated));
    }

    #[test]
    fn no_credentials_configured_means_open() {
        assert!(Auth::new(vec![], vec![]).check(None).is_ok());
    }
}
