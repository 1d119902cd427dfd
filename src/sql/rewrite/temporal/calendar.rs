//! The date functions BI tools write with a unit or a stride —
//! `date_trunc`, Grafana's `date_bin`, `date_diff` / `datediff` — as
//! arithmetic on epoch microseconds and calendar numbers that polars-sql
//! plans (vectorised expressions the streaming engine runs).

use sqlparser::ast::{Expr, Function, Value};

use super::super::literals;
use super::super::scope::{parse_expr, plain_args};
use super::parse_timestamp;
use crate::sql::{Error, Result};
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// 1970-01-05, the first Monday after the epoch: weeks start on Mondays (ISO).
const FIRST_MONDAY_MICROS: i64 = 4 * MICROS_PER_DAY;

/// The units `date_trunc` and `date_diff` take, as their errors list them.
const UNITS: &str = "microsecond, millisecond, second, minute, hour, day, week, month, quarter, year, decade, century or millennium";

/// The date functions BI tools write, as arithmetic polars-sql plans; a
/// unit no calendar has is bad input, a unit or stride that is not written
/// out, unsupported.
pub(super) fn function_call(function: &Function) -> Result<Option<Expr>> {
    let name = function.name.to_string().to_ascii_lowercase();
    if !matches!(name.as_str(), "date_trunc" | "date_bin" | "datepart" | "date_diff" | "datediff") || function.over.is_some() {
        return Ok(None);
    }
    let Some(args) = plain_args(function) else { return Ok(None) };
    let unit = |unit: &Expr| unit_name(unit).ok_or_else(|| Error::Unsupported(format!("the unit of `{function}` must be written out, as in '{name}('day', …)'")));
    let counted = |unit: String, call: Option<Expr>| match call {
        None => Err(Error::Invalid(format!("`{function}`: '{unit}' is not a unit; {name} takes {UNITS}"))),
        call => Ok(call),
    };
    let binned = |call: Option<Expr>| match call {
        None => Err(Error::Unsupported(format!("`{function}`: date_bin takes an interval of fixed length (weeks or shorter) and a literal origin"))),
        call => Ok(call),
    };
    match (name.as_str(), args.as_slice()) {
        ("datepart", [part, value]) => Ok(parse_expr(&format!("date_part({part}, {value})"))),
        ("date_trunc", [written, value]) => {
            let unit = unit(written)?;
            counted(unit.clone(), date_trunc(&unit, value))
        }
        ("date_bin", [stride, value]) => binned(interval_micros(stride).and_then(|stride| date_bin(stride, value, 0))),
        ("date_bin", [stride, value, origin]) => {
            binned(interval_micros(stride).zip(origin_micros(origin)).and_then(|(stride, origin)| date_bin(stride, value, origin)))
        }
        ("date_diff" | "datediff", [written, from, to]) => {
            let unit = unit(written)?;
            counted(unit.clone(), date_diff(&unit, from, to))
        }
        _ => Ok(None),
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
    let midnight = format!("floor({} / {MICROS_PER_DAY}) * {MICROS_PER_DAY}", epoch_micros(value));
    if let Some(stride) = fixed_micros(unit) {
        return date_bin(stride, value, 0);
    }
    match unit {
        "week" => date_bin(7 * MICROS_PER_DAY, value, FIRST_MONDAY_MICROS),
        "month" => from_micros(&format!("{midnight} - (date_part('day', {value}) - 1) * {MICROS_PER_DAY}")),
        "year" => from_micros(&format!("{midnight} - (date_part('doy', {value}) - 1) * {MICROS_PER_DAY}")),
        "quarter" => month_start(&format!("date_part('year', {value})"), &format!("(date_part('quarter', {value}) - 1) * 3 + 1")),
        _ => month_start(&years_started(unit, value)?, "1"),
    }
}

/// Midnight of the first of `month` in `year` (SQL for each).
fn month_start(year: &str, month: &str) -> Option<Expr> {
    parse_expr(&day_start(year, month, "1"))
}

/// The midnight a day given by its numbers starts at: polars-sql builds no
/// timestamp from parts, so the numbers are written as text and read back.
/// `||`, not `concat`, so a NULL number makes the text NULL (`concat` skips
/// NULLs: `date_trunc('quarter', d)` of a NULL read "--1" and failed).
pub(in crate::sql::rewrite) fn day_start(year: &str, month: &str, day: &str) -> String {
    format!("strptime(CAST({year} AS VARCHAR) || '-' || CAST({month} AS VARCHAR) || '-' || CAST({day} AS VARCHAR), '%Y-%m-%d')")
}

/// The year a decade, century or millennium holding `value` starts in, as
/// DuckDB counts them (2000 starts a decade, century and millennium; the
/// remainder keeps the dividend's sign, so years before 1 count toward zero).
fn years_started(unit: &str, value: &Expr) -> Option<String> {
    let years = years_in(unit)?;
    Some(format!("date_part('year', {value}) - date_part('year', {value}) % {years}"))
}

fn years_in(unit: &str) -> Option<i64> {
    match unit {
        "decade" => Some(10),
        "century" => Some(100),
        "millennium" => Some(1000),
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
        other => literals::text(other)?,
    };
    Some(match name.to_ascii_lowercase().as_str() {
        "centuries" => "century".to_string(),
        "millennia" => "millennium".to_string(),
        name => name.trim_end_matches('s').to_string(),
    })
}

/// The `unit` boundaries crossed from `from` to `to` (negative when `to` is
/// earlier): differences of calendar numbers, or of floored epoch
/// microseconds for fixed-length units; weeks as DuckDB counts them, whole
/// sevens of days (truncated toward zero; Snowflake and SQL Server count
/// week starts instead); decades and longer by the years that start them.
fn date_diff(unit: &str, from: &Expr, to: &Expr) -> Option<Expr> {
    let stride = fixed_micros(if unit == "week" { "day" } else { unit });
    let number = |value: &Expr| match (unit, stride) {
        ("year", _) => Some(format!("date_part('year', {value})")),
        ("quarter", _) => Some(format!("date_part('year', {value}) * 4 + date_part('quarter', {value})")),
        ("month", _) => Some(format!("date_part('year', {value}) * 12 + date_part('month', {value})")),
        (_, Some(stride)) => Some(format!("floor({} / {stride})", epoch_micros(value))),
        _ => years_started(unit, value),
    };
    let difference = format!("({}) - ({})", number(to)?, number(from)?);
    match (unit, years_in(unit)) {
        ("week", _) => parse_expr(&format!("CAST(sign({difference}) * floor(abs({difference}) / 7) AS BIGINT)")),
        (_, Some(years)) => parse_expr(&format!("CAST(({difference}) / {years} AS BIGINT)")),
        _ => parse_expr(&format!("CAST({difference} AS BIGINT)")),
    }
}

/// A fixed-length `INTERVAL '…'` in microseconds (months and years have no
/// fixed length, so `date_bin` over them is refused).
pub(in crate::sql::rewrite) fn interval_micros(expr: &Expr) -> Option<i64> {
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
        Expr::Cast { expr, .. } => literals::text(expr)?.to_string(),
        _ => literals::text(expr)?.to_string(),
    };
    Some(parse_timestamp(&text)?.and_utc().timestamp_micros())
}
