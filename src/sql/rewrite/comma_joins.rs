//! `FROM a, b, c WHERE a.x = b.x AND b.y = c.y AND …` as explicit inner joins
//! (`a JOIN b ON a.x = b.x JOIN c ON b.y = c.y`). polars-sql plans a comma
//! list as cross products and relies on its optimiser to turn the equalities
//! back into joins, which fails once the WHERE also holds a subquery
//! predicate (TPC-H 18: a cross product that never finishes). Inner joins on
//! the same equalities are the same relation, so the rewrite is exact.
//! Relations join in the order written, each as soon as an equality links it
//! to those already joined (a relation with a filter of its own sooner:
//! `join_order`); one with no link is cross-joined, as written.

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, SelectItem, SetExpr, Statement, VisitorMut};

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
            explicit_joins(select, &self.resolver);
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
                Some((a, b)) => edges.push((a, b, bare.to_string(), false)),
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
        // `SELECT *` lists columns in join order: keep the written one.
        let wildcard = select.projection.iter().any(|item| matches!(item, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)));
        let filtered: Vec<bool> = filtered.into_iter().map(|f| f && !wildcard).collect();
        let rows: Vec<Option<u64>> = factors(&select.from).map(|factor| resolver.rows(factor)).collect();
        let start = chain_start(scopes.len(), &edges, &filtered, &rows, first_semi_joined);
        let order = join_order(start, scopes.len(), &edges, &filtered);
        let mut sql = format!("SELECT 1 FROM {}", select.from[order[0]]);
        for (position, &next) in order.iter().enumerate().skip(1) {
            let joined = &order[..position];
            let mut on = Vec::new();
            for (a, b, condition, used) in &mut edges {
                if !*used && ((*a == next && joined.contains(b)) || (*b == next && joined.contains(a))) {
                    on.push(condition.clone());
                    *used = true;
                }
            }
            if on.is_empty() {
                sql.push_str(&format!(" CROSS JOIN {}", select.from[next]));
            } else {
                sql.push_str(&format!(" JOIN {} ON {}", select.from[next], on.join(" AND ")));
            }
        }
        // An equality between relations joined earlier (a cycle) stays a filter.
        residual.extend(edges.into_iter().filter(|e| !e.3).map(|e| e.2));
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

/// The written order, each relation joining as soon as an equality links it
/// to those joined, except that a relation with a filter of its own joins
/// as soon as everything it links to has: joined on keys, it narrows the
/// rows every later join handles (TPC-H 7 and 21 joined all of `lineitem`
/// before the nations that keep a twelfth or a twenty-fifth of it). The
/// chain starts at `start` (`chain_start`).
fn join_order(start: usize, relations: usize, edges: &[(usize, usize, String, bool)], filtered: &[bool]) -> Vec<usize> {
    let linked = |r: usize, s: usize| linked(edges, r, s);
    let neighbours = |r: usize| neighbours(edges, relations, r);
    let mut order = vec![start];
    while order.len() < relations {
        let left: Vec<usize> = (0..relations).filter(|r| !order.contains(r)).collect();
        let narrowing = left.iter().copied().find(|&r| {
            let neighbours = neighbours(r);
            filtered[r] && !neighbours.is_empty() && neighbours.iter().all(|s| order.contains(s))
        });
        let next = narrowing
            .or_else(|| left.iter().copied().find(|&r| order.iter().any(|&s| linked(r, s))))
            .unwrap_or(left[0]);
        order.push(next);
    }
    order
}

/// Where the chain starts: the first relation written, unless it is an
/// unfiltered end of a plain chain (each relation between linked to its two
/// neighbours only) whose other end is filtered and links to one relation
/// smaller than the first: `partsupp, supplier, nation WHERE n_name = …`
/// then joins `supplier` to the nation first and `partsupp` to the few
/// suppliers left (TPC-H 11), instead of all of `partsupp` to every
/// supplier. Sizes decide because they can also go the other way (TPC-H 10:
/// `customer` before the filtered `orders` is faster than after), and a
/// first relation narrowed by an `IN (SELECT …)` is as good as filtered.
fn chain_start(relations: usize, edges: &[(usize, usize, String, bool)], filtered: &[bool], rows: &[Option<u64>], first_semi_joined: bool) -> usize {
    if filtered[0] || first_semi_joined {
        return 0;
    }
    let neighbours = |r: usize| neighbours(edges, relations, r);
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
        let smaller = matches!((rows[next_to_end], rows[0]), (Some(near), Some(first)) if near < first);
        if current == 0 && next_to_end != 0 && smaller {
            return next_to_end;
        }
    }
    0
}

fn linked(edges: &[(usize, usize, String, bool)], r: usize, s: usize) -> bool {
    edges.iter().any(|(a, b, _, _)| (*a == r && *b == s) || (*a == s && *b == r))
}

fn neighbours(edges: &[(usize, usize, String, bool)], relations: usize, r: usize) -> Vec<usize> {
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
    fn a_chain_to_a_filtered_end_starts_next_to_it_when_that_is_smaller() {
        let relations: [(&str, &[&str]); 3] = [("partsupp", &["ps_supp"]), ("supplier", &["s_key", "s_nation"]), ("nation", &["n_key", "n_name"])];
        let sized = |supplier_rows: u64| {
            let mut columns = columns_of(&relations);
            for (name, rows) in [("partsupp", 800), ("supplier", supplier_rows), ("nation", 25)] {
                columns.set_rows(vec![name.into()], rows);
            }
            columns
        };
        let sql = "SELECT ps_supp FROM partsupp, supplier, nation WHERE ps_supp = s_key AND s_nation = n_key AND n_name = 'A'";
        assert_eq!(
            rewritten_over(sql, &sized(10), super::make_explicit),
            "SELECT ps_supp FROM supplier JOIN nation ON s_nation = n_key JOIN partsupp ON ps_supp = s_key WHERE n_name = 'A'"
        );
        // Larger next to the filtered end, or sizes unknown: the written order.
        let written = "SELECT ps_supp FROM partsupp JOIN supplier ON ps_supp = s_key JOIN nation ON s_nation = n_key WHERE n_name = 'A'";
        assert_eq!(rewritten_over(sql, &sized(1000), super::make_explicit), written);
        assert_eq!(rewritten_over(sql, &columns_of(&relations), super::make_explicit), written);
        // A first relation an IN narrows is as good as filtered.
        let narrowed = format!("{sql} AND ps_supp IN (SELECT s_key FROM supplier)");
        assert_eq!(rewritten_over(&narrowed, &sized(10), super::make_explicit), format!("{written} AND ps_supp IN (SELECT s_key FROM supplier)"));
    }
}
