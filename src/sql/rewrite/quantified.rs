//! Comparisons with a whole subquery, in SQL's three-valued logic:
//!
//! - `x > ANY (S)` is false for an empty S, else compares with S's minimum
//!   (`<`: maximum; `<>`: either) and is unknown, not false, when S holds a
//!   NULL; `x > ALL (S)` is true for an empty S, else compares with S's
//!   maximum (`<`: minimum; `=`: both) and is unknown, not true, when S
//!   holds a NULL — each a scalar subquery, correlated where S is;
//! - `[NOT] EXISTS (… WHERE t.k = o.k AND <local>)` under an OR or a NOT,
//!   which polars-sql plans only as a conjunct of its own (a semi join), or
//!   over a FROM sharing column names with the outer one, which its join
//!   cannot tell apart, or by numbers of unlike types, which it refuses to
//!   join, is `o.k IN (SELECT t.k … WHERE <local>)`, false for a NULL `o.k`
//!   as the EXISTS would be (TPC-DS 10, 35), its sides then cast alike;
//! - `(SELECT count(*) FROM … WHERE …) > 0` is `EXISTS (…)`, and `= 0` is
//!   `NOT EXISTS (…)`, correlated or not: a count compared with zero asks
//!   only whether a row exists, and EXISTS is what polars-sql can join on
//!   (TPC-DS 41);
//! - `[NOT] EXISTS (S)` over a whole uncorrelated S, which polars-sql cannot
//!   plan, is whether a count of S's first row is 1.
//!
//! The aggregates over S are scalar subqueries the subquery pass then turns
//! into one-row CTEs. A correlated `x [NOT] IN (S)` conjunct is an EXISTS
//! form first, or counts where correlated by an inequality
//! (`correlated_in.rs`); other correlated subqueries are left as written.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Query, SelectItem, SetExpr, Statement};
use crate::sql::visit::VisitorMut;

use super::scope::*;

mod exists_as_in;

const VALUE: &str = "__floe_v";

pub(super) fn rewrite(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Quantified { resolver });
}

struct Quantified<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Quantified<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let replacement = match expr {
            Expr::AnyOp { left, compare_op, right, .. } => self.any(left, compare_op, right),
            Expr::AllOp { left, compare_op, right } => self.all(left, compare_op, right),
            Expr::Exists { subquery, negated } if self.resolver.self_contained(subquery) => uncorrelated_exists(subquery, *negated),
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }

    // Before ANY/ALL are rewritten (their counts of the subquery's rows stay counts).
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        for select in selects_mut(&mut query.body) {
            // In a filter only: polars-sql plans EXISTS there, while a count in
            // the SELECT list, or in an aggregate's arguments in HAVING,
            // becomes a join (`correlated_items.rs`).
            for clause in select.selection.iter_mut().chain(select.having.iter_mut()) {
                let _ = crate::sql::visit::VisitMut::visit(clause, &mut CountsAsExists { aggregates: 0 });
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        for select in selects_mut(&mut query.body) {
            let (Some(outer), Some(selection)) = (self.resolver.scopes(&select.from), select.selection.as_mut()) else { continue };
            nots_past_memberships(selection, &self.resolver);
            let memberships = |p: &Expr| {
                let flipped = flipped_membership(p);
                let p = flipped.as_ref().unwrap_or(p);
                super::correlated_in::as_exists(p, &self.resolver, &outer)
                    .or_else(|| super::correlated_in::unjoinable_as_counts(p, &self.resolver, &outer))
                    .or_else(|| flipped.as_ref().map(|f| f.to_string()))
            };
            if let Some(rewritten) = rewritten_conjuncts(selection, memberships) {
                *selection = rewritten;
            }
            self.exists_under_or(selection, &outer, &self.resolver.relations(&select.from), Under::default());
            if let Some(rewritten) = rewritten_conjuncts(selection, |p| self.membership(p, &outer)) {
                *selection = rewritten;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Each NOT over an AND or OR that holds a correlated `IN` moved inward (De
/// Morgan's laws hold in SQL's three-valued logic): `NOT (a OR x IN (S))` is
/// `NOT a AND x NOT IN (S)`, a conjunct the membership passes take, where
/// under the NOT unknown would not filter as false.
fn nots_past_memberships(expr: &mut Expr, resolver: &Resolver) {
    if let Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr: inner } = expr {
        let correlated_in = |e: &Expr| matches!(e, Expr::InSubquery { subquery, .. } if !resolver.self_contained(subquery));
        if let (Expr::BinaryOp { left, op: op @ (BinaryOperator::And | BinaryOperator::Or), right }, true) =
            (unnested(inner), any_outside_subqueries(inner, correlated_in))
        {
            let not = |side: &Expr| Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(side.clone()))) };
            let op = if *op == BinaryOperator::And { BinaryOperator::Or } else { BinaryOperator::And };
            *expr = Expr::Nested(Box::new(Expr::BinaryOp { left: Box::new(not(left)), op, right: Box::new(not(right)) }));
        }
    }
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And | BinaryOperator::Or, right } => {
            nots_past_memberships(left, resolver);
            nots_past_memberships(right, resolver);
        }
        Expr::Nested(inner) | Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr: inner } => nots_past_memberships(inner, resolver),
        _ => {}
    }
}

