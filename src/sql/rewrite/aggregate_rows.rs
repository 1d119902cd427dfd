//! An ungrouped aggregate read as a relation keeps its one row when the
//! query reads none of its columns.
//!
//! Polars 0.55's projection pushdown drops every item of a projection that
//! is one value (an aggregate) when no column of it is read, and what is
//! left has the height of the aggregate's input: `SELECT n.a FROM n CROSS
//! JOIN (SELECT max(id) FROM s) AS g` answered |n|·|s| rows, not |n|. A
//! DISTINCT over the row needs all its columns, so Polars keeps them, and
//! one row is distinct already.

use std::ops::ControlFlow;

use sqlparser::ast::{Distinct, Query, Select, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::aggregates::aggregate_call;
use super::scope::{any_outside_subqueries, has_group_by, selects_mut};

pub(super) fn kept_when_unread(statement: &mut Statement) {
    let _ = statement.visit(&mut Nested { depth: 0 });
}

/// The statement's own query is read whole; every query nested in it may
/// not be.
struct Nested {
    depth: usize,
}

impl VisitorMut for Nested {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        // DISTINCT would restrict what ORDER BY may name; an ordered one row is rare.
        if self.depth > 1 && query.order_by.is_none() {
            selects_mut(&mut query.body).into_iter().filter(|select| is_ungrouped_aggregate(select)).for_each(|select| {
                select.distinct = Some(Distinct::Distinct);
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// At most one row whatever it reads: aggregates or HAVING without GROUP BY.
fn is_ungrouped_aggregate(select: &Select) -> bool {
    select.distinct.is_none()
        && !has_group_by(select)
        && (select.having.is_some() || select.projection.iter().any(|item| any_outside_subqueries(item, aggregate_call)))
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::kept_when_unread;

    #[test]
    fn nested_ungrouped_aggregates_are_distinct() {
        assert_eq!(
            rewritten_by("SELECT n.a FROM n CROSS JOIN (SELECT max(id) AS x FROM s) AS g", kept_when_unread),
            "SELECT n.a FROM n CROSS JOIN (SELECT DISTINCT max(id) AS x FROM s) AS g"
        );
        assert_eq!(
            rewritten_by("WITH g AS (SELECT count(*) AS c FROM s HAVING count(*) > 1) SELECT 1 FROM n, g", kept_when_unread),
            "WITH g AS (SELECT DISTINCT count(*) AS c FROM s HAVING count(*) > 1) SELECT 1 FROM n, g"
        );
        assert_eq!(
            rewritten_by("SELECT a FROM n WHERE a IN (SELECT max(id) FROM s UNION SELECT 1 FROM s)", kept_when_unread),
            "SELECT a FROM n WHERE a IN (SELECT DISTINCT max(id) FROM s UNION SELECT 1 FROM s)"
        );
    }

    #[test]
    fn the_statements_own_grouped_or_ordered_queries_stay() {
        let untouched = [
            "SELECT max(id) FROM s",
            "SELECT count(*) FROM s UNION ALL SELECT max(id) FROM s",
            "SELECT * FROM (SELECT k, max(id) AS m FROM s GROUP BY k) AS g",
            "SELECT * FROM (SELECT DISTINCT max(id) AS m FROM s) AS g",
            "SELECT * FROM (SELECT max(id) AS m FROM s ORDER BY 1) AS g",
            "SELECT * FROM (SELECT id, sum(id) OVER () AS m FROM s) AS g",
            "SELECT * FROM n WHERE a = (SELECT b FROM s WHERE s.c = (SELECT 1))",
        ];
        for sql in untouched {
            assert_eq!(rewritten_by(sql, kept_when_unread), sql);
        }
    }
}
