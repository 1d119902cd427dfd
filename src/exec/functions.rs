//! The functions Floe's SQL rewrites call (`sql::functions`), registered
//! with polars-sql for every query: rounding as integer casts do in SQL,
//! and aggregates over an ordered window's default frame, which ends at the
//! current row's last peer; and other engines' scalar functions
//! (`scalars`).

use std::sync::Arc;

use polars::prelude::*;
use polars_sql::function_registry::{FunctionOptions, FunctionRegistry};
use polars_sql::SQLContext;

use super::key_order::sorted_rows;
use crate::sql::functions::{is_floe_function, round_digits, ExactOp, KeyOrder, MixedOrder, PeerAggregate, PeerFrame, RowsFrame, Scalar, ValueFrame, CAST_ROUND};

/// A polars-sql context that knows Floe's functions.
pub fn sql_context() -> SQLContext {
    SQLContext::new().with_function_registry(Arc::new(Functions))
}

struct Functions;

impl FunctionRegistry for Functions {
    fn register(&mut self, name: &str, _: UserDefinedFunction) -> PolarsResult<()> {
        polars_bail!(ComputeError: "cannot register `{name}`: Floe's SQL functions are fixed")
    }

    fn get_udf(&self, name: &str) -> PolarsResult<Option<UserDefinedFunction>> {
        if name == CAST_ROUND {
            return Ok(Some(super::rounding::cast_rounding()));
        }
        if let Some(digits) = round_digits(name) {
            return Ok(Some(super::rounding::half_away_rounding(name, digits)));
        }
        if let Some(frame) = ValueFrame::parse(name) {
            return Ok(Some(super::value_frames::udf(name, frame)));
        }
        if let Some(frame) = RowsFrame::parse(name) {
            return Ok(Some(super::value_frames::rows_udf(name, frame)));
        }
        if let Some(order) = MixedOrder::parse(name) {
            return Ok(Some(mixed_order(name, order)));
        }
        if let Some(op) = ExactOp::parse(name) {
            return Ok(Some(super::decimals::udf(op)));
        }
        if let Some(scalar) = Scalar::parse(name) {
            return Ok(Some(super::scalars::udf(scalar)));
        }
        Ok(PeerFrame::parse(name).map(|frame| peers(name, frame)))
    }

    fn contains(&self, name: &str) -> bool {
        is_floe_function(name)
    }
}

/// One of Floe's functions. Polars insists that an anonymous function's
/// output type is known, and a literal's type is not settled until it meets
/// a column (`round(abs(-2.25) * 0.5, 2)` reads a "dyn float"): `output`
/// sees the arguments' types settled as Polars settles them.
pub(super) fn floe_udf(
    name: &str,
    options: FunctionOptions,
    compute: impl Fn(&mut [Column]) -> PolarsResult<Column> + Send + Sync + 'static,
    output: impl Fn(&[Field]) -> PolarsResult<Field> + Send + Sync + 'static,
) -> UserDefinedFunction {
    let function = BaseColumnUdf::new(compute, move |_: &Schema, fields: &[Field]| {
        let settled = fields
            .iter()
            .map(|field| Ok(Field::new(field.name().clone(), field.dtype().clone().materialize_unknown(true)?)))
            .collect::<PolarsResult<Vec<Field>>>()?;
        output(&settled)
    });
    let mut udf = UserDefinedFunction::new(name.into(), function);
    udf.options = options;
    udf
}

/// Each row's dense rank in an order of keys in mixed directions.
fn mixed_order(name: &str, order: MixedOrder) -> UserDefinedFunction {
    floe_udf(name, FunctionOptions::length_preserving(), move |columns| dense_rank(&order, columns), |fields| {
        Ok(Field::new(fields[0].name().clone(), DataType::Int64))
    })
}

