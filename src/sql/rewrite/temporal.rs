//! Dates and times as BI tools write them, in forms polars-sql plans.
//!
//! - Timestamp literals: `CAST('2026-11-21 09:15:30' AS TIMESTAMP)`,
//!   `timestamp '1970-01-01T00:00:00Z'` (polars-sql takes neither the space
//!   in a cast nor the zone in a literal) become one canonical UTC literal.
//! - `INTERVAL '30' DAY` becomes `INTERVAL '30 days'`.
//! - `date_trunc(unit, x)` and Grafana's `date_bin(interval, x, origin)`,
//!   which polars-sql lacks, become arithmetic on epoch microseconds (so
//!   they stay vectorised expressions the streaming engine runs); they
//!   return TIMESTAMP for DATE input too, as PostgreSQL and DuckDB do.
//! - Grafana's `datepart(part, x)` is `date_part`.
//! - `date_diff(unit, a, b)` (DuckDB; `datediff` as Snowflake, Redshift and
//!   SQL Server write it, the unit also bare) counts the unit's boundaries
//!   from `a` to `b`, as those engines do (weeks as DuckDB counts them).
//! - `now()`, `CURRENT_TIMESTAMP`, `LOCALTIMESTAMP` and `CURRENT_DATE`
//!   (Metabase's and Superset's relative filters), which polars-sql lacks,
//!   are the statement's start in UTC, one value for the whole statement.
//! - At planning time, with the columns' types: `date ± n` (an integer
//!   literal, days in SQL) is `date ± INTERVAL 'n days'` (TPC-DS 72).

use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use sqlparser::ast::{
    CastKind, DataType, DateTimeField, Expr, Function, Interval, Statement, Value,
    VisitMut, VisitorMut,
};

use super::scope::{integer_literal, parse_expr, plain_args};

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// 1970-01-05, the first Monday after the epoch: weeks start on Mondays (ISO).
const FIRST_MONDAY_MICROS: i64 = 4 * MICROS_PER_DAY;

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Temporal { started: chrono::Utc::now().naive_utc() });
}

struct Temporal {
    started: NaiveDateTime,
}

impl VisitorMut for Temporal {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let replacement = match expr {
            Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr: inner, data_type, format: None, .. }
                if is_timestamp(data_type) =>
            {
                string_literal(inner).and_then(timestamp_literal)
            }
            Expr::TypedString(typed) if is_timestamp(&typed.data_type) => {
                typed.value.value.clone().into_string().and_then(|text| timestamp_literal(&text))
            }
            Expr::Interval(interval) => unit_interval(interval),
            Expr::Function(function) => clock(function, self.started).or_else(|| function_call(function)),
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }
}

fn is_timestamp(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Timestamp(_, sqlparser::ast::TimezoneInfo::None | sqlparser::ast::TimezoneInfo::WithoutTimeZone) | DataType::Datetime(_))
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

/// `TIMESTAMP 'YYYY-MM-DD HH:MM:SS[.ffffff]'` for any spelling `parse_timestamp` reads.
fn timestamp_literal(text: &str) -> Option<Expr> {
    parse_expr(&format!("TIMESTAMP '{}'", parse_timestamp(text)?.format("%Y-%m-%d %H:%M:%S%.6f")))
}

/// Any ISO 8601 / SQL spelling of a timestamp or date; a zone or offset is
/// converted to UTC, which is how Floe's TIMESTAMP (without time zone)
/// values are read.
fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .or_else(|_| DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1)).map(|t| t.naive_utc()))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z").map(|t| t.naive_utc()))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| NaiveDateTime::parse_from_str(text.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
        .ok()
}

