//! The frames a ticket's query reads when it runs: each pinned relation's
//! scan (pruned to the files its filters can match), a metadata table's
//! rows, or a shuffle bucket fetched from the workers that hold it.

use tracing::Instrument;

use super::resolve::{pin_of, ResolvedTable, Selects};
use super::data_cache::CachedFiles;
use super::scan::{self, FrameInput, ScanStats};
use super::{convert, metadata_input, shuffle, Engine, Error, Result};
use crate::proto::QueryTicket;
use crate::sql::Query;

/// Queries whose inputs' rows, multiplied once per table reference, stay
/// within this run on Polars' in-memory engine: starting the streaming
/// engine's pipelines costs more than such a query (nation ⋈ region: 0.4
/// of 2.75 ms of server CPU per ADBC query), larger inputs ran slower in memory on two cores
/// (TPC-H Q2: 93 against 58 ms), and the bound holds for what even a cross
/// join (self-joins included) collects in memory, out of reach of a cancel.
const SMALL_CROSS_PRODUCT: u64 = 1 << 20;

/// Which of Polars' engines a query's inputs call for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// Few rows: the in-memory engine answers sooner, unwatched.
    Small,
    /// A relation read through the data cache, which only the in-memory engine reads.
    Cached,
    /// Relations the data cache holds, each of at most `bounded::HELD_ROWS`
    /// rows, joined only in ways that yield no more rows than they hold: the
    /// in-memory engine answers sooner, watched.
    Held,
    Large,
}

/// What a query reads, and what each scan selected (for its history and EXPLAIN).
pub(super) struct Inputs {
    pub frames: Vec<FrameInput>,
    pub scans: Vec<(String, ScanStats)>,
}

impl Inputs {
    /// Whether the plan over these frames holds no rows: it reads files
    /// when it runs, so keeping it costs a file list, never data.
    pub fn reads_files_only(&self) -> bool {
        self.frames.iter().all(|input| matches!(input.source, scan::Source::Parquet { .. } | scan::Source::Cached(_) | scan::Source::Schema))
    }

    /// Whether the plan over these frames holds no rows but those the data
    /// cache holds too (or none).
    pub fn holds_cached_rows_only(&self) -> bool {
        self.frames.iter().all(|input| !matches!(input.source, scan::Source::Loaded(_)) || input.decoded_from.is_some())
    }

    /// Whether any relation is read through the data cache.
    pub fn reads_data_cache(&self) -> bool {
        self.frames.iter().any(|input| matches!(input.source, scan::Source::Cached(_)))
    }

    /// The engine for a query naming tables `references` times; `held`
    /// where its plan suits the in-memory engine over what the data cache
    /// holds (`materialized::CacheUse::in_memory`).
    pub fn placement(&self, references: usize, held: bool) -> Placement {
        match (self.small(references), self.reads_data_cache(), held) {
            (true, _, _) => Placement::Small,
            (false, true, _) => Placement::Cached,
            (false, false, true) => Placement::Held,
            (false, false, false) => Placement::Large,
        }
    }

    /// Whether a query naming tables `references` times reads so few rows
    /// that the in-memory engine answers it sooner.
    pub fn small(&self, references: usize) -> bool {
        small(&self.frames, references)
    }
}

/// Whether a query naming tables `references` times reads so few rows from
/// `frames` that the in-memory engine answers it sooner. Rows a snapshot's
/// summary does not count make it not small.
pub(super) fn small(frames: &[FrameInput], references: usize) -> bool {
    let rows = frames.iter().map(|input| match &input.source {
        scan::Source::Schema => Some(0),
        scan::Source::Loaded(frame) => Some(frame.height() as u64),
        scan::Source::Parquet { files, .. } if files.is_empty() => Some(0),
        scan::Source::Parquet { .. } | scan::Source::Cached(_) => input.rows,
    });
    // Without a table, the query reads VALUES and the one-row relation
    // (`sql::rewrite::ONE_ROW`) only, all written out in its text.
    if frames.is_empty() {
        return references == 0;
    }
    let total = rows.sum::<Option<u64>>().map(|total| total.max(1));
    let product = total.map(|total| total.saturating_pow(u32::try_from(references).unwrap_or(u32::MAX)));
    product.is_some_and(|product| product <= SMALL_CROSS_PRODUCT)
}

