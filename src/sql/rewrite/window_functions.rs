//! Window functions and frames polars-sql lacks, written with the ones it has
//! (`row_number`, `rank`, `count`, `lag`, `lead`, `first_value`):
//!
//! - `ntile(n)`: buckets from the row number and the partition's size, the
//!   first `size % n` buckets one row larger, as SQL defines it;
//! - `percent_rank()` = (rank − 1) / (rows − 1); `cume_dist()` = rows up to
//!   and including the current one's peers / rows, the peers counted with
//!   `rank()` over the reversed order;
//! - frames `ROWS BETWEEN k PRECEDING | CURRENT ROW | k FOLLOWING …` for
//!   `sum`/`count`/`avg`/`min`/`max`: each row of the frame is a `lag`/`lead`
//!   (up to 64 rows), NULLs ignored as aggregates do;
//! - a frame over the whole partition (`UNBOUNDED PRECEDING AND UNBOUNDED
//!   FOLLOWING`): the aggregate over the partition, `last_value` as
//!   `first_value` in the reversed order.
//!
//! Other frames (RANGE with offsets, GROUPS) are left for polars-sql to refuse.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, OrderByExpr, Statement, VisitMut, VisitorMut, WindowFrameBound, WindowFrameUnits, WindowSpec, WindowType,
};

use super::scope::{integer_literal, parse_expr, plain_args};

const MOST_FRAME_ROWS: i64 = 64;

pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut WindowFunctions);
}

struct WindowFunctions;

impl VisitorMut for WindowFunctions {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr {
            if let Some(replacement) = replacement(function) {
                *expr = replacement;
            }
        }
        ControlFlow::Continue(())
    }
}

fn replacement(function: &Function) -> Option<Expr> {
    let Some(WindowType::WindowSpec(spec)) = &function.over else { return None };
    let name = function.name.to_string().to_ascii_lowercase();
    // `count(*)` is the frame's row count: no argument to read.
    let args = if function.args.to_string() == "(*)" { Vec::new() } else { plain_args(function)? };
    let window = Window::new(spec);
    let sql = match (name.as_str(), args.as_slice()) {
        ("ntile", [buckets]) => window.ntile(&buckets.to_string()),
        ("percent_rank", []) => window.percent_rank(),
        ("cume_dist", []) => window.cume_dist(),
        ("lag" | "lead", [value, rows, default]) => window.shifted(&name, value, rows, default),
        _ => window.framed(&name, &args)?,
    };
    parse_expr(&sql)
}

struct Window {
    partition: String,
    order: String,
    reversed: String,
    frame: Option<(WindowFrameUnits, WindowFrameBound, WindowFrameBound)>,
}