/// `INTERVAL '30' DAY` as `INTERVAL '30 days'` (single units only).
fn unit_interval(interval: &Interval) -> Option<Expr> {
    if interval.last_field.is_some() || interval.fractional_seconds_precision.is_some() {
        return None;
    }
    let unit = match interval.leading_field.as_ref()? {
        DateTimeField::Year | DateTimeField::Years => "years",
        DateTimeField::Month | DateTimeField::Months => "months",
        DateTimeField::Week(None) | DateTimeField::Weeks => "weeks",
        DateTimeField::Day | DateTimeField::Days => "days",
        DateTimeField::Hour | DateTimeField::Hours => "hours",
        DateTimeField::Minute | DateTimeField::Minutes => "minutes",
        DateTimeField::Second | DateTimeField::Seconds => "seconds",
        _ => return None,
    };
    let amount = match interval.value.as_ref() {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) | Value::Number(text, _) => text.trim().to_string(),
            _ => return None,
        },
        _ => return None,
    };
    amount.parse::<f64>().ok()?;
    parse_expr(&format!("INTERVAL '{amount} {unit}'"))
}

/// The clock functions as literals of the statement's start.
fn clock(function: &Function, started: NaiveDateTime) -> Option<Expr> {
    let name = function.name.to_string().to_ascii_lowercase();
    // CURRENT_TIMESTAMP(3) names a precision: microseconds hold it.
    let bare = matches!(function.args, sqlparser::ast::FunctionArguments::None);
    if function.over.is_some() || !(bare || plain_args(function).is_some_and(|args| args.len() <= 1)) {
        return None;
    }
    match name.as_str() {
        "now" | "current_timestamp" | "localtimestamp" => {
            parse_expr(&format!("TIMESTAMP '{}'", started.format("%Y-%m-%d %H:%M:%S%.6f")))
        }
        "current_date" => parse_expr(&format!("DATE '{}'", started.format("%Y-%m-%d"))),
        _ => None,
    }
}

fn function_call(function: &Function) -> Option<Expr> {
    let name = function.name.to_string().to_ascii_lowercase();
    if !matches!(name.as_str(), "date_trunc" | "date_bin" | "datepart" | "date_diff" | "datediff") || function.over.is_some() {
        return None;
    }
    let args = plain_args(function)?;
    match (name.as_str(), args.as_slice()) {
        ("datepart", [part, value]) => parse_expr(&format!("date_part({part}, {value})")),
        ("date_trunc", [unit, value]) => date_trunc(&string_literal(unit)?.to_ascii_lowercase(), value),
        ("date_bin", [stride, value]) => date_bin(interval_micros(stride)?, value, 0),
        ("date_bin", [stride, value, origin]) => date_bin(interval_micros(stride)?, value, origin_micros(origin)?),
        ("date_diff" | "datediff", [unit, from, to]) => date_diff(&unit_name(unit)?, from, to),
        _ => None,
    }
}

fn epoch_micros(value: &Expr) -> String {
    format!("CAST(CAST({value} AS TIMESTAMP) AS BIGINT)")
}

fn from_micros(micros: &str) -> Option<Expr> {
    parse_expr(&format!("CAST(CAST({micros} AS BIGINT) AS TIMESTAMP)"))
}

/// Buckets of `stride` microseconds counted from `origin` (floor, so times
/// before the origin fall in the bucket that starts before them).
fn date_bin(stride: i64, value: &Expr, origin: i64) -> Option<Expr> {
    if stride <= 0 {
        return None;
    }
    let micros = epoch_micros(value);
    from_micros(&format!("floor(({micros} - {origin}) / {stride}) * {stride} + {origin}"))
}

fn date_trunc(unit: &str, value: &Expr) -> Option<Expr> {
    let day_start = format!("floor({} / {MICROS_PER_DAY}) * {MICROS_PER_DAY}", epoch_micros(value));
    let unit = unit.trim_end_matches('s');
    if let Some(stride) = fixed_micros(unit) {
        return date_bin(stride, value, 0);
    }
    match unit {
        "week" => date_bin(7 * MICROS_PER_DAY, value, FIRST_MONDAY_MICROS),
        "month" => from_micros(&format!("{day_start} - (date_part('day', {value}) - 1) * {MICROS_PER_DAY}")),
        "year" => from_micros(&format!("{day_start} - (date_part('doy', {value}) - 1) * {MICROS_PER_DAY}")),
        "quarter" => parse_expr(&format!(
            "strptime(concat(CAST(date_part('year', {value}) AS VARCHAR), '-', \
             CAST((date_part('quarter', {value}) - 1) * 3 + 1 AS VARCHAR), '-01 00:00:00'), '%Y-%m-%d %H:%M:%S')"
        )),
        _ => None,
    }
}

