//! An uncorrelated scalar subquery compared with a value (`d_month_seq =
//! (SELECT DISTINCT d_month_seq FROM date_dim WHERE …)`) replaced by the
//! value it has, read where the query will run (`Probe::value`). The
//! subquery pass would make it a one-row relation joined to every row,
//! compared only after every join: TPC-DS 6 joined all 2.9 million
//! `store_sales` rows to five relations before keeping one month's. As a
//! literal it is a filter Polars pushes into the month's dimension, which
//! the key ranges then carry to the fact table.
//!
//! Only as an operand of a comparison or BETWEEN (or of arithmetic inside
//! one), where the literal's type cannot change a column's; only a
//! subquery that reads nothing of the query around it and nothing
//! volatile, read with the CTEs of the statement it reads taken along. A
//! subquery of other than one row keeps its plan (and its error, or its NULL).
//!
//! So, likewise, `x [NOT] IN (subquery)` of a few values, none NULL, is `x
//! [NOT] IN (v1, v2, …)`: TPC-DS 58 semi-joined every sale's day to the
//! days of one week, which as seven dates filter the date dimension and
//! narrow the sales' key; TPC-H 18's 57 orders of the 6 million lines' 1.5
//! million. A subquery of more values runs twice, once: that it has no list
//! is kept with the data files, like a value.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, Cte, DataType, Expr, Query, Statement, Value};

use super::resolver::{visit_query, Resolver};
use super::scope::{cte_names, is_comparison, is_integer_type, parse_expr, replace_outside_subqueries, selects_mut, unnested};
use super::ColumnKind::{self, Date, Integer, Text};
use super::{Columns, Probe, SUBQUERY_NOTE};
use crate::sql::visit::VisitorMut;

pub(super) fn known(statement: &mut Statement, columns: &Columns, probe: &mut dyn Probe) {
    let names = cte_names(statement);
    let top = match statement {
        Statement::Query(query) => query.with.as_ref().filter(|with| !with.recursive).map(|with| with.cte_tables.clone()).unwrap_or_default(),
        _ => Vec::new(),
    };
    let ctes = Ctes { names, top };
    visit_query(statement, columns, |resolver| Values { resolver, ctes, probe, depth: 0, bodies_seen: 0, visible: usize::MAX });
}

/// The statement's CTEs: every name defined anywhere, and the definitions
/// of its own WITH (not a recursive one), which a subquery reading them
/// takes along to be read on its own.
struct Ctes {
    names: HashSet<String>,
    top: Vec<Cte>,
}

struct Values<'a, 'p> {
    resolver: Resolver<'a>,
    ctes: Ctes,
    probe: &'p mut dyn Probe,
    /// Queries entered: the statement's is 1; its CTEs' bodies, the first
    /// queries entered at 2, are walked before anything else of it.
    depth: usize,
    bodies_seen: usize,
    /// How many of the statement's CTEs the query walked sees: inside the
    /// body of one, those defined before it (a later one is no CTE there).
    visible: usize,
}

