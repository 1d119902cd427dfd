//! Aggregates over frames by value distance (`RANGE BETWEEN 7 PRECEDING AND
//! CURRENT ROW`, `INTERVAL '7 days' PRECEDING`) and by rows (`ROWS BETWEEN 2
//! PRECEDING AND CURRENT ROW`), registered with polars-sql as
//! `sql::functions::ValueFrame` and `RowsFrame` name them. A value frame is
//! the rows of the partition whose key lies within the bounds of the row's
//! own key (peers included); a NULL key's frame is the partition's NULL
//! keys, widened to the partition's end by an UNBOUNDED bound.

use polars::prelude::*;
use super::functions::{in_row_order, in_sorted_order, peer_type, rows_spanned, spanning, window_udf};
use super::key_order::sorted_rows;
use super::sliding::{slide, slide_each};
use crate::sql::functions::{KeyOrder, PeerAggregate, RowsFrame, ValueFrame};

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

pub(super) fn udf(name: &str, frame: ValueFrame) -> UserDefinedFunction {
    let aggregate = frame.aggregate;
    window_udf(name, aggregate, move |columns| value_frame(&frame, columns))
}

/// Arguments: the value, the key, the start and end distances, the partition keys.
fn value_frame(frame: &ValueFrame, columns: &[Column]) -> PolarsResult<Column> {
    polars_ensure!(columns.len() == 4 + frame.partitions, ComputeError: "a RANGE window aggregate got {} arguments", columns.len());
    let height = rows_spanned(columns);
    let dtype = peer_type(frame.aggregate, columns[0].dtype())?;
    if height == 0 {
        return Ok(Column::new_empty(columns[0].name().clone(), &dtype));
    }
    let (start, end) = (distance(&columns[2])?, distance(&columns[3])?);
    let key = spanning(&columns[1], height);
    let positions = key_positions(&key, frame.temporal)?;
    let partition_keys: Vec<Column> = columns[4..].iter().map(|key| spanning(key, height)).collect();
    let sorted = sorted_rows(&partition_keys, &[(key, frame.key)], height)?;
    let sign = if frame.key.descending { -1.0 } else { 1.0 };
    let sorted_keys: Vec<Option<f64>> = sorted.order.iter().map(|&row| positions[row as usize].map(|p| p * sign)).collect();
    // Each row's frame in the sorted rows.
    let mut bounds = Vec::with_capacity(height);
    for (first, last) in sorted.partitions() {
        let segment = frames(&sorted_keys[first..last], start, end);
        bounds.extend(segment.into_iter().map(|(from, to)| (first + from, first + to)));
    }
    answer(frame.aggregate, &columns[0], &sorted.order, &bounds, &dtype)
}

pub(super) fn rows_udf(name: &str, frame: RowsFrame) -> UserDefinedFunction {
    let aggregate = frame.aggregate;
    window_udf(name, aggregate, move |columns| rows_frame(&frame, columns))
}

/// Arguments: the value, the start and end distances in rows, the order
/// keys, the partition keys.
fn rows_frame(frame: &RowsFrame, columns: &[Column]) -> PolarsResult<Column> {
    polars_ensure!(columns.len() == 3 + frame.keys.len() + frame.partitions, ComputeError: "a ROWS window aggregate got {} arguments", columns.len());
    let height = rows_spanned(columns);
    let dtype = peer_type(frame.aggregate, columns[0].dtype())?;
    if height == 0 {
        return Ok(Column::new_empty(columns[0].name().clone(), &dtype));
    }
    let rows = |column: &Column| distance(column).map(|d| d.map(|d| d as i64));
    let (start, end) = (rows(&columns[1])?, rows(&columns[2])?);
    let (order_keys, partition_keys) = columns[3..].split_at(frame.keys.len());
    let order_keys: Vec<(Column, KeyOrder)> = order_keys.iter().map(|key| spanning(key, height)).zip(frame.keys.iter().copied()).collect();
    let partition_keys: Vec<Column> = partition_keys.iter().map(|key| spanning(key, height)).collect();
    let sorted = sorted_rows(&partition_keys, &order_keys, height)?;
    // Each row's frame: the positions at those distances, held inside its partition.
    let mut bounds = Vec::with_capacity(height);
    for (first, last) in sorted.partitions() {
        // Saturating: `9223372036854775807 FOLLOWING` is the partition's end, not a wrap below its start.
        let within = |position: usize, distance: i64| (position as i64).saturating_add(distance).clamp(first as i64, last as i64) as usize;
        bounds.extend((first..last).map(|p| (start.map_or(first, |d| within(p, d)), end.map_or(last, |d| within(p, d.saturating_add(1))))));
    }
    answer(frame.aggregate, &columns[0], &sorted.order, &bounds, &dtype)
}

