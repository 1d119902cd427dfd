//! The subquery of a WHERE conjunct `[NOT] EXISTS` or `[NOT] IN`, which
//! polars-sql plans as a semi or anti join, with its own filters moved into
//! a derived table where they read a column name the outer query also has.
//!
//! polars-sql splits such a subquery's WHERE into correlations and filters
//! of its own, and takes a conjunct for the subquery's own only when every
//! name in it is a column of the subquery and of no outer relation; the
//! qualifier is not consulted. `EXISTS (SELECT 1 FROM sales s2 WHERE
//! s2.region = d.region AND s2.day > DATE '…')` over an outer relation with
//! its own `day` was refused ("not supported here"). Filtered first, the
//! subquery's relation reads no outer name:
//! `FROM (SELECT * FROM sales s2 WHERE s2.day > …) AS s2 WHERE s2.region = d.region`.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Select, SelectItem, SetExpr, Statement, TableAlias, TableFactor, TableWithJoins, UnaryOperator};
use crate::sql::visit::{visit_expressions, VisitorMut};

use super::resolver::{factors, visit_query, Resolver, Scope};
use super::scope::{column_name, conjuncts, joined_by, parse_query, plain_select, qualifier_of};
use super::Columns;

pub(super) fn filtered_first(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Subqueries { resolver });
}

struct Subqueries<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Subqueries<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        // Without every outer column known, a clash cannot be ruled out, nor seen.
        if let (Some(outer), Some(selection)) = (self.column_names(&select.from), &mut select.selection) {
            for_each_semi_join(selection, &mut |select| self.filter_first(select, &outer));
        }
        ControlFlow::Continue(())
    }
}

impl Subqueries<'_> {
    /// Every column name of `from`'s relations (lowercase), if all are known.
    fn column_names(&self, from: &[TableWithJoins]) -> Option<HashSet<String>> {
        let mut names = HashSet::new();
        for factor in factors(from) {
            names.extend(self.resolver.scope(factor)?.columns.iter().map(|c| c.to_ascii_lowercase()));
        }
        Some(names)
    }

    fn filter_first(&self, select: &mut Select, outer: &HashSet<String>) {
        let [TableWithJoins { relation, joins }] = select.from.as_slice() else { return };
        let Some(selection) = select.selection.as_ref().filter(|s| joins.is_empty() && !names_a_schema(s)) else { return };
        let Some(inner) = self.resolver.scope(relation) else { return };
        let (own, rest): (Vec<&Expr>, Vec<&Expr>) = conjuncts(selection).into_iter().partition(|c| reads_only(c, &inner));
        if !own.iter().any(|c| reads_any(c, outer)) {
            return;
        }
        let own = joined_by(BinaryOperator::And, own.into_iter().cloned().collect());
        let rest = joined_by(BinaryOperator::And, rest.into_iter().cloned().collect());
        let TableFactor::Table { name, alias, .. } = relation else {
            // Filtered first already (`narrowed_exists.rs` narrows to the outer keys): one filter more there.
            if let (Some(own), Some(filtered)) = (own, filtered_table(&mut select.from[0].relation, &inner.qualifier)) {
                filtered.selection = joined_by(BinaryOperator::And, filtered.selection.take().into_iter().chain([own]).collect());
                select.selection = rest;
            }
            return;
        };
        // The derived table goes by the name the relation had, quoted as it was.
        let Some(qualifier) = qualifier_of(name, alias.as_ref()).cloned() else { return };
        let Some(filtered) = own.and_then(|own| parse_query(&format!("SELECT * FROM {relation} WHERE {own}"))) else { return };
        select.selection = rest;
        select.from[0].relation = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(filtered),
            alias: Some(TableAlias { explicit: true, name: qualifier, columns: vec![], at: None }),
            sample: None,
        };
    }
}

/// The SELECT of a derived table `(SELECT * FROM t [AS q] [WHERE …]) AS q`
/// named `qualifier`: one whose filters read the names a filter of the
/// relation `q` reads, as it reads them.
fn filtered_table<'a>(relation: &'a mut TableFactor, qualifier: &str) -> Option<&'a mut Select> {
    let TableFactor::Derived { subquery, .. } = relation else { return None };
    let select = plain_select(subquery)?;
    let [TableWithJoins { relation: TableFactor::Table { name, alias, .. }, joins }] = select.from.as_slice() else { return None };
    let named = qualifier_of(name, alias.as_ref());
    let filter = joins.is_empty()
        && named.is_some_and(|named| named.value.eq_ignore_ascii_case(qualifier))
        && matches!(select.projection.as_slice(), [SelectItem::Wildcard(options)] if *options == Default::default());
    match subquery.body.as_mut() {
        SetExpr::Select(select) if filter => Some(select),
        _ => None,
    }
}

