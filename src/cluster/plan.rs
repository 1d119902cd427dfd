//! Which queries spread over workers, and how: the largest scan is split into
//! partitions balanced by bytes; every other table is read whole by each
//! partition (a broadcast through the shared lake). A partition's rows are
//! either final (filters, projections, inner joins) or partial results the
//! coordinator combines: decomposable aggregates (sum, count, min, max, avg
//! as sum/count), top-k and limits. Anything else runs on one node, and the
//! reason says why.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, JoinConstraint, GroupByExpr, JoinOperator, LimitClause, OrderByKind, Query, Select, SelectItem, SetExpr,
    Statement, TableFactor, VisitMut, VisitorMut, Visit,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::shuffle::Side;
use crate::proto::{QueryTicket, ShuffleInput};

/// Where the final rows of a distributed query come from.
#[derive(Debug)]
pub enum Distribution {
    /// Each partition's rows are final: clients may fetch them from workers.
    Partitioned { fragments: Vec<QueryTicket> },
    /// The coordinator runs `final_sql` over the partitions' rows (`partials`).
    Combined { fragments: Vec<QueryTicket>, final_sql: String },
}

impl Distribution {
    /// Points reduce partitions at the map stage's outputs: placeholder
    /// shuffle `s{i}` becomes `outputs[i]` (its id and the workers holding it).
    pub fn fill_shuffles(&mut self, outputs: &[(String, Vec<String>)]) {
        let fragments = match self {
            Distribution::Partitioned { fragments } | Distribution::Combined { fragments, .. } => fragments,
        };
        for pin in fragments.iter_mut().flat_map(|f| f.tables.iter_mut()) {
            if let Some(shuffle) = &mut pin.shuffle {
                let index: usize = shuffle.shuffle_id.trim_start_matches('s').parse().unwrap_or(usize::MAX);
                if let Some((id, sources)) = outputs.get(index) {
                    shuffle.shuffle_id = id.clone();
                    shuffle.sources = sources.clone();
                }
            }
        }
    }

    pub fn fragments(&self) -> &[QueryTicket] {
        match self {
            Distribution::Partitioned { fragments } | Distribution::Combined { fragments, .. } => fragments,
        }
    }
}

/// Why a query stays on one node.
pub type Reason = String;

/// Sizes above which data moves between workers rather than to every worker
/// or to the coordinator.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A joined table larger than this is hash-shuffled with the split one.
    pub broadcast_bytes: u64,
    /// A grouped scan larger than this is hash-shuffled by its group keys,
    /// so each worker aggregates whole groups (high-cardinality GROUP BY).
    pub group_shuffle_bytes: u64,
}

const DECOMPOSABLE: [&str; 6] = ["sum", "count", "min", "max", "avg", "mean"];
const OTHER_AGGREGATES: [&str; 16] = [
    "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop", "median", "first", "last",
    "string_agg", "array_agg", "quantile_cont", "quantile_disc", "percentile_cont", "count_distinct", "mode",
];

/// Splits `ticket` (planned on the coordinator, with its pins) into at most
/// `workers` partitions of its largest scan. `files` are each relation's
/// data files after pruning, with sizes; `output_names` the result's columns.
pub fn distribute(
    ticket: &QueryTicket,
    files: &HashMap<String, Vec<(String, u64)>>,
    output_names: &[String],
    workers: usize,
) -> Result<Distribution, Reason> {
    let never = Limits { broadcast_bytes: u64::MAX, group_shuffle_bytes: u64::MAX };
    distribute_with_shuffle(ticket, files, &HashMap::new(), output_names, workers, never).map(|(d, _)| d)
}

