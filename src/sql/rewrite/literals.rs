//! Literals read as values: numbers worked out exactly, as SQL's DECIMAL
//! does (polars-sql reads `0.05` as a DOUBLE), and quoted text.

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};

/// A single-quoted string literal's text.
pub(super) fn text(expr: &Expr) -> Option<&str> {
    let Expr::Value(value) = expr else { return None };
    let Value::SingleQuotedString(text) = &value.value else { return None };
    Some(text)
}

/// A number literal, signed, or `+`, `-`, `*` of them, as an unscaled
/// integer and its scale (`-0.05` is `(-5, 2)`); `None` past 128 bits.
pub(super) fn exact(expr: &Expr) -> Option<(i128, u32)> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(text, _) if !text.contains(['e', 'E']) => parsed(text),
            _ => None,
        },
        Expr::Nested(inner) => exact(inner),
        Expr::UnaryOp { op: UnaryOperator::Minus, expr: inner } => exact(inner).map(|(unscaled, scale)| (-unscaled, scale)),
        Expr::UnaryOp { op: UnaryOperator::Plus, expr: inner } => exact(inner),
        Expr::BinaryOp { left, op, right } => {
            let (left, right) = (exact(left)?, exact(right)?);
            match op {
                BinaryOperator::Multiply => Some((left.0.checked_mul(right.0)?, left.1 + right.1)),
                BinaryOperator::Plus => {
                    let (scale, a, b) = aligned(left, right)?;
                    Some((a.checked_add(b)?, scale))
                }
                BinaryOperator::Minus => {
                    let (scale, a, b) = aligned(left, right)?;
                    Some((a.checked_sub(b)?, scale))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Both values at the larger scale.
pub(super) fn aligned(left: (i128, u32), right: (i128, u32)) -> Option<(u32, i128, i128)> {
    let scale = left.1.max(right.1);
    Some((scale, rescaled(left, scale)?, rescaled(right, scale)?))
}

pub(super) fn rescaled((unscaled, from): (i128, u32), to: u32) -> Option<i128> {
    unscaled.checked_mul(10i128.checked_pow(to.checked_sub(from)?)?)
}

fn parsed(text: &str) -> Option<(i128, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let unscaled: i128 = format!("{whole}{fraction}").parse().ok()?;
    Some((unscaled, u32::try_from(fraction.len()).ok()?))
}

pub(crate) fn decimal_text((unscaled, scale): (i128, u32)) -> String {
    let digits = format!("{:0>width$}", unscaled.unsigned_abs(), width = scale as usize + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale as usize);
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::rewrite::scope::parse_expr;

    fn value(sql: &str) -> Option<String> {
        exact(&parse_expr(sql)?).map(decimal_text)
    }

    #[test]
    fn literal_arithmetic_is_exact() {
        assert_eq!(value("-(0.05)").as_deref(), Some("-0.05"));
        assert_eq!(value("1 + 10").as_deref(), Some("11"));
        assert_eq!(value(".5 * 3 - 0.25").as_deref(), Some("1.25"));
        assert_eq!(value("0.1 + 0.2").as_deref(), Some("0.3"));
        assert_eq!(value("1e3"), None);
        assert_eq!(value("1 / 3"), None);
        assert_eq!(value("x + 1"), None);
        assert_eq!(value("99999999999999999999999999999999999999 * 10"), None);
    }
}
