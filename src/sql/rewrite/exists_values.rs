//! An EXISTS the query reads as a value (in its SELECT list: `EXISTS
//! (SELECT 1 FROM orders o WHERE o.k = c.k) AS has_orders`), which
//! polars-sql cannot plan, as the count of the subquery's rows compared
//! with 0: a scalar subquery, which the subquery passes compute once per
//! correlated key and join back (a key without rows counts 0); so is one in
//! an aggregate's arguments in HAVING. An EXISTS in WHERE or elsewhere in
//! HAVING stays the semi-join it is planned as, and one that reads nothing
//! of the query around it is `quantified.rs`'s (one row read).
//!
//! Likewise `x [NOT] IN (SELECT y …)` read as a value, as the counts that
//! decide SQL's three-valued answer: TRUE where some `y = x`; else FALSE
//! over no rows; else NULL where `x` or some `y` is NULL; else FALSE.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Ident, Query, Select, SelectItem, SetExpr, Statement, TableAlias, TableFactor, TableWithJoins, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{from_text, parse_expr, replace_outside_subqueries, selects_mut, sides, visit_query, Columns, Resolver, Scope, Side};

pub(super) fn rewrite(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Selects { resolver });
}

struct Selects<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Selects<'_> {
    type Break = ();
    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // Each SELECT of a set operation too: a ROLLUP is one per grouping set.
        for select in selects_mut(query.body.as_mut()) {
            let outer = self.resolver.scopes(&select.from).unwrap_or_default();
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                    counted_outside_subqueries(expr, &self.resolver, &outer);
                }
            }
            // In HAVING, inside an aggregate's arguments: a value per row there too.
            if let Some(having) = &mut select.having {
                super::aggregates::for_each_aggregate_argument(having, &mut |argument| {
                    counted_outside_subqueries(argument, &self.resolver, &outer)
                });
            }
        }
        ControlFlow::Continue(())
    }
}

/// Each correlated EXISTS of `expr` that is not inside one of its subqueries.
fn counted_outside_subqueries(expr: &mut Expr, resolver: &Resolver, outer: &[Scope]) {
    struct Outside<'r, 'c>(usize, &'r Resolver<'c>, &'r [Scope]);
    impl VisitorMut for Outside<'_, '_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.0 += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.0 -= 1;
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let correlated = matches!(expr, Expr::Exists { subquery, .. } if !self.1.self_contained(subquery));
            let counted = match expr {
                Expr::Exists { .. } if correlated => as_count(expr),
                Expr::InSubquery { .. } => as_membership(expr, self.1, self.2),
                _ => None,
            };
            if let (0, Some(counted)) = (self.0, counted) {
                *expr = counted;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = expr.visit(&mut Outside(0, resolver, outer));
}

/// `(SELECT count(*) FROM … WHERE …) > 0` (`= 0` for NOT EXISTS), for a
/// subquery `filtered_rows` accepts.
pub(super) fn as_count(expr: &Expr) -> Option<Expr> {
    let Expr::Exists { subquery, negated } = expr else { return None };
    filtered_rows(subquery)?;
    let mut counted = subquery.as_ref().clone();
    counted.order_by = None;
    let SetExpr::Select(select) = counted.body.as_mut() else { return None };
    select.projection = vec![SelectItem::UnnamedExpr(parse_expr("count(*)")?)];
    let op = if *negated { BinaryOperator::Eq } else { BinaryOperator::Gt };
    let zero = Expr::value(Value::Number("0".into(), false));
    Some(Expr::Nested(Box::new(Expr::BinaryOp { left: Box::new(Expr::Subquery(Box::new(counted))), op, right: Box::new(zero) })))
}

/// The SELECT of a subquery whose rows are its FROM's filtered ones: no
/// grouping, DISTINCT, LIMIT or set operation.
fn filtered_rows(subquery: &Query) -> Option<&sqlparser::ast::Select> {
    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
    let grouped = !matches!(&select.group_by, sqlparser::ast::GroupByExpr::Expressions(keys, _) if keys.is_empty());
    let plain = !(grouped || select.having.is_some() || select.distinct.is_some() || subquery.limit_clause.is_some() || subquery.with.is_some());
    (plain && !select.from.is_empty()).then_some(select)
}

/// `x [NOT] IN (SELECT y FROM … WHERE w)` as a CASE over the counts of the
/// subquery's rows with `y = x`, of all of them and of those with a NULL `y`.
/// `x` is read inside the subquery, so its columns are qualified by the
/// outer relations they belong to (`id IN (SELECT id FROM d)` compared `d.id`
/// with itself); None where one would still name the subquery's own.
fn as_membership(expr: &Expr, resolver: &Resolver, outer: &[Scope]) -> Option<Expr> {
    let Expr::InSubquery { expr: value, subquery, negated } = expr else { return None };
    let mut select = match filtered_rows(subquery) {
        Some(select) => select.clone(),
        None => rows_of_derived(subquery, resolver)?,
    };
    if let Some(item) = one_listed_column(&select, resolver) {
        select.projection = vec![item];
    }
    let value = match super::correlated_in::qualified(value, outer) {
        Some(value) => value,
        // A name the resolver cannot place (a CTE's `*`), read as written
        // unless a relation of the subquery has a column of that name.
        None if !names_inner_column(value, &resolver.scopes(&select.from)?) => value.as_ref().clone(),
        None => return None,
    };
    let reads_inner = |select: &Select| {
        let inner = resolver.scopes(&select.from);
        inner.and_then(|inner| sides(&value, &inner, outer)).is_some_and(|sides| sides.contains(&Side::Inner))
    };
    if reads_inner(&select) {
        // The same relation inside and out (`a IN (SELECT a FROM t)` over `t`): the inner one renamed.
        select = renamed_apart(select)?;
        if reads_inner(&select) {
            return None;
        }
    }
    let select = &select;
    let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] = select.projection.as_slice() else { return None };
    let from = from_text(select);
    let count = |condition: Option<String>| {
        let conditions: Vec<String> = select.selection.iter().map(|w| format!("({w})")).chain(condition).collect();
        match conditions.is_empty() {
            true => format!("(SELECT count(*) FROM {from})"),
            false => format!("(SELECT count(*) FROM {from} WHERE {})", conditions.join(" AND ")),
        }
    };
    let membership = format!(
        "CASE WHEN {matched} > 0 THEN TRUE WHEN {all} = 0 THEN FALSE WHEN ({value}) IS NULL OR {nulls} > 0 THEN CAST(NULL AS BOOLEAN) ELSE FALSE END",
        matched = count(Some(format!("{item} = ({value})"))),
        all = count(None),
        nulls = count(Some(format!("({item}) IS NULL"))),
    );
    let answer = parse_expr(&membership)?;
    Some(match negated {
        true => Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(answer))) },
        false => Expr::Nested(Box::new(answer)),
    })
}

