//! A scalar subquery beside the aggregates of a query without GROUP BY
//! (`SELECT sum(x) / (SELECT sum(x) FROM t) FROM t WHERE …`). SQL makes the
//! whole input one group, also when it has no rows; a cross join with the
//! subquery's CTE would leave no row to aggregate, and `max(__floe_sqN_v)`
//! (how a grouped query reads it) would be NULL there. So the aggregates move into
//! a derived table of their own (`__floe_agg`: the query's FROM and WHERE,
//! one row), and the items read them from it beside the subquery, in a query
//! that no longer aggregates and joins its subqueries as any SELECT list's.
//! HAVING becomes that query's WHERE.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, Query, Select, SelectItem, SetExpr, TableFactor};

use super::super::aggregates::aggregate_call;
use super::super::names::polars_item_name;
use super::super::scope::*;
use super::item_aggregates;

const RELATION: &str = "__floe_agg";

/// Splits `select` where it applies: it becomes the query over the
/// aggregates, whose derived table [`aggregated_mut`] returns.
pub(super) fn aggregated_below(select: &mut Select, resolver: &Resolver) -> bool {
    let exotic = select.into.is_some()
        || select.qualify.is_some()
        || select.prewhere.is_some()
        || select.exclude.is_some()
        || !select.lateral_views.is_empty()
        || !select.named_window.is_empty()
        || !select.connect_by.is_empty();
    if exotic || has_group_by(select) || lists_wildcard(select) || !select.projection.iter().any(item_aggregates) {
        return false;
    }
    let mut aggregates = Vec::new();
    let mut items = select.projection.clone();
    let mut having = select.having.clone();
    for item in &mut items {
        let name = polars_item_name(item);
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { return false };
        read_from_below(expr, &mut aggregates);
        if let (SelectItem::UnnamedExpr(expr), Some((name, _))) = (&*item, name) {
            // The name the item had, not the one of the aggregate column it now reads first.
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', name) };
        }
    }
    if let Some(having) = &mut having {
        read_from_below(having, &mut aggregates);
    }
    let subqueries = items.iter().filter_map(item_expr).map(|expr| readable_above(expr, resolver)).collect::<Option<Vec<_>>>();
    let readable = having.as_ref().is_none_or(|having| readable_above(having, resolver).is_some());
    if !readable || subqueries.is_none_or(|counts| counts.iter().sum::<usize>() == 0) {
        return false;
    }
    let mut inner = select.clone();
    inner.projection = aggregates
        .into_iter()
        .enumerate()
        .map(|(index, expr)| SelectItem::ExprWithAlias { expr, alias: Ident::new(column(index)) })
        .collect();
    (inner.distinct, inner.top, inner.having) = (None, None, None);
    let Some(Query { body, .. }) = parse_query(&format!("SELECT 1 FROM ({inner}) AS {RELATION}")) else { return false };
    let SetExpr::Select(parsed) = *body else { return false };
    select.from = parsed.from;
    select.projection = items;
    select.selection = having;
    select.having = None;
    true
}

/// The aggregate query below a SELECT [`aggregated_below`] split.
pub(super) fn aggregated_mut(select: &mut Select) -> Option<&mut Select> {
    let TableFactor::Derived { subquery, .. } = &mut select.from.first_mut()?.relation else { return None };
    match subquery.body.as_mut() {
        SetExpr::Select(inner) => Some(inner),
        _ => None,
    }
}

fn column(index: usize) -> String {
    format!("__floe_a{}", index + 1)
}

/// Replaces each aggregate call of `expr`, outside its subqueries, with the
/// column of `__floe_agg` that computes it (one column per distinct call).
fn read_from_below(expr: &mut Expr, aggregates: &mut Vec<Expr>) {
    replace_outside_subqueries(expr, |expr| {
        if !aggregate_call(expr) {
            return;
        }
        let index = aggregates.iter().position(|seen| seen == expr).unwrap_or_else(|| {
            aggregates.push(expr.clone());
            aggregates.len() - 1
        });
        *expr = Expr::CompoundIdentifier(vec![Ident::new(RELATION), Ident::new(column(index))]);
    });
}

/// How many scalar subqueries `expr` holds once its aggregates are read from
/// below, or None where the query above could not evaluate it: a column of
/// the input outside an aggregate (not SQL without GROUP BY), a window, a
/// subquery that reads the outer query, or EXISTS and IN (left to their passes).
fn readable_above(expr: &Expr, resolver: &Resolver) -> Option<usize> {
    let mut subqueries = 0;
    let refused = visit_outside_subqueries(expr, |expr| {
        let readable = match expr {
            Expr::Identifier(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => false,
            Expr::CompoundIdentifier(parts) => parts.first().is_some_and(|first| first.value == RELATION),
            Expr::Function(function) => function.over.is_none(),
            Expr::Subquery(query) => {
                subqueries += 1;
                resolver.self_contained(query)
            }
            _ => true,
        };
        if readable { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    });
    refused.is_continue().then_some(subqueries)
}
