//! Scalar subqueries in comparisons, which polars-sql cannot plan
//! (`x > (SELECT avg(x) FROM t)`), rewritten into joins it can:
//!
//! - uncorrelated: the subquery becomes a one-row CTE `__floe_sqN(__floe_v)`
//!   cross-joined into the outer FROM, and the comparison reads `__floe_v`
//!   (`max(__floe_v)` in HAVING, where a bare column is not allowed);
//! - correlated by equalities (`WHERE inner.k = outer.k AND <local filters>`):
//!   the CTE groups by the inner keys (`__floe_k1…`), is joined on them, and
//!   the comparison reads the group's value. Outer rows without a group
//!   compare against NULL and drop out, as they would in SQL — which is why
//!   `count` (0 for an empty group, not NULL) is left alone.
//!
//! Deciding which side of an equality is outer needs the tables' columns, so
//! this runs at planning time with the schemas in hand. A subquery it cannot
//! prove safe to rewrite is left as written (and polars-sql says why it fails).

use std::collections::HashMap;

use sqlparser::ast::{
    BinaryOperator, Cte, Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, Statement, TableFactor,
    TableWithJoins, VisitMut, VisitorMut,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::rewrite::RelationName;

/// Column names per catalog relation (as written in the query).
pub type Columns = HashMap<RelationName, Vec<String>>;

const VALUE: &str = "__floe_v";

pub(super) fn decorrelate(statement: &mut Statement, columns: &Columns) {
    let Statement::Query(query) = statement else { return };
    let mut rewriter = Rewriter { resolver: Resolver::new(query, columns), ctes: Vec::new() };
    let _ = query.visit(&mut rewriter);
    if rewriter.ctes.is_empty() {
        return;
    }
    let mut new_ctes = rewriter.ctes;
    match &mut query.with {
        // After the query's own CTEs: a subquery may read them (TPC-H 15).
        Some(with) => with.cte_tables.append(&mut new_ctes),
        None => {
            let Some(mut with) = parse_query("WITH __floe_x AS (SELECT 1) SELECT 1").and_then(|q| q.with) else { return };
            with.cte_tables = new_ctes;
            query.with = Some(with);
        }
    }
}

pub(super) fn parse_query(sql: &str) -> Option<Query> {
    match Parser::parse_sql(&GenericDialect {}, sql).ok()?.pop()? {
        Statement::Query(query) => Some(*query),
        _ => None,
    }
}

pub(super) fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&GenericDialect {}).try_with_sql(sql).ok()?.parse_expr().ok()
}

/// The names a SELECT's items output, where they can be read off the SQL.
fn output_names(select: &Select) -> Vec<Option<String>> {
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last().map(|p| p.value.clone()),
            _ => None,
        })
        .collect()
}

/// Output column names of every CTE, for resolving references to them.
fn collect_cte_columns(query: &Query, out: &mut HashMap<String, Vec<String>>) {
    let Some(with) = &query.with else { return };
    for cte in &with.cte_tables {
        if let SetExpr::Select(select) = cte.query.body.as_ref() {
            out.insert(cte.alias.name.value.clone(), output_names(select).into_iter().flatten().collect());
        }
    }
}

struct Rewriter<'a> {
    resolver: Resolver<'a>,
    ctes: Vec<Cte>,
}

/// One relation in a FROM clause: the name columns are qualified by, and its columns.
pub(super) struct Scope {
    pub qualifier: String,
    pub columns: Vec<String>,
}

impl Scope {
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.eq_ignore_ascii_case(name))
    }
}

/// Knows the columns of catalog relations, CTEs and derived tables.
pub(super) struct Resolver<'a> {
    columns: &'a Columns,
    cte_columns: HashMap<String, Vec<String>>,
}

impl<'a> Resolver<'a> {
    pub fn new(query: &Query, columns: &'a Columns) -> Self {
        let mut cte_columns = HashMap::new();
        collect_cte_columns(query, &mut cte_columns);
        Self { columns, cte_columns }
    }

