//! `JOIN … USING (k)`: one column `k`, as SQL defines it. polars-sql kept
//! both sides' keys, so `SELECT *` listed `k` twice, and read an unqualified
//! `k` from the left side, NULL for a RIGHT or FULL join's rows only the
//! right side has. Where every relation's columns are known, the join is
//! written with ON, `k` is the left's key (INNER, LEFT), the right's
//! (RIGHT) or the first of them not NULL (FULL) wherever the SELECT names
//! it unqualified, and `*` lists each relation's columns, a key once (a
//! name an earlier relation has suffixed `:relation`, as polars-sql names
//! it).

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, Query, Select, SelectItem, SetExpr, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::resolver::{owner, visit_query, Resolver, Scope};
use super::scope::{join_constraint, joined_by, output_names, replace_outside_subqueries, selects_mut};
use super::Columns;

pub(super) fn merged_keys(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| UsingJoins { resolver });
}

struct UsingJoins<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for UsingJoins<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let plain = matches!(query.body.as_ref(), SetExpr::Select(_));
        let mut order_keys = Vec::new();
        for select in selects_mut(&mut query.body) {
            if let Some(keys) = self.merge(select) {
                if plain {
                    order_keys = keys;
                }
            }
        }
        // ORDER BY reads an output name first; a key no item names is the merged one.
        if let (Some(order_by), [select]) = (&mut query.order_by, selects_mut(&mut query.body).as_slice()) {
            let outputs: Vec<String> = output_names(select).into_iter().flatten().map(|n| n.to_ascii_lowercase()).collect();
            let keys: HashMap<String, Expr> = order_keys.into_iter().filter(|(k, _)| !outputs.contains(k)).collect();
            replace_keys(order_by, &keys);
        }
        ControlFlow::Continue(())
    }
}

impl UsingJoins<'_> {
    /// Rewrites a SELECT's USING joins; the keys and what each now reads.
    fn merge(&self, select: &mut Select) -> Option<Vec<(String, Expr)>> {
        let has_using = select.from.iter().flat_map(|t| &t.joins).any(|join| matches!(using(&join.join_operator), Some((_, Some(_)))));
        if !has_using {
            return None;
        }
        let scopes = self.resolver.scopes(&select.from)?;
        let mut merged: Vec<(String, Expr)> = Vec::new();
        let mut rewritten = select.from.clone();
        let mut at = 0;
        for table in &mut rewritten {
            let first = at;
            at += 1;
            for join in &mut table.joins {
                let right = &scopes[at];
                if let Some((kind, Some(keys))) = using(&join.join_operator) {
                    let mut conditions = Vec::new();
                    for key in keys {
                        let left = left_key(&key, &merged, &scopes[first..at])?;
                        let right_key = column(right, &key)?;
                        conditions.push(Expr::BinaryOp { left: Box::new(left.clone()), op: BinaryOperator::Eq, right: Box::new(right_key.clone()) });
                        let value = match kind {
                            Kind::Left => left,
                            Kind::Right => right_key,
                            Kind::Full => coalesce(left, right_key),
                        };
                        merged.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                        merged.push((key.to_ascii_lowercase(), value));
                    }
                    *join_constraint(&mut join.join_operator)? = JoinConstraint::On(joined_by(BinaryOperator::And, conditions)?);
                }
                at += 1;
            }
        }
        let projection = expanded(&select.projection, &merged, &scopes)?;
        select.from = rewritten;
        select.projection = projection;
        let keys: HashMap<String, Expr> = merged.iter().cloned().collect();
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(Expr::Identifier(name)) = item {
                if let Some(value) = keys.get(&name.value.to_ascii_lowercase()) {
                    *item = SelectItem::ExprWithAlias { expr: value.clone(), alias: name.clone() };
                }
            }
        }
        replace_keys(&mut select.projection, &keys);
        replace_keys(&mut select.selection, &keys);
        replace_keys(&mut select.group_by, &keys);
        replace_keys(&mut select.having, &keys);
        replace_keys(&mut select.qualify, &keys);
        for join in select.from.iter_mut().flat_map(|t| &mut t.joins) {
            replace_keys(&mut join.join_operator, &keys);
        }
        Some(merged)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    /// INNER and LEFT: the left's key.
    Left,
    Right,
    Full,
}

/// The join's kind and USING keys (None: a USING this pass does not take).
fn using(operator: &JoinOperator) -> Option<(Kind, Option<Vec<String>>)> {
    let (kind, constraint) = match operator {
        JoinOperator::Join(c) | JoinOperator::Inner(c) | JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (Kind::Left, c),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (Kind::Right, c),
        JoinOperator::FullOuter(c) => (Kind::Full, c),
        _ => return None,
    };
    let JoinConstraint::Using(names) = constraint else { return Some((kind, None)) };
    let keys = names.iter().map(|name| match name.0.as_slice() {
        [part] => part.as_ident().map(|ident| ident.value.clone()),
        _ => None,
    });
    Some((kind, keys.collect()))
}

/// The left side's `key`: merged by an earlier USING join, or the column of
/// the one relation so far that has it.
fn left_key(key: &str, merged: &[(String, Expr)], left: &[Scope]) -> Option<Expr> {
    if let Some((_, value)) = merged.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
        return Some(value.clone());
    }
    column(&left[owner(&Expr::Identifier(Ident::new(key)), left)?], key)
}

