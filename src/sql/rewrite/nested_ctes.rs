//! A WITH clause inside the query (a derived table's, a subquery's) as
//! CTEs of the statement's own, each under a name of its own: polars-sql
//! refuses a subquery's WITH ("SQL subquery cannot be a CTE"), and keeps
//! one table of CTEs for the whole statement, so a derived table's `w`
//! read the statement's `w` where both had one (a wrong answer). References
//! keep their written name as an alias, so `w.x` still reads the CTE.
//!
//! A WITH RECURSIVE stays where it is (`recursive.rs` plans it), and so do
//! the nested ones of a statement that has one.

use std::ops::ControlFlow;

use sqlparser::ast::{Cte, Ident, ObjectName, Query, Statement, TableAlias, TableFactor, With};

use crate::sql::visit::{VisitMut, VisitorMut};

const PREFIX: &str = "__floe_w";

pub(super) fn hoisted(statement: &mut Statement) {
    let Statement::Query(top) = &*statement else { return };
    if top.with.as_ref().is_some_and(|with| with.recursive) || !has_nested_with(top) {
        return;
    }
    let taken = super::scope::cte_names(statement);
    let Statement::Query(top) = statement else { return };
    let mut hoister = Hoister { taken, ..Hoister::default() };
    let written = top.with.take();
    let with_token = written.as_ref().map_or_else(sqlparser::ast::helpers::attached_token::AttachedToken::empty, |with| with.with_token.clone());
    // The statement's own CTEs, each seen after it, as references spelled in another case find them.
    hoister.scopes.push(Vec::new());
    let mut ctes = Vec::new();
    // A nested WITH inside a CTE goes before it: the CTE reads it.
    for mut cte in written.map(|with| with.cte_tables).unwrap_or_default() {
        let _ = cte.query.visit(&mut hoister);
        ctes.append(&mut hoister.hoisted);
        hoister.scopes[0].push((cte.alias.name.clone(), cte.alias.name.value.clone()));
        ctes.push(cte);
    }
    // The body's go after the statement's own, which they may read.
    let _ = top.visit(&mut hoister);
    ctes.append(&mut hoister.hoisted);
    if !ctes.is_empty() {
        top.with = Some(With { with_token, recursive: false, cte_tables: ctes });
    }
}

fn has_nested_with(top: &Query) -> bool {
    struct Finder(usize);
    impl crate::sql::visit::Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            self.0 += 1;
            if self.0 > 1 && query.with.is_some() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
    }
    crate::sql::visit::Visit::visit(top, &mut Finder(0)).is_break()
}

#[derive(Default)]
struct Hoister {
    /// Written name → hoisted name, one list per WITH being read, innermost last.
    scopes: Vec<Vec<(Ident, String)>>,
    /// The statement's CTE names, which a hoisted name must not be.
    taken: std::collections::HashSet<String>,
    /// Whether each query entered opened a scope.
    opened: Vec<bool>,
    /// Moved out, each after the ones it reads.
    hoisted: Vec<Cte>,
    count: usize,
}

impl VisitorMut for Hoister {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let Some(with) = query.with.take_if(|with| !with.recursive) else {
            self.opened.push(false);
            return ControlFlow::Continue(());
        };
        self.scopes.push(Vec::new());
        self.opened.push(true);
        for mut cte in with.cte_tables {
            // Its own nested WITHs first, then the CTE, seeing those before it.
            let _ = cte.query.visit(self);
            let name = self.fresh_name();
            let written = std::mem::replace(&mut cte.alias.name, Ident::new(&name));
            self.scopes.last_mut().expect("pushed above").push((written, name));
            self.hoisted.push(cte);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        if self.opened.pop() == Some(true) {
            self.scopes.pop();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, args: None, .. } = factor else { return ControlFlow::Continue(()) };
        let [part] = name.0.as_slice() else { return ControlFlow::Continue(()) };
        let Some(written) = part.as_ident().cloned() else { return ControlFlow::Continue(()) };
        let hoisted = self.scopes.iter().rev().flatten().find(|(name, _)| same_name(name, &written));
        if let Some((_, hoisted)) = hoisted.filter(|(_, hoisted)| *hoisted != written.value) {
            *name = ObjectName::from(vec![Ident::new(hoisted)]);
            if alias.is_none() {
                *alias = Some(TableAlias { explicit: true, name: written, columns: Vec::new(), at: None });
            }
        }
        ControlFlow::Continue(())
    }
}

