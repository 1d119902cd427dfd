//! Counts, row numbers, string lengths and date parts as BIGINT, as SQL
//! types them. Polars gives `count(*)`, `row_number()`, `rank()` and
//! `length(s)` an unsigned 32-bit type and `EXTRACT(MONTH …)` a signed
//! 8-bit one, and its arithmetic keeps the narrow type and wraps around:
//! `count(*) - 10` over 7 rows was 4294967293, `EXTRACT(MONTH FROM d) * 100`
//! for November 76. Widened where they are computed, every expression over
//! them (and every comparison, CASE or COALESCE with a negative number) is
//! in BIGINT; clients saw BIGINT for the unsigned ones already.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{CastKind, DataType, Expr, Select, SelectItem, Statement, TableFactor, TableWithJoins, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{function_args, selects_mut};

pub(super) fn widened(statement: &mut Statement) {
    let ctes = super::scope::cte_names(statement).into_iter().map(|name| name.to_ascii_lowercase()).collect();
    let mut widen = Widen { ctes };
    let _ = statement.visit(&mut widen);
    // The statement's own output: clients see BIGINT for a count already.
    if let Statement::Query(query) = statement {
        for select in selects_mut(&mut query.body) {
            keep_whole_counts(select);
        }
    }
}

struct Widen {
    /// The names of the statement's CTEs, lowercase.
    ctes: HashSet<String>,
}