impl Engine {
    pub(super) async fn frame_inputs(&self, query: &Query, tables: Vec<ResolvedTable>, ticket: &QueryTicket) -> Result<Inputs> {
        let mut frames = Vec::with_capacity(tables.len());
        let mut scans = Vec::new();
        for resolved in tables {
            let relation = resolved.relation_text();
            let pin = pin_of(&ticket.tables, &relation, &resolved.table_ref)
                .ok_or_else(|| Error::TicketMismatch(format!("no snapshot pinned for `{}`", resolved.table_ref)))?;
            let mut rows = resolved.rows(pin.snapshot_id);
            let (schema, source) = match resolved.selects {
                Selects::Metadata(kind) => metadata_input(&resolved.table, kind).await?,
                Selects::Snapshot(_) if pin.shuffle.is_some() => {
                    let schema = scan::snapshot_schema(&resolved.table, pin.snapshot_id, pin.schema_id)?;
                    let shuffle = pin.shuffle.as_ref().expect("checked");
                    let batches = shuffle::fetch_input(self, shuffle).await?;
                    let frame = tokio::task::block_in_place(|| convert::batches_to_dataframe(&batches, &schema))?;
                    let stats = ScanStats { snapshot_id: pin.snapshot_id, reader: format!("shuffle bucket {}", shuffle.bucket), ..Default::default() };
                    self.history.scanned(&ticket.query_id, stats.record(&relation));
                    scans.push((relation.clone(), stats));
                    (schema, scan::Source::Loaded(frame))
                }
                Selects::Snapshot(_) => {
                    let schema = scan::snapshot_schema(&resolved.table, pin.snapshot_id, pin.schema_id)?;
                    let filters = query.scan_filters(&resolved.relation);
                    let only_files = pin.partitioned.then_some(pin.files.as_slice());
                    let span = tracing::info_span!(target: "floe::exec", "scan", table = relation.as_str(), files_selected = tracing::field::Empty,
                        files_total = tracing::field::Empty, bytes_planned = tracing::field::Empty, reader = tracing::field::Empty);
                    let (source, mut stats) = scan::read_source(&resolved.table, pin.snapshot_id, pin.schema_id, &schema, filters, self.scan_options, only_files)
                        .instrument(span.clone())
                        .await?;
                    // A snapshot whose summary has no totals (some writers leave them out)
                    // is sized by the files the scan selected.
                    rows = rows.or(stats.rows_planned);
                    let source = self.through_data_cache(source, &schema, rows, &mut stats, pin.partitioned);
                    span.record("files_selected", stats.files_selected as i64);
                    span.record("files_total", stats.files_total as i64);
                    span.record("bytes_planned", stats.bytes_planned as i64);
                    span.record("reader", stats.reader.as_str());
                    self.history.scanned(&ticket.query_id, stats.record(&relation));
                    scans.push((relation.clone(), stats));
                    (schema, source)
                }
            };
            frames.push(FrameInput { relation: resolved.relation, schema, source, rows, decoded_from: None });
        }
        Ok(Inputs { frames, scans })
    }

    /// `source` read through the data cache where it admits the files (a
    /// distributed query's partition, an evolved schema's columns found by
    /// field id, and a node that streams every query read them as they are).
    fn through_data_cache(&self, source: scan::Source, schema: &polars::prelude::Schema, rows: Option<u64>, stats: &mut ScanStats, partitioned: bool) -> scan::Source {
        let admitted = self.data_cache.admits(schema, rows, stats.bytes_planned);
        let cacheable = admitted && !partitioned && self.polars_engine != super::PolarsEngine::Streaming;
        match source {
            scan::Source::Parquet { files, cloud, mapping: None } if cacheable && !files.is_empty() => {
                stats.reader.push_str(", through the data cache");
                let schema = std::sync::Arc::new(schema.clone());
                scan::Source::Cached(std::sync::Arc::new(CachedFiles { files, cloud, schema, cache: self.data_cache.clone() }))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(rows: &[Option<u64>]) -> Inputs {
        let frame = |rows: &Option<u64>| FrameInput {
            relation: vec!["t".to_string()],
            schema: polars::prelude::Schema::default(),
            source: scan::Source::Parquet { files: vec!["f.parquet".into()], cloud: None, mapping: None },
            rows: *rows,
            decoded_from: None,
        };
        Inputs { frames: rows.iter().map(frame).collect(), scans: Vec::new() }
    }

    #[test]
    fn small_bounds_what_a_cross_join_of_every_reference_collects() {
        assert!(reading(&[]).small(0), "no table: only what the statement's text holds");
        assert!(reading(&[Some(25), Some(5)]).small(2));
        assert!(reading(&[Some(150)]).small(2));
        assert!(!reading(&[Some(150)]).small(3), "150³ rows collected in memory, out of reach of a cancel");
        assert!(!reading(&[Some(2_000_000)]).small(1));
        assert!(!reading(&[None, Some(5)]).small(2), "an uncounted snapshot is not small");
    }
}
