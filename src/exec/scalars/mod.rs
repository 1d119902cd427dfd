//! Other engines' scalar functions polars-sql lacks (`sql::functions::Scalar`),
//! computed a row at a time over the columns Polars hands a registered
//! function (a literal argument comes as one value).

use std::fmt::Write;

use md5::Md5;
use polars::prelude::*;
use polars_sql::function_registry::FunctionOptions;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::functions::{rows_spanned, spanning};
use crate::sql::functions::Scalar;

mod integers;
mod lists;
mod patterns;
mod zones;

/// The longest value `repeat` makes: past it, one row could take the
/// server's memory.
const MOST_REPEATED_BYTES: usize = 16 << 20;

pub(super) fn udf(scalar: Scalar) -> UserDefinedFunction {
    super::functions::floe_udf(scalar.name(), FunctionOptions::elementwise(), move |columns| compute(scalar, columns), move |fields| {
        let name = fields.first().map_or_else(|| scalar.name().into(), |field| field.name().clone());
        Ok(Field::new(name, output_type(scalar, fields)))
    })
}

fn output_type(scalar: Scalar, fields: &[Field]) -> DataType {
    match scalar {
        Scalar::ListMode => match fields.first().map(Field::dtype) {
            Some(DataType::List(inner)) => inner.as_ref().clone(),
            _ => DataType::Null,
        },
        Scalar::AtTimeZone => fields.first().map_or(DataType::Null, |field| zones::shifted_type(field.dtype())),
        Scalar::NullFill => fields.first().map_or(DataType::Null, |field| field.dtype().clone()),
        Scalar::NullFlags => DataType::Int64,
        Scalar::OneRow => fields.get(1).map_or(DataType::Null, |field| field.dtype().clone()),
        Scalar::Ascii => DataType::Int32,
        Scalar::DecimalMean | Scalar::Log10 => DataType::Float64,
        Scalar::IsNan | Scalar::IsInf | Scalar::IsFinite => DataType::Boolean,
        Scalar::Levenshtein | Scalar::Hamming | Scalar::Gcd | Scalar::Lcm => DataType::Int64,
        _ => DataType::String,
    }
}

fn compute(scalar: Scalar, columns: &[Column]) -> PolarsResult<Column> {
    let (least, most) = scalar.arity();
    polars_ensure!((least..=most).contains(&columns.len()), InvalidOperation: "{} takes {least} to {most} arguments, got {}", scalar.name(), columns.len());
    let height = rows_spanned(columns);
    let name = columns[0].name().clone();
    let computed = match scalar {
        Scalar::RegexpReplace => patterns::regexp_replace(columns, height)?,
        Scalar::RegexpExtract => patterns::regexp_extract(columns, height)?,
        Scalar::Md5 => digest::<Md5>(&texts(&columns[0], height)?),
        Scalar::Sha256 => digest::<Sha256>(&texts(&columns[0], height)?),
        Scalar::Repeat => repeat(columns, height)?,
        Scalar::Translate => translate(columns, height)?,
        Scalar::Ascii => texts(&columns[0], height)?.iter().map(|text| text.map(|t| t.chars().next().map_or(0, |c| c as i32))).collect::<Int32Chunked>().into_series(),
        Scalar::Chr => chr(&columns[0], height)?,
        Scalar::IsNan => floats(scalar, &columns[0], height, f64::is_nan)?,
        Scalar::IsInf => floats(scalar, &columns[0], height, f64::is_infinite)?,
        Scalar::IsFinite => floats(scalar, &columns[0], height, f64::is_finite)?,
        Scalar::Sha1 => digest::<Sha1>(&texts(&columns[0], height)?),
        Scalar::Levenshtein => levenshtein(columns, height)?,
        Scalar::Hamming => hamming(columns, height)?,
        Scalar::Gcd | Scalar::Lcm => integers::divisors(scalar, columns, height)?,
        Scalar::ToHex => integers::to_hex(&columns[0], height)?,
        Scalar::ListMode => lists::mode(&columns[0])?,
        Scalar::AtTimeZone => zones::at_time_zone(columns, height)?,
        Scalar::NullFill => null_fill(&spanning(&columns[0], height))?,
        Scalar::NullFlags => null_flags(&columns[1..], height),
        Scalar::OneRow => one_row(columns, height)?,
        Scalar::DecimalMean => decimal_mean(columns, height)?,
        Scalar::Initcap => texts(&columns[0], height)?.iter().map(|text| text.map(initcap)).collect::<StringChunked>().into_series(),
        Scalar::Log10 => numbers(scalar, &columns[0], height)?.iter().map(|value| value.map(f64::log10)).collect::<Float64Chunked>().into_series(),
    };
    Ok(computed.with_name(name).into_column())
}

