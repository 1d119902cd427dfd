//! An inner join's ON conditions polars-sql cannot plan: it joins on
//! equalities, filters pairs by comparisons, and refused everything else
//! (`ON a.k = b.k OR a.j = b.j`, `IN`, `IS NOT DISTINCT FROM`, a function's
//! truth). An inner join keeps the pairs its condition holds for, so such a
//! conjunct filters the joined rows in WHERE instead: the same rows, as long
//! as no RIGHT or FULL join further along the chain keeps a row the filter
//! would drop. `x BETWEEN a AND b` of both sides is first the two
//! comparisons it is, which polars-sql joins on as a range.
//!
//! A conjunct with an unqualified name stays: in WHERE it could name a
//! column of a relation joined later.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, JoinConstraint, JoinOperator, Select, Statement, TableFactor, TableWithJoins};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{conjuncts, is_comparison, joined_by, reads_column};

pub(super) fn filtered_after_joining(statement: &mut Statement) {
    let _ = statement.visit(&mut Conditions);
}

struct Conditions;

impl VisitorMut for Conditions {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let mut moved = Vec::new();
        for table in &mut select.from {
            moved.extend(unplannable(table));
        }
        if !moved.is_empty() {
            moved.extend(select.selection.take());
            select.selection = joined_by(BinaryOperator::And, moved);
        }
        ControlFlow::Continue(())
    }
}

/// Takes the conjuncts polars-sql cannot plan out of the chain's inner joins.
fn unplannable(table: &mut TableWithJoins) -> Vec<Expr> {
    let mut moved = Vec::new();
    for index in 0..table.joins.len() {
        let preserved_later = table.joins[index + 1..]
            .iter()
            .any(|join| matches!(join.join_operator, JoinOperator::Right(_) | JoinOperator::RightOuter(_) | JoinOperator::FullOuter(_)));
        let joined = qualifier(&table.joins[index].relation);
        let operator = &mut table.joins[index].join_operator;
        let (false, JoinOperator::Join(JoinConstraint::On(condition)) | JoinOperator::Inner(JoinConstraint::On(condition))) = (preserved_later, &mut *operator)
        else {
            continue;
        };
        let written = conjuncts(condition);
        let count = written.len();
        let (mut kept, mut out): (Vec<Expr>, Vec<Expr>) =
            written.into_iter().flat_map(as_ranges).partition(|c| plannable(c, joined.as_deref()) || !all_qualified(c));
        // Without a comparison of two columns, polars-sql found no key
        // (`ON b.region = 'east'`: "unable to find column"): a cross join, filtered.
        if !kept.iter().any(compares_columns) {
            let (unqualified, filters): (Vec<Expr>, Vec<Expr>) = kept.into_iter().partition(|c| !all_qualified(c));
            kept = unqualified;
            out.extend(filters);
        }
        if out.is_empty() && kept.len() == count {
            continue;
        }
        moved.extend(out);
        *operator = match joined_by(BinaryOperator::And, kept) {
            Some(kept) => JoinOperator::Join(JoinConstraint::On(kept)),
            None => JoinOperator::CrossJoin(JoinConstraint::None),
        };
    }
    moved
}

/// `x BETWEEN a AND b` as `x >= a` and `x <= b`; other conjuncts as they are.
fn as_ranges(conjunct: &Expr) -> Vec<Expr> {
    match conjunct {
        Expr::Between { expr, negated: false, low, high } => vec![
            Expr::BinaryOp { left: expr.clone(), op: BinaryOperator::GtEq, right: low.clone() },
            Expr::BinaryOp { left: expr.clone(), op: BinaryOperator::LtEq, right: high.clone() },
        ],
        other => vec![other.clone()],
    }
}

/// A comparison polars-sql joins on: one side reads only the relation
/// `joined` and the other only relations joined before it (`ON c.k = b.k`),
/// or one reads only `joined` and the other no column (`ON c.y = 2`, which it
/// applies to `c`). It takes any comparison of columns for a join key, its
/// sides from the two relations it joins, so `ON … AND a.x = a.y` or `AND
/// 29 = a.x` failed or joined on the wrong columns.
fn plannable(conjunct: &Expr, joined: Option<&[String]>) -> bool {
    let Expr::BinaryOp { left, op, right } = conjunct else { return false };
    if !is_comparison(op) {
        return false;
    }
    let (left, right) = (relations_read(left), relations_read(right));
    let Some(joined) = joined else {
        return left.is_empty() || right.is_empty() || left.len() != 1 || left != right;
    };
    let only_joined = |side: &Relations| !side.is_empty() && side.iter().all(|q| joined.ends_with(q));
    let none_joined = |side: &Relations| !side.iter().any(|q| joined.ends_with(q));
    match (left.is_empty(), right.is_empty()) {
        (true, _) => only_joined(&right),
        (_, true) => only_joined(&left),
        _ => (only_joined(&left) && none_joined(&right)) || (none_joined(&left) && only_joined(&right)),
    }
}

type Relations = std::collections::BTreeSet<Vec<String>>;

