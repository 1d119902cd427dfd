//! `c IN (v1, v2, …)` over a short list of literals as `(c = v1 OR c = v2 …)`,
//! `NOT IN` as `(c <> v1 AND …)`: the same three-valued answer, NULLs
//! included. Polars 0.55 keeps a filter that holds an `is_in` beside a
//! condition on another relation above the join instead of splitting it
//! into each side's part, so a fact table was joined whole and filtered
//! after (TPC-H 19); comparisons it splits and pushes into each scan.
//!
//! A list that reads columns, which polars-sql refuses, is compared
//! whatever its length, and a value that reads no column (`'a' IN ('a',
//! 'b')`, `'a' IN (NULL)`) too, up to a far longer list:
//! polars-sql takes an `is_in` of literals for an aggregate-like value of
//! its own height, so a SELECT of nothing else answered one row over a
//! table whose filter kept none. So is a list mixing whole and fractional
//! numbers (`a + 1 IN (1, 2.5)`), up to that length: polars-sql builds the
//! list as a Series of its first value's type and refused the others.

use std::ops::ControlFlow;

use sqlparser::ast::{Array, BinaryOperator, Expr, Statement, UnaryOperator, Value};

use super::scope::is_null_literal;
use crate::sql::visit::{VisitMut, VisitorMut};

/// Longer lists stay `is_in`: one hash lookup beats many comparisons.
const MAX_VALUES: usize = 16;
/// A constant's comparisons run once, but each is a level of the
/// expression every later pass and Polars recurse through.
const MAX_CONSTANT_VALUES: usize = 256;

pub(super) fn as_comparisons(statement: &mut Statement) {
    let _ = statement.visit(&mut Comparisons);
}

struct Comparisons;

impl VisitorMut for Comparisons {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::InList { expr: column, list, negated } = expr else { return ControlFlow::Continue(()) };
        let is_column = matches!(column.as_ref(), Expr::Identifier(_) | Expr::CompoundIdentifier(_));
        // A list that reads columns (`x IN (b.lo, b.hi)`), which polars-sql
        // refuses, is the comparisons it stands for at any length.
        let reads_columns = !list.iter().all(reads_nothing);
        let literals = list.iter().all(is_literal);
        let constant = reads_nothing(column) && !crate::sql::volatile::is_volatile(column);
        let longest = match (constant || mixes_numbers(list), is_column) {
            (true, _) => MAX_CONSTANT_VALUES,
            (false, true) => MAX_VALUES,
            (false, false) => 0,
        };
        let compared = reads_columns || (literals && list.len() <= longest);
        if list.is_empty() || !compared {
            return ControlFlow::Continue(());
        }
        let (compare, combine) = match negated {
            false => (BinaryOperator::Eq, BinaryOperator::Or),
            true => (BinaryOperator::NotEq, BinaryOperator::And),
        };
        // A NULL in the list is `x = NULL`, NULL (`null_comparisons.rs`);
        // compared last, so the first comparison still names the column. A
        // list of NULLs only stays for a column: polars-sql answers it NULL
        // already; of a constant, its comparisons are the NULL they always are.
        if list.iter().all(is_null_literal) && !constant {
            return ControlFlow::Continue(());
        }
        let (nulls, values): (Vec<&Expr>, Vec<&Expr>) = list.iter().partition(|value| is_null_literal(value));
        let comparisons = values.into_iter().chain(nulls).map(|value| Expr::BinaryOp {
            left: column.clone(),
            op: compare.clone(),
            right: Box::new(value.clone()),
        });
        let combined = comparisons.reduce(|all, next| Expr::BinaryOp { left: Box::new(all), op: combine.clone(), right: Box::new(next) });
        let Some(combined) = combined else { return ControlFlow::Continue(()) };
        *expr = Expr::Nested(Box::new(combined));
        ControlFlow::Continue(())
    }
}

/// A list that stays `is_in`, as `x = ANY(ARRAY[…])` (`NOT (…)` for `NOT
/// IN`): polars-sql writes `IN` as an `is_in` of the list imploded, an
/// aggregation, which Polars 0.55 takes for a barrier: no conjunct of that
/// WHERE was pushed below its joins (TPC-DS 15: `d_year = 2001` filtered 1.4
/// million joined rows, not the date dimension). An array literal is the
/// same list as a value Polars sees through. Lists holding a NULL stay
/// (polars-sql answers their misses unknown), and so do text values
/// compared with a column, which polars-sql reads as the column's dates or
/// times only as an `IN` list.
pub(super) fn as_array_memberships(statement: &mut Statement) {
    let _ = statement.visit(&mut ArrayMemberships);
}

struct ArrayMemberships;

impl VisitorMut for ArrayMemberships {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::InList { expr: value, list, negated } = expr else { return ControlFlow::Continue(()) };
        let is_column = matches!(super::scope::unnested(value), Expr::Identifier(_) | Expr::CompoundIdentifier(_));
        // A value the same for every row is polars-sql's to answer as one row
        // either way; ANY would not change that, nor need to.
        let keep = list.is_empty() || list.iter().any(holds_null) || (is_column && !list.iter().all(is_number)) || reads_nothing(value);
        if keep || !list.iter().all(reads_nothing) {
            return ControlFlow::Continue(());
        }
        let membership = Expr::AnyOp {
            left: value.clone(),
            compare_op: BinaryOperator::Eq,
            right: Box::new(Expr::Array(Array { elem: std::mem::take(list), named: true })),
            is_some: false,
        };
        *expr = match negated {
            false => membership,
            true => Expr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(membership))) },
        };
        ControlFlow::Continue(())
    }
}

