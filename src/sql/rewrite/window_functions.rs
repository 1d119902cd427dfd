//! Window functions and frames polars-sql lacks, written with the ones it has
//! (`row_number`, `rank`, `count`, `lag`, `lead`, `first_value`):
//!
//! - `ntile(n)`: buckets from the row number and the partition's size, the
//!   first `size % n` buckets one row larger, as SQL defines it;
//! - `percent_rank()` = (rank − 1) / (rows − 1); `cume_dist()` = rows up to
//!   and including the current one's peers / rows, the peers counted with
//!   `rank()` over the reversed order;
//! - frames `ROWS BETWEEN k PRECEDING | CURRENT ROW | k FOLLOWING …` for
//!   `sum`/`count`/`avg`/`min`/`max` over ordered rows: Floe's `floe_rows_…`
//!   function, which sorts the rows itself; out of reach of Floe's
//!   functions, each row of the frame a `lag`/`lead` (up to 64 rows), NULLs
//!   ignored as aggregates do;
//! - a frame over the whole partition (`UNBOUNDED PRECEDING AND UNBOUNDED
//!   FOLLOWING`): the aggregate over the partition, `last_value` as
//!   `first_value` in the reversed order.
//!
//! - an ordered window's default frame (`RANGE BETWEEN UNBOUNDED PRECEDING
//!   AND CURRENT ROW`, which ends at the current row's last peer), and the
//!   frame from the current row's peers to the end, for `sum`/`count`/
//!   `avg`/`min`/`max`: Floe's `floe_peers_…` function, given the partition
//!   keys too (polars-sql's cumulative windows end at the row, not its
//!   peers) — where polars-sql lets registered functions reach: the
//!   statement's own SELECT and its top-level CTEs (`FunctionReach`), which
//!   subqueries inside expressions are moved into first (`lift.rs`);
//!   elsewhere refused by name rather than answered to the row;
//!
//! - a frame by value distance (`RANGE BETWEEN 7 PRECEDING AND CURRENT ROW`,
//!   `INTERVAL '7 days' PRECEDING`) over one ORDER BY key, for the same
//!   aggregates: Floe's `floe_range_…` function, reached the same way.
//!
//! - `GROUPS` frames over ordered rows: a value frame over each row's peer
//!   group number.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, OrderByExpr, Statement, WindowFrameBound, WindowFrameUnits, WindowSpec, WindowType};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::scope::{integer_literal, parse_expr, plain_args, FunctionReach};
use crate::sql::aggregate_names::aggregate;
use crate::sql::functions::{KeyOrder, MixedOrder};

pub(super) mod constant_keys;
mod every_row;
mod frames;
pub(super) mod named;
pub(super) mod nulls;

pub(super) use frames::refuse_unsupported_frames;
pub(super) use every_row::over_every_row;
pub(super) use nulls::nulls_in_order;

/// Refuses, by name, a window over an aggregate polars-sql would answer as one row.
pub(super) fn refuse_windowless(statement: &Statement) -> crate::sql::Result<()> {
    struct Windowless;
    impl sqlparser::ast::Visitor for Windowless {
        type Break = String;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
            let name = super::synonyms::bare_name(function);
            match function.over.is_some() && name.and_then(|name| aggregate(&name)).is_some_and(|a| a.windowless) {
                true => ControlFlow::Break(expr.to_string()),
                false => ControlFlow::Continue(()),
            }
        }
    }
    match crate::sql::visit::Visit::visit(statement, &mut Windowless) {
        ControlFlow::Break(call) => Err(crate::sql::Error::Unsupported(format!(
            "`{call}` is not supported: this aggregate runs grouped, not over a window (aggregate it in a \
             grouped subquery and join that back)"
        ))),
        ControlFlow::Continue(()) => Ok(()),
    }
}

const MOST_FRAME_ROWS: i64 = 64;

/// Every window but those whose frame ends at a peer, left for [`peer_frames`].
pub(super) fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut WindowFunctions { peers: None, reach: FunctionReach::default() });
}

