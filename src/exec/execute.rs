//! Running a ticket: admission, the result cache, a kept plan or a new one
//! (through the data cache), then the engine its inputs call for.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use tracing::Instrument;

use super::inputs::Placement;
use super::result_cache::{self, Caching};
use super::scan::{self, FrameInput};
use super::stream::{self, as_data_fault, run_blocking, stream_frame};
use super::{catalog_views, describe, explain, in_memory, materialized, planned, polars_span, reads_metadata, recursion, resolve, resolve_span};
use super::{BatchStream, Engine, PolarsEngine, Result, RunningQuery};
use crate::access::Principal;
use crate::proto::QueryTicket;
use crate::sql::Query;

impl Engine {
    /// Runs a ticket, streaming record batches of the returned schema. The
    /// query stops when the stream is dropped or the query is cancelled.
    /// `who` is the principal the ticket was issued to: its rights are
    /// checked again, since a grant may have been withdrawn since planning.
    pub async fn execute(&self, ticket: &QueryTicket, who: &Principal) -> Result<(SchemaRef, BatchStream)> {
        let query = Query::analyze(&ticket.sql, &ticket.params)?;
        self.execute_analyzed(query, ticket, who).await
    }

    pub(super) async fn execute_analyzed(&self, query: Query, ticket: &QueryTicket, who: &Principal) -> Result<(SchemaRef, BatchStream)> {
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
        // Read before the cache hands out any column: a plan over them is kept only if none went since.
        let evictions = self.data_cache.evictions();
        let kept = || self.planned_frames.get(ticket).or_else(|| self.held_frames.get(ticket, evictions));
        if let Some(planned) = keep.then(kept).flatten() {
            return Ok(self.rerun(&planned, ticket, caching, running, relations));
        }
        let mut inputs = self.frame_inputs(&query, tables, ticket).await?;
        inputs.frames.extend(self.catalog_view_inputs(&query, who, true).await?);
        let (explain, answers_rows) = ((query.is_explain(), query.is_explain_analyze()), query.answers_rows());
        let describes = query.is_describe();
        // EXPLAIN and DESCRIBE only look at the plan: its recursions are not run.
        let runs = answers_rows || explain.1;
        let (span, frames, stop, references) = (polars_span(), std::mem::take(&mut inputs.frames), running.stop_check(), query.table_references());
        let known = keep.then(|| self.planned_reads.get(ticket)).flatten();
        let planned = run_blocking(move || span.in_scope(|| materialized::planned(&query, frames, runs.then_some(&stop as &recursion::StopCheck), runs, known))).await;
        // A recursive CTE runs while planning, and stops there when asked to.
        let planned = planned.map_err(|e| if running.is_cancelled() { running.stop_reason() } else { as_data_fault(e, &relations) })?;
        let materialized::Planned { plan: (frame, schema, rewritten), frames, cache, reads } = planned;
        let held = reads.as_ref().map(|reads| reads.held(&frames)).unwrap_or_default();
        if let Some(reads) = reads.filter(|_| keep && !rewritten.read_subqueries_ahead()) {
            self.planned_reads.put(ticket, reads);
        }
        cache.fills.into_iter().for_each(|fill| running.afterwards(move || fill.queue()));
        self.history.planned(&ticket.query_id);
        inputs.frames = frames;
        // Not one over files read for columns the data cache lacked (it would skip them
        // once decoded into it), nor over rows read otherwise (delete files applied);
        // one over columns the cache held, only while it holds them.
        let (files_only, cached_rows_only) = (inputs.reads_files_only(), inputs.holds_cached_rows_only());
        let (keep, placement) = (keep && !cache.missed && cached_rows_only, inputs.placement(references, cache.in_memory));
        let scans = inputs.scans;
        if keep {
            let plan = Arc::new(planned::PlannedFrame { frame: frame.clone(), schema: schema.clone(), scans: scans.clone(), placement, held });
            match files_only {
                true => self.planned_frames.put(ticket, plan),
                false => self.held_frames.put(ticket, plan, evictions, self.data_cache.evictions()),
            }
        }
        let engine = format!("POLARS ENGINE: {}", self.engine_for(placement).1);
        let notes = explain::Notes { rewritten, result_cache: result_cache::explained(&caching, cached.as_deref()), data_cache: cache.held, engine };
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
        self.history.planned_before(&ticket.query_id);
        materialized::read_again(&planned.held);
        let stream = self.run_frame(planned.frame.clone(), planned.schema.clone(), running, relations, planned.placement);
        (planned.schema.clone(), self.kept_in_cache(caching, true, &planned.schema, stream))
    }

    /// Runs a planned frame on the engine `engine_for` picks: in memory, then
    /// sent, or streaming as it is produced.
    fn run_frame(&self, frame: polars::prelude::LazyFrame, schema: SchemaRef, running: RunningQuery, tables: String, placement: Placement) -> BatchStream {
        match self.engine_for(placement).0 {
            Some(watched) => stream::collect_frame(frame, schema, running, tables, watched),
            None => stream_frame(frame, schema, running, tables),
        }
    }

    /// The engine for a plan placed so: Polars' in-memory one (`Some`,
    /// watched for a stop unless its inputs are small) over small inputs
    /// (unless every query streams), the data cache's scans (which only that
    /// engine reads), bounded plans over held tables, or when this node was
    /// configured so; otherwise streaming (`None`). And why, for EXPLAIN.
    fn engine_for(&self, placement: Placement) -> (Option<bool>, &'static str) {
        match (self.polars_engine, placement) {
            (PolarsEngine::Auto, Placement::Small) => (Some(false), "in-memory (few rows, even as a cross join of every table named)"),
            (_, Placement::Cached) => (Some(true), "in-memory (the data cache's own scans)"),
            (PolarsEngine::InMemory, _) => (Some(placement != Placement::Small), "in-memory (--polars-engine in-memory)"),
            (PolarsEngine::Auto, Placement::Held) => {
                (Some(true), "in-memory (every table held by the data cache, none of many rows, joined only where no join yields more rows than its inputs)")
            }
            (PolarsEngine::Streaming, _) => (None, "streaming (--polars-engine streaming)"),
            (PolarsEngine::Auto, Placement::Large) => (None, "streaming"),
        }
    }

    /// The answer's stream, kept in the result cache as it goes by when it may be.
    fn kept_in_cache(&self, caching: Caching, answers_rows: bool, schema: &SchemaRef, stream: BatchStream) -> BatchStream {
        match caching {
            Caching::Kept(key) if answers_rows => self.result_cache.fill(key, schema.clone(), stream),
            _ => stream,
        }
    }

    /// The `information_schema` views `query` reads: their rows for `who`
    /// when it runs; when it is only planned, just their columns (listing
    /// every table's columns is catalog I/O that planning need not do).
    pub(super) async fn catalog_view_inputs(&self, query: &Query, who: &Principal, with_rows: bool) -> Result<Vec<FrameInput>> {
        let mut inputs = Vec::new();
        for relation in query.catalog_views() {
            let frame = if with_rows { self.catalog_view(relation, who).await? } else { catalog_views::empty_view(relation)? };
            inputs.push(FrameInput { relation: relation.clone(), schema: frame.schema().as_ref().clone(), source: scan::Source::Loaded(frame), rows: None, decoded_from: None });
        }
        Ok(inputs)
    }
}
