//! Which relation of a query a name belongs to: the scopes of a FROM
//! clause (catalog relations, CTEs, derived tables, with their columns),
//! the side of a correlation each column of an expression is on, and
//! whether a subquery reads only its own relations.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};

use sqlparser::ast::{Expr, Query, SetExpr, Statement, TableFactor, TableWithJoins};

use super::scope::{collect_cte_columns, leftmost_select, only_excluding, output_names, Columns};
use super::RelationName;

mod kinds;

/// One relation in a FROM clause: the name columns are qualified by, and its columns.
#[derive(Clone)]
pub(crate) struct Scope {
    pub qualifier: String,
    pub columns: Vec<String>,
}

impl Scope {
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// Whether a column `name`, qualified by `qualifier` where written, is this relation's.
    pub fn owns(&self, name: &str, qualifier: Option<&str>) -> bool {
        self.has_column(name) && qualifier.is_none_or(|q| self.qualifier.eq_ignore_ascii_case(q))
    }
}

/// Knows the columns of catalog relations, CTEs and derived tables.
pub(crate) struct Resolver<'a> {
    columns: &'a Columns,
    pub(crate) cte_columns: HashMap<String, Vec<String>>,
    /// The queries of the CTEs whose SELECT names their columns (no column
    /// list, not recursive): what those columns' kinds are read from.
    cte_queries: HashMap<String, Query>,
    /// CTEs being read through for a kind: one may read another, or a
    /// catalog relation of its own name, which `is_cte` cannot tell apart.
    cte_depth: Cell<u8>,
}

/// Runs the visitor `make` builds around the query's resolver over a query
/// statement (the shape of every pass that needs columns and scopes).
pub(crate) fn visit_query<'a, V: sqlparser::ast::VisitorMut>(
    statement: &mut Statement,
    columns: &'a Columns,
    make: impl FnOnce(Resolver<'a>) -> V,
) {
    use crate::sql::visit::VisitMut;
    let Statement::Query(query) = statement else { return };
    let mut visitor = make(Resolver::new(query, columns));
    let _ = query.visit(&mut visitor);
}

impl<'a> Resolver<'a> {
    pub fn new(query: &Query, columns: &'a Columns) -> Self {
        let mut cte_columns = HashMap::new();
        collect_cte_columns(query, &mut cte_columns);
        let ctes = query.with.iter().filter(|with| !with.recursive).flat_map(|with| &with.cte_tables);
        let cte_queries = ctes.filter(|cte| cte.alias.columns.is_empty()).map(|cte| (cte.alias.name.value.clone(), (*cte.query).clone())).collect();
        Self { columns, cte_columns, cte_queries, cte_depth: Cell::new(0) }
    }

    /// Each relation of a FROM clause with its scope, where known: what
    /// `column_kind` and `value_kind` read a column's type from.
    pub fn relations(&self, from: &[TableWithJoins]) -> Vec<(TableFactor, Option<Scope>)> {
        factors(from).map(|factor| (factor.clone(), self.scope(factor))).collect()
    }

    pub fn scopes(&self, from: &[TableWithJoins]) -> Option<Vec<Scope>> {
        factors(from).map(|factor| self.scope(factor)).collect()
    }

    /// The catalog relation a FROM item reads (not a CTE's name).
    pub fn catalog_relation(&self, factor: &TableFactor) -> Option<RelationName> {
        let TableFactor::Table { name, args: None, .. } = factor else { return None };
        if self.is_cte(factor) {
            return None;
        }
        name_parts(name)
    }

    /// The rows of a catalog relation's snapshot, where known.
    pub fn rows(&self, factor: &TableFactor) -> Option<u64> {
        let TableFactor::Table { name, args: None, .. } = factor else { return None };
        if self.is_cte(factor) {
            return None;
        }
        self.columns.rows(&name_parts(name)?)
    }

