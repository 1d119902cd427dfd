//! Walks over sqlparser's AST, compiled once per break type.
//!
//! sqlparser's `Visit::visit` is generic over the visitor, so every visitor
//! type (Floe has over a hundred, and a closure is a type of its own)
//! compiled its own copy of the walk over every kind of AST node: four
//! fifths of this crate's machine code, and as much of its build time.
//! Here every visitor is called through `dyn`, so the walk is compiled for
//! `Dyn`/`DynMut` alone; planning time does not notice the indirect calls.
//! Import `Visit`, `VisitMut` and the `visit_*` helpers from here, never from
//! sqlparser (where both are in scope, a call is ambiguous and fails to
//! compile).

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, Query, Select, Statement, TableFactor, ValueWithSpan};
pub(crate) use sqlparser::ast::{Visitor, VisitorMut};

/// A node that can be visited, walked through `Dyn`.
pub(crate) trait Visit: sqlparser::ast::Visit {
    fn visit<V: Visitor>(&self, visitor: &mut V) -> ControlFlow<V::Break> {
        sqlparser::ast::Visit::visit(self, &mut Dyn(visitor))
    }
}

impl<T: sqlparser::ast::Visit> Visit for T {}

/// A node that can be rewritten, walked through `DynMut`.
pub(crate) trait VisitMut: sqlparser::ast::VisitMut {
    fn visit<V: VisitorMut>(&mut self, visitor: &mut V) -> ControlFlow<V::Break> {
        sqlparser::ast::VisitMut::visit(self, &mut DynMut(visitor))
    }
}

impl<T: sqlparser::ast::VisitMut> VisitMut for T {}

/// Each expression of `node`, before those inside it.
pub(crate) fn visit_expressions<B>(node: &impl Visit, mut visit: impl FnMut(&Expr) -> ControlFlow<B>) -> ControlFlow<B> {
    struct Expressions<'a, B>(&'a mut dyn FnMut(&Expr) -> ControlFlow<B>);
    impl<B> Visitor for Expressions<'_, B> {
        type Break = B;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<B> {
            (self.0)(expr)
        }
    }
    Visit::visit(node, &mut Expressions(&mut visit))
}

/// Rewrites each expression of `node`, after those inside it.
pub(crate) fn visit_expressions_mut<B>(node: &mut impl VisitMut, mut visit: impl FnMut(&mut Expr) -> ControlFlow<B>) -> ControlFlow<B> {
    struct Expressions<'a, B>(&'a mut dyn FnMut(&mut Expr) -> ControlFlow<B>);
    impl<B> VisitorMut for Expressions<'_, B> {
        type Break = B;
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<B> {
            (self.0)(expr)
        }
    }
    VisitMut::visit(node, &mut Expressions(&mut visit))
}

/// Replaces each expression of `node` outside its ORDER BY clauses by what
/// `replace` makes of it, before those inside it (which are then the
/// replacement's). A sort key is left as written: there a bare name reads
/// the SELECT list's item of that name, and a literal is a position.
pub(crate) fn replace_outside_sort_keys(node: &mut impl VisitMut, mut replace: impl FnMut(&Expr) -> Option<Expr>) {
    struct Outside<'a> {
        replace: &'a mut dyn FnMut(&Expr) -> Option<Expr>,
        orders: Vec<Option<sqlparser::ast::OrderBy>>,
    }
    impl VisitorMut for Outside<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
            self.orders.push(query.order_by.take());
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
            query.order_by = self.orders.pop().flatten();
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Some(replaced) = (self.replace)(expr) {
                *expr = replaced;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(node, &mut Outside { replace: &mut replace, orders: Vec::new() });
}

/// Each relation (table name) `node` reads.
pub(crate) fn visit_relations<B>(node: &impl Visit, mut visit: impl FnMut(&ObjectName) -> ControlFlow<B>) -> ControlFlow<B> {
    struct Relations<'a, B>(&'a mut dyn FnMut(&ObjectName) -> ControlFlow<B>);
    impl<B> Visitor for Relations<'_, B> {
        type Break = B;
        fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<B> {
            (self.0)(relation)
        }
    }
    Visit::visit(node, &mut Relations(&mut visit))
}

/// Rewrites each relation (table name) `node` reads.
pub(crate) fn visit_relations_mut<B>(node: &mut impl VisitMut, mut visit: impl FnMut(&mut ObjectName) -> ControlFlow<B>) -> ControlFlow<B> {
    struct Relations<'a, B>(&'a mut dyn FnMut(&mut ObjectName) -> ControlFlow<B>);
    impl<B> VisitorMut for Relations<'_, B> {
        type Break = B;
        fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<B> {
            (self.0)(relation)
        }
    }
    VisitMut::visit(node, &mut Relations(&mut visit))
}

/// Forwards every hook sqlparser calls to a visitor behind `dyn`: each hook
/// must be here, or the default (continue) would silently skip a visitor's.
struct Dyn<'a, B>(&'a mut dyn Visitor<Break = B>);