/// As [`distribute`], but a join of the largest relation with another one of
/// more than `broadcast_limit` bytes on equal keys is hash-shuffled: the
/// fragments are reduce partitions whose two relations read shuffle buckets
/// (placeholder ids `s0`/`s1`, indexes into the returned sides, until the
/// coordinator has run the map stage).
pub fn distribute_with_shuffle(
    ticket: &QueryTicket,
    files: &HashMap<String, Vec<(String, u64)>>,
    columns: &HashMap<String, Vec<String>>,
    output_names: &[String],
    workers: usize,
    limits: Limits,
) -> Result<(Distribution, Vec<Side>), Reason> {
    if !ticket.params.is_empty() {
        return Err("queries with bound parameters run on one node".into());
    }
    let mut statements =
        Parser::parse_sql(&GenericDialect {}, &ticket.sql).map_err(|_| "Floe-specific syntax (time travel) runs on one node".to_string())?;
    let Some(Statement::Query(query)) = statements.pop() else { return Err("only queries are distributed".into()) };
    let select = simple_select(&query)?;
    reject_subqueries_and_windows(&query)?;
    let relation = partitioned_relation(select, files)?;
    let relation_files = &files[&relation];
    if relation_files.len() < 2 || workers < 2 {
        return Err(format!(
            "`{relation}` has {} data file(s) to read and {workers} worker(s) are live; nothing to spread",
            relation_files.len()
        ));
    }
    let sides = shuffle_sides(select, &relation, files, columns, limits.broadcast_bytes);
    let partitions = balance(relation_files, workers);
    let fragments_for = |sql: &str, sides: &[Side]| -> Vec<QueryTicket> {
        if !sides.is_empty() {
            return (0..workers)
                .map(|bucket| {
                    let mut fragment = ticket.clone();
                    fragment.sql = sql.to_string();
                    fragment.query_id = format!("{}-r{bucket}", ticket.query_id);
                    for (index, side) in sides.iter().enumerate() {
                        for pin in fragment.tables.iter_mut().filter(|pin| pin.relation == side.relation) {
                            pin.shuffle = Some(ShuffleInput { shuffle_id: format!("s{index}"), bucket: bucket as u32, sources: Vec::new() });
                        }
                    }
                    fragment
                })
                .collect();
        }
        partitions
            .iter()
            .enumerate()
            .map(|(index, partition)| {
                let mut fragment = ticket.clone();
                fragment.sql = sql.to_string();
                fragment.query_id = format!("{}-p{index}", ticket.query_id);
                for pin in fragment.tables.iter_mut().filter(|pin| pin.relation == relation) {
                    pin.partitioned = true;
                    pin.files = partition.clone();
                }
                fragment
            })
            .collect()
    };

    let fragments_of = |sql: &str| fragments_for(sql, &sides);
    let aggregates = aggregate_calls(&query)?;
    let grouped = matches!(&select.group_by, GroupByExpr::Expressions(exprs, _) if !exprs.is_empty());
    if select.distinct.is_some() {
        return Err("SELECT DISTINCT runs on one node".into());
    }
    let relation_bytes: u64 = relation_files.iter().map(|(_, size)| size).sum();
    if grouped && sides.is_empty() && relation_bytes > limits.group_shuffle_bytes {
        if let (Some(keys), Ok(top_k)) = (group_keys(select, &relation, columns), top_k_final(&query, output_names)) {
            // Whole groups meet on one worker: each bucket's rows are final.
            let by_group = vec![Side { relation: relation.clone(), keys, files: relation_files.clone() }];
            let fragments = fragments_for(&ticket.sql, &by_group);
            let distribution = match top_k {
                None => Distribution::Partitioned { fragments },
                Some(final_sql) => Distribution::Combined { fragments, final_sql },
            };
            return Ok((distribution, by_group));
        }
    }
    if !aggregates.is_empty() || grouped || select.having.is_some() {
        let (partial_sql, final_sql) = split_aggregation(&query, select, &aggregates, output_names)?;
        return Ok((Distribution::Combined { fragments: fragments_of(&partial_sql), final_sql }, sides.clone()));
    }
    match top_k_final(&query, output_names)? {
        None => Ok((Distribution::Partitioned { fragments: fragments_of(&ticket.sql) }, sides.clone())),
        Some(final_sql) => Ok((Distribution::Combined { fragments: fragments_of(&ticket.sql), final_sql }, sides.clone())),
    }
}

/// For ORDER BY / LIMIT over partitions that each already applied them: the
/// coordinator's final top-k over `partials` (None: no ORDER BY or LIMIT).
fn top_k_final(query: &Query, output_names: &[String]) -> Result<Option<String>, Reason> {
    let limit = match &query.limit_clause {
        None => None,
        Some(LimitClause::LimitOffset { limit, offset: None, limit_by }) if limit_by.is_empty() => limit.clone(),
        Some(_) => return Err("OFFSET runs on one node".into()),
    };
    let order_by = match &query.order_by {
        None => Vec::new(),
        Some(order_by) => match &order_by.kind {
            OrderByKind::Expressions(exprs) => exprs.clone(),
            OrderByKind::All(_) => return Err("ORDER BY ALL runs on one node".into()),
        },
    };
    if order_by.is_empty() && limit.is_none() {
        return Ok(None);
    }
    for key in &order_by {
        let named = matches!(&key.expr, Expr::Identifier(ident) if output_names.contains(&ident.value));
        if !named {
            return Err(format!("ORDER BY `{}` is not an output column; runs on one node", key.expr));
        }
    }
    let mut final_sql = "SELECT * FROM partials".to_string();
    if !order_by.is_empty() {
        final_sql += &format!(" ORDER BY {}", join(&order_by));
    }
    if let Some(limit) = limit {
        final_sql += &format!(" LIMIT {limit}");
    }
    Ok(Some(final_sql))
}

