//! `CAST(x AS <integer>)` rounds, as PostgreSQL and DuckDB cast (a DOUBLE
//! half to even, a DECIMAL half away from zero), where Polars truncates;
//! `CAST(x AS DECIMAL(p, s))` rounds half away from zero to `s` places, as
//! they do, where Polars rounds half to even (476.25 to 476.2):
//!
//! - a literal such as `2.5` is a DECIMAL in SQL (a DOUBLE to polars-sql),
//!   and so are `+`, `-` and `*` of such literals (`3 * 1.5` is 4.5
//!   exactly): their cast is worked out here;
//! - where Floe's functions reach (the statement's SELECTs, its CTEs' and
//!   derived tables', `FunctionReach`), Floe's `floe_cast_round`, which
//!   leaves integers and text as they are, so no type needs knowing;
//! - elsewhere (subqueries of expressions that read the query around
//!   them, which `lift.rs` cannot move into CTEs), polars-sql's `round`
//!   where the operand is a number by its form (arithmetic, an aggregate, a
//!   numeric cast); a bare column there is cast as Polars casts it.
//!
//! And where they reach, a comparison of arithmetic with such a literal
//! (`salary * 0.005 = 57.0148`) reads its literals as DECIMALs too.

use std::ops::ControlFlow;

use sqlparser::ast::{CastKind, Expr, Query, Statement, UnaryOperator, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::literals;
use super::scope::{integer_literal, parse_expr, plain_args, FunctionReach};
use crate::sql::functions::{round_digits, round_name, CAST_ROUND};

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rounding::default());
}

#[derive(Default)]
struct Rounding {
    reach: FunctionReach,
}

impl VisitorMut for Rounding {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.reach.enter(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.reach.leave();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.reach.reaches() {
            compared_exactly(expr);
        }
        if let Some((operand, digits)) = round_call(expr) {
            let rounded = match literals::exact(operand) {
                Some(exact) => rounded_exactly(exact, digits).map(literals::decimal_text),
                None if !is_constant(operand) && self.reach.reaches() => Some(format!("{}({})", round_name(digits), literals_as_decimals(operand))),
                None => None,
            };
            if let Some(rounded) = rounded.as_deref().and_then(parse_expr) {
                *expr = rounded;
            }
            return ControlFlow::Continue(());
        }
        if let Some((inner, scale)) = operand_to_rescale(expr) {
            let rounded = match literals::exact(inner) {
                Some(exact) => rounded_exactly(exact, scale).map(literals::decimal_text),
                None if !is_constant(inner) && self.reach.reaches() => Some(format!("{}({})", round_name(scale), literals_as_decimals(inner))),
                None => None,
            };
            if let (Some(rounded), Expr::Cast { expr: inner, .. }) = (rounded.as_deref().and_then(parse_expr), expr) {
                **inner = rounded;
            }
            return ControlFlow::Continue(());
        }
        let Some(inner) = operand_to_round(expr) else { return ControlFlow::Continue(()) };
        let rounded = match decimal_literal(inner) {
            Some(exact) => rounded_exactly(exact, 0).map(literals::decimal_text),
            // polars-sql cannot type a registered function over literals alone.
            None if is_constant(inner) => is_number(inner).then(|| format!("round({inner})")),
            None if self.reach.reaches() => Some(format!("{CAST_ROUND}({})", literals_as_decimals(inner))),
            None if is_number(inner) => Some(format!("round({inner})")),
            None => None,
        };
        if let (Some(rounded), Expr::Cast { expr: inner, .. }) = (rounded.as_deref().and_then(parse_expr), expr) {
            **inner = rounded;
        }
        ControlFlow::Continue(())
    }
}

/// The operand of an integer cast that rounds it: not already rounded,
/// not a whole number or text.
fn operand_to_round(expr: &Expr) -> Option<&Expr> {
    let Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr: inner, data_type, format: None, .. } = expr else {
        return None;
    };
    (is_integer(&data_type.to_string()) && !needs_no_rounding(inner)).then_some(inner)
}

/// The operand of a cast to a DECIMAL of a stated scale, and that scale:
/// not text, a whole number, or already rounded to at most that scale.
fn operand_to_rescale(expr: &Expr) -> Option<(&Expr, i32)> {
    let Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr: inner, data_type, format: None, .. } = expr else {
        return None;
    };
    let scale = i32::try_from(super::scope::decimal_scale(data_type)?).ok()?;
    let rounded = |function: &sqlparser::ast::Function| round_digits(&function.name.to_string()).is_some_and(|digits| digits <= scale);
    let done = match inner.as_ref() {
        Expr::Function(function) => rounded(function),
        Expr::Value(value) => matches!(&value.value, Value::SingleQuotedString(_)) || needs_no_rounding(inner),
        _ => false,
    };
    (!done && scale >= 0).then_some((inner, scale))
}

