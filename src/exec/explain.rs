//! EXPLAIN and EXPLAIN ANALYZE answers: the query after Floe's rewrites,
//! each Iceberg scan (its snapshot and
//! what pruning left), Polars' optimized plan, and for ANALYZE the query run
//! once more under Polars' profiler with each operator's time.

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use polars::prelude::{Column, DataFrame, IntoLazy, LazyFrame};

use super::scan::ScanStats;
use super::Result;

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("plan", DataType::Utf8, true)]))
}

/// EXPLAIN ANALYZE's columns: a line of text each, and for an operator's
/// line its name and when it ran (microseconds from the query's start).
pub(super) fn analyze_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("plan", DataType::Utf8, true),
        Field::new("operator", DataType::Utf8, true),
        Field::new("start_us", DataType::Int64, true),
        Field::new("end_us", DataType::Int64, true),
    ]))
}

/// What EXPLAIN says besides the scans and Polars' plan.
pub(super) struct Notes {
    /// The query after Floe's rewrites, and the key ranges read from the data.
    pub rewritten: super::plan::Rewritten,
    /// Whether the answer comes from, or will go to, the result cache (when on).
    pub result_cache: Option<String>,
    /// What the data cache holds of each relation read through it.
    pub data_cache: Vec<String>,
    /// Which of Polars' engines runs the plan, and why.
    pub engine: String,
}

/// The query after Floe's rewrites, the result cache, each scan, the data
/// cache, then the engine.
fn scan_lines(scans: &[(String, ScanStats)], notes: &Notes) -> Vec<String> {
    let told = notes.rewritten.data_told.iter().cloned();
    let rewritten = std::iter::once(format!("FLOE SQL: {}", notes.rewritten.sql)).chain(told).chain(notes.result_cache.clone());
    let scans = scans
        .iter()
        .map(|(relation, stats)| match stats.snapshot_id {
            Some(id) => format!(
                "ICEBERG SCAN {relation}: snapshot {id}, {} of {} data files selected, read by {}",
                stats.files_selected, stats.files_total, stats.reader
            ),
            None => format!("ICEBERG SCAN {relation}: no snapshot (empty table)"),
        });
    rewritten.chain(scans).chain(notes.data_cache.clone()).chain(std::iter::once(notes.engine.clone())).collect()
}

/// EXPLAIN's answer, one line a row: the scans, then Polars' optimized plan.
pub(super) fn frame(frame: LazyFrame, scans: &[(String, ScanStats)], notes: &Notes) -> Result<LazyFrame> {
    let mut lines = scan_lines(scans, notes);
    lines.extend(frame.explain(true)?.lines().map(str::to_string));
    let plan = Column::new("plan".into(), lines);
    Ok(DataFrame::new_infer_height(vec![plan])?.lazy())
}

/// Runs `frame` under Polars' profiler (its in-memory engine: the streaming
/// engine keeps no per-operator times) and answers the scans, the plan, one
/// row per operator with its times, and the result's size.
pub(super) fn analyze(frame: LazyFrame, scans: &[(String, ScanStats)], notes: &Notes) -> Result<Vec<RecordBatch>> {
    let mut rows: Vec<(String, Option<String>, Option<i64>, Option<i64>)> =
        scan_lines(scans, notes).into_iter().map(|line| (line, None, None, None)).collect();
    rows.extend(frame.clone().explain(true)?.lines().map(|line| (line.to_string(), None, None, None)));
    let started = std::time::Instant::now();
    let (result, timings) = frame.profile()?;
    let elapsed = started.elapsed();
    rows.push(("PROFILE (Polars' in-memory engine; microseconds from the query's start):".into(), None, None, None));
    let names = timings.column("node")?.str()?;
    let starts = timings.column("start")?.u64()?;
    let ends = timings.column("end")?.u64()?;
    for ((name, start), end) in names.iter().zip(starts.iter()).zip(ends.iter()) {
        let (name, start, end) = (name.unwrap_or_default().to_string(), start.unwrap_or_default() as i64, end.unwrap_or_default() as i64);
        rows.push((format!("  {name}: {:.3} ms ({start}–{end} µs)", (end - start) as f64 / 1000.0), Some(name), Some(start), Some(end)));
    }
    rows.push((format!("RESULT: {} rows, {} columns in {:.1} ms", result.height(), result.width(), elapsed.as_secs_f64() * 1000.0), None, None, None));
    let columns: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(rows.iter().map(|row| Some(row.0.as_str())).collect::<StringArray>()),
        Arc::new(rows.iter().map(|row| row.1.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|row| row.2).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|row| row.3).collect::<Int64Array>()),
    ];
    Ok(vec![RecordBatch::try_new(analyze_schema(), columns)?])
}
