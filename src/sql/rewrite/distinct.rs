//! DISTINCT forms polars-sql lacks:
//!
//! - `SELECT DISTINCT ON (k) … ORDER BY k, o`: each key's first row in the
//!   query's order, as `row_number() OVER (PARTITION BY k ORDER BY k, o) = 1`
//!   in a derived table, the order kept outside (by keys the SELECT list
//!   lacks too, carried out of it hidden);
//! - `count(DISTINCT (a, b))` and `count(DISTINCT a, b)`: the distinct
//!   count of one text key built from the columns (a NULL field is a value
//!   of the row in the first form; the second skips rows with a NULL, as
//!   MySQL does).

use std::ops::ControlFlow;

use sqlparser::ast::{Distinct, DuplicateTreatment, Expr, FunctionArguments, OrderByKind, Query, SelectItem, SetExpr, Statement, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{function_args, item_expr, output_names, parse_expr, parse_query};

const FIRST: &str = "__floe_first";
const HIDDEN: &str = "__floe_on_key";
/// Separators no text column is expected to hold: the key of (NULL, 'x') is
/// not the key of ('', 'x').
const NULL_MARK: &str = "\u{1}";
const SEPARATOR: &str = "\u{1f}";

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Distincts);
}

struct Distincts;

impl VisitorMut for Distincts {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(replacement) = count_distinct_rows(expr) {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(rewritten) = distinct_on(query) {
            *query = rewritten;
        }
        ControlFlow::Continue(())
    }
}

fn count_distinct_rows(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    if !function.name.to_string().eq_ignore_ascii_case("count") || function.over.is_some() {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else { return None };
    if !matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct)) {
        return None;
    }
    let args = function_args(function)?;
    let key = match args.as_slice() {
        [Expr::Tuple(fields)] if fields.len() > 1 => text_key(fields.iter(), true),
        [_, _, ..] => {
            let any_null = args.iter().map(|a| format!("({a}) IS NULL")).collect::<Vec<_>>().join(" OR ");
            format!("CASE WHEN {any_null} THEN NULL ELSE {} END", text_key(args.iter().copied(), false))
        }
        _ => return None,
    };
    parse_expr(&format!("count(DISTINCT {key})"))
}

fn text_key<'a>(fields: impl Iterator<Item = &'a Expr>, mark_nulls: bool) -> String {
    let parts: Vec<String> = fields
        .map(|field| {
            let text = format!("CAST({field} AS VARCHAR)");
            if mark_nulls { format!("coalesce({text}, '{NULL_MARK}')") } else { text }
        })
        .collect();
    format!("concat({})", parts.join(&format!(", '{SEPARATOR}', ")))
}

fn distinct_on(query: &Query) -> Option<Query> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    let Some(Distinct::On(keys)) = &select.distinct else { return None };
    let names = output_names(select);
    let mut window_order = Vec::new();
    let mut outer_order = Vec::new();
    // Sort keys the SELECT list lacks, carried out of the derived table under names of their own.
    let mut hidden = Vec::new();
    let mut excluded = vec![FIRST.to_string()];
    if let Some(order_by) = &query.order_by {
        let OrderByKind::Expressions(items) = &order_by.kind else { return None };
        for item in items {
            let (inner, outer) = match order_key(&item.expr, select, &names) {
                Some(key) => key,
                None if matches!(item.expr, Expr::Value(_)) => return None,
                None => {
                    let name = format!("{HIDDEN}{}", hidden.len() + 1);
                    hidden.push(SelectItem::ExprWithAlias { expr: item.expr.clone(), alias: sqlparser::ast::Ident::new(&name) });
                    excluded.push(name.clone());
                    (item.expr.to_string(), name)
                }
            };
            let options = item.options.to_string();
            // Within a partition its keys are equal: they need no place in its order
            // (and polars-sql takes one direction for all of a window's keys).
            if !keys.iter().any(|key| key.to_string() == inner) {
                window_order.push(format!("{inner}{options}"));
            }
            outer_order.push(format!("{outer}{options}"));
        }
    }
    let mut inner = select.as_ref().clone();
    inner.distinct = None;
    let partition = keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let order = if window_order.is_empty() { String::new() } else { format!(" ORDER BY {}", window_order.join(", ")) };
    let window = parse_expr(&format!("row_number() OVER (PARTITION BY {partition}{order})"))?;
    inner.projection.extend(hidden);
    inner.projection.push(SelectItem::ExprWithAlias { expr: window, alias: sqlparser::ast::Ident::new(FIRST) });
    let outer_order = if outer_order.is_empty() { String::new() } else { format!(" ORDER BY {}", outer_order.join(", ")) };
    let limit = query.limit_clause.as_ref().map(|l| l.to_string()).unwrap_or_default();
    let mut rewritten = parse_query(&format!(
        "SELECT * EXCLUDE ({}) FROM ({inner}) AS __floe_on WHERE {FIRST} = 1{outer_order}{limit}",
        excluded.join(", ")
    ))?;
    rewritten.with = query.with.clone();
    Some(rewritten)
}

/// An ORDER BY key as the window reads it (the SELECT's own expression for an
/// ordinal) and as the outer query does (an output column's name).
fn order_key(expr: &Expr, select: &sqlparser::ast::Select, names: &[Option<String>]) -> Option<(String, String)> {
    let output = |index: usize| -> Option<(String, String)> {
        let name = names.get(index)?.clone()?;
        let inner = item_expr(select.projection.get(index)?)?.to_string();
        Some((inner, format!("\"{name}\"")))
    };
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(n, _) => output(n.parse::<usize>().ok()?.checked_sub(1)?),
            _ => None,
        },
        Expr::Identifier(ident) => output(names.iter().position(|n| n.as_deref() == Some(ident.value.as_str()))?),
        Expr::CompoundIdentifier(parts) => {
            let last = &parts.last()?.value;
            let (_, outer) = output(names.iter().position(|n| n.as_deref() == Some(last.as_str()))?)?;
            Some((expr.to_string(), outer))
        }
        _ => None,
    }
}
