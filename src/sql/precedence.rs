//! Operators regrouped as PostgreSQL and DuckDB bind them, where
//! sqlparser's generic dialect (the one polars-sql parses with) binds them
//! otherwise. Each regrouped operand is parenthesised, so the printed query
//! (which polars-sql parses again) reads as meant.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Statement};

use crate::sql::visit::{VisitMut, VisitorMut};

/// Both regroupings, on a statement just parsed with the generic dialect.
pub fn bind_as_postgres(statement: &mut Statement) {
    bind_distinct_from(statement);
    bind_operator_runs(statement);
}

/// `a IS [NOT] DISTINCT FROM b AND c` means `(a IS … b) AND c`, as in
/// PostgreSQL and DuckDB (AND, OR and NOT bind looser than IS); sqlparser
/// 0.62 reads the rest of the expression as the right operand, `a IS …
/// (b AND c)`, so `WHERE x IS DISTINCT FROM y AND id > 3` kept every row.
fn bind_distinct_from(statement: &mut Statement) {
    struct Bind;
    impl VisitorMut for Bind {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let negated = match expr {
                Expr::IsDistinctFrom(..) => false,
                Expr::IsNotDistinctFrom(..) => true,
                _ => return ControlFlow::Continue(()),
            };
            let (Expr::IsDistinctFrom(left, right) | Expr::IsNotDistinctFrom(left, right)) = std::mem::replace(expr, null())
            else {
                unreachable!("matched above")
            };
            *expr = regrouped(*left, *right, negated);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Bind);
}

fn null() -> Expr {
    Expr::value(sqlparser::ast::Value::Null)
}

/// `left IS [NOT] DISTINCT FROM right`, where `right` was read too far.
fn regrouped(left: Expr, right: Expr, negated: bool) -> Expr {
    match right {
        Expr::BinaryOp { left: first, op: op @ (BinaryOperator::And | BinaryOperator::Or), right: rest } => {
            Expr::BinaryOp { left: Box::new(regrouped(left, *first, negated)), op, right: rest }
        }
        right => {
            let (left, right) = (Box::new(left), Box::new(right));
            Expr::Nested(Box::new(if negated { Expr::IsNotDistinctFrom(left, right) } else { Expr::IsDistinctFrom(left, right) }))
        }
    }
}

