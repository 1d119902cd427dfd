//! Decomposable aggregates: the partial SQL each partition runs and the
//! final SQL the coordinator runs over their rows.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, FunctionArguments, GroupByExpr, OrderByKind, Query, Select, SelectItem};
use crate::sql::visit::{Visit, VisitMut, VisitorMut};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::plan::{join, ExprVisitor, Reason};
use crate::sql::aggregate_names::aggregate;

/// Every aggregate call of the query's projection, HAVING and ORDER BY, by
/// text; an aggregate that does not decompose keeps the query on one node.
pub(super) fn aggregate_calls(query: &Query) -> Result<BTreeMap<String, Expr>, Reason> {
    let mut calls = BTreeMap::new();
    let mut reason = None;
    let _ = query.visit(&mut ExprVisitor(|expr: &Expr| {
        let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
        let name = function.name.to_string().to_ascii_lowercase();
        match aggregate(&name) {
            None => return ControlFlow::Continue(()),
            Some(found) if !found.decomposes => {
                reason = Some(format!("aggregate `{name}` does not decompose; runs on one node"));
                return ControlFlow::Break(());
            }
            Some(_) => {}
        }
        let distinct = matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some());
        if distinct || function.filter.is_some() {
            reason = Some(format!("`{expr}` does not decompose; runs on one node"));
            return ControlFlow::Break(());
        }
        calls.insert(expr.to_string(), expr.clone());
        ControlFlow::Continue(())
    }));
    match reason {
        Some(reason) => Err(reason),
        None => Ok(calls),
    }
}

fn parse_expr(text: &str) -> Expr {
    Parser::new(&GenericDialect {}).try_with_sql(text).and_then(|mut p| p.parse_expr()).expect("generated SQL parses")
}

/// Partial SQL (per partition: group keys and partial aggregates) and final
/// SQL (over `partials`: the aggregates of those, then HAVING, ORDER BY, LIMIT).
pub(super) fn split_aggregation(
    query: &Query,
    select: &Select,
    aggregates: &BTreeMap<String, Expr>,
    output_names: &[String],
) -> Result<(String, String), Reason> {
    let keys: Vec<Expr> = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.clone(),
        _ => return Err("GROUP BY ALL / ROLLUP / CUBE run on one node".into()),
    };
    let mut partial_items = Vec::new();
    let mut replacements: HashMap<String, Expr> = HashMap::new();
    for (index, key) in keys.iter().enumerate() {
        if matches!(key, Expr::Value(_)) {
            return Err("GROUP BY by position runs on one node".into());
        }
        partial_items.push(format!("{key} AS __k{index}"));
        replacements.insert(key.to_string(), parse_expr(&format!("__k{index}")));
    }
    for (index, (text, call)) in aggregates.iter().enumerate() {
        let Expr::Function(function) = call else { unreachable!("aggregates are function calls") };
        let name = function.name.to_string().to_ascii_lowercase();
        let args = match &function.args {
            FunctionArguments::List(list) => join(&list.args),
            _ => String::new(),
        };
        let combined = match name.as_str() {
            "sum" | "count" => {
                partial_items.push(format!("{call} AS __a{index}"));
                format!("sum(__a{index})")
            }
            "min" | "max" => {
                partial_items.push(format!("{call} AS __a{index}"));
                format!("{name}(__a{index})")
            }
            _ => {
                partial_items.push(format!("sum({args}) AS __a{index}"));
                partial_items.push(format!("count({args}) AS __c{index}"));
                format!("CAST(sum(__a{index}) AS DOUBLE) / CAST(sum(__c{index}) AS DOUBLE)")
            }
        };
        replacements.insert(text.clone(), parse_expr(&combined));
    }

    let items: Vec<&Expr> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Ok(expr),
            _ => Err("`*` beside aggregates runs on one node".to_string()),
        })
        .collect::<Result<_, _>>()?;
    if items.len() != output_names.len() {
        return Err("the projection does not match the planned columns; runs on one node".into());
    }
    let final_items: Vec<String> = items
        .iter()
        .zip(output_names)
        .map(|(expr, name)| format!("{} AS \"{}\"", replaced(expr, &replacements), name.replace('"', "\"\"")))
        .collect();

    let mut partial_sql = format!("SELECT {} FROM {}", partial_items.join(", "), join(&select.from));
    if let Some(selection) = &select.selection {
        partial_sql += &format!(" WHERE {selection}");
    }
    if !keys.is_empty() {
        partial_sql += &format!(" GROUP BY {}", join(&keys));
    }

    let mut final_sql = format!("SELECT {} FROM partials", final_items.join(", "));
    if !keys.is_empty() {
        let key_names: Vec<String> = (0..keys.len()).map(|index| format!("__k{index}")).collect();
        final_sql += &format!(" GROUP BY {}", key_names.join(", "));
    }
    if let Some(having) = &select.having {
        final_sql += &format!(" HAVING {}", replaced(having, &replacements));
    }
    if let Some(order_by) = &query.order_by {
        let OrderByKind::Expressions(exprs) = &order_by.kind else { return Err("ORDER BY ALL runs on one node".into()) };
        let keys: Vec<String> = exprs
            .iter()
            .map(|key| {
                let mut key = key.clone();
                let is_output = matches!(&key.expr, Expr::Identifier(ident) if output_names.contains(&ident.value));
                if !is_output {
                    key.expr = replaced(&key.expr, &replacements);
                }
                key.to_string()
            })
            .collect();
        final_sql += &format!(" ORDER BY {}", keys.join(", "));
    }
    if let Some(limit) = &query.limit_clause {
        final_sql += &format!(" {limit}");
    }
    Ok((partial_sql, crate::sql::generated_for_polars(&final_sql)))
}

/// `expr` with every sub-expression whose text `replacements` names swapped,
/// outermost first (so `sum(k)` is replaced whole even when `k` is a key).
fn replaced(expr: &Expr, replacements: &HashMap<String, Expr>) -> Expr {
    struct Replace<'a>(&'a HashMap<String, Expr>);
    impl VisitorMut for Replace<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Some(replacement) = self.0.get(&expr.to_string()) {
                *expr = replacement.clone();
            }
            ControlFlow::Continue(())
        }
    }
    let mut expr = expr.clone();
    let _ = VisitMut::visit(&mut expr, &mut Replace(replacements));
    expr
}

