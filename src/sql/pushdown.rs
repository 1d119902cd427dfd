//! Filters a scan can use to skip data: the WHERE conjuncts of a single-table
//! SELECT that compare one column with literals. They only prune (the Iceberg
//! scan skips manifests and files that cannot match); Polars still applies the
//! whole WHERE clause, so leaving a conjunct out is always safe.

use std::collections::HashMap;

use sqlparser::ast::{BinaryOperator, Expr, SetExpr, Statement, TableFactor, UnaryOperator, Value};

use super::RelationName;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(String),
    Text(String),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare { column: String, op: Comparison, value: Literal },
    In { column: String, values: Vec<Literal> },
    IsNull { column: String, negated: bool },
    StartsWith { column: String, prefix: String },
}

fn literal(expr: &Expr) -> Option<Literal> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(Literal::Number(n.clone())),
            Value::SingleQuotedString(s) => Some(Literal::Text(s.clone())),
            Value::Boolean(b) => Some(Literal::Bool(*b)),
            _ => None,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match literal(expr)? {
            Literal::Number(n) => Some(Literal::Number(format!("-{n}"))),
            _ => None,
        },
        Expr::Nested(inner) => literal(inner),
        Expr::TypedString(typed) => match &typed.value.value {
            Value::SingleQuotedString(s) => Some(Literal::Text(s.clone())),
            _ => None,
        },
        _ => None,
    }
}

fn flipped(op: Comparison) -> Comparison {
    match op {
        Comparison::Lt => Comparison::Gt,
        Comparison::LtEq => Comparison::GtEq,
        Comparison::Gt => Comparison::Lt,
        Comparison::GtEq => Comparison::LtEq,
        same => same,
    }
}

/// Collects the conjuncts of `expr` that `column_of` can name, into `out`.
fn conjuncts(expr: &Expr, column_of: &dyn Fn(&Expr) -> Option<String>, out: &mut Vec<Filter>) {
    let comparison = |op: &BinaryOperator| match op {
        BinaryOperator::Eq => Some(Comparison::Eq),
        BinaryOperator::NotEq => Some(Comparison::NotEq),
        BinaryOperator::Lt => Some(Comparison::Lt),
        BinaryOperator::LtEq => Some(Comparison::LtEq),
        BinaryOperator::Gt => Some(Comparison::Gt),
        BinaryOperator::GtEq => Some(Comparison::GtEq),
        _ => None,
    };
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            conjuncts(left, column_of, out);
            conjuncts(right, column_of, out);
        }
        Expr::Nested(inner) => conjuncts(inner, column_of, out),
        Expr::BinaryOp { left, op, right } => {
            let Some(op) = comparison(op) else { return };
            if let (Some(column), Some(value)) = (column_of(left), literal(right)) {
                out.push(Filter::Compare { column, op, value });
            } else if let (Some(value), Some(column)) = (literal(left), column_of(right)) {
                out.push(Filter::Compare { column, op: flipped(op), value });
            }
        }
        Expr::Between { expr, negated: false, low, high } => {
            if let (Some(column), Some(low), Some(high)) = (column_of(expr), literal(low), literal(high)) {
                out.push(Filter::Compare { column: column.clone(), op: Comparison::GtEq, value: low });
                out.push(Filter::Compare { column, op: Comparison::LtEq, value: high });
            }
        }
        Expr::InList { expr, list, negated: false } => {
            let values: Option<Vec<_>> = list.iter().map(literal).collect();
            if let (Some(column), Some(values)) = (column_of(expr), values) {
                out.push(Filter::In { column, values });
            }
        }
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
            if let Some(column) = column_of(inner) {
                out.push(Filter::IsNull { column, negated: matches!(expr, Expr::IsNotNull(_)) });
            }
        }
        Expr::Like { negated: false, expr, pattern, escape_char: None, any: false } => {
            if let (Some(column), Some(Literal::Text(pattern))) = (column_of(expr), literal(pattern)) {
                let prefix = pattern.strip_suffix('%').unwrap_or_default();
                if !prefix.is_empty() && !prefix.contains(['%', '_', '\\']) {
                    out.push(Filter::StartsWith { column, prefix: prefix.to_string() });
                }
            }
        }
        _ => {}
    }
}

/// A relation's name as written, quotes aside.
fn parts(name: &sqlparser::ast::ObjectName) -> Option<RelationName> {
    name.0.iter().map(|part| part.as_ident().map(|ident| ident.value.clone())).collect()
}

/// How many times `statement` names `written` as a relation, quoted or not, in any case.
fn names_of(statement: &Statement, written: &RelationName) -> usize {
    let same = |other: RelationName| other.len() == written.len() && other.iter().zip(written).all(|(a, b)| a.eq_ignore_ascii_case(b));
    let mut count = 0;
    let _ = crate::sql::visit::visit_relations(statement, |relation| {
        count += usize::from(parts(relation).is_some_and(same));
        std::ops::ControlFlow::<()>::Continue(())
    });
    count
}

/// Pushable filters per relation (by its written name).
pub(super) fn scan_filters(statement: &Statement) -> HashMap<RelationName, Vec<Filter>> {
    let mut filters = HashMap::new();
    let Statement::Query(query) = statement else { return filters };
    let SetExpr::Select(select) = query.body.as_ref() else { return filters };
    let ([from], Some(selection)) = (select.from.as_slice(), &select.selection) else { return filters };
    let TableFactor::Table { name, alias, args: None, .. } = &from.relation else { return filters };
    if !from.joins.is_empty() {
        return filters;
    }
    let Some(written) = parts(name) else { return filters };
    // A subquery reading the relation again reads the same one scan: what
    // this WHERE prunes it would never see.
    if names_of(statement, &written) > 1 {
        return filters;
    }
    let qualifier = alias.as_ref().map(|a| a.name.value.clone()).or_else(|| written.last().cloned());
    let column_of = |expr: &Expr| match expr {
        Expr::Identifier(ident) => Some(ident.value.clone()),
        Expr::CompoundIdentifier(parts) if parts.len() == 2 && Some(&parts[0].value) == qualifier.as_ref() => {
            Some(parts[1].value.clone())
        }
        _ => None,
    };
    let mut found = Vec::new();
    conjuncts(selection, &column_of, &mut found);
    if !found.is_empty() {
        filters.insert(written, found);
    }
    filters
}
