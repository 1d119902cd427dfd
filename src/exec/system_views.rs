//! The `system` tables: this node's statements and workloads (`queries`),
//! the clients behind them (`sessions`) and the cluster's nodes
//! (`workers`), the same data the observatory shows. Queries and sessions
//! are as the caller may see them (its own, or everyone's for an admin).

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{Error, Result};
use crate::history::{Record, State};
use crate::host::Node;
use crate::sql::RelationName;

pub(super) fn is_system(relation: &RelationName) -> bool {
    relation.len() == 2 && relation[0].eq_ignore_ascii_case("system")
}

pub(super) fn frame(relation: &RelationName, records: Vec<Record>, nodes: Vec<Node>) -> Result<DataFrame> {
    match relation[1].to_ascii_lowercase().as_str() {
        "queries" => queries(&records),
        "sessions" => sessions(&records),
        "workers" => workers(&nodes),
        name => Err(Error::NotFound(format!("system has no `{name}`: it holds `queries`, `sessions` and `workers`"))),
    }
}

fn text(name: &str, values: Vec<String>) -> Column {
    Column::new(name.into(), values)
}

fn number(name: &str, values: Vec<i64>) -> Column {
    Column::new(name.into(), values)
}

fn time(name: &str, millis: Vec<i64>) -> Result<Column> {
    Ok(Column::new(name.into(), millis).cast(&DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)))?)
}

fn queries(records: &[Record]) -> Result<DataFrame> {
    let optional = |name: &str, values: Vec<Option<String>>| Column::new(name.into(), values);
    let optional_number = |name: &str, values: Vec<Option<i64>>| Column::new(name.into(), values);
    let columns = vec![
        text("query_id", records.iter().map(|r| r.query_id.clone()).collect()),
        text("state", records.iter().map(|r| r.state.as_str().to_string()).collect()),
        text("protocol", records.iter().map(|r| r.protocol.clone()).collect()),
        text("kind", records.iter().map(|r| r.kind.clone()).collect()),
        text("principal", records.iter().map(|r| r.principal.clone()).collect()),
        text("client", records.iter().map(|r| r.client.clone()).collect()),
        text("sql", records.iter().map(|r| r.sql.clone()).collect()),
        text("tables", records.iter().map(|r| r.tables.join(", ")).collect()),
        time("started_at", records.iter().map(|r| r.started_at).collect())?,
        number("elapsed_ms", records.iter().map(|r| r.elapsed_ms as i64).collect()),
        optional_number("queued_ms", records.iter().map(|r| r.queued_ms.map(|v| v as i64)).collect()),
        optional_number("planned_ms", records.iter().map(|r| r.planned_ms.map(|v| v as i64)).collect()),
        optional_number("first_rows_ms", records.iter().map(|r| r.first_rows_ms.map(|v| v as i64)).collect()),
        number("rows", records.iter().map(|r| r.rows as i64).collect()),
        number("bytes", records.iter().map(|r| r.bytes as i64).collect()),
        text("snapshots", records.iter().map(snapshots).collect()),
        number("files_selected", records.iter().map(|r| r.scans.iter().map(|s| s.files_selected as i64).sum()).collect()),
        number("files_total", records.iter().map(|r| r.scans.iter().map(|s| s.files_total as i64).sum()).collect()),
        optional_number("committed_snapshot", records.iter().map(|r| r.committed_snapshot).collect()),
        optional("code", records.iter().map(|r| r.code.clone()).collect()),
        optional("error", records.iter().map(|r| r.error.clone()).collect()),
        optional("trace_id", records.iter().map(|r| r.trace_id.clone()).collect()),
        Column::new("plan_reused".into(), records.iter().map(|r| r.plan_reused).collect::<Vec<bool>>()),
    ];
    Ok(DataFrame::new_infer_height(columns)?)
}

/// `table@snapshot` for each table the statement read.
fn snapshots(record: &Record) -> String {
    let pinned = record.scans.iter().map(|scan| match scan.snapshot_id {
        Some(id) => format!("{}@{id}", scan.table),
        None => format!("{}@empty", scan.table),
    });
    pinned.collect::<Vec<_>>().join(", ")
}

/// One row per client (principal, address and protocol) in the history:
/// when it was first and last seen, its statements, and those still live.
fn sessions(records: &[Record]) -> Result<DataFrame> {
    #[derive(Default)]
    struct Session {
        first: i64,
        last: i64,
        statements: i64,
        live: i64,
        failed: i64,
        rows: i64,
    }
    let mut sessions: BTreeMap<(String, String, String), Session> = BTreeMap::new();
    for record in records {
        let key = (record.principal.clone(), record.client.clone(), record.protocol.clone());
        let session = sessions.entry(key).or_insert(Session { first: record.started_at, ..Default::default() });
        session.first = session.first.min(record.started_at);
        session.last = session.last.max(record.started_at);
        session.statements += 1;
        session.live += matches!(record.state, State::Running | State::Queued) as i64;
        session.failed += (record.state == State::Failed) as i64;
        session.rows += record.rows as i64;
    }
    let (keys, values): (Vec<_>, Vec<_>) = sessions.into_iter().unzip();
    let columns = vec![
        text("principal", keys.iter().map(|k| k.0.clone()).collect()),
        text("client", keys.iter().map(|k| k.1.clone()).collect()),
        text("protocol", keys.iter().map(|k| k.2.clone()).collect()),
        time("first_seen", values.iter().map(|s| s.first).collect())?,
        time("last_seen", values.iter().map(|s| s.last).collect())?,
        number("statements", values.iter().map(|s| s.statements).collect()),
        number("running", values.iter().map(|s| s.live).collect()),
        number("failed", values.iter().map(|s| s.failed).collect()),
        number("rows", values.iter().map(|s| s.rows).collect()),
    ];
    Ok(DataFrame::new_infer_height(columns)?)
}

fn workers(nodes: &[Node]) -> Result<DataFrame> {
    let sample = |f: fn(&crate::host::Sample) -> f64| nodes.iter().map(|n| n.latest.as_ref().map(f)).collect::<Vec<Option<f64>>>();
    let columns = vec![
        text("address", nodes.iter().map(|n| n.address.clone()).collect()),
        text("role", nodes.iter().map(|n| n.role.clone()).collect()),
        text("worker_id", nodes.iter().map(|n| n.worker_id.clone()).collect()),
        Column::new("last_heartbeat_ms".into(), nodes.iter().map(|n| n.last_heartbeat_ms.map(|v| v as i64)).collect::<Vec<_>>()),
        Column::new("cpu_percent".into(), sample(|s| s.cpu_percent as f64)),
        Column::new("memory_used_bytes".into(), sample(|s| s.memory_used_bytes as f64)).cast(&DataType::Int64)?,
        Column::new("memory_total_bytes".into(), sample(|s| s.memory_total_bytes as f64)).cast(&DataType::Int64)?,
        Column::new("process_rss_bytes".into(), sample(|s| s.process_rss_bytes as f64)).cast(&DataType::Int64)?,
        number("tasks_running", nodes.iter().map(|n| n.tasks_running as i64).collect()),
        number("tasks_done", nodes.iter().map(|n| n.tasks_done as i64).collect()),
        number("tasks_failed", nodes.iter().map(|n| n.tasks_failed as i64).collect()),
        number("shuffle_bytes", nodes.iter().map(|n| n.shuffle_bytes as i64).collect()),
    ];
    Ok(DataFrame::new_infer_height(columns)?)
}
