//! `[NOT] EXISTS (SELECT … FROM t WHERE t.k = o.k AND t.c <> o.c AND …)`:
//! a correlation by inequality, which polars-sql cannot plan (TPC-H 21).
//! Some row of a key's group has `c <> o.c` exactly when the group's
//! smallest or largest `c` differs from `o.c`, so the subquery becomes a CTE
//! of `min(c)` and `max(c)` per key, joined on the key:
//!
//! - EXISTS: inner join, and `min <> o.c OR max <> o.c`;
//! - NOT EXISTS: left join, and no group, or `o.c` NULL, or no non-NULL `c`,
//!   or `min = max = o.c` (every `<>` is false or unknown).
//!
//! Where the outer query's filters keep few keys, the CTE groups only those
//! (`narrowed_keys.rs`): TPC-H 21 grouped all of `lineitem` twice.
//!
//! Subqueries correlated by equalities only are left to polars-sql, which
//! plans those as semi and anti joins itself.

use sqlparser::ast::{BinaryOperator, Query, SetExpr};

use super::narrowed_keys::OuterFilters;
use super::scope::*;

pub(super) struct ExistsPlan {
    pub cte_sql: String,
    /// Conditions joining the CTE to the outer query, and the test replacing the EXISTS.
    pub join_on: Vec<String>,
    pub test: String,
}

pub(super) fn plan(
    resolver: &Resolver,
    subquery: &Query,
    outer: &[Scope],
    name: &str,
    negated: bool,
    outer_filters: Option<&OuterFilters>,
) -> Option<ExistsPlan> {
    if subquery.with.is_some() || subquery.limit_clause.is_some() {
        return None;
    }
    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
    if select.having.is_some() || select.distinct.is_some() {
        return None;
    }
    let inner = resolver.scopes(&select.from)?;
    let from = from_text(select);
    let Correlation { mut local, links } = correlate(select, &inner, outer)?;
    let (mut keys, mut unequal) = (Vec::new(), None);
    for (op, inner_side, outer_side) in links {
        match op {
            BinaryOperator::Eq => keys.push((inner_side, outer_side)),
            BinaryOperator::NotEq if unequal.is_none() => unequal = Some((inner_side, outer_side)),
            _ => return None,
        }
    }
    let (value, outer_value) = unequal?;
    if keys.is_empty() {
        return None;
    }
    // Only the keys of outer rows its other filters keep (`narrowed_keys.rs`).
    if let Some(filters) = outer_filters {
        local.extend(keys.iter().filter_map(|(inner, outer_key)| filters.selective_restriction(inner, outer_key, outer)));
    }
    let values = format!("min({value}) AS __floe_min, max({value}) AS __floe_max");
    let (cte_sql, join_on) = grouped_cte(name, &keys, &values, &from, &local);
    let (min, max, o) = (format!("{name}.__floe_min"), format!("{name}.__floe_max"), outer_value);
    let test = if negated {
        format!("({name}.__floe_k1 IS NULL OR {o} IS NULL OR {min} IS NULL OR ({min} = {o} AND {max} = {o}))")
    } else {
        format!("({min} <> {o} OR {max} <> {o})")
    };
    Some(ExistsPlan { cte_sql, join_on, test })
}
