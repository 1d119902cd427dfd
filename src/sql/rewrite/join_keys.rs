//! Join keys written as Polars can join on them, once every pass that
//! writes or reorders joins has run:
//!
//! - keys of different numeric types (`o.id = k.amount`: INTEGER against
//!   DECIMAL or DOUBLE, or DECIMALs of other precisions), which SQL compares
//!   as the wider type and Polars refuses ("datatypes of join keys don't
//!   match"), are both cast to it: DECIMAL(38, the larger scale) for an
//!   integer or a decimal against a decimal, DOUBLE where either side is a
//!   float. Only catalog columns' types are known; other keys stay. So are
//!   the sides of an ON's other comparisons (`o.id < k.amount`), which
//!   Polars evaluates inside the join (`join_where`) and refuses alike;
//! - a key or a compared side that is an expression over a column an earlier relation of the
//!   join also has (`CASE WHEN <c> THEN t1.id END`, which
//!   `outer_join_conditions.rs` writes for a condition on the preserved
//!   side; a cast above; `t1.id + 0` as written): polars-sql names that
//!   column `id:t1` in the joined frame and reads `t1.id` as
//!   `col("id:t1").alias("id")`, an alias Polars refuses inside a join key
//!   ("'alias' is not allowed in a join key"). There the reference reads
//!   the frame's name itself;
//! - an outer column of such a suffixed name in the correlation of a WHERE
//!   conjunct's `[NOT] EXISTS` or `[NOT] IN` subquery, which polars-sql
//!   turns into semi and anti join keys by the bare name.
//!
//! And before the subquery passes (`memberships_joinable`): the two sides of
//! `x [NOT] IN (SELECT y …)` cast to their wider type alike (DECIMALs then
//! to text), as every form
//! those passes give it joins on them (a semi join; correlated, a join to
//! counts keyed by the casts, `correlated_in.rs`).

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, Select, SelectItem, Statement, TableFactor, TableWithJoins,
};
use crate::sql::visit::VisitorMut;

use super::columns::ColumnKind;
use super::resolver::{factors, visit_query, Resolver, Scope};
use super::scope::{is_column, is_comparison, join_constraint, parse_expr, reads_column, replace_outside_subqueries, selects_mut};
use super::semi_join_filters::for_each_semi_join;
use super::Columns;

pub(super) fn joinable(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Keys { resolver });
}

struct Keys<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Keys<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let relations = self.resolver.relations(&select.from);
        let chains: Vec<Vec<Suffixed>> = select.from.iter_mut().map(|table| self.key_chain(table, &relations)).collect();
        // One chain: its frame is the one the WHERE's subqueries correlate with.
        if let (Some(selection), [suffixed]) = (&mut select.selection, chains.as_slice()) {
            self.correlations_read_suffixed(selection, suffixed);
        }
        ControlFlow::Continue(())
    }
}

/// A column of an earlier relation, by qualifier and name, and what the
/// joined frame calls it.
#[derive(Clone)]
struct Suffixed {
    qualifier: String,
    column: String,
    name: String,
}