/// The GROUP BY keys as columns of `relation` (None when any key is an
/// expression or another relation's column).
fn group_keys(select: &Select, relation: &str, columns: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
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
fn shuffle_sides(
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

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn simple_select(query: &Query) -> Result<&Select, Reason> {
    if query.with.is_some() {
        return Err("WITH queries run on one node".into());
    }
    match query.body.as_ref() {
        SetExpr::Select(select) => Ok(select),
        _ => Err("set operations (UNION, …) run on one node".into()),
    }
}

fn reject_subqueries_and_windows(query: &Query) -> Result<(), Reason> {
    let mut reason = None;
    let _ = query.visit(&mut ExprVisitor(|expr: &Expr| {
        reason = match expr {
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => Some("subqueries run on one node"),
            Expr::Function(function) if function.over.is_some() => Some("window functions run on one node"),
            _ => None,
        };
        if reason.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }));
    match reason {
        Some(reason) => Err(reason.into()),
        None => Ok(()),
    }
}

struct ExprVisitor<F>(F);

impl<F: FnMut(&Expr) -> ControlFlow<()>> sqlparser::ast::Visitor for ExprVisitor<F> {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        (self.0)(expr)
    }
}

fn relation_name(factor: &TableFactor) -> Result<String, Reason> {
    match factor {
        TableFactor::Table { name, args: None, .. } => {
            Ok(name.0.iter().map(|part| part.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| part.to_string())).collect::<Vec<_>>().join("."))
        }
        _ => Err("derived tables and table functions in FROM run on one node".into()),
    }
}

