//! What the history keeps of a statement: the record the observatory,
//! `system.queries` and the store share.

use serde::Serialize;

/// How a statement reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Flight,
    #[serde(rename = "floe.run")]
    Run,
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = QueryState)]
pub enum State {
    /// Waiting for one of the server's query slots (`--max-concurrent-queries`).
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Finished => "finished",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }
}

/// One statement or workload, as the observatory shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = QueryRecord)]
pub struct Record {
    pub query_id: String,
    pub state: State,
    pub protocol: String,
    /// The statement's first keyword (`SELECT`, `INSERT`), `SCRIPT`, `INGEST`.
    pub kind: String,
    pub sql: String,
    pub principal: String,
    pub client: String,
    pub tables: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub elapsed_ms: u64,
    pub rows: u64,
    pub bytes: u64,
    /// The gRPC code of a failure, and its message.
    pub code: Option<String>,
    pub error: Option<String>,
    pub trace_id: Option<String>,
    /// When the first rows went out, from the start: admission, planning and
    /// the first results; the rest of `elapsed_ms` is streaming.
    #[serde(default)]
    pub first_rows_ms: Option<u64>,
    /// How long it waited for a query slot.
    #[serde(default)]
    pub queued_ms: Option<u64>,
    /// When its plan was ready, from the start (queue, catalog reads,
    /// manifest pruning and Polars' planning).
    #[serde(default)]
    pub planned_ms: Option<u64>,
    /// Whether it ran the plan an earlier run of the same ticket made.
    #[serde(default)]
    pub plan_reused: bool,
    /// Each table it read: the snapshot, and what pruning left of it.
    #[serde(default)]
    pub scans: Vec<Scan>,
    /// The snapshot a write committed.
    #[serde(default)]
    pub committed_snapshot: Option<i64>,
}

/// One table a statement read, as it was pinned and pruned.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = QueryScan)]
pub struct Scan {
    pub table: String,
    /// None for an empty table (no snapshot yet).
    pub snapshot_id: Option<i64>,
    pub files_selected: u64,
    pub files_total: u64,
    /// The size of the selected data files.
    pub bytes_planned: u64,
    /// How it was read (Polars' Parquet reader, a shuffle bucket, …).
    pub reader: String,
}

