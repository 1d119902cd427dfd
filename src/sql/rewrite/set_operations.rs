//! `INTERSECT ALL` and `EXCEPT ALL`, which polars-sql refuses, as the
//! distinct operations over rows numbered within their duplicates: the k-th
//! copy of a row survives INTERSECT when both sides have k copies, and
//! EXCEPT when the left has more than k − 1 copies the right lacks — exactly
//! min(m, n) and max(m − n, 0) copies, as SQL defines the ALL forms; and,
//! at planning time, the distinct operations over columns that may differ
//! in type as groupings of the sides' UNION ALL.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, Query, SelectItem, SetExpr, SetOperator, SetQuantifier, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::resolver::{visit_query, Resolver};
use super::scope::{branch_selects_mut, has_group_by, item_expr, leftmost_select, output_names, parse_query, ColumnKind, Columns};

const COPY: &str = "__floe_copy";
const LATER: &str = "__floe_later_";
const FROM_LEFT: &str = "__floe_from_left";
const FROM_RIGHT: &str = "__floe_from_right";

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut SetOperations);
}

struct SetOperations;

impl VisitorMut for SetOperations {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_body(&mut query.body);
        // Without the first SELECT's names (an unnamed item), its later ones are named apart.
        if query.order_by.is_none() || !named_as_the_first(&mut query.body) {
            later_expressions_named(&mut query.body);
        }
        ControlFlow::Continue(())
    }
}

/// A set operation's columns are named by its first SELECT, and its ORDER
/// BY uses those names; polars-sql looked them up in the last SELECT
/// (`SELECT x AS a … UNION SELECT y … ORDER BY a` found no `a`). Every
/// other SELECT's items get the first one's names. Whether they all did.
fn named_as_the_first(body: &mut SetExpr) -> bool {
    if !matches!(body, SetExpr::SetOperation { .. }) {
        return true;
    }
    let Some(names) = leftmost_select(body).and_then(|first| output_names(first).into_iter().collect::<Option<Vec<String>>>()) else { return false };
    for select in branches_mut(body).into_iter().skip(1) {
        if select.projection.len() != names.len() {
            return false;
        }
        for (item, name) in select.projection.iter_mut().zip(&names) {
            let expr = match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
                _ => return false,
            };
            *item = SelectItem::ExprWithAlias { expr, alias: Ident::with_quote('"', name) };
        }
    }
    true
}

/// Only the first SELECT names a set operation's columns, so a later one
/// may repeat an expression (`…, CAST(NULL AS VARCHAR), CAST(NULL AS
/// VARCHAR)`) or a name (`UNION ALL SELECT id, id`); polars-sql names each
/// by its text and refused the twins. A later SELECT's unnamed expressions,
/// and each repeat of a name in it, get names of their own, which no other
/// part of that SELECT can refer to.
fn later_expressions_named(body: &mut SetExpr) {
    if !matches!(body, SetExpr::SetOperation { .. }) {
        return;
    }
    for select in branches_mut(body).into_iter().skip(1) {
        let mut named = std::collections::HashSet::new();
        for (position, item) in select.projection.iter_mut().enumerate() {
            let alias = Ident::new(format!("{LATER}{position}"));
            match item {
                SelectItem::UnnamedExpr(expr) => {
                    let repeated = match expr {
                        Expr::Identifier(name) => !named.insert(name.value.clone()),
                        Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|name| !named.insert(name.value.clone())),
                        _ => true,
                    };
                    if repeated {
                        *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
                    }
                }
                SelectItem::ExprWithAlias { alias: written, .. } if !named.insert(written.value.clone()) => *written = alias,
                _ => {}
            }
        }
    }
}

/// A set operation's SELECTs, those in parentheses too.
fn branches_mut(body: &mut SetExpr) -> Vec<&mut sqlparser::ast::Select> {
    branch_selects_mut(body, true)
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
    let Some(names) = names(left) else { return };
    let Some(right) = named_as(right, &names) else { return };
    // Every column named, the right side's as the left's: the
    // planning-time passes read a side's columns by name
    // (`of_unlike_columns` groups a union of sides whose types differ), and
    // so does a set operation around this one.
    let names = names.join(", ");
    let numbered = |side: &str, alias: &str| {
        format!("SELECT {names}, row_number() OVER (PARTITION BY {names}) AS {COPY} FROM ({side}) AS {alias}")
    };
    let sql = format!(
        "SELECT {names} FROM ({} {op} {}) AS __floe_set",
        numbered(&unparenthesized(left), "__floe_left"),
        numbered(&right, "__floe_right"),
    );
    if let Some(query) = parse_query(&sql) {
        *body = *query.body;
    }
}

