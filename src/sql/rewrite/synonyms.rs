//! Functions other engines name that polars-sql lacks, written as the
//! expressions it has: `bool_and` / `every` / `bool_or` as the `min` / `max`
//! of their booleans (false sorts first; NULLs are skipped and no rows give
//! NULL alike), `var_pop` / `stddev_pop` from the sample variance, SQL
//! Server's and Tableau's `iif`, DuckDB's `contains`, `dayname`,
//! `monthname`, `epoch`, `year` / `month` / `day` and the other date parts,
//! `make_date`, `to_timestamp(seconds)` and `mismatches` (Floe's `hamming`), `a ^ b` (a power),
//! PostgreSQL's `btrim` and `width_bucket`, `right` as a `substr` (polars-sql's
//! lost characters when asked for more than the text has), SQL's `t AT TIME ZONE z` as
//! Floe's `floe_at_time_zone(t, z)`, and
//! `approx_count_distinct` counted exactly (an estimate's best case),
//! DuckDB's `arg_max` / `arg_min` (`max_by` / `min_by`), `mode(x)` as
//! Floe's `floe_list_mode` of the group's values (`normalize` writes
//! PostgreSQL's `mode() WITHIN GROUP (ORDER BY x)` so). And
//! `sum` / `avg` / `min` / `max` of DISTINCT values, which polars-sql
//! refuses (it has `count(DISTINCT x)` only), over each group's unique
//! values. `x COLLATE "C"` (byte order, Polars' own) is `x`. `x = ANY (S)`
//! is `x IN (S)` and `x <> ALL (S)` is `x NOT IN (S)`, as SQL defines them:
//! the forms every subquery pass takes, in a filter or read as a value.
//! `b IS [NOT] UNKNOWN` is `b IS [NOT] NULL`. `instr` is `strpos`,
//! DuckDB's `regexp_matches` `regexp_like` and `string_split` / `str_split`
//! `string_to_array`; `x SIMILAR TO 'p'` a regular expression
//! (`similar_to.rs`), and an aggregate's FILTER over a window its argument's.
//! SQL's `regr_*` aggregates are written with `covar_pop` and `corr`.
//! `count_if(c)` counts the rows where `c` holds, `any_value(x)` is the
//! least of the group's values (one that is not NULL, as DuckDB asks);
//! `week`, `isodow`, `isoyear`, `yearweek` are ISO 8601's date parts, and
//! `date_add(d, INTERVAL …)` / `date_sub` the sum and difference.

use std::ops::ControlFlow;

