//! `FROM a, b, c WHERE a.x = b.x AND b.y = c.y AND …` as explicit inner joins
//! (`a JOIN b ON a.x = b.x JOIN c ON b.y = c.y`). polars-sql plans a comma
//! list as cross products and relies on its optimiser to turn the equalities
//! back into joins, which fails once the WHERE also holds a subquery
//! predicate (TPC-H 18: a cross product that never finishes). Inner joins on
//! the same equalities are the same relation, so the rewrite is exact.
//! Relations join in the order written, each as soon as an equality links it
//! to those already joined (a relation with a filter of its own sooner:
//! `join_order`), equalities implied through shared columns linking too;
//! one with no link is cross-joined, as written.
//!
//! So does a chain written with explicit inner joins (`a JOIN b ON … JOIN c
//! ON …`, LEFT joins after it staying last): an inner join's ON conditions
//! are conjuncts of WHERE, and polars-sql joins in the order written
//! (TPC-DS 72 joined all of `inventory` to every catalog sale before the
//! filtered dimensions that keep one sale in 200: over 60 s at SF 1).

use sqlparser::ast::{BinaryOperator, Expr, Join, JoinConstraint, JoinOperator, Query, Select, SetExpr, Statement, TableFactor, TableWithJoins};
use crate::sql::visit::VisitorMut;

use super::scope::*;

pub(super) fn make_explicit(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Explicit { resolver });
}

