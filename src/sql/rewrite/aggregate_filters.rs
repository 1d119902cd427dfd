//! An aggregate's `FILTER (WHERE …)` in the forms polars-sql plans right:
//! over a window (which it refuses) and of a condition that reads no column
//! (which Polars applied to one row).

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{parse_expr, reads_column};
use super::synonyms::bare_name;

/// The FILTERs of constant conditions (`constant_filter`), at planning time.
pub(super) fn constant(statement: &mut Statement) {
    struct Filters;
    impl VisitorMut for Filters {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            constant_filter(expr);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Filters);
}

/// `f(x) FILTER (WHERE c)` whose condition reads no column (`FILTER (WHERE
/// 1 = 1)`, an EXISTS that is always true) as `CASE WHEN c THEN f(x) ELSE
/// <f over no rows> END`: Polars applied such a filter to one row, so every
/// group counted 1.
pub(super) fn constant_filter(expr: &mut Expr) {
    let Expr::Function(function) = expr else { return };
    let Some(condition) = function.filter.take_if(|condition| !reads_column(condition)) else { return };
    let none = if bare_name(function).as_deref() == Some("count") { "0" } else { "NULL" };
    if let Some(case) = parse_expr(&format!("CASE WHEN {} THEN {function} ELSE {none} END", as_condition(&condition))) {
        *expr = case;
    } else {
        function.filter = Some(condition);
    }
}

/// `f(x) FILTER (WHERE c) OVER (…)`, which polars-sql refuses, as
/// `f(CASE WHEN c THEN x END) OVER (…)` (`count(*)` counting `CASE WHEN c
/// THEN 1 END`): the aggregates taken skip NULLs, so the rows the filter
/// drops count for nothing, as SQL defines FILTER.
pub(super) fn filtered_arguments(function: &mut Function) {
    const SKIPPING_NULLS: &[&str] = &["count", "sum", "avg", "min", "max", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop", "string_agg", "bool_and", "bool_or", "every"];
    if function.over.is_none() || !bare_name(function).is_some_and(|name| SKIPPING_NULLS.contains(&name.as_str())) {
        return;
    }
    let (Some(condition), FunctionArguments::List(list)) = (&function.filter, &mut function.args) else { return };
    let condition = as_condition(condition);
    let value = match list.args.first() {
        Some(FunctionArg::Unnamed(FunctionArgExpr::Wildcard)) => "1".to_string(),
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(value))) => value.to_string(),
        _ => return,
    };
    if let Some(filtered) = parse_expr(&format!("CASE WHEN {condition} THEN {value} END")) {
        list.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(filtered));
        function.filter = None;
    }
}

/// A CASE's condition: a bare NULL as a boolean (Polars refuses a NULL
/// of no type there).
pub(super) fn as_condition(condition: &Expr) -> String {
    match super::scope::is_null_literal(condition) {
        true => "CAST(NULL AS BOOLEAN)".into(),
        false => condition.to_string(),
    }
}
