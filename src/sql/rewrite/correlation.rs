//! How a subquery correlates with the query around it (its WHERE's
//! conjuncts split into its own filters and comparisons with outer
//! columns), and the grouped CTE that stands for one correlated by
//! equalities. Re-exported by `scope.rs`, as `resolver.rs` is.

use sqlparser::ast::{BinaryOperator, Expr, Select};

use super::resolver::{owner, sides, Scope, Side};
use super::scope::{column_name, conjuncts, is_comparison, unnested};

/// A subquery's WHERE split by what it reads: `local` conjuncts read only its
/// own FROM; each link compares an inner-only side with an outer-only side
/// (`(op, inner, outer)`). None when a conjunct mixes them any other way.
pub(crate) struct Correlation {
    pub local: Vec<String>,
    pub links: Vec<(BinaryOperator, String, String)>,
}

pub(crate) fn correlate(select: &Select, inner: &[Scope], outer: &[Scope]) -> Option<Correlation> {
    let all = |s: &[Side], side| !s.is_empty() && s.iter().all(|x| *x == side);
    let mut correlation = Correlation { local: Vec::new(), links: Vec::new() };
    let mut equalities: Vec<(String, Option<(usize, String)>)> = Vec::new();
    for conjunct in select.selection.as_ref().map(conjuncts).unwrap_or_default() {
        if !sides(conjunct, inner, outer)?.contains(&Side::Outer) {
            correlation.local.push(conjunct.to_string());
            continue;
        }
        let Expr::BinaryOp { left, op, right } = unnested(conjunct) else { return None };
        if !is_comparison(op) {
            return None;
        }
        let (l, r) = (sides(left, inner, outer)?, sides(right, inner, outer)?);
        let (link, inner_side, outer_side) = if all(&l, Side::Inner) && all(&r, Side::Outer) {
            ((op.clone(), left.to_string(), right.to_string()), left, right)
        } else if all(&l, Side::Outer) && all(&r, Side::Inner) {
            ((mirrored(op)?, right.to_string(), left.to_string()), right, left)
        } else {
            return None;
        };
        // `y = o.x AND (y) = (x)` (a membership's own test beside a correlation
        // that says it already) is one key: Polars refuses to join on it twice.
        let key = (unnested(inner_side).to_string(), outer_column(outer_side, outer));
        let repeated = link.0 == BinaryOperator::Eq && key.1.is_some() && equalities.contains(&key);
        if !repeated {
            if link.0 == BinaryOperator::Eq {
                equalities.push(key);
            }
            correlation.links.push(link);
        }
    }
    Some(correlation)
}

/// The outer relation (by index) and name of a column `expr` reads as itself.
fn outer_column(expr: &Expr, outer: &[Scope]) -> Option<(usize, String)> {
    let name = column_name(unnested(expr))?;
    Some((owner(unnested(expr), outer)?, name.to_ascii_lowercase()))
}

/// The operator that reads the same with its sides swapped (`a < b` is `b > a`).
fn mirrored(op: &BinaryOperator) -> Option<BinaryOperator> {
    use BinaryOperator::*;
    Some(match op {
        Lt => Gt,
        Gt => Lt,
        LtEq => GtEq,
        GtEq => LtEq,
        Eq | NotEq => op.clone(),
        _ => return None,
    })
}

/// `SELECT <keys as __floe_kI>, <values> FROM … WHERE <local> GROUP BY <keys>`
/// and the `name.__floe_kI = <outer>` conditions joining it back; without
/// keys, one row and no conditions. An inner side equal to two outer
/// values (`y = o.k AND y = o.x`) is one key joined on both: Polars
/// refuses a grouping by two columns of one name.
pub(crate) fn grouped_cte(
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
    let (group, positions) = grouping_keys(keys);
    let mut conditions: Vec<String> = Vec::new();
    for ((_, outer), at) in keys.iter().zip(positions) {
        let condition = format!("{name}.__floe_k{} = {outer}", at + 1);
        // Polars refuses a join on the same pair of keys twice.
        if !conditions.contains(&condition) {
            conditions.push(condition);
        }
    }
    let items: Vec<String> = group.iter().enumerate().map(|(i, inner)| format!("{inner} AS __floe_k{}", i + 1)).collect();
    let sql = format!("SELECT {}, {values} FROM {from}{filter} GROUP BY {}", items.join(", "), group.join(", "));
    (sql, conditions)
}

/// The distinct inner sides of `keys`, in order (the grouped CTE's keys),
/// and the position among them of each key's inner side.
pub(crate) fn grouping_keys(keys: &[(String, String)]) -> (Vec<&str>, Vec<usize>) {
    let mut group: Vec<&str> = Vec::new();
    let positions = keys
        .iter()
        .map(|(inner, _)| {
            group.iter().position(|key| *key == inner.as_str()).unwrap_or_else(|| {
                group.push(inner);
                group.len() - 1
            })
        })
        .collect();
    (group, positions)
}

#[cfg(test)]
mod tests {
    use super::super::scope::parse_query;
    use super::Scope;

    #[test]
    fn an_equality_said_twice_links_once() {
        let scope = |qualifier: &str, columns: &[&str]| Scope { qualifier: qualifier.into(), columns: columns.iter().map(|c| c.to_string()).collect() };
        let (inner, outer) = ([scope("offers", &["o_part", "cost"])], [scope("s", &["sid"])]);
        let subquery = parse_query("SELECT 1 FROM offers WHERE o_part = s.sid AND cost > 2 AND (o_part) = (sid) AND o_part > sid AND (cost <= s.sid)").unwrap();
        let sqlparser::ast::SetExpr::Select(select) = subquery.body.as_ref() else { unreachable!() };
        let correlation = super::correlate(select, &inner, &outer).unwrap();
        assert_eq!(correlation.local, ["cost > 2"]);
        let links: Vec<String> = correlation.links.iter().map(|(op, i, o)| format!("{i} {op} {o}")).collect();
        assert_eq!(links, ["o_part = s.sid", "o_part > sid", "cost <= s.sid"]);
    }

    #[test]
    fn an_inner_side_equal_to_two_outer_values_is_one_key() {
        let keys = [("i.y", "o.k"), ("i.y", "o.x"), ("i.z", "o.z"), ("i.y", "o.k")].map(|(i, o)| (i.to_string(), o.to_string()));
        let (sql, conditions) = super::grouped_cte("g", &keys, "count(*) AS v", "t AS i", &[]);
        assert_eq!(sql, "SELECT i.y AS __floe_k1, i.z AS __floe_k2, count(*) AS v FROM t AS i GROUP BY i.y, i.z");
        assert_eq!(conditions, ["g.__floe_k1 = o.k", "g.__floe_k1 = o.x", "g.__floe_k2 = o.z"]);
    }
}
