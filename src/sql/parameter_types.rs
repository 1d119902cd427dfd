//! Where each placeholder of a prepared statement takes its type from, so
//! the parameter schema can tell clients what to bind. The JDBC driver binds
//! by that schema's types (a NULL-typed parameter takes no value at all).
//!
//! A placeholder compared with, assigned to, inserted into or cast to
//! something gets that thing's type: each becomes a small probe query that
//! the planner types (`SELECT <other side> FROM <the same FROM>`). Anything
//! else stays unknown.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{AssignmentTarget, BinaryOperator, Expr, FromTable, LimitClause, Query, Select, SelectItem, SetExpr, Statement, TableObject, TableWithJoins, Value};
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

use super::{parse, Result};

/// A query whose column `column` has the placeholder's type.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub sql: String,
    pub column: usize,
}

impl Probe {
    fn of_type(sql_type: &str) -> Self {
        Self { sql: format!("SELECT CAST(NULL AS {sql_type}) AS p"), column: 0 }
    }
}

/// One entry per parameter, in binding order.
pub fn parameter_probes(sql: &str) -> Result<Vec<Option<Probe>>> {
    let mut statement = parse::parse_single(sql)?;
    let count = number_placeholders(&mut statement);
    let mut probes = Probes(vec![None; count]);
    if count == 0 {
        return Ok(probes.0);
    }
    match &statement {
        Statement::Insert(insert) => probes.insert(insert),
        Statement::Update(update) => {
            let table = update.table.to_string();
            for assignment in &update.assignments {
                if let (AssignmentTarget::ColumnName(column), Some(k)) = (&assignment.target, index_of(&assignment.value)) {
                    probes.claim(k, Probe { sql: format!("SELECT {column} FROM {table}"), column: 0 });
                }
            }
            if let Some(selection) = &update.selection {
                probes.scope(selection, &Scope { with: "", from: &format!(" FROM {table}") });
            }
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            if let Some(selection) = &delete.selection {
                probes.scope(selection, &Scope { with: "", from: &from_clause(from) });
            }
        }
        _ => {}
    }
    // Inner queries first: a subquery's comparisons belong to its own FROM.
    for (query, around) in queries(&statement).iter().rev() {
        probes.query(query, around);
    }
    Ok(probes.0)
}

/// Rewrites `?` to `$1`, `$2`, … in the order parameters bind (the
/// traversal `rewrite::bind_params` uses); returns the parameter count.
fn number_placeholders(statement: &mut Statement) -> usize {
    struct Number {
        next: usize,
        highest: usize,
    }
    impl VisitorMut for Number {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(value) = expr {
                if let Value::Placeholder(text) = &mut value.value {
                    if text == "?" {
                        self.next += 1;
                        *text = format!("${}", self.next);
                    }
                    let n = text.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
                    self.highest = self.highest.max(n);
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut number = Number { next: 0, highest: 0 };
    let _ = statement.visit(&mut number);
    number.highest
}

/// The 0-based parameter a bare placeholder stands for.
fn index_of(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Nested(inner) => index_of(inner),
        Expr::Value(value) => match &value.value {
            Value::Placeholder(text) => text.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1),
            _ => None,
        },
        _ => None,
    }
}

fn has_placeholder<T: Visit>(node: &T) -> bool {
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_value(&mut self, value: &sqlparser::ast::ValueWithSpan) -> ControlFlow<()> {
            match value.value {
                Value::Placeholder(_) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    Visit::visit(node, &mut Find).is_break()
}

/// `node` with every placeholder replaced by NULL, for probes that plan without parameters.
fn without_placeholders<T: VisitMut + Clone>(node: &T) -> T {
    struct Null;
    impl VisitorMut for Null {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if matches!(expr, Expr::Value(value) if matches!(value.value, Value::Placeholder(_))) {
                *expr = Expr::Value(Value::Null.with_empty_span());
            }
            ControlFlow::Continue(())
        }
    }
    let mut copy = node.clone();
    let _ = VisitMut::visit(&mut copy, &mut Null);
    copy
}

fn from_clause(from: &[TableWithJoins]) -> String {
    if from.is_empty() {
        return String::new();
    }
    let tables: Vec<String> = from.iter().map(|table| without_placeholders(table).to_string()).collect();
    format!(" FROM {}", tables.join(", "))
}

/// Every query in the statement, outer before inner.
/// Each query, with the WITH of the nearest query around it that has one:
/// the CTEs a CTE's own query (a recursive one's too) or a subquery may read.
fn queries(statement: &Statement) -> Vec<(Query, String)> {
    struct Collect {
        found: Vec<(Query, String)>,
        withs: Vec<String>,
    }
    impl Visitor for Collect {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            let outer = self.withs.last().cloned().unwrap_or_default();
            let own = query.with.as_ref().map(|with| format!("{} ", without_placeholders(with)));
            self.found.push((query.clone(), outer.clone()));
            self.withs.push(own.unwrap_or(outer));
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.withs.pop();
            ControlFlow::Continue(())
        }
    }
    let mut collect = Collect { found: Vec::new(), withs: Vec::new() };
    let _ = statement.visit(&mut collect);
    collect.found
}

struct Probes(Vec<Option<Probe>>);

/// Where a placeholder's other side is evaluated: the CTEs and FROM around it.
struct Scope<'a> {
    with: &'a str,
    from: &'a str,
}