struct Explicit<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Explicit<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        for select in selects_mut(query.body.as_mut()) {
            if !inner_chain_reordered(select, &self.resolver) {
                explicit_joins(select, &self.resolver);
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Rewrites one SELECT's comma list; returns whether its FROM is now one join chain.
pub(super) fn explicit_joins(select: &mut Select, resolver: &Resolver) -> bool {
    {
        if select.from.len() < 2 || select.from.iter().any(|t| !t.joins.is_empty()) {
            return select.from.len() == 1;
        }
        let (Some(scopes), Some(selection)) = (resolver.scopes(&select.from), &select.selection) else {
            return false;
        };
        let mut edges = Vec::new();
        let mut shared_columns = Vec::new();
        let mut residual = Vec::new();
        let mut filtered = vec![false; scopes.len()];
        let mut first_semi_joined = false;
        for conjunct in conjuncts(selection) {
            let bare = unnested(conjunct);
            let link = match bare {
                Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => match (owner(left, &scopes), owner(right, &scopes)) {
                    (Some(a), Some(b)) if a != b => Some((a, b)),
                    _ => None,
                },
                _ => None,
            };
            match link {
                // polars-sql's ON takes no parentheses around an equality.
                Some((a, b)) => {
                    if let Expr::BinaryOp { left, right, .. } = bare {
                        if is_column(left) && is_column(right) {
                            shared_columns.push([(a, left.to_string()), (b, right.to_string())]);
                        }
                    }
                    edges.push((a, b, bare.to_string(), false))
                }
                None => {
                    if let Some(relation) = owner(conjunct, &scopes) {
                        filtered[relation] = true;
                    }
                    // Applied to its relation before the joins (`join_filters::semi_joins_first`).
                    if let Expr::InSubquery { expr, negated: false, .. } = bare {
                        first_semi_joined |= owner(expr, &scopes) == Some(0);
                    }
                    residual.push(conjunct.to_string());
                }
            }
        }
        if edges.is_empty() {
            return false;
        }
        let written_edges = edges.len();
        edges.extend(implied_edges(&shared_columns, &edges));
        // `SELECT *` lists columns in join order: keep the written one.
        let wildcard = lists_wildcard(select);
        let filtered: Vec<bool> = filtered.into_iter().map(|f| f && !wildcard).collect();
        let rows: Vec<Option<u64>> = factors(&select.from).map(|factor| resolver.rows(factor)).collect();
        let start = chain_start(scopes.len(), &edges, &filtered, &rows, first_semi_joined);
        let order = join_order(start, scopes.len(), &edges, &filtered, &rows);
        let mut sql = format!("SELECT 1 FROM {}", select.from[order[0]]);
        for (position, &next) in order.iter().enumerate().skip(1) {
            let joined = &order[..position];
            let joins = |(a, b, _, used): &Edge| !used && ((*a == next && joined.contains(b)) || (*b == next && joined.contains(a)));
            let (written, implied) = edges.split_at_mut(written_edges);
            let mut on = Vec::new();
            for edge in written.iter_mut().filter(|edge| joins(edge)) {
                on.push(edge.2.clone());
                edge.3 = true;
            }
            // An implied equality joins only where no written one does: the
            // written ones imply it.
            if let Some(edge) = implied.iter_mut().find(|edge| on.is_empty() && joins(edge)) {
                on.push(edge.2.clone());
                edge.3 = true;
            }
            if on.is_empty() {
                sql.push_str(&format!(" CROSS JOIN {}", select.from[next]));
            } else {
                sql.push_str(&format!(" JOIN {} ON {}", select.from[next], on.join(" AND ")));
            }
        }
        // An equality between relations joined earlier (a cycle) stays a
        // filter; an implied one not used to join says nothing new.
        residual.extend(edges.into_iter().take(written_edges).filter(|e| !e.3).map(|e| e.2));
        let Some(mut parsed) = parse_query(&sql) else { return false };
        let SetExpr::Select(parsed_select) = parsed.body.as_mut() else { return false };
        let filter = if residual.is_empty() { None } else { parse_expr(&residual.join(" AND ")) };
        if !residual.is_empty() && filter.is_none() {
            return false;
        }
        select.from = std::mem::take(&mut parsed_select.from);
        select.selection = filter;
        true
    }
}

/// An explicit chain of at least two inner joins, each on an equality of
/// columns, with only LEFT joins after it, reordered as the comma list of
/// its relations with its ON conditions in WHERE would be: a filter of the
/// inner relations is the same before the LEFT joins as after them.
fn inner_chain_reordered(select: &mut Select, resolver: &Resolver) -> bool {
    let [TableWithJoins { relation, joins }] = select.from.as_slice() else { return false };
    let inner = joins.iter().take_while(|join| equi_join_condition(join).is_some()).count();
    let left = |join: &Join| matches!(join.join_operator, JoinOperator::Left(JoinConstraint::On(_)) | JoinOperator::LeftOuter(JoinConstraint::On(_)));
    if inner < 2 || !joins[inner..].iter().all(left) {
        return false;
    }
    // An ON condition reading an enclosing query's column (a correlated
    // subquery's) is no filter of this chain's rows that WHERE could hold.
    let mut list = select.clone();
    let relations = std::iter::once(relation).chain(joins[..inner].iter().map(|join| &join.relation));
    list.from = relations.map(|relation| TableWithJoins { relation: relation.clone(), joins: Vec::new() }).collect();
    let Some(scopes) = resolver.scopes(&list.from) else { return false };
    if !joins[..inner].iter().filter_map(equi_join_condition).all(|on| reads_only(on, &scopes)) {
        return false;
    }
    let conditions = joins[..inner].iter().filter_map(equi_join_condition).cloned().chain(select.selection.clone());
    list.selection = joined_by(BinaryOperator::And, conditions.collect());
    if !explicit_joins(&mut list, resolver) {
        return false;
    }
    let trailing = joins[inner..].to_vec();
    select.from = list.from;
    select.from[0].joins.extend(trailing);
    select.selection = list.selection;
    true
}

/// Whether every column `expr` reads belongs to one of `scopes`.
fn reads_only(expr: &Expr, scopes: &[Scope]) -> bool {
    crate::sql::visit::visit_expressions(expr, |e| match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) if owner(e, scopes).is_none() => std::ops::ControlFlow::Break(()),
        other if super::aggregates::opens_subquery(other) => std::ops::ControlFlow::Break(()),
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_continue()
}

/// An inner join's ON condition holding an equality of two columns.
fn equi_join_condition(join: &Join) -> Option<&Expr> {
    let (JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on))) = &join.join_operator else { return None };
    let lateral_or_nested = matches!(join.relation, TableFactor::Derived { lateral: true, .. } | TableFactor::NestedJoin { .. });
    let equality = |c: &&Expr| matches!(unnested(c), Expr::BinaryOp { left, op: BinaryOperator::Eq, right } if is_column(left) && is_column(right));
    (!lateral_or_nested && conjuncts(on).iter().any(equality)).then_some(on)
}