/// Arguments: the keys, then the order written out (`MixedOrder::call`).
fn dense_rank(order: &MixedOrder, columns: &[Column]) -> PolarsResult<Column> {
    polars_ensure!(columns.len() == order.keys.len() + 1, ComputeError: "an order of {} keys got {} arguments", order.keys.len(), columns.len());
    let columns = &columns[..order.keys.len()];
    let height = rows_spanned(columns);
    let name = columns[0].name().clone();
    if height == 0 {
        return Ok(Column::new_empty(name, &DataType::Int64));
    }
    let keys: Vec<(Column, KeyOrder)> = columns.iter().map(|key| spanning(key, height)).zip(order.keys.iter().copied()).collect();
    let sorted = sorted_rows(&[], &keys, height)?;
    let ranks: Vec<i64> = sorted.same_keys.iter().scan(0i64, |rank, &peer| {
        *rank += i64::from(!peer);
        Some(*rank)
    }).collect();
    Ok(in_row_order(&Series::new(name, ranks), &sorted.order)?.into_column())
}

fn peers(name: &str, frame: PeerFrame) -> UserDefinedFunction {
    let aggregate = frame.aggregate;
    window_udf(name, aggregate, move |columns| peer_frame(&frame, columns))
}

/// A window aggregate computed by Floe, typed as `aggregate` types its value
/// (the first argument). Group-wise: under `OVER (PARTITION BY …)` each
/// partition would be its own input.
pub(super) fn window_udf(
    name: &str,
    aggregate: PeerAggregate,
    compute: impl Fn(&[Column]) -> PolarsResult<Column> + Send + Sync + 'static,
) -> UserDefinedFunction {
    floe_udf(name, FunctionOptions::length_preserving(), move |columns| compute(columns), move |fields| {
        Ok(Field::new(fields[0].name().clone(), peer_type(aggregate, fields[0].dtype())?))
    })
}

pub(super) fn peer_type(aggregate: PeerAggregate, value: &DataType) -> PolarsResult<DataType> {
    Ok(match aggregate {
        PeerAggregate::Count | PeerAggregate::Rows => DataType::Int64,
        PeerAggregate::Avg => DataType::Float64,
        PeerAggregate::Min | PeerAggregate::Max => value.clone(),
        // A HUGEINT the query asked for stays one.
        PeerAggregate::Sum if value == &DataType::Int128 => DataType::Int128,
        PeerAggregate::Sum if value.is_integer() => DataType::Int64,
        PeerAggregate::Sum if value.is_float() => DataType::Float64,
        PeerAggregate::Sum if value.is_decimal() || value.is_null() => value.clone(),
        PeerAggregate::Sum => polars_bail!(InvalidOperation: "sum over a window cannot add values of type {value}"),
    })
}

/// Each row's aggregate over its partition's rows up to its last peer.
/// Arguments: the value, the order keys, the partition keys.
fn peer_frame(frame: &PeerFrame, columns: &[Column]) -> PolarsResult<Column> {
    let (value, keys) = columns.split_first().ok_or_else(|| polars_err!(ComputeError: "a window aggregate needs a value"))?;
    polars_ensure!(keys.len() == frame.keys.len() + frame.partitions, ComputeError: "a window aggregate got {} keys", keys.len());
    let height = rows_spanned(columns);
    let dtype = peer_type(frame.aggregate, value.dtype())?;
    if height == 0 {
        return Ok(Column::new_empty(value.name().clone(), &dtype));
    }
    let (order_keys, partition_keys) = keys.split_at(frame.keys.len());
    let partition_keys: Vec<Column> = partition_keys.iter().map(|key| spanning(key, height)).collect();
    let order_keys: Vec<(Column, KeyOrder)> = order_keys.iter().map(|key| spanning(key, height)).zip(frame.keys.iter().copied()).collect();
    let sorted = sorted_rows(&partition_keys, &order_keys, height)?;
    let last_peers = IdxCa::from_vec("last".into(), last_positions(&sorted.same_keys));
    let sorted_values = in_sorted_order(value, &sorted.order, height)?;
    if matches!(frame.aggregate, PeerAggregate::Min | PeerAggregate::Max) && super::ranked_extremes::ranked(sorted_values.dtype()) {
        // From the partition's first row to the last peer: Polars has no cumulative minimum of text.
        let last_peers: Vec<IdxSize> = last_peers.into_no_null_iter().collect();
        let frames: Vec<(usize, usize)> = sorted.partitions()
            .flat_map(|(first, last)| (first..last).map(move |position| (first, position)))
            .map(|(first, position)| (first, last_peers[position] as usize + 1))
            .collect();
        if let Some(answered) = super::ranked_extremes::ranked_extremes(frame.aggregate, &sorted_values, &frames)? {
            return Ok(in_row_order(&answered, &sorted.order)?.with_name(value.name().clone()).into_column());
        }
    }
    let running = running_by_partition(frame.aggregate, &sorted_values, &sorted.same_partition)?;
    let answer = in_row_order(&running.take(&last_peers)?, &sorted.order)?;
    Ok(answer.cast(&dtype)?.with_name(value.name().clone()).into_column())
}

