//! The order of rows by a window's partition keys, then its own keys, for
//! Floe's frame functions; one or two integer-like keys as fixed-width
//! tuples. With every key NULLs-last, Polars
//! 0.55's multi-column sort row-encodes the keys and sorts the byte rows,
//! one `memcmp` per comparison: 63% of a ROWS frame's time over 20M rows
//! (`perf`), 27 s where DuckDB took 3.5 s. Each key becomes its NULL rank
//! and order-preserving bits; the row number last makes the unstable sort's
//! order the stable one.

use polars::prelude::*;

use crate::sql::functions::KeyOrder;

/// Rows sorted by their partition keys (in an order that keeps each
/// partition together), then the window's keys, ties in the rows' own order.
pub(super) struct SortedRows {
    /// The original row number at each position.
    pub order: Vec<IdxSize>,
    /// Whether each position is in the same partition as the one before (never the first).
    pub same_partition: Vec<bool>,
    /// Whether each position's keys, all of them, equal the one before's (never the first).
    pub same_keys: Vec<bool>,
}

impl SortedRows {
    /// Each partition's positions `(first, last)` (end exclusive), in order.
    pub fn partitions(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        partition_runs(&self.same_partition)
    }
}

/// Each run's positions `(first, last)` (end exclusive), a run starting
/// wherever a position is not the same partition as the one before.
pub(super) fn partition_runs(same_partition: &[bool]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let height = same_partition.len();
    let starts = (0..height).filter(|&p| !same_partition[p]);
    starts.map(move |first| (first, (first + 1..height).find(|&p| !same_partition[p]).unwrap_or(height)))
}

pub(super) fn sorted_rows(partition_keys: &[Column], order_keys: &[(Column, KeyOrder)], height: usize) -> PolarsResult<SortedRows> {
    let keyed: Vec<(&Column, Direction)> = partition_keys
        .iter()
        .map(|key| (key, (false, true)))
        .chain(order_keys.iter().map(|(key, order)| (key, (order.descending, order.nulls_last))))
        .collect();
    if let Some(sorted) = fixed_width_order(&keyed, partition_keys.len())? {
        return Ok(sorted);
    }
    polars_order(&keyed, partition_keys.len(), height)
}

/// A key's sort: descending, NULLs last.
pub(super) type Direction = (bool, bool);

/// The rows' order, or None where a key is not one this sorts (text,
/// floats, decimals, more than two keys). Keys are read as iterators, never
/// collected: each 20M-row vector is memory the kernel must fault in.
fn fixed_width_order(keys: &[(&Column, Direction)], partitions: usize) -> PolarsResult<Option<SortedRows>> {
    if !(1..=2).contains(&keys.len()) {
        return Ok(None);
    }
    let ordered: Option<Vec<OrderedKey>> = keys.iter().map(|(key, (descending, _))| OrderedKey::new(key, *descending)).collect::<PolarsResult<_>>()?;
    let Some(ordered) = ordered else { return Ok(None) };
    let directions: Vec<Direction> = keys.iter().map(|(_, direction)| *direction).collect();
    if let Some(sorted) = packed_order(&ordered, &directions, partitions) {
        return Ok(Some(sorted));
    }
    let tagged = |key: usize| {
        let nulls_last = directions[key].1;
        ordered[key].bits().map(move |value| match value {
            None => (if nulls_last { 2u8 } else { 0 }, 0u64),
            Some(bits) => (1, bits),
        })
    };
    Ok(Some(match ordered.len() {
        1 => sorted_tuples(tagged(0).map(|key| [key]), |a, b| a[..partitions] == b[..partitions]),
        _ => sorted_tuples(tagged(0).zip(tagged(1)).map(|(a, b)| [a, b]), |a, b| a[..partitions] == b[..partitions]),
    }))
}

