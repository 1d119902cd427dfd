//! A scalar subquery in a GROUP BY key (`GROUP BY CASE WHEN size > (SELECT
//! avg(size) FROM parts) THEN 'big' END`): the key reads its CTE's value,
//! cross-joined as anywhere else (a correlated one LEFT JOINed on the outer
//! values it reads, a value per row as in a SELECT list), and the SELECT
//! items that repeat the key as written read it alike, so polars-sql still
//! finds them among the keys.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Select};

use super::super::scope::*;
use super::{Added, Rewriter};

impl Rewriter<'_> {
    pub(super) fn rewrite_keys(&mut self, select: &mut Select, outer: &[Scope], from: &str, added: &mut Added) {
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
    /// item read is one of the GROUP BY `keys`, as SQL requires of an item
    /// outside aggregates (one that reads another column is an error, not a
    /// value per row to group by).
    pub(super) fn reads_keys_only(&self, expr: &Expr, keys: &[Expr], outer: &[Scope]) -> bool {
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
        visit_outside_subqueries(expr, |expr| {
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
