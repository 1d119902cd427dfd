//! SUM arguments computed once, below the grouping.
//!
//! polars-sql plans `SUM(e)` as `when(e.null_count() < e.len()).then(e.sum())`
//! (SQL's NULL for a group without values), and Polars 0.55 does not fold
//! the repeated `e` inside a group-by's aggregations: `SUM(price * (1 - disc))`
//! multiplies every row three times. A grouped SELECT over one relation
//! reads such arguments from a derived table that computes each once:
//! `SELECT g, SUM(a * b) AS s FROM t GROUP BY g` becomes
//! `SELECT g, SUM(__floe_sum_0) AS s FROM (SELECT *, a * b AS __floe_sum_0 FROM t WHERE …) AS t GROUP BY g`.
//! The derived table keeps the relation's name, so every other reference
//! still resolves; only aliased outputs change, so names stay as written.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, Ident, ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement, TableAlias, TableFactor, TableWithJoins};
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

use super::names::first_column;
use super::scope::{is_aggregate, parse_query, plain_args, plain_group_keys, replace_outside_subqueries, visit_outside_subqueries};

const PREFIX: &str = "__floe_sum_";

pub(super) fn computed_below(statement: &mut Statement) {
    struct Each;
    impl VisitorMut for Each {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Select(select) = query.body.as_mut() {
                rewrite_select(select);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Each);
}

fn rewrite_select(select: &mut Select) {
    let Some(name) = relation_name(select) else { return };
    if !fits(select) {
        return;
    }
    let mut computed: Vec<(String, Expr)> = Vec::new();
    for item in select.projection.iter_mut() {
        // An unaliased output is named by Polars after the expression, so it stays.
        if let SelectItem::ExprWithAlias { expr, .. } = item {
            replace_outside_subqueries(expr, |expr| replace_argument(expr, &mut computed));
        }
    }
    if computed.is_empty() {
        return;
    }
    let Some(mut inner) = parse_query("SELECT * FROM t") else { return };
    let SetExpr::Select(inner_select) = inner.body.as_mut() else { return };
    inner_select.from = std::mem::take(&mut select.from);
    // Filtered first, so the arguments are computed only for the rows kept.
    inner_select.selection = select.selection.take();
    for (alias, expr) in computed {
        inner_select.projection.push(SelectItem::ExprWithAlias { expr, alias: Ident::new(alias) });
    }
    let alias = TableAlias { explicit: true, name, columns: vec![], at: None };
    select.from = vec![TableWithJoins {
        relation: TableFactor::Derived { lateral: false, subquery: Box::new(inner), alias: Some(alias), sample: None },
        joins: vec![],
    }];
}

/// The name references to the SELECT's one relation use, which the derived
/// table takes over; none when the FROM is not a single aliased or
/// plainly-named relation.
fn relation_name(select: &Select) -> Option<Ident> {
    let [TableWithJoins { relation, joins }] = select.from.as_slice() else { return None };
    if !joins.is_empty() {
        return None;
    }
    match relation {
        TableFactor::Table { alias: Some(alias), args: None, .. } | TableFactor::Derived { alias: Some(alias), .. }
            if alias.columns.is_empty() =>
        {
            Some(alias.name.clone())
        }
        TableFactor::Table { name, alias: None, args: None, .. } => match name.0.last()? {
            ObjectNamePart::Identifier(ident)
                if crate::sql::time_travel::split_as_of(&ident.value).1 == crate::sql::time_travel::AsOf::Current =>
            {
                Some(ident.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// A grouped SELECT whose outputs are all expressions and whose column
/// references have at most a relation qualifier (a `ns.table.column` would
/// no longer find its table).
fn fits(select: &Select) -> bool {
    if plain_group_keys(select).is_none() {
        return false;
    }
    if select.qualify.is_some() || !select.named_window.is_empty() || !select.lateral_views.is_empty() || select.prewhere.is_some() {
        return false;
    }
    if !select.projection.iter().all(|item| matches!(item, SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. })) {
        return false;
    }
    let mut plain = true;
    let _ = visit_outside_subqueries(select, |expr| {
        if matches!(expr, Expr::CompoundIdentifier(parts) if parts.len() > 2) {
            plain = false;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    plain
}

/// A `SUM` call's one argument when computing it below pays: it reads a
/// column and is more than a column (a product, a CASE), with nothing that
/// must stay where it is (subqueries, windows, aggregates).
fn computed_argument(function: &Function) -> Option<&Expr> {
    if !is_aggregate(function) || !function.name.to_string().eq_ignore_ascii_case("sum") || function.filter.is_some() {
        return None;
    }
    let [argument] = plain_args(function)?.try_into().ok()?;
    let simple = matches!(
        super::scope::unnested(argument),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)
    );
    (!simple && first_column(argument).is_some() && movable(argument)).then_some(argument)
}

fn movable(expr: &Expr) -> bool {
    struct Stays;
    impl Visitor for Stays {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
                Expr::Function(function) if function.over.is_some() || is_aggregate(function) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    expr.visit(&mut Stays).is_continue()
}

/// Replaces computed SUM arguments outside subqueries by the derived
/// table's columns, one column per distinct argument.
/// `sum(<argument>)` as `sum(<alias>)`, each distinct argument computed once.
fn replace_argument(expr: &mut Expr, computed: &mut Vec<(String, Expr)>) {
    let Expr::Function(function) = expr else { return };
    let Some(argument) = computed_argument(function) else { return };
    let text = argument.to_string();
    let alias = match computed.iter().find(|(_, known)| known.to_string() == text) {
        Some((alias, _)) => alias.clone(),
        None => {
            let alias = format!("{PREFIX}{}", computed.len());
            computed.push((alias.clone(), argument.clone()));
            alias
        }
    };
    if let Some(replacement) = super::scope::parse_expr(&format!("sum({alias})")) {
        *expr = replacement;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::rewrite::scope::rewritten_by;

    fn rewritten(sql: &str) -> String {
        rewritten_by(sql, computed_below)
    }

    #[test]
    fn computed_sum_arguments_move_below_the_grouping_once_each() {
        assert_eq!(
            rewritten("SELECT g, sum(a * (1 - b)) AS s, sum(a * (1 - b)) / count(*) AS m, sum(a) AS t FROM x WHERE c > 1 GROUP BY g"),
            "SELECT g, sum(__floe_sum_0) AS s, sum(__floe_sum_0) / count(*) AS m, sum(a) AS t \
             FROM (SELECT *, a * (1 - b) AS __floe_sum_0 FROM x WHERE c > 1) AS x GROUP BY g"
        );
    }

    #[test]
    fn aliases_and_derived_tables_keep_their_names() {
        assert_eq!(
            rewritten("SELECT l.g, sum(CASE WHEN l.k = 'A' THEN l.v ELSE 0 END) AS a, sum(l.v * 2) FROM (SELECT * FROM y) AS l GROUP BY l.g"),
            "SELECT l.g, sum(__floe_sum_0) AS a, sum(l.v * 2) \
             FROM (SELECT *, CASE WHEN l.k = 'A' THEN l.v ELSE 0 END AS __floe_sum_0 FROM (SELECT * FROM y) AS l) AS l GROUP BY l.g"
        );
    }

    #[test]
    fn left_alone_where_it_would_not_pay_or_not_resolve() {
        for sql in [
            "SELECT g, sum(a) AS s, sum(1) AS n FROM x GROUP BY g",
            "SELECT sum(a * b) AS s FROM x",
            "SELECT g, sum(a * b) AS s FROM x JOIN y ON x.k = y.k GROUP BY g",
            "SELECT g, sum(DISTINCT a * b) AS s FROM x GROUP BY g",
            "SELECT g, sum(a * b) FILTER (WHERE a > 0) AS s FROM x GROUP BY g",
            "SELECT g, sum(a * (SELECT max(c) FROM y)) AS s FROM x GROUP BY g",
            "SELECT ns.x.g, sum(a * b) AS s FROM ns.x GROUP BY ns.x.g",
            "SELECT *, sum(a * b) AS s FROM x GROUP BY g",
        ] {
            assert_eq!(rewritten(sql), crate::sql::parse::parse_single(sql).unwrap().to_string(), "{sql}");
        }
    }

    #[test]
    fn subqueries_are_rewritten_on_their_own() {
        assert_eq!(
            rewritten("SELECT * FROM (SELECT g, sum(a * b) AS s FROM x GROUP BY g) AS t WHERE s > 0"),
            "SELECT * FROM (SELECT g, sum(__floe_sum_0) AS s FROM (SELECT *, a * b AS __floe_sum_0 FROM x) AS x GROUP BY g) AS t WHERE s > 0"
        );
    }
}
