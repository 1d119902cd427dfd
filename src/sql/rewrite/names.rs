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
fn polars_name(item: &SelectItem) -> Option<(String, bool)> {
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
