//! What the join-key ranges (`sql/rewrite/key_ranges.rs`) read from a
//! relation: the least and greatest value of a large relation's key, which
//! tells how much of it a range keeps, and of a small relation's key over
//! the rows its filters keep. Reading the first goes over the whole column
//! (30 ms over 11.7M rows held in memory, more than the range saves on most
//! queries); the second, over a dimension, repeats on every run of a
//! dashboard's query. Data files never change: each answer is kept for
//! every later query that reads the same files.

use std::sync::LazyLock;

use polars::prelude::{col, DataFrame, DataType, LazyFrame, PolarsResult};

use super::scan::{FrameInput, Source};
use crate::bounded::BoundedMap;

/// Beyond this many answers the memo starts over.
const KEPT: usize = 4096;

type Extent = Option<(i64, i64)>;

/// An answer by the files read and what was asked of them: a column's
/// extent (by its name), or a probe's (by its SQL).
static EXTENTS: LazyLock<BoundedMap<(Vec<String>, String), Extent>> = LazyLock::new(|| BoundedMap::new(KEPT));

/// A subquery's value as a literal, by the files of each relation it reads
/// and its SQL.
static VALUES: LazyLock<BoundedMap<(Vec<String>, String), Option<String>>> = LazyLock::new(|| BoundedMap::new(KEPT));

/// A relation as a query reads it, every column of every row, for what the
/// ranges ask of it.
pub(super) struct Keyed {
    /// The data files, where they alone decide the rows read: no delete
    /// files, and columns named as in the files (no evolved schema).
    files: Option<Vec<String>>,
    frame: LazyFrame,
    /// The name the query's SQL reads it by.
    registered: String,
}

impl Keyed {
    /// `input`, read by the query as `frame` registered as `registered`.
    pub fn of(input: &FrameInput, frame: LazyFrame, registered: &str) -> PolarsResult<Self> {
        let (files, frame) = match (&input.source, &input.decoded_from) {
            (Source::Parquet { files, mapping: None, .. }, _) => (Some(files.clone()), frame),
            (Source::Cached(cached), _) => (Some(cached.files.clone()), frame),
            // Rows the data cache holds carry only the columns the plan reads
            // (the rest are NULL): the cache's own scan has them all.
            (Source::Loaded(_), Some(cached)) => (Some(cached.files.clone()), cached.lazy_frame()?),
            _ => (None, frame),
        };
        Ok(Self { files, frame, registered: registered.to_string() })
    }

    /// The least and greatest value of `column` (an integer column; None
    /// inside where it holds no value), None where it cannot be read.
    pub fn key_extent(&self, column: &str) -> Option<Extent> {
        self.kept(format!("column {}", column.to_ascii_lowercase()), || {
            let schema = self.frame.clone().collect_schema().ok()?;
            let (name, dtype) = schema.iter().find(|(name, _)| name.eq_ignore_ascii_case(column))?;
            if !dtype.is_integer() {
                return None;
            }
            let bounds = [col(name.clone()).min().alias("lo"), col(name.clone()).max().alias("hi")];
            bounds_of(&self.frame.clone().select(bounds).collect().ok()?)
        })
    }

    /// The `lo` and `hi` that `sql`, reading this relation alone by its
    /// registered name and calling nothing volatile, selects.
    pub fn probed(&self, sql: &str) -> Option<Extent> {
        self.kept(format!("probe {sql}"), || {
            // A context of its own: a failed probe leaves nothing behind in the query's.
            let mut context = super::functions::sql_context();
            context.register(&self.registered, self.frame.clone());
            bounds_of(&context.execute(sql).ok()?.collect().ok()?)
        })
    }

    /// This relation, every column, where `context` reads it.
    pub fn register_in(&self, context: &mut polars_sql::SQLContext) {
        context.register(&self.registered, self.frame.clone());
    }

    fn kept(&self, asked: String, run: impl FnOnce() -> Option<Extent>) -> Option<Extent> {
        let Some(files) = &self.files else { return run() };
        remembered(&EXTENTS, (files.clone(), asked), run)
    }
}

/// The value `run` reads from `relations` for `sql`, kept as extents are
/// while every relation's files alone decide its rows.
/// `run` answers None where it failed (asked again next time), `Some(None)`
/// where the rows have no literal (too many values, a NULL): kept too, so
/// a subquery of many values runs twice once, not on every run.
pub(super) fn value_of(relations: &[&Keyed], sql: &str, run: impl FnOnce() -> Option<Option<String>>) -> Option<String> {
    let files: Option<Vec<String>> = relations.iter().map(|keyed| keyed.files.as_ref().map(|files| files.join("\n"))).collect();
    let Some(files) = files else { return run().flatten() };
    remembered(&VALUES, (files, sql.to_string()), run).flatten()
}

/// The answer `memo` keeps for `key`, else `run`'s, kept where it has one.
fn remembered<T: Clone>(memo: &BoundedMap<(Vec<String>, String), T>, key: (Vec<String>, String), run: impl FnOnce() -> Option<T>) -> Option<T> {
    if let Some(known) = memo.get(&key) {
        return Some(known);
    }
    let answer = run()?;
    memo.put(key, answer.clone());
    Some(answer)
}

/// The one row's `lo` and `hi` as 64-bit integers (None where either is NULL).
fn bounds_of(values: &DataFrame) -> Option<Extent> {
    let value = |name: &str| -> Option<Option<i64>> {
        let column = values.column(name).ok()?.strict_cast(&DataType::Int64).ok()?;
        Some(column.i64().ok()?.get(0))
    };
    (values.height() == 1).then_some(())?;
    Some(value("lo")?.zip(value("hi")?))
}