    pub fn scopes(&self, from: &[TableWithJoins]) -> Option<Vec<Scope>> {
        let factors = from.iter().flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
        factors.map(|factor| self.scope(factor)).collect()
    }

    pub fn scope(&self, factor: &TableFactor) -> Option<Scope> {
        match factor {
                TableFactor::Table { name, alias, args: None, .. } => {
                    let parts: RelationName = name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone())).collect::<Option<_>>()?;
                    let columns = match parts.as_slice() {
                        [single] if self.cte_columns.contains_key(single) => self.cte_columns[single].clone(),
                        _ => self.columns.get(&parts)?.clone(),
                    };
                    let qualifier = alias.as_ref().map(|a| a.name.value.clone()).or_else(|| parts.last().cloned())?;
                    Some(Scope { qualifier, columns })
                }
                TableFactor::Derived { subquery, alias: Some(alias), .. } => {
                    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
                    // Every column must be known, or a name could be missed as outer.
                    let columns = output_names(select).into_iter().collect::<Option<_>>()?;
                    Some(Scope { qualifier: alias.name.value.clone(), columns })
                }
                _ => None,
            }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Inner,
    Outer,
}

/// Which scope each column of `expr` belongs to; None if any is unknown or
/// the expression holds a subquery of its own.
pub(super) fn sides(expr: &Expr, inner: &[Scope], outer: &[Scope]) -> Option<Vec<Side>> {
    struct Collect<'a> {
        inner: &'a [Scope],
        outer: &'a [Scope],
        found: Vec<Side>,
        unknown: bool,
    }
    impl sqlparser::ast::Visitor for Collect<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            let side = match expr {
                // SQL scoping: the nearest FROM wins.
                Expr::Identifier(ident) => self.nearest(|s| s.has_column(&ident.value)),
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                    self.nearest(|s| s.qualifier.eq_ignore_ascii_case(&parts[0].value))
                }
                Expr::CompoundIdentifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.unknown = true;
                    return std::ops::ControlFlow::Break(());
                }
                _ => return std::ops::ControlFlow::Continue(()),
            };
            match side {
                Some(side) => self.found.push(side),
                None => {
                    self.unknown = true;
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    impl Collect<'_> {
        fn nearest(&self, owns: impl Fn(&Scope) -> bool) -> Option<Side> {
            if self.inner.iter().any(&owns) {
                Some(Side::Inner)
            } else if self.outer.iter().any(&owns) {
                Some(Side::Outer)
            } else {
                None
            }
        }
    }
    let mut collect = Collect { inner, outer, found: Vec::new(), unknown: false };
    let _ = sqlparser::ast::Visit::visit(expr, &mut collect);
    (!collect.unknown).then_some(collect.found)
}

pub(super) fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut all = conjuncts(left);
            all.extend(conjuncts(right));
            all
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => conjuncts(inner),
        other => vec![other],
    }
}

fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq | BinaryOperator::NotEq | BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq
    )
}

fn has_aggregate(expr: &Expr, allow_count: bool) -> bool {
    let text = expr.to_string().to_ascii_lowercase();
    let agg = ["min(", "max(", "sum(", "avg(", "mean(", "median(", "stddev(", "variance("].iter().any(|f| text.contains(f));
    agg && (allow_count || !text.contains("count("))
}

/// A subquery's WHERE split by what it reads: `local` conjuncts read only its
/// own FROM; each link compares an inner-only side with an outer-only side
/// (`(op, inner, outer)`). None when a conjunct mixes them any other way.
pub(super) struct Correlation {
    pub local: Vec<String>,
    pub links: Vec<(BinaryOperator, String, String)>,
}

