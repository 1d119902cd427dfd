//! Aggregates computed before the joins that only name their groups
//! ("eager aggregation"). A grouped SELECT over inner joins whose
//! aggregates read one side of them, and whose keys and outputs read only
//! unfiltered catalog relations joined to that side by equalities, groups
//! that side by its join keys first: `SELECT i.name, avg(v.q) FROM inv v
//! JOIN d ON … JOIN item i ON v.item = i.id GROUP BY i.name` joins `item`
//! to one row of partial sums and counts per item rather than to every
//! inventory row, and groups those by name (TPC-DS 22: 2.3M joined rows
//! grouped by four text keys, once per grouping set). Each row of the
//! grouped side meets the same rows of the relations joined after either
//! way, so the sums, counts, least and greatest values of the partials are
//! the query's own; a mean is their sum over their count. Only where the
//! relations joined after are few beside the grouped side's largest
//! relation: otherwise there are nearly as many partial groups as rows.
//! A grouping set's branches write the same partial groups, which Polars
//! then computes once.

use std::collections::BTreeSet;

use sqlparser::ast::{
    BinaryOperator, Distinct, Expr, GroupByExpr, Ident, JoinConstraint, JoinOperator, OrderByKind, Select, SelectItem, SetExpr, Statement,
    TableFactor, TableWithJoins,
};

use super::aggregates::{aggregate_call, holds_aggregate, opens_subquery, window_call};
use super::scope::*;

mod conditions;
mod partials;

use conditions::{conjunction, operand, Condition};
use partials::{partials, Partials, Reads};

/// The derived table of partial groups, and its columns' prefix.
const EAGER: &str = "__floe_eager";

/// Grouped first only where the rows of the relations joined to the
/// grouped side, multiplied, times this are at most the rows its largest
/// relation keeps. Without statistics, each filtered relation of the side
/// (one with a filter of its own, or a derived table or CTE, which are
/// mostly filters the join passes moved) is taken to keep a quarter (TPC-DS:
/// a year of five, one gender of two): three filtered dimensions leave too
/// few rows to be worth grouping twice.
const FEWER: u64 = 4;

pub(super) fn grouped_before_joining(statement: &mut Statement, columns: &Columns) {
    let Statement::Query(query) = statement else { return };
    let resolver = Resolver::new(query, columns);
    // Not inside an expression's subquery, which polars-sql joins on the relations it reads as written.
    each_query_outside_expression_subqueries(query.as_mut(), &mut |query| match query.body.as_mut() {
        // A lone SELECT's ORDER BY may name its aggregates.
        SetExpr::Select(select) => {
            let mut order: Vec<&mut Expr> = match query.order_by.as_mut().map(|order| &mut order.kind) {
                Some(OrderByKind::Expressions(exprs)) => exprs.iter_mut().map(|e| &mut e.expr).collect(),
                Some(OrderByKind::All(_)) => return,
                None => Vec::new(),
            };
            rewrite(&resolver, select, &mut order);
        }
        body => selects_mut(body).into_iter().for_each(|select| rewrite(&resolver, select, &mut [])),
    });
}

fn rewrite(resolver: &Resolver, select: &mut Select, order: &mut [&mut Expr]) {
    let Some(plan) = Plan::of(resolver, select, order) else { return };
    let Some((from, selection)) = plan.from() else { return };
    select.from = vec![from];
    select.selection = selection;
    let replace = |expr: &mut Expr| {
        if !aggregate_call(expr) {
            return;
        }
        if let Some(outer) = plan.partials.replacements.get(&expr.to_string()) {
            *expr = outer.clone();
        }
    };
    for item in &mut select.projection {
        replace_outside_subqueries(item, replace);
    }
    if let Some(having) = &mut select.having {
        replace_outside_subqueries(having, replace);
    }
    for expr in order.iter_mut() {
        replace_outside_subqueries(*expr, replace);
    }
}

