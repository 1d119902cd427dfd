//! A query that aggregates without GROUP BY is one group: it answers one
//! row, whatever its input.
//!
//! - A column it reads outside its aggregates has no one value, and SQL
//!   refuses it. polars-sql answered `SELECT region, count(*) FROM t` with the
//!   count beside every row's region, as if `count(*) OVER ()` were written:
//!   as many rows as the table, where the user asked for one, instead of an
//!   error naming the mistake.
//! - `EXISTS (SELECT count(*) FROM s WHERE s.k = t.k)` is true for every row
//!   (`NOT EXISTS` false); the subquery passes read it as a semi join on the
//!   correlation and kept only the rows with a match.
//! - `x IN (SELECT count(*) FROM s WHERE s.k = t.k)` is `x = (SELECT …)`
//!   (`NOT IN`: `<>`; `op ANY`/`op ALL`: `op`): membership in one row is
//!   comparison with its value. As an IN, the correlated count was a semi
//!   join on the correlation, so a row without a match never compared with
//!   its count of 0; as a scalar subquery it does (`subquery.rs`).
//! - HAVING makes a query one group even where nothing in it aggregates:
//!   `SELECT 1 FROM t HAVING true` answers one row (over no rows too).
//!   polars-sql aggregates only where an aggregate is written, and answered
//!   a row per row of t. Where nothing aggregates, the group's rows are
//!   never read, so the SELECT is one without FROM, filtered by the HAVING.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, SelectItem, SetExpr, Statement, Value};

use super::aggregates::{holds_aggregate, opens_subquery};
use super::resolver::{factors, set_bodies};
use super::scope::{has_group_by, item_expr, lists_wildcard, relation_qualifier, replace_outside_subqueries};
use super::synonyms::bare_name;
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};
use crate::sql::{Error, Result};

