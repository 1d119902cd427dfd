//! Relations read through the data cache, held in memory for one query.
//!
//! A cached relation plans as an anonymous scan, which only Polars'
//! in-memory engine runs, and that engine ran large scans and joins up to
//! four times as slowly as the streaming one on two cores (TPC-H 1 at SF 1:
//! 819 ms from the cache in memory, 212 ms streaming the Parquet files). So
//! the first plan only tells which columns the query reads of each cached
//! relation (its optimized scans' projections and filters); those columns,
//! from the cache, make in-memory frames the query plans again over, which
//! either engine runs.

use std::collections::{BTreeSet, HashMap, HashSet};

use polars::prelude::*;
use polars_plan::dsl::FileScanIR;
use polars_plan::plans::IR;
use polars_plan::utils::aexpr_to_leaf_names_iter;

use super::data_cache::CachedFiles;
use super::plan::polars_plan;
use super::recursion::StopCheck;
use super::scan::{FrameInput, Source};
use crate::sql::Query;

/// `query` planned over `frames`, and again over their cached relations
/// held in memory where it `runs` (EXPLAIN and DESCRIBE only look) and can
/// be (not where a recursive CTE runs while planning: it would run twice);
/// the plan, and the frames it reads.
pub(super) fn planned(
    query: &Query,
    mut frames: Vec<FrameInput>,
    stop: Option<&StopCheck>,
    runs: bool,
) -> super::Result<((LazyFrame, arrow::datatypes::SchemaRef, String), Vec<FrameInput>)> {
    let planned = polars_plan(query, &frames, stop)?;
    match runs && query.recursions().is_empty() && materialized(&mut frames, &planned.0)? {
        true => Ok((polars_plan(query, &frames, stop)?, frames)),
        false => Ok((planned, frames)),
    }
}

/// `frames`' cached relations as in-memory frames of the columns `plan`
/// reads; whether they now are. Unchanged where a cached relation is not
/// among the plan's scans (nothing proves which columns it needs).
fn materialized(frames: &mut [FrameInput], plan: &LazyFrame) -> PolarsResult<bool> {
    let cached: Vec<usize> = frames.iter().filter_map(|input| cached_key(&input.source)).collect();
    if cached.is_empty() {
        return Ok(false);
    }
    let read = columns_read(plan)?;
    if cached.iter().any(|key| !read.contains_key(key)) {
        return Ok(false);
    }
    for input in frames.iter_mut() {
        let Source::Cached(files) = &input.source else { continue };
        let frame = files.frame_reading(&read[&key_of(files)])?;
        input.source = Source::Loaded(frame);
    }
    Ok(true)
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

/// The columns each cached relation's scans in `frame`'s optimized plan
/// read, by the relation.
fn columns_read(frame: &LazyFrame) -> PolarsResult<HashMap<usize, BTreeSet<PlSmallStr>>> {
    let plan = frame.clone().to_alp_optimized()?;
    let mut read: HashMap<usize, BTreeSet<PlSmallStr>> = HashMap::new();
    let (mut pending, mut seen) = (vec![plan.lp_top], HashSet::new());
    while let Some(node) = pending.pop() {
        if !seen.insert(node.0) {
            continue;
        }
        let ir = plan.lp_arena.get(node);
        ir.copy_inputs(&mut pending);
        let IR::Scan { scan_type, unified_scan_args, predicate, .. } = ir else { continue };
        let FileScanIR::Anonymous { function, .. } = scan_type.as_ref() else { continue };
        let Some(files) = function.as_any().downcast_ref::<CachedFiles>() else { continue };
        let columns = read.entry(key_of(files)).or_default();
        match &unified_scan_args.projection {
            Some(projected) => columns.extend(projected.iter().cloned()),
            None => columns.extend(files.schema.iter_names_cloned()),
        }
        if let Some(predicate) = predicate {
            columns.extend(aexpr_to_leaf_names_iter(predicate.node(), &plan.expr_arena).cloned());
        }
    }
    Ok(read)
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
        let mut frames = vec![FrameInput { relation: vec!["t".into()], schema: (*schema).clone(), source: Source::Cached(files), rows: Some(3) }];
        assert!(materialized(&mut frames, &plan).unwrap());
        let Source::Loaded(held) = &frames[0].source else { panic!("held in memory") };
        assert_eq!(held.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(held.column("b").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>(), [10, 20, 30]);
        assert_eq!(held.column("c").unwrap().null_count(), 3, "c is read by nothing: nulls at no cost");
        // A plan that reads no cached relation proves nothing about its columns.
        let files = Arc::new(CachedFiles { files: Vec::new(), cloud: None, schema: schema.clone(), cache: Arc::new(DataCache::new(1 << 20)) });
        let mut frames = vec![FrameInput { relation: vec!["t".into()], schema: (*schema).clone(), source: Source::Cached(files), rows: None }];
        assert!(!materialized(&mut frames, &df!("x" => [1]).unwrap().lazy()).unwrap());
    }
}