pub(super) fn correlate(select: &Select, inner: &[Scope], outer: &[Scope]) -> Option<Correlation> {
    let all = |s: &[Side], side| !s.is_empty() && s.iter().all(|x| *x == side);
    let mut correlation = Correlation { local: Vec::new(), links: Vec::new() };
    for conjunct in select.selection.as_ref().map(conjuncts).unwrap_or_default() {
        if !sides(conjunct, inner, outer)?.contains(&Side::Outer) {
            correlation.local.push(conjunct.to_string());
            continue;
        }
        let Expr::BinaryOp { left, op, right } = conjunct else { return None };
        let (l, r) = (sides(left, inner, outer)?, sides(right, inner, outer)?);
        let link = if all(&l, Side::Inner) && all(&r, Side::Outer) {
            (op.clone(), left.to_string(), right.to_string())
        } else if all(&l, Side::Outer) && all(&r, Side::Inner) {
            // `outer < inner` is `inner > outer`; only = and <> are used, which read the same both ways.
            (op.clone(), right.to_string(), left.to_string())
        } else {
            return None;
        };
        correlation.links.push(link);
    }
    Some(correlation)
}

/// `SELECT <keys as __floe_kI>, <values> FROM … WHERE <local> GROUP BY <keys>`
/// and the `name.__floe_kI = <outer>` conditions joining it back; without
/// keys, one row and no conditions.
pub(super) fn grouped_cte(
    name: &str,
    keys: &[(String, String)],
    values: &str,
    from: &str,
    local: &[String],
) -> (String, Vec<String>) {
    let filter = if local.is_empty() { String::new() } else { format!(" WHERE {}", local.join(" AND ")) };
    if keys.is_empty() {
        return (format!("SELECT {values} FROM {from}{filter}"), Vec::new());
    }
    let items: Vec<String> = keys.iter().enumerate().map(|(i, (inner, _))| format!("{inner} AS __floe_k{}", i + 1)).collect();
    let group: Vec<&str> = keys.iter().map(|(inner, _)| inner.as_str()).collect();
    let sql = format!("SELECT {}, {values} FROM {from}{filter} GROUP BY {}", items.join(", "), group.join(", "));
    let conditions = keys.iter().enumerate().map(|(i, (_, outer))| format!("{name}.__floe_k{} = {outer}", i + 1)).collect();
    (sql, conditions)
}

fn parse_cte(name: &str, sql: &str) -> Option<Cte> {
    parse_query(&format!("WITH {name} AS ({sql}) SELECT 1"))?.with?.cte_tables.into_iter().next()
}

/// The CTE and the outer-side pieces that replace one scalar subquery.
struct Replacement {
    cte_sql: String,
    /// `__floe_kI = <outer expr>` conjuncts for the outer WHERE.
    join_conditions: Vec<String>,
}

