//! Planning and running queries with Polars.
//!
//! `plan` resolves tables, pins their snapshots and works out the result
//! schema without reading data; `execute` re-derives everything from the
//! ticket alone, so any node can run any ticket and retries read the same data.

pub mod cloud;
pub mod convert;
mod catalog_views;
mod checked_integers;
mod decimals;
mod system_views;
mod metadata_tables;
mod parameters;
pub mod dml;
mod engine;
mod execute;
mod describe;
mod explain;
pub mod functions;
mod lineage;
mod plan;
mod recursion;
mod inputs;
mod data_cache;
mod bounded;
mod materialized;
mod key_order;
mod key_extents;
mod planned;
mod ranked_extremes;
mod resolve;
mod sliding;
mod value_frames;
pub mod result_cache;
mod scalars;
mod maintenance;
mod merge;
mod row_changes;
mod rounding;
mod running;
pub mod scan;
pub mod shuffle;
mod panics;
mod stream;
pub mod ticket;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::Stream;
use polars::prelude::PolarsError;

pub use running::{Admission, Running, RunningQuery};
use plan::polars_plan;
use result_cache::Caching;
use stream::run_blocking;
use metadata_tables::MetadataTable;
use resolve::{pin_of, Selects};
use scan::FrameInput;
pub use cloud::RemoteLimits;
pub use scan::ScanOptions;