/// `NOT (x [NOT] IN (S))` as `x [NOT] IN (S)` the other way: the same in
/// SQL's three-valued logic, and the form the membership passes take.
fn flipped_membership(conjunct: &Expr) -> Option<Expr> {
    let Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr } = unnested(conjunct) else { return None };
    let Expr::InSubquery { expr: value, subquery, negated } = unnested(expr) else { return None };
    Some(Expr::InSubquery { expr: value.clone(), subquery: subquery.clone(), negated: !negated })
}

/// The conjunction with each conjunct `rewrite` gives SQL for replaced;
/// None when it replaces none.
fn rewritten_conjuncts(selection: &Expr, rewrite: impl Fn(&Expr) -> Option<String>) -> Option<Expr> {
    let parts = conjuncts(selection);
    let rewritten: Vec<Option<String>> = parts.iter().map(|part| rewrite(part)).collect();
    if rewritten.iter().all(Option::is_none) {
        return None;
    }
    let sql = parts.iter().zip(rewritten).map(|(part, rewritten)| rewritten.unwrap_or_else(|| format!("({part})"))).collect::<Vec<_>>();
    parse_expr(&sql.join(" AND "))
}

/// `[NOT] EXISTS (S)` that reads nothing of the query around it, which
/// polars-sql plans only correlated: whether S has a row, from a count of at
/// most one of them (a scalar subquery the subquery pass joins in).
fn uncorrelated_exists(subquery: &Query, negated: bool) -> Option<Expr> {
    let mut rows = subquery.clone();
    let limited = rows.limit_clause.is_some() || rows.fetch.is_some();
    if let (SetExpr::Select(select), false) = (rows.body.as_mut(), limited) {
        // The columns do not matter, and `*` over a join may name two alike;
        // but an aggregate without GROUP BY makes the one row there is.
        if without_calls(&select.projection) && !has_group_by(select) && select.having.is_none() && select.distinct.is_none() {
            select.projection = vec![SelectItem::ExprWithAlias { expr: parse_expr("1")?, alias: sqlparser::ast::Ident::new(VALUE) }];
        }
    }
    named_columns(rows.body.as_mut());
    let rows = if limited { rows.to_string() } else { format!("{rows} LIMIT 1") };
    // `= 1` / `<> 1`, not a comparison with zero, which `count_as_exists` reads as EXISTS again.
    parse_expr(&format!("(SELECT count(*) FROM ({rows}) AS __floe_e) {} 1", if negated { "<>" } else { "=" }))
}

/// Each branch's unnamed items named by position, so the subquery pass knows
/// the derived table's columns (a set operation's, too: `EXISTS (SELECT 1
/// … UNION SELECT 2)` was refused as a scalar subquery it could not place).
fn named_columns(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for (index, item) in select.projection.iter_mut().enumerate() {
                if let SelectItem::UnnamedExpr(expr) = item {
                    let alias = sqlparser::ast::Ident::new(format!("__floe_c{}", index + 1));
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            named_columns(left);
            named_columns(right);
        }
        SetExpr::Query(query) => named_columns(query.body.as_mut()),
        _ => {}
    }
}

/// Each `(SELECT count(*) …) > 0` outside aggregate calls as EXISTS.
struct CountsAsExists {
    aggregates: usize,
}

impl VisitorMut for CountsAsExists {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.aggregates += usize::from(super::aggregates::aggregate_call(expr));
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.aggregates -= usize::from(super::aggregates::aggregate_call(expr));
        if let (0, Expr::BinaryOp { left, op, right }) = (self.aggregates, &*expr) {
            if let Some(exists) = count_as_exists(left, op, right) {
                *expr = exists;
            }
        }
        ControlFlow::Continue(())
    }
}