/// The values (`columns[1]`), unless a row count (`columns[0]`) is past 1.
fn one_row(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let rows = spanning(&columns[0], height).as_materialized_series().cast(&DataType::Int64)?;
    polars_ensure!(
        rows.i64()?.max().is_none_or(|most| most <= 1),
        ComputeError: "a scalar subquery returned more than one row for one outer row; make its WHERE pick one row, or aggregate (min, max)"
    );
    Ok(spanning(&columns[1], height).as_materialized_series().clone())
}

/// Sums (`columns[0]`) over counts (`columns[1]`): a decimal's unscaled sum
/// and `count · 10^scale` are exact doubles up to 2^53, so one division
/// rounds once; a sum of another type is divided as a double.
fn decimal_mean(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let sums = spanning(&columns[0], height);
    let counts = spanning(&columns[1], height).cast(&DataType::Float64)?;
    let (unscaled, divisor) = match sums.dtype() {
        DataType::Decimal(_, scale) => {
            let unscaled = sums.as_materialized_series().decimal()?.physical().cast(&DataType::Float64)?;
            (unscaled, 10f64.powi(i32::try_from(*scale).unwrap_or(i32::MAX)))
        }
        _ => (sums.cast(&DataType::Float64)?.as_materialized_series().clone(), 1.0),
    };
    let means = unscaled.f64()?.iter().zip(counts.f64()?.iter()).map(|(sum, count)| match (sum, count) {
        (Some(sum), Some(count)) if count > 0.0 => Some(sum / (count * divisor)),
        _ => None,
    });
    Ok(means.collect::<Float64Chunked>().into_series())
}

/// `values` with NULL as their type's zero: text and bytes empty; numbers,
/// dates and times their physical zero.
fn null_fill(values: &Column) -> PolarsResult<Series> {
    let values = values.as_materialized_series();
    Ok(match values.dtype() {
        DataType::String => values.str()?.iter().map(|value| Some(value.unwrap_or(""))).collect::<StringChunked>().into_series(),
        DataType::Binary => values.binary()?.iter().map(|value| Some(value.unwrap_or(&[]))).collect::<BinaryChunked>().into_series(),
        _ => values.fill_null(FillNullStrategy::Zero)?,
    })
}

/// Which of `columns` are NULL on each row, bit `i` for the `i`-th.
fn null_flags(columns: &[Column], height: usize) -> Series {
    let mut flags = vec![0i64; height];
    for (bit, column) in columns.iter().enumerate() {
        let nulls = spanning(column, height).is_null();
        for (flag, null) in flags.iter_mut().zip(nulls.iter()) {
            *flag |= i64::from(null == Some(true)) << bit;
        }
    }
    Series::new(PlSmallStr::EMPTY, flags)
}

fn initcap(text: &str) -> String {
    let mut in_word = false;
    let mut written = String::with_capacity(text.len());
    for c in text.chars() {
        match in_word {
            true => written.extend(c.to_lowercase()),
            false => written.extend(c.to_uppercase()),
        }
        in_word = c.is_alphanumeric();
    }
    written
}

fn texts(column: &Column, height: usize) -> PolarsResult<StringChunked> {
    Ok(spanning(column, height).cast(&DataType::String)?.str()?.clone())
}