impl Hoister {
    fn fresh_name(&mut self) -> String {
        loop {
            self.count += 1;
            let name = format!("{PREFIX}{}", self.count);
            if !self.taken.contains(&name) {
                return name;
            }
        }
    }
}

/// A reference names a CTE spelled so, or alike but for case where either
/// is unquoted (as the statement's own CTEs are matched).
fn same_name(cte: &Ident, reference: &Ident) -> bool {
    match (cte.quote_style, reference.quote_style) {
        (Some(_), Some(_)) => cte.value == reference.value,
        _ => cte.value.eq_ignore_ascii_case(&reference.value),
    }
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::hoisted;

    #[test]
    fn nested_with_clauses_become_the_statements_own() {
        assert_eq!(
            rewritten_by("SELECT * FROM t WHERE x IN (WITH w AS (SELECT 3 AS x) SELECT w.x FROM w)", hoisted),
            "WITH __floe_w1 AS (SELECT 3 AS x) SELECT * FROM t WHERE x IN (SELECT w.x FROM __floe_w1 AS w)"
        );
        // A derived table's `w` is its own, beside the statement's.
        assert_eq!(
            rewritten_by("WITH w AS (SELECT 5 AS x) SELECT * FROM (WITH w AS (SELECT 1 AS x) SELECT x FROM w) AS t, w", hoisted),
            "WITH w AS (SELECT 5 AS x), __floe_w1 AS (SELECT 1 AS x) SELECT * FROM (SELECT x FROM __floe_w1 AS w) AS t, w"
        );
    }

    #[test]
    fn names_match_whatever_their_case_and_hoisted_ones_are_new() {
        assert_eq!(
            rewritten_by("WITH w AS (SELECT 5 AS x) SELECT * FROM (WITH W AS (SELECT 1 AS x) SELECT x FROM w) AS t", hoisted),
            "WITH w AS (SELECT 5 AS x), __floe_w1 AS (SELECT 1 AS x) SELECT * FROM (SELECT x FROM __floe_w1 AS w) AS t"
        );
        assert_eq!(
            rewritten_by("WITH __floe_w1 AS (SELECT 7 AS x) SELECT * FROM (WITH w AS (SELECT 1 AS x) SELECT x FROM w) AS a, __floe_w1", hoisted),
            "WITH __floe_w1 AS (SELECT 7 AS x), __floe_w2 AS (SELECT 1 AS x) SELECT * FROM (SELECT x FROM __floe_w2 AS w) AS a, __floe_w1"
        );
    }

    #[test]
    fn a_reference_in_another_case_finds_the_statements_cte() {
        assert_eq!(
            rewritten_by("WITH w AS (SELECT 5 AS x) SELECT * FROM (WITH W AS (SELECT x + 1 AS x FROM W) SELECT x FROM W) AS t", hoisted),
            "WITH w AS (SELECT 5 AS x), __floe_w1 AS (SELECT x + 1 AS x FROM w AS W) SELECT * FROM (SELECT x FROM __floe_w1 AS W) AS t"
        );
    }

    #[test]
    fn hoisted_ctes_come_after_those_they_read() {
        assert_eq!(
            rewritten_by(
                "WITH a AS (SELECT * FROM (WITH v AS (SELECT 1 AS y) SELECT y FROM v) AS d) \
                 SELECT * FROM (WITH b AS (SELECT y FROM a), c AS (SELECT y FROM b) SELECT y FROM c) AS e",
                hoisted
            ),
            "WITH __floe_w1 AS (SELECT 1 AS y), a AS (SELECT * FROM (SELECT y FROM __floe_w1 AS v) AS d), \
             __floe_w2 AS (SELECT y FROM a), __floe_w3 AS (SELECT y FROM __floe_w2 AS b) SELECT * FROM (SELECT y FROM __floe_w3 AS c) AS e"
        );
    }

    #[test]
    fn recursive_and_flat_statements_stay() {
        for sql in [
            "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM (WITH w AS (SELECT 1) SELECT * FROM w) AS t, r",
            "SELECT * FROM t WHERE x IN (WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r)",
            "WITH w AS (SELECT 1 AS x) SELECT * FROM w",
        ] {
            assert_eq!(rewritten_by(sql, hoisted), sql);
        }
    }
}
