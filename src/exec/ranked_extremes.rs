//! Minima and maxima over window frames of values Polars' cumulative and
//! numeric kernels do not order (text, binary): each value stands in as its
//! dense rank in the values' sorted order, the frames slide over the ranks
//! (`sliding.rs`), and each answer is the value of its rank. Text's running
//! `min(name) OVER (ORDER BY …)` was an error ("`cum_min` operation not
//! supported for dtype `str`"), and its frames were each aggregated on
//! their own.

use polars::prelude::*;

use super::key_order::sorted_rows;
use super::sliding::slide;
use crate::sql::functions::{KeyOrder, PeerAggregate};

/// Whether values of this type are ranked here: Polars' cumulative minima
/// and maxima and the numeric slide take none of them.
pub(super) fn ranked(dtype: &DataType) -> bool {
    matches!(dtype, DataType::String | DataType::Binary | DataType::Boolean)
}

/// Each frame's minimum or maximum of `values` (`(first, last)`, end
/// exclusive; NULLs ignored); None for another aggregate or frames that do
/// not slide forward.
pub(super) fn ranked_extremes(aggregate: PeerAggregate, values: &Series, frames: &[(usize, usize)]) -> PolarsResult<Option<Series>> {
    let combine = match aggregate {
        PeerAggregate::Min => u32::min,
        PeerAggregate::Max => u32::max,
        _ => return Ok(None),
    };
    let height = values.len();
    if height == 0 {
        return Ok(Some(values.clone()));
    }
    let ascending = KeyOrder { descending: false, nulls_last: true };
    let sorted = sorted_rows(&[], &[(values.clone().into_column(), ascending)], height)?;
    let nulls: Vec<bool> = values.is_null().iter().map(|null| null.unwrap_or(true)).collect();
    // A row holding each rank's value, and each row's rank (None for NULL).
    let (mut holders, mut ranks) = (Vec::new(), vec![None; height]);
    for (&row, &same) in sorted.order.iter().zip(&sorted.same_keys) {
        if !same {
            holders.push(row);
        }
        if !nulls[row as usize] {
            ranks[row as usize] = Some((holders.len() - 1) as u32);
        }
    }
    let Some(answers) = slide(&ranks, frames, combine) else { return Ok(None) };
    let rows: IdxCa = answers.into_iter().map(|rank| rank.map(|rank| holders[rank as usize])).collect();
    Ok(Some(values.rechunk().take(&rows)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_frames_take_their_least_and_greatest() {
        let values = Series::new("s".into(), [Some("pear"), None, Some("apple"), Some("fig"), Some("apple"), None]);
        let running: Vec<(usize, usize)> = (1..=6).map(|last| (0, last)).collect();
        let min = ranked_extremes(PeerAggregate::Min, &values, &running).unwrap().unwrap();
        let min: Vec<Option<&str>> = min.str().unwrap().iter().collect();
        assert_eq!(min, [Some("pear"), Some("pear"), Some("apple"), Some("apple"), Some("apple"), Some("apple")]);
        let sliding = [(0, 2), (1, 2), (1, 4), (4, 6), (5, 6)];
        let max = ranked_extremes(PeerAggregate::Max, &values, &sliding).unwrap().unwrap();
        let max: Vec<Option<&str>> = max.str().unwrap().iter().collect();
        assert_eq!(max, [Some("pear"), None, Some("fig"), Some("apple"), None]);
        assert!(ranked_extremes(PeerAggregate::Sum, &values, &sliding).unwrap().is_none());
    }
}
