//! Relations read through the data cache, held in memory for one query.
//!
//! A cached relation plans as an anonymous scan, which only Polars'
//! in-memory engine runs, and that engine ran large scans and joins up to
//! four times as slowly as the streaming one on two cores (TPC-H 1 at SF 1:
//! 819 ms from the cache in memory, 212 ms streaming the Parquet files). So
//! the first plan only tells which columns the query reads of each cached
//! relation (its optimized scans' projections and filters); those columns,
//! from the cache, make in-memory frames the query plans again over, which
//! either engine runs. Where the cache lacks some of them, the relation is
//! read from its files as without a cache, and they are decoded after.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use polars::prelude::*;
use polars_plan::dsl::FileScanIR;
use polars_plan::plans::IR;
use polars_plan::utils::aexpr_to_leaf_names_iter;

use super::data_cache::{CachedFiles, Fill};
use super::plan::polars_plan;
use super::recursion::StopCheck;
use super::scan::{FrameInput, Source};
use crate::sql::{Query, RelationName};

/// What a query reads of one cached relation: its columns, in the
/// relation's order, and whether a scan of it reads every row, not only a
/// slice (a LIMIT pushed into the scan, not worth decoding whole columns for).
#[derive(Clone, Debug, PartialEq)]
struct Read {
    relation: RelationName,
    names: Vec<PlSmallStr>,
    every_row: bool,
}

/// What a query reads of each relation read through the cache, in order.
/// The plan alone decides them, so they are kept per ticket: its next run
/// knows them without planning over the cache's scans first.
#[derive(Clone, Debug)]
pub(super) struct CachedReads(Vec<Read>);

impl CachedReads {
    /// Whether these are the reads of `frames`' cached relations.
    fn fit(&self, frames: &[FrameInput]) -> bool {
        let cached: Vec<&FrameInput> = frames.iter().filter(|input| matches!(input.source, Source::Cached(_))).collect();
        cached.len() == self.0.len() && cached.iter().zip(&self.0).all(|(input, read)| input.relation == read.relation)
    }
}

/// A query's plan, and what it reads.
pub(super) struct Planned {
    pub plan: (LazyFrame, arrow::datatypes::SchemaRef, super::plan::Rewritten),
    pub frames: Vec<FrameInput>,
    pub cache: CacheUse,
    /// What it reads through the cache, to keep for the ticket's next run.
    pub reads: Option<CachedReads>,
}

/// How a query used the data cache.
#[derive(Default)]
pub(super) struct CacheUse {
    /// Whether a relation's source changed, so the query is planned again.
    changed: bool,
    /// Whether a relation was read from its files for columns the cache lacked
    /// (a plan to run again must not be: once they are held, it would skip them).
    pub missed: bool,
    /// What the cache held of each relation read through it (EXPLAIN's lines).
    pub held: Vec<String>,
    /// Relations whose every column was held.
    hits: usize,
    /// Columns the cache lacked, to decode once the query is done.
    pub fills: Vec<Fill>,
    /// Whether every relation was held, few enough rows each, and the plan's
    /// joins stay within their inputs (`bounded.rs`): the in-memory engine's.
    pub in_memory: bool,
}

/// `query` planned over `frames`, and again over their cached relations
/// held in memory, or read from their files where the cache lacks columns,
/// where it can be (not where a recursive CTE runs while planning: it would
/// run twice). Where the reads are `known` (the ticket ran before), it is
/// planned once. Columns to decode into the cache only where the query
/// `runs` (EXPLAIN and DESCRIBE only look, at the plan that would run).
pub(super) fn planned(query: &Query, mut frames: Vec<FrameInput>, stop: Option<&StopCheck>, runs: bool, known: Option<CachedReads>) -> super::Result<Planned> {
    let recursive = !query.recursions().is_empty();
    let (first, reads) = match known.filter(|reads| !recursive && reads.fit(&frames)) {
        Some(reads) => (None, reads),
        None => {
            let plan = polars_plan(query, &frames, stop)?;
            match reads_of(&frames, &plan.0)?.filter(|_| !recursive) {
                Some(reads) => (Some(plan), reads),
                None => return Ok(Planned { plan, frames, cache: CacheUse::default(), reads: None }),
            }
        }
    };
    let small = super::inputs::small(&frames, query.table_references());
    let mut cache = through_cache(&mut frames, &reads, small)?;
    match runs {
        true => counted(&cache),
        false => cache.fills.clear(),
    }
    let plan = match first {
        Some(plan) if !cache.changed => plan,
        _ => polars_plan(query, &frames, stop)?,
    };
    cache.in_memory = !small && cache.hits == frames.len() && held_within(&frames) && super::bounded::joins_bounded(&plan.0)?;
    Ok(Planned { plan, frames, cache, reads: Some(reads) })
}

/// Whether every frame is held in memory, with at most `HELD_ROWS` rows.
fn held_within(frames: &[FrameInput]) -> bool {
    frames.iter().all(|input| matches!(&input.source, Source::Loaded(frame) if frame.height() <= super::bounded::HELD_ROWS))
}

