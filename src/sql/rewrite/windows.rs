//! Window functions over a grouped query, and grouping sets
//! (`grouping_sets.rs`).
//!
//! Window functions over a grouped query (`sum(x) * 100 / sum(sum(x)) OVER
//! (PARTITION BY k)`, `rank() OVER (ORDER BY sum(x) DESC)`): SQL computes
//! the groups first and the windows over them; polars-sql evaluates the
//! window inside the aggregation and answers lists. Such a SELECT is split
//! in two, as SQL defines it: an inner one that groups (its keys as
//! `__floe_kN`, each aggregate as `__floe_aN`, its WHERE and HAVING), and an
//! outer one over it that computes the windows, the projection and the order.

use std::ops::ControlFlow;

use super::aggregates::aggregate_call;

use sqlparser::ast::{Expr, GroupByExpr, Ident, Query, Select, SelectItem, SetExpr, Statement, TableAlias, TableFactor, TableWithJoins};
use crate::sql::visit::{VisitMut, VisitorMut};

/// The hidden column that holds a split query's QUALIFY.
const QUALIFIED: &str = "__floe_qualify";

pub(super) fn split_grouped_windows(statement: &mut Statement) {
    let _ = statement.visit(&mut Split);
}

struct Split;

impl VisitorMut for Split {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_ref() else { return ControlFlow::Continue(()) };
        let hidden_qualify = qualify_hideable(select, query);
        if hidden_qualify && !groups(select) {
            // Ungrouped, polars-sql's QUALIFY still sees only the projection.
            hide_qualify(query);
            return ControlFlow::Continue(());
        }
        let split_needed = ((has_window(select) || hidden_qualify) && groups(select)) || duplicate_key_names(select);
        if !split_needed && !super::grouping_sets::has_sets(&select.group_by) {
            return ControlFlow::Continue(());
        }
        if let Some((outer, order_by)) = split(select, query, hidden_qualify) {
            *query.body = SetExpr::Select(Box::new(outer));
            query.order_by = order_by;
            if hidden_qualify {
                hide_qualify(query);
            }
        }
        ControlFlow::Continue(())
    }
}

/// polars-sql filters by QUALIFY over the projection alone, where the
/// FROM's (or the groups') other columns are not: its value becomes a
/// hidden column of the projection, filtered on around the query.
fn hide_qualify(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_mut() else { return };
    let Some(qualify) = select.qualify.take() else { return };
    select.projection.push(SelectItem::ExprWithAlias { expr: qualify, alias: Ident::new(QUALIFIED) });
    super::scope::hiding(query, &[QUALIFIED], "__floe_qualified", Some(QUALIFIED));
}

/// Whether a QUALIFY with a window can be a hidden column filtered on
/// around the query: not under a LIMIT or a DISTINCT, which SQL applies
/// after it, and not reading an output's name, which the hidden column
/// could not see.
fn qualify_hideable(select: &Select, query: &Query) -> bool {
    let Some(qualify) = &select.qualify else { return false };
    let limited = query.limit_clause.is_some() || query.fetch.is_some() || select.distinct.is_some();
    !limited && !reads_alias(qualify, select) && super::aggregates::holds_window(qualify)
}

/// Whether `clause` names one of the SELECT list's aliases.
fn reads_alias(clause: &Expr, select: &Select) -> bool {
    let aliases: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    let text = clause.to_string().to_ascii_lowercase();
    aliases.iter().any(|alias| text.split(|c: char| !c.is_alphanumeric() && c != '_').any(|word| word == alias))
}

/// Whether the SELECT list has such an expression outside its subqueries
/// (a scalar subquery's aggregate or window is its own query's).
fn any_expr(select: &Select, found: impl Fn(&Expr) -> bool) -> bool {
    super::scope::any_outside_subqueries(&select.projection, found)
}

fn has_window(select: &Select) -> bool {
    any_expr(select, super::aggregates::window_call)
}

/// Group keys polars-sql would name alike (`ad1.street, ad2.street`, both
/// `street`; `species, upper(species)`, an expression named after its first
/// input), which it refuses as duplicate outputs (TPC-DS 64). Split, the
/// inner query groups by position, its keys named `__floe_kN`.
fn duplicate_key_names(select: &Select) -> bool {
    let GroupByExpr::Expressions(keys, modifiers) = &select.group_by else { return false };
    let mut seen = std::collections::HashSet::new();
    modifiers.is_empty()
        && keys
            .iter()
            // A subquery's key the subquery passes name for themselves (and read
            // as written, not by a position of the split).
            .filter(|key| !matches!(key, Expr::Value(_)) && !super::scope::any_outside_subqueries(*key, |e| matches!(e, Expr::Subquery(_))))
            .filter_map(|key| super::names::polars_expr_name(key).or_else(|| super::names::first_column(key)))
            .any(|name| !seen.insert(name.to_ascii_lowercase()))
}

