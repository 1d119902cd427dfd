//! An EXISTS or IN subquery without what changes neither which rows exist
//! nor which values are members: a plain DISTINCT (in an EXISTS, a DISTINCT
//! ON too), and an ORDER BY that no LIMIT or OFFSET reads. The subquery passes plan the plain forms only
//! (`EXISTS (SELECT DISTINCT … WHERE s.k = o.k + 3)` was left to
//! polars-sql, which failed on the outer name).

use std::ops::ControlFlow;

use sqlparser::ast::{Distinct, Expr, Query, SetExpr, Statement};

use crate::sql::visit::{VisitMut, VisitorMut};

pub(super) fn plain(statement: &mut Statement) {
    let _ = statement.visit(&mut Plain);
}

struct Plain;

impl VisitorMut for Plain {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Exists { subquery, .. } => without_noise(subquery, true),
            Expr::InSubquery { subquery, .. } => without_noise(subquery, false),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `exists`: only whether rows remain matters, so a DISTINCT ON goes too
/// (it keeps a row of every key); a membership keeps it and its order,
/// which pick the values that remain.
fn without_noise(subquery: &mut Query, exists: bool) {
    if subquery.limit_clause.is_some() || subquery.fetch.is_some() {
        return;
    }
    if let SetExpr::Select(select) = subquery.body.as_mut() {
        if select.top.is_some() || (!exists && matches!(select.distinct, Some(Distinct::On(_)))) {
            return;
        }
        select.distinct = None;
    }
    subquery.order_by = None;
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;

    #[test]
    fn distinct_and_order_leave_memberships() {
        assert_eq!(
            rewritten_by("SELECT * FROM o WHERE EXISTS (SELECT DISTINCT s.r FROM s WHERE s.k = o.k + 3 ORDER BY s.r) AND o.x IN (SELECT DISTINCT s.x FROM s)", super::plain),
            "SELECT * FROM o WHERE EXISTS (SELECT s.r FROM s WHERE s.k = o.k + 3) AND o.x IN (SELECT s.x FROM s)"
        );
        for kept in [
            "SELECT * FROM o WHERE o.x IN (SELECT s.x FROM s ORDER BY s.y LIMIT 3)",
            "SELECT * FROM o WHERE o.x IN (SELECT DISTINCT ON (s.k) s.x FROM s ORDER BY s.k, s.y)",
        ] {
            assert_eq!(rewritten_by(kept, super::plain), kept);
        }
        assert_eq!(
            rewritten_by("SELECT * FROM o WHERE EXISTS (SELECT DISTINCT ON (s.k) s.x FROM s WHERE s.k = o.k ORDER BY s.k, s.y)", super::plain),
            "SELECT * FROM o WHERE EXISTS (SELECT s.x FROM s WHERE s.k = o.k)"
        );
    }
}