/// A relation's columns a plan holds of the data cache's.
pub(super) struct HeldRead(Arc<CachedFiles>, Vec<PlSmallStr>);

impl CachedReads {
    /// The columns of the cache's that `frames`, planned by these reads, hold.
    pub(super) fn held(&self, frames: &[FrameInput]) -> Vec<HeldRead> {
        let read = |input: &FrameInput| self.0.iter().find(|read| read.relation == input.relation);
        frames.iter().filter_map(|input| Some(HeldRead(input.decoded_from.clone()?, read(input)?.names.clone()))).collect()
    }
}

/// A kept plan runs again over `held`: its columns are read as much as a
/// new plan's (least recently used first out), and counted as hits.
pub(super) fn read_again(held: &[HeldRead]) {
    held.iter().for_each(|HeldRead(files, names)| files.touch(names));
    let reads = &crate::telemetry::metrics::metrics().data_cache_reads;
    reads.add(held.len() as u64, &crate::telemetry::metrics::label("outcome", "hit"));
}

/// Each relation read through the cache in `floe.data_cache.reads`.
fn counted(cache: &CacheUse) {
    let reads = &crate::telemetry::metrics::metrics().data_cache_reads;
    reads.add(cache.hits as u64, &crate::telemetry::metrics::label("outcome", "hit"));
    reads.add((cache.held.len() - cache.hits) as u64, &crate::telemetry::metrics::label("outcome", "miss"));
}

/// What `plan` reads of each of `frames`' cached relations; none where it
/// reads none, or a cached relation is not among its scans (nothing proves
/// which columns that one needs).
fn reads_of(frames: &[FrameInput], plan: &LazyFrame) -> PolarsResult<Option<CachedReads>> {
    if !frames.iter().any(|input| matches!(input.source, Source::Cached(_))) {
        return Ok(None);
    }
    let scanned = columns_read(plan)?;
    let mut reads = Vec::new();
    for input in frames {
        let Source::Cached(files) = &input.source else { continue };
        let Some(scan) = scanned.get(&key_of(files)) else { return Ok(None) };
        reads.push(Read { relation: input.relation.clone(), names: files.names_among(&scan.columns), every_row: scan.every_row });
    }
    Ok(Some(CachedReads(reads)))
}

/// `frames`' cached relations as in-memory frames of the columns they are
/// read for, or their files where the cache lacks some. Small inputs
/// (`inputs::small`: few rows even as a cross join) with every column held
/// stay the cache's scans, which the in-memory engine runs as it would run
/// them without the cache: that plan holds no rows, so it is kept for the
/// ticket's next run, which then plans nothing. Only small ones: that
/// engine made a join of two 30,000-row tables with three keys take 11 s
/// and 4.8 GB (0.36 s streaming).
fn through_cache(frames: &mut [FrameInput], reads: &CachedReads, small: bool) -> PolarsResult<CacheUse> {
    let mut used = CacheUse::default();
    let mut whole = Vec::new();
    let cached = frames.iter().filter_map(|input| match &input.source {
        Source::Cached(files) => Some((input, files)),
        _ => None,
    });
    for ((input, files), read) in cached.zip(&reads.0) {
        let holding = files.files_holding(&read.names);
        used.held.push(held_line(&input.relation.join("."), &read.names, holding, files.files.len(), read.every_row));
        whole.push(holding == files.files.len());
    }
    used.hits = whole.iter().filter(|whole| **whole).count();
    if small && used.hits == whole.len() {
        return Ok(used);
    }
    let cached = frames.iter_mut().filter(|input| matches!(input.source, Source::Cached(_)));
    for ((input, whole), read) in cached.zip(whole).zip(&reads.0) {
        let Source::Cached(files) = &input.source else { continue };
        input.source = match whole {
            true => {
                input.decoded_from = Some(files.clone());
                Source::Loaded(files.frame_reading(&read.names)?)
            }
            false => {
                if read.every_row {
                    used.fills.push(files.fill(read.names.clone()));
                }
                used.missed = true;
                Source::Parquet { files: files.files.clone(), cloud: files.cloud.clone(), mapping: None }
            }
        };
    }
    used.changed = true;
    Ok(used)
}

/// EXPLAIN's line on what the cache holds of a relation a query reads.
fn held_line(relation: &str, names: &[PlSmallStr], holding: usize, files: usize, every_row: bool) -> String {
    let columns = match names.is_empty() {
        true => "no column (rows only)".to_string(),
        false => format!("columns {}", names.iter().map(PlSmallStr::as_str).collect::<Vec<_>>().join(", ")),
    };
    let then = match (holding == files, every_row) {
        (true, _) => "read from memory",
        (false, false) => "read from the files (a slice of them: not kept)",
        (false, true) => "read from the files, then decoded into the cache",
    };
    format!("DATA CACHE {relation}: {columns} held for {holding} of {files} data files; {then}")
}

