//! `INTERSECT ALL` and `EXCEPT ALL`, which polars-sql refuses, as the
//! distinct operations over rows numbered within their duplicates: the k-th
//! copy of a row survives INTERSECT when both sides have k copies, and
//! EXCEPT when the left has more than k − 1 copies the right lacks — exactly
//! min(m, n) and max(m − n, 0) copies, as SQL defines the ALL forms.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{is_column, leftmost_select, output_names, parse_query, selects_mut};

const COPY: &str = "__floe_copy";
const LATER: &str = "__floe_later_";

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut SetOperations);
}

struct SetOperations;

impl VisitorMut for SetOperations {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_body(&mut query.body);
        if query.order_by.is_some() {
            named_as_the_first(&mut query.body);
        } else {
            later_expressions_named(&mut query.body);
        }
        ControlFlow::Continue(())
    }
}

/// A set operation's columns are named by its first SELECT, and its ORDER
/// BY uses those names; polars-sql looked them up in the last SELECT
/// (`SELECT x AS a … UNION SELECT y … ORDER BY a` found no `a`). Every
/// other SELECT's items get the first one's names.
fn named_as_the_first(body: &mut SetExpr) {
    if !matches!(body, SetExpr::SetOperation { .. }) {
        return;
    }
    let Some(names) = leftmost_select(body).and_then(|first| output_names(first).into_iter().collect::<Option<Vec<String>>>()) else { return };
    for select in selects_mut(body).into_iter().skip(1) {
        if select.projection.len() != names.len() {
            return;
        }
        for (item, name) in select.projection.iter_mut().zip(&names) {
            let expr = match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
                _ => return,
            };
            *item = SelectItem::ExprWithAlias { expr, alias: Ident::with_quote('"', name) };
        }
    }
}

/// Only the first SELECT names a set operation's columns, so a later one
/// may repeat an expression (`…, CAST(NULL AS VARCHAR), CAST(NULL AS
/// VARCHAR)`); polars-sql names each by its text and refused the twins.
/// A later SELECT's unnamed expressions get names of their own, which no
/// other part of that SELECT can refer to.
fn later_expressions_named(body: &mut SetExpr) {
    if !matches!(body, SetExpr::SetOperation { .. }) {
        return;
    }
    for select in selects_mut(body).into_iter().skip(1) {
        for (position, item) in select.projection.iter_mut().enumerate() {
            if let SelectItem::UnnamedExpr(expr) = item {
                if !is_column(expr) {
                    let alias = Ident::new(format!("{LATER}{position}"));
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
                }
            }
        }
    }
}

/// An INTERSECT or EXCEPT inside another set operation as a query of its
/// own: polars-sql takes the operator of the query's outermost one for
/// every one below it, so `a EXCEPT b UNION ALL c` ran `a INTERSECT b`.
/// Last: the passes that read a set operation's SELECTs see them in place.
pub(super) fn nested_in_queries(statement: &mut Statement) {
    let _ = statement.visit(&mut Nested);
}

struct Nested;

impl VisitorMut for Nested {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::SetOperation { left, right, .. } = query.body.as_mut() {
            own_query(left);
            own_query(right);
        }
        ControlFlow::Continue(())
    }
}

fn own_query(side: &mut SetExpr) {
    let SetExpr::SetOperation { op, left, right, .. } = side else { return };
    own_query(left);
    own_query(right);
    if matches!(op, SetOperator::Intersect | SetOperator::Except) {
        if let Some(query) = parse_query(&side.to_string()) {
            *side = SetExpr::Query(Box::new(query));
        }
    }
}

