//! A grouping key used beside an aggregate in one expression of a grouped
//! SELECT (`species || ': ' || count(*)`, `k * sum(x)`), or in an item that
//! is an expression of keys alone (`k || '-'`), is one value per group, as
//! SQL defines it. polars-sql evaluated the key once per row there,
//! so each group's answer came back as a list of repeated values (and the
//! column's type as a list), and a HAVING that reads a key (`HAVING k > 2`)
//! failed. Such keys are read through `min(…)`, which is
//! the key itself in its group (NULL in the NULL group).
//!
//! And a key that is also a SELECT item groups by that item's position once
//! the statement is final (`keys_by_position`): polars-sql matches an item
//! with its key by comparing the planned expressions, and calls of Floe's
//! functions (`CAST(x + 1 AS INTEGER)` rounds through one) never compare
//! equal, so the item was computed again over the grouped key (`x + 1`
//! added twice) or per row (a list).

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Select, SelectItem, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::aggregates::{aggregate_call, holds_aggregate, opens_subquery};
use super::resolver::{factors, visit_query, Resolver};
use super::scope::{integer_literal, item_expr, parse_expr, plain_group_keys, selects_mut};
use super::Columns;

pub(super) fn keys_once_per_group(statement: &mut Statement) {
    let _ = statement.visit(&mut Grouped);
}

struct Grouped;

impl VisitorMut for Grouped {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
        for select in selects_mut(&mut query.body) {
            rewrite_select(select);
        }
        ControlFlow::Continue(())
    }
}

/// The keys of a SELECT grouped by plain keys, a position read as the item
/// it names (none for one that names an aggregate).
pub(super) fn written_keys(select: &Select) -> Option<Vec<Expr>> {
    let keys = plain_group_keys(select)?;
    let written = keys.iter().filter_map(|key| match integer_literal(key) {
        Some(position) => positional_key(select, position),
        None => Some(key.clone()),
    });
    Some(written.collect())
}

fn rewrite_select(select: &mut Select) {
    let Some(keys) = written_keys(select) else { return };
    let written: Vec<String> = keys.iter().map(ToString::to_string).collect();
    for item in &mut select.projection {
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
        // An expression of keys alone (`k || '-'`) polars-sql evaluated per
        // row too, unless the key was one column of one relation.
        let column = matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
        let window = super::aggregates::holds_window(expr);
        let of_keys = !column && !window && !written.contains(&expr.to_string());
        if holds_aggregate(expr) || of_keys {
            let _ = expr.visit(&mut KeysRead { keys: &keys, aggregates: 0, subqueries: 0 });
        }
    }
    // A HAVING is evaluated per group too (polars-sql failed on `HAVING k > 2`).
    if let Some(having) = &mut select.having {
        let _ = having.visit(&mut KeysRead { keys: &keys, aggregates: 0, subqueries: 0 });
    }
}

pub(super) fn keys_by_position(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Positions { resolver });
}

struct Positions<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Positions<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let shared = self.shared_names(select);
        let GroupByExpr::Expressions(keys, modifiers) = &mut select.group_by else { return ControlFlow::Continue(()) };
        if !modifiers.is_empty() {
            return ControlFlow::Continue(());
        }
        let items: Vec<String> = select.projection.iter().map(|item| item_expr(item).map(ToString::to_string).unwrap_or_default()).collect();
        for key in keys.iter_mut().filter(|key| !matches!(key, Expr::Identifier(_) | Expr::Value(_))) {
            let written = key.to_string();
            let found = items.iter().position(|item| *item == written);
            let by_position = |at: &usize| match key {
                Expr::CompoundIdentifier(parts) => {
                    parts.last().is_some_and(|column| shared.contains(&column.value.to_ascii_lowercase()))
                        && !column_named_alike(key, &select.projection[*at])
                }
                _ => true,
            };
            if let Some(position) = found.filter(by_position) {
                *key = Expr::value(sqlparser::ast::Value::Number((position + 1).to_string(), false));
            }
        }
        // A key written twice groups as once; polars-sql refused the repeated output name.
        let mut seen = HashSet::new();
        keys.retain(|key| seen.insert(key.to_string()));
        ControlFlow::Continue(())
    }
}

impl Positions<'_> {
    /// Column names more than one relation of the FROM has: the joined
    /// frame holds them suffixed.
    fn shared_names(&self, select: &Select) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut shared = HashSet::new();
        for scope in factors(&select.from).filter_map(|factor| self.resolver.scope(factor)) {
            for column in &scope.columns {
                let lower = column.to_ascii_lowercase();
                if !seen.insert(lower.clone()) {
                    shared.insert(lower);
                }
            }
        }
        shared
    }
}

/// Whether a qualified column key's item keeps the column's name. Renamed
/// (`d.name AS dept`), a column another relation of the join also has (and
/// only such a column: by position, an ORDER BY of the column itself fails)
/// reads `col("name:d").alias("name")` in polars-sql, which it does not
/// match with the key `col("name:d")`, and the item was then read from the
/// grouped frame, which has no `name:d`; by position it is the key.
fn column_named_alike(key: &Expr, item: &SelectItem) -> bool {
    let Expr::CompoundIdentifier(parts) = key else { return false };
    match item {
        SelectItem::ExprWithAlias { alias, .. } => parts.last().is_some_and(|column| column.value.eq_ignore_ascii_case(&alias.value)),
        _ => true,
    }
}

/// The expression `GROUP BY <position>` names, when it aggregates nothing.
fn positional_key(select: &Select, position: i64) -> Option<Expr> {
    let expr = item_expr(select.projection.get(usize::try_from(position).ok()?.checked_sub(1)?)?)?;
    (!holds_aggregate(expr)).then(|| expr.clone())
}

