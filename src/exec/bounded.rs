//! Whether a plan over tables the data cache holds may run on Polars'
//! in-memory engine. Over held columns that engine answered TPC-H 16 in
//! 29 ms against the streaming engine's 49–57 (2, 11 likewise), but a join
//! whose output outgrows its inputs runs out of its reach: a many-to-many
//! join of two 30,000-row tables on three keys took it 11 s and 4.8 GB
//! (0.36 s streaming), and a group-by over six million rows (TPC-H 1)
//! 5.8 times the streaming engine's time. So only plans whose every join
//! yields at most the rows of its inputs, over inputs of at most
//! `HELD_ROWS` rows each, run there.
//!
//! A join stays within its inputs when it only filters (semi, anti), when
//! one side yields at most a row, or when one side's keys include a column
//! whose values are unique. A column is known unique where it comes,
//! through filters, projections, casts between integers and joins that
//! match each of its rows at most once, from a held integer column whose
//! values ascend strictly (within each file, the files' ranges apart: keys
//! written in order), or from the only key of a group-by. A mistake here
//! costs time, never an answer: both engines answer alike. Plans without a
//! join stream as they did.

use std::collections::HashSet;

use polars::prelude::*;
use polars_plan::plans::expr_ir::ExprIR;
use polars_plan::prelude::{AExpr, Arena, Node, IR};

/// Rows each held input may have for the in-memory engine: TPC-H's
/// `partsupp` (800,000) is within, `orders` (1.5 million) is not.
pub(super) const HELD_ROWS: usize = 1 << 20;

/// The optimized plan of `frame`, to look at.
struct Plan {
    nodes: Arena<IR>,
    exprs: Arena<AExpr>,
}

/// Whether `frame`'s optimized plan joins, and every join yields at most
/// the rows of its inputs (or their sum, for an outer join). A plan without
/// joins streams as before: a scan sent whole gets its first rows sooner,
/// and in less memory, streamed.
pub(super) fn joins_bounded(frame: &LazyFrame) -> PolarsResult<bool> {
    let optimized = frame.clone().to_alp_optimized()?;
    let plan = Plan { nodes: optimized.lp_arena, exprs: optimized.expr_arena };
    let mut joins = 0;
    for node in plan_nodes(optimized.lp_top, &plan.nodes) {
        let ir = plan.nodes.get(node);
        if let IR::Join { input_left, input_right, left_on, right_on, options, .. } = ir {
            let bounded = match options.args.how {
                JoinType::Semi | JoinType::Anti => true,
                JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                    plan.keys_unique(*input_left, left_on) || plan.keys_unique(*input_right, right_on) || plan.one_row(*input_left) || plan.one_row(*input_right)
                }
                _ => plan.one_row(*input_left) || plan.one_row(*input_right),
            };
            if !bounded {
                return Ok(false);
            }
            joins += 1;
        }
    }
    Ok(joins > 0)
}

/// Every node of the plan under `top`, each once (a cached subplan two
/// branches read is one node).
pub(super) fn plan_nodes(top: Node, nodes: &Arena<IR>) -> Vec<Node> {
    let (mut pending, mut seen, mut all) = (vec![top], HashSet::new(), Vec::new());
    while let Some(node) = pending.pop() {
        if seen.insert(node.0) {
            nodes.get(node).copy_inputs(&mut pending);
            all.push(node);
        }
    }
    all
}

impl Plan {
    /// Whether the join keys `keys`, evaluated over `node`'s rows, include a
    /// column unique there: then each of the other side's rows meets at most one.
    fn keys_unique(&self, node: Node, keys: &[ExprIR]) -> bool {
        keys.iter().any(|key| self.column_of(node, key.node()).is_some_and(|name| self.unique(node, &name)))
    }

    /// The column of `input`'s output an expression over it passes on
    /// unchanged, or an integer one cast to another integer type (which keeps
    /// distinct integers distinct, or makes them null, which joins nothing;
    /// from floats or text, `TRY_CAST` makes 0.1 and 0.2, or '1' and '01', one).
    fn column_of(&self, input: Node, expr: Node) -> Option<PlSmallStr> {
        match self.exprs.get(expr) {
            AExpr::Column(name) => Some(name.clone()),
            AExpr::Cast { expr, dtype, .. } if dtype.is_integer() => {
                let name = self.column_of(input, *expr)?;
                let schema = self.nodes.get(input).schema(&self.nodes);
                schema.get(&name).is_some_and(DataType::is_integer).then_some(name)
            }
            _ => None,
        }
    }

