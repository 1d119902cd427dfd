//! `[NOT] EXISTS` conjuncts polars-sql cannot semi-join, as `IN` over
//! the correlation's key (see `quantified.rs`).

use sqlparser::ast::{BinaryOperator, Expr, Query, SetExpr, TableFactor};

use super::super::scope::*;
use super::{flipped_membership, Quantified, Under, VALUE};

impl Quantified<'_> {
    pub(super) fn exists_under_or(&self, expr: &mut Expr, outer: &[Scope], relations: &[(TableFactor, Option<Scope>)], under: Under) {
        match expr {
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
                self.exists_under_or(left, outer, relations, under);
                self.exists_under_or(right, outer, relations, under);
            }
            Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
                let under = Under { or: true, ..under };
                self.exists_under_or(left, outer, relations, under);
                self.exists_under_or(right, outer, relations, under);
            }
            Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, .. } => match flipped_membership(expr) {
                Some(flipped) => {
                    *expr = flipped;
                    self.exists_under_or(expr, outer, relations, under);
                }
                None => {
                    let Expr::UnaryOp { expr: inner, .. } = expr else { return };
                    self.exists_under_or(inner, outer, relations, Under { or: true, not: true })
                }
            },
            Expr::Nested(inner) => self.exists_under_or(inner, outer, relations, under),
            Expr::Exists { subquery, negated } if under.or || self.shares_names(subquery, outer) || self.keys_unlike(subquery, outer, relations) => {
                let correlated = !self.resolver.self_contained(subquery);
                let replaced = self.exists_as_in(subquery, outer, *negated);
                // Correlated otherwise than by one key, under OR or NOT: a count
                // of its rows, a value per outer row (EXISTS is never unknown).
                if let Some(replaced) = replaced.or_else(|| (under.or && correlated).then(|| super::super::exists_values::as_count(expr)).flatten()) {
                    *expr = replaced;
                }
            }
            // A correlated membership under OR but no NOT, where unknown
            // filters as false does: counts of its rows (`correlated_in.rs`).
            Expr::InSubquery { .. } if under.or && !under.not => {
                if let Some(counted) = super::super::correlated_in::as_counts(expr, &self.resolver, outer).and_then(|sql| parse_expr(&sql)) {
                    *expr = counted;
                }
            }
            _ => {}
        }
    }

    /// Whether the subquery's FROM has a column name the outer FROM has too,
    /// which polars-sql's own EXISTS join cannot tell apart (a table
    /// correlated with itself, TPC-DS 41).
    pub(super) fn shares_names(&self, subquery: &Query, outer: &[Scope]) -> bool {
        let SetExpr::Select(select) = subquery.body.as_ref() else { return false };
        let Some(inner) = self.resolver.scopes(&select.from) else { return false };
        inner.iter().flat_map(|s| &s.columns).any(|name| outer.iter().any(|o| o.has_column(name)))
    }

    /// Whether the subquery is correlated by one equality of numbers of
    /// unlike types (`n.c = e.dept_id`, a DOUBLE and an INTEGER), which
    /// polars-sql's semi join refuses ("datatypes of join keys don't match")
    /// and whose sides an IN's are cast to the wider (`join_keys.rs`).
    fn keys_unlike(&self, subquery: &Query, outer: &[Scope], relations: &[(TableFactor, Option<Scope>)]) -> bool {
        let SetExpr::Select(select) = subquery.body.as_ref() else { return false };
        let Some(inner) = self.resolver.scopes(&select.from) else { return false };
        let Some(Correlation { links, .. }) = correlate(select, &inner, outer) else { return false };
        let [(BinaryOperator::Eq, key, outer_key)] = links.as_slice() else { return false };
        let kind = |sql: &str, relations: &[(TableFactor, Option<Scope>)]| parse_expr(sql).and_then(|side| self.resolver.value_kind(&side, relations));
        let inner_relations = self.resolver.relations(&select.from);
        match (kind(key, &inner_relations), kind(outer_key, relations)) {
            (Some(inner), Some(outer)) => inner != outer && super::super::join_keys::wider(inner, outer).is_some(),
            _ => false,
        }
    }

    fn exists_as_in(&self, subquery: &Query, outer: &[Scope], negated: bool) -> Option<Expr> {
        if subquery.with.is_some() || subquery.limit_clause.is_some() {
            return None;
        }
        let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
        if select.having.is_some() || select.distinct.is_some() || has_group_by(select) {
            return None;
        }
        let inner = self.resolver.scopes(&select.from)?;
        let Correlation { local, links } = correlate(select, &inner, outer)?;
        let [(BinaryOperator::Eq, key, outer_key)] = links.as_slice() else { return None };
        let from = from_text(select);
        // A NULL key matches nothing in EXISTS, but would make the IN unknown.
        let filter = local.iter().cloned().chain([format!("{key} IS NOT NULL")]).collect::<Vec<_>>().join(" AND ");
        let filter = format!(" WHERE {filter}");
        // Through a derived table of its own names, so polars-sql can semi-join it (see `membership`).
        let members = format!("{outer_key} IN (SELECT __floe_in.{VALUE} FROM (SELECT {key} AS {VALUE} FROM {from}{filter}) AS __floe_in)");
        parse_expr(&if negated {
            format!("({outer_key} IS NULL OR NOT ({members}))")
        } else {
            format!("({outer_key} IS NOT NULL AND {members})")
        })
    }
}