impl Probes {
    fn claim(&mut self, index: usize, probe: Probe) {
        if let Some(slot @ None) = self.0.get_mut(index) {
            *slot = Some(probe);
        }
    }

    fn query(&mut self, query: &Query, around: &str) {
        if let Some(LimitClause::LimitOffset { limit, offset, .. }) = &query.limit_clause {
            for expr in limit.iter().chain(offset.as_ref().map(|offset| &offset.value)) {
                if let Some(k) = index_of(expr) {
                    self.claim(k, Probe::of_type("BIGINT"));
                }
            }
        }
        // Probes keep the query's CTEs, or those around it, which its FROM may name.
        let with = query.with.as_ref().map(|with| format!("{} ", without_placeholders(with))).unwrap_or_else(|| around.to_string());
        self.set_expr(&query.body, &with);
    }

    fn set_expr(&mut self, body: &SetExpr, with: &str) {
        match body {
            SetExpr::Select(select) => self.select(select, with),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, with);
                self.set_expr(right, with);
            }
            _ => {}
        }
    }

    fn select(&mut self, select: &Select, with: &str) {
        let from_text = from_clause(&select.from);
        let from = Scope { with, from: &from_text };
        let mut exprs: Vec<&Expr> = select.selection.iter().chain(select.having.iter()).collect();
        exprs.extend(select.projection.iter().filter_map(|item| match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Some(expr),
            _ => None,
        }));
        for expr in exprs {
            self.scope(expr, &from);
        }
        for table in &select.from {
            for join in &table.joins {
                self.scope(&join.join_operator, &from);
            }
        }
    }

    /// Claims the placeholders in `node` whose context types them, with
    /// columns resolved against `scope`; nested queries are left to their own pass.
    fn scope<T: Visit>(&mut self, node: &T, scope: &Scope) {
        let like = |probes: &mut Probes, placeholder: &Expr, other: &Expr| {
            if let Some(k) = index_of(placeholder) {
                if !has_placeholder(other) {
                    let sql = format!("{}SELECT {} AS p{}", scope.with, without_placeholders(other), scope.from);
                    probes.claim(k, Probe { sql, column: 0 });
                }
            }
        };
        let _ = super::rewrite::visit_outside_subqueries(node, |expr| {
            match expr {
                Expr::BinaryOp { left, op, right } if typed_by_other_side(op) => {
                    like(self, right, left);
                    like(self, left, right);
                }
                Expr::InList { expr, list, .. } => list.iter().for_each(|item| like(self, item, expr)),
                Expr::Between { expr, low, high, .. } => {
                    like(self, low, expr);
                    like(self, high, expr);
                }
                Expr::Like { pattern, .. } | Expr::ILike { pattern, .. } => {
                    if let Some(k) = index_of(pattern) {
                        self.claim(k, Probe::of_type("VARCHAR"));
                    }
                }
                Expr::Cast { expr, data_type, .. } => {
                    if let Some(k) = index_of(expr) {
                        self.claim(k, Probe::of_type(&data_type.to_string()));
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        });
    }

    /// `INSERT INTO t [(columns)] VALUES (…)` or `… SELECT …`: each value
    /// takes its target column's type.
    fn insert(&mut self, insert: &sqlparser::ast::Insert) {
        let TableObject::TableName(table) = &insert.table else { return };
        let target = |position: usize| -> Probe {
            match insert.columns.get(position) {
                Some(column) => Probe { sql: format!("SELECT {column} FROM {table}"), column: 0 },
                None => Probe { sql: format!("SELECT * FROM {table}"), column: position },
            }
        };
        let Some(source) = &insert.source else { return };
        let rows: Vec<Vec<&Expr>> = match source.body.as_ref() {
            SetExpr::Values(values) => values.rows.iter().map(|row| row.content.iter().collect()).collect(),
            SetExpr::Select(select) => vec![select
                .projection
                .iter()
                .filter_map(|item| match item {
                    SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Some(expr),
                    _ => None,
                })
                .collect()],
            _ => Vec::new(),
        };
        let mut seen = HashSet::new();
        for row in rows {
            for (position, value) in row.into_iter().enumerate() {
                if let Some(k) = index_of(value).filter(|k| seen.insert(*k)) {
                    self.claim(k, target(position));
                }
            }
        }
    }
}

fn typed_by_other_side(op: &BinaryOperator) -> bool {
    use BinaryOperator::*;
    matches!(op, Eq | NotEq | Lt | LtEq | Gt | GtEq | Spaceship | Plus | Minus | Multiply | Divide | Modulo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probes(sql: &str) -> Vec<Option<(String, usize)>> {
        parameter_probes(sql).unwrap().into_iter().map(|p| p.map(|p| (p.sql, p.column))).collect()
    }

    fn probe(sql: &str, column: usize) -> Option<(String, usize)> {
        Some((sql.to_string(), column))
    }

    #[test]
    fn comparisons_take_the_other_side_in_the_same_from() {
        assert_eq!(
            probes("SELECT a FROM ns.t AS x JOIN ns.u ON x.k = u.k WHERE x.price > ? AND ? = u.name AND x.n IN (?, 3)"),
            vec![
                probe("SELECT x.price AS p FROM ns.t AS x JOIN ns.u ON x.k = u.k", 0),
                probe("SELECT u.name AS p FROM ns.t AS x JOIN ns.u ON x.k = u.k", 0),
                probe("SELECT x.n AS p FROM ns.t AS x JOIN ns.u ON x.k = u.k", 0),
            ]
        );
    }

    #[test]
    fn subqueries_use_their_own_from_and_limits_are_integers() {
        assert_eq!(
            probes("SELECT * FROM t WHERE k IN (SELECT k FROM u WHERE u.v BETWEEN ? AND $2) AND name LIKE $3 LIMIT $4"),
            vec![
                probe("SELECT u.v AS p FROM u", 0),
                probe("SELECT u.v AS p FROM u", 0),
                probe("SELECT CAST(NULL AS VARCHAR) AS p", 0),
                probe("SELECT CAST(NULL AS BIGINT) AS p", 0),
            ]
        );
    }

    #[test]
    fn writes_take_their_target_columns() {
        assert_eq!(
            probes("INSERT INTO ns.t (b, a) VALUES (?, ?)"),
            vec![probe("SELECT b FROM ns.t", 0), probe("SELECT a FROM ns.t", 0)]
        );
        assert_eq!(probes("INSERT INTO ns.t VALUES (1, ?)"), vec![probe("SELECT * FROM ns.t", 1)]);
        assert_eq!(
            probes("UPDATE ns.t SET v = ? WHERE k = ?"),
            vec![probe("SELECT v FROM ns.t", 0), probe("SELECT k AS p FROM ns.t", 0)]
        );
        assert_eq!(probes("DELETE FROM ns.t WHERE k < ?"), vec![probe("SELECT k AS p FROM ns.t", 0)]);
    }

    #[test]
    fn subqueries_of_writes_and_ctes_keep_their_scope() {
        assert_eq!(
            probes("DELETE FROM t WHERE k IN (SELECT k FROM u WHERE v = ?) AND w > ?"),
            vec![probe("SELECT v AS p FROM u", 0), probe("SELECT w AS p FROM t", 0)]
        );
        assert_eq!(
            probes("WITH c AS (SELECT x FROM t) SELECT * FROM c WHERE c.x = ?"),
            vec![probe("WITH c AS (SELECT x FROM t) SELECT c.x AS p FROM c", 0)]
        );
        // A CTE's own query reads the CTEs around it: a recursive one, itself.
        assert_eq!(
            probes("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < ?) SELECT n FROM r"),
            vec![probe("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < NULL) SELECT n AS p FROM r", 0)]
        );
    }

    #[test]
    fn placeholders_without_a_typed_context_stay_unknown() {
        assert_eq!(probes("SELECT ? AS x, CAST(? AS DATE) AS d"), vec![None, probe("SELECT CAST(NULL AS DATE) AS p", 0)]);
        assert_eq!(probes("SELECT 1"), vec![]);
    }
}
