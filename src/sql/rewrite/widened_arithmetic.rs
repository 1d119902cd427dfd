//! `+`, `-` and `*` of integers, and SUM of integers, as BIGINTs that stop
//! at their range's end. Polars keeps the operands' type and wraps around:
//! the sum of two INTEGER 2000000000s was -294967296, `x + 9223372036854775800`
//! negative, a wrong answer where PostgreSQL and DuckDB widen the sum
//! (BIGINT, HUGEINT) and stop at an overflow. Iceberg's `int` is such a
//! column, and a lake's sums over it pass 2³¹ easily. Arithmetic Floe's
//! exact functions reach (`decimals.rs`) is checked there, in one pass;
//! what is left (a grouping key and the item that repeats it, a query
//! polars-sql plans on its own) is computed in HUGEINT and cast back,
//! which fails past BIGINT; a SUM adds HUGEINTs the same way, at a few
//! percent of its time.
//!
//! Only where a relation tells both operands are integers
//! (`Resolver::value_kind`): a DECIMAL's arithmetic is `decimals.rs`'s.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, DataType, Expr, Function, GroupByExpr, JoinConstraint, Query, Select, SetExpr, Statement, TableFactor, UnaryOperator};
use crate::sql::visit::VisitorMut;

use super::guarded::Guarded;
use super::resolver::{visit_query, Resolver, Scope};
use super::scope::{function_args_mut, join_constraint, reads_column, replace_outside_subqueries, selects_mut, without_calls, ColumnKind, Columns};
use super::widened_integers::cast_as;

pub(super) fn widened(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| EachSelect { resolver });
}

struct EachSelect<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for EachSelect<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // A sort key over the one SELECT's columns (`ORDER BY hits * 3`), not a set operation's.
        let mut order_by = query.order_by.as_mut().filter(|_| matches!(query.body.as_ref(), SetExpr::Select(_)));
        for select in selects_mut(query.body.as_mut()) {
            let relations = self.resolver.relations(&select.from);
            let mut guarded = Guarded::of(&*select);
            if let Some(order_by) = order_by.as_deref() {
                guarded.add(order_by);
            }
            let widen = Widen { resolver: &self.resolver, relations: &relations, guarded: &guarded };
            widen_select(select, &widen);
            if let Some(order_by) = order_by.take() {
                replace_outside_subqueries(order_by, |expr| widen.widen(expr));
            }
        }
        ControlFlow::Continue(())
    }
}

/// A grouping key and the item that repeats it are rewritten alike, so
/// polars-sql still matches them. The queries nested in an expression are
/// widened over their own relations.
fn widen_select(select: &mut Select, widen: &Widen) {
    replace_outside_subqueries(&mut select.projection, |expr| widen.widen(expr));
    replace_outside_subqueries(&mut select.selection, |expr| widen.widen(expr));
    replace_outside_subqueries(&mut select.having, |expr| widen.widen(expr));
    if let GroupByExpr::Expressions(keys, _) = &mut select.group_by {
        replace_outside_subqueries(keys, |expr| widen.widen(expr));
    }
    for join in select.from.iter_mut().flat_map(|table| table.joins.iter_mut()) {
        if let Some(JoinConstraint::On(on)) = join_constraint(&mut join.join_operator) {
            replace_outside_subqueries(on, |expr| widen.widen(expr));
        }
    }
}

struct Widen<'a> {
    resolver: &'a Resolver<'a>,
    relations: &'a [(TableFactor, Option<Scope>)],
    /// Arithmetic on rows SQL may not evaluate: in BIGINT, unchecked.
    guarded: &'a Guarded,
}

