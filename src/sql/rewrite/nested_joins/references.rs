//! The query's references to the relations a nested join held, read
//! through the derived table it became: `b.x` and `b.*`, and the names
//! unaliased items had.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableFactor, TableWithJoins};

use super::super::aggregates::opens_subquery;
use super::super::names::polars_item_name;
use super::super::resolver::factors;
use super::super::scope::{any_outside_subqueries, relation_qualifier};
use super::Moved;
use crate::sql::visit::{VisitMut, VisitorMut};

pub(super) fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// `select`'s `b.x` and `b.*` for the relations `moved` holds. An item
/// without an alias keeps the name it had: a column's, or a subquery's text.
pub(super) fn read_moved(select: &mut Select, moved: &Moved) {
    let mut projection = Vec::new();
    for item in std::mem::take(&mut select.projection) {
        match &item {
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), options) if options.to_string().is_empty() => {
                let qualifier = name.0.last().and_then(|part| part.as_ident()).map(|ident| ident.value.to_lowercase());
                match qualifier.and_then(|qualifier| moved.listed.get(&qualifier)) {
                    Some(pairs) => projection.extend(pairs.iter().map(|(original, name)| spelled(moved, original, name))),
                    None => projection.push(item),
                }
            }
            _ => projection.push(item),
        }
    }
    let named: Vec<Option<String>> = projection.iter().map(presented).collect();
    select.projection = projection;
    let _ = VisitMut::visit(select, &mut Qualified::new(moved));
    for (item, named) in select.projection.iter_mut().zip(named) {
        let (Some(name), Some(now)) = (named, presented(item)) else { continue };
        if let (SelectItem::UnnamedExpr(expr), false) = (&*item, now == name) {
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: quoted(&name) };
        }
    }
}

/// The name an unaliased item is presented under: its text where it holds
/// a subquery (`subquery::keep_written_name`), else Polars'.
fn presented(item: &SelectItem) -> Option<String> {
    let SelectItem::UnnamedExpr(expr) = item else { return None };
    // The walk sees `expr` itself too: a subquery item is one.
    let name = match any_outside_subqueries(expr, opens_subquery) {
        true => expr.to_string(),
        false => polars_item_name(item).map(|(name, _)| name).or_else(|| match expr {
            Expr::CompoundIdentifier(parts) => parts.last().map(|part| part.value.clone()),
            _ => None,
        })?,
    };
    Some(name)
}

/// A moved relation's column as a SELECT item under the name it had.
fn spelled(moved: &Moved, original: &str, name: &str) -> SelectItem {
    let column = Expr::CompoundIdentifier(vec![quoted(&moved.table), quoted(name)]);
    match original == name {
        true => SelectItem::UnnamedExpr(column),
        false => SelectItem::ExprWithAlias { expr: column, alias: quoted(original) },
    }
}

/// Reads `b.x` (or `schema.b.x`) as the derived table's column, except
/// where a query names a relation or CTE `b` of its own (and inside the
/// derived table itself).
pub(super) struct Qualified<'m> {
    moved: &'m Moved,
    /// The moved qualifiers each enclosing query hides.
    hidden: Vec<HashSet<String>>,
}

impl<'m> Qualified<'m> {
    pub(super) fn new(moved: &'m Moved) -> Self {
        Self { moved, hidden: Vec::new() }
    }

    /// The moved qualifiers `query` names relations or CTEs of its own by.
    fn declared(&self, query: &Query) -> HashSet<String> {
        let mut names: Vec<String> = query.with.iter().flat_map(|with| &with.cte_tables).map(|cte| cte.alias.name.value.to_lowercase()).collect();
        let mut bodies = vec![query.body.as_ref()];
        while let Some(body) = bodies.pop() {
            match body {
                SetExpr::Select(select) => names.extend(qualifiers(&select.from)),
                SetExpr::SetOperation { left, right, .. } => bodies.extend([left.as_ref(), right.as_ref()]),
                SetExpr::Query(query) => bodies.push(query.body.as_ref()),
                _ => {}
            }
        }
        names.into_iter().filter(|name| self.moved.listed.contains_key(name)).collect()
    }

    fn is_the_table(&self, factor: &TableFactor) -> bool {
        matches!(factor, TableFactor::Derived { alias: Some(alias), .. } if alias.name.value == self.moved.table)
    }
}

/// The qualifiers of a FROM's relations, those of its nested joins too (lowercase).
fn qualifiers(from: &[TableWithJoins]) -> Vec<String> {
    let mut names = Vec::new();
    for factor in factors(from) {
        match factor {
            TableFactor::NestedJoin { table_with_joins, alias } => {
                names.extend(alias.iter().map(|alias| alias.name.value.to_lowercase()));
                names.extend(qualifiers(std::slice::from_ref(table_with_joins)));
            }
            other => names.extend(relation_qualifier(other).map(|ident| ident.value.to_lowercase())),
        }
    }
    names
}

impl VisitorMut for Qualified<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let declared = self.declared(query);
        self.hidden.push(declared);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.hidden.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        // The derived table's own query reads the relations by their names.
        if self.is_the_table(factor) {
            self.hidden.push(self.moved.listed.keys().cloned().collect());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if self.is_the_table(factor) {
            self.hidden.pop();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::CompoundIdentifier(parts) = expr else { return ControlFlow::Continue(()) };
        let [.., qualifier, column] = parts.as_slice() else { return ControlFlow::Continue(()) };
        let qualifier = qualifier.value.to_lowercase();
        if self.hidden.iter().any(|hidden| hidden.contains(&qualifier)) {
            return ControlFlow::Continue(());
        }
        if let Some(name) = self.moved.columns.get(&(qualifier, column.value.to_lowercase())) {
            *expr = Expr::CompoundIdentifier(vec![quoted(&self.moved.table), quoted(name)]);
        }
        ControlFlow::Continue(())
    }
}
