//! What the planning-time rewrites share: the columns each relation of a
//! query has (catalog relations, CTEs, derived tables), which relation a
//! name belongs to and how a subquery correlates (`resolver.rs`,
//! `correlation.rs`, re-exported here), and small parsing
//! helpers. Every pass in this folder builds on this file and on nothing
//! of each other's.

use std::collections::{HashMap, HashSet};

use sqlparser::ast::{Cte, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, Query, Select, SelectItem, SetExpr, Statement, TableFactor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

pub(crate) use super::columns::{ColumnKind, Columns};
pub(crate) use super::correlation::*;
pub(crate) use super::resolver::*;
pub(crate) use exprs::*;
pub(crate) use reach::{handed_over_derived, FunctionReach};
pub(crate) use visits::{
    any_outside_subqueries, each_query_outside_expression_subqueries, each_select_outside_expression_subqueries, replace_outside_subqueries,
    visit_outside_subqueries, without_calls,
};

mod exprs;
mod reach;
mod visits;

pub(crate) fn parse_query(sql: &str) -> Option<Query> {
    match Parser::parse_sql(&GenericDialect {}, sql).ok()?.pop()? {
        Statement::Query(query) => Some(*query),
        _ => None,
    }
}

/// `query` as `SELECT * EXCLUDE (<hidden>) FROM (<query>) AS <alias> [WHERE
/// <filter>]` (no EXCLUDE without `hidden`), its WITH kept outermost: how a
/// pass drops again the columns it selected only to sort or filter by.
pub(crate) fn hiding(query: &mut Query, hidden: &[&str], alias: &str, filter: Option<&str>) {
    let with = query.with.take();
    let filter = filter.map(|filter| format!(" WHERE {filter}")).unwrap_or_default();
    let excluded = if hidden.is_empty() { String::new() } else { format!(" EXCLUDE ({})", hidden.join(", ")) };
    let sql = format!("SELECT *{excluded} FROM ({query}) AS {alias}{filter}");
    match parse_query(&sql) {
        Some(outer) => *query = outer,
        None => tracing::warn!(target: "floe::sql", %sql, "a pass's wrapper did not parse"),
    }
    query.with = with;
}

/// Moves each ORDER BY key `hide` picks into the SELECT list, as a hidden
/// column `<prefix>N` the key then sorts by position; the hidden columns'
/// names, which [`hiding`] leaves out again.
pub(crate) fn sort_keys_selected(
    select: &mut Select,
    keys: &mut [sqlparser::ast::OrderByExpr],
    prefix: &str,
    hide: impl Fn(&Expr, &Select) -> bool,
) -> Vec<String> {
    let mut hidden = Vec::new();
    for key in keys.iter_mut() {
        if !hide(&key.expr, select) {
            continue;
        }
        let name = format!("{prefix}{}", hidden.len() + 1);
        select.projection.push(SelectItem::ExprWithAlias { expr: key.expr.clone(), alias: Ident::new(&name) });
        key.expr = Expr::value(sqlparser::ast::Value::Number(select.projection.len().to_string(), false));
        hidden.push(name);
    }
    hidden
}

/// The names a SELECT's items output, where they can be read off the SQL.
pub(crate) fn output_names(select: &Select) -> Vec<Option<String>> {
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

/// Names defined by `WITH` anywhere in the statement: a single-part relation
/// with such a name is the CTE, not a catalog table.
pub(crate) fn cte_names(statement: &Statement) -> HashSet<String> {
    struct Ctes(HashSet<String>);
    impl crate::sql::visit::Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> std::ops::ControlFlow<()> {
            if let Some(with) = &query.with {
                self.0.extend(with.cte_tables.iter().map(|cte| cte.alias.name.value.clone()));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut ctes = Ctes(HashSet::new());
    let _ = crate::sql::visit::Visit::visit(statement, &mut ctes);
    ctes.0
}

/// A SELECT's FROM list as SQL text, for the queries a pass writes over the
/// same relations.
pub(crate) fn from_text(select: &Select) -> String {
    select.from.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Output column names of every CTE, for resolving references to them.
pub(crate) fn collect_cte_columns(query: &Query, out: &mut HashMap<String, Vec<String>>) {
    let Some(with) = &query.with else { return };
    for cte in &with.cte_tables {
        let named: Vec<String> = cte.alias.columns.iter().map(|c| c.name.value.clone()).collect();
        if !named.is_empty() {
            out.insert(cte.alias.name.value.clone(), named);
        } else if let Some(select) = leftmost_select(&cte.query.body) {
            out.insert(cte.alias.name.value.clone(), output_names(select).into_iter().flatten().collect());
        }
    }
}

/// The SELECT that names a body's columns: itself, or the first branch of a
/// UNION / INTERSECT / EXCEPT (SQL takes the names from the left).
pub(crate) fn leftmost_select(body: &SetExpr) -> Option<&Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::SetOperation { left, .. } => leftmost_select(left),
        SetExpr::Query(query) => leftmost_select(&query.body),
        _ => None,
    }
}

/// The SELECTs of a query body: itself, or each branch of its UNION /
/// INTERSECT / EXCEPT (which are not queries of their own to a visitor).
pub(crate) fn selects_mut(body: &mut sqlparser::ast::SetExpr) -> Vec<&mut Select> {
    branch_selects_mut(body, false)
}

/// `selects_mut`, and with `parenthesised` the SELECTs of a branch in
/// parentheses too where nothing of its own reads its names (an ORDER BY)
/// or defines others (a WITH).
pub(crate) fn branch_selects_mut(body: &mut sqlparser::ast::SetExpr, parenthesised: bool) -> Vec<&mut Select> {
    use sqlparser::ast::SetExpr;
    match body {
        SetExpr::Select(select) => vec![select.as_mut()],
        SetExpr::SetOperation { left, right, .. } => {
            let mut all = branch_selects_mut(left, parenthesised);
            all.extend(branch_selects_mut(right, parenthesised));
            all
        }
        SetExpr::Query(query) if parenthesised && query.order_by.is_none() && query.with.is_none() => {
            branch_selects_mut(&mut query.body, parenthesised)
        }
        _ => Vec::new(),
    }
}

/// The name a table is qualified by: its alias, or its name's last part.
pub(crate) fn qualifier_of<'a>(name: &'a ObjectName, alias: Option<&'a sqlparser::ast::TableAlias>) -> Option<&'a Ident> {
    alias.map(|alias| &alias.name).or_else(|| name.0.last().and_then(|part| part.as_ident()))
}

/// The name a relation's columns are qualified by, which polars-sql also
/// suffixes a joined column with (`id:e`): its alias, or a table's last name part.
pub(crate) fn relation_qualifier(factor: &TableFactor) -> Option<&Ident> {
    match factor {
        TableFactor::Table { name, alias, .. } => qualifier_of(name, alias.as_ref()),
        TableFactor::Derived { alias, .. } => alias.as_ref().map(|alias| &alias.name),
        _ => None,
    }
}

/// The names a wildcard leaves out where EXCLUDE is its only option (none
/// for a plain `*`); None for other options, which stay polars-sql's.
pub(crate) fn only_excluding(options: &sqlparser::ast::WildcardAdditionalOptions) -> Option<Vec<&ObjectName>> {
    use sqlparser::ast::{ExcludeSelectItem, WildcardAdditionalOptions};
    if (WildcardAdditionalOptions { opt_exclude: None, ..options.clone() }) != WildcardAdditionalOptions::default() {
        return None;
    }
    Some(match options.opt_exclude.as_ref() {
        None => Vec::new(),
        Some(ExcludeSelectItem::Single(name)) => vec![name],
        Some(ExcludeSelectItem::Multiple(names)) => names.iter().collect(),
    })
}

/// Adds `names` to a wildcard's EXCLUDE.
pub(crate) fn exclude_from_wildcard(options: &mut sqlparser::ast::WildcardAdditionalOptions, names: Vec<ObjectName>) {
    use sqlparser::ast::ExcludeSelectItem;
    let mut excluded = match options.opt_exclude.take() {
        None => Vec::new(),
        Some(ExcludeSelectItem::Single(name)) => vec![name],
        Some(ExcludeSelectItem::Multiple(names)) => names,
    };
    excluded.extend(names);
    options.opt_exclude = Some(ExcludeSelectItem::Multiple(excluded));
}

pub(crate) fn parse_cte(name: &str, sql: &str) -> Option<Cte> {
    parse_query(&format!("WITH {name} AS ({sql}) SELECT 1"))?.with?.cte_tables.into_iter().next()
}

/// A SELECT item's expression, aliased or not (none for wildcards).
pub(crate) fn item_expr(item: &SelectItem) -> Option<&Expr> {
    match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Some(expr),
        _ => None,
    }
}

/// Whether the SELECT list has a `*` or `t.*`.
pub(crate) fn lists_wildcard(select: &Select) -> bool {
    select.projection.iter().any(|item| matches!(item, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)))
}

/// A subquery that is one plain SELECT: no WITH, ORDER BY, LIMIT, DISTINCT,
/// GROUP BY or HAVING (what a correlated scalar subquery may be to become a
/// grouped join).
pub(crate) fn plain_select(subquery: &Query) -> Option<&Select> {
    if subquery.with.is_some() || subquery.order_by.is_some() || subquery.limit_clause.is_some() {
        return None;
    }
    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
    let grouped = select.distinct.is_some() || select.having.is_some() || has_group_by(select);
    (!grouped).then_some(select)
}

/// A SELECT's GROUP BY keys, where it groups by keys without modifiers
/// (not ALL, not `WITH ROLLUP`).
pub(crate) fn plain_group_keys(select: &Select) -> Option<&Vec<Expr>> {
    match &select.group_by {
        sqlparser::ast::GroupByExpr::Expressions(keys, modifiers) if !keys.is_empty() && modifiers.is_empty() => Some(keys),
        _ => None,
    }
}

/// Whether a SELECT has a GROUP BY clause (of expressions, or ALL).
pub(crate) fn has_group_by(select: &Select) -> bool {
    !matches!(&select.group_by, sqlparser::ast::GroupByExpr::Expressions(keys, _) if keys.is_empty())
}

/// Whether every join of the FROM is inner (or a cross join): then each ON
/// condition holds of every row the SELECT keeps, as WHERE's conjuncts do.
pub(crate) fn all_inner(select: &Select) -> bool {
    select.from.iter().flat_map(|t| &t.joins).all(|join| {
        matches!(
            join.join_operator,
            JoinOperator::Join(JoinConstraint::On(_)) | JoinOperator::Inner(JoinConstraint::On(_)) | JoinOperator::CrossJoin(JoinConstraint::None)
        ) && !matches!(join.relation, TableFactor::Derived { lateral: true, .. })
    })
}

/// A join's constraint, for the operators that carry one.
pub(crate) fn join_constraint(operator: &mut sqlparser::ast::JoinOperator) -> Option<&mut sqlparser::ast::JoinConstraint> {
    use sqlparser::ast::JoinOperator::*;
    match operator {
        Join(c) | Inner(c) | Left(c) | LeftOuter(c) | Right(c) | RightOuter(c) | FullOuter(c) | Semi(c) | LeftSemi(c)
        | RightSemi(c) | Anti(c) | LeftAnti(c) | RightAnti(c) | StraightJoin(c) => Some(c),
        _ => None,
    }
}

/// `sql` after one render-time pass over `columns`, for the passes' unit tests.
#[cfg(test)]
pub(crate) fn rewritten_over(sql: &str, columns: &Columns, pass: fn(&mut Statement, &Columns)) -> String {
    let mut statement = crate::sql::parse::parse_single(sql).expect("test SQL parses");
    pass(&mut statement, columns);
    statement.to_string()
}

/// Test relations' columns by name (none a DATE, DECIMAL or integer).
#[cfg(test)]
pub(crate) fn columns_of(relations: &[(&str, &[&str])]) -> Columns {
    relations.iter().map(|(name, columns)| (vec![name.to_string()], columns.iter().map(|c| c.to_string()).collect())).collect()
}

/// `sql` after one analyze-time pass, for the passes' unit tests.
#[cfg(test)]
pub(crate) fn rewritten_by(sql: &str, pass: fn(&mut Statement)) -> String {
    let mut statement = crate::sql::parse::parse_single(sql).expect("test SQL parses");
    pass(&mut statement);
    statement.to_string()
}