fn integers(column: &Column, height: usize) -> PolarsResult<Int64Chunked> {
    Ok(spanning(column, height).cast(&DataType::Int64)?.i64()?.clone())
}

/// An argument that is one value for every row (a pattern, its flags): None
/// when it is NULL, which makes every answer NULL.
fn constant(scalar: Scalar, what: &str, column: &Column) -> PolarsResult<Option<String>> {
    let values = column.cast(&DataType::String)?;
    let values = values.str()?;
    let first = values.get(0);
    polars_ensure!(values.iter().all(|value| value == first), InvalidOperation: "{}'s {what} must be the same for every row: write it as a literal", scalar.name());
    Ok(first.map(str::to_string))
}

fn no_texts(height: usize) -> Series {
    Series::full_null(PlSmallStr::EMPTY, height, &DataType::String)
}

fn digest<D: Digest>(texts: &StringChunked) -> Series {
    let hex = |bytes: &[u8]| bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    });
    texts.iter().map(|text| text.map(|text| hex(&D::digest(text.as_bytes())))).collect::<StringChunked>().into_series()
}

fn repeat(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let (texts, counts) = (texts(&columns[0], height)?, integers(&columns[1], height)?);
    let repeated = texts.iter().zip(counts.iter()).map(|pair| match pair {
        (Some(text), Some(count)) => {
            let count = usize::try_from(count).unwrap_or(0);
            let bytes = text.len().saturating_mul(count);
            polars_ensure!(bytes <= MOST_REPEATED_BYTES, InvalidOperation: "repeat would make a value of {bytes} bytes; the most is {MOST_REPEATED_BYTES}");
            Ok(Some(text.repeat(count)))
        }
        _ => Ok(None),
    });
    Ok(repeated.collect::<PolarsResult<StringChunked>>()?.into_series())
}

/// Each character of `from` in the text becomes the one at its place in
/// `to`, or goes when `to` is shorter.
fn translate(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let [text, from, to] = [&columns[0], &columns[1], &columns[2]].map(|column| texts(column, height));
    let (text, from, to) = (text?, from?, to?);
    let translated = text.iter().zip(from.iter()).zip(to.iter()).map(|((text, from), to)| {
        let (text, from, to) = (text?, from?, to?);
        let to: Vec<char> = to.chars().collect();
        Some(text.chars().filter_map(|c| from.chars().position(|f| f == c).map_or(Some(c), |at| to.get(at).copied())).collect::<String>())
    });
    Ok(translated.collect::<StringChunked>().into_series())
}

fn chr(column: &Column, height: usize) -> PolarsResult<Series> {
    let codes = integers(column, height)?;
    let made = codes.iter().map(|code| {
        code.map(|code| {
            let c = u32::try_from(code).ok().and_then(char::from_u32);
            c.map(String::from).ok_or_else(|| polars_err!(InvalidOperation: "chr({code}): {code} is not a Unicode code point"))
        })
        .transpose()
    });
    Ok(made.collect::<PolarsResult<StringChunked>>()?.into_series())
}

fn levenshtein(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let (a, b) = (texts(&columns[0], height)?, texts(&columns[1], height)?);
    let distances = a.iter().zip(b.iter()).map(|pair| match pair {
        (Some(a), Some(b)) => Some(edit_distance(a, b) as i64),
        _ => None,
    });
    Ok(distances.collect::<Int64Chunked>().into_series())
}

/// Texts of different lengths have no such distance: an error, as in DuckDB.
fn hamming(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let (a, b) = (texts(&columns[0], height)?, texts(&columns[1], height)?);
    let distances = a.iter().zip(b.iter()).map(|pair| {
        let (Some(a), Some(b)) = pair else { return Ok(None) };
        let (a_length, b_length) = (a.chars().count(), b.chars().count());
        polars_ensure!(a_length == b_length, InvalidOperation: "hamming('{a}', '{b}'): the texts must be of the same length, not {a_length} and {b_length} characters");
        Ok(Some(a.chars().zip(b.chars()).filter(|(x, y)| x != y).count() as i64))
    });
    Ok(distances.collect::<PolarsResult<Int64Chunked>>()?.into_series())
}