/// A cached relation's identity in a plan: the address of its scan's state.
fn key_of(files: &CachedFiles) -> usize {
    files as *const CachedFiles as usize
}

/// What a plan's scans read of one cached relation.
#[derive(Default)]
struct Scanned {
    columns: BTreeSet<PlSmallStr>,
    every_row: bool,
}

/// What each cached relation's scans in `frame`'s optimized plan read, by
/// the relation.
fn columns_read(frame: &LazyFrame) -> PolarsResult<HashMap<usize, Scanned>> {
    let plan = frame.clone().to_alp_optimized()?;
    let mut read: HashMap<usize, Scanned> = HashMap::new();
    for node in super::bounded::plan_nodes(plan.lp_top, &plan.lp_arena) {
        let IR::Scan { scan_type, unified_scan_args, predicate, .. } = plan.lp_arena.get(node) else { continue };
        let FileScanIR::Anonymous { function, .. } = scan_type.as_ref() else { continue };
        let Some(files) = function.as_any().downcast_ref::<CachedFiles>() else { continue };
        let relation = read.entry(key_of(files)).or_default();
        match &unified_scan_args.projection {
            Some(projected) => relation.columns.extend(projected.iter().cloned()),
            None => relation.columns.extend(files.schema.iter_names_cloned()),
        }
        if let Some(predicate) = predicate {
            relation.columns.extend(aexpr_to_leaf_names_iter(predicate.node(), &plan.expr_arena).cloned());
        }
        relation.every_row |= unified_scan_args.pre_slice.is_none();
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::exec::data_cache::DataCache;

    fn through(frames: &mut [FrameInput], plan: &LazyFrame, small: bool) -> CacheUse {
        let reads = reads_of(frames, plan).unwrap().expect("reads a cached relation");
        through_cache(frames, &reads, small).unwrap()
    }

    #[test]
    fn a_cached_relation_holds_the_columns_its_plan_reads_and_nulls_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let mut frame = df!("a" => [1i64, 2, 3], "b" => [10i64, 20, 30], "c" => ["x", "y", "z"]).unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut frame).unwrap();
        let schema = frame.schema().clone();
        let files = Arc::new(CachedFiles {
            files: vec![path.to_string_lossy().into_owned()],
            cloud: None,
            schema: schema.clone(),
            cache: Arc::new(DataCache::new(1 << 20)),
        });
        let plan = files.lazy_frame().unwrap().filter(col("b").gt(lit(15))).select([col("a")]);
        let cached = || FrameInput { relation: vec!["t".into()], schema: (*schema).clone(), source: Source::Cached(files.clone()), rows: Some(3), decoded_from: None };
        let mut frames = vec![cached()];
        let used = through(&mut frames, &plan, true);
        assert!(used.changed && used.missed && matches!(frames[0].source, Source::Parquet { .. }), "missed: read from the file");
        assert_eq!(used.held, ["DATA CACHE t: columns a, b held for 0 of 1 data files; read from the files, then decoded into the cache"]);
        used.fills.into_iter().for_each(Fill::queue);
        let started = std::time::Instant::now();
        while files.files_holding(&["a".into(), "b".into()]) == 0 {
            assert!(started.elapsed().as_secs() < 30, "decoded after the query");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut frames = vec![cached()];
        let used = through(&mut frames, &plan, true);
        assert_eq!(used.held, ["DATA CACHE t: columns a, b held for 1 of 1 data files; read from memory"]);
        assert!(!used.changed && !used.missed && matches!(frames[0].source, Source::Cached(_)), "small, all held: scanned as planned");
        let mut frames = vec![cached()];
        assert!(through(&mut frames, &plan, false).changed, "not small: planned again over the held columns");
        let Source::Loaded(held) = &frames[0].source else { panic!("held in memory") };
        assert_eq!(held.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(held.column("b").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>(), [10, 20, 30]);
        assert_eq!(held.column("c").unwrap().null_count(), 3, "c is read by nothing: nulls at no cost");
        // A slice is read from the files and not kept.
        let mut frames = vec![cached()];
        let used = through(&mut frames, &files.lazy_frame().unwrap().select([col("c")]).limit(1), true);
        assert!(used.fills.is_empty() && used.missed);
        assert!(used.held[0].ends_with("held for 0 of 1 data files; read from the files (a slice of them: not kept)"), "{held:?}");
        // A plan that reads no cached relation proves nothing about its columns.
        let files = Arc::new(CachedFiles { files: Vec::new(), cloud: None, schema: schema.clone(), cache: Arc::new(DataCache::new(1 << 20)) });
        let frames = vec![FrameInput { relation: vec!["t".into()], schema: (*schema).clone(), source: Source::Cached(files), rows: None, decoded_from: None }];
        assert!(reads_of(&frames, &df!("x" => [1]).unwrap().lazy()).unwrap().is_none());
    }
}
