//! `avg` of a DECIMAL as Floe's `floe_decimal_mean(sum(x), count(x))`: the
//! exact unscaled sum divided once, a DOUBLE as DuckDB's mean.
//!
//! Polars' streaming engine adds a decimal mean's values as doubles, each
//! scaled by an inexact power of ten: `avg(salary)` of the one salary
//! 3577.74 was 3577.7400000000002, so `salary < (SELECT avg(salary) …)`
//! held for that salary itself; and the decimal sum as a DOUBLE over the
//! count rounds twice (thirteen 1.4s averaged 1.4000000000000001). Only
//! where Floe's functions reach (`FunctionReach`).

use std::ops::ControlFlow;

use sqlparser::ast::{DuplicateTreatment, Expr, FunctionArguments, Query, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::decimals::is_decimal;
use super::scope::{call, plain_args, replace_outside_subqueries, selects_mut, Columns, FunctionReach};
use crate::sql::functions::Scalar;

pub(super) fn exact(statement: &mut Statement, columns: &Columns) {
    let _ = statement.visit(&mut Means { columns, reach: FunctionReach::default() });
}

struct Means<'a> {
    columns: &'a Columns,
    reach: FunctionReach,
}

impl VisitorMut for Means<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.reach.enter(query);
        if self.reach.reaches() {
            for select in selects_mut(&mut query.body) {
                replace_outside_subqueries(&mut select.projection, |expr| rewrite(expr, self.columns));
                replace_outside_subqueries(&mut select.having, |expr| rewrite(expr, self.columns));
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.reach.leave();
        ControlFlow::Continue(())
    }
}

/// Polars names the call by its first argument's column, as it named the mean.
fn rewrite(expr: &mut Expr, columns: &Columns) {
    if let Some(value) = decimal_mean_of(expr, columns).cloned() {
        *expr = call(Scalar::DecimalMean.name(), [call("sum", [value.clone()]), call("count", [value])]);
    }
}

/// The argument of a plain `avg` (not a window's, not DISTINCT, unfiltered)
/// over a decimal.
fn decimal_mean_of<'e>(expr: &'e Expr, columns: &Columns) -> Option<&'e Expr> {
    let Expr::Function(function) = expr else { return None };
    let plain = function.over.is_none() && function.filter.is_none() && function.within_group.is_empty();
    let distinct = matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment == Some(DuplicateTreatment::Distinct));
    if !plain || distinct || !function.name.to_string().eq_ignore_ascii_case("avg") {
        return None;
    }
    match plain_args(function)?.as_slice() {
        [value] if is_decimal(value, columns) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{rewritten_over, ColumnKind, Columns};

    fn rewritten(sql: &str) -> String {
        let mut columns = Columns::default();
        columns.insert(vec!["t".into()], vec!["price".into(), "qty".into()], &[ColumnKind::Decimal(2), ColumnKind::Integer]);
        rewritten_over(sql, &columns, super::exact)
    }

    #[test]
    fn decimal_means_are_sums_over_counts() {
        assert_eq!(
            rewritten("SELECT qty, avg(price) AS a, avg(qty) FROM t GROUP BY qty HAVING avg(t.price) > 1"),
            "SELECT qty, floe_decimal_mean(sum(price), count(price)) AS a, avg(qty) FROM t GROUP BY qty \
             HAVING floe_decimal_mean(sum(t.price), count(t.price)) > 1"
        );
        assert_eq!(
            rewritten("WITH m AS (SELECT avg(price) AS a FROM t) SELECT * FROM (SELECT avg(price) AS a FROM t) AS d, m"),
            "WITH m AS (SELECT floe_decimal_mean(sum(price), count(price)) AS a FROM t) \
             SELECT * FROM (SELECT floe_decimal_mean(sum(price), count(price)) AS a FROM t) AS d, m"
        );
    }

    #[test]
    fn windows_distinct_filtered_and_unreached_means_stay() {
        for sql in [
            "SELECT avg(price) OVER (PARTITION BY qty) FROM t",
            "SELECT avg(DISTINCT price) FROM t",
            "SELECT avg(price) FILTER (WHERE qty > 1) FROM t",
            // polars-sql plans an expression's subquery without Floe's functions.
            "SELECT x FROM u WHERE x < (SELECT avg(price) FROM t)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