/// Keys whose values span few enough bits packed into one u64 each, in
/// the same order: each value less its key's least (NULLs a code below or
/// above them), the first key in the high bits. A 16-byte row sorts in
/// half the time of two tagged 64-bit keys (`k` 0–999 and `x` within ±10⁹
/// take 45 bits).
fn packed_order(keys: &[OrderedKey], directions: &[Direction], partitions: usize) -> Option<SortedRows> {
    let mut codes: Vec<(u64, u64, u64)> = Vec::new(); // least, NULL's code, values' shift
    let mut widths: Vec<u32> = Vec::new();
    for (key, (_, nulls_last)) in keys.iter().zip(directions) {
        let (least, most) = key.bits().flatten().fold((u64::MAX, 0), |(least, most), v| (least.min(v), most.max(v)));
        // Values take codes 0..=span, shifted up one when a NULL sorts first.
        let top = most.checked_sub(least).unwrap_or(0).checked_add(1)?;
        widths.push(u64::BITS - top.leading_zeros());
        codes.push(if *nulls_last { (least, top, 0) } else { (least, 0, 1) });
    }
    if widths.iter().sum::<u32>() > u64::BITS {
        return None;
    }
    let coded = |key: usize| {
        let (least, null, shift) = codes[key];
        keys[key].bits().map(move |value| value.map_or(null, |v| v - least + shift))
    };
    let packed: Box<dyn Iterator<Item = u64>> = match keys.len() {
        1 => Box::new(coded(0)),
        _ => Box::new(coded(0).zip(coded(1)).map(|(a, b)| (a << widths[1]) | b)),
    };
    // The order keys' bits below the partition keys'.
    let below: u32 = widths[partitions..].iter().sum();
    let partition = |key: &u64| key.checked_shr(below).unwrap_or(0);
    Some(sorted_tuples(packed, |a, b| partition(a) == partition(b)))
}

/// The keys sorted with their row numbers (in parallel, on the pool the
/// caller runs on), runs read off the sorted keys themselves (no key
/// gathered into the sorted order); `same_partition_as` compares two keys' partition parts.
fn sorted_tuples<K: Ord + Send>(keys: impl Iterator<Item = K>, same_partition_as: impl Fn(&K, &K) -> bool) -> SortedRows {
    use rayon::slice::ParallelSliceMut;
    let mut rows: Vec<(K, IdxSize)> = keys.zip(0 as IdxSize..).collect();
    rows.par_sort_unstable();
    let mut same_partition = Vec::with_capacity(rows.len());
    let mut same_keys = Vec::with_capacity(rows.len());
    for (position, (keys, _)) in rows.iter().enumerate() {
        let previous = position.checked_sub(1).map(|p| &rows[p].0);
        same_partition.push(previous.is_some_and(|previous| same_partition_as(previous, keys)));
        same_keys.push(previous == Some(keys));
    }
    SortedRows { order: rows.into_iter().map(|(_, row)| row).collect(), same_partition, same_keys }
}

/// Polars' stable sort of any keys, runs compared in the sorted frame.
fn polars_order(keys: &[(&Column, Direction)], partitions: usize, height: usize) -> PolarsResult<SortedRows> {
    let named: Vec<Column> = keys.iter().enumerate().map(|(i, (key, _))| (*key).clone().with_name(format!("k{i}").into())).collect();
    let options = SortMultipleOptions::default()
        .with_order_descending_multi(keys.iter().map(|(_, (descending, _))| *descending))
        .with_nulls_last_multi(keys.iter().map(|(_, (_, nulls_last))| *nulls_last))
        .with_maintain_order(true);
    let frame = DataFrame::new(height, named)?.with_row_index("row".into(), None)?;
    let sorted = frame.sort((0..keys.len()).map(|i| format!("k{i}")), options)?;
    let order = sorted.column("row")?.as_materialized_series().idx()?.into_no_null_iter().collect();
    let same_partition = same_as_previous(&sorted, 0..partitions, height)?;
    let same_keys = same_as_previous(&sorted, 0..keys.len(), height)?;
    Ok(SortedRows { order, same_partition, same_keys })
}

/// For each position of the sorted rows, whether its keys `k<i>` (for `i` in
/// `keys`) equal the previous row's; never for the first.
fn same_as_previous(sorted: &DataFrame, keys: std::ops::Range<usize>, height: usize) -> PolarsResult<Vec<bool>> {
    let mut same = vec![true; height];
    same[0] = false;
    for i in keys {
        let key = sorted.column(&format!("k{i}"))?.as_materialized_series();
        let equal = key.slice(1, height - 1).equal_missing(&key.slice(0, height - 1))?;
        for (position, peer) in equal.iter().enumerate() {
            same[position + 1] &= peer.unwrap_or(false);
        }
    }
    Ok(same)
}

/// A key's values as bits in its order, read as often as needed.
enum OrderedKey {
    /// Signed integers (and booleans, dates, times), descending or not.
    Signed(Int64Chunked, bool),
    Unsigned(UInt64Chunked, bool),
}

impl OrderedKey {
    /// None for a type whose order is not its integer bits' (text, floats, decimals).
    fn new(key: &Column, descending: bool) -> PolarsResult<Option<Self>> {
        let physical = key.to_physical_repr();
        Ok(Some(match physical.dtype() {
            DataType::UInt64 => Self::Unsigned(physical.as_materialized_series().u64()?.clone(), descending),
            dtype if (dtype.is_integer() && !matches!(dtype, DataType::Int128 | DataType::UInt128)) || dtype.is_bool() => {
                Self::Signed(physical.cast(&DataType::Int64)?.as_materialized_series().i64()?.clone(), descending)
            }
            _ => return Ok(None),
        }))
    }

