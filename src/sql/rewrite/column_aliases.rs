//! `FROM t AS u(p, q)`: t's columns under the names the alias lists, in
//! order (the rest keep theirs). polars-sql passed over the list for a
//! table, so `u.p` failed and, where the names were t's own in another
//! order (`t AS u(b, a)`), `a` read t's `a` — a wrong answer. Where t's
//! columns are known, it is a derived table that renames them, which
//! polars-sql takes.

use std::ops::ControlFlow;

use sqlparser::ast::{Query, TableFactor};
use crate::sql::visit::VisitorMut;

use super::resolver::{visit_query, Resolver};
use super::scope::{parse_query, selects_mut};
use super::Columns;

pub(super) fn renamed(statement: &mut sqlparser::ast::Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Aliases { resolver });
}

struct Aliases<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Aliases<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        for select in selects_mut(&mut query.body) {
            for table in &mut select.from {
                self.rename(&mut table.relation);
                for join in &mut table.joins {
                    self.rename(&mut join.relation);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl Aliases<'_> {
    fn rename(&self, factor: &mut TableFactor) {
        let TableFactor::Table { name, alias: Some(alias), args: None, .. } = &*factor else { return };
        if alias.columns.is_empty() {
            return;
        }
        // The table's own names: a scope never reads an alias's column list.
        let Some(scope) = self.resolver.whole_scope(factor) else { return };
        let (name, alias) = (name.clone(), alias.clone());
        if alias.columns.len() > scope.columns.len() {
            return;
        }
        let quoted = |name: &str| sqlparser::ast::Ident::with_quote('"', name);
        let items: Vec<String> = scope
            .columns
            .iter()
            .enumerate()
            .map(|(at, column)| match alias.columns.get(at) {
                Some(renamed) => format!("{} AS {}", quoted(column), renamed.name),
                None => quoted(column).to_string(),
            })
            .collect();
        let Some(subquery) = parse_query(&format!("SELECT {} FROM {name}", items.join(", "))) else { return };
        let mut alias = alias.clone();
        alias.columns.clear();
        *factor = TableFactor::Derived { lateral: false, subquery: Box::new(subquery), alias: Some(alias), sample: None };
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::columns_of;

    #[test]
    fn a_tables_column_list_renames_its_columns_in_a_derived_table() {
        let columns = columns_of(&[("t", &["a", "B", "c"])]);
        let rewritten = |sql: &str| {
            let mut statement = crate::sql::parse::parse_single(sql).unwrap();
            super::renamed(&mut statement, &columns);
            statement.to_string()
        };
        assert_eq!(
            rewritten("SELECT a FROM t AS u (B, a) JOIN t ON t.a = u.a"),
            r#"SELECT a FROM (SELECT "a" AS B, "B" AS a, "c" FROM t) AS u JOIN t ON t.a = u.a"#
        );
        for kept in ["SELECT a FROM t AS u", "SELECT a FROM t AS u (p, q, r, s)", "SELECT a FROM nowhere AS u (p)"] {
            assert_eq!(rewritten(kept), kept);
        }
    }
}
