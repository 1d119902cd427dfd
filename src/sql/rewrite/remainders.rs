//! `a % b` and `mod(a, b)` take the sign of `a`, as SQL defines them
//! (PostgreSQL, DuckDB, the standard's MOD): `-7 % 3` is -1. Polars' `%`
//! takes the sign of `b`, as Python's does (2 there). Written as
//! `CASE WHEN a < 0 THEN -(abs(a) % abs(b)) ELSE abs(a) % abs(b) END`:
//! over two values of no sign both conventions agree, which is also why
//! analyzing the result again leaves it as it is.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{parse_expr, plain_args};

pub(super) fn truncated(statement: &mut Statement) {
    let _ = statement.visit(&mut Remainders);
}

struct Remainders;

impl VisitorMut for Remainders {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let operands = match &*expr {
            Expr::BinaryOp { left, op: BinaryOperator::Modulo, right } => Some((left.as_ref(), right.as_ref())),
            Expr::Function(function) if function.name.to_string().eq_ignore_ascii_case("mod") => match plain_args(function).as_deref() {
                Some([left, right]) => Some((*left, *right)),
                _ => None,
            },
            _ => None,
        };
        let Some((left, right)) = operands else { return ControlFlow::Continue(()) };
        if is_abs(left) && is_abs(right) {
            return ControlFlow::Continue(());
        }
        let sql = format!("CASE WHEN ({left}) < 0 THEN -(abs({left}) % abs({right})) ELSE abs({left}) % abs({right}) END");
        if let Some(rewritten) = parse_expr(&sql) {
            *expr = Expr::Nested(Box::new(rewritten));
        }
        ControlFlow::Continue(())
    }
}

fn is_abs(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(function) if function.name.to_string().eq_ignore_ascii_case("abs"))
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::*;

    #[test]
    fn remainders_take_the_dividends_sign() {
        assert_eq!(
            rewritten_by("SELECT x % 7 FROM t", truncated),
            "SELECT (CASE WHEN (x) < 0 THEN -(abs(x) % abs(7)) ELSE abs(x) % abs(7) END) FROM t"
        );
        assert_eq!(
            rewritten_by("SELECT mod(-x, y) FROM t", truncated),
            "SELECT (CASE WHEN (-x) < 0 THEN -(abs(-x) % abs(y)) ELSE abs(-x) % abs(y) END) FROM t"
        );
    }

    #[test]
    fn analyzing_again_changes_nothing() {
        let once = rewritten_by("SELECT a FROM t WHERE (a + 1) % b = 0", truncated);
        assert_eq!(rewritten_by(&once, truncated), once);
        for sql in ["SELECT abs(x) % abs(y) FROM t", "SELECT mod(x) FROM t", "SELECT x / 7 FROM t"] {
            assert_eq!(rewritten_by(sql, truncated), sql);
        }
    }
}
