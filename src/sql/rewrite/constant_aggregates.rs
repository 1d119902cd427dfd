//! Aggregates of a constant (`sum(1)`, which BI tools write to count rows,
//! `avg(2)`, `max(0)`, `stddev_samp(3)`). Polars aggregates the literal itself, one value, so
//! `sum(1)` was 1 whatever the rows, and `max(0)` over no rows was 0. As SQL
//! defines them, over the same rows (the call's FILTER and window kept):
//! `sum(c)` is `c * count(*)`, a sample's spread 0 over two rows or more,
//! the others `c`, and all of them NULL where there are no rows. With DISTINCT the value is one value: `count(DISTINCT
//! 'x')` is 1 where there are rows (Polars counted it over none too).
//!
//! Grouping keys that are constants (`SELECT 'all' AS k, count(*) … GROUP
//! BY 1`) split no rows: polars-sql left them out and answered one row even
//! where there were none. They are left out here, and a query they were its
//! only keys of keeps its one group only where there are rows.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Select, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::aggregates::aggregate_call;
use super::scope::{function_args, integer_literal, is_null_literal, item_expr, parse_expr, plain_args, plain_group_keys};

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Constants);
}

pub(super) fn constant_keys(statement: &mut Statement) {
    let _ = statement.visit(&mut ConstantKeys);
}

struct ConstantKeys;

impl VisitorMut for ConstantKeys {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let Some(keys) = plain_group_keys(select) else { return ControlFlow::Continue(()) };
        let kept: Vec<Expr> = keys.iter().filter(|key| !constant_key(select, key)).cloned().collect();
        if kept.len() == keys.len() {
            return ControlFlow::Continue(());
        }
        if kept.is_empty() {
            let rows = "count(*) > 0";
            let having = select.having.as_ref().map_or(rows.to_string(), |having| format!("({having}) AND {rows}"));
            let Some(having) = parse_expr(&having) else { return ControlFlow::Continue(()) };
            select.having = Some(having);
        }
        select.group_by = GroupByExpr::Expressions(kept, Vec::new());
        ControlFlow::Continue(())
    }
}

/// A constant key, or the position of a SELECT item that is one.
fn constant_key(select: &Select, key: &Expr) -> bool {
    match integer_literal(key) {
        Some(position) => usize::try_from(position - 1)
            .ok()
            .and_then(|at| select.projection.get(at))
            .and_then(item_expr)
            .is_some_and(constant),
        None => constant(key),
    }
}

struct Constants;

impl VisitorMut for Constants {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(function) = &*expr else { return ControlFlow::Continue(()) };
        let name = function.name.to_string().to_ascii_lowercase();
        if let Some(repeated) = repeated_constant(function, &name) {
            *expr = repeated;
            return ControlFlow::Continue(());
        }
        let (value, distinct) = match (plain_args(function).as_deref(), distinct_arg(function)) {
            (Some([value]), _) => ((*value).clone(), false),
            (_, Some(value)) => (value.clone(), true),
            _ => return ControlFlow::Continue(()),
        };
        let spread = matches!(name.as_str(), "stddev" | "stddev_samp" | "stdev" | "var_samp" | "variance" | "var");
        if !constant(&value) || !(spread || matches!(name.as_str(), "sum" | "avg" | "min" | "max" | "count")) {
            return ControlFlow::Continue(());
        }
        let rows = count_rows(function);
        if spread && !distinct {
            // The spread of one value taken twice or more is 0; of one row, NULL.
            if let Some(rewritten) = parse_expr(&format!("(CASE WHEN ({value}) IS NOT NULL AND {rows} > 1 THEN CAST(0 AS DOUBLE) END)")) {
                *expr = rewritten;
            }
            return ControlFlow::Continue(());
        }
        if name == "count" && distinct {
            // One value, counted once where there are rows: Polars counted it over none too.
            if let Some(rewritten) = parse_expr(&format!("(CASE WHEN ({value}) IS NULL THEN 0 WHEN {rows} > 0 THEN 1 ELSE 0 END)")) {
                *expr = rewritten;
            }
            return ControlFlow::Continue(());
        }
        if name == "count" {
            // `count(1)` polars-sql counts the rows of; a computed constant it counted once.
            if !matches!(value, Expr::Value(_)) || is_null_literal(&value) {
                if let Some(rewritten) = parse_expr(&format!("(CASE WHEN ({value}) IS NULL THEN 0 ELSE {rows} END)")) {
                    *expr = rewritten;
                }
            }
            return ControlFlow::Continue(());
        }
        let value = match name.as_str() {
            "sum" if !distinct => format!("({value}) * {rows}"),
            "avg" => format!("CAST({value} AS DOUBLE)"),
            _ => format!("{value}"),
        };
        if let Some(rewritten) = parse_expr(&format!("(CASE WHEN {rows} > 0 THEN {value} END)")) {
            *expr = rewritten;
        }
        ControlFlow::Continue(())
    }
}

