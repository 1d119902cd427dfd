//! A grouped SELECT's scalar subqueries, outside its aggregates and in
//! their arguments (`rewrite_grouped_items`).
//!
//! One in a GROUP BY key (`GROUP BY CASE WHEN size > (SELECT
//! avg(size) FROM parts) THEN 'big' END`): the key reads its CTE's value,
//! cross-joined as anywhere else (a correlated one LEFT JOINed on the outer
//! values it reads, a value per row as in a SELECT list), and the SELECT
//! items that repeat the key as written read it alike, so polars-sql still
//! finds them among the keys.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Select, SelectItem};

use super::super::scope::*;
use super::super::aggregates::holds_aggregate;
use super::{Added, Rewriter};

impl Rewriter<'_> {
    fn rewrite_keys(&mut self, select: &mut Select, outer: &[Scope], from: &str, added: &mut Added) {
        let GroupByExpr::Expressions(keys, _) = &mut select.group_by else { return };
        self.select_list_from = Some(from.to_string());
        for key in keys.iter_mut() {
            if !any_outside_subqueries(key, |expr| matches!(expr, Expr::Subquery(_))) {
                continue;
            }
            let written = key.clone();
            self.replace_within(key, false, outer, false, added, &mut false);
            if *key == written {
                continue;
            }
            for item in &mut select.projection {
                replace_outside_subqueries(item, |expr| {
                    if *expr == written {
                        *expr = key.clone();
                    }
                });
            }
        }
        self.select_list_from = None;
    }
}

impl Rewriter<'_> {
    /// Whether every outer value the correlated subqueries of a grouped
    /// item read outside its aggregates is one of the GROUP BY `keys`, as SQL
    /// requires (one that reads another column is an error, not a value per
    /// row to group by).
    fn reads_keys_only(&self, expr: &Expr, keys: &[Expr], outer: &[Scope]) -> bool {
        let column = |expr: &Expr| match expr {
            Expr::Identifier(name) => Some(name.value.to_ascii_lowercase()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|part| part.value.to_ascii_lowercase()),
            _ => None,
        };
        let key_columns: Vec<String> = keys.iter().filter_map(column).collect();
        // A key, or an expression of key columns (`length(d.region)` under `GROUP BY d.region`).
        let is_key = |written: &str| match parse_expr(written) {
            Some(value) => {
                keys.contains(&value)
                    || crate::sql::visit::visit_expressions(&value, |part| match column(part) {
                        Some(name) if !key_columns.contains(&name) => ControlFlow::Break(()),
                        _ => ControlFlow::Continue(()),
                    })
                    .is_continue()
            }
            None => false,
        };
        // An aggregate's arguments are values per row, which may read any column.
        let mut outside_aggregates = expr.clone();
        super::super::aggregates::for_each_aggregate_argument(&mut outside_aggregates, &mut |argument| {
            *argument = sqlparser::ast::Expr::value(sqlparser::ast::Value::Null);
        });
        visit_outside_subqueries(&outside_aggregates, |expr| {
            let Expr::Subquery(subquery) = expr else { return ControlFlow::Continue(()) };
            let links = plain_select(subquery).and_then(|select| {
                let inner = self.resolver.scopes(&select.from)?;
                correlate(select, &inner, outer).map(|correlation| correlation.links)
            });
            match links.unwrap_or_default().iter().all(|(_, _, outer_value)| is_key(outer_value)) {
                true => ControlFlow::Continue(()),
                false => ControlFlow::Break(()),
            }
        })
        .is_continue()
    }
}

impl Rewriter<'_> {
    /// Whether `having`'s correlated subqueries read only the GROUP BY keys
    /// of `select` (one that reads another column is an error in SQL).
    pub(super) fn keyed_having(&self, select: &Select, having: &Expr, outer: &[Scope]) -> bool {
        // A key by position (as a split grouping writes them) is its item.
        super::super::grouped_keys::written_keys(select).is_some_and(|keys| self.reads_keys_only(having, &keys, outer))
    }
}

impl Rewriter<'_> {
    /// A grouped SELECT's subqueries: in an aggregate's arguments, values
    /// per row, as in a SELECT list that does not aggregate; outside them,
    /// under GROUP BY keys (not over no rows and so no group, where the
    /// cross join with their CTE would make them NULL), uncorrelated ones, and
    /// correlated ones in items that do not aggregate.
    pub(super) fn rewrite_grouped_items(&mut self, select: &mut Select, outer: &[Scope], from: String, added: &mut Added) {
        if plain_group_keys(select).is_some() {
            self.rewrite_keys(select, outer, &from, added);
            let keys = match &select.group_by {
                GroupByExpr::Expressions(keys, _) => keys.clone(),
                GroupByExpr::All(_) => Vec::new(),
            };
            let mut new_keys = Vec::new();
            for item in &mut select.projection {
                let written = super::unaliased_text(item);
                let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
                // In an item that aggregates, one value for the group (as in HAVING,
                // correlated too: a value per row of the keys it reads, so one per group);
                // in one that does not, a grouping key: one value over all rows, or, correlated,
                // a value per row of the keys it reads.
                let aggregates = holds_aggregate(expr);
                let before = self.ctes.len();
                self.select_list_from = self.reads_keys_only(expr, &keys, outer).then(|| from.clone());
                self.per_group = aggregates;
                self.replace_within(expr, false, outer, aggregates, added, &mut false);
                self.per_group = false;
                if !aggregates {
                    // And the column telling a missing group (`correlated_items.rs`), one
                    // value per group too: its name is the CTE's own.
                    let values = self.ctes[before..].iter().map(|cte| &cte.alias.name.value);
                    let cte_columns = &self.resolver.cte_columns;
                    let read = |name: &String, column: &String| {
                        *column == super::super::correlated_items::hit_column(name) || cte_columns.get(name).and_then(|columns| columns.last()) == Some(column)
                    };
                    let columns = values.flat_map(|name| cte_columns.get(name).into_iter().flatten().filter(move |column| read(name, column)).map(move |column| (name, column)));
                    new_keys.extend(columns.filter_map(|(name, column)| parse_expr(&format!("{name}.{column}"))));
                }
                super::keep_written_name(item, written);
            }
            if let GroupByExpr::Expressions(keys, _) = &mut select.group_by {
                keys.extend(new_keys);
            }
        }
        self.select_list_from = Some(from);
        let clauses = select.projection.iter_mut().filter_map(|item| match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Some(expr),
            _ => None,
        });
        for clause in clauses.chain(select.having.as_mut()) {
            super::super::aggregates::for_each_aggregate_argument(clause, &mut |argument| self.replace_within(argument, false, outer, false, added, &mut false));
        }
        self.select_list_from = None;
    }
}
