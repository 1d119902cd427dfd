//! A subquery without FROM reads no relation: it is one row of its item
//! where its WHERE holds, none where it does not. So it is an expression of
//! the enclosing row, written here as one:
//!
//! - `(SELECT e)` is `e`, `(SELECT e WHERE w)` is `CASE WHEN w THEN e END`;
//! - `x IN (SELECT e WHERE w)` is `(w) IS TRUE AND x = e` (`NOT IN` its
//!   negation), `x op ANY (…)` likewise, `x op ALL (…)` is
//!   `(w) IS NOT TRUE OR x op e`;
//! - `EXISTS (SELECT … WHERE w)` is `(w) IS TRUE`.
//!
//! (`IS TRUE` written as `coalesce(w, false)`, which Polars answers.)
//!
//! polars-sql planned `d.id IN (SELECT 3)` in a SELECT list over a frame
//! it could not find (`_POLARS_TMP`). Not where the subquery aggregates
//! or has a window (one row of a group, not of the item), or limits, groups
//! or sets its rows apart; nor a scalar one of constants. At analyze time,
//! so the passes after it (group keys read in aggregating items, names of
//! unaliased items) see the expression as if it were written.

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, SetExpr, Statement};

use super::aggregates::{holds_aggregate, holds_window};
use super::scope::{has_group_by, item_expr, reads_column};
use crate::sql::visit::replace_outside_sort_keys;

/// Outside sort keys: a column a sort key's subquery reads is the
/// relation's, where a bare name in ORDER BY would read the SELECT list's
/// item of that name. Before an expression's children: an ANY's subquery is
/// its comparison's, not a value.
pub(super) fn as_expressions(statement: &mut Statement) {
    // Nested: the text is parsed again, where an AND or OR would bind to its neighbours.
    replace_outside_sort_keys(statement, |expr| rewritten(expr).map(nested));
}

fn rewritten(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::Subquery(query) => {
            let (item, condition) = one_item(query)?;
            // A constant stays a subquery: as a sort or grouping key, a literal
            // would be read as a position, and Polars sorts by no constant.
            if !reads_column(item) && condition.is_none_or(|condition| !reads_column(condition)) {
                return None;
            }
            Some(match condition {
                None => nested(item.clone()),
                Some(condition) => Expr::Case {
                    case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    operand: None,
                    conditions: vec![sqlparser::ast::CaseWhen { condition: nested(condition.clone()), result: nested(item.clone()) }],
                    else_result: None,
                },
            })
        }
        Expr::InSubquery { expr: value, subquery, negated } => {
            let (item, condition) = one_item(subquery)?;
            let member = some_row_where(condition, compared(value, BinaryOperator::Eq, item));
            Some(if *negated { Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr: Box::new(nested(member)) } } else { member })
        }
        Expr::AnyOp { left, compare_op, right, .. } => {
            let (item, condition) = one_item(subquery_of(right)?)?;
            Some(some_row_where(condition, compared(left, compare_op.clone(), item)))
        }
        Expr::AllOp { left, compare_op, right } => {
            let (item, condition) = one_item(subquery_of(right)?)?;
            let holds = compared(left, compare_op.clone(), item);
            Some(match condition {
                None => holds,
                Some(condition) => Expr::BinaryOp {
                    left: Box::new(is_not_true(condition)),
                    op: BinaryOperator::Or,
                    right: Box::new(holds),
                },
            })
        }
        Expr::Exists { subquery, negated } => {
            let select = rows_of_no_relation(subquery)?;
            let condition = select.selection.clone();
            Some(match (condition, negated) {
                (None, negated) => Expr::Value(sqlparser::ast::Value::Boolean(!negated).into()),
                (Some(condition), false) => is_true(&condition),
                (Some(condition), true) => is_not_true(&condition),
            })
        }
        _ => None,
    }
}

fn subquery_of(expr: &Expr) -> Option<&Query> {
    if let Expr::Subquery(query) = expr { Some(query) } else { None }
}

