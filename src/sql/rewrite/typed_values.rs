//! A VALUES list with a cell that is no plain literal (`DATE '2024-01-01'`,
//! `TIMESTAMP '…'`, a CAST, a function call) as SELECTs joined by UNION
//! ALL: polars-sql takes only literals in VALUES ("VALUES clause expects
//! literals"), where DuckDB and PostgreSQL take any expression. The columns
//! keep the names polars-sql gives VALUES (`column_0`, `column_1`, …), so a
//! query over them reads the same either way.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Parens, Query, SetExpr, Statement, UnaryOperator};

use crate::sql::visit::{VisitMut, VisitorMut};

/// A SELECT's VALUES lists (not an INSERT's, which the writer reads itself).
pub(super) fn as_selects(statement: &mut Statement) {
    struct Lists;
    impl VisitorMut for Lists {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            rewrite_body(&mut query.body);
            ControlFlow::Continue(())
        }
    }
    if let Statement::Query(_) = statement {
        let _ = statement.visit(&mut Lists);
    }
}

fn rewrite_body(body: &mut SetExpr) {
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_body(left);
            rewrite_body(right);
        }
        SetExpr::Values(values) if values.rows.iter().flat_map(|row| &row.content).any(|cell| !plain(cell)) => {
            if let Some(selects) = super::scope::parse_query(&union_of_selects(&values.rows)) {
                *body = SetExpr::Query(Box::new(selects));
            }
        }
        _ => {}
    }
}

/// A cell polars-sql folds into a literal: a literal, a sign, arithmetic
/// of literals.
fn plain(cell: &Expr) -> bool {
    match cell {
        Expr::Value(_) => true,
        Expr::Nested(inner) => plain(inner),
        Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr } => plain(expr),
        Expr::BinaryOp { left, right, .. } => plain(left) && plain(right),
        _ => false,
    }
}

fn union_of_selects(rows: &[Parens<Vec<Expr>>]) -> String {
    let selects: Vec<String> = rows
        .iter()
        .map(|row| {
            let items: Vec<String> = row.content.iter().enumerate().map(|(i, cell)| format!("{cell} AS column_{i}")).collect();
            format!("SELECT {}", items.join(", "))
        })
        .collect();
    selects.join(" UNION ALL ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        as_selects(&mut statement);
        statement.to_string()
    }

    #[test]
    fn lists_with_typed_cells_are_selects() {
        assert_eq!(
            rewritten("SELECT * FROM (VALUES (1, DATE '2024-01-01'), (2, NULL)) AS v (id, day)"),
            "SELECT * FROM ((SELECT 1 AS column_0, DATE '2024-01-01' AS column_1 UNION ALL SELECT 2 AS column_0, NULL AS column_1)) AS v (id, day)"
        );
        assert_eq!(rewritten("SELECT 1 UNION ALL VALUES (CAST('1' AS INT))"), "SELECT 1 UNION ALL (SELECT CAST('1' AS INT) AS column_0)");
    }

    #[test]
    fn plain_lists_and_inserts_stay() {
        for sql in [
            "SELECT * FROM (VALUES (1, 'a'), (-2, NULL), (1 + 1, 'b')) AS v",
            "INSERT INTO t VALUES (1, DATE '2024-01-01')",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
