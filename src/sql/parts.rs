//! A rendered query in the parts Floe hands polars-sql one by one: each
//! top-level CTE, and in a query that is itself handed over each derived
//! table of a FROM and each SELECT (or parenthesized query) of a UNION /
//! INTERSECT / EXCEPT, run and
//! registered as a table of its own, in order, then the rest. polars-sql
//! plans CTEs, derived tables and set-operation branches in contexts of
//! their own without Floe's functions (`sql/functions.rs`); handed over on
//! their own they have them (`rewrite::scope::FunctionReach` mirrors this).

use std::collections::HashMap;

use sqlparser::ast::{Query, Select, SetExpr, Statement, TableFactor};

use super::rewrite::{self, RelationName};
use super::Query as Analyzed;

pub struct Rendered {
    /// What to run and register first, in order.
    pub parts: Vec<RenderedPart>,
    pub main: String,
}

pub struct RenderedPart {
    pub name: String,
    /// The part's column names when it renames them (`WITH c(a, b) AS …`).
    pub columns: Vec<String>,
    pub sql: String,
}

impl Analyzed {
    /// [`Analyzed::render`], its top-level CTEs, derived tables and
    /// set-operation branches apart, WHERE conditions without columns that
    /// `probe` says hold dropped (`rewrite::constant_filters`), join keys
    /// narrowed to the ranges `probe` reads (`rewrite::key_ranges`).
    pub fn render_parts(&self, frames: &HashMap<RelationName, String>, columns: &rewrite::Columns, probe: &mut dyn rewrite::Probe) -> super::Result<Rendered> {
        let mut statement = self.rendered(frames, columns, Some(&mut *probe))?;
        rewrite::constant_filters_folded(&mut statement, &mut |condition| probe.holds(condition));
        let mut parts = Vec::new();
        if let Statement::Query(query) = &mut statement {
            if query.with.as_ref().is_some_and(|with| !with.recursive) {
                for mut cte in query.with.take().map(|with| with.cte_tables).unwrap_or_default() {
                    hand_over(&mut cte.query, &mut parts);
                    let columns = cte.alias.columns.iter().map(|column| column.name.value.clone()).collect();
                    parts.push(RenderedPart { name: cte.alias.name.value.clone(), columns, sql: cte.query.to_string() });
                }
            }
            hand_over(query, &mut parts);
        }
        Ok(Rendered { parts, main: statement.to_string() })
    }
}

/// What of `query` polars-sql would plan apart, moved into `parts`.
fn hand_over(query: &mut Query, parts: &mut Vec<RenderedPart>) {
    match query.body.as_mut() {
        SetExpr::Select(select) => hoist_derived(select, parts),
        body @ SetExpr::SetOperation { .. } => hoist_branches(body, parts),
        // `((SELECT …))`: polars-sql plans the inner query in the same context.
        SetExpr::Query(inner) => hand_over(inner, parts),
        _ => {}
    }
}

/// Each branch of a set operation into `parts`, replaced by `SELECT *` of it.
fn hoist_branches(body: &mut SetExpr, parts: &mut Vec<RenderedPart>) {
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            hoist_branches(left, parts);
            hoist_branches(right, parts);
        }
        SetExpr::Select(select) => {
            hoist_derived(select, parts);
            let sql = select.to_string();
            referenced(body, sql, parts);
        }
        // A parenthesized branch (a SELECT under a filter of its own), whole.
        SetExpr::Query(query) => {
            hand_over(query, parts);
            let sql = query.to_string();
            referenced(body, sql, parts);
        }
        _ => {}
    }
}

/// `sql` into `parts`, `branch` replaced by `SELECT *` of it.
fn referenced(branch: &mut SetExpr, sql: String, parts: &mut Vec<RenderedPart>) {
    let name = format!("__floe_d{}", parts.len() + 1);
    if let Some(reference) = rewrite::parse_query(&format!("SELECT * FROM {name}")) {
        parts.push(RenderedPart { name, columns: Vec::new(), sql });
        *branch = *reference.body;
    }
}

/// Moves the derived tables of a SELECT's FROM into `parts`, inner ones
/// first, leaving a reference to each under its alias.
fn hoist_derived(select: &mut Select, parts: &mut Vec<RenderedPart>) {
    let factors = select.from.iter_mut().flat_map(|t| std::iter::once(&mut t.relation).chain(t.joins.iter_mut().map(|j| &mut j.relation)));
    for factor in factors {
        if rewrite::handed_over_derived(factor).is_none() {
            continue;
        }
        let TableFactor::Derived { subquery, alias: Some(alias), .. } = factor else { continue };
        hand_over(subquery, parts);
        let name = format!("__floe_d{}", parts.len() + 1);
        let columns = alias.columns.drain(..).map(|column| column.name.value).collect();
        parts.push(RenderedPart { name: name.clone(), columns, sql: subquery.to_string() });
        *factor = super::parse::table_named(&name, Some(alias.clone()));
    }
}
