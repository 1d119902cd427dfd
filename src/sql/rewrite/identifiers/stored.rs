//! Column references spelled as the columns they name, resolved as SQL
//! resolves them: a SELECT's expressions among its FROM relations' columns
//! first, then the enclosing queries'; ORDER BY among the outputs first.
//! Relations are read inside out, so a derived table's or CTE's columns are
//! known as its own SELECT ends up spelling them.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, JoinConstraint, ObjectName, OrderByKind, Query, Select, SelectItem, SetExpr, Statement, TableAlias, TableFactor, TableWithJoins,
};

use crate::sql::visit::{VisitMut, VisitorMut};

use super::super::scope::{self, join_constraint};
use super::super::Columns;
use super::identifier_mut;
use crate::spelling::{matching, Match};

/// Every unquoted column reference spelled as the catalog column, or the
/// query's own name (an alias, a CTE's or derived table's column), it
/// names but for case; whether any was not.
pub(in super::super) fn as_stored(statement: &mut Statement, columns: &Columns) -> bool {
    let Statement::Query(query) = statement else { return false };
    let mut respeller = Respeller { columns, ctes: HashMap::new(), respelled: false };
    respeller.query(query, &[]);
    respeller.respelled
}

/// The relations (with their columns) visible to an expression, one scope
/// a frame, nearest last.
type Frames = [Frame];
type Frame = Vec<Relation>;

/// A relation's columns, and the name that qualifies them (none for a
/// SELECT's outputs).
#[derive(Clone)]
struct Relation {
    qualifier: Option<String>,
    columns: Vec<String>,
}

impl Relation {
    fn outputs(columns: Vec<String>) -> Frame {
        vec![Self { qualifier: None, columns }]
    }
}

struct Respeller<'a> {
    columns: &'a Columns,
    /// Each CTE's columns, by its name.
    ctes: HashMap<String, Vec<String>>,
    respelled: bool,
}

impl Respeller<'_> {
    /// Respells `query`, which sees `outer`'s names; its output names.
    fn query(&mut self, query: &mut Query, outer: &Frames) -> Vec<String> {
        for cte in query.with.iter_mut().flat_map(|with| &mut with.cte_tables) {
            let outputs = self.query(&mut cte.query, outer);
            let names = if cte.alias.columns.is_empty() { outputs } else { cte.alias.columns.iter().map(|c| c.name.value.clone()).collect() };
            self.ctes.insert(cte.alias.name.value.clone(), names);
        }
        let (outputs, inputs) = self.body(&mut query.body, outer);
        if let Some(OrderByKind::Expressions(keys)) = query.order_by.as_mut().map(|order_by| &mut order_by.kind) {
            // A sort key that is a name names an output first, else an input
            // of a single SELECT; a name inside an expression, an input first.
            let outputs_first = [outer, &[inputs.clone(), Relation::outputs(outputs.clone())]].concat();
            let inputs_first = [outer, &[Relation::outputs(outputs.clone()), inputs]].concat();
            for key in keys {
                let frames = if matches!(key.expr, Expr::Identifier(_)) { &outputs_first } else { &inputs_first };
                self.expressions(&mut key.expr, frames);
            }
        }
        outputs
    }

    /// A query body's output names, and a single SELECT's inputs.
    fn body(&mut self, body: &mut SetExpr, outer: &Frames) -> (Vec<String>, Frame) {
        match body {
            SetExpr::Select(select) => self.select(select, outer),
            SetExpr::Query(query) => (self.query(query, outer), Vec::new()),
            SetExpr::SetOperation { left, right, .. } => {
                let (outputs, _) = self.body(left, outer);
                self.body(right, outer);
                (outputs, Vec::new())
            }
            _ => (Vec::new(), Vec::new()),
        }
    }

    fn select(&mut self, select: &mut Select, outer: &Frames) -> (Vec<String>, Frame) {
        let mut inputs = Vec::new();
        for table in &mut select.from {
            self.table_with_joins(table, outer, &mut inputs);
        }
        // A name nothing in scope has may be an output's alias (`GROUP BY k`
        // for `… AS K`): searched last, so an outer column comes first.
        let frames = [&[Relation::outputs(aliases(select))], outer, std::slice::from_ref(&inputs)].concat();
        let from = std::mem::take(&mut select.from);
        self.expressions(select, &frames);
        select.from = from;
        let mut conditions = Vec::new();
        for table in &mut select.from {
            self.respelled |= joined_names(table, &mut conditions, &inputs);
        }
        for condition in conditions {
            self.expressions(condition, &frames);
        }
        // A wildcard's own columns: its relations' (the named one's, for `m.*`).
        let wildcard_frame = std::slice::from_ref(&inputs);
        for (qualifier, column) in wildcard_columns(select) {
            self.respelled |= respell_nearest(column, qualifier.as_deref(), wildcard_frame);
        }
        (output_names(select, &inputs), inputs)
    }

    fn table_with_joins(&mut self, table: &mut TableWithJoins, outer: &Frames, inputs: &mut Frame) {
        self.factor(&mut table.relation, outer, inputs);
        for join in &mut table.joins {
            self.factor(&mut join.relation, outer, inputs);
        }
    }

    /// Adds the relation `factor` reads to `inputs`.
    fn factor(&mut self, factor: &mut TableFactor, outer: &Frames, inputs: &mut Frame) {
        let renamed = |alias: &Option<TableAlias>| {
            alias.as_ref().filter(|alias| !alias.columns.is_empty()).map(|alias| alias.columns.iter().map(|c| c.name.value.clone()).collect::<Vec<_>>())
        };
        let alias_name = |alias: &Option<TableAlias>| alias.as_ref().map(|alias| alias.name.value.clone());
        match factor {
            TableFactor::Table { name, alias, args: None, .. } => {
                let columns = renamed(alias).or_else(|| self.relation_columns(name)).unwrap_or_default();
                let qualifier = alias_name(alias).or_else(|| name.0.last().and_then(|part| part.as_ident()).map(|ident| ident.value.clone()));
                inputs.push(Relation { qualifier, columns });
            }
            TableFactor::Derived { lateral, subquery, alias, .. } => {
                let sees = if *lateral { [outer, std::slice::from_ref(inputs)].concat() } else { outer.to_vec() };
                let outputs = self.query(subquery, &sees);
                inputs.push(Relation { qualifier: alias_name(alias), columns: renamed(alias).unwrap_or(outputs) });
            }
            TableFactor::NestedJoin { table_with_joins, .. } => self.table_with_joins(table_with_joins, outer, inputs),
            _ => {}
        }
    }

    fn relation_columns(&self, name: &ObjectName) -> Option<Vec<String>> {
        let parts: Vec<String> = name.0.iter().map(|part| part.as_ident().map(|ident| ident.value.clone())).collect::<Option<_>>()?;
        if let [single] = parts.as_slice() {
            if let Some(columns) = self.ctes.get(single) {
                return Some(columns.clone());
            }
        }
        self.columns.get(&parts).cloned()
    }

    /// Respells the column references of `node`'s expressions among
    /// `frames`; each subquery inside is a query of its own that sees them.
    fn expressions<T: sqlparser::ast::VisitMut>(&mut self, node: &mut T, frames: &Frames) {
        let _ = VisitMut::visit(node, &mut References { respeller: self, frames, depth: 0 });
    }
}