/// The relation to split: the largest scan that every join keeps whole. With
/// only inner joins any relation may be split; an outer join keeps only its
/// preserved (left) side splittable.
fn partitioned_relation(select: &Select, files: &HashMap<String, Vec<(String, u64)>>) -> Result<String, Reason> {
    let mut names = Vec::new();
    let mut inner_only = true;
    for from in &select.from {
        names.push(relation_name(&from.relation)?);
        for join in &from.joins {
            names.push(relation_name(&join.relation)?);
            match &join.join_operator {
                JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_) => {}
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => inner_only = false,
                _ => return Err("right, full, semi and anti joins run on one node".into()),
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = names.iter().find(|name| !seen.insert(name.as_str())) {
        return Err(format!("`{twice}` appears twice; self-joins run on one node"));
    }
    let candidates: Vec<&String> = if inner_only {
        names.iter().collect()
    } else if select.from.len() == 1 {
        vec![&names[0]]
    } else {
        return Err("outer joins mixed with comma joins run on one node".into());
    };
    let bytes = |name: &String| files.get(name).map(|f| f.iter().map(|(_, size)| size).sum::<u64>()).unwrap_or(0);
    candidates
        .into_iter()
        .filter(|name| files.contains_key(*name))
        .max_by_key(|name| bytes(name))
        .cloned()
        .ok_or_else(|| "no Iceberg table data to split".into())
}

/// Files into at most `workers` partitions of similar total bytes (largest
/// file first onto the lightest partition).
pub fn balance(files: &[(String, u64)], workers: usize) -> Vec<Vec<String>> {
    let count = workers.min(files.len()).max(1);
    let mut sorted: Vec<&(String, u64)> = files.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut partitions: Vec<(u64, Vec<String>)> = vec![(0, Vec::new()); count];
    for (path, size) in sorted {
        let lightest = partitions.iter_mut().min_by_key(|(total, files)| (*total, files.len())).expect("at least one");
        lightest.0 += size.max(&1);
        lightest.1.push(path.clone());
    }
    partitions.into_iter().map(|(_, files)| files).collect()
}

/// Every aggregate call of the query's projection, HAVING and ORDER BY, by
/// text; an aggregate that does not decompose keeps the query on one node.
fn aggregate_calls(query: &Query) -> Result<BTreeMap<String, Expr>, Reason> {
    let mut calls = BTreeMap::new();
    let mut reason = None;
    let _ = query.visit(&mut ExprVisitor(|expr: &Expr| {
        let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
        let name = function.name.to_string().to_ascii_lowercase();
        if OTHER_AGGREGATES.contains(&name.as_str()) {
            reason = Some(format!("aggregate `{name}` does not decompose; runs on one node"));
            return ControlFlow::Break(());
        }
        if !DECOMPOSABLE.contains(&name.as_str()) {
            return ControlFlow::Continue(());
        }
        let distinct = matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some());
        if distinct || function.filter.is_some() {
            reason = Some(format!("`{expr}` does not decompose; runs on one node"));
            return ControlFlow::Break(());
        }
        calls.insert(expr.to_string(), expr.clone());
        ControlFlow::Continue(())
    }));
    match reason {
        Some(reason) => Err(reason),
        None => Ok(calls),
    }
}

fn parse_expr(text: &str) -> Expr {
    Parser::new(&GenericDialect {}).try_with_sql(text).and_then(|mut p| p.parse_expr()).expect("generated SQL parses")
}

/// Partial SQL (per partition: group keys and partial aggregates) and final
/// SQL (over `partials`: the aggregates of those, then HAVING, ORDER BY, LIMIT).
fn split_aggregation(
    query: &Query,
    select: &Select,
    aggregates: &BTreeMap<String, Expr>,
    output_names: &[String],
) -> Result<(String, String), Reason> {
    let keys: Vec<Expr> = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.clone(),
        _ => return Err("GROUP BY ALL / ROLLUP / CUBE run on one node".into()),
    };
    let mut partial_items = Vec::new();
    let mut replacements: HashMap<String, Expr> = HashMap::new();
    for (index, key) in keys.iter().enumerate() {
        if matches!(key, Expr::Value(_)) {
            return Err("GROUP BY by position runs on one node".into());
        }
        partial_items.push(format!("{key} AS __k{index}"));
        replacements.insert(key.to_string(), parse_expr(&format!("__k{index}")));
    }
    for (index, (text, call)) in aggregates.iter().enumerate() {
        let Expr::Function(function) = call else { unreachable!("aggregates are function calls") };
        let name = function.name.to_string().to_ascii_lowercase();
        let args = match &function.args {
            FunctionArguments::List(list) => join(&list.args),
            _ => String::new(),
        };
        let combined = match name.as_str() {
            "sum" | "count" => {
                partial_items.push(format!("{call} AS __a{index}"));
                format!("sum(__a{index})")
            }
            "min" | "max" => {
                partial_items.push(format!("{call} AS __a{index}"));
                format!("{name}(__a{index})")
            }
            _ => {
                partial_items.push(format!("sum({args}) AS __a{index}"));
                partial_items.push(format!("count({args}) AS __c{index}"));
                format!("CAST(sum(__a{index}) AS DOUBLE) / CAST(sum(__c{index}) AS DOUBLE)")
            }
        };
        replacements.insert(text.clone(), parse_expr(&combined));
    }

    let items: Vec<&Expr> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Ok(expr),
            _ => Err("`*` beside aggregates runs on one node".to_string()),
        })
        .collect::<Result<_, _>>()?;
    if items.len() != output_names.len() {
        return Err("the projection does not match the planned columns; runs on one node".into());
    }
    let final_items: Vec<String> = items
        .iter()
        .zip(output_names)
        .map(|(expr, name)| format!("{} AS \"{}\"", replaced(expr, &replacements), name.replace('"', "\"\"")))
        .collect();

    let mut partial_sql = format!("SELECT {} FROM {}", partial_items.join(", "), join(&select.from));
    if let Some(selection) = &select.selection {
        partial_sql += &format!(" WHERE {selection}");
    }
    if !keys.is_empty() {
        partial_sql += &format!(" GROUP BY {}", join(&keys));
    }

    let mut final_sql = format!("SELECT {} FROM partials", final_items.join(", "));
    if !keys.is_empty() {
        let key_names: Vec<String> = (0..keys.len()).map(|index| format!("__k{index}")).collect();
        final_sql += &format!(" GROUP BY {}", key_names.join(", "));
    }
    if let Some(having) = &select.having {
        final_sql += &format!(" HAVING {}", replaced(having, &replacements));
    }
    if let Some(order_by) = &query.order_by {
        let OrderByKind::Expressions(exprs) = &order_by.kind else { return Err("ORDER BY ALL runs on one node".into()) };
        let keys: Vec<String> = exprs
            .iter()
            .map(|key| {
                let mut key = key.clone();
                let is_output = matches!(&key.expr, Expr::Identifier(ident) if output_names.contains(&ident.value));
                if !is_output {
                    key.expr = replaced(&key.expr, &replacements);
                }
                key.to_string()
            })
            .collect();
        final_sql += &format!(" ORDER BY {}", keys.join(", "));
    }
    if let Some(limit) = &query.limit_clause {
        final_sql += &format!(" {limit}");
    }
    Ok((partial_sql, crate::sql::doubles_for_division(&final_sql)))
}