/// `string_agg(c, sep [ORDER BY …])` of a constant: `c` once per row, joined
/// by `sep` (Polars joined the literal once). The count is kept from 0 in
/// both branches, which Polars computes for every group.
fn repeated_constant(function: &Function, name: &str) -> Option<Expr> {
    let args = function_args(function)?;
    let [value, separator] = args.as_slice() else { return None };
    let distinct = matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some());
    if name != "string_agg" || distinct || !constant(value) || !constant(separator) || function.over.is_some() {
        return None;
    }
    let rows = count_rows(function);
    let repeats = format!("greatest(CAST({rows} AS BIGINT) - 1, 0)");
    parse_expr(&format!("(CASE WHEN {rows} > 0 THEN repeat(({value}) || ({separator}), {repeats}) || ({value}) END)"))
}

/// `count(*)` over the rows `function` aggregates: its FILTER and window.
fn count_rows(function: &Function) -> Function {
    let mut count = function.clone();
    count.name = sqlparser::ast::ObjectName::from(vec![sqlparser::ast::Ident::new("count")]);
    count.args = FunctionArguments::List(FunctionArgumentList {
        duplicate_treatment: None,
        args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
        clauses: Vec::new(),
    });
    count
}

/// The one argument of `f(DISTINCT x)`.
fn distinct_arg(function: &Function) -> Option<&Expr> {
    let FunctionArguments::List(list) = &function.args else { return None };
    match (&list.duplicate_treatment, list.clauses.as_slice(), list.args.as_slice()) {
        (Some(sqlparser::ast::DuplicateTreatment::Distinct), [], [FunctionArg::Unnamed(FunctionArgExpr::Expr(value))]) => Some(value),
        _ => None,
    }
}