impl VisitorMut for Widen {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if narrow(expr) {
            as_bigint(expr);
        } else if let Expr::Cast { expr: inner, .. } = expr {
            // A cast the query writes itself says the type: the widening under it goes.
            if let Expr::Cast { kind: CastKind::Cast, data_type: DataType::BigInt(None), expr: widened, .. } = inner.as_ref() {
                if narrow(widened) {
                    **inner = widened.as_ref().clone();
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// A count that is a whole SELECT item is widened too where a query
    /// reads it (`WITH c AS (SELECT count(*) AS n …) SELECT n - 100` wrapped
    /// around), except over a derived table or CTE alone: there Polars 0.55
    /// counted the rows under an ungrouped aggregate, not its one row, for
    /// any expression over `len()` (`SELECT count(*) + 0 FROM (SELECT
    /// count(*) …)` is 30 over 30 rows).
    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if self.over_a_query_alone(select) {
            keep_whole_counts(select);
        }
        ControlFlow::Continue(())
    }
}

impl Widen {
    fn over_a_query_alone(&self, select: &Select) -> bool {
        let [TableWithJoins { relation, joins }] = select.from.as_slice() else { return false };
        joins.is_empty()
            && match relation {
                TableFactor::Derived { .. } => true,
                TableFactor::Table { name, .. } => {
                    matches!(name.0.as_slice(), [part] if part.as_ident().is_some_and(|part| self.ctes.contains(&part.value.to_ascii_lowercase())))
                }
                _ => false,
            }
    }
}

/// Takes the widening off the counts that are whole items of `select`.
fn keep_whole_counts(select: &mut Select) {
    for item in &mut select.projection {
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
        if let Expr::Cast { kind: CastKind::Cast, data_type: DataType::BigInt(None), expr: inner, .. } = expr {
            if matches!(inner.as_ref(), Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("count")) {
                *expr = inner.as_ref().clone();
            }
        }
    }
}

/// `expr` cast to BIGINT, in place.
fn as_bigint(expr: &mut Expr) {
    cast_as(expr, DataType::BigInt(None));
}

pub(super) fn cast_as(expr: &mut Expr, data_type: DataType) {
    let inner = std::mem::replace(expr, Expr::value(Value::Null));
    *expr = Expr::Cast { kind: CastKind::Cast, expr: Box::new(inner), data_type, array: false, format: None };
}

/// Whether Polars computes `expr` in an integer type narrower than BIGINT.
pub(super) fn narrow(expr: &Expr) -> bool {
    match expr {
        Expr::Position { .. } => true,
        Expr::Extract { field, .. } => integer_part(&field.to_string()),
        Expr::Function(function) => {
            let name = function.name.0.last().map(|part| part.to_string().to_ascii_lowercase()).unwrap_or_default();
            match name.as_str() {
                "count" | "row_number" | "rank" | "dense_rank" | "length" | "char_length" | "character_length"
                | "octet_length" | "strpos" | "array_length" => true,
                "date_part" | "datepart" => match function_args(function).as_deref() {
                    Some([Expr::Value(part), _]) => match &part.value {
                        Value::SingleQuotedString(part) => integer_part(part),
                        _ => false,
                    },
                    _ => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}

/// The date parts polars-sql computes as integers (the sub-second ones and
/// the epoch are floating-point already).
fn integer_part(part: &str) -> bool {
    let part = part.to_ascii_lowercase();
    part.starts_with("week(")
        || matches!(
            part.as_str(),
            "millennium" | "millennia" | "century" | "centuries" | "c" | "decade" | "decades" | "isoyear" | "year" | "years"
                | "y" | "quarter" | "quarters" | "month" | "months" | "mon" | "mons" | "dayofyear" | "doy" | "dayofweek"
                | "dow" | "isoweek" | "week" | "weeks" | "isodow" | "day" | "days" | "dayofmonth" | "d" | "hour" | "hours"
                | "h" | "minute" | "minutes" | "mins" | "min" | "m" | "second" | "seconds" | "sec" | "secs" | "s"
        )
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::widened;

    #[test]
    fn narrow_integers_are_computed_as_bigint() {
        assert_eq!(
            rewritten_by("SELECT k, count(*) - 10, length(s), count(*) AS n FROM t GROUP BY k HAVING count(*) > 1", widened),
            "SELECT k, CAST(count(*) AS BIGINT) - 10, CAST(length(s) AS BIGINT), count(*) AS n FROM t GROUP BY k HAVING CAST(count(*) AS BIGINT) > 1"
        );
        assert_eq!(
            rewritten_by("SELECT EXTRACT(MONTH FROM d) * 100, date_part('hour', ts), row_number() OVER (ORDER BY k) - 3 FROM t", widened),
            "SELECT CAST(EXTRACT(MONTH FROM d) AS BIGINT) * 100, CAST(date_part('hour', ts) AS BIGINT), \
             CAST(row_number() OVER (ORDER BY k) AS BIGINT) - 3 FROM t"
        );
    }

    #[test]
    fn counts_a_query_reads_are_widened_where_computed() {
        // The outer query's own count stays; the CTE's and the derived table's wrap around in `n - 100`.
        assert_eq!(
            rewritten_by("WITH c AS (SELECT count(*) AS n FROM t) SELECT n - 100, count(*) AS m FROM c, (SELECT k, count(*) AS n FROM u GROUP BY k) AS d", widened),
            "WITH c AS (SELECT CAST(count(*) AS BIGINT) AS n FROM t) SELECT n - 100, count(*) AS m FROM c, \
             (SELECT k, CAST(count(*) AS BIGINT) AS n FROM u GROUP BY k) AS d"
        );
        // Over a derived table or a CTE alone, as written (Polars 0.55 counts the rows under it).
        for sql in ["SELECT x FROM (SELECT count(*) AS x FROM (SELECT max(a) FROM t) AS m) AS d", "WITH c AS (SELECT 1) SELECT n FROM (SELECT count(*) AS n FROM c) AS d"] {
            assert_eq!(rewritten_by(sql, widened), sql);
        }
    }

    #[test]
    fn floating_parts_and_written_casts_stay() {
        for sql in [
            "SELECT EXTRACT(EPOCH FROM ts), date_part('millisecond', ts), sum(x), CAST(count(*) AS INT) FROM t",
            "SELECT CAST(length(s) AS VARCHAR) FROM t",
        ] {
            assert_eq!(rewritten_by(sql, widened), sql);
        }
    }
}
