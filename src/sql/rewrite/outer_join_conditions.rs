//! Outer joins whose ON condition filters a side (`l LEFT JOIN r ON l.k =
//! r.k AND l.f > 2`). polars-sql plans any condition beyond equalities as
//! an inner `join_where`, so the preserved side's rows that fail it were
//! lost instead of kept without a match. A filter on one side decides only
//! whether that side's rows can match, so it goes into that side's key:
//! `CASE WHEN l.f > 2 THEN l.k END = r.k` (a NULL key matches nothing).
//! A condition comparing both sides other than by `=` has no such form and
//! is refused by name rather than answered as an inner join.
//!
//! An inner join followed by a RIGHT or FULL join, whose conditions
//! `inner_join_conditions.rs` cannot move into WHERE (the later join keeps
//! rows such a filter would drop), gets the same keys for its one-side and
//! constant conditions (`ON a.k = b.k AND NOT b.gone`, which polars-sql
//! cannot plan); its comparisons of both sides stay polars-sql's.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, JoinConstraint, JoinOperator, Query, Select, Statement};
use crate::sql::visit::{Visit, Visitor, VisitorMut};

use super::scope::*;
use crate::sql::{Error, Result};

pub(super) fn keyed(statement: &mut Statement, columns: &Columns) -> Result<()> {
    let Statement::Query(query) = statement else { return Ok(()) };
    let mut keys = Keys { resolver: Resolver::new(query, columns) };
    match crate::sql::visit::VisitMut::visit(query.as_mut(), &mut keys) {
        ControlFlow::Break(refused) => Err(refused),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Keys<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Keys<'_> {
    type Break = Error;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<Error> {
        for select in selects_mut(query.body.as_mut()) {
            if let Err(refused) = self.key_select(select) {
                return ControlFlow::Break(refused);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Which relations of a join an expression reads.
#[derive(PartialEq)]
enum Side {
    Left,
    Right,
    Both,
    /// Subqueries, names no scope resolves: left as written.
    Unknown,
    /// No column at all (`'a' < 'b'`): decides whether any rows match, so it
    /// goes into the left key like a filter of the left side.
    Neither,
}

impl Keys<'_> {
    fn key_select(&self, select: &mut Select) -> Result<()> {
        for table in &mut select.from {
            let Some(mut left) = self.resolver.scope(&table.relation).map(|s| vec![s]) else { continue };
            let preserving = |operator: &JoinOperator| matches!(operator, JoinOperator::Right(_) | JoinOperator::RightOuter(_) | JoinOperator::FullOuter(_));
            let last_preserving = table.joins.iter().rposition(|join| preserving(&join.join_operator));
            for (index, join) in table.joins.iter_mut().enumerate() {
                let Some(right) = self.resolver.scope(&join.relation) else { break };
                let kind = match &join.join_operator {
                    JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => "LEFT",
                    JoinOperator::Right(_) | JoinOperator::RightOuter(_) => "RIGHT",
                    JoinOperator::FullOuter(_) => "FULL",
                    JoinOperator::Join(_) | JoinOperator::Inner(_) if last_preserving.is_some_and(|last| last > index) => INNER,
                    _ => "",
                };
                if let (false, Some(JoinConstraint::On(on))) = (kind.is_empty(), join_constraint(&mut join.join_operator)) {
                    if let Some(keyed) = keyed_condition(on, &left, &right, kind)? {
                        *on = keyed;
                    }
                }
                left.push(right);
            }
        }
        Ok(())
    }
}

/// An inner join that a later RIGHT or FULL join follows.
const INNER: &str = "INNER";

/// The ON condition with its one-side filters moved into the keys of its
/// first equality; None where it needs nothing or cannot be told apart.
fn keyed_condition(on: &Expr, left: &[Scope], right: &Scope, kind: &str) -> Result<Option<Expr>> {
    let (mut equalities, mut left_filters, mut right_filters, mut compared) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for conjunct in conjuncts(on) {
        match (conjunct, side(conjunct, left, right)) {
            (Expr::BinaryOp { left: a, op: BinaryOperator::Eq, right: b }, Side::Both) => match (side(a, left, right), side(b, left, right)) {
                (Side::Left, Side::Right) => equalities.push((a.to_string(), b.to_string())),
                (Side::Right, Side::Left) => equalities.push((b.to_string(), a.to_string())),
                _ if kind == INNER => compared.push(conjunct.to_string()),
                _ => return Err(refused(kind, conjunct)),
            },
            (_, Side::Both) if kind == INNER => compared.push(conjunct.to_string()),
            (_, Side::Both) => return Err(refused(kind, conjunct)),
            (_, Side::Left | Side::Neither) => left_filters.push(format!("({conjunct})")),
            (_, Side::Right) => right_filters.push(format!("({conjunct})")),
            (_, Side::Unknown) => return Ok(None),
        }
    }
    if equalities.is_empty() || (left_filters.is_empty() && right_filters.is_empty()) {
        return Ok(None);
    }
    let when = |key: &str, filters: &[String]| match filters {
        [] => key.to_string(),
        _ => format!("CASE WHEN {} THEN {key} END", filters.join(" AND ")),
    };
    let (first_left, first_right) = &equalities[0];
    let mut keyed = vec![format!("{} = {}", when(first_left, &left_filters), when(first_right, &right_filters))];
    keyed.extend(equalities[1..].iter().map(|(a, b)| format!("{a} = {b}")));
    keyed.extend(compared);
    Ok(parse_expr(&keyed.join(" AND ")))
}

fn refused(kind: &str, conjunct: &Expr) -> Error {
    Error::Unsupported(format!(
        "{kind} JOIN … ON {conjunct}: an outer join's condition may compare its two sides only with `=` \
         (filters on one side are fine); move the comparison into a subquery or WHERE"
    ))
}

/// The side `expr` reads: Both where it reads the two, Unknown where a name
/// resolves to neither or it holds a subquery or reads no column.
fn side(expr: &Expr, left: &[Scope], right: &Scope) -> Side {
    struct Reads<'a> {
        left: &'a [Scope],
        right: &'a Scope,
        sides: Vec<Side>,
    }
    impl Visitor for Reads<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let (name, qualifier) = match expr {
                Expr::Identifier(ident) => (&ident.value, None),
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => (&parts[parts.len() - 1].value, Some(&parts[parts.len() - 2].value)),
                Expr::CompoundIdentifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.sides.push(Side::Unknown);
                    return ControlFlow::Break(());
                }
                _ => return ControlFlow::Continue(()),
            };
            let owns = |scope: &Scope| scope.owns(name, qualifier.map(String::as_str));
            let side = match (self.left.iter().any(owns), owns(self.right)) {
                (true, false) => Side::Left,
                (false, true) => Side::Right,
                _ => Side::Unknown,
            };
            self.sides.push(side);
            ControlFlow::Continue(())
        }
    }
    let mut reads = Reads { left, right, sides: Vec::new() };
    let _ = expr.visit(&mut reads);
    let (lefts, rights) = (reads.sides.contains(&Side::Left), reads.sides.contains(&Side::Right));
    match (reads.sides.contains(&Side::Unknown), lefts, rights) {
        _ if reads.sides.is_empty() => Side::Neither,
        (false, true, true) => Side::Both,
        (false, true, false) => Side::Left,
        (false, false, true) => Side::Right,
        _ => Side::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::columns_of;
    use super::*;

    fn keyed_sql(sql: &str) -> Result<String> {
        let columns = columns_of(&[("l", &["id", "k", "f"]), ("r", &["rid", "w"])]);
        let mut statement = crate::sql::parse::parse_single(sql).expect("test SQL parses");
        keyed(&mut statement, &columns)?;
        Ok(statement.to_string())
    }

    #[test]
    fn one_side_filters_of_outer_joins_go_into_the_keys() {
        assert_eq!(
            keyed_sql("SELECT id FROM l LEFT JOIN r ON l.k = r.rid AND l.f > 2").unwrap(),
            "SELECT id FROM l LEFT JOIN r ON CASE WHEN (l.f > 2) THEN l.k END = r.rid"
        );
        assert_eq!(
            keyed_sql("SELECT id FROM l FULL JOIN r ON rid = k AND w > 1.5 AND f < 3 AND id = w").unwrap(),
            "SELECT id FROM l FULL JOIN r ON CASE WHEN (f < 3) THEN k END = CASE WHEN (w > 1.5) THEN rid END AND id = w"
        );
    }

    #[test]
    fn constant_conditions_of_outer_joins_go_into_the_left_key() {
        assert_eq!(
            keyed_sql("SELECT id FROM l RIGHT JOIN r ON l.k = r.rid AND 'a' < 'b'").unwrap(),
            "SELECT id FROM l RIGHT JOIN r ON CASE WHEN ('a' < 'b') THEN l.k END = r.rid"
        );
        // A relation a filter was pushed into (`SELECT * FROM l WHERE …`) has its relation's columns.
        assert_eq!(
            keyed_sql("SELECT id FROM (SELECT * FROM l WHERE f > 1) AS l2 FULL JOIN r ON l2.k = r.rid AND r.w > 2").unwrap(),
            "SELECT id FROM (SELECT * FROM l WHERE f > 1) AS l2 FULL JOIN r ON l2.k = CASE WHEN (r.w > 2) THEN r.rid END"
        );
    }

    #[test]
    fn inner_joins_plain_keys_and_subqueries_stay() {
        for sql in [
            "SELECT id FROM l JOIN r ON l.k = r.rid AND l.f > 2",
            "SELECT id FROM l LEFT JOIN r ON l.k = r.rid",
            "SELECT id FROM l LEFT JOIN r ON l.k = r.rid AND l.f IN (SELECT 1)",
        ] {
            assert_eq!(keyed_sql(sql).unwrap(), sql);
        }
    }

    #[test]
    fn inner_joins_before_a_right_or_full_join_key_their_filters() {
        assert_eq!(
            keyed_sql("SELECT id FROM l JOIN r ON l.k = r.rid AND NOT (r.w IS NULL) AND l.f < r.w AND 1 IS NULL FULL JOIN l AS m ON m.id = r.rid").unwrap(),
            "SELECT id FROM l JOIN r ON CASE WHEN (1 IS NULL) THEN l.k END = CASE WHEN (NOT (r.w IS NULL)) THEN r.rid END AND l.f < r.w \
             FULL JOIN l AS m ON m.id = r.rid"
        );
    }

    #[test]
    fn comparisons_of_both_sides_are_refused_by_name() {
        let refused = keyed_sql("SELECT id FROM l LEFT JOIN r ON l.k = r.rid AND l.f > r.w").unwrap_err();
        assert!(refused.to_string().contains("LEFT JOIN … ON l.f > r.w"), "{refused}");
    }
}