/// Whether `expr` is an integer cast only Floe's function rounds (of a bare
/// column, whose type the SQL does not say), or a `round` only Floe's
/// function rounds half away from zero.
pub(super) fn needs_floe_function(expr: &Expr) -> bool {
    let cast = operand_to_round(expr).is_some_and(|inner| decimal_literal(inner).is_none() && !is_constant(inner) && !is_number(inner));
    cast || round_call(expr).is_some_and(|(operand, _)| !is_constant(operand))
}

/// `round(x)` or `round(x, n)`, `n` a whole number literal: `x` and `n`.
fn round_call(expr: &Expr) -> Option<(&Expr, i32)> {
    let Expr::Function(function) = expr else { return None };
    if !function.name.to_string().eq_ignore_ascii_case("round") {
        return None;
    }
    match plain_args(function)?.as_slice() {
        [operand] => Some((*operand, 0)),
        [operand, digits] => Some((*operand, i32::try_from(integer_literal(digits)?).ok()?)),
        _ => None,
    }
}

/// An exact decimal rounded half away from zero to `digits` places (to
/// tens, hundreds, … below 0), or None past 38 digits.
fn rounded_exactly((unscaled, scale): (i128, u32), digits: i32) -> Option<(i128, u32)> {
    let places = digits.max(0).unsigned_abs();
    if digits >= 0 && scale <= places {
        return Some((unscaled, scale));
    }
    let Some(divisor) = 10i128.checked_pow(scale + digits.min(0).unsigned_abs() - places) else { return Some((0, places)) };
    let (quotient, remainder) = (unscaled / divisor, unscaled % divisor);
    let away = remainder.unsigned_abs() * 2 >= divisor.unsigned_abs();
    let units = quotient + if away { unscaled.signum() } else { 0 };
    Some((units.checked_mul(10i128.checked_pow(digits.min(0).unsigned_abs())?)?, places))
}

/// `operand` with each number literal with a fraction in its `+`, `-`
/// and `*` a DECIMAL of its own digits, as SQL types it: polars-sql reads
/// `42.55` as a DOUBLE, so `42.55 - a` was 25.549999999999997 and rounded to
/// one place 25.5, not 25.6, and `CAST(a * 2.5 AS INTEGER)` rounded 2.5 half
/// to even. Beside a DOUBLE column it is a DOUBLE still.
fn literals_as_decimals(operand: &Expr) -> Expr {
    use sqlparser::ast::BinaryOperator::{Minus, Multiply, Plus};
    fn typed(expr: &mut Expr) {
        // Literals alone (`0.1 * 0.1`) are worked out first, one DECIMAL: two
        // DECIMAL literals multiplied by Polars would keep one's scale.
        if let Some((unscaled, scale)) = decimal_literal(expr) {
            let precision = (unscaled.unsigned_abs().to_string().len() as u32).max(scale + 1).min(38);
            let text = literals::decimal_text((unscaled, scale));
            if let Some(cast) = parse_expr(&format!("CAST({text} AS DECIMAL({precision}, {scale}))")) {
                *expr = cast;
            }
            return;
        }
        match expr {
            Expr::BinaryOp { left, op: Plus | Minus | Multiply, right } => {
                typed(left);
                typed(right);
            }
            Expr::Nested(inner) | Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr: inner } => typed(inner),
            _ => {}
        }
    }
    let mut operand = operand.clone();
    typed(&mut operand);
    operand
}