/// Calls `each` with the SELECT of every `[NOT] EXISTS` / `[NOT] IN`
/// subquery among a WHERE's conjuncts (under AND and NOT): those polars-sql
/// plans as semi and anti joins.
pub(super) fn for_each_semi_join(conjunct: &mut Expr, each: &mut impl FnMut(&mut Select)) {
    match conjunct {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            for_each_semi_join(left, each);
            for_each_semi_join(right, each);
        }
        Expr::Nested(inner) | Expr::UnaryOp { op: UnaryOperator::Not, expr: inner } => for_each_semi_join(inner, each),
        Expr::Exists { subquery, .. } | Expr::InSubquery { subquery, .. } => {
            if let SetExpr::Select(select) = subquery.body.as_mut() {
                each(select);
            }
        }
        _ => {}
    }
}

/// Whether `expr` names a column with its schema (`sch.t.c`), which a derived
/// table named `t` would not answer to.
fn names_a_schema(expr: &Expr) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::CompoundIdentifier(parts) if parts.len() > 2 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether every name `expr` reads is a column of `scope`, and it holds no subquery.
fn reads_only(expr: &Expr, scope: &Scope) -> bool {
    visit_expressions(expr, |e| {
        let own = match e {
            Expr::Identifier(name) => scope.owns(&name.value, None),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [qualifier, name] => scope.owns(&name.value, Some(&qualifier.value)),
                _ => false,
            },
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => false,
            _ => true,
        };
        if own { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    })
    .is_continue()
}

/// Whether `expr` reads a column by a name in `names` (lowercase).
fn reads_any(expr: &Expr, names: &HashSet<String>) -> bool {
    visit_expressions(expr, |e| {
        match column_name(e).is_some_and(|n| names.contains(&n.to_ascii_lowercase())) {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    })
    .is_break()
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    #[test]
    fn own_filters_over_an_outer_name_go_into_a_derived_table() {
        let columns = columns_of(&[("d", &["id", "region", "day"]), ("s", &["id", "region", "day", "qty"])]);
        let sql = "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM s AS s2 WHERE s2.region = d.region AND s2.day > 3 AND qty < 2) \
                   AND d.id NOT IN (SELECT s.id FROM s WHERE s.qty > 1)";
        assert_eq!(
            rewritten_over(sql, &columns, super::filtered_first),
            "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM (SELECT * FROM s AS s2 WHERE s2.day > 3 AND qty < 2) AS s2 \
             WHERE s2.region = d.region) AND d.id NOT IN (SELECT s.id FROM s WHERE s.qty > 1)"
        );
    }

    #[test]
    fn own_filters_join_a_derived_table_filtered_already() {
        let columns = columns_of(&[("d", &["id", "region", "day"]), ("s", &["id", "region", "day", "qty"])]);
        let sql = "SELECT d.id FROM d WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM s AS s2 WHERE s2.id IN (1, 2)) AS s2 \
                   WHERE s2.region = d.region AND s2.day > 3)";
        assert_eq!(
            rewritten_over(sql, &columns, super::filtered_first),
            "SELECT d.id FROM d WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM s AS s2 WHERE s2.id IN (1, 2) AND s2.day > 3) AS s2 \
             WHERE s2.region = d.region)"
        );
        // Not into one that names its relation apart, or is more than a filter.
        for sql in [
            "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM (SELECT * FROM s AS x WHERE x.id > 1) AS s2 WHERE s2.region = d.region AND s2.day > 3)",
            "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM (SELECT DISTINCT * FROM s AS s2) AS s2 WHERE s2.region = d.region AND s2.day > 3)",
        ] {
            assert_eq!(rewritten_over(sql, &columns, super::filtered_first), sql);
        }
    }

    #[test]
    fn the_derived_table_keeps_the_name_as_quoted() {
        let columns = columns_of(&[("d", &["id", "day"]), ("s", &["id", "day"])]);
        let sql = "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM s AS \"Order\" WHERE \"Order\".day > 3 AND \"Order\".id = d.id)";
        assert_eq!(
            rewritten_over(sql, &columns, super::filtered_first),
            "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM (SELECT * FROM s AS \"Order\" WHERE \"Order\".day > 3) AS \"Order\" \
             WHERE \"Order\".id = d.id)"
        );
    }

    #[test]
    fn a_subquery_whose_filters_read_no_outer_name_stays() {
        let columns = columns_of(&[("d", &["id", "region"]), ("s", &["sid", "sregion", "qty"])]);
        let sql = "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM s WHERE s.sregion = d.region AND s.qty > 3) OR d.id > 1";
        assert_eq!(rewritten_over(sql, &columns, super::filtered_first), sql);
        let sql = "SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM s WHERE s.sregion = d.region AND s.qty > 3)";
        assert_eq!(rewritten_over(sql, &columns, super::filtered_first), sql);
    }
}
