//! A join key that is an expression over a column an earlier relation of
//! the join also has (`CASE WHEN <c> THEN t1.id END`, which
//! `outer_join_conditions.rs` writes for a condition on the preserved side;
//! `floe_null_fill(t1.id)`; `t1.id + 0` as written). polars-sql names such a
//! column `id:t1` in the joined frame and reads `t1.id` as
//! `col("id:t1").alias("id")`, an alias Polars refuses inside a join key
//! ("'alias' is not allowed in a join key"). There the reference reads the
//! frame's name itself.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, Select, Statement, TableWithJoins};
use crate::sql::visit::{visit_expressions_mut, VisitorMut};

use super::resolver::{visit_query, Resolver};
use super::scope::{is_column, join_constraint};
use super::Columns;

pub(super) fn read_suffixed(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Keys { resolver });
}

struct Keys<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Keys<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for table in &mut select.from {
            self.rewrite(table);
        }
        ControlFlow::Continue(())
    }
}

/// A column of an earlier relation, by qualifier and name, and what the
/// joined frame calls it.
struct Suffixed {
    qualifier: String,
    column: String,
    name: String,
}

impl Keys<'_> {
    fn rewrite(&self, table: &mut TableWithJoins) {
        let Some(first) = self.resolver.scope(&table.relation) else { return };
        let mut joined: HashSet<String> = first.columns.iter().map(|c| c.to_ascii_lowercase()).collect();
        let mut suffixed: Vec<Suffixed> = Vec::new();
        for join in &mut table.joins {
            let Some(scope) = self.resolver.scope(&join.relation) else { return };
            if let (false, Some(JoinConstraint::On(on))) = (suffixed.is_empty(), join_constraint(&mut join.join_operator)) {
                read_in_keys(on, &suffixed);
            }
            let keeps_right = !matches!(
                join.join_operator,
                JoinOperator::Semi(_) | JoinOperator::LeftSemi(_) | JoinOperator::Anti(_) | JoinOperator::LeftAnti(_)
            );
            for column in scope.columns.iter().filter(|_| keeps_right) {
                let lower = column.to_ascii_lowercase();
                if joined.contains(&lower) {
                    let name = format!("{column}:{}", scope.qualifier);
                    joined.insert(name.to_ascii_lowercase());
                    suffixed.push(Suffixed { qualifier: scope.qualifier.to_ascii_lowercase(), column: lower, name });
                } else {
                    joined.insert(lower);
                }
            }
        }
    }
}

/// In each equality of `on` (its conjuncts), a side that is not a bare
/// column reads suffixed columns by the frame's name.
fn read_in_keys(on: &mut Expr, suffixed: &[Suffixed]) {
    match on {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            read_in_keys(left, suffixed);
            read_in_keys(right, suffixed);
        }
        Expr::Nested(inner) => read_in_keys(inner, suffixed),
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            for side in [left, right].into_iter().filter(|side| !is_column(side)) {
                let _ = visit_expressions_mut(side.as_mut(), |expr| {
                    if let Expr::CompoundIdentifier(parts) = expr {
                        if let [.., qualifier, column] = parts.as_slice() {
                            let (qualifier, column) = (qualifier.value.to_ascii_lowercase(), column.value.to_ascii_lowercase());
                            if let Some(found) = suffixed.iter().find(|s| s.qualifier == qualifier && s.column == column) {
                                *expr = Expr::Identifier(Ident::with_quote('"', found.name.clone()));
                            }
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::rewrite::scope::{columns_of, rewritten_over};

    #[test]
    fn expression_keys_read_suffixed_columns_by_their_frame_name() {
        let columns = columns_of(&[("a", &["id", "k"]), ("b", &["id", "a_k"]), ("c", &["id", "x"])]);
        let sql = "SELECT * FROM a JOIN b ON a.k = b.a_k LEFT JOIN c ON CASE WHEN b.a_k > 0 THEN b.id END = c.id AND a.id + 0 = c.x";
        assert_eq!(
            rewritten_over(sql, &columns, super::read_suffixed),
            "SELECT * FROM a JOIN b ON a.k = b.a_k LEFT JOIN c ON CASE WHEN b.a_k > 0 THEN \"id:b\" END = c.id AND a.id + 0 = c.x"
        );
        // A bare column key is polars-sql's to resolve.
        let sql = "SELECT * FROM a JOIN b ON a.k = b.a_k JOIN c ON b.id = c.id";
        assert_eq!(rewritten_over(sql, &columns, super::read_suffixed), sql);
    }
}
