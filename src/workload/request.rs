//! The JSON of oleander's "Run a Polars workload" API, shared by the Flight
//! action, the CLI and (later) the REST API.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Query,
    Script,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SaveMode {
    /// Adding rows is the default: it never loses data.
    #[default]
    Append,
    Overwrite,
}

/// `"alias=ns.table"` or `{"alias": "...", "table": "ns.table"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TableAlias {
    Text(String),
    Object { alias: String, table: String },
}

impl TableAlias {
    pub fn parts(&self) -> Result<(String, String), String> {
        match self {
            TableAlias::Object { alias, table } => Ok((alias.clone(), table.clone())),
            TableAlias::Text(text) => match text.split_once('=') {
                Some((alias, table)) if !alias.trim().is_empty() && !table.trim().is_empty() => {
                    Ok((alias.trim().to_string(), table.trim().to_string()))
                }
                _ => Err(format!("table alias `{text}` is not `alias=namespace.table`")),
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub mode: Mode,
    pub query: Option<String>,
    #[serde(default)]
    pub tables: Vec<TableAlias>,
    pub script: Option<String>,
    #[serde(default)]
    pub params: HashMap<String, String>,
    pub catalog: Option<String>,
    pub vcpus: Option<u32>,
    #[serde(default)]
    pub distributed: bool,
    #[serde(rename = "clusterSize")]
    pub cluster_size: Option<u32>,
    pub destination: Option<String>,
    #[serde(rename = "saveMode", default)]
    pub save_mode: SaveMode,
    #[serde(rename = "idempotencyKey")]
    pub idempotency_key: Option<String>,
    #[serde(rename = "timeoutSeconds")]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub table: String,
    pub rows_written: u64,
    pub mode: SaveMode,
    pub snapshot_id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Compute {
    pub mode: &'static str,
    pub distributed: bool,
    pub vcpus: u32,
    /// Where the rows came from: `local`, `partitioned` (each worker's rows
    /// final) or `gathered` (combined on the coordinator).
    pub placement: &'static str,
    /// Hash-shuffle map stages run.
    pub shuffles: usize,
    /// Partitions and map tasks re-run on another worker after a failure.
    pub reruns: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Partitions a distributed run used (one per worker at most).
    #[serde(rename = "clusterSize", skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResponse {
    pub success: bool,
    pub row_count: u64,
    pub execution_time: String,
    pub columns: Vec<String>,
    pub column_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<Saved>,
    pub compute: Compute,
}

/// The body of a failed run: `{"error": …, "details": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct RunFailure {
    pub error: String,
    pub details: String,
}