/// A comparison (also IS [NOT] DISTINCT FROM) or BETWEEN of arithmetic with
/// a literal that has a fraction against constants (`salary * 0.005 = 57.0148`): the literals of
/// every side as DECIMALs, so the arithmetic is exact where `decimals.rs`
/// makes it so and the sides compare as SQL compares them. As DOUBLEs the
/// product was 57.014799999999994 and no row matched. Against constants
/// only: the same arithmetic elsewhere (a derived table's item, the key a
/// subquery is decorrelated on) stays a DOUBLE, and two copies of it must
/// compare equal. Only where Floe's functions reach: elsewhere Polars would
/// round a DECIMAL product to one operand's scale. Not an IN list: Polars
/// cannot look DECIMALs of one precision up among another's.
fn compared_exactly(expr: &mut Expr) {
    let (computed, constants): (&mut Expr, Vec<&mut Expr>) = match expr {
        Expr::BinaryOp { left, op, right } if super::scope::is_comparison(op) => match computed_against_constant(left, right) {
            Some(sides) => sides,
            None => return,
        },
        Expr::IsDistinctFrom(left, right) | Expr::IsNotDistinctFrom(left, right) => match computed_against_constant(left, right) {
            Some(sides) => sides,
            None => return,
        },
        Expr::Between { expr, low, high, .. } if is_constant_value(low) && is_constant_value(high) => (expr.as_mut(), vec![low.as_mut(), high.as_mut()]),
        _ => return,
    };
    if is_constant_value(computed) || !fits_a_double(computed) || !constants.iter().all(|side| fits_a_double(side)) {
        return;
    }
    let exact = literals_as_decimals(computed);
    if exact != *computed {
        *computed = exact;
        constants.into_iter().for_each(|side| *side = literals_as_decimals(side));
    }
}

/// Of two compared sides, the one computed and the constant one.
fn computed_against_constant<'e>(left: &'e mut Expr, right: &'e mut Expr) -> Option<(&'e mut Expr, Vec<&'e mut Expr>)> {
    match (is_constant_value(left), is_constant_value(right)) {
        (false, true) => Some((left, vec![right])),
        (true, false) => Some((right, vec![left])),
        _ => None,
    }
}

/// A constant, or a cast of one (`1e3` is `CAST(1000.0 AS DOUBLE)`, a
/// division's operands are DOUBLEs): a side whose literals stay as they are.
fn is_constant_value(expr: &Expr) -> bool {
    match expr {
        Expr::Cast { expr, .. } | Expr::Nested(expr) => is_constant_value(expr),
        _ => is_constant(expr),
    }
}

/// Every number literal in `expr` of at most 15 significant digits: Polars
/// reads the literal of a DECIMAL cast through a DOUBLE, exact only so far.
fn fits_a_double(expr: &Expr) -> bool {
    let mut fits = true;
    let _ = crate::sql::visit::visit_expressions(expr, |expr| {
        if let Expr::Value(value) = expr {
            if let Value::Number(text, _) = &value.value {
                let digits = text.trim_start_matches(['0', '.']).bytes().filter(u8::is_ascii_digit).count();
                fits &= digits <= 15;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    fits
}

/// No column, function or subquery in it: literals and operators only.
fn is_constant(expr: &Expr) -> bool {
    struct Finder;
    impl sqlparser::ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Value(_) | Expr::BinaryOp { .. } | Expr::UnaryOp { .. } | Expr::Nested(_) => ControlFlow::Continue(()),
                _ => ControlFlow::Break(()),
            }
        }
    }
    crate::sql::visit::Visit::visit(expr, &mut Finder).is_continue()
}

/// A number by its form, whatever its columns' types.
fn is_number(expr: &Expr) -> bool {
    use sqlparser::ast::BinaryOperator::*;
    match expr {
        Expr::BinaryOp { op: Plus | Minus | Multiply | Divide, .. } => true,
        Expr::Nested(inner) | Expr::UnaryOp { op: UnaryOperator::Minus, expr: inner } => is_number(inner),
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            ["avg", "sum", "round", "floor", "ceil", "abs", "sqrt", "power", "exp", "ln"].contains(&name.as_str())
        }
        Expr::Cast { data_type, .. } => {
            let name = data_type.to_string().to_ascii_uppercase();
            ["DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC"].iter().any(|numeric| name.starts_with(numeric))
        }
        _ => false,
    }
}

fn is_integer(data_type: &str) -> bool {
    let name = data_type.to_ascii_uppercase();
    let base = name.split('(').next().unwrap_or_default().trim();
    matches!(
        base,
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "INT2" | "INT4" | "INT8" | "INT16" | "INT32" | "INT64"
            | "INT UNSIGNED" | "INTEGER UNSIGNED" | "BIGINT UNSIGNED" | "SMALLINT UNSIGNED" | "TINYINT UNSIGNED"
            | "UINT8" | "UINT16" | "UINT32" | "UINT64" | "HUGEINT"
    )
}

