//! A comparison with a NULL literal (`x = NULL`, `NULL < x`, and what
//! `x IN (1, NULL)` becomes) is NULL for every row: written as a BOOLEAN
//! NULL. polars-sql's comparison with a NULL literal is no elementwise
//! expression, so an outer join's ON, which puts a condition on the kept
//! side into a join key, refused it.

use std::ops::ControlFlow;

use sqlparser::ast::{CastKind, DataType, Expr, Ident, Query, SelectItem, Statement, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::names::polars_item_name;
use super::scope::{is_comparison, is_null_literal, selects_mut};

pub(super) fn unknown(statement: &mut Statement) {
    let _ = statement.visit(&mut Unknown);
}

struct Unknown;

impl VisitorMut for Unknown {
    type Break = ();

    /// An unnamed SELECT item that is such a comparison keeps the name
    /// polars-sql gives it (its left operand's); runs after the passes that
    /// settle colliding names.
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        for select in selects_mut(&mut query.body) {
            for item in &mut select.projection {
                let SelectItem::UnnamedExpr(expr) = item else { continue };
                if !compared_with_null(expr) {
                    continue;
                }
                let Some((name, _)) = polars_item_name(item) else { continue };
                let SelectItem::UnnamedExpr(expr) = item else { continue };
                *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', name) };
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if compared_with_null(expr) {
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(Expr::value(Value::Null)),
                data_type: DataType::Boolean,
                array: false,
                format: None,
            };
        }
        ControlFlow::Continue(())
    }
}

fn compared_with_null(expr: &Expr) -> bool {
    matches!(expr, Expr::BinaryOp { left, op, right } if is_comparison(op) && (is_null_literal(left) || is_null_literal(right)))
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;

    #[test]
    fn comparisons_with_null_are_unknown() {
        assert_eq!(
            rewritten_by("SELECT a FROM t LEFT JOIN u ON t.k = u.k AND t.a = NULL WHERE NULL <> b OR c < 1", super::unknown),
            "SELECT a FROM t LEFT JOIN u ON t.k = u.k AND CAST(NULL AS BOOLEAN) WHERE CAST(NULL AS BOOLEAN) OR c < 1"
        );
    }

    #[test]
    fn a_selected_comparison_keeps_its_name() {
        assert_eq!(
            rewritten_by("SELECT t.a = NULL, NULL >= b, a = NULL AS x FROM t", super::unknown),
            "SELECT CAST(NULL AS BOOLEAN) AS \"a\", CAST(NULL AS BOOLEAN) AS \"literal\", CAST(NULL AS BOOLEAN) AS x FROM t"
        );
    }
}