    /// Each value's bits in the key's order (None for NULL): a signed
    /// value's sign bit flipped, so it orders as unsigned.
    fn bits(&self) -> Box<dyn Iterator<Item = Option<u64>> + '_> {
        let ordered = |bits: u64, descending: bool| if descending { !bits } else { bits };
        match self {
            Self::Unsigned(values, descending) => Box::new(values.iter().map(move |v| v.map(|v| ordered(v, *descending)))),
            Self::Signed(values, descending) => Box::new(values.iter().map(move |v| v.map(|v| ordered((v as u64) ^ (1 << 63), *descending)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_keys_sort_as_polars_sorts_them_stably() {
        let partitions = Column::new("p".into(), [Some(2i32), None, Some(-1), Some(2), Some(-1), None, Some(2), Some(i32::MIN)]);
        let values = Column::new("v".into(), [Some(5i64), Some(1), None, Some(-7), Some(3), Some(1), Some(5), Some(i64::MAX)]);
        let unsigned = Column::new("u".into(), [u64::MAX, 0, 3, 1 << 63, 3, 2, u64::MAX, 7]);
        let small = Column::new("s".into(), [Some(3i16), Some(-2), None, Some(3), Some(-2), Some(0), None, Some(1)]);
        for directions in [((false, true), (false, true)), ((false, true), (true, false)), ((true, false), (true, true)), ((false, false), (false, false))] {
            for (keys, partitions) in [
                (vec![(&partitions, directions.0), (&values, directions.1)], 1),
                (vec![(&values, directions.1)], 0),
                (vec![(&values, directions.1)], 1),
                (vec![(&unsigned, directions.0), (&partitions, directions.1)], 0),
                (vec![(&partitions, directions.0), (&small, directions.1)], 1),
                (vec![(&small, directions.0), (&small, directions.1)], 1),
            ] {
                let ours = fixed_width_order(&keys, partitions).unwrap().unwrap();
                let polars = polars_order(&keys, partitions, 8).unwrap();
                assert_eq!(ours.order, polars.order, "{directions:?}");
                assert_eq!(ours.same_partition, polars.same_partition, "{directions:?}");
                assert_eq!(ours.same_keys, polars.same_keys, "{directions:?}");
            }
        }
    }

    #[test]
    fn narrow_keys_pack_into_one_word_and_wide_ones_do_not() {
        let narrow = Column::new("n".into(), [Some(-5i64), None, Some(1_000_000_000)]);
        let wide = Column::new("w".into(), [-(1i64 << 62), 0, 1 << 62]);
        let bits = |key: &Column| OrderedKey::new(key, false).unwrap().unwrap();
        let (ascending, nulls_first) = ((false, true), (false, false));
        assert!(packed_order(&[bits(&narrow), bits(&narrow)], &[ascending, nulls_first], 1).is_some());
        assert!(packed_order(&[bits(&wide)], &[ascending], 0).is_some());
        assert!(packed_order(&[bits(&wide), bits(&narrow)], &[ascending, ascending], 1).is_none());
    }

    #[test]
    fn runs_are_read_in_the_sorted_order() {
        let partitions = Column::new("p".into(), [1i32, 0, 1, 0]);
        let values = Column::new("v".into(), [7i64, 7, 7, 8]);
        let sorted = sorted_rows(&[partitions], &[(values, KeyOrder { descending: false, nulls_last: true })], 4).unwrap();
        assert_eq!(sorted.order, [1, 3, 0, 2]);
        assert_eq!(sorted.same_partition, [false, true, false, true]);
        assert_eq!(sorted.same_keys, [false, false, false, true]);
    }

    #[test]
    fn other_keys_are_left_to_polars() {
        let text = Column::new("t".into(), ["b", "a"]);
        let floats = Column::new("f".into(), [1.5, 0.5]);
        let ints = Column::new("i".into(), [1, 2]);
        assert!(fixed_width_order(&[(&text, (false, true))], 0).unwrap().is_none());
        assert!(fixed_width_order(&[(&ints, (false, true)), (&floats, (false, true))], 1).unwrap().is_none());
        assert!(fixed_width_order(&[(&ints, (false, true)), (&ints, (false, true)), (&ints, (false, true))], 1).unwrap().is_none());
        let sorted = sorted_rows(&[text], &[(floats, KeyOrder { descending: true, nulls_last: true })], 2).unwrap();
        assert_eq!(sorted.order, [1, 0]);
        assert_eq!(sorted.same_partition, [false, false]);
    }
}
