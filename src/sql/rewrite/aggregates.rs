//! Aggregate calls as the grouping passes find them: by the function's
//! name, outside windows, and not inside the expression's own subqueries.

use std::ops::ControlFlow;

use sqlparser::ast::Expr;

use crate::sql::aggregate_names::aggregate;

/// A call of any aggregate (not a window over one).
pub(super) fn aggregate_call(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(function) if function.over.is_none()
        && function.name.0.len() == 1
        && aggregate(&function.name.to_string().to_ascii_lowercase()).is_some())
}

/// A window function's call.
pub(super) fn window_call(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(function) if function.over.is_some())
}

/// A window call in `expr`, outside its subqueries.
pub(super) fn holds_window(expr: &Expr) -> bool {
    super::scope::any_outside_subqueries(expr, window_call)
}

/// Whether `expr` is computed from its row alone: no aggregate, window or
/// subquery in it.
pub(super) fn row_wise(expr: &Expr) -> bool {
    !holds_aggregate(expr) && !super::scope::any_outside_subqueries(expr, |e| window_call(e) || opens_subquery(e))
}

pub(super) fn opens_subquery(expr: &Expr) -> bool {
    matches!(expr, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. })
}

/// Calls `each` with the arguments (and order keys) of the aggregate calls
/// in `expr`, outside its subqueries.
pub(super) fn for_each_aggregate_argument(expr: &mut Expr, each: &mut dyn FnMut(&mut Expr)) {
    struct Arguments<'a> {
        each: &'a mut dyn FnMut(&mut Expr),
        subqueries: usize,
    }
    impl crate::sql::visit::VisitorMut for Arguments<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
            self.subqueries += usize::from(opens_subquery(expr));
            std::ops::ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
            self.subqueries -= usize::from(opens_subquery(expr));
            if let (0, true, Expr::Function(function)) = (self.subqueries, aggregate_call(expr), &mut *expr) {
                super::scope::function_args_mut(function).for_each(&mut *self.each);
                // `string_agg(x, ',' ORDER BY x)`: the order's keys are values per row too.
                if let sqlparser::ast::FunctionArguments::List(list) = &mut function.args {
                    for clause in &mut list.clauses {
                        if let sqlparser::ast::FunctionArgumentClause::OrderBy(keys) = clause {
                            keys.iter_mut().for_each(|key| (self.each)(&mut key.expr));
                        }
                    }
                }
                function.within_group.iter_mut().for_each(|key| (self.each)(&mut key.expr));
                // `count(*) FILTER (WHERE x > …)`: the condition is a value per row too.
                if let Some(condition) = function.filter.as_deref_mut() {
                    (self.each)(condition);
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = crate::sql::visit::VisitMut::visit(expr, &mut Arguments { each, subqueries: 0 });
}

/// Whether `expr`, an aggregating SELECT's value, is NULL over no rows,
/// so a missing group can stand for it: an aggregate but a count (0 there),
/// or an operation NULL where such an operand is (`max(x) + 1`); not
/// `count(*)`, `coalesce(max(x), 0)` or a CASE, which have a value there.
pub(super) fn null_without_rows(expr: &Expr) -> bool {
    match expr {
        Expr::Function(_) if aggregate_call(expr) => !counts(expr),
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } | Expr::UnaryOp { expr: inner, .. } | Expr::Extract { expr: inner, .. } => {
            null_without_rows(inner)
        }
        // A function of one row NULL where an argument is (`round(avg(x), 1)`).
        Expr::Function(function) if STRICT.contains(&function.name.to_string().to_ascii_lowercase().as_str()) => {
            use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
            let FunctionArguments::List(list) = &function.args else { return false };
            list.args.iter().any(|argument| match argument {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(argument)) | FunctionArg::Named { arg: FunctionArgExpr::Expr(argument), .. } => {
                    null_without_rows(argument)
                }
                _ => false,
            })
        }
        Expr::BinaryOp { left, op, right } => {
            use sqlparser::ast::BinaryOperator::{And, Or, Spaceship};
            !matches!(op, And | Or | Spaceship) && (null_without_rows(left) || null_without_rows(right))
        }
        _ => false,
    }
}

