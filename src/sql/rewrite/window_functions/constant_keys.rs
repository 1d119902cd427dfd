//! Window keys that are constants (`PARTITION BY 'a'`, `ORDER BY NULL`,
//! `ORDER BY 1`, as BI tools write a window that must have an order):
//! polars-sql evaluates such a key to one value, not one per row, and fails
//! ("the order by expression evaluated to a length: 1", an internal error).
//! A constant partitions nothing and orders nothing, so it goes; beside
//! other keys that is all. When every ORDER BY key is constant, every row
//! is every other's peer: a frame that ends at a peer (the default) is the
//! whole partition (and so is a RANGE or GROUPS frame that holds the
//! row's peers) and a ranking is the first, so the order goes too; what
//! reads rows in order (`row_number`, `lag`, `first_value`, a ROWS frame)
//! reads them in their own order, as any order of peers is the order SQL
//! leaves them in.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, Statement, WindowFrame, WindowFrameBound, WindowFrameUnits, WindowType};

use super::super::scope::{parse_expr, reads_column, without_calls};
use crate::sql::visit::{VisitMut, VisitorMut};

pub(in crate::sql::rewrite) fn settled(statement: &mut Statement) {
    struct Keys;
    impl VisitorMut for Keys {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(function) = expr {
                if let Some(replacement) = settle(function).and_then(|sql| parse_expr(&sql)) {
                    *expr = replacement;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Keys);
}

/// A key whose value is the same on every row: it reads no column and calls
/// nothing (an aggregate or a window differs by group or row).
fn constant(expr: &Expr) -> bool {
    !reads_column(expr) && without_calls(expr)
}

/// Drops the constant keys; Some(SQL) where the whole function is a
/// constant of its partition (`percent_rank()` 0, `cume_dist()` 1).
fn settle(function: &mut Function) -> Option<String> {
    let name = function.name.to_string().to_ascii_lowercase();
    let Some(WindowType::WindowSpec(spec)) = &mut function.over else { return None };
    spec.partition_by.retain(|key| !constant(key));
    if spec.order_by.iter().all(|key| !constant(&key.expr)) {
        return None;
    }
    if spec.order_by.iter().any(|key| !constant(&key.expr)) {
        spec.order_by.retain(|key| !constant(&key.expr));
        return None;
    }
    let partition: Vec<String> = spec.partition_by.iter().map(ToString::to_string).collect();
    let over = if partition.is_empty() { "OVER ()".to_string() } else { format!("OVER (PARTITION BY {})", partition.join(", ")) };
    match name.as_str() {
        "percent_rank" => return Some(format!("0.0 * CAST(count(*) {over} AS DOUBLE)")),
        "cume_dist" => return Some(format!("CAST(count(*) {over} > 0 AS DOUBLE)")),
        _ => {}
    }
    let in_order = matches!(name.as_str(), "row_number" | "lag" | "lead" | "first_value" | "last_value" | "nth_value" | "ntile");
    match &spec.window_frame {
        Some(frame) if frame.units == WindowFrameUnits::Rows => spec.order_by.truncate(1),
        None if in_order => spec.order_by.truncate(1),
        // RANGE and GROUPS frames over one value hold the whole partition or, past it, nothing.
        Some(frame) if holds_the_current_row(frame) => {
            spec.window_frame = None;
            spec.order_by.clear();
            return None;
        }
        Some(_) => return None,
        None => {
            spec.order_by.clear();
            return None;
        }
    }
    if let (Some(key), Some(row)) = (spec.order_by.first_mut(), parse_expr("row_number() OVER ()")) {
        key.expr = row;
        key.options.asc = None;
        key.options.nulls_first = None;
    }
    None
}

/// Whether a frame's bounds hold the current row's peers: it starts before
/// or at them and ends at or after them.
fn holds_the_current_row(frame: &WindowFrame) -> bool {
    let end = frame.end_bound.as_ref().unwrap_or(&WindowFrameBound::CurrentRow);
    !matches!(frame.start_bound, WindowFrameBound::Following(_)) && !matches!(end, WindowFrameBound::Preceding(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        settled(&mut statement);
        statement.to_string()
    }

    #[test]
    fn constant_keys_partition_and_order_nothing() {
        assert_eq!(
            rewritten("SELECT sum(x) OVER (PARTITION BY 'a', p ORDER BY NULL, o DESC, 1 + 1), rank() OVER (ORDER BY NULL) FROM t"),
            "SELECT sum(x) OVER (PARTITION BY p ORDER BY o DESC), rank() OVER () FROM t"
        );
        assert_eq!(
            rewritten("SELECT lag(x) OVER (ORDER BY 'x' DESC), count(*) OVER (PARTITION BY 1 ORDER BY NULL, 2 ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t"),
            "SELECT lag(x) OVER (ORDER BY row_number() OVER ()), count(*) OVER (ORDER BY row_number() OVER () ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t"
        );
        assert_eq!(
            rewritten("SELECT percent_rank() OVER (PARTITION BY p ORDER BY NULL), cume_dist() OVER (ORDER BY 1), count(*) OVER (ORDER BY NULL GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING) FROM t"),
            "SELECT 0.0 * CAST(count(*) OVER (PARTITION BY p) AS DOUBLE), CAST(count(*) OVER () > 0 AS DOUBLE), count(*) OVER () FROM t"
        );
        for sql in [
            "SELECT sum(x) OVER (ORDER BY count(*)) FROM t GROUP BY p",
            "SELECT sum(x) OVER (ORDER BY NULL GROUPS BETWEEN 1 FOLLOWING AND 2 FOLLOWING) FROM t",
            "SELECT row_number() OVER (PARTITION BY p ORDER BY o) FROM t",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