/// What a SELECT's rewrite needs: which relations are grouped first, the
/// conditions, and each aggregate's partials.
struct Plan {
    factors: Vec<TableFactor>,
    scopes: Vec<Scope>,
    /// Per relation: grouped first (the side the aggregates read).
    grouped: Vec<bool>,
    conditions: Vec<Condition>,
    partials: Partials,
}

impl Plan {
    fn of(resolver: &Resolver, select: &Select, order: &[&mut Expr]) -> Option<Self> {
        let [table] = select.from.as_slice() else { return None };
        if table.joins.is_empty() || !plain_shape(select) {
            return None;
        }
        // Every column, a CTE's `*` too: a name must not be missed as another relation's.
        let scopes: Vec<Scope> = factors(&select.from).map(|factor| resolver.whole_scope(factor)).collect::<Option<_>>()?;
        // The partial groups' name must be the FROM's own.
        if scopes.iter().any(|scope| scope.qualifier.eq_ignore_ascii_case(EAGER)) {
            return None;
        }
        let reads = reads(select, order, &scopes)?;
        let factors: Vec<TableFactor> = factors(&select.from).cloned().collect();
        let conditions: Vec<Condition> = selection_and_on(select).flat_map(conjuncts).map(|c| Condition::of(c, &scopes)).collect::<Option<_>>()?;
        let grouped = grouped_relations(resolver, &factors, &conditions, &reads)?;
        let partials = partials(resolver, &reads.calls, &resolver.relations(&select.from))?;
        let plan = Plan { factors, scopes, grouped, conditions, partials };
        plan.worth_it(resolver).then_some(plan)
    }

    /// Whether the relations joined to the grouped side are few beside the rows it keeps (`FEWER`).
    fn worth_it(&self, resolver: &Resolver) -> bool {
        let mut joined = BTreeSet::new();
        for condition in self.conditions.iter().filter(|c| self.across(c)) {
            if self.grouped_key(condition).is_none() {
                return false;
            }
            joined.extend(condition.owners.iter().filter(|r| !self.grouped[**r]));
        }
        let rows = |r: &usize| resolver.rows(&self.factors[*r]);
        let Some(bound) = joined.iter().try_fold(1u64, |product, r| product.checked_mul(rows(r)?.max(1))) else { return false };
        let grouped = || (0..self.factors.len()).filter(|r| self.grouped[*r]);
        let Some(largest) = grouped().filter_map(|r| rows(&r)).max() else { return false };
        let filtered = grouped().filter(|r| filtered(&self.conditions, *r) || !plain(resolver, &self.factors[*r])).count();
        bound.saturating_mul(FEWER) <= largest.checked_shr(2 * filtered as u32).unwrap_or(0)
    }

    fn across(&self, condition: &Condition) -> bool {
        condition.owners.iter().any(|r| self.grouped[*r]) && condition.owners.iter().any(|r| !self.grouped[*r])
    }

    /// For a condition across the sides, the grouped side's column and
    /// whether it is written on the left: `grouped = after` (or reversed) alone qualifies.
    fn grouped_key(&self, condition: &Condition) -> Option<(Expr, bool)> {
        let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = &condition.expr else { return None };
        let [left_owners, right_owners] = condition.sides.as_ref()?;
        if condition.owners.len() != 2 || !is_column(unnested(left)) || !is_column(unnested(right)) {
            return None;
        }
        let side = |owners: &BTreeSet<usize>| owners.first().map(|r| self.grouped[*r]);
        match (side(left_owners)?, side(right_owners)?) {
            (true, false) => Some((unnested(left).clone(), true)),
            (false, true) => Some((unnested(right).clone(), false)),
            _ => None,
        }
    }