fn groups(select: &Select) -> bool {
    super::scope::plain_group_keys(select).is_some() || any_expr(select, aggregate_call)
}

/// Replaces group keys and aggregates (outside nested queries) with the
/// inner query's columns, collecting the aggregates.
struct Lift<'a> {
    keys: &'a [Expr],
    aggregates: Vec<Expr>,
    /// `grouping(…)` calls (`__floe_gN`), under grouping sets.
    groupings: Vec<Expr>,
    depth: usize,
}

impl Lift<'_> {
    fn column(&mut self, expr: &Expr) -> Option<String> {
        if let Some(index) = self.keys.iter().position(|key| same_column(key, expr)) {
            return Some(format!("__floe_k{}", index + 1));
        }
        let Expr::Function(function) = expr else { return None };
        // Every aggregate, not only numeric ones: one left in the outer query
        // (`array_agg(t.x)`, what `sum(DISTINCT x)` becomes) reads a column
        // it lacks.
        let (found, prefix) = match () {
            _ if aggregate_call(expr) => (&mut self.aggregates, "__floe_a"),
            _ if super::grouping_sets::is_grouping(function) => (&mut self.groupings, "__floe_g"),
            _ => return None,
        };
        let index = match found.iter().position(|a| a == expr) {
            Some(index) => index,
            None => {
                found.push(expr.clone());
                found.len() - 1
            }
        };
        Some(format!("{prefix}{}", index + 1))
    }
}

/// `item.i_class` and `i_class` name the same group key (`a.name` and
/// `b.name` do not); other keys match as written.
pub(super) fn same_column(key: &Expr, expr: &Expr) -> bool {
    let column = |e: &Expr| match e {
        Expr::Identifier(ident) => Some((None, ident.value.to_ascii_lowercase())),
        // The relation's name or alias, however far the name is qualified.
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            Some((Some(parts[parts.len() - 2].value.to_ascii_lowercase()), parts[parts.len() - 1].value.to_ascii_lowercase()))
        }
        _ => None,
    };
    match (column(key), column(expr)) {
        (Some((a, name_a)), Some((b, name_b))) => name_a == name_b && (a.is_none() || b.is_none() || a == b),
        _ => key == expr,
    }
}

impl VisitorMut for Lift<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            if let Some(column) = self.column(expr) {
                *expr = Expr::Identifier(Ident::new(column));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The outer SELECT (over the grouped one) and the query's new ORDER BY;
/// None when the query does not fit (its HAVING reads a projection alias).
fn split(select: &Select, query: &Query, hidden_qualify: bool) -> Option<(Select, Option<sqlparser::ast::OrderBy>)> {
    let sets = super::grouping_sets::has_sets(&select.group_by);
    let (keys, grouping_sets) = match &select.group_by {
        _ if sets => super::grouping_sets::keys_and_sets(&select.group_by)?,
        GroupByExpr::Expressions(keys, _) => (keys.clone(), Vec::new()),
        GroupByExpr::All(_) => return None,
    };
    // Ordinals resolve against the projection, which moves: read as the items they name
    // (`GROUP BY 1`); another literal is a constant key.
    let keys: Vec<Expr> = keys.into_iter().map(|key| if sets { key } else { named_item(&key, select).unwrap_or(key) }).collect();
    let ordinal = |key: &Expr| matches!(key, Expr::Value(value) if matches!(value.value, sqlparser::ast::Value::Number(..)));
    if keys.iter().any(|key| ordinal(key) || matches!(key, Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_))) {
        return None;
    }
    if select.having.as_ref().is_some_and(|having| reads_alias(having, select)) {
        return None;
    }
    let mut lift = Lift { keys: &keys, aggregates: Vec::new(), groupings: Vec::new(), depth: 0 };
    let mut projection = select.projection.clone();
    for item in &mut projection {
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { return None };
        let original = expr.clone();
        let _ = expr.visit(&mut lift);
        if let SelectItem::UnnamedExpr(lifted) = item {
            // The name the item had: its first column's, as Polars names it
            // (or its text, as DuckDB names `count(*)`).
            let alias = match super::names::first_column(&original) {
                Some(name) => Ident::new(name),
                None => Ident::with_quote('"', original.to_string()),
            };
            *item = SelectItem::ExprWithAlias { expr: lifted.clone(), alias };
        }
    }
    // ORDER BY an output name keeps it; other terms read the groups' columns.
    let outputs: Vec<String> = projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    let mut order_by = query.order_by.clone();
    if let Some(sqlparser::ast::OrderBy { kind: sqlparser::ast::OrderByKind::Expressions(terms), .. }) = &mut order_by {
        for term in terms {
            let output = matches!(&term.expr, Expr::Identifier(ident) if outputs.contains(&ident.value.to_ascii_lowercase()));
            if !output {
                let _ = term.expr.visit(&mut lift);
            }
        }
    }
    // QUALIFY filters the groups by their windows: it reads the groups too.
    let mut qualify = select.qualify.clone();
    if let (Some(qualify), true) = (&mut qualify, hidden_qualify) {
        let _ = qualify.visit(&mut lift);
    }
    let mut inner = select.clone();
    inner.qualify = None;
    inner.projection = keys
        .iter()
        .enumerate()
        .map(|(i, key)| SelectItem::ExprWithAlias { expr: key.clone(), alias: Ident::new(format!("__floe_k{}", i + 1)) })
        .chain(lift.aggregates.iter().enumerate().map(|(i, aggregate)| SelectItem::ExprWithAlias {
            expr: aggregate.clone(),
            alias: Ident::new(format!("__floe_a{}", i + 1)),
        }))
        .chain(lift.groupings.iter().enumerate().map(|(i, call)| SelectItem::ExprWithAlias {
            expr: call.clone(),
            alias: super::grouping_sets::alias("__floe_g", i),
        }))
        .collect();
    inner.distinct = None;
    if let (false, GroupByExpr::Expressions(_, modifiers)) = (sets, &select.group_by) {
        // Ordinals read as their items: the inner projection is another.
        inner.group_by = GroupByExpr::Expressions(keys.clone(), modifiers.clone());
    }
    if !sets && duplicate_key_names(select) {
        // By position: the keys lead the inner projection, under names of their own.
        let positions = (1..=keys.len()).map(|i| Expr::value(sqlparser::ast::Value::Number(i.to_string(), false))).collect();
        inner.group_by = GroupByExpr::Expressions(positions, Vec::new());
    }
    let body = match sets {
        true => super::grouping_sets::expand(&inner, &keys, &grouping_sets, &lift.groupings)?,
        false => SetExpr::Select(Box::new(inner)),
    };
    let mut outer = select.clone();
    outer.projection = projection;
    outer.from = vec![TableWithJoins { relation: derived(body), joins: Vec::new() }];
    outer.selection = None;
    outer.group_by = GroupByExpr::Expressions(Vec::new(), Vec::new());
    outer.having = None;
    outer.qualify = qualify;
    Some((outer, order_by))
}

