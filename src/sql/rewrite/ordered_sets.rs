//! The SQL standard's ordered-set aggregates as the calls polars-sql and
//! Floe have, for `normalize.rs`: `percentile_cont(p) WITHIN GROUP (ORDER BY
//! x)` (what BI tools write for a median) and `percentile_disc` as
//! `quantile_cont(x, p)` / `quantile_disc(x, p)`, PostgreSQL's `mode()
//! WITHIN GROUP (ORDER BY x)` as `mode(x)`, Snowflake's `listagg(x, s)
//! WITHIN GROUP (ORDER BY y)` as `listagg(x, s ORDER BY y)`, DuckDB's
//! `first(x ORDER BY y)` / `last` as the first of the ordered values; and `width_bucket`'s literal
//! arguments checked. Bad input is refused here, by name, rather than left
//! for polars-sql to misname.

use sqlparser::ast::{Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments, Ident, ObjectNamePart, Value};

use super::literals;
use super::synonyms::bare_name;
use crate::sql::{Error, Result};

/// Each form above, written as the call it stands for (or refused).
pub(super) fn written_plainly(function: &mut Function) -> Result<()> {
    ordered_set_aggregate(function)?;
    ordered_mode(function)?;
    ordered_text(function);
    bucket_bounds(function)
}

/// DuckDB's `first(x ORDER BY y)` and `last(x ORDER BY y)`: the value on the
/// first (last) row in that order, NULL or not, as the first item of the
/// group's values in that order (the reverse order for `last`, which keeps
/// each key's NULLs at the other end). polars-sql's `first` takes no order.
pub(super) fn ordered_first_last(function: &Function) -> Option<Expr> {
    let last = match bare_name(function).as_deref() {
        Some("first") => false,
        Some("last") => true,
        _ => return None,
    };
    let FunctionArguments::List(list) = &function.args else { return None };
    let ([FunctionArg::Unnamed(FunctionArgExpr::Expr(value))], [FunctionArgumentClause::OrderBy(keys)]) = (list.args.as_slice(), list.clauses.as_slice()) else {
        return None;
    };
    if list.duplicate_treatment.is_some() || function.over.is_some() || function.filter.is_some() {
        return None;
    }
    let order: Vec<String> = keys
        .iter()
        .map(|key| {
            let ascending = key.options.asc.unwrap_or(true);
            // NULLs sort last ascending and first descending unless placed.
            let nulls_first = key.options.nulls_first.unwrap_or(!ascending);
            let (ascending, nulls_first) = if last { (!ascending, !nulls_first) } else { (ascending, nulls_first) };
            format!("{} {} NULLS {}", key.expr, if ascending { "ASC" } else { "DESC" }, if nulls_first { "FIRST" } else { "LAST" })
        })
        .collect();
    super::scope::parse_expr(&format!("array_get(array_agg({value} ORDER BY {}), 1)", order.join(", ")))
}

/// Snowflake's and Oracle's `listagg(x, sep) WITHIN GROUP (ORDER BY y)` as
/// `listagg(x, sep ORDER BY y)`, DuckDB's and PostgreSQL's spelling of it.
fn ordered_text(function: &mut Function) {
    if !matches!(bare_name(function).as_deref(), Some("listagg" | "string_agg")) || function.within_group.is_empty() {
        return;
    }
    let FunctionArguments::List(list) = &mut function.args else { return };
    if list.clauses.iter().any(|clause| matches!(clause, FunctionArgumentClause::OrderBy(_))) {
        return;
    }
    list.clauses.push(FunctionArgumentClause::OrderBy(std::mem::take(&mut function.within_group)));
}

