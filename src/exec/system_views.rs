//! `system.queries`: this node's statements and workloads as a table, the
//! same records the observatory shows, as the caller may see them (its own,
//! or everyone's for an admin).

use polars::prelude::*;

use super::{Error, Result};
use crate::history::Record;
use crate::sql::RelationName;

pub(super) fn is_system(relation: &RelationName) -> bool {
    relation.len() == 2 && relation[0].eq_ignore_ascii_case("system")
}

pub(super) fn frame(relation: &RelationName, records: Vec<Record>) -> Result<DataFrame> {
    let name = relation[1].to_ascii_lowercase();
    if name != "queries" {
        return Err(Error::NotFound(format!("system has no `{name}`: it holds `queries`")));
    }
    let text = |name: &str, values: Vec<String>| Column::new(name.into(), values);
    let optional = |name: &str, values: Vec<Option<String>>| Column::new(name.into(), values);
    let number = |name: &str, values: Vec<i64>| Column::new(name.into(), values);
    let started = Column::new("started_at".into(), records.iter().map(|r| r.started_at).collect::<Vec<i64>>())
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)))?;
    let columns = vec![
        text("query_id", records.iter().map(|r| r.query_id.clone()).collect()),
        text("state", records.iter().map(|r| r.state.as_str().to_string()).collect()),
        text("protocol", records.iter().map(|r| r.protocol.clone()).collect()),
        text("kind", records.iter().map(|r| r.kind.clone()).collect()),
        text("principal", records.iter().map(|r| r.principal.clone()).collect()),
        text("client", records.iter().map(|r| r.client.clone()).collect()),
        text("sql", records.iter().map(|r| r.sql.clone()).collect()),
        text("tables", records.iter().map(|r| r.tables.join(", ")).collect()),
        started,
        number("elapsed_ms", records.iter().map(|r| r.elapsed_ms as i64).collect()),
        number("rows", records.iter().map(|r| r.rows as i64).collect()),
        number("bytes", records.iter().map(|r| r.bytes as i64).collect()),
        optional("code", records.iter().map(|r| r.code.clone()).collect()),
        optional("error", records.iter().map(|r| r.error.clone()).collect()),
        optional("trace_id", records.iter().map(|r| r.trace_id.clone()).collect()),
    ];
    Ok(DataFrame::new_infer_height(columns)?)
}
