//! Exact `+`, `-`, `*` and `%` (`sql::functions::ExactOp`); of two integers
//! `checked_integers.rs`'s. Of decimals: the
//! unscaled 128-bit integers added, subtracted, multiplied or divided for
//! the remainder (the dividend's sign, NULL for a zero divisor) with overflow
//! checks, a product keeping the sum of its operands' scales as SQL says.
//! Polars 0.55 rescales both operands to DECIMAL(38) per row and divides
//! each product back to the larger scale (rounding it), which cost TPC-H 1
//! more than its scan. Operands that are not decimals or integers, which
//! the rewrite can only guess from column names, get Polars' arithmetic.

use polars::prelude::arity::{broadcast_binary_elementwise, broadcast_binary_elementwise_values, broadcast_try_binary_elementwise, try_unary_elementwise};
use polars::prelude::*;
use polars_sql::function_registry::FunctionOptions;

use super::checked_integers;
use crate::sql::functions::ExactOp;

const MAX_PRECISION: usize = 38;

/// One instance per operation: Polars folds repeated subexpressions only
/// where a function is the same instance, and polars-sql repeats a SUM's
/// argument three times (its NULL-on-empty check).
pub(super) fn udf(op: ExactOp) -> UserDefinedFunction {
    static UDFS: std::sync::OnceLock<[UserDefinedFunction; 4]> = std::sync::OnceLock::new();
    let [add, sub, mul, rem] = UDFS.get_or_init(|| [ExactOp::Add, ExactOp::Sub, ExactOp::Mul, ExactOp::Rem].map(new_udf));
    match op {
        ExactOp::Add => add.clone(),
        ExactOp::Sub => sub.clone(),
        ExactOp::Mul => mul.clone(),
        ExactOp::Rem => rem.clone(),
    }
}

fn new_udf(op: ExactOp) -> UserDefinedFunction {
    super::functions::floe_udf(op.name(), FunctionOptions::elementwise(), move |columns| compute(op, &columns[0], &columns[1]), move |fields| {
        output_field(op, &fields[0], &fields[1])
    })
}

/// The scale of the exact result, when one operand is a decimal and the
/// other a decimal or an integer, and the scale fits.
fn exact_scale(op: ExactOp, left: &DataType, right: &DataType) -> Option<usize> {
    let (l, r) = (scale_of(left)?, scale_of(right)?);
    if !left.is_decimal() && !right.is_decimal() {
        return None;
    }
    let scale = match op {
        ExactOp::Mul => l + r,
        ExactOp::Add | ExactOp::Sub | ExactOp::Rem => l.max(r),
    };
    (scale <= MAX_PRECISION).then_some(scale)
}

fn scale_of(dtype: &DataType) -> Option<usize> {
    match dtype {
        DataType::Decimal(_, scale) => Some(*scale),
        DataType::Unknown(UnknownKind::Int(_)) => Some(0),
        dtype if dtype.is_integer() => Some(0),
        _ => None,
    }
}

fn output_field(op: ExactOp, left: &Field, right: &Field) -> PolarsResult<Field> {
    let dtype = match exact_scale(op, left.dtype(), right.dtype()) {
        Some(scale) => DataType::Decimal(MAX_PRECISION, scale),
        None if checked_integers::computes(op, left.dtype(), right.dtype()) => DataType::Int64,
        None => {
            let empty = |field: &Field| -> PolarsResult<Series> {
                Ok(Series::new_empty(field.name().clone(), &field.dtype().clone().materialize_unknown(true)?))
            };
            polars_arithmetic(op, &empty(left)?, &empty(right)?)?.dtype().clone()
        }
    };
    Ok(Field::new(left.name().clone(), dtype))
}

fn polars_arithmetic(op: ExactOp, left: &Series, right: &Series) -> PolarsResult<Series> {
    match op {
        ExactOp::Add => left + right,
        ExactOp::Sub => left - right,
        ExactOp::Mul => left * right,
        ExactOp::Rem => left % right,
    }
}

fn compute(op: ExactOp, left: &Column, right: &Column) -> PolarsResult<Column> {
    let (left, right) = (left.as_materialized_series(), right.as_materialized_series());
    let Some(scale) = exact_scale(op, left.dtype(), right.dtype()) else {
        if checked_integers::computes(op, left.dtype(), right.dtype()) {
            return Ok(checked_integers::compute(op, left, right)?.into_column());
        }
        return Ok(polars_arithmetic(op, left, right)?.into_column());
    };
    // Sums and differences line both sides up at the result's scale first.
    let aligned = (op != ExactOp::Mul).then_some(scale);
    let (l, r) = (unscaled(left, aligned)?, unscaled(right, aligned)?);
    let result = match op {
        // Never past the divisor, so never an overflow.
        ExactOp::Rem => broadcast_binary_elementwise(&l, &r, |a, b| match (a, b) {
            (Some(a), Some(b)) if b != 0 => Some(a % b),
            _ => None,
        }),
        _ => combine(op, &l, &r, scale)?,
    };
    Ok(result.into_decimal_unchecked(MAX_PRECISION, scale).into_series().with_name(left.name().clone()).into_column())
}

/// Over the value buffers in one pass; only when some value overflows
/// (perhaps one under a NULL, whose buffer value is arbitrary) row by row,
/// to find it or leave it out.
fn combine(op: ExactOp, l: &Int128Chunked, r: &Int128Chunked, scale: usize) -> PolarsResult<Int128Chunked> {
    let mut overflowed = false;
    let fast: Int128Chunked = broadcast_binary_elementwise_values(l, r, |a, b| {
        let value = exact(op, a, b);
        overflowed |= value.is_none();
        value.unwrap_or_default()
    });
    if !overflowed {
        return Ok(fast);
    }
    broadcast_try_binary_elementwise(l, r, |a, b| match (a, b) {
        (Some(a), Some(b)) => exact(op, a, b).map(Some).ok_or_else(|| overflow(op, a, b, scale)),
        _ => Ok(None),
    })
}

