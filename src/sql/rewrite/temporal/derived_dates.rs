//! The DATE columns of a statement's derived tables and CTEs, by the names
//! they give them: `d.v + 3` reads a date the query computed
//! (`SELECT CAST(… AS DATE) AS v …`), which the catalog's columns do not
//! tell, and polars-sql refused it ("+ not allowed on date and dyn int").

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, Statement, TableAlias, TableFactor};

use crate::sql::visit::{Visit, Visitor};
use super::super::scope::{item_expr, leftmost_select, output_names, ColumnKind, Columns};

/// `columns` and, as relations of their own, the outputs of the statement's
/// derived tables and CTEs: dates where `is_date` finds them, the rest of
/// no kind; `None` where there are none. A name given kinds that differ is
/// of no kind (`Columns::insert`), so only a name that is a date wherever it
/// occurs is taken for one; a derived table's other output named as a
/// catalog date is left out (where the catalog's column is read, as before).
pub(super) fn with_derived_dates(statement: &Statement, columns: &Columns, is_date: impl Fn(&Columns, &Expr) -> bool) -> Option<Columns> {
    let outputs = outputs(statement);
    if outputs.is_empty() {
        return None;
    }
    let mut known = columns.clone();
    let mut dates_before = None;
    // Until no more are found: a derived table may read the dates of another.
    for _ in 0..=outputs.len() {
        let mut next = columns.clone();
        let mut dates = Vec::new();
        for (position, (names, items)) in outputs.iter().enumerate() {
            let kinds: Vec<Option<ColumnKind>> = names
                .iter()
                .zip(items)
                .map(|(name, item)| match item {
                    Some(item) if is_date(&known, item) => Some(ColumnKind::Date),
                    _ if columns.is_date(name) => None,
                    _ => Some(ColumnKind::Other),
                })
                .collect();
            let (names, kinds): (Vec<String>, Vec<ColumnKind>) = names.iter().zip(&kinds).filter_map(|(name, kind)| Some((name.clone(), (*kind)?))).unzip();
            dates.extend(names.iter().zip(&kinds).filter(|(_, kind)| **kind == ColumnKind::Date).map(|(name, _)| (position, name.clone())));
            next.insert(vec!["__floe_derived".to_string(), position.to_string()], names, &kinds);
        }
        known = next;
        if dates_before.as_ref() == Some(&dates) {
            break;
        }
        dates_before = Some(dates);
    }
    Some(known)
}

/// Copies: a visitor's nodes do not live as long as the statement. An
/// item is `None` where the body is no SELECT (`VALUES`): its names are of
/// no kind.
type Output = (Vec<String>, Vec<Option<Expr>>);

/// Each derived table's and CTE's output names and the items of its first
/// SELECT, where every one is named.
fn outputs(statement: &Statement) -> Vec<Output> {
    struct Outputs(Vec<Output>);
    impl Visitor for Outputs {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            for cte in query.with.iter().flat_map(|with| &with.cte_tables) {
                self.0.extend(output(&cte.query, Some(&cte.alias)));
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Derived { subquery, alias, .. } = factor {
                self.0.extend(output(subquery, alias.as_ref()));
            }
            ControlFlow::Continue(())
        }
    }
    let mut found = Outputs(Vec::new());
    let _ = statement.visit(&mut found);
    found.0
}

fn output(query: &Query, alias: Option<&TableAlias>) -> Option<Output> {
    let renamed: Option<Vec<String>> = alias.filter(|alias| !alias.columns.is_empty()).map(|alias| alias.columns.iter().map(|column| column.name.value.clone()).collect());
    let Some(select) = leftmost_select(&query.body) else {
        return renamed.map(|names| (names.clone(), vec![None; names.len()]));
    };
    let items: Vec<Option<Expr>> = select.projection.iter().map(|item| item_expr(item).cloned().map(Some)).collect::<Option<_>>()?;
    let names = match renamed {
        Some(names) => names,
        None => output_names(select).into_iter().collect::<Option<_>>()?,
    };
    (names.len() == items.len()).then_some((names, items))
}

#[cfg(test)]
mod tests {
    use crate::sql::rewrite::scope::{rewritten_over, ColumnKind, Columns};

    fn rewritten(sql: &str, columns: &Columns) -> String {
        rewritten_over(sql, columns, super::super::date_arithmetic)
    }

    #[test]
    fn dates_a_query_computes_move_by_days() {
        let mut columns = Columns::default();
        columns.insert(vec!["s".into()], vec!["day".into(), "n".into()], &[ColumnKind::Date, ColumnKind::Integer]);
        assert_eq!(
            rewritten("SELECT d.v + -3, d.n + 1 FROM (SELECT CASE WHEN n > 1 THEN DATE '2023-09-12' ELSE day END AS v, n FROM s) AS d", &columns),
            "SELECT d.v - INTERVAL '3 days', d.n + 1 FROM (SELECT CASE WHEN n > 1 THEN DATE '2023-09-12' ELSE day END AS v, n FROM s) AS d"
        );
        // Through a CTE's column list, and a derived table over it.
        assert_eq!(
            rewritten("WITH c(w) AS (SELECT max(day) FROM s) SELECT e.x + 1 FROM (SELECT w AS x FROM c) AS e", &columns),
            "WITH c (w) AS (SELECT max(day) FROM s) SELECT e.x + INTERVAL '1 days' FROM (SELECT w AS x FROM c) AS e"
        );
        // A name that is a date in one relation and a number in another is neither:
        // a catalog column's, a derived table's, a CTE's, a VALUES list's.
        for sql in [
            "SELECT s.n + 1 FROM s JOIN (SELECT day AS n FROM s) AS d ON true",
            "WITH a AS (SELECT max(day) AS v FROM s), b AS (SELECT count(*) AS v FROM s) SELECT b.v + 1 FROM a, b",
            "SELECT t.v + 1 FROM (VALUES (1), (2)) AS t (v), (SELECT max(day) AS v FROM s) AS u",
        ] {
            assert_eq!(rewritten(sql, &columns), sql);
        }
        // Through a chain of CTEs.
        assert!(rewritten("WITH a AS (SELECT day AS v FROM s), b AS (SELECT v AS w FROM a), c AS (SELECT w AS z FROM b) SELECT z + 1 FROM c", &columns)
            .ends_with("SELECT z + INTERVAL '1 days' FROM c"));
    }
}
