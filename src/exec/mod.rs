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
mod describe;
mod explain;
pub mod functions;
mod lineage;
mod plan;
mod recursion;
mod inputs;
mod data_cache;
mod materialized;
mod key_order;
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
use inputs::Placement;
use stream::{as_data_fault, run_blocking, stream_frame};
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
            inputs.push(FrameInput { relation: resolved.relation, schema, source, rows });
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

    /// Runs a ticket, streaming record batches of the returned schema. The
    /// query stops when the stream is dropped or the query is cancelled.
    /// `who` is the principal the ticket was issued to: its rights are
    /// checked again, since a grant may have been withdrawn since planning.
    pub async fn execute(&self, ticket: &QueryTicket, who: &Principal) -> Result<(SchemaRef, BatchStream)> {
        let query = Query::analyze(&ticket.sql, &ticket.params)?;
        self.execute_analyzed(query, ticket, who).await
    }

    async fn execute_analyzed(&self, query: Query, ticket: &QueryTicket, who: &Principal) -> Result<(SchemaRef, BatchStream)> {
        let mut running = self.running.admit(&ticket.query_id).instrument(tracing::info_span!(target: "floe::exec", "admission")).await?;
        self.history.admitted(&ticket.query_id);
        let session = ticket.session.clone().unwrap_or_default();
        let tables = resolve::resolve(&self.lake, &query, &session, &ticket.tables).instrument(resolve_span()).await?;
        self.authorize_reads(&tables, who)?;
        let caching = self.result_cache.caching(&query, ticket, reads_metadata(&tables));
        // EXPLAIN only looks: its plan is not an answer taken from the cache.
        let cached = match (caching.key(), query.answers_rows()) {
            (Some(key), false) => self.result_cache.peek(key),
            (Some(key), true) => self.result_cache.lookup(key),
            (None, _) => None,
        };
        if let (Some(entry), true) = (&cached, query.answers_rows()) {
            self.history.planned(&ticket.query_id);
            drop(running);
            return Ok((entry.schema.clone(), result_cache::replay(entry)));
        }
        // A plan decided by the ticket alone is kept, and a ticket run before skips
        // scan planning and Polars planning (authorization above still runs).
        // Not a recursion's rows either: a kept plan would hold them all.
        let keep = query.answers_rows() && !query.is_volatile() && query.catalog_views().is_empty() && planned::pinned(ticket)
            && !reads_metadata(&tables) && query.recursions().is_empty();
        let relations = ticket.tables.iter().map(|pin| pin.relation.clone()).collect::<Vec<_>>().join(", ");
        if let Some(planned) = keep.then(|| self.planned_frames.get(ticket)).flatten() {
            return Ok(self.rerun(&planned, ticket, caching, running, relations));
        }
        let mut inputs = self.frame_inputs(&query, tables, ticket).await?;
        inputs.frames.extend(self.catalog_view_inputs(&query, who, true).await?);
        let (explain, answers_rows) = ((query.is_explain(), query.is_explain_analyze()), query.answers_rows());
        let describes = query.is_describe();
        // EXPLAIN and DESCRIBE only look at the plan: its recursions are not run.
        let runs = answers_rows || explain.1;
        let (span, frames, stop, references) = (polars_span(), std::mem::take(&mut inputs.frames), running.stop_check(), query.table_references());
        let planned = run_blocking(move || span.in_scope(|| materialized::planned(&query, frames, runs.then_some(&stop as &recursion::StopCheck), runs))).await;
        // A recursive CTE runs while planning, and stops there when asked to.
        let planned = planned.map_err(|e| if running.is_cancelled() { running.stop_reason() } else { as_data_fault(e, &relations) })?;
        let materialized::Planned { plan: (frame, schema, rewritten), frames, cache } = planned;
        cache.fills.into_iter().for_each(|fill| running.afterwards(move || fill.queue()));
        self.history.planned(&ticket.query_id);
        inputs.frames = frames;
        // Nor one over columns the data cache held (it would hold them), nor over files
        // read for columns it lacked (it would skip them once decoded into it).
        let (keep, placement) = (keep && inputs.reads_files_only() && !cache.missed, inputs.placement(references));
        let scans = inputs.scans;
        if keep {
            self.planned_frames.put(ticket, Arc::new(planned::PlannedFrame { frame: frame.clone(), schema: schema.clone(), scans: scans.clone(), placement }));
        }
        let notes = explain::Notes { rewritten, result_cache: result_cache::explained(&caching, cached.as_deref()), data_cache: cache.held };
        let (frame, schema) = match explain {
            (_, true) => {
                let profiled = run_blocking(move || explain::analyze(frame, &scans, &notes)).await.map_err(|e| as_data_fault(e, &relations))?;
                drop(running);
                return Ok((explain::analyze_schema(), in_memory(profiled)));
            }
            (true, false) => (explain::frame(frame, &scans, &notes)?, explain::schema()),
            _ if describes => (describe::frame(&schema)?, describe::schema()),
            _ => (frame, schema),
        };
        let stream = self.run_frame(frame, schema.clone(), running, relations, placement);
        Ok((schema.clone(), self.kept_in_cache(caching, answers_rows, &schema, stream)))
    }

    /// Runs a kept plan again, its scans recorded as the first run made them.
    fn rerun(&self, planned: &planned::PlannedFrame, ticket: &QueryTicket, caching: Caching, running: RunningQuery, relations: String) -> (SchemaRef, BatchStream) {
        for (relation, stats) in &planned.scans {
            self.history.scanned(&ticket.query_id, stats.record(relation));
        }
        self.history.planned(&ticket.query_id);
        let stream = self.run_frame(planned.frame.clone(), planned.schema.clone(), running, relations, planned.placement);
        (planned.schema.clone(), self.kept_in_cache(caching, true, &planned.schema, stream))
    }

    /// Runs a planned frame: over small inputs (unless every query streams) or
    /// cached ones (which only that engine reads), or
    /// when this node was configured so, on Polars' in-memory engine; otherwise
    /// streaming as it is produced.
    fn run_frame(&self, frame: polars::prelude::LazyFrame, schema: SchemaRef, running: RunningQuery, tables: String, placement: Placement) -> BatchStream {
        match (self.polars_engine, placement) {
            (PolarsEngine::Auto, Placement::Small) => stream::collect_frame(frame, schema, running, tables, false),
            (PolarsEngine::InMemory, _) | (_, Placement::Cached) => stream::collect_frame(frame, schema, running, tables, placement != Placement::Small),
            (PolarsEngine::Streaming, _) | (PolarsEngine::Auto, Placement::Large) => stream_frame(frame, schema, running, tables),
        }
    }

    /// The answer's stream, kept in the result cache as it goes by when it may be.
    fn kept_in_cache(&self, caching: Caching, answers_rows: bool, schema: &SchemaRef, stream: BatchStream) -> BatchStream {
        match caching {
            Caching::Kept(key) if answers_rows => self.result_cache.fill(key, schema.clone(), stream),
            _ => stream,
        }
    }
}

impl Engine {
    /// The `information_schema` views `query` reads: their rows for `who`
    /// when it runs; when it is only planned, just their columns (listing
    /// every table's columns is catalog I/O that planning need not do).
    async fn catalog_view_inputs(&self, query: &Query, who: &Principal, with_rows: bool) -> Result<Vec<FrameInput>> {
        let mut inputs = Vec::new();
        for relation in query.catalog_views() {
            let frame = if with_rows { self.catalog_view(relation, who).await? } else { catalog_views::empty_view(relation)? };
            inputs.push(FrameInput { relation: relation.clone(), schema: frame.schema().as_ref().clone(), source: scan::Source::Loaded(frame), rows: None });
        }
        Ok(inputs)
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