    /// Whether column `name` of `node`'s output holds each value at most once.
    fn unique(&self, node: Node, name: &str) -> bool {
        match self.nodes.get(node) {
            IR::DataFrameScan { df, .. } => df.column(name).ok().and_then(Column::as_series).is_some_and(ascends_strictly),
            IR::Filter { input, .. } | IR::Sort { input, .. } | IR::Slice { input, .. } | IR::Cache { input, .. } => self.unique(*input, name),
            IR::SimpleProjection { input, .. } | IR::Distinct { input, .. } => self.unique(*input, name),
            IR::Select { input, expr, .. } => self.passed_on(*input, expr, name).unwrap_or(false),
            IR::HStack { input, exprs, .. } => self.passed_on(*input, exprs, name).unwrap_or_else(|| self.unique(*input, name)),
            IR::GroupBy { keys, .. } => matches!(keys.as_slice(), [key] if key.output_name() == name),
            IR::Join { input_left, input_right, left_on, right_on, options, .. } => {
                let from_left = self.nodes.get(*input_left).schema(&self.nodes).contains(name);
                match (&options.args.how, from_left) {
                    (JoinType::Semi | JoinType::Anti, _) => self.unique(*input_left, name),
                    (JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full, true) => {
                        self.keys_unique(*input_right, right_on) && self.unique(*input_left, name)
                    }
                    (JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full, false) => {
                        self.keys_unique(*input_left, left_on) && self.unique(*input_right, name)
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Whether the expression among `exprs` named `name` passes on a column
    /// unique in `input`; none where no expression is named so.
    fn passed_on(&self, input: Node, exprs: &[ExprIR], name: &str) -> Option<bool> {
        let expr = exprs.iter().find(|expr| expr.output_name() == name)?;
        Some(self.column_of(input, expr.node()).is_some_and(|source| self.unique(input, &source)))
    }

    /// Whether `node` yields at most one row.
    fn one_row(&self, node: Node) -> bool {
        match self.nodes.get(node) {
            IR::Select { input, expr, .. } => expr.iter().all(|expr| expr.is_scalar(&self.exprs)) || self.one_row(*input),
            IR::GroupBy { keys, .. } => keys.is_empty(),
            IR::DataFrameScan { df, .. } => df.height() <= 1,
            IR::Slice { input, len, .. } => *len <= 1 || self.one_row(*input),
            IR::Filter { input, .. } | IR::Sort { input, .. } | IR::Cache { input, .. } | IR::SimpleProjection { input, .. } => self.one_row(*input),
            IR::HStack { input, .. } | IR::Distinct { input, .. } => self.one_row(*input),
            _ => false,
        }
    }
}

/// Whether an integer column without nulls ascends strictly: within each
/// chunk (a file's values), and the chunks' ranges apart.
fn ascends_strictly(series: &Series) -> bool {
    if series.null_count() > 0 {
        return false;
    }
    match series.dtype() {
        DataType::Int8 => ranges_apart(series.i8()),
        DataType::Int16 => ranges_apart(series.i16()),
        DataType::Int32 => ranges_apart(series.i32()),
        DataType::Int64 => ranges_apart(series.i64()),
        DataType::UInt8 => ranges_apart(series.u8()),
        DataType::UInt16 => ranges_apart(series.u16()),
        DataType::UInt32 => ranges_apart(series.u32()),
        DataType::UInt64 => ranges_apart(series.u64()),
        _ => false,
    }
}

fn ranges_apart<T: PolarsNumericType>(values: PolarsResult<&ChunkedArray<T>>) -> bool
where
    T::Native: Ord,
{
    let Ok(values) = values else { return false };
    let mut ranges = Vec::new();
    for chunk in values.downcast_iter() {
        let chunk = chunk.values().as_slice();
        if !chunk.windows(2).all(|pair| pair[0] < pair[1]) {
            return false;
        }
        if let (Some(first), Some(last)) = (chunk.first(), chunk.last()) {
            ranges.push((*first, *last));
        }
    }
    ranges.sort_unstable();
    ranges.windows(2).all(|pair| pair[0].1 < pair[1].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(columns: Vec<Column>) -> LazyFrame {
        DataFrame::new_infer_height(columns).expect("columns of one height").lazy()
    }

    fn keys() -> LazyFrame {
        frame(vec![Column::new("k".into(), [1i64, 2, 3, 4]), Column::new("v".into(), [10i64, 10, 20, 20])])
    }

    fn facts() -> LazyFrame {
        frame(vec![Column::new("fk".into(), [1i32, 1, 2, 4, 4, 4]), Column::new("w".into(), [5i64, 6, 7, 8, 9, 10])])
    }

    fn bounded(frame: LazyFrame) -> bool {
        joins_bounded(&frame).expect("planned")
    }

    #[test]
    fn a_join_on_a_strictly_ascending_key_is_bounded() {
        let joined = facts().join(keys(), [col("fk").cast(DataType::Int64)], [col("k")], JoinArgs::new(JoinType::Inner));
        assert!(bounded(joined.clone()));
        assert!(bounded(joined.group_by([col("v")]).agg([col("w").sum()])), "through a filter and a group-by above it");
        let filtered = keys().filter(col("v").gt(lit(10))).select([col("k").alias("key")]);
        assert!(bounded(facts().join(filtered, [col("fk")], [col("key")], JoinArgs::new(JoinType::Left))), "through a filter and a rename");
    }

    #[test]
    fn a_join_on_repeated_values_is_not() {
        assert!(!bounded(facts().join(facts(), [col("fk")], [col("fk")], JoinArgs::new(JoinType::Inner))));
        assert!(!bounded(facts().join(keys(), [col("fk").cast(DataType::Int64)], [col("v")], JoinArgs::new(JoinType::Inner))), "both keys repeat");
        assert!(bounded(facts().join(keys(), [col("w")], [col("v")], JoinArgs::new(JoinType::Inner))), "w ascends strictly: each v meets one w at most");
        assert!(!bounded(keys().cross_join(facts(), None)));
        assert!(!bounded(facts().group_by([col("fk")]).agg([col("w").sum()])), "no join: it streams as before");
        let tenths = frame(vec![Column::new("f".into(), [0.1f64, 0.2, 1.5])]).group_by([col("f")]).agg([len()]);
        let truncated = tenths.select([col("f").strict_cast(DataType::Int64).alias("k")]);
        assert!(!bounded(facts().join(truncated, [col("fk").cast(DataType::Int64)], [col("k")], JoinArgs::new(JoinType::Inner))), "0.1 and 0.2 are both 0");
    }

    #[test]
    fn group_keys_semi_joins_and_single_rows_bound_joins() {
        let grouped = facts().group_by([col("fk")]).agg([col("w").sum().alias("total")]);
        assert!(bounded(facts().join(grouped, [col("fk")], [col("fk")], JoinArgs::new(JoinType::Inner))), "a group-by's only key is unique");
        assert!(bounded(facts().join(facts(), [col("fk")], [col("fk")], JoinArgs::new(JoinType::Semi))));
        assert!(bounded(facts().cross_join(facts().select([col("w").sum().alias("all")]), None)), "an aggregate is one row");
    }

    #[test]
    fn keys_unique_within_files_must_keep_their_files_apart() {
        let chunked = |first: [i64; 2], second: [i64; 2]| {
            let mut column = Series::new("k".into(), first);
            column.append(&Series::new("k".into(), second)).expect("one type");
            column
        };
        assert!(ascends_strictly(&chunked([5, 6], [1, 2])), "files listed out of order");
        assert!(!ascends_strictly(&chunked([1, 5], [2, 6])), "ranges overlap");
        assert!(!ascends_strictly(&Series::new("k".into(), [1i64, 1, 2])));
        assert!(!ascends_strictly(&Series::new("k".into(), [Some(1i64), None])));
        assert!(!ascends_strictly(&Series::new("k".into(), [1.0f64, 2.0])), "integers only");
    }
}