/// The rows the arguments span as Polars broadcasts them: a literal is one
/// value for every row, so one empty argument (a filter kept no rows) leaves
/// none, however long the literals beside it.
pub(super) fn rows_spanned(columns: &[Column]) -> usize {
    if columns.iter().any(Column::is_empty) {
        return 0;
    }
    columns.iter().map(Column::len).max().unwrap_or(0)
}

/// `column` as long as the rows spanned, a literal repeated.
pub(super) fn spanning(column: &Column, height: usize) -> Column {
    if column.len() == height { column.clone() } else { column.new_from_index(0, height) }
}

/// `column`'s values (as long as the rows spanned) at each position of the
/// sorted rows. In one chunk first: a gather across the chunks a scan
/// leaves looks each row's chunk up (a third of a 20M-row ROWS frame's time).
pub(super) fn in_sorted_order(column: &Column, order: &[IdxSize], height: usize) -> PolarsResult<Series> {
    spanning(column, height).as_materialized_series().rechunk().take_slice(order)
}

/// `sorted` (one value per position of the sorted rows) back in the rows'
/// own order; `order` holds each position's original row number.
pub(super) fn in_row_order(sorted: &Series, order: &[IdxSize]) -> PolarsResult<Series> {
    let mut inverse = vec![0 as IdxSize; order.len()];
    for (position, row) in order.iter().enumerate() {
        inverse[*row as usize] = position as IdxSize;
    }
    sorted.rechunk().take_slice(&inverse)
}

/// For each position, the last position of the run of rows it belongs to
/// (runs as `SortedRows` marks them).
fn last_positions(same_as_previous: &[bool]) -> Vec<IdxSize> {
    let height = same_as_previous.len();
    let mut last = vec![0 as IdxSize; height];
    let mut current = height - 1;
    for position in (0..height).rev() {
        if position + 1 < height && !same_as_previous[position + 1] {
            current = position;
        }
        last[position] = current as IdxSize;
    }
    last
}

/// The running aggregate of each partition of the sorted values, restarting
/// where a partition starts.
fn running_by_partition(aggregate: PeerAggregate, sorted: &Series, same_partition: &[bool]) -> PolarsResult<Series> {
    let mut all: Option<Series> = None;
    for (start, end) in super::key_order::partition_runs(same_partition) {
        let part = running(aggregate, sorted.slice(start as i64, end - start))?;
        match &mut all {
            None => all = Some(part),
            Some(all) => {
                all.append(&part)?;
            }
        }
    }
    let all = all.ok_or_else(|| polars_err!(ComputeError: "a window aggregate over no rows"))?;
    Ok(all.rechunk())
}

