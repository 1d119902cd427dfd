//! What an OR of conjunctions says about each relation on its own:
//! `(n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY') OR (n1.n_name =
//! 'GERMANY' AND n2.n_name = 'FRANCE')` implies `(n1.n_name = 'FRANCE' OR
//! n1.n_name = 'GERMANY')`, and the same of `n2`. Each such filter is added
//! beside the OR, which stays: implied by the WHERE, it changes no answer,
//! and Polars pushes it into the relation's scan, where Polars 0.55 keeps the
//! OR itself above every join (TPC-H 7 joined all of `lineitem` to all 25
//! nations before keeping two).

use sqlparser::ast::{BinaryOperator, Expr, Query, Select, Statement};
use crate::sql::visit::VisitorMut;

use super::scope::*;

pub(super) fn implied_filters(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Implied { resolver });
}

struct Implied<'a> {
    resolver: Resolver<'a>,
}

impl VisitorMut for Implied<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> std::ops::ControlFlow<()> {
        for select in selects_mut(query.body.as_mut()) {
            add_implied(select, &self.resolver);
        }
        std::ops::ControlFlow::Continue(())
    }
}

fn add_implied(select: &mut Select, resolver: &Resolver) {
    let (Some(selection), Some(scopes)) = (&select.selection, resolver.scopes(&select.from)) else { return };
    if scopes.len() < 2 {
        return;
    }
    let mut implied = Vec::new();
    for conjunct in conjuncts(selection) {
        let mut disjuncts = Vec::new();
        flatten(conjunct, &BinaryOperator::Or, &mut disjuncts);
        if disjuncts.len() < 2 || owner(conjunct, &scopes).is_some() {
            continue;
        }
        implied.extend((0..scopes.len()).filter_map(|relation| implied_for(&disjuncts, relation, &scopes)));
    }
    if !implied.is_empty() {
        let selection = select.selection.take().expect("checked");
        select.selection = joined_by(BinaryOperator::And, std::iter::once(selection).chain(implied).collect());
    }
}

/// The OR of each disjunct's conditions on `relation` alone, if every
/// disjunct has one.
fn implied_for(disjuncts: &[&Expr], relation: usize, scopes: &[Scope]) -> Option<Expr> {
    let parts = disjuncts.iter().map(|disjunct| {
        let own = conjuncts(disjunct).into_iter().filter(|c| owner(c, scopes) == Some(relation) && without_calls(*c));
        joined_by(BinaryOperator::And, own.cloned().collect())
    });
    joined_by(BinaryOperator::Or, parts.collect::<Option<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    fn rewritten(sql: &str) -> String {
        let columns = columns_of(&[("nation", &["n_key", "n_name"]), ("supplier", &["s_key", "s_nation", "s_bal"])]);
        rewritten_over(sql, &columns, super::implied_filters)
    }

    #[test]
    fn each_relation_gets_what_every_disjunct_says_of_it() {
        assert_eq!(
            rewritten(
                "SELECT 1 FROM nation n1, nation n2, supplier WHERE s_nation = n1.n_key \
                 AND ((n1.n_name = 'A' AND n2.n_name = 'B' AND s_bal > 0) OR (n1.n_name = 'B' AND n2.n_name = 'A'))"
            ),
            "SELECT 1 FROM nation n1, nation n2, supplier WHERE s_nation = n1.n_key \
             AND ((n1.n_name = 'A' AND n2.n_name = 'B' AND s_bal > 0) OR (n1.n_name = 'B' AND n2.n_name = 'A')) \
             AND (n1.n_name = 'A' OR n1.n_name = 'B') AND (n2.n_name = 'B' OR n2.n_name = 'A')"
        );
    }

    #[test]
    fn calls_and_relations_some_disjunct_leaves_out_imply_nothing() {
        let sql = "SELECT 1 FROM nation, supplier WHERE s_nation = n_key AND (n_name = 'A' OR n_name = 'B')";
        assert_eq!(rewritten(sql), sql);
        assert_eq!(
            rewritten("SELECT 1 FROM nation, supplier WHERE (n_name = 'A' AND s_bal > random()) OR (s_bal > 1 AND n_name = 'B')"),
            "SELECT 1 FROM nation, supplier WHERE ((n_name = 'A' AND s_bal > random()) OR (s_bal > 1 AND n_name = 'B')) \
             AND (n_name = 'A' OR n_name = 'B')"
        );
        assert_eq!(
            rewritten("SELECT 1 FROM nation, supplier WHERE (n_name = 'A' AND s_bal > 0) OR n_key < 0"),
            "SELECT 1 FROM nation, supplier WHERE ((n_name = 'A' AND s_bal > 0) OR n_key < 0) AND (n_name = 'A' OR n_key < 0)"
        );
    }
}
