//! `OVER ()` in a SELECT whose other items read no row. polars-sql drops an
//! empty window and computes the aggregate itself, one value, which Polars
//! repeats on every row only beside an item that has rows: `SELECT 1,
//! count(*) OVER () FROM t` answered one row, not one per row of `t`. The
//! window partitions by a constant instead: one partition, every row.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, Query, Select, SelectItem, Statement, Value, WindowType};
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

use crate::sql::aggregate_names::aggregate;

pub(in crate::sql::rewrite) fn over_every_row(statement: &mut Statement) {
    let _ = statement.visit(&mut EveryRow);
}

struct EveryRow;

impl VisitorMut for EveryRow {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty());
        if grouped || select.having.is_some() || select.projection.iter().any(decides_rows) {
            return ControlFlow::Continue(());
        }
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                let _ = crate::sql::visit::visit_expressions_mut(expr, |expr| {
                    partitioned_by_constant(expr);
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        ControlFlow::Continue(())
    }
}

fn partitioned_by_constant(expr: &mut Expr) {
    let Expr::Function(function) = expr else { return };
    if crate::sql::functions::is_floe_function(&function.name.to_string().to_ascii_lowercase()) {
        return;
    }
    if let Some(WindowType::WindowSpec(spec)) = &mut function.over {
        if spec.partition_by.is_empty() && spec.order_by.is_empty() && spec.window_frame.is_none() && spec.window_name.is_none() {
            spec.partition_by = vec![Expr::value(Value::Number("1".into(), false))];
        }
    }
}

/// Whether an item reads a column outside windows and subqueries (Polars
/// then has rows to repeat the windows' values on) or aggregates (the
/// SELECT has one row).
fn decides_rows(item: &SelectItem) -> bool {
    let expr = match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return true,
    };
    struct Reads {
        /// Windows and subqueries the visit is inside.
        inside: usize,
    }
    impl Visitor for Reads {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.inside += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.inside -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Function(function) if function.over.is_some() => self.inside += 1,
                Expr::Function(function) if self.inside == 0 && aggregate(&function.name.to_string().to_ascii_lowercase()).is_some() => {
                    return ControlFlow::Break(())
                }
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) if self.inside == 0 => return ControlFlow::Break(()),
                _ => {}
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if matches!(expr, Expr::Function(function) if function.over.is_some()) {
                self.inside -= 1;
            }
            ControlFlow::Continue(())
        }
    }
    expr.visit(&mut Reads { inside: 0 }).is_break()
}
