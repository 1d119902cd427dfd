//! A correlated subquery becomes a CTE grouped by its keys (`subquery.rs`,
//! `exists.rs`), which computes every group although the outer query meets
//! only the groups of the rows it keeps. Where the outer relation a key
//! comes from has filters of its own in the WHERE, the CTE reads only rows
//! whose key such a row has: `l_partkey IN (SELECT p_partkey FROM part WHERE
//! p_brand = 'Brand#23' AND …)` (magic sets). Each group is every row of one
//! key, so the groups the join can meet are whole and the answer is the
//! same; TPC-H 17 grouped all of `lineitem` by part to read 200 parts'
//! averages.
//!
//! A relation without such filters is often narrowed by the ones it joins:
//! TPC-H 21's `lineitem l1` meets only one nation's suppliers. The
//! restriction then follows the WHERE's equalities from the key's relation
//! to the nearest relation compared with constants, through relations far
//! smaller than the key's own ([`REACH`]), so restating them costs a small
//! join next to the grouping it spares.

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, TableFactor};

use super::scope::*;

/// A chain of joined relations restates at most this share of the rows of
/// the relation it narrows (TPC-H 21: `supplier` and `nation`, 10,025 rows,
/// for `lineitem`'s 6 million; `orders`, a quarter of them, is not worth it).
const REACH: u64 = 8;

/// The outer relations of one SELECT, in the order of its scopes, and the
/// equalities of its WHERE that join two of them.
pub(super) struct OuterFilters {
    relations: Vec<Option<Outer>>,
    /// `(a, b, conjunct)`: `conjunct` equates a column of scope `a` with one of scope `b`.
    links: Vec<(usize, usize, String)>,
}

/// A catalog relation of the outer FROM as written, with its own
/// deterministic WHERE conjuncts; derived tables and the like are not restated.
struct Outer {
    factor: String,
    filters: Vec<String>,
    /// One of `filters` compares a column with constants: it keeps few rows.
    selective: bool,
    rows: Option<u64>,
}

impl OuterFilters {
    pub fn of(select: &Select, scopes: &[Scope], resolver: &Resolver) -> Self {
        let conjuncts: Vec<_> = select.selection.as_ref().map(conjuncts).unwrap_or_default();
        let relations = factors(&select.from)
            .enumerate()
            .map(|(i, factor)| {
                let TableFactor::Table { args: None, .. } = factor else { return None };
                let own: Vec<&Expr> = conjuncts.iter().copied().filter(|c| owner(c, scopes) == Some(i) && without_calls(*c)).collect();
                Some(Outer {
                    factor: factor.to_string(),
                    selective: own.iter().any(|c| compares_with_constants(c)),
                    filters: own.iter().map(ToString::to_string).collect(),
                    rows: resolver.rows(factor),
                })
            })
            .collect();
        let links = conjuncts.iter().filter_map(|c| link(c, scopes)).collect();
        Self { relations, links }
    }

    /// The conjunct that keeps the inner rows whose key `inner` equals
    /// `outer` of some outer row the filters keep, if any filter reaches it.
    pub fn restriction(&self, inner: &str, outer: &str, scopes: &[Scope]) -> Option<String> {
        self.restricted(inner, outer, scopes, |own| !own.filters.is_empty())
    }

    /// [`Self::restriction`] only where a comparison with constants keeps
    /// it small: a filter between two columns (`l_receiptdate >
    /// l_commitdate`) keeps too many rows to pay for the semi join.
    pub fn selective_restriction(&self, inner: &str, outer: &str, scopes: &[Scope]) -> Option<String> {
        self.restricted(inner, outer, scopes, |own| own.selective)
    }

    /// The restriction where a chain of joins reaches a selective relation,
    /// or else where the key's own relation's filters `narrow`.
    fn restricted(&self, inner: &str, outer: &str, scopes: &[Scope], narrow: impl Fn(&Outer) -> bool) -> Option<String> {
        let start = owner(&parse_expr(outer)?, scopes)?;
        let reach = self.reach(start);
        let own = self.relations.get(start)?.as_ref()?;
        (narrow(own) || reach.is_some()).then(|| self.restated(inner, outer, start, reach))
    }

