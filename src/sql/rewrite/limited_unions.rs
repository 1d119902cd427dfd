//! A UNION ALL under LIMIT or OFFSET, nested in the statement, keeps its
//! slice when what reads it needs no column of it.
//!
//! Polars 0.55 moves the slice into the union, and a count above it is then
//! taken per branch with the slice forgotten: `SELECT count(*) FROM (SELECT
//! … UNION ALL SELECT … LIMIT 3)` answered 3 for each branch, 6. A filter
//! above the slice that reads one of its columns (and keeps every row)
//! makes the count read that column, so the slice stays where SQL puts it;
//! it sees at most the slice's rows.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, Query, SetExpr, SetOperator, SetQuantifier, Statement, TableAlias, TableFactor};
use crate::sql::visit::VisitorMut;

use super::resolver::{visit_query, Resolver};
use super::scope::{hiding, Columns};

const ALIAS: &str = "__floe_limited_";

pub(super) fn sliced_whole(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Nested { resolver, depth: 0, written: 0 });
}

/// The statement's own query is read whole by the client; every query
/// nested in it may not be.
struct Nested<'a> {
    resolver: Resolver<'a>,
    depth: usize,
    written: usize,
}

impl VisitorMut for Nested<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        if self.depth > 0 && is_sliced_union(query) {
            self.filtered_above_slice(query);
        }
        ControlFlow::Continue(())
    }
}

impl Nested<'_> {
    /// `query` as `SELECT * FROM (<query>) AS __floe_limited_N WHERE c IS
    /// NULL OR c IS NOT NULL`, c one of its columns; its WITH kept outermost.
    /// Unchanged when no column's name is known (every item a wildcard of
    /// a relation whose columns are not).
    fn filtered_above_slice(&mut self, query: &mut Query) {
        let alias = format!("{ALIAS}{}", self.written);
        let Some(column) = self.first_column(query, &alias) else { return };
        let column = Ident::with_quote('"', column);
        hiding(query, &[], &alias, Some(&format!("{alias}.{column} IS NULL OR {alias}.{column} IS NOT NULL")));
        self.written += 1;
    }

    /// The first column of `query` read as a derived table, where known.
    fn first_column(&self, query: &Query, alias: &str) -> Option<String> {
        let name = Ident::new(alias);
        let alias = Some(TableAlias { explicit: true, name, columns: Vec::new(), at: None });
        let factor = TableFactor::Derived { lateral: false, subquery: Box::new(query.clone()), alias, sample: None };
        self.resolver.scope(&factor)?.columns.into_iter().next()
    }
}

/// LIMIT or OFFSET (no ORDER BY: a sort takes the slice itself) right over
/// a UNION ALL, parentheses around it or not.
fn is_sliced_union(query: &Query) -> bool {
    (query.limit_clause.is_some() || query.fetch.is_some()) && query.order_by.is_none() && unions_all(&query.body)
}

fn unions_all(body: &SetExpr) -> bool {
    match body {
        SetExpr::SetOperation { op: SetOperator::Union, set_quantifier, .. } => {
            matches!(set_quantifier, SetQuantifier::All | SetQuantifier::AllByName)
        }
        SetExpr::Query(inner) => {
            inner.limit_clause.is_none() && inner.fetch.is_none() && inner.order_by.is_none() && unions_all(&inner.body)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        rewritten_over(sql, &columns_of(&[("t", &["id", "name"]), ("u", &["k"])]), super::sliced_whole)
    }

    #[test]
    fn a_nested_sliced_union_is_filtered_above_its_slice() {
        assert_eq!(
            rewritten("SELECT count(*) FROM (SELECT id FROM t UNION ALL SELECT k FROM u LIMIT 3) AS c"),
            "SELECT count(*) FROM (SELECT * FROM (SELECT id FROM t UNION ALL SELECT k FROM u LIMIT 3) AS __floe_limited_0 \
             WHERE __floe_limited_0.\"id\" IS NULL OR __floe_limited_0.\"id\" IS NOT NULL) AS c"
        );
        // A CTE's, a wildcard's columns read off the catalog, OFFSET alone, the WITH kept outermost.
        assert_eq!(
            rewritten("WITH c AS (SELECT * FROM t UNION ALL SELECT * FROM t OFFSET 2) SELECT count(*) FROM c"),
            "WITH c AS (SELECT * FROM (SELECT * FROM t UNION ALL SELECT * FROM t OFFSET 2) AS __floe_limited_0 \
             WHERE __floe_limited_0.\"id\" IS NULL OR __floe_limited_0.\"id\" IS NOT NULL) SELECT count(*) FROM c"
        );
        assert!(rewritten("SELECT 1 WHERE EXISTS (WITH w AS (SELECT 1 AS one) SELECT k FROM u UNION ALL SELECT id FROM t LIMIT 1)")
            .contains("EXISTS (WITH w AS (SELECT 1 AS one) SELECT * FROM (SELECT k FROM u"));
    }

    #[test]
    fn the_statements_own_ordered_distinct_or_unknown_slices_stay() {
        for sql in [
            "SELECT id FROM t UNION ALL SELECT k FROM u LIMIT 3",
            "SELECT count(*) FROM (SELECT id FROM t UNION ALL SELECT k FROM u ORDER BY 1 LIMIT 3) AS c",
            "SELECT count(*) FROM (SELECT id FROM t UNION SELECT k FROM u LIMIT 3) AS c",
            "SELECT count(*) FROM (SELECT id FROM t LIMIT 3) AS c",
            "SELECT count(*) FROM (SELECT * FROM x UNION ALL SELECT * FROM x LIMIT 3) AS c",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
