//! Forms of the same SQL that polars-sql refuses or plans badly, written as
//! forms it takes: arithmetic on literals folded exactly (`IN (1999, 1999 +
//! 1)` holds only literals then, which polars-sql requires of an IN list;
//! `0.1 + 0.2` is `0.3`, as SQL's DECIMAL gives);
//! the parentheses around a join's ON condition dropped (`ON (a = b AND c =
//! d)`, which polars-sql does not recognise as an equi-join); and what every
//! branch of an OR requires taken out of it (`(a = b AND x) OR (a = b AND
//! y)` is `a = b AND (x OR y)`), so a join key written in each branch is a
//! join key, not a filter over a cross product. And the SQL standard's
//! ordered-set aggregates as the calls polars-sql has (`ordered_sets.rs`);
//! `LIKE … ESCAPE`, which polars-sql refuses, as the anchored regular
//! expression it writes for a LIKE itself, each escaped character matched
//! literally; `WHEN NULL` and
//! `CAST('yes' AS BOOLEAN)` as the booleans Polars can take; `IS [NOT]
//! TRUE/FALSE` never NULL. Bad input to
//! those forms (a fraction past 1, a pattern ending in its escape) is
//! refused here, by name, rather than left for polars-sql to misname.

use std::ops::ControlFlow;

use super::literals;
use super::ordered_sets;
use super::scope::{flatten, is_null_literal, joined_by, parse_expr, plain_args};
use crate::sql::{Error, Result};

