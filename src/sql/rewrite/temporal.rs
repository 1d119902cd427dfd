//! Dates and times as BI tools write them, in forms polars-sql plans.
//!
//! - Timestamp literals: `CAST('2026-11-21 09:15:30' AS TIMESTAMP)`,
//!   `timestamp '1970-01-01T00:00:00Z'` (polars-sql takes neither the space
//!   in a cast nor the zone in a literal) become one canonical UTC literal.
//! - `DATE '2024-1-5'` is padded; a day no calendar has is refused.
//! - `INTERVAL '30' DAY` becomes `INTERVAL '30 days'`.
//! - `date_trunc(unit, x)` and Grafana's `date_bin(interval, x, origin)`,
//!   which polars-sql lacks, become arithmetic on epoch microseconds (so
//!   they stay vectorised expressions the streaming engine runs); they
//!   return TIMESTAMP for DATE input too, as PostgreSQL and DuckDB do
//!   (`calendar.rs`).
//! - Grafana's `datepart(part, x)` is `date_part`.
//! - PostgreSQL's `to_char(ts, 'YYYY-MM-DD')` is `strftime` (`formats.rs`).
//! - `date_diff(unit, a, b)` (DuckDB; `datediff` as Snowflake, Redshift and
//!   SQL Server write it, the unit also bare) counts the unit's boundaries
//!   from `a` to `b`, as those engines do (weeks as DuckDB counts them;
//!   `calendar.rs`). A unit no calendar has is refused as bad input.
//! - `now()`, `CURRENT_TIMESTAMP`, `LOCALTIMESTAMP` and `CURRENT_DATE`
//!   (Metabase's and Superset's relative filters), which polars-sql lacks,
//!   are the statement's start in UTC, one value for the whole statement.
//! - At planning time, with the columns' types: `date ± n` (an integer
//!   literal, days in SQL) is `date ± INTERVAL 'n days'` (TPC-DS 72), a
//!   derived table's or CTE's date too (`derived_dates.rs`).