use sqlparser::ast::{DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectNamePart, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{call, parse_expr, plain_args, reads_column};
use super::temporal::day_start;
use crate::sql::functions::Scalar;

pub(super) fn rewrite(statement: &mut Statement) {
    struct Synonyms;
    impl VisitorMut for Synonyms {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            super::aggregate_filters::constant_filter(expr);
            if let Expr::Function(function) = expr {
                logical_aggregate(function);
                super::aggregate_filters::filtered_arguments(function);
                if let Some(written) = synonym(function) {
                    *expr = written;
                }
            }
            // DuckDB's and PostgreSQL's power; polars-sql refuses it as a bitwise XOR.
            if let Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::BitwiseXor, right } = expr {
                // Polars refuses a NULL exponent; a power of or to NULL is NULL.
                let power = match super::scope::is_null_literal(left) || super::scope::is_null_literal(right) {
                    true => "CAST(NULL AS DOUBLE)".to_string(),
                    false => format!("power(CAST({left} AS DOUBLE), {right})"),
                };
                if let Some(written) = parse_expr(&power) {
                    *expr = written;
                }
            }
            // Byte order, which Polars compares text by, under the names
            // PostgreSQL (`"C"`, `"POSIX"`, `ucs_basic`) and DuckDB (`binary`)
            // give it; other collations stay refused.
            if let Expr::Collate { expr: text, collation } = expr {
                let name = collation.to_string().trim_matches('"').to_ascii_lowercase();
                if matches!(name.as_str(), "c" | "posix" | "ucs_basic" | "binary") {
                    *expr = text.as_ref().clone();
                }
            }
            if let Some(membership) = membership(expr) {
                *expr = membership;
            }
            if let Some(written) = super::similar_to::as_regular_expression(expr) {
                *expr = written;
            }
            // A boolean's unknown is its NULL.
            match expr {
                Expr::IsUnknown(value) => *expr = Expr::IsNull(value.clone()),
                Expr::IsNotUnknown(value) => *expr = Expr::IsNotNull(value.clone()),
                _ => {}
            }
            if let Expr::AtTimeZone { timestamp, time_zone } = expr {
                if let Some(written) = parse_expr(&format!("{}({timestamp}, {time_zone})", Scalar::AtTimeZone.name())) {
                    *expr = written;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Synonyms);
}

fn membership(expr: &Expr) -> Option<Expr> {
    use sqlparser::ast::BinaryOperator::{Eq, NotEq};
    let (value, right, negated) = match expr {
        Expr::AnyOp { left, compare_op: Eq, right, .. } => (left, right, false),
        Expr::AllOp { left, compare_op: NotEq, right } => (left, right, true),
        _ => return None,
    };
    let Expr::Subquery(subquery) = right.as_ref() else { return None };
    Some(Expr::InSubquery { expr: value.clone(), subquery: subquery.clone(), negated })
}

/// `expr` as its author wrote it: the calls of Floe's that stand for SQL
/// forms (`floe_at_time_zone(t, z)`, `floe_list_mode(array_agg(x))`)
/// spelled back (`t AT TIME ZONE z`, `mode(x)`), for errors that name it.
pub(super) fn as_written(expr: &Expr) -> String {
    struct Back;
    impl VisitorMut for Back {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Some(written) = spelled_back(expr) {
                *expr = written;
            }
            ControlFlow::Continue(())
        }
    }
    let mut copy = expr.clone();
    let _ = copy.visit(&mut Back);
    copy.to_string()
}

fn spelled_back(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    let args = plain_args(function)?;
    match (Scalar::parse(&bare_name(function)?)?, args.as_slice()) {
        (Scalar::AtTimeZone, [timestamp, zone]) => {
            Some(Expr::AtTimeZone { timestamp: Box::new((*timestamp).clone()), time_zone: Box::new((*zone).clone()) })
        }
        (Scalar::ListMode, [Expr::Function(values)]) if bare_name(values).as_deref() == Some("array_agg") => {
            let values = plain_args(values)?;
            let [value] = values.as_slice() else { return None };
            Some(call("mode", [(*value).clone()]))
        }
        _ => None,
    }
}

/// A function's name, lowercased, when it is one unqualified identifier.
pub(super) fn bare_name(function: &Function) -> Option<String> {
    let [name] = function.name.0.as_slice() else { return None };
    Some(name.as_ident()?.value.to_ascii_lowercase())
}

/// Aggregates other engines name, as the one polars-sql has, in place (a
/// FILTER or a window stays theirs): `bool_and` / `every` / `bool_or` as
/// `min` / `max`; `count_if(c)` as `count(CASE WHEN c THEN 1 END)` (0 over
/// no rows, as a count); `any_value(x)` as `min(x)`, a value that is not NULL.
fn logical_aggregate(function: &mut Function) {
    let renamed = match bare_name(function).as_deref() {
        Some("bool_and" | "every" | "any_value" | "arbitrary") => "min",
        Some("bool_or") => "max",
        Some("count_if" | "countif") => {
            let FunctionArguments::List(list) = &mut function.args else { return };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(condition))] = list.args.as_mut_slice() else { return };
            let Some(counted) = parse_expr(&format!("CASE WHEN {} THEN 1 END", super::aggregate_filters::as_condition(condition))) else { return };
            *condition = counted;
            "count"
        }
        _ => return,
    };
    function.name.0 = vec![ObjectNamePart::Identifier(Ident::new(renamed))];
}