impl<B> sqlparser::ast::Visitor for Dyn<'_, B> {
    type Break = B;
    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<B> {
        self.0.pre_visit_query(query)
    }
    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<B> {
        self.0.post_visit_query(query)
    }
    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<B> {
        self.0.pre_visit_select(select)
    }
    fn post_visit_select(&mut self, select: &Select) -> ControlFlow<B> {
        self.0.post_visit_select(select)
    }
    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<B> {
        self.0.pre_visit_relation(relation)
    }
    fn post_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<B> {
        self.0.post_visit_relation(relation)
    }
    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<B> {
        self.0.pre_visit_table_factor(factor)
    }
    fn post_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<B> {
        self.0.post_visit_table_factor(factor)
    }
    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<B> {
        self.0.pre_visit_expr(expr)
    }
    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<B> {
        self.0.post_visit_expr(expr)
    }
    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<B> {
        self.0.pre_visit_statement(statement)
    }
    fn post_visit_statement(&mut self, statement: &Statement) -> ControlFlow<B> {
        self.0.post_visit_statement(statement)
    }
    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<B> {
        self.0.pre_visit_value(value)
    }
    fn post_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<B> {
        self.0.post_visit_value(value)
    }
}

/// `Dyn` for rewriting visitors.
struct DynMut<'a, B>(&'a mut dyn VisitorMut<Break = B>);

impl<B> sqlparser::ast::VisitorMut for DynMut<'_, B> {
    type Break = B;
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<B> {
        self.0.pre_visit_query(query)
    }
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<B> {
        self.0.post_visit_query(query)
    }
    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<B> {
        self.0.pre_visit_select(select)
    }
    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<B> {
        self.0.post_visit_select(select)
    }
    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<B> {
        self.0.pre_visit_relation(relation)
    }
    fn post_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<B> {
        self.0.post_visit_relation(relation)
    }
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<B> {
        self.0.pre_visit_table_factor(factor)
    }
    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<B> {
        self.0.post_visit_table_factor(factor)
    }
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<B> {
        self.0.pre_visit_expr(expr)
    }
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<B> {
        self.0.post_visit_expr(expr)
    }
    fn pre_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<B> {
        self.0.pre_visit_statement(statement)
    }
    fn post_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<B> {
        self.0.post_visit_statement(statement)
    }
    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<B> {
        self.0.pre_visit_value(value)
    }
    fn post_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<B> {
        self.0.post_visit_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hook reaches the visitor behind `Dyn`: a visitor counting each
    /// kind sees what sqlparser's own walk shows it.
    #[test]
    fn every_hook_is_forwarded() {
        #[derive(Default, PartialEq, Debug)]
        struct Count([usize; 14]);
        impl Visitor for Count {
            type Break = ();
            fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> { self.0[0] += 1; ControlFlow::Continue(()) }
            fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> { self.0[1] += 1; ControlFlow::Continue(()) }
            fn pre_visit_select(&mut self, _: &Select) -> ControlFlow<()> { self.0[2] += 1; ControlFlow::Continue(()) }
            fn post_visit_select(&mut self, _: &Select) -> ControlFlow<()> { self.0[3] += 1; ControlFlow::Continue(()) }
            fn pre_visit_relation(&mut self, _: &ObjectName) -> ControlFlow<()> { self.0[4] += 1; ControlFlow::Continue(()) }
            fn post_visit_relation(&mut self, _: &ObjectName) -> ControlFlow<()> { self.0[5] += 1; ControlFlow::Continue(()) }
            fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<()> { self.0[6] += 1; ControlFlow::Continue(()) }
            fn post_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<()> { self.0[7] += 1; ControlFlow::Continue(()) }
            fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> { self.0[8] += 1; ControlFlow::Continue(()) }
            fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> { self.0[9] += 1; ControlFlow::Continue(()) }
            fn pre_visit_statement(&mut self, _: &Statement) -> ControlFlow<()> { self.0[10] += 1; ControlFlow::Continue(()) }
            fn post_visit_statement(&mut self, _: &Statement) -> ControlFlow<()> { self.0[11] += 1; ControlFlow::Continue(()) }
            fn pre_visit_value(&mut self, _: &ValueWithSpan) -> ControlFlow<()> { self.0[12] += 1; ControlFlow::Continue(()) }
            fn post_visit_value(&mut self, _: &ValueWithSpan) -> ControlFlow<()> { self.0[13] += 1; ControlFlow::Continue(()) }
        }
        let statement = super::super::parse::parse_single("SELECT a + 1 FROM t JOIN (SELECT b FROM u) AS v ON x = 'y'").unwrap();
        let (mut through_dyn, mut direct) = (Count::default(), Count::default());
        let _ = Visit::visit(&statement, &mut through_dyn);
        let _ = sqlparser::ast::Visit::visit(&statement, &mut direct);
        assert_eq!(through_dyn, direct);
        assert!(direct.0.iter().all(|&seen| seen > 0), "{direct:?}");
    }
}