fn rewrite_body(body: &mut SetExpr) {
    let SetExpr::SetOperation { op, set_quantifier, left, right } = body else { return };
    rewrite_body(left);
    rewrite_body(right);
    let all = matches!(set_quantifier, SetQuantifier::All);
    if !all || !matches!(op, SetOperator::Intersect | SetOperator::Except) {
        return;
    }
    let (Some(left_names), Some(right_names)) = (names(left), names(right)) else { return };
    let numbered = |side: &SetExpr, names: &[String], alias: &str| {
        format!("SELECT *, row_number() OVER (PARTITION BY {}) AS {COPY} FROM ({side}) AS {alias}", names.join(", "))
    };
    let sql = format!(
        "SELECT * EXCLUDE ({COPY}) FROM ({} {op} {}) AS __floe_set",
        numbered(left, &left_names, "__floe_left"),
        numbered(right, &right_names, "__floe_right"),
    );
    if let Some(query) = parse_query(&sql) {
        *body = *query.body;
    }
}

/// The output names of a set operation's side (its leftmost SELECT's), all
/// of them known and distinct, quoted as written.
fn names(side: &SetExpr) -> Option<Vec<String>> {
    let select = leftmost_select(side)?;
    let names: Vec<String> = output_names(select).into_iter().collect::<Option<_>>()?;
    let mut seen = std::collections::HashSet::new();
    names.iter().all(|n| seen.insert(n.to_ascii_lowercase())).then(|| names.iter().map(|n| format!("\"{n}\"")).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn intersect_and_except_below_another_set_operation_are_queries_of_their_own() {
        let nested = |sql| crate::sql::rewrite::scope::rewritten_by(sql, super::nested_in_queries);
        assert_eq!(
            nested("SELECT a FROM t EXCEPT SELECT b FROM u UNION ALL SELECT c FROM v ORDER BY 1"),
            "(SELECT a FROM t EXCEPT SELECT b FROM u) UNION ALL SELECT c FROM v ORDER BY 1"
        );
        assert_eq!(
            nested("SELECT * FROM (SELECT a FROM t UNION SELECT c FROM v INTERSECT SELECT b FROM u) AS s"),
            "SELECT * FROM (SELECT a FROM t UNION (SELECT c FROM v INTERSECT SELECT b FROM u)) AS s"
        );
        for sql in ["SELECT a FROM t EXCEPT SELECT b FROM u", "SELECT a FROM t UNION SELECT b FROM u UNION ALL SELECT c FROM v"] {
            assert_eq!(nested(sql), sql);
        }
    }

    #[test]
    fn intersect_all_numbers_copies() {
        let sql = crate::sql::rewrite::scope::rewritten_by("SELECT a FROM t INTERSECT ALL SELECT b FROM u", super::rewrite);
        assert!(sql.contains("PARTITION BY \"a\") AS __floe_copy FROM (SELECT a FROM t)"), "{sql}");
        assert!(sql.contains("INTERSECT SELECT *"), "{sql}");
    }

    #[test]
    fn an_ordered_set_operation_names_every_select_as_the_first() {
        let rewritten = |sql| crate::sql::rewrite::scope::rewritten_by(sql, super::rewrite);
        assert_eq!(
            rewritten("SELECT x AS a, y FROM t UNION SELECT 1, z AS w FROM u UNION ALL SELECT q, r FROM v ORDER BY a"),
            "SELECT x AS a, y FROM t UNION SELECT 1 AS \"a\", z AS \"y\" FROM u UNION ALL SELECT q AS \"a\", r AS \"y\" FROM v ORDER BY a"
        );
        // Without ORDER BY, or where a name cannot be read off the first SELECT, nothing changes.
        for sql in ["SELECT x AS a FROM t UNION SELECT y FROM u", "SELECT x + 1 FROM t UNION SELECT y FROM u ORDER BY 1", "SELECT a FROM t UNION SELECT * FROM u ORDER BY a"] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn a_later_select_names_its_expressions() {
        let sql = crate::sql::rewrite::scope::rewritten_by("SELECT 1 AS a, NULL AS b UNION ALL SELECT x, NULL FROM t UNION ALL SELECT 2 AS z, NULL", super::rewrite);
        assert_eq!(sql, "SELECT 1 AS a, NULL AS b UNION ALL SELECT x, NULL AS __floe_later_1 FROM t UNION ALL SELECT 2 AS z, NULL AS __floe_later_1");
    }
}
