//! Aggregates of a constant (`sum(1)`, which BI tools write to count rows,
//! `avg(2)`, `max(0)`). Polars aggregates the literal itself, one value, so
//! `sum(1)` was 1 whatever the rows, and `max(0)` over no rows was 0. As SQL
//! defines them, over the same rows (the call's FILTER and window kept):
//! `sum(c)` is `c * count(*)`, the others `c`, and all of them NULL where
//! there are no rows.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Statement, VisitMut, VisitorMut,
};

use super::scope::{parse_expr, plain_args};

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Constants);
}

struct Constants;

impl VisitorMut for Constants {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(function) = &*expr else { return ControlFlow::Continue(()) };
        let name = function.name.to_string().to_ascii_lowercase();
        let value = match plain_args(function).as_deref() {
            Some([value]) if constant(value) => (*value).clone(),
            _ => return ControlFlow::Continue(()),
        };
        if !matches!(name.as_str(), "sum" | "avg" | "min" | "max") {
            return ControlFlow::Continue(());
        }
        let rows = count_rows(function);
        let value = match name.as_str() {
            "sum" => format!("({value}) * {rows}"),
            "avg" => format!("CAST({value} AS DOUBLE)"),
            _ => format!("{value}"),
        };
        if let Some(rewritten) = parse_expr(&format!("(CASE WHEN {rows} > 0 THEN {value} END)")) {
            *expr = rewritten;
        }
        ControlFlow::Continue(())
    }
}

/// `count(*)` over the rows `function` aggregates: its FILTER and window.
fn count_rows(function: &Function) -> Function {
    let mut count = function.clone();
    count.name = sqlparser::ast::ObjectName::from(vec![sqlparser::ast::Ident::new("count")]);
    count.args = FunctionArguments::List(FunctionArgumentList {
        duplicate_treatment: None,
        args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
        clauses: Vec::new(),
    });
    count
}

/// Literals and arithmetic on them: the same value on every row.
fn constant(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) | Expr::TypedString { .. } => true,
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => constant(expr),
        Expr::BinaryOp { left, right, .. } => constant(left) && constant(right),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::rewrite;

    #[test]
    fn aggregates_of_constants_read_the_rows() {
        assert_eq!(
            rewritten_by("SELECT k, sum(1), avg(2) FILTER (WHERE x > 0), max(-1) OVER (PARTITION BY k) FROM t GROUP BY k", rewrite),
            "SELECT k, (CASE WHEN count(*) > 0 THEN (1) * count(*) END), \
             (CASE WHEN count(*) FILTER (WHERE x > 0) > 0 THEN CAST(2 AS DOUBLE) END), \
             (CASE WHEN count(*) OVER (PARTITION BY k) > 0 THEN -1 END) FROM t GROUP BY k"
        );
    }

    #[test]
    fn aggregates_of_columns_and_distinct_constants_stay() {
        for sql in ["SELECT sum(x), sum(x + 1), count(1), sum(DISTINCT 1), max(now()) FROM t"] {
            assert_eq!(rewritten_by(sql, rewrite), sql);
        }
    }
}
