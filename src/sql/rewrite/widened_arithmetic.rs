//! `+`, `-` and `*` of integers, and SUM of integers, computed in BIGINT.
//! Polars keeps the operands' type and wraps around: the sum of two
//! INTEGER 2000000000s was -294967296 and `CAST(x AS INTEGER) * 2000000000`
//! negative, a wrong answer where PostgreSQL and DuckDB widen the sum
//! (BIGINT, HUGEINT) and stop at the product's overflow. Iceberg's `int`
//! is such a column, and a lake's sums over it pass 2³¹ easily. One
//! operand is cast to BIGINT, which Polars drops where it is one already,
//! so a BIGINT column costs nothing; a product whose BIGINT overflows still
//! wraps as before.
//!
//! Only where a relation tells both operands are integers
//! (`Resolver::value_kind`): a DECIMAL's arithmetic is `decimals.rs`'s.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, DataType, Expr, Function, GroupByExpr, JoinConstraint, Query, Select, SetExpr, Statement, TableFactor, UnaryOperator};
use crate::sql::visit::VisitorMut;

use super::resolver::{visit_query, Resolver, Scope};
use super::scope::{function_args_mut, join_constraint, reads_column, replace_outside_subqueries, selects_mut, ColumnKind, Columns};
use super::widened_integers::as_bigint;

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
            let widen = Widen { resolver: &self.resolver, relations: &relations };
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
}

impl Widen<'_> {
    /// An integer by its relations' columns (an unaliased derived table's
    /// too). Not an outer query's column: its name alone could be a derived
    /// table's DOUBLE.
    fn integer(&self, expr: &Expr) -> bool {
        let kind = self.resolver.value_kind(expr, self.relations).or_else(|| self.resolver.unaliased_kind(expr, self.relations));
        kind == Some(ColumnKind::Integer)
    }

    fn widen(&self, expr: &mut Expr) {
        match expr {
            Expr::BinaryOp { left, op: BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply, right } => {
                if wide(left) || wide(right) || !self.integer(left) || !self.integer(right) {
                    return;
                }
                // The side that reads a column: literals alone are folded as written.
                if reads_column(left) {
                    as_bigint(left);
                } else if reads_column(right) {
                    as_bigint(right);
                }
            }
            Expr::Function(function) => {
                if let Some(arg) = summed(function).filter(|arg| !wide(arg) && reads_column(arg) && self.integer(arg)) {
                    as_bigint(arg);
                }
            }
            _ => {}
        }
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
    fn integer_arithmetic_and_sums_are_bigint() {
        assert_eq!(
            rewritten("SELECT i * j, sum(i), i + 1, sum(i * j) FROM t WHERE i * 2000000000 > j GROUP BY i * j ORDER BY i * 3"),
            "SELECT CAST(i AS BIGINT) * j, sum(CAST(i AS BIGINT)), CAST(i AS BIGINT) + 1, sum(CAST(i AS BIGINT) * j) FROM t \
             WHERE CAST(i AS BIGINT) * 2000000000 > j GROUP BY CAST(i AS BIGINT) * j ORDER BY CAST(i AS BIGINT) * 3"
        );
        // Once per chain; over a derived table's column by its kind; in a subquery over its own relations.
        assert_eq!(
            rewritten("SELECT sum(x.p) OVER (), x.p - 2 * x.p FROM (SELECT i * j AS p FROM t) AS x WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.i + u.j = 3)"),
            "SELECT sum(CAST(x.p AS BIGINT)) OVER (), x.p - 2 * CAST(x.p AS BIGINT) FROM (SELECT CAST(i AS BIGINT) * j AS p FROM t) AS x \
             WHERE EXISTS (SELECT 1 FROM t AS u WHERE CAST(u.i AS BIGINT) + u.j = 3)"
        );
    }

    #[test]
    fn distinct_sums_are_bigint_and_outer_columns_stay() {
        assert_eq!(
            rewritten("SELECT array_sum(array_unique(array_agg(i))) FROM t WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.s = 'a' AND u.i + t.j > t.j * 2)"),
            "SELECT array_sum(array_unique(array_agg(CAST(i AS BIGINT)))) FROM t WHERE EXISTS (SELECT 1 FROM t AS u WHERE u.s = 'a' AND u.i + t.j > t.j * 2)"
        );
    }

    #[test]
    fn an_unaliased_derived_table_s_integers_are_bigint() {
        assert_eq!(
            rewritten("SELECT sum(i), max(i * 2), sum(f) FROM (SELECT i, f FROM t WHERE i > 0)"),
            "SELECT sum(CAST(i AS BIGINT)), max(CAST(i AS BIGINT) * 2), sum(f) FROM (SELECT i, f FROM t WHERE i > 0)"
        );
    }

    #[test]
    fn other_numbers_and_literals_alone_stay() {
        for sql in [
            "SELECT i * d, i + f, sum(d), sum(f), 2 * 3, sum(1), i || s, CAST(i AS BIGINT) * j FROM t",
            "SELECT sum(CAST(i AS BIGINT)), i / j, i % j, count(*) + i, sum(length(s)) FROM t",
            "SELECT array_sum(array_unique(array_agg(d))), array_sum(x) FROM t",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
