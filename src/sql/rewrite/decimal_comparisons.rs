//! A DECIMAL column compared with a number literal (`l_discount BETWEEN
//! 0.05 AND 0.07`, `l_quantity < 1 + 10`) compares as DECIMAL: polars-sql
//! reads `0.05` as a DOUBLE and casts every row of the column to it, which
//! costs a pass over the column and can round (DuckDB and SQL compare
//! exactly). The literal becomes `CAST(0.05 AS DECIMAL(38, 2))` at the
//! column's scale, or its own where it has more digits, so the column is
//! compared as it is stored.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::literals;
use super::scope::{column_name, is_comparison, parse_expr, Columns};

pub(super) fn exact_comparisons(statement: &mut Statement, columns: &Columns) {
    let _ = statement.visit(&mut Comparisons { columns });
}

struct Comparisons<'a> {
    columns: &'a Columns,
}

impl VisitorMut for Comparisons<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp { left, op, right } if is_comparison(op) => {
                if let Some(scale) = self.scale(left) {
                    as_decimal(right, scale);
                } else if let Some(scale) = self.scale(right) {
                    as_decimal(left, scale);
                }
            }
            Expr::Between { expr, low, high, .. } => {
                if let Some(scale) = self.scale(expr) {
                    as_decimal(low, scale);
                    as_decimal(high, scale);
                }
            }
            Expr::InList { expr, list, .. } => {
                if let Some(scale) = self.scale(expr) {
                    list.iter_mut().for_each(|item| as_decimal(item, scale));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

impl Comparisons<'_> {
    /// The scale of a DECIMAL column, known by name (`Columns::kind`).
    fn scale(&self, expr: &Expr) -> Option<u32> {
        match expr {
            Expr::Nested(inner) => self.scale(inner),
            _ => column_name(expr).and_then(|name| self.columns.decimal_scale(name)).map(u32::from),
        }
    }
}

/// A number literal (or `+`, `-`, `*` of them) as a DECIMAL at least as fine
/// as `scale`; anything else, or a value past 38 digits, stays.
fn as_decimal(expr: &mut Expr, scale: u32) {
    let Some(value) = literals::exact(expr) else { return };
    let scale = scale.max(value.1);
    let fits = literals::rescaled(value, scale).is_some_and(|unscaled| unscaled.unsigned_abs() < 10u128.pow(38));
    if let Some(cast) = fits.then(|| parse_expr(&format!("CAST({} AS DECIMAL(38, {scale}))", literals::decimal_text(value)))).flatten() {
        *expr = cast;
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{rewritten_over, ColumnKind, Columns};

    fn rewritten(sql: &str) -> String {
        let mut columns = Columns::default();
        let kinds = [ColumnKind::Decimal(2), ColumnKind::Integer, ColumnKind::Other];
        columns.insert(vec!["t".into()], vec!["price".into(), "qty".into(), "x".into()], &kinds);
        rewritten_over(sql, &columns, super::exact_comparisons)
    }

    #[test]
    fn decimal_columns_compare_with_decimal_literals() {
        assert_eq!(
            rewritten("SELECT * FROM t WHERE price BETWEEN 0.05 AND 0.07 AND 24 > t.price AND price = -(1 + 10)"),
            "SELECT * FROM t WHERE price BETWEEN CAST(0.05 AS DECIMAL(38,2)) AND CAST(0.07 AS DECIMAL(38,2)) \
             AND CAST(24 AS DECIMAL(38,2)) > t.price AND price = CAST(-11 AS DECIMAL(38,2))"
        );
        // More digits than the column keeps: the literal's own scale, never rounded.
        assert_eq!(
            rewritten("SELECT * FROM t WHERE price IN (0.125, 3)"),
            "SELECT * FROM t WHERE price IN (CAST(0.125 AS DECIMAL(38,3)), CAST(3 AS DECIMAL(38,2)))"
        );
    }

    #[test]
    fn other_columns_and_values_stay() {
        let sql = "SELECT * FROM t WHERE qty < 0.5 AND x = 1.5 AND price < x AND price < CAST(1000 AS DOUBLE) AND price < 1 / 3 AND price + 1 > 2";
        assert_eq!(rewritten(sql), sql);
    }
}
