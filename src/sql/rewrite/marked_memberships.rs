//! `x IN (SELECT y …)` under an OR of WHERE (`a IN (S1) OR b IN (S2)`, the
//! form `quantified.rs` gives EXISTS under OR: TPC-DS 10, 35, 45) as a mark
//! of a left join to S's distinct values: `… LEFT JOIN (SELECT DISTINCT y …
//! WHERE y IS NOT NULL) AS __floe_mark1 ON x = __floe_mark1.__floe_mark1`
//! and `__floe_mark1.__floe_mark1 IS NOT NULL` in its place.
//!
//! polars-sql semi-joins an IN that is a conjunct of WHERE; elsewhere it
//! tests each row against S's values as a list broadcast to every row,
//! which copied the list per row: 22 GB for 100,000 customers against
//! TPC-DS SF 1's buyers, where the join takes 40 ms.
//!
//! Only where the answer cannot tell FALSE from NULL: under AND and OR from
//! WHERE's root, no NOT above (the IN is NULL where no `y = x` and `x` or
//! some `y` is NULL; a mark is then FALSE, and a row is kept either way
//! only where the whole WHERE is TRUE). S must read nothing of the query
//! around it, and `x` only this SELECT's relations; a SELECT that is itself
//! a subquery expression's is left alone (its own FROM is what polars-sql
//! correlates with the outer query).

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Ident, ObjectName, Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins};
use crate::sql::visit::{visit_expressions, VisitorMut};

use super::aggregates::opens_subquery;
use super::scope::*;

const MARK: &str = "__floe_mark";

pub(super) fn left_joined(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Marks { resolver, subquery_depth: 0, marks: 0 });
}

struct Marks<'a> {
    resolver: Resolver<'a>,
    /// Subquery expressions entered: their SELECTs are left as they are.
    subquery_depth: usize,
    /// Marks written so far in the statement: each relation's name is new.
    marks: usize,
}

impl VisitorMut for Marks<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.subquery_depth += usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.subquery_depth -= usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if self.subquery_depth == 0 && select.from.len() == 1 {
            self.mark(select);
        }
        ControlFlow::Continue(())
    }
}

impl Marks<'_> {
    fn mark(&mut self, select: &mut Select) {
        let Some(mut selection) = select.selection.take() else { return };
        let relations = self.resolver.relations(&select.from);
        let mut joins = Vec::new();
        self.replace(&mut selection, false, &relations, &mut joins);
        select.selection = Some(selection);
        for (name, join) in joins {
            select.from[0].joins.push(join);
            for item in &mut select.projection {
                if let SelectItem::Wildcard(options) = item {
                    exclude_from_wildcard(options, vec![ObjectName::from(vec![Ident::with_quote('"', name.clone())])]);
                }
            }
        }
    }

    /// Replaces the memberships under an OR in `expr`'s positive positions.
    fn replace(&mut self, expr: &mut Expr, under_or: bool, relations: &[(TableFactor, Option<Scope>)], joins: &mut Vec<(String, sqlparser::ast::Join)>) {
        match expr {
            Expr::BinaryOp { left, op: op @ (BinaryOperator::And | BinaryOperator::Or), right } => {
                let under_or = under_or || *op == BinaryOperator::Or;
                self.replace(left, under_or, relations, joins);
                self.replace(right, under_or, relations, joins);
            }
            Expr::Nested(inner) => self.replace(inner, under_or, relations, joins),
            Expr::InSubquery { expr: key, subquery, negated: false } if under_or && self.markable(key, subquery, relations) => {
                let name = format!("{MARK}{}", self.marks + 1);
                let Some(join) = marking_join(&name, key, subquery) else { return };
                self.marks += 1;
                *expr = Expr::IsNotNull(Box::new(Expr::CompoundIdentifier(vec![Ident::new(&name), Ident::new(&name)])));
                joins.push((name, join));
            }
            _ => {}
        }
    }

    /// Whether `key` reads this SELECT's relations only, and `subquery` nothing around it.
    fn markable(&self, key: &Expr, subquery: &Query, relations: &[(TableFactor, Option<Scope>)]) -> bool {
        let mut own = true;
        let _ = visit_expressions(key, |e| {
            own &= match e {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => self.resolver.in_scope(e, relations),
                other => !opens_subquery(other),
            };
            ControlFlow::<()>::Continue(())
        });
        own && reads_column(key) && self.resolver.self_contained(subquery)
    }
}

