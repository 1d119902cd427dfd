use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, ObjectName, ObjectNamePart, Statement, TableAlias, TableFactor, Value};
use crate::sql::visit::{VisitMut, Visit, Visitor, VisitorMut};

use crate::sql::parse::parse_literal;
use crate::sql::{Error, Result};

/// A relation name as written in the query, one entry per dotted part.
pub type RelationName = Vec<String>;

fn parts_of(name: &ObjectName) -> Option<RelationName> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Some(ident.value.clone()),
            ObjectNamePart::Function(_) => None,
        })
        .collect()
}

/// `information_schema.<view>` or `<catalog>.information_schema.<view>`
/// (the catalogs described as tables), or `system.<view>` (what the server
/// runs): tables no catalog holds.
pub fn is_catalog_view(relation: &[String]) -> bool {
    let information_schema = matches!(relation.len(), 2 | 3) && relation[relation.len() - 2].eq_ignore_ascii_case("information_schema");
    information_schema || (relation.len() == 2 && relation[0].eq_ignore_ascii_case("system"))
}

/// The `information_schema` views a statement reads, in first-use order.
pub fn catalog_views(statement: &Statement) -> Vec<RelationName> {
    all_relations(statement).into_iter().filter(|relation| is_catalog_view(relation)).collect()
}

pub fn catalog_relations(statement: &Statement) -> Vec<RelationName> {
    all_relations(statement).into_iter().filter(|relation| !is_catalog_view(relation)).collect()
}

fn all_relations(statement: &Statement) -> Vec<RelationName> {
    relations_named(statement, &super::scope::cte_names(statement), false)
}

