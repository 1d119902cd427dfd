//! Named windows (`WINDOW w AS (…)` read by `OVER w` or `OVER (w ORDER BY
//! …)`) written out in each call: the frame passes rewrite a window by the
//! spec written in its call, and would leave a named one's frame to
//! polars-sql, which refuses every frame but the running one.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, NamedWindowDefinition, NamedWindowExpr, Select, Statement, WindowSpec, WindowType};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::super::scope::replace_outside_subqueries;

pub(in super::super) fn inline(statement: &mut Statement) {
    struct Inline;
    impl VisitorMut for Inline {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            inline_in(select);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Inline);
}

fn inline_in(select: &mut Select) {
    if select.named_window.is_empty() {
        return;
    }
    let mut specs: HashMap<String, WindowSpec> = HashMap::new();
    for NamedWindowDefinition(name, definition) in &select.named_window {
        let spec = match definition {
            NamedWindowExpr::WindowSpec(spec) => resolved(spec, &specs),
            NamedWindowExpr::NamedWindow(other) => specs.get(&other.value.to_ascii_lowercase()).cloned(),
        };
        // A name defined by one not yet defined: left as written, for polars-sql to refuse.
        let Some(spec) = spec else { return };
        specs.insert(name.value.to_ascii_lowercase(), spec);
    }
    let mut unknown = false;
    let mut write_out = |expr: &mut Expr| {
        let Expr::Function(function) = expr else { return };
        let spec = match &function.over {
            Some(WindowType::NamedWindow(name)) => specs.get(&name.value.to_ascii_lowercase()).cloned(),
            Some(WindowType::WindowSpec(spec)) if spec.window_name.is_some() => resolved(spec, &specs),
            _ => return,
        };
        match spec {
            Some(spec) => function.over = Some(WindowType::WindowSpec(spec)),
            None => unknown = true,
        }
    };
    replace_outside_subqueries(&mut select.projection, &mut write_out);
    if let Some(qualify) = &mut select.qualify {
        replace_outside_subqueries(qualify, &mut write_out);
    }
    if !unknown {
        select.named_window.clear();
    }
}

/// `spec` with the window it names (`OVER (w ORDER BY x)`) written in: its
/// partitions, and its order unless `spec` has one. None for a window with
/// a frame, which SQL does not let another copy.
fn resolved(spec: &WindowSpec, specs: &HashMap<String, WindowSpec>) -> Option<WindowSpec> {
    let Some(base) = &spec.window_name else { return Some(spec.clone()) };
    let base = specs.get(&base.value.to_ascii_lowercase()).filter(|base| base.window_frame.is_none())?;
    Some(WindowSpec {
        window_name: None,
        partition_by: base.partition_by.clone(),
        order_by: if spec.order_by.is_empty() { base.order_by.clone() } else { spec.order_by.clone() },
        window_frame: spec.window_frame.clone(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn named_windows_are_written_into_their_calls() {
        let rewritten = |sql| super::super::super::scope::rewritten_by(sql, super::inline);
        assert_eq!(
            rewritten("SELECT sum(x) OVER w, max(x) OVER (w ORDER BY y ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), count(*) OVER v FROM t \
                       WINDOW w AS (PARTITION BY k), v AS w"),
            "SELECT sum(x) OVER (PARTITION BY k), max(x) OVER (PARTITION BY k ORDER BY y ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), \
             count(*) OVER (PARTITION BY k) FROM t"
        );
        // A name no WINDOW defines stays, as written, and so does a copy of a framed window.
        for sql in ["SELECT sum(x) OVER w FROM t WINDOW v AS (PARTITION BY k)", "SELECT sum(x) OVER (w ORDER BY y) FROM t WINDOW w AS (ROWS UNBOUNDED PRECEDING)"] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