/// At planning time: INTERSECT and EXCEPT whose sides' columns are not all
/// catalog columns of one kind each (`as_grouped_union`). Where they are,
/// polars-sql's join runs them faster (by a tenth to a third, measured).
pub(super) fn of_unlike_columns(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Typed { resolver });
}

struct Typed<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Typed<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.rewrite(&mut query.body);
        ControlFlow::Continue(())
    }
}

impl Typed<'_> {
    fn rewrite(&self, body: &mut SetExpr) {
        let SetExpr::SetOperation { op, set_quantifier, left, right } = body else { return };
        self.rewrite(left);
        self.rewrite(right);
        let distinct = !matches!(set_quantifier, SetQuantifier::All);
        if !distinct || !matches!(op, SetOperator::Intersect | SetOperator::Except) {
            return;
        }
        let alike = matches!((self.kinds(left), self.kinds(right)), (Some(l), Some(r)) if l == r);
        if alike {
            return;
        }
        if let Some(grouped) = as_grouped_union(left, right, matches!(op, SetOperator::Intersect)) {
            *body = grouped;
        }
    }

    /// The kinds of a SELECT's columns, where each item is a catalog column
    /// of a kind Polars joins with its like (a DECIMAL's precision is not known).
    fn kinds(&self, side: &SetExpr) -> Option<Vec<ColumnKind>> {
        let SetExpr::Select(select) = side else { return None };
        let relations = self.resolver.relations(&select.from);
        let kind = |item: &SelectItem| item_expr(item).and_then(|e| self.resolver.column_kind(e, &relations));
        select.projection.iter().map(|item| kind(item).filter(|k| !matches!(k, ColumnKind::Decimal(_)))).collect()
    }
}

/// `l INTERSECT r` and `l EXCEPT r` as a grouping of `l UNION ALL r` by
/// every column, kept where the rows came from both sides (from the left
/// only). polars-sql joins the sides on every column, and refused columns
/// of different types (`INTEGER` against `DOUBLE`: "datatypes of join keys
/// don't match") that UNION ALL brings to a common type, as SQL does. A
/// grouping, like the set operations, takes NULLs for equal.
fn as_grouped_union(left: &SetExpr, right: &SetExpr, intersect: bool) -> Option<SetExpr> {
    let left_names = names(left)?;
    let right = named_as(right, &left_names)?;
    let left = unparenthesized(left);
    let columns = left_names.join(", ");
    let right_kept = if intersect { 1 } else { 0 };
    let sql = format!(
        "SELECT {columns} FROM (SELECT {columns}, 1 AS {FROM_LEFT}, 0 AS {FROM_RIGHT} FROM ({left}) AS __floe_left \
         UNION ALL SELECT {columns}, 0 AS {FROM_LEFT}, 1 AS {FROM_RIGHT} FROM ({right}) AS __floe_right) AS __floe_set \
         GROUP BY {columns} HAVING max({FROM_LEFT}) = 1 AND max({FROM_RIGHT}) = {right_kept}"
    );
    parse_query(&sql).map(|query| *query.body)
}

/// The right side of a set operation with its columns named as the left's
/// (`wanted`, quoted): the items of the SELECT that names its columns
/// renamed, or the side read by its own names.
fn named_as(side: &SetExpr, wanted: &[String]) -> Option<String> {
    let mut renamed = side.clone();
    if let Some(select) = naming_select(&mut renamed) {
        if select.projection.len() != wanted.len() {
            return None;
        }
        for (item, name) in select.projection.iter_mut().zip(wanted) {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { return None };
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', name.trim_matches('"')) };
        }
        return Some(unparenthesized(&renamed));
    }
    let own = names(side)?;
    let renamed: Vec<String> = own.iter().zip(wanted).map(|(own, name)| format!("{own} AS {name}")).collect();
    (own.len() == wanted.len()).then(|| format!("SELECT {} FROM ({}) AS __floe_named", renamed.join(", "), unparenthesized(side)))
}

