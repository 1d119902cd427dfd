//! LIKE patterns as the cheapest test that means the same. polars-sql writes
//! every pattern with a wildcard as an anchored regular expression, so
//! `p_name LIKE '%green%'` is `^(?s).*green.*$`: the engine scans each value
//! from every start, where a substring search would do. A pattern that only
//! fixes a prefix or a suffix becomes `starts_with` / `ends_with`, and one
//! that floats at either end drops the anchor and the `.*` there (an
//! unanchored regex of a literal is a substring search in the regex crate),
//! as Python Polars' own SQL does. Runs at planning time, after
//! `pushdown.rs` has read the prefixes it prunes files by.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement, UnaryOperator, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::literals;
use super::normalize::like_regex;
use super::scope::{call, is_null_literal, parse_expr};

pub(super) fn simplify(statement: &mut Statement) {
    let _ = statement.visit(&mut Simplify);
}

struct Simplify;

impl VisitorMut for Simplify {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(simpler) = simplified(expr) {
            *expr = simpler;
        }
        ControlFlow::Continue(())
    }
}

fn simplified(expr: &Expr) -> Option<Expr> {
    let (negated, subject, pattern, case_insensitive) = match expr {
        Expr::Like { negated, any: false, expr, pattern, escape_char: None } => (*negated, expr, pattern, false),
        Expr::ILike { negated, any: false, expr, pattern, escape_char: None } => (*negated, expr, pattern, true),
        _ => return None,
    };
    // polars-sql refuses a NULL pattern and its string tests a NULL subject;
    // either way SQL's answer is unknown.
    if is_null_literal(subject) || is_null_literal(pattern) {
        return parse_expr("CAST(NULL AS BOOLEAN)");
    }
    let (function, argument) = test(literals::text(pattern)?, case_insensitive)?;
    let test = call(function, [(**subject).clone(), Expr::value(Value::SingleQuotedString(argument))]);
    Some(if negated { Expr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(test))) } } else { test })
}

/// The function and its argument that test `pattern`; None where polars-sql's
/// own form is already the cheapest (no floating end) or the pattern matches
/// every value.
fn test(pattern: &str, case_insensitive: bool) -> Option<(&'static str, String)> {
    let unstarted = pattern.trim_start_matches('%');
    let core = unstarted.trim_end_matches('%');
    let (floats_left, floats_right) = (unstarted.len() < pattern.len(), core.len() < unstarted.len());
    if core.is_empty() || !(floats_left || floats_right) {
        return None;
    }
    let wildcards = core.contains(['%', '_']);
    if !case_insensitive && !wildcards {
        match (floats_left, floats_right) {
            (false, true) => return Some(("starts_with", core.to_string())),
            (true, false) => return Some(("ends_with", core.to_string())),
            _ => {}
        }
    }
    let flags = match (case_insensitive, wildcards) {
        (true, _) => "(?is)",
        (false, true) => "(?s)",
        (false, false) => "",
    };
    let (start, end) = (if floats_left { "" } else { "^" }, if floats_right { "" } else { "$" });
    Some(("regexp_like", format!("{start}{flags}{}{end}", like_regex(core, None)?)))
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn simplified(sql: &str) -> String {
        rewritten_over(sql, &columns_of(&[]), |statement, _| super::simplify(statement))
    }

    #[test]
    fn floating_ends_lose_their_anchors() {
        assert_eq!(
            simplified("SELECT * FROM t WHERE a LIKE 'PROMO%' AND b NOT LIKE '%BRASS' AND c LIKE '%green%'"),
            "SELECT * FROM t WHERE starts_with(a, 'PROMO') AND NOT (ends_with(b, 'BRASS')) AND regexp_like(c, 'green')"
        );
        assert_eq!(
            simplified("SELECT a NOT LIKE '%special%requests%', a LIKE 'x_y%', a ILIKE '%It''s.%' FROM t"),
            "SELECT NOT (regexp_like(a, '(?s)special.*requests')), regexp_like(a, '^(?s)x.y'), regexp_like(a, '(?is)It''s\\.') FROM t"
        );
    }

    #[test]
    fn a_null_subject_or_pattern_is_unknown() {
        assert_eq!(
            simplified("SELECT * FROM t WHERE NULL LIKE 'x%' OR a NOT ILIKE NULL"),
            "SELECT * FROM t WHERE CAST(NULL AS BOOLEAN) OR CAST(NULL AS BOOLEAN)"
        );
    }

    #[test]
    fn anchored_and_match_all_patterns_stay() {
        let kept = "SELECT * FROM t WHERE a LIKE 'a_c' AND a LIKE '%' AND a LIKE '%%' AND a LIKE 'x' AND a LIKE b AND a LIKE '%x' ESCAPE '!'";
        assert_eq!(simplified(kept), kept);
    }
}
