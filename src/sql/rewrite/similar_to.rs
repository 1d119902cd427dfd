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
    let mut characters = pattern.chars().peekable();
    // Inside `{…}`, a repetition's counts.
    let mut in_counts = false;
    while let Some(character) = characters.next() {
        match character {
            c if Some(c) == escape => push_literal(&mut regex, characters.next().unwrap_or(c)),
            '}' if in_counts => {
                in_counts = false;
                regex.push('}');
            }
            other if in_counts => regex.push(other),
            '{' => {
                in_counts = true;
                regex.push('{');
            }
            '[' => push_class(&mut regex, &mut characters, escape),
            '%' => regex.push_str(".*"),
            '_' => regex.push('.'),
            '|' | '*' | '+' | '?' | '(' | ')' => regex.push(character),
            other => push_literal(&mut regex, other),
        }
    }
    regex.push_str(")$");
    regex
}

/// A bracket expression after its `[`, as POSIX reads it: a `]` first is a
/// member, `[:alpha:]` a named class, and `[`, `\`, `&`, `~` members (Rust
/// reads them as nested classes, escapes and set operations).
fn push_class(regex: &mut String, characters: &mut std::iter::Peekable<std::str::Chars<'_>>, escape: Option<char>) {
    regex.push('[');
    if characters.peek() == Some(&'^') {
        regex.push('^');
        characters.next();
    }
    if characters.peek() == Some(&']') {
        regex.push_str("\\]");
        characters.next();
    }
    while let Some(character) = characters.next() {
        match character {
            ']' => return regex.push(']'),
            '[' if characters.peek() == Some(&':') => {
                regex.push('[');
                for named in characters.by_ref() {
                    regex.push(named);
                    if named == ']' {
                        break;
                    }
                }
            }
            c if Some(c) == escape => push_literal(regex, characters.next().unwrap_or(c)),
            '[' | '\\' | '&' | '~' => {
                regex.push('\\');
                regex.push(character);
            }
            other => regex.push(other),
        }
    }
}

/// `character` for itself: escaped where Rust's `regex` would read it as an
/// operator (and only there: `\<` is a word boundary to it).
fn push_literal(regex: &mut String, character: char) {
    if "\\.^$#&-~*+?()|[]{}".contains(character) {
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
        assert_eq!(regular_expression(r"100\%", Some('\\')), r"(?s)^(?:100%)$");
        assert_eq!(regular_expression("x!_y", Some('!')), r"(?s)^(?:x_y)$");
        assert_eq!(regular_expression("[0-9]{2,3}", None), "(?s)^(?:[0-9]{2,3})$");
        assert_eq!(regular_expression("[^a-c%]_€", Some('\\')), "(?s)^(?:[^a-c%].€)$");
        assert_eq!(regular_expression("it's <%>", Some('\\')), "(?s)^(?:it's <.*>)$");
        assert_eq!(regular_expression("[[:alpha:]][]][[][a&&b]", None), r"(?s)^(?:[[:alpha:]][\]][\[][a\&\&b])$");
        assert_eq!(regular_expression(r"[\d]", Some('!')), r"(?s)^(?:[\\d])$");
    }
}
