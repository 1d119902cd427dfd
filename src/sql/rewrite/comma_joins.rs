//! `FROM a, b, c WHERE a.x = b.x AND b.y = c.y AND …` as explicit inner joins
//! (`a JOIN b ON a.x = b.x JOIN c ON b.y = c.y`). polars-sql plans a comma
//! list as cross products and relies on its optimiser to turn the equalities
//! back into joins, which fails once the WHERE also holds a subquery
//! predicate (TPC-H 18: a cross product that never finishes). Inner joins on
//! the same equalities are the same relation, so the rewrite is exact.
//! Relations join in the order written, each as soon as an equality links it
//! to those already joined; one with no link is cross-joined, as written.

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, SetExpr, Statement, VisitorMut};

use super::scope::*;

pub(super) fn make_explicit(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Explicit { resolver });
}

struct Explicit<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Explicit<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        for select in selects_mut(query.body.as_mut()) {
            explicit_joins(select, &self.resolver);
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Rewrites one SELECT's comma list; returns whether its FROM is now one join chain.
pub(super) fn explicit_joins(select: &mut Select, resolver: &Resolver) -> bool {
    {
        if select.from.len() < 2 || select.from.iter().any(|t| !t.joins.is_empty()) {
            return select.from.len() == 1;
        }
        let (Some(scopes), Some(selection)) = (resolver.scopes(&select.from), &select.selection) else {
            return false;
        };
        let mut edges = Vec::new();
        let mut residual = Vec::new();
        for conjunct in conjuncts(selection) {
            let mut bare = conjunct;
            while let Expr::Nested(inner) = bare {
                bare = inner;
            }
            let link = match bare {
                Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => match (owner(left, &scopes), owner(right, &scopes)) {
                    (Some(a), Some(b)) if a != b => Some((a, b)),
                    _ => None,
                },
                _ => None,
            };
            match link {
                // polars-sql's ON takes no parentheses around an equality.
                Some((a, b)) => edges.push((a, b, bare.to_string(), false)),
                None => residual.push(conjunct.to_string()),
            }
        }
        if edges.is_empty() {
            return false;
        }
        let mut joined = vec![0usize];
        let mut sql = format!("SELECT 1 FROM {}", select.from[0]);
        while joined.len() < scopes.len() {
            let linked = (0..scopes.len())
                .filter(|r| !joined.contains(r))
                .find(|r| edges.iter().any(|(a, b, _, _)| (a == r && joined.contains(b)) || (b == r && joined.contains(a))));
            let next = linked.unwrap_or_else(|| (0..scopes.len()).find(|r| !joined.contains(r)).expect("one is left"));
            let mut on = Vec::new();
            for (a, b, condition, used) in &mut edges {
                if !*used && ((*a == next && joined.contains(b)) || (*b == next && joined.contains(a))) {
                    on.push(condition.clone());
                    *used = true;
                }
            }
            joined.push(next);
            if on.is_empty() {
                sql.push_str(&format!(" CROSS JOIN {}", select.from[next]));
            } else {
                sql.push_str(&format!(" JOIN {} ON {}", select.from[next], on.join(" AND ")));
            }
        }
        // An equality between relations joined earlier (a cycle) stays a filter.
        residual.extend(edges.into_iter().filter(|e| !e.3).map(|e| e.2));
        let Some(mut parsed) = parse_query(&sql) else { return false };
        let SetExpr::Select(parsed_select) = parsed.body.as_mut() else { return false };
        let filter = if residual.is_empty() { None } else { parse_expr(&residual.join(" AND ")) };
        if !residual.is_empty() && filter.is_none() {
            return false;
        }
        select.from = std::mem::take(&mut parsed_select.from);
        select.selection = filter;
        true
    }
}