impl Widen<'_> {
    /// An integer by its relations' columns (an unaliased derived table's
    /// too), or a count, rank or length (a window's too). Not an outer
    /// query's column: its name alone could be a derived table's DOUBLE.
    fn integer(&self, expr: &Expr) -> bool {
        if super::widened_integers::narrow(expr) {
            return true;
        }
        let kind = self.resolver.value_kind(expr, self.relations).or_else(|| self.resolver.unaliased_kind(expr, self.relations));
        kind == Some(ColumnKind::Integer)
    }

    fn widen(&self, expr: &mut Expr) {
        let guarded = self.guarded.contains(expr);
        match expr {
            Expr::BinaryOp { left, op: BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply, right } => {
                // Literals alone are folded as written.
                let computed = |side: &Expr| reads_column(side) || !without_calls(side);
                if !(computed(left) || computed(right)) || !self.integer(left) || !self.integer(right) {
                    return;
                }
                if guarded {
                    return widened_unchecked(left, right);
                }
                cast_as(left, DataType::HugeInt);
                cast_as(expr, DataType::BigInt(None));
            }
            Expr::Function(function) => {
                let Some(arg) = summed(function).filter(|arg| reads_column(arg) && self.integer(arg)) else { return };
                cast_as(arg, DataType::HugeInt);
                cast_as(expr, DataType::BigInt(None));
            }
            _ => {}
        }
    }
}

/// One operand cast to BIGINT, which Polars drops where it is one already:
/// the side that reads a column (literals alone are folded as written),
/// unless either is computed in BIGINT already.
fn widened_unchecked(left: &mut Expr, right: &mut Expr) {
    if wide(left) || wide(right) {
        return;
    }
    match reads_column(left) {
        true => cast_as(left, DataType::BigInt(None)),
        false => cast_as(right, DataType::BigInt(None)),
    }
}

/// Computed in BIGINT already: cast to it (counts and lengths are, by
/// `widened_integers.rs`), or arithmetic with such an operand.
fn wide(expr: &Expr) -> bool {
    match expr {
        _ if super::widened_integers::narrow(expr) => true,
        Expr::Cast { data_type: DataType::BigInt(_), .. } => true,
        Expr::Nested(inner) | Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr: inner } => wide(inner),
        Expr::BinaryOp { left, op: BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply, right } => wide(left) || wide(right),
        _ => false,
    }
}

/// What `sum(x)` adds, and `sum(DISTINCT x)` as `synonyms.rs` writes it
/// (`array_sum(array_unique(array_agg(x)))`): `x`.
fn summed(function: &mut Function) -> Option<&mut Expr> {
    match function.name.to_string().to_ascii_lowercase().as_str() {
        "sum" => only_arg(function),
        "array_sum" => {
            let Expr::Function(unique) = only_arg(function)? else { return None };
            if !unique.name.to_string().eq_ignore_ascii_case("array_unique") {
                return None;
            }
            let Expr::Function(gathered) = only_arg(unique)? else { return None };
            if !gathered.name.to_string().eq_ignore_ascii_case("array_agg") {
                return None;
            }
            only_arg(gathered)
        }
        _ => None,
    }
}