fn exact(op: ExactOp, a: i128, b: i128) -> Option<i128> {
    let value = match op {
        ExactOp::Add => a.checked_add(b)?,
        ExactOp::Sub => a.checked_sub(b)?,
        ExactOp::Mul => a.checked_mul(b)?,
        ExactOp::Rem => a.checked_rem(b)?,
    };
    fits(value).then_some(value)
}

/// At most 38 digits: what a DECIMAL holds.
fn fits(value: i128) -> bool {
    const LIMIT: i128 = 10i128.pow(MAX_PRECISION as u32);
    value > -LIMIT && value < LIMIT
}

fn overflow(op: ExactOp, a: i128, b: i128, scale: usize) -> PolarsError {
    let symbol = op.symbol();
    polars_err!(ComputeError: "decimal overflow: {a} {symbol} {b} (unscaled, result scale {scale}) needs more than {MAX_PRECISION} digits")
}

/// A decimal's or integer's values as unscaled integers, at `scale` if given.
fn unscaled(series: &Series, scale: Option<usize>) -> PolarsResult<Int128Chunked> {
    let (values, own) = match series.dtype() {
        DataType::Decimal(_, own) => (series.decimal()?.physical().clone(), *own),
        _ => (series.cast(&DataType::Int128)?.i128()?.clone(), 0),
    };
    let Some(factor) = scale.filter(|s| *s > own).map(|s| 10i128.pow((s - own) as u32)) else {
        return Ok(values);
    };
    try_unary_elementwise(&values, |value| match value {
        Some(v) => v.checked_mul(factor).filter(|v| fits(*v)).map(Some).ok_or_else(|| {
            polars_err!(ComputeError: "decimal overflow: {v} (unscaled) at scale {} needs more than {MAX_PRECISION} digits", scale.unwrap_or(own))
        }),
        None => Ok(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(values: &[Option<i128>], scale: usize) -> Column {
        Int128Chunked::from_iter_options("d".into(), values.iter().copied())
            .into_decimal_unchecked(15, scale)
            .into_series()
            .into_column()
    }

    fn unscaled_values(column: &Column) -> (Vec<Option<i128>>, DataType) {
        let series = column.as_materialized_series();
        (series.decimal().unwrap().physical().iter().collect(), series.dtype().clone())
    }

    #[test]
    fn products_keep_both_scales_and_sums_align_them() {
        let price = decimal(&[Some(1234), None, Some(-5)], 2); // 12.34, NULL, -0.05
        let discount = decimal(&[Some(5), Some(7), Some(3)], 2);
        let product = compute(ExactOp::Mul, &price, &discount).unwrap();
        assert_eq!(unscaled_values(&product), (vec![Some(6170), None, Some(-15)], DataType::Decimal(38, 4)));
        let tax = decimal(&[Some(1), Some(2), Some(3)], 3);
        let sum = compute(ExactOp::Add, &price, &tax).unwrap();
        assert_eq!(unscaled_values(&sum), (vec![Some(12341), None, Some(-47)], DataType::Decimal(38, 3)));
    }

    #[test]
    fn remainders_keep_the_dividends_sign_and_a_zero_divisor_is_null() {
        let price = decimal(&[Some(725), Some(-750), Some(725), None], 2); // 7.25, -7.50, 7.25, NULL
        let divisor = decimal(&[Some(5), Some(20), Some(0), Some(3)], 1); // 0.5, 2.0, 0, 0.3
        let rest = compute(ExactOp::Rem, &price, &divisor).unwrap();
        assert_eq!(unscaled_values(&rest), (vec![Some(25), Some(-150), None, None], DataType::Decimal(38, 2)));
    }

    #[test]
    fn integers_take_part_at_scale_zero_and_broadcast() {
        let one = Series::new("one".into(), [1i32]).into_column();
        let discount = decimal(&[Some(5), Some(100)], 2);
        let difference = compute(ExactOp::Sub, &one, &discount).unwrap();
        assert_eq!(unscaled_values(&difference), (vec![Some(95), Some(0)], DataType::Decimal(38, 2)));
        assert_eq!(difference.len(), 2);
    }

    #[test]
    fn overflow_is_an_error_and_other_types_get_polars_arithmetic() {
        let huge = decimal(&[Some(10i128.pow(30))], 0);
        let error = compute(ExactOp::Mul, &huge, &huge).unwrap_err().to_string();
        assert!(error.contains("decimal overflow"), "{error}");
        let under_null = compute(ExactOp::Mul, &decimal(&[Some(2), None], 0), &decimal(&[Some(3), Some(10i128.pow(30))], 0)).unwrap();
        assert_eq!(unscaled_values(&under_null).0, vec![Some(6), None]);
        let floats = Series::new("f".into(), [1.5f64, 2.0]).into_column();
        let discount = decimal(&[Some(5), Some(7)], 2);
        let product = compute(ExactOp::Mul, &floats, &discount).unwrap();
        let expected = (floats.as_materialized_series() * discount.as_materialized_series()).unwrap();
        assert_eq!(product.dtype(), expected.dtype());
        let field = output_field(ExactOp::Mul, &Field::new("f".into(), DataType::Float64), &Field::new("d".into(), DataType::Decimal(15, 2)));
        assert_eq!(field.unwrap().dtype(), expected.dtype());
    }
}
