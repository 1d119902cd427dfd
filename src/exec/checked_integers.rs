//! `+`, `-` and `*` of two integers (`sql::functions::ExactOp`) as SQL
//! computes them: in BIGINT, an error past its range. Polars keeps the
//! operands' type and wraps around, so `x + 9223372036854775800` came
//! back negative and a product past 2⁶³ was some other number, silently.

use polars::prelude::arity::{broadcast_binary_elementwise_values, broadcast_try_binary_elementwise};
use polars::prelude::*;

use crate::sql::functions::ExactOp;

/// Whether `left op right` is computed here: a sum, difference or product
/// of integers (a NULL is one of any type). A remainder cannot overflow; a
/// HUGEINT the query asked for is Polars' to compute in 128 bits.
pub(super) fn computes(op: ExactOp, left: &DataType, right: &DataType) -> bool {
    let integer = |dtype: &DataType| (dtype.is_integer() && !matches!(dtype, DataType::Int128 | DataType::UInt128)) || dtype.is_null();
    op != ExactOp::Rem && integer(left) && integer(right)
}

/// Over the value buffers in one pass; only when some value overflows
/// (perhaps one under a NULL, whose buffer value is arbitrary) row by row,
/// to find it or leave it out.
pub(super) fn compute(op: ExactOp, left: &Series, right: &Series) -> PolarsResult<Series> {
    let (l, r) = (bigint(left)?, bigint(right)?);
    let mut overflowed = false;
    let fast: Int64Chunked = broadcast_binary_elementwise_values(&l, &r, |a, b| {
        let (value, over) = overflowing(op, a, b);
        overflowed |= over;
        value
    });
    let values = match overflowed {
        false => fast,
        true => broadcast_try_binary_elementwise(&l, &r, |a, b| match (a, b) {
            (Some(a), Some(b)) => exact(op, a, b).map(Some).ok_or_else(|| overflow(op, a, b)),
            _ => Ok(None),
        })?,
    };
    Ok(values.into_series().with_name(left.name().clone()))
}

/// An operand as BIGINT: an unsigned or 128-bit value past its range is
/// the same overflow as a result past it.
fn bigint(series: &Series) -> PolarsResult<Int64Chunked> {
    let values = series.strict_cast(&DataType::Int64).map_err(|_| {
        polars_err!(ComputeError: "integer overflow: `{}` holds a value past BIGINT's range; cast it to DECIMAL(38, 0) or DOUBLE", series.name())
    })?;
    Ok(values.i64()?.clone())
}

/// The running sum of integers (NULL where a value is, as Polars' `cum_sum`
/// leaves it) in 128 bits: a BIGINT's stops with an error past BIGINT's
/// range, which Polars' `cum_sum` wrapped around; a HUGEINT's stays one.
pub(super) fn running_sum(values: &Series) -> PolarsResult<Series> {
    let mut total = 0i128;
    // Saturating: past i128 no HUGEINT holds it, and the wire's DECIMAL(38) says so.
    let sums: Int128Chunked = values.cast(&DataType::Int128)?.i128()?.iter().map(|value| value.map(|v| {
        total = total.saturating_add(v);
        total
    })).collect();
    let sums = sums.into_series().with_name(values.name().clone());
    match values.dtype() {
        DataType::Int128 => Ok(sums),
        _ => sums.strict_cast(&DataType::Int64).map_err(|_| {
            polars_err!(ComputeError: "integer overflow: a running SUM passes BIGINT's range; cast the value to DECIMAL(38, 0)")
        }),
    }
}

fn overflowing(op: ExactOp, a: i64, b: i64) -> (i64, bool) {
    match op {
        ExactOp::Add => a.overflowing_add(b),
        ExactOp::Sub => a.overflowing_sub(b),
        ExactOp::Mul => a.overflowing_mul(b),
        // Not computed here (`computes`); a zero divisor must not panic.
        ExactOp::Rem => a.checked_rem(b).map_or((0, true), |value| (value, false)),
    }
}

fn exact(op: ExactOp, a: i64, b: i64) -> Option<i64> {
    let (value, over) = overflowing(op, a, b);
    (!over).then_some(value)
}

fn overflow(op: ExactOp, a: i64, b: i64) -> PolarsError {
    polars_err!(ComputeError: "integer overflow: {a} {} {b} is past BIGINT's range; cast an operand to DECIMAL(38, 0) or DOUBLE", op.symbol())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bigints(values: &[Option<i64>]) -> Series {
        Series::new("x".into(), values)
    }

    #[test]
    fn integers_are_computed_in_bigint() {
        let small = Series::new("i".into(), [Some(2_000_000_000i32), None, Some(-3)]);
        let sums = compute(ExactOp::Add, &small, &small).unwrap();
        assert_eq!(sums.dtype(), &DataType::Int64);
        assert_eq!(sums.i64().unwrap().to_vec(), [Some(4_000_000_000), None, Some(-6)]);
        let one = Series::new("k".into(), [7u8]);
        assert_eq!(compute(ExactOp::Mul, &small, &one).unwrap().i64().unwrap().to_vec(), [Some(14_000_000_000), None, Some(-21)]);
    }

    #[test]
    fn past_bigint_is_an_error_naming_the_values() {
        let near = bigints(&[Some(1), Some(i64::MAX - 5)]);
        let error = compute(ExactOp::Add, &near, &bigints(&[Some(10)])).unwrap_err().to_string();
        assert!(error.contains("9223372036854775802 + 10 is past BIGINT's range"), "{error}");
        assert!(compute(ExactOp::Mul, &bigints(&[Some(i64::MIN / 2)]), &bigints(&[Some(3)])).is_err());
        assert!(compute(ExactOp::Sub, &bigints(&[Some(i64::MIN)]), &bigints(&[Some(1)])).is_err());
        let huge = Series::new("u".into(), [u64::MAX]);
        assert!(compute(ExactOp::Add, &huge, &bigints(&[Some(0)])).unwrap_err().to_string().contains("`u` holds a value past BIGINT's range"));
    }

    #[test]
    fn running_sums_stop_past_bigint() {
        let sums = running_sum(&Series::new("v".into(), [Some(2i32), None, Some(-5)])).unwrap();
        assert_eq!(sums.i64().unwrap().to_vec(), [Some(2), None, Some(-3)]);
        let error = running_sum(&bigints(&[Some(i64::MAX - 1), Some(1), Some(1)])).unwrap_err().to_string();
        assert!(error.contains("a running SUM passes BIGINT's range"), "{error}");
        let wide = running_sum(&Series::new("h".into(), [i128::from(i64::MAX), 1])).unwrap();
        assert_eq!(wide.i128().unwrap().to_vec(), [Some(i128::from(i64::MAX)), Some(i128::from(i64::MAX) + 1)]);
    }

    #[test]
    fn an_overflow_under_a_null_is_no_error() {
        // The buffer under a NULL holds some value: one that overflows must not count.
        let values = Int64Chunked::from_vec_validity("x".into(), vec![i64::MAX, 1], Some([false, true].into_iter().collect())).into_series();
        let sums = compute(ExactOp::Add, &values, &bigints(&[Some(1)])).unwrap();
        assert_eq!(sums.i64().unwrap().to_vec(), [None, Some(2)]);
    }
}