    /// The new FROM and WHERE: the partial groups, then the relations
    /// joined after, in the order the query joins them, each on the
    /// conditions it completes that polars-sql joins on; the rest filter.
    fn from(&self) -> Option<(TableWithJoins, Option<Expr>)> {
        let (mut keys, mut inner, mut outer) = (Vec::<(usize, String, Expr)>::new(), Vec::new(), Vec::new());
        for condition in &self.conditions {
            if !self.across(condition) {
                let side = if condition.owners.iter().all(|r| self.grouped[*r]) { &mut inner } else { &mut outer };
                side.push(condition.clone());
                continue;
            }
            let (key, left) = self.grouped_key(condition)?;
            let identity = (owner(&key, &self.scopes)?, column_name(&key)?.to_ascii_lowercase());
            let index = keys.iter().position(|(r, name, _)| (*r, name) == (identity.0, &identity.1)).unwrap_or_else(|| {
                keys.push((identity.0, identity.1, key.clone()));
                keys.len() - 1
            });
            let mut rewritten = condition.clone();
            let partial = Expr::CompoundIdentifier(vec![Ident::new(EAGER), Ident::new(format!("{EAGER}_k{index}"))]);
            let [left_owners, right_owners] = rewritten.sides.as_mut()?;
            *operand(&mut rewritten.expr, left)? = partial;
            std::mem::take(if left { left_owners } else { right_owners });
            rewritten.owners.retain(|r| !self.grouped[*r]);
            rewritten.partial = true;
            outer.push(rewritten);
        }
        let keys: Vec<Expr> = keys.into_iter().map(|(_, _, key)| key).collect();
        let mut from = format!("({}) AS {EAGER}", self.grouped_side(&keys, inner)?);
        let after: Vec<usize> = (0..self.factors.len()).filter(|r| !self.grouped[*r]).collect();
        let filters = self.joined(&after, BTreeSet::new(), &mut from, outer)?;
        let filter = if filters.is_empty() { String::new() } else { format!(" WHERE {filters}") };
        let query = parse_query(&format!("SELECT 1 FROM {from}{filter}"))?;
        let SetExpr::Select(parsed) = *query.body else { return None };
        let parsed = *parsed;
        Some((parsed.from.into_iter().next()?, parsed.selection))
    }

    /// `SELECT key AS k0, …, partials FROM grouped relations WHERE the rest GROUP BY keys`.
    fn grouped_side(&self, keys: &[Expr], conditions: Vec<Condition>) -> Option<String> {
        let mut grouped = (0..self.factors.len()).filter(|r| self.grouped[*r]);
        let first = grouped.next()?;
        let mut from = self.factors[first].to_string();
        let filters = self.joined(&grouped.collect::<Vec<_>>(), BTreeSet::from([first]), &mut from, conditions)?;
        let items: Vec<String> = keys.iter().enumerate().map(|(i, key)| format!("{key} AS {EAGER}_k{i}")).chain(self.partials.items.iter().cloned()).collect();
        let filter = if filters.is_empty() { String::new() } else { format!(" WHERE {filters}") };
        // By position: polars-sql matches a key to its item without the item's alias, which
        // a key whose name an earlier relation also has (read suffixed) then no longer is.
        let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
        Some(format!("SELECT {} FROM {from}{filter} GROUP BY {}", items.join(", "), positions.join(", ")))
    }

    /// Appends a JOIN of each of `relations` (after those `placed` holds) to
    /// `from`, on the equalities among `pending` it completes; the others,
    /// ANDed, are a WHERE's.
    /// None where a relation would join on none (every row paired).
    fn joined(&self, relations: &[usize], mut placed: BTreeSet<usize>, from: &mut String, mut pending: Vec<Condition>) -> Option<String> {
        for &r in relations {
            let (on, rest): (Vec<Condition>, Vec<Condition>) = pending.into_iter().partition(|c| c.joins(r, &placed));
            if on.is_empty() {
                return None;
            }
            pending = rest;
            placed.insert(r);
            let on: Vec<Expr> = on.iter().map(|c| c.joining(r)).collect();
            from.push_str(&format!(" JOIN {} ON {}", self.factors[r], conjunction(on.iter())));
        }
        Some(conjunction(pending.iter().map(|c| &c.expr)))
    }
}

