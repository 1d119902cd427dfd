//! Subqueries inside expressions (`x IN (SELECT …)`, `EXISTS (…)`, a
//! scalar one left after `subquery.rs`) that need Floe's functions — a
//! window whose frame ends at a peer or reaches by value or whose NULLs sort
//! otherwise than Polars sorts them, an integer cast of
//! a column, a scalar function of Floe's (`md5`, `initcap`, …) — moved into CTEs of their own and read back (`SELECT *`, or
//! the one column by name).
//! polars-sql plans an expression's subquery in a context without Floe's
//! functions; a top-level CTE Floe hands it apart, with them (`sql/parts.rs`).
//! Only subqueries that read nothing of the query around them can move.

use std::ops::ControlFlow;

use sqlparser::ast::{Cte, Expr, Ident, Query, Statement};
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

use super::resolver::Resolver;
use super::scope::{leftmost_select, output_names, parse_cte, parse_query, Columns};

pub(super) fn expression_subqueries(statement: &mut Statement, columns: &Columns) {
    let Statement::Query(query) = statement else { return };
    if query.with.as_ref().is_some_and(|with| with.recursive) {
        return;
    }
    let mut lifter = Lifter { resolver: Resolver::new(query, columns), ctes: Vec::new() };
    let _ = query.visit(&mut lifter);
    super::subquery::add_ctes(query, lifter.ctes);
}

struct Lifter<'a> {
    resolver: Resolver<'a>,
    ctes: Vec<Cte>,
}

impl VisitorMut for Lifter<'_> {
    type Break = ();

    /// After the expression's own subqueries: inner ones move first, and an
    /// outer one that read them reads their CTEs.
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let subquery = match expr {
            Expr::InSubquery { subquery, .. } | Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => subquery,
            _ => return ControlFlow::Continue(()),
        };
        if subquery.with.is_none() && needs_floe_functions(subquery) && self.resolver.self_contained(subquery) {
            self.lift(subquery);
        }
        ControlFlow::Continue(())
    }
}

impl Lifter<'_> {
    fn lift(&mut self, subquery: &mut Query) {
        let name = format!("__floe_l{}", self.ctes.len() + 1);
        let names: Option<Vec<String>> = leftmost_select(&subquery.body).and_then(|select| output_names(select).into_iter().collect());
        // A column by name, not `*`: polars-sql joins `x IN (SELECT c FROM
        // …)` as a semi join, and tests `*`'s set for NULL with a
        // `list.contains` it cannot type for DECIMAL values.
        let read = match names.as_deref() {
            Some([column]) => format!("{name}.{}", Ident::with_quote('"', column)),
            _ => "*".to_string(),
        };
        let (Some(cte), Some(reference)) = (parse_cte(&name, &subquery.to_string()), parse_query(&format!("SELECT {read} FROM {name}")))
        else {
            return;
        };
        // Its columns, for the enclosing subquery's own check.
        if let Some(names) = names {
            self.resolver.cte_columns.insert(name, names);
        }
        *subquery = reference;
        self.ctes.push(cte);
    }
}

/// Whether anything in `query` computes only with Floe's functions.
fn needs_floe_functions(query: &Query) -> bool {
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let window = matches!(expr, Expr::Function(function)
                if super::window_functions::needs_floe_functions(function) || super::window_functions::nulls::needs_rank_order(function)
                    || super::scalars::called(function).is_some());
            if window || super::rounding::needs_floe_function(expr) {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    query.visit(&mut Finder).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifted(sql: &str) -> String {
        let mut columns = Columns::default();
        columns.insert(vec!["t".into()], vec!["x".into(), "o".into()], &[]);
        columns.insert(vec!["u".into()], vec!["y".into()], &[]);
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        expression_subqueries(&mut statement, &columns);
        statement.to_string()
    }

    #[test]
    fn subqueries_needing_floe_functions_move_into_ctes() {
        assert_eq!(
            lifted("SELECT * FROM u WHERE y IN (SELECT sum(x) OVER (ORDER BY o) FROM t)"),
            "WITH __floe_l1 AS (SELECT sum(x) OVER (ORDER BY o) FROM t) SELECT * FROM u WHERE y IN (SELECT * FROM __floe_l1)"
        );
        assert_eq!(
            lifted("SELECT * FROM u WHERE y IN (SELECT CAST(x AS INT) FROM t)"),
            "WITH __floe_l1 AS (SELECT CAST(x AS INT) FROM t) SELECT * FROM u WHERE y IN (SELECT * FROM __floe_l1)"
        );
        // A ranking over a key that may be NULL: Polars would rank the NULL rows NULL.
        assert!(lifted("SELECT * FROM u WHERE y IN (SELECT rank() OVER (ORDER BY o) FROM t)").starts_with("WITH __floe_l1"));
        // A named column is read by name (polars-sql joins it).
        assert_eq!(
            lifted("SELECT * FROM u WHERE y IN (SELECT CAST(x AS INT) AS v FROM t)"),
            "WITH __floe_l1 AS (SELECT CAST(x AS INT) AS v FROM t) SELECT * FROM u WHERE y IN (SELECT __floe_l1.\"v\" FROM __floe_l1)"
        );
        // ROWS frames too: out of reach, only short ones run (from their neighbours, row by row).
        assert!(lifted("SELECT * FROM u WHERE y IN (SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t)").starts_with("WITH __floe_l1"));
        // Floe's scalar functions.
        assert_eq!(
            lifted("SELECT * FROM u WHERE y IN (SELECT md5(t.x) FROM t)"),
            "WITH __floe_l1 AS (SELECT md5(t.x) FROM t) SELECT * FROM u WHERE y IN (SELECT * FROM __floe_l1)"
        );
        // After the CTEs it reads.
        let sql = lifted("WITH c AS (SELECT x FROM t) SELECT * FROM u WHERE EXISTS (SELECT 1 FROM c WHERE CAST(x AS INT) = 2)");
        assert!(sql.starts_with("WITH c AS (SELECT x FROM t), __floe_l1 AS (SELECT 1 FROM c"), "{sql}");
    }

    #[test]
    fn other_subqueries_stay() {
        for sql in [
            // Correlated: reads the outer y.
            "SELECT * FROM u WHERE y IN (SELECT sum(x) OVER (ORDER BY o) FROM t WHERE x = y)",
            // Nothing of Floe's in it.
            "SELECT * FROM u WHERE y IN (SELECT row_number() OVER (ORDER BY o DESC) FROM t)",
            "SELECT * FROM u WHERE y IN (SELECT CAST(x * 2 AS INT) FROM t)",
        ] {
            assert!(!lifted(sql).contains("__floe_l"), "{sql}");
        }
    }
}