/// The name a joined relation's columns are qualified by, part by part.
fn qualifier(factor: &TableFactor) -> Option<Vec<String>> {
    match factor {
        TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => Some(vec![part(&alias.name)]),
        TableFactor::Table { name, alias: None, .. } => name.0.iter().map(|p| p.as_ident().map(part)).collect(),
        _ => None,
    }
}

/// The qualifiers of the columns `expr` names (`s.t.k`: `[s, t]`).
fn relations_read(expr: &Expr) -> Relations {
    let mut relations = Relations::new();
    let _ = crate::sql::visit::visit_expressions(expr, |expr| {
        if let Expr::CompoundIdentifier(parts) = expr {
            if let [qualifier @ .., _] = parts.as_slice() {
                relations.insert(qualifier.iter().map(part).collect());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    relations
}

/// A name as SQL compares it: unquoted, without case.
fn part(ident: &sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

fn compares_columns(conjunct: &Expr) -> bool {
    matches!(conjunct, Expr::BinaryOp { left, op, right } if is_comparison(op) && reads_column(left) && reads_column(right))
}

/// Whether every name in `expr` says its relation.
fn all_qualified(expr: &Expr) -> bool {
    crate::sql::visit::visit_expressions(expr, |expr| match expr {
        Expr::Identifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_continue()
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::filtered_after_joining;

    #[test]
    fn conditions_polars_cannot_join_on_filter_the_pairs() {
        assert_eq!(
            rewritten_by("SELECT * FROM a JOIN b ON a.k = b.k OR a.j = b.j WHERE a.x > 1", filtered_after_joining),
            "SELECT * FROM a CROSS JOIN b WHERE (a.k = b.k OR a.j = b.j) AND a.x > 1"
        );
        assert_eq!(
            rewritten_by("SELECT * FROM a JOIN b ON a.k = b.k AND a.v IN (b.x, b.y) LEFT JOIN c ON c.k = a.k", filtered_after_joining),
            "SELECT * FROM a JOIN b ON a.k = b.k LEFT JOIN c ON c.k = a.k WHERE a.v IN (b.x, b.y)"
        );
        assert_eq!(
            rewritten_by("SELECT * FROM a JOIN b ON a.v BETWEEN b.lo AND b.hi", filtered_after_joining),
            "SELECT * FROM a JOIN b ON a.v >= b.lo AND a.v <= b.hi"
        );
        assert_eq!(
            rewritten_by("SELECT * FROM a JOIN b ON b.r = 'east' AND a.x > 1 JOIN c ON c.k = b.k AND c.y = 2", filtered_after_joining),
            "SELECT * FROM a CROSS JOIN b JOIN c ON c.k = b.k AND c.y = 2 WHERE a.x > 1 AND b.r = 'east'"
        );
        assert_eq!(
            rewritten_by("SELECT * FROM a JOIN b ON b.k = a.k AND a.x = a.y JOIN c ON c.k = b.k AND c.r <= C.r", filtered_after_joining),
            "SELECT * FROM a JOIN b ON b.k = a.k JOIN c ON c.k = b.k WHERE a.x = a.y AND c.r <= C.r"
        );
        assert_eq!(
            rewritten_by("SELECT * FROM s.a AS x JOIN b ON b.k = x.k JOIN s.c ON c.k = b.k AND x.v = b.v AND c.j > x.j", filtered_after_joining),
            "SELECT * FROM s.a AS x JOIN b ON b.k = x.k JOIN s.c ON c.k = b.k AND c.j > x.j WHERE x.v = b.v"
        );
        assert_eq!(
            rewritten_by("SELECT * FROM a JOIN b ON b.k = a.k AND 29 = a.x AND b.y = 2", filtered_after_joining),
            "SELECT * FROM a JOIN b ON b.k = a.k AND b.y = 2 WHERE 29 = a.x"
        );
        // Relations of one name in two schemas stay apart; a side reading two relations is no key.
        assert_eq!(
            rewritten_by("SELECT * FROM s1.t JOIN s2.t ON s1.t.k = s2.t.k AND s2.t.v + s1.t.v = 3 JOIN c ON c.k = s2.t.k AND c.x + s1.t.x = 5", filtered_after_joining),
            "SELECT * FROM s1.t JOIN s2.t ON s1.t.k = s2.t.k JOIN c ON c.k = s2.t.k WHERE s2.t.v + s1.t.v = 3 AND c.x + s1.t.x = 5"
        );
    }

    #[test]
    fn joins_a_later_outer_join_preserves_and_unqualified_names_stay() {
        for sql in [
            "SELECT * FROM a JOIN b ON a.k = b.k OR a.j = b.j RIGHT JOIN c ON c.k = a.k",
            "SELECT * FROM a JOIN b ON a.k = b.k OR j = b.j",
            "SELECT * FROM a LEFT JOIN b ON a.k = b.k OR a.j = b.j",
        ] {
            assert_eq!(rewritten_by(sql, filtered_after_joining), sql);
        }
    }
}