/// `SELECT m.c FROM (Q) AS m` for a self-contained subquery Q of one
/// column whose rows are not its FROM's filtered ones (grouped, DISTINCT,
/// limited, a set operation): its members are the derived table's rows,
/// which [`as_membership`] counts as it counts a plain SELECT's.
fn rows_of_derived(subquery: &Query, resolver: &Resolver) -> Option<Select> {
    if !resolver.self_contained(subquery) {
        return None;
    }
    let mut query = subquery.clone();
    if let SetExpr::Values(values) = query.body.as_ref() {
        // Rows of one value, as SELECTs of it: their column is named where
        // a derived table's column list is read by no pass.
        let rows = values.rows.iter().map(|row| match row.as_slice() {
            [value] => Some(format!("SELECT {value} AS {MEMBER}")),
            _ => None,
        });
        let union = rows.collect::<Option<Vec<_>>>()?.join(" UNION ALL ");
        return derived_select(super::scope::parse_query(&union)?, MEMBER);
    }
    let selects = super::scope::selects_mut(&mut query.body);
    if selects.is_empty() || selects.iter().any(|select| select.projection.len() != 1) {
        return None;
    }
    let first = selects.into_iter().next()?;
    // The column keeps a name written for it (an ORDER BY may read it); else it gets one.
    let name = match &mut first.projection[0] {
        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
        SelectItem::UnnamedExpr(Expr::Identifier(name)) => name.value.clone(),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => parts.last()?.value.clone(),
        // An ORDER BY may read the item as written, which a name would hide.
        item @ SelectItem::UnnamedExpr(_) if query.order_by.is_none() => {
            let SelectItem::UnnamedExpr(expr) = item.clone() else { return None };
            *item = SelectItem::ExprWithAlias { expr, alias: Ident::new(MEMBER) };
            MEMBER.into()
        }
        _ => return None,
    };
    derived_select(query, &name)
}

/// The column a derived table of memberships names where its query does not.
const MEMBER: &str = "__floe_member";

/// `SELECT __floe_in."<column>" FROM (<query>) AS __floe_in`.
fn derived_select(query: Query, column: &str) -> Option<Select> {
    const DERIVED: &str = "__floe_in";
    let text = format!("SELECT {DERIVED}.{} FROM (SELECT 1) AS {DERIVED}", Ident::with_quote('"', column));
    let mut select = filtered_rows(&super::scope::parse_query(&text)?)?.clone();
    let TableFactor::Derived { subquery: derived, .. } = &mut select.from.first_mut()?.relation else { return None };
    *derived = Box::new(query);
    Some(select)
}