    /// The kind of a relation's column (a catalog relation's, a CTE's or a
    /// derived table's), where known.
    pub fn kind_of(&self, factor: &TableFactor, column: &str) -> Option<super::ColumnKind> {
        // Columns an alias renames (`t AS y(a, b)`) are not known by name.
        if let TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } = factor {
            if !alias.columns.is_empty() {
                return None;
            }
        }
        if let TableFactor::Derived { subquery, .. } = factor {
            return self.derived_kind(subquery, column);
        }
        let TableFactor::Table { name, args: None, .. } = factor else { return None };
        if self.is_cte(factor) {
            return self.cte_kind(name, column);
        }
        self.columns.kind_in(&name_parts(name)?, column)
    }

    fn cte_kind(&self, name: &sqlparser::ast::ObjectName, column: &str) -> Option<super::ColumnKind> {
        let query = self.cte_queries.get(name_parts(name)?.first()?)?;
        self.inside_cte(|| self.derived_kind(query, column))
    }

    /// `read` of a CTE's query, None past 8 CTEs deep (a CTE that reads
    /// itself, or a chain of them).
    fn inside_cte<T>(&self, read: impl FnOnce() -> Option<T>) -> Option<T> {
        let depth = self.cte_depth.get();
        if depth >= 8 {
            return None;
        }
        self.cte_depth.set(depth + 1);
        let read = read();
        self.cte_depth.set(depth);
        read
    }

    /// A column's kind, the column (`expr`) named as SQL resolves it among
    /// `relations` (each with its scope, where its columns are known).
    pub fn column_kind(&self, expr: &Expr, relations: &[(TableFactor, Option<Scope>)]) -> Option<super::ColumnKind> {
        let (name, _) = column_reference(expr)?;
        let mut owners = owners(expr, relations);
        let (factor, _) = owners.next()?;
        if owners.next().is_some() {
            return None;
        }
        self.kind_of(factor, name)
    }

    /// Whether one of `relations` has the column `expr` (else it is an
    /// outer query's, or of a relation whose columns are not known).
    pub fn in_scope(&self, expr: &Expr, relations: &[(TableFactor, Option<Scope>)]) -> bool {
        owners(expr, relations).next().is_some()
    }

    /// Whether `factor` names one of the query's CTEs (not a catalog relation).
    pub fn is_cte(&self, factor: &TableFactor) -> bool {
        let TableFactor::Table { name, .. } = factor else { return false };
        matches!(name_parts(name).as_deref(), Some([single]) if self.cte_columns.contains_key(single))
    }

    /// `factor`'s scope with every column it has, or None: a CTE of a `*`
    /// (`SELECT * FROM r WHERE …`, whose scope lists only the SELECT's named
    /// items) has r's.
    pub fn whole_scope(&self, factor: &TableFactor) -> Option<Scope> {
        let mut scope = self.scope(factor)?;
        let TableFactor::Table { name, .. } = factor else { return Some(scope) };
        let Some(query) = name_parts(name).and_then(|parts| self.cte_queries.get(parts.first()?).filter(|_| parts.len() == 1)) else {
            return Some(scope);
        };
        let select = leftmost_select(&query.body)?;
        if output_names(select).iter().all(Option::is_some) {
            return Some(scope);
        }
        scope.columns = self.inside_cte(|| self.all_columns(select))?;
        Some(scope)
    }

    pub fn scope(&self, factor: &TableFactor) -> Option<Scope> {
        match factor {
                TableFactor::Table { name, alias, args: None, .. } => {
                    let parts = name_parts(name)?;
                    let columns = match parts.as_slice() {
                        [single] if self.cte_columns.contains_key(single) => self.cte_columns[single].clone(),
                        _ => self.columns.get(&parts)?.clone(),
                    };
                    let qualifier = alias.as_ref().map(|a| a.name.value.clone()).or_else(|| parts.last().cloned())?;
                    Some(Scope { qualifier, columns })
                }
                TableFactor::Derived { subquery, alias: Some(alias), .. } => {
                    let select = leftmost_select(&subquery.body)?;
                    // Every column must be known, or a name could be missed as outer.
                    let columns = match output_names(select).into_iter().collect::<Option<_>>() {
                        Some(columns) => columns,
                        None => self.all_columns(select)?,
                    };
                    Some(Scope { qualifier: alias.name.value.clone(), columns })
                }
                _ => None,
            }
    }
}

