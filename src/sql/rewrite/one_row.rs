//! SELECTs without FROM read a relation of one row, as SQL defines them.
//!
//! polars-sql selects them from a frame of no rows and no columns, where a
//! projection of literals is broadcast to one row whatever the WHERE says
//! (`SELECT 1 WHERE false` had a row), aggregates count nothing (`SELECT
//! count(*)` was 0) and Polars' two engines disagree (in memory, `SELECT
//! now()` had no rows). Over one row both engines agree with SQL, so such a
//! query can run on the in-memory engine without the streaming engine's
//! start-up. A `*` keeps no FROM: it would list the relation's placeholder
//! column.

use std::ops::ControlFlow;

use sqlparser::ast::{Query, Statement, TableWithJoins};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{lists_wildcard, selects_mut};

/// The frame every plan registers: one row, one placeholder column.
pub const ONE_ROW: &str = "__floe_one_row";

pub(super) fn from_one_row(statement: &mut Statement) {
    let _ = statement.visit(&mut OneRow);
}

struct OneRow;

impl VisitorMut for OneRow {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        for select in selects_mut(&mut query.body) {
            if select.from.is_empty() && !lists_wildcard(select) {
                select.from.push(TableWithJoins { relation: crate::sql::parse::table_named(ONE_ROW, None), joins: Vec::new() });
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::*;

    #[test]
    fn selects_without_from_read_one_row_wherever_they_are() {
        assert_eq!(rewritten_by("SELECT 1 WHERE false", from_one_row), "SELECT 1 FROM __floe_one_row WHERE false");
        assert_eq!(
            rewritten_by("SELECT a FROM t WHERE a IN (SELECT 1 UNION SELECT 2)", from_one_row),
            "SELECT a FROM t WHERE a IN (SELECT 1 FROM __floe_one_row UNION SELECT 2 FROM __floe_one_row)"
        );
        assert_eq!(
            rewritten_by("WITH c AS (SELECT count(*) AS n) SELECT n FROM c", from_one_row),
            "WITH c AS (SELECT count(*) AS n FROM __floe_one_row) SELECT n FROM c"
        );
    }

    #[test]
    fn a_wildcard_or_a_from_is_left_alone() {
        for sql in ["SELECT *", "SELECT 1 AS a, *", "SELECT a FROM t", "SELECT * FROM (VALUES (1)) AS v"] {
            assert_eq!(rewritten_by(sql, from_one_row), sql);
        }
    }
}
