//! A correlated scalar subquery that reads again the outer query's own join
//! becomes a window over that join (WinMagic, Zuzarte et al., SIGMOD 2003):
//!
//! ```sql
//! SELECT … FROM part, partsupp, supplier WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 15
//!   AND ps_supplycost = (SELECT min(ps_supplycost) FROM partsupp, supplier WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey)
//! -- becomes
//! SELECT … FROM (SELECT <every column>, min(ps_supplycost) OVER (PARTITION BY p_partkey) AS __floe_w1v
//!   FROM part, partsupp, supplier WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 15) AS __floe_w1
//! WHERE ps_supplycost = __floe_w1v
//! ```
//!
//! The join is computed once, where the grouped CTE `subquery.rs` would
//! build computes most of it a second time (TPC-H 2 and 17). It holds when
//! the subquery's relations are outer relations as written, its filters
//! and its correlations (equalities with the other, "extra", outer
//! relations) are all outer conjuncts too, and every other outer conjunct
//! reads only the extra relations. Then the rows of one partition (one
//! value of the correlated columns) pair each row the subquery reads for
//! it with each extra row of that value the filters keep, at least the
//! outer row's own: every inner row the same number of times, so `min`,
//! `max` and `avg` (nothing that counts) see the subquery's own answer
//! (a floating-point `avg` up to the order of its additions, as any
//! parallel sum). Filters that change from run to run (`random()`) and
//! CTEs (whose columns are known only as far as their SELECT lists name
//! them) are left to `subquery.rs`.

use sqlparser::ast::{BinaryOperator, Expr, Ident, Query, Select, SelectItem, SetExpr, Statement, TableFactor, WindowSpec, WindowType};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::aggregates::{aggregate_call, holds_aggregate, opens_subquery};
use crate::sql::volatile::is_volatile;
use super::scope::*;

mod restated;
use restated::{canonical, rest_of_where};

pub(super) fn over_outer_joins(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Windows { resolver, made: 0 });
}

struct Windows<'a> {
    resolver: Resolver<'a>,
    made: usize,
}

