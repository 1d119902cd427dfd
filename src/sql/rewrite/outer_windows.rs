//! A correlated scalar subquery that reads again the outer query's own join
//! becomes a window over that join (WinMagic, Zuzarte et al., SIGMOD 2003):
//!
//! ```sql
//! SELECT … FROM part, partsupp, supplier WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 15
//!   AND ps_supplycost = (SELECT min(ps_supplycost) FROM partsupp, supplier WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey)
//! -- becomes
//! SELECT … FROM (SELECT <every column>, min(ps_supplycost) OVER (PARTITION BY p_partkey) AS __floe_wv1
//!   FROM part, partsupp, supplier WHERE p_partkey = ps_partkey AND s_suppkey = ps_suppkey AND p_size = 15) AS __floe_w1
//! WHERE ps_supplycost = __floe_wv1
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
//! `max` and `avg` (nothing that counts) see the subquery's own answer.

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, Query, Select, SelectItem, SetExpr, Statement, TableFactor, VisitMut, VisitorMut,
    WindowSpec, WindowType,
};

use super::aggregates::{aggregate_call, holds_aggregate, opens_subquery};
use super::scope::*;

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
    /// The conjunct that held the subquery, reading the window's column instead.
    filter: Expr,
    /// The outer relations' qualifiers, dropped from the names left outside the derived table.
    qualifiers: Vec<String>,
}

impl Windows<'_> {
    fn plan(&self, select: &Select, name: &str) -> Option<Plan> {
        let outer_factors = plain_tables(select)?;
        let outer = self.resolver.scopes(&select.from)?;
        if !distinct_names(&outer) || lists_wildcard(select) || select.qualify.is_some() || !select.named_window.is_empty() {
            return None;
        }
        let all = conjuncts(select.selection.as_ref()?);
        let at = all.iter().position(|c| subquery_of(c).is_some())?;
        let subquery = subquery_of(all[at])?;
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
        if sides(value, &inner, &outer)?.contains(&Side::Outer) || !local.iter().all(|l| parse_expr(l).is_some_and(|e| without_calls(&e))) {
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
        let items: Vec<String> = outer
            .iter()
            .flat_map(|scope| scope.columns.iter().map(move |c| format!("{}.{}", quoted(&scope.qualifier), quoted(c))))
            .collect();
        let window = windowed(value, &keys)?;
        let from = select.from.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let filters = if rest.is_empty() { String::new() } else { format!(" WHERE {}", rest.join(" AND ")) };
        let derived = format!("(SELECT {}, {window} AS {name}v FROM {from}{filters}) AS {name}", items.join(", "));
        Some(Plan { derived, filter, qualifiers: outer.iter().map(|s| s.qualifier.clone()).collect() })
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
    /// changing nothing, when a subquery is left outside it (its names
    /// could need the qualifiers the derived table drops).
    fn apply(self, select: &mut Select, order_by: Option<&mut sqlparser::ast::OrderBy>) -> Option<()> {
        if reads_subquery(&select.projection)
            || reads_subquery(&select.group_by)
            || reads_subquery(&select.having)
            || order_by.as_deref().is_some_and(|o| reads_subquery(o))
        {
            return None;
        }
        let parsed = parse_query(&format!("SELECT 1 FROM {}", self.derived))?;
        let SetExpr::Select(mut parsed) = *parsed.body else { return None };
        select.from = std::mem::take(&mut parsed.from);
        select.selection = Some(self.filter);
        let mut unqualify = Unqualify(&self.qualifiers);
        let _ = select.projection.visit(&mut unqualify);
        let _ = select.group_by.visit(&mut unqualify);
        let _ = select.having.visit(&mut unqualify);
        let _ = select.selection.visit(&mut unqualify);
        if let Some(order_by) = order_by {
            let _ = order_by.visit(&mut unqualify);
        }
        Some(())
    }
}

/// The outer conjuncts but the subquery's, as written, when they hold each
/// of its filters (`local`) and correlations (`keys`, canonical) and
/// otherwise read only the `extra` relations: one reading a subquery
/// relation would narrow what the window sees below what the subquery reads.
fn rest_of_where(all: &[&Expr], at: usize, local: &[String], keys: &[(String, String, String)], outer: &[Scope], extra: &[Scope]) -> Option<Vec<String>> {
    let (mut locals_met, mut keys_met) = (vec![false; local.len()], vec![false; keys.len()]);
    let mut rest = Vec::new();
    for (_, conjunct) in all.iter().enumerate().filter(|(i, _)| *i != at) {
        let written = canonical(conjunct, outer)?;
        let mirrored = mirrored_equality(conjunct).and_then(|m| canonical(&m, outer));
        let is = |target: &String| *target == written || mirrored.as_ref() == Some(target);
        if let Some(l) = local.iter().position(is) {
            locals_met[l] = true;
        } else if let Some(k) = keys.iter().position(|(inner, outer, _)| is(&format!("{inner} = {outer}"))) {
            keys_met[k] = true;
        } else if sides(conjunct, extra, &[]).is_none() {
            return None;
        }
        rest.push(conjunct.to_string());
    }
    (locals_met.iter().all(|m| *m) && keys_met.iter().all(|m| *m)).then_some(rest)
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

fn reads_subquery<T: sqlparser::ast::Visit>(node: &T) -> bool {
    visit_outside_subqueries(node, |expr| if opens_subquery(expr) { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) })
        .is_break()
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

/// `expr` with every column named by its relation's qualifier (the first
/// of `scopes` that has it), lower-cased: conjuncts written with and
/// without qualifiers compare equal. None when a name is unknown.
fn canonical(expr: &Expr, scopes: &[Scope]) -> Option<String> {
    struct Qualify<'a>(&'a [Scope], bool);
    impl VisitorMut for Qualify<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
            let qualified = match expr {
                Expr::Identifier(name) => self.0.iter().find(|s| s.has_column(&name.value)).map(|s| (s.qualifier.clone(), name.value.clone())),
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => Some((parts[0].value.clone(), parts[1].value.clone())),
                Expr::CompoundIdentifier(_) => None,
                _ => return std::ops::ControlFlow::Continue(()),
            };
            match qualified {
                Some((qualifier, column)) => {
                    *expr = Expr::CompoundIdentifier(vec![Ident::new(qualifier.to_ascii_lowercase()), Ident::new(column.to_ascii_lowercase())]);
                    std::ops::ControlFlow::Continue(())
                }
                None => {
                    self.1 = false;
                    std::ops::ControlFlow::Break(())
                }
            }
        }
    }
    let mut copy = expr.clone();
    let mut qualify = Qualify(scopes, true);
    let _ = copy.visit(&mut qualify);
    qualify.1.then(|| unnested(&copy).to_string())
}

