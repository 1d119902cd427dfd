//! `x [NOT] SIMILAR TO 'pattern' [ESCAPE 'c']`, which polars-sql refuses, as
//! `regexp_like(x, '(?s)^(?:…)$')`: the whole value matched, as SQL (and
//! PostgreSQL) define it, `%` and `_` read as LIKE reads them, `|`, `*`,
//! `+`, `?`, `{m,n}`, `( )` and `[ ]` as in a regular expression, and every
//! other character (`.`, `^`, `$`, `\`) for itself. (DuckDB departs from
//! SQL here: its SIMILAR TO is a regular expression, `%` a percent sign.)
//! A pattern that is not a literal is left to polars-sql's refusal.

use sqlparser::ast::{Expr, Value};

use super::scope::{call, parse_expr};

/// `expr` written as a regular-expression test, if it is SIMILAR TO a literal.
pub(super) fn as_regular_expression(expr: &Expr) -> Option<Expr> {
    let Expr::SimilarTo { negated, expr: subject, pattern, escape_char } = expr else { return None };
    let Expr::Value(value) = pattern.as_ref() else { return None };
    let Value::SingleQuotedString(pattern) = &value.value else { return None };
    let escape = match escape_char.as_ref().map(|escape| &escape.value) {
        None => Some('\\'),
        Some(Value::SingleQuotedString(escape)) if escape.is_empty() => None,
        Some(Value::SingleQuotedString(escape)) if escape.chars().count() == 1 => escape.chars().next(),
        Some(_) => return None,
    };
    // Text, as SQL requires: a NULL literal is of no type Polars can search.
    let subject = parse_expr(&format!("CAST({subject} AS VARCHAR)"))?;
    let test = call("regexp_like", [subject, Expr::value(Value::SingleQuotedString(regular_expression(pattern, escape)))]);
    Some(if *negated { Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(test))) } } else { test })
}

/// The regular expression (Rust's `regex` syntax) a SIMILAR TO pattern means.
fn regular_expression(pattern: &str, escape: Option<char>) -> String {
    // `%` and `_` match line breaks too, as in LIKE.
    let mut regex = String::from("(?s)^(?:");
    let mut characters = pattern.chars();
    // Inside `[…]` characters are the class's own (`[a-z]`, `[^0-9]`),
    // inside `{…}` a repetition's counts.
    let (mut in_class, mut in_counts) = (false, false);
    while let Some(character) = characters.next() {
        match character {
            c if Some(c) == escape => match characters.next() {
                Some(literal) => push_literal(&mut regex, literal),
                None => push_literal(&mut regex, c),
            },
            ']' if in_class => {
                in_class = false;
                regex.push(']');
            }
            '}' if in_counts => {
                in_counts = false;
                regex.push('}');
            }
            other if in_class || in_counts => regex.push(other),
            '{' => {
                in_counts = true;
                regex.push('{');
            }
            '[' => {
                in_class = true;
                regex.push('[');
            }
            '%' => regex.push_str(".*"),
            '_' => regex.push('.'),
            '|' | '*' | '+' | '?' | '(' | ')' => regex.push(character),
            other => push_literal(&mut regex, other),
        }
    }
    regex.push_str(")$");
    regex
}

fn push_literal(regex: &mut String, character: char) {
    // The characters Rust's `regex` may escape, and needs to for its own.
    if character.is_ascii_punctuation() {
        regex.push('\\');
    }
    regex.push(character);
}

#[cfg(test)]
mod tests {
    use super::regular_expression;

    #[test]
    fn patterns_mean_what_sql_says() {
        assert_eq!(regular_expression("a%", Some('\\')), "(?s)^(?:a.*)$");
        assert_eq!(regular_expression("(a|x)b_", Some('\\')), "(?s)^(?:(a|x)b.)$");
        assert_eq!(regular_expression("a.c$", Some('\\')), r"(?s)^(?:a\.c\$)$");
        assert_eq!(regular_expression(r"100\%", Some('\\')), r"(?s)^(?:100\%)$");
        assert_eq!(regular_expression("x!_y", Some('!')), r"(?s)^(?:x\_y)$");
        assert_eq!(regular_expression("[0-9]{2,3}", None), "(?s)^(?:[0-9]{2,3})$");
        assert_eq!(regular_expression("[^a-c%]_€", Some('\\')), "(?s)^(?:[^a-c%].€)$");
    }
}
