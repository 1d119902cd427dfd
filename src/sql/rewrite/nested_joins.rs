//! Joins in parentheses, as BI tools write them: polars-sql refused
//! `a JOIN (b JOIN c ON …) ON …` ("cannot JOIN on unnamed relation") and
//! lost the names of `(a JOIN b ON …) JOIN c ON …`. A parenthesised join
//! first in FROM is the same joins without the parentheses (joins nest to
//! the left). One joined later, and the joins before a RIGHT or FULL join
//! up to one on an OR, are a derived table selecting its relations'
//! columns, each under its own name where no relation before it inside has
//! it, else `name:qualifier` (as polars-sql names a joined duplicate), named
//! by the join's alias or as its first relation, and the query's `b.x` read
//! as that table's column under the name it had.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, JoinConstraint, JoinOperator, Query, SetExpr, TableAlias, TableFactor, TableWithJoins};

use super::resolver::{factors, visit_query, Resolver, Scope};
use super::scope::{parse_query, relation_qualifier, selects_mut};
use super::Columns;
use crate::sql::visit::{VisitMut, VisitorMut};
use references::{quoted, read_moved, Qualified};

mod references;

pub(super) fn unnested(statement: &mut sqlparser::ast::Statement, columns: &Columns) {
    let named = names_used(statement);
    visit_query(statement, columns, |resolver| Nested { resolver, named, made: 0 });
}

struct Nested<'a> {
    resolver: Resolver<'a>,
    /// How many relations and CTEs of the statement go by each name (lowercase).
    named: HashMap<String, usize>,
    /// Derived tables named by Floe so far: where the first relation's name
    /// names another relation too (a subquery's own `b` would read that one).
    made: usize,
}