/// The expression of the SELECT item a GROUP BY ordinal names, where it
/// is one of the groups' keys (no aggregate, window or subquery in it).
fn named_item(key: &Expr, select: &Select) -> Option<Expr> {
    let Expr::Value(value) = key else { return None };
    let sqlparser::ast::Value::Number(text, _) = &value.value else { return None };
    let position: usize = text.parse().ok()?;
    let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = select.projection.get(position.checked_sub(1)?)? else {
        return None;
    };
    super::aggregates::row_wise(expr).then(|| expr.clone())
}

fn derived(body: SetExpr) -> TableFactor {
    let query = Query {
        with: None,
        body: Box::new(body),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    };
    TableFactor::Derived {
        lateral: false,
        subquery: Box::new(query),
        alias: Some(TableAlias { explicit: true, name: Ident::new("__floe_g"), columns: Vec::new(), at: None }),
        sample: None,
    }
}

#[cfg(test)]
mod tests {
    fn split(sql: &str) -> String {
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        super::split_grouped_windows(&mut statement);
        statement.to_string()
    }

    #[test]
    fn windows_over_groups_run_over_a_grouped_subquery() {
        assert_eq!(
            split("SELECT i.cls, sum(p) * 100 / sum(sum(p)) OVER (PARTITION BY i.cls) AS ratio FROM s JOIN i ON s.k = i.k WHERE p > 0 GROUP BY i.cls ORDER BY i.cls, ratio LIMIT 5"),
            "SELECT __floe_k1 AS cls, __floe_a1 * 100 / sum(__floe_a1) OVER (PARTITION BY __floe_k1) AS ratio FROM \
             (SELECT i.cls AS __floe_k1, sum(p) AS __floe_a1 FROM s JOIN i ON s.k = i.k WHERE p > 0 GROUP BY i.cls) AS __floe_g \
             ORDER BY __floe_k1, ratio LIMIT 5"
        );
    }

    #[test]
    fn ordinal_keys_are_the_items_they_name() {
        assert_eq!(
            split("SELECT sum(x) AS t, k, rank() OVER (ORDER BY sum(x) DESC) AS r FROM t GROUP BY 2"),
            "SELECT __floe_a1 AS t, __floe_k1 AS k, rank() OVER (ORDER BY __floe_a1 DESC) AS r \
             FROM (SELECT k AS __floe_k1, sum(x) AS __floe_a1 FROM t GROUP BY k) AS __floe_g"
        );
    }

