//! An EXISTS the query reads as a value (in its SELECT list: `EXISTS
//! (SELECT 1 FROM orders o WHERE o.k = c.k) AS has_orders`), which
//! polars-sql cannot plan, as the count of the subquery's rows compared
//! with 0: a scalar subquery, which the subquery passes compute once per
//! correlated key and join back (a key without rows counts 0). An EXISTS in
//! WHERE or HAVING stays the semi-join it is planned as, and one that reads
//! nothing of the query around it is `quantified.rs`'s (one row read).

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Query, SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut};

use super::scope::{parse_expr, visit_query, Columns, Resolver};

pub(super) fn rewrite(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Selects { resolver });
}

struct Selects<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Selects<'_> {
    type Break = ();
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                    counted_outside_subqueries(expr, &self.resolver);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Each correlated EXISTS of `expr` that is not inside one of its subqueries.
fn counted_outside_subqueries(expr: &mut Expr, resolver: &Resolver) {
    struct Outside<'r, 'c>(usize, &'r Resolver<'c>);
    impl VisitorMut for Outside<'_, '_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.0 += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.0 -= 1;
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let correlated = matches!(expr, Expr::Exists { subquery, .. } if !self.1.self_contained(subquery));
            if self.0 == 0 && correlated {
                if let Some(counted) = as_count(expr) {
                    *expr = counted;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = expr.visit(&mut Outside(0, resolver));
}

/// `(SELECT count(*) FROM … WHERE …) > 0` (`= 0` for NOT EXISTS), for a
/// subquery whose rows are its FROM's filtered ones: no grouping,
/// DISTINCT, LIMIT or set operation.
fn as_count(expr: &Expr) -> Option<Expr> {
    let Expr::Exists { subquery, negated } = expr else { return None };
    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
    let grouped = !matches!(&select.group_by, sqlparser::ast::GroupByExpr::Expressions(keys, _) if keys.is_empty());
    if grouped || select.having.is_some() || select.distinct.is_some() || subquery.limit_clause.is_some() || subquery.with.is_some() || select.from.is_empty() {
        return None;
    }
    let mut counted = subquery.as_ref().clone();
    counted.order_by = None;
    let SetExpr::Select(select) = counted.body.as_mut() else { return None };
    select.projection = vec![SelectItem::UnnamedExpr(parse_expr("count(*)")?)];
    let op = if *negated { BinaryOperator::Eq } else { BinaryOperator::Gt };
    let zero = Expr::value(Value::Number("0".into(), false));
    Some(Expr::Nested(Box::new(Expr::BinaryOp { left: Box::new(Expr::Subquery(Box::new(counted))), op, right: Box::new(zero) })))
}

#[cfg(test)]
mod tests {
    use crate::sql::rewrite::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        rewritten_over(sql, &columns_of(&[("c", &["k"]), ("o", &["k", "x"])]), super::rewrite)
    }

    #[test]
    fn an_exists_read_as_a_value_counts_rows() {
        assert_eq!(
            rewritten("SELECT c.k, EXISTS (SELECT 1 FROM o WHERE o.k = c.k) AS has, NOT EXISTS (SELECT * FROM o WHERE o.x > c.k) FROM c"),
            "SELECT c.k, ((SELECT count(*) FROM o WHERE o.k = c.k) > 0) AS has, ((SELECT count(*) FROM o WHERE o.x > c.k) = 0) FROM c"
        );
        for kept in [
            "SELECT k FROM c WHERE EXISTS (SELECT 1 FROM o WHERE o.k = c.k)",
            "SELECT EXISTS (SELECT k FROM o GROUP BY k) FROM c",
            "SELECT EXISTS (SELECT 1 FROM o WHERE o.k = c.k LIMIT 1) FROM c",
            "SELECT EXISTS (SELECT 1 FROM o WHERE o.x > 1) FROM c",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }
}
