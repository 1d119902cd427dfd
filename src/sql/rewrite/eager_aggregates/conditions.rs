//! A grouped SELECT's conditions by the relations they read, and which of
//! them polars-sql can join a relation on.

use std::collections::BTreeSet;

use sqlparser::ast::{BinaryOperator, Expr};

use super::super::scope::*;

/// A conjunct of WHERE or an ON, with the relations it reads and, for a
/// comparison, those each side reads.
#[derive(Clone)]
pub(super) struct Condition {
    pub expr: Expr,
    pub owners: BTreeSet<usize>,
    pub sides: Option<[BTreeSet<usize>; 2]>,
    /// One side reads a partial group's key (and no relation of the query).
    pub partial: bool,
}

impl Condition {
    pub fn of(expr: &Expr, scopes: &[Scope]) -> Option<Self> {
        // A condition without columns has no place among the joins: nothing is moved.
        let owners = owning_relations(expr, scopes).filter(|owners| !owners.is_empty())?;
        let sides = match expr {
            Expr::BinaryOp { left, op, right } if is_comparison(op) => Some([owning_relations(left, scopes)?, owning_relations(right, scopes)?]),
            _ => None,
        };
        Some(Self { expr: expr.clone(), owners, sides, partial: false })
    }

    /// Whether relation `r`, joined after the relations `before`, joins on
    /// it: an equality of `r` alone with some of them, or with the partial
    /// groups (always joined first). Anything else stays a filter, as it
    /// would be written: Polars' join on an inequality refuses to compare
    /// types a filter would cast.
    pub fn joins(&self, r: usize, before: &BTreeSet<usize>) -> bool {
        let Some([left, right]) = &self.sides else { return false };
        let only_r = |side: &BTreeSet<usize>| side.len() == 1 && side.contains(&r);
        let earlier = |side: &BTreeSet<usize>| (self.partial || !side.is_empty()) && side.iter().all(|o| before.contains(o) && *o != r);
        self.is_equality() && ((only_r(left) && earlier(right)) || (only_r(right) && earlier(left)))
    }

    /// The equality written with `r`'s side on the right. polars-sql reads
    /// an ON whose sides name neither the chain's first relation (now the
    /// partial groups) as `earlier = later`, whichever way it is written.
    pub fn joining(&self, r: usize) -> Expr {
        match (&self.expr, &self.sides) {
            (Expr::BinaryOp { left, op, right }, Some([left_owners, _])) if left_owners.contains(&r) => {
                Expr::BinaryOp { left: right.clone(), op: op.clone(), right: left.clone() }
            }
            _ => self.expr.clone(),
        }
    }

    fn is_equality(&self) -> bool {
        matches!(self.expr, Expr::BinaryOp { op: BinaryOperator::Eq, .. })
    }
}

/// The left or right operand of a comparison.
pub(super) fn operand(condition: &mut Expr, left: bool) -> Option<&mut Expr> {
    match condition {
        Expr::BinaryOp { left: operand, .. } if left => Some(operand),
        Expr::BinaryOp { right: operand, .. } => Some(operand),
        _ => None,
    }
}

/// Conditions ANDed, an OR parenthesised (a WHERE's; an ON holds equalities only).
pub(super) fn conjunction<'c>(conditions: impl Iterator<Item = &'c Expr>) -> String {
    let each = conditions.map(|c| match c {
        Expr::BinaryOp { op: BinaryOperator::Or, .. } => format!("({c})"),
        c => c.to_string(),
    });
    each.collect::<Vec<_>>().join(" AND ")
}