/// `(SELECT count(*) …) > 0` as EXISTS; either side may hold the count.
fn count_as_exists(left: &Expr, op: &BinaryOperator, right: &Expr) -> Option<Expr> {
    use BinaryOperator::*;
    let (subquery, op, bound) = match (left, right) {
        (Expr::Subquery(subquery), other) => (subquery, op.clone(), integer_literal(other)?),
        (other, Expr::Subquery(subquery)) => {
            let flipped = match op {
                Gt => Lt,
                Lt => Gt,
                GtEq => LtEq,
                LtEq => GtEq,
                other => other.clone(),
            };
            (subquery, flipped, integer_literal(other)?)
        }
        _ => return None,
    };
    let exists = match (op, bound) {
        (Gt, 0) | (GtEq, 1) | (NotEq, 0) => true,
        (Eq, 0) | (Lt, 1) | (LtEq, 0) => false,
        _ => return None,
    };
    if subquery.with.is_some() || subquery.limit_clause.is_some() || subquery.order_by.is_some() {
        return None;
    }
    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
    let [SelectItem::UnnamedExpr(count) | SelectItem::ExprWithAlias { expr: count, .. }] = select.projection.as_slice() else {
        return None;
    };
    if has_group_by(select) || select.having.is_some() || !count.to_string().eq_ignore_ascii_case("count(*)") {
        return None;
    }
    let mut rows = select.as_ref().clone();
    rows.projection = vec![SelectItem::Wildcard(Default::default())];
    let not = if exists { "" } else { "NOT " };
    parse_expr(&format!("{not}EXISTS ({rows})"))
}

impl Quantified<'_> {
    /// `subquery` with its one output named `__floe_v`, when it reads only
    /// its own FROM.
    fn uncorrelated(&self, subquery: &Query) -> Option<Query> {
        let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
        let inner = self.resolver.scopes(&select.from)?;
        let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] = select.projection.as_slice() else {
            return None;
        };
        let clauses = std::iter::once(value).chain(select.selection.as_ref()).chain(select.having.as_ref());
        for expr in clauses {
            sides(expr, &inner, &[])?;
        }
        named_value(subquery)
    }

    /// SQL of a scalar subquery of `aggregate` (a call with `{}` for S's one
    /// value) over S's rows, or only those whose value is NULL: S's own
    /// SELECT with that item where S only filters — correlated or not, the
    /// subquery pass decorrelates it — else over S as a derived table,
    /// uncorrelated only.
    fn over_values(&self, subquery: &Query) -> Option<Box<dyn Fn(&str, Rows) -> String>> {
        let (value, from, filter) = match filtering_select(subquery) {
            Some(select) => {
                let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] = select.projection.as_slice() else {
                    return None;
                };
                (value.to_string(), from_text(&select), select.selection.as_ref().map(ToString::to_string))
            }
            None => (VALUE.to_string(), format!("({}) AS __floe_q", self.uncorrelated(subquery)?), None),
        };
        Some(Box::new(move |aggregate: &str, rows: Rows| {
            let nulls = matches!(rows, Rows::Nulls).then(|| format!("{value} IS NULL"));
            let filter = filter.iter().map(|f| format!("({f})")).chain(nulls).collect::<Vec<_>>().join(" AND ");
            let filter = if filter.is_empty() { filter } else { format!(" WHERE {filter}") };
            format!("(SELECT {} FROM {from}{filter})", aggregate.replace("{}", &value))
        }))
    }

    /// `x op ANY (S)`: true when `x op y` for a y of S, else unknown when S
    /// holds a NULL or x is one, else false (an empty S too). Over S's
    /// minimum or maximum, with S's rows and its NULLs counted.
    fn any(&self, left: &Expr, op: &BinaryOperator, right: &Expr) -> Option<Expr> {
        let Expr::Subquery(subquery) = right else { return None };
        let over = self.over_values(subquery)?;
        let holds = match op {
            BinaryOperator::Gt | BinaryOperator::GtEq => format!("{left} {op} {}", over("min({})", Rows::All)),
            BinaryOperator::Lt | BinaryOperator::LtEq => format!("{left} {op} {}", over("max({})", Rows::All)),
            BinaryOperator::NotEq => format!("{left} <> {} OR {left} <> {}", over("min({})", Rows::All), over("max({})", Rows::All)),
            _ => return None,
        };
        let (rows, nulls) = (over("count(*)", Rows::All), over("count(*)", Rows::Nulls));
        parse_expr(&format!("({rows} > 0 AND (({holds}) OR CASE WHEN {nulls} = 0 THEN FALSE END))"))
    }

    /// `x op ALL (S)`: false when `x op y` is false for a y of S, else
    /// unknown when S holds a NULL or x is one, else true (an empty S too).
    fn all(&self, left: &Expr, op: &BinaryOperator, right: &Expr) -> Option<Expr> {
        let Expr::Subquery(subquery) = right else { return None };
        let over = self.over_values(subquery)?;
        let holds = match op {
            BinaryOperator::Gt | BinaryOperator::GtEq => format!("{left} {op} {}", over("max({})", Rows::All)),
            BinaryOperator::Lt | BinaryOperator::LtEq => format!("{left} {op} {}", over("min({})", Rows::All)),
            BinaryOperator::Eq => format!("{left} = {} AND {left} = {}", over("min({})", Rows::All), over("max({})", Rows::All)),
            _ => return None,
        };
        let (rows, nulls) = (over("count(*)", Rows::All), over("count(*)", Rows::Nulls));
        parse_expr(&format!("({rows} = 0 OR (({holds}) AND CASE WHEN {nulls} = 0 THEN TRUE END))"))
    }

    /// A WHERE conjunct `x [NOT] IN (S)` (polars-sql keeps SQL's NULL rules
    /// for NOT IN itself) read through a derived table when S's FROM shares column
    /// names with the outer one — polars-sql then cannot make it a semi join
    /// and tests each row against a list instead, after every join (TPC-DS 33
    /// took 86 s at SF 1).
    fn membership(&self, conjunct: &Expr, outer: &[Scope]) -> Option<String> {
        let Expr::InSubquery { expr, subquery, negated } = conjunct else { return None };
        // polars-sql semi-joins an IN only when its WHERE holds no subquery
        // of its own (TPC-H 20: a nested IN); a derived table holds it instead.
        let nested = has_nested_subquery(subquery);
        let named = match nested && self.resolver.self_contained(subquery) {
            true => named_value(subquery)?,
            false => self.uncorrelated(subquery)?,
        };
        let shares = nested || self.shares_names(subquery, outer);
        let set = if shares { format!("SELECT __floe_in.{VALUE} FROM ({named}) AS __floe_in") } else { subquery.to_string() };
        let not = if *negated { "NOT " } else { "" };
        shares.then(|| format!("{expr} {not}IN ({set})"))
    }
}