/// The aggregate over each prefix of the sorted partition.
fn running(aggregate: PeerAggregate, sorted: Series) -> PolarsResult<Series> {
    // Cumulative functions leave a NULL value's position NULL; SQL's frame
    // still has the values before it, so the last one carries forward.
    let carried = |series: Series| series.fill_null(FillNullStrategy::Forward(None));
    let present = || sorted.is_not_null().into_series().cast(&DataType::Int64);
    Ok(match aggregate {
        // Values all NULL (`CASE … THEN NULL END`): NULL sums, least and greatest.
        PeerAggregate::Sum | PeerAggregate::Min | PeerAggregate::Max if sorted.dtype().is_null() => sorted.clone(),
        // In BIGINT, the window's type (`peer_type`): an INTEGER's own wrapped
        // around, and BIGINT's own stops at its range's end.
        PeerAggregate::Sum if sorted.dtype().is_integer() => carried(super::checked_integers::running_sum(&sorted)?)?,
        PeerAggregate::Sum => carried(cum_sum(&sorted, false)?)?,
        PeerAggregate::Count => cum_sum(&present()?, false)?,
        PeerAggregate::Rows => Series::new("rows".into(), (1..=sorted.len() as i64).collect::<Vec<_>>()),
        PeerAggregate::Min => carried(cum_min(&sorted, false)?)?,
        PeerAggregate::Max => carried(cum_max(&sorted, false)?)?,
        PeerAggregate::Avg => {
            let sum = carried(cum_sum(&sorted.cast(&DataType::Float64)?, false)?)?;
            let count = cum_sum(&present()?, false)?.cast(&DataType::Float64)?;
            (&sum / &count)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::functions::KeyOrder;

    fn frame(aggregate: PeerAggregate, descending: bool) -> PeerFrame {
        PeerFrame { aggregate, keys: vec![KeyOrder { descending, nulls_last: true }], partitions: 0 }
    }

    fn values(column: Column) -> Vec<Option<f64>> {
        column.cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
    }

    #[test]
    fn peers_share_the_frame_that_ends_at_the_last_of_them() {
        let value = Column::new("x".into(), [Some(1i32), Some(2), None, Some(4), Some(8)]);
        let key = Column::new("o".into(), [Some(3i32), Some(1), Some(1), None, Some(3)]);
        let columns = [value, key];
        // Sorted ascending, NULLs last: o=1 {2, NULL}, o=3 {1, 8}, o=NULL {4}.
        let sum = peer_frame(&frame(PeerAggregate::Sum, false), &columns).unwrap();
        assert_eq!(sum.dtype(), &DataType::Int64);
        assert_eq!(values(sum), [Some(11.0), Some(2.0), Some(2.0), Some(15.0), Some(11.0)]);
        let count = peer_frame(&frame(PeerAggregate::Count, false), &columns).unwrap();
        assert_eq!(values(count), [Some(3.0), Some(1.0), Some(1.0), Some(4.0), Some(3.0)]);
        let rows = peer_frame(&frame(PeerAggregate::Rows, false), &columns).unwrap();
        assert_eq!(values(rows), [Some(4.0), Some(2.0), Some(2.0), Some(5.0), Some(4.0)]);
        let max = peer_frame(&frame(PeerAggregate::Max, true), &columns).unwrap();
        // Descending, NULLs last: o=3 {1, 8}, o=1 {2, NULL}, o=NULL {4}.
        assert_eq!(values(max), [Some(8.0), Some(8.0), Some(8.0), Some(8.0), Some(8.0)]);
        let avg = peer_frame(&frame(PeerAggregate::Avg, true), &columns).unwrap();
        assert_eq!(values(avg), [Some(4.5), Some(11.0 / 3.0), Some(11.0 / 3.0), Some(3.75), Some(4.5)]);
    }

    #[test]
    fn each_partition_runs_on_its_own() {
        let value = Column::new("x".into(), [1i64, 2, 4, 8, 16]);
        let key = Column::new("o".into(), [1i32, 1, 2, 1, 2]);
        let partition = Column::new("p".into(), [Some("a"), Some("b"), Some("a"), None, Some("b")]);
        let frame = PeerFrame { partitions: 1, ..frame(PeerAggregate::Sum, false) };
        let sum = peer_frame(&frame, &[value, key, partition]).unwrap();
        // a: o=1 {1}, o=2 {4}; b: o=1 {2}, o=2 {16}; NULL: {8}.
        assert_eq!(values(sum), [Some(1.0), Some(2.0), Some(5.0), Some(8.0), Some(18.0)]);
    }

    #[test]
    fn a_frame_of_only_nulls_sums_to_null() {
        let value = Column::new("x".into(), [None::<f64>, Some(2.5)]);
        let key = Column::new("o".into(), [1i32, 2]);
        let sum = peer_frame(&frame(PeerAggregate::Sum, false), &[value, key]).unwrap();
        assert_eq!(values(sum), [None, Some(2.5)]);
    }
}
