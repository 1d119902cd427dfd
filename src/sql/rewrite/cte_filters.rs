//! A WHERE conjunct on one reference to a CTE (`FROM year_total t WHERE
//! t.dyear = 2001 AND t.sale_type = 's'`) copied into that reference's own
//! copy of the CTE, into each UNION ALL branch whose items it reads are
//! GROUP BY keys or constants there: `dyear` is `d_year`, so the branch groups 2001's sales only,
//! and `'w' = 's'` empties the branch that cannot match.
//!
//! Polars pushes no filter below an aggregation, nor into one side of a
//! union by its constants, so each reference grouped every year of every
//! branch: TPC-DS 4 and 11 read their CTE six and four times over. A filter
//! on a group's keys holds for all of a group's rows or none, so filtering
//! the rows first leaves the same groups; the conjunct also stays where it
//! was. Only for references joined by inner joins (a filter on the nullable
//! side of an outer join decides which rows are NULL-extended), and CTEs
//! with no ORDER BY, LIMIT or windows, whose rows do not depend on the rows
//! filtered out.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{Cte, Expr, Ident, JoinOperator, Select, SetExpr, SetOperator, SetQuantifier, Statement, TableAlias, TableFactor};
use crate::sql::visit::{visit_expressions, visit_expressions_mut, VisitorMut};

use super::aggregates::{holds_aggregate, holds_window, opens_subquery};
use super::scope::*;

pub(super) fn copied_into_references(statement: &mut Statement) {
    let Statement::Query(query) = statement else { return };
    let Some(with) = query.with.as_ref().filter(|with| !with.recursive) else { return };
    let ctes: HashMap<String, Cte> = with.cte_tables.iter().map(|cte| (cte.alias.name.value.to_ascii_lowercase(), cte.clone())).collect();
    let _ = crate::sql::visit::VisitMut::visit(query.as_mut(), &mut References { ctes });
}

struct References {
    ctes: HashMap<String, Cte>,
}

impl VisitorMut for References {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let inner = select.from.iter().all(|table| table.joins.iter().all(|join| matches!(join.join_operator, JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_))));
        let Some(selection) = select.selection.as_ref().filter(|_| inner) else { return ControlFlow::Continue(()) };
        let conjuncts: Vec<Expr> = conjuncts(selection).into_iter().cloned().collect();
        let alone = select.from.len() == 1 && select.from[0].joins.is_empty();
        for table in &mut select.from {
            for factor in std::iter::once(&mut table.relation).chain(table.joins.iter_mut().map(|join| &mut join.relation)) {
                self.filter_reference(factor, &conjuncts, alone);
            }
        }
        ControlFlow::Continue(())
    }
}

impl References {
    fn filter_reference(&self, factor: &mut TableFactor, conjuncts: &[Expr], alone: bool) {
        let TableFactor::Table { name, alias, args: None, .. } = factor else { return };
        let [part] = name.0.as_slice() else { return };
        let Some(cte) = part.as_ident().and_then(|ident| self.ctes.get(&ident.value.to_ascii_lowercase())) else { return };
        let Some(names) = output_columns(cte) else { return };
        // Under the CTE's own name, polars-sql would read the name as the CTE
        // another reference still is, not as the copy.
        let Some(qualifier) = alias.as_ref().map(|alias| alias.name.clone()).filter(|name| !name.value.eq_ignore_ascii_case(&cte.alias.name.value)) else { return };
        let own: Vec<Expr> = conjuncts.iter().filter_map(|c| own_conjunct(c, &qualifier, &names, alone)).collect();
        if own.is_empty() {
            return;
        }
        let mut copy = (*cte.query).clone();
        // A union's column is of the type all its branches widen to; a
        // branch's item is of its own, which only a comparison with a
        // constant reads alike.
        let own: Vec<Expr> = match copy.body.as_ref() {
            SetExpr::Select(_) => own,
            _ => own.into_iter().filter(compares_with_constants).collect(),
        };
        if !pushed_into_branches(&mut copy.body, &own, &names) {
            return;
        }
        *factor = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(copy),
            alias: Some(TableAlias { explicit: true, name: qualifier, columns: cte.alias.columns.clone(), at: None }),
            sample: None,
        };
    }
}

