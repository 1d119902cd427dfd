//! Expressions SQL evaluates only on some rows: a CASE's conditions past
//! the first and its results, COALESCE's arguments past the first, IF's
//! branches, the right side of AND and OR. Polars evaluates each over every
//! row, so a check that stops at an overflow would stop at rows SQL never
//! computes (`CASE WHEN x < 5 THEN x * 922337203685477580 END`, an UPDATE's
//! SET, which is such a CASE): the overflow checks leave them as Polars
//! computes them.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr};
use crate::sql::visit::{visit_expressions, Visit, Visitor};

use super::scope::{is_aggregate, plain_args};

/// The guarded expressions of a part of a statement, by address: taken
/// before a pass rewrites it, and valid while the pass replaces
/// expressions in place, children first (a node's address is its slot's).
#[derive(Default)]
pub(super) struct Guarded(HashSet<*const Expr>);

impl Guarded {
    pub(super) fn of<T: Visit>(node: &T) -> Guarded {
        let mut guarded = Guarded::default();
        guarded.add(node);
        guarded
    }

    pub(super) fn add<T: Visit>(&mut self, node: &T) {
        let _ = visit_expressions(node, |expr| {
            for branch in branches(expr) {
                let _ = branch.visit(&mut Marking { guarded: &mut self.0, every_row: 0 });
            }
            ControlFlow::<()>::Continue(())
        });
    }

    pub(super) fn contains(&self, expr: &Expr) -> bool {
        self.0.contains(&(expr as *const Expr))
    }
}

/// Marks a branch's expressions, but not those inside an aggregate or a
/// window: they read every row of their group, whichever branch is taken.
struct Marking<'a> {
    guarded: &'a mut HashSet<*const Expr>,
    every_row: usize,
}

impl Visitor for Marking<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        self.every_row += usize::from(reads_every_row(expr));
        if self.every_row == 0 {
            self.guarded.insert(expr as *const Expr);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        self.every_row -= usize::from(reads_every_row(expr));
        ControlFlow::Continue(())
    }
}

fn reads_every_row(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(function) if function.over.is_some() || is_aggregate(function))
}

/// The parts of `expr` evaluated only on some of its rows.
fn branches(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Case { conditions, else_result, .. } => {
            let later_conditions = conditions.iter().skip(1).map(|when| &when.condition);
            let results = conditions.iter().map(|when| &when.result);
            later_conditions.chain(results).chain(else_result.as_deref()).collect()
        }
        Expr::BinaryOp { op: BinaryOperator::And | BinaryOperator::Or, right, .. } => vec![right],
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            match (name.as_str(), plain_args(function)) {
                ("coalesce" | "ifnull" | "nvl" | "if" | "iif", Some(args)) => args.into_iter().skip(1).collect(),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::visit::visit_expressions;

    /// The guarded products of `sql`'s expression, as written.
    fn guarded_products(sql: &str) -> Vec<String> {
        let expr = super::super::scope::parse_expr(sql).unwrap();
        let guarded = Guarded::of(&expr);
        let mut found = Vec::new();
        let _ = visit_expressions(&expr, |e| {
            if matches!(e, Expr::BinaryOp { op: BinaryOperator::Multiply, .. }) && guarded.contains(e) {
                found.push(e.to_string());
            }
            ControlFlow::<()>::Continue(())
        });
        found
    }

    #[test]
    fn branches_evaluated_on_some_rows_are_guarded() {
        assert_eq!(guarded_products("CASE WHEN a * 1 > 0 THEN b * 2 WHEN c * 3 > 0 THEN 0 ELSE d * 4 END"), ["b * 2", "c * 3", "d * 4"]);
        assert_eq!(guarded_products("coalesce(a * 1, b * 2 + c * 3)"), ["b * 2", "c * 3"]);
        assert_eq!(guarded_products("a * 1 > 0 AND (b * 2 > 0 OR c * 3 > 0)"), ["b * 2", "c * 3"]);
        assert!(guarded_products("greatest(a * 1, b * 2) + nullif(c * 3, 0)").is_empty());
        // An aggregate or a window in a branch reads every row all the same.
        assert_eq!(guarded_products("CASE WHEN count(*) > 0 THEN sum(a * 1) + b * 2 ELSE max(c * 3) OVER () END"), ["b * 2"]);
    }
}