struct References<'r, 'c, 'f> {
    respeller: &'r mut Respeller<'c>,
    frames: &'f Frames,
    /// How deep inside a subquery the walk is (which was respelled whole).
    depth: usize,
}

impl VisitorMut for References<'_, '_, '_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.respeller.query(query, self.frames);
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Identifier(ident) => self.respeller.respelled |= respell_nearest(ident, None, self.frames),
            Expr::CompoundIdentifier(parts) => {
                if let [.., qualifier, column] = parts.as_mut_slice() {
                    self.respeller.respelled |= respell_nearest(column, Some(&qualifier.value), self.frames);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `ident` (of the relation `qualifier` names, where written) spelled as
/// the column it matches in the nearest scope that has one; whether it
/// was not.
fn respell_nearest(ident: &mut Ident, qualifier: Option<&str>, frames: &Frames) -> bool {
    if ident.quote_style.is_some() {
        return false;
    }
    for frame in frames.iter().rev() {
        let named = |relation: &&Relation| match (qualifier, &relation.qualifier) {
            (None, _) => true,
            (Some(written), Some(own)) => written.eq_ignore_ascii_case(own),
            (Some(_), None) => false,
        };
        let mut relations = frame.iter().filter(named).peekable();
        if relations.peek().is_none() {
            continue;
        }
        return match matching(relations.flat_map(|relation| &relation.columns), &ident.value, |name| name.as_str()) {
            Match::Absent => continue,
            Match::Alike(spelled) => {
                ident.value = spelled.clone();
                true
            }
            Match::Exact(_) | Match::Ambiguous => false,
        };
    }
    false
}

fn respell_name(name: &mut ObjectName, frames: &Frames) -> bool {
    name.0.iter_mut().filter_map(identifier_mut).fold(false, |respelled, ident| respell_nearest(ident, None, frames) | respelled)
}

/// Gathers the ON conditions of a FROM item's joins (nested ones too);
/// respells its USING names among `inputs`, and says whether it did.
fn joined_names<'t>(table: &'t mut TableWithJoins, conditions: &mut Vec<&'t mut Expr>, inputs: &Frame) -> bool {
    let frames = [inputs.clone()];
    let mut respelled = false;
    let (relation, joins) = (&mut table.relation, &mut table.joins);
    if let TableFactor::NestedJoin { table_with_joins, .. } = relation {
        respelled |= joined_names(table_with_joins, conditions, inputs);
    }
    for join in joins {
        if let TableFactor::NestedJoin { table_with_joins, .. } = &mut join.relation {
            respelled |= joined_names(table_with_joins, conditions, inputs);
        }
        match join_constraint(&mut join.join_operator) {
            Some(JoinConstraint::On(condition)) => conditions.push(condition),
            Some(JoinConstraint::Using(names)) => respelled = names.iter_mut().fold(respelled, |done, name| respell_name(name, &frames) | done),
            _ => {}
        }
    }
    respelled
}

/// The columns a wildcard's EXCLUDE, EXCEPT, REPLACE and RENAME name.
fn wildcard_columns(select: &mut Select) -> Vec<(Option<String>, &mut Ident)> {
    use sqlparser::ast::{ExcludeSelectItem, RenameSelectItem};
    let mut names = Vec::new();
    for item in &mut select.projection {
        let (qualifier, options) = match item {
            SelectItem::Wildcard(options) => (None, options),
            SelectItem::QualifiedWildcard(kind, options) => (wildcard_qualifier(kind), options),
            _ => continue,
        };
        let mut columns: Vec<&mut Ident> = Vec::new();
        let excluded: Vec<&mut ObjectName> = match &mut options.opt_exclude {
            Some(ExcludeSelectItem::Single(name)) => vec![name],
            Some(ExcludeSelectItem::Multiple(excluded)) => excluded.iter_mut().collect(),
            None => Vec::new(),
        };
        columns.extend(excluded.into_iter().flat_map(|name| &mut name.0).filter_map(identifier_mut));
        if let Some(except) = &mut options.opt_except {
            columns.push(&mut except.first_element);
            columns.extend(&mut except.additional_elements);
        }
        columns.extend(options.opt_replace.iter_mut().flat_map(|replace| &mut replace.items).map(|element| &mut element.column_name));
        match &mut options.opt_rename {
            Some(RenameSelectItem::Single(renamed)) => columns.push(&mut renamed.ident),
            Some(RenameSelectItem::Multiple(renamed)) => columns.extend(renamed.iter_mut().map(|renamed| &mut renamed.ident)),
            None => {}
        }
        names.extend(columns.into_iter().map(|column| (qualifier.clone(), column)));
    }
    names
}

/// The relation `q.*` reads, by the name that qualifies its columns.
fn wildcard_qualifier(kind: &sqlparser::ast::SelectItemQualifiedWildcardKind) -> Option<String> {
    match kind {
        sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(name) => name.0.last()?.as_ident().map(|ident| ident.value.clone()),
        sqlparser::ast::SelectItemQualifiedWildcardKind::Expr(_) => None,
    }
}

/// A SELECT's aliases.
fn aliases(select: &Select) -> Vec<String> {
    let alias = |item: &SelectItem| match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        _ => None,
    };
    select.projection.iter().filter_map(alias).collect()
}

