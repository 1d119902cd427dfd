//! `SELECT * EXCLUDE (c), <expr> AS c`: DuckDB's way to replace a column,
//! which it lists last. polars-sql refused it at the top of a query ("the
//! name 'c' passed to `LazyFrame.with_columns` is duplicate") and answered
//! a derived table so written without `c` at all. Where the wildcard's
//! relations' columns are known, the wildcard is spelled out, each column
//! qualified by its relation (a name an earlier relation has suffixed
//! `:relation`, as polars-sql names it).
//!
//! So is the statement's own wildcard beside an item named as one of its
//! columns (`SELECT *, id + 1 AS id`): SQL answers both, and the repeated
//! name is then marked apart as every repeated output name is
//! (`names::mark_repeated_outputs`); polars-sql refused it as a duplicate.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, JoinConstraint, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, Statement};
use sqlparser::ast::{TableFactor, TableWithJoins, WildcardAdditionalOptions};
use crate::sql::visit::VisitorMut;

use super::resolver::{factors, visit_query, Resolver, Scope};
use super::scope::{join_constraint, lists_wildcard, only_excluding, output_names, selects_mut};
use super::Columns;

pub(super) fn spelled_out(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Replaced { resolver, top: true });
}

struct Replaced<'a> {
    resolver: Resolver<'a>,
    /// Whether the next query visited is the statement's own, whose first
    /// SELECT names the output columns.
    top: bool,
}

impl VisitorMut for Replaced<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let top = std::mem::take(&mut self.top);
        let mut repeated = None;
        for (index, select) in selects_mut(&mut query.body).into_iter().enumerate() {
            if !lists_wildcard(select) {
                continue;
            }
            let Some(projection) = self.spelled_out(select) else { continue };
            let repeats = top && index == 0 && names_twice(&projection);
            if replaces_excluded(select) || repeats {
                select.projection = projection;
                repeated = repeats.then(|| select.projection.clone());
            }
        }
        if let Some(projection) = repeated {
            sorted_by_aliases(query, &projection);
        }
        ControlFlow::Continue(())
    }
}

/// A sort key naming an item's alias that a listed column also has sorts by
/// the aliased item, as DuckDB reads it: Polars would sort by the first
/// column of that name, the wildcard's. Written as the item's position.
fn sorted_by_aliases(query: &mut Query, projection: &[SelectItem]) {
    let Some(sqlparser::ast::OrderBy { kind: sqlparser::ast::OrderByKind::Expressions(keys), .. }) = &mut query.order_by else { return };
    for key in keys {
        let Expr::Identifier(name) = &key.expr else { continue };
        let aliased = projection.iter().position(|item| matches!(item, SelectItem::ExprWithAlias { alias, .. } if alias.value.eq_ignore_ascii_case(&name.value)));
        if let Some(position) = aliased {
            key.expr = Expr::value(sqlparser::ast::Value::Number((position + 1).to_string(), false));
        }
    }
}

impl Replaced<'_> {
    fn spelled_out(&self, select: &Select) -> Option<Vec<SelectItem>> {
        if !select.from.iter().all(|table| self.names_whole(table)) {
            return None;
        }
        let scopes = factors(&select.from).map(|factor| self.resolver.whole_scope(factor)).collect::<Option<Vec<_>>>()?;
        let mut projection = Vec::new();
        let mut seen = Vec::new();
        for item in &select.projection {
            let (of, options) = match item {
                SelectItem::Wildcard(options) => (scopes.iter().collect::<Vec<_>>(), options),
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), options) => {
                    let qualifier = name.0.last()?.as_ident()?;
                    (scopes.iter().filter(|scope| scope.qualifier.eq_ignore_ascii_case(&qualifier.value)).collect(), options)
                }
                other => {
                    projection.push(other.clone());
                    continue;
                }
            };
            projection.extend(listed(&of, &excluded(options)?, &mut seen)?);
        }
        Some(projection)
    }

    /// Whether a wildcard names `table`'s columns as its relations do: not
    /// renamed by an alias's column list, not merged by USING or NATURAL
    /// (`using_joins.rs` writes those it can with ON first).
    fn names_whole(&self, table: &TableWithJoins) -> bool {
        let renamed = |factor: &TableFactor| match factor {
            TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => !alias.columns.is_empty(),
            _ => false,
        };
        let merged = table.joins.iter().any(|join| matches!(join_constraint(&mut join.join_operator.clone()), Some(JoinConstraint::Using(_) | JoinConstraint::Natural)));
        !merged && factors(std::slice::from_ref(table)).all(|factor| !renamed(factor))
    }
}

