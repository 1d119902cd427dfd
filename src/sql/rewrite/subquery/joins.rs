//! Where the CTEs that stand for subqueries go: into the query's WITH,
//! before the first CTE that reads them, and joined onto the FROM of the
//! SELECT they serve.

use sqlparser::ast::{Cte, Query, SetExpr, Select};

use crate::sql::rewrite::scope::{parse_expr, parse_query, Resolver};

/// Adds `new_ctes` to the query's WITH, each where it can be read ([`place`]).
pub(in crate::sql::rewrite) fn add_ctes(query: &mut Query, new_ctes: Vec<Cte>) {
    if new_ctes.is_empty() {
        return;
    }
    match &mut query.with {
        Some(with) => {
            for cte in new_ctes {
                let at = place(&with.cte_tables, &cte);
                with.cte_tables.insert(at, cte);
            }
        }
        None => {
            let Some(mut with) = parse_query("WITH __floe_x AS (SELECT 1) SELECT 1").and_then(|q| q.with) else { return };
            with.cte_tables = new_ctes;
            query.with = Some(with);
        }
    }
}

/// Where a new CTE goes among the query's own: before the first that reads
/// it (a subquery inside a CTE, TPC-DS 54), after all it reads (a subquery
/// over a CTE, TPC-H 15); last when both cannot hold.
fn place(ctes: &[Cte], new: &Cte) -> usize {
    let mentions = |cte: &Cte, name: &str| {
        cte.query.to_string().split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|word| word.eq_ignore_ascii_case(name))
    };
    let first_reader = ctes.iter().position(|cte| mentions(cte, &new.alias.name.value));
    let last_read = ctes.iter().rposition(|cte| mentions(new, &cte.alias.name.value));
    match (first_reader, last_read) {
        (Some(reader), Some(read)) if read >= reader => ctes.len(),
        (Some(reader), _) => reader,
        (None, _) => ctes.len(),
    }
}

/// Joins the CTEs a SELECT's subqueries became onto its FROM: after the
/// comma list is made explicit, as inner (or cross) joins at the end of the
/// chain. Left as commas with conditions in WHERE, polars-sql plans the
/// whole list as cross products its optimiser cannot always undo (TPC-H 16
/// with a one-row CTE grew past 20 GB at SF 1).
pub(super) fn join_added(select: &mut Select, joins: Vec<(String, Vec<String>)>, resolver: &Resolver) {
    if joins.is_empty() {
        return;
    }
    let chained = crate::sql::rewrite::comma_joins::explicit_joins(select, resolver);
    let mut conditions = Vec::new();
    for (relation, on) in joins {
        let join = match on.is_empty() {
            true => format!("CROSS JOIN {relation}"),
            false => format!("JOIN {relation} ON {}", on.join(" AND ")),
        };
        let hung = match (chained, parsed_join(&join), select.from.first_mut()) {
            (true, Some(join), Some(first)) => {
                first.joins.push(join);
                true
            }
            _ => false,
        };
        if !hung {
            if let Some(mut parsed) = parse_query(&format!("SELECT 1 FROM {relation}")) {
                if let SetExpr::Select(s) = parsed.body.as_mut() {
                    select.from.append(&mut s.from);
                }
            }
            conditions.extend(on);
        }
    }
    if !conditions.is_empty() {
        let mut condition = conditions.join(" AND ");
        if let Some(existing) = &select.selection {
            condition = format!("({existing}) AND {condition}");
        }
        if let Some(parsed) = parse_expr(&condition) {
            select.selection = Some(parsed);
        }
    }
}

/// One `JOIN …` clause, parsed.
pub(super) fn parsed_join(join: &str) -> Option<sqlparser::ast::Join> {
    let mut parsed = parse_query(&format!("SELECT 1 FROM __floe_x {join}"))?;
    let SetExpr::Select(select) = parsed.body.as_mut() else { return None };
    select.from.first_mut()?.joins.pop()
}