/// The one item of a SELECT without FROM and its WHERE.
fn one_item(query: &Query) -> Option<(&Expr, Option<&Expr>)> {
    let select = rows_of_no_relation(query)?;
    let [item] = select.projection.as_slice() else { return None };
    let item = item_expr(item)?;
    (!holds_aggregate(item) && !holds_window(item)).then_some((item, select.selection.as_ref()))
}

/// `query` as one SELECT without FROM whose rows are its WHERE's: not
/// grouped, aggregated, windowed, limited or set apart.
fn rows_of_no_relation(query: &Query) -> Option<&Select> {
    let limited = query.limit_clause.is_some() || query.fetch.is_some();
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    let plain = select.from.is_empty()
        && query.with.is_none()
        && !limited
        && select.top.is_none()
        && select.having.is_none()
        && select.qualify.is_none()
        && !has_group_by(select)
        && select.named_window.is_empty();
    let aggregates = select.projection.iter().filter_map(item_expr).any(|item| holds_aggregate(item) || holds_window(item));
    (plain && !aggregates && select.selection.as_ref().is_none_or(|condition| !holds_aggregate(condition))).then_some(select)
}

/// `holds` where a row is there: `(w) IS TRUE AND holds` for a WHERE `w`.
fn some_row_where(condition: Option<&Expr>, holds: Expr) -> Expr {
    match condition {
        None => holds,
        Some(condition) => Expr::BinaryOp {
            left: Box::new(is_true(condition)),
            op: BinaryOperator::And,
            right: Box::new(nested(holds)),
        },
    }
}

/// `(w) IS TRUE` as Polars answers it (false, never NULL, for a NULL `w`).
fn is_true(condition: &Expr) -> Expr {
    let test = Expr::IsTrue(Box::new(condition.clone()));
    super::normalize::truth_test(&test).unwrap_or(test)
}

fn is_not_true(condition: &Expr) -> Expr {
    let test = Expr::IsNotTrue(Box::new(condition.clone()));
    super::normalize::truth_test(&test).unwrap_or(test)
}

fn compared(value: &Expr, op: BinaryOperator, item: &Expr) -> Expr {
    Expr::BinaryOp { left: Box::new(nested(value.clone())), op, right: Box::new(nested(item.clone())) }
}

fn nested(expr: Expr) -> Expr {
    match expr {
        Expr::Nested(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) => expr,
        expr => Expr::Nested(Box::new(expr)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;

    #[test]
    fn subqueries_without_from_are_expressions_of_the_row() {
        assert_eq!(
            rewritten_by("SELECT d.id IN (SELECT 3), d.id NOT IN (SELECT d.k + 1 WHERE d.k > 2), (SELECT d.k WHERE d.k > 2) FROM d ORDER BY (SELECT d.k)", super::as_expressions),
            "SELECT (d.id = 3), (NOT (coalesce((d.k > 2), false) AND (d.id = (d.k + 1)))), (CASE WHEN (d.k > 2) THEN d.k END) FROM d ORDER BY (SELECT d.k)"
        );
        assert_eq!(
            rewritten_by("SELECT * FROM d WHERE EXISTS (SELECT 1 WHERE d.k > 2) AND NOT EXISTS (SELECT 1) AND d.id > ALL (SELECT 2 WHERE d.k < 0)", super::as_expressions),
            "SELECT * FROM d WHERE (coalesce((d.k > 2), false)) AND false AND ((NOT coalesce((d.k < 0), false)) OR d.id > 2)"
        );
    }

    #[test]
    fn subqueries_of_a_group_a_relation_or_a_limit_are_left_alone() {
        for kept in [
            "SELECT d.id IN (SELECT count(*)) FROM d",
            "SELECT (SELECT row_number() OVER ()) FROM d",
            "SELECT d.id IN (SELECT 3 LIMIT 0) FROM d",
            "SELECT d.id IN (SELECT 3 UNION ALL SELECT 4) FROM d",
            "SELECT d.id IN (SELECT e.id FROM e) FROM d",
            "SELECT EXISTS (SELECT 1 HAVING false) FROM d",
        ] {
            assert_eq!(rewritten_by(kept, super::as_expressions), kept);
        }
    }
}
