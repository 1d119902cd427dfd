//! Property-based fuzzing of what the Flight adapter decodes itself: every
//! Flight SQL command (as arrow-flight unpacks it from a ticket or
//! descriptor), session cookies and option requests, cancellation requests,
//! and metadata filter patterns (checked against a plain reference matcher).

use arrow_flight::sql::{Any, Command};
use prost::Message;
use proptest::prelude::*;

/// Every command type URL arrow-flight dispatches, so random values reach
/// each decoder rather than the unknown-type path.
const TYPE_URLS: &[&str] = &[
    "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandPreparedStatementQuery",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandPreparedStatementUpdate",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementUpdate",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementIngest",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetCatalogs",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetDbSchemas",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetTables",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetTableTypes",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetSqlInfo",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetPrimaryKeys",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetExportedKeys",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetImportedKeys",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetCrossReference",
    "type.googleapis.com/arrow.flight.protocol.sql.CommandGetXdbcTypeInfo",
    "type.googleapis.com/arrow.flight.protocol.sql.TicketStatementQuery",
    "type.googleapis.com/arrow.flight.protocol.sql.ActionCreatePreparedStatementRequest",
    "type.googleapis.com/arrow.flight.protocol.sql.ActionClosePreparedStatementRequest",
    super::super::workload::tickets::SEALED_TYPE,
];

/// The plain (exponential) LIKE the iterative matcher must agree with.
fn reference_like(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|skip| reference_like(rest, &text[skip..])),
        Some(('_', rest)) => !text.is_empty() && reference_like(rest, &text[1..]),
        Some(('\\', rest)) if !rest.is_empty() => text.first() == rest.first() && reference_like(&rest[1..], &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && reference_like(rest, &text[1..]),
    }
}

proptest! {
    #[test]
    fn fuzz_flight_sql_commands_decode_or_fail_cleanly(url in proptest::sample::select(TYPE_URLS), value in proptest::collection::vec(any::<u8>(), 0..300)) {
        let any = Any { type_url: url.to_string(), value: value.clone().into() };
        if let Ok(command) = Command::try_from(any.clone()) {
            let _ = command.type_url();
        }
        let _ = Any::decode(any.encode_to_vec().as_slice());
        let _ = Any::decode(value.as_slice());
    }

    #[test]
    fn fuzz_session_cookies_and_action_bodies(cookie in "\\PC{0,200}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut metadata = tonic::metadata::MetadataMap::new();
        if let Ok(value) = cookie.parse() {
            metadata.insert("cookie", value);
        }
        let _ = super::session::defaults(&metadata);
        let _ = crate::proto::SetSessionOptionsRequest::decode(body.as_slice());
        let _ = arrow_flight::CancelFlightInfoRequest::decode(body.as_slice());
        let _ = crate::proto::WorkerHeartbeat::decode(body.as_slice());
    }

    #[test]
    fn fuzz_like_agrees_with_the_reference(pattern in "[ab%_\\\\]{0,10}", text in "[ab_%]{0,10}") {
        let expected = reference_like(&pattern.chars().collect::<Vec<_>>(), &text.chars().collect::<Vec<_>>());
        prop_assert_eq!(crate::pattern::like(&pattern, &text), expected, "pattern {:?} text {:?}", pattern, text);
    }
}