/// A NULL, cast or not (`CAST(NULL AS INT)`): polars-sql reads either as a
/// NULL in the list.
fn holds_null(expr: &Expr) -> bool {
    match expr {
        Expr::Cast { expr, .. } | Expr::Nested(expr) => holds_null(expr),
        _ => is_null_literal(expr),
    }
}

/// A number, signed or cast (`-1`, `CAST(0.05 AS DECIMAL(38, 2))`): never
/// read as a column's date or time, as text in an IN list is.
fn is_number(expr: &Expr) -> bool {
    match expr {
        Expr::Value(value) => matches!(value.value, Value::Number(..)),
        Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr } | Expr::Cast { expr, .. } | Expr::Nested(expr) => is_number(expr),
        _ => false,
    }
}

/// Whether `expr` is the same for every row: it reads no column and holds
/// no subquery.
fn reads_nothing(expr: &Expr) -> bool {
    let reads = crate::sql::visit::visit_expressions(expr, |expr| match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        Expr::Function(function) if function.over.is_some() => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    reads.is_continue()
}

/// Whether `list` holds both a whole number and another one.
fn mixes_numbers(list: &[Expr]) -> bool {
    let scales: Vec<u32> = list.iter().filter_map(super::literals::exact).map(|(_, scale)| scale).collect();
    scales.contains(&0) && scales.iter().any(|scale| *scale > 0)
}

fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) | Expr::TypedString { .. } => true,
        Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr } => matches!(expr.as_ref(), Expr::Value(_)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;

    #[test]
    fn short_literal_lists_become_comparisons() {
        assert_eq!(
            rewritten_by("SELECT * FROM t WHERE m IN ('AIR', 'REG AIR') AND n NOT IN (1, -2)", super::as_comparisons),
            "SELECT * FROM t WHERE (m = 'AIR' OR m = 'REG AIR') AND (n <> 1 AND n <> -2)"
        );
    }

    #[test]
    fn a_null_in_the_list_is_compared_last() {
        assert_eq!(
            rewritten_by("SELECT * FROM t WHERE m IN ('a', NULL) OR n NOT IN (NULL, 2)", super::as_comparisons),
            "SELECT * FROM t WHERE (m = 'a' OR m = NULL) OR (n <> 2 AND n <> NULL)"
        );
    }

    #[test]
    fn lists_of_columns_are_compared() {
        assert_eq!(
            rewritten_by("SELECT * FROM t WHERE m IN (a, 'x') AND upper(n) NOT IN (b, c)", super::as_comparisons),
            "SELECT * FROM t WHERE (m = a OR m = 'x') AND (upper(n) <> b AND upper(n) <> c)"
        );
    }

    #[test]
    fn values_that_read_no_column_are_compared() {
        assert_eq!(
            rewritten_by("SELECT substring('Sales', 3, 2) IN ('a', 'Sales') FROM t", super::as_comparisons),
            "SELECT (SUBSTRING('Sales', 3, 2) = 'a' OR SUBSTRING('Sales', 3, 2) = 'Sales') FROM t"
        );
        assert_eq!(
            rewritten_by("SELECT 'a' IN (NULL), 'b' NOT IN (NULL, NULL), m IN (NULL) FROM t", super::as_comparisons),
            "SELECT ('a' = NULL), ('b' <> NULL AND 'b' <> NULL), m IN (NULL) FROM t"
        );
        let long = (1..=17).map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
        let compared = rewritten_by(&format!("SELECT 3 IN ({long}) FROM t"), super::as_comparisons);
        assert!(compared.starts_with("SELECT (3 = 1 OR 3 = 2 OR "), "{compared}");
    }

    #[test]
    fn lists_mixing_whole_and_fractional_numbers_are_compared() {
        assert_eq!(
            rewritten_by("SELECT * FROM t WHERE a + 1 IN (1, -2.5, 3) AND b * 2 IN (1.5, 2.5)", super::as_comparisons),
            "SELECT * FROM t WHERE (a + 1 = 1 OR a + 1 = -2.5 OR a + 1 = 3) AND b * 2 IN (1.5, 2.5)"
        );
    }

    #[test]
    fn lists_left_as_memberships_become_arrays() {
        let long = (1..=17).map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
        assert_eq!(
            rewritten_by(&format!("SELECT * FROM t WHERE SUBSTRING(p, 1, 2) IN ('13', '31') AND m NOT IN ({long})"), super::as_array_memberships),
            format!("SELECT * FROM t WHERE SUBSTRING(p, 1, 2) = ANY(ARRAY['13', '31']) AND NOT (m = ANY(ARRAY[{long}]))")
        );
        for kept in [
            "SELECT * FROM t WHERE d IN ('2000-01-01', '2000-01-02')",
            "SELECT * FROM t WHERE (d) IN (CAST('2000-01-01' AS VARCHAR), '2000-01-02')",
            "SELECT * FROM t WHERE x NOT IN (1, 2, CAST(NULL AS INT))",
            "SELECT * FROM t WHERE SUBSTRING(p, 1, 2) IN ('13', NULL)",
            "SELECT * FROM t WHERE m IN (SELECT m FROM u)",
            "SELECT 3 IN (1, 2) FROM t",
        ] {
            assert_eq!(rewritten_by(kept, super::as_array_memberships), kept);
        }
    }

    #[test]
    fn expressions_long_lists_and_subqueries_stay() {
        for sql in [
            "SELECT * FROM t WHERE SUBSTRING(p, 1, 2) IN ('13', '31')",
            "SELECT * FROM t WHERE m IN (SELECT m FROM u)",
            "SELECT * FROM t WHERE m IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)",
        ] {
            assert_eq!(rewritten_by(sql, super::as_comparisons), sql);
        }
    }
}
