//! The names a query gives itself, spelled as it declares them.

use std::collections::{BTreeSet, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, ObjectNamePart, OrderByKind, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor};

use crate::sql::visit::{VisitMut, VisitorMut};

use super::super::scope::{cte_names, output_names};
use super::respell;

/// The names a query gives itself, spelled as it declares them: CTEs read
/// in FROM, qualifiers naming its relations (`qualified.*` too), and ORDER
/// BY names of a SELECT's outputs; functions' names in lower case.
pub(in super::super) fn as_declared(statement: &mut Statement) {
    let ctes = cte_names(statement);
    if !ctes.is_empty() {
        let _ = statement.visit(&mut CteReferences(&ctes));
    }
    let _ = statement.visit(&mut Qualifiers::default());
    let _ = statement.visit(&mut OutputNames);
    let _ = statement.visit(&mut FunctionNames);
}

/// Functions named in lower case: Floe's passes tell a GROUP BY key in the
/// SELECT list by equality (`Max(x)` is `max(x)`).
struct FunctionNames;

impl VisitorMut for FunctionNames {
    type Break = ();
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr {
            for part in &mut function.name.0 {
                if let ObjectNamePart::Identifier(ident) = part {
                    if ident.quote_style.is_none() {
                        ident.value.make_ascii_lowercase();
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

struct CteReferences<'a>(&'a HashSet<String>);

impl VisitorMut for CteReferences<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, args: None, .. } = factor {
            if let [part] = name.0.as_mut_slice() {
                if let ObjectNamePart::Identifier(ident) = part {
                    respell(ident, self.0);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The names that qualify the columns of a SELECT's relations: an alias,
/// else a table's name parts.
fn relation_names(select: &Select) -> Vec<Vec<String>> {
    fn add(factor: &TableFactor, names: &mut Vec<Vec<String>>) {
        match factor {
            TableFactor::Table { name, alias: None, .. } => {
                names.extend(name.0.iter().map(|part| part.as_ident().map(|ident| ident.value.clone())).collect::<Option<Vec<_>>>());
            }
            TableFactor::NestedJoin { table_with_joins, alias: None } => {
                add(&table_with_joins.relation, names);
                table_with_joins.joins.iter().for_each(|join| add(&join.relation, names));
            }
            other => names.extend(table_alias(other).map(|alias| vec![alias.name.value.clone()])),
        }
    }
    let mut names = Vec::new();
    for table in &select.from {
        add(&table.relation, &mut names);
        table.joins.iter().for_each(|join| add(&join.relation, &mut names));
    }
    names
}

fn table_alias(factor: &TableFactor) -> Option<&sqlparser::ast::TableAlias> {
    match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
        _ => None,
    }
}

/// `EMP.name` for a relation read as `fz.emp`, `E.name` for one aliased
/// `e` or `E`: a qualifier of k parts names the relation of the nearest
/// SELECT whose name ends in those k parts.
#[derive(Default)]
struct Qualifiers {
    /// Per enclosing SELECT (and query, for its ORDER BY), its relations' names.
    scopes: Vec<Vec<Vec<String>>>,
}

impl Qualifiers {
    fn respell(&self, qualifier: &mut [Ident]) {
        if qualifier.is_empty() || qualifier.iter().any(|part| part.quote_style.is_some()) {
            return;
        }
        let same = |ending: &[String], exact: bool| {
            ending.iter().zip(qualifier.iter()).all(|(name, part)| if exact { *name == part.value } else { name.eq_ignore_ascii_case(&part.value) })
        };
        for scope in self.scopes.iter().rev() {
            let endings: BTreeSet<&[String]> =
                scope.iter().filter(|name| name.len() >= qualifier.len()).map(|name| &name[name.len() - qualifier.len()..]).collect();
            if endings.iter().any(|ending| same(ending, true)) {
                return;
            }
            let mut alike = endings.into_iter().filter(|ending| same(ending, false));
            match (alike.next(), alike.next()) {
                (None, _) => continue,
                (Some(only), None) => qualifier.iter_mut().zip(only.iter()).for_each(|(part, spelled)| part.value = spelled.clone()),
                (Some(_), Some(_)) => {}
            }
            return;
        }
    }
}

impl VisitorMut for Qualifiers {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let names = match query.body.as_ref() {
            SetExpr::Select(select) => relation_names(select),
            _ => Vec::new(),
        };
        self.scopes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        self.scopes.push(relation_names(select));
        for item in &mut select.projection {
            if let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) = item {
                let mut parts: Vec<Ident> = name.0.iter().filter_map(|part| part.as_ident().cloned()).collect();
                if parts.len() == name.0.len() {
                    self.respell(&mut parts);
                    name.0 = parts.into_iter().map(ObjectNamePart::Identifier).collect();
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _: &mut Select) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr {
            if let Some((_, qualifier)) = parts.split_last_mut() {
                self.respell(qualifier);
            }
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT id AS X … ORDER BY x`: a sort key named as an output sorts by it.
struct OutputNames;

impl VisitorMut for OutputNames {
    type Break = ();
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_ref() else { return ControlFlow::Continue(()) };
        let outputs: Vec<String> = output_names(select).into_iter().flatten().collect();
        let Some(OrderByKind::Expressions(keys)) = query.order_by.as_mut().map(|order_by| &mut order_by.kind) else {
            return ControlFlow::Continue(());
        };
        for key in keys {
            if let Expr::Identifier(ident) = &mut key.expr {
                respell(ident, &outputs);
            }
        }
        ControlFlow::Continue(())
    }
}
