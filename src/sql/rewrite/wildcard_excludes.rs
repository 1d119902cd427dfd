//! What `*` leaves out of a SELECT over joins:
//!
//! - `SELECT * EXCLUDE (name)` leaves out every relation's `name`, as
//!   DuckDB does. polars-sql names a joined relation's column that an
//!   earlier relation also has `name:d` in the joined frame, so only the
//!   first relation's was left out. The suffixed names are excluded too:
//!   polars-sql passes over an excluded name the frame does not have.
//! - The columns of Floe's own relations joined in (the CTEs scalar
//!   subqueries become, `__floe_sqN`): `SELECT * FROM emp WHERE salary >
//!   (SELECT avg(salary) FROM emp)` answered with the average as an extra
//!   column.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{ExcludeSelectItem, Ident, ObjectName, Query, Select, SelectItem, Statement, TableFactor};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::resolver::factors;
use super::scope::{collect_cte_columns, exclude_from_wildcard, relation_qualifier};

/// How Floe names the relations and columns it adds.
const PREFIX: &str = "__floe_";

/// `*` without the columns of the `__floe_` CTEs a SELECT joins.
pub(super) fn without_floe_relations(statement: &mut Statement) {
    let _ = statement.visit(&mut FloeRelations { ctes: Vec::new() });
}

struct FloeRelations {
    /// Per enclosing query, its `__floe_` CTEs' columns by name.
    ctes: Vec<HashMap<String, Vec<String>>>,
}

impl VisitorMut for FloeRelations {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let mut ctes = HashMap::new();
        collect_cte_columns(query, &mut ctes);
        ctes.retain(|name, _| name.starts_with(PREFIX));
        self.ctes.push(ctes);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.ctes.pop();
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        // Joined after the SELECT's own relations, unaliased: a `__floe_` CTE
        // standing for a relation the query wrote (a derived table lifted
        // into one) keeps its columns.
        let columns_of = |factor: &TableFactor| match factor {
            TableFactor::Table { name, alias: None, .. } if name.0.len() == 1 => {
                let name = name.0[0].as_ident()?.value.clone();
                self.ctes.iter().rev().find_map(|ctes| ctes.get(&name))
            }
            _ => None,
        };
        let hidden: Vec<ObjectName> =
            factors(&select.from).skip(1).filter_map(columns_of).flatten().map(|column| ObjectName::from(vec![Ident::with_quote('"', column.clone())])).collect();
        if hidden.is_empty() {
            return ControlFlow::Continue(());
        }
        for item in &mut select.projection {
            if let SelectItem::Wildcard(options) = item {
                exclude_from_wildcard(options, hidden.clone());
            }
        }
        ControlFlow::Continue(())
    }
}

pub(super) fn every_relations(statement: &mut Statement) {
    let _ = statement.visit(&mut Wildcards);
}

struct Wildcards;

impl VisitorMut for Wildcards {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        // Every relation after the first: the first keeps its names.
        let qualifiers: Vec<String> = factors(&select.from).skip(1).filter_map(|factor| Some(relation_qualifier(factor)?.value.clone())).collect();
        if qualifiers.is_empty() {
            return ControlFlow::Continue(());
        }
        for item in &mut select.projection {
            let SelectItem::Wildcard(options) = item else { continue };
            let names = match &options.opt_exclude {
                None => continue,
                Some(ExcludeSelectItem::Single(name)) => vec![name],
                Some(ExcludeSelectItem::Multiple(names)) => names.iter().collect(),
            };
            let suffixed = names.into_iter().filter_map(single_name).flat_map(|name| {
                qualifiers.iter().map(move |qualifier| ObjectName::from(vec![Ident::with_quote('"', format!("{name}:{qualifier}"))]))
            });
            let suffixed: Vec<ObjectName> = suffixed.collect();
            exclude_from_wildcard(options, suffixed);
        }
        ControlFlow::Continue(())
    }
}

fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|ident| ident.value.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        let mut statement = crate::sql::parse::parse_single(sql).expect("test SQL parses");
        super::every_relations(&mut statement);
        statement.to_string()
    }

    #[test]
    fn floe_s_own_relations_columns_are_left_out() {
        let mut statement = crate::sql::parse::parse_single(
            "WITH __floe_sq1 AS (SELECT avg(x) AS __floe_sq1_v FROM t) SELECT * FROM t CROSS JOIN __floe_sq1 WHERE x > __floe_sq1.__floe_sq1_v",
        )
        .expect("parses");
        super::without_floe_relations(&mut statement);
        assert_eq!(
            statement.to_string(),
            "WITH __floe_sq1 AS (SELECT avg(x) AS __floe_sq1_v FROM t) SELECT * EXCLUDE (\"__floe_sq1_v\") FROM t CROSS JOIN __floe_sq1 WHERE x > __floe_sq1.__floe_sq1_v"
        );
        // Read on its own, or under an alias: the query's own relation.
        for sql in ["WITH __floe_l1 AS (SELECT 1 AS v) SELECT * FROM __floe_l1", "WITH __floe_l1 AS (SELECT 1 AS v) SELECT * FROM t JOIN __floe_l1 AS d ON d.v = t.x"] {
            let mut statement = crate::sql::parse::parse_single(sql).expect("parses");
            super::without_floe_relations(&mut statement);
            assert_eq!(statement.to_string(), sql);
        }
    }

    #[test]
    fn later_relations_suffixed_columns_are_excluded_too() {
        assert_eq!(
            rewritten("SELECT * EXCLUDE (name) FROM emp AS e JOIN dept AS d ON e.dept_id = d.id CROSS JOIN ns.region"),
            "SELECT * EXCLUDE (name, \"name:d\", \"name:region\") FROM emp AS e JOIN dept AS d ON e.dept_id = d.id CROSS JOIN ns.region"
        );
        // One relation, a qualified wildcard, no EXCLUDE: as written.
        for sql in ["SELECT * EXCLUDE (name) FROM emp", "SELECT e.* EXCLUDE (name) FROM emp AS e JOIN dept AS d ON e.id = d.id", "SELECT * FROM emp, dept"] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
