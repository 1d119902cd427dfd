//! Sealing: every ticket, prepared-statement handle and internal cluster
//! message a client can hold is authenticated with an HMAC-SHA256 under the
//! server's ticket key, expires, and is bound to the principal that planned
//! it. A ticket is verified before anything in it is used, so its contents
//! (file lists, shuffle sources, script limits) are the server's own words.
//!
//! Each ticket kind's payload is defined and encoded next to the code that
//! issues it; this module only knows the envelope.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use prost::Message;
use sha2::Sha256;

use crate::access::Principal;
pub use crate::proto::TicketKind as Kind;
use crate::proto::{Sealed, SealedBody};

type HmacSha256 = Hmac<Sha256>;

/// The `Any` type URL of Floe's own DoGet tickets (all but query tickets,
/// which travel as Flight SQL's `TicketStatementQuery`).
pub const SEALED_TYPE: &str = "type.googleapis.com/floe.v1.Sealed";

/// Shortest key accepted from an operator: 128 bits of secret.
pub const MIN_KEY_BYTES: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("malformed {what}: not one this server issued")]
    Malformed { what: &'static str },
    #[error("{what} has an invalid signature: it was altered, or issued by a server with another ticket key (restarted without --ticket-key-file?)")]
    BadSignature { what: &'static str },
    #[error("{what} expired {ago}s ago: plan the query again")]
    Expired { what: &'static str, ago: u64 },
    #[error("expected a {expected}, got a {got:?} ticket")]
    WrongKind { expected: &'static str, got: Kind },
    #[error("{what} was issued to another principal")]
    Foreign { what: &'static str },
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a kind is called in messages a person reads.
fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Query => "query ticket",
        Kind::Prepared => "prepared statement handle",
        Kind::Script => "script ticket",
        Kind::Distributed => "distributed query ticket",
        Kind::ShuffleFetch => "shuffle fetch ticket",
        Kind::ShuffleMap => "shuffle map request",
        Kind::Heartbeat => "worker heartbeat",
        Kind::Bearer => "bearer token",
        Kind::Result => "result link",
        Kind::Unspecified => "ticket",
    }
}

/// A verified envelope's contents.
#[derive(Debug)]
pub struct Opened<M> {
    pub payload: M,
    /// The principal the ticket was issued to (empty: none).
    pub principal: String,
}

/// The server's ticket key and how long what it seals stays valid.
#[derive(Clone)]
pub struct Keyring {
    key: Vec<u8>,
    lifetime: Duration,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

impl Keyring {
    pub fn new(key: &[u8], lifetime: Duration) -> std::result::Result<Self, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!("the ticket key must have at least {MIN_KEY_BYTES} bytes; it has {}", key.len()));
        }
        Ok(Self { key: key.to_vec(), lifetime })
    }

    /// A random key, for a server nobody gave one: its tickets die with it.
    pub fn generate(lifetime: Duration) -> Self {
        let key: [u8; 32] = rand::random();
        Self { key: key.to_vec(), lifetime }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn mac(&self, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(body);
        mac
    }

    /// Seals `payload` as a `kind` ticket for `principal`, valid for the
    /// keyring's lifetime.
    pub fn seal(&self, kind: Kind, payload: &impl Message, principal: &Principal) -> Vec<u8> {
        self.seal_for(kind, payload, principal, self.lifetime)
    }

    pub fn seal_for(&self, kind: Kind, payload: &impl Message, principal: &Principal, lifetime: Duration) -> Vec<u8> {
        let body = SealedBody {
            kind: kind as i32,
            payload: payload.encode_to_vec(),
            expires_at: now_unix().saturating_add(lifetime.as_secs() as i64),
            principal: principal.name().to_string(),
        }
        .encode_to_vec();
        let mac = self.mac(&body).finalize().into_bytes().to_vec();
        Sealed { body, mac }.encode_to_vec()
    }

    /// A sealed DoGet ticket: the envelope inside a protobuf `Any`.
    pub fn seal_ticket(&self, kind: Kind, payload: &impl Message, principal: &Principal) -> Vec<u8> {
        let sealed = self.seal(kind, payload, principal);
        prost_types::Any { type_url: SEALED_TYPE.into(), value: sealed }.encode_to_vec()
    }

    /// Verifies `bytes` and returns the envelope's kind and body, without
    /// decoding the payload yet.
    pub fn verify(&self, bytes: &[u8], caller: &Principal) -> Result<SealedBody> {
        let sealed = Sealed::decode(bytes).map_err(|_| Error::Malformed { what: "ticket" })?;
        if sealed.body.is_empty() || sealed.mac.is_empty() {
            return Err(Error::Malformed { what: "ticket" });
        }
        self.mac(&sealed.body).verify_slice(&sealed.mac).map_err(|_| Error::BadSignature { what: "ticket" })?;
        let body = SealedBody::decode(sealed.body.as_slice()).map_err(|_| Error::Malformed { what: "ticket" })?;
        let what = describe(body.kind());
        let now = now_unix();
        if body.expires_at < now {
            return Err(Error::Expired { what, ago: (now - body.expires_at) as u64 });
        }
        let bound_elsewhere = !body.principal.is_empty() && !caller.is_peer() && caller.name() != body.principal;
        if bound_elsewhere {
            return Err(Error::Foreign { what });
        }
        Ok(body)
    }

    /// Verifies `bytes` as a `kind` ticket and decodes its payload.
    pub fn open<M: Message + Default>(&self, bytes: &[u8], kind: Kind, caller: &Principal) -> Result<Opened<M>> {
        let body = self.verify(bytes, caller).map_err(|err| name_kind(err, kind))?;
        if body.kind() != kind {
            return Err(Error::WrongKind { expected: describe(kind), got: body.kind() });
        }
        decode_payload(body)
    }

    /// The bearer token Floe nodes present to each other: derived from the
    /// ticket key, so only nodes holding the key can make it, and no client
    /// token ever leaves the server.
    pub fn peer_token(&self) -> String {
        let digest = self.mac(b"floe peer token v1").finalize().into_bytes();
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    pub fn is_peer_token(&self, token: &str) -> bool {
        let expected = self.peer_token();
        // Constant time: a timing oracle must not reveal the prefix.
        expected.len() == token.len() && expected.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Decodes a verified body's payload as `M`.
pub fn decode_payload<M: Message + Default>(body: SealedBody) -> Result<Opened<M>> {
    let what = describe(body.kind());
    let payload = M::decode(body.payload.as_slice()).map_err(|_| Error::Malformed { what })?;
    Ok(Opened { payload, principal: body.principal })
}

/// Errors about an undecoded envelope name the kind the caller expected.
fn name_kind(err: Error, kind: Kind) -> Error {
    let what = describe(kind);
    match err {
        Error::Malformed { .. } => Error::Malformed { what },
        Error::BadSignature { .. } => Error::BadSignature { what },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::QueryTicket;

    fn keyring() -> Keyring {
        Keyring::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60)).unwrap()
    }

    fn ticket() -> QueryTicket {
        QueryTicket { sql: "SELECT 1".into(), ..Default::default() }
    }

    #[test]
    fn sealed_tickets_open_only_unaltered_unexpired_and_for_their_principal() {
        let keys = keyring();
        let alice = Principal::Named("alice".into());
        let sealed = keys.seal(Kind::Query, &ticket(), &alice);
        let opened: Opened<QueryTicket> = keys.open(&sealed, Kind::Query, &alice).unwrap();
        assert_eq!(opened.payload.sql, "SELECT 1");
        assert!(keys.open::<QueryTicket>(&sealed, Kind::Query, &Principal::Peer).is_ok());
        let bob = Principal::Named("bob".into());
        assert!(matches!(keys.open::<QueryTicket>(&sealed, Kind::Query, &bob), Err(Error::Foreign { .. })));
        assert!(matches!(keys.open::<QueryTicket>(&sealed, Kind::Script, &alice), Err(Error::WrongKind { .. })));

        let mut tampered = sealed.clone();
        let last = tampered.len() - 40;
        tampered[last] ^= 1;
        assert!(keys.open::<QueryTicket>(&tampered, Kind::Query, &alice).is_err());
        let other = Keyring::generate(Duration::from_secs(60));
        assert!(matches!(other.open::<QueryTicket>(&sealed, Kind::Query, &alice), Err(Error::BadSignature { .. })));

        let expired = keys.seal_for(Kind::Query, &ticket(), &alice, Duration::ZERO);
        let stale = Keyring { lifetime: Duration::ZERO, ..keys.clone() };
        std::thread::sleep(Duration::from_millis(1100));
        assert!(matches!(stale.open::<QueryTicket>(&expired, Kind::Query, &alice), Err(Error::Expired { .. })));
        assert!(matches!(keys.open::<QueryTicket>(b"junk", Kind::Query, &alice), Err(Error::Malformed { .. })));
    }

    #[test]
    fn only_key_holders_make_the_peer_token() {
        let keys = keyring();
        assert!(keys.is_peer_token(&keys.peer_token()));
        assert!(!keys.is_peer_token("0000"));
        assert!(!Keyring::generate(Duration::from_secs(1)).is_peer_token(&keys.peer_token()));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(Keyring::new(b"short", Duration::from_secs(1)).is_err());
    }
}