/// The aggregate of each frame of the value's sorted rows, back in the rows' own order.
fn answer(aggregate: PeerAggregate, value: &Column, order: &[IdxSize], frames: &[(usize, usize)], dtype: &DataType) -> PolarsResult<Column> {
    if let Some(answered) = slid_in_64_bits(aggregate, value, order, frames, dtype)? {
        return Ok(answered.into_column());
    }
    let sorted_values = in_sorted_order(value, order, order.len())?;
    let answered = match slid(aggregate, &sorted_values, frames, dtype)? {
        Some(answered) => answered,
        None => each_on_its_own(aggregate, &sorted_values, frames, dtype)?,
    };
    Ok(in_row_order(&answered, order)?.into_column())
}

/// Every frame's aggregate in one pass (`sliding.rs`): numbers, and for
/// minima and maxima dates, times, text and booleans too. None for other
/// values, or frames that do not slide forward (a start distance past the
/// end's).
fn slid(aggregate: PeerAggregate, values: &Series, frames: &[(usize, usize)], dtype: &DataType) -> PolarsResult<Option<Series>> {
    let name = values.name().clone();
    let present = present_before(values.is_not_null().iter().map(|valid| valid == Some(true)));
    let counts: Vec<i64> = frames.iter().map(|&(first, last)| present[last.max(first)] - present[first]).collect();
    let input = values.dtype();
    let answered = match aggregate {
        PeerAggregate::Rows => Series::new(name, frames.iter().map(|&(first, last)| last.saturating_sub(first) as i64).collect::<Vec<_>>()),
        PeerAggregate::Count => Series::new(name, counts),
        _ if input.is_float() => {
            let floats: Vec<Option<f64>> = values.cast(&DataType::Float64)?.f64()?.iter().collect();
            let Some(answers) = slide(&floats, frames, float_combine(aggregate)) else { return Ok(None) };
            match aggregate {
                PeerAggregate::Avg => Series::new(name, averages(answers.into_iter(), &counts, 1.0)),
                _ => Series::new(name, answers).cast(dtype)?,
            }
        }
        _ if input.is_integer() || input.is_decimal() || input.is_temporal() => {
            let Ok(physical) = values.to_physical_repr().cast(&DataType::Int128) else { return Ok(None) };
            let integers: Vec<Option<i128>> = physical.i128()?.iter().collect();
            let Some(answers) = slide(&integers, frames, integer_combine(aggregate)) else { return Ok(None) };
            let exact = Int128Chunked::from_iter_options(name.clone(), answers.iter().copied()).into_series();
            match (aggregate, input) {
                (PeerAggregate::Avg, _) => {
                    let unit = if let DataType::Decimal(_, scale) = input { 10f64.powi(*scale as i32) } else { 1.0 };
                    Series::new(name, averages(answers.iter().map(|sum| sum.map(|sum| sum as f64)), &counts, unit))
                }
                (_, DataType::Decimal(precision, scale)) => exact.into_decimal(*precision, *scale)?,
                (PeerAggregate::Sum, DataType::Int128) => exact,
                (PeerAggregate::Sum, _) => exact.strict_cast(&DataType::Int64)?,
                _ => exact.strict_cast(&input.to_physical())?.cast(input)?,
            }
        }
        // Text and the like by their rank in the values' order.
        _ if super::ranked_extremes::ranked(input) => return super::ranked_extremes::ranked_extremes(aggregate, values, frames),
        _ => return Ok(None),
    };
    Ok(Some(answered))
}