/// The written order, each relation joining as soon as an equality links it
/// to those joined, except that a relation with a filter of its own joins
/// as soon as everything it links to has: joined on keys, it narrows the
/// rows every later join handles (TPC-H 7 and 21 joined all of `lineitem`
/// before the nations that keep a twelfth or a twenty-fifth of it), and one
/// that still links to a relation not joined yet joins before unfiltered
/// ones (TPC-DS 72 joined all of `inventory` before the year of sales it
/// keeps, a date also linked to the inventory's by its week). So does a
/// relation no larger than the first one that is all a filtered relation
/// still waits for, the filtered one right after it (TPC-H 5: `customer`,
/// then `nation` and the filtered `region`, before `orders`). The chain
/// starts at `start` (`chain_start`).
fn join_order(start: usize, relations: usize, edges: &[Edge], filtered: &[bool], rows: &[Option<u64>]) -> Vec<usize> {
    let linked = |r: usize, s: usize| linked(edges, r, s);
    let neighbours = |r: usize| neighbours(edges, relations, r);
    let mut order = vec![start];
    while order.len() < relations {
        let left: Vec<usize> = (0..relations).filter(|r| !order.contains(r)).collect();
        let waiting_for = |r: usize| -> Vec<usize> { neighbours(r).into_iter().filter(|s| !order.contains(s)).collect() };
        let narrowing = left.iter().copied().find(|&r| filtered[r] && !neighbours(r).is_empty() && waiting_for(r).is_empty());
        let linked_filtered = || left.iter().copied().find(|&r| filtered[r] && order.iter().any(|&s| linked(r, s)));
        let bridge = || {
            left.iter().copied().find_map(|r| {
                let [via] = waiting_for(r).as_slice().try_into().ok()?;
                let small = matches!((rows[via], rows[start]), (Some(size), Some(first)) if size <= first);
                (filtered[r] && small && order.iter().any(|&s| linked(via, s))).then_some([via, r])
            })
        };
        if let Some(r) = narrowing {
            order.push(r);
        } else if let Some(pair) = bridge() {
            order.extend(pair);
        } else if let Some(r) = linked_filtered() {
            order.push(r);
        } else {
            let next = left.iter().copied().find(|&r| order.iter().any(|&s| linked(r, s))).unwrap_or(left[0]);
            order.push(next);
        }
    }
    order
}

/// Equalities the written ones imply through a shared column: `c.k = s.k AND
/// s.k = n.k` also links `c` and `n` by `c.k = n.k`, so a chain can join them
/// directly. Only between relations no written equality links.
fn implied_edges(shared_columns: &[[(usize, String); 2]], edges: &[Edge]) -> Vec<Edge> {
    let mut classes: Vec<Vec<(usize, String)>> = Vec::new();
    for pair in shared_columns {
        let found: Vec<usize> = (0..classes.len()).filter(|&c| pair.iter().any(|column| classes[c].contains(column))).collect();
        let mut merged: Vec<(usize, String)> = pair.to_vec();
        for &c in found.iter().rev() {
            merged.extend(classes.remove(c));
        }
        merged.sort();
        merged.dedup();
        classes.push(merged);
    }
    let mut implied: Vec<Edge> = Vec::new();
    for class in &classes {
        for (i, (a, left)) in class.iter().enumerate() {
            for (b, right) in &class[i + 1..] {
                let known = a == b || linked(edges, *a, *b) || linked(&implied, *a, *b);
                if !known {
                    implied.push((*a, *b, format!("{left} = {right}"), false));
                }
            }
        }
    }
    implied
}

/// An equality between two relations: their indices, its SQL, whether a join uses it.
type Edge = (usize, usize, String, bool);

