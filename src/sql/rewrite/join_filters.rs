//! Join conditions polars-sql cannot plan (`LEFT JOIN orders ON c_key = o_key
//! AND o_comment NOT LIKE '%x%'`): conjuncts that read only the joined
//! relation move into a derived table that filters it first, leaving the
//! equalities polars-sql joins on. For a LEFT or INNER join that is exactly
//! the same result: the filter decides which right rows can match.
//!
//! Likewise a WHERE conjunct `c IN (SELECT …)` over a join chain, where `c`
//! is a column of one joined table and the subquery reads only its own
//! relations: polars-sql semi-joins it after every join, so the whole chain
//! is built first (TPC-H 18 joined all of `lineitem` to `orders` before
//! keeping 57 orders). Filtering that table first, in a derived table, is
//! the same result for inner joins.

use sqlparser::ast::{Expr, JoinConstraint, JoinOperator, Query, SetExpr, Statement, TableFactor};
use crate::sql::visit::{Visit, Visitor, VisitorMut};

use super::scope::*;

pub(super) fn push_into_joined_relations(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Pusher { resolver });
}

/// Runs once the comma lists are join chains.
pub(super) fn semi_joins_first(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| SemiJoins { resolver });
}

struct SemiJoins<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for SemiJoins<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        for select in selects_mut(query.body.as_mut()) {
            self.filter_tables_first(select);
        }
        std::ops::ControlFlow::Continue(())
    }
}

impl SemiJoins<'_> {
    fn filter_tables_first(&self, select: &mut sqlparser::ast::Select) {
        let [table] = select.from.as_mut_slice() else { return };
        let inner_only = table.joins.iter().all(|j| matches!(j.join_operator, JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)));
        let (false, true, Some(selection)) = (table.joins.is_empty(), inner_only, &select.selection) else { return };
        let Some(scopes) = self.resolver.scopes(std::slice::from_ref(table)) else { return };
        let mut kept = Vec::new();
        let mut moved = false;
        for conjunct in conjuncts(selection) {
            let owner = match conjunct {
                Expr::InSubquery { expr, subquery, negated: false } if self.resolver.self_contained(subquery) => owner(expr, &scopes),
                _ => None,
            };
            let derived = owner.and_then(|i| filtered(factor_at(table, i), &scopes[i], conjunct).map(|d| (i, d)));
            match derived {
                Some((i, derived)) => {
                    *factor_at(table, i) = derived;
                    moved = true;
                }
                None => kept.push(conjunct.to_string()),
            }
        }
        if moved {
            select.selection = if kept.is_empty() { None } else { parse_expr(&kept.join(" AND ")) };
        }
    }
}

fn factor_at(table: &mut sqlparser::ast::TableWithJoins, index: usize) -> &mut TableFactor {
    match index {
        0 => &mut table.relation,
        i => &mut table.joins[i - 1].relation,
    }
}

/// `factor` (a table) as a derived table of its rows that pass `filter`.
pub(super) fn filtered(factor: &TableFactor, scope: &Scope, filter: &Expr) -> Option<TableFactor> {
    let TableFactor::Table { alias, .. } = factor else { return None };
    let qualifier = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| scope.qualifier.clone());
    let parsed = parse_query(&format!("SELECT 1 FROM (SELECT * FROM {factor} WHERE {filter}) AS {qualifier}"))?;
    match *parsed.body {
        SetExpr::Select(s) => s.from.into_iter().next().map(|t| t.relation),
        _ => None,
    }
}

struct Pusher<'a> {
    resolver: Resolver<'a>,
}

/// Whether every column `expr` reads belongs to `right` and to none of `left`.
fn reads_only(expr: &Expr, right: &Scope, left: &[Scope]) -> bool {
    struct Check<'a> {
        right: &'a Scope,
        left: &'a [Scope],
        columns: usize,
        foreign: bool,
    }
    impl Visitor for Check<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            let mine = match expr {
                Expr::Identifier(ident) => {
                    self.right.has_column(&ident.value) && !self.left.iter().any(|s| s.has_column(&ident.value))
                }
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => parts[0].value.eq_ignore_ascii_case(&self.right.qualifier),
                Expr::CompoundIdentifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => false,
                _ => return std::ops::ControlFlow::Continue(()),
            };
            self.columns += 1;
            if mine {
                std::ops::ControlFlow::Continue(())
            } else {
                self.foreign = true;
                std::ops::ControlFlow::Break(())
            }
        }
    }
    let mut check = Check { right, left, columns: 0, foreign: false };
    let _ = expr.visit(&mut check);
    check.columns > 0 && !check.foreign
}

impl VisitorMut for Pusher<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        for select in selects_mut(query.body.as_mut()) {
            self.push_down(select);
        }
        std::ops::ControlFlow::Continue(())
    }
}

impl Pusher<'_> {
    fn push_down(&mut self, select: &mut sqlparser::ast::Select) {
        for table in &mut select.from {
            let Some(mut left) = self.resolver.scope(&table.relation).map(|s| vec![s]) else { continue };
            for join in &mut table.joins {
                let Some(right) = self.resolver.scope(&join.relation) else { break };
                if let (TableFactor::Table { alias, .. }, Some(constraint)) = (&join.relation, on_constraint(&mut join.join_operator)) {
                    let (pushed, kept): (Vec<&Expr>, Vec<&Expr>) =
                        conjuncts(constraint).into_iter().partition(|c| reads_only(c, &right, &left));
                    if !pushed.is_empty() && !kept.is_empty() {
                        let relation = join.relation.to_string();
                        let qualifier = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| right.qualifier.clone());
                        let filter = pushed.iter().map(ToString::to_string).collect::<Vec<_>>().join(" AND ");
                        let kept = kept.iter().map(ToString::to_string).collect::<Vec<_>>().join(" AND ");
                        let derived = parse_query(&format!("SELECT 1 FROM (SELECT * FROM {relation} WHERE {filter}) AS {qualifier}"))
                            .and_then(|q| match *q.body {
                                SetExpr::Select(s) => s.from.into_iter().next().map(|t| t.relation),
                                _ => None,
                            });
                        if let (Some(derived), Some(kept)) = (derived, parse_expr(&kept)) {
                            join.relation = derived;
                            *constraint = kept;
                        }
                    }
                }
                left.push(right);
            }
        }
    }
}

/// The ON condition of an inner or left join (where moving right-only filters is exact).
fn on_constraint(operator: &mut JoinOperator) -> Option<&mut Expr> {
    match operator {
        JoinOperator::Join(JoinConstraint::On(expr))
        | JoinOperator::Inner(JoinConstraint::On(expr))
        | JoinOperator::Left(JoinConstraint::On(expr))
        | JoinOperator::LeftOuter(JoinConstraint::On(expr)) => Some(expr),
        _ => None,
    }
}