/// Functions of a row that are NULL where an argument is.
const STRICT: [&str; 22] = [
    "abs", "round", "floor", "ceil", "ceiling", "trunc", "sqrt", "ln", "log10", "exp", "power", "sign", "upper", "lower",
    "length", "char_length", "substr", "substring", "trim", "date_trunc", "date_part", "strftime",
];

/// Whether `call` is an aggregate that counts (0 over no rows, not NULL).
fn counts(call: &Expr) -> bool {
    const COUNTS: [&str; 6] = ["count", "count_if", "countif", "approx_count_distinct", "regr_count", "count_distinct"];
    matches!(call, Expr::Function(function) if COUNTS.contains(&function.name.to_string().to_ascii_lowercase().as_str()))
}

/// `expr`, an aggregating SELECT's value, as it is over no rows: each
/// aggregate outside its subqueries 0 if it counts, else NULL
/// (`coalesce(max(x), 0)`: `coalesce(NULL, 0)`). None where a call other
/// than those made for NULLs would read an untyped NULL, which Polars
/// refuses (`round(NULL, 1)`: "rounding can only be used on numeric types").
pub(super) fn over_no_rows(expr: &Expr) -> Option<Expr> {
    const FOR_NULLS: [&str; 5] = ["coalesce", "ifnull", "nvl", "nullif", "isnull"];
    let other_calls = super::scope::any_outside_subqueries(expr, |expr| {
        matches!(expr, Expr::Function(function) if !aggregate_call(expr) && !FOR_NULLS.contains(&function.name.to_string().to_ascii_lowercase().as_str()))
    });
    if other_calls {
        return None;
    }
    let mut empty = expr.clone();
    super::scope::replace_outside_subqueries(&mut empty, |expr| {
        if aggregate_call(expr) {
            let value = match counts(expr) {
                true => sqlparser::ast::Value::Number("0".into(), false),
                false => sqlparser::ast::Value::Null,
            };
            *expr = Expr::value(value);
        }
    });
    Some(empty)
}

/// An aggregate call in `expr`, outside its subqueries.
pub(super) fn holds_aggregate(expr: &Expr) -> bool {
    struct Finder(usize);
    impl sqlparser::ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if opens_subquery(expr) {
                self.0 += 1;
            }
            if self.0 == 0 && aggregate_call(expr) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
        fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if opens_subquery(expr) {
                self.0 -= 1;
            }
            ControlFlow::Continue(())
        }
    }
    crate::sql::visit::Visit::visit(expr, &mut Finder(0)).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::rewrite::scope::parse_expr;

    #[test]
    fn aggregates_and_counts_are_calls_not_text() {
        let expr = |sql: &str| parse_expr(sql).unwrap();
        assert!(holds_aggregate(&expr("1 + sum(x)")) && holds_aggregate(&expr("first(x)")));
        assert!(!holds_aggregate(&expr("checksum(x) + admin(y)")));
        assert!(!holds_aggregate(&expr("(SELECT max(y) FROM u)")));
        assert!(null_without_rows(&expr("-(max(x) + count(*))")) && null_without_rows(&expr("CAST(avg(x) AS INT) > 2")));
        assert_eq!(over_no_rows(&expr("coalesce(max(x), count(*) + 1, (SELECT max(y) FROM u))")).unwrap().to_string(), "coalesce(NULL, 0 + 1, (SELECT max(y) FROM u))");
        assert!(over_no_rows(&expr("coalesce(round(sum(x), 1), 0)")).is_none());
        assert!(null_without_rows(&expr("round(avg(x), 1)")) && null_without_rows(&expr("extract(year FROM max(d))")));
        for counted in ["count(*) + 1", "coalesce(max(x), 0)", "CASE WHEN max(x) IS NULL THEN 0 END", "max(x) IS NULL", "max(x) > 1 OR true"] {
            assert!(!null_without_rows(&expr(counted)), "{counted}");
        }
    }
}
