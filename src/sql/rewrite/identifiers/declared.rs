//! The names a query gives itself, spelled as it declares them.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectNamePart, OrderByKind, Query, Select, SelectItem, SetExpr, Statement, TableFactor};

use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

use super::respell;

/// The names a query gives itself, spelled as it declares them: CTEs read
/// in FROM, qualifiers naming relations read without an alias, and ORDER BY
/// names of a SELECT's outputs; functions' names in lower case. Aliased
/// relations' qualifiers are `names::alias_case`'s.
pub(in super::super) fn as_declared(statement: &mut Statement) {
    let ctes = declared_ctes(statement);
    if !ctes.is_empty() {
        let _ = statement.visit(&mut CteReferences(&ctes));
    }
    let relations = unaliased_relations(statement);
    if !relations.is_empty() {
        let _ = statement.visit(&mut Qualifiers(&relations));
    }
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

fn declared_ctes(statement: &Statement) -> Vec<String> {
    struct Ctes(Vec<String>);
    impl Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            self.0.extend(query.with.iter().flat_map(|with| &with.cte_tables).map(|cte| cte.alias.name.value.clone()));
            ControlFlow::Continue(())
        }
    }
    let mut ctes = Ctes(Vec::new());
    let _ = statement.visit(&mut ctes);
    ctes.0
}

struct CteReferences<'a>(&'a [String]);

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

/// Each relation read without an alias, by its name's parts.
fn unaliased_relations(statement: &Statement) -> Vec<Vec<String>> {
    struct Relations(Vec<Vec<String>>);
    impl Visitor for Relations {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, alias: None, .. } = factor {
                let parts: Option<Vec<String>> = name.0.iter().map(|part| part.as_ident().map(|ident| ident.value.clone())).collect();
                self.0.extend(parts.filter(|parts| !self.0.contains(parts)));
            }
            ControlFlow::Continue(())
        }
    }
    let mut relations = Relations(Vec::new());
    let _ = statement.visit(&mut relations);
    relations.0
}

/// `EMP.name` for a relation read as `fz.emp`: a qualifier of k parts names
/// a relation whose name ends in those k parts.
struct Qualifiers<'a>(&'a [Vec<String>]);

impl VisitorMut for Qualifiers<'_> {
    type Break = ();
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::CompoundIdentifier(parts) = expr else { return ControlFlow::Continue(()) };
        let Some((_, qualifier)) = parts.split_last_mut() else { return ControlFlow::Continue(()) };
        if qualifier.iter().any(|part| part.quote_style.is_some()) {
            return ControlFlow::Continue(());
        }
        let endings: BTreeSet<&[String]> =
            self.0.iter().filter(|name| name.len() >= qualifier.len()).map(|name| &name[name.len() - qualifier.len()..]).collect();
        let same = |ending: &&[String], exact: bool| {
            ending.iter().zip(qualifier.iter()).all(|(name, part)| if exact { *name == part.value } else { name.eq_ignore_ascii_case(&part.value) })
        };
        if endings.iter().any(|ending| same(ending, true)) {
            return ControlFlow::Continue(());
        }
        let mut alike = endings.iter().filter(|ending| same(ending, false));
        if let (Some(only), None) = (alike.next(), alike.next()) {
            for (part, spelled) in qualifier.iter_mut().zip(only.iter()) {
                part.value = spelled.clone();
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
        let outputs = output_names(select);
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

fn output_names(select: &Select) -> Vec<String> {
    let name = |item: &SelectItem| match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.clone()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().map(|part| part.value.clone()),
        _ => None,
    };
    select.projection.iter().filter_map(name).collect()
}

