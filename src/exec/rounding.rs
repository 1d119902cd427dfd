//! Rounding as SQL rounds: `CAST(x AS <integer>)` (`floe_cast_round`) and
//! `round(x, n)` half away from zero (`floe_round_<n>`, `floe_round_m<n>`
//! for negative `n`), which Polars rounds half to even and refuses below 0
//! places.

use polars::prelude::*;
use polars_sql::function_registry::FunctionOptions;

use super::functions::floe_udf;
use crate::sql::functions::CAST_ROUND;

/// What `CAST(x AS <integer>)` rounds `x` to: a float half to even, a
/// decimal half away from zero; other values pass through.
pub(super) fn cast_rounding() -> UserDefinedFunction {
    floe_udf(CAST_ROUND, FunctionOptions::elementwise(), |columns| cast_round(&columns[0]), |fields| Ok(fields[0].clone()))
}

fn cast_round(value: &Column) -> PolarsResult<Column> {
    let mode = match value.dtype() {
        dtype if dtype.is_float() => RoundMode::HalfToEven,
        dtype if dtype.is_decimal() => RoundMode::HalfAwayFromZero,
        _ => return Ok(value.clone()),
    };
    Ok(value.as_materialized_series().round(0, mode)?.into_column())
}

/// `round(x, digits)` half away from zero, as DuckDB rounds: a DECIMAL at
/// scale `digits` (0 below), floats as floats; integers as they are, or to
/// tens, hundreds, … for negative `digits` (`round(125, -1)` is 130).
pub(super) fn half_away_rounding(name: &str, digits: i32) -> UserDefinedFunction {
    floe_udf(name, FunctionOptions::elementwise(), move |columns| round_half_away(&columns[0], digits), move |fields| {
        Ok(Field::new(fields[0].name().clone(), rounded_type(fields[0].dtype(), digits)))
    })
}

fn rounded_type(dtype: &DataType, digits: i32) -> DataType {
    match dtype {
        DataType::Decimal(precision, scale) => DataType::Decimal(*precision, (*scale).min(digits.max(0) as usize)),
        other => other.clone(),
    }
}

fn round_half_away(value: &Column, digits: i32) -> PolarsResult<Column> {
    let series = value.as_materialized_series();
    let dtype = series.dtype();
    let rounded = match u32::try_from(digits) {
        Ok(digits) if dtype.is_float() || dtype.is_decimal() => series.round(digits, RoundMode::HalfAwayFromZero)?,
        Ok(_) => return Ok(value.clone()),
        Err(_) => {
            let places = digits.unsigned_abs();
            match dtype {
                dtype if dtype.is_float() => {
                    let unit = 10f64.powi(places as i32);
                    ((series / unit).round(0, RoundMode::HalfAwayFromZero)? * unit).cast(dtype)?
                }
                DataType::Decimal(_, scale) => {
                    let unscaled = series.decimal()?.physical();
                    let to_tens = |value: i128| to_multiple(value, *scale as u32 + places, places);
                    let rounded: Int128Chunked = unscaled.iter().map(|value| value.map(to_tens).transpose()).collect::<PolarsResult<_>>()?;
                    rounded.into_decimal(38, 0)?.into_series()
                }
                dtype if dtype.is_integer() => {
                    let values = series.cast(&DataType::Int128)?;
                    let to_tens = |value: i128| to_multiple(value, places, places);
                    let rounded: Int128Chunked = values.i128()?.iter().map(|value| value.map(to_tens).transpose()).collect::<PolarsResult<_>>()?;
                    rounded.into_series().strict_cast(dtype)?
                }
                _ => return Ok(value.clone()),
            }
        }
    };
    Ok(rounded.cast(&rounded_type(dtype, digits))?.with_name(series.name().clone()).into_column())
}

/// `value` divided by 10^`divide` rounded half away from zero, times
/// 10^`multiply`.
fn to_multiple(value: i128, divide: u32, multiply: u32) -> PolarsResult<i128> {
    let past = || polars_err!(ComputeError: "round: {value} is past the range of its type");
    let Some(unit) = 10i128.checked_pow(divide) else { return Ok(0) };
    let (quotient, remainder) = (value / unit, value % unit);
    let away = remainder.unsigned_abs() * 2 >= unit.unsigned_abs();
    let units = quotient + if away { value.signum() } else { 0 };
    units.checked_mul(10i128.checked_pow(multiply).ok_or_else(past)?).ok_or_else(past)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(column: Column) -> Vec<Option<f64>> {
        column.cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
    }

    #[test]
    fn cast_rounding_halves_floats_to_even_decimals_away_and_leaves_integers_and_text() {
        let floats = Column::new("x".into(), [2.5f64, -2.5, 0.125, 1234.5]);
        assert_eq!(values(cast_round(&floats).unwrap()), [Some(2.0), Some(-2.0), Some(0.0), Some(1234.0)]);
        let decimals = floats.cast(&DataType::Decimal(10, 1)).unwrap();
        assert_eq!(values(cast_round(&decimals).unwrap()), [Some(3.0), Some(-3.0), Some(0.0), Some(1235.0)]);
        for passed in [Column::new("x".into(), ["12"]), Column::new("x".into(), [7i64])] {
            assert_eq!(cast_round(&passed).unwrap(), passed);
        }
    }

    fn rounded(values: Series, digits: i32) -> Series {
        round_half_away(&values.into_column(), digits).unwrap().as_materialized_series().clone()
    }

    #[test]
    fn negative_places_round_to_tens_half_away_from_zero() {
        let ints = rounded(Series::new("x".into(), [125i32, -125, 124, 5]), -1);
        assert_eq!(ints.dtype(), &DataType::Int32);
        assert_eq!(ints.i32().unwrap().into_no_null_iter().collect::<Vec<_>>(), [130, -130, 120, 10]);
        let floats = rounded(Series::new("x".into(), [124.5f64, 25.0, -15.0]), -1);
        assert_eq!(floats.f64().unwrap().into_no_null_iter().collect::<Vec<_>>(), [120.0, 30.0, -20.0]);
        let decimals = Int128Chunked::from_slice("x".into(), &[12550, -12549]).into_decimal(8, 2).unwrap().into_series();
        let decimals = rounded(decimals, -1);
        assert_eq!(decimals.dtype(), &DataType::Decimal(8, 0));
        assert_eq!(decimals.decimal().unwrap().physical().into_no_null_iter().collect::<Vec<_>>(), [130, -130]);
        assert_eq!(rounded(Series::new("x".into(), [499i64]), -3).i64().unwrap().get(0), Some(0));
    }
}
