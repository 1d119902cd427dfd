//! Minima and maxima over window frames of values Polars' cumulative and
//! numeric kernels do not order (text, binary): each value stands in as its
//! dense rank in the values' sorted order, the frames slide over the ranks
//! (`sliding.rs`), and each answer is the value of its rank. Text's running
//! `min(name) OVER (ORDER BY …)` was an error ("`cum_min` operation not
//! supported for dtype `str`"), and its frames were each aggregated on
//! their own.

use polars::prelude::*;

use super::sliding::slide;
use crate::sql::functions::PeerAggregate;

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
    let values = values.rechunk();
    let order = values.arg_sort(SortOptions::default().with_nulls_last(true));
    let sorted = values.take(&order)?;
    let equal = match height {
        0 | 1 => BooleanChunked::full_null("same".into(), 0),
        _ => sorted.slice(1, height - 1).equal_missing(&sorted.slice(0, height - 1))?,
    };
    let same_as_previous = std::iter::once(false).chain(equal.iter().map(|same| same.unwrap_or(false)));
    let nulls = sorted.is_null();
    // The first sorted position of each rank, and each row's rank (None for NULL).
    let (mut firsts, mut ranks) = (Vec::new(), vec![None; height]);
    for (position, ((row, same), null)) in order.into_no_null_iter().zip(same_as_previous).zip(nulls.iter().map(|null| null.unwrap_or(true))).enumerate() {
        if !same {
            firsts.push(position as IdxSize);
        }
        if !null {
            ranks[row as usize] = Some((firsts.len() - 1) as u32);
        }
    }
    let Some(answers) = slide(&ranks, frames, combine) else { return Ok(None) };
    let positions: IdxCa = answers.into_iter().map(|rank| rank.map(|rank| firsts[rank as usize])).collect();
    Ok(Some(sorted.take(&positions)?.with_name(values.name().clone())))
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
