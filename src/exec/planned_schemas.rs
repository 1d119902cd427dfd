//! Result schemas by everything that decides them: the statement, its
//! parameters, the session and the snapshot each relation reads (which
//! fixes its columns and row count). ADBC and the JDBC driver prepare a
//! query and then ask for its FlightInfo on every execute, and each call
//! planned it from scratch to learn the same schema.

use std::collections::HashMap;
use std::sync::Mutex;

use arrow::datatypes::SchemaRef;
use prost::Message;

use crate::proto::QueryTicket;

/// Beyond this many schemas the memo starts over.
const MAX_SCHEMAS: usize = 1024;

#[derive(Default)]
pub(super) struct PlannedSchemas {
    schemas: Mutex<HashMap<Vec<u8>, SchemaRef>>,
}

impl PlannedSchemas {
    pub fn get(&self, ticket: &QueryTicket) -> Option<SchemaRef> {
        self.schemas.lock().expect("schema memo lock").get(&key(ticket)).cloned()
    }

    pub fn put(&self, ticket: &QueryTicket, schema: SchemaRef) {
        let mut schemas = self.schemas.lock().expect("schema memo lock");
        if schemas.len() >= MAX_SCHEMAS {
            schemas.clear();
        }
        schemas.insert(key(ticket), schema);
    }
}

/// The ticket without its query id: every plan has its own.
fn key(ticket: &QueryTicket) -> Vec<u8> {
    let mut stable = ticket.clone();
    stable.query_id.clear();
    stable.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::proto::TablePin;

    fn ticket(snapshot_id: i64, query_id: &str) -> QueryTicket {
        QueryTicket {
            sql: "SELECT a FROM t".into(),
            tables: vec![TablePin { relation: "t".into(), name: "t".into(), snapshot_id: Some(snapshot_id), ..Default::default() }],
            query_id: query_id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_schema_is_reused_for_the_same_statement_over_the_same_snapshots_only() {
        let memo = PlannedSchemas::default();
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        memo.put(&ticket(1, "first"), schema.clone());
        assert_eq!(memo.get(&ticket(1, "second")), Some(schema));
        assert_eq!(memo.get(&ticket(2, "second")), None);
    }
}