/// A SELECT list of one `*` as the one column it lists, qualified (None
/// where its relations' columns are not known, or are more than one).
fn one_listed_column(select: &Select, resolver: &Resolver) -> Option<SelectItem> {
    let [SelectItem::Wildcard(options)] = select.projection.as_slice() else { return None };
    super::scope::only_excluding(options).filter(|excluded| excluded.is_empty())?;
    let scopes = super::resolver::factors(&select.from).map(|factor| resolver.whole_scope(factor)).collect::<Option<Vec<_>>>()?;
    let mut listed = scopes.iter().flat_map(|scope| scope.columns.iter().map(move |column| (scope, column)));
    let (scope, column) = listed.next()?;
    if listed.next().is_some() {
        return None;
    }
    let read = Expr::CompoundIdentifier(vec![Ident::with_quote('"', &scope.qualifier), Ident::with_quote('"', column)]);
    Some(SelectItem::UnnamedExpr(read))
}

/// Whether a bare name of `value` is a column of one of `inner`'s relations.
fn names_inner_column(value: &Expr, inner: &[Scope]) -> bool {
    let mut found = false;
    let _ = crate::sql::visit::visit_expressions(value, |expr| {
        if let Expr::Identifier(name) = expr {
            found |= inner.iter().any(|scope| scope.has_column(&name.value));
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// `select`, of one relation, with that relation named `__floe_members`
/// and its columns read by that name.
fn renamed_apart(mut select: Select) -> Option<Select> {
    const MEMBERS: &str = "__floe_members";
    let [TableWithJoins { relation: TableFactor::Table { name, alias, .. }, joins }] = select.from.as_mut_slice() else { return None };
    if !joins.is_empty() {
        return None;
    }
    let qualifier = match alias {
        Some(alias) => alias.name.value.clone(),
        None => name.0.last()?.as_ident()?.value.clone(),
    };
    let columns = alias.take().map(|alias| alias.columns).unwrap_or_default();
    *alias = Some(TableAlias { explicit: true, name: Ident::new(MEMBERS), columns, at: None });
    let mut read_by_new_name = |expr: &mut Expr| {
        if let Expr::CompoundIdentifier(parts) = expr {
            if let [first, _] = parts.as_mut_slice() {
                if first.value.eq_ignore_ascii_case(&qualifier) {
                    *first = Ident::new(MEMBERS);
                }
            }
        }
    };
    for item in &mut select.projection {
        if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
            replace_outside_subqueries(expr, &mut read_by_new_name);
        }
    }
    if let Some(selection) = &mut select.selection {
        replace_outside_subqueries(selection, &mut read_by_new_name);
    }
    Some(select)
}

#[cfg(test)]
mod tests {
    use crate::sql::rewrite::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        rewritten_over(sql, &columns_of(&[("c", &["k"]), ("o", &["k", "x"])]), super::rewrite)
    }

    #[test]
    fn an_exists_read_as_a_value_counts_rows() {
        assert_eq!(
            rewritten("SELECT c.k, EXISTS (SELECT 1 FROM o WHERE o.k = c.k) AS has, NOT EXISTS (SELECT * FROM o WHERE o.x > c.k) FROM c"),
            "SELECT c.k, ((SELECT count(*) FROM o WHERE o.k = c.k) > 0) AS has, ((SELECT count(*) FROM o WHERE o.x > c.k) = 0) FROM c"
        );
        assert_eq!(
            rewritten("SELECT c.k IN (SELECT o.x FROM o WHERE o.k > 1) FROM c"),
            "SELECT (CASE WHEN (SELECT count(*) FROM o WHERE (o.k > 1) AND o.x = (c.k)) > 0 THEN true \
             WHEN (SELECT count(*) FROM o WHERE (o.k > 1)) = 0 THEN false \
             WHEN (c.k) IS NULL OR (SELECT count(*) FROM o WHERE (o.k > 1) AND (o.x) IS NULL) > 0 THEN CAST(NULL AS BOOLEAN) ELSE false END) FROM c"
        );
        for kept in [
            "SELECT k FROM c WHERE k IN (SELECT x FROM o)",
            "SELECT k FROM c WHERE EXISTS (SELECT 1 FROM o WHERE o.k = c.k)",
            "SELECT EXISTS (SELECT k FROM o GROUP BY k) FROM c",
            "SELECT EXISTS (SELECT 1 FROM o WHERE o.k = c.k LIMIT 1) FROM c",
            "SELECT EXISTS (SELECT 1 FROM o WHERE o.x > 1) FROM c",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }
}
