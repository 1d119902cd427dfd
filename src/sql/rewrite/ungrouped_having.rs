//! `HAVING` without `GROUP BY`: SQL makes the whole input one group, which the
//! condition keeps or drops; polars-sql refused it ("HAVING clause not valid
//! outside of GROUP BY"). The condition is selected as a hidden column of the
//! aggregate query, and a SELECT around it keeps the row where the condition
//! holds, leaving the column out.

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
        let SetExpr::Select(select) = query.body.as_mut() else { return ControlFlow::Continue(()) };
        if has_group_by(select) || lists_wildcard(select) {
            return ControlFlow::Continue(());
        }
        let Some(condition) = select.having.take() else { return ControlFlow::Continue(()) };
        select.projection.push(SelectItem::ExprWithAlias { expr: condition, alias: Ident::new(HIDDEN) });
        hiding(query, &[HIDDEN], "__floe_group", Some(HIDDEN));
        ControlFlow::Continue(())
    }
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
        for sql in ["SELECT k, count(*) FROM t GROUP BY k HAVING count(*) > 1", "SELECT count(*) FROM t"] {
            assert_eq!(rewritten_by(sql, filtered_after), sql);
        }
    }
}