/// The microseconds of a unit of fixed length (a day is, in UTC).
fn fixed_micros(unit: &str) -> Option<i64> {
    Some(match unit {
        "microsecond" => 1,
        "millisecond" => 1_000,
        "second" => 1_000_000,
        "minute" => 60_000_000,
        "hour" => 3_600_000_000,
        "day" => MICROS_PER_DAY,
        _ => return None,
    })
}

/// A unit as a string (`'day'`) or, as SQL Server writes it, a bare word.
fn unit_name(unit: &Expr) -> Option<String> {
    let name = match unit {
        Expr::Identifier(ident) if ident.quote_style.is_none() => &ident.value,
        other => string_literal(other)?,
    };
    Some(name.to_ascii_lowercase().trim_end_matches('s').to_string())
}

/// The `unit` boundaries crossed from `from` to `to` (negative when `to` is
/// earlier): differences of calendar numbers, or of floored epoch
/// microseconds for fixed-length units; weeks as DuckDB counts them, whole
/// sevens of days (truncated toward zero; Snowflake and SQL Server count
/// week starts instead).
fn date_diff(unit: &str, from: &Expr, to: &Expr) -> Option<Expr> {
    let stride = fixed_micros(if unit == "week" { "day" } else { unit });
    let number = |value: &Expr| match (unit, stride) {
        ("year", _) => Some(format!("date_part('year', {value})")),
        ("quarter", _) => Some(format!("date_part('year', {value}) * 4 + date_part('quarter', {value})")),
        ("month", _) => Some(format!("date_part('year', {value}) * 12 + date_part('month', {value})")),
        (_, Some(stride)) => Some(format!("floor({} / {stride})", epoch_micros(value))),
        _ => None,
    };
    let difference = format!("({}) - ({})", number(to)?, number(from)?);
    match unit {
        "week" => parse_expr(&format!("CAST(sign({difference}) * floor(abs({difference}) / 7) AS BIGINT)")),
        _ => parse_expr(&format!("CAST({difference} AS BIGINT)")),
    }
}

/// A fixed-length `INTERVAL '…'` in microseconds (months and years have no
/// fixed length, so `date_bin` over them is left for polars-sql to refuse).
pub(super) fn interval_micros(expr: &Expr) -> Option<i64> {
    let Expr::Interval(interval) = expr else { return None };
    let text = match (interval.value.as_ref(), &interval.leading_field) {
        (Expr::Value(value), None) => match &value.value {
            Value::SingleQuotedString(text) => text.clone(),
            _ => return None,
        },
        (Expr::Value(value), Some(field)) => match &value.value {
            Value::SingleQuotedString(text) | Value::Number(text, _) => format!("{text} {field}"),
            _ => return None,
        },
        _ => return None,
    };
    let mut words = text.split_whitespace();
    let mut total = 0f64;
    while let (Some(amount), Some(unit)) = (words.next(), words.next()) {
        let amount: f64 = amount.parse().ok()?;
        let scale = match unit.to_ascii_lowercase().trim_end_matches('s') {
            "microsecond" | "u" => 1.0,
            "millisecond" | "m" => 1e3,
            "second" | "sec" => 1e6,
            "minute" | "min" => 6e7,
            "hour" | "h" => 3.6e9,
            "day" | "d" => 8.64e10,
            "week" | "w" => 6.048e11,
            _ => return None,
        };
        total += amount * scale;
    }
    (total >= 1.0).then_some(total as i64)
}

fn origin_micros(expr: &Expr) -> Option<i64> {
    let text = match expr {
        Expr::TypedString(typed) => typed.value.value.clone().into_string()?,
        Expr::Cast { expr, .. } => string_literal(expr)?.to_string(),
        _ => string_literal(expr)?.to_string(),
    };
    Some(parse_timestamp(&text)?.and_utc().timestamp_micros())
}

