//! `HAVING` without `GROUP BY`: SQL makes the whole input one group, which the
//! condition keeps or drops; polars-sql refused it ("HAVING clause not valid
//! outside of GROUP BY"). The condition is selected as a hidden column of the
//! aggregate query, and a SELECT around it keeps the row where the condition
//! holds, leaving the column out; a branch of a UNION so filtered becomes a
//! query of its own (a grouping set whose keys were all constants is one).

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, Query, SelectItem, SetExpr, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{has_group_by, hiding, lists_wildcard};

const HIDDEN: &str = "__floe_having";

pub(crate) fn filtered_after(statement: &mut Statement) {
    let _ = statement.visit(&mut Having);
}

struct Having;

impl VisitorMut for Having {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        match query.body.as_mut() {
            SetExpr::Select(select) => {
                if filtered_in_place(select) {
                    hiding(query, &[HIDDEN], "__floe_group", Some(HIDDEN));
                }
            }
            // A branch of a UNION (a grouping set's, whose keys were all
            // constants) becomes a query of its own, filtered alike.
            operation @ SetExpr::SetOperation { .. } => filter_branches(operation),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn filter_branches(body: &mut SetExpr) {
    let SetExpr::SetOperation { left, right, .. } = body else { return };
    for branch in [left, right] {
        let filtered = match branch.as_mut() {
            SetExpr::Select(select) => filtered_in_place(select),
            operation @ SetExpr::SetOperation { .. } => {
                filter_branches(operation);
                false
            }
            _ => false,
        };
        if !filtered {
            continue;
        }
        let Some(mut own) = super::scope::parse_query("SELECT 1") else { continue };
        std::mem::swap(own.body.as_mut(), branch.as_mut());
        hiding(&mut own, &[HIDDEN], "__floe_group", Some(HIDDEN));
        **branch = SetExpr::Query(Box::new(own));
    }
}

/// Moves an ungrouped SELECT's HAVING into its projection, as the hidden
/// column the query around it filters by; whether it had one.
fn filtered_in_place(select: &mut sqlparser::ast::Select) -> bool {
    if has_group_by(select) || lists_wildcard(select) {
        return false;
    }
    let Some(condition) = select.having.take() else { return false };
    select.projection.push(SelectItem::ExprWithAlias { expr: condition, alias: Ident::new(HIDDEN) });
    true
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::*;

    #[test]
    fn having_without_group_by_filters_the_one_group() {
        assert_eq!(
            rewritten_by("WITH c AS (SELECT 1) SELECT count(*) AS n FROM t HAVING count(*) > 5", filtered_after),
            "WITH c AS (SELECT 1) SELECT * EXCLUDE (__floe_having) FROM (SELECT count(*) AS n, count(*) > 5 AS __floe_having FROM t) AS __floe_group WHERE __floe_having"
        );
        assert_eq!(
            rewritten_by("SELECT 1 FROM u UNION ALL SELECT count(*) FROM t HAVING count(*) > 5", filtered_after),
            "SELECT 1 FROM u UNION ALL (SELECT * EXCLUDE (__floe_having) FROM (SELECT count(*), count(*) > 5 AS __floe_having FROM t) AS __floe_group \
             WHERE __floe_having)"
        );
        for sql in ["SELECT k, count(*) FROM t GROUP BY k HAVING count(*) > 1", "SELECT count(*) FROM t"] {
            assert_eq!(rewritten_by(sql, filtered_after), sql);
        }
    }
}
