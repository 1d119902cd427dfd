//! Columns inside subqueries, qualified by the relation they belong to.
//! polars-sql resolves a subquery's bare column names against the outer
//! query's joins as well, so `a.x IN (SELECT x FROM t)` under
//! `FROM t AS a JOIN t AS b` is "ambiguous" to it although SQL scoping says the
//! nearest FROM wins. Qualifying each name that one relation of the
//! subquery's own FROM has is exactly that scoping rule, made explicit.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Ident, JoinConstraint, Query, Select, Statement};
use crate::sql::visit::{visit_expressions_mut, VisitorMut};

use super::scope::*;

pub(super) fn subquery_columns(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Qualify { resolver, depth: 0 });
}

struct Qualify<'a> {
    resolver: Resolver<'a>,
    depth: usize,
}

impl VisitorMut for Qualify<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        // The top-level query keeps its names as written.
        if self.depth == 0 {
            return ControlFlow::Continue(());
        }
        for select in selects_mut(query.body.as_mut()) {
            self.qualify(select);
        }
        ControlFlow::Continue(())
    }
}

impl Qualify<'_> {
    /// Qualifies the bare names of one SELECT's clauses, its joins' ON
    /// conditions included. The names inside its subqueries that are still
    /// bare (their own FROM was qualified first, post-order) are the outer
    /// references, which this SELECT's FROM resolves.
    fn qualify(&self, select: &mut Select) {
        let Some(scopes) = self.resolver.scopes(&select.from) else { return };
        let mut qualify = |expr: &mut Expr| {
            if let Expr::Identifier(ident) = expr {
                let mut owners = scopes.iter().filter(|s| s.has_column(&ident.value));
                if let (Some(scope), None) = (owners.next(), owners.next()) {
                    *expr = Expr::CompoundIdentifier(vec![Ident::new(scope.qualifier.clone()), ident.clone()]);
                }
            }
            ControlFlow::<()>::Continue(())
        };
        for join in select.from.iter_mut().flat_map(|t| t.joins.iter_mut()) {
            if let Some(JoinConstraint::On(on)) = join_constraint(&mut join.join_operator) {
                let _ = visit_expressions_mut(on, &mut qualify);
            }
        }
        if let Some(selection) = &mut select.selection {
            let _ = visit_expressions_mut(selection, &mut qualify);
        }
        if let Some(having) = &mut select.having {
            let _ = visit_expressions_mut(having, &mut qualify);
        }
        let _ = visit_expressions_mut(&mut select.projection, &mut qualify);
        if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
            let _ = visit_expressions_mut(exprs, &mut qualify);
        }
    }
}
