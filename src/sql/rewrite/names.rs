//! Output names for unaliased projections.
//!
//! polars-sql names an unaliased expression after its first input, so
//! `SELECT min(x), max(x)` fails as "duplicate output name `x`", and so do
//! `SELECT -a, -b` (both `literal`: `-a` is `0 - a`). Where such names
//! would collide, the colliding expressions are aliased by their SQL text
//! (`"max(x)"`, as DuckDB names them), and so is a grouped query's item
//! named `literal` that aggregates nothing (`SELECT 1 - k … GROUP BY k`,
//! which polars-sql could not find again after grouping); queries that work
//! already keep Polars' names.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, Select, SelectItem, Statement};
use crate::sql::visit::{Visit, VisitMut, Visitor, VisitorMut};

use super::aggregates::holds_aggregate;
use super::scope::{function_args, has_group_by, item_expr};

pub(super) fn first_column(expr: &Expr) -> Option<String> {
    struct First(Option<String>);
    impl Visitor for First {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let name = match expr {
                Expr::Identifier(ident) => Some(ident.value.clone()),
                Expr::CompoundIdentifier(idents) => idents.last().map(|i| i.value.clone()),
                _ => None,
            };
            match name {
                Some(name) => {
                    self.0 = Some(name);
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        }
    }
    let mut first = First(None);
    let _ = expr.visit(&mut first);
    first.0
}

const LITERAL: &str = "literal";

/// The name Polars gives a projection (as `polars_name`, told by
/// `polars_expr_name` where it can), and whether aliasing it is ours to do.
pub(super) fn polars_item_name(item: &SelectItem) -> Option<(String, bool)> {
    match item {
        SelectItem::UnnamedExpr(expr) if !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => {
            Some((polars_expr_name(expr).or_else(|| first_column(expr)).unwrap_or_else(|| LITERAL.into()), true))
        }
        _ => polars_name(item),
    }
}

/// The name Polars gives an unaliased expression: its first input's as
/// polars-sql builds it. A literal's is `literal`, and so is `-x` (`0 - x`),
/// a CASE whose first result is a literal, and `a % b` (`remainders.rs`
/// writes it as a CASE whose first result is a negation). None where the
/// rule is not known.
pub(super) fn polars_expr_name(expr: &Expr) -> Option<String> {
    use sqlparser::ast::{BinaryOperator, UnaryOperator};
    match expr {
        Expr::Identifier(ident) => Some(ident.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|part| part.value.clone()),
        Expr::Value(_) | Expr::TypedString { .. } | Expr::Interval(_) => Some(LITERAL.into()),
        Expr::UnaryOp { op: UnaryOperator::Not, expr } => polars_expr_name(expr),
        Expr::UnaryOp { .. } | Expr::BinaryOp { op: BinaryOperator::Modulo, .. } => Some(LITERAL.into()),
        // polars-sql's day of the week is a CASE whose first result is a literal (Sunday's 0).
        Expr::Extract { field, .. } if is_day_of_week(&field.to_string()) => Some(LITERAL.into()),
        Expr::BinaryOp { left: inner, .. }
        | Expr::Nested(inner)
        | Expr::Cast { expr: inner, .. }
        | Expr::IsNull(inner)
        | Expr::IsNotNull(inner)
        | Expr::Extract { expr: inner, .. }
        | Expr::Substring { expr: inner, .. }
        | Expr::Trim { expr: inner, .. }
        | Expr::InList { expr: inner, .. }
        | Expr::Between { expr: inner, .. }
        | Expr::Like { expr: inner, .. }
        | Expr::ILike { expr: inner, .. }
        | Expr::Position { r#in: inner, .. } => polars_expr_name(inner),
        Expr::Case { conditions, .. } => conditions.first().and_then(|when| polars_expr_name(&when.result)),
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            let args = function_args(function);
            match (name.as_str(), args.as_deref()) {
                // Floe's frame functions count a literal's rows (`window_functions/frames.rs`).
                ("count", None) if super::window_functions::needs_floe_functions(function) => Some(LITERAL.into()),
                ("count", None) => Some("len".into()),
                // Polars ranks the (first) order key, and names the rank after it.
                ("rank" | "dense_rank", Some([])) => match &function.over {
                    Some(sqlparser::ast::WindowType::WindowSpec(spec)) => spec.order_by.first().and_then(|key| polars_expr_name(&key.expr)),
                    _ => None,
                },
                ("nullif" | "mod", _) | (_, Some([])) => Some(LITERAL.into()),
                ("date_part" | "datepart", Some([Expr::Value(part), _])) if is_day_of_week(part.to_string().trim_matches('\'')) => Some(LITERAL.into()),
                ("date_part" | "datepart" | "date_trunc" | "datetrunc", Some([_, value])) => polars_expr_name(value),
                (_, Some([first, ..])) => polars_expr_name(first),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_day_of_week(part: &str) -> bool {
    part.eq_ignore_ascii_case("dow") || part.eq_ignore_ascii_case("dayofweek")
}

/// The name Polars gives a projection, and whether aliasing it is ours to do.
pub(super) fn polars_name(item: &SelectItem) -> Option<(String, bool)> {
    match item {
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some((ident.value.clone(), false)),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(idents)) => idents.last().map(|i| (i.value.clone(), false)),
        SelectItem::UnnamedExpr(expr) => Some((first_column(expr).unwrap_or_else(|| "literal".into()), true)),
        SelectItem::ExprWithAlias { alias, .. } => Some((alias.value.clone(), false)),
        _ => None,
    }
}

/// The items Polars would name alike, of those it is ours to alias.
fn colliding(names: &[Option<(String, bool)>]) -> impl Iterator<Item = usize> + '_ {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (name, _) in names.iter().flatten() {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    names.iter().enumerate().filter_map(move |(i, name)| match name {
        Some((name, true)) if uses[name.as_str()] > 1 => Some(i),
        _ => None,
    })
}

fn name_select(select: &mut Select) {
    // The first-column guess decided names before `polars_expr_name` knew
    // better; both are asked, so no query that worked changes its names.
    let guessed: Vec<_> = select.projection.iter().map(polars_name).collect();
    let named: Vec<_> = select.projection.iter().map(polars_item_name).collect();
    let mut aliased: Vec<usize> = colliding(&guessed).chain(colliding(&named)).collect();
    if has_group_by(select) {
        let lost = |(i, item): (usize, &SelectItem)| match item {
            SelectItem::UnnamedExpr(expr) if !holds_aggregate(expr) && polars_expr_name(expr).as_deref() == Some(LITERAL) => Some(i),
            _ => None,
        };
        aliased.extend(select.projection.iter().enumerate().filter_map(lost));
    }
    aliased.sort_unstable();
    aliased.dedup();
    let mut texts = HashMap::new();
    for index in aliased {
        name_by_text(&mut select.projection[index], &mut texts);
    }
}

/// An unaliased item aliased by its SQL text; the same text twice (`SELECT
/// sum(x), sum(x)`) is a repeated output name, marked. `texts` counts the
/// SELECT's texts named so far.
fn name_by_text(item: &mut SelectItem, texts: &mut HashMap<String, usize>) {
    let SelectItem::UnnamedExpr(expr) = item else { return };
    let text = expr.to_string();
    let used = texts.entry(text.clone()).or_default();
    *used += 1;
    let name = if *used > 1 { format!("{text}{REPEAT_MARK}{used}") } else { text };
    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', name) };
}

/// Unaliased items that read the clock, named by their text as written
/// (`now()`, as DuckDB names it): the clock becomes a literal of the
/// statement's start (`temporal.rs`), and a name made of that literal
/// (`SELECT now(), now()` collide) changed between planning and running,
/// which failed as an inconsistent schema, and from day to day.
pub(super) fn clock_items_as_written(statement: &mut Statement) {
    struct Clock;
    impl VisitorMut for Clock {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            let mut texts = HashMap::new();
            for item in &mut select.projection {
                if matches!(item, SelectItem::UnnamedExpr(expr) if reads_clock(expr)) {
                    name_by_text(item, &mut texts);
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Clock);
}

fn reads_clock(expr: &Expr) -> bool {
    let mut found = false;
    let _ = crate::sql::visit::visit_expressions(expr, |expr| {
        found |= matches!(expr, Expr::Function(function) if super::temporal::is_clock(function));
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Where a repeated output name is marked, between the name and its ordinal.
const REPEAT_MARK: &str = "__floe_repeat_";

/// Repeated output names of the statement's own SELECT list (`SELECT a.id,
/// b.id`, `x AS n, y AS n`): SQL allows them and Arrow does too, Polars'
/// frames do not. Each repeat is renamed with a mark that [`presented_name`]
/// takes off again, so the client sees the names the query wrote.
pub(super) fn mark_repeated_outputs(statement: &mut Statement) {
    let Statement::Query(query) = statement else { return };
    let Some(select) = super::scope::selects_mut(&mut query.body).into_iter().next() else { return };
    let mut uses: HashMap<String, usize> = HashMap::new();
    // A mark is never one an item has already (this runs again once a `*` is spelled out).
    let mut taken: Vec<String> = select.projection.iter().filter_map(polars_name).map(|(name, _)| name).collect();
    for item in select.projection.iter_mut() {
        // Unaliased expressions are named apart by `name_colliding_projections`.
        let Some((name, false)) = polars_name(item) else { continue };
        let used = uses.entry(name.clone()).or_default();
        *used += 1;
        let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
        if *used > 1 {
            let mut ordinal = *used;
            while taken.contains(&format!("{name}{REPEAT_MARK}{ordinal}")) {
                ordinal += 1;
            }
            let marked = format!("{name}{REPEAT_MARK}{ordinal}");
            taken.push(marked.clone());
            *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: Ident::with_quote('"', marked) };
        }
    }
}

/// The name a client sees for an output column Polars named `name`.
pub fn presented_name(name: &str) -> &str {
    match name.rsplit_once(REPEAT_MARK) {
        Some((presented, ordinal)) if !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit()) => presented,
        _ => name,
    }
}

pub(super) fn name_colliding_projections(statement: &mut Statement) {
    struct Names;
    impl VisitorMut for Names {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            name_select(select);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Names);
}

/// `ORDER BY sum(x)` in a grouped query whose SELECT list has `sum(x)`:
/// polars-sql sorts the grouped frame, where the aggregate is no longer an
/// expression it can evaluate, so the key becomes the item's position (SQL
/// means the same; TPC-DS 85, 91). So does a qualified key the list has
/// (`SELECT e.id … GROUP BY e.id ORDER BY e.id`): where an earlier joined
/// relation also has `id`, polars-sql sorted by `id:e`, a name the grouped
/// frame no longer has ("unable to find column"). And, in any query, a key
/// that is an item holding a subquery (`ORDER BY (SELECT max(…) … = t.k)`).
pub(super) fn order_by_projections(statement: &mut Statement) {
    struct Positions;
    impl VisitorMut for Positions {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
            let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else { return ControlFlow::Continue(()) };
            let Some(sqlparser::ast::OrderBy { kind: sqlparser::ast::OrderByKind::Expressions(items), .. }) = &mut query.order_by
            else {
                return ControlFlow::Continue(());
            };
            let grouped = has_group_by(select) || select.projection.iter().filter_map(item_expr).any(holds_aggregate);
            for item in items.iter_mut() {
                // A key that repeats an item's subquery too: the subquery passes
                // place the item's, and would find the key's a second time to place.
                let subquery = super::scope::any_outside_subqueries(&item.expr, super::aggregates::opens_subquery);
                if matches!(item.expr, Expr::Identifier(_) | Expr::Value(_)) || !(grouped || subquery) {
                    continue;
                }
                let written = item.expr.to_string();
                let same = |item: &SelectItem| item_expr(item).is_some_and(|expr| expr.to_string().eq_ignore_ascii_case(&written));
                if let Some(position) = select.projection.iter().position(same) {
                    item.expr = Expr::value(sqlparser::ast::Value::Number((position + 1).to_string(), false));
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Positions);
}

#[cfg(test)]
mod tests {
    use super::super::scope::rewritten_by;
    use super::{clock_items_as_written, name_colliding_projections, order_by_projections};

    #[test]
    fn items_that_read_the_clock_are_named_as_written() {
        assert_eq!(
            rewritten_by("SELECT now(), now() > TIMESTAMP '2020-01-01', CURRENT_DATE, now() AS n, x FROM t", clock_items_as_written),
            "SELECT now() AS \"now()\", now() > TIMESTAMP '2020-01-01' AS \"now() > TIMESTAMP '2020-01-01'\", CURRENT_DATE AS \"CURRENT_DATE\", now() AS n, x FROM t"
        );
        assert_eq!(
            rewritten_by("SELECT count(*) FROM (SELECT now(), now()) AS d", clock_items_as_written),
            "SELECT count(*) FROM (SELECT now() AS \"now()\", now() AS \"now()__floe_repeat_2\") AS d"
        );
    }

    #[test]
    fn grouped_sort_keys_the_list_has_are_its_positions() {
        assert_eq!(
            rewritten_by("SELECT e.id, sum(x) FROM d JOIN e ON e.k = d.k GROUP BY e.id ORDER BY e.id DESC, sum(x), id", order_by_projections),
            "SELECT e.id, sum(x) FROM d JOIN e ON e.k = d.k GROUP BY e.id ORDER BY 1 DESC, 2, id"
        );
        let ungrouped = "SELECT e.id FROM d JOIN e ON e.k = d.k ORDER BY e.id";
        assert_eq!(rewritten_by(ungrouped, order_by_projections), ungrouped);
    }

    #[test]
    fn items_polars_names_alike_are_aliased() {
        assert_eq!(
            rewritten_by("SELECT -a, -b, a % 2, CASE WHEN a > 1 THEN 'x' END FROM t", name_colliding_projections),
            "SELECT -a AS \"-a\", -b AS \"-b\", a % 2 AS \"a % 2\", CASE WHEN a > 1 THEN 'x' END AS \"CASE WHEN a > 1 THEN 'x' END\" FROM t"
        );
        // polars-sql's day of the week is named as a literal is (the year by
        // the first column read, as the other two were once guessed to be).
        assert_eq!(
            rewritten_by("SELECT EXTRACT(DOW FROM d), date_part('dow', d), 0, EXTRACT(YEAR FROM d) FROM t", name_colliding_projections),
            "SELECT EXTRACT(DOW FROM d) AS \"EXTRACT(DOW FROM d)\", date_part('dow', d) AS \"date_part('dow', d)\", 0 AS \"0\", EXTRACT(YEAR FROM d) AS \"EXTRACT(YEAR FROM d)\" FROM t"
        );
        // Grouped, a `literal` that aggregates nothing is lost; one that aggregates is not.
        assert_eq!(
            rewritten_by("SELECT 'k' || k, count(*) - 1, sum(x) FROM t GROUP BY k", name_colliding_projections),
            "SELECT 'k' || k AS \"'k' || k\", count(*) - 1, sum(x) FROM t GROUP BY k"
        );
    }

    #[test]
    fn repeated_items_and_ranks_named_after_their_key_are_named_apart() {
        assert_eq!(
            rewritten_by("SELECT sum(f), sum(f) FROM t GROUP BY s", name_colliding_projections),
            "SELECT sum(f) AS \"sum(f)\", sum(f) AS \"sum(f)__floe_repeat_2\" FROM t GROUP BY s"
        );
        assert_eq!(
            rewritten_by("SELECT id * 2, dense_rank() OVER (ORDER BY id DESC) FROM t", name_colliding_projections),
            "SELECT id * 2 AS \"id * 2\", dense_rank() OVER (ORDER BY id DESC) AS \"dense_rank() OVER (ORDER BY id DESC)\" FROM t"
        );
    }

    #[test]
    fn names_polars_keeps_apart_stay() {
        for sql in ["SELECT a + 1, -b FROM t", "SELECT -a FROM t", "SELECT upper(s), count(*) FROM t GROUP BY upper(s)", "SELECT k, -k AS n FROM t GROUP BY k"] {
            assert_eq!(rewritten_by(sql, name_colliding_projections), sql);
        }
    }
}