/// Wagner and Fischer's dynamic programme over characters, one row kept.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let replaced = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = replaced.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn floats(scalar: Scalar, column: &Column, height: usize, test: fn(f64) -> bool) -> PolarsResult<Series> {
    Ok(numbers(scalar, column, height)?.iter().map(|value| value.map(test)).collect::<BooleanChunked>().into_series())
}

/// A column of numbers of any type as doubles.
fn numbers(scalar: Scalar, column: &Column, height: usize) -> PolarsResult<Float64Chunked> {
    let dtype = column.dtype();
    polars_ensure!(dtype.is_primitive_numeric() || dtype.is_decimal() || dtype.is_null(), InvalidOperation: "{} takes a number, not {dtype}", scalar.name());
    Ok(spanning(column, height).cast(&DataType::Float64)?.f64()?.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[Option<&str>]) -> Column {
        Column::new("t".into(), values)
    }

    fn literal(value: &str) -> Column {
        Column::new("l".into(), [value])
    }

    fn strings(column: Column) -> Vec<Option<String>> {
        column.str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn replacements_name_groups_as_sql_does() {
        let subject = text(&[Some("2026-12-03 and 2025-01-02"), None]);
        let first = compute(Scalar::RegexpReplace, &[subject.clone(), literal(r"(\d+)-(\d+)-(\d+)"), literal(r"\3/\2/\1 ($)")]).unwrap();
        assert_eq!(strings(first), [Some("03/12/2026 ($) and 2025-01-02".into()), None]);
        let every = compute(Scalar::RegexpReplace, &[subject, literal("[0-9]"), literal("#"), literal("g")]).unwrap();
        assert_eq!(strings(every)[0].as_deref(), Some("####-##-## and ####-##-##"));
        let insensitive = compute(Scalar::RegexpReplace, &[text(&[Some("Abc")]), literal("a"), literal(r"<\&>"), literal("i")]).unwrap();
        assert_eq!(strings(insensitive), some(&["<A>bc"]));
    }

    #[test]
    fn bad_patterns_and_flags_are_named() {
        let err = compute(Scalar::RegexpReplace, &[text(&[Some("a")]), literal("("), literal("")]).unwrap_err();
        assert!(err.to_string().contains("`(` is not a regular expression"), "{err}");
        let err = compute(Scalar::RegexpReplace, &[text(&[Some("a")]), literal("a"), literal(""), literal("x")]).unwrap_err();
        assert!(err.to_string().contains("flag 'x'"), "{err}");
        let err = compute(Scalar::RegexpExtract, &[text(&[Some("a")]), literal("(a)"), Column::new("g".into(), [2i32])]).unwrap_err();
        assert!(err.to_string().contains("has 1 group(s)"), "{err}");
        let patterns = text(&[Some("a"), Some("b")]);
        assert!(compute(Scalar::RegexpExtract, &[patterns.clone(), patterns]).is_err());
    }

    #[test]
    fn extraction_answers_empty_text_without_a_match() {
        let subject = text(&[Some("order 42, line 7"), Some("none"), None]);
        let found = compute(Scalar::RegexpExtract, &[subject.clone(), literal(r"(\w+) (\d+)"), Column::new("g".into(), [2i32])]).unwrap();
        assert_eq!(strings(found), [Some("42".into()), Some(String::new()), None]);
    }

    #[test]
    fn initcap_starts_each_run_of_letters_and_digits() {
        let words = text(&[Some("hELLO wORLD-foo_bar 3rd ÉTÉ"), Some(""), None]);
        // PostgreSQL's answers: `_` ends a word, a digit does not.
        assert_eq!(strings(compute(Scalar::Initcap, &[words]).unwrap()), [Some("Hello World-Foo_Bar 3rd Été".into()), Some(String::new()), None]);
    }

    #[test]
    fn digests_and_characters() {
        let abc = text(&[Some("abc"), None]);
        assert_eq!(strings(compute(Scalar::Md5, std::slice::from_ref(&abc)).unwrap())[0].as_deref(), Some("900150983cd24fb0d6963f7d28e17f72"));
        let sha = strings(compute(Scalar::Sha256, std::slice::from_ref(&abc)).unwrap());
        assert_eq!(sha[0].as_deref(), Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_eq!(sha[1], None);
        let repeated = compute(Scalar::Repeat, &[abc.clone(), Column::new("n".into(), [2i64, 3])]).unwrap();
        assert_eq!(strings(repeated), [Some("abcabc".into()), None]);
        assert!(compute(Scalar::Repeat, &[literal("ab"), Column::new("n".into(), [1i64 << 40])]).is_err());
        let translated = compute(Scalar::Translate, &[text(&[Some("12345")]), literal("143"), literal("ax")]).unwrap();
        assert_eq!(strings(translated), some(&["a2x5"]));
        let codes = compute(Scalar::Ascii, &[text(&[Some("Äb"), Some(""), None])]).unwrap();
        assert_eq!(codes.i32().unwrap().iter().collect::<Vec<_>>(), [Some(196), Some(0), None]);
        assert_eq!(strings(compute(Scalar::Chr, &[Column::new("n".into(), [65i64, 8364])]).unwrap()), some(&["A", "€"]));
        assert!(compute(Scalar::Chr, &[Column::new("n".into(), [-1i64])]).is_err());
        assert_eq!(strings(compute(Scalar::Sha1, &[literal("abc")]).unwrap())[0].as_deref(), Some("a9993e364706816aba3e25717850c26c9cd0d89d"));
    }

    #[test]
    fn edit_distances_count_characters() {
        let distances = compute(Scalar::Levenshtein, &[text(&[Some("kitten"), Some("Ärger"), Some(""), None]), text(&[Some("sitting"), Some("Arger"), Some("abc"), Some("a")])]).unwrap();
        assert_eq!(distances.i64().unwrap().iter().collect::<Vec<_>>(), [Some(3), Some(1), Some(3), None]);
        let mismatches = compute(Scalar::Hamming, &[text(&[Some("karolin"), Some("Äb"), Some(""), None]), text(&[Some("kathrin"), Some("Ab"), Some(""), Some("a")])]).unwrap();
        assert_eq!(mismatches.i64().unwrap().iter().collect::<Vec<_>>(), [Some(3), Some(1), Some(0), None]);
        let err = compute(Scalar::Hamming, &[literal("ab"), literal("abc")]).unwrap_err();
        assert!(err.to_string().contains("the texts must be of the same length, not 2 and 3 characters"), "{err}");
    }

    #[test]
    fn only_floats_are_nan_or_infinite() {
        let floats = Column::new("x".into(), [Some(f64::NAN), Some(f64::INFINITY), Some(1.5), None]);
        let flags = |scalar| compute(scalar, std::slice::from_ref(&floats)).unwrap().bool().unwrap().iter().collect::<Vec<_>>();
        assert_eq!(flags(Scalar::IsNan), [Some(true), Some(false), Some(false), None]);
        assert_eq!(flags(Scalar::IsInf), [Some(false), Some(true), Some(false), None]);
        assert_eq!(flags(Scalar::IsFinite), [Some(false), Some(false), Some(true), None]);
        let whole = compute(Scalar::IsFinite, &[Column::new("i".into(), [7i32])]).unwrap();
        assert_eq!(whole.bool().unwrap().get(0), Some(true));
        assert!(compute(Scalar::IsNan, &[literal("x")]).is_err());
    }

    #[test]
    fn logarithms_of_powers_of_ten_are_exact() {
        let logs = compute(Scalar::Log10, &[Column::new("x".into(), [Some(1000i64), Some(1), None])]).unwrap();
        assert_eq!(logs.f64().unwrap().iter().collect::<Vec<_>>(), [Some(3.0), Some(0.0), None]);
        assert!(compute(Scalar::Log10, &[literal("x")]).is_err());
    }
}