/// The SELECT whose items name a side's columns (its leftmost), where no
/// clause could read an item by the name it would lose (its own GROUP BY,
/// HAVING or QUALIFY, an ORDER BY of a parenthesized query around it).
fn naming_select(side: &mut SetExpr) -> Option<&mut sqlparser::ast::Select> {
    match side {
        SetExpr::Select(select) => (!has_group_by(select) && select.having.is_none() && select.qualify.is_none()).then_some(select.as_mut()),
        SetExpr::SetOperation { left, .. } => naming_select(left),
        SetExpr::Query(query) if query.order_by.is_none() => naming_select(&mut query.body),
        _ => None,
    }
}

/// A set operation's side as the query a derived table holds: a
/// parenthesized one without its parentheses, which polars-sql would read
/// as a query around the query, planned where Floe's functions do not reach.
fn unparenthesized(side: &SetExpr) -> String {
    match side {
        SetExpr::Query(query) => query.to_string(),
        other => other.to_string(),
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
    fn intersect_and_except_of_unlike_columns_group_the_union_of_their_sides() {
        use crate::sql::rewrite::scope::{rewritten_over, ColumnKind, Columns};
        let mut columns = Columns::default();
        columns.insert(vec!["t".into()], vec!["a".into(), "b".into()], &[ColumnKind::Integer, ColumnKind::Other]);
        columns.insert(vec!["u".into()], vec!["c".into(), "d".into()], &[ColumnKind::Integer, ColumnKind::Other]);
        columns.insert(vec!["v".into()], vec!["f".into()], &[ColumnKind::Float]);
        let rewritten = |sql| rewritten_over(sql, &columns, super::of_unlike_columns);
        assert_eq!(
            rewritten("SELECT a, b AS x FROM t EXCEPT SELECT c, d || 'x' FROM u ORDER BY a"),
            "SELECT \"a\", \"x\" FROM (SELECT \"a\", \"x\", 1 AS __floe_from_left, 0 AS __floe_from_right FROM (SELECT a, b AS x FROM t) AS __floe_left \
             UNION ALL SELECT \"a\", \"x\", 0 AS __floe_from_left, 1 AS __floe_from_right FROM (SELECT c AS \"a\", d || 'x' AS \"x\" FROM u) AS __floe_right) AS __floe_set \
             GROUP BY \"a\", \"x\" HAVING max(__floe_from_left) = 1 AND max(__floe_from_right) = 0 ORDER BY a"
        );
        assert!(rewritten("SELECT a FROM t INTERSECT SELECT f FROM v").ends_with("max(__floe_from_right) = 1"));
        // Columns of one kind each: polars-sql's join. An unnamed expression's
        // name is polars-sql's to give: as written.
        for sql in ["SELECT a, b FROM t INTERSECT SELECT c, d FROM u", "SELECT a + 1 FROM t INTERSECT SELECT f FROM v"] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn intersect_all_numbers_copies() {
        let sql = crate::sql::rewrite::scope::rewritten_by("SELECT a FROM t INTERSECT ALL SELECT b FROM u", super::rewrite);
        assert!(sql.contains("PARTITION BY \"a\") AS __floe_copy FROM (SELECT a FROM t)"), "{sql}");
        assert!(sql.starts_with("SELECT \"a\" FROM (SELECT \"a\", row_number()"), "{sql}");
        assert!(sql.contains("INTERSECT SELECT \"a\", row_number() OVER (PARTITION BY \"a\") AS __floe_copy FROM (SELECT b AS \"a\" FROM u)"), "{sql}");
        // Below another set operation, its columns named (a parenthesized side as the query it holds).
        let sql = crate::sql::rewrite::scope::rewritten_by("SELECT a FROM t EXCEPT ALL (SELECT b FROM u INTERSECT ALL SELECT c FROM v)", super::rewrite);
        assert!(sql.contains("EXCEPT SELECT \"a\", row_number() OVER (PARTITION BY \"a\") AS __floe_copy FROM (SELECT \"b\" AS \"a\" FROM (SELECT"), "{sql}");
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