/// How many relations (by qualifier) and CTEs of `statement` go by each name.
fn names_used(statement: &sqlparser::ast::Statement) -> HashMap<String, usize> {
    struct Names(HashMap<String, usize>);
    impl crate::sql::visit::Visitor for Names {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let Some(qualifier) = relation_qualifier(factor) {
                *self.0.entry(qualifier.value.to_lowercase()).or_default() += 1;
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            for cte in query.with.iter().flat_map(|with| &with.cte_tables) {
                *self.0.entry(cte.alias.name.value.to_lowercase()).or_default() += 1;
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names(HashMap::new());
    let _ = crate::sql::visit::Visit::visit(statement, &mut names);
    names.0
}

/// Where the columns of the relations a nested join held went: by qualifier
/// and column (lowercase), the derived table's column; and each relation's
/// columns in order, as (its name, the derived table's), for its wildcard.
struct Moved {
    table: String,
    columns: HashMap<(String, String), String>,
    listed: HashMap<String, Vec<(String, String)>>,
}

impl VisitorMut for Nested<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let directly = matches!(query.body.as_ref(), SetExpr::Select(_));
        let mut moved = Vec::new();
        for select in selects_mut(&mut query.body) {
            let found: Vec<Moved> = select.from.iter_mut().flat_map(|table| self.unnest(table)).collect();
            for each in &found {
                read_moved(select, each);
            }
            moved.extend(found);
        }
        // ORDER BY belongs to the query: its `b.x` are the SELECT's where it is one.
        if let (true, Some(order_by)) = (directly, query.order_by.as_mut()) {
            for each in &moved {
                let _ = VisitMut::visit(order_by, &mut Qualified::new(each));
            }
        }
        ControlFlow::Continue(())
    }
}

impl Nested<'_> {
    /// `table` without nested joins where their relations' columns are known.
    fn unnest(&mut self, table: &mut TableWithJoins) -> Vec<Moved> {
        while let TableFactor::NestedJoin { table_with_joins, alias: None } = &table.relation {
            let inner = table_with_joins.as_ref().clone();
            let mut joins = inner.joins;
            joins.append(&mut table.joins);
            *table = TableWithJoins { relation: inner.relation, joins };
        }
        let mut moved = Vec::new();
        // Named first in FROM (`(a JOIN b ON …) AS t`): t is the derived table.
        if let TableFactor::NestedJoin { table_with_joins, alias: Some(alias) } = &table.relation {
            if let Some((derived, each)) = alias.columns.is_empty().then(|| self.derived(table_with_joins, Some(alias))).flatten() {
                table.relation = derived;
                moved.push(each);
            }
        }
        if let Some(at) = or_joined_before_outer(&table.joins) {
            let rest = table.joins.split_off(at + 1);
            if let Some((derived, each)) = self.derived(table, None) {
                *table = TableWithJoins { relation: derived, joins: rest };
                moved.push(each);
            } else {
                table.joins.extend(rest);
            }
        }
        for join in &mut table.joins {
            let TableFactor::NestedJoin { table_with_joins, alias } = &join.relation else { continue };
            if alias.as_ref().is_some_and(|alias| !alias.columns.is_empty()) {
                continue;
            }
            let Some((derived, each)) = self.derived(table_with_joins, alias.as_ref()) else { continue };
            join.relation = derived;
            moved.push(each);
        }
        moved
    }

    /// The nested join `nested` as a derived table, and where its columns
    /// went; joins nested in it first. Named by `alias`, or as its first
    /// relation (so `*` names a duplicate column as a flat join would)
    /// where no other relation or CTE has that name.
    fn derived(&mut self, nested: &TableWithJoins, alias: Option<&TableAlias>) -> Option<(TableFactor, Moved)> {
        let mut inner = nested.clone();
        let deeper = self.unnest(&mut inner);
        for each in &deeper {
            let _ = VisitMut::visit(&mut inner, &mut Qualified::new(each));
        }
        let scopes = factors(std::slice::from_ref(&inner)).map(|factor| self.resolver.whole_scope(factor)).collect::<Option<Vec<_>>>()?;
        let merged = merged_keys(&inner, &scopes)?;
        let first = scopes.first()?.qualifier.clone();
        let table = match alias {
            Some(alias) => alias.name.value.clone(),
            None if self.named.get(&first.to_lowercase()).copied().unwrap_or(0) > 1 => {
                self.made += 1;
                format!("__floe_nested_{}", self.made)
            }
            None => first,
        };
        let (mut columns, mut listed, mut items) = (HashMap::new(), HashMap::<String, Vec<(String, String)>>::new(), Vec::new());
        for (at, scope) in scopes.iter().enumerate() {
            let qualifier = scope.qualifier.to_lowercase();
            for column in &scope.columns {
                let key = (qualifier.clone(), column.to_lowercase());
                let name = match merged.get(&key) {
                    // A USING key the join merged: the relation before it has it.
                    Some(owner) => columns.get(&(owner.clone(), column.to_lowercase())).cloned()?,
                    None => {
                        let shared = scopes[..at].iter().any(|before| before.columns.iter().any(|c| c == column));
                        let name = if shared { format!("{column}:{}", scope.qualifier) } else { column.clone() };
                        items.push(format!("{}.{} AS {}", quoted(&scope.qualifier), quoted(column), quoted(&name)));
                        name
                    }
                };
                columns.insert(key, name.clone());
                listed.entry(qualifier.clone()).or_default().push((column.clone(), name));
            }
        }
        // What deeper nested joins moved, read through this table's columns.
        for each in &deeper {
            let through = |name: &String| columns.get(&(each.table.to_lowercase(), name.to_lowercase())).cloned();
            let composed: Vec<_> = each.columns.iter().filter_map(|(key, name)| Some((key.clone(), through(name)?))).collect();
            let relisted: Vec<_> = each
                .listed
                .iter()
                .map(|(qualifier, pairs)| (qualifier.clone(), pairs.iter().filter_map(|(original, name)| Some((original.clone(), through(name)?))).collect()))
                .collect();
            columns.extend(composed);
            listed.extend(relisted);
        }
        let query = parse_query(&format!("SELECT * FROM (SELECT {} FROM {inner}) AS {}", items.join(", "), quoted(&table)))?;
        let SetExpr::Select(select) = *query.body else { return None };
        let factor = select.from.into_iter().next()?.relation;
        Some((factor, Moved { table, columns, listed }))
    }
}

