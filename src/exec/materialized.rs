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

use std::collections::{BTreeSet, HashMap, HashSet};

use polars::prelude::*;
use polars_plan::dsl::FileScanIR;
use polars_plan::plans::IR;
use polars_plan::utils::aexpr_to_leaf_names_iter;

use super::data_cache::{CachedFiles, Fill};
use super::plan::polars_plan;
use super::recursion::StopCheck;
use super::scan::{FrameInput, Source};
use crate::sql::Query;

/// What a query reads of one cached relation.
#[derive(Default)]
struct Read {
    columns: BTreeSet<PlSmallStr>,
    /// Whether a scan of it reads every row, not only a slice (a LIMIT
    /// pushed into the scan), which is not worth decoding whole columns for.
    every_row: bool,
}

/// Inputs of at most this many rows in all, every column held, joined by
/// equalities only (a cross or inequality join can make many more), run on
/// the in-memory engine over the cache's own scans, as first planned: such a
/// plan holds no rows, so it is kept for the ticket's next run, which then
/// plans nothing (TPC-H at SF 0.01 planned twice took 1.12 times as long).
const SCANNED_IN_MEMORY_ROWS: u64 = 1 << 20;

/// A query's plan, and what it reads.
pub(super) struct Planned {
    pub plan: (LazyFrame, arrow::datatypes::SchemaRef, String),
    pub frames: Vec<FrameInput>,
    pub cache: CacheUse,
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
    /// Columns the cache lacked, to decode once the query is done.
    pub fills: Vec<Fill>,
}

/// `query` planned over `frames`, and again over their cached relations
/// held in memory, or read from their files where the cache lacks columns,
/// where it `runs` (EXPLAIN and DESCRIBE only look) and can be (not where a
/// recursive CTE runs while planning: it would run twice).
pub(super) fn planned(query: &Query, mut frames: Vec<FrameInput>, stop: Option<&StopCheck>, runs: bool) -> super::Result<Planned> {
    let plan = polars_plan(query, &frames, stop)?;
    if !query.recursions().is_empty() {
        return Ok(Planned { plan, frames, cache: CacheUse::default() });
    }
    let cache = through_cache(&mut frames, &plan.0, runs)?;
    let plan = if cache.changed { polars_plan(query, &frames, stop)? } else { plan };
    Ok(Planned { plan, frames, cache })
}

/// Where it `runs`, `frames`' cached relations as in-memory frames of the
/// columns `plan` reads (or left as the cache's scans where every column is
/// held and the inputs are few rows), or their files where the cache lacks
/// some. Unchanged where a cached relation is not among the plan's scans
/// (nothing proves which columns it needs).
fn through_cache(frames: &mut [FrameInput], plan: &LazyFrame, runs: bool) -> PolarsResult<CacheUse> {
    let cached: Vec<usize> = frames.iter().filter_map(|input| cached_key(&input.source)).collect();
    if cached.is_empty() {
        return Ok(CacheUse::default());
    }
    let (read, crosses) = columns_read(plan)?;
    if cached.iter().any(|key| !read.contains_key(key)) {
        return Ok(CacheUse::default());
    }
    let mut used = CacheUse::default();
    let mut whole = Vec::new();
    for input in frames.iter() {
        let Source::Cached(files) = &input.source else { continue };
        let Read { columns, every_row } = &read[&key_of(files)];
        let names = files.names_among(columns);
        let holding = files.files_holding(&names);
        used.held.push(held_line(&input.relation.join("."), &names, holding, files.files.len(), *every_row));
        whole.push(holding == files.files.len());
    }
    if !runs || (whole.iter().all(|whole| *whole) && !crosses && few_rows(frames)) {
        return Ok(used);
    }
    let cached = frames.iter_mut().filter(|input| matches!(input.source, Source::Cached(_)));
    for (input, whole) in cached.zip(whole) {
        let Source::Cached(files) = &input.source else { continue };
        let Read { columns, every_row } = &read[&key_of(files)];
        let names = files.names_among(columns);
        input.source = match whole {
            true => Source::Loaded(files.frame_reading(&names)?),
            false => {
                if *every_row {
                    used.fills.push(files.fill(names));
                }
                used.missed = true;
                Source::Parquet { files: files.files.clone(), cloud: files.cloud.clone(), mapping: None }
            }
        };
    }
    used.changed = true;
    Ok(used)
}