/// The sample variance scaled to the population's (0 for one value):
/// `covar_pop(x, x)`, the obvious spelling, is a function to polars-sql, not
/// an aggregate, so over a grouping key alone it was computed across the
/// groups' keys, and Polars' `cov` refuses two decimals.
fn population_variance(x: impl std::fmt::Display) -> String {
    format!("(CASE WHEN count({x}) = 1 THEN CAST(0 AS DOUBLE) ELSE var_samp({x}) * (count({x}) - 1) / count({x}) END)")
}

/// The expression a plain call (no window, DISTINCT or FILTER: polars-sql
/// runs `covar_pop` over a window as one row) is written as.
fn synonym(function: &Function) -> Option<Expr> {
    let plain = function.over.is_none() && function.filter.is_none() && function.within_group.is_empty();
    let distinct = matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some());
    if !plain {
        return None;
    }
    if distinct {
        return distinct_aggregate(function);
    }
    let args = plain_args(function)?;
    let written = match (bare_name(function)?.as_str(), args.as_slice()) {
        ("var_pop", [x]) => population_variance(x),
        ("covar_pop", [y, x]) => population_covariance(y, x),
        ("stddev_pop", [x]) => format!("sqrt({})", population_variance(x)),
        ("iif", [condition, then, otherwise]) => format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END"),
        ("approx_count_distinct", [x]) => format!("count(DISTINCT {x})"),
        ("arg_max" | "max_by", [value, key]) => first_ranked(value, key, "DESC"),
        ("arg_min" | "min_by", [value, key]) => first_ranked(value, key, "ASC"),
        // A literal is left alone: Polars cannot gather one into a list.
        ("mode", [x]) if reads_column(x) => format!("{}(array_agg({x}))", Scalar::ListMode.name()),
        ("contains", [text, part]) => format!("(strpos({text}, {part}) > 0)"),
        ("instr", [text, part]) => format!("strpos({text}, {part})"),
        ("regexp_matches", [text, pattern]) => format!("regexp_like({text}, {pattern})"),
        ("regexp_matches", [text, pattern, flags]) => format!("regexp_like({text}, {pattern}, {flags})"),
        ("string_split" | "str_split", [text, separator]) => format!("string_to_array({text}, {separator})"),
        ("width_bucket", [x, low, high, count]) => width_bucket(x, low, high, count),
        (name, [y, x]) if name.starts_with("regr_") => regression(name, y, x)?,
        ("mismatches", [a, b]) => format!("{}({a}, {b})", Scalar::Hamming.name()),
        // polars-sql's RIGHT lost characters when asked for more than there are (`right('jo', 3)` was 'o').
        ("right", [text, count]) => {
            format!("CASE WHEN {count} < 0 THEN substr({text}, 1 - ({count})) ELSE substr({text}, greatest(length({text}) - ({count}) + 1, 1)) END")
        }
        // PostgreSQL's and DuckDB's: `log(x)` is base 10, `log(b, x)` base b (as DuckDB divides).
        ("log10" | "log", [x]) => format!("{}({x})", Scalar::Log10.name()),
        ("log", [base, x]) => format!("({log}({x}) / {log}({base}))", log = Scalar::Log10.name()),
        ("btrim", [text]) => format!("trim({text})"),
        ("btrim", [text, characters]) => format!("trim(BOTH {characters} FROM {text})"),
        ("dayname", [date]) => format!("strftime({date}, '%A')"),
        ("monthname", [date]) => format!("strftime({date}, '%B')"),
        ("epoch", [time]) => format!("date_part('epoch', {time})"),
        // Seconds since 1970 as a TIMESTAMP of UTC's wall time (PostgreSQL and DuckDB give the
        // instant, WITH TIME ZONE; Polars compares no such value with a TIMESTAMP).
        ("to_timestamp", [seconds]) => format!("CAST(CAST(round(({seconds}) * 1000000) AS BIGINT) AS TIMESTAMP)"),
        ("year" | "quarter" | "month" | "day" | "hour" | "minute", [time]) => format!("date_part('{}', {time})", bare_name(function)?),
        ("dayofmonth", [time]) => format!("date_part('day', {time})"),
        ("dayofweek", [time]) => format!("date_part('dow', {time})"),
        ("dayofyear", [time]) => format!("date_part('doy', {time})"),
        // ISO 8601's week, weekday (Monday 1) and week-numbering year, as DuckDB names them.
        ("week" | "weekofyear", [time]) => format!("date_part('week', {time})"),
        ("isodow", [time]) => format!("date_part('isodow', {time})"),
        ("isoyear", [time]) => format!("date_part('isoyear', {time})"),
        ("yearweek", [time]) => format!("(date_part('isoyear', {time}) * 100 + date_part('week', {time}))"),
        // MySQL's and DuckDB's `date_add(d, INTERVAL …)`: `d + INTERVAL …`.
        ("date_add" | "adddate", [time, interval @ Expr::Interval(_)]) => format!("({time} + {interval})"),
        ("date_sub" | "subdate", [time, interval @ Expr::Interval(_)]) => format!("({time} - {interval})"),
        ("last_day", [date]) => format!("(CAST(date_trunc('month', {date}) AS DATE) + INTERVAL '1 month' - INTERVAL '1 day')"),
        ("make_date", [year, month, day]) => format!("CAST({} AS DATE)", day_start(&year.to_string(), &month.to_string(), &day.to_string())),
        _ => return None,
    };
    parse_expr(&written)
}

