//! Windows whose frames Floe's registered functions compute (`sql::functions`):
//! the frame that ends at the current row's last peer (an ordered window's
//! default), frames by value distance (`RANGE` with offsets), and frames by
//! peer groups (`GROUPS`), which are value frames over the row's peer group
//! number (`dense_rank()` in the window's order).

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement, WindowFrameBound, WindowFrameUnits, WindowType};

use super::super::scope::{parse_expr, reads_column};
use super::{offset, Window, MOST_FRAME_ROWS};
use crate::sql::functions::{KeyOrder, PeerAggregate, PeerFrame, RowsFrame, ValueFrame};

/// Frames Floe cannot run, refused by name: `GROUPS` without ORDER BY or
/// with offsets that are not whole numbers, and `RANGE` with offsets but for
/// one ORDER BY key and offsets that are numbers or intervals of fixed length
/// (those run where Floe's functions reach, `peer_frames`).
pub(in crate::sql::rewrite) fn refuse_unsupported_frames(statement: &Statement) -> crate::sql::Result<()> {
    refuse_backward_frames(statement)?;
    struct Frames;
    impl sqlparser::ast::Visitor for Frames {
        type Break = String;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
            let Some(WindowType::WindowSpec(written)) = &function.over else { return ControlFlow::Continue(()) };
            // Keys in mixed directions are ordered by their rank in one (where Floe's functions reach).
            let mut function = function.clone();
            super::order_in_one_direction(&mut function);
            let Some(WindowType::WindowSpec(spec)) = &function.over else { return ControlFlow::Continue(()) };
            let Some(frame) = &spec.window_frame else { return ControlFlow::Continue(()) };
            let end = frame.end_bound.clone().unwrap_or(WindowFrameBound::CurrentRow);
            let by_value = matches!(frame.start_bound, WindowFrameBound::Preceding(Some(_)) | WindowFrameBound::Following(Some(_)))
                || matches!(end, WindowFrameBound::Preceding(Some(_)) | WindowFrameBound::Following(Some(_)));
            let runs = Window::new(spec).distances().is_some();
            match frame.units {
                WindowFrameUnits::Groups if !runs => ControlFlow::Break(written.to_string()),
                WindowFrameUnits::Range if by_value && !runs => ControlFlow::Break(written.to_string()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    match crate::sql::visit::Visit::visit(statement, &mut Frames) {
        ControlFlow::Break(window) => Err(crate::sql::Error::Unsupported(format!(
            "the window frame of `OVER ({window})` is not supported: Floe runs ROWS frames by whole rows \
             (up to {MOST_FRAME_ROWS} in a subquery that reads the query around it), RANGE frames with offsets \
             over one ORDER BY key (numbers, or intervals of days or shorter) and GROUPS frames by whole \
             groups"
        ))),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Frames whose start comes after their end by kind (`1 FOLLOWING AND
/// CURRENT ROW`, `CURRENT ROW AND 1 PRECEDING`), that start at the
/// partition's end or end at its start: SQL refuses them, as PostgreSQL and
/// DuckDB do (Floe answered every row NULL).
fn refuse_backward_frames(statement: &Statement) -> crate::sql::Result<()> {
    struct Backward;
    impl sqlparser::ast::Visitor for Backward {
        type Break = String;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
            let Expr::Function(function) = expr else { return ControlFlow::Continue(()) };
            let Some(WindowType::WindowSpec(spec)) = &function.over else { return ControlFlow::Continue(()) };
            let Some(frame) = &spec.window_frame else { return ControlFlow::Continue(()) };
            let end = frame.end_bound.clone().unwrap_or(WindowFrameBound::CurrentRow);
            let reason = match (&frame.start_bound, &end) {
                (WindowFrameBound::Following(None), _) => "a frame cannot start at UNBOUNDED FOLLOWING",
                (_, WindowFrameBound::Preceding(None)) => "a frame cannot end at UNBOUNDED PRECEDING",
                (WindowFrameBound::Following(_), WindowFrameBound::CurrentRow | WindowFrameBound::Preceding(_)) => {
                    "a frame that starts at a following row cannot end at a preceding row or the current one"
                }
                (WindowFrameBound::CurrentRow, WindowFrameBound::Preceding(_)) => "a frame that starts at the current row cannot end at a preceding row",
                _ => return ControlFlow::Continue(()),
            };
            ControlFlow::Break(format!("{reason}: `OVER ({spec})`"))
        }
    }
    match crate::sql::visit::Visit::visit(statement, &mut Backward) {
        ControlFlow::Break(message) => Err(crate::sql::Error::Invalid(message)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The value `count(*)` hands Floe's frame functions, which read no value of
/// it: a literal, so the output is named as `rewrite::names` expects
/// (`literal`); a key would name it after a column the query may select
/// beside it (`SELECT id, count(*) OVER (PARTITION BY g ORDER BY id)` had
/// two columns `id`).
const COUNTED_ROWS: &str = "1";

impl Window {
    /// `first_value` / `last_value` over a ROWS frame with an offset (not
    /// the whole partition): the row at the frame's edge, read with
    /// `lag`/`lead` and held inside the partition (its first or last row), or
    /// NULL where the frame holds no row. polars-sql read the partition's
    /// first row whatever the frame.
    pub(super) fn frame_edge(&self, name: &str, value: &Expr) -> Option<String> {
        let (WindowFrameUnits::Rows, start, end) = self.frame.as_ref()? else { return None };
        let bound = |bound: &WindowFrameBound| match bound {
            WindowFrameBound::Preceding(None) | WindowFrameBound::Following(None) => Some(None),
            bound => offset(bound).map(Some),
        };
        let (start, end) = (bound(start)?, bound(end)?);
        if start.is_none() && end.is_none() {
            return None;
        }
        let (rn, rows) = (self.row_number(), self.rows());
        let first = format!("first_value({value}) {}", self.over(&self.order));
        let last = format!("first_value({value}) {}", self.over(&self.reversed));
        let at = |k: i64| match k {
            0 => format!("({value})"),
            k if k < 0 => format!("lag({value}, {}) {}", -k, self.over(&self.order)),
            k => format!("lead({value}, {k}) {}", self.over(&self.order)),
        };
        let mut cases = Vec::new();
        if let Some(s) = start.filter(|s| *s > 0) {
            cases.push(format!("WHEN {rn} + {s} > {rows} THEN NULL"));
        }
        if let Some(e) = end.filter(|e| *e < 0) {
            cases.push(format!("WHEN {rn} + {e} < 1 THEN NULL"));
        }
        let edge = match (name, start, end) {
            ("first_value", None, _) => first,
            ("first_value", Some(s), _) if s < 0 => {
                cases.push(format!("WHEN {rn} + {s} < 1 THEN {first}"));
                at(s)
            }
            ("first_value", Some(s), _) => at(s),
            (_, _, None) => last,
            (_, _, Some(e)) if e > 0 => {
                cases.push(format!("WHEN {rn} + {e} > {rows} THEN {last}"));
                at(e)
            }
            (_, _, Some(e)) => at(e),
        };
        Some(if cases.is_empty() { edge } else { format!("CASE {} ELSE {edge} END", cases.join(" ")) })
    }

    /// A frame that ends at a peer, as Floe's function computes it.
    pub(super) fn peer_frame(&self, name: &str, args: &[&Expr]) -> Option<String> {
        self.peers(name, args, self.ends_at_peer()?)
    }

    /// `sum`/`count`/`avg`/`min`/`max` over the rows up to the current row's
    /// last peer in the window's order (`reversed`: from its first peer on).
    fn peers(&self, name: &str, args: &[&Expr], reversed: bool) -> Option<String> {
        let aggregate = aggregate_of(name, args)?;
        if self.all_constant(args) {
            // Every row a peer of every other: the whole partition.
            return Some(self.rows_frame(aggregate, args, "NULL", "NULL"));
        }
        let flip = |order: KeyOrder| KeyOrder { descending: !order.descending, nulls_last: !order.nulls_last };
        let keys = self.keys.iter().map(|(_, order)| if reversed { flip(*order) } else { *order }).collect();
        let function = PeerFrame { aggregate, keys, partitions: self.partition_keys.len() }.name();
        let value = args.first().map_or_else(|| COUNTED_ROWS.into(), ToString::to_string);
        let keys: Vec<&str> = self.keys.iter().map(|(key, _)| key.as_str()).chain(self.partition_keys.iter().map(String::as_str)).collect();
        // `OVER ()` still marks it a window (a grouped query's windows run over
        // its groups, `windows.rs`); polars-sql applies nothing to it.
        Some(format!("{function}({value}, {}) OVER ()", keys.join(", ")))
    }

    /// A RANGE, GROUPS or ROWS frame's bounds as signed distances in the
    /// window's order (None for unbounded) and whether they are intervals (in
    /// microseconds), when Floe's value frames can run it: RANGE with offsets
    /// of one kind over one key; GROUPS and ROWS over ordered rows, in whole
    /// groups or rows — a ROWS frame is a value frame over each row's number
    /// (but the one polars-sql runs itself, UNBOUNDED PRECEDING to CURRENT ROW).
    pub(super) fn distances(&self) -> Option<(Option<String>, Option<String>, bool)> {
        let Some((units, start, end)) = &self.frame else { return None };
        let offsets = [start, end].iter().any(|b| matches!(b, WindowFrameBound::Preceding(Some(_)) | WindowFrameBound::Following(Some(_))));
        // polars-sql numbers rows and groups only in one direction.
        let ordered = !self.keys.is_empty() && self.keys.iter().all(|(_, key)| key.descending == self.keys[0].1.descending);
        let counted = [start, end].iter().all(|b| whole_groups(b));
        let polars_runs = matches!((start, end), (WindowFrameBound::Preceding(None), WindowFrameBound::CurrentRow | WindowFrameBound::Following(None)));
        match units {
            WindowFrameUnits::Range if offsets && self.keys.len() == 1 => {}
            WindowFrameUnits::Groups if ordered && counted => {}
            WindowFrameUnits::Rows if ordered && counted && !polars_runs => {}
            _ => return None,
        }
        let (start, end) = (distance(start)?, distance(end)?);
        let kinds: Vec<bool> = [&start, &end].iter().filter_map(|d| d.as_ref().and_then(|(_, interval)| *interval)).collect();
        let temporal = kinds.first().copied().unwrap_or(false);
        if kinds.iter().any(|kind| *kind != temporal) {
            return None;
        }
        Some((start.map(|(text, _)| text), end.map(|(text, _)| text), temporal))
    }

    /// Floe's ROWS frame function, which sorts the rows itself (no row number
    /// to compute first), between signed row distances (`NULL`: unbounded).
    /// Where no argument reads a column (`count(*) OVER (ORDER BY NULL …)`)
    /// the function would see one row, and Polars broadcast its one answer:
    /// each row's number in the rows' own order is then its last key.
    fn rows_frame(&self, aggregate: PeerAggregate, args: &[&Expr], start: &str, end: &str) -> String {
        let mut keys = self.keys.clone();
        if self.all_constant(args) {
            keys.push(("row_number() OVER ()".into(), KeyOrder { descending: false, nulls_last: true }));
        }
        let function = RowsFrame { aggregate, keys: keys.iter().map(|(_, order)| *order).collect(), partitions: self.partition_keys.len() }.name();
        let value = args.first().map_or_else(|| COUNTED_ROWS.into(), ToString::to_string);
        let keys: String = keys.iter().map(|(key, _)| format!(", {key}")).chain(self.partition_keys.iter().map(|k| format!(", {k}"))).collect();
        format!("{function}({value}, {start}, {end}{keys}) OVER ()")
    }

    /// `min`/`max` over `ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`,
    /// which polars-sql runs as a cumulative minimum or maximum, and those
    /// take no text ("`cum_min` operation not supported for dtype `str`"):
    /// Floe's ROWS function where it reaches (elsewhere polars-sql's stays).
    pub(super) fn running_extreme(&self, name: &str, args: &[&Expr]) -> Option<String> {
        let runs_to_the_row = matches!(&self.frame, Some((WindowFrameUnits::Rows, WindowFrameBound::Preceding(None), WindowFrameBound::CurrentRow)));
        let aggregate = aggregate_of(name, args).filter(|a| matches!(a, PeerAggregate::Min | PeerAggregate::Max))?;
        (runs_to_the_row && !self.keys.is_empty()).then(|| self.rows_frame(aggregate, args, "NULL", "0"))
    }

    /// Whether no argument a frame function gets reads a column: the value,
    /// the order and partition keys.
    fn all_constant(&self, args: &[&Expr]) -> bool {
        let reads = |sql: &str| parse_expr(sql).is_none_or(|expr| reads_column(&expr));
        !args.iter().any(|arg| reads_column(arg)) && !self.keys.iter().any(|(key, _)| reads(key)) && !self.partition_keys.iter().any(|key| reads(key))
    }

    /// `sum`/`count`/`avg`/`min`/`max` over a frame by value distance, by
    /// peer groups, or by rows.
    pub(super) fn value_frame(&self, name: &str, args: &[&Expr]) -> Option<String> {
        let aggregate = aggregate_of(name, args)?;
        let (start, end, temporal) = self.distances()?;
        let bound = |d: Option<String>| d.unwrap_or_else(|| "NULL".into());
        let partitions: String = self.partition_keys.iter().map(|k| format!(", {k}")).collect();
        if self.is_rows() {
            return Some(self.rows_frame(aggregate, args, &bound(start), &bound(end)));
        }
        let (key, order) = match &self.frame {
            // Each row's peer group, numbered in the window's order (never NULL).
            Some((WindowFrameUnits::Groups, ..)) => (format!("dense_rank() {}", self.over(&self.order)), KeyOrder { descending: false, nulls_last: true }),
            // A constant key kept per row, so the function sees every row (`rows_frame`).
            _ if self.all_constant(args) => self.keys.first().map(|(key, order)| (format!("CASE WHEN row_number() OVER () > 0 THEN {key} END"), *order))?,
            _ => self.keys.first().cloned()?,
        };
        let function = ValueFrame { aggregate, key: order, partitions: self.partition_keys.len(), temporal }.name();
        let value = args.first().map_or_else(|| COUNTED_ROWS.into(), ToString::to_string);
        Some(format!("{function}({value}, {key}, {}, {}{partitions}) OVER ()", bound(start), bound(end)))
    }

}

/// A GROUPS or ROWS bound Floe runs: UNBOUNDED, CURRENT ROW, or a whole number of groups or rows.
fn whole_groups(bound: &WindowFrameBound) -> bool {
    match bound {
        WindowFrameBound::CurrentRow | WindowFrameBound::Preceding(None) | WindowFrameBound::Following(None) => true,
        WindowFrameBound::Preceding(Some(expr)) | WindowFrameBound::Following(Some(expr)) => {
            super::super::scope::integer_literal(expr).is_some_and(|groups| groups >= 0)
        }
    }
}

/// The aggregate a window function computes over its frame, for Floe's frame functions.
fn aggregate_of(name: &str, args: &[&Expr]) -> Option<PeerAggregate> {
    Some(match (name, args) {
        ("count", []) => PeerAggregate::Rows,
        ("count", [_]) => PeerAggregate::Count,
        ("sum", [_]) => PeerAggregate::Sum,
        ("min", [_]) => PeerAggregate::Min,
        ("max", [_]) => PeerAggregate::Max,
        ("avg", [_]) => PeerAggregate::Avg,
        _ => return None,
    })
}

/// A RANGE bound as a signed distance (SQL text) and whether it is an
/// interval (None for CURRENT ROW, which is either); Some(None) when unbounded.
#[allow(clippy::type_complexity)]
fn distance(bound: &WindowFrameBound) -> Option<Option<(String, Option<bool>)>> {
    let (expr, sign) = match bound {
        WindowFrameBound::CurrentRow => return Some(Some(("0".into(), None))),
        WindowFrameBound::Preceding(None) | WindowFrameBound::Following(None) => return Some(None),
        WindowFrameBound::Preceding(Some(expr)) => (expr.as_ref(), "-"),
        WindowFrameBound::Following(Some(expr)) => (expr.as_ref(), ""),
    };
    if let Some(micros) = super::super::temporal::interval_micros(expr) {
        return Some(Some((format!("{sign}{micros}"), Some(true))));
    }
    match expr {
        Expr::Value(value) => match &value.value {
            sqlparser::ast::Value::Number(text, _) if !text.starts_with('-') => Some(Some((format!("{sign}{text}"), Some(false)))),
            _ => None,
        },
        _ => None,
    }
}