/// `LEFT JOIN (SELECT DISTINCT <value> AS <name> FROM (<subquery>) AS
/// <name>_values WHERE <value> IS NOT NULL) AS <name> ON <key> = <name>.<name>`,
/// `<value>` the subquery's column by its name; an unnamed one is named
/// `<name>` where no ORDER BY of the subquery could read it as written.
fn marking_join(name: &str, key: &Expr, subquery: &Query) -> Option<sqlparser::ast::Join> {
    let mut named = subquery.clone();
    let first = leftmost_select_mut(&mut named.body)?;
    let value = match output_names(first).into_iter().next()? {
        Some(column) => Ident::with_quote('"', column),
        None if named.order_by.is_none() => {
            let item = first.projection.first_mut()?;
            let SelectItem::UnnamedExpr(expr) = item else { return None };
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::new(name) };
            Ident::new(name)
        }
        None => return None,
    };
    let sql = format!(
        "SELECT * FROM {name} LEFT JOIN (SELECT DISTINCT {name}_values.{value} AS {name} FROM ({named}) AS {name}_values \
         WHERE {name}_values.{value} IS NOT NULL) AS {name} ON {key} = {name}.{name}"
    );
    let query = parse_query(&sql)?;
    let SetExpr::Select(select) = *query.body else { return None };
    let [TableWithJoins { mut joins, .. }] = <[TableWithJoins; 1]>::try_from(select.from).ok()?;
    joins.pop()
}

fn leftmost_select_mut(body: &mut SetExpr) -> Option<&mut Select> {
    match body {
        SetExpr::Select(select) => Some(select),
        SetExpr::SetOperation { left, .. } => leftmost_select_mut(left),
        SetExpr::Query(query) => leftmost_select_mut(&mut query.body),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(sql: &str) -> String {
        let columns = columns_of(&[("c", &["k", "name"]), ("s", &["k", "day"]), ("w", &["k"])]);
        rewritten_over(sql, &columns, left_joined)
    }

    #[test]
    fn memberships_under_or_are_marks_of_left_joins() {
        assert_eq!(
            marked("SELECT name FROM c WHERE c.k IN (SELECT k FROM s WHERE day > 3) OR c.k IN (SELECT w.k + 1 FROM w)"),
            "SELECT name FROM c LEFT JOIN (SELECT DISTINCT __floe_mark1_values.\"k\" AS __floe_mark1 FROM (SELECT k FROM s WHERE day > 3) AS __floe_mark1_values \
             WHERE __floe_mark1_values.\"k\" IS NOT NULL) AS __floe_mark1 ON c.k = __floe_mark1.__floe_mark1 \
             LEFT JOIN (SELECT DISTINCT __floe_mark2_values.__floe_mark2 AS __floe_mark2 FROM (SELECT w.k + 1 AS __floe_mark2 FROM w) AS __floe_mark2_values \
             WHERE __floe_mark2_values.__floe_mark2 IS NOT NULL) AS __floe_mark2 ON c.k = __floe_mark2.__floe_mark2 \
             WHERE __floe_mark1.__floe_mark1 IS NOT NULL OR __floe_mark2.__floe_mark2 IS NOT NULL"
        );
    }

    #[test]
    fn a_wildcard_leaves_the_marks_out() {
        let sql = marked("SELECT * FROM c WHERE name = 'a' OR k IN (SELECT k FROM s)");
        assert!(sql.starts_with("SELECT * EXCLUDE (\"__floe_mark1\") FROM c LEFT JOIN"), "{sql}");
    }

    #[test]
    fn conjuncts_negations_and_correlated_subqueries_stay() {
        for sql in [
            "SELECT name FROM c WHERE c.k IN (SELECT k FROM s)",
            "SELECT name FROM c WHERE name = 'a' AND c.k IN (SELECT k FROM s)",
            "SELECT name FROM c WHERE NOT (name = 'a' OR c.k IN (SELECT k FROM s))",
            "SELECT name FROM c WHERE name = 'a' OR c.k NOT IN (SELECT k FROM s)",
            "SELECT name FROM c WHERE name = 'a' OR c.k IN (SELECT k FROM s WHERE s.day = c.k)",
            "SELECT name FROM c WHERE EXISTS (SELECT 1 FROM w WHERE w.k = c.k AND (w.k = 1 OR w.k IN (SELECT k FROM s)))",
            // An unnamed value an ORDER BY could read as written.
            "SELECT name FROM c WHERE name = 'a' OR c.k IN (SELECT k + 1 FROM s ORDER BY k + 1 LIMIT 3)",
        ] {
            assert_eq!(marked(sql), sql);
        }
    }
}