/// Whether the inputs hold at most `SCANNED_IN_MEMORY_ROWS` rows in all.
fn few_rows(frames: &[FrameInput]) -> bool {
    let rows = frames.iter().map(|input| match &input.source {
        Source::Schema => Some(0),
        Source::Loaded(frame) => Some(frame.height() as u64),
        _ => input.rows,
    });
    rows.sum::<Option<u64>>().is_some_and(|rows| rows <= SCANNED_IN_MEMORY_ROWS)
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

fn cached_key(source: &Source) -> Option<usize> {
    match source {
        Source::Cached(files) => Some(key_of(files)),
        _ => None,
    }
}

/// A cached relation's identity in a plan: the address of its scan's state.
fn key_of(files: &CachedFiles) -> usize {
    files as *const CachedFiles as usize
}

/// What each cached relation's scans in `frame`'s optimized plan read, by
/// the relation, and whether the plan joins other than by equalities.
fn columns_read(frame: &LazyFrame) -> PolarsResult<(HashMap<usize, Read>, bool)> {
    let plan = frame.clone().to_alp_optimized()?;
    let (mut read, mut crosses): (HashMap<usize, Read>, bool) = (HashMap::new(), false);
    let (mut pending, mut seen) = (vec![plan.lp_top], HashSet::new());
    while let Some(node) = pending.pop() {
        if !seen.insert(node.0) {
            continue;
        }
        let ir = plan.lp_arena.get(node);
        ir.copy_inputs(&mut pending);
        if let IR::Join { left_on, options, .. } = ir {
            crosses |= left_on.is_empty() || matches!(options.args.how, JoinType::Cross | JoinType::IEJoin | JoinType::Range);
        }
        let IR::Scan { scan_type, unified_scan_args, predicate, .. } = ir else { continue };
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
    Ok((read, crosses))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::exec::data_cache::DataCache;

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
        let cached = || FrameInput { relation: vec!["t".into()], schema: (*schema).clone(), source: Source::Cached(files.clone()), rows: Some(3) };
        let mut frames = vec![cached()];
        let used = through_cache(&mut frames, &plan, true).unwrap();
        assert!(used.changed && used.missed && matches!(frames[0].source, Source::Parquet { .. }), "missed: read from the file");
        assert_eq!(used.held, ["DATA CACHE t: columns a, b held for 0 of 1 data files; read from the files, then decoded into the cache"]);
        used.fills.into_iter().for_each(Fill::queue);
        let started = std::time::Instant::now();
        while files.files_holding(&["a".into(), "b".into()]) == 0 {
            assert!(started.elapsed().as_secs() < 30, "decoded after the query");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut frames = vec![cached()];
        let used = through_cache(&mut frames, &plan, false).unwrap();
        assert!(matches!(frames[0].source, Source::Cached(_)), "EXPLAIN only looks");
        assert_eq!(used.held, ["DATA CACHE t: columns a, b held for 1 of 1 data files; read from memory"]);
        let mut frames = vec![cached()];
        let used = through_cache(&mut frames, &plan, true).unwrap();
        assert!(!used.changed && !used.missed && matches!(frames[0].source, Source::Cached(_)), "few rows, all held: scanned as planned");
        let mut frames = vec![FrameInput { rows: Some(SCANNED_IN_MEMORY_ROWS + 1), ..cached() }];
        assert!(through_cache(&mut frames, &plan, true).unwrap().changed);
        let crossed = plan.clone().cross_join(files.lazy_frame().unwrap().select([col("b").alias("b2")]), None);
        let mut frames = vec![cached()];
        assert!(through_cache(&mut frames, &crossed, true).unwrap().changed, "a cross join may make many rows: planned again");
        let Source::Loaded(held) = &frames[0].source else { panic!("held in memory") };
        assert_eq!(held.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(held.column("b").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>(), [10, 20, 30]);
        assert_eq!(held.column("c").unwrap().null_count(), 3, "c is read by nothing: nulls at no cost");
        // A slice is read from the files and not kept.
        let mut frames = vec![cached()];
        let used = through_cache(&mut frames, &files.lazy_frame().unwrap().select([col("c")]).limit(1), true).unwrap();
        assert!(used.fills.is_empty() && used.missed);
        assert!(used.held[0].ends_with("held for 0 of 1 data files; read from the files (a slice of them: not kept)"), "{held:?}");
        // A plan that reads no cached relation proves nothing about its columns.
        let files = Arc::new(CachedFiles { files: Vec::new(), cloud: None, schema: schema.clone(), cache: Arc::new(DataCache::new(1 << 20)) });
        let mut frames = vec![FrameInput { relation: vec!["t".into()], schema: (*schema).clone(), source: Source::Cached(files), rows: None }];
        assert!(!through_cache(&mut frames, &df!("x" => [1]).unwrap().lazy(), true).unwrap().changed);
    }
}
