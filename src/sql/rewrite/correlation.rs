//! How a subquery correlates with the query around it (its WHERE's
//! conjuncts split into its own filters and comparisons with outer
//! columns), and the grouped CTE that stands for one correlated by
//! equalities. Re-exported by `scope.rs`, as `resolver.rs` is.

use sqlparser::ast::{BinaryOperator, Expr, Select};

use super::resolver::{sides, Scope, Side};
use super::scope::conjuncts;

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
            (mirrored(op)?, right.to_string(), left.to_string())
        } else {
            return None;
        };
        correlation.links.push(link);
    }
    Some(correlation)
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
/// keys, one row and no conditions.
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
    let items: Vec<String> = keys.iter().enumerate().map(|(i, (inner, _))| format!("{inner} AS __floe_k{}", i + 1)).collect();
    let group: Vec<&str> = keys.iter().map(|(inner, _)| inner.as_str()).collect();
    let sql = format!("SELECT {}, {values} FROM {from}{filter} GROUP BY {}", items.join(", "), group.join(", "));
    let conditions = keys.iter().enumerate().map(|(i, (_, outer))| format!("{name}.__floe_k{} = {outer}", i + 1)).collect();
    (sql, conditions)
}