impl VisitorMut for Windows<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else { return std::ops::ControlFlow::Continue(()) };
        let name = format!("__floe_w{}", self.made + 1);
        if let Some(plan) = self.plan(select, &name) {
            if plan.apply(select, query.order_by.as_mut()).is_some() {
                self.made += 1;
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// What replaces one SELECT's FROM and WHERE.
struct Plan {
    derived: String,
    alias: String,
    /// The conjunct that held the subquery, reading the window's column instead.
    filter: Expr,
    /// The outer relations' qualifiers, replaced by the derived table's in the names left outside it.
    qualifiers: Vec<String>,
}

impl Windows<'_> {
    fn plan(&self, select: &Select, name: &str) -> Option<Plan> {
        let outer_factors = plain_tables(select)?;
        // A CTE's columns are known only as far as its SELECT list names them.
        if factors(&select.from).any(|factor| self.resolver.is_cte(factor)) {
            return None;
        }
        let outer = self.resolver.scopes(&select.from)?;
        // Clauses whose names this pass does not carry out of the derived table.
        let distinct_on = matches!(select.distinct, Some(sqlparser::ast::Distinct::On(_)));
        if !distinct_names(&outer) || lists_wildcard(select) || distinct_on || select.qualify.is_some() || !select.named_window.is_empty() {
            return None;
        }
        let all = conjuncts(select.selection.as_ref()?);
        let (at, subquery) = all.iter().enumerate().find_map(|(at, c)| Some((at, subquery_of(c)?)))?;
        let inner_select = plain_select(&subquery)?;
        let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] = inner_select.projection.as_slice()
        else {
            return None;
        };
        let inner_factors = plain_tables(inner_select)?;
        let inner = self.resolver.scopes(&inner_select.from)?;
        let extra: Vec<usize> = (0..outer_factors.len()).filter(|i| !inner_factors.contains(&outer_factors[*i])).collect();
        let matched = outer_factors.len() - extra.len();
        if extra.is_empty() || matched != inner_factors.len() || !holds_aggregate(value) || !windowable(value) {
            return None;
        }
        let Correlation { local, links } = correlate(inner_select, &inner, &outer)?;
        if sides(value, &inner, &outer)?.contains(&Side::Outer) || !local.iter().all(|l| parse_expr(l).is_some_and(|e| !is_volatile(&e))) {
            return None;
        }
        let inner_first: Vec<Scope> = inner.iter().chain(&outer).cloned().collect();
        let resolved = |written: &str| canonical(&parse_expr(written)?, &inner_first);
        let local: Vec<String> = local.iter().map(|l| resolved(l)).collect::<Option<_>>()?;
        // (inner, outer) canonical, and the outer side as written: what the window partitions by.
        let mut keys = Vec::new();
        for (op, inner_side, outer_side) in links {
            if op != BinaryOperator::Eq {
                return None;
            }
            keys.push((resolved(&inner_side)?, resolved(&outer_side)?, outer_side));
        }
        if keys.is_empty() {
            return None;
        }
        let extra: Vec<Scope> = extra.iter().map(|i| outer[*i].clone()).collect();
        let rest = rest_of_where(&all, at, &local, &keys, &outer, &extra)?;
        let filter = self.outside_filter(all[at], &outer, name)?;
        // Bare names (unique across the relations): a qualifier such as a
        // time-travel relation's folded name need not survive renaming.
        let items: Vec<String> = outer.iter().flat_map(|scope| scope.columns.iter().map(|c| quoted(c))).collect();
        let window = windowed(value, &keys)?;
        let from = from_text(select);
        let filters = if rest.is_empty() { String::new() } else { format!(" WHERE {}", rest.join(" AND ")) };
        let derived = format!("(SELECT {}, {window} AS {name}v FROM {from}{filters}) AS {name}", items.join(", "));
        Some(Plan { derived, alias: name.to_string(), filter, qualifiers: outer.iter().map(|s| s.qualifier.clone()).collect() })
    }

    /// The subquery's conjunct reading `<name>v`; None when it reads anything
    /// but the outer relations' columns besides the subquery.
    fn outside_filter(&self, conjunct: &Expr, outer: &[Scope], name: &str) -> Option<Expr> {
        let mut filter = conjunct.clone();
        let mut replaced = false;
        let value = format!("{name}v");
        let _ = filter.visit(&mut ReplaceSubquery { by: Expr::Identifier(Ident::new(&value)), replaced: &mut replaced });
        let mut known = outer.to_vec();
        known.push(Scope { qualifier: name.to_string(), columns: vec![value] });
        (replaced && sides(&filter, &known, &[]).is_some()).then_some(filter)
    }
}

impl Plan {
    /// Moves the FROM and the other conjuncts into the derived table; None,
    /// changing nothing, when what stays outside is [`unsure`].
    fn apply(self, select: &mut Select, order_by: Option<&mut sqlparser::ast::OrderBy>) -> Option<()> {
        if unsure(&select.projection)
            || unsure(&select.group_by)
            || unsure(&select.having)
            || unsure(&self.filter)
            || order_by.as_deref().is_some_and(|o| unsure(o))
        {
            return None;
        }
        let parsed = parse_query(&format!("SELECT 1 FROM {}", self.derived))?;
        let SetExpr::Select(mut parsed) = *parsed.body else { return None };
        select.from = std::mem::take(&mut parsed.from);
        select.selection = Some(self.filter);
        let mut requalify = Requalify { qualifiers: &self.qualifiers, to: Ident::new(&self.alias) };
        let _ = select.projection.visit(&mut requalify);
        let _ = select.group_by.visit(&mut requalify);
        let _ = select.having.visit(&mut requalify);
        let _ = select.selection.visit(&mut requalify);
        if let Some(order_by) = order_by {
            let _ = order_by.visit(&mut requalify);
        }
        Some(())
    }
}

/// The FROM's relations when it is a comma list of catalog tables (no JOIN
/// clauses, no derived tables), as written.
fn plain_tables(select: &Select) -> Option<Vec<String>> {
    select
        .from
        .iter()
        .map(|t| match (&t.relation, t.joins.is_empty()) {
            (TableFactor::Table { args: None, .. }, true) => Some(t.relation.to_string()),
            _ => None,
        })
        .collect()
}