/// The CTE's column names, where each is known (from `WITH c(a, b)` or its first branch).
fn output_columns(cte: &Cte) -> Option<Vec<String>> {
    let query = &cte.query;
    if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return None;
    }
    if !cte.alias.columns.is_empty() {
        return Some(cte.alias.columns.iter().map(|column| column.name.value.to_ascii_lowercase()).collect());
    }
    output_names(leftmost_select(&query.body)?).into_iter().map(|name| name.map(|n| n.to_ascii_lowercase())).collect()
}

/// `conjunct` with each column it reads as the position of the CTE's column,
/// if it reads the reference's columns only and holds no subquery.
fn own_conjunct(conjunct: &Expr, qualifier: &Ident, names: &[String], alone: bool) -> Option<Expr> {
    let position = |expr: &Expr| -> Option<usize> {
        let column = match expr {
            Expr::CompoundIdentifier(parts) if parts.len() == 2 && parts[0].value.eq_ignore_ascii_case(&qualifier.value) => &parts[1],
            Expr::Identifier(column) if alone => column,
            _ => return None,
        };
        names.iter().position(|name| column.value.eq_ignore_ascii_case(name))
    };
    let mut owned = true;
    let _ = visit_expressions(conjunct, |expr| {
        owned &= match expr {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => position(expr).is_some(),
            other if opens_subquery(other) => false,
            Expr::Function(function) => function.over.is_none() && !crate::sql::volatile::is_volatile(expr),
            _ => true,
        };
        ControlFlow::<()>::Continue(())
    });
    if !owned {
        return None;
    }
    let mut placed = conjunct.clone();
    let _ = visit_expressions_mut(&mut placed, |expr| {
        if let Some(index) = position(expr) {
            *expr = Expr::Identifier(Ident::new(format!("{PLACE}{index}")));
        }
        ControlFlow::<()>::Continue(())
    });
    Some(placed)
}

/// Whether `conjunct` compares columns with constants only (`=`, `<`, IS
/// NULL, IN, BETWEEN, joined by AND, OR and NOT), so that it holds alike
/// for a value of a branch's own type and of the type the union widens it to.
fn compares_with_constants(conjunct: &Expr) -> bool {
    // Literals and arithmetic of literals (`2001 + 1`), casts of them.
    let constant = |expr: &Expr| {
        visit_expressions(expr, |e| match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Function(_) | Expr::Subquery(_) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .is_continue()
    };
    let column = |expr: &Expr| place_index(unnested(expr)).is_some();
    match unnested(conjunct) {
        Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::And | sqlparser::ast::BinaryOperator::Or, right } => compares_with_constants(left) && compares_with_constants(right),
        Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Not, expr } => compares_with_constants(expr),
        Expr::BinaryOp { left, op, right } if is_comparison(op) => (column(left) && constant(right)) || (constant(left) && column(right)),
        Expr::IsNull(expr) | Expr::IsNotNull(expr) => column(expr),
        Expr::InList { expr, list, .. } => column(expr) && list.iter().all(constant),
        Expr::Between { expr, low, high, .. } => column(expr) && constant(low) && constant(high),
        _ => false,
    }
}

/// Stands for the CTE's column at the position that follows it, until a branch's item replaces it.
const PLACE: &str = "__floe_cte_column_";

/// Adds to each branch's WHERE the conjuncts it can take; whether any took one.
fn pushed_into_branches(body: &mut SetExpr, conjuncts: &[Expr], names: &[String]) -> bool {
    match body {
        SetExpr::Select(select) => pushed_into_select(select, conjuncts, names.len()),
        SetExpr::SetOperation { op: SetOperator::Union, set_quantifier: SetQuantifier::All, left, right } => {
            let left = pushed_into_branches(left, conjuncts, names);
            pushed_into_branches(right, conjuncts, names) || left
        }
        _ => false,
    }
}

