//! A joined relation's column that a relation before it also has, read by
//! a condition Polars evaluates inside the join (a `join_where` of an ON
//! that is not only equalities, a WHERE over a cross join), under a name of
//! its own.
//!
//! polars-sql names such a column `id:e` in the joined frame. Polars 0.55's
//! projection pushdown drops the earlier relation's `id` when nothing above
//! the join reads it, so the column is `id` again, but renames it in the
//! join's condition only where something above reads `id:e` too:
//! `SELECT count(*) FROM sales s JOIN emp e ON e.id = s.emp_id OR e.dept_id
//! = s.emp_id` failed ("unable to find column \"id:e\""). Read through a
//! derived table that also names it `__floe_e_id`, the condition reads no
//! suffixed name; the SELECT's wildcards leave the extra column out.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, ObjectName, Select, SelectItem,
    SelectItemQualifiedWildcardKind, Statement, TableAlias, TableFactor, WildcardAdditionalOptions,
};
use crate::sql::visit::VisitorMut;

use super::resolver::{visit_query, Resolver, Scope};
use super::scope::{conjuncts, exclude_from_wildcard, is_column, parse_query, relation_qualifier, replace_outside_subqueries, visit_outside_subqueries};
use super::Columns;

const PREFIX: &str = "__floe_";

pub(super) fn unsuffixed(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Joins { resolver });
}

struct Joins<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Joins<'_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let Some(scopes) = self.resolver.scopes(&select.from) else { return ControlFlow::Continue(()) };
        let mut position = 0;
        for item in 0..select.from.len() {
            for join in 0..=select.from[item].joins.len() {
                if position > 0 && !self.names_a_cte(relation_at(select, item, join)) {
                    rename_in(select, item, join, &scopes[..=position]);
                }
                position += 1;
            }
        }
        ControlFlow::Continue(())
    }
}

impl Joins<'_> {
    /// A CTE read by its own name, which polars-sql would resolve to the
    /// CTE rather than to a derived table of that name.
    fn names_a_cte(&self, factor: &TableFactor) -> bool {
        matches!(factor, TableFactor::Table { alias: None, .. }) && self.resolver.is_cte(factor)
    }
}

/// The relation at `joins[join - 1]` of FROM item `item`, the item's own for `join` 0.
fn relation_at(select: &mut Select, item: usize, join: usize) -> &mut TableFactor {
    match join.checked_sub(1) {
        None => &mut select.from[item].relation,
        Some(j) => &mut select.from[item].joins[j].relation,
    }
}

/// Where the relation at `joins[join - 1]` of FROM item `item` (the item's
/// own for `join` 0, a comma-joined one) is `scopes`' last and its
/// condition reads a column an earlier scope also has: read it renamed.
fn rename_in(select: &mut Select, item: usize, join: usize, scopes: &[Scope]) {
    let (relation, earlier) = scopes.split_last().expect("a relation after the first");
    let colliding: HashSet<String> = earlier.iter().flat_map(|s| s.columns.iter().map(|c| c.to_ascii_lowercase())).collect();
    let Some(mut read) = condition(select, item, join).map(|condition| suffixed_reads(condition, relation, &colliding)) else { return };
    // Polars pushes a WHERE conjunct into that join under the suffixed name
    // too ("unable to find column \"name:e\""), whether the ON reads such a
    // column or not (`ON e.budget < s.qty WHERE e.id * s.qty >= 1`).
    let in_join = join > 0 && !matches!(select.from[item].joins[join - 1].join_operator, JoinOperator::CrossJoin(_));
    if let Some(selection) = select.selection.as_ref().filter(|_| in_join) {
        read.extend(suffixed_reads(selection, relation, &colliding));
    }
    if read.is_empty() {
        return;
    }
    if !also_named(relation_at(select, item, join), relation, &read) {
        return;
    }
    let on = match join.checked_sub(1).map(|j| &mut select.from[item].joins[j].join_operator) {
        Some(JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on))) => Some(on),
        _ => None,
    };
    for condition in on.into_iter().chain(select.selection.as_mut()) {
        replace_outside_subqueries(condition, |expr| {
            let copied = qualified_by(expr, &relation.qualifier).is_some_and(|name| read.contains(&name.to_ascii_lowercase()));
            if let (true, Expr::CompoundIdentifier(parts)) = (copied, expr) {
                parts[1] = renamed(&relation.qualifier, &parts[1].value);
            }
        });
    }
    exclude_from_wildcards(&mut select.projection, &relation.qualifier, &read);
}

