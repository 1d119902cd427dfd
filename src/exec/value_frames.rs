//! Aggregates over frames by value distance (`RANGE BETWEEN 7 PRECEDING AND
//! CURRENT ROW`, `INTERVAL '7 days' PRECEDING`), registered with polars-sql as
//! `sql::functions::ValueFrame` names them. Each row's frame is the rows of
//! its partition whose key lies within the bounds of its own key (peers
//! included); a NULL key's frame is the partition's NULL keys, widened to the
//! partition's end by an UNBOUNDED bound.

use polars::prelude::*;
use super::functions::{in_row_order, peer_type, sorted_positions, window_udf};
use crate::sql::functions::{PeerAggregate, ValueFrame};

const MICROS_PER_DAY: f64 = 86_400_000_000.0;

pub(super) fn udf(name: &str, frame: ValueFrame) -> UserDefinedFunction {
    let aggregate = frame.aggregate;
    window_udf(name, aggregate, move |columns| value_frame(&frame, columns))
}

/// Arguments: the value, the key, the start and end distances, the partition keys.
fn value_frame(frame: &ValueFrame, columns: &[Column]) -> PolarsResult<Column> {
    polars_ensure!(columns.len() == 4 + frame.partitions, ComputeError: "a RANGE window aggregate got {} arguments", columns.len());
    let height = columns.iter().map(Column::len).max().unwrap_or(0);
    let dtype = peer_type(frame.aggregate, columns[0].dtype())?;
    if height == 0 {
        return Ok(Column::new_empty(columns[0].name().clone(), &dtype));
    }
    let broadcast = |column: &Column| if column.len() == height { column.clone() } else { column.new_from_index(0, height) };
    let (start, end) = (distance(&columns[2])?, distance(&columns[3])?);
    let key = broadcast(&columns[1]);
    let positions = key_positions(&key, frame.temporal)?;
    let partition_keys: Vec<Column> = columns[4..].iter().map(broadcast).collect();
    let (order, same_partition) = sorted_positions(&partition_keys, &[(key, frame.key)], height)?;
    let sign = if frame.key.descending { -1.0 } else { 1.0 };
    let sorted_keys: Vec<Option<f64>> = order.iter().map(|&row| positions[row as usize].map(|p| p * sign)).collect();
    let sorted_values = broadcast(&columns[0]).as_materialized_series().take(&IdxCa::from_vec("order".into(), order.clone()))?;
    let mut answers = Vec::with_capacity(height);
    let mut segment_start = 0;
    while segment_start < height {
        let segment_end = (segment_start + 1..height).find(|&i| !same_partition[i]).unwrap_or(height);
        let bounds = frames(&sorted_keys[segment_start..segment_end], start, end);
        for (first, last) in bounds {
            let rows = sorted_values.slice((segment_start + first) as i64, last.saturating_sub(first));
            answers.push(aggregate(frame.aggregate, &rows)?.into_static());
        }
        segment_start = segment_end;
    }
    let answered = Series::from_any_values_and_dtype(columns[0].name().clone(), &answers, &dtype, false)?;
    Ok(in_row_order(&answered, &order)?.into_column())
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