impl Keys<'_> {
    /// Rewrites the chain's join keys; answers the columns its frame suffixes
    /// (those known: none past a relation of unknown columns).
    fn key_chain(&self, table: &mut TableWithJoins, relations: &[(TableFactor, Option<Scope>)]) -> Vec<Suffixed> {
        let Some(first) = self.resolver.scope(&table.relation) else { return Vec::new() };
        let mut joined: HashSet<String> = first.columns.iter().map(|c| c.to_ascii_lowercase()).collect();
        let mut suffixed: Vec<Suffixed> = Vec::new();
        for join in &mut table.joins {
            let scope = self.resolver.scope(&join.relation);
            if let Some(JoinConstraint::On(on)) = join_constraint(&mut join.join_operator) {
                for_each_comparison(on, &mut |left, right| {
                    self.widen(left, right, relations);
                    for side in [left, right].into_iter().filter(|side| !is_column(side)) {
                        read_suffixed(side, &suffixed);
                    }
                });
            }
            // Past a relation of unknown columns, no name's place is known.
            let Some(scope) = scope else { return suffixed };
            let keeps_right = !matches!(
                join.join_operator,
                JoinOperator::Semi(_) | JoinOperator::LeftSemi(_) | JoinOperator::Anti(_) | JoinOperator::LeftAnti(_)
            );
            for column in scope.columns.iter().filter(|_| keeps_right) {
                let lower = column.to_ascii_lowercase();
                if joined.contains(&lower) {
                    let name = format!("{column}:{}", scope.qualifier);
                    joined.insert(name.to_ascii_lowercase());
                    suffixed.push(Suffixed { qualifier: scope.qualifier.to_ascii_lowercase(), column: lower, name });
                } else {
                    joined.insert(lower);
                }
            }
        }
        suffixed
    }

    /// polars-sql plans a WHERE conjunct `[NOT] EXISTS` or `[NOT] IN` whose
    /// subquery is correlated by equalities as a semi or anti join, but keys
    /// it by each outer column's bare name: `s.id` as `id`, in a joined
    /// frame the first relation's `id` rather than `id:s` (no row matched).
    /// Outer columns the frame suffixes are written as it names them.
    fn correlations_read_suffixed(&self, conjunct: &mut Expr, suffixed: &[Suffixed]) {
        for_each_semi_join(conjunct, &mut |select| {
            // An inner relation of unknown name could hide an outer one.
            let Some(inner) = factors(&select.from).map(|f| self.resolver.scope(f)).collect::<Option<Vec<Scope>>>() else { return };
            let hidden = |s: &&Suffixed| inner.iter().any(|scope| scope.qualifier.eq_ignore_ascii_case(&s.qualifier));
            let outer: Vec<Suffixed> = suffixed.iter().filter(|s| !hidden(s)).cloned().collect();
            if let Some(selection) = &mut select.selection {
                read_suffixed(selection, &outer);
            }
        });
    }

    /// Casts the two sides of a comparison of two relations' values to their wider type.
    fn widen(&self, left: &mut Expr, right: &mut Expr, relations: &[(TableFactor, Option<Scope>)]) {
        let kinds = (side_kind(&self.resolver, left, relations), side_kind(&self.resolver, right, relations));
        let (Some(left_kind), Some(right_kind)) = kinds else { return };
        let Some(wider) = wider(left_kind, right_kind) else { return };
        for side in [left, right] {
            if let Some(cast) = parse_expr(&format!("CAST({side} AS {wider})")) {
                *side = cast;
            }
        }
    }
}

pub(super) fn memberships_joinable(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Memberships { resolver });
}

struct Memberships<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Memberships<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let relations = self.resolver.relations(&select.from);
        replace_outside_subqueries(select, |expr| {
            let Expr::InSubquery { expr: value, subquery, .. } = expr else { return };
            // Each SELECT of a set operation gives members (`IN (SELECT a … UNION SELECT b …)`).
            let mut members = Vec::new();
            for inner in selects_mut(subquery.body.as_mut()) {
                let inner_relations = self.resolver.relations(&inner.from);
                let [SelectItem::UnnamedExpr(member) | SelectItem::ExprWithAlias { expr: member, .. }] = inner.projection.as_mut_slice() else {
                    return;
                };
                let Some(kind) = side_kind(&self.resolver, member, &inner_relations) else { return };
                members.push((member, kind));
            }
            let Some(value_kind) = side_kind(&self.resolver, value, &relations) else { return };
            let Some(&(_, member_kind)) = members.first() else { return };
            if members.iter().any(|(_, kind)| *kind != member_kind) {
                return;
            }
            let Some(wider) = wider(value_kind, member_kind) else { return };
            // DECIMALs compare as their text at the one scale: where polars-sql
            // tests the set itself (under OR, beside joins, a UNION of members) it
            // asks whether it holds NULL with a `list.contains` it cannot type for
            // DECIMAL values.
            let as_text = wider.starts_with("DECIMAL");
            for side in std::iter::once(value.as_mut()).chain(members.into_iter().map(|(member, _)| member)) {
                let cast = format!("CAST({side} AS {wider})");
                let cast = if as_text { format!("CAST({cast} AS VARCHAR)") } else { cast };
                if let Some(cast) = parse_expr(&cast) {
                    *side = cast;
                }
            }
        });
        ControlFlow::Continue(())
    }
}

/// The kind of a compared side that reads a column (a constant's is left
/// to Polars).
fn side_kind(resolver: &Resolver, side: &Expr, relations: &[(TableFactor, Option<Scope>)]) -> Option<ColumnKind> {
    reads_column(side).then(|| resolver.value_kind(side, relations)).flatten()
}