fn only_arg(function: &mut Function) -> Option<&mut Expr> {
    let mut args = function_args_mut(function);
    args.next().filter(|_| args.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::super::scope::{rewritten_over, ColumnKind, Columns};

    fn rewritten(sql: &str) -> String {
        let mut columns = Columns::default();
        let kinds = [ColumnKind::Integer, ColumnKind::Integer, ColumnKind::Decimal(2), ColumnKind::Float, ColumnKind::Other];
        columns.insert(vec!["t".into()], vec!["i".into(), "j".into(), "d".into(), "f".into(), "s".into()], &kinds);
        rewritten_over(sql, &columns, super::widened)
    }

    #[test]
    fn integer_arithmetic_and_sums_are_checked_bigint() {
        // Computed in HUGEINT, cast back: an error past BIGINT's range.
        assert_eq!(
            rewritten("SELECT i * j, sum(i), i + 1, sum(i * j), CAST(i AS BIGINT) * j FROM t WHERE i * 2000000000 > j GROUP BY i * j ORDER BY i * 3"),
            "SELECT CAST(CAST(i AS HUGEINT) * j AS BIGINT), CAST(sum(CAST(i AS HUGEINT)) AS BIGINT), CAST(CAST(i AS HUGEINT) + 1 AS BIGINT), \
             CAST(sum(CAST(CAST(CAST(i AS HUGEINT) * j AS BIGINT) AS HUGEINT)) AS BIGINT), CAST(CAST(CAST(i AS BIGINT) AS HUGEINT) * j AS BIGINT) FROM t \
             WHERE CAST(CAST(i AS HUGEINT) * 2000000000 AS BIGINT) > j GROUP BY CAST(CAST(i AS HUGEINT) * j AS BIGINT) ORDER BY CAST(CAST(i AS HUGEINT) * 3 AS BIGINT)"
        );
        // Each step of a chain; over a derived table's column by its kind; in a subquery over its own relations.
        assert_eq!(
            rewritten("SELECT x.p - 2 * x.p FROM (SELECT i * j AS p FROM t) AS x WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.i + u.j = 3)"),
            "SELECT CAST(CAST(x.p AS HUGEINT) - CAST(CAST(2 AS HUGEINT) * x.p AS BIGINT) AS BIGINT) FROM (SELECT CAST(CAST(i AS HUGEINT) * j AS BIGINT) AS p FROM t) AS x \
             WHERE EXISTS (SELECT 1 FROM t AS u WHERE CAST(CAST(u.i AS HUGEINT) + u.j AS BIGINT) = 3)"
        );
        assert_eq!(
            rewritten("SELECT sum(i) OVER (), row_number() OVER (ORDER BY i) * j, count(*) * 3 FROM t"),
            "SELECT CAST(sum(CAST(i AS HUGEINT)) OVER () AS BIGINT), CAST(CAST(row_number() OVER (ORDER BY i) AS HUGEINT) * j AS BIGINT), \
             CAST(CAST(count(*) AS HUGEINT) * 3 AS BIGINT) FROM t"
        );
        // A chain over counts, and windows of integers.
        assert_eq!(
            rewritten("SELECT -count(*) * 2 * 3, lag(i) OVER (ORDER BY j) * 4 FROM t"),
            "SELECT CAST(CAST(CAST(CAST(-count(*) AS HUGEINT) * 2 AS BIGINT) AS HUGEINT) * 3 AS BIGINT), \
             CAST(CAST(lag(i) OVER (ORDER BY j) AS HUGEINT) * 4 AS BIGINT) FROM t"
        );
    }

    #[test]
    fn arithmetic_on_rows_sql_may_skip_is_bigint_unchecked() {
        assert_eq!(
            rewritten("SELECT CASE WHEN i < 5 THEN i * 922337203685477580 ELSE j + 1 END, coalesce(i * 2, j * 3) FROM t WHERE i > 0 AND i * j > 3"),
            "SELECT CASE WHEN i < 5 THEN CAST(i AS BIGINT) * 922337203685477580 ELSE CAST(j AS BIGINT) + 1 END, \
             coalesce(CAST(CAST(i AS HUGEINT) * 2 AS BIGINT), CAST(j AS BIGINT) * 3) FROM t WHERE i > 0 AND CAST(i AS BIGINT) * j > 3"
        );
    }

    #[test]
    fn distinct_sums_are_checked_and_outer_columns_stay() {
        assert_eq!(
            rewritten("SELECT array_sum(array_unique(array_agg(i))) FROM t WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.s = 'a' AND u.i + t.j > t.j * 2)"),
            "SELECT CAST(array_sum(array_unique(array_agg(CAST(i AS HUGEINT)))) AS BIGINT) FROM t WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.s = 'a' AND u.i + t.j > t.j * 2)"
        );
    }

    #[test]
    fn an_unaliased_derived_table_s_integers_are_checked() {
        assert_eq!(
            rewritten("SELECT sum(i), max(i * 2), sum(f) FROM (SELECT i, f FROM t WHERE i > 0)"),
            "SELECT CAST(sum(CAST(i AS HUGEINT)) AS BIGINT), max(CAST(CAST(i AS HUGEINT) * 2 AS BIGINT)), sum(f) FROM (SELECT i, f FROM t WHERE i > 0)"
        );
    }

    #[test]
    fn other_numbers_and_literals_alone_stay() {
        for sql in [
            "SELECT i * d, i + f, sum(d), sum(f), 2 * 3, sum(1), i || s FROM t",
            "SELECT i / j, i % j, floe_exact_mul(i, j) FROM t",
            "SELECT array_sum(array_unique(array_agg(d))), array_sum(x) FROM t",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