impl Resolver<'_> {
    /// The columns of `SELECT * FROM r …` (a filter the join passes pushed
    /// into a derived table): r's; of `SELECT * EXCLUDE (c) FROM r …` (an
    /// ungrouped HAVING's one group, `ungrouped_having.rs`) r's but `c`; of
    /// `SELECT *, e AS n FROM r …` (SUM arguments computed below a grouping,
    /// `sum_arguments.rs`) r's and `n`; of `SELECT e AS n, * FROM r` (TPC-DS
    /// 62, 99) `n` and r's.
    fn all_columns(&self, select: &sqlparser::ast::Select) -> Option<Vec<String>> {
        let [table] = select.from.as_slice() else { return None };
        if !table.joins.is_empty() {
            return None;
        }
        let mut columns = Vec::new();
        let mut wildcards = 0;
        for (item, name) in select.projection.iter().zip(output_names(select)) {
            let sqlparser::ast::SelectItem::Wildcard(options) = item else {
                columns.push(name?);
                continue;
            };
            wildcards += 1;
            let excluded: Vec<String> = only_excluding(options)?.iter().map(ToString::to_string).collect();
            let whole = self.whole_scope(&table.relation)?.columns;
            columns.extend(whole.into_iter().filter(|column| !excluded.iter().any(|gone| gone.eq_ignore_ascii_case(column))));
        }
        (wildcards == 1).then_some(columns)
    }

    /// Whether every column `query` reads, in its nested subqueries too,
    /// belongs to a relation of its own: nothing correlates it with an
    /// enclosing query, so it can move into a derived table unchanged.
    pub fn self_contained(&self, query: &Query) -> bool {
        use crate::sql::visit::{Visit, Visitor};
        struct Owned<'r, 'c> {
            resolver: &'r Resolver<'c>,
            scopes: Vec<Scope>,
            known: bool,
        }
        impl Visitor for Owned<'_, '_> {
            type Break = ();
            fn pre_visit_query(&mut self, query: &Query) -> std::ops::ControlFlow<()> {
                for body in set_bodies(&query.body) {
                    if let SetExpr::Select(select) = body {
                        match self.resolver.scopes(&select.from) {
                            Some(scopes) => self.scopes.extend(scopes),
                            None => self.known = false,
                        }
                    }
                }
                if self.known { std::ops::ControlFlow::Continue(()) } else { std::ops::ControlFlow::Break(()) }
            }
        }
        let mut owned = Owned { resolver: self, scopes: Vec::new(), known: true };
        let _ = query.visit(&mut owned);
        if !owned.known {
            return false;
        }
        let all: Vec<Expr> = collect_columns(query);
        all.iter().all(|column| match column {
            Expr::Identifier(ident) => owned.scopes.iter().any(|s| s.has_column(&ident.value)),
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                owned.scopes.iter().any(|s| s.qualifier.eq_ignore_ascii_case(&parts[0].value) && s.has_column(&parts[1].value))
            }
            _ => false,
        })
    }
}

/// The SELECTs and other bodies of a set operation, each branch once.
pub(crate) fn set_bodies(body: &SetExpr) -> Vec<&SetExpr> {
    match body {
        SetExpr::SetOperation { left, right, .. } => {
            let mut all = set_bodies(left);
            all.extend(set_bodies(right));
            all
        }
        other => vec![other],
    }
}

