//! WHERE conditions that read no column, evaluated before Polars plans the
//! query: a true one goes.
//!
//! Polars pushes a condition without columns into every input of a join;
//! over an input whose columns are all pruned (a table read again beside a
//! UNION) its streaming engine dropped every row, so `SELECT g.x FROM n
//! CROSS JOIN g WHERE 'bob' LIKE 'b%' UNION ALL SELECT 6 FROM n` lost the
//! first branch. Literal `true` it removes itself; `starts_with('bob', 'b')`,
//! `CAST('3' AS INT) = 3` or a bound parameter's test it does not. A false
//! or NULL one stays as written: it keeps no row either way, and as `false`
//! Polars would plan an empty frame whose literals have no type yet
//! ("dtype is unknown" past a join), and drop the correlation a semi join
//! beside it is planned from.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Query, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::constant_aggregates::constant;
use super::scope::{conjuncts, joined_by, selects_mut};

/// Whether a condition's SQL holds: false also when it is NULL or could
/// not be evaluated (a parameter not yet bound).
pub type Truth<'a> = &'a mut dyn FnMut(&str) -> bool;

pub fn folded(statement: &mut Statement, truth: Truth<'_>) {
    let _ = statement.visit(&mut Folder { truth });
}

struct Folder<'a> {
    truth: Truth<'a>,
}

impl VisitorMut for Folder<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        for select in selects_mut(&mut query.body) {
            if let Some(selection) = select.selection.take() {
                select.selection = self.fold(selection);
            }
        }
        ControlFlow::Continue(())
    }
}

impl Folder<'_> {
    fn fold(&mut self, selection: Expr) -> Option<Expr> {
        let parts = conjuncts(&selection);
        let holds: Vec<bool> = parts.iter().map(|part| self.holds(part)).collect();
        if !holds.contains(&true) {
            return Some(selection);
        }
        let kept = parts.into_iter().zip(holds).filter(|(_, holds)| !holds).map(|(part, _)| part.clone());
        joined_by(BinaryOperator::And, kept.collect())
    }

    /// Whether `condition` reads no column and is true.
    fn holds(&mut self, condition: &Expr) -> bool {
        !matches!(condition, Expr::Value(_)) && constant(condition) && (self.truth)(&condition.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::folded;
    use crate::sql::parse::parse_single;

    /// Evaluates the few conditions the tests write, as Polars would.
    fn rewritten(sql: &str) -> String {
        let mut statement = parse_single(sql).unwrap();
        folded(&mut statement, &mut |condition: &str| matches!(condition, "'bob' LIKE 'b%'" | "CAST('3' AS INT) = 3"));
        statement.to_string()
    }

    #[test]
    fn true_conditions_go() {
        assert_eq!(rewritten("SELECT a FROM n WHERE 'bob' LIKE 'b%'"), "SELECT a FROM n");
        assert_eq!(rewritten("SELECT a FROM n WHERE a > 1 AND CAST('3' AS INT) = 3 AND b < 2"), "SELECT a FROM n WHERE a > 1 AND b < 2");
        assert_eq!(
            rewritten("SELECT a FROM (SELECT a FROM n WHERE NULL = 1) AS d WHERE a IN (SELECT b FROM m WHERE 'bob' LIKE 'b%')"),
            "SELECT a FROM (SELECT a FROM n WHERE NULL = 1) AS d WHERE a IN (SELECT b FROM m)"
        );
    }

    #[test]
    fn false_conditions_and_those_that_read_rows_or_the_clock_stay() {
        let untouched = [
            "SELECT a FROM n WHERE a LIKE 'b%'",
            "SELECT a FROM n WHERE true",
            "SELECT a FROM n WHERE current_date > DATE '2020-01-01'",
            "SELECT a FROM n WHERE random() < 0.5",
            "SELECT a FROM n WHERE EXISTS (SELECT 1 FROM m)",
            "SELECT a FROM n WHERE 'bob' LIKE 'b%' OR a > 1",
            "SELECT a FROM n WHERE a > 1 AND length('bob') = 4",
            "SELECT a FROM n WHERE EXISTS (SELECT 1 FROM m WHERE m.b = n.a AND NULL = 1)",
        ];
        for sql in untouched {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
