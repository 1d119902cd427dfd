//! The scalar functions of lists: `floe_list_mode`, the value a group's
//! `array_agg` holds most often (what `mode` is written as).

use polars::prelude::*;

/// Each list's most frequent value, the least of those tied (DuckDB takes
/// the first it meets, which depends on the order rows arrive in; the
/// least answers the same on every run), NULLs skipped.
pub(super) fn mode(column: &Column) -> PolarsResult<Series> {
    let lists = column.as_materialized_series().list().map_err(|_| polars_err!(InvalidOperation: "floe_list_mode takes a list, not {}", column.dtype()))?.clone();
    let inner = lists.inner_dtype().clone();
    let mut modes = Vec::with_capacity(lists.len());
    for list in lists.amortized_iter() {
        let value = match list {
            Some(list) => most_frequent(list.as_ref())?,
            None => AnyValue::Null,
        };
        modes.push(value);
    }
    Series::from_any_values_and_dtype(column.name().clone(), &modes, &inner, true)
}

/// Sorted, equal values are neighbours: the first of the longest run.
fn most_frequent(values: &Series) -> PolarsResult<AnyValue<'static>> {
    let sorted = values.drop_nulls().sort(SortOptions::default())?;
    let Some(last) = sorted.len().checked_sub(1) else { return Ok(AnyValue::Null) };
    let changes = sorted.slice(1, last).not_equal_missing(&sorted.slice(0, last))?;
    let (mut best, mut best_length, mut start) = (0, 0, 0);
    for (at, changed) in changes.iter().map(|changed| changed.unwrap_or(true)).chain([true]).enumerate() {
        if changed {
            let length = at + 1 - start;
            if length > best_length {
                (best, best_length) = (start, length);
            }
            start = at + 1;
        }
    }
    Ok(sorted.get(best)?.into_static())
}

#[cfg(test)]
mod tests {
    use super::super::compute;
    use crate::sql::functions::Scalar;
    use polars::prelude::*;

    #[test]
    fn the_most_frequent_value_ties_to_the_least() {
        let lists = [
            Series::new("a".into(), [Some(3i64), Some(1), Some(3), None, None, None]),
            Series::new("a".into(), [Some(2i64), Some(1), Some(1), Some(2)]),
            Series::new("a".into(), [None::<i64>, None]),
            Series::new("a".into(), [Some(7i64)]),
        ];
        let column = Series::new("xs".into(), lists.as_slice()).into_column();
        let modes = compute(Scalar::ListMode, &[column]).unwrap();
        assert_eq!(modes.name().as_str(), "xs");
        assert_eq!(modes.i64().unwrap().iter().collect::<Vec<_>>(), [Some(3), Some(1), None, Some(7)]);
        let texts = Series::new("t".into(), [Series::new("t".into(), ["b", "a", "b"])]).into_column();
        let mode = compute(Scalar::ListMode, &[texts]).unwrap();
        assert_eq!(mode.str().unwrap().get(0), Some("b"));
        assert!(compute(Scalar::ListMode, &[Column::new("n".into(), [1i64])]).unwrap_err().to_string().contains("takes a list"));
    }
}