use sqlparser::ast::{BinaryOperator, CastKind, DataType, Expr, JoinConstraint, Query, SetExpr, Statement, TableFactor, TableWithJoins, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

pub(super) fn normalize(statement: &mut Statement) -> Result<()> {
    match statement.visit(&mut Normalize) {
        ControlFlow::Break(refused) => Err(refused),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Normalize;

impl VisitorMut for Normalize {
    type Break = Error;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
        let written = match expr {
            Expr::Function(function) => ordered_sets::written_plainly(function).map(|()| ordered_sets::ordered_first_last(function)),
            _ => escaped_like(expr),
        };
        match written {
            Ok(Some(matched)) => *expr = matched,
            Ok(None) => {}
            Err(refused) => return ControlFlow::Break(refused),
        }
        typed_boolean(expr);
        if let Some(folded) = folded(expr) {
            *expr = folded;
        }
        if let Some(factored) = factored(expr) {
            *expr = factored;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Error> {
        join_conditions(&mut query.body);
        ControlFlow::Continue(())
    }
}

/// `x [NOT] [I]LIKE pattern ESCAPE 'c'` as an anchored `regexp_like`; a
/// pattern that ends in its escape character, or an escape of more than one
/// character, is bad input (as in PostgreSQL); a pattern or escape that is
/// not a literal, unsupported.
fn escaped_like(expr: &Expr) -> Result<Option<Expr>> {
    let (negated, subject, pattern, escape, flags) = match expr {
        Expr::Like { negated, any: false, expr, pattern, escape_char: Some(escape) } => (negated, expr, pattern, escape, "(?s)"),
        Expr::ILike { negated, any: false, expr, pattern, escape_char: Some(escape) } => (negated, expr, pattern, escape, "(?is)"),
        _ => return Ok(None),
    };
    let (Some(pattern), Value::SingleQuotedString(escape)) = (literals::text(pattern), &escape.value) else {
        return Err(Error::Unsupported(format!("LIKE … ESCAPE takes a literal pattern and escape character, not `{expr}`")));
    };
    let mut escape_chars = escape.chars();
    let escape_char = escape_chars.next();
    if escape_chars.next().is_some() {
        return Err(Error::Invalid(format!("the ESCAPE of LIKE is one character, not '{escape}'")));
    }
    let Some(regex) = like_regex(pattern, escape_char) else {
        return Err(Error::Invalid(format!("the LIKE pattern '{pattern}' ends in its escape character '{escape}'")));
    };
    let matched = format!("regexp_like({subject}, '^{flags}{}$')", regex.replace('\'', "''"));
    Ok(parse_expr(&if *negated { format!("(NOT {matched})") } else { matched }))
}

/// A LIKE pattern as a regular expression (unanchored); None when it ends in
/// the escape character, which SQL refuses.
pub(super) fn like_regex(pattern: &str, escape: Option<char>) -> Option<String> {
    let mut regex = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            c if Some(c) == escape => regex += &regex::escape(chars.next()?.encode_utf8(&mut [0; 4])),
            '%' => regex += ".*",
            '_' => regex += ".",
            c => regex += &regex::escape(c.encode_utf8(&mut [0; 4])),
        }
    }
    Some(regex)
}

/// `x IS [NOT] TRUE` / `IS [NOT] FALSE`, which SQL never makes NULL:
/// polars-sql compared `x = true`, NULL where `x` is, so `WHERE b IS NOT
/// TRUE` lost the rows where `b` is NULL.
/// Runs once output names are settled, so `b IS TRUE` keeps its name.
pub(super) fn truth_tests(statement: &mut Statement) {
    let _ = crate::sql::visit::visit_expressions_mut(statement, |expr| {
        if let Some(tested) = truth_test(expr) {
            *expr = tested;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `position(t IN s)` and `strpos(s, t)` of a NULL, which SQL makes NULL:
/// polars-sql answered 0, as if not found. The call stays the CASE's
/// value, so an unnamed item keeps its name.
pub(super) fn positions_of_null(statement: &mut Statement) {
    let _ = crate::sql::visit::visit_expressions_mut(statement, |expr| {
        let strings: Vec<&Expr> = match &*expr {
            Expr::Position { expr: needle, r#in } => vec![r#in.as_ref(), needle.as_ref()],
            Expr::Function(function) if function.over.is_none() && function.name.to_string().eq_ignore_ascii_case("strpos") => {
                plain_args(function).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let tests: Vec<String> = strings.iter().filter(|s| !matches!(s, Expr::Value(v) if v.value != Value::Null)).map(|s| format!("({s}) IS NOT NULL")).collect();
        if !tests.is_empty() {
            if let Some(guarded) = parse_expr(&format!("CASE WHEN {} THEN {expr} END", tests.join(" AND "))) {
                *expr = guarded;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

pub(super) fn truth_test(expr: &Expr) -> Option<Expr> {
    let sql = match expr {
        Expr::IsTrue(x) => format!("coalesce(({x}), false)"),
        Expr::IsNotTrue(x) => format!("(NOT coalesce(({x}), false))"),
        Expr::IsFalse(x) => format!("(NOT coalesce(({x}), true))"),
        Expr::IsNotFalse(x) => format!("coalesce(({x}), true)"),
        _ => return None,
    };
    parse_expr(&sql)
}

/// `a + b`, `a - b` or `a * b` of number literals worked out exactly, as
/// SQL's DECIMAL does (`0.1 + 0.2` is `0.3`; polars-sql would add DOUBLEs),
/// and an integer only when it fits a BIGINT.
fn folded(expr: &Expr) -> Option<Expr> {
    let Expr::BinaryOp { op: BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply, .. } = expr else { return None };
    let (unscaled, scale) = literals::exact(expr)?;
    if scale == 0 && i64::try_from(unscaled).is_err() {
        return None;
    }
    Some(Expr::value(Value::Number(literals::decimal_text((unscaled, scale)), false)))
}

/// `WHEN NULL` as a BOOLEAN NULL, which Polars takes as a condition (never
/// met); `CAST('t' AS BOOLEAN)` of a literal PostgreSQL reads as a boolean
/// (`true`/`t`/`yes`/`on`/`1` and their opposites, any case), which Polars
/// cannot cast from text.
fn typed_boolean(expr: &mut Expr) {
    match expr {
        // Not `CASE x WHEN NULL`: its conditions are values to compare `x` with.
        Expr::Case { operand: None, conditions, .. } => {
            for when in conditions.iter_mut().filter(|when| is_null_literal(&when.condition)) {
                when.condition = Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(when.condition.clone()),
                    data_type: DataType::Boolean,
                    array: false,
                    format: None,
                };
            }
        }
        Expr::Cast { expr: text, data_type: DataType::Boolean | DataType::Bool, .. } => {
            let Expr::Value(value) = text.as_ref() else { return };
            let Value::SingleQuotedString(text) = &value.value else { return };
            let truth = match text.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "on" | "1" => true,
                "false" | "f" | "no" | "n" | "off" | "0" => false,
                _ => return,
            };
            *expr = Expr::value(Value::Boolean(truth));
        }
        _ => {}
    }
}

/// `(c AND x) OR (c AND y)` as `c AND (x OR y)`; `(c) OR (c AND y)` as `c`.
fn factored(expr: &Expr) -> Option<Expr> {
    if !matches!(expr, Expr::BinaryOp { op: BinaryOperator::Or, .. }) {
        return None;
    }
    let mut branches = Vec::new();
    flatten(expr, &BinaryOperator::Or, &mut branches);
    let conjuncts: Vec<Vec<&Expr>> = branches
        .iter()
        .map(|branch| {
            let mut parts = Vec::new();
            flatten(branch, &BinaryOperator::And, &mut parts);
            parts
        })
        .collect();
    let text = |e: &Expr| e.to_string();
    let common: Vec<&Expr> =
        conjuncts[0].iter().copied().filter(|c| conjuncts[1..].iter().all(|other| other.iter().any(|o| text(o) == text(c)))).collect();
    if common.is_empty() {
        return None;
    }
    let is_common = |e: &Expr| common.iter().any(|c| text(c) == text(e));
    let rests: Vec<Vec<Expr>> = conjuncts.iter().map(|parts| parts.iter().filter(|p| !is_common(p)).map(|p| (*p).clone()).collect()).collect();
    let mut parts: Vec<Expr> = common.iter().map(|c| (*c).clone()).collect();
    if rests.iter().all(|rest| !rest.is_empty()) {
        let alternatives = rests.into_iter().filter_map(|rest| joined_by(BinaryOperator::And, rest)).collect();
        parts.push(joined_by(BinaryOperator::Or, alternatives)?);
    }
    // No parentheses: where an OR stood without them, an AND (binding tighter) may stand too.
    joined_by(BinaryOperator::And, parts)
}

fn join_conditions(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => select.from.iter_mut().for_each(joined),
        SetExpr::SetOperation { left, right, .. } => {
            join_conditions(left);
            join_conditions(right);
        }
        _ => {}
    }
}

fn joined(from: &mut TableWithJoins) {
    if let TableFactor::NestedJoin { table_with_joins, .. } = &mut from.relation {
        joined(table_with_joins);
    }
    for join in &mut from.joins {
        if let TableFactor::NestedJoin { table_with_joins, .. } = &mut join.relation {
            joined(table_with_joins);
        }
        if let Some(JoinConstraint::On(condition)) = super::scope::join_constraint(&mut join.join_operator) {
            unwrap_conjuncts(condition);
        }
    }
}

/// Drops parentheses around the condition and its AND-ed parts, where no
/// precedence depends on them (the part inside is a comparison or an AND).
fn unwrap_conjuncts(condition: &mut Expr) {
    loop {
        match condition {
            Expr::Nested(inner) if !matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::Or, .. }) => {
                let inner = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
                *condition = inner;
            }
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
                unwrap_conjuncts(left);
                unwrap_conjuncts(right);
                return;
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_null_are_null() {
        let sql = crate::sql::rewrite::scope::rewritten_by("SELECT position('b' IN s), strpos(s, t), strpos('abc', 'b') FROM t", positions_of_null);
        assert_eq!(
            sql,
            "SELECT CASE WHEN (s) IS NOT NULL THEN POSITION('b' IN s) END, \
             CASE WHEN (s) IS NOT NULL AND (t) IS NOT NULL THEN strpos(s, t) END, strpos('abc', 'b') FROM t"
        );
    }

    fn normalized(sql: &str) -> String {
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        normalize(&mut statement).expect(sql);
        statement.to_string()
    }

    fn refused(sql: &str) -> String {
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        match normalize(&mut statement).expect_err(sql) {
            Error::Invalid(message) => format!("invalid: {message}"),
            Error::Unsupported(message) => format!("unsupported: {message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn percentiles_within_group_are_quantiles() {
        assert_eq!(
            normalized("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY y DESC), percentile_disc(1) WITHIN GROUP (ORDER BY z) FROM t"),
            "SELECT quantile_cont(x, 0.5), quantile_cont(y, 0.75), quantile_disc(z, 1.0) FROM t"
        );
        assert_eq!(
            refused("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x DESC) FROM t"),
            "unsupported: percentile_disc … WITHIN GROUP (ORDER BY … DESC) is not supported; ascending order is"
        );
        assert!(refused("SELECT percentile_cont(p) WITHIN GROUP (ORDER BY x) FROM t").starts_with("unsupported: the fraction of percentile_cont must be a number"));
        assert_eq!(refused("SELECT percentile_cont(-0.5) WITHIN GROUP (ORDER BY x) FROM t"), "invalid: the fraction of percentile_cont must be between 0 and 1, not -0.5");
    }

    #[test]
    fn first_and_last_in_an_order_are_the_ends_of_the_ordered_values() {
        assert_eq!(
            normalized("SELECT first(x ORDER BY y), last(x ORDER BY y DESC, z NULLS FIRST), first(x), last(x ORDER BY y) OVER () FROM t"),
            "SELECT array_get(array_agg(x ORDER BY y ASC NULLS LAST), 1), array_get(array_agg(x ORDER BY y ASC NULLS LAST, z DESC NULLS LAST), 1), \
             first(x), last(x ORDER BY y) OVER () FROM t"
        );
    }

    #[test]
    fn listagg_within_group_is_ordered_inside() {
        assert_eq!(
            normalized("SELECT listagg(x, ',') WITHIN GROUP (ORDER BY y DESC, x), LISTAGG(DISTINCT x) WITHIN GROUP (ORDER BY x) FROM t"),
            "SELECT listagg(x, ',' ORDER BY y DESC, x), LISTAGG(DISTINCT x ORDER BY x) FROM t"
        );
    }

    #[test]
    fn mode_within_group_is_mode_of_the_ordered_expression() {
        assert_eq!(normalized("SELECT mode() WITHIN GROUP (ORDER BY x + 1), MODE() WITHIN GROUP (ORDER BY y ASC) FROM t"), "SELECT mode(x + 1), MODE(y) FROM t");
        assert_eq!(refused("SELECT mode() WITHIN GROUP (ORDER BY x DESC) FROM t"), "unsupported: mode() WITHIN GROUP (ORDER BY … DESC) is not supported; ascending order is");
        assert!(refused("SELECT mode(y) WITHIN GROUP (ORDER BY x) FROM t").starts_with("unsupported: mode is written `mode() WITHIN GROUP"));
    }

    #[test]
    fn literal_buckets_must_be_counted_and_bounded() {
        assert_eq!(refused("SELECT width_bucket(x, 0, 10, 0) FROM t"), "invalid: `width_bucket(x, 0, 10, 0)`: the count of buckets must be 1 or more, not 0");
        assert_eq!(refused("SELECT width_bucket(x, 1.50, 1.5, 4) FROM t"), "invalid: `width_bucket(x, 1.50, 1.5, 4)`: the lower and upper bounds must differ");
        assert_eq!(normalized("SELECT width_bucket(x, 0, 10, n) FROM t"), "SELECT width_bucket(x, 0, 10, n) FROM t");
    }

    #[test]
    fn like_with_an_escape_is_an_anchored_regex() {
        assert_eq!(
            normalized(r"SELECT * FROM t WHERE a LIKE '10\%_x.%' ESCAPE '\' AND b NOT ILIKE 'it!''s!!' ESCAPE '!'"),
            r"SELECT * FROM t WHERE regexp_like(a, '^(?s)10%.x\..*$') AND (NOT regexp_like(b, '^(?is)it''s!$'))"
        );
        assert_eq!(refused("SELECT * FROM t WHERE a LIKE 'x!' ESCAPE '!'"), "invalid: the LIKE pattern 'x!' ends in its escape character '!'");
        assert!(refused("SELECT * FROM t WHERE a LIKE 'x' ESCAPE '!!'").starts_with("invalid: the ESCAPE of LIKE is one character"));
        assert!(refused("SELECT * FROM t WHERE a LIKE c ESCAPE '!'").starts_with("unsupported: LIKE … ESCAPE takes a literal pattern"));
    }

    #[test]
    fn arithmetic_on_literals_is_folded_exactly() {
        assert_eq!(normalized("SELECT * FROM t WHERE y IN (1999, 1999 + 1, 1999 + 2) AND m = 2 * -3"), "SELECT * FROM t WHERE y IN (1999, 2000, 2001) AND m = -6");
        assert_eq!(normalized("SELECT 0.1 + 0.2 = 0.3, 1.5 * 2, 1 - 0.25 + 1, a + 1, 1 / 3 FROM t"), "SELECT 0.3 = 0.3, 3.0, 1.75, a + 1, 1 / 3 FROM t");
        assert_eq!(normalized("SELECT 9223372036854775807 + 1"), "SELECT 9223372036854775807 + 1");
    }

    #[test]
    fn null_conditions_and_boolean_text_are_booleans() {
        assert_eq!(
            normalized("SELECT CASE WHEN NULL THEN 1 WHEN a THEN 2 END, CASE b WHEN NULL THEN 1 END, CAST(' Yes' AS BOOLEAN), CAST('off' AS BOOL), CAST('maybe' AS BOOLEAN) FROM t"),
            "SELECT CASE WHEN CAST(NULL AS BOOLEAN) THEN 1 WHEN a THEN 2 END, CASE b WHEN NULL THEN 1 END, true, false, CAST('maybe' AS BOOLEAN) FROM t"
        );
    }

    #[test]
    fn what_every_branch_of_an_or_requires_is_taken_out_of_it() {
        assert_eq!(
            normalized("SELECT * FROM a, b WHERE (a.k = b.k AND a.x = 1 AND b.y > 2) OR (b.y > 2 AND a.k = b.k AND a.x = 3)"),
            "SELECT * FROM a, b WHERE a.k = b.k AND b.y > 2 AND (a.x = 1 OR a.x = 3)"
        );
        assert_eq!(normalized("SELECT * FROM a WHERE x = 1 OR (x = 1 AND y = 2)"), "SELECT * FROM a WHERE x = 1");
        assert_eq!(normalized("SELECT * FROM a WHERE x = 1 OR y = 2"), "SELECT * FROM a WHERE x = 1 OR y = 2");
        assert_eq!(normalized("SELECT * FROM a WHERE z AND ((k = 1 AND x) OR (k = 1 AND y))"), "SELECT * FROM a WHERE z AND (k = 1 AND (x OR y))");
    }

    #[test]
    fn parentheses_around_join_conditions_go_where_precedence_allows() {
        assert_eq!(
            normalized("SELECT * FROM a JOIN b ON (a.x = b.x AND (a.y = b.y)) LEFT JOIN c ON ((c.z = a.x) AND (c.q = 1 OR c.q = 2))"),
            "SELECT * FROM a JOIN b ON a.x = b.x AND a.y = b.y LEFT JOIN c ON c.z = a.x AND (c.q = 1 OR c.q = 2)"
        );
    }
}
