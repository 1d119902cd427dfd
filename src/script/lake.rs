//! What a runner may ask of the lake: a table's schema, a scan with the
//! projection, filter and limit Polars pushed down, and read-only catalog
//! metadata. Everything goes through the same engine as SQL queries, so
//! scripts get the same pruning, snapshot pinning and name resolution.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use iceberg::NamespaceIdent;
use serde_json::{json, Value};

use crate::access::{Principal, Right};
use crate::catalog::TableRef;
use crate::exec::{BatchStream, Engine};
use crate::proto::SessionDefaults;

/// A reply to the runner: a frame kind and its payload.
pub type Reply = (u8, Vec<u8>);

/// The lake as one workload sees it; remembers the snapshot each table was
/// read at, so a replay of the workload (DoGet) reads the same data.
pub struct LakeView {
    engine: Arc<Engine>,
    session: SessionDefaults,
    /// The workload's owner: the sandbox sees only what it may read.
    principal: Principal,
    pub pins: HashMap<String, i64>,
    scans: HashMap<u64, BatchStream>,
    next_scan: u64,
}

fn table_error(message: impl std::fmt::Display) -> Reply {
    (super::channel::TABLE_ERROR, json!({ "error": message.to_string() }).to_string().into_bytes())
}

fn json_reply(value: Value) -> Reply {
    (super::channel::JSON, value.to_string().into_bytes())
}

fn quoted(part: &str) -> String {
    format!("\"{}\"", part.replace('"', "\"\""))
}

pub fn ipc_bytes(schema: &SchemaRef, batch: Option<&RecordBatch>) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema)?;
    if let Some(batch) = batch {
        writer.write(batch)?;
    }
    writer.finish()?;
    writer.into_inner()
}

impl LakeView {
    pub fn new(engine: Arc<Engine>, session: SessionDefaults, pins: HashMap<String, i64>, principal: Principal) -> Self {
        Self { engine, session, principal, pins, scans: HashMap::new(), next_scan: 0 }
    }

    /// A table the owner may read.
    fn resolve(&self, table: &str) -> Result<TableRef, String> {
        let parts: Vec<String> = table.split('.').map(|p| p.trim().to_string()).collect();
        if parts.iter().any(String::is_empty) {
            return Err(format!("`{table}` is not a table name like 'namespace.table'"));
        }
        let table_ref = self.engine.lake().names().resolve(&parts, &self.session).map_err(|e| e.to_string())?;
        self.engine.authorize(&self.principal, &table_ref, Right::Read).map_err(|e| e.to_string())?;
        Ok(table_ref)
    }

    fn readable(&self, namespace: &[String]) -> bool {
        self.engine.policy().allows(&self.principal, &self.catalog_name(), &namespace.join("."), Right::Read)
    }

    /// The relation for SQL, fully qualified and pinned when the workload has read it before.
    fn relation(&self, table: &str) -> Result<(String, TableRef), String> {
        let table_ref = self.resolve(table)?;
        let key = table_ref.to_string();
        let name = match self.pins.get(&key) {
            Some(snapshot) => format!("{}@version:{snapshot}", table_ref.ident.name()),
            None => table_ref.ident.name().to_string(),
        };
        let mut parts = vec![table_ref.catalog.clone()];
        parts.extend(table_ref.ident.namespace().iter().cloned());
        parts.push(name);
        Ok((parts.iter().map(|p| quoted(p)).collect::<Vec<_>>().join("."), table_ref))
    }

    async fn plan(&mut self, table: &str, sql_tail: &str, columns: &str) -> Result<crate::exec::Plan, String> {
        let (relation, table_ref) = self.relation(table)?;
        let sql = format!("SELECT {columns} FROM {relation}{sql_tail}");
        let plan = self.engine.plan(&sql, Vec::new(), self.session.clone(), &self.principal).await.map_err(|e| match e {
            crate::exec::Error::Catalog(crate::catalog::Error::TableNotFound(_)) => {
                format!("scan(): table `{table}` does not exist in catalog `{}`", table_ref.catalog)
            }
            other => format!("scan({table:?}): {other}"),
        })?;
        if let Some(snapshot) = plan.ticket.tables.first().and_then(|pin| pin.snapshot_id) {
            self.pins.entry(table_ref.to_string()).or_insert(snapshot);
        }
        Ok(plan)
    }