impl Window {
    fn new(spec: &WindowSpec) -> Self {
        let list = |items: Vec<String>| items.join(", ");
        let partition = if spec.partition_by.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {}", list(spec.partition_by.iter().map(ToString::to_string).collect()))
        };
        let order_by = |items: Vec<String>| if items.is_empty() { String::new() } else { format!("ORDER BY {}", list(items)) };
        let order = order_by(spec.order_by.iter().map(ToString::to_string).collect());
        let reversed = order_by(spec.order_by.iter().map(|o| reverse(o).to_string()).collect());
        let frame = spec.window_frame.as_ref().map(|frame| {
            (frame.units, frame.start_bound.clone(), frame.end_bound.clone().unwrap_or(WindowFrameBound::CurrentRow))
        });
        Self { partition, order, reversed, frame }
    }

    fn over(&self, order: &str) -> String {
        format!("OVER ({} {})", self.partition, order)
    }

    fn rows(&self) -> String {
        format!("count(*) {}", self.over(""))
    }

    /// The row's number in the window's order, signed (polars' is unsigned,
    /// and the frame arithmetic goes below zero).
    fn row_number(&self) -> String {
        format!("CAST(row_number() {} AS BIGINT)", self.over(&self.order))
    }

    /// `lag`/`lead` with a default for rows the offset takes out of the
    /// partition (polars-sql takes no third argument).
    fn shifted(&self, name: &str, value: &Expr, rows: &Expr, default: &Expr) -> String {
        let inside = match name {
            "lag" => format!("{} > {rows}", self.row_number()),
            _ => format!("{} + {rows} <= {}", self.row_number(), self.rows()),
        };
        format!("CASE WHEN {inside} THEN {name}({value}, {rows}) {} ELSE {default} END", self.over(&self.order))
    }

    fn ntile(&self, buckets: &str) -> String {
        let (rn, rows) = (self.row_number(), self.rows());
        let size = format!("floor({rows} / {buckets})");
        let larger = format!("({rows} - {size} * {buckets})");
        format!(
            "CAST(CASE WHEN {rn} <= {larger} * ({size} + 1) THEN floor(({rn} - 1) / ({size} + 1)) + 1 \
             ELSE floor(({rn} - 1 - {larger} * ({size} + 1)) / {size}) + {larger} + 1 END AS BIGINT)"
        )
    }

    fn percent_rank(&self) -> String {
        let rows = self.rows();
        format!(
            "CASE WHEN {rows} = 1 THEN CAST(0 AS DOUBLE) ELSE (rank() {} - 1) / CAST({rows} - 1 AS DOUBLE) END",
            self.over(&self.order)
        )
    }

    fn cume_dist(&self) -> String {
        let rows = self.rows();
        format!("({rows} - rank() {} + 1) / CAST({rows} AS DOUBLE)", self.over(&self.reversed))
    }

    /// An aggregate or value function over an explicit frame polars-sql lacks.
    fn framed(&self, name: &str, args: &[&Expr]) -> Option<String> {
        let running = (WindowFrameUnits::Rows, WindowFrameBound::Preceding(None), WindowFrameBound::CurrentRow);
        let (units, start, end) = match &self.frame {
            Some(frame) => frame,
            // An ordered window's default frame; polars-sql keeps `avg` whole.
            None if name == "avg" && !self.order.is_empty() => &running,
            None => return None,
        };
        let whole = matches!((start, end), (WindowFrameBound::Preceding(None), WindowFrameBound::Following(None)));
        let arg = args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        if whole {
            return Some(match name {
                "first_value" => format!("first_value({arg}) {}", self.over(&self.order)),
                "last_value" => format!("first_value({arg}) {}", self.over(&self.reversed)),
                "sum" | "count" | "avg" | "min" | "max" => format!("{name}({}) {}", if arg.is_empty() { "*" } else { &arg }, self.over("")),
                _ => return None,
            });
        }
        if matches!((start, end), (WindowFrameBound::Preceding(None), WindowFrameBound::CurrentRow)) {
            // polars-sql runs sums, counts, minima and maxima over this ROWS frame itself, not
            // averages; RANGE is left for it to refuse (it orders rows, not groups of peers).
            return (name == "avg" && *units == WindowFrameUnits::Rows).then(|| self.running_average(&arg));
        }
        if *units != WindowFrameUnits::Rows {
            return None;
        }
        let (first, last) = (offset(start)?, offset(end)?);
        if first > last || last - first >= MOST_FRAME_ROWS {
            return None;
        }
        match (name, args) {
            ("count", []) => Some(self.frame_rows(first, last)),
            ("sum" | "count" | "avg" | "min" | "max", [value]) => Some(self.frame_aggregate(name, value, first, last)),
            _ => None,
        }
    }

    fn running_average(&self, arg: &str) -> String {
        let over = format!("OVER ({} {} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)", self.partition, self.order);
        format!("CASE WHEN count({arg}) {over} = 0 THEN NULL ELSE sum({arg}) {over} / CAST(count({arg}) {over} AS DOUBLE) END")
    }

    /// How many rows of the partition the frame `first..=last` covers.
    fn frame_rows(&self, first: i64, last: i64) -> String {
        let (rn, rows) = (self.row_number(), self.rows());
        let covered = format!("(least({last}, {rows} - {rn}) - greatest({first}, 1 - {rn}) + 1)");
        format!("CASE WHEN {covered} > 0 THEN {covered} ELSE 0 END")
    }

    fn frame_aggregate(&self, name: &str, value: &Expr, first: i64, last: i64) -> String {
        let terms: Vec<String> = (first..=last)
            .map(|at| match at {
                0 => format!("({value})"),
                at if at < 0 => format!("lag({value}, {}) {}", -at, self.over(&self.order)),
                at => format!("lead({value}, {at}) {}", self.over(&self.order)),
            })
            .collect();
        let present = terms.iter().map(|t| format!("CASE WHEN {t} IS NULL THEN 0 ELSE 1 END")).collect::<Vec<_>>().join(" + ");
        let total = terms.iter().map(|t| format!("coalesce({t}, 0)")).collect::<Vec<_>>().join(" + ");
        match name {
            "count" => format!("({present})"),
            "sum" => format!("CASE WHEN ({present}) = 0 THEN NULL ELSE {total} END"),
            "avg" => format!("CASE WHEN ({present}) = 0 THEN NULL ELSE ({total}) / CAST({present} AS DOUBLE) END"),
            _ if terms.len() == 1 => terms[0].clone(),
            "min" => format!("least({})", terms.join(", ")),
            _ => format!("greatest({})", terms.join(", ")),
        }
    }
}

/// A frame bound as a row offset from the current row (preceding < 0).
fn offset(bound: &WindowFrameBound) -> Option<i64> {
    match bound {
        WindowFrameBound::CurrentRow => Some(0),
        WindowFrameBound::Preceding(expr) => expr.as_deref().and_then(integer_literal).map(|k| -k),
        WindowFrameBound::Following(expr) => expr.as_deref().and_then(integer_literal),
    }
}

/// The same key ordered the other way, NULLs included: ascending NULLS
/// LAST is descending NULLS FIRST.
fn reverse(order: &OrderByExpr) -> OrderByExpr {
    let mut reversed = order.clone();
    reversed.options.asc = Some(!order.options.asc.unwrap_or(true));
    reversed.options.nulls_first = order.options.nulls_first.map(|first| !first);
    reversed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        crate::sql::rewrite::scope::rewritten_by(sql, rewrite)
    }

    #[test]
    fn whole_partition_frames_drop_the_order() {
        let sql = rewritten("SELECT last_value(x) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM t");
        assert_eq!(sql, "SELECT first_value(x) OVER (PARTITION BY p ORDER BY o DESC) FROM t");
    }

    #[test]
    fn bounded_frames_read_neighbours() {
        let sql = rewritten("SELECT max(x) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM t");
        assert_eq!(sql, "SELECT greatest(lag(x, 1) OVER (ORDER BY o), (x), lead(x, 1) OVER (ORDER BY o)) FROM t");
        assert!(rewritten("SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN 100 PRECEDING AND CURRENT ROW) FROM t").contains("ROWS BETWEEN 100"));
    }
}