    /// `inner IN (SELECT outer FROM start JOIN … ON … WHERE <their filters>)`,
    /// through a derived table of its own name: polars-sql semi-joins an IN
    /// only when the subquery's FROM shares no column name with the query
    /// around it (a relation restated inside its own CTE would) and
    /// otherwise tests every row against one list of all the keys.
    fn restated(&self, inner: &str, outer: &str, start: usize, reach: Option<Vec<(usize, usize)>>) -> String {
        let relation = |i: usize| self.relations[i].as_ref().expect("reached relations are restated");
        let mut from = relation(start).factor.clone();
        let mut filters = relation(start).filters.clone();
        for (next, link) in reach.unwrap_or_default() {
            from.push_str(&format!(" JOIN {} ON {}", relation(next).factor, self.links[link].2));
            filters.extend(relation(next).filters.iter().cloned());
        }
        let keys = format!("SELECT {outer} AS __floe_v FROM {from} WHERE {}", filters.join(" AND "));
        format!("{inner} IN (SELECT __floe_in.__floe_v FROM ({keys}) AS __floe_in)")
    }

    /// The cheapest chain of links from `start` to another relation compared
    /// with constants, as `(relation, link)` steps, where the relations on it
    /// add up to at most 1/[`REACH`] of `start`'s rows (all counts known).
    fn reach(&self, start: usize) -> Option<Vec<(usize, usize)>> {
        let budget = self.relations.get(start)?.as_ref()?.rows? / REACH;
        let count = self.relations.len();
        let (mut cost, mut via, mut settled) = (vec![u64::MAX; count], vec![None; count], vec![false; count]);
        cost[start] = 0;
        // Dijkstra over relation sizes: the first selective relation settled is the cheapest.
        while let Some(at) = (0..count).filter(|&i| !settled[i] && cost[i] != u64::MAX).min_by_key(|&i| cost[i]) {
            settled[at] = true;
            if at != start && self.relations[at].as_ref().is_some_and(|r| r.selective) {
                return Some(steps(&via, start, at));
            }
            for (index, &(a, b, _)) in self.links.iter().enumerate() {
                let next = match (a == at, b == at) {
                    (true, false) => b,
                    (false, true) => a,
                    _ => continue,
                };
                let Some(rows) = self.relations[next].as_ref().and_then(|r| r.rows) else { continue };
                let reached = cost[at].saturating_add(rows);
                if !settled[next] && reached <= budget && reached < cost[next] {
                    cost[next] = reached;
                    via[next] = Some((at, index));
                }
            }
        }
        None
    }
}

/// The `(relation, link)` steps from `start` to `end` that `via` recorded.
fn steps(via: &[Option<(usize, usize)>], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut steps = Vec::new();
    let mut at = end;
    while at != start {
        let Some((previous, link)) = via[at] else { break };
        steps.push((at, link));
        at = previous;
    }
    steps.reverse();
    steps
}

/// `a = b` between a column of one outer relation and one of another.
fn link(conjunct: &Expr, scopes: &[Scope]) -> Option<(usize, usize, String)> {
    let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = unnested(conjunct) else { return None };
    if !is_column(left) || !is_column(right) {
        return None;
    }
    let (a, b) = (owner(left, scopes)?, owner(right, scopes)?);
    (a != b).then(|| (a, b, conjunct.to_string()))
}

fn is_column(expr: &Expr) -> bool {
    super::scope::is_column(unnested(expr))
}

/// A column compared with constants: `=`/`<`/… a literal, BETWEEN, an IN list, LIKE.
fn compares_with_constants(expr: &Expr) -> bool {
    match unnested(expr) {
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            (is_column(left) && reads_nothing(right)) || (reads_nothing(left) && is_column(right))
        }
        Expr::Between { expr, low, high, .. } => is_column(expr) && reads_nothing(low) && reads_nothing(high),
        Expr::InList { expr, list, .. } => is_column(expr) && list.iter().all(reads_nothing),
        Expr::Like { expr, pattern, .. } => is_column(expr) && reads_nothing(pattern),
        _ => false,
    }
}

/// No column, function call or subquery in `expr`: the same value for every row.
fn reads_nothing(expr: &Expr) -> bool {
    struct Reads;
    impl sqlparser::ast::Visitor for Reads {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            match expr {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Function(_) => std::ops::ControlFlow::Break(()),
                _ => std::ops::ControlFlow::Continue(()),
            }
        }
        fn pre_visit_query(&mut self, _: &Query) -> std::ops::ControlFlow<()> {
            std::ops::ControlFlow::Break(())
        }
    }
    crate::sql::visit::Visit::visit(expr, &mut Reads).is_continue()
}