/// Sums, minima, maxima and averages of integers, dates and times of 64
/// bits or fewer, in 64 bits: each value read once into the sorted order,
/// each answer written once into its row (no Series gathered either way,
/// half the memory of 128 bits). None for other aggregates and values,
/// frames that do not slide forward, or a sum of the two stacks' partial
/// sums past BIGINT's range, whose frames the 128-bit path decides.
fn slid_in_64_bits(aggregate: PeerAggregate, value: &Column, order: &[IdxSize], frames: &[(usize, usize)], dtype: &DataType) -> PolarsResult<Option<Series>> {
    let height = order.len();
    let physical = spanning(value, height).to_physical_repr();
    let narrow = physical.dtype().is_integer() && !matches!(physical.dtype(), DataType::Int128 | DataType::UInt128 | DataType::UInt64);
    if !narrow || matches!(aggregate, PeerAggregate::Count | PeerAggregate::Rows) {
        return Ok(None);
    }
    let integers = physical.cast(&DataType::Int64)?.as_materialized_series().rechunk();
    let integers = integers.i64()?;
    let sorted: Vec<Option<i64>> = order.iter().map(|&row| integers.get(row as usize)).collect();
    let overflowed = std::cell::Cell::new(false);
    let combine = |a: i64, b: i64| match aggregate {
        PeerAggregate::Min => a.min(b),
        PeerAggregate::Max => a.max(b),
        _ => a.checked_add(b).unwrap_or_else(|| {
            overflowed.set(true);
            0
        }),
    };
    let name = value.name().clone();
    if aggregate == PeerAggregate::Avg {
        let present = present_before(sorted.iter().map(Option::is_some));
        let mut means = vec![None; height];
        let slid = slide_each(&sorted, frames, combine, |index, sum| {
            let (first, last) = frames[index];
            means[order[index] as usize] = sum.map(|sum| sum as f64 / (present[last] - present[first]) as f64);
        });
        return Ok((slid && !overflowed.get()).then(|| Float64Chunked::from_iter_options(name, means.into_iter()).into_series()));
    }
    let (mut answers, mut valid) = (vec![0i64; height], vec![false; height]);
    let slid = slide_each(&sorted, frames, combine, |index, answer| {
        let row = order[index] as usize;
        (answers[row], valid[row]) = (answer.unwrap_or_default(), answer.is_some());
    });
    if !slid || overflowed.get() {
        return Ok(None);
    }
    let answered = Int64Chunked::from_vec_validity(name, answers, Some(valid.into_iter().collect())).into_series();
    Ok(Some(match aggregate {
        PeerAggregate::Sum => answered,
        _ => answered.strict_cast(&value.dtype().to_physical())?.cast(dtype)?,
    }))
}

/// How many values are present before each position (and before the end):
/// a frame's count of values is the difference at its ends.
fn present_before(valid: impl Iterator<Item = bool>) -> Vec<i64> {
    std::iter::once(0).chain(valid.scan(0i64, |count, valid| {
        *count += i64::from(valid);
        Some(*count)
    })).collect()
}

fn float_combine(aggregate: PeerAggregate) -> fn(f64, f64) -> f64 {
    match aggregate {
        PeerAggregate::Min => f64::min,
        PeerAggregate::Max => f64::max,
        _ => |a, b| a + b,
    }
}

fn integer_combine(aggregate: PeerAggregate) -> fn(i128, i128) -> i128 {
    match aggregate {
        PeerAggregate::Min => i128::min,
        PeerAggregate::Max => i128::max,
        // Saturating: past i128 no BIGINT or DECIMAL(38) holds it, and the cast back says so.
        _ => i128::saturating_add,
    }
}

/// Each frame's sum over its count of values, the sums scaled down by `unit`.
fn averages(sums: impl Iterator<Item = Option<f64>>, counts: &[i64], unit: f64) -> Vec<Option<f64>> {
    sums.zip(counts).map(|(sum, &count)| sum.map(|sum| sum / unit / count as f64)).collect()
}

