//! Scalar subqueries, which polars-sql cannot plan (`x > (SELECT avg(x)
//! FROM t)`, `BETWEEN (SELECT …) AND (SELECT …)`, `1.2 * (SELECT …)`, `CASE
//! WHEN (SELECT count(*) …) > 10 THEN …`), rewritten into joins it can:
//!
//! - uncorrelated (anywhere in WHERE, HAVING and the SELECT list): the
//!   subquery, whole, becomes a CTE `__floe_sqN(__floe_sqN_v)` cross-joined
//!   into the outer FROM, and the expression reads its value (`max(…)` in
//!   HAVING and in a grouped SELECT's items that aggregate, where a bare
//!   column is not allowed; a grouping key of its own in those that do not);
//! - in an aggregate's arguments, correlated too: a value per row, as in the
//!   SELECT list of a query that does not aggregate (`correlated_items.rs`);
//! - correlated by equalities (`WHERE inner.k = outer.k AND <local filters>`),
//!   where only comparisons and arithmetic lie between it and the predicate:
//!   the CTE groups by the inner keys (`__floe_k1…`), is joined on them, and
//!   the comparison reads the group's value. Outer rows without a group
//!   compare against NULL and drop out, as they would in SQL — which is why
//!   a value that is not NULL over no rows (`count`, `coalesce(max(x), 0)`)
//!   is left alone;
//! - correlated otherwise in WHERE (by `<`, `<>`, or a `count`): a value per
//!   distinct set of the outer values it reads, LEFT JOINed back on them, as
//!   in a SELECT list (`correlated_items.rs`);
//! - `(a, b) IN (SELECT x, y …)` in WHERE: an EXISTS over the subquery
//!   whole (`row_values.rs`).
//!
//! Deciding which side of an equality is outer needs the tables' columns, so
//! this runs at planning time with the schemas in hand. A subquery it cannot
//! prove safe to rewrite is left as written (and polars-sql says why it fails).

use sqlparser::ast::{BinaryOperator, Cte, Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, Statement};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::aggregates::{holds_aggregate, null_without_rows};
use super::scope::*;

mod correlated;
mod grouped;
mod joins;
mod ungrouped;

pub(super) use joins::add_ctes;
use joins::{join_added, parsed_join};

const VALUE: &str = "__floe_v";

pub(super) fn decorrelate(statement: &mut Statement, columns: &Columns) {
    let Statement::Query(query) = statement else { return };
    let mut rewriter = Rewriter { resolver: Resolver::new(query, columns), ctes: Vec::new(), select_list_from: None, outer_filters: None, per_group: false };
    let _ = query.visit(&mut rewriter);
    add_ctes(query, rewriter.ctes);
}

struct Rewriter<'a> {
    resolver: Resolver<'a>,
    ctes: Vec<Cte>,
    /// The FROM of the SELECT whose list or WHERE is being rewritten
    /// (correlated subqueries there read their outer values from it).
    select_list_from: Option<String>,
    /// Whether a correlated subquery's value is read in a grouped item that
    /// aggregates: one value per group (correlated with its keys), taken by `max`.
    per_group: bool,
    /// The filters of the SELECT whose WHERE is being rewritten, which
    /// narrow the keys a correlated subquery's CTE groups (`narrowed_keys.rs`).
    outer_filters: Option<super::narrowed_keys::OuterFilters>,
}

/// The CTE and the outer-side pieces that replace one scalar subquery.
struct Replacement {
    cte_sql: String,
    /// `__floe_kI = <outer expr>` conjuncts for the outer WHERE.
    join_conditions: Vec<String>,
    /// The CTE's column the value is in: its own name for one cross-joined
    /// (`__floe_sqN_v`), so that two such values are never named alike.
    value_column: String,
}

impl Rewriter<'_> {
    /// How `subquery` becomes a CTE; correlated ones only where `correlated`
    /// allows (a comparison, where a missing group's NULL drops the row as
    /// the inner join does).
    fn plan_replacement(&self, subquery: &Query, outer: &[Scope], name: &str, correlated: bool) -> Option<Replacement> {
        let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
        let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] = select.projection.as_slice()
        else {
            return None;
        };
        let inner = self.resolver.scopes(&select.from)?;
        let Correlation { local, links } = correlate(select, &inner, outer)?;
        if sides(value, &inner, outer)?.contains(&Side::Outer) {
            return None;
        }
        if links.is_empty() {
            return uncorrelated(subquery, select, &inner, outer, &format!("{name}_v"));
        }
        if !correlated || plain_select(subquery).is_none() {
            return None;
        }
        let keys = links
            .into_iter()
            .map(|(op, inner, outer)| (op == BinaryOperator::Eq).then_some((inner, outer)))
            .collect::<Option<Vec<_>>>()?;
        if !null_without_rows(value) {
            return None;
        }
        let mut local = local;
        if let Some(filters) = &self.outer_filters {
            local.extend(keys.iter().filter_map(|(inner, outer_key)| filters.restriction(inner, outer_key, outer)));
        }
        let from = from_text(select);
        let (cte_sql, join_conditions) = grouped_cte(name, &keys, &format!("{value} AS {VALUE}"), &from, &local);
        Some(Replacement { cte_sql, join_conditions, value_column: VALUE.into() })
    }
}