/// The rows of a quantified comparison's subquery an aggregate reads.
#[derive(Clone, Copy)]
enum Rows {
    All,
    Nulls,
}

/// Where a predicate stands in a WHERE: below an OR or a NOT (a conjunct
/// only filters), and below a NOT (unknown is no longer false there).
#[derive(Clone, Copy, Default)]
struct Under {
    or: bool,
    not: bool,
}

/// S's one SELECT when it only filters its FROM: no grouping, aggregate,
/// window, limit or CTE, so an aggregate over its value can replace its item
/// (DISTINCT does not change a minimum, a maximum or whether a count is 0).
fn filtering_select(subquery: &Query) -> Option<sqlparser::ast::Select> {
    if subquery.with.is_some() || subquery.limit_clause.is_some() || subquery.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
    let plain = !has_group_by(select) && select.having.is_none() && select.qualify.is_none() && select.named_window.is_empty();
    let mut calls = false;
    let _ = crate::sql::visit::visit_expressions(&select.projection, |expr| {
        calls |= super::aggregates::window_call(expr) || super::aggregates::aggregate_call(expr);
        ControlFlow::<()>::Continue(())
    });
    (plain && !calls).then(|| select.as_ref().clone())
}

/// `subquery` (one SELECT of one output) with its output named `__floe_v`.
fn named_value(subquery: &Query) -> Option<Query> {
    let mut named = subquery.clone();
    let SetExpr::Select(body) = named.body.as_mut() else { return None };
    let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] = body.projection.as_slice() else {
        return None;
    };
    body.projection = vec![SelectItem::ExprWithAlias { expr: value.clone(), alias: sqlparser::ast::Ident::new(VALUE) }];
    Some(named)
}

/// Whether the subquery's WHERE holds a subquery of its own.
fn has_nested_subquery(subquery: &Query) -> bool {
    let SetExpr::Select(select) = subquery.body.as_ref() else { return false };
    let Some(selection) = &select.selection else { return false };
    let mut found = false;
    let _ = crate::sql::visit::visit_expressions(selection, |expr| {
        found |= matches!(expr, Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. });
        ControlFlow::<()>::Continue(())
    });
    found
}