/// The last inner join whose condition ORs comparisons of its sides
/// before the last RIGHT or FULL join: polars-sql joins on no OR, and Floe's filter
/// after the join (`inner_join_conditions.rs`) would drop the rows the outer
/// join keeps. The joins up to it are then a derived table of their own,
/// whose WHERE that filter may be.
fn or_joined_before_outer(joins: &[sqlparser::ast::Join]) -> Option<usize> {
    let outer_from = joins.iter().rposition(|join| matches!(join.join_operator, JoinOperator::Right(_) | JoinOperator::RightOuter(_) | JoinOperator::FullOuter(_)))?;
    joins[..outer_from].iter().rposition(|join| match &join.join_operator {
        JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on)) => {
            super::scope::conjuncts(on).iter().any(|part| matches!(super::scope::unnested(part), Expr::BinaryOp { op: sqlparser::ast::BinaryOperator::Or, .. }))
        }
        _ => false,
    })
}

/// The columns a USING join inside `inner` merges, by the joined relation's
/// qualifier and column (lowercase): the relation that had it before. None
/// where the merged column is not simply the earlier one's (RIGHT and FULL
/// joins, NATURAL joins: `using_joins.rs` knows those).
fn merged_keys(inner: &TableWithJoins, scopes: &[Scope]) -> Option<HashMap<(String, String), String>> {
    let mut merged = HashMap::new();
    for (at, join) in inner.joins.iter().enumerate() {
        let constraint = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => c,
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) | JoinOperator::FullOuter(c) => match c {
                JoinConstraint::Using(_) | JoinConstraint::Natural => return None,
                _ => continue,
            },
            _ => continue,
        };
        match constraint {
            JoinConstraint::Natural => return None,
            JoinConstraint::Using(names) => {
                let joined = scopes.get(at + 1)?.qualifier.to_lowercase();
                for name in names {
                    let column = name.to_string().trim_matches('"').to_lowercase();
                    let owner = scopes[..=at].iter().find(|scope| scope.has_column(&column))?;
                    merged.insert((joined.clone(), column), owner.qualifier.to_lowercase());
                }
            }
            _ => {}
        }
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::super::scope::columns_of;

    fn rewritten(sql: &str) -> String {
        let columns = columns_of(&[("a", &["id", "x"]), ("b", &["id", "y"]), ("c", &["id", "z"])]);
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        super::unnested(&mut statement, &columns);
        statement.to_string()
    }

    #[test]
    fn a_join_nested_first_is_the_same_joins_unnested() {
        assert_eq!(
            rewritten("SELECT a.x, c.z FROM (a LEFT JOIN b ON a.id = b.id) LEFT JOIN c ON a.id = c.id"),
            "SELECT a.x, c.z FROM a LEFT JOIN b ON a.id = b.id LEFT JOIN c ON a.id = c.id"
        );
    }

    #[test]
    fn a_join_nested_later_is_a_derived_table_its_columns_read_from() {
        assert_eq!(
            rewritten("SELECT a.id, b.y, c.* FROM a LEFT JOIN (b JOIN c ON b.id = c.id) ON a.id = b.id WHERE c.z > 'c' ORDER BY c.id"),
            "SELECT a.id, \"b\".\"y\", \"b\".\"id:c\" AS \"id\", \"b\".\"z\" FROM a LEFT JOIN \
             (SELECT \"b\".\"id\" AS \"id\", \"b\".\"y\" AS \"y\", \"c\".\"id\" AS \"id:c\", \"c\".\"z\" AS \"z\" FROM b JOIN c ON b.id = c.id) AS \"b\" \
             ON a.id = \"b\".\"id\" WHERE \"b\".\"z\" > 'c' ORDER BY \"b\".\"id:c\""
        );
    }

    #[test]
    fn joins_nested_twice_are_read_through_both_tables() {
        let sql = rewritten("SELECT a.x, c.z, a2.x FROM a JOIN (b JOIN (c JOIN a AS a2 ON c.id = a2.id) ON b.id = c.id) ON a.id = b.id");
        assert!(sql.starts_with("SELECT a.x, \"b\".\"z\", \"b\".\"x\" FROM a JOIN (SELECT"), "{sql}");
        let named = rewritten("SELECT c.id, b.id FROM a JOIN (b JOIN c ON b.id = c.id) ON a.id = b.id");
        assert!(named.starts_with("SELECT \"b\".\"id:c\" AS \"id\", \"b\".\"id\" FROM"), "{named}");
        assert!(sql.contains("FROM c JOIN a AS a2 ON c.id = a2.id) AS \"c\" ON b.id = \"c\".\"id\") AS \"b\""), "{sql}");
    }

    #[test]
    fn a_name_another_relation_has_is_not_the_derived_tables() {
        let sql = rewritten("SELECT a.x FROM a JOIN (b JOIN c ON b.id = c.id) ON a.id = b.id WHERE EXISTS (SELECT 1 FROM b WHERE b.id = c.id)");
        assert!(sql.contains(") AS \"__floe_nested_1\" ON a.id = \"__floe_nested_1\".\"id\""), "{sql}");
        assert!(sql.ends_with("WHERE EXISTS (SELECT 1 FROM b WHERE b.id = \"__floe_nested_1\".\"id:c\")"), "{sql}");
        let cte = rewritten("WITH b AS (SELECT 1 AS id) SELECT c.z FROM a JOIN (b JOIN c ON b.id = c.id) ON a.id = b.id");
        assert!(cte.contains("AS \"__floe_nested_1\""), "{cte}");
    }

    #[test]
    fn joins_on_an_or_before_a_right_join_are_a_derived_table() {
        let sql = rewritten("SELECT a.x, b.y, c.z FROM a JOIN b ON a.id = b.id OR a.x = b.y RIGHT JOIN c ON c.id = b.id");
        assert!(sql.starts_with("SELECT \"a\".\"x\", \"a\".\"y\", c.z FROM (SELECT"), "{sql}");
        assert!(sql.ends_with("FROM a JOIN b ON a.id = b.id OR a.x = b.y) AS \"a\" RIGHT JOIN c ON c.id = \"a\".\"id:b\""), "{sql}");
        let left = "SELECT a.x FROM a JOIN b ON a.id = b.id OR a.x = b.y LEFT JOIN c ON c.id = b.id";
        assert_eq!(rewritten(left), left, "a LEFT JOIN keeps the rows the filter after the joins keeps");
    }

    #[test]
    fn derived_tables_named_by_floe_have_names_of_their_own() {
        let sql = rewritten("SELECT a.id FROM a JOIN (b JOIN c ON b.id = c.id) ON a.id = b.id WHERE EXISTS (SELECT 1 FROM a JOIN (b JOIN c AS c2 ON b.id = c2.id) ON a.id = b.id)");
        assert!(sql.contains("AS \"__floe_nested_1\"") && sql.contains("AS \"__floe_nested_2\""), "{sql}");
        // The subquery's own b, inside its own parentheses, is not the outer one.
        assert!(sql.contains("FROM b JOIN c AS c2 ON b.id = c2.id) AS \"__floe_nested_2\""), "{sql}");
    }

    #[test]
    fn a_subquery_naming_its_own_relation_keeps_its_references() {
        let sql = "SELECT b.y FROM a JOIN (b JOIN c ON b.id = c.id) ON a.id = b.id WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.id)";
        assert!(rewritten(sql).ends_with("WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.id)"), "{}", rewritten(sql));
    }
}