/// `'#' || id + 1` is `'#' || (id + 1)` in PostgreSQL and DuckDB: `||`
/// binds looser than arithmetic, and `^` (a power) tighter than `*`. The
/// generic dialect gives `||` `*`'s precedence and `^` less than `+`'s, so
/// `s || a * b` was `(s || a) * b` (“arithmetic on str”), `a + b || c` was
/// `a + (b || c)`, and `2 * b ^ 2` was `(2 * b) ^ 2`, 36 for 18. A run of
/// these operators is read back in the order written and grouped again by
/// PostgreSQL's ranks.
fn bind_operator_runs(statement: &mut Statement) {
    struct Bind;
    impl VisitorMut for Bind {
        type Break = ();
        // Before the operands: a run is regrouped whole from its root, and
        // what it leaves inside its operands is visited afterwards.
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let mut ranks = Vec::new();
            operators_of(expr, &mut |op| ranks.extend(operator_rank(op)));
            // Only `||` and `^` rank apart from where the generic dialect puts them.
            let apart = |rank: u8| ranks.contains(&rank) && ranks.iter().any(|other| *other != rank);
            if apart(CONCATENATION) || apart(POWER) {
                let (mut operands, mut operators) = (Vec::new(), Vec::new());
                flatten(std::mem::replace(expr, null()), &mut operands, &mut operators);
                *expr = grouped(operands, operators);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Bind);
}

const CONCATENATION: u8 = 1;
const POWER: u8 = 4;

/// How tightly an operator of a run binds, as in PostgreSQL; None for an
/// operator outside runs.
fn operator_rank(op: &BinaryOperator) -> Option<u8> {
    match op {
        BinaryOperator::StringConcat => Some(CONCATENATION),
        BinaryOperator::Plus | BinaryOperator::Minus => Some(2),
        BinaryOperator::Multiply | BinaryOperator::Divide | BinaryOperator::Modulo | BinaryOperator::DuckIntegerDivide => Some(3),
        // `^`, which the generic dialect reads as XOR and `synonyms.rs` as a power.
        BinaryOperator::BitwiseXor => Some(POWER),
        _ => None,
    }
}

/// Each operator of the run whose root is `expr` (none where `expr` is no
/// operator of a run).
fn operators_of(expr: &Expr, seen: &mut impl FnMut(&BinaryOperator)) {
    if let Expr::BinaryOp { left, op, right } = expr {
        if operator_rank(op).is_some() {
            operators_of(left, seen);
            seen(op);
            operators_of(right, seen);
        }
    }
}

/// The run's operands and operators in the order they were written: the
/// generic dialect parsed them as one tree without parentheses, so reading
/// it in order gives the text back.
fn flatten(expr: Expr, operands: &mut Vec<Expr>, operators: &mut Vec<BinaryOperator>) {
    match expr {
        Expr::BinaryOp { left, op, right } if operator_rank(&op).is_some() => {
            flatten(*left, operands, operators);
            operators.push(op);
            flatten(*right, operands, operators);
        }
        operand => operands.push(operand),
    }
}

/// The run grouped by PostgreSQL's ranks, each operand parenthesised that
/// the generic dialect would otherwise read into another grouping.
fn grouped(operands: Vec<Expr>, operators: Vec<BinaryOperator>) -> Expr {
    climb(operands, operators, |left, op, right| {
        let parent = generic_precedence(&op);
        let left = parenthesised_below(left, |child| child < parent);
        let right = parenthesised_below(right, |child| child <= parent);
        binary(left, op, right)
    })
}

/// sqlparser's generic precedence of a run's operator.
fn generic_precedence(op: &BinaryOperator) -> u8 {
    match op {
        BinaryOperator::BitwiseXor => 22,
        BinaryOperator::Plus | BinaryOperator::Minus => 30,
        _ => 40,
    }
}

/// Operator precedence parsing over a written run, left-associative.
fn climb(
    operands: Vec<Expr>,
    operators: Vec<BinaryOperator>,
    join: impl Fn(Expr, BinaryOperator, Expr) -> Expr,
) -> Expr {
    let mut operands = operands.into_iter();
    let mut values = vec![operands.next().expect("a run has an operand")];
    let mut pending: Vec<BinaryOperator> = Vec::new();
    let reduce = |values: &mut Vec<Expr>, pending: &mut Vec<BinaryOperator>| {
        let (right, left, op) = (values.pop(), values.pop(), pending.pop());
        values.push(join(left.expect("left operand"), op.expect("operator"), right.expect("right operand")));
    };
    for (op, operand) in operators.into_iter().zip(operands) {
        while pending.last().is_some_and(|top| operator_rank(top) >= operator_rank(&op)) {
            reduce(&mut values, &mut pending);
        }
        pending.push(op);
        values.push(operand);
    }
    while !pending.is_empty() {
        reduce(&mut values, &mut pending);
    }
    values.pop().expect("the run's value")
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp { left: Box::new(left), op, right: Box::new(right) }
}

/// `expr` in parentheses where it is an operator of the run that the
/// generic dialect, by its precedence, would not keep as this operand.
fn parenthesised_below(expr: Expr, taken_apart: impl Fn(u8) -> bool) -> Expr {
    match &expr {
        Expr::BinaryOp { op, .. } if operator_rank(op).is_some() && taken_apart(generic_precedence(op)) => Expr::Nested(Box::new(expr)),
        _ => expr,
    }
}

#[cfg(test)]
mod tests {
    fn parsed(sql: &str) -> String {
        super::super::parse::parse_single(sql).unwrap().to_string()
    }

    #[test]
    fn is_distinct_from_binds_tighter_than_and_and_or() {
        assert_eq!(
            parsed("SELECT * FROM t WHERE x IS DISTINCT FROM y AND id > 3 OR a IS NOT DISTINCT FROM (b AND c)"),
            "SELECT * FROM t WHERE (x IS DISTINCT FROM y) AND id > 3 OR (a IS NOT DISTINCT FROM (b AND c))"
        );
    }

    #[test]
    fn concatenation_binds_looser_than_arithmetic() {
        assert_eq!(parsed("SELECT s || a * b, a + b || c, 'n' || a - 1 || b"), "SELECT s || (a * b), (a + b) || c, 'n' || (a - 1) || b");
        assert_eq!(parsed("SELECT a || b * c + d / e - f"), "SELECT a || (b * c + d / e - f)");
        // Written parentheses stay; runs without `||` or without arithmetic are as parsed.
        assert_eq!(parsed("SELECT (s || a) * b, a - b - c * d, a || b || c, f(x || y + 1)"), "SELECT (s || a) * b, a - b - c * d, a || b || c, f(x || (y + 1))");
    }

    #[test]
    fn powers_bind_tighter_than_products() {
        assert_eq!(parsed("SELECT 2 * b ^ 2, 1 + 2 ^ 2 * 3, 2 ^ 3 ^ 2, 'x' || 2 ^ 3"), "SELECT 2 * (b ^ 2), 1 + (2 ^ 2) * 3, 2 ^ 3 ^ 2, 'x' || (2 ^ 3)");
    }

    #[test]
    fn regrouped_statements_parse_back_the_same() {
        let once = parsed("SELECT a * b || c - d % e || f / g FROM t WHERE x || y + 1 = 'z3'");
        assert_eq!(once, parsed(&once));
        assert_eq!(once, "SELECT a * b || (c - d % e) || (f / g) FROM t WHERE x || (y + 1) = 'z3'");
    }
}
