//! `WITH RECURSIVE`, which polars-sql refuses, taken apart. Each CTE that
//! reads itself becomes a first part (the UNION's branches that do not read
//! it) and a recursive part (the branch that does), each a query of its own
//! over the CTEs written before it, the CTE itself a relation the planner
//! provides (`exec/recursion.rs` runs the recursive part round by round over
//! the rows the round before added). The query after the WITH keeps the CTEs
//! that do not read themselves and reads the recursive ones as relations.
//! Apart, every rewrite sees ordinary queries: one that moved a UNION's
//! branches or pushed a filter into a CTE would change what a recursion means.

use std::ops::ControlFlow;

use sqlparser::ast::{Cte, ObjectName, ObjectNamePart, Query as Ast, SetExpr, SetOperator, SetQuantifier, Statement};

use super::visit::{visit_relations, visit_relations_mut, Visit};
use super::{Error, Query, Result};

/// A recursive CTE: its rows are the first part's, then, round by round, the
/// recursive part's over the rows the round before added, until a round
/// adds none.
#[derive(Debug, Clone)]
pub struct Recursion {
    /// The CTE's name, the relation its parts and the query after it read.
    pub name: String,
    /// The column names it is given (`WITH RECURSIVE r(a, b) AS …`), if any.
    pub columns: Vec<String>,
    pub first: Query,
    pub recursive: Query,
    /// `UNION` rather than `UNION ALL`: a row already produced is not added
    /// again, and a round that adds only such rows ends the recursion.
    pub distinct: bool,
}

/// A recursive CTE's parts as statements, before analysis.
pub(super) struct Parts {
    pub name: String,
    pub columns: Vec<String>,
    pub first: Statement,
    pub recursive: Statement,
    pub distinct: bool,
}

/// Whether `statement` is a query under `WITH RECURSIVE`.
pub(super) fn is_recursive(statement: &Statement) -> bool {
    matches!(statement, Statement::Query(query) if query.with.as_ref().is_some_and(|with| with.recursive))
}

/// Takes the CTEs that read themselves out of `statement`'s `WITH RECURSIVE`,
/// in order, leaving the others (in a plain WITH); each one's parts see the
/// ordinary CTEs written before it.
pub(super) fn split(statement: &mut Statement) -> Result<Vec<Parts>> {
    if !is_recursive(statement) {
        return Ok(Vec::new());
    }
    spelled_as_defined(statement);
    let Statement::Query(query) = statement else { return Ok(Vec::new()) };
    let Some(mut with) = query.with.take() else { return Ok(Vec::new()) };
    with.recursive = false;
    let mut ordinary: Vec<Cte> = Vec::new();
    let mut recursions = Vec::new();
    for cte in std::mem::take(&mut with.cte_tables) {
        let name = cte.alias.name.value.clone();
        if !reads(cte.query.as_ref(), &name) {
            ordinary.push(cte);
            continue;
        }
        let (first, recursive, distinct) = branches(*cte.query, &name)?;
        let columns = cte.alias.columns.iter().map(|column| column.name.value.clone()).collect();
        let over = |body: SetExpr| {
            let mut part = super::rewrite::parse_query("SELECT 1").expect("a literal query parses");
            part.with = (!ordinary.is_empty()).then(|| sqlparser::ast::With { cte_tables: ordinary.clone(), ..with.clone() });
            part.body = Box::new(body);
            Statement::Query(Box::new(part))
        };
        recursions.push(Parts { first: over(first), recursive: over(recursive), name, columns, distinct });
    }
    if !ordinary.is_empty() {
        with.cte_tables = ordinary;
        query.with = Some(with);
    }
    Ok(read_ones(recursions, statement))
}

/// The recursions something reads (the query, or a recursion after it that
/// is read): one nothing reads is not computed, as SQL never evaluates it.
fn read_ones(recursions: Vec<Parts>, query: &Statement) -> Vec<Parts> {
    let mut kept: Vec<Parts> = Vec::new();
    for parts in recursions.into_iter().rev() {
        let read_later = kept.iter().any(|later| reads(&later.first, &parts.name) || reads(&later.recursive, &parts.name));
        if read_later || reads(query, &parts.name) {
            kept.push(parts);
        }
    }
    kept.reverse();
    kept
}

/// Every unquoted single-part reference to a CTE that reads itself spelled
/// as the CTE is (`FROM W` of `WITH RECURSIVE w`): unquoted names are one
/// name whatever their case, and the parts are matched by name.
fn spelled_as_defined(statement: &mut Statement) {
    let Statement::Query(query) = &*statement else { return };
    let Some(with) = &query.with else { return };
    let names: Vec<String> = with.cte_tables.iter().map(|cte| cte.alias.name.value.clone()).filter(|name| reads(&**query, name)).collect();
    let _ = visit_relations_mut(statement, |relation| {
        if let [ObjectNamePart::Identifier(ident)] = relation.0.as_mut_slice() {
            let defined = names.iter().find(|name| ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case(name));
            if let Some(defined) = defined {
                ident.value = defined.clone();
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The first and the recursive part of a recursive CTE's query, and whether
/// its UNION is distinct.
fn branches(query: Ast, name: &str) -> Result<(SetExpr, SetExpr, bool)> {
    let shape = || {
        Error::Unsupported(format!(
            "recursive CTE `{name}` must be `<query not reading {name}> UNION [ALL] <query reading {name}>`, \
             without ORDER BY, LIMIT or a WITH of its own"
        ))
    };
    let plain = query.with.is_none() && query.order_by.is_none() && query.limit_clause.is_none() && query.fetch.is_none();
    let SetExpr::SetOperation { op: SetOperator::Union, set_quantifier, left, right } = *query.body else { return Err(shape()) };
    let distinct = match set_quantifier {
        SetQuantifier::All => false,
        SetQuantifier::None | SetQuantifier::Distinct => true,
        _ => return Err(shape()),
    };
    if !plain || reads(left.as_ref(), name) {
        return Err(shape());
    }
    Ok((*left, *right, distinct))
}

/// Whether `node` (a CTE's query or a branch of it) reads a relation named
/// `name`: the CTE itself.
fn reads(node: &impl Visit, name: &str) -> bool {
    let named = |ident: &sqlparser::ast::Ident| ident.value == name || (ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case(name));
    let single = |relation: &ObjectName| relation.0.len() == 1 && relation.0[0].as_ident().is_some_and(named);
    visit_relations(node, |relation| if single(relation) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }).is_break()
}
