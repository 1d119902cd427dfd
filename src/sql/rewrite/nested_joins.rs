//! Joins in parentheses, as BI tools write them: polars-sql refused
//! `a JOIN (b JOIN c ON …) ON …` ("cannot JOIN on unnamed relation") and
//! lost the names of `(a JOIN b ON …) JOIN c ON …`. A parenthesised join
//! first in FROM is the same joins without the parentheses (joins nest to
//! the left). One joined later is a derived table selecting its relations'
//! columns, each under its own name where no relation before it inside has
//! it, else `name:qualifier` (as polars-sql names a joined duplicate), named
//! as its first relation, and the query's `b.x` read as that table's column.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableFactor, TableWithJoins};

use super::resolver::{factors, visit_query, Resolver};
use super::scope::{parse_query, relation_qualifier, selects_mut};
use super::Columns;
use crate::sql::visit::{VisitMut, VisitorMut};

pub(super) fn unnested(statement: &mut sqlparser::ast::Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Nested { resolver });
}

struct Nested<'a> {
    resolver: Resolver<'a>,
}

/// Where the columns of the relations a nested join held went: by qualifier
/// (lowercase) and column, the derived table's column; and each relation's
/// columns in order, for its wildcard.
struct Moved {
    table: String,
    columns: HashMap<(String, String), String>,
    listed: HashMap<String, Vec<String>>,
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
                let _ = VisitMut::visit(order_by, &mut Qualified { moved: each, shadowed: 0 });
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
        for join in &mut table.joins {
            let TableFactor::NestedJoin { table_with_joins, alias: None } = &join.relation else { continue };
            let Some((derived, each)) = self.derived(table_with_joins) else { continue };
            join.relation = derived;
            moved.push(each);
        }
        moved
    }

    /// The nested join `nested` as a derived table named as its first
    /// relation is (so `*` names a duplicate column as a flat join would),
    /// and where its columns went; joins nested in it first.
    fn derived(&mut self, nested: &TableWithJoins) -> Option<(TableFactor, Moved)> {
        let mut inner = nested.clone();
        let deeper = self.unnest(&mut inner);
        for each in &deeper {
            let _ = VisitMut::visit(&mut inner, &mut Qualified { moved: each, shadowed: 0 });
        }
        let scopes = factors(std::slice::from_ref(&inner)).map(|factor| self.resolver.whole_scope(factor)).collect::<Option<Vec<_>>>()?;
        let table = scopes.first()?.qualifier.clone();
        let (mut columns, mut listed, mut items) = (HashMap::new(), HashMap::<String, Vec<String>>::new(), Vec::new());
        for scope in &scopes {
            let qualifier = scope.qualifier.to_lowercase();
            for column in &scope.columns {
                let first = scopes.iter().find(|other| other.has_column(column)).is_some_and(|other| std::ptr::eq(other, scope));
                let name = if first { column.clone() } else { format!("{column}:{}", scope.qualifier) };
                items.push(format!("{}.{} AS {}", quoted(&scope.qualifier), quoted(column), quoted(&name)));
                columns.insert((qualifier.clone(), column.to_lowercase()), name.clone());
                listed.entry(qualifier.clone()).or_insert_with(Vec::new).push(name);
            }
        }
        // What deeper nested joins moved, read through this table's columns.
        for each in &deeper {
            let through = |name: &String| columns.get(&(each.table.to_lowercase(), name.to_lowercase())).cloned();
            let composed: Vec<_> = each.columns.iter().filter_map(|(key, name)| Some((key.clone(), through(name)?))).collect();
            let relisted: Vec<_> = each.listed.iter().map(|(qualifier, names)| (qualifier.clone(), names.iter().filter_map(through).collect())).collect();
            columns.extend(composed);
            listed.extend(relisted);
        }
        let query = parse_query(&format!("SELECT * FROM (SELECT {} FROM {inner}) AS {}", items.join(", "), quoted(&table)))?;
        let SetExpr::Select(select) = *query.body else { return None };
        let factor = select.from.into_iter().next()?.relation;
        Some((factor, Moved { table, columns, listed }))
    }
}

fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// `select`'s `b.x` and `b.*` for the relations `moved` holds.
fn read_moved(select: &mut Select, moved: &Moved) {
    let mut projection = Vec::new();
    for item in std::mem::take(&mut select.projection) {
        match &item {
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), options) if options.to_string().is_empty() => {
                let qualifier = name.0.last().and_then(|part| part.as_ident()).map(|ident| ident.value.to_lowercase());
                match qualifier.and_then(|qualifier| moved.listed.get(&qualifier)) {
                    Some(names) => projection.extend(names.iter().map(|name| spelled(moved, name))),
                    None => projection.push(item),
                }
            }
            _ => projection.push(item),
        }
    }
    select.projection = projection;
    let _ = VisitMut::visit(select, &mut Qualified { moved, shadowed: 0 });
}

/// A moved relation's column as a SELECT item under the name it had.
fn spelled(moved: &Moved, name: &str) -> SelectItem {
    let column = Expr::CompoundIdentifier(vec![quoted(&moved.table), quoted(name)]);
    let original = name.split_once(':').map_or(name, |(column, _)| column);
    match original == name {
        true => SelectItem::UnnamedExpr(column),
        false => SelectItem::ExprWithAlias { expr: column, alias: quoted(original) },
    }
}

/// Reads `b.x` as the derived table's column, except inside a query that
/// names a relation `b` of its own (and inside the derived table itself).
struct Qualified<'m> {
    moved: &'m Moved,
    shadowed: usize,
}

impl Qualified<'_> {
    fn declares(&self, query: &Query) -> bool {
        let SetExpr::Select(select) = query.body.as_ref() else { return false };
        factors(&select.from).filter_map(relation_qualifier).any(|ident| self.moved.listed.contains_key(&ident.value.to_lowercase()))
    }
}

impl VisitorMut for Qualified<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if self.shadowed > 0 || self.declares(query) {
            self.shadowed += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.shadowed = self.shadowed.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        // The derived table's own query reads the relations by their names.
        if matches!(factor, TableFactor::Derived { alias: Some(alias), .. } if alias.name.value == self.moved.table) {
            self.shadowed += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if matches!(factor, TableFactor::Derived { alias: Some(alias), .. } if alias.name.value == self.moved.table) {
            self.shadowed -= 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.shadowed > 0 {
            return ControlFlow::Continue(());
        }
        let Expr::CompoundIdentifier(parts) = expr else { return ControlFlow::Continue(()) };
        let [qualifier, column] = parts.as_slice() else { return ControlFlow::Continue(()) };
        let key = (qualifier.value.to_lowercase(), column.value.to_lowercase());
        if let Some(name) = self.moved.columns.get(&key) {
            *expr = Expr::CompoundIdentifier(vec![quoted(&self.moved.table), quoted(name)]);
        }
        ControlFlow::Continue(())
    }
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
        assert!(sql.contains("FROM c JOIN a AS a2 ON c.id = a2.id) AS \"c\" ON b.id = \"c\".\"id\") AS \"b\""), "{sql}");
    }

    #[test]
    fn a_subquery_naming_its_own_relation_keeps_its_references() {
        let sql = "SELECT b.y FROM a JOIN (b JOIN c ON b.id = c.id) ON a.id = b.id WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.id)";
        assert!(rewritten(sql).ends_with("WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.id)"), "{}", rewritten(sql));
    }
}
