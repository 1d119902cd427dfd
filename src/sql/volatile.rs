//! Whether a statement's answer depends on when or by chance it runs: the
//! clock, random numbers, fresh identifiers. Such answers are never reused.

use std::ops::ControlFlow;

use sqlparser::ast::Expr;
use crate::sql::visit::{Visit, Visitor};

/// Function names (lower case) whose value changes from one run to the next.
const VOLATILE: &[&str] = &[
    "now", "current_timestamp", "current_date", "current_time", "localtime", "localtimestamp", "today",
    "random", "rand", "uuid", "gen_random_uuid", "uuid4",
];

pub(super) fn is_volatile<T: Visit>(node: &T) -> bool {
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Function(function) => {
                    let name = function.name.0.last().and_then(|part| part.as_ident()).map(|ident| ident.value.to_ascii_lowercase());
                    if name.is_some_and(|name| VOLATILE.contains(&name.as_str())) {
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    Visit::visit(node, &mut Finder).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volatile(sql: &str) -> bool {
        is_volatile(&super::super::parse::parse_single(sql).unwrap())
    }

    #[test]
    fn clock_and_chance_are_volatile_anywhere_in_the_statement() {
        assert!(volatile("SELECT now()"));
        assert!(volatile("SELECT * FROM t WHERE ts > CURRENT_TIMESTAMP - INTERVAL '1' DAY"));
        assert!(volatile("SELECT a FROM t WHERE a IN (SELECT a FROM u ORDER BY random() LIMIT 3)"));
        assert!(volatile("SELECT current_date"));
        assert!(!volatile("SELECT count(*), max(ts) FROM t WHERE a = 1"));
    }
}
