//! Calls of the scalar functions Floe computes for polars-sql
//! (`sql::functions::Scalar`): checked where they are written (arguments,
//! no window), and refused by name where Floe's functions cannot reach
//! (a subquery that reads the query around it), where polars-sql would
//! call the function unknown.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, FunctionArguments, Query, Statement};
use crate::sql::visit::{Visit, Visitor};

use super::scope::FunctionReach;
use super::synonyms::{as_written, bare_name};
use crate::sql::functions::Scalar;
use crate::sql::{Error, Result};

/// The function of Floe's a call names.
pub(super) fn called(function: &Function) -> Option<Scalar> {
    bare_name(function).as_deref().and_then(Scalar::parse)
}

/// At parse time: each call has its arguments and no window, DISTINCT or FILTER.
pub(super) fn check_calls(statement: &Statement) -> Result<()> {
    struct Calls;
    impl Visitor for Calls {
        type Break = Error;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
            let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
            let Some(scalar) = called(function) else { return ControlFlow::Continue(()) };
            let FunctionArguments::List(list) = &function.args else {
                return ControlFlow::Break(Error::Invalid(format!("`{expr}`: {} takes arguments", scalar.name())));
            };
            let (least, most) = scalar.arity();
            let arity = match least == most {
                true => format!("{least}"),
                false => format!("{least} or {most}"),
            };
            if !(least..=most).contains(&list.args.len()) {
                return ControlFlow::Break(Error::Invalid(format!("`{expr}`: {} takes {arity} arguments", scalar.name())));
            }
            if function.over.is_some() || function.filter.is_some() || list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return ControlFlow::Break(Error::Invalid(format!("`{expr}`: {} is a scalar function, not an aggregate", scalar.name())));
            }
            ControlFlow::Continue(())
        }
    }
    match statement.visit(&mut Calls) {
        ControlFlow::Break(err) => Err(err),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// At planning time, once subqueries are where they will run.
pub(super) fn refuse_out_of_reach(statement: &Statement) -> Result<()> {
    struct Reach(FunctionReach);
    impl Visitor for Reach {
        type Break = String;
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
            self.0.enter(query);
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<String> {
            self.0.leave();
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            match expr {
                Expr::Function(function) if !self.0.reaches() && called(function).is_some() => {
                    ControlFlow::Break(as_written(expr))
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    match statement.visit(&mut Reach(FunctionReach::default())) {
        ControlFlow::Break(call) => Err(Error::Unsupported(format!(
            "`{call}` runs only in the query's own SELECTs, its CTEs, derived tables, set operations' SELECTs and \
             subqueries that read nothing of the query around them: this one is in a subquery that does; compute it \
             in a CTE and join that instead"
        ))),
        ControlFlow::Continue(()) => Ok(()),
    }
}
