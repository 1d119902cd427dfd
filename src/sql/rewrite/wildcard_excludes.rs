//! `SELECT * EXCLUDE (name)` over a join leaves out every relation's
//! `name`, as DuckDB does. polars-sql names a joined relation's column that
//! an earlier relation also has `name:d` in the joined frame, so only the
//! first relation's was left out. The suffixed names are excluded too:
//! polars-sql passes over an excluded name the frame does not have.

use std::ops::ControlFlow;

use sqlparser::ast::{ExcludeSelectItem, Ident, ObjectName, Select, SelectItem, Statement, TableFactor};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::resolver::factors;
use super::scope::qualifier_of;

pub(super) fn every_relations(statement: &mut Statement) {
    let _ = statement.visit(&mut Wildcards);
}

struct Wildcards;

impl VisitorMut for Wildcards {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        // Every relation after the first: the first keeps its names.
        let qualifiers: Vec<String> = factors(&select.from).skip(1).filter_map(qualifier).collect();
        if qualifiers.is_empty() {
            return ControlFlow::Continue(());
        }
        for item in &mut select.projection {
            let SelectItem::Wildcard(options) = item else { continue };
            let names = match options.opt_exclude.take() {
                None => continue,
                Some(ExcludeSelectItem::Single(name)) => vec![name],
                Some(ExcludeSelectItem::Multiple(names)) => names,
            };
            let suffixed = names.iter().filter_map(single_name).flat_map(|name| {
                qualifiers.iter().map(move |qualifier| ObjectName::from(vec![Ident::with_quote('"', format!("{name}:{qualifier}"))]))
            });
            let suffixed: Vec<ObjectName> = suffixed.collect();
            options.opt_exclude = Some(ExcludeSelectItem::Multiple(names.into_iter().chain(suffixed).collect()));
        }
        ControlFlow::Continue(())
    }
}

/// The name polars-sql suffixes a relation's columns with: its alias, or
/// its table name's last part.
fn qualifier(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Table { name, alias, .. } => qualifier_of(name, alias.as_ref()).map(|ident| ident.value.clone()),
        TableFactor::Derived { alias, .. } => alias.as_ref().map(|alias| alias.name.value.clone()),
        _ => None,
    }
}

fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|ident| ident.value.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        let mut statement = crate::sql::parse::parse_single(sql).expect("test SQL parses");
        super::every_relations(&mut statement);
        statement.to_string()
    }

    #[test]
    fn later_relations_suffixed_columns_are_excluded_too() {
        assert_eq!(
            rewritten("SELECT * EXCLUDE (name) FROM emp AS e JOIN dept AS d ON e.dept_id = d.id CROSS JOIN ns.region"),
            "SELECT * EXCLUDE (name, \"name:d\", \"name:region\") FROM emp AS e JOIN dept AS d ON e.dept_id = d.id CROSS JOIN ns.region"
        );
        // One relation, a qualified wildcard, no EXCLUDE: as written.
        for sql in ["SELECT * EXCLUDE (name) FROM emp", "SELECT e.* EXCLUDE (name) FROM emp AS e JOIN dept AS d ON e.id = d.id", "SELECT * FROM emp, dept"] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
