//! Row values compared as SQL compares them, which polars-sql cannot
//! (it refused `(a, b)` anywhere): `(a, b) = (1, 2)` is `(a = 1 AND b = 2)`,
//! `<>` its negation, and `(a, b) [NOT] IN ((1, 2), (3, 4))` the OR of such
//! equalities — the same three-valued answer (a pair unequal: false; else a
//! NULL: NULL). `(a, b) IN (SELECT x, y …)` in WHERE is an EXISTS
//! (`subquery.rs`).

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Ident, Query, SelectItem, Statement, UnaryOperator};
use crate::sql::visit::visit_expressions_mut;

use super::scope::{joined_by, parse_expr, selects_mut};

pub(super) fn as_comparisons(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some(compared) = compared(expr) {
            *expr = compared;
        }
        ControlFlow::<()>::Continue(())
    });
}

fn compared(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::BinaryOp { left, op: op @ (BinaryOperator::Eq | BinaryOperator::NotEq), right } => {
            let equal = equalities(left, right)?;
            Some(if *op == BinaryOperator::Eq { equal } else { negated(equal) })
        }
        Expr::InList { expr: row, list, negated: not } if matches!(row.as_ref(), Expr::Tuple(_)) => {
            let rows = list.iter().map(|value| equalities(row, value)).collect::<Option<Vec<_>>>()?;
            let any = Expr::Nested(Box::new(joined_by(BinaryOperator::Or, rows)?));
            Some(if *not { negated(any) } else { any })
        }
        _ => None,
    }
}

/// `(l1 = r1 AND l2 = r2 …)` of two row values of one length.
fn equalities(left: &Expr, right: &Expr) -> Option<Expr> {
    let (Expr::Tuple(left), Expr::Tuple(right)) = (left, right) else { return None };
    if left.len() != right.len() {
        return None;
    }
    let pairs = left.iter().zip(right).map(|(l, r)| Expr::BinaryOp { left: Box::new(l.clone()), op: BinaryOperator::Eq, right: Box::new(r.clone()) });
    Some(Expr::Nested(Box::new(joined_by(BinaryOperator::And, pairs.collect())?)))
}

/// `(v1, v2) IN (S)` as `EXISTS (SELECT 1 FROM (S) AS <alias> WHERE
/// <alias>.__floe_m1 = v1 AND …)`, S's items named `__floe_mN`: an EXISTS by
/// equalities, which polars-sql joins on, with S whole inside (its
/// DISTINCT, grouping, LIMIT kept) and none of S's names able to capture the
/// row's. S must read nothing of the query around it.
pub(super) fn as_exists(row: &Expr, subquery: &Query, alias: &str) -> Option<Expr> {
    let Expr::Tuple(values) = row else { return None };
    let mut members = subquery.clone();
    let select = selects_mut(&mut members.body).into_iter().next()?;
    if select.projection.len() != values.len() {
        return None;
    }
    for (i, item) in select.projection.iter_mut().enumerate() {
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { return None };
        *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::new(format!("__floe_m{}", i + 1)) };
    }
    let matched: Vec<String> = values.iter().enumerate().map(|(i, value)| format!("{alias}.__floe_m{} = {value}", i + 1)).collect();
    parse_expr(&format!("EXISTS (SELECT 1 FROM ({members}) AS {alias} WHERE {})", matched.join(" AND ")))
}

fn negated(expr: Expr) -> Expr {
    Expr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(expr) }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;

    #[test]
    fn row_values_are_their_columns_compared() {
        assert_eq!(
            rewritten_by("SELECT * FROM t WHERE (a, b) IN ((1, 'x'), (2, 'y')) AND (c, d) <> (3, 4) OR (a, b) NOT IN ((5, 6))", super::as_comparisons),
            "SELECT * FROM t WHERE ((a = 1 AND b = 'x') OR (a = 2 AND b = 'y')) AND NOT (c = 3 AND d = 4) OR NOT ((a = 5 AND b = 6))"
        );
        let subquery = crate::sql::rewrite::scope::parse_query("SELECT DISTINCT x, y + 1 AS z FROM u WHERE w > 0").unwrap();
        let row = crate::sql::rewrite::scope::parse_expr("(a, t.b)").unwrap();
        assert_eq!(
            super::as_exists(&row, &subquery, "__floe_in1").unwrap().to_string(),
            "EXISTS (SELECT 1 FROM (SELECT DISTINCT x AS __floe_m1, y + 1 AS __floe_m2 FROM u WHERE w > 0) AS __floe_in1 \
             WHERE __floe_in1.__floe_m1 = a AND __floe_in1.__floe_m2 = t.b)"
        );
        // Rows of different lengths are the user's error to hear about.
        assert_eq!(rewritten_by("SELECT (a, b) = (1, 2, 3) FROM t", super::as_comparisons), "SELECT (a, b) = (1, 2, 3) FROM t");
    }
}
