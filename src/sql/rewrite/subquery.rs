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


use sqlparser::ast::{
    BinaryOperator, Cte, Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};


use super::scope::*;

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

struct Rewriter<'a> {
    resolver: Resolver<'a>,
    ctes: Vec<Cte>,
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
