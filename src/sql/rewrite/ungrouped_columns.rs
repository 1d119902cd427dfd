//! A query that aggregates without GROUP BY is one group, so a column it
//! reads outside its aggregates has no one value and SQL refuses it.
//! polars-sql answered `SELECT region, count(*) FROM t` with the count beside
//! every row's region, as if `count(*) OVER ()` were written: as many rows as
//! the table, where the user asked for one, instead of an error naming the
//! mistake.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, Statement};

use super::aggregates::{aggregate_call, holds_aggregate, opens_subquery, window_call};
use super::resolver::factors;
use super::scope::relation_qualifier;
use crate::sql::visit::{Visit, Visitor};
use crate::sql::{Error, Result};

/// Refuses an aggregating SELECT without GROUP BY that reads a column of its
/// own relations outside its aggregates, windows and subqueries.
pub(super) fn refuse(statement: &Statement) -> Result<()> {
    match statement.visit(&mut Ungrouped { in_expression: 0 }) {
        ControlFlow::Break(refused) => Err(refused),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Ungrouped {
    /// How deep inside expressions' subqueries, whose unqualified names may
    /// be an enclosing query's columns (one value per evaluation).
    in_expression: usize,
}

impl Visitor for Ungrouped {
    type Break = Error;

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
        self.in_expression += usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
        self.in_expression -= usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Error> {
        let mut selects = Vec::new();
        branches(&query.body, &mut selects);
        for select in selects {
            if let Some(column) = ungrouped_column(select, self.in_expression > 0) {
                return ControlFlow::Break(Error::Invalid(format!(
                    "column {column} must appear in the GROUP BY clause or be used in an aggregate function: the query \
                     aggregates without GROUP BY, so it answers one row; add GROUP BY {column}, or aggregate it (any_value({column}))"
                )));
            }
        }
        ControlFlow::Continue(())
    }
}

fn branches<'a>(body: &'a SetExpr, selects: &mut Vec<&'a Select>) {
    match body {
        SetExpr::Select(select) => selects.push(select),
        SetExpr::Query(query) => branches(&query.body, selects),
        SetExpr::SetOperation { left, right, .. } => {
            branches(left, selects);
            branches(right, selects);
        }
        _ => {}
    }
}

/// The first item of `select` that is a column read outside its aggregates,
/// where `select` aggregates without GROUP BY; `*` stands for every column.
fn ungrouped_column(select: &Select, nested: bool) -> Option<String> {
    let ungrouped = matches!(&select.group_by, GroupByExpr::Expressions(keys, modifiers) if keys.is_empty() && modifiers.is_empty());
    let items = || select.projection.iter().filter_map(super::scope::item_expr);
    if !ungrouped || !(select.having.is_some() || items().any(holds_aggregate)) {
        return None;
    }
    if let Some(SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)) =
        select.projection.iter().find(|item| matches!(item, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)))
    {
        return Some("*".into());
    }
    let qualifiers: Vec<String> = factors(&select.from).filter_map(relation_qualifier).map(|q| q.value.to_ascii_lowercase()).collect();
    // `SELECT count(*) AS n, n + 1`: an earlier item's name is no column.
    let aliases: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| if let SelectItem::ExprWithAlias { alias, .. } = item { Some(alias.value.to_ascii_lowercase()) } else { None })
        .collect();
    let own = |expr: &Expr| match expr {
        Expr::Identifier(ident) => !nested && !aliases.contains(&ident.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(parts) => {
            let qualifier = parts.len().checked_sub(2).and_then(|at| parts.get(at));
            qualifier.is_some_and(|q| qualifiers.contains(&q.value.to_ascii_lowercase()))
        }
        _ => false,
    };
    items().find_map(|item| bare_column(item, &own))
}

/// A column `own` claims in `expr`, outside aggregates, windows and subqueries.
fn bare_column(expr: &Expr, own: &dyn Fn(&Expr) -> bool) -> Option<String> {
    struct Bare<'a> {
        own: &'a dyn Fn(&Expr) -> bool,
        inside: usize,
    }
    impl Visitor for Bare<'_> {
        type Break = String;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            if aggregate_call(expr) || window_call(expr) || opens_subquery(expr) {
                self.inside += 1;
            }
            match self.inside == 0 && (self.own)(expr) {
                true => ControlFlow::Break(expr.to_string()),
                false => ControlFlow::Continue(()),
            }
        }
        fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            if aggregate_call(expr) || window_call(expr) || opens_subquery(expr) {
                self.inside -= 1;
            }
            ControlFlow::Continue(())
        }
    }
    match expr.visit(&mut Bare { own, inside: 0 }) {
        ControlFlow::Break(column) => Some(column),
        ControlFlow::Continue(()) => None,
    }
}

#[cfg(test)]
mod tests {
    fn refused(sql: &str) -> Option<String> {
        let statement = crate::sql::parse::parse_single(sql).unwrap();
        super::refuse(&statement).err().map(|err| err.to_string())
    }

    #[test]
    fn a_column_beside_an_aggregate_without_group_by_is_refused() {
        for (sql, column) in [
            ("SELECT region, count(*) FROM t", "region"),
            ("SELECT t.region || 'x', sum(b) FROM t", "t.region"),
            ("SELECT *, count(*) FROM t", "*"),
            ("SELECT a FROM t HAVING count(*) > 1", "a"),
            ("SELECT x FROM u WHERE x IN (SELECT s.v + max(s.w) FROM s)", "s.v"),
            ("SELECT 1 FROM t UNION ALL SELECT a + count(*) FROM t", "a"),
        ] {
            let err = refused(sql).unwrap_or_else(|| panic!("{sql} was not refused"));
            assert!(err.contains(&format!("column {column} must appear in the GROUP BY clause")), "{sql}: {err}");
        }
    }

    #[test]
    fn aggregates_constants_windows_and_outer_columns_are_not() {
        for sql in [
            "SELECT count(*), 1, 'x', sum(a) + 2 FROM t",
            "SELECT region, count(*) FROM t GROUP BY region",
            "SELECT region, count(*) OVER () FROM t",
            "SELECT count(*) AS n, n + 1 FROM t",
            "SELECT current_date, now(), count(*) FROM t",
            "SELECT count(*) FILTER (WHERE a > 1), max(b) FROM t",
            // An outer query's column is one value in each evaluation.
            "SELECT a FROM t WHERE b > (SELECT avg(c) + a FROM u)",
            "SELECT a FROM t WHERE b > (SELECT avg(u.c) + t.a FROM u)",
            "SELECT (SELECT max(x) FROM u) AS m, a FROM t",
            "SELECT region FROM t GROUP BY ALL",
            "SELECT count(*) FROM t GROUP BY ROLLUP (a)",
        ] {
            assert_eq!(refused(sql), None, "{sql}");
        }
    }
}