/// Which relations are grouped first: those the aggregates read, and every
/// other one that names no group and is filtered or no plain catalog
/// relation (what filters the rows grouped); None where nothing would be
/// joined after, or the aggregates and the groups read one relation.
fn grouped_relations(resolver: &Resolver, factors: &[TableFactor], conditions: &[Condition], reads: &Reads) -> Option<Vec<bool>> {
    let filtered = |r: usize| filtered(conditions, r);
    let plain = |r: usize| plain(resolver, &factors[r]);
    if reads.aggregated.iter().any(|r| reads.named.contains(r)) || reads.named.iter().any(|r| !plain(*r) || filtered(*r)) {
        return None;
    }
    let grouped: Vec<bool> =
        (0..factors.len()).map(|r| !reads.named.contains(&r) && (reads.aggregated.contains(&r) || !plain(r) || filtered(r))).collect();
    (grouped.iter().any(|g| *g) && grouped.iter().any(|g| !*g)).then_some(grouped)
}

/// Whether relation `r` has a filter of its own.
fn filtered(conditions: &[Condition], r: usize) -> bool {
    conditions.iter().any(|c| c.owners.len() == 1 && c.owners.contains(&r))
}

/// A catalog relation whose rows are known (not a CTE, a derived table or a call).
fn plain(resolver: &Resolver, factor: &TableFactor) -> bool {
    matches!(factor, TableFactor::Table { args: None, .. }) && !resolver.is_cte(factor) && resolver.rows(factor).is_some()
}

/// What the SELECT's outputs, keys, HAVING and ORDER BY read; None where
/// an aggregate has no partials or a name no known owner, or where the
/// SELECT names an aggregate's output by its argument (polars-sql's name
/// for an unaliased one, which would become a partial's).
fn reads<'s>(select: &Select, order: &[&mut Expr], scopes: &'s [Scope]) -> Option<Reads<'s>> {
    let GroupByExpr::Expressions(keys, _) = &select.group_by else { return None };
    if select.projection.iter().any(|item| matches!(item, SelectItem::UnnamedExpr(e) if holds_aggregate(e))) {
        return None;
    }
    let items = select.projection.iter().map(item_expr).collect::<Option<Vec<_>>>()?;
    let mut reads = Reads::new(scopes);
    items.into_iter().chain(keys).chain(&select.having).for_each(|expr| reads.read(expr, true));
    order.iter().for_each(|expr| reads.read(expr, false));
    (!reads.refused && !reads.calls.is_empty()).then_some(reads)
}

/// A SELECT that groups over inner joins, with no windows, subqueries or clauses beyond SQL's own.
fn plain_shape(select: &Select) -> bool {
    let cross = select.from.iter().flat_map(|t| &t.joins).any(|j| matches!(j.join_operator, JoinOperator::CrossJoin(_)));
    let clauses = select.top.is_none()
        && select.into.is_none()
        && select.lateral_views.is_empty()
        && select.prewhere.is_none()
        && select.connect_by.is_empty()
        && select.cluster_by.is_empty()
        && select.distribute_by.is_empty()
        && select.sort_by.is_empty()
        && select.named_window.is_empty()
        && select.qualify.is_none()
        && select.exclude.is_none()
        && !matches!(select.distinct, Some(Distinct::On(_)));
    let modifiers = matches!(&select.group_by, GroupByExpr::Expressions(_, modifiers) if modifiers.is_empty());
    let nested = |expr: &Expr| opens_subquery(expr) || window_call(expr);
    all_inner(select)
        && !cross
        && clauses
        && modifiers
        && !any_outside_subqueries(&select.projection, nested)
        && !selection_and_on(select).chain(&select.having).any(|e| any_outside_subqueries(e, nested))
}

/// WHERE, then each join's ON.
fn selection_and_on(select: &Select) -> impl Iterator<Item = &Expr> {
    let on = select.from.iter().flat_map(|t| &t.joins).filter_map(|j| match &j.join_operator {
        JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on)) => Some(on),
        _ => None,
    });
    select.selection.iter().chain(on)
}

#[cfg(test)]
mod tests {
    use super::super::scope::{rewritten_over, ColumnKind, Columns};