/// At planning time: the DECIMAL arguments of math functions as DOUBLEs,
/// as DuckDB and PostgreSQL compute them: Polars refused them (`power(price,
/// 2)`: "`pow` operation not supported for dtype decimal"). Integers stay
/// (an integer `power` is a join key or a `lag` offset).
pub(super) fn decimal_math(statement: &mut Statement, columns: &super::Columns) {
    const OF_DOUBLES: &[&str] = &["sqrt", "cbrt", "exp", "ln", "log10", "log2", "power", "pow", "sin", "cos", "tan", "cot", "asin", "acos", "atan", "atan2", "degrees", "radians"];
    let _ = crate::sql::visit::visit_expressions_mut(statement, |expr| {
        let Expr::Function(function) = expr else { return ControlFlow::<()>::Continue(()) };
        if !bare_name(function).is_some_and(|name| OF_DOUBLES.contains(&name.as_str())) {
            return ControlFlow::Continue(());
        }
        for arg in super::scope::function_args_mut(function) {
            if reads_decimal(arg, columns) {
                *arg = Expr::Cast { kind: sqlparser::ast::CastKind::Cast, expr: Box::new(arg.clone()), data_type: DataType::Double(sqlparser::ast::ExactNumberInfo::None), array: false, format: None };
            }
        }
        ControlFlow::Continue(())
    });
}