use crate::access::{Denied, Policy, Principal};
use crate::catalog::{self, Lake};
use crate::peer::Peers;
use crate::proto::{QueryTicket, SessionDefaults, TablePin};
use tracing::Instrument;
use crate::sql::{self, Query};
use crate::ticket::Keyring;
use shuffle::ShuffleStore;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sql(#[from] sql::Error),
    #[error(transparent)]
    Catalog(#[from] catalog::Error),
    #[error("{0}")]
    Polars(#[from] PolarsError),
    #[error("arrow conversion: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("reading table `{table}`: {source}")]
    Iceberg {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("the ticket does not match its query: {0}")]
    TicketMismatch(String),
    #[error("query cancelled")]
    Cancelled,
    #[error("the query ran longer than its {0}-second limit (--query-timeout-seconds) and was stopped")]
    TimedOut(u64),
    #[error("{0}")]
    Overloaded(String),
    #[error("reading {tables}: {message}")]
    DataRead { tables: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("query worker failed: {0}")]
    Worker(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Remote(String),
    #[error("{0}")]
    Shuffle(String),
    #[error(transparent)]
    Write(#[from] crate::write::Error),
    #[error("permission denied: {0}")]
    Denied(Denied),
    /// A failure of whatever fed a batch stream from above this layer (a
    /// script sandbox, a distributed query's partitions), kept whole so the
    /// error gate can still tell what it was.
    #[error(transparent)]
    Upstream(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    fn iceberg(table: &iceberg::table::Table, source: iceberg::Error) -> Self {
        Error::Iceberg { table: table.identifier().to_string(), source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub type BatchStream = std::pin::Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// Rows already in memory (a gathered result, a shuffle bucket), as a stream.
pub fn in_memory(batches: Vec<RecordBatch>) -> BatchStream {
    Box::pin(futures::stream::iter(batches.into_iter().map(Ok)))
}

/// What a relation's scan reads: data files after pruning (with sizes) and its columns.
pub struct PlannedScan {
    pub files: Vec<(String, u64)>,
    pub columns: Vec<String>,
}

/// A planned query: what clients will receive, and the ticket that runs it.
pub struct Plan {
    pub schema: SchemaRef,
    pub ticket: QueryTicket,
}

/// Which of Polars' engines runs a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolarsEngine {
    /// Streaming, but queries over small inputs (`Inputs::small`) in memory, which answers them sooner.
    #[default]
    Auto,
    /// Every query streaming, small or not (what large inputs get, for tests and comparisons).
    Streaming,
    /// Every result collected in memory first.
    InMemory,
}

pub struct Engine {
    lake: Arc<Lake>,
    running: Running,
    scan_options: ScanOptions,
    /// Seals the tickets this node hands out and verifies the ones it gets.
    keyring: Keyring,
    /// Who may read and write which namespaces.
    policy: Arc<Policy>,
    /// How this node reads other Floe nodes (shuffle buckets).
    peers: Peers,
    /// Where this node's shuffle map outputs go and remote ones are read from.
    shuffle_store: Arc<ShuffleStore>,
    /// The statements this node ran and runs (`system.queries`).
    history: crate::history::History,
    /// This node and its workers (`system.workers`).
    nodes: Option<crate::host::Directory>,
    /// Which of Polars' engines runs queries (`--polars-engine`).
    polars_engine: PolarsEngine,
    /// Answers kept for repeated queries (`--result-cache-mb`).
    result_cache: Arc<result_cache::ResultCache>,
    /// Decoded columns of data files kept for the next scan (`--data-cache-mb`).
    data_cache: Arc<data_cache::DataCache>,
    /// Result schemas of queries planned before, for the next client call.
    planned_schemas: Arc<planned::PlannedSchemas>,
    /// Runnable plans of tickets run before, for the next run of the same ticket.
    planned_frames: Arc<planned::PlannedFrames>,
    held_frames: Arc<planned::HeldFrames>,
    planned_reads: Arc<planned::PlannedReads>,
}

impl Engine {
    pub async fn plan(&self, sql: &str, params: Vec<String>, session: SessionDefaults, who: &Principal) -> Result<Plan> {
        let query = Query::analyze(sql, &params)?;
        self.plan_query(query, sql, params, session, who).await
    }

    /// Plans an already analyzed query; `sql` and `params` are what its
    /// ticket carries so that any node can analyze it again.
    pub async fn plan_query(
        &self,
        query: Query,
        sql: &str,
        params: Vec<String>,
        session: SessionDefaults,
        who: &Principal,
    ) -> Result<Plan> {
        let tables = resolve::resolve(&self.lake, &query, &session, &[]).instrument(resolve_span()).await?;
        self.authorize_reads(&tables, who)?;
        let reads_metadata = reads_metadata(&tables);
        let mut pins = Vec::with_capacity(tables.len());
        let mut inputs = Vec::with_capacity(tables.len());
        for resolved in tables {
            let snapshot_id = resolved.snapshot_id()?;
            let rows = resolved.rows(snapshot_id);
            let schema_id = scan::read_schema_id(&resolved.table, snapshot_id);
            let (schema, source) = match resolved.selects {
                Selects::Metadata(kind) => metadata_input(&resolved.table, kind).await?,
                Selects::Snapshot(_) => (scan::snapshot_schema(&resolved.table, snapshot_id, schema_id)?, scan::Source::Schema),
            };
            pins.push(TablePin {
                catalog: resolved.table_ref.catalog.clone(),
                namespace: resolved.table_ref.ident.namespace().clone().inner(),
                name: resolved.table_ref.ident.name().to_string(),
                snapshot_id,
                relation: resolved.relation_text(),
                partitioned: false,
                files: Vec::new(),
                shuffle: None,
                schema_id,
            });
            inputs.push(FrameInput { relation: resolved.relation, schema, source, rows, decoded_from: None });
        }
        let ticket = QueryTicket {
            sql: sql.to_string(),
            params,
            session: Some(session),
            tables: pins,
            query_id: uuid::Uuid::new_v4().to_string(),
        };
        let (explain, describes) = ((query.is_explain(), query.is_explain_analyze()), query.is_describe());
        // A kept answer knows its schema: planning it again would only repeat the work.
        let cached = match self.result_cache.caching(&query, &ticket, reads_metadata) {
            Caching::Kept(key) if query.answers_rows() => self.result_cache.peek(&key),
            _ => None,
        };
        // Metadata tables and tables without a snapshot change columns without a new pin.
        let memo = !reads_metadata && planned::pinned(&ticket);
        let schema = match (cached, memo.then(|| self.planned_schemas.get(&ticket)).flatten()) {
            (Some(entry), _) => entry.schema.clone(),
            (None, Some(schema)) => schema,
            (None, None) => {
                inputs.extend(self.catalog_view_inputs(&query, who, false).await?);
                let span = polars_span();
                let schema = run_blocking(move || span.in_scope(|| polars_plan(&query, &inputs, None))).await?.1;
                if memo {
                    self.planned_schemas.put(&ticket, schema.clone());
                }
                schema
            }
        };
        let schema = match explain {
            (_, true) => explain::analyze_schema(),
            (true, false) => explain::schema(),
            _ if describes => describe::schema(),
            _ => schema,
        };
        // The statement text as planned (literals included), for operators debugging what clients send.
        tracing::debug!(query = ticket.query_id.as_str(), principal = %who, sql = ticket.sql.as_str(), "query planned");
        Ok(Plan { schema, ticket })
    }

    /// The data files each pinned relation of `ticket` reads (after pruning),
    /// with their sizes; metadata tables and empty tables have none.
    pub async fn planned_files(&self, ticket: &QueryTicket) -> Result<HashMap<String, PlannedScan>> {
        let query = Query::analyze(&ticket.sql, &ticket.params)?;
        let session = ticket.session.clone().unwrap_or_default();
        let mut files = HashMap::new();
        for resolved in resolve::resolve(&self.lake, &query, &session, &ticket.tables).await? {
            let relation = resolved.relation_text();
            let Selects::Snapshot(_) = resolved.selects else { continue };
            let pin = pin_of(&ticket.tables, &relation, &resolved.table_ref);
            let Some(snapshot_id) = pin.and_then(|pin| pin.snapshot_id) else { continue };
            let filters = query.scan_filters(&resolved.relation);
            let columns = scan::snapshot_schema(&resolved.table, Some(snapshot_id), pin.and_then(|pin| pin.schema_id))?.iter_names().map(|n| n.to_string()).collect();
            let planned = scan::planned_files(&resolved.table, snapshot_id, filters, self.scan_options.remote).await?;
            files.insert(relation, PlannedScan { files: planned, columns });
        }
        Ok(files)
    }

    /// Plans and runs an analyzed query in one go (for writes fed by a query).
    pub async fn run_query(&self, query: Query, session: SessionDefaults, who: &Principal) -> Result<(SchemaRef, BatchStream)> {
        let sql = query.sql();
        let plan = self.plan_query(query.clone(), &sql, Vec::new(), session, who).await?;
        self.execute_analyzed(query, &plan.ticket, who).await
    }
}

/// A metadata table's rows (built in memory) and their schema.
async fn metadata_input(table: &iceberg::table::Table, kind: MetadataTable) -> Result<(polars::prelude::Schema, scan::Source)> {
    let frame = metadata_tables::load(table, kind).await?;
    Ok((frame.schema().as_ref().clone(), scan::Source::Loaded(frame)))
}

fn resolve_span() -> tracing::Span {
    tracing::info_span!(target: "floe::exec", "resolve")
}

fn polars_span() -> tracing::Span {
    tracing::info_span!(target: "floe::exec", "polars.plan")
}

fn reads_metadata(tables: &[resolve::ResolvedTable]) -> bool {
    tables.iter().any(|table| matches!(table.selects, Selects::Metadata(_)))
}

/// The schema a `SELECT *` of the table's current snapshot returns, with the
/// table's required columns marked non-nullable (BI tools show it).
pub fn table_schema(table: &iceberg::table::Table) -> Result<SchemaRef> {
    let metadata = table.metadata();
    let wire = convert::wire_schema(&scan::snapshot_schema(table, metadata.current_snapshot_id(), None)?)?;
    let iceberg_schema = metadata.current_schema();
    let fields: Vec<_> = wire
        .fields()
        .iter()
        .map(|field| {
            let required = iceberg_schema.field_by_name(field.name()).is_some_and(|f| f.required);
            field.as_ref().clone().with_nullable(!required)
        })
        .collect();
    Ok(Arc::new(arrow::datatypes::Schema::new(fields)))
}