pub(super) fn date_arithmetic(statement: &mut Statement, columns: &super::Columns) {
    let _ = statement.visit(&mut DateArithmetic { columns });
}

struct DateArithmetic<'a> {
    columns: &'a super::Columns,
}

impl VisitorMut for DateArithmetic<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::BinaryOp { left, op, right } = expr else { return ControlFlow::Continue(()) };
        let minus = match op {
            sqlparser::ast::BinaryOperator::Plus => false,
            sqlparser::ast::BinaryOperator::Minus => true,
            _ => return ControlFlow::Continue(()),
        };
        let (date, days) = if self.is_date(left) {
            (left, integer_literal(right))
        } else if !minus && self.is_date(right) {
            (right, integer_literal(left))
        } else {
            return ControlFlow::Continue(());
        };
        let sign = if minus { '-' } else { '+' };
        if let Some(shifted) = days.and_then(|days| parse_expr(&format!("{date} {sign} INTERVAL '{days} days'"))) {
            *expr = shifted;
        }
        ControlFlow::Continue(())
    }
}

impl DateArithmetic<'_> {
    fn is_date(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Identifier(ident) => self.columns.is_date(&ident.value),
            Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|last| self.columns.is_date(&last.value)),
            Expr::Cast { data_type: DataType::Date, .. } => true,
            Expr::TypedString(typed) => typed.data_type == DataType::Date,
            Expr::Nested(inner) => self.is_date(inner),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        crate::sql::rewrite::scope::rewritten_by(sql, rewrite)
    }

    #[test]
    fn timestamp_literals_become_one_utc_spelling() {
        assert_eq!(
            rewritten("SELECT CAST('2026-11-21 09:15:30' AS TIMESTAMP), timestamp '1970-01-01T01:00:00+01:00'"),
            "SELECT TIMESTAMP '2026-11-21 09:15:30.000000', TIMESTAMP '1970-01-01 00:00:00.000000'"
        );
    }

    #[test]
    fn date_bin_counts_buckets_from_its_origin() {
        let sql = rewritten("SELECT date_bin(interval '15 minute', ts, timestamp '1970-01-01T00:00:10Z') FROM t");
        assert!(sql.contains("- 10000000) / 900000000) * 900000000 + 10000000"), "{sql}");
        assert_eq!(interval_micros(&parse_expr("INTERVAL '1 hour 30 minutes'").unwrap()), Some(5_400_000_000));
        assert_eq!(interval_micros(&parse_expr("INTERVAL '1 month'").unwrap()), None);
    }

    #[test]
    fn clock_functions_are_one_literal_of_the_statements_start() {
        let sql = rewritten("SELECT now(), CURRENT_TIMESTAMP, current_timestamp(3), CURRENT_DATE FROM t WHERE ts > now() - INTERVAL '1' DAY");
        let stamps: Vec<&str> = sql.match_indices("TIMESTAMP '").map(|(at, _)| &sql[at..at + 38]).collect();
        assert_eq!(stamps.len(), 4, "{sql}");
        assert!(stamps.iter().all(|stamp| *stamp == stamps[0]), "{sql}");
        assert!(sql.contains(&format!("DATE '{}'", chrono::Utc::now().format("%Y-%m-%d"))), "{sql}");
        assert!(!sql.to_ascii_lowercase().contains("now()"), "{sql}");
    }

    #[test]
    fn date_diff_counts_calendar_boundaries() {
        assert_eq!(
            rewritten("SELECT datediff(MONTH, a, b) FROM t"),
            "SELECT CAST((date_part('year', b) * 12 + date_part('month', b)) - (date_part('year', a) * 12 + date_part('month', a)) AS BIGINT) FROM t"
        );
        assert!(rewritten("SELECT date_diff('weeks', a, b) FROM t").to_ascii_lowercase().contains("floor(abs("));
        let kept = "SELECT date_diff('decade', a, b) FROM t";
        assert_eq!(rewritten(kept), kept);
    }

    #[test]
    fn qualified_intervals_name_their_unit() {
        assert_eq!(rewritten("SELECT d + INTERVAL '30' DAY FROM t"), "SELECT d + INTERVAL '30 days' FROM t");
    }
}