/// `expr` with every sub-expression whose text `replacements` names swapped,
/// outermost first (so `sum(k)` is replaced whole even when `k` is a key).
fn replaced(expr: &Expr, replacements: &HashMap<String, Expr>) -> Expr {
    struct Replace<'a>(&'a HashMap<String, Expr>);
    impl VisitorMut for Replace<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Some(replacement) = self.0.get(&expr.to_string()) {
                *expr = replacement.clone();
            }
            ControlFlow::Continue(())
        }
    }
    let mut expr = expr.clone();
    let _ = VisitMut::visit(&mut expr, &mut Replace(replacements));
    expr
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::TablePin;

    fn ticket(sql: &str) -> QueryTicket {
        let pin = |relation: &str| TablePin { relation: relation.into(), name: relation.into(), ..Default::default() };
        QueryTicket { sql: sql.into(), tables: vec![pin("big"), pin("small")], query_id: "q".into(), ..Default::default() }
    }

    fn files() -> HashMap<String, Vec<(String, u64)>> {
        HashMap::from([
            ("big".to_string(), (0..6).map(|i| (format!("b{i}"), 100 + i)).collect()),
            ("small".to_string(), vec![("s0".to_string(), 10)]),
        ])
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn filters_and_inner_joins_split_the_largest_table() {
        let sql = "SELECT b.x, s.y FROM big AS b JOIN small AS s ON b.k = s.k WHERE b.x > 1";
        let Ok(Distribution::Partitioned { fragments }) = distribute(&ticket(sql), &files(), &names(&["x", "y"]), 3) else {
            panic!("expected partitions")
        };
        assert_eq!(fragments.len(), 3);
        let mut all: Vec<String> = fragments.iter().flat_map(|f| f.tables[0].files.clone()).collect();
        all.sort();
        assert_eq!(all, ["b0", "b1", "b2", "b3", "b4", "b5"]);
        assert!(fragments.iter().all(|f| f.tables[0].partitioned && !f.tables[1].partitioned && f.tables[0].files.len() == 2));
    }

    #[test]
    fn aggregates_decompose_into_partial_and_final_sql() {
        let sql = "SELECT g, sum(x) AS s, avg(y), count(*) AS n FROM big GROUP BY g HAVING sum(x) > 3 ORDER BY s DESC LIMIT 5";
        let Ok(Distribution::Combined { fragments, final_sql }) =
            distribute(&ticket(sql), &files(), &names(&["g", "s", "avg", "n"]), 2)
        else {
            panic!("expected a combined plan")
        };
        assert!(fragments[0].sql.starts_with("SELECT g AS __k0, "), "{}", fragments[0].sql);
        assert!(fragments[0].sql.ends_with("FROM big GROUP BY g"), "{}", fragments[0].sql);
        assert!(final_sql.contains("__k0 AS \"g\""), "{final_sql}");
        assert!(final_sql.contains("GROUP BY __k0 HAVING sum(__a"), "{final_sql}");
        assert!(final_sql.ends_with("ORDER BY s DESC LIMIT 5"), "{final_sql}");
    }

    #[test]
    fn shapes_that_do_not_decompose_stay_on_one_node() {
        for sql in [
            "SELECT count(DISTINCT x) FROM big",
            "SELECT median(x) FROM big",
            "SELECT x FROM big WHERE x > (SELECT avg(x) FROM small)",
            "SELECT x, row_number() OVER (ORDER BY x) FROM big",
            "SELECT DISTINCT x FROM big",
            "SELECT a.x FROM big AS a JOIN big AS b ON a.x = b.x",
            "SELECT x FROM small RIGHT JOIN big ON small.k = big.k",
        ] {
            assert!(distribute(&ticket(sql), &files(), &names(&["x", "y"]), 3).is_err(), "{sql}");
        }
        assert!(distribute(&ticket("SELECT x FROM big"), &files(), &names(&["x"]), 1).is_err(), "one worker");
    }

    #[test]
    fn balanced_partitions_hold_similar_bytes() {
        let files: Vec<(String, u64)> = [50, 40, 30, 20, 10, 10].iter().enumerate().map(|(i, s)| (format!("f{i}"), *s)).collect();
        let partitions = balance(&files, 3);
        let bytes: Vec<u64> = partitions
            .iter()
            .map(|p| p.iter().map(|f| files.iter().find(|(n, _)| n == f).unwrap().1).sum())
            .collect();
        assert_eq!(bytes.iter().sum::<u64>(), 160);
        assert!(bytes.iter().max().unwrap() - bytes.iter().min().unwrap() <= 10, "{bytes:?}");
    }
}
