//! oleander's `tables` aliases (`"f=default.flowers"`) applied to a query.

use std::ops::ControlFlow;

use sqlparser::ast::{Ident, ObjectName, Query, Statement, TableAlias, TableFactor};
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

use super::{parse, Error, Result};

/// oleander's `tables` aliases: each relation named by a bare alias reads
/// that table instead, keeping the alias as its correlation name, so the
/// query stays one statement over catalog tables (and can be distributed).
/// A CTE of the same name keeps its own meaning.
pub fn with_table_aliases(sql: &str, aliases: &[(String, String)]) -> Result<String> {
    if aliases.is_empty() {
        return Ok(sql.to_string());
    }
    static IDENTIFIER: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("static regex"));
    let identifier = &*IDENTIFIER;
    for (alias, table) in aliases {
        if !identifier.is_match(alias) || !table.split('.').all(|part| identifier.is_match(part)) {
            return Err(Error::Params(format!("table alias `{alias}={table}` is not `alias=namespace.table`")));
        }
    }
    let mut statement = parse::parse_single(sql)?;
    if !matches!(statement, Statement::Query(_)) {
        return Err(Error::Unsupported("`tables` aliases apply to queries only".into()));
    }
    let mut ctes = Vec::new();
    let _ = Visit::visit(&statement, &mut CteNames(&mut ctes));
    let _ = VisitMut::visit(&mut statement, &mut Rename { aliases, ctes: &ctes });
    Ok(statement.to_string())
}

/// The names of every CTE in a statement, lowercased.
struct CteNames<'a>(&'a mut Vec<String>);
impl Visitor for CteNames<'_> {
    type Break = ();
    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            self.0.extend(with.cte_tables.iter().map(|cte| cte.alias.name.value.to_lowercase()));
        }
        ControlFlow::Continue(())
    }
}

/// Points bare alias names at their tables.
struct Rename<'a> {
    aliases: &'a [(String, String)],
    ctes: &'a [String],
}

impl VisitorMut for Rename<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, args: None, .. } = factor else { return ControlFlow::Continue(()) };
        let [part] = name.0.as_slice() else { return ControlFlow::Continue(()) };
        let Some(bare) = part.as_ident().map(|ident| ident.value.to_lowercase()) else { return ControlFlow::Continue(()) };
        if self.ctes.contains(&bare) {
            return ControlFlow::Continue(());
        }
        if let Some((alias_name, table)) = self.aliases.iter().find(|(a, _)| a.to_lowercase() == bare) {
            *name = ObjectName::from(table.split('.').map(Ident::new).collect::<Vec<_>>());
            if alias.is_none() {
                *alias = Some(TableAlias { explicit: true, name: Ident::new(alias_name), columns: Vec::new(), at: None });
            }
        }
        ControlFlow::Continue(())
    }
}
