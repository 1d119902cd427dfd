//! Aggregates over windows that slide forward — each frame starts and ends
//! no earlier than the one before, as frames by value distance do over sorted
//! keys — in time linear in the rows, whatever the frames' width: a queue of
//! two stacks, whose front keeps each element's aggregate with all behind it
//! and whose back keeps one running aggregate. Any associative operation
//! works (sums, minima, maxima), and sums never subtract, so floats lose
//! nothing to cancellation as prefix sums would.

/// The aggregate of each frame `(first, last)` (end exclusive) over
/// `values`, NULLs ignored (None when a frame has no value); None when the
/// frames do not slide forward.
pub(super) fn slide<T: Copy>(values: &[Option<T>], frames: &[(usize, usize)], combine: impl Fn(T, T) -> T) -> Option<Vec<Option<T>>> {
    let mut answers = Vec::with_capacity(frames.len());
    slide_each(values, frames, combine, |_, answer| answers.push(answer)).then_some(answers)
}

/// [`slide`], each frame's aggregate handed to `answer` with the frame's
/// index as it is computed; false (some frames answered) when the frames
/// do not slide forward.
pub(super) fn slide_each<T: Copy>(values: &[Option<T>], frames: &[(usize, usize)], combine: impl Fn(T, T) -> T, mut answer: impl FnMut(usize, Option<T>)) -> bool {
    let both = |a: Option<T>, b: Option<T>| match (a, b) {
        (Some(a), Some(b)) => Some(combine(a, b)),
        (a, b) => a.or(b),
    };
    let (mut front, mut back): (Vec<Option<T>>, Vec<Option<T>>) = (Vec::new(), Vec::new());
    let mut back_total = None;
    let (mut start, mut end) = (0, 0);
    for (index, &(first, last)) in frames.iter().enumerate() {
        if first < start || last < end || first > last {
            return false;
        }
        for value in &values[end..last] {
            back.push(*value);
            back_total = both(back_total, *value);
        }
        end = last;
        while start < first {
            if front.is_empty() {
                // The back, oldest on top, each with the aggregate of itself and all newer.
                let mut behind = None;
                for value in back.drain(..).rev() {
                    behind = both(value, behind);
                    front.push(behind);
                }
                back_total = None;
            }
            front.pop();
            start += 1;
        }
        answer(index, both(front.last().copied().flatten(), back_total));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each frame aggregated on its own, as the reference.
    fn direct(values: &[Option<i64>], frames: &[(usize, usize)], combine: fn(i64, i64) -> i64) -> Vec<Option<i64>> {
        frames.iter().map(|&(first, last)| values[first..last].iter().flatten().copied().reduce(combine)).collect()
    }

    #[test]
    fn sliding_frames_agree_with_each_frame_on_its_own() {
        let values: Vec<Option<i64>> = (0..200).map(|i| if i % 7 == 3 { None } else { Some((i * 37 % 101) - 50) }).collect();
        // Widths that grow, shrink and empty out; a start that stays put (UNBOUNDED PRECEDING).
        let frames: Vec<(usize, usize)> = (0..200).map(|i| (i / 2, (i + 1 + i % 5).min(200))).collect();
        let mut frames_sorted = frames.clone();
        frames_sorted.sort();
        let monotone: Vec<(usize, usize)> = frames_sorted.iter().scan(0, |last, &(f, l)| { *last = (*last).max(l).max(f); Some((f, *last)) }).collect();
        for (name, combine) in [("sum", (|a, b| a + b) as fn(i64, i64) -> i64), ("min", i64::min), ("max", i64::max)] {
            assert_eq!(slide(&values, &monotone, combine).unwrap(), direct(&values, &monotone, combine), "{name}");
            let unbounded: Vec<(usize, usize)> = (0..=200).map(|last| (0, last)).collect();
            assert_eq!(slide(&values, &unbounded, combine).unwrap(), direct(&values, &unbounded, combine), "{name}");
        }
        // Frames of NULLs only, and empty ones, are None.
        assert_eq!(slide(&[None, Some(1), None], &[(0, 1), (1, 1), (1, 2), (2, 3)], |a: i64, b| a + b).unwrap(), vec![None, None, Some(1), None]);
        // A frame that steps back is not a sliding one.
        assert!(slide(&[Some(1), Some(2)], &[(1, 2), (0, 2)], |a: i64, b| a + b).is_none());
    }
}