/// Wraps each key read outside aggregates and subqueries in `min(…)`.
struct KeysRead<'a> {
    keys: &'a [Expr],
    aggregates: usize,
    subqueries: usize,
}

impl VisitorMut for KeysRead<'_> {
    type Break = ();

    // Before the parts: of two keys, one inside the other (`CASE WHEN id IS
    // NULL THEN region … END` and `region`), the whole is read, and what
    // `min` now holds is left alone.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.aggregates == 0 && self.subqueries == 0 && self.keys.iter().any(|key| same_key(key, expr)) {
            if let Some(read) = parse_expr(&format!("min({expr})")) {
                *expr = read;
            }
        }
        self.aggregates += usize::from(aggregate_call(expr));
        self.subqueries += usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.aggregates -= usize::from(aggregate_call(expr));
        self.subqueries -= usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }
}

/// Whether `expr` is the key: the same SQL, or the same column where one
/// side leaves its table unsaid.
fn same_key(key: &Expr, expr: &Expr) -> bool {
    let column = |e: &Expr| match e {
        Expr::Identifier(ident) => Some((None, ident.value.to_ascii_lowercase())),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let qualifier = parts[..parts.len() - 1].iter().map(|p| p.value.to_ascii_lowercase()).collect::<Vec<_>>().join(".");
            Some((Some(qualifier), parts[parts.len() - 1].value.to_ascii_lowercase()))
        }
        _ => None,
    };
    match (column(key), column(expr)) {
        (Some((a, name_a)), Some((b, name_b))) => name_a == name_b && (a.is_none() || b.is_none() || a == b),
        (None, None) => key.to_string() == expr.to_string(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_by, rewritten_over};
    use super::*;

    #[test]
    fn keys_beside_aggregates_are_read_once_per_group() {
        assert_eq!(
            rewritten_by("SELECT k, k || ': ' || count(*), t.k * sum(x) AS s FROM t GROUP BY k", keys_once_per_group),
            "SELECT k, min(k) || ': ' || count(*), min(t.k) * sum(x) AS s FROM t GROUP BY k"
        );
        assert_eq!(
            rewritten_by("SELECT lower(k), lower(k) || max(x) FROM t GROUP BY lower(k)", keys_once_per_group),
            "SELECT lower(k), min(lower(k)) || max(x) FROM t GROUP BY lower(k)"
        );
        assert_eq!(
            rewritten_by("SELECT k + 1, (k + 1) * count(*) FROM t GROUP BY 1", keys_once_per_group),
            "SELECT k + 1, (min(k + 1)) * count(*) FROM t GROUP BY 1"
        );
        assert_eq!(
            rewritten_by("SELECT k FROM t GROUP BY k HAVING t.k > 2 AND count(*) > 1 OR k < 0", keys_once_per_group),
            "SELECT k FROM t GROUP BY k HAVING min(t.k) > 2 AND count(*) > 1 OR min(k) < 0"
        );
        assert_eq!(
            rewritten_by("SELECT t.k, k || '-', lower(k), lower(k) || 'x', rank() OVER (ORDER BY k) FROM t GROUP BY k, lower(k)", keys_once_per_group),
            "SELECT t.k, min(k) || '-', lower(k), min(lower(k)) || 'x', rank() OVER (ORDER BY k) FROM t GROUP BY k, lower(k)"
        );
        assert_eq!(
            rewritten_by("SELECT CASE WHEN id IS NULL THEN r ELSE n END || 'x', count(*) FROM t GROUP BY CASE WHEN id IS NULL THEN r ELSE n END, r", keys_once_per_group),
            "SELECT min(CASE WHEN id IS NULL THEN r ELSE n END) || 'x', count(*) FROM t GROUP BY CASE WHEN id IS NULL THEN r ELSE n END, r"
        );
    }

    #[test]
    fn keys_that_are_items_group_by_position() {
        let columns = columns_of(&[("t", &["k", "f"]), ("e", &["id", "name", "d"]), ("d", &["id", "name", "region"])]);
        let by_position = |sql| rewritten_over(sql, &columns, keys_by_position);
        assert_eq!(
            by_position("SELECT CAST(f + 1 AS INT) AS g, k, count(*) FROM t GROUP BY k, CAST(f + 1 AS INT), f - 1"),
            "SELECT CAST(f + 1 AS INT) AS g, k, count(*) FROM t GROUP BY k, 1, f - 1"
        );
        // Renamed keys of a name both relations have; not `d.region`, which only one has.
        assert_eq!(
            by_position("SELECT d.name AS dept, d.id, e.id AS id, d.region AS r, count(*) FROM e JOIN d ON d.id = e.d GROUP BY d.name, d.id, e.id, d.region"),
            "SELECT d.name AS dept, d.id, e.id AS id, d.region AS r, count(*) FROM e JOIN d ON d.id = e.d GROUP BY 1, d.id, e.id, d.region"
        );
        assert_eq!(
            by_position("SELECT k || '-' AS a, k || '-' AS b FROM t GROUP BY k || '-', k || '-', f, f"),
            "SELECT k || '-' AS a, k || '-' AS b FROM t GROUP BY 1, f"
        );
    }

    #[test]
    fn aggregates_subqueries_and_ungrouped_queries_are_left_alone() {
        for sql in [
            "SELECT k, sum(k * x), count(*) FROM t GROUP BY k",
            "SELECT k, (SELECT max(k) FROM u) + count(*) FROM t GROUP BY k",
            "SELECT k || count(*) FROM t",
            "SELECT a.k, b.k || count(*) FROM a JOIN b ON a.id = b.id GROUP BY a.k",
        ] {
            assert_eq!(rewritten_by(sql, keys_once_per_group), sql);
        }
    }
}
