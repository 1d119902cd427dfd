//! NULLs in a window's order. SQL sorts them as larger than any value (last
//! ascending, first descending) unless a key says otherwise; polars-sql's
//! windows sort them first whatever the key says, so `row_number() OVER
//! (ORDER BY x)` numbered the NULL row 1, `lag` read it first and `rank()`
//! of it was NULL (Polars ranks a NULL key NULL wherever it sorts). A window
//! with a key whose NULLs go last, and a ranking over any key that may hold
//! NULL, is ordered by the rows' dense rank in the written order instead
//! (`floe_order_…`, as keys in mixed directions are): the same order, the
//! same peers, no NULLs. Over several keys, Polars sorts a descending key's
//! NULLs last (`ORDER BY a DESC, b DESC` numbered the NULL rows last), so such
//! a window is ordered so too. So is a window with two keys Polars would name
//! alike (`ORDER BY a.id, b.id`), which it refused.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, OrderByExpr, Query, Statement, Value, WindowType};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::{key_order, order_by_rank};
use crate::sql::functions::MixedOrder;
use crate::sql::rewrite::scope::FunctionReach;

/// Every window of the statement, those Floe's passes wrote included, where
/// Floe's functions reach; elsewhere the order stays polars-sql's.
pub(in crate::sql::rewrite) fn nulls_in_order(statement: &mut Statement) {
    let _ = statement.visit(&mut NullsInOrder { reach: FunctionReach::default() });
}

struct NullsInOrder {
    reach: FunctionReach,
}

impl VisitorMut for NullsInOrder {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.reach.enter(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.reach.leave();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
        if needs_rank_order(function) && self.reach.reaches() {
            order_by_rank(function);
        }
        ControlFlow::Continue(())
    }
}

/// Whether a window is ordered by rank here: where NULLs would sort
/// otherwise than SQL says, or keys would be named alike. `lift.rs` moves
/// a subquery holding one to where Floe's functions reach.
pub(in crate::sql::rewrite) fn needs_rank_order(function: &Function) -> bool {
    let Some(WindowType::WindowSpec(spec)) = &function.over else { return false };
    // Polars ranks a NULL key NULL, wherever it sorts.
    let ranking = ["rank", "dense_rank"].contains(&function.name.to_string().to_ascii_lowercase().as_str());
    // Over several keys Polars sorts a descending key's NULLs last.
    let several = spec.order_by.len() > 1;
    let misplaced = spec.order_by.iter().any(|key| {
        let order = key_order(key);
        (ranking || order.nulls_last || (several && order.descending)) && may_be_null(&key.expr)
    });
    misplaced || alike_named(&spec.order_by)
}

/// Whether two keys get one name from Polars, which names an expression by
/// its first column (`ORDER BY a.id, b.id`): it refused the window's keys
/// as duplicate fields.
fn alike_named(keys: &[OrderByExpr]) -> bool {
    let names: Vec<String> = keys.iter().map(|key| first_column(&key.expr)).collect();
    names.iter().enumerate().any(|(at, name)| names[..at].contains(name))
}

fn first_column(expr: &Expr) -> String {
    let mut name = String::from("literal");
    let _ = crate::sql::visit::visit_expressions(expr, |expr| match expr {
        Expr::Identifier(ident) => {
            name = ident.value.to_ascii_lowercase();
            ControlFlow::Break(())
        }
        Expr::CompoundIdentifier(parts) => {
            name = parts.last().map_or(String::new(), |part| part.value.to_ascii_lowercase());
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    name
}

/// Whether a key can hold NULL, as far as its text tells: literals, counts
/// and rankings cannot (Floe's order keys are rankings too).
fn may_be_null(key: &Expr) -> bool {
    match key {
        Expr::Value(value) => matches!(value.value, Value::Null),
        Expr::Nested(inner) => may_be_null(inner),
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            !(MixedOrder::parse(&name).is_some() || ["count", "row_number", "rank", "dense_rank"].contains(&name.as_str()))
        }
        _ => true,
    }
}