impl Rewriter<'_> {
    fn plan_replacement(&self, subquery: &Query, outer: &[Scope], name: &str) -> Option<Replacement> {
        if subquery.with.is_some() || subquery.order_by.is_some() || subquery.limit_clause.is_some() {
            return None;
        }
        let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
        let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] = select.projection.as_slice()
        else {
            return None;
        };
        if select.distinct.is_some() || select.having.is_some() || !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty()) {
            return None;
        }
        let inner = self.resolver.scopes(&select.from)?;
        let from = select.from.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let Correlation { local, links } = correlate(select, &inner, outer)?;
        let keys = links
            .into_iter()
            .map(|(op, inner, outer)| (op == BinaryOperator::Eq).then_some((inner, outer)))
            .collect::<Option<Vec<_>>>()?;
        if sides(value, &inner, outer)?.contains(&Side::Outer) || !has_aggregate(value, keys.is_empty()) {
            return None;
        }
        let (cte_sql, join_conditions) = grouped_cte(name, &keys, &format!("{value} AS {VALUE}"), &from, &local);
        Some(Replacement { cte_sql, join_conditions })
    }

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
                let Some(plan) = super::exists::plan(&self.resolver, subquery, outer, &name, negated) else { return };
                let Some(cte) = parse_cte(&name, &plan.cte_sql) else { return };
                let Some(test) = parse_expr(&plan.test) else { return };
                *clause = test;
                self.resolver.cte_columns.insert(name.clone(), vec!["__floe_k1".into(), "__floe_min".into(), "__floe_max".into()]);
                self.ctes.push(cte);
                if negated {
                    added.left_joins.push((name, plan.join_on.join(" AND ")));
                } else {
                    added.relations.push(name);
                    added.conditions.extend(plan.join_on);
                }
            }
            Expr::BinaryOp { left, op, right } if is_comparison(op) => {
                let mut cross_joined = false;
                for side in [left, right] {
                    let Expr::Subquery(subquery) = side.as_ref() else { continue };
                    let name = format!("__floe_sq{}", self.ctes.len() + 1);
                    let Some(replacement) = self.plan_replacement(subquery, outer, &name) else { continue };
                    if in_having && !replacement.join_conditions.is_empty() {
                        continue;
                    }
                    let Some(cte) = parse_cte(&name, &replacement.cte_sql) else { continue };
                    let reference = if in_having { format!("max({name}.{VALUE})") } else { format!("{name}.{VALUE}") };
                    let Some(value) = parse_expr(&reference) else { continue };
                    **side = value;
                    cross_joined |= replacement.join_conditions.is_empty() && !in_having;
                    self.resolver.cte_columns.insert(name.clone(), Vec::new());
                    self.ctes.push(cte);
                    added.relations.push(name);
                    added.conditions.extend(replacement.join_conditions);
                }
                if cross_joined {
                    // Polars 0.55 turns a cross join filtered by an inequality
                    // into a join its streaming engine cannot run ("entered
                    // unreachable code"); `IS TRUE` keeps it a plain filter,
                    // and in WHERE it means the same (NULL drops the row).
                    *clause = Expr::IsTrue(Box::new(Expr::Nested(Box::new(clause.clone()))));
                }
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct Added {
    relations: Vec<String>,
    conditions: Vec<String>,
    /// (relation, ON condition) to LEFT JOIN once the FROM is one join chain.
    left_joins: Vec<(String, String)>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    // Post-order: a subquery's own subqueries are rewritten before it is.
    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            self.rewrite_select(select);
        }
        std::ops::ControlFlow::Continue(())
    }
}

impl Rewriter<'_> {
    fn rewrite_select(&mut self, select: &mut Select) {
        let Some(outer) = self.resolver.scopes(&select.from) else { return };
        let mut added = Added::default();
        if let Some(selection) = &mut select.selection {
            self.rewrite_clause(selection, &outer, false, &mut added);
        }
        if let Some(having) = &mut select.having {
            self.rewrite_clause(having, &outer, true, &mut added);
        }
        for relation in &added.relations {
            if let Some(mut parsed) = parse_query(&format!("SELECT 1 FROM {relation}")) {
                if let SetExpr::Select(s) = parsed.body.as_mut() {
                    select.from.append(&mut s.from);
                }
            }
        }
        if !added.conditions.is_empty() {
            let mut condition = added.conditions.join(" AND ");
            if let Some(existing) = &select.selection {
                condition = format!("({existing}) AND {condition}");
            }
            if let Some(parsed) = parse_expr(&condition) {
                select.selection = Some(parsed);
            }
        }
        if !added.left_joins.is_empty() {
            // A LEFT JOIN needs a join chain to hang on: make the comma list explicit first.
            super::comma_joins::explicit_joins(select, &self.resolver);
            for (relation, on) in &added.left_joins {
                let Some(mut parsed) = parse_query(&format!("SELECT 1 FROM __floe_x LEFT JOIN {relation} ON {on}")) else { continue };
                let SetExpr::Select(s) = parsed.body.as_mut() else { continue };
                if let (Some(first), Some(join)) = (select.from.first_mut(), s.from.first_mut().and_then(|t| t.joins.pop())) {
                    first.joins.push(join);
                }
            }
        }
    }
}