fn pushed_into_select(select: &mut Select, conjuncts: &[Expr], width: usize) -> bool {
    // DISTINCT ON keeps a row per key that the filter could change; QUALIFY reads windows.
    if matches!(select.distinct, Some(sqlparser::ast::Distinct::On(_))) || select.qualify.is_some() {
        return false;
    }
    let items: Option<Vec<&Expr>> = select.projection.iter().map(item_expr).collect();
    let Some(items) = items.filter(|items| items.len() == width && !items.iter().any(|item| holds_window(item))) else { return false };
    let keys = plain_group_keys(select);
    let grouped = keys.is_some() || select.having.is_some() || items.iter().any(|item| holds_aggregate(item));
    if grouped && keys.is_none() {
        return false;
    }
    // An item the rows can be filtered by before grouping: a group key, or a
    // constant. Through an ungrouped branch's other items Polars pushes a
    // filter itself, and references left alike it computes once (TPC-DS 39
    // took twice as long with a month copied into each of its two).
    let usable = |index: usize| -> bool {
        let item = items[index];
        let Some(keys) = keys.filter(|_| computed_once(item)) else { return matches!(item, Expr::Value(_)) };
        matches!(item, Expr::Value(_)) || keys.iter().any(|key| is_key_of(key, item, &select.projection[index], index))
    };
    let mut pushed = Vec::new();
    for conjunct in conjuncts {
        let mut placed = conjunct.clone();
        let mut fits = true;
        let _ = visit_expressions_mut(&mut placed, |expr| {
            if let Some(index) = place_index(expr) {
                fits &= usable(index);
                *expr = Expr::Nested(Box::new(items[index].clone()));
            }
            ControlFlow::<()>::Continue(())
        });
        if fits {
            pushed.push(placed);
        }
    }
    if pushed.is_empty() {
        return false;
    }
    let all = select.selection.take().into_iter().chain(pushed).collect();
    select.selection = joined_by(sqlparser::ast::BinaryOperator::And, all);
    true
}

fn place_index(expr: &Expr) -> Option<usize> {
    let Expr::Identifier(ident) = expr else { return None };
    ident.value.strip_prefix(PLACE)?.parse().ok()
}

/// Whether GROUP BY `key` is the item at `index` (written out, by its alias, or by position).
fn is_key_of(key: &Expr, item: &Expr, written: &sqlparser::ast::SelectItem, index: usize) -> bool {
    if key.to_string() == item.to_string() {
        return true;
    }
    match (key, written) {
        (Expr::Identifier(name), sqlparser::ast::SelectItem::ExprWithAlias { alias, .. }) => name.value.eq_ignore_ascii_case(&alias.value),
        _ => integer_literal(key) == Some(index as i64 + 1),
    }
}