/// Already rounded (a ticket's SQL is analyzed again on the node that runs
/// it), a whole number, or text.
fn needs_no_rounding(expr: &Expr) -> bool {
    match expr {
        Expr::Function(function) => {
            let name = function.name.to_string();
            // Rounded to whole numbers: `round(x, 1)` (or Floe's call for it) still has a fraction.
            let whole = name.eq_ignore_ascii_case("round") && plain_args(function).is_some_and(|args| args.len() == 1);
            name.eq_ignore_ascii_case(CAST_ROUND) || whole || round_digits(&name).is_some_and(|digits| digits <= 0)
        }
        Expr::Value(value) => match &value.value {
            Value::Number(text, _) => !text.contains(['.', 'e', 'E']),
            Value::SingleQuotedString(_) => true,
            _ => false,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => needs_no_rounding(expr),
        _ => false,
    }
}

/// A number literal with a fraction, signed (`2.5`, `-2.5`), or `+`, `-`,
/// `*` of number literals with a fraction among them, worked out exactly
/// (SQL keeps DECIMAL there; polars-sql would compute in DOUBLE).
fn decimal_literal(expr: &Expr) -> Option<(i128, u32)> {
    literals::exact(expr).filter(|(_, scale)| *scale > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        super::super::scope::rewritten_by(sql, rewrite)
    }

    #[test]
    fn fractional_literals_of_a_rounded_operand_are_decimals() {
        assert_eq!(
            rewritten("SELECT CAST(42.55 - a AS DECIMAL(12,1)), round(a * -0.5 + b, 2), round(f(1.5) + 0.25) FROM t"),
            "SELECT CAST(floe_round_1(CAST(42.55 AS DECIMAL(4,2)) - a) AS DECIMAL(12,1)), \
             floe_round_2(a * CAST(-0.5 AS DECIMAL(2,1)) + b), floe_round_0(f(1.5) + CAST(0.25 AS DECIMAL(3,2))) FROM t"
        );
    }

    #[test]
    fn comparisons_of_arithmetic_with_fractional_literals_read_them_as_decimals() {
        assert_eq!(
            rewritten("SELECT * FROM t WHERE a * 0.005 = 57.0148 AND a - 0.5 BETWEEN 1 AND 2.25 AND 0.5 < a + 1 AND a * 0.1 IS NOT DISTINCT FROM 0.3"),
            "SELECT * FROM t WHERE a * CAST(0.005 AS DECIMAL(4,3)) = CAST(57.0148 AS DECIMAL(6,4)) \
             AND a - CAST(0.5 AS DECIMAL(2,1)) BETWEEN 1 AND CAST(2.25 AS DECIMAL(3,2)) AND 0.5 < a + 1 \
             AND (a * CAST(0.1 AS DECIMAL(2,1)) IS NOT DISTINCT FROM CAST(0.3 AS DECIMAL(2,1)))"
        );
        // Without a fraction beside a column, against another computed value, or past a DOUBLE's
        // digits, the comparison is as written (`decimal_comparisons.rs` types its literals).
        for sql in [
            "SELECT * FROM t WHERE a > 1.5 AND a * 2 = 3.5 AND 0.1 * 3 = a AND a * 0.5 IN (1.5, 2)",
            "SELECT * FROM t WHERE k IN (SELECT x FROM u WHERE u.y = t.a * 0.5) AND b < a * 0.5",
            "SELECT * FROM t WHERE a * 0.5 > 9999999999999999.5 AND a + 0.5 = 10.0000000000000000001",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn integer_casts_round_where_floe_functions_reach() {
        assert_eq!(
            rewritten("SELECT CAST(x * 1.5 AS INT), x::bigint, round(y, 2), CAST(z AS DOUBLE), CAST('12' AS INT) FROM t"),
            "SELECT CAST(floe_cast_round(x * CAST(1.5 AS DECIMAL(2,1))) AS INT), floe_cast_round(x)::BIGINT, floe_round_2(y), CAST(z AS DOUBLE), CAST('12' AS INT) FROM t"
        );
        // Analyzing the result again changes nothing.
        let once = rewritten("SELECT CAST(round(x) AS INT), CAST(y AS INT) FROM t");
        assert_eq!(once, "SELECT CAST(floe_round_0(x) AS INT), CAST(floe_cast_round(y) AS INT) FROM t");
        assert_eq!(rewritten(&once), once);
        // Rounded to a place past the point, it still has a fraction to round.
        assert_eq!(rewritten("SELECT CAST(round(x, 1) AS INT) FROM t"), "SELECT CAST(floe_cast_round(floe_round_1(x)) AS INT) FROM t");
        // In an expression's subquery: polars-sql's round where the operand is a number by its form.
        assert_eq!(
            rewritten("SELECT * FROM t WHERE k IN (SELECT CAST(x / 50 AS INT) FROM u WHERE CAST(x AS INT) > 1)"),
            "SELECT * FROM t WHERE k IN (SELECT CAST(round(x / 50) AS INT) FROM u WHERE CAST(x AS INT) > 1)"
        );
        // A derived table is handed over on its own too.
        assert_eq!(
            rewritten("SELECT a FROM (SELECT CAST(x AS INT) AS a FROM t) AS d"),
            "SELECT a FROM (SELECT CAST(floe_cast_round(x) AS INT) AS a FROM t) AS d"
        );
        // A top-level CTE runs on its own, where Floe's functions reach.
        assert_eq!(rewritten("WITH c AS (SELECT CAST(x AS INT) AS b FROM t) SELECT b FROM c"), "WITH c AS (SELECT CAST(floe_cast_round(x) AS INT) AS b FROM t) SELECT b FROM c");
    }

    #[test]
    fn round_goes_half_away_from_zero() {
        assert_eq!(
            rewritten("SELECT round(x), round(sum(y), 2), round(z, -1), round(w, n) FROM t"),
            "SELECT floe_round_0(x), floe_round_2(sum(y)), floe_round_m1(z), round(w, n) FROM t"
        );
        // Literals are rounded here, exactly; elsewhere polars-sql's round stays.
        assert_eq!(
            rewritten("SELECT round(2.5), round(-2.5), round(0.125, 2), round(9.995, 2), round(1.5, 3), round(7), round(125, -1), round(-149.5, -2)"),
            "SELECT 3, -3, 0.13, 10.00, 1.5, 7, 130, -100"
        );
        assert_eq!(
            rewritten("SELECT * FROM t WHERE k IN (SELECT round(x) FROM u WHERE u.a = t.a)"),
            "SELECT * FROM t WHERE k IN (SELECT round(x) FROM u WHERE u.a = t.a)"
        );
    }

    #[test]
    fn decimal_casts_round_half_away_from_zero_to_their_scale() {
        assert_eq!(
            rewritten("SELECT CAST(x AS DECIMAL(8,1)), y::NUMERIC(5), CAST(476.25 AS DECIMAL(8,1)), CAST(-2.25 AS DECIMAL(4,1)), CAST(z AS DECIMAL) FROM t"),
            "SELECT CAST(floe_round_1(x) AS DECIMAL(8,1)), floe_round_0(y)::NUMERIC(5), CAST(476.3 AS DECIMAL(8,1)), CAST(-2.3 AS DECIMAL(4,1)), CAST(z AS DECIMAL) FROM t"
        );
        // Analyzing the result again changes nothing; text and whole numbers are cast as they are.
        let once = rewritten("SELECT CAST(x AS DECIMAL(8,1)), CAST('1.25' AS DECIMAL(4,1)), CAST(7 AS DECIMAL(4,1)) FROM t");
        assert_eq!(rewritten(&once), once);
        assert!(once.ends_with("CAST('1.25' AS DECIMAL(4,1)), CAST(7 AS DECIMAL(4,1)) FROM t"), "{once}");
    }

    #[test]
    fn decimal_literals_cast_half_away_from_zero() {
        assert_eq!(
            rewritten("SELECT CAST(2.5 AS INT), CAST(-2.5 AS INT), CAST(-(0.4) AS INT), CAST(99.5 AS BIGINT), CAST(.49 AS INT), CAST(7 AS INT)"),
            "SELECT CAST(3 AS INT), CAST(-3 AS INT), CAST(0 AS INT), CAST(100 AS BIGINT), CAST(0 AS INT), CAST(7 AS INT)"
        );
        // Arithmetic of literals stays exact, as SQL's DECIMAL does.
        assert_eq!(
            rewritten("SELECT CAST(3 * 1.5 AS INT), CAST(0.1 + 0.4 AS INT), CAST(-(2 - 4.5) AS INT), CAST(1.25 * -2 AS INT), CAST(2 * 3 AS INT)"),
            "SELECT CAST(5 AS INT), CAST(1 AS INT), CAST(3 AS INT), CAST(-3 AS INT), CAST(round(2 * 3) AS INT)"
        );
        // Other literal arithmetic (integers, division) rounds with polars-sql's own function.
        assert_eq!(rewritten("SELECT CAST(7 / 2 AS INT)"), "SELECT CAST(round(7 / 2) AS INT)");
    }
}