fn reads_decimal(expr: &Expr, columns: &super::Columns) -> bool {
    let mut found = false;
    let _ = crate::sql::visit::visit_expressions(expr, |expr| {
        found |= super::scope::column_name(expr).is_some_and(|name| columns.decimal_scale(name).is_some());
        if found { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    found
}

/// The population covariance, NULL over no pairs of known values (Polars
/// gave 0).
fn population_covariance(y: &Expr, x: &Expr) -> String {
    format!("CASE WHEN {} > 0 THEN covar_pop({y}, {x}) END", known_pairs(y, x))
}

/// The rows where both values are known.
fn known_pairs(y: &Expr, x: &Expr) -> String {
    format!("count(CASE WHEN {y} IS NOT NULL AND {x} IS NOT NULL THEN 1 END)")
}

/// SQL's regression aggregates of `y` on `x` over the rows where both are
/// non-NULL, from the moments polars-sql has (its `covar_pop` skips a
/// pair with a NULL): each side made NULL where the other is, as a DOUBLE
/// (Polars' covariance refuses decimals). Where `x` does not vary the slope,
/// intercept and r² are NULL, as SQL defines them (DuckDB gives NaN for
/// the slope); r² is 1 where only `y` does not.
fn regression(name: &str, y: &Expr, x: &Expr) -> Option<String> {
    let xs = format!("CASE WHEN {y} IS NOT NULL THEN CAST({x} AS DOUBLE) END");
    let ys = format!("CASE WHEN {x} IS NOT NULL THEN CAST({y} AS DOUBLE) END");
    // Whether values vary is told exactly by their least and greatest: a
    // constant no binary fraction holds (0.1) has a variance of 1e-34 in
    // Polars' arithmetic, not 0.
    let varies = |v: &str| format!("min({v}) < max({v})");
    let slope = format!("(CASE WHEN {} THEN covar_pop({ys}, {xs}) / {} END)", varies(&xs), population_variance(&xs));
    let sum_of_squares = |v: &str| format!("(CASE WHEN {} THEN {} * count({v}) WHEN count({v}) > 0 THEN CAST(0 AS DOUBLE) END)", varies(v), population_variance(v));
    Some(match name {
        "regr_count" => known_pairs(y, x),
        "regr_avgx" => format!("avg({xs})"),
        "regr_avgy" => format!("avg({ys})"),
        "regr_sxx" => sum_of_squares(&xs),
        "regr_syy" => sum_of_squares(&ys),
        "regr_sxy" => format!(
            "(CASE WHEN {} AND {} THEN covar_pop({ys}, {xs}) * count({xs}) WHEN count({xs}) > 0 THEN CAST(0 AS DOUBLE) END)",
            varies(&xs),
            varies(&ys)
        ),
        "regr_slope" => slope,
        "regr_intercept" => format!("(avg({ys}) - {slope} * avg({xs}))"),
        "regr_r2" => format!(
            "CASE WHEN {} THEN CASE WHEN {} THEN power(corr({ys}, {xs}), 2) ELSE CAST(1 AS DOUBLE) END END",
            varies(&xs),
            varies(&ys)
        ),
        _ => return None,
    })
}

/// DuckDB's `arg_max(value, key)` (`max_by`) and `arg_min`: the value on
/// a row of the greatest (least) key, rows with either one NULL skipped,
/// NULL without such rows; ties take any of theirs, as in DuckDB. The
/// group's values sorted by their keys, the first taken.
fn first_ranked(value: &Expr, key: &Expr, direction: &str) -> String {
    let ranked_key = format!("CASE WHEN {value} IS NOT NULL THEN {key} END");
    format!("CASE WHEN count({ranked_key}) > 0 THEN array_get(array_agg({value} ORDER BY {ranked_key} {direction} NULLS LAST), 1) END")
}

/// PostgreSQL's `width_bucket(x, low, high, count)`: which of `count`
/// equal buckets from `low` to `high` holds `x` (from 1; 0 before the
/// first, `count + 1` past the last; `low` may exceed `high`, counting
/// down), in PostgreSQL's float arithmetic. NULL for NULL input, and for a
/// count below 1 or equal bounds that are not literals (`normalize`
/// refuses literal ones, as PostgreSQL refuses them all).
fn width_bucket(x: &Expr, low: &Expr, high: &Expr, count: &Expr) -> String {
    let [x, low, high] = [x, low, high].map(|e| format!("CAST({e} AS DOUBLE)"));
    let inside = format!("least(floor({count} * (({x} - {low}) / ({high} - {low}))), {count} - 1) + 1");
    format!(
        "CAST(CASE WHEN {x} IS NULL OR {low} IS NULL OR {high} IS NULL OR {count} IS NULL OR {count} < 1 OR {low} = {high} THEN NULL \
         WHEN {low} < {high} THEN CASE WHEN {x} < {low} THEN 0 WHEN {x} >= {high} THEN {count} + 1 ELSE {inside} END \
         ELSE CASE WHEN {x} > {low} THEN 0 WHEN {x} <= {high} THEN {count} + 1 ELSE {inside} END END AS INTEGER)"
    )
}

/// `sum(DISTINCT x)` as the sum of the group's unique values (NULL when
/// it has none, as SQL's SUM gives), `avg` their mean, `min` / `max` as
/// they are. A literal argument is left alone (Polars cannot gather a
/// literal into a list; polars-sql refuses the call by name).
fn distinct_aggregate(function: &Function) -> Option<Expr> {
    let FunctionArguments::List(list) = &function.args else { return None };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] = list.args.as_slice() else { return None };
    if !reads_column(x) {
        return None;
    }
    let written = match bare_name(function)?.as_str() {
        "sum" => format!("CASE WHEN count({x}) > 0 THEN array_sum(array_unique(array_agg({x}))) END"),
        "avg" | "mean" => format!("array_mean(array_unique(array_agg({x})))"),
        "min" => format!("min({x})"),
        "max" => format!("max({x})"),
        _ => return None,
    };
    parse_expr(&written)
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        crate::sql::rewrite::scope::rewritten_by(sql, super::rewrite)
    }

    #[test]
    fn logical_aggregates_are_min_and_max() {
        assert_eq!(
            rewritten("SELECT bool_and(a > 1), EVERY(b), bool_or(c) OVER (PARTITION BY d) FROM t GROUP BY d"),
            "SELECT min(a > 1), min(b), max(c) OVER (PARTITION BY d) FROM t GROUP BY d"
        );
    }

    #[test]
    fn other_engines_functions_are_written_with_polars_sqls() {
        assert_eq!(
            rewritten("SELECT var_pop(x), STDDEV_POP(x + 1), iif(a > 1, 'y', 'n'), contains(s, 'li'), btrim(s, 'xy'), approx_count_distinct(s) FROM t"),
            "SELECT (CASE WHEN count(x) = 1 THEN CAST(0 AS DOUBLE) ELSE var_samp(x) * (count(x) - 1) / count(x) END), \
             sqrt((CASE WHEN count(x + 1) = 1 THEN CAST(0 AS DOUBLE) ELSE var_samp(x + 1) * (count(x + 1) - 1) / count(x + 1) END)), CASE WHEN a > 1 THEN 'y' ELSE 'n' END, (strpos(s, 'li') > 0), TRIM(BOTH 'xy' FROM s), count(DISTINCT s) FROM t"
        );
        assert_eq!(rewritten("SELECT ts AT TIME ZONE 'Europe/Berlin' FROM t"), "SELECT floe_at_time_zone(ts, 'Europe/Berlin') FROM t");
        assert_eq!(
            rewritten("SELECT year(d), DAYOFWEEK(d), 2 ^ x, last_day(d) FROM t"),
            "SELECT date_part('year', d), date_part('dow', d), power(CAST(2 AS DOUBLE), x), \
             (CAST(date_trunc('month', d) AS DATE) + INTERVAL '1 month' - INTERVAL '1 day') FROM t"
        );
        assert_eq!(
            rewritten("SELECT count_if(x > 1), any_value(s), week(d), isodow(d), yearweek(d), date_add(d, INTERVAL 3 DAY), date_add(d, 3) FROM t"),
            "SELECT count(CASE WHEN x > 1 THEN 1 END), min(s), date_part('week', d), date_part('isodow', d), \
             (date_part('isoyear', d) * 100 + date_part('week', d)), (d + INTERVAL 3 DAY), date_add(d, 3) FROM t"
        );
        assert_eq!(rewritten("SELECT g, mode(x + 1) FROM t GROUP BY g"), "SELECT g, floe_list_mode(array_agg(x + 1)) FROM t GROUP BY g");
        for sql in ["mode(x + 1) > 2", "(ts AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Tokyo'", "mode(t AT TIME ZONE 'UTC')"] {
            let mut statement = crate::sql::parse::parse_single(&format!("SELECT {sql}")).unwrap();
            super::rewrite(&mut statement);
            let sqlparser::ast::Statement::Query(query) = &statement else { unreachable!() };
            let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else { unreachable!() };
            let item = super::super::scope::item_expr(&select.projection[0]).unwrap();
            assert!(item.to_string().contains("floe_"), "{item}");
            assert_eq!(super::as_written(item), sql);
        }
        let kept = "SELECT mode(x) OVER (PARTITION BY g), mode(1), var_pop(x) OVER (PARTITION BY g), var_pop(DISTINCT x), contains(a, b, c), sum(DISTINCT 1) FROM t";
        assert_eq!(rewritten(kept), kept);
    }

    #[test]
    fn regression_aggregates_read_the_pairs_where_both_are_known() {
        let xs = "CASE WHEN y IS NOT NULL THEN CAST(x AS DOUBLE) END";
        let ys = "CASE WHEN x IS NOT NULL THEN CAST(y AS DOUBLE) END";
        let variance = format!("(CASE WHEN count({xs}) = 1 THEN CAST(0 AS DOUBLE) ELSE var_samp({xs}) * (count({xs}) - 1) / count({xs}) END)");
        assert_eq!(
            rewritten("SELECT g, regr_slope(y, x), regr_count(y, x), regr_avgx(y, x) FROM t GROUP BY g"),
            format!("SELECT g, (CASE WHEN min({xs}) < max({xs}) THEN covar_pop({ys}, {xs}) / {variance} END), count(CASE WHEN y IS NOT NULL AND x IS NOT NULL THEN 1 END), avg({xs}) FROM t GROUP BY g")
        );
        assert_eq!(
            rewritten("SELECT covar_pop(y, x) FROM t"),
            "SELECT CASE WHEN count(CASE WHEN y IS NOT NULL AND x IS NOT NULL THEN 1 END) > 0 THEN covar_pop(y, x) END FROM t"
        );
        let mut columns = crate::sql::rewrite::scope::Columns::default();
        use crate::sql::rewrite::scope::ColumnKind;
        columns.insert(vec!["t".into()], vec!["price".into(), "n".into()], &[ColumnKind::Decimal(2), ColumnKind::Integer]);
        assert_eq!(
            crate::sql::rewrite::scope::rewritten_over("SELECT power(t.price, 2), power(n, 2), sqrt(price + n) FROM t", &columns, super::decimal_math),
            "SELECT power(CAST(t.price AS DOUBLE), 2), power(n, 2), sqrt(CAST(price + n AS DOUBLE)) FROM t"
        );
        // Over a window, or of other arity: as written (refused by name).
        let kept = "SELECT regr_slope(y, x) OVER (PARTITION BY g), regr_slope(y) FROM t";
        assert_eq!(rewritten(kept), kept);
    }

    #[test]
    fn distinct_aggregates_read_each_groups_unique_values() {
        assert_eq!(
            rewritten("SELECT g, sum(DISTINCT x), AVG(DISTINCT x + 1), max(DISTINCT x) FROM t GROUP BY g"),
            "SELECT g, CASE WHEN count(x) > 0 THEN array_sum(array_unique(array_agg(x))) END, array_mean(array_unique(array_agg(x + 1))), max(x) FROM t GROUP BY g"
        );
    }

    #[test]
    fn byte_order_collations_are_polars_own() {
        assert_eq!(
            rewritten("SELECT a FROM t ORDER BY a COLLATE \"C\", b COLLATE binary, c COLLATE \"de_DE\""),
            "SELECT a FROM t ORDER BY a, b, c COLLATE \"de_DE\""
        );
    }
}
