//! Functions other engines name that polars-sql lacks, written as the
//! expressions it has: `bool_and` / `every` / `bool_or` as the `min` / `max`
//! of their booleans (false sorts first; NULLs are skipped and no rows give
//! NULL alike), `var_pop` / `stddev_pop` from `covar_pop(x, x)`, SQL
//! Server's and Tableau's `iif`, DuckDB's `contains`, `dayname`,
//! `monthname`, `epoch` and `make_date`, PostgreSQL's `btrim`, and
//! `approx_count_distinct` counted exactly (an estimate's best case).

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, FunctionArguments, Ident, ObjectNamePart, Statement, VisitMut, VisitorMut};

use super::scope::{parse_expr, plain_args};

pub(super) fn rewrite(statement: &mut Statement) {
    struct Synonyms;
    impl VisitorMut for Synonyms {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(function) = expr {
                logical_aggregate(function);
                if let Some(written) = synonym(function) {
                    *expr = written;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Synonyms);
}

/// A function's name, lowercased, when it is one unqualified identifier.
pub(super) fn bare_name(function: &Function) -> Option<String> {
    let [name] = function.name.0.as_slice() else { return None };
    Some(name.as_ident()?.value.to_ascii_lowercase())
}

fn logical_aggregate(function: &mut Function) {
    let renamed = match bare_name(function).as_deref() {
        Some("bool_and" | "every") => "min",
        Some("bool_or") => "max",
        _ => return,
    };
    function.name.0 = vec![ObjectNamePart::Identifier(Ident::new(renamed))];
}

/// The expression a plain call (no window, DISTINCT or FILTER: polars-sql
/// runs `covar_pop` over a window as one row) is written as.
fn synonym(function: &Function) -> Option<Expr> {
    let plain = function.over.is_none() && function.filter.is_none() && function.within_group.is_empty();
    let distinct = matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some());
    if !plain || distinct {
        return None;
    }
    let args = plain_args(function)?;
    let written = match (bare_name(function)?.as_str(), args.as_slice()) {
        ("var_pop", [x]) => format!("covar_pop({x}, {x})"),
        ("stddev_pop", [x]) => format!("sqrt(covar_pop({x}, {x}))"),
        ("iif", [condition, then, otherwise]) => format!("CASE WHEN {condition} THEN {then} ELSE {otherwise} END"),
        ("approx_count_distinct", [x]) => format!("count(DISTINCT {x})"),
        ("contains", [text, part]) => format!("(strpos({text}, {part}) > 0)"),
        ("btrim", [text]) => format!("trim({text})"),
        ("btrim", [text, characters]) => format!("trim(BOTH {characters} FROM {text})"),
        ("dayname", [date]) => format!("strftime({date}, '%A')"),
        ("monthname", [date]) => format!("strftime({date}, '%B')"),
        ("epoch", [time]) => format!("date_part('epoch', {time})"),
        ("make_date", [year, month, day]) => format!(
            "CAST(strptime(concat(CAST({year} AS VARCHAR), '-', CAST({month} AS VARCHAR), '-', CAST({day} AS VARCHAR)), '%Y-%m-%d') AS DATE)"
        ),
        _ => return None,
    };
    parse_expr(&written)
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        crate::sql::rewrite::scope::rewritten_by(sql, super::rewrite)
    }

    #[test]
    fn logical_aggregates_are_min_and_max() {
        assert_eq!(
            rewritten("SELECT bool_and(a > 1), EVERY(b), bool_or(c) OVER (PARTITION BY d) FROM t GROUP BY d"),
            "SELECT min(a > 1), min(b), max(c) OVER (PARTITION BY d) FROM t GROUP BY d"
        );
    }

    #[test]
    fn other_engines_functions_are_written_with_polars_sqls() {
        assert_eq!(
            rewritten("SELECT var_pop(x), STDDEV_POP(x + 1), iif(a > 1, 'y', 'n'), contains(s, 'li'), btrim(s, 'xy'), approx_count_distinct(s) FROM t"),
            "SELECT covar_pop(x, x), sqrt(covar_pop(x + 1, x + 1)), CASE WHEN a > 1 THEN 'y' ELSE 'n' END, (strpos(s, 'li') > 0), TRIM(BOTH 'xy' FROM s), count(DISTINCT s) FROM t"
        );
        let kept = "SELECT var_pop(x) OVER (PARTITION BY g), var_pop(DISTINCT x), contains(a, b, c) FROM t";
        assert_eq!(rewritten(kept), kept);
    }
}