/// Each frame aggregated on its own: any type the aggregate takes (text's
/// minimum and maximum), in time proportional to the frames' widths.
fn each_on_its_own(aggregate_of: PeerAggregate, values: &Series, frames: &[(usize, usize)], dtype: &DataType) -> PolarsResult<Series> {
    let mut answers = Vec::with_capacity(frames.len());
    for &(first, last) in frames {
        let rows = values.slice(first as i64, last.saturating_sub(first));
        answers.push(aggregate(aggregate_of, &rows)?.into_static());
    }
    Series::from_any_values_and_dtype(values.name().clone(), &answers, dtype, false)
}

/// A bound's distance (the first value of its column), None when unbounded.
fn distance(column: &Column) -> PolarsResult<Option<f64>> {
    if column.dtype().is_null() || column.is_empty() {
        return Ok(None);
    }
    let value = column.cast(&DataType::Float64)?.f64()?.get(0);
    Ok(value)
}

/// Each key as a number on the scale the distances use (microseconds for
/// dates and timestamps), None for NULL.
fn key_positions(key: &Column, temporal: bool) -> PolarsResult<Vec<Option<f64>>> {
    let series = key.as_materialized_series();
    let micros = match (series.dtype(), temporal) {
        (DataType::Date, true) => series.cast(&DataType::Int32)?.cast(&DataType::Float64)?.f64()?.apply_values(|days| days * MICROS_PER_DAY),
        (DataType::Datetime(unit, _), true) => {
            let per_micro = match unit {
                TimeUnit::Nanoseconds => 1e-3,
                TimeUnit::Microseconds => 1.0,
                TimeUnit::Milliseconds => 1e3,
            };
            series.cast(&DataType::Int64)?.cast(&DataType::Float64)?.f64()?.apply_values(|t| t * per_micro)
        }
        (dtype, false) if dtype.is_primitive_numeric() || dtype.is_decimal() => series.cast(&DataType::Float64)?.f64()?.clone(),
        // A number of days from a date, as DuckDB reads `date - 30`.
        (DataType::Date, false) => series.cast(&DataType::Int32)?.cast(&DataType::Float64)?.f64()?.clone(),
        (dtype, temporal) => polars_bail!(InvalidOperation: "a RANGE frame with {} offsets cannot order by a {dtype} key",
            if temporal { "interval" } else { "numeric" }),
    };
    Ok(micros.iter().collect())
}

/// Each row's frame `(first, last)` (end exclusive) within a partition whose
/// keys are sorted ascending (NULLs at one end).
fn frames(keys: &[Option<f64>], start: Option<f64>, end: Option<f64>) -> Vec<(usize, usize)> {
    let height = keys.len();
    let present_from = keys.iter().position(Option::is_some).unwrap_or(height);
    let present_to = keys.iter().rposition(Option::is_some).map_or(present_from, |last| last + 1);
    let present: Vec<f64> = keys[present_from..present_to].iter().map(|k| k.unwrap_or_default()).collect();
    let (nulls_from, nulls_to) = if present_from > 0 { (0, present_from) } else { (present_to, height) };
    keys.iter()
        .map(|key| {
            let (first, last) = match key {
                None => (nulls_from, nulls_to),
                Some(key) => (
                    start.map_or(0, |distance| present_from + present.partition_point(|other| *other < key + distance)),
                    end.map_or(height, |distance| present_from + present.partition_point(|other| *other <= key + distance)),
                ),
            };
            (if start.is_none() { 0 } else { first }, if end.is_none() { height } else { last })
        })
        .collect()
}

