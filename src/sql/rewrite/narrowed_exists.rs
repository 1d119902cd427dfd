//! `[NOT] EXISTS (SELECT … FROM r WHERE r.k = o.k AND …)`, a conjunct of a
//! WHERE that also compares the outer relation `o`'s columns with
//! constants: the subquery reads only the rows of `r` whose key a row `o`'s
//! filters keep has, `(SELECT * FROM r WHERE r.k IN (SELECT o.k FROM o WHERE
//! <o's filters>)) AS r` (magic sets, as `narrowed_keys.rs` does for grouped
//! subqueries). Only rows that pass `o`'s filters ever ask, each about its
//! own key, so every answer is the same; polars-sql's semi join then builds
//! its table over the rows left instead of all of `r` (TPC-H 4: every late
//! `lineitem` row, for three months of orders). Filters between columns
//! (`l_receiptdate > l_commitdate`) keep too many rows to pay for the
//! extra semi join, so they alone do not narrow.

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, SetExpr, Statement, VisitorMut};

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
        let outer = OuterFilters::of(select, &scopes);
        let Some(selection) = select.selection.as_mut() else { return };
        let selective: Vec<bool> = (0..scopes.len())
            .map(|i| conjuncts(selection).iter().any(|c| owner(c, &scopes) == Some(i) && compares_with_constants(c)))
            .collect();
        for_each_conjunct(selection, &mut |conjunct| {
            if let Expr::Exists { subquery, .. } = conjunct {
                self.narrow_subquery(subquery, &scopes, &outer, &selective);
            }
        });
    }

    fn narrow_subquery(&self, subquery: &mut Query, scopes: &[Scope], outer: &OuterFilters, selective: &[bool]) {
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
            let relation = owner(outer_key, scopes)?;
            selective[relation].then(|| outer.restriction(&key.to_string(), &outer_key.to_string(), scopes)).flatten()
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

/// A column compared with constants: `=`/`<`/… a literal, BETWEEN, an IN list, LIKE.
fn compares_with_constants(expr: &Expr) -> bool {
    let column = |e: &Expr| matches!(unnested(e), Expr::Identifier(_) | Expr::CompoundIdentifier(_));
    match unnested(expr) {
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            (column(left) && reads_nothing(right)) || (reads_nothing(left) && column(right))
        }
        Expr::Between { expr, low, high, .. } => column(expr) && reads_nothing(low) && reads_nothing(high),
        Expr::InList { expr, list, .. } => column(expr) && list.iter().all(reads_nothing),
        Expr::Like { expr, pattern, .. } => column(expr) && reads_nothing(pattern),
        _ => false,
    }
}

/// No column, function call or subquery in `expr`: the same value for every row.
fn reads_nothing(expr: &Expr) -> bool {
    struct Reads;
    impl sqlparser::ast::Visitor for Reads {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            match expr {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Function(_) => std::ops::ControlFlow::Break(()),
                _ => std::ops::ControlFlow::Continue(()),
            }
        }
        fn pre_visit_query(&mut self, _: &Query) -> std::ops::ControlFlow<()> {
            std::ops::ControlFlow::Break(())
        }
    }
    sqlparser::ast::Visit::visit(expr, &mut Reads).is_continue()
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
             (SELECT * FROM lineitem WHERE l_order IN (SELECT o_key FROM orders WHERE o_date >= '1993-07-01')) AS lineitem \
             WHERE l_order = o_key AND l_a < l_b)"
        );
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