/// No column name in two relations: the derived table can list them all,
/// and the names left outside it need no qualifier.
fn distinct_names(scopes: &[Scope]) -> bool {
    let mut names: Vec<String> = scopes.iter().flat_map(|s| s.columns.iter().map(|c| c.to_ascii_lowercase())).collect();
    let all = names.len();
    names.sort();
    names.dedup();
    names.len() == all
}

/// The one scalar subquery of a conjunct, where it holds no other query.
fn subquery_of(conjunct: &Expr) -> Option<Query> {
    let mut found = Vec::new();
    let _ = visit_outside_subqueries(conjunct, |expr| {
        if opens_subquery(expr) {
            found.push(expr.clone());
        }
        std::ops::ControlFlow::Continue(())
    });
    match found.pop() {
        Some(Expr::Subquery(query)) if found.is_empty() => Some(*query),
        _ => None,
    }
}

/// A subquery, or a name of three or more parts (`main.part.p_size`), in
/// what stays outside the derived table: either could still name a
/// relation that moved inside it.
fn unsure<T: crate::sql::visit::Visit>(node: &T) -> bool {
    let unsure = |expr: &Expr| opens_subquery(expr) || matches!(expr, Expr::CompoundIdentifier(parts) if parts.len() > 2);
    any_outside_subqueries(node, unsure)
}

/// Aggregates whose answer does not change when every row comes the same
/// number of times (min, max, avg; plain arguments, no FILTER), and no
/// column outside them.
fn windowable(value: &Expr) -> bool {
    let mut fine = true;
    let _ = visit_outside_subqueries(value, |expr| {
        match expr {
            Expr::Function(function) if aggregate_call(expr) => {
                let name = function.name.to_string().to_ascii_lowercase();
                fine &= matches!(name.as_str(), "min" | "max" | "avg")
                    && function.filter.is_none()
                    && function.within_group.is_empty()
                    && plain_args(function).is_some_and(|args| args.len() == 1);
            }
            _ => {}
        }
        std::ops::ControlFlow::Continue(())
    });
    let mut bare = value.clone();
    let _ = bare.visit(&mut ReplaceAggregates);
    fine && !reads_column(&bare)
}

/// `value` with each aggregate a window partitioned by the outer keys.
fn windowed(value: &Expr, keys: &[(String, String, String)]) -> Option<Expr> {
    let partition_by = keys.iter().map(|(_, _, outer)| parse_expr(outer)).collect::<Option<Vec<_>>>()?;
    let mut window = value.clone();
    let _ = window.visit(&mut OverPartitions(partition_by));
    Some(window)
}

/// A name as SQL reads it back: quoted unless a plain lower-case identifier.
fn quoted(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { name.to_string() } else { Ident::with_quote('"', name).to_string() }
}

struct ReplaceSubquery<'a> {
    by: Expr,
    replaced: &'a mut bool,
}

impl VisitorMut for ReplaceSubquery<'_> {
    type Break = ();
    fn post_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
        if matches!(expr, Expr::Subquery(_)) {
            *expr = self.by.clone();
            *self.replaced = true;
        }
        std::ops::ControlFlow::Continue(())
    }
}

struct ReplaceAggregates;

impl VisitorMut for ReplaceAggregates {
    type Break = ();
    fn post_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
        if aggregate_call(expr) {
            *expr = Expr::value(sqlparser::ast::Value::Null);
        }
        std::ops::ControlFlow::Continue(())
    }
}

struct OverPartitions(Vec<Expr>);

