//! The JSON of oleander's "Run a Polars workload" API, shared by the Flight
//! action, the CLI and (later) the REST API.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `query` runs Polars SQL against the registered `tables`; `script` runs
/// Python with `pl`, `scan(table)`, `params` and `catalog` in scope.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Query,
    Script,
}

/// How rows reach `destination`: `overwrite` replaces the table (the
/// contract's default), `append` adds rows.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SaveMode {
    #[default]
    Overwrite,
    Append,
}

/// `"alias=ns.table"`, `"ns.table"` (its own alias: the table's name) or
/// `{"alias": "...", "table": "ns.table"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TableAlias {
    #[schema(example = "flowers=default.flowers")]
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
                None if text.contains('.') && text.split('.').all(|part| !part.trim().is_empty()) => {
                    let name = text.rsplit('.').next().unwrap_or_default().trim();
                    Ok((name.to_string(), text.trim().to_string()))
                }
                _ => Err(format!("table alias `{text}` is not `alias=namespace.table` or `namespace.table`")),
            },
        }
    }
}

/// oleander's "Run a Polars workload" request, field for field, plus
/// Floe's `idempotencyKey` and `timeoutSeconds`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub mode: Mode,
    /// Polars SQL. Required when `mode` is `query`.
    pub query: Option<String>,
    /// Tables the query reads, by alias. Required when `mode` is `query`.
    #[serde(default)]
    pub tables: Vec<TableAlias>,
    /// Python for script mode; it must assign `result` a LazyFrame or DataFrame.
    pub script: Option<String>,
    /// The script's `params` dict.
    #[serde(default)]
    pub params: HashMap<String, String>,
    /// The catalog names resolve in; the server's default when omitted.
    pub catalog: Option<String>,
    /// Sandbox vCPU tier for local execution: 2, 4, 8, 16 or 32.
    #[schema(schema_with = vcpus_schema)]
    pub vcpus: Option<u32>,
    /// Spread the workload over the cluster's workers.
    #[serde(default)]
    #[schema(default = false)]
    pub distributed: bool,
    /// Accepted for compatibility; Floe places work on its own workers.
    #[serde(rename = "instanceType")]
    pub instance_type: Option<String>,
    /// Most partitions a distributed run uses. Only used when `distributed` is true.
    #[serde(rename = "clusterSize")]
    pub cluster_size: Option<u32>,
    /// `namespace.table` to write the rows to instead of returning them.
    pub destination: Option<String>,
    #[serde(rename = "saveMode", default)]
    pub save_mode: SaveMode,
    /// A retried write with the same key commits once.
    #[serde(rename = "idempotencyKey")]
    pub idempotency_key: Option<String>,
    /// Script time limit, at most the server's.
    #[serde(rename = "timeoutSeconds")]
    #[schema(minimum = 1)]
    pub timeout_seconds: Option<u64>,
}

fn vcpus_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([2, 4, 8, 16, 32]))
        .default(Some(2.into()))
        .description(Some("Sandbox vCPU tier for local execution: 2, 4, 8, 16 or 32."))
        .build()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Saved {
    /// `namespace.table` as written.
    pub table: String,
    pub rows_written: u64,
    pub mode: SaveMode,
    /// The Iceberg snapshot the write committed.
    pub snapshot_id: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Compute {
    /// `local` or `distributed`.
    #[schema(value_type = String)]
    pub mode: &'static str,
    pub distributed: bool,
    pub vcpus: u32,
    /// Where the rows came from: `local`, `partitioned` (each worker's rows
    /// final) or `gathered` (combined on the coordinator).
    #[schema(value_type = String)]
    pub placement: &'static str,
    /// Hash-shuffle map stages run.
    pub shuffles: usize,
    /// Partitions and map tasks re-run on another worker after a failure.
    pub reruns: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request's `instanceType` when it ran distributed.
    #[serde(rename = "instanceType")]
    pub instance_type: Option<String>,
    /// Partitions a distributed run used (one per worker at most).
    #[serde(rename = "clusterSize")]
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
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunFailure {
    pub error: String,
    pub details: String,
}
