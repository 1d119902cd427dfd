//! The DATE columns of a statement's derived tables and CTEs, by the names
//! they give them: `d.v + 3` reads a date the query computed
//! (`SELECT CAST(… AS DATE) AS v …`), which the catalog's columns do not
//! tell, and polars-sql refused it ("+ not allowed on date and dyn int").

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, Statement, TableAlias, TableFactor};

use crate::sql::visit::{Visit, Visitor};
use super::super::scope::{item_expr, leftmost_select, output_names, ColumnKind, Columns};

/// `columns` and, as relations of their own, the outputs of the statement's
/// derived tables and CTEs that `is_date` finds dates; `None` where there
/// are none. Only dates are added: a name that is a date in one relation
/// and of another kind in another is then of no kind (`Columns::insert`), so
/// nothing reading it is taken for a date.
pub(super) fn with_derived_dates(statement: &Statement, columns: &Columns, is_date: impl Fn(&Columns, &Expr) -> bool) -> Option<Columns> {
    let outputs = outputs(statement);
    if outputs.is_empty() {
        return None;
    }
    let mut known = columns.clone();
    // Twice: a derived table may read the dates of another.
    for _ in 0..2 {
        let mut next = columns.clone();
        for (position, (names, items)) in outputs.iter().enumerate() {
            let dates: Vec<String> = names.iter().zip(items).filter(|(_, item)| is_date(&known, item)).map(|(name, _)| name.clone()).collect();
            if !dates.is_empty() {
                let kinds = vec![ColumnKind::Date; dates.len()];
                next.insert(vec!["__floe_derived".to_string(), position.to_string()], dates, &kinds);
            }
        }
        known = next;
    }
    Some(known)
}

/// Copies: a visitor's nodes do not live as long as the statement.
type Output = (Vec<String>, Vec<Expr>);

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
    let select = leftmost_select(&query.body)?;
    let items: Vec<Expr> = select.projection.iter().map(|item| item_expr(item).cloned()).collect::<Option<_>>()?;
    let names: Vec<String> = match alias.map(|alias| &alias.columns) {
        Some(columns) if !columns.is_empty() => columns.iter().map(|column| column.name.value.clone()).collect(),
        _ => output_names(select).into_iter().collect::<Option<_>>()?,
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
        // A name that is a date in one relation and a number in another is neither.
        let sql = "SELECT s.n + 1 FROM s JOIN (SELECT day AS n FROM s) AS d ON true";
        assert_eq!(rewritten(sql, &columns), sql);
    }
}
