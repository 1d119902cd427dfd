//! `GROUP BY ROLLUP (…)`, `CUBE (…)` and `GROUPING SETS (…)`, which
//! polars-sql does not plan, as SQL defines them: one grouping per set,
//! their rows UNION ALL-ed, a key outside the set NULL, and `grouping(k)` 1
//! where `k` is rolled up. `windows.rs` moves the projection, windows and
//! order to an outer query over the groups; this module expands the inner
//! grouping into its sets.

use sqlparser::ast::{Expr, GroupByExpr, Ident, Select, SelectItem, SetExpr, SetOperator, SetQuantifier, Value};

/// Every grouping set can have at most this many keys in a CUBE (2^n sets).
const CUBE_KEYS: usize = 6;

/// Whether the GROUP BY names grouping sets.
pub(super) fn has_sets(group_by: &GroupByExpr) -> bool {
    matches!(group_by, GroupByExpr::Expressions(keys, _)
        if keys.iter().any(|key| matches!(key, Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_))))
}

/// The distinct keys of every set, and each set as indexes into them.
pub(super) fn keys_and_sets(group_by: &GroupByExpr) -> Option<(Vec<Expr>, Vec<Vec<usize>>)> {
    let GroupByExpr::Expressions(items, _) = group_by else { return None };
    let mut keys: Vec<Expr> = Vec::new();
    let mut index = |expr: &Expr| match keys.iter().position(|k| k == expr) {
        Some(i) => i,
        None => {
            keys.push(expr.clone());
            keys.len() - 1
        }
    };
    // Each GROUP BY item is a list of alternative sets; the sets are their cross product.
    let mut sets: Vec<Vec<usize>> = vec![Vec::new()];
    for item in items {
        let alternatives: Vec<Vec<usize>> = match item {
            Expr::Rollup(parts) => (0..=parts.len()).rev().map(|n| parts[..n].iter().flatten().map(&mut index).collect()).collect(),
            Expr::Cube(parts) if parts.len() <= CUBE_KEYS => (0..1usize << parts.len())
                .rev()
                .map(|mask| parts.iter().enumerate().filter(|(i, _)| mask >> (parts.len() - 1 - i) & 1 == 1).flat_map(|(_, p)| p).map(&mut index).collect())
                .collect(),
            Expr::Cube(_) => return None,
            Expr::GroupingSets(sets) => sets.iter().map(|set| set.iter().map(&mut index).collect()).collect(),
            key => vec![vec![index(key)]],
        };
        sets = sets.iter().flat_map(|set| alternatives.iter().map(move |alt| [set.clone(), alt.clone()].concat())).collect();
    }
    Some((keys, sets))
}

/// The grouped SELECT (projection `__floe_kN`, `__floe_aN`, `__floe_gN` for
/// `grouping(…)` calls) as one SELECT per set, UNION ALL-ed; the set
/// holding the most keys first, so its column types lead the union.
pub(super) fn expand(inner: &Select, keys: &[Expr], sets: &[Vec<usize>], groupings: &[Expr]) -> Option<SetExpr> {
    let mut ordered: Vec<&Vec<usize>> = sets.iter().collect();
    ordered.sort_by_key(|set| std::cmp::Reverse(set.len()));
    let branches: Vec<SetExpr> = ordered.into_iter().map(|set| branch(inner, keys, set, groupings)).collect::<Option<_>>()?;
    branches.into_iter().reduce(|left, right| SetExpr::SetOperation {
        left: Box::new(left),
        op: SetOperator::Union,
        set_quantifier: SetQuantifier::All,
        right: Box::new(right),
    })
}

fn branch(inner: &Select, keys: &[Expr], set: &[usize], groupings: &[Expr]) -> Option<SetExpr> {
    let mut select = inner.clone();
    for item in &mut select.projection {
        let SelectItem::ExprWithAlias { expr, alias } = item else { return None };
        if let Some(index) = alias.value.strip_prefix("__floe_k").and_then(|n| n.parse::<usize>().ok()) {
            if !set.contains(&(index - 1)) {
                *expr = Expr::value(Value::Null);
            }
        } else if let Some(index) = alias.value.strip_prefix("__floe_g").and_then(|n| n.parse::<usize>().ok()) {
            *expr = Expr::value(Value::Number(grouping_bits(&groupings[index - 1], keys, set)?.to_string(), false));
        }
    }
    select.group_by = GroupByExpr::Expressions(set.iter().map(|i| keys[*i].clone()).collect(), Vec::new());
    Some(SetExpr::Select(Box::new(select)))
}

/// `grouping(a, b)`: a bit per argument, 1 where it is not in the set.
fn grouping_bits(call: &Expr, keys: &[Expr], set: &[usize]) -> Option<u64> {
    let Expr::Function(function) = call else { return None };
    let sqlparser::ast::FunctionArguments::List(list) = &function.args else { return None };
    let mut bits = 0u64;
    for arg in &list.args {
        let sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(arg)) = arg else { return None };
        let key = keys.iter().position(|k| super::windows::same_column(k, arg))?;
        bits = bits << 1 | u64::from(!set.contains(&key));
    }
    Some(bits)
}

pub(super) fn is_grouping(function: &sqlparser::ast::Function) -> bool {
    function.over.is_none() && function.name.to_string().eq_ignore_ascii_case("grouping")
}

pub(super) fn alias(prefix: &str, index: usize) -> Ident {
    Ident::new(format!("{prefix}{}", index + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(sql: &str) -> Vec<Vec<String>> {
        let statement = crate::sql::parse::parse_single(sql).unwrap();
        let sqlparser::ast::Statement::Query(query) = statement else { panic!() };
        let SetExpr::Select(select) = *query.body else { panic!() };
        let (keys, sets) = keys_and_sets(&select.group_by).unwrap();
        sets.into_iter().map(|set| set.into_iter().map(|i| keys[i].to_string()).collect()).collect()
    }

    #[test]
    fn rollup_cube_and_grouping_sets_name_their_sets() {
        assert_eq!(sets("SELECT 1 FROM t GROUP BY ROLLUP (a, b)"), [vec!["a", "b"], vec!["a"], vec![]]);
        assert_eq!(sets("SELECT 1 FROM t GROUP BY x, CUBE (a, b)"), [vec!["x", "a", "b"], vec!["x", "a"], vec!["x", "b"], vec!["x"]]);
        assert_eq!(sets("SELECT 1 FROM t GROUP BY GROUPING SETS ((a), (a, b), ())"), [vec!["a"], vec!["a", "b"], vec![]]);
    }
}