/// A subquery that reads nothing of the outer query is a relation of its
/// own, kept whole (DISTINCT, GROUP BY, ORDER BY, LIMIT) as a CTE and cross
/// joined. An aggregate of all its rows is one row; any other is read
/// through `floe_one_row` (NULL over no rows, an error past one, as SQL
/// says), since a cross join with no rows would drop every outer row where
/// the NULL it stands for may not (`CASE`, `OR`, a SELECT item).
fn uncorrelated(subquery: &Query, select: &Select, inner: &[Scope], outer: &[Scope], value_column: &str) -> Option<Replacement> {
    let GroupByExpr::Expressions(keys, _) = &select.group_by else { return None };
    for expr in keys.iter().chain(select.having.as_ref()) {
        if sides(expr, inner, outer)?.contains(&Side::Outer) {
            return None;
        }
    }
    if subquery.with.is_some() {
        return None;
    }
    let mut cte = subquery.clone();
    let SetExpr::Select(body) = cte.body.as_mut() else { return None };
    let value = match body.projection.pop()? {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return None,
    };
    let one_row = holds_aggregate(&value) && plain_select(subquery).is_some() && subquery.fetch.is_none() && body.qualify.is_none();
    body.projection.push(SelectItem::ExprWithAlias { expr: value, alias: sqlparser::ast::Ident::new(value_column) });
    let cte_sql = match one_row {
        true => cte.to_string(),
        false => format!("SELECT floe_one_row(count(*), min({value_column})) AS {value_column} FROM ({cte}) AS __floe_rows"),
    };
    Some(Replacement { cte_sql, join_conditions: Vec::new(), value_column: value_column.into() })
}