/// The columns of `scopes` but `excluded`, qualified, a name `seen` before
/// suffixed; None where no scope is named.
fn listed(scopes: &[&Scope], excluded: &[String], seen: &mut Vec<String>) -> Option<Vec<SelectItem>> {
    let mut items = Vec::new();
    for scope in scopes {
        for column in &scope.columns {
            let lower = column.to_ascii_lowercase();
            if excluded.contains(&lower) {
                continue;
            }
            let read = Expr::CompoundIdentifier(vec![quoted(&scope.qualifier), quoted(column)]);
            items.push(match seen.contains(&lower) {
                true => SelectItem::ExprWithAlias { expr: read, alias: quoted(&format!("{column}:{}", scope.qualifier)) },
                false => SelectItem::UnnamedExpr(read),
            });
            seen.push(lower);
        }
    }
    (!scopes.is_empty()).then_some(items)
}

fn quoted(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// Whether a wildcard of the SELECT leaves out a name another item gives
/// its column.
fn replaces_excluded(select: &Select) -> bool {
    let named: Vec<String> = output_names(select).into_iter().flatten().map(|name| name.to_ascii_lowercase()).collect();
    select.projection.iter().any(|item| match item {
        SelectItem::Wildcard(options) | SelectItem::QualifiedWildcard(_, options) => {
            excluded(options).is_some_and(|excluded| excluded.iter().any(|name| named.contains(name)))
        }
        _ => false,
    })
}

/// Whether two items of `projection` have one name (a spelled-out
/// wildcard's names are apart from each other already).
fn names_twice(projection: &[SelectItem]) -> bool {
    let names: Vec<String> = projection.iter().filter_map(|item| super::names::polars_name(item)).map(|(name, _)| name.to_ascii_lowercase()).collect();
    names.iter().enumerate().any(|(i, name)| names[..i].contains(name))
}

/// The names a wildcard with no option but EXCLUDE leaves out, lowercased.
fn excluded(options: &WildcardAdditionalOptions) -> Option<Vec<String>> {
    only_excluding(options)?.iter().map(|name| Some(name.0.last()?.as_ident()?.value.to_ascii_lowercase())).collect()
}

#[cfg(test)]
mod tests {
    use super::super::scope::columns_of;

    #[test]
    fn a_column_excluded_and_selected_again_spells_the_wildcard_out() {
        let columns = columns_of(&[("t", &["a", "B", "c"]), ("u", &["k", "v"])]);
        let rewritten = |sql: &str| {
            let mut statement = crate::sql::parse::parse_single(sql).unwrap();
            super::spelled_out(&mut statement, &columns);
            statement.to_string()
        };
        assert_eq!(
            rewritten("SELECT * FROM (SELECT * EXCLUDE (c), c + 1 AS c FROM t) AS x"),
            r#"SELECT * FROM (SELECT "t"."a", "t"."B", c + 1 AS c FROM t) AS x"#
        );
        assert_eq!(
            rewritten("SELECT t.* EXCLUDE (b), u.* EXCLUDE (v), u.v AS b FROM t JOIN u ON t.a = u.k"),
            r#"SELECT "t"."a", "t"."c", "u"."k", u.v AS b FROM t JOIN u ON t.a = u.k"#
        );
        assert_eq!(
            rewritten("WITH w AS (SELECT * FROM t WHERE a > 1) SELECT * EXCLUDE (c), 1 AS c FROM w"),
            r#"WITH w AS (SELECT * FROM t WHERE a > 1) SELECT "w"."a", "w"."B", 1 AS c FROM w"#
        );
        assert_eq!(
            rewritten("SELECT * EXCLUDE (c), 1 AS c FROM t JOIN t AS s ON t.a = s.a"),
            r#"SELECT "t"."a", "t"."B", "s"."a" AS "a:s", "s"."B" AS "B:s", 1 AS c FROM t JOIN t AS s ON t.a = s.a"#
        );
        assert_eq!(rewritten("SELECT *, a + 1 AS a FROM t ORDER BY a, c"), r#"SELECT "t"."a", "t"."B", "t"."c", a + 1 AS a FROM t ORDER BY 4, c"#);
        for kept in [
            "SELECT * FROM (SELECT *, a + 1 AS a FROM t) AS x",
            "SELECT *, a + 1 AS d FROM t",
            "SELECT * EXCLUDE (c), c + 1 AS d FROM t",
            "SELECT * EXCLUDE (c) REPLACE (a + 1 AS a), c + 1 AS c FROM t",
            "WITH w AS (SELECT *, 1 + 1 FROM t) SELECT * EXCLUDE (c), 1 AS c FROM w",
            "SELECT * EXCLUDE (c), 1 AS c FROM t JOIN u USING(k)",
            "SELECT * EXCLUDE (q), 1 AS q FROM t AS x (p, q)",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }
}
