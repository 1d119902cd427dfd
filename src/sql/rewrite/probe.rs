//! What only the data can tell the rewrites, asked while planning a query
//! that will run and answered by the executor over the frames the query
//! reads (`exec/plan.rs`). Every answer defaults to "not known", which is
//! what planning without data (EXPLAIN, a schema) gives, and each pass
//! then writes the query as it would without asking.

use super::RelationName;

/// A key's least and greatest value over a relation's rows (None: no rows, or all NULL).
pub type Extent = Option<(i64, i64)>;

/// How every EXPLAIN line of a subquery read ahead starts
/// (`SUBQUERY VALUE: …`, `SUBQUERY VALUES: …`).
pub const SUBQUERY_NOTE: &str = "SUBQUERY VALUE";

pub trait Probe {
    /// Whether a condition without columns holds (`constant_filters`).
    fn holds(&mut self, _condition: &str) -> bool {
        false
    }
    /// The `lo` and `hi` integers `sql` (reading only the catalog relation
    /// `relation`) selects, None where NULL (no rows); None where nothing is
    /// probed or the probe failed (`key_ranges`).
    fn extent(&mut self, _relation: &RelationName, _sql: &str) -> Option<Extent> {
        None
    }
    /// The least and greatest value of a catalog relation's integer column,
    /// as `extent` answers.
    fn key_extent(&mut self, _relation: &RelationName, _column: &str) -> Option<Extent> {
        None
    }
    /// The value of an uncorrelated scalar subquery as a SQL literal, where
    /// it has one row (`subquery_values`); None where nothing is run or
    /// the value has no literal.
    fn value(&mut self, _subquery: &str) -> Option<String> {
        None
    }
    /// The distinct values of an uncorrelated IN subquery as a list of SQL
    /// literals (`a, b, …`), where there are a few and none is NULL.
    fn values(&mut self, _subquery: &str) -> Option<String> {
        None
    }
    /// A line for EXPLAIN of what the data told.
    fn noted(&mut self, _line: String) {}
}