/// The aggregate of one frame's values (NULL when no value is present, but a count).
fn aggregate(aggregate: PeerAggregate, rows: &Series) -> PolarsResult<AnyValue<'static>> {
    let present = rows.len() - rows.null_count();
    Ok(match aggregate {
        PeerAggregate::Rows => AnyValue::Int64(rows.len() as i64),
        PeerAggregate::Count => AnyValue::Int64(present as i64),
        _ if present == 0 => AnyValue::Null,
        PeerAggregate::Sum => rows.sum_reduce()?.into_value().into_static(),
        PeerAggregate::Min => rows.min_reduce()?.into_value().into_static(),
        PeerAggregate::Max => rows.max_reduce()?.into_value().into_static(),
        PeerAggregate::Avg => rows.mean().map_or(AnyValue::Null, AnyValue::Float64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_reach_by_value_and_keep_peers_and_nulls_together() {
        let keys = [Some(1.0), Some(2.0), Some(2.0), Some(5.0), None];
        // RANGE BETWEEN 1 PRECEDING AND CURRENT ROW
        assert_eq!(frames(&keys, Some(-1.0), Some(0.0)), vec![(0, 1), (0, 3), (0, 3), (3, 4), (4, 5)]);
        // RANGE BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING
        assert_eq!(frames(&keys, None, Some(1.0)), vec![(0, 3), (0, 3), (0, 3), (0, 4), (0, 5)]);
        // RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING, NULLs first
        let first = [None, Some(1.0), Some(3.0)];
        assert_eq!(frames(&first, Some(0.0), None), vec![(0, 3), (1, 3), (2, 3)]);
    }

    #[test]
    fn one_pass_answers_as_each_frame_on_its_own_does() {
        let frames: Vec<(usize, usize)> = vec![(0, 0), (0, 2), (0, 3), (1, 4), (3, 4), (3, 6), (5, 6), (6, 6)];
        let ints = Series::new("v".into(), [Some(3i32), None, Some(-7), Some(12), None, Some(5)]);
        let floats = Series::new("v".into(), [Some(0.1f64), None, Some(0.2), Some(2.5), None, Some(-1.25)]);
        let decimals = ints.cast(&DataType::Decimal(10, 2)).unwrap();
        let dates = ints.cast(&DataType::Date).unwrap();
        for values in [ints, floats, decimals, dates] {
            for aggregate in [PeerAggregate::Rows, PeerAggregate::Count, PeerAggregate::Sum, PeerAggregate::Avg, PeerAggregate::Min, PeerAggregate::Max] {
                let Ok(dtype) = peer_type(aggregate, values.dtype()) else { continue };
                let fast = slid(aggregate, &values, &frames, &dtype).unwrap().expect("numbers and dates slide");
                let reference = each_on_its_own(aggregate, &values, &frames, &dtype).unwrap();
                assert_eq!(fast.dtype(), reference.dtype(), "{aggregate:?} of {}", values.dtype());
                let (fast, reference) = (fast.cast(&DataType::String).unwrap(), reference.cast(&DataType::String).unwrap());
                assert!(fast.equals_missing(&reference), "{aggregate:?} of {}: {fast:?} vs {reference:?}", values.dtype());
            }
        }
        // Text slides by rank, as each frame on its own takes its minimum.
        let text = Series::new("v".into(), [Some("b"), Some("a"), None, Some("d"), Some("e"), Some("a")]);
        for aggregate in [PeerAggregate::Min, PeerAggregate::Max] {
            let fast = slid(aggregate, &text, &frames, &DataType::String).unwrap().expect("text slides by rank");
            assert!(fast.equals_missing(&each_on_its_own(aggregate, &text, &frames, &DataType::String).unwrap()), "{aggregate:?}");
        }
        assert!(slid(PeerAggregate::Sum, &text, &frames, &DataType::String).unwrap().is_none());
    }

    #[test]
    fn sums_over_value_frames_per_partition() {
        let frame = ValueFrame {
            aggregate: PeerAggregate::Sum,
            key: crate::sql::functions::KeyOrder { descending: false, nulls_last: true },
            partitions: 1,
            temporal: false,
        };
        let columns = [
            Column::new("v".into(), [1i64, 10, 100, 1000, 5]),
            Column::new("k".into(), [1i64, 2, 4, 5, 1]),
            Column::new("start".into(), [-1i64]),
            Column::new("end".into(), [0i64]),
            Column::new("p".into(), ["a", "a", "a", "a", "b"]),
        ];
        let answer = value_frame(&frame, &columns).unwrap();
        let got: Vec<Option<i64>> = answer.i64().unwrap().iter().collect();
        assert_eq!(got, vec![Some(1), Some(11), Some(100), Some(1100), Some(5)]);
    }
}
