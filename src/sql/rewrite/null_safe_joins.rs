//! Joins that pair NULL with NULL: `ON a.k IS NOT DISTINCT FROM b.k`, and
//! the form BI tools write for it, `a.k = b.k OR (a.k IS NULL AND b.k IS
//! NULL)`. Polars' join keys never match a NULL, and polars-sql refused
//! both forms, so they become keys it joins on: `floe_null_fill(a.k) =
//! floe_null_fill(b.k)`, the value with NULL as its type's zero, and one
//! `floe_null_flags(0, a.k, …) = floe_null_flags(0, b.k, …)` for the join,
//! which of them are NULL. None is ever NULL, and together they pair a NULL
//! only with a NULL. As keys they serve outer joins too. A side that reads
//! both relations stays as written (an inner join's then filters in WHERE:
//! `inner_join_conditions.rs`). Not one struct key per equality: Polars
//! 0.55 joins a struct key beside another key wrongly.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, JoinConstraint, Select, Statement};
use crate::sql::visit::VisitorMut;

use super::resolver::{owner, visit_query, Resolver, Scope};
use super::scope::{call, call_with, conjuncts, join_constraint, joined_by, unnested};
use super::Columns;
use crate::sql::functions::Scalar;

pub(super) fn keyed(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| NullSafe { resolver });
}

struct NullSafe<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for NullSafe<'_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for table in &mut select.from {
            let Some(scopes) = self.resolver.scopes(std::slice::from_ref(table)) else { continue };
            for (index, join) in table.joins.iter_mut().enumerate() {
                let Some(JoinConstraint::On(condition)) = join_constraint(&mut join.join_operator) else { continue };
                if let Some(keyed) = keyed_condition(condition, &scopes[..index + 2]) {
                    *condition = keyed;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The condition with its null-safe equalities of the joined relation (the
/// last scope) with one before it as keys; None without such equalities.
fn keyed_condition(condition: &Expr, sides: &[Scope]) -> Option<Expr> {
    let joined = sides.len() - 1;
    let mut pairs: Vec<(Expr, Expr)> = Vec::new();
    let mut kept: Vec<Expr> = Vec::new();
    for conjunct in conjuncts(condition) {
        let keyed = null_safe_equality(conjunct).filter(|(left, right)| match (owner(left, sides), owner(right, sides)) {
            (Some(l), Some(r)) => (l == joined) != (r == joined),
            _ => false,
        });
        match keyed {
            Some((left, right)) => pairs.push((left.clone(), right.clone())),
            None => kept.push(conjunct.clone()),
        }
    }
    if pairs.is_empty() {
        return None;
    }
    let equal = |left: Expr, right: Expr| Expr::BinaryOp { left: Box::new(left), op: BinaryOperator::Eq, right: Box::new(right) };
    for (left, right) in &pairs {
        kept.push(equal(call(Scalar::NullFill.name(), [left.clone()]), call(Scalar::NullFill.name(), [right.clone()])));
    }
    let flags = |sides: Vec<Expr>| {
        let mut args = vec![Expr::value(sqlparser::ast::Value::Number("0".into(), false))];
        args.extend(sides);
        call_with(Scalar::NullFlags.name(), args)
    };
    let (lefts, rights): (Vec<Expr>, Vec<Expr>) = pairs.into_iter().unzip();
    kept.push(equal(flags(lefts), flags(rights)));
    joined_by(BinaryOperator::And, kept)
}

/// The two sides of `a IS NOT DISTINCT FROM b` or `a = b OR (a IS NULL AND
/// b IS NULL)` (either way round).
fn null_safe_equality(conjunct: &Expr) -> Option<(&Expr, &Expr)> {
    match unnested(conjunct) {
        Expr::IsNotDistinctFrom(left, right) => Some((left, right)),
        Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
            let (equality, nulls) = match unnested(left) {
                Expr::BinaryOp { op: BinaryOperator::Eq, .. } => (unnested(left), unnested(right)),
                _ => (unnested(right), unnested(left)),
            };
            let Expr::BinaryOp { left: a, op: BinaryOperator::Eq, right: b } = equality else { return None };
            let Expr::BinaryOp { left: first, op: BinaryOperator::And, right: second } = nulls else { return None };
            let (Expr::IsNull(first), Expr::IsNull(second)) = (unnested(first), unnested(second)) else { return None };
            let same = |x: &Expr, y: &Expr| x == y;
            let both = (same(first, a) && same(second, b)) || (same(first, b) && same(second, a));
            both.then_some((a.as_ref(), b.as_ref()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};
    use super::keyed;

    #[test]
    fn null_safe_equalities_are_keys() {
        let columns = columns_of(&[("a", &["k", "x"]), ("b", &["k", "y"])]);
        assert_eq!(
            rewritten_over("SELECT * FROM a LEFT JOIN b ON a.k IS NOT DISTINCT FROM b.k AND a.x = b.y", &columns, keyed),
            "SELECT * FROM a LEFT JOIN b ON a.x = b.y AND floe_null_fill(a.k) = floe_null_fill(b.k) AND floe_null_flags(0, a.k) = floe_null_flags(0, b.k)"
        );
        assert_eq!(
            rewritten_over("SELECT * FROM a JOIN b ON (b.k IS NULL AND a.k IS NULL) OR (a.k = b.k)", &columns, keyed),
            "SELECT * FROM a JOIN b ON floe_null_fill(a.k) = floe_null_fill(b.k) AND floe_null_flags(0, a.k) = floe_null_flags(0, b.k)"
        );
    }

    #[test]
    fn sides_of_one_relation_stay() {
        let columns = columns_of(&[("a", &["k", "x"]), ("b", &["k", "y"])]);
        for sql in [
            "SELECT * FROM a JOIN b ON a.k IS NOT DISTINCT FROM a.x",
            "SELECT * FROM a JOIN b ON a.k = b.k OR (a.k IS NULL AND b.y IS NULL)",
        ] {
            let parsed = crate::sql::parse::parse_single(sql).unwrap().to_string();
            assert_eq!(rewritten_over(sql, &columns, keyed), parsed);
        }
    }
}