/// Frames that end at a peer or reach by value, once every other pass has
/// placed every window (a grouped query's run in an outer query, an
/// expression's subquery lifted into a CTE): `floe_peers_…`,
/// `floe_range_…` and `floe_rows_…` where Floe's functions reach; elsewhere refused, as
/// polars-sql's own frames end at the row (wrong on ties).
pub(super) fn peer_frames(statement: &mut Statement) -> crate::sql::Result<()> {
    match statement.visit(&mut WindowFunctions { peers: Some(false), reach: FunctionReach::default() }) {
        ControlFlow::Break(window) => Err(crate::sql::Error::Unsupported(format!(
            "the window frame of `OVER ({window})` runs only in the query's own SELECTs, its CTEs, derived \
             tables, set operations' SELECTs and subqueries that read nothing of the query around them: \
             this one is in a subquery that does; join the query to a CTE that computes the window instead"
        ))),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether `function` is a window whose frame or order only Floe's functions compute.
pub(super) fn needs_floe_functions(function: &Function) -> bool {
    let mixed = matches!(&function.over, Some(WindowType::WindowSpec(spec)) if mixed_directions(spec).is_some());
    mixed || (replacement(function, Some(true)).is_some() && running_extreme(function).is_none())
}

/// A running `min`/`max` over ROWS, which polars-sql runs itself but for text.
fn running_extreme(function: &Function) -> Option<String> {
    let Some(WindowType::WindowSpec(spec)) = &function.over else { return None };
    let name = function.name.to_string().to_ascii_lowercase();
    Window::new(spec).running_extreme(&name, &plain_args(function)?)
}

/// The keys' orders, when they run in more than one direction.
fn mixed_directions(spec: &WindowSpec) -> Option<Vec<KeyOrder>> {
    let keys: Vec<KeyOrder> = spec.order_by.iter().map(key_order).collect();
    keys.iter().any(|key| key.descending != keys[0].descending).then_some(keys)
}

fn is_peer_frame(function: &Function) -> bool {
    let Some(WindowType::WindowSpec(spec)) = &function.over else { return false };
    Window::new(spec).distances().is_none() && replacement(function, Some(true)).is_some()
}

/// A window ordered by keys in mixed directions (`ORDER BY total DESC,
/// name`), which polars-sql refuses, ordered by each row's dense rank in
/// that order instead (`floe_order_…`): the same order, the same peers.
fn order_in_one_direction(function: &mut Function) {
    if matches!(&function.over, Some(WindowType::WindowSpec(spec)) if mixed_directions(spec).is_some()) {
        order_by_rank(function);
    }
}

/// The window ordered by one ascending key, each row's dense rank in its written order.
fn order_by_rank(function: &mut Function) {
    let Some(WindowType::WindowSpec(spec)) = &mut function.over else { return };
    let keys: Vec<KeyOrder> = spec.order_by.iter().map(key_order).collect();
    let args: Vec<String> = spec.order_by.iter().map(|key| key.expr.to_string()).collect();
    let Some(rank) = parse_expr(&MixedOrder { keys }.call(&args)) else { return };
    let mut ascending = spec.order_by[0].clone();
    ascending.expr = rank;
    ascending.options.asc = None;
    ascending.options.nulls_first = None;
    spec.order_by = vec![ascending];
}

struct WindowFunctions {
    /// None: the first pass; Some: the peers pass (whether Floe's functions reach).
    peers: Option<bool>,
    reach: FunctionReach,
}

impl VisitorMut for WindowFunctions {
    /// A window whose frame cannot run where it is.
    type Break = String;

    fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<String> {
        self.reach.enter(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut sqlparser::ast::Query) -> ControlFlow<String> {
        self.reach.leave();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<String> {
        if let Expr::Function(function) = expr {
            let peers = self.peers.map(|_| self.reach.reaches());
            // Floe's peer frames take keys in any direction themselves.
            if peers == Some(true) && !is_peer_frame(function) {
                order_in_one_direction(function);
            }
            if let (Some(false), Some(WindowType::WindowSpec(spec))) = (peers, &function.over) {
                if needs_floe_functions(function) && replacement(function, peers).is_none() {
                    return ControlFlow::Break(spec.to_string());
                }
            }
            if let Some(replacement) = replacement(function, peers) {
                *expr = replacement;
            }
        }
        ControlFlow::Continue(())
    }
}

fn replacement(function: &Function, peers: Option<bool>) -> Option<Expr> {
    let Some(WindowType::WindowSpec(spec)) = &function.over else { return None };
    let name = function.name.to_string().to_ascii_lowercase();
    // `count(*)` is the frame's row count: no argument to read.
    let args = if function.args.to_string() == "(*)" { Vec::new() } else { plain_args(function)? };
    let window = Window::new(spec);
    if let ("first_value" | "last_value", [value]) = (name.as_str(), args.as_slice()) {
        if let Some(sql) = window.frame_edge(&name, value) {
            return parse_expr(&sql);
        }
        if let (Some(edge), None) = (window.peer_edge(&name), peers) {
            return parse_expr(&edge(value));
        }
    }
    let running_extreme = window.running_extreme(&name, &args);
    let sql = match (name.as_str(), args.as_slice(), peers) {
        (_, _, Some(true)) if running_extreme.is_some() => running_extreme?,
        (_, _, Some(true)) if window.distances().is_some() => window.value_frame(&name, &args)?,
        (_, _, Some(true)) => window.peer_frame(&name, &args)?,
        // Out of reach of Floe's functions, a short ROWS frame still reads its neighbours.
        (_, _, Some(false)) if window.is_rows() => window.framed(&name, &args)?,
        (_, _, Some(false)) => return None,
        // ROWS frames and the like wait for the peers pass, which knows where Floe's functions reach.
        (_, _, None) if window.distances().is_some() => return None,
        // Without an order every row of the partition is a peer of every other: all rank first.
        ("rank" | "dense_rank", [], None) if window.keys.is_empty() => format!("CAST(count(*) {} > 0 AS BIGINT)", window.over("")),
        ("ntile", [buckets], None) => window.ntile(&buckets.to_string()),
        ("percent_rank", [], None) => window.percent_rank(),
        ("cume_dist", [], None) => window.cume_dist(),
        ("lag" | "lead", [value, rows, default], None) => window.shifted(&name, value, rows, default),
        _ => window.framed(&name, &args)?,
    };
    parse_expr(&sql)
}

struct Window {
    partition: String,
    partition_keys: Vec<String>,
    /// The ORDER BY keys as written, and how each orders.
    keys: Vec<(String, KeyOrder)>,
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
        let keys = spec.order_by.iter().map(|o| (o.expr.to_string(), key_order(o))).collect();
        let partition_keys = spec.partition_by.iter().map(ToString::to_string).collect();
        Self { partition, partition_keys, keys, order, reversed, frame }
    }

    fn is_rows(&self) -> bool {
        matches!(self.frame, Some((WindowFrameUnits::Rows, ..)))
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

    /// `last_value` where the frame ends at the current row's last peer (an
    /// ordered window's default), and `first_value` where it starts at its
    /// first peer: the value of a row among the peers, the same for all of
    /// them (polars-sql read the row's own); to the partition's end, its
    /// last row.
    fn peer_edge(&self, name: &str) -> Option<impl Fn(&Expr) -> String + '_> {
        let peers = {
            let keys = self.partition_keys.iter().chain(self.keys.iter().map(|(key, _)| key));
            format!("OVER (PARTITION BY {})", keys.cloned().collect::<Vec<_>>().join(", "))
        };
        let reversed = self.over(&self.reversed);
        let over = match (name, self.ends_at_peer()?) {
            ("last_value", false) | ("first_value", true) => peers,
            ("last_value", true) => reversed,
            _ => return None,
        };
        Some(move |value: &Expr| format!("first_value({value}) {over}"))
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
        if self.ends_at_peer().is_some() {
            return None;
        }
        let (units, start, end) = self.frame.as_ref()?;
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

    /// Whether the frame ends at the current row's last peer: an ordered
    /// window's default frame and `RANGE … CURRENT ROW` (Some(false)), or
    /// starts at its first peer and runs to the end (Some(true): the same in
    /// the reversed order).
    fn ends_at_peer(&self) -> Option<bool> {
        if self.keys.is_empty() {
            return None;
        }
        match &self.frame {
            None => Some(false),
            Some((WindowFrameUnits::Range, WindowFrameBound::Preceding(None), WindowFrameBound::CurrentRow)) => Some(false),
            Some((WindowFrameUnits::Range, WindowFrameBound::CurrentRow, WindowFrameBound::Following(None))) => Some(true),
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

/// How a key orders: NULLs sort as larger than any value, as in PostgreSQL
/// (last ascending, first descending), unless the key says otherwise.
fn key_order(order: &OrderByExpr) -> KeyOrder {
    let descending = !order.options.asc.unwrap_or(true);
    KeyOrder { descending, nulls_last: order.options.nulls_first.map_or(!descending, |first| !first) }
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
mod tests;