use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use sqlparser::ast::{CastKind, DataType, DateTimeField, Expr, Function, Interval, Statement, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::literals;
use super::scope::{column_name, integer_literal, is_null_literal, parse_expr, plain_args};
use crate::sql::{Error, Result};

mod calendar;
mod derived_dates;
mod formats;

pub(super) use calendar::{day_start, interval_micros};

pub(super) fn rewrite(statement: &mut Statement) -> Result<()> {
    match statement.visit(&mut Temporal { started: chrono::Utc::now().naive_utc() }) {
        ControlFlow::Break(refused) => Err(refused),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Temporal {
    started: NaiveDateTime,
}

impl VisitorMut for Temporal {
    type Break = Error;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        let replacement = match expr {
            Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr: inner, data_type, format: None, .. }
                if is_timestamp(data_type) =>
            {
                literals::text(inner).and_then(timestamp_literal)
            }
            Expr::TypedString(typed) if is_timestamp(&typed.data_type) => {
                typed.value.value.clone().into_string().and_then(|text| timestamp_literal(&text))
            }
            Expr::TypedString(typed) if typed.data_type == DataType::Date => match typed.value.value.clone().into_string().map(|text| date_literal(&text)) {
                Some(Err(refused)) => return ControlFlow::Break(refused),
                Some(Ok(date)) => Some(date),
                None => None,
            },
            Expr::Interval(interval) => unit_interval(interval),
            Expr::Function(function) => match clock(function, self.started) {
                Some(clock) => Some(clock),
                None => match calendar::function_call(function).and_then(|call| match call {
                    Some(call) => Ok(Some(call)),
                    None => formats::to_char(function),
                }) {
                    Ok(call) => call,
                    Err(refused) => return ControlFlow::Break(refused),
                },
            },
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

/// `TIMESTAMP 'YYYY-MM-DD HH:MM:SS[.ffffff]'` for any spelling `parse_timestamp` reads.
fn timestamp_literal(text: &str) -> Option<Expr> {
    parse_expr(&format!("TIMESTAMP '{}'", parse_timestamp(text)?.format("%Y-%m-%d %H:%M:%S%.6f")))
}

/// `DATE 'y-m-d'` spelled as polars-sql reads it (`DATE '2024-1-5'`, which
/// it refused, padded); a day no calendar has (`DATE '2024-02-30'`) is bad
/// input, where Polars read it as NULL and `day > DATE '2023-02-31'` matched
/// no row.
fn date_literal(text: &str) -> Result<Expr> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|err| Error::Invalid(format!("DATE '{text}' is not a date of the form YYYY-MM-DD ({err})")))?;
    parse_expr(&format!("DATE '{}'", date.format("%Y-%m-%d"))).ok_or_else(|| Error::Invalid(format!("DATE '{text}' is out of range")))
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

/// An interval with a part shorter than a day (`INTERVAL '12 hours'`).
fn within_a_day(expr: &Expr) -> bool {
    let Expr::Interval(interval) = expr else { return false };
    let field = matches!(
        interval.leading_field,
        Some(DateTimeField::Hour | DateTimeField::Hours | DateTimeField::Minute | DateTimeField::Minutes | DateTimeField::Second | DateTimeField::Seconds)
    );
    let text = interval.value.to_string().to_ascii_lowercase();
    field || ["hour", "minute", "second"].iter().any(|unit| text.contains(unit)) || text.contains(':')
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

/// Whether `function` reads the clock (`clock` makes it a literal).
pub(super) fn is_clock(function: &Function) -> bool {
    let name = function.name.to_string().to_ascii_lowercase();
    matches!(name.as_str(), "now" | "current_timestamp" | "localtimestamp" | "current_date")
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

pub(super) fn date_arithmetic(statement: &mut Statement, columns: &super::Columns) {
    let derived = derived_dates::with_derived_dates(statement, columns, |columns, expr| DateArithmetic { columns }.is_date(expr));
    let _ = statement.visit(&mut DateArithmetic { columns: derived.as_ref().unwrap_or(columns) });
}

struct DateArithmetic<'a> {
    columns: &'a super::Columns,
}

impl VisitorMut for DateArithmetic<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // A date's epoch is its midnight's: Polars has no seconds of a DATE.
        if let Expr::Extract { field: DateTimeField::Epoch, expr: date, .. } = expr {
            if self.is_date(date) {
                **date = Expr::Cast { kind: CastKind::Cast, expr: date.clone(), data_type: DataType::Timestamp(None, sqlparser::ast::TimezoneInfo::None), array: false, format: None };
            }
            return ControlFlow::Continue(());
        }
        let Expr::BinaryOp { left, op, right } = expr else { return ControlFlow::Continue(()) };
        let minus = match op {
            sqlparser::ast::BinaryOperator::Plus => false,
            sqlparser::ast::BinaryOperator::Minus => true,
            _ => return ControlFlow::Continue(()),
        };
        if let Some(rewritten) = self.timed(left, minus, right).or_else(|| self.moved_by_column(left, minus, right)) {
            *expr = rewritten;
            return ControlFlow::Continue(());
        }
        let (date, days) = if self.is_date(left) {
            (left, integer_literal(right))
        } else if !minus && self.is_date(right) {
            (right, integer_literal(left))
        } else {
            return ControlFlow::Continue(());
        };
        // polars-sql reads no minus sign in an interval: `d + -7` moves back by 7.
        let sign = if minus == days.is_some_and(|days| days < 0) { '+' } else { '-' };
        let days = days.map(i64::unsigned_abs);
        if let Some(shifted) = days.and_then(|days| parse_expr(&format!("{date} {sign} INTERVAL '{days} days'"))) {
            *expr = shifted;
        }
        ControlFlow::Continue(())
    }
}

impl DateArithmetic<'_> {
    /// `date - date` as the days between them (polars-sql made it a
    /// duration, which compared with numbers as microseconds), and a date
    /// moved by hours, minutes or seconds as a TIMESTAMP (polars-sql kept the
    /// DATE and dropped the time), as SQL types them.
    fn timed(&self, left: &Expr, minus: bool, right: &Expr) -> Option<Expr> {
        let sign = if minus { '-' } else { '+' };
        if minus && self.is_date(left) && self.is_date(right) {
            return parse_expr(&format!("(CAST({left} AS BIGINT) - CAST({right} AS BIGINT))"));
        }
        if self.is_date(left) && within_a_day(right) {
            return parse_expr(&format!("CAST({left} AS TIMESTAMP) {sign} {right}"));
        }
        if !minus && self.is_date(right) && within_a_day(left) {
            return parse_expr(&format!("{left} + CAST({right} AS TIMESTAMP)"));
        }
        None
    }

    /// A date moved by the days an integer column (or cast) holds (`day + qty`), as
    /// PostgreSQL's `date + integer`: Polars adds no integer to a date, and
    /// a DATE is its days since 1970.
    fn moved_by_column(&self, left: &Expr, minus: bool, right: &Expr) -> Option<Expr> {
        let sign = if minus { '-' } else { '+' };
        if self.is_date(left) && self.integer(right) {
            return parse_expr(&format!("CAST(CAST({left} AS INTEGER) {sign} ({right}) AS DATE)"));
        }
        if !minus && self.is_date(right) && self.integer(left) {
            return parse_expr(&format!("CAST({left} + CAST({right} AS INTEGER) AS DATE)"));
        }
        None
    }

    /// An integer column or cast, or `+ - *` of such and integer literals.
    fn integer(&self, expr: &Expr) -> bool {
        use sqlparser::ast::BinaryOperator::{Minus, Multiply, Plus};
        let operand = |expr: &Expr| self.integer(expr) || integer_literal(expr).is_some();
        match expr {
            Expr::Cast { data_type, .. } if super::scope::is_integer_type(data_type) => true,
            Expr::Nested(inner) | Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus | sqlparser::ast::UnaryOperator::Plus, expr: inner } => self.integer(inner),
            Expr::BinaryOp { left, op: Plus | Minus | Multiply, right } => (self.integer(left) || self.integer(right)) && operand(left) && operand(right),
            _ => column_name(expr).is_some_and(|name| self.columns.kind(name) == Some(super::ColumnKind::Integer)),
        }
    }

    fn is_date(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => column_name(expr).is_some_and(|name| self.columns.is_date(name)),
            Expr::Cast { data_type: DataType::Date, .. } => true,
            Expr::TypedString(typed) => typed.data_type == DataType::Date,
            Expr::Nested(inner) => self.is_date(inner),
            // A scalar subquery's value is its one item's.
            Expr::Subquery(query) => match query.body.as_ref() {
                sqlparser::ast::SetExpr::Select(select) => match select.projection.as_slice() {
                    [sqlparser::ast::SelectItem::UnnamedExpr(item) | sqlparser::ast::SelectItem::ExprWithAlias { expr: item, .. }] => self.is_date(item),
                    _ => false,
                },
                _ => false,
            },
            // A date moved by days (this pass's own `d + INTERVAL '10 days'` too,
            // and `d + 26` as written, which a derived table's item may be) is a date.
            Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Plus | sqlparser::ast::BinaryOperator::Minus, right } => {
                let days = (matches!(right.as_ref(), Expr::Interval(_)) && !within_a_day(right)) || integer_literal(right).is_some();
                self.is_date(left) && days
            }
            // The least or greatest of dates is a date, as is the first of
            // dates that is not NULL.
            Expr::Function(function) if function.over.is_none() => {
                let name = function.name.to_string().to_ascii_lowercase();
                let Some(args) = plain_args(function) else { return false };
                match name.as_str() {
                    "min" | "max" => matches!(args.as_slice(), [arg] if self.is_date(arg)),
                    "nullif" => args.first().is_some_and(|arg| self.is_date(arg)),
                    "coalesce" | "ifnull" | "greatest" | "least" => self.all_dates(args.iter().copied()),
                    _ => false,
                }
            }
            Expr::Case { conditions, else_result, .. } => {
                self.all_dates(conditions.iter().map(|when| &when.result).chain(else_result.as_deref()))
            }
            _ => false,
        }
    }

    /// Whether values are dates or NULL, one of them a date.
    fn all_dates<'e>(&self, values: impl Iterator<Item = &'e Expr>) -> bool {
        let mut any_date = false;
        for value in values {
            if self.is_date(value) {
                any_date = true;
            } else if !is_null_literal(value) {
                return false;
            }
        }
        any_date
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        crate::sql::rewrite::scope::rewritten_by(sql, |statement| rewrite(statement).expect("rewrites"))
    }

    fn refused(sql: &str) -> crate::sql::Error {
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        rewrite(&mut statement).expect_err(sql)
    }

    #[test]
    fn timestamp_literals_become_one_utc_spelling() {
        assert_eq!(
            rewritten("SELECT CAST('2026-11-21 09:15:30' AS TIMESTAMP), timestamp '1970-01-01T01:00:00+01:00'"),
            "SELECT TIMESTAMP '2026-11-21 09:15:30.000000', TIMESTAMP '1970-01-01 00:00:00.000000'"
        );
    }

    #[test]
    fn date_literals_are_padded_and_days_no_calendar_has_refused() {
        assert_eq!(rewritten("SELECT DATE '2024-1-5', DATE ' 2024-02-29 '"), "SELECT DATE '2024-01-05', DATE '2024-02-29'");
        for bad in ["2024-02-30", "2023-13-01", "garbage", "2024-01-01 10:00:00"] {
            let refused = refused(&format!("SELECT DATE '{bad}'"));
            assert!(matches!(&refused, crate::sql::Error::Invalid(m) if m.contains(&format!("DATE '{bad}' is not a date"))), "{refused}");
        }
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
        let centuries = rewritten("SELECT date_diff(centuries, a, b) FROM t");
        assert!(centuries.contains("% 100)) / 100 AS BIGINT)"), "{centuries}");
    }

    #[test]
    fn units_no_calendar_has_are_bad_input_named() {
        let invalid = refused("SELECT date_diff('fortnight', a, b) FROM t");
        assert!(matches!(&invalid, crate::sql::Error::Invalid(m) if m.contains("'fortnight' is not a unit") && m.contains("millennium")), "{invalid}");
        assert!(matches!(refused("SELECT date_trunc('eon', a) FROM t"), crate::sql::Error::Invalid(_)));
        assert!(matches!(refused("SELECT date_trunc(lower(unit), a) FROM t"), crate::sql::Error::Unsupported(_)));
        assert!(matches!(refused("SELECT date_bin(INTERVAL '1 month', a) FROM t"), crate::sql::Error::Unsupported(_)));
    }

    #[test]
    fn qualified_intervals_name_their_unit() {
        assert_eq!(rewritten("SELECT d + INTERVAL '30' DAY FROM t"), "SELECT d + INTERVAL '30 days' FROM t");
    }

    #[test]
    fn dates_subtract_to_days_and_move_by_hours_to_timestamps() {
        use crate::sql::rewrite::ColumnKind;
        let mut columns = crate::sql::rewrite::Columns::default();
        columns.insert(vec!["t".into()], vec!["d".into(), "e".into(), "n".into()], &[ColumnKind::Date, ColumnKind::Date, ColumnKind::Integer]);
        let arithmetic = |sql: &str| crate::sql::rewrite::scope::rewritten_over(sql, &columns, date_arithmetic);
        assert_eq!(arithmetic("SELECT d - e, d - DATE '2024-01-01' FROM t"), "SELECT (CAST(d AS BIGINT) - CAST(e AS BIGINT)), (CAST(d AS BIGINT) - CAST(DATE '2024-01-01' AS BIGINT)) FROM t");
        assert_eq!(
            arithmetic("SELECT d + INTERVAL '12 hours', INTERVAL '1:30' HOUR TO MINUTE + d, d - INTERVAL '2 days' FROM t"),
            "SELECT CAST(d AS TIMESTAMP) + INTERVAL '12 hours', INTERVAL '1:30' HOUR TO MINUTE + CAST(d AS TIMESTAMP), d - INTERVAL '2 days' FROM t"
        );
        assert_eq!(
            arithmetic("SELECT d - n, n - 1, n + d, d + n * 2, 7 + n + d, d - -n FROM t"),
            "SELECT CAST(CAST(d AS INTEGER) - (n) AS DATE), n - 1, CAST(n + CAST(d AS INTEGER) AS DATE), CAST(CAST(d AS INTEGER) + (n * 2) AS DATE), \
             CAST(7 + n + CAST(d AS INTEGER) AS DATE), CAST(CAST(d AS INTEGER) - (-n) AS DATE) FROM t"
        );
        assert_eq!(arithmetic("SELECT d + -7, d - -2, (d + 10) + -8 FROM t"), "SELECT d - INTERVAL '7 days', d + INTERVAL '2 days', (d + INTERVAL '10 days') - INTERVAL '8 days' FROM t");
        assert_eq!(arithmetic("SELECT EXTRACT(EPOCH FROM d) FROM t"), "SELECT EXTRACT(EPOCH FROM CAST(d AS TIMESTAMP)) FROM t");
        assert_eq!(arithmetic("SELECT max(d) - min(e) FROM t"), "SELECT (CAST(max(d) AS BIGINT) - CAST(min(e) AS BIGINT)) FROM t");
        assert_eq!(
            arithmetic("SELECT COALESCE(d, DATE '2000-01-01') + 3, CASE WHEN n > 0 THEN d END - 1, COALESCE(n, 0) + 3 FROM t"),
            "SELECT COALESCE(d, DATE '2000-01-01') + INTERVAL '3 days', CASE WHEN n > 0 THEN d END - INTERVAL '1 days', COALESCE(n, 0) + 3 FROM t"
        );
        assert_eq!(
            arithmetic("SELECT (SELECT max(d) FROM t) + 15, (SELECT n FROM t) + 1 FROM t"),
            "SELECT (SELECT max(d) FROM t) + INTERVAL '15 days', (SELECT n FROM t) + 1 FROM t"
        );
    }
}