/// The condition Polars evaluates inside the join of that relation: an
/// ON that is not only equalities, or for a cross join (or a comma) the WHERE.
fn condition(select: &Select, item: usize, join: usize) -> Option<&Expr> {
    match join.checked_sub(1).map(|j| &select.from[item].joins[j].join_operator) {
        None | Some(JoinOperator::CrossJoin(_)) => select.selection.as_ref(),
        Some(JoinOperator::Join(JoinConstraint::On(on)) | JoinOperator::Inner(JoinConstraint::On(on))) => (!only_equalities(on)).then_some(on),
        _ => None,
    }
}

/// The copy's name: the relation's too, so two relations' copies of one
/// column are not suffixed by the join in turn.
fn renamed(qualifier: &str, name: &str) -> Ident {
    Ident::with_quote('"', format!("{PREFIX}{}_{}", qualifier.to_ascii_lowercase(), name.to_ascii_lowercase()))
}

/// An ON of equalities only: polars-sql joins on them as keys, which it
/// names as the frame does.
fn only_equalities(on: &Expr) -> bool {
    conjuncts(on).iter().all(|c| matches!(c, Expr::BinaryOp { left, op: BinaryOperator::Eq, right } if is_column(left) && is_column(right)))
}

/// The columns of `relation` (lowercase) `condition` reads by its
/// qualifier that an earlier relation also has.
fn suffixed_reads(condition: &Expr, relation: &Scope, colliding: &HashSet<String>) -> HashSet<String> {
    let mut read = HashSet::new();
    let _ = visit_outside_subqueries(condition, |expr| {
        if let Some(name) = qualified_by(expr, &relation.qualifier).filter(|name| relation.has_column(name)) {
            let name = name.to_ascii_lowercase();
            if colliding.contains(&name) {
                read.insert(name);
            }
        }
        ControlFlow::Continue(())
    });
    read
}

/// The column `expr` names qualified by `qualifier` (`q.c`).
fn qualified_by<'e>(expr: &'e Expr, qualifier: &str) -> Option<&'e str> {
    match expr {
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [q, name] if q.value.eq_ignore_ascii_case(qualifier) => Some(&name.value),
            _ => None,
        },
        _ => None,
    }
}

/// `factor` as `(SELECT *, c AS "__floe_q_c", … FROM factor) AS q` under
/// the name `relation` goes by; false where it is no table or derived table.
fn also_named(factor: &mut TableFactor, relation: &Scope, read: &HashSet<String>) -> bool {
    if !matches!(factor, TableFactor::Table { args: None, .. } | TableFactor::Derived { lateral: false, .. }) {
        return false;
    }
    let Some(alias) = relation_qualifier(factor).cloned() else { return false };
    let mut copies: Vec<String> = relation
        .columns
        .iter()
        .filter(|column| read.contains(&column.to_ascii_lowercase()))
        .map(|column| format!("{} AS {}", Ident::with_quote('"', column), renamed(&relation.qualifier, column)))
        .collect();
    copies.sort();
    copies.dedup();
    let Some(query) = parse_query(&format!("SELECT *, {} FROM {factor}", copies.join(", "))) else { return false };
    *factor = TableFactor::Derived {
        lateral: false,
        subquery: Box::new(query),
        alias: Some(TableAlias { explicit: true, name: alias, columns: vec![], at: None }),
        sample: None,
    };
    true
}