    pub async fn handle(&mut self, request: &Value) -> Reply {
        let text = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        match request.get("op").and_then(Value::as_str).unwrap_or_default() {
            "schema" => match self.plan(&text("table"), " LIMIT 0", "*").await {
                Ok(plan) => match ipc_bytes(&plan.schema, None) {
                    Ok(bytes) => (super::channel::TABLE_CHUNK, bytes),
                    Err(e) => table_error(e),
                },
                Err(e) => table_error(e),
            },
            "scan" => self.scan(request).await,
            "next" => self.next(request.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX)).await,
            "close" => {
                self.scans.remove(&request.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX));
                json_reply(json!({}))
            }
            "namespaces" => self.namespaces(request).await,
            "tables" => self.tables(request).await,
            "load_table" => self.load_table(&text("table")).await,
            "table_exists" => {
                let exists = match self.resolve(&text("table")) {
                    Ok(table) => self.engine.lake().load(&table).await.is_ok(),
                    Err(_) => false,
                };
                json_reply(json!({ "exists": exists }))
            }
            other => table_error(format!("unknown request `{other}`")),
        }
    }

    async fn scan(&mut self, request: &Value) -> Reply {
        let table = request.get("table").and_then(Value::as_str).unwrap_or_default().to_string();
        let columns = match request.get("columns").and_then(Value::as_array) {
            Some(names) if !names.is_empty() => {
                names.iter().filter_map(Value::as_str).map(quoted).collect::<Vec<_>>().join(", ")
            }
            _ => "*".to_string(),
        };
        let limit = request.get("limit").and_then(Value::as_u64).map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let filter = request.get("filter").and_then(Value::as_str).map(|f| format!(" WHERE {f}"));
        // The filter only prunes: if the server cannot use it (a type the
        // translation got wrong), the runner still applies Polars' own predicate.
        let planned = match &filter {
            Some(filter) => match self.plan(&table, &format!("{filter}{limit}"), &columns).await {
                Ok(plan) => Ok(plan),
                Err(_) => self.plan(&table, "", &columns).await,
            },
            None => self.plan(&table, &limit, &columns).await,
        };
        let plan = match planned {
            Ok(plan) => {
                tracing::debug!(sql = %plan.ticket.sql, "script scan");
                plan
            }
            Err(e) => return table_error(e),
        };
        match self.engine.execute(&plan.ticket, &self.principal).await {
            Ok((_, batches)) => {
                self.next_scan += 1;
                self.scans.insert(self.next_scan, batches);
                json_reply(json!({ "id": self.next_scan }))
            }
            Err(e) => table_error(format!("scan({table:?}): {e}")),
        }
    }

    async fn next(&mut self, id: u64) -> Reply {
        let Some(stream) = self.scans.get_mut(&id) else {
            return table_error(format!("no open scan {id}"));
        };
        match stream.next().await {
            None => {
                self.scans.remove(&id);
                (super::channel::SCAN_END, Vec::new())
            }
            Some(Ok(batch)) => match ipc_bytes(&batch.schema(), Some(&batch)) {
                Ok(bytes) => (super::channel::TABLE_CHUNK, bytes),
                Err(e) => table_error(e),
            },
            Some(Err(e)) => {
                self.scans.remove(&id);
                table_error(e)
            }
        }
    }

    fn catalog_name(&self) -> String {
        self.engine.lake().names().session_catalog(&self.session)
    }

    async fn namespaces(&mut self, request: &Value) -> Reply {
        let parent: Vec<String> = serde_json::from_value(request.get("parent").cloned().unwrap_or_default()).unwrap_or_default();
        match self.engine.lake().namespaces(&self.catalog_name()).await {
            Ok(all) => {
                let children: Vec<Vec<String>> = all
                    .iter()
                    .map(|ns| ns.clone().inner())
                    .filter(|ns| ns.len() == parent.len() + 1 && ns.starts_with(&parent) && self.readable(ns))
                    .collect();
                json_reply(json!({ "namespaces": children }))
            }
            Err(e) => table_error(e),
        }
    }

    async fn tables(&mut self, request: &Value) -> Reply {
        let parts: Vec<String> = serde_json::from_value(request.get("namespace").cloned().unwrap_or_default()).unwrap_or_default();
        let Ok(namespace) = NamespaceIdent::from_vec(parts.clone()) else {
            return table_error("list_tables needs a namespace");
        };
        if !self.readable(&parts) {
            return json_reply(json!({ "tables": [] }));
        }
        match self.engine.lake().tables(&self.catalog_name(), &namespace).await {
            Ok(tables) => {
                let names: Vec<Vec<String>> = tables
                    .iter()
                    .map(|t| t.namespace().iter().cloned().chain([t.name().to_string()]).collect())
                    .collect();
                json_reply(json!({ "tables": names }))
            }
            Err(e) => table_error(e),
        }
    }

    async fn load_table(&mut self, table: &str) -> Reply {
        let table_ref = match self.resolve(table) {
            Ok(table_ref) => table_ref,
            Err(e) => return table_error(e),
        };
        match self.engine.lake().load(&table_ref).await {
            Ok(loaded) => match serde_json::to_string(loaded.metadata()) {
                Ok(metadata) => json_reply(json!({
                    "metadata": metadata,
                    "metadata_location": loaded.metadata_location().unwrap_or_default(),
                })),
                Err(e) => table_error(e),
            },
            Err(e) => table_error(e),
        }
    }
}