fn column(scope: &Scope, name: &str) -> Option<Expr> {
    let written = scope.columns.iter().find(|c| c.eq_ignore_ascii_case(name))?;
    Some(Expr::CompoundIdentifier(vec![ident(&scope.qualifier), ident(written)]))
}

fn ident(name: &str) -> Ident {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { Ident::new(name) } else { Ident::with_quote('"', name) }
}

fn coalesce(left: Expr, right: Expr) -> Expr {
    super::scope::call("coalesce", [left, right])
}

/// The SELECT list with `*` spelled out: each relation's columns, a key once
/// where the first relation that has it lists it (as DuckDB lists them).
/// None for a wildcard with options, which stays polars-sql's.
fn expanded(projection: &[SelectItem], merged: &[(String, Expr)], scopes: &[Scope]) -> Option<Vec<SelectItem>> {
    let mut items = Vec::new();
    for item in projection {
        match item {
            SelectItem::Wildcard(options) => {
                if *options != Default::default() {
                    return None;
                }
                let mut seen: Vec<String> = Vec::new();
                for scope in scopes {
                    for name in &scope.columns {
                        let lower = name.to_ascii_lowercase();
                        let key = merged.iter().find(|(k, _)| *k == lower);
                        items.push(match (key, seen.contains(&lower)) {
                            (Some(_), true) => continue,
                            (Some((_, value)), false) => SelectItem::ExprWithAlias { expr: value.clone(), alias: ident(name) },
                            (None, true) => SelectItem::ExprWithAlias {
                                expr: column(scope, name)?,
                                alias: Ident::with_quote('"', format!("{name}:{}", scope.qualifier)),
                            },
                            (None, false) => SelectItem::UnnamedExpr(column(scope, name)?),
                        });
                        seen.push(lower);
                    }
                }
            }
            other => items.push(other.clone()),
        }
    }
    Some(items)
}

/// Every unqualified name of a key outside subqueries reads the merged key.
fn replace_keys<T: VisitMut>(node: &mut T, keys: &HashMap<String, Expr>) {
    replace_outside_subqueries(node, |expr| {
        if let Expr::Identifier(name) = expr {
            if let Some(value) = keys.get(&name.value.to_ascii_lowercase()) {
                *expr = value.clone();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn merged(sql: &str) -> String {
        let columns = columns_of(&[("a", &["id", "name", "x"]), ("b", &["id", "name", "y"]), ("c", &["id", "z"])]);
        rewritten_over(sql, &columns, super::merged_keys)
    }

    #[test]
    fn the_key_of_a_right_or_full_join_is_the_side_that_has_it() {
        assert_eq!(
            merged("SELECT id, a.name FROM a RIGHT JOIN b USING (id) WHERE id > 2 ORDER BY id"),
            "SELECT b.id AS id, a.name FROM a RIGHT JOIN b ON a.id = b.id WHERE b.id > 2 ORDER BY id"
        );
        assert_eq!(
            merged("SELECT id + 1 AS k, count(*) FROM a FULL JOIN b USING (id) GROUP BY id + 1 ORDER BY id"),
            "SELECT coalesce(a.id, b.id) + 1 AS k, count(*) FROM a FULL JOIN b ON a.id = b.id GROUP BY coalesce(a.id, b.id) + 1 \
             ORDER BY coalesce(a.id, b.id)"
        );
        // A chain reads the key merged so far.
        assert_eq!(
            merged("SELECT id FROM a FULL JOIN b USING (id) LEFT JOIN c USING (id)"),
            "SELECT coalesce(a.id, b.id) AS id FROM a FULL JOIN b ON a.id = b.id LEFT JOIN c ON coalesce(a.id, b.id) = c.id"
        );
    }

    #[test]
    fn a_wildcard_lists_the_key_once() {
        assert_eq!(
            merged("SELECT * FROM a JOIN b USING (id)"),
            "SELECT a.id AS id, a.name, a.x, b.name AS \"name:b\", b.y FROM a JOIN b ON a.id = b.id"
        );
        assert_eq!(
            merged("SELECT * FROM c RIGHT JOIN a USING (id)"),
            "SELECT a.id AS id, c.z, a.name, a.x FROM c RIGHT JOIN a ON c.id = a.id"
        );
    }

    #[test]
    fn a_relation_a_filter_went_into_has_its_columns() {
        assert_eq!(
            merged("SELECT * FROM a JOIN (SELECT * FROM b WHERE y > 1) AS d USING (id)"),
            "SELECT a.id AS id, a.name, a.x, d.name AS \"name:d\", d.y FROM a JOIN (SELECT * FROM b WHERE y > 1) AS d ON a.id = d.id"
        );
    }

    #[test]
    fn unknown_relations_and_ambiguous_keys_stay_as_written() {
        for sql in [
            "SELECT * FROM a JOIN (SELECT * FROM b JOIN c ON b.y = c.z) AS d USING(id)",
            "SELECT id FROM a JOIN c ON a.x = c.z JOIN b USING(id)",
            "SELECT * EXCLUDE (x) FROM a JOIN b USING(id)",
            "SELECT a.id FROM a JOIN b ON a.id = b.id",
        ] {
            assert_eq!(merged(sql), sql);
        }
    }
}
