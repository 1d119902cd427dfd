//! Join conditions polars-sql cannot plan (`LEFT JOIN orders ON c_key = o_key
//! AND o_comment NOT LIKE '%x%'`): conjuncts that read only the joined
//! relation move into a derived table that filters it first, leaving the
//! equalities polars-sql joins on. For a LEFT or INNER join that is exactly
//! the same result: the filter decides which right rows can match.

use sqlparser::ast::{
    Expr, JoinConstraint, JoinOperator, Query, SetExpr, Statement, TableFactor, Visit, Visitor, VisitorMut,
};

use super::scope::*;

pub(super) fn push_into_joined_relations(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Pusher { resolver });
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