/// Where the chain starts: the first relation written, unless it is an
/// unfiltered end of a plain chain (each relation between linked to its two
/// neighbours only) whose other end is filtered and links to one relation
/// smaller than the first: `partsupp, supplier, nation WHERE n_name = …`
/// then joins `supplier` to the nation first and `partsupp` to the few
/// suppliers left (TPC-H 11), instead of all of `partsupp` to every
/// supplier. Sizes decide because they can also go the other way (TPC-H 10:
/// `customer` before the filtered `orders` is faster than after), and a
/// first relation narrowed by an `IN (SELECT …)` is as good as filtered.
/// It also starts there when the filtered end is itself smaller than the
/// first relation, a dimension of the one it hangs off, and no filter
/// narrows the first relation's neighbours (TPC-H 7's nations at both
/// ends keep their written start): `customer, store_sales, date_dim WHERE
/// d_year = …`
/// joins the year's sales before their customers (TPC-DS 4, 11, 74), not
/// every sale to its customer's names before the year keeps a fifth.
fn chain_start(relations: usize, edges: &[Edge], filtered: &[bool], rows: &[Option<u64>], first_semi_joined: bool) -> usize {
    if filtered[0] || first_semi_joined {
        return 0;
    }
    let neighbours = |r: usize| neighbours(edges, relations, r);
    let first_has_filtered_neighbour = neighbours(0).into_iter().any(|r| filtered[r]);
    let ends = (1..relations).filter(|&end| filtered[end] && neighbours(end).len() == 1);
    for end in ends {
        let (mut previous, mut current) = (end, neighbours(end)[0]);
        let next_to_end = current;
        for _ in 0..relations {
            if current == 0 {
                break;
            }
            let onward: Vec<usize> = neighbours(current).into_iter().filter(|&s| s != previous).collect();
            let [next] = onward.as_slice() else { break };
            (previous, current) = (current, *next);
        }
        let smaller_than_first = |r: usize| matches!((rows[r], rows[0]), (Some(size), Some(first)) if size < first);
        let smaller = smaller_than_first(next_to_end) || (smaller_than_first(end) && !first_has_filtered_neighbour);
        if current == 0 && next_to_end != 0 && smaller {
            return next_to_end;
        }
    }
    0
}

fn linked(edges: &[Edge], r: usize, s: usize) -> bool {
    edges.iter().any(|(a, b, _, _)| (*a == r && *b == s) || (*a == s && *b == r))
}

