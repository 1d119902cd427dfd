//! Output names for unaliased projections.
//!
//! polars-sql names an unaliased expression after its first column, so
//! `SELECT min(x), max(x)` fails as "duplicate output name `x`". Where such
//! names would collide, the colliding expressions are aliased by their SQL
//! text (`"max(x)"`, as DuckDB names them); queries that work already keep
//! Polars' names.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, Select, SelectItem, Statement, Visit, VisitMut, Visitor, VisitorMut};

use super::aggregates::holds_aggregate;
use super::scope::{has_group_by, item_expr};

pub(super) fn first_column(expr: &Expr) -> Option<String> {
    struct First(Option<String>);
    impl Visitor for First {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let name = match expr {
                Expr::Identifier(ident) => Some(ident.value.clone()),
                Expr::CompoundIdentifier(idents) => idents.last().map(|i| i.value.clone()),
                _ => None,
            };
            match name {
                Some(name) => {
                    self.0 = Some(name);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        }
    }
    let mut first = First(None);
    let _ = expr.visit(&mut first);
    first.0
}

/// The name Polars gives a projection, and whether aliasing it is ours to do.
pub(super) fn polars_name(item: &SelectItem) -> Option<(String, bool)> {
    match item {
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some((ident.value.clone(), false)),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(idents)) => idents.last().map(|i| (i.value.clone(), false)),
        SelectItem::UnnamedExpr(expr) => Some((first_column(expr).unwrap_or_else(|| "literal".into()), true)),
        SelectItem::ExprWithAlias { alias, .. } => Some((alias.value.clone(), false)),
        _ => None,
    }
}

fn name_select(select: &mut Select) {
    let names: Vec<_> = select.projection.iter().map(polars_name).collect();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (name, _) in names.iter().flatten() {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    let colliding: Vec<usize> = names
        .iter()
        .enumerate()
        .filter_map(|(i, name)| match name {
            Some((name, true)) if uses[name.as_str()] > 1 => Some(i),
            _ => None,
        })
        .collect();
    for index in colliding {
        if let SelectItem::UnnamedExpr(expr) = &select.projection[index] {
            let alias = Ident::with_quote('"', expr.to_string());
            select.projection[index] = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
        }
    }
}

/// Where a repeated output name is marked, between the name and its ordinal.
const REPEAT_MARK: &str = "__floe_repeat_";

/// Repeated output names of the statement's own SELECT list (`SELECT a.id,
/// b.id`, `x AS n, y AS n`): SQL allows them and Arrow does too, Polars'
/// frames do not. Each repeat is renamed with a mark that [`presented_name`]
/// takes off again, so the client sees the names the query wrote.
pub(super) fn mark_repeated_outputs(statement: &mut Statement) {
    let Statement::Query(query) = statement else { return };
    let Some(select) = super::scope::selects_mut(&mut query.body).into_iter().next() else { return };
    let mut uses: HashMap<String, usize> = HashMap::new();
    for item in select.projection.iter_mut() {
        // Unaliased expressions are named apart by `name_colliding_projections`.
        let Some((name, false)) = polars_name(item) else { continue };
        let used = uses.entry(name.clone()).or_default();
        *used += 1;
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
        if *used > 1 {
            let alias = Ident::with_quote('"', format!("{name}{REPEAT_MARK}{used}"));
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
        }
    }
}

/// The name a client sees for an output column Polars named `name`.
pub fn presented_name(name: &str) -> &str {
    match name.rsplit_once(REPEAT_MARK) {
        Some((presented, ordinal)) if !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()) => presented,
        _ => name,
    }
}

pub(super) fn name_colliding_projections(statement: &mut Statement) {
    struct Names;
    impl VisitorMut for Names {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            name_select(select);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Names);
}

/// `ORDER BY sum(x)` in a grouped query whose SELECT list has `sum(x)`:
/// polars-sql sorts the grouped frame, where the aggregate is no longer an
/// expression it can evaluate, so the key becomes the item's position (SQL
/// means the same; TPC-DS 85, 91).
pub(super) fn order_by_projections(statement: &mut Statement) {
    struct Positions;
    impl VisitorMut for Positions {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
            let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else { return ControlFlow::Continue(()) };
            let Some(sqlparser::ast::OrderBy { kind: sqlparser::ast::OrderByKind::Expressions(items), .. }) = &mut query.order_by
            else {
                return ControlFlow::Continue(());
            };
            let aggregates = select.projection.iter().filter_map(item_expr).any(holds_aggregate);
            if !has_group_by(select) && !aggregates {
                return ControlFlow::Continue(());
            }
            for item in items.iter_mut() {
                if matches!(item.expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)) {
                    continue;
                }
                let written = item.expr.to_string();
                let same = |item: &SelectItem| item_expr(item).is_some_and(|expr| expr.to_string().eq_ignore_ascii_case(&written));
                if let Some(position) = select.projection.iter().position(same) {
                    item.expr = Expr::value(sqlparser::ast::Value::Number((position + 1).to_string(), false));
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Positions);
}

/// Relation aliases spelled in another case where they are used (`) CATALOG
/// … catalog.item`, TPC-DS 49): unquoted names are case-insensitive in SQL
/// but not to polars-sql, so unquoted aliases and the qualifiers naming them
/// are lowercased.
pub(super) fn alias_case(statement: &mut Statement) {
    struct Aliases(std::collections::HashSet<String>);
    impl VisitorMut for Aliases {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut sqlparser::ast::TableFactor) -> ControlFlow<()> {
            use sqlparser::ast::TableFactor::*;
            if let Table { alias: Some(alias), .. } | Derived { alias: Some(alias), .. } = factor {
                if alias.name.quote_style.is_none() {
                    alias.name.value = alias.name.value.to_ascii_lowercase();
                    self.0.insert(alias.name.value.clone());
                }
            }
            ControlFlow::Continue(())
        }
    }
    struct Qualifiers(std::collections::HashSet<String>);
    impl VisitorMut for Qualifiers {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = expr {
                if let [first, _, ..] = parts.as_mut_slice() {
                    let lower = first.value.to_ascii_lowercase();
                    if first.quote_style.is_none() && first.value != lower && self.0.contains(&lower) {
                        first.value = first.value.to_ascii_lowercase();
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut aliases = Aliases(Default::default());
    let _ = statement.visit(&mut aliases);
    if !aliases.0.is_empty() {
        // Only what differs from its alias is rewritten; the rest prints as written.
        let _ = statement.visit(&mut Qualifiers(aliases.0));
    }
}
