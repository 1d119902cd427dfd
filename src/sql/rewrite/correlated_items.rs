//! Scalar subqueries in the SELECT list of a query that does not aggregate,
//! or in its WHERE where no grouped join can stand for them, correlated
//! with its rows (`(SELECT count(*) FROM t WHERE t.k = o.k)`,
//! `(SELECT sum(x) FROM t WHERE t.ts < o.ts)`), which polars-sql cannot
//! plan. The subquery's value depends only on the outer values it compares
//! with, so a CTE computes it once per distinct set of them and is LEFT
//! JOINed back on them:
//!
//! - correlated by equalities only: the CTE groups the subquery's rows by
//!   its side of each equality, as for subqueries in WHERE;
//! - by other comparisons too: the CTE pairs each distinct set of outer
//!   values (read from the outer FROM) with the subquery's rows that satisfy
//!   every comparison, grouped by the outer values.
//!
//! An outer row without a group gets what the subquery gives over no rows:
//! its value with each aggregate 0 if it counts, else NULL (`count(*) + 1`
//! is 1, `coalesce(max(x), 0)` 0). A value that aggregates nothing is a
//! lookup's, its one row's (NULL over none), and more than one row is an
//! error, as SQL says.

use sqlparser::ast::{BinaryOperator, Expr, Query, SelectItem};

use super::scope::*;

pub(super) struct ItemPlan {
    pub cte_sql: String,
    pub cte_columns: Vec<String>,
    /// The LEFT JOIN's condition, and what replaces the subquery.
    pub join_on: String,
    pub value: String,
    /// Whether `value` gives a row without a group the subquery's value over
    /// no rows itself (a CASE no aggregate may hold).
    pub fills_missing: bool,
}

pub(super) fn plan(resolver: &Resolver, subquery: &Query, outer: &[Scope], outer_from: &str, name: &str) -> Option<ItemPlan> {
    let select = plain_select(subquery)?;
    let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] = select.projection.as_slice() else {
        return None;
    };
    let one_row = !super::aggregates::holds_aggregate(value);
    if one_row && !super::aggregates::row_wise(value) {
        return None;
    }
    let inner = resolver.scopes(&select.from)?;
    if sides(value, &inner, outer)?.contains(&Side::Outer) {
        return None;
    }
    let Correlation { local, links } = correlate(select, &inner, outer)?;
    if links.is_empty() || !links.iter().all(|(op, ..)| is_comparison(op)) {
        return None;
    }
    let from = from_text(select);
    // A value that aggregates nothing (a lookup, `(SELECT name FROM d WHERE
    // d.id = o.d_id)`) is the group's one row, and an error past one.
    let empty = super::aggregates::over_no_rows(value);
    // A value NULL over no rows is what a missing group reads already.
    let has_value_over_no_rows = !one_row && !super::aggregates::null_without_rows(value);
    let counted = has_value_over_no_rows && matches!(empty, Some(Expr::Value(_)));
    let fills_missing = has_value_over_no_rows && !counted;
    let hit = hit_column(name);
    // Its value too: two such values may both be a grouped SELECT's keys.
    let named = format!("{name}_v");
    let values = match (one_row, fills_missing) {
        (true, _) => format!("floe_one_row(count(*), min({value})) AS {named}"),
        (false, true) => format!("true AS {hit}, {value} AS {named}"),
        (false, false) => format!("{value} AS {named}"),
    };
    let (cte_sql, conditions, key_columns) = match links.iter().all(|(op, ..)| *op == BinaryOperator::Eq) {
        true => {
            let keys: Vec<_> = links.into_iter().map(|(_, inner, outer)| (inner, outer)).collect();
            let (sql, conditions) = grouped_cte(name, &keys, &values, &from, &local);
            (sql, conditions, grouping_keys(&keys).0.len())
        }
        false => {
            let (sql, conditions) = paired_cte(name, &links, &values, &from, &local, outer_from);
            let key_columns = conditions.len();
            (sql, conditions, key_columns)
        }
    };
    let mut cte_columns: Vec<String> = (1..=key_columns).map(|i| format!("__floe_k{i}")).collect();
    cte_columns.extend(fills_missing.then(|| hit.clone()));
    let reference = format!("{name}.{named}");
    cte_columns.push(named);
    let value = match (counted, fills_missing, empty) {
        (true, ..) => format!("coalesce({reference}, 0)"),
        (false, true, Some(empty)) => format!("CASE WHEN {name}.{hit} IS NULL THEN {empty} ELSE {reference} END"),
        // Its value over no rows is one Polars cannot compute from untyped NULLs.
        (false, true, None) => return None,
        (false, false, _) => reference,
    };
    Some(ItemPlan { cte_sql, cte_columns, join_on: conditions.join(" AND "), value, fills_missing })
}

/// The column of a CTE `plan` writes that tells a missing group (true in
/// each group's row): of the CTE's own name, so a grouped SELECT can take it
/// for a key beside another such CTE's.
pub(super) fn hit_column(cte: &str) -> String {
    format!("{cte}_hit")
}

/// `SELECT o.__floe_kI…, <values> FROM (SELECT DISTINCT <outer values> FROM
/// <outer FROM>) AS o, <inner FROM> WHERE <local> AND (<comparisons>) IS TRUE
/// GROUP BY o.__floe_kI…` and the conditions joining it back.
fn paired_cte(
    name: &str,
    links: &[(BinaryOperator, String, String)],
    values: &str,
    from: &str,
    local: &[String],
    outer_from: &str,
) -> (String, Vec<String>) {
    let mut outer_values: Vec<&str> = Vec::new();
    for (_, _, outer) in links {
        if !outer_values.contains(&outer.as_str()) {
            outer_values.push(outer);
        }
    }
    let key = |outer: &str| outer_values.iter().position(|o| *o == outer).map_or(0, |i| i + 1);
    let pairs = format!("{name}_o");
    let distinct: Vec<String> = outer_values.iter().map(|o| format!("{o} AS __floe_k{}", key(o))).collect();
    let comparison = |(op, inner, outer): &(BinaryOperator, String, String)| format!("{inner} {op} {pairs}.__floe_k{}", key(outer));
    let (equalities, others): (Vec<_>, Vec<_>) = links.iter().partition(|(op, ..)| *op == BinaryOperator::Eq);
    // Equalities join the pairs; `IS TRUE` keeps the other comparisons a
    // filter: Polars 0.55 turns a cross join filtered by an inequality into
    // a join its streaming engine cannot run, and NULL drops the pair either way.
    let mut filters = local.to_vec();
    filters.extend(equalities.into_iter().map(comparison));
    let others: Vec<String> = others.into_iter().map(comparison).collect();
    filters.push(format!("({}) IS TRUE", others.join(" AND ")));
    let group: Vec<String> = (1..=outer_values.len()).map(|i| format!("{pairs}.__floe_k{i}")).collect();
    let sql = format!(
        "SELECT {group_list}, {values} FROM (SELECT DISTINCT {distinct} FROM {outer_from}) AS {pairs}, {from} WHERE {filters} GROUP BY {group_list}",
        group_list = group.join(", "),
        distinct = distinct.join(", "),
        filters = filters.join(" AND "),
    );
    let conditions = outer_values.iter().map(|o| format!("{name}.__floe_k{} = {o}", key(o))).collect();
    (sql, conditions)
}
