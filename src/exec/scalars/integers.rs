//! The scalar functions of integers: `gcd`, `lcm`, `to_hex`.

use std::fmt::Write;

use polars::prelude::*;

use super::{integers, texts};
use crate::sql::functions::Scalar;

/// `gcd` or `lcm` of two integer columns, in 128 bits so that no magnitude
/// overflows before it is checked against BIGINT.
pub(super) fn divisors(scalar: Scalar, columns: &[Column], height: usize) -> PolarsResult<Series> {
    for column in &columns[..2] {
        let dtype = column.dtype();
        polars_ensure!(dtype.is_integer() || dtype.is_null(), InvalidOperation: "{} takes integers, not {dtype}", scalar.name());
    }
    let (a, b) = (integers(&columns[0], height)?, integers(&columns[1], height)?);
    let answers = a.iter().zip(b.iter()).map(|pair| {
        let (Some(a), Some(b)) = pair else { return Ok(None) };
        let (a, b) = (i128::from(a).abs(), i128::from(b).abs());
        let divisor = gcd(a, b);
        let answer = match scalar {
            Scalar::Lcm if divisor == 0 => 0,
            Scalar::Lcm => a / divisor * b,
            _ => divisor,
        };
        i64::try_from(answer).map(Some).map_err(|_| polars_err!(InvalidOperation: "{}({a}, {b}) is past BIGINT's range", scalar.name()))
    });
    Ok(answers.collect::<PolarsResult<Int64Chunked>>()?.into_series())
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

pub(super) fn to_hex(column: &Column, height: usize) -> PolarsResult<Series> {
    let dtype = column.dtype();
    if dtype.is_integer() {
        let values = integers(column, height)?;
        return Ok(values.iter().map(|value| value.map(|v| format!("{:X}", v as u64))).collect::<StringChunked>().into_series());
    }
    polars_ensure!(dtype.is_string() || dtype.is_null(), InvalidOperation: "to_hex takes an integer or a text, not {dtype}");
    let hex = |text: &str| {
        text.bytes().fold(String::with_capacity(text.len() * 2), |mut hex, byte| {
            let _ = write!(hex, "{byte:02X}");
            hex
        })
    };
    Ok(texts(column, height)?.iter().map(|text| text.map(hex)).collect::<StringChunked>().into_series())
}

#[cfg(test)]
mod tests {
    use super::super::compute;
    use super::*;

    fn answers(scalar: Scalar, a: &[Option<i64>], b: &[Option<i64>]) -> PolarsResult<Vec<Option<i64>>> {
        let columns = [Column::new("a".into(), a), Column::new("b".into(), b)];
        Ok(compute(scalar, &columns)?.i64()?.iter().collect())
    }

    #[test]
    fn divisors_are_never_negative() {
        let (a, b) = ([Some(-12), Some(0), Some(12), None], [Some(18), Some(0), Some(-18), Some(3)]);
        assert_eq!(answers(Scalar::Gcd, &a, &b).unwrap(), [Some(6), Some(0), Some(6), None]);
        assert_eq!(answers(Scalar::Lcm, &[Some(-4), Some(0)], &[Some(6), Some(5)]).unwrap(), [Some(12), Some(0)]);
        assert!(answers(Scalar::Lcm, &[Some(i64::MAX)], &[Some(2)]).unwrap_err().to_string().contains("past BIGINT"));
        assert!(answers(Scalar::Gcd, &[Some(i64::MIN)], &[Some(0)]).is_err());
        let floats = [Column::new("a".into(), [1.5f64]), Column::new("b".into(), [3i64])];
        assert!(compute(Scalar::Gcd, &floats).unwrap_err().to_string().contains("takes integers"));
    }

    #[test]
    fn hex_of_integers_and_texts() {
        let hex = |column: Column| -> Vec<Option<String>> {
            compute(Scalar::ToHex, &[column]).unwrap().str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
        };
        let numbers = hex(Column::new("n".into(), [Some(255i32), Some(-1), Some(0), None]));
        assert_eq!(numbers, [Some("FF".into()), Some("FFFFFFFFFFFFFFFF".into()), Some("0".into()), None]);
        assert_eq!(hex(Column::new("s".into(), ["abc", "Ä"])), [Some("616263".into()), Some("C384".into())]);
        assert!(compute(Scalar::ToHex, &[Column::new("x".into(), [1.5f64])]).is_err());
    }
}