impl VisitorMut for Values<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp { left, op, right } if is_comparison(op) => {
                self.operand(left);
                self.operand(right);
            }
            Expr::Between { expr, low, high, .. } => {
                self.operand(expr);
                self.operand(low);
                self.operand(high);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    /// Each SELECT's IN subqueries, where the relations of that SELECT tell
    /// the kind of the column compared, which the list's must match.
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth == 2 && self.bodies_seen < self.ctes.top.len() {
            self.visible = self.bodies_seen;
            self.bodies_seen += 1;
        }
        let Self { resolver, ctes, probe, visible, .. } = self;
        let visible = *visible;
        for select in selects_mut(query.body.as_mut()) {
            let relations = resolver.relations(&select.from);
            replace_outside_subqueries(select, |expr| {
                let Expr::InSubquery { expr: value, subquery, negated } = expr else { return };
                let Some(kind) = resolver.column_kind(unnested(value), &relations).filter(|kind| matches!(kind, Integer | Date | Text)) else { return };
                let Some(standalone) = standalone(resolver, ctes, visible, subquery) else { return };
                let values = probe.values(&standalone);
                let listed = values.as_deref().and_then(|values| parse_expr(&format!("0 IN ({values})")));
                if let Some(Expr::InList { list, .. }) = listed.filter(|listed| listed_kind(listed) == Some(kind)) {
                    probe.noted(format!("{SUBQUERY_NOTE}S: {} for ({subquery})", list.len()));
                    *expr = Expr::InList { expr: value.clone(), list, negated: *negated };
                }
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        if self.depth == 1 {
            self.visible = usize::MAX;
        }
        ControlFlow::Continue(())
    }
}

impl Values<'_, '_> {
    fn operand(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Nested(inner) => self.operand(inner),
            Expr::BinaryOp { left, op: BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply | BinaryOperator::Divide, right } => {
                self.operand(left);
                self.operand(right);
            }
            Expr::Subquery(subquery) => {
                let Some(standalone) = standalone(&self.resolver, &self.ctes, self.visible, subquery) else { return };
                let value = self.probe.value(&standalone);
                if let Some(literal) = value.as_deref().and_then(parse_expr) {
                    self.probe.noted(format!("{SUBQUERY_NOTE}: {} for ({subquery})", value.unwrap_or_default()));
                    *expr = Expr::Nested(Box::new(literal));
                }
            }
            _ => {}
        }
    }
}

/// `subquery` as a query that means the same on its own as where it stands:
/// with the CTEs of the statement it reads (and those they read), in their
/// order; None where it reads the query around it, calls something
/// volatile, or reads a CTE defined elsewhere than the statement's WITH or
/// not among the first `visible` (each CTE sees those before it).
fn standalone(resolver: &Resolver, ctes: &Ctes, visible: usize, subquery: &Query) -> Option<String> {
    let statement = Statement::Query(Box::new(subquery.clone()));
    if crate::sql::volatile::is_volatile(&statement) || !resolver.self_contained(subquery) {
        return None;
    }
    // Each CTE needed, with how many of the statement's its reader sees.
    let mut needed: Vec<(String, usize)> = cte_reads(&statement, &ctes.names).into_iter().map(|name| (name, visible)).collect();
    if needed.is_empty() {
        return Some(subquery.to_string());
    }
    if subquery.with.is_some() {
        return None;
    }
    let mut next = 0;
    while let Some((name, seen)) = needed.get(next).cloned() {
        let position = ctes.top.iter().take(seen).position(|cte| cte.alias.name.value == name)?;
        let body = Statement::Query(ctes.top[position].query.clone());
        if crate::sql::volatile::is_volatile(&body) {
            return None;
        }
        for read in cte_reads(&body, &ctes.names) {
            if !needed.iter().any(|(known, _)| *known == read) {
                needed.push((read, position));
            }
        }
        next += 1;
    }
    let taken: Vec<String> =
        ctes.top.iter().filter(|cte| needed.iter().any(|(name, _)| *name == cte.alias.name.value)).map(ToString::to_string).collect();
    Some(format!("WITH {} {subquery}", taken.join(", ")))
}

/// The CTEs (by `names`) `statement` reads without defining them.
fn cte_reads(statement: &Statement, names: &HashSet<String>) -> Vec<String> {
    super::catalog_relations(statement).into_iter().filter_map(|relation| match relation.as_slice() {
        [name] if names.contains(name) => Some(name.clone()),
        _ => None,
    }).collect()
}

/// The kind of column read-ahead values compare with as an IN list, alike
/// for every value: polars' `is_in` casts no integer to a decimal, nor a
/// decimal to another scale, as the subquery's join on sides cast alike did.
fn listed_kind(listed: &Expr) -> Option<ColumnKind> {
    let Expr::InList { list, .. } = listed else { return None };
    let kind = |item: &Expr| match item {
        Expr::Cast { data_type, .. } if is_integer_type(data_type) => Some(Integer),
        Expr::TypedString(typed) if matches!(typed.data_type, DataType::Date) => Some(Date),
        Expr::Value(value) if matches!(value.value, Value::SingleQuotedString(_)) => Some(Text),
        _ => None,
    };
    let first = kind(list.first()?)?;
    list.iter().all(|item| kind(item) == Some(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::super::scope::parse_query;
    use super::super::{ColumnKind, Columns, Probe};

    /// Answers a subquery reading `d` (any other: unknown).
    struct Known(Vec<String>);

    impl Probe for Known {
        fn value(&mut self, subquery: &str) -> Option<String> {
            self.0.push(subquery.to_string());
            subquery.contains("FROM d ").then(|| "1189".to_string())
        }
        fn values(&mut self, subquery: &str) -> Option<String> {
            subquery.contains("FROM d ").then(|| "CAST(3 AS BIGINT), CAST(5 AS BIGINT)".to_string())
        }
    }

    fn known(sql: &str) -> (String, Vec<String>) {
        let mut columns = Columns::default();
        for (name, names) in [("d", ["m", "y"]), ("s", ["k", "v"]), ("e", ["x", "t"])] {
            let kinds = [ColumnKind::Integer, if name == "s" { ColumnKind::Decimal(2) } else { ColumnKind::Integer }];
            columns.insert(vec![name.into()], names.iter().map(|n| n.to_string()).collect(), &kinds);
            columns.set_rows(vec![name.into()], 100);
        }
        let mut statement = sqlparser::ast::Statement::Query(Box::new(parse_query(sql).unwrap()));
        let mut probe = Known(Vec::new());
        super::known(&mut statement, &columns, &mut probe);
        (statement.to_string(), probe.0)
    }

    #[test]
    fn compared_subqueries_become_their_values() {
        let (sql, asked) = known("SELECT * FROM s JOIN d ON k = m WHERE m BETWEEN (SELECT max(m) FROM d WHERE y = 1) AND (SELECT max(m) FROM d WHERE y = 1) + 2");
        assert_eq!(sql, "SELECT * FROM s JOIN d ON k = m WHERE m BETWEEN (1189) AND (1189) + 2");
        assert_eq!(asked.len(), 2);
    }

    #[test]
    fn few_values_of_an_in_subquery_become_a_list() {
        let (sql, _) = known("SELECT * FROM s WHERE k IN (SELECT m FROM d WHERE y = 1) AND k NOT IN (SELECT m FROM d WHERE y = 2)");
        assert_eq!(sql, "SELECT * FROM s WHERE k IN (CAST(3 AS BIGINT), CAST(5 AS BIGINT)) AND k NOT IN (CAST(3 AS BIGINT), CAST(5 AS BIGINT))");
        // A DECIMAL compared with integers stays a membership its sides are cast alike for.
        let decimal = "SELECT * FROM s WHERE v IN (SELECT m FROM d WHERE y = 1)";
        assert_eq!(known(decimal).0, decimal);
        let correlated = "SELECT * FROM s WHERE k IN (SELECT m FROM d WHERE y = v)";
        assert_eq!(known(correlated).0, correlated);
    }

    #[test]
    fn a_subquery_reading_ctes_takes_them_along() {
        let (sql, asked) = known("WITH e2 AS (SELECT x FROM e), d AS (SELECT x AS m, x AS y FROM e2), u AS (SELECT 1 AS z) \
                                  SELECT * FROM s WHERE k = (SELECT max(m) FROM d WHERE y = 1)");
        assert!(sql.ends_with("WHERE k = (1189)"), "{sql}");
        assert_eq!(asked, ["WITH e2 AS (SELECT x FROM e), d AS (SELECT x AS m, x AS y FROM e2) SELECT max(m) FROM d WHERE y = 1"]);
        // Inside a CTE's body only the CTEs before it are CTEs.
        let forward = "WITH a AS (SELECT k FROM s WHERE k = (SELECT max(m) FROM d WHERE m > 0)), d AS (SELECT x AS m FROM e) SELECT * FROM a";
        assert_eq!(known(forward).0, forward);
        let backward = "WITH d AS (SELECT x AS m FROM e), a AS (SELECT k FROM s WHERE k = (SELECT max(m) FROM d WHERE m > 0)) SELECT * FROM a";
        assert!(known(backward).0.contains("WHERE k = (1189)"), "{}", known(backward).0);
    }

    #[test]
    fn correlated_shadowed_volatile_and_uncompared_subqueries_stay() {
        for sql in [
            "SELECT * FROM s WHERE v > (SELECT max(m) FROM d WHERE y = k)",
            "SELECT * FROM s WHERE k = (SELECT max(m) FROM d WHERE y = random())",
            "SELECT (SELECT max(m) FROM d WHERE y = 1) AS top FROM s",
        ] {
            assert_eq!(known(sql).0, sql);
        }
    }
}