/// Every column reference in `query`, its subqueries' included. Output
/// aliases referenced by ORDER BY make it answer a name no scope has, which
/// errs on the side of "not self-contained".
fn collect_columns(query: &Query) -> Vec<Expr> {
    use crate::sql::visit::{Visit, Visitor};
    struct Columns(Vec<Expr>);
    impl Visitor for Columns {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            if matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                self.0.push(expr.clone());
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut columns = Columns(Vec::new());
    let _ = query.visit(&mut columns);
    columns.0
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Inner,
    Outer,
}

/// Which scope each column of `expr` belongs to; None if any is unknown or
/// the expression holds a subquery of its own.
pub(crate) fn sides(expr: &Expr, inner: &[Scope], outer: &[Scope]) -> Option<Vec<Side>> {
    struct Collect<'a> {
        inner: &'a [Scope],
        outer: &'a [Scope],
        found: Vec<Side>,
        unknown: bool,
    }
    impl sqlparser::ast::Visitor for Collect<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            let side = match expr {
                // SQL scoping: the nearest FROM wins.
                Expr::Identifier(ident) => self.nearest(|s| s.has_column(&ident.value)),
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                    self.nearest(|s| s.qualifier.eq_ignore_ascii_case(&parts[0].value))
                }
                Expr::CompoundIdentifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.unknown = true;
                    return std::ops::ControlFlow::Break(());
                }
                _ => return std::ops::ControlFlow::Continue(()),
            };
            match side {
                Some(side) => self.found.push(side),
                None => {
                    self.unknown = true;
                    return std::ops::ControlFlow::Break(());
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    impl Collect<'_> {
        fn nearest(&self, owns: impl Fn(&Scope) -> bool) -> Option<Side> {
            if self.inner.iter().any(&owns) {
                Some(Side::Inner)
            } else if self.outer.iter().any(&owns) {
                Some(Side::Outer)
            } else {
                None
            }
        }
    }
    let mut collect = Collect { inner, outer, found: Vec::new(), unknown: false };
    let _ = crate::sql::visit::Visit::visit(expr, &mut collect);
    (!collect.unknown).then_some(collect.found)
}

/// A table's name as written, part by part.
fn name_parts(name: &sqlparser::ast::ObjectName) -> Option<RelationName> {
    name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone())).collect()
}

/// A column reference's name, and its qualifier where written.
fn column_reference(expr: &Expr) -> Option<(&str, Option<&str>)> {
    match expr {
        Expr::Identifier(name) => Some((name.value.as_str(), None)),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [.., qualifier, name] => Some((name.value.as_str(), Some(qualifier.value.as_str()))),
            _ => None,
        },
        Expr::Nested(inner) => column_reference(inner),
        _ => None,
    }
}

/// The relations among `relations` that have the column `expr`.
fn owners<'r, 'e: 'r>(expr: &'e Expr, relations: &'r [(TableFactor, Option<Scope>)]) -> impl Iterator<Item = &'r (TableFactor, Option<Scope>)> {
    let reference = column_reference(expr);
    relations.iter().filter(move |(_, scope)| match (reference, scope) {
        (Some((name, qualifier)), Some(scope)) => scope.owns(name, qualifier),
        _ => false,
    })
}

/// A FROM's relations in order, each join's included: the order of its scopes.
pub(crate) fn factors(from: &[TableWithJoins]) -> impl Iterator<Item = &TableFactor> {
    from.iter().flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
}

/// The one relation (index into `scopes`) every column of `expr` belongs to.
pub(crate) fn owner(expr: &Expr, scopes: &[Scope]) -> Option<usize> {
    owning_relations(expr, scopes).filter(|owners| owners.len() == 1)?.first().copied()
}

/// The relations (indexes into `scopes`) the columns of `expr` belong to;
/// None where a column's is not known (or a subquery reads its own).
pub(crate) fn owning_relations(expr: &Expr, scopes: &[Scope]) -> Option<BTreeSet<usize>> {
    struct Owners<'a> {
        scopes: &'a [Scope],
        found: BTreeSet<usize>,
    }
    impl sqlparser::ast::Visitor for Owners<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            let owner = match expr {
                Expr::Identifier(ident) => {
                    let mut having = self.scopes.iter().enumerate().filter(|(_, s)| s.has_column(&ident.value));
                    match (having.next(), having.next()) {
                        (Some((i, _)), None) => Some(i),
                        _ => None,
                    }
                }
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                    self.scopes.iter().position(|s| s.qualifier.eq_ignore_ascii_case(&parts[0].value))
                }
                Expr::CompoundIdentifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => None,
                _ => return std::ops::ControlFlow::Continue(()),
            };
            match owner {
                Some(owner) => {
                    self.found.insert(owner);
                    std::ops::ControlFlow::Continue(())
                }
                None => std::ops::ControlFlow::Break(()),
            }
        }
    }
    let mut owners = Owners { scopes, found: BTreeSet::new() };
    match crate::sql::visit::Visit::visit(expr, &mut owners) {
        std::ops::ControlFlow::Break(()) => None,
        std::ops::ControlFlow::Continue(()) => Some(owners.found),
    }
}