/// `*` and `qualifier.*` without the renamed copies.
fn exclude_from_wildcards(projection: &mut [SelectItem], qualifier: &str, read: &HashSet<String>) {
    for item in projection {
        let options = match item {
            SelectItem::Wildcard(options) => options,
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(ObjectName(parts)), options)
                if parts.last().and_then(|p| p.as_ident()).is_some_and(|q| q.value.eq_ignore_ascii_case(qualifier)) =>
            {
                options
            }
            _ => continue,
        };
        exclude(options, qualifier, read);
    }
}

fn exclude(options: &mut WildcardAdditionalOptions, qualifier: &str, read: &HashSet<String>) {
    let mut added: Vec<&String> = read.iter().collect();
    added.sort();
    exclude_from_wildcard(options, added.into_iter().map(|name| ObjectName::from(vec![renamed(qualifier, name)])).collect());
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};
    use super::unsuffixed;

    fn rewritten(sql: &str) -> String {
        let columns = columns_of(&[("sales", &["id", "emp_id", "amount"]), ("emp", &["id", "dept_id", "name"])]);
        rewritten_over(sql, &columns, unsuffixed)
    }

    #[test]
    fn a_right_column_an_earlier_relation_has_is_read_renamed_in_a_join_where() {
        assert_eq!(
            rewritten("SELECT count(*) FROM sales AS s JOIN emp AS e ON e.id <> s.emp_id"),
            "SELECT count(*) FROM sales AS s JOIN (SELECT *, \"id\" AS \"__floe_e_id\" FROM emp AS e) AS e ON e.\"__floe_e_id\" <> s.emp_id"
        );
    }

    #[test]
    fn the_where_reads_the_copies_of_a_relation_joined_by_a_join_where() {
        assert_eq!(
            rewritten("SELECT count(*) FROM sales AS s JOIN emp AS e ON e.id <> s.emp_id WHERE e.id > 2 OR s.amount > 1"),
            "SELECT count(*) FROM sales AS s JOIN (SELECT *, \"id\" AS \"__floe_e_id\" FROM emp AS e) AS e ON e.\"__floe_e_id\" <> s.emp_id \
             WHERE e.\"__floe_e_id\" > 2 OR s.amount > 1"
        );
    }

    #[test]
    fn the_where_reads_copies_even_where_the_join_where_reads_none() {
        assert_eq!(
            rewritten("SELECT count(*) FROM sales AS s JOIN emp AS e ON e.dept_id < s.amount WHERE e.id * s.amount >= 1"),
            "SELECT count(*) FROM sales AS s JOIN (SELECT *, \"id\" AS \"__floe_e_id\" FROM emp AS e) AS e ON e.dept_id < s.amount \
             WHERE e.\"__floe_e_id\" * s.amount >= 1"
        );
    }

    #[test]
    fn a_filter_over_a_cross_join_reads_it_renamed_and_wildcards_leave_it_out() {
        assert_eq!(
            rewritten("SELECT *, e.* FROM sales AS s CROSS JOIN emp AS e WHERE e.id = s.emp_id OR e.dept_id = s.emp_id"),
            "SELECT * EXCLUDE (\"__floe_e_id\"), e.* EXCLUDE (\"__floe_e_id\") FROM sales AS s CROSS JOIN (SELECT *, \"id\" AS \"__floe_e_id\" FROM emp AS e) AS e WHERE e.\"__floe_e_id\" = s.emp_id OR e.dept_id = s.emp_id"
        );
    }

    #[test]
    fn equalities_columns_of_its_own_and_the_first_relation_stay() {
        for sql in [
            "SELECT count(*) FROM sales AS s JOIN emp AS e ON e.id = s.emp_id",
            "SELECT count(*) FROM sales AS s JOIN emp AS e ON e.dept_id <> s.emp_id",
            "SELECT count(*) FROM sales AS s JOIN emp AS e ON s.id <> e.dept_id",
            "SELECT count(*) FROM sales AS s LEFT JOIN emp AS e ON e.id = s.emp_id AND e.id > 2",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
