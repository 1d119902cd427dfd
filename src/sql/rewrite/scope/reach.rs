//! Where Floe's registered functions reach: which queries of a statement
//! polars-sql is handed on their own, with those functions registered.

use sqlparser::ast::{Query, Select, SetExpr, TableFactor};

use super::factors;

/// Whether an expression is planned where Floe's registered functions
/// (`sql::functions`) reach: a query polars-sql is handed on its own, or
/// each SELECT of it — the statement's, its top-level CTEs', and those of
/// derived tables in the FROM of such a query (`sql/parts.rs`). polars-sql
/// plans the rest (subqueries of expressions) in contexts of their own,
/// which lack them. A visitor calls `enter` and `leave` on each query.
#[derive(Default)]
pub(crate) struct FunctionReach {
    /// For each query being visited, whether it reaches.
    stack: Vec<bool>,
    /// Queries handed over on their own, by address (stable while visiting).
    handed_over: Vec<*const Query>,
}

impl FunctionReach {
    pub fn enter(&mut self, query: &Query) {
        let top = self.stack.is_empty();
        if top {
            let ctes = query.with.iter().filter(|with| !with.recursive).flat_map(|with| &with.cte_tables);
            self.handed_over = ctes.map(|cte| &*cte.query as *const Query).collect();
        }
        let branches = branch_selects(query.body.as_ref());
        let reaches = branches.is_some() && (top || self.handed_over.contains(&(query as *const Query)));
        let (selects, parenthesized) = branches.filter(|_| reaches).unwrap_or_default();
        for select in selects {
            for subquery in factors(&select.from).filter_map(handed_over_derived) {
                self.handed_over.push(subquery as *const Query);
            }
        }
        self.handed_over.extend(parenthesized.into_iter().map(|branch| branch as *const Query));
        self.stack.push(reaches);
    }

    pub fn leave(&mut self) {
        self.stack.pop();
    }

    pub fn reaches(&self) -> bool {
        self.stack.last().copied().unwrap_or(false)
    }
}

/// The query of a derived table Floe hands polars-sql on its own
/// (`sql/parts.rs`): not LATERAL, named, not sampled.
pub(crate) fn handed_over_derived(factor: &TableFactor) -> Option<&Query> {
    match factor {
        TableFactor::Derived { lateral: false, subquery, alias: Some(_), sample: None } => Some(subquery),
        _ => None,
    }
}

/// The SELECTs of a body made only of SELECTs and set operations.
fn branch_selects(body: &SetExpr) -> Option<(Vec<&Select>, Vec<&Query>)> {
    match body {
        SetExpr::Select(select) => Some((vec![select.as_ref()], Vec::new())),
        SetExpr::SetOperation { left, right, .. } => {
            let (mut selects, mut parenthesized) = branch(left)?;
            let (more, others) = branch(right)?;
            selects.extend(more);
            parenthesized.extend(others);
            Some((selects, parenthesized))
        }
        // A query around a parenthesized one, which polars-sql plans in its own context.
        SetExpr::Query(query) => Some((Vec::new(), vec![query.as_ref()])),
        _ => None,
    }
}

/// A set operation's branch: a parenthesized query is handed over whole.
fn branch(body: &SetExpr) -> Option<(Vec<&Select>, Vec<&Query>)> {
    match body {
        SetExpr::Query(query) => Some((Vec::new(), vec![query.as_ref()])),
        other => branch_selects(other),
    }
}