/// Whether `expr` is a value of its row alone, the same wherever it is
/// computed: no subquery (which a filter would then correlate), nothing volatile.
fn computed_once(expr: &Expr) -> bool {
    let no_subquery = visit_expressions(expr, |e| if opens_subquery(e) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }).is_continue();
    no_subquery && !crate::sql::volatile::is_volatile(expr)
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;

    #[test]
    fn a_filter_on_group_keys_and_constants_reaches_each_branch() {
        let sql = "WITH y AS (SELECT c, d_year AS dyear, sum(x) AS total, 's' AS kind FROM s GROUP BY c, d_year \
                   UNION ALL SELECT c, d_year, sum(x), 'w' FROM w GROUP BY c, d_year) \
                   SELECT a.c FROM y a, y b WHERE a.c = b.c AND a.dyear = 2001 AND a.kind = 's' AND a.total > 0 AND b.kind = 'w'";
        assert_eq!(
            rewritten_by(sql, super::copied_into_references),
            "WITH y AS (SELECT c, d_year AS dyear, sum(x) AS total, 's' AS kind FROM s GROUP BY c, d_year \
             UNION ALL SELECT c, d_year, sum(x), 'w' FROM w GROUP BY c, d_year) \
             SELECT a.c FROM (SELECT c, d_year AS dyear, sum(x) AS total, 's' AS kind FROM s WHERE (d_year) = 2001 AND ('s') = 's' GROUP BY c, d_year \
             UNION ALL SELECT c, d_year, sum(x), 'w' FROM w WHERE (d_year) = 2001 AND ('w') = 's' GROUP BY c, d_year) AS a, \
             (SELECT c, d_year AS dyear, sum(x) AS total, 's' AS kind FROM s WHERE ('s') = 'w' GROUP BY c, d_year \
             UNION ALL SELECT c, d_year, sum(x), 'w' FROM w WHERE ('w') = 'w' GROUP BY c, d_year) AS b \
             WHERE a.c = b.c AND a.dyear = 2001 AND a.kind = 's' AND a.total > 0 AND b.kind = 'w'"
        );
    }

    #[test]
    fn aggregates_windows_limits_and_outer_joins_keep_their_rows() {
        for sql in [
            // An aggregate of a group's rows, a one-row aggregate, a window, a LIMIT.
            "WITH y AS (SELECT c, sum(x) AS total FROM s GROUP BY c) SELECT c FROM y WHERE total > 3",
            "WITH y AS (SELECT count(*) AS n FROM s) SELECT n FROM y WHERE n > 3",
            "WITH y AS (SELECT c, rank() OVER (ORDER BY x) AS r FROM s) SELECT c FROM y WHERE c = 1",
            "WITH y AS (SELECT c FROM s LIMIT 3) SELECT c FROM y WHERE c = 1",
            "WITH y AS (SELECT c FROM s GROUP BY ROLLUP (c)) SELECT c FROM y WHERE c = 1",
            "WITH y AS (SELECT c FROM s) SELECT y.c FROM t LEFT JOIN y ON t.c = y.c WHERE y.c IS NULL",
            "WITH y AS (SELECT c FROM s) SELECT y.c FROM y, t WHERE y.c = t.c",
            "WITH y AS (SELECT (SELECT max(c) FROM t WHERE t.c = s.c) AS m, random() AS r FROM s) SELECT m FROM y WHERE m > 1 AND r < 0.5",
        ] {
            assert_eq!(rewritten_by(sql, super::copied_into_references), sql);
        }
    }

    #[test]
    fn an_ungrouped_branch_takes_filters_on_its_constants_only() {
        assert_eq!(
            rewritten_by("WITH y AS (SELECT c + 1 AS k, 'a' AS kind FROM s) SELECT k FROM y AS z WHERE k > 3 AND kind = 'b'", super::copied_into_references),
            "WITH y AS (SELECT c + 1 AS k, 'a' AS kind FROM s) SELECT k FROM (SELECT c + 1 AS k, 'a' AS kind FROM s WHERE ('a') = 'b') AS z WHERE k > 3 AND kind = 'b'"
        );
        // Under the CTE's own name, through an ungrouped branch's item (which
        // Polars pushes itself), or through a function of a union's column
        // (its branches' types may differ), the filter stays where it was.
        for sql in [
            "WITH y AS (SELECT c + 1 AS k FROM s) SELECT k FROM y AS z WHERE k > 3",
            "WITH y AS (SELECT c + 1 AS k FROM s GROUP BY c + 1) SELECT k FROM y WHERE k > 3",
            "WITH y AS (SELECT c AS k FROM s UNION ALL SELECT d FROM t) SELECT k FROM y AS z WHERE CAST(z.k AS TEXT) LIKE '%.0'",
            "WITH y AS (SELECT c AS k FROM s GROUP BY c UNION ALL SELECT d FROM t GROUP BY d) SELECT k FROM y AS z WHERE z.k = abs(-1)",
        ] {
            assert_eq!(rewritten_by(sql, super::copied_into_references), sql);
        }
    }
}
