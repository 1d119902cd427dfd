//! Subqueries correlated in ways no semi join or grouped join stands for:
//! by an inequality or an expression of the outer row, as counts of the rows
//! they match, and SELECT-list ones as values per outer row.

use sqlparser::ast::{BinaryOperator, Expr, Query, SelectItem, SetExpr};

use super::super::scope::*;
use super::{Added, Rewriter};

impl Rewriter<'_> {
    /// Whether `subquery` compares the outer query's values other than by `=`
    /// of two columns, which polars-sql's semi and anti joins take as keys
    /// (`s.id = o.id + 3` beside another key failed: "no table … named 'o'").
    pub(super) fn correlated_unjoinably(&self, subquery: &Query, outer: &[Scope]) -> bool {
        let Some(select) = plain_select(subquery) else { return false };
        let Some(inner) = self.resolver.scopes(&select.from) else { return false };
        let Some(correlation) = correlate(select, &inner, outer) else { return false };
        let sides: Vec<(&BinaryOperator, Option<Expr>, Option<Expr>)> =
            correlation.links.iter().map(|(op, inner, outer)| (op, parse_expr(inner), parse_expr(outer))).collect();
        // A window compared with the outer row is no row's value a count could
        // filter by (it is computed over the subquery's rows): left as written.
        let windowed = |side: &Option<Expr>| side.as_ref().is_none_or(super::super::aggregates::holds_window);
        if sides.iter().any(|(_, inner, outer)| windowed(inner) || windowed(outer)) {
            return false;
        }
        let column = |side: &Option<Expr>| side.as_ref().is_some_and(is_column);
        sides.iter().any(|(op, inner, outer)| **op != BinaryOperator::Eq || !column(inner) || !column(outer))
    }

    /// `x IN (SELECT y … WHERE <correlated by an inequality>)`, a conjunct of
    /// WHERE, as whether `SELECT … WHERE … AND y = x` counts a row: false
    /// where SQL's answer is NULL, which drops the row alike. None when a
    /// column of `x` would be read as the subquery's own.
    pub(super) fn membership_as_count(&self, value: &Expr, subquery: &Query, outer: &[Scope]) -> Option<Expr> {
        let select = plain_select(subquery)?;
        let inner = self.resolver.scopes(&select.from)?;
        let sides = sides(value, &inner, outer)?;
        if sides.is_empty() || sides.contains(&Side::Inner) {
            return None;
        }
        let [SelectItem::UnnamedExpr(member) | SelectItem::ExprWithAlias { expr: member, .. }] = select.projection.as_slice() else { return None };
        let mut filtered = subquery.clone();
        let SetExpr::Select(body) = filtered.body.as_mut() else { return None };
        let matched = parse_expr(&format!("({member}) = ({value})"))?;
        body.selection = joined_by(BinaryOperator::And, body.selection.take().into_iter().chain([matched]).collect());
        super::super::exists_values::as_count(&Expr::Exists { subquery: Box::new(filtered), negated: false })
    }

    /// A correlated subquery in the SELECT list or WHERE (`correlated_items.rs`):
    /// a CTE LEFT JOINed on the outer values it reads.
    pub(super) fn replace_correlated_item(&mut self, expr: &mut Expr, outer: &[Scope], added: &mut Added) {
        let (Expr::Subquery(subquery), Some(outer_from)) = (&*expr, &self.select_list_from) else { return };
        let name = format!("__floe_sq{}", self.ctes.len() + 1);
        let Some(plan) = super::super::correlated_items::plan(&self.resolver, subquery, outer, outer_from, &name) else { return };
        if self.per_group && plan.fills_missing {
            return;
        }
        let value = if self.per_group { format!("max({})", plan.value) } else { plan.value };
        let (Some(cte), Some(value)) = (parse_cte(&name, &plan.cte_sql), parse_expr(&value)) else { return };
        *expr = value;
        self.resolver.cte_columns.insert(name.clone(), plan.cte_columns);
        self.ctes.push(cte);
        added.left_joins.push((name, plan.join_on));
    }
}
