//! Property-based fuzzing of what clients send that is decoded below the
//! protocol adapter: sealed tickets, SQL through parse-and-rewrite, and
//! `floe.run` requests. Each property is "never panics, and only what the
//! server sealed verifies". Smoke-sized in `cargo test`; run longer with
//! `PROPTEST_CASES=1000000 cargo test --release fuzz`.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;

use crate::access::Principal;
use crate::proto::{DistributedTicket, PreparedHandle, QueryTicket, ScriptTicket};
use crate::ticket::{Keyring, Kind};

fn keyring() -> Keyring {
    Keyring::new(b"fuzzing key, 32 bytes long......", Duration::from_secs(60)).expect("long enough")
}

const KINDS: [Kind; 8] =
    [Kind::Query, Kind::Prepared, Kind::Script, Kind::Distributed, Kind::ShuffleFetch, Kind::ShuffleMap, Kind::Heartbeat, Kind::Bearer];

/// SQL-ish token soup: enough structure to reach the rewrites, enough
/// nonsense to reach the error paths.
const SQL_TOKENS: &[&str] = &[
    "SELECT", "*", "FROM", "t", "ns.t", "c.ns.t", "\"t$snapshots\"", "WHERE", "a", "b", "=", "<>", "<", "1", "2.5", "'x'",
    "(", ")", ",", "GROUP BY", "ORDER BY", "HAVING", "JOIN", "LEFT JOIN", "ON", "EXISTS", "NOT", "IN", "?", "$1", "AND",
    "OR", "UNION ALL", "WITH", "w AS", "AS", "LIMIT", "OFFSET", "count(*)", "sum(a)", "avg(b)", "max(a)", "read_csv('x')",
    "CASE WHEN", "THEN", "ELSE", "END", "/", "+", "FOR VERSION AS OF 1", "FOR TIMESTAMP AS OF '2026-01-01'", "EXPLAIN",
    "INSERT INTO", "VALUES", "CREATE TABLE", "DROP TABLE", "DISTINCT", "OVER (PARTITION BY a)", "BETWEEN", "LIKE 'a%'",
    "IS NULL", "CAST(a AS DOUBLE)", "x.a", "t.b", "SELECT a FROM t", ";",
];

fn sql_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(SQL_TOKENS), 1..40).prop_map(|tokens| tokens.join(" "))
}

fn analyze_and_render(sql: &str) {
    if let Ok(query) = crate::sql::Query::analyze(sql, &[]) {
        let relations = query.relations().to_vec();
        let frames: HashMap<_, _> = relations.iter().enumerate().map(|(i, r)| (r.clone(), format!("__floe_{i}"))).collect();
        let columns: crate::sql::rewrite::Columns = relations.iter().map(|r| (r.clone(), vec!["a".to_string(), "b".to_string()])).collect();
        let _ = query.render(&frames, &columns);
    }
    let _ = crate::sql::dml::classify(sql, &[]);
}

proptest! {
    #[test]
    fn fuzz_ticket_bytes_never_verify_unless_sealed(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let keys = keyring();
        prop_assert!(keys.verify(&bytes, &Principal::Peer).is_err());
        for kind in KINDS {
            prop_assert!(keys.open::<QueryTicket>(&bytes, kind, &Principal::Anonymous).is_err());
        }
    }

    #[test]
    fn fuzz_altered_tickets_are_refused(sql in ".{0,64}", flip in any::<proptest::sample::Index>(), bit in 0u8..8) {
        let keys = keyring();
        let owner = Principal::Named("ana".into());
        let sealed = keys.seal(Kind::Query, &QueryTicket { sql: sql.clone(), ..Default::default() }, &owner);
        let mut altered = sealed.clone();
        let at = flip.index(altered.len());
        altered[at] ^= 1 << bit;
        match keys.open::<QueryTicket>(&altered, Kind::Query, &owner) {
            // A flip can only "work" in protobuf framing the MAC does not cover
            // and that decodes to the very same message.
            Ok(opened) => prop_assert_eq!(opened.payload.sql, sql),
            Err(_) => {}
        }
        prop_assert!(keys.open::<ScriptTicket>(&sealed, Kind::Script, &owner).is_err());
        prop_assert!(keys.open::<QueryTicket>(&sealed, Kind::Query, &Principal::Named("bob".into())).is_err());
    }

    #[test]
    fn fuzz_every_payload_decoder_survives_verified_garbage(kind in 0usize..8, payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        // A sealed envelope around bytes that are not the kind's message:
        // only reachable with the key, but decoding must still fail cleanly.
        let keys = keyring();
        let raw = RawPayload(payload);
        let sealed = keys.seal(KINDS[kind], &raw, &Principal::Anonymous);
        let _ = keys.open::<QueryTicket>(&sealed, KINDS[kind], &Principal::Anonymous);
        let _ = keys.open::<PreparedHandle>(&sealed, KINDS[kind], &Principal::Anonymous);
        let _ = keys.open::<DistributedTicket>(&sealed, KINDS[kind], &Principal::Anonymous);
        let _ = keys.open::<ScriptTicket>(&sealed, KINDS[kind], &Principal::Anonymous);
    }

    #[test]
    fn fuzz_sql_parse_and_rewrite_never_panics(sql in sql_soup()) {
        analyze_and_render(&sql);
    }

    #[test]
    fn fuzz_sql_arbitrary_text_never_panics(sql in "\\PC{0,200}") {
        analyze_and_render(&sql);
    }

    #[test]
    fn fuzz_floe_run_requests_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), json in json_value()) {
        let _ = crate::workload::run::parse_request(&body);
        let _ = crate::workload::run::parse_request(json.to_string().as_bytes());
    }
}

/// Arbitrary JSON shaped like a `floe.run` request.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let keys = proptest::sample::select(vec![
        "mode", "query", "tables", "script", "params", "catalog", "vcpus", "distributed", "clusterSize", "destination",
        "saveMode", "idempotencyKey", "timeoutSeconds", "other",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::hash_map(".{0,8}", inner, 0..4).prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    proptest::collection::hash_map(keys, value, 0..6)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// Bytes sealed as if they were a message.
#[derive(Clone, PartialEq)]
struct RawPayload(Vec<u8>);

impl prost::Message for RawPayload {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        _: u32,
        _: prost::encoding::WireType,
        _: &mut impl bytes::Buf,
        _: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        Ok(())
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

impl std::fmt::Debug for RawPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawPayload({} bytes)", self.0.len())
    }
}
