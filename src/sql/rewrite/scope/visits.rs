//! Walks over the expressions of a query that belong to it, not to the
//! queries nested in it: what most passes rewrite.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, Select};
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

/// Visits each expression of `node` outside the queries nested in it (a
/// subquery's expressions are its own), until `visit` breaks.
pub(crate) fn visit_outside_subqueries<T: Visit>(
    node: &T,
    visit: impl FnMut(&Expr) -> ControlFlow<()>,
) -> ControlFlow<()> {
    struct Outside<F> {
        visit: F,
        depth: usize,
    }
    impl<F: FnMut(&Expr) -> ControlFlow<()>> Visitor for Outside<F> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if self.depth == 0 { (self.visit)(expr) } else { ControlFlow::Continue(()) }
        }
    }
    Visit::visit(node, &mut Outside { visit, depth: 0 })
}

/// Whether some expression of `node` outside the queries nested in it passes `test`.
pub(crate) fn any_outside_subqueries<T: Visit>(node: &T, test: impl Fn(&Expr) -> bool) -> bool {
    visit_outside_subqueries(node, |expr| if test(expr) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }).is_break()
}

/// Rewrites each expression of `node` outside the queries nested in it, the
/// innermost first (a subquery's expressions are its own).
pub(crate) fn replace_outside_subqueries<T: VisitMut>(node: &mut T, replace: impl FnMut(&mut Expr)) {
    struct Outside<F> {
        replace: F,
        depth: usize,
    }
    impl<F: FnMut(&mut Expr)> VisitorMut for Outside<F> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if self.depth == 0 {
                (self.replace)(expr);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(node, &mut Outside { replace, depth: 0 });
}

/// No function calls in `node`: a condition safe to evaluate twice or
/// elsewhere (a second `random()` would be a different condition).
pub(crate) fn without_calls<T: Visit>(node: &T) -> bool {
    struct Calls;
    impl Visitor for Calls {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Function(_) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    Visit::visit(node, &mut Calls).is_continue()
}

/// Calls `each` with every SELECT of `node` that is not inside an
/// expression's subquery (IN, EXISTS, a scalar one), innermost first: the
/// SELECTs of the query, its CTEs, derived tables and set operations.
pub(crate) fn each_select_outside_expression_subqueries<T: VisitMut>(node: &mut T, each: &mut dyn FnMut(&mut Select)) {
    each_query_outside_expression_subqueries(node, &mut |query| super::selects_mut(query.body.as_mut()).into_iter().for_each(&mut *each));
}

/// Calls `each` with every query of `node` that is not inside an
/// expression's subquery, innermost first: for a pass that reads a
/// SELECT's ORDER BY with it.
pub(crate) fn each_query_outside_expression_subqueries<T: VisitMut>(node: &mut T, each: &mut dyn FnMut(&mut Query)) {
    struct Queries<'a> {
        each: &'a mut dyn FnMut(&mut Query),
        depth: usize,
    }
    impl VisitorMut for Queries<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            self.depth += usize::from(crate::sql::rewrite::aggregates::opens_subquery(expr));
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            self.depth -= usize::from(crate::sql::rewrite::aggregates::opens_subquery(expr));
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if self.depth == 0 {
                (self.each)(query);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(node, &mut Queries { each, depth: 0 });
}