    #[test]
    fn qualify_over_groups_is_a_hidden_column_filtered_on() {
        assert_eq!(
            split("SELECT k, sum(x) AS t FROM t GROUP BY k QUALIFY row_number() OVER (ORDER BY sum(x) DESC) <= 2 ORDER BY k"),
            "SELECT * EXCLUDE (__floe_qualify) FROM (SELECT __floe_k1 AS k, __floe_a1 AS t, \
             row_number() OVER (ORDER BY __floe_a1 DESC) <= 2 AS __floe_qualify \
             FROM (SELECT k AS __floe_k1, sum(x) AS __floe_a1 FROM t GROUP BY k) AS __floe_g ORDER BY k) AS __floe_qualified \
             WHERE __floe_qualify"
        );
        // Under a LIMIT, which must come after it: as written.
        let sql = "SELECT k, sum(x) AS t FROM t GROUP BY k QUALIFY rank() OVER (ORDER BY sum(x)) = 1 LIMIT 1";
        assert_eq!(split(sql), sql);
        // Ungrouped, the same; not under DISTINCT, which comes after it.
        assert_eq!(
            split("SELECT id FROM t QUALIFY row_number() OVER (PARTITION BY k ORDER BY x) = 1"),
            "SELECT * EXCLUDE (__floe_qualify) FROM (SELECT id, row_number() OVER (PARTITION BY k ORDER BY x) = 1 AS __floe_qualify FROM t) \
             AS __floe_qualified WHERE __floe_qualify"
        );
        let sql = "SELECT DISTINCT k FROM t QUALIFY row_number() OVER (PARTITION BY k ORDER BY x) = 1";
        assert_eq!(split(sql), sql);
        // Reading an output's name, it filters the outer query's projection.
        assert_eq!(
            split("SELECT k, rank() OVER (ORDER BY sum(x)) AS r FROM t GROUP BY k QUALIFY r > 1"),
            "SELECT __floe_k1 AS k, rank() OVER (ORDER BY __floe_a1) AS r FROM (SELECT k AS __floe_k1, sum(x) AS __floe_a1 FROM t GROUP BY k) AS __floe_g \
             QUALIFY r > 1"
        );
    }

    #[test]
    fn alike_named_keys_of_two_relations_stay_apart() {
        assert_eq!(
            split("SELECT l.name, r.name, count(*) FROM s.l JOIN r ON l.k = r.id GROUP BY s.l.name, r.name"),
            "SELECT __floe_k1 AS name, __floe_k2 AS name, __floe_a1 AS \"count(*)\" FROM \
             (SELECT s.l.name AS __floe_k1, r.name AS __floe_k2, count(*) AS __floe_a1 FROM s.l JOIN r ON l.k = r.id GROUP BY 1, 2) AS __floe_g"
        );
        // An expression is named after its first input.
        assert_eq!(
            split("SELECT upper(k) || '!', count(*) AS n FROM t GROUP BY k, upper(k)"),
            "SELECT __floe_k2 || '!' AS k, __floe_a1 AS n FROM \
             (SELECT k AS __floe_k1, upper(k) AS __floe_k2, count(*) AS __floe_a1 FROM t GROUP BY 1, 2) AS __floe_g"
        );
    }

    #[test]
    fn grouping_sets_are_groupings_unioned_under_the_projection() {
        assert_eq!(
            split("SELECT a, b, sum(p) AS s, grouping(a) + grouping(b) AS level FROM t GROUP BY ROLLUP (a, b) ORDER BY level, a"),
            "SELECT __floe_k1 AS a, __floe_k2 AS b, __floe_a1 AS s, __floe_g1 + __floe_g2 AS level FROM \
             (SELECT a AS __floe_k1, b AS __floe_k2, sum(p) AS __floe_a1, 0 AS __floe_g1, 0 AS __floe_g2 FROM t GROUP BY a, b \
             UNION ALL SELECT a AS __floe_k1, NULL AS __floe_k2, sum(p) AS __floe_a1, 0 AS __floe_g1, 1 AS __floe_g2 FROM t GROUP BY a \
             UNION ALL SELECT NULL AS __floe_k1, NULL AS __floe_k2, sum(p) AS __floe_a1, 1 AS __floe_g1, 1 AS __floe_g2 FROM t) AS __floe_g \
             ORDER BY level, a"
        );
    }

    #[test]
    fn queries_without_windows_or_groups_stay_as_written() {
        for sql in [
            "SELECT k, sum(p) FROM s GROUP BY k",
            "SELECT k, rank() OVER (ORDER BY p) FROM s",
            "SELECT k, sum(p) FROM s GROUP BY 1",
            // The subquery's aggregate and window are its own.
            "SELECT k, (SELECT max(r) FROM (SELECT sum(p) OVER (ORDER BY k) AS r FROM s) AS w) FROM s",
        ] {
            assert_eq!(split(sql), sql);
        }
    }
}