    fn rewritten(sql: &str) -> String {
        use ColumnKind::{Integer, Text};
        let mut columns = Columns::default();
        for (name, names, kinds, rows) in [
            ("inv", &["i_date", "i_item", "qty"][..], &[Integer, Integer, Integer][..], 1_000_000),
            ("dates", &["d_key", "d_month"], &[Integer, Integer], 70_000),
            ("item", &["it_key", "it_name", "it_brand"], &[Integer, Text, Text], 18_000),
            ("brand", &["b_name", "b_owner"], &[Text, Text], 100),
            ("emp", &["id", "name", "manager"], &[Integer, Text, Integer], 100),
        ] {
            columns.insert(vec![name.into()], names.iter().map(|n| n.to_string()).collect(), kinds);
            columns.set_rows(vec![name.into()], rows);
        }
        rewritten_over(sql, &columns, super::grouped_before_joining)
    }

    #[test]
    fn aggregates_over_one_side_are_grouped_by_its_join_keys_first() {
        let sql = "SELECT item.it_name, avg(inv.qty) AS q, count(*) AS n, max(inv.qty) AS m FROM inv JOIN dates ON inv.i_date = dates.d_key \
                   JOIN item ON inv.i_item = item.it_key WHERE dates.d_month BETWEEN 1 AND 12 GROUP BY item.it_name ORDER BY sum(inv.qty)";
        assert_eq!(
            rewritten(sql),
            "SELECT item.it_name, (sum(__floe_eager.__floe_eager_a0s) / CAST(sum(__floe_eager.__floe_eager_a0c) AS DOUBLE)) AS q, \
             coalesce(sum(__floe_eager.__floe_eager_a1), 0) AS n, max(__floe_eager.__floe_eager_a2) AS m \
             FROM (SELECT inv.i_item AS __floe_eager_k0, sum(CAST(inv.qty AS DOUBLE)) AS __floe_eager_a0s, \
             CAST(count(inv.qty) AS BIGINT) AS __floe_eager_a0c, CAST(count(*) AS BIGINT) AS __floe_eager_a1, max(inv.qty) AS __floe_eager_a2, \
             sum(inv.qty) AS __floe_eager_a3 FROM inv JOIN dates ON inv.i_date = dates.d_key WHERE dates.d_month BETWEEN 1 AND 12 \
             GROUP BY 1) AS __floe_eager JOIN item ON __floe_eager.__floe_eager_k0 = item.it_key \
             GROUP BY item.it_name ORDER BY sum(__floe_eager.__floe_eager_a3)"
        );
    }

    #[test]
    fn relations_joined_after_one_another_join_in_order() {
        let sql = "SELECT brand.b_owner, sum(inv.qty) AS s FROM inv JOIN item ON inv.i_item = item.it_key JOIN brand ON item.it_brand = brand.b_name \
                   GROUP BY brand.b_owner";
        assert_eq!(
            rewritten(sql),
            "SELECT brand.b_owner, sum(__floe_eager.__floe_eager_a0) AS s FROM (SELECT inv.i_item AS __floe_eager_k0, sum(inv.qty) AS __floe_eager_a0 \
             FROM inv GROUP BY 1) AS __floe_eager JOIN item ON __floe_eager.__floe_eager_k0 = item.it_key \
             JOIN brand ON item.it_brand = brand.b_name GROUP BY brand.b_owner"
        );
    }

    #[test]
    fn each_join_equality_reads_its_relation_on_the_right() {
        // polars-sql would read `m.id = e.manager` as `e.id = m.manager` once `e` is not the chain's first relation.
        let sql = "SELECT m.name AS manager, sum(inv.qty) AS total FROM emp e JOIN inv ON inv.i_item = e.id JOIN emp m ON m.id = e.manager \
                   GROUP BY m.name";
        assert_eq!(
            rewritten(sql),
            "SELECT m.name AS manager, sum(__floe_eager.__floe_eager_a0) AS total FROM (SELECT inv.i_item AS __floe_eager_k0, \
             sum(inv.qty) AS __floe_eager_a0 FROM inv GROUP BY 1) AS __floe_eager JOIN emp e ON __floe_eager.__floe_eager_k0 = e.id \
             JOIN emp m ON e.manager = m.id GROUP BY m.name"
        );
    }

