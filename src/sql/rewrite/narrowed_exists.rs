//! `[NOT] EXISTS (SELECT … FROM r WHERE r.k = o.k AND …)`, a conjunct of a
//! WHERE that also compares the outer relation `o`'s columns with
//! constants (or joins `o` to a small relation that does): the subquery
//! reads only the rows of `r` whose key a row `o`'s filters keep has, `(SELECT * FROM r WHERE r.k IN (SELECT o.k FROM o WHERE
//! <o's filters>)) AS r` (magic sets, as `narrowed_keys.rs` does for grouped
//! subqueries). Only rows that pass `o`'s filters ever ask, each about its
//! own key, so every answer is the same; polars-sql's semi join then builds
//! its table over the rows left instead of all of `r` (TPC-H 4: every late
//! `lineitem` row, for three months of orders). Filters between columns
//! (`l_receiptdate > l_commitdate`) keep too many rows to pay for the
//! extra semi join, so they alone do not narrow.

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, SetExpr, Statement};
use crate::sql::visit::VisitorMut;

use super::join_filters::filtered;
use super::narrowed_keys::OuterFilters;
use super::scope::*;

pub(super) fn narrowed_exists(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Narrower { resolver });
}

struct Narrower<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Narrower<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        for select in selects_mut(query.body.as_mut()) {
            self.narrow(select);
        }
        std::ops::ControlFlow::Continue(())
    }
}

impl Narrower<'_> {
    fn narrow(&self, select: &mut Select) {
        let Some(scopes) = self.resolver.scopes(&select.from) else { return };
        let outer = OuterFilters::of(select, &scopes, &self.resolver);
        let Some(selection) = select.selection.as_mut() else { return };
        for_each_conjunct(selection, &mut |conjunct| {
            if let Expr::Exists { subquery, .. } = conjunct {
                self.narrow_subquery(subquery, &scopes, &outer);
            }
        });
    }

    fn narrow_subquery(&self, subquery: &mut Query, scopes: &[Scope], outer: &OuterFilters) {
        let SetExpr::Select(inner) = subquery.body.as_mut() else { return };
        let ([table], Some(selection)) = (inner.from.as_mut_slice(), &inner.selection) else { return };
        let (true, Some(scope)) = (table.joins.is_empty(), self.resolver.scope(&table.relation)) else { return };
        let own = std::slice::from_ref(&scope);
        let restriction = conjuncts(selection).into_iter().find_map(|conjunct| {
            let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = unnested(conjunct) else { return None };
            let (key, outer_key) = match (owner(left, own), owner(right, own)) {
                (Some(_), None) => (left, right),
                (None, Some(_)) => (right, left),
                _ => return None,
            };
            outer.selective_restriction(&key.to_string(), &outer_key.to_string(), scopes)
        });
        let Some(narrowed) = restriction.as_deref().and_then(parse_expr).and_then(|filter| filtered(&table.relation, &scope, &filter)) else {
            return;
        };
        table.relation = narrowed;
    }
}

fn for_each_conjunct(expr: &mut Expr, visit: &mut impl FnMut(&mut Expr)) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            for_each_conjunct(left, visit);
            for_each_conjunct(right, visit);
        }
        Expr::Nested(inner) => for_each_conjunct(inner, visit),
        other => visit(other),
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        let columns = columns_of(&[("orders", &["o_key", "o_date", "o_note"]), ("lineitem", &["l_order", "l_a", "l_b"])]);
        rewritten_over(sql, &columns, super::narrowed_exists)
    }

    #[test]
    fn exists_reads_only_keys_of_outer_rows_its_filters_keep() {
        assert_eq!(
            rewritten("SELECT count(*) FROM orders WHERE o_date >= '1993-07-01' AND NOT EXISTS (SELECT * FROM lineitem WHERE l_order = o_key AND l_a < l_b)"),
            "SELECT count(*) FROM orders WHERE o_date >= '1993-07-01' AND NOT EXISTS (SELECT * FROM \
             (SELECT * FROM lineitem WHERE l_order IN (SELECT __floe_in.__floe_v FROM \
             (SELECT o_key AS __floe_v FROM orders WHERE o_date >= '1993-07-01') AS __floe_in)) AS lineitem \
             WHERE l_order = o_key AND l_a < l_b)"
        );
    }

    #[test]
    fn an_outer_relation_without_filters_is_narrowed_by_a_small_filtered_one_it_joins() {
        let sized = |customers: Option<u64>| {
            let mut columns = columns_of(&[
                ("orders", &["o_key", "o_cust"]),
                ("customer", &["c_key", "c_seg"]),
                ("lineitem", &["l_order", "l_a", "l_b"]),
            ]);
            for (name, rows) in [("orders", Some(1500)), ("customer", customers), ("lineitem", Some(6000))] {
                if let Some(rows) = rows {
                    columns.set_rows(vec![name.into()], rows);
                }
            }
            columns
        };
        let sql = "SELECT count(*) FROM orders, customer WHERE o_cust = c_key AND c_seg = 'B' AND EXISTS (SELECT * FROM lineitem WHERE l_order = o_key)";
        assert_eq!(
            rewritten_over(sql, &sized(Some(150)), super::narrowed_exists),
            "SELECT count(*) FROM orders, customer WHERE o_cust = c_key AND c_seg = 'B' AND EXISTS (SELECT * FROM \
             (SELECT * FROM lineitem WHERE l_order IN (SELECT __floe_in.__floe_v FROM \
             (SELECT o_key AS __floe_v FROM orders JOIN customer ON o_cust = c_key WHERE c_seg = 'B') AS __floe_in)) AS lineitem \
             WHERE l_order = o_key)"
        );
        // A joined relation that is not far smaller would cost more to restate than it saves.
        assert_eq!(rewritten_over(sql, &sized(Some(1000)), super::narrowed_exists), sql);
        // A size unknown: left as written.
        assert_eq!(rewritten_over(sql, &sized(None), super::narrowed_exists), sql);
    }

    #[test]
    fn without_outer_filters_on_constants_or_a_key_equality_it_stays() {
        for sql in [
            "SELECT count(*) FROM orders WHERE o_date > o_note AND EXISTS (SELECT * FROM lineitem WHERE l_order = o_key)",
            "SELECT count(*) FROM orders WHERE o_date = '1993-07-01' AND EXISTS (SELECT * FROM lineitem WHERE l_order > o_key)",
            "SELECT count(*) FROM orders WHERE o_date = '1993-07-01' OR EXISTS (SELECT * FROM lineitem WHERE l_order = o_key)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
