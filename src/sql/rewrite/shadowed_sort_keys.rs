//! Sort keys that read an input column a SELECT item replaces. In SQL,
//! `ORDER BY t.v`, `ORDER BY v + 0` and a bare `ORDER BY v` that names no
//! output column all read `v` as the FROM clause has it. polars-sql sorts
//! the frame after adding the SELECT's items to it, so an item Polars names
//! `v` (`b AS v`, or an unaliased `v * -1`) had replaced the column, and the
//! rows came back sorted by the item. Such a key is selected hidden beside
//! the items (Polars computes them all from the same input), sorted by
//! position, and left out again.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, OrderBy, OrderByKind, Query, Select, SelectItem, SetExpr, Statement};
use crate::sql::visit::{Visit, Visitor, VisitorMut};

use super::aggregates::holds_aggregate;
use super::names::polars_item_name;
use super::scope::*;

const HIDDEN: &str = "__floe_key_";

pub(super) fn unshadowed(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Keys { resolver });
}

struct Keys<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Keys<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let hidden = self.select_shadowed_keys(query);
        if !hidden.is_empty() {
            hiding(query, &hidden.iter().map(String::as_str).collect::<Vec<_>>(), "__floe_unshadowed", None);
        }
        ControlFlow::Continue(())
    }
}

impl Keys<'_> {
    /// Moves each shadowed sort key into the SELECT list as a hidden
    /// column it then sorts by position; the hidden columns' names. Grouped
    /// and DISTINCT queries sort their own output, which has no input
    /// columns left to shadow.
    fn select_shadowed_keys(&self, query: &mut Query) -> Vec<String> {
        let SetExpr::Select(select) = query.body.as_mut() else { return Vec::new() };
        let Some(OrderBy { kind: OrderByKind::Expressions(items), .. }) = &mut query.order_by else { return Vec::new() };
        let aggregates = select.projection.iter().filter_map(item_expr).any(holds_aggregate);
        if has_group_by(select) || aggregates || select.distinct.is_some() || lists_wildcard(select) {
            return Vec::new();
        }
        let Some(scopes) = self.resolver.scopes(&select.from) else { return Vec::new() };
        sort_keys_selected(select, items, HIDDEN, |key, select| shadowed(key, select, &scopes))
    }
}

/// Whether `key` reads an input column an item replaces, and nothing but
/// the FROM clause's columns (an output alias read inside an expression
/// exists only among the items, so such a key stays where it is).
fn shadowed(key: &Expr, select: &Select, scopes: &[Scope]) -> bool {
    match key {
        Expr::Value(_) => return false,
        Expr::Identifier(ident) if output_names(select).iter().flatten().any(|n| n.eq_ignore_ascii_case(&ident.value)) => {
            return false
        }
        _ => {}
    }
    let Some(reads) = input_columns(key, scopes) else { return false };
    reads.iter().any(|read| select.projection.iter().any(|item| replaces(item, read, scopes)))
}

/// A column of one relation: its position in the FROM clause and its name.
type Column = (usize, String);

/// Whether Polars names `item` as the column `read` but computes it otherwise.
fn replaces(item: &SelectItem, read: &Column, scopes: &[Scope]) -> bool {
    let Some((name, _)) = polars_item_name(item) else { return false };
    name.eq_ignore_ascii_case(&read.1) && item_expr(item).and_then(|expr| column(expr, scopes)).as_ref() != Some(read)
}

/// Every column `key` reads, or None where it reads something else: a
/// subquery, an outer or unknown name, an output alias.
fn input_columns(key: &Expr, scopes: &[Scope]) -> Option<Vec<Column>> {
    struct Reads<'s> {
        scopes: &'s [Scope],
        columns: Vec<Column>,
    }
    impl Visitor for Reads<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                return ControlFlow::Continue(());
            }
            match column(expr, self.scopes) {
                Some(read) => {
                    self.columns.push(read);
                    ControlFlow::Continue(())
                }
                None => ControlFlow::Break(()),
            }
        }
    }
    let mut reads = Reads { scopes, columns: Vec::new() };
    key.visit(&mut reads).is_continue().then_some(reads.columns)
}

/// The relation column a plain or qualified name reads, where exactly one
/// relation of the FROM clause has it.
fn column(expr: &Expr, scopes: &[Scope]) -> Option<Column> {
    let (qualifier, name) = match expr {
        Expr::Identifier(ident) => (None, &ident.value),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => (Some(&parts[parts.len() - 2].value), &parts[parts.len() - 1].value),
        _ => return None,
    };
    let mut owners = scopes.iter().enumerate().filter(|(_, scope)| scope.owns(name, qualifier.map(String::as_str)));
    match (owners.next(), owners.next()) {
        (Some((index, _)), None) => Some((index, name.to_ascii_lowercase())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        let columns = columns_of(&[("t1", &["a", "b", "c"]), ("t2", &["k", "v"])]);
        rewritten_over(sql, &columns, super::unshadowed)
    }

    #[test]
    fn a_key_an_item_replaces_is_selected_hidden() {
        assert_eq!(
            rewritten("SELECT a, b AS v FROM t1 JOIN t2 ON a = k ORDER BY t2.v DESC LIMIT 2"),
            "SELECT * EXCLUDE (__floe_key_1) FROM (SELECT a, b AS v, t2.v AS __floe_key_1 FROM t1 JOIN t2 ON a = k ORDER BY 3 DESC LIMIT 2) AS __floe_unshadowed"
        );
        // An expression reads input columns, an alias in SQL or not.
        assert_eq!(
            rewritten("SELECT a, c AS b FROM t1 ORDER BY b + 0, a"),
            "SELECT * EXCLUDE (__floe_key_1) FROM (SELECT a, c AS b, b + 0 AS __floe_key_1 FROM t1 ORDER BY 3, a) AS __floe_unshadowed"
        );
        // Polars names the unaliased `c * -1` `c`; SQL names no output `c`.
        assert_eq!(
            rewritten("SELECT a, c * -1 FROM t1 ORDER BY c"),
            "SELECT * EXCLUDE (__floe_key_1) FROM (SELECT a, c * -1, c AS __floe_key_1 FROM t1 ORDER BY 3) AS __floe_unshadowed"
        );
    }

    #[test]
    fn keys_the_items_leave_alone_stay() {
        for sql in [
            // Output names, as SQL means them.
            "SELECT a, c AS b FROM t1 ORDER BY b",
            "SELECT a, c * -1 AS z FROM t1 ORDER BY z + 1",
            // Items that are the column itself, however spelled.
            "SELECT a, b FROM t1 ORDER BY t1.a",
            "SELECT t1.b AS b FROM t1 ORDER BY b + 1",
            "SELECT x.a FROM t1 AS x JOIN t2 ON x.a = k ORDER BY a",
            // Grouped and DISTINCT queries sort their output; wildcards and subqueries stay.
            "SELECT a, sum(b) AS c FROM t1 GROUP BY a ORDER BY t1.a",
            "SELECT DISTINCT a, c AS b FROM t1 ORDER BY b",
            "SELECT *, c AS b FROM t1 ORDER BY t1.b",
            "SELECT a, c AS b FROM t1 ORDER BY (SELECT max(k) FROM t2 WHERE k = t1.b)",
            // A name no relation has, or one two relations have.
            "SELECT a, c AS b FROM t1 ORDER BY q.b",
            "SELECT a, c AS b FROM t1 JOIN t1 AS u ON t1.a = u.a ORDER BY b + 0",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