/// Refuses an aggregating SELECT without GROUP BY that reads a column of its
/// own relations outside its aggregates, windows and subqueries.
pub(super) fn refuse_ungrouped_columns(statement: &Statement) -> Result<()> {
    match statement.visit(&mut Ungrouped { in_expression: 0 }) {
        ControlFlow::Break(refused) => Err(refused),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `[NOT] EXISTS` of a SELECT that aggregates without GROUP BY, HAVING,
/// QUALIFY or a limit, as the truth it always has. At planning time, once
/// its tables are found and authorized. Not in an ORDER BY, where polars-sql
/// refuses a constant key.
pub(super) fn exists_of_one_group(statement: &mut Statement) {
    crate::sql::visit::replace_outside_sort_keys(statement, |expr| match expr {
        Expr::Exists { subquery, negated } if one_group(subquery) => Some(Expr::Value(Value::Boolean(!*negated).into())),
        _ => None,
    });
}

/// `x [NOT] IN (S)`, `x op ANY (S)` and `x op ALL (S)` of a subquery S of
/// exactly one row, as the comparison `x op (S)`.
pub(super) fn memberships_of_one_group(statement: &mut Statement) {
    struct Memberships;
    impl VisitorMut for Memberships {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let (value, op, subquery) = match expr {
                Expr::InSubquery { expr: value, subquery, negated } => {
                    (value, if *negated { BinaryOperator::NotEq } else { BinaryOperator::Eq }, subquery)
                }
                Expr::AnyOp { left, compare_op, right, .. } | Expr::AllOp { left, compare_op, right } => match right.as_mut() {
                    Expr::Subquery(subquery) => (left, compare_op.clone(), subquery),
                    _ => return ControlFlow::Continue(()),
                },
                _ => return ControlFlow::Continue(()),
            };
            if one_row(subquery) {
                let right = Box::new(Expr::Subquery(subquery.clone()));
                *expr = Expr::BinaryOp { left: value.clone(), op, right };
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Memberships);
}

/// A SELECT with HAVING but no GROUP BY and no aggregate as one without
/// FROM whose WHERE is the HAVING (its own FROM and WHERE choose rows no
/// item reads: its columns are refused outside aggregates).
pub(super) fn having_of_one_group(statement: &mut Statement) {
    struct Having;
    impl VisitorMut for Having {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            // A sort key that aggregates reads the group's rows.
            if !sort_keys(query).into_iter().any(holds_aggregate) {
                without_rows(query.body.as_mut());
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Having);
}

fn without_rows(body: &mut SetExpr) {
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            without_rows(left);
            without_rows(right);
        }
        SetExpr::Select(select) if !has_group_by(select) && select.qualify.is_none() && !lists_wildcard(select) => {
            let aggregates = select.projection.iter().filter_map(item_expr).any(holds_aggregate);
            if aggregates || select.having.as_ref().is_none_or(holds_aggregate) {
                return;
            }
            let Some(mut condition) = select.having.take() else { return };
            // An item's name in HAVING is its value; a WHERE cannot read it.
            let named: Vec<(String, Expr)> = select
                .projection
                .iter()
                .filter_map(|item| if let SelectItem::ExprWithAlias { expr, alias } = item { Some((alias.value.to_ascii_lowercase(), expr.clone())) } else { None })
                .collect();
            replace_outside_subqueries(&mut condition, |expr| {
                if let Expr::Identifier(name) = expr {
                    if let Some((_, value)) = named.iter().find(|(alias, _)| *alias == name.value.to_ascii_lowercase()) {
                        *expr = Expr::Nested(Box::new(value.clone()));
                    }
                }
            });
            select.from.clear();
            // `IS TRUE`: Polars refuses a filter of a NULL literal (`HAVING NULL`).
            select.selection = Some(Expr::IsTrue(Box::new(Expr::Nested(Box::new(condition)))));
        }
        _ => {}
    }
}

/// The expressions `query`'s ORDER BY sorts by.
fn sort_keys(query: &Query) -> Vec<&Expr> {
    match &query.order_by {
        Some(sqlparser::ast::OrderBy { kind: sqlparser::ast::OrderByKind::Expressions(keys), .. }) => keys.iter().map(|key| &key.expr).collect(),
        _ => Vec::new(),
    }
}

/// Whether `query` answers exactly one row of one value.
fn one_row(query: &Query) -> bool {
    one_group(query) && matches!(query.body.as_ref(), SetExpr::Select(select) if select.projection.len() == 1)
}

/// Whether `query` answers exactly one row: a SELECT that aggregates
/// without GROUP BY, HAVING, QUALIFY or a limit.
fn one_group(query: &Query) -> bool {
    let limited = query.limit_clause.is_some() || query.fetch.is_some();
    !limited
        && matches!(query.body.as_ref(), SetExpr::Select(select)
            if select.having.is_none() && select.qualify.is_none() && select.top.is_none() && aggregates_ungrouped(select))
}

/// Whether `select` has no GROUP BY and aggregates (in its items or HAVING).
fn aggregates_ungrouped(select: &Select) -> bool {
    !has_group_by(select) && (select.having.is_some() || select.projection.iter().filter_map(item_expr).any(holds_aggregate))
}

struct Ungrouped {
    /// How deep inside expressions' subqueries, whose unqualified names may
    /// be an enclosing query's columns (one value per evaluation).
    in_expression: usize,
}

impl Visitor for Ungrouped {
    type Break = Error;

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
        self.in_expression += usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Error> {
        self.in_expression -= usize::from(opens_subquery(expr));
        ControlFlow::Continue(())
    }

    /// Each SELECT of the query's set operations; a parenthesised one is a
    /// query visited in its turn.
    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Error> {
        let selects = set_bodies(&query.body).into_iter().filter_map(|body| if let SetExpr::Select(select) = body { Some(select) } else { None });
        // A plain SELECT's ORDER BY sorts its one row by what it reads.
        let sort_keys = if matches!(query.body.as_ref(), SetExpr::Select(_)) { sort_keys(query) } else { Vec::new() };
        for select in selects {
            if let Some(column) = ungrouped_column(select, &sort_keys, self.in_expression > 0) {
                return ControlFlow::Break(Error::Invalid(format!(
                    "column {column} must appear in the GROUP BY clause or be used in an aggregate function: the query \
                     aggregates without GROUP BY, so it answers one row; add GROUP BY {column}, or aggregate it (any_value({column}))"
                )));
            }
        }
        ControlFlow::Continue(())
    }
}

/// The first column `select` reads outside its aggregates in an item, its
/// HAVING or a sort key, where it aggregates without GROUP BY; `*` stands
/// for every column.
fn ungrouped_column(select: &Select, sort_keys: &[&Expr], nested: bool) -> Option<String> {
    if !aggregates_ungrouped(select) {
        return None;
    }
    if lists_wildcard(select) {
        return Some("*".into());
    }
    let qualifiers: Vec<String> = factors(&select.from).filter_map(relation_qualifier).map(|q| q.value.to_ascii_lowercase()).collect();
    // `SELECT count(*) AS n, n + 1`: an earlier item's name is no column.
    let aliases: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| if let SelectItem::ExprWithAlias { alias, .. } = item { Some(alias.value.to_ascii_lowercase()) } else { None })
        .collect();
    let own = |expr: &Expr| match expr {
        Expr::Identifier(ident) => !nested && !aliases.contains(&ident.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(parts) => {
            let qualifier = parts.len().checked_sub(2).and_then(|at| parts.get(at));
            qualifier.is_some_and(|q| qualifiers.contains(&q.value.to_ascii_lowercase()))
        }
        _ => false,
    };
    let items = select.projection.iter().filter_map(item_expr);
    items.chain(select.having.as_ref()).chain(sort_keys.iter().copied()).find_map(|read| bare_column(read, &own))
}

/// Functions known to compute a value from their row's arguments alone: a
/// column under any other call (an aggregate the table of aggregates lacks,
/// a lambda's parameter, `date_trunc(month, …)`'s bare unit) is not taken
/// for one read outside the aggregates.
const ROW_FUNCTIONS: [&str; 36] = [
    "upper", "lower", "length", "char_length", "concat", "concat_ws", "substr", "substring", "trim", "ltrim", "rtrim",
    "btrim", "replace", "reverse", "left", "right", "lpad", "rpad", "coalesce", "ifnull", "nullif", "greatest",
    "least", "abs", "round", "ceil", "ceiling", "floor", "sqrt", "power", "ln", "exp", "sign", "mod", "strftime",
    "initcap",
];

/// Whether `expr` opens what is not read row by row at this level: an
/// aggregate, a window, a subquery, a lambda, a call not known to be a row's.
fn opens_other_level(expr: &Expr) -> bool {
    match expr {
        Expr::Function(function) => function.over.is_some() || !bare_name(function).is_some_and(|name| ROW_FUNCTIONS.contains(&name.as_str())),
        Expr::Lambda(_) => true,
        _ => opens_subquery(expr),
    }
}

/// A column `own` claims in `expr`, outside aggregates, windows and subqueries.
fn bare_column(expr: &Expr, own: &dyn Fn(&Expr) -> bool) -> Option<String> {
    struct Bare<'a> {
        own: &'a dyn Fn(&Expr) -> bool,
        inside: usize,
    }
    impl Visitor for Bare<'_> {
        type Break = String;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            self.inside += usize::from(opens_other_level(expr));
            match self.inside == 0 && (self.own)(expr) {
                true => ControlFlow::Break(expr.to_string()),
                false => ControlFlow::Continue(()),
            }
        }
        fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            self.inside -= usize::from(opens_other_level(expr));
            ControlFlow::Continue(())
        }
    }
    match expr.visit(&mut Bare { own, inside: 0 }) {
        ControlFlow::Break(column) => Some(column),
        ControlFlow::Continue(()) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;

    #[test]
    fn exists_of_one_group_is_always_true() {
        let rewritten = |sql: &str| rewritten_by(sql, super::exists_of_one_group);
        assert_eq!(
            rewritten("SELECT a FROM t WHERE EXISTS (SELECT count(*) FROM u WHERE u.k = t.k) AND NOT EXISTS (SELECT max(x) FROM u)"),
            "SELECT a FROM t WHERE true AND false"
        );
        for kept in [
            "SELECT a FROM t WHERE EXISTS (SELECT count(*) FROM u WHERE u.k = t.k GROUP BY u.j)",
            "SELECT a FROM t WHERE EXISTS (SELECT count(*) FROM u HAVING count(*) > 1)",
            "SELECT a FROM t WHERE EXISTS (SELECT count(*) FROM u LIMIT 0)",
            "SELECT a FROM t WHERE EXISTS (SELECT count(*) FROM u QUALIFY row_number() OVER () > 1)",
            "SELECT a FROM t ORDER BY EXISTS (SELECT count(*) FROM u), a",
            "SELECT a FROM t WHERE EXISTS (SELECT x FROM u WHERE u.k = t.k)",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }

    #[test]
    fn membership_in_one_row_is_comparison_with_it() {
        let rewritten = |sql: &str| rewritten_by(sql, super::memberships_of_one_group);
        assert_eq!(
            rewritten("SELECT a FROM t WHERE a IN (SELECT count(*) FROM u WHERE u.k = t.k) OR a NOT IN (SELECT max(x) FROM u) OR a > ALL (SELECT min(x) FROM u)"),
            "SELECT a FROM t WHERE a = (SELECT count(*) FROM u WHERE u.k = t.k) OR a <> (SELECT max(x) FROM u) OR a > (SELECT min(x) FROM u)"
        );
        for kept in [
            "SELECT a FROM t WHERE a IN (SELECT count(*) FROM u GROUP BY u.j)",
            "SELECT a FROM t WHERE a IN (SELECT count(*) FROM u HAVING count(*) > 1)",
            "SELECT a FROM t WHERE a NOT IN (SELECT count(*) FROM u LIMIT 0)",
            "SELECT a FROM t WHERE a IN (SELECT x FROM u WHERE u.k = t.k)",
            "SELECT a FROM t WHERE (a, b) IN (SELECT max(x), min(x) FROM u)",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }

    #[test]
    fn having_without_aggregates_reads_no_rows() {
        let rewritten = |sql: &str| rewritten_by(sql, super::having_of_one_group);
        assert_eq!(
            rewritten("SELECT 1 FROM t WHERE false HAVING true UNION ALL SELECT row_number() OVER () AS r FROM u HAVING 1 < 2"),
            "SELECT 1 WHERE (true) IS TRUE UNION ALL SELECT row_number() OVER () AS r WHERE (1 < 2) IS TRUE"
        );
        assert_eq!(rewritten("SELECT 5 AS x FROM t HAVING x > 3"), "SELECT 5 AS x WHERE ((5) > 3) IS TRUE");
        for kept in [
            "SELECT 1 FROM t HAVING count(*) > 1",
            "SELECT max(a) FROM t HAVING true",
            "SELECT 1 FROM t GROUP BY a HAVING true",
            "SELECT 1 FROM t HAVING true ORDER BY sum(a)",
        ] {
            assert_eq!(rewritten(kept), kept);
        }
    }

    fn refused(sql: &str) -> Option<String> {
        let statement = crate::sql::parse::parse_single(sql).unwrap();
        super::refuse_ungrouped_columns(&statement).err().map(|err| err.to_string())
    }

    #[test]
    fn a_column_beside_an_aggregate_without_group_by_is_refused() {
        for (sql, column) in [
            ("SELECT region, count(*) FROM t", "region"),
            ("SELECT t.region || 'x', sum(b) FROM t", "t.region"),
            ("SELECT *, count(*) FROM t", "*"),
            ("SELECT a FROM t HAVING count(*) > 1", "a"),
            ("SELECT x FROM u WHERE x IN (SELECT s.v + max(s.w) FROM s)", "s.v"),
            ("SELECT 1 FROM t UNION ALL SELECT a + count(*) FROM t", "a"),
            ("SELECT upper(coalesce(t.s, 'x')), count_if(b > 1) FROM t", "t.s"),
            ("SELECT count(*) AS n FROM t HAVING max(b) > 1 AND t.a > 1", "t.a"),
            ("SELECT 1 FROM t HAVING a > 3", "a"),
            ("SELECT count(*) AS n FROM t ORDER BY a", "a"),
        ] {
            let err = refused(sql).unwrap_or_else(|| panic!("{sql} was not refused"));
            assert!(err.contains(&format!("column {column} must appear in the GROUP BY clause")), "{sql}: {err}");
        }
    }

    #[test]
    fn aggregates_constants_windows_and_outer_columns_are_not() {
        for sql in [
            "SELECT count(*), 1, 'x', sum(a) + 2 FROM t",
            "SELECT region, count(*) FROM t GROUP BY region",
            "SELECT region, count(*) OVER () FROM t",
            "SELECT count(*) AS n, n + 1 FROM t",
            "SELECT current_date, now(), count(*) FROM t",
            "SELECT count(*) FILTER (WHERE a > 1), max(b) FROM t",
            // An outer query's column is one value in each evaluation.
            "SELECT a FROM t WHERE b > (SELECT avg(c) + a FROM u)",
            "SELECT a FROM t WHERE b > (SELECT avg(u.c) + t.a FROM u)",
            "SELECT (SELECT max(x) FROM u) AS m, a FROM t",
            "SELECT region FROM t GROUP BY ALL",
            "SELECT count(*) FROM t GROUP BY ROLLUP (a)",
            // Aggregates by other names, quoted, or not in the table of aggregates; a lambda's parameter.
            "SELECT count(*), count_if(a > 1), any_value(b), \"sum\"(c), kurtosis(d), bit_and(e) FROM t",
            "SELECT list_filter(array_agg(b), x -> x > 5) FROM t",
            // An alias in HAVING and ORDER BY; a position; a set operation's ORDER BY names outputs.
            "SELECT count(*) AS n FROM t HAVING n > 1 ORDER BY n, 1",
            "SELECT count(*) AS n FROM t UNION ALL SELECT count(*) FROM u ORDER BY n",
        ] {
            assert_eq!(refused(sql), None, "{sql}");
        }
    }
}
