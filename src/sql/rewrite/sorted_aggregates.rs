//! `ORDER BY count(*)` in a grouped query that does not select `count(*)`:
//! polars-sql sorts the grouped frame by the aggregate evaluated once over
//! everything, and failed ("sort expressions must have same length"). The
//! aggregate is selected as a hidden column, sorted by position, and left
//! out again by a SELECT around the query (which keeps the rows' order).

use std::ops::ControlFlow;

use sqlparser::ast::{Distinct, Expr, OrderBy, OrderByKind, Query, Select, SetExpr, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::aggregates::holds_aggregate;
use super::scope::{has_group_by, hiding, lists_wildcard, sort_keys_selected};

const HIDDEN: &str = "__floe_sort_";

pub(super) fn selected_for_sorting(statement: &mut Statement) {
    let _ = statement.visit(&mut Sorting);
}

struct Sorting;

impl VisitorMut for Sorting {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let hidden = hide_sort_aggregates(query);
        if !hidden.is_empty() {
            hiding(query, &hidden.iter().map(String::as_str).collect::<Vec<_>>(), "__floe_sorted", None);
        }
        ControlFlow::Continue(())
    }
}

/// Moves each aggregate the ORDER BY sorts by into the SELECT list, as a
/// hidden column it then sorts by position; the hidden columns' names.
fn hide_sort_aggregates(query: &mut Query) -> Vec<String> {
    let SetExpr::Select(select) = query.body.as_mut() else { return Vec::new() };
    let Some(OrderBy { kind: OrderByKind::Expressions(items), .. }) = &mut query.order_by else { return Vec::new() };
    if !has_group_by(select) || matches!(select.distinct, Some(Distinct::Distinct | Distinct::On(_))) || lists_wildcard(select) {
        return Vec::new();
    }
    let sorted_by_aggregate = |key: &Expr, _: &Select| {
        !matches!(key, Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)) && holds_aggregate(key)
    };
    sort_keys_selected(select, items, HIDDEN, sorted_by_aggregate)
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::*;

    #[test]
    fn an_aggregate_sorted_by_but_not_selected_is_selected_hidden() {
        assert_eq!(
            rewritten_by("WITH c AS (SELECT 1) SELECT k FROM t GROUP BY k ORDER BY count(*) DESC, k LIMIT 3", selected_for_sorting),
            "WITH c AS (SELECT 1) SELECT * EXCLUDE (__floe_sort_1) FROM (SELECT k, count(*) AS __floe_sort_1 FROM t GROUP BY k ORDER BY 2 DESC, k LIMIT 3) AS __floe_sorted"
        );
        for sql in ["SELECT k, count(*) FROM t GROUP BY k ORDER BY 2", "SELECT k FROM t GROUP BY k ORDER BY k", "SELECT DISTINCT k FROM t GROUP BY k ORDER BY max(x)"] {
            assert_eq!(rewritten_by(sql, selected_for_sorting), sql);
        }
    }
}