/// The relations `statement` names (not its CTEs), each once, in first-use
/// order; with `unaliased_only`, those named without an alias alone.
fn relations_named(statement: &Statement, ctes: &HashSet<String>, unaliased_only: bool) -> Vec<RelationName> {
    struct Relations<'a> {
        ctes: &'a HashSet<String>,
        unaliased_only: bool,
        found: Vec<RelationName>,
    }
    impl Visitor for Relations<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, alias, args: None, .. } = factor {
                if let Some(parts) = parts_of(name).filter(|_| alias.is_none() || !self.unaliased_only) {
                    let is_cte = parts.len() == 1 && self.ctes.contains(&parts[0]);
                    if !is_cte && !self.found.contains(&parts) {
                        self.found.push(parts);
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut relations = Relations { ctes, unaliased_only, found: Vec::new() };
    let _ = statement.visit(&mut relations);
    relations.found
}

/// polars-sql's table functions (`read_csv`, `read_parquet`, …) read files on
/// the server, and no table-valued function has a place in a lake query.
pub(super) fn refuse_table_functions(statement: &Statement) -> Result<()> {
    struct Refuse;
    impl Visitor for Refuse {
        type Break = String;
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
            match factor {
                TableFactor::Table { name, args: Some(_), .. } => ControlFlow::Break(name.to_string()),
                TableFactor::Function { name, .. } => ControlFlow::Break(name.to_string()),
                TableFactor::TableFunction { expr, .. } => ControlFlow::Break(expr.to_string()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    match statement.visit(&mut Refuse) {
        ControlFlow::Break(function) => Err(Error::Forbidden(format!(
            "table function `{function}` is not allowed: queries read catalog tables only"
        ))),
        ControlFlow::Continue(()) => Ok(()),
    }
}

enum Placeholders {
    Positional(usize),
    Numbered(usize),
}

fn placeholder_kinds(statement: &Statement) -> Result<Placeholders> {
    struct Count {
        positional: usize,
        highest_numbered: usize,
        bad: Option<String>,
    }
    impl Visitor for Count {
        type Break = ();
        fn pre_visit_value(&mut self, value: &sqlparser::ast::ValueWithSpan) -> ControlFlow<()> {
            if let Value::Placeholder(text) = &value.value {
                match text.strip_prefix('$').map(str::parse::<usize>) {
                    None if text == "?" => self.positional += 1,
                    Some(Ok(n)) if n >= 1 => self.highest_numbered = self.highest_numbered.max(n),
                    _ => self.bad = Some(text.clone()),
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut count = Count { positional: 0, highest_numbered: 0, bad: None };
    let _ = statement.visit(&mut count);
    if let Some(bad) = count.bad {
        return Err(Error::Params(format!("unsupported placeholder `{bad}`: use `?` or `$1`, `$2`, …")));
    }
    match (count.positional, count.highest_numbered) {
        (p, 0) => Ok(Placeholders::Positional(p)),
        (0, n) => Ok(Placeholders::Numbered(n)),
        _ => Err(Error::Params("cannot mix `?` and `$n` placeholders in one statement".into())),
    }
}

pub fn placeholder_count(statement: &Statement) -> Result<usize> {
    Ok(match placeholder_kinds(statement)? {
        Placeholders::Positional(n) | Placeholders::Numbered(n) => n,
    })
}

pub(crate) fn bind_params(statement: &mut Statement, params: &[String]) -> Result<()> {
    let expected = placeholder_count(statement)?;
    if expected != params.len() {
        return Err(Error::Params(format!(
            "the query has {expected} parameter(s) but {} value(s) were bound",
            params.len()
        )));
    }
    if expected == 0 {
        return Ok(());
    }
    let values = params.iter().map(|p| parse_literal(p)).collect::<Result<Vec<_>>>()?;
    struct Bind<'a> {
        values: &'a [Expr],
        next_positional: usize,
    }
    impl VisitorMut for Bind<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(value) = expr {
                if let Value::Placeholder(text) = &value.value {
                    let index = match text.strip_prefix('$') {
                        Some(number) => number.parse::<usize>().unwrap_or(1) - 1,
                        None => {
                            self.next_positional += 1;
                            self.next_positional - 1
                        }
                    };
                    *expr = Expr::Nested(Box::new(self.values[index].clone()));
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Bind { values: &values, next_positional: 0 });
    unwrap_in_lists(statement);
    Ok(())
}

/// Bound values are parenthesised (`-1` next to `::` must stay one value),
/// but polars-sql refuses parentheses inside an IN list, where a value
/// stands alone anyway.
fn unwrap_in_lists(statement: &mut Statement) {
    struct Unwrap;
    impl VisitorMut for Unwrap {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::InList { list, .. } = expr {
                for item in list.iter_mut() {
                    if let Expr::Nested(inner) = item {
                        *item = inner.as_ref().clone();
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Unwrap);
}

pub(super) fn rename_relations(statement: &mut Statement, frames: &HashMap<RelationName, String>) {
    let ctes = super::scope::cte_names(statement);
    // Two unaliased relations with the same table name (`a.t JOIN b.t`) cannot
    // both take that name as alias; such queries must alias them explicitly.
    // Counted over the unaliased relations this statement reads (the frames
    // also hold what other statements of the same plan read: a recursive
    // CTE's parts), each relation once.
    let mut table_name_uses: HashMap<String, usize> = HashMap::new();
    for name in relations_named(statement, &ctes, true).iter().filter(|name| frames.contains_key(*name)) {
        if let Some(last) = name.last() {
            *table_name_uses.entry(last.clone()).or_default() += 1;
        }
    }
    struct Rename<'a> {
        frames: &'a HashMap<RelationName, String>,
        ctes: &'a HashSet<String>,
        table_name_uses: &'a HashMap<String, usize>,
        // Full written name → alias, for `ns.table.column` references.
        qualifiers: Vec<(RelationName, Ident)>,
    }
    impl VisitorMut for Rename<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table { name, alias, args: None, .. } = factor else {
                return ControlFlow::Continue(());
            };
            let Some(parts) = parts_of(name) else { return ControlFlow::Continue(()) };
            if parts.len() == 1 && self.ctes.contains(&parts[0]) {
                return ControlFlow::Continue(());
            }
            let Some(frame) = self.frames.get(&parts) else { return ControlFlow::Continue(()) };
            let written_table = match name.0.last() {
                Some(ObjectNamePart::Identifier(ident)) => {
                    let (table, as_of) = crate::sql::time_travel::split_as_of(&ident.value);
                    if as_of == crate::sql::time_travel::AsOf::Current {
                        ident.clone()
                    } else {
                        Ident::new(table)
                    }
                }
                _ => Ident::new(parts.last().cloned().unwrap_or_default()),
            };
            *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(frame.clone()))]);
            if alias.is_none() && self.table_name_uses.get(&written_table.value) == Some(&1) {
                *alias = Some(TableAlias { explicit: true, name: written_table, columns: vec![], at: None });
            }
            if let Some(alias) = alias {
                if parts.len() > 1 {
                    self.qualifiers.push((parts, alias.name.clone()));
                }
            }
            ControlFlow::Continue(())
        }
    }

    // Columns are visited before FROM, so qualified references are rewritten
    // in a second pass once every relation's alias is known.
    struct Requalify(Vec<(RelationName, Ident)>);
    impl VisitorMut for Requalify {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(idents) = expr {
                if idents.len() >= 3 {
                    let (column, qualifier) = idents.split_last().expect("three or more parts");
                    let written: Vec<String> = qualifier.iter().map(|i| i.value.clone()).collect();
                    if let Some((_, alias)) = self.0.iter().find(|(parts, _)| *parts == written) {
                        *idents = vec![alias.clone(), column.clone()];
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut rename = Rename { frames, ctes: &ctes, table_name_uses: &table_name_uses, qualifiers: Vec::new() };
    let _ = statement.visit(&mut rename);
    if !rename.qualifiers.is_empty() {
        let _ = statement.visit(&mut Requalify(rename.qualifiers));
    }
}

fn is_literal(expr: &Expr) -> bool {
    match expr {
        Expr::Value(_) | Expr::TypedString(_) => true,
        Expr::Nested(inner) => is_literal(inner),
        Expr::UnaryOp { expr, .. } => is_literal(expr),
        _ => false,
    }
}

/// `5 < x` becomes `x > 5`. Polars 0.55 miscounts some literal-first
/// comparisons once pushed into its Parquet reader (`'a' = col` matched 2 of 50
/// rows of a single-value file); column-first is the form it gets right.
pub(super) fn columns_first(statement: &mut Statement) {
    use sqlparser::ast::BinaryOperator as Op;
    struct Swap;
    impl VisitorMut for Swap {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::BinaryOp { left, op, right } = expr {
                let swapped = match op {
                    Op::Eq => Some(Op::Eq),
                    Op::NotEq => Some(Op::NotEq),
                    Op::Lt => Some(Op::Gt),
                    Op::LtEq => Some(Op::GtEq),
                    Op::Gt => Some(Op::Lt),
                    Op::GtEq => Some(Op::LtEq),
                    _ => None,
                };
                if let Some(swapped) = swapped.filter(|_| is_literal(left) && !is_literal(right)) {
                    std::mem::swap(left, right);
                    *op = swapped;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Swap);
}

/// `a / b` divides in DOUBLE. polars-sql keeps a decimal dividend's scale, so
/// `sum(price) / sum(total)` over DECIMAL(15,2) answered 0.03 where SQL users
/// (and DuckDB) expect 0.0344…; integer division is already floating there.
pub fn divisions_in_double(statement: &mut Statement) {
    struct Widen;
    impl VisitorMut for Widen {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Divide, .. } = expr {
                let floating = |t: &sqlparser::ast::DataType| {
                    let name = t.to_string().to_ascii_uppercase();
                    ["DOUBLE", "FLOAT", "REAL"].iter().any(|f| name.starts_with(f))
                };
                if !matches!(left.as_ref(), Expr::Cast { data_type, .. } if floating(data_type)) {
                    let dividend = std::mem::replace(left.as_mut(), Expr::value(Value::Null));
                    **left = Expr::Cast {
                        kind: sqlparser::ast::CastKind::Cast,
                        expr: Box::new(dividend),
                        data_type: sqlparser::ast::DataType::Double(sqlparser::ast::ExactNumberInfo::None),
                        array: false,
                        format: None,
                    };
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Widen);
}