/// Calls `each` with the two sides of every comparison among `on`'s
/// conjuncts: equalities are keys, and Polars compares the others inside
/// the join (`join_where`), where it refuses what it refuses in a key
/// ("'join_where' cannot compare Int64 with Float64", "'alias' is not
/// allowed in a join key").
fn for_each_comparison(on: &mut Expr, each: &mut impl FnMut(&mut Expr, &mut Expr)) {
    match on {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            for_each_comparison(left, each);
            for_each_comparison(right, each);
        }
        Expr::Nested(inner) => for_each_comparison(inner, each),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => each(left, right),
        _ => {}
    }
}

/// The type two kinds of keys join as, where Polars would refuse them.
pub(super) fn wider(left: ColumnKind, right: ColumnKind) -> Option<String> {
    use ColumnKind::*;
    match (left, right) {
        (Decimal(a), Decimal(b)) => Some(format!("DECIMAL(38, {})", a.max(b))),
        (Decimal(scale), Integer) | (Integer, Decimal(scale)) => Some(format!("DECIMAL(38, {scale})")),
        (Float, Integer | Decimal(_)) | (Integer | Decimal(_), Float) => Some("DOUBLE".into()),
        _ => None,
    }
}

/// `side` reading each suffixed column by the joined frame's name.
/// Not inside a query nested in `side`, whose relations may have the same names.
fn read_suffixed(side: &mut Expr, suffixed: &[Suffixed]) {
    replace_outside_subqueries(side, |expr| {
        if let Expr::CompoundIdentifier(parts) = expr {
            if let [.., qualifier, column] = parts.as_slice() {
                let (qualifier, column) = (qualifier.value.to_ascii_lowercase(), column.value.to_ascii_lowercase());
                if let Some(found) = suffixed.iter().find(|s| s.qualifier == qualifier && s.column == column) {
                    *expr = Expr::Identifier(Ident::with_quote('"', found.name.clone()));
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::columns::ColumnKind;
    use super::super::scope::{columns_of, rewritten_over};
    use super::super::Columns;

    #[test]
    fn keys_of_different_numeric_types_join_as_the_wider() {
        let mut columns = Columns::default();
        columns.insert(vec!["o".into()], vec!["oid".into(), "f".into()], &[ColumnKind::Integer, ColumnKind::Float]);
        columns.insert(vec!["k".into()], vec!["kid".into(), "d".into()], &[ColumnKind::Decimal(2), ColumnKind::Decimal(4)]);
        let sql = "SELECT * FROM o JOIN k ON o.oid = k.kid LEFT JOIN k AS k2 ON k2.d = k.kid AND o.f = k2.kid AND o.oid = o.oid \
                   JOIN o AS o3 ON o3.f = k2.kid";
        // k2.kid, beside k.kid, is `kid:k2` once k2 is joined; cast, it is an expression key.
        assert_eq!(
            rewritten_over(sql, &columns, super::joinable),
            "SELECT * FROM o JOIN k ON CAST(o.oid AS DECIMAL(38,2)) = CAST(k.kid AS DECIMAL(38,2)) \
             LEFT JOIN k AS k2 ON CAST(k2.d AS DECIMAL(38,4)) = CAST(k.kid AS DECIMAL(38,4)) \
             AND CAST(o.f AS DOUBLE) = CAST(k2.kid AS DOUBLE) AND o.oid = o.oid \
             JOIN o AS o3 ON CAST(o3.f AS DOUBLE) = CAST(\"kid:k2\" AS DOUBLE)"
        );
        // An unqualified name two relations have is not guessed.
        let sql = "SELECT * FROM o JOIN k AS k1 ON kid = o.oid JOIN k AS k2 ON kid = k2.d";
        assert!(!rewritten_over(sql, &columns, super::joinable).contains("k2.d AS"));
    }

    #[test]
    fn comparisons_in_a_join_condition_compare_the_wider_type() {
        let mut columns = Columns::default();
        columns.insert(vec!["o".into()], vec!["oid".into(), "f".into()], &[ColumnKind::Integer, ColumnKind::Float]);
        columns.insert(vec!["k".into()], vec!["kid".into(), "d".into()], &[ColumnKind::Integer, ColumnKind::Decimal(4)]);
        assert_eq!(
            rewritten_over("SELECT * FROM o JOIN k ON o.oid < k.d AND o.f <> k.kid AND o.oid >= k.kid AND o.f >= k.kid - 1", &columns, super::joinable),
            "SELECT * FROM o JOIN k ON CAST(o.oid AS DECIMAL(38,4)) < CAST(k.d AS DECIMAL(38,4)) \
             AND CAST(o.f AS DOUBLE) <> CAST(k.kid AS DOUBLE) AND o.oid >= k.kid AND CAST(o.f AS DOUBLE) >= CAST(k.kid - 1 AS DOUBLE)"
        );
    }

    #[test]
    fn membership_sides_of_different_numeric_types_are_cast_to_the_wider() {
        let mut columns = Columns::default();
        columns.insert(vec!["o".into()], vec!["oid".into(), "f".into()], &[ColumnKind::Integer, ColumnKind::Float]);
        columns.insert(vec!["k".into()], vec!["kid".into(), "d".into()], &[ColumnKind::Integer, ColumnKind::Decimal(2)]);
        let sql = "SELECT max(CASE WHEN o.f NOT IN (SELECT k.d FROM k WHERE k.kid = o.oid) THEN 1 END) FROM o \
                   WHERE o.oid IN (SELECT k.kid FROM k) AND o.oid IN (SELECT k.d AS v FROM k)";
        assert_eq!(
            rewritten_over(sql, &columns, super::memberships_joinable),
            "SELECT max(CASE WHEN CAST(o.f AS DOUBLE) NOT IN (SELECT CAST(k.d AS DOUBLE) FROM k WHERE k.kid = o.oid) THEN 1 END) FROM o \
             WHERE o.oid IN (SELECT k.kid FROM k) AND CAST(CAST(o.oid AS DECIMAL(38,2)) AS VARCHAR) IN (SELECT CAST(CAST(k.d AS DECIMAL(38,2)) AS VARCHAR) AS v FROM k)"
        );
    }

    #[test]
    fn expression_keys_read_suffixed_columns_by_their_frame_name() {
        let columns = columns_of(&[("a", &["id", "k"]), ("b", &["id", "a_k"]), ("c", &["id", "x"])]);
        let sql = "SELECT * FROM a JOIN b ON a.k = b.a_k LEFT JOIN c ON CASE WHEN b.a_k > 0 THEN b.id END = c.id AND a.id + 0 = c.x";
        assert_eq!(
            rewritten_over(sql, &columns, super::joinable),
            "SELECT * FROM a JOIN b ON a.k = b.a_k LEFT JOIN c ON CASE WHEN b.a_k > 0 THEN \"id:b\" END = c.id AND a.id + 0 = c.x"
        );
        // A bare column key is polars-sql's to resolve.
        let sql = "SELECT * FROM a JOIN b ON a.k = b.a_k JOIN c ON b.id = c.id";
        assert_eq!(rewritten_over(sql, &columns, super::joinable), sql);
    }

    #[test]
    fn correlations_read_suffixed_outer_columns_by_their_frame_name() {
        let columns = columns_of(&[("a", &["id", "k"]), ("b", &["id", "k"])]);
        let sql = "SELECT b.id FROM a JOIN b ON b.k = a.k WHERE EXISTS (SELECT 1 FROM b AS c WHERE c.k = a.k AND c.id = b.id) \
                   AND NOT b.id IN (SELECT c.id FROM b AS c WHERE c.k = b.k)";
        assert_eq!(
            rewritten_over(sql, &columns, super::joinable),
            "SELECT b.id FROM a JOIN b ON b.k = a.k WHERE EXISTS (SELECT 1 FROM b AS c WHERE c.k = a.k AND c.id = \"id:b\") \
             AND NOT b.id IN (SELECT c.id FROM b AS c WHERE c.k = \"k:b\")"
        );
        // A query nested deeper reads its own `b`.
        let sql = "SELECT b.id FROM a JOIN b ON b.k = a.k WHERE EXISTS (SELECT 1 FROM b AS c WHERE c.k = b.k \
                   AND c.id IN (SELECT b.id FROM b WHERE b.k = 1))";
        assert!(rewritten_over(sql, &columns, super::joinable).ends_with("c.k = \"k:b\" AND c.id IN (SELECT b.id FROM b WHERE b.k = 1))"));
        // Where the subquery names a relation `b` itself, `b.id` is its own.
        let sql = "SELECT b.id FROM a JOIN b ON b.k = a.k WHERE EXISTS (SELECT 1 FROM b WHERE b.k = a.k)";
        assert_eq!(rewritten_over(sql, &columns, super::joinable), sql);
    }
}
