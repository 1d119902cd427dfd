//! Which queries spread over workers, and how: the largest scan is split into
//! partitions balanced by bytes; every other table is read whole by each
//! partition (a broadcast through the shared lake). A partition's rows are
//! either final (filters, projections, inner joins) or partial results the
//! coordinator combines: decomposable aggregates (sum, count, min, max, avg
//! as sum/count), top-k and limits. Anything else runs on one node, and the
//! reason says why.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, GroupByExpr, JoinOperator, LimitClause, OrderByKind, Query, Select, SetExpr, Statement, TableFactor};
use crate::sql::visit::Visit;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::aggregate::{aggregate_calls, split_aggregation};
use super::keys::{group_keys, shuffle_sides};
use super::stage::Side;
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
    statements.iter_mut().for_each(crate::sql::bind_as_postgres);
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

pub(super) fn join<T: std::fmt::Display>(items: &[T]) -> String {
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

pub(super) struct ExprVisitor<F>(pub F);

impl<F: FnMut(&Expr) -> ControlFlow<()>> sqlparser::ast::Visitor for ExprVisitor<F> {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        (self.0)(expr)
    }
}

pub(super) fn relation_name(factor: &TableFactor) -> Result<String, Reason> {
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
            "SELECT y, bool_and(x > 1), approx_count_distinct(x) FROM big GROUP BY y",
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
