//! `INTERSECT ALL` and `EXCEPT ALL`, which polars-sql refuses, as the
//! distinct operations over rows numbered within their duplicates: the k-th
//! copy of a row survives INTERSECT when both sides have k copies, and
//! EXCEPT when the left has more than k − 1 copies the right lacks — exactly
//! min(m, n) and max(m − n, 0) copies, as SQL defines the ALL forms.

use std::ops::ControlFlow;

use sqlparser::ast::{Query, SetExpr, SetOperator, SetQuantifier, Statement, VisitMut, VisitorMut};

use super::scope::{leftmost_select, output_names, parse_query};

const COPY: &str = "__floe_copy";

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut SetOperations);
}

struct SetOperations;

impl VisitorMut for SetOperations {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_body(&mut query.body);
        ControlFlow::Continue(())
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
    fn intersect_all_numbers_copies() {
        let sql = crate::sql::rewrite::scope::rewritten_by("SELECT a FROM t INTERSECT ALL SELECT b FROM u", super::rewrite);
        assert!(sql.contains("PARTITION BY \"a\") AS __floe_copy FROM (SELECT a FROM t)"), "{sql}");
        assert!(sql.contains("INTERSECT SELECT *"), "{sql}");
    }
}
