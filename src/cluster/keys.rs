//! Which columns a shuffle hashes by: the equalities joining two large
//! relations, or a GROUP BY's keys.

use std::collections::HashMap;

use sqlparser::ast::{BinaryOperator, Expr, GroupByExpr, JoinConstraint, JoinOperator, Select, TableFactor};

use super::plan::relation_name;
use super::stage::Side;

/// The GROUP BY keys as columns of `relation` (None when any key is an
/// expression or another relation's column).
pub(super) fn group_keys(select: &Select, relation: &str, columns: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    let GroupByExpr::Expressions(exprs, _) = &select.group_by else { return None };
    let aliases = aliases_of(select);
    let own = columns.get(relation)?;
    exprs
        .iter()
        .map(|expr| match expr {
            Expr::Identifier(ident) if own.contains(&ident.value) => Some(ident.value.clone()),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let qualifier = parts[..parts.len() - 1].iter().map(|p| p.value.clone()).collect::<Vec<_>>().join(".");
                let column = &parts[parts.len() - 1].value;
                (aliases.get(&qualifier).map(String::as_str) == Some(relation) && own.contains(column)).then(|| column.clone())
            }
            _ => None,
        })
        .collect()
}

/// Every name a FROM relation goes by (alias, table name, full name) → its relation text.
fn aliases_of(select: &Select) -> HashMap<String, String> {
    let mut aliases = HashMap::new();
    let factors = select.from.iter().flat_map(|from| std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)));
    for factor in factors {
        if let (Ok(name), TableFactor::Table { alias, .. }) = (relation_name(factor), factor) {
            let short = name.rsplit('.').next().unwrap_or(&name).to_string();
            aliases.insert(alias.as_ref().map(|a| a.name.value.clone()).unwrap_or(short), name.clone());
            aliases.insert(name.clone(), name);
        }
    }
    aliases
}

/// The two sides of a join worth shuffling: the split relation and the
/// largest other one over `broadcast_limit`, with the columns each side's
/// equalities use (from ON and WHERE), in matching order.
pub(super) fn shuffle_sides(
    select: &Select,
    relation: &str,
    files: &HashMap<String, Vec<(String, u64)>>,
    columns: &HashMap<String, Vec<String>>,
    broadcast_limit: u64,
) -> Vec<Side> {
    let bytes = |name: &str| files.get(name).map(|f| f.iter().map(|(_, size)| size).sum::<u64>()).unwrap_or(0);
    let aliases = aliases_of(select);
    let mut equalities: Vec<&Expr> = select.selection.iter().collect();
    for from in &select.from {
        for join in &from.joins {
            if let JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on)) = &join.join_operator {
                equalities.push(on);
            } else if !matches!(join.join_operator, JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)) {
                return Vec::new(); // outer joins keep their broadcast plan
            }
        }
    }
    let Some(other) = aliases
        .values()
        .filter(|name| name.as_str() != relation && bytes(name) > broadcast_limit)
        .max_by_key(|name| bytes(name))
        .cloned()
    else {
        return Vec::new();
    };
    let owner = |expr: &Expr| -> Option<(String, String)> {
        match expr {
            Expr::Identifier(ident) => {
                let owners: Vec<&str> = [relation, other.as_str()]
                    .into_iter()
                    .filter(|r| columns.get(*r).is_some_and(|c| c.contains(&ident.value)))
                    .collect();
                (owners.len() == 1).then(|| (owners[0].to_string(), ident.value.clone()))
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let qualifier = parts[..parts.len() - 1].iter().map(|p| p.value.clone()).collect::<Vec<_>>().join(".");
                let column = parts[parts.len() - 1].value.clone();
                aliases.get(&qualifier).map(|name| (name.clone(), column))
            }
            _ => None,
        }
    };
    let (mut left_keys, mut right_keys) = (Vec::new(), Vec::new());
    let mut conjuncts = Vec::new();
    for expr in equalities {
        split_and(expr, &mut conjuncts);
    }
    for conjunct in conjuncts {
        let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = conjunct else { continue };
        match (owner(left), owner(right)) {
            (Some((a, ka)), Some((b, kb))) if a == relation && b == other => {
                left_keys.push(ka);
                right_keys.push(kb);
            }
            (Some((a, ka)), Some((b, kb))) if a == other && b == relation => {
                left_keys.push(kb);
                right_keys.push(ka);
            }
            _ => {}
        }
    }
    if left_keys.is_empty() {
        return Vec::new();
    }
    vec![
        Side { relation: relation.to_string(), keys: left_keys, files: files[relation].clone() },
        Side { relation: other.clone(), keys: right_keys, files: files[&other].clone() },
    ]
}

fn split_and<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

