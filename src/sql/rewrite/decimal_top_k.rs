//! `ORDER BY <one key> LIMIT n` where the key may be a DECIMAL: for one
//! sort key Polars 0.55 prunes rows as it streams with a predicate that
//! reads a decimal held as one value for a whole batch (`Column::Scalar`) by
//! its integer part, so 774.14 was compared as 774 against 578.38 kept as
//! 57838 and the best row was dropped (`SELECT d.budget … FULL JOIN …
//! ORDER BY 1 DESC LIMIT 1` answered 578.38; found by the differential
//! tester, right in Python Polars 2.x). A second key, `<key> IS NULL`, keeps
//! Polars from building that predicate and orders nothing apart (it is the
//! same for equal keys, and SQL leaves the order of ties open anyway).
//! Keys known not to be decimals keep the pruning, which can skip whole
//! row groups of a large scan.

use std::ops::ControlFlow;

use sqlparser::ast::{CastKind, DataType, Expr, OrderByExpr, OrderByKind, Query, Select, SelectItem, SetExpr, Statement};
use crate::sql::visit::{visit_expressions, VisitorMut};

use super::scope::{column_name, has_group_by, integer_literal};
use super::{ColumnKind, Columns};

pub(super) fn pruned_safely(statement: &mut Statement, columns: &Columns) {
    let _ = crate::sql::visit::VisitMut::visit(statement, &mut TopK { columns });
}

struct TopK<'a> {
    columns: &'a Columns,
}

impl VisitorMut for TopK<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let limited = query.limit_clause.is_some() || query.fetch.is_some();
        let (true, SetExpr::Select(select), Some(order_by)) = (limited, query.body.as_ref(), &mut query.order_by) else {
            return ControlFlow::Continue(());
        };
        let OrderByKind::Expressions(keys) = &mut order_by.kind else { return ControlFlow::Continue(()) };
        let [key] = keys.as_slice() else { return ControlFlow::Continue(()) };
        if let Some((_, named)) = resolved(&key.expr, select).filter(|(typed, _)| self.may_be_decimal(typed)) {
            keys.push(OrderByExpr { expr: Expr::IsNull(Box::new(named)), options: Default::default(), with_fill: None });
        }
        ControlFlow::Continue(())
    }
}

/// The expression a sort key stands for (an item, by position or alias),
/// and how a second key names it. An unaliased expression by position is
/// named by itself where the SELECT reads its input rows as they are (no
/// grouping, DISTINCT, window or subquery); elsewhere None: no key can name it.
fn resolved(key: &Expr, select: &Select) -> Option<(Expr, Expr)> {
    let row_wise = |expr: &Expr| select.distinct.is_none() && !has_group_by(select) && super::aggregates::row_wise(expr);
    let item = |item: &SelectItem| match item {
        SelectItem::ExprWithAlias { expr, alias } => Some((expr.clone(), Expr::Identifier(alias.clone()))),
        SelectItem::UnnamedExpr(column @ (Expr::Identifier(_) | Expr::CompoundIdentifier(_))) => Some((column.clone(), column.clone())),
        SelectItem::UnnamedExpr(expr) if row_wise(expr) => Some((expr.clone(), Expr::Nested(Box::new(expr.clone())))),
        _ => None,
    };
    if let Some(position) = integer_literal(key) {
        return select.projection.get(usize::try_from(position).ok()?.checked_sub(1)?).and_then(item);
    }
    if let Expr::Identifier(name) = key {
        let aliased = select.projection.iter().find(|candidate| {
            matches!(candidate, SelectItem::ExprWithAlias { alias, .. } if alias.value.eq_ignore_ascii_case(&name.value))
        });
        if let Some(found) = aliased {
            return item(found);
        }
    }
    Some((key.clone(), key.clone()))
}

impl TopK<'_> {
    /// Whether `expr` reads a DECIMAL column, one whose kind is not known
    /// (a CTE's, a derived table's), or casts to DECIMAL.
    fn may_be_decimal(&self, expr: &Expr) -> bool {
        visit_expressions(expr, |part| {
            let decimal = match (column_name(part), part) {
                (Some(name), _) => !matches!(self.columns.kind(name), Some(ColumnKind::Date | ColumnKind::Integer | ColumnKind::Float | ColumnKind::Text | ColumnKind::Other)),
                (None, Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, data_type, .. }) => {
                    matches!(data_type, DataType::Decimal(_) | DataType::Numeric(_) | DataType::Dec(_))
                }
                _ => false,
            };
            if decimal { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .is_break()
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_over;
    use super::super::{ColumnKind, Columns};

    fn columns() -> Columns {
        let mut columns = Columns::default();
        let kinds = [ColumnKind::Integer, ColumnKind::Decimal(2), ColumnKind::Date];
        columns.insert(vec!["t".into()], vec!["id".into(), "price".into(), "day".into()], &kinds);
        columns
    }

    #[test]
    fn one_decimal_key_with_a_limit_gets_a_second_key() {
        let cases = [
            ("SELECT id, price FROM t ORDER BY 2 DESC LIMIT 3", "ORDER BY 2 DESC, price IS NULL LIMIT 3"),
            ("SELECT price * 2 AS p FROM t ORDER BY p LIMIT 3", "ORDER BY p, p IS NULL LIMIT 3"),
            ("SELECT id FROM t ORDER BY t.price DESC NULLS LAST LIMIT 1", "ORDER BY t.price DESC NULLS LAST, t.price IS NULL LIMIT 1"),
            ("SELECT k FROM (SELECT id AS k FROM t) AS d ORDER BY k LIMIT 1", "ORDER BY k, k IS NULL LIMIT 1"),
            ("SELECT id, price * 2 FROM t ORDER BY 2 DESC LIMIT 3", "ORDER BY 2 DESC, (price * 2) IS NULL LIMIT 3"),
        ];
        for (sql, ends) in cases {
            let rewritten = rewritten_over(sql, &columns(), super::pruned_safely);
            assert!(rewritten.ends_with(ends), "{rewritten}");
        }
    }

    #[test]
    fn other_keys_keep_the_pruning() {
        for sql in [
            "SELECT id, price FROM t ORDER BY 1 DESC LIMIT 3",
            "SELECT day FROM t ORDER BY day LIMIT 3",
            "SELECT price FROM t ORDER BY price",
            "SELECT price FROM t ORDER BY price, id LIMIT 2",
            "SELECT DISTINCT price * 2 FROM t ORDER BY 1 LIMIT 2",
            "SELECT sum(price) * 2 FROM t GROUP BY id ORDER BY 1 LIMIT 2",
        ] {
            assert_eq!(rewritten_over(sql, &columns(), super::pruned_safely), sql);
        }
    }
}