/// Literals and what functions make of them: the same value on every row.
/// Not an aggregate's or a window's, nor a volatile function's (`now()`,
/// `random()`, as the result cache reads them: `crate::sql::volatile`).
pub(super) fn constant(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) | Expr::TypedString { .. } => true,
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsNotFalse(expr)
        | Expr::Extract { expr, .. }
        | Expr::Ceil { expr, .. }
        | Expr::Floor { expr, .. } => constant(expr),
        Expr::Interval(interval) => constant(&interval.value),
        Expr::Trim { expr, trim_what, trim_characters, .. } => {
            constant(expr) && trim_what.iter().all(|part| constant(part)) && trim_characters.iter().flatten().all(constant)
        }
        Expr::BinaryOp { left, right, .. }
        | Expr::IsDistinctFrom(left, right)
        | Expr::IsNotDistinctFrom(left, right)
        | Expr::Like { expr: left, pattern: right, escape_char: None, .. }
        | Expr::ILike { expr: left, pattern: right, escape_char: None, .. } => constant(left) && constant(right),
        Expr::InList { expr, list, .. } => constant(expr) && list.iter().all(constant),
        Expr::Between { expr, low, high, .. } => constant(expr) && constant(low) && constant(high),
        Expr::Substring { expr, substring_from, substring_for, .. } => {
            constant(expr) && substring_from.iter().chain(substring_for).all(|part| constant(part))
        }
        Expr::Case { operand, conditions, else_result, .. } => {
            operand.iter().chain(else_result).all(|part| constant(part))
                && conditions.iter().all(|when| constant(&when.condition) && constant(&when.result))
        }
        Expr::Function(function) => {
            function.over.is_none()
                && !aggregate_call(expr)
                && !crate::sql::volatile::is_volatile(expr)
                && plain_args(function).is_some_and(|args| args.into_iter().all(constant))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::rewrite;

    #[test]
    fn constant_keys_split_no_rows() {
        let dropped = |sql| rewritten_by(sql, super::constant_keys);
        assert_eq!(dropped("SELECT 1 AS k, count(*) FROM t GROUP BY 1"), "SELECT 1 AS k, count(*) FROM t HAVING count(*) > 0");
        assert_eq!(
            dropped("SELECT 'a', g, sum(x) FROM t GROUP BY 'a', g, 1 HAVING sum(x) > 2"),
            "SELECT 'a', g, sum(x) FROM t GROUP BY g HAVING sum(x) > 2"
        );
        assert_eq!(dropped("SELECT 'a' FROM t GROUP BY 'a' HAVING max(x) > 2"), "SELECT 'a' FROM t HAVING (max(x) > 2) AND count(*) > 0");
        for sql in ["SELECT g + 1, count(*) FROM t GROUP BY 1", "SELECT g, count(*) FROM t GROUP BY ROLLUP (g, 1)"] {
            assert_eq!(dropped(sql), sql);
        }
    }

    #[test]
    fn aggregates_of_constants_read_the_rows() {
        assert_eq!(
            rewritten_by("SELECT k, sum(1), avg(2) FILTER (WHERE x > 0), max(-1) OVER (PARTITION BY k) FROM t GROUP BY k", rewrite),
            "SELECT k, (CASE WHEN count(*) > 0 THEN (1) * count(*) END), \
             (CASE WHEN count(*) FILTER (WHERE x > 0) > 0 THEN CAST(2 AS DOUBLE) END), \
             (CASE WHEN count(*) OVER (PARTITION BY k) > 0 THEN -1 END) FROM t GROUP BY k"
        );
        assert_eq!(
            rewritten_by("SELECT count(upper('a' || '-')), min(COALESCE(abs(8), 7)), count(NULL), max(sqrt(4)) FROM t", rewrite),
            "SELECT (CASE WHEN (upper('a' || '-')) IS NULL THEN 0 ELSE count(*) END), \
             (CASE WHEN count(*) > 0 THEN COALESCE(abs(8), 7) END), (CASE WHEN (NULL) IS NULL THEN 0 ELSE count(*) END), \
             (CASE WHEN count(*) > 0 THEN sqrt(4) END) FROM t"
        );
    }

    #[test]
    fn tests_of_constants_are_constants() {
        // Found by the differential tester: the sum was one row's value.
        assert_eq!(
            rewritten_by("SELECT sum(CASE WHEN 'eng' IN ('x') THEN 9.45 WHEN 2 BETWEEN 1 AND 3 AND 'a' LIKE 'b%' THEN 1 ELSE 61.93 END) FROM t", rewrite),
            "SELECT (CASE WHEN count(*) > 0 THEN (CASE WHEN 'eng' IN ('x') THEN 9.45 WHEN 2 BETWEEN 1 AND 3 AND 'a' LIKE 'b%' THEN 1 ELSE 61.93 END) \
             * count(*) END) FROM t"
        );
        assert_eq!(rewritten_by("SELECT sum(CASE WHEN x IN (1) THEN 1 END) FROM t", rewrite), "SELECT sum(CASE WHEN x IN (1) THEN 1 END) FROM t");
        assert_eq!(
            rewritten_by("SELECT stddev_samp(37), var_samp(NULL) FROM t", rewrite),
            "SELECT (CASE WHEN (37) IS NOT NULL AND count(*) > 1 THEN CAST(0 AS DOUBLE) END), \
             (CASE WHEN (NULL) IS NOT NULL AND count(*) > 1 THEN CAST(0 AS DOUBLE) END) FROM t"
        );
        assert_eq!(
            rewritten_by("SELECT min(extract(month FROM DATE '2023-01-24' + INTERVAL '2 day')) FROM t", rewrite),
            "SELECT (CASE WHEN count(*) > 0 THEN EXTRACT(MONTH FROM DATE '2023-01-24' + INTERVAL '2 day') END) FROM t"
        );
    }

    #[test]
    fn joined_constants_repeat_once_per_row() {
        assert_eq!(
            rewritten_by("SELECT string_agg('x' || '-', ',' ORDER BY 'x' || '-'), string_agg(y, ',') FROM t", rewrite),
            "SELECT (CASE WHEN count(*) > 0 THEN repeat(('x' || '-') || (','), greatest(CAST(count(*) AS BIGINT) - 1, 0)) || ('x' || '-') END), \
             string_agg(y, ',') FROM t"
        );
    }

    #[test]
    fn distinct_constants_are_one_value_where_there_are_rows() {
        assert_eq!(
            rewritten_by("SELECT count(DISTINCT upper('a')), sum(DISTINCT 2), max(DISTINCT 3) FROM t", rewrite),
            "SELECT (CASE WHEN (upper('a')) IS NULL THEN 0 WHEN count(*) > 0 THEN 1 ELSE 0 END), \
             (CASE WHEN count(*) > 0 THEN 2 END), (CASE WHEN count(*) > 0 THEN 3 END) FROM t"
        );
    }

    #[test]
    fn aggregates_of_columns_stay() {
        for sql in ["SELECT sum(x), sum(x + 1), count(1), sum(DISTINCT x), count(DISTINCT x + 1), max(now()), count(upper(x)), count(random()) FROM t"] {
            assert_eq!(rewritten_by(sql, rewrite), sql);
        }
    }
}