impl VisitorMut for OverPartitions {
    type Break = ();
    fn post_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
        if aggregate_call(expr) {
            if let Expr::Function(function) = expr {
                function.over = Some(WindowType::WindowSpec(WindowSpec {
                    window_name: None,
                    partition_by: self.0.clone(),
                    order_by: Vec::new(),
                    window_frame: None,
                }));
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Qualifies the names left outside the derived table by it (`part.p_size`
/// → `__floe_w1.p_size`): its relations are inside it now, and a bare name
/// could be taken for an output column of the same name in ORDER BY.
struct Requalify<'a> {
    qualifiers: &'a [String],
    to: Ident,
}

impl VisitorMut for Requalify<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr {
            if parts.len() == 2 && self.qualifiers.iter().any(|q| q.eq_ignore_ascii_case(&parts[0].value)) {
                parts[0] = self.to.clone();
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        let columns = columns_of(&[
            ("part", &["p_key", "p_size"]),
            ("partsupp", &["ps_part", "ps_supp", "ps_cost"]),
            ("supplier", &["s_key", "s_nation"]),
            ("lineitem", &["l_part", "l_qty", "l_price"]),
            ("sizes", &["l_part", "l_qty", "p_size"]),
        ]);
        let mut columns = columns;
        columns.insert(vec!["main".into(), "supplier".into()], vec!["s_key".into(), "s_nation".into()], &[]);
        rewritten_over(sql, &columns, super::over_outer_joins)
    }

    #[test]
    fn a_subquery_over_the_outer_join_becomes_a_window_over_it() {
        assert_eq!(
            rewritten(
                "SELECT s_key, p.p_key FROM part AS p, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp AND p_size = 15 \
                 AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p.p_key = ps_part) \
                 ORDER BY partsupp.ps_cost DESC"
            ),
            "SELECT s_key, __floe_w1.p_key FROM (SELECT p_key, p_size, ps_part, ps_supp, ps_cost, s_key, s_nation, \
             min(ps_cost) OVER (PARTITION BY p.p_key) AS __floe_w1v \
             FROM part AS p, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp AND p_size = 15) AS __floe_w1 \
             WHERE ps_cost = __floe_w1v ORDER BY __floe_w1.ps_cost DESC"
        );
    }

    #[test]
    fn arithmetic_around_an_average_under_an_outer_aggregate() {
        assert_eq!(
            rewritten("SELECT sum(l_price) / 7.0 FROM lineitem, part WHERE p_key = l_part AND p_size = 3 AND l_qty < (SELECT 0.2 * avg(l_qty) FROM lineitem WHERE l_part = p_key)"),
            "SELECT sum(l_price) / 7.0 FROM (SELECT l_part, l_qty, l_price, p_key, p_size, \
             0.2 * avg(l_qty) OVER (PARTITION BY p_key) AS __floe_w1v FROM lineitem, part WHERE p_key = l_part AND p_size = 3) AS __floe_w1 \
             WHERE l_qty < __floe_w1v"
        );
    }

    #[test]
    fn left_as_written_unless_every_inner_row_meets_every_partition_alike() {
        for sql in [
            // An outer filter on a subquery's relation narrows what the window would see.
            "SELECT s_key FROM part, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp AND s_nation = 3 \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p_key = ps_part)",
            // A subquery filter the outer query lacks.
            "SELECT s_key FROM part, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p_key = ps_part AND s_nation = 3)",
            // The outer query does not join on the correlation.
            "SELECT s_key FROM part, partsupp, supplier WHERE p_size = ps_part AND s_key = ps_supp \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p_key = ps_part)",
            // Counting sees each inner row once per partner.
            "SELECT s_key FROM part, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp \
             AND ps_cost > (SELECT sum(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p_key = ps_part)",
            // Correlated by an inequality.
            "SELECT s_key FROM part, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p_key > ps_part)",
            // A relation the outer query does not have.
            "SELECT p_key FROM part, partsupp WHERE p_key = ps_part \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p_key = ps_part)",
            // A clause whose names would stay qualified outside the derived table.
            "SELECT DISTINCT ON (p.p_key) s_key FROM part AS p, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p.p_key = ps_part)",
            // A filter that samples: below the window it would change what the window reads.
            "SELECT s_key FROM part, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp AND random() < 0.5 \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, supplier WHERE s_key = ps_supp AND p_key = ps_part)",
            // A CTE, whose columns may be known only in part.
            "WITH s AS (SELECT * FROM sizes) SELECT s.p_size FROM part, s WHERE s.l_part = part.p_key \
             AND part.p_key < (SELECT avg(s.l_qty) FROM s WHERE s.l_part = part.p_key)",
            // A name of three parts left outside the derived table.
            "SELECT main.supplier.s_key FROM part, partsupp, main.supplier WHERE p_key = ps_part AND s_key = ps_supp \
             AND ps_cost = (SELECT min(ps_cost) FROM partsupp, main.supplier WHERE s_key = ps_supp AND p_key = ps_part)",
            // Names in two relations (p_size).
            "SELECT l_qty FROM sizes, part WHERE p_key = l_part AND l_qty < (SELECT avg(l_qty) FROM sizes WHERE l_part = p_key)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