fn neighbours(edges: &[Edge], relations: usize, r: usize) -> Vec<usize> {
    (0..relations).filter(|&s| s != r && linked(edges, r, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        let columns = columns_of(&[
            ("nation", &["n_key", "n_name"]),
            ("supplier", &["s_key", "s_nation"]),
            ("lineitem", &["l_supp", "l_order", "l_date"]),
            ("orders", &["o_key"]),
        ]);
        rewritten_over(sql, &columns, super::make_explicit)
    }

    #[test]
    fn a_filtered_relation_joins_once_its_links_have() {
        assert_eq!(
            rewritten("SELECT l_date FROM supplier, lineitem, orders, nation WHERE s_key = l_supp AND o_key = l_order AND s_nation = n_key AND n_name = 'A'"),
            "SELECT l_date FROM supplier JOIN nation ON s_nation = n_key JOIN lineitem ON s_key = l_supp JOIN orders ON o_key = l_order WHERE n_name = 'A'"
        );
        // Unfiltered, or under `SELECT *`, relations join in the written order.
        assert_eq!(
            rewritten("SELECT * FROM supplier, lineitem, nation WHERE s_key = l_supp AND s_nation = n_key AND n_name = 'A'"),
            "SELECT * FROM supplier JOIN lineitem ON s_key = l_supp JOIN nation ON s_nation = n_key WHERE n_name = 'A'"
        );
    }

    #[test]
    fn a_derived_table_adding_items_before_its_wildcard_has_known_columns() {
        assert_eq!(
            rewritten("SELECT l_date FROM lineitem, (SELECT SUBSTRING(s_nation, 1, 2) AS s_short, * FROM supplier) AS s, nation \
                       WHERE s_key = l_supp AND n_key = l_order AND n_name = 'A'"),
            "SELECT l_date FROM lineitem JOIN nation ON n_key = l_order JOIN (SELECT SUBSTRING(s_nation, 1, 2) AS s_short, * FROM supplier) AS s \
             ON s_key = l_supp WHERE n_name = 'A'"
        );
    }

    #[test]
    fn an_explicit_inner_chain_orders_as_its_comma_list_with_left_joins_last() {
        assert_eq!(
            rewritten("SELECT l_date FROM supplier JOIN lineitem ON s_key = l_supp JOIN orders ON o_key = l_order AND l_date > 3 \
                       JOIN nation ON s_nation = n_key LEFT JOIN orders o2 ON o2.o_key = l_order WHERE n_name = 'A'"),
            "SELECT l_date FROM supplier JOIN nation ON s_nation = n_key JOIN lineitem ON s_key = l_supp JOIN orders ON o_key = l_order \
             LEFT JOIN orders o2 ON o2.o_key = l_order WHERE l_date > 3 AND n_name = 'A'"
        );
        // A RIGHT join after the chain would keep rows a filter in WHERE drops;
        // a join on no equality of columns is not a link to reorder by; a
        // condition on an enclosing query's column is no filter of the chain.
        for sql in [
            "SELECT l_date FROM supplier JOIN lineitem ON s_key = l_supp JOIN nation ON s_nation = n_key AND n_key = outer_query.k WHERE n_name = 'A'",
            "SELECT l_date FROM supplier JOIN lineitem ON s_key = l_supp JOIN nation ON s_nation = n_key RIGHT JOIN orders ON o_key = l_order WHERE n_name = 'A'",
            "SELECT l_date FROM supplier JOIN lineitem ON s_key < l_supp JOIN nation ON s_nation = n_key WHERE n_name = 'A'",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn shared_columns_link_relations_so_a_filter_reached_through_a_small_one_joins_early() {
        let mut columns = columns_of(&[
            ("customer", &["c_key", "c_nation"]),
            ("orders", &["o_key", "o_cust", "o_date"]),
            ("lineitem", &["l_order", "l_supp"]),
            ("supplier", &["s_key", "s_nation"]),
            ("nation", &["n_key", "n_region", "n_name"]),
            ("region", &["r_key", "r_name"]),
        ]);
        for (name, rows) in [("customer", 150), ("orders", 1500), ("lineitem", 6000), ("supplier", 10), ("nation", 25), ("region", 5)] {
            columns.set_rows(vec![name.into()], rows);
        }
        let sql = "SELECT n_name FROM customer, orders, lineitem, supplier, nation, region WHERE c_key = o_cust AND l_order = o_key \
                   AND l_supp = s_key AND c_nation = s_nation AND s_nation = n_key AND n_region = r_key AND r_name = 'ASIA' AND o_date > 1";
        assert_eq!(
            rewritten_over(sql, &columns, super::make_explicit),
            "SELECT n_name FROM customer JOIN nation ON c_nation = n_key JOIN region ON n_region = r_key JOIN orders ON c_key = o_cust \
             JOIN lineitem ON l_order = o_key JOIN supplier ON l_supp = s_key AND c_nation = s_nation AND s_nation = n_key \
             WHERE r_name = 'ASIA' AND o_date > 1"
        );
        // An implied equality never joins where a written one does, nor stays as a filter.
        assert_eq!(
            rewritten("SELECT l_date FROM nation, supplier, lineitem WHERE n_key = s_nation AND s_nation = l_supp"),
            "SELECT l_date FROM nation JOIN supplier ON n_key = s_nation JOIN lineitem ON s_nation = l_supp"
        );
    }

    #[test]
    fn a_chain_to_a_filtered_end_starts_next_to_it_when_that_is_smaller() {
        let relations: [(&str, &[&str]); 3] = [("partsupp", &["ps_supp"]), ("supplier", &["s_key", "s_nation"]), ("nation", &["n_key", "n_name"])];
        let sized = |supplier_rows: u64, nation_rows: u64| {
            let mut columns = columns_of(&relations);
            for (name, rows) in [("partsupp", 800), ("supplier", supplier_rows), ("nation", nation_rows)] {
                columns.set_rows(vec![name.into()], rows);
            }
            columns
        };
        let sql = "SELECT ps_supp FROM partsupp, supplier, nation WHERE ps_supp = s_key AND s_nation = n_key AND n_name = 'A'";
        assert_eq!(
            rewritten_over(sql, &sized(10, 25), super::make_explicit),
            "SELECT ps_supp FROM supplier JOIN nation ON s_nation = n_key JOIN partsupp ON ps_supp = s_key WHERE n_name = 'A'"
        );
        // Larger next to the filtered end, but the end a smaller dimension of it: the same.
        assert_eq!(rewritten_over(sql, &sized(1000, 25), super::make_explicit), rewritten_over(sql, &sized(10, 25), super::make_explicit));
        // Both larger than the first relation, or sizes unknown: the written order.
        let written = "SELECT ps_supp FROM partsupp JOIN supplier ON ps_supp = s_key JOIN nation ON s_nation = n_key WHERE n_name = 'A'";
        assert_eq!(rewritten_over(sql, &sized(1000, 900), super::make_explicit), written);
        assert_eq!(rewritten_over(sql, &columns_of(&relations), super::make_explicit), written);
        // A first relation an IN narrows is as good as filtered.
        let narrowed = format!("{sql} AND ps_supp IN (SELECT s_key FROM supplier)");
        assert_eq!(rewritten_over(&narrowed, &sized(10, 25), super::make_explicit), format!("{written} AND ps_supp IN (SELECT s_key FROM supplier)"));
    }
}