/// `percentile_cont(p) WITHIN GROUP (ORDER BY x [DESC])` as `quantile_cont(x,
/// p)` (`1 - p` descending: interpolation reads the same from either end);
/// `percentile_disc` ascending as `quantile_disc`. A fraction that is not a
/// number from 0 to 1, and a descending `percentile_disc` (whose pick
/// `1 - p` would not reproduce), are refused.
fn ordered_set_aggregate(function: &mut Function) -> Result<()> {
    let (written, renamed) = match bare_name(function).as_deref() {
        Some("percentile_cont") => ("percentile_cont", "quantile_cont"),
        Some("percentile_disc") => ("percentile_disc", "quantile_disc"),
        _ => return Ok(()),
    };
    let FunctionArguments::List(list) = &mut function.args else { return Ok(()) };
    let ([ordered], [FunctionArg::Unnamed(FunctionArgExpr::Expr(fraction))]) = (function.within_group.as_slice(), list.args.as_slice()) else {
        return Err(Error::Unsupported(format!("{written} is written `{written}(fraction) WITHIN GROUP (ORDER BY expression)`, not `{function}`")));
    };
    let Some(fraction) = literals::exact(fraction).map(|(unscaled, scale)| unscaled as f64 / 10f64.powi(scale as i32)) else {
        return Err(Error::Unsupported(format!("the fraction of {written} must be a number, not `{fraction}`")));
    };
    if !(0.0..=1.0).contains(&fraction) {
        return Err(Error::Invalid(format!("the fraction of {written} must be between 0 and 1, not {fraction}")));
    }
    let fraction = match ordered.options.asc {
        Some(false) if renamed == "quantile_disc" => {
            return Err(Error::Unsupported(format!("{written} … WITHIN GROUP (ORDER BY … DESC) is not supported; ascending order is")));
        }
        Some(false) => 1.0 - fraction,
        _ => fraction,
    };
    // Debug formatting keeps the point (`1.0`), and `1 - 0.7` as the nearest float.
    let fraction = Expr::value(Value::Number(format!("{fraction:?}"), false));
    list.args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(ordered.expr.clone())), FunctionArg::Unnamed(FunctionArgExpr::Expr(fraction))];
    function.within_group.clear();
    function.name.0 = vec![ObjectNamePart::Identifier(Ident::new(renamed))];
    Ok(())
}

/// PostgreSQL's `mode() WITHIN GROUP (ORDER BY x)` as `mode(x)` (which
/// `synonyms` writes for Polars): ties go to the first value in the order,
/// the least ascending. Descending, they would go to the greatest, which
/// `mode` does not pick, so that is refused.
fn ordered_mode(function: &mut Function) -> Result<()> {
    if bare_name(function).as_deref() != Some("mode") || function.within_group.is_empty() {
        return Ok(());
    }
    let written = || format!("mode is written `mode() WITHIN GROUP (ORDER BY expression)` or `mode(expression)`, not `{function}`");
    let ([ordered], FunctionArguments::List(list)) = (function.within_group.as_slice(), &function.args) else { return Err(Error::Unsupported(written())) };
    if !list.args.is_empty() {
        return Err(Error::Unsupported(written()));
    }
    if ordered.options.asc == Some(false) {
        return Err(Error::Unsupported("mode() WITHIN GROUP (ORDER BY … DESC) is not supported; ascending order is".into()));
    }
    let argument = FunctionArg::Unnamed(FunctionArgExpr::Expr(ordered.expr.clone()));
    if let FunctionArguments::List(list) = &mut function.args {
        list.args = vec![argument];
    }
    function.within_group.clear();
    Ok(())
}

/// `width_bucket` with a literal count below 1 or literal bounds that are
/// equal, refused as PostgreSQL refuses them (`synonyms` writes the call).
fn bucket_bounds(function: &Function) -> Result<()> {
    if bare_name(function).as_deref() != Some("width_bucket") {
        return Ok(());
    }
    let FunctionArguments::List(list) = &function.args else { return Ok(()) };
    let arg = |at: usize| match list.args.get(at) {
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))) => literals::exact(arg),
        _ => None,
    };
    if let Some((count, 0)) = arg(3).filter(|(count, scale)| *scale == 0 && *count < 1) {
        return Err(Error::Invalid(format!("`{function}`: the count of buckets must be 1 or more, not {count}")));
    }
    if let (Some(low), Some(high)) = (arg(1), arg(2)) {
        if literals::aligned(low, high).is_some_and(|(_, low, high)| low == high) {
            return Err(Error::Invalid(format!("`{function}`: the lower and upper bounds must differ")));
        }
    }
    Ok(())
}