impl Rewriter<'_> {
    /// Rewrites the comparisons of one SELECT's WHERE or HAVING in place.
    fn rewrite_clause(&mut self, clause: &mut Expr, outer: &[Scope], in_having: bool, added: &mut Added) {
        match clause {
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
                self.rewrite_clause(left, outer, in_having, added);
                self.rewrite_clause(right, outer, in_having, added);
            }
            Expr::Nested(inner) => self.rewrite_clause(inner, outer, in_having, added),
            Expr::Exists { subquery, negated } if !in_having => {
                let negated = *negated;
                let name = format!("__floe_sq{}", self.ctes.len() + 1);
                let unjoinable = self.correlated_unjoinably(subquery, outer);
                let Some(plan) = super::exists::plan(&self.resolver, subquery, outer, &name, negated, self.outer_filters.as_ref()) else {
                    // Correlated by an inequality (`s.k > o.k`) or an expression of the
                    // outer row, which polars-sql's semi join cannot take: whether the count
                    // of its rows is 0, a value per outer row like any correlated count.
                    if let Some(counted) = super::exists_values::as_count(clause).filter(|_| unjoinable) {
                        *clause = counted;
                        self.rewrite_clause(clause, outer, in_having, added);
                    }
                    return;
                };
                let Some(cte) = parse_cte(&name, &plan.cte_sql) else { return };
                let Some(test) = parse_expr(&plan.test) else { return };
                *clause = test;
                self.resolver.cte_columns.insert(name.clone(), vec!["__floe_k1".into(), "__floe_min".into(), "__floe_max".into()]);
                self.ctes.push(cte);
                if negated {
                    added.left_joins.push((name, plan.join_on.join(" AND ")));
                } else {
                    added.joins.push((name, plan.join_on));
                }
            }
            Expr::InSubquery { expr: value, subquery, negated: false } if !in_having && self.correlated_unjoinably(subquery, outer) => {
                if let Some(counted) = self.membership_as_count(value, subquery, outer) {
                    *clause = counted;
                    self.rewrite_clause(clause, outer, in_having, added);
                }
            }
            Expr::InSubquery { expr: row, subquery, negated: false } if !in_having && matches!(row.as_ref(), Expr::Tuple(_)) => {
                let alias = format!("__floe_in{}", self.ctes.len() + 1);
                let exists = self.resolver.self_contained(subquery).then(|| super::row_values::as_exists(row, subquery, &alias)).flatten();
                if let Some(exists) = exists {
                    *clause = exists;
                    self.rewrite_clause(clause, outer, in_having, added);
                }
            }
            leaf => {
                let mut cross_joined = false;
                self.replace_within(leaf, true, outer, in_having, added, &mut cross_joined);
                if cross_joined && !in_having {
                    // Polars 0.55 turns a cross join filtered by an inequality
                    // into a join its streaming engine cannot run ("entered
                    // unreachable code"); `IS TRUE` keeps it a plain filter,
                    // and in WHERE it means the same (NULL drops the row).
                    *leaf = Expr::IsTrue(Box::new(Expr::Nested(Box::new(leaf.clone()))));
                }
            }
        }
    }

    /// Replaces the scalar subqueries in `expr` (not those of nested
    /// queries, already rewritten) with their CTE's value; `strict` while
    /// only comparisons and arithmetic lie between them and the predicate.
    fn replace_within(&mut self, expr: &mut Expr, strict: bool, outer: &[Scope], in_having: bool, added: &mut Added, cross_joined: &mut bool) {
        use BinaryOperator::*;
        // An aggregate's arguments are values per row, which only the grouped pass reads so.
        let row_function = matches!(expr, Expr::Function(function) if function.over.is_none()) && !super::aggregates::aggregate_call(expr);
        match expr {
            Expr::Subquery(subquery) => {
                let name = format!("__floe_sq{}", self.ctes.len() + 1);
                let Some(replacement) = self.plan_replacement(subquery, outer, &name, strict) else {
                    return self.replace_correlated_item(expr, outer, added);
                };
                if in_having && !replacement.join_conditions.is_empty() && !self.per_group {
                    return;
                }
                let Some(cte) = parse_cte(&name, &replacement.cte_sql) else { return };
                let column = &replacement.value_column;
                let reference = if in_having { format!("max({name}.{column})") } else { format!("{name}.{column}") };
                let Some(value) = parse_expr(&reference) else { return };
                *expr = value;
                *cross_joined |= replacement.join_conditions.is_empty();
                let known = if replacement.join_conditions.is_empty() { vec![replacement.value_column] } else { Vec::new() };
                self.resolver.cte_columns.insert(name.clone(), known);
                self.ctes.push(cte);
                added.joins.push((name, replacement.join_conditions));
            }
            Expr::BinaryOp { left, op, right } => {
                let strict = strict && (is_comparison(op) || matches!(op, Plus | Minus | Multiply | Divide));
                self.replace_within(left, strict, outer, in_having, added, cross_joined);
                self.replace_within(right, strict, outer, in_having, added, cross_joined);
            }
            Expr::Nested(inner) | Expr::Cast { expr: inner, .. } | Expr::UnaryOp { expr: inner, .. } => {
                self.replace_within(inner, strict, outer, in_having, added, cross_joined)
            }
            Expr::InList { expr: inner, list, .. } => {
                for part in std::iter::once(inner.as_mut()).chain(list.iter_mut()) {
                    self.replace_within(part, false, outer, in_having, added, cross_joined);
                }
            }
            Expr::IsDistinctFrom(left, right) | Expr::IsNotDistinctFrom(left, right) => {
                self.replace_within(left, false, outer, in_having, added, cross_joined);
                self.replace_within(right, false, outer, in_having, added, cross_joined);
            }
            Expr::IsNull(inner)
            | Expr::IsNotNull(inner)
            | Expr::IsTrue(inner)
            | Expr::IsNotTrue(inner)
            | Expr::IsFalse(inner)
            | Expr::IsNotFalse(inner)
            | Expr::IsUnknown(inner)
            | Expr::IsNotUnknown(inner)
            | Expr::Extract { expr: inner, .. }
            | Expr::Ceil { expr: inner, .. }
            | Expr::Floor { expr: inner, .. }
            | Expr::Trim { expr: inner, .. } => self.replace_within(inner, false, outer, in_having, added, cross_joined),
            Expr::Substring { expr: inner, substring_from, substring_for, .. } => {
                self.replace_within(inner, false, outer, in_having, added, cross_joined);
                for part in substring_from.iter_mut().chain(substring_for.iter_mut()) {
                    self.replace_within(part, false, outer, in_having, added, cross_joined);
                }
            }
            Expr::Like { expr: inner, pattern, .. } | Expr::ILike { expr: inner, pattern, .. } => {
                self.replace_within(inner, false, outer, in_having, added, cross_joined);
                self.replace_within(pattern, false, outer, in_having, added, cross_joined);
            }
            Expr::Function(function) if row_function => {
                for argument in function_args_mut(function) {
                    self.replace_within(argument, false, outer, in_having, added, cross_joined);
                }
            }
            Expr::Between { expr, low, high, .. } => {
                for part in [expr, low, high] {
                    self.replace_within(part, strict, outer, in_having, added, cross_joined);
                }
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                for part in operand.iter_mut().chain(else_result.iter_mut()) {
                    self.replace_within(part, false, outer, in_having, added, cross_joined);
                }
                for when in conditions {
                    self.replace_within(&mut when.condition, false, outer, in_having, added, cross_joined);
                    self.replace_within(&mut when.result, false, outer, in_having, added, cross_joined);
                }
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct Added {
    /// (relation, its join conditions; none: cross-joined) to inner-join.
    joins: Vec<(String, Vec<String>)>,
    /// (relation, ON condition) to LEFT JOIN once the FROM is one join chain.
    left_joins: Vec<(String, String)>,
}

/// Whether a SELECT item aggregates, outside its subqueries.
fn item_aggregates(item: &SelectItem) -> bool {
    item_expr(item).is_some_and(holds_aggregate)
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    // Post-order: a subquery's own subqueries are rewritten before it is.
    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        if self.rewrite_body(query.body.as_mut()) {
            // One row (none where HAVING fails): nothing to sort, and the keys
            // could name aggregates the query above no longer has.
            query.order_by = None;
        }
        std::ops::ControlFlow::Continue(())
    }
}

impl Rewriter<'_> {
    /// Each SELECT of a query's body, the branches of UNION / INTERSECT /
    /// EXCEPT included; whether the body is one SELECT whose aggregates
    /// moved below it (`ungrouped.rs`).
    fn rewrite_body(&mut self, body: &mut SetExpr) -> bool {
        match body {
            SetExpr::Select(select) => self.rewrite_select(select),
            SetExpr::SetOperation { left, right, .. } => {
                self.rewrite_body(left);
                self.rewrite_body(right);
                false
            }
            _ => false,
        }
    }

    fn rewrite_select(&mut self, select: &mut Select) -> bool {
        let split = ungrouped::aggregated_below(select, &self.resolver);
        if let Some(aggregated) = ungrouped::aggregated_mut(select).filter(|_| split) {
            self.rewrite_select(aggregated);
        }
        let Some(outer) = self.resolver.scopes(&select.from) else { return split };
        let mut added = Added::default();
        self.outer_filters = Some(super::narrowed_keys::OuterFilters::of(select, &outer, &self.resolver));
        let from = from_text(select);
        // A correlated subquery no grouped join can stand for (correlated by
        // `<`, or a count, whose empty group is 0) is a value per outer row,
        // as in a SELECT list.
        self.select_list_from = Some(from.clone());
        if let Some(selection) = &mut select.selection {
            self.rewrite_clause(selection, &outer, false, &mut added);
        }
        self.select_list_from = None;
        self.outer_filters = None;
        if let Some(mut having) = select.having.take() {
            // Correlated with the keys only, a subquery is one value per group:
            // joined on them, or a value per row of them read by `max`.
            let keyed = self.keyed_having(select, &having, &outer);
            self.select_list_from = keyed.then(|| from.clone());
            self.per_group = keyed;
            self.rewrite_clause(&mut having, &outer, true, &mut added);
            (self.select_list_from, self.per_group) = (None, false);
            select.having = Some(having);
        }
        // In the SELECT list of a query that does not aggregate, uncorrelated ones.
        let grouped = has_group_by(select)
            || select.projection.iter().any(item_aggregates);
        if !grouped {
            // Nothing above changed the FROM list (joins are added below).
            self.select_list_from = Some(from);
            for item in &mut select.projection {
                let written = unaliased_text(item);
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                    self.replace_within(expr, false, &outer, false, &mut added, &mut false);
                }
                keep_written_name(item, written);
            }
            self.select_list_from = None;
        } else {
            self.rewrite_grouped_items(select, &outer, from, &mut added);
        }
        join_added(select, added.joins, &self.resolver);
        if !added.left_joins.is_empty() {
            // A LEFT JOIN needs a join chain to hang on: make the comma list explicit first.
            super::comma_joins::explicit_joins(select, &self.resolver);
            for (relation, on) in &added.left_joins {
                if let (Some(first), Some(join)) = (select.from.first_mut(), parsed_join(&format!("LEFT JOIN {relation} ON {on}"))) {
                    first.joins.push(join);
                }
            }
        }
        split
    }
}

/// The text of an item without an alias: the name it is presented under.
pub(super) fn unaliased_text(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::UnnamedExpr(expr) => Some(expr.to_string()),
        _ => None,
    }
}

/// An unaliased item a rewrite changed keeps the name its text gave it:
/// polars-sql would name it after the column it now reads first (a
/// subquery's value, `__floe_sq1_v`).
pub(super) fn keep_written_name(item: &mut SelectItem, written: Option<String>) {
    if let (SelectItem::UnnamedExpr(expr), Some(written)) = (&*item, written) {
        if expr.to_string() != written {
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: sqlparser::ast::Ident::with_quote('"', written) };
        }
    }
}
