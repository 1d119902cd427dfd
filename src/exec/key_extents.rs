//! What the join-key ranges (`sql/rewrite/key_ranges.rs`) read from a
//! relation: the least and greatest value of a large relation's key, which
//! tells how much of it a range keeps, and of a small relation's key over
//! the rows its filters keep. Reading the first goes over the whole column
//! (30 ms over 11.7M rows held in memory, more than the range saves on most
//! queries); the second, over a dimension, repeats on every run of a
//! dashboard's query. Data files never change: each answer is kept for
//! every later query that reads the same files.

use std::sync::LazyLock;

use polars::prelude::{col, DataType, LazyFrame};

use super::scan::{FrameInput, Source};
use crate::bounded::BoundedMap;

/// Beyond this many answers the memo starts over.
const KEPT: usize = 4096;

type Extent = Option<(i64, i64)>;

/// An answer by the files read and what was asked of them: a column's
/// extent (by its name), or a probe's (by its SQL).
static EXTENTS: LazyLock<BoundedMap<(Vec<String>, String), Extent>> = LazyLock::new(|| BoundedMap::new(KEPT));

/// A relation as a query reads it, for what the ranges ask of it.
pub(super) struct Keyed {
    /// The data files, where they alone decide the rows read: no delete
    /// files, and columns named as in the files (no evolved schema).
    files: Option<Vec<String>>,
    frame: LazyFrame,
}

impl Keyed {
    pub fn of(input: &FrameInput, frame: LazyFrame) -> Self {
        let files = match &input.source {
            Source::Parquet { files, mapping: None, .. } => Some(files.clone()),
            Source::Cached(cached) => Some(cached.files.clone()),
            Source::Loaded(_) => input.decoded_from.clone(),
            _ => None,
        };
        Self { files, frame }
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
            let bounds = [col(name.clone()).min().strict_cast(DataType::Int64).alias("lo"), col(name.clone()).max().strict_cast(DataType::Int64).alias("hi")];
            let values = self.frame.clone().select(bounds).collect().ok()?;
            let value = |name: &str| values.column(name).ok()?.i64().ok()?.get(0);
            Some(value("lo").zip(value("hi")))
        })
    }

    /// `run`'s answer to a probe of this relation alone (`sql`, which names
    /// no other relation and calls nothing volatile).
    pub fn probed(&self, sql: &str, run: impl FnOnce() -> Option<Extent>) -> Option<Extent> {
        self.kept(format!("probe {sql}"), run)
    }

    fn kept(&self, asked: String, run: impl FnOnce() -> Option<Extent>) -> Option<Extent> {
        let Some(files) = &self.files else { return run() };
        let key = (files.clone(), asked);
        if let Some(known) = EXTENTS.get(&key) {
            return Some(known);
        }
        let extent = run()?;
        EXTENTS.put(key, extent);
        Some(extent)
    }
}