    #[test]
    fn conditions_polars_sql_cannot_join_on_filter_their_side() {
        let sql = "SELECT item.it_name, sum(inv.qty) AS s FROM inv JOIN dates ON inv.i_date = dates.d_key JOIN item ON inv.i_item = item.it_key \
                   JOIN brand ON item.it_brand = brand.b_name AND (item.it_name <> brand.b_owner OR brand.b_owner IS NULL) \
                   WHERE dates.d_month = 1 AND (inv.qty > dates.d_month OR inv.qty IS NULL) GROUP BY item.it_name";
        assert_eq!(
            rewritten(sql),
            "SELECT item.it_name, sum(__floe_eager.__floe_eager_a0) AS s FROM (SELECT inv.i_item AS __floe_eager_k0, sum(inv.qty) AS __floe_eager_a0 \
             FROM inv JOIN dates ON inv.i_date = dates.d_key WHERE dates.d_month = 1 AND (inv.qty > dates.d_month OR inv.qty IS NULL) \
             GROUP BY 1) AS __floe_eager JOIN item ON __floe_eager.__floe_eager_k0 = item.it_key JOIN brand ON item.it_brand = brand.b_name \
             WHERE (item.it_name <> brand.b_owner OR brand.b_owner IS NULL) GROUP BY item.it_name"
        );
    }

    #[test]
    fn filtered_or_large_groups_other_aggregates_and_shapes_stay() {
        for sql in [
            // The relation naming the groups is filtered: its join keeps few rows.
            "SELECT item.it_name, sum(inv.qty) AS s FROM inv JOIN item ON inv.i_item = item.it_key WHERE item.it_brand = 'x' GROUP BY item.it_name",
            // Two filtered relations on the grouped side: a sixteenth of its rows, near the items' count.
            "SELECT item.it_name, sum(inv.qty) AS s FROM inv JOIN dates ON inv.i_date = dates.d_key JOIN item ON inv.i_item = item.it_key \
             WHERE dates.d_month = 1 AND inv.qty > 5 GROUP BY item.it_name",
            // Dates × items: as many groups as rows.
            "SELECT item.it_name, dates.d_month, sum(inv.qty) AS s FROM inv JOIN item ON inv.i_item = item.it_key \
             JOIN dates ON inv.i_date = dates.d_key GROUP BY item.it_name, dates.d_month",
            // An aggregate reading both sides, a DISTINCT one, one without partials.
            "SELECT item.it_name, sum(inv.qty * item.it_key) AS s FROM inv JOIN item ON inv.i_item = item.it_key GROUP BY item.it_name",
            "SELECT item.it_name, count(DISTINCT inv.qty) AS s FROM inv JOIN item ON inv.i_item = item.it_key GROUP BY item.it_name",
            "SELECT item.it_name, stddev(inv.qty) AS s FROM inv JOIN item ON inv.i_item = item.it_key GROUP BY item.it_name",
            // Not an equality across the sides; an outer join.
            "SELECT item.it_name, sum(inv.qty) AS s FROM inv JOIN item ON inv.i_item < item.it_key GROUP BY item.it_name",
            "SELECT item.it_name, sum(inv.qty) AS s FROM inv LEFT JOIN item ON inv.i_item = item.it_key GROUP BY item.it_name",
            // No FROM (`one_row.rs` leaves `SELECT *` so); a mean of floats (a REAL's is a REAL).
            "SELECT *",
            "SELECT item.it_name, avg(CAST(inv.qty AS DOUBLE)) AS s FROM inv JOIN item ON inv.i_item = item.it_key GROUP BY item.it_name",
            // A relation of the partial groups' name.
            "SELECT __floe_eager.it_name, sum(inv.qty) AS s FROM inv JOIN item AS __floe_eager ON inv.i_item = __floe_eager.it_key \
             GROUP BY __floe_eager.it_name",
            // A key on the grouped side.
            "SELECT inv.i_item, item.it_name, sum(inv.qty) AS s FROM inv JOIN item ON inv.i_item = item.it_key GROUP BY inv.i_item, item.it_name",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