/// `b = a` for a conjunct `a = b`.
fn mirrored_equality(conjunct: &Expr) -> Option<Expr> {
    let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = unnested(conjunct) else { return None };
    Some(Expr::BinaryOp { left: right.clone(), op: BinaryOperator::Eq, right: left.clone() })
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

/// Drops the outer relations' qualifiers (`part.p_size` → `p_size`) from
/// the names left outside the derived table, which no longer has them.
struct Unqualify<'a>(&'a [String]);

impl VisitorMut for Unqualify<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr {
            if parts.len() == 2 && self.0.iter().any(|q| q.eq_ignore_ascii_case(&parts[0].value)) {
                *expr = Expr::Identifier(parts[1].clone());
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
            "SELECT s_key, p_key FROM (SELECT p.p_key, p.p_size, partsupp.ps_part, partsupp.ps_supp, partsupp.ps_cost, \
             supplier.s_key, supplier.s_nation, min(ps_cost) OVER (PARTITION BY p.p_key) AS __floe_w1v \
             FROM part AS p, partsupp, supplier WHERE p_key = ps_part AND s_key = ps_supp AND p_size = 15) AS __floe_w1 \
             WHERE ps_cost = __floe_w1v ORDER BY ps_cost DESC"
        );
    }

    #[test]
    fn arithmetic_around_an_average_under_an_outer_aggregate() {
        assert_eq!(
            rewritten("SELECT sum(l_price) / 7.0 FROM lineitem, part WHERE p_key = l_part AND p_size = 3 AND l_qty < (SELECT 0.2 * avg(l_qty) FROM lineitem WHERE l_part = p_key)"),
            "SELECT sum(l_price) / 7.0 FROM (SELECT lineitem.l_part, lineitem.l_qty, lineitem.l_price, part.p_key, part.p_size, \
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
            // Names in two relations (p_size).
            "SELECT l_qty FROM sizes, part WHERE p_key = l_part AND l_qty < (SELECT avg(l_qty) FROM sizes WHERE l_part = p_key)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