/// A SELECT's output names where known: an alias, a column's name, a
/// wildcard's columns (its relation's, for `q.*`) but those it excludes,
/// renamed as it renames them.
fn output_names(select: &Select, inputs: &Frame) -> Vec<String> {
    let mut names = Vec::new();
    for (item, name) in select.projection.iter().zip(scope::output_names(select)) {
        match (name, item) {
            (Some(name), _) => names.push(name),
            (None, SelectItem::Wildcard(options)) => names.extend(wildcard_outputs(inputs.iter(), options)),
            (None, SelectItem::QualifiedWildcard(kind, options)) => {
                let qualifier = wildcard_qualifier(kind);
                let named = |relation: &&Relation| match (&qualifier, &relation.qualifier) {
                    (Some(written), Some(own)) => written.eq_ignore_ascii_case(own),
                    _ => true,
                };
                names.extend(wildcard_outputs(inputs.iter().filter(named), options));
            }
            _ => {}
        }
    }
    names
}

fn wildcard_outputs<'a>(relations: impl Iterator<Item = &'a Relation>, options: &sqlparser::ast::WildcardAdditionalOptions) -> Vec<String> {
    use sqlparser::ast::{ExcludeSelectItem, RenameSelectItem};
    let excluded: Vec<String> = match &options.opt_exclude {
        Some(ExcludeSelectItem::Single(name)) => vec![name.to_string()],
        Some(ExcludeSelectItem::Multiple(names)) => names.iter().map(ToString::to_string).collect(),
        None => Vec::new(),
    };
    let renamed: Vec<(String, String)> = match &options.opt_rename {
        Some(RenameSelectItem::Single(one)) => vec![(one.ident.value.clone(), one.alias.value.clone())],
        Some(RenameSelectItem::Multiple(many)) => many.iter().map(|one| (one.ident.value.clone(), one.alias.value.clone())).collect(),
        None => Vec::new(),
    };
    relations
        .flat_map(|relation| relation.columns.iter())
        .filter(|column| !excluded.contains(column))
        .map(|column| renamed.iter().find(|(from, _)| from == column).map_or_else(|| column.clone(), |(_, to)| to.clone()))
        .collect()
}
