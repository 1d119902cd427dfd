//! SQL's regular-expression functions, with PostgreSQL's and DuckDB's
//! replacement syntax and flags.

use std::fmt::Write;

use polars::prelude::*;
use regex::{Regex, RegexBuilder};

use super::{constant, no_texts, texts};
use crate::sql::functions::Scalar;

/// The most memory one compiled pattern may take (the regex crate's own
/// default is the same order): a pattern is user input.
const MOST_PATTERN_BYTES: usize = 10 << 20;

/// A pattern with PostgreSQL's and DuckDB's flags: `g` every match, `i`
/// case-insensitive, `c` case-sensitive (the default).
fn compiled(scalar: Scalar, pattern: &str, flags: &str) -> PolarsResult<(Regex, bool)> {
    let mut case_insensitive = false;
    for flag in flags.chars() {
        match flag {
            'g' if scalar == Scalar::RegexpReplace => {}
            'i' => case_insensitive = true,
            'c' => case_insensitive = false,
            other => polars_bail!(InvalidOperation: "{}'s flag '{other}' is not supported: Floe reads g, i and c", scalar.name()),
        }
    }
    let regex = RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(MOST_PATTERN_BYTES)
        .build()
        .map_err(|err| polars_err!(InvalidOperation: "{}: `{pattern}` is not a regular expression: {err}", scalar.name()))?;
    Ok((regex, flags.contains('g')))
}

pub(super) fn regexp_replace(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let scalar = Scalar::RegexpReplace;
    let flags = match columns.get(3) {
        Some(flags) => constant(scalar, "flags", flags)?,
        None => Some(String::new()),
    };
    let (Some(pattern), Some(replacement), Some(flags)) = (constant(scalar, "pattern", &columns[1])?, constant(scalar, "replacement", &columns[2])?, flags) else {
        return Ok(no_texts(height));
    };
    let (regex, every) = compiled(scalar, &pattern, &flags)?;
    let replacement = group_references(&replacement);
    let subject = texts(&columns[0], height)?;
    let replaced = subject.iter().map(|text| {
        text.map(|text| match every {
            true => regex.replace_all(text, replacement.as_str()).into_owned(),
            false => regex.replace(text, replacement.as_str()).into_owned(),
        })
    });
    Ok(replaced.collect::<StringChunked>().into_series())
}

/// A SQL replacement (`\1` a group, `\&` the whole match, `\\` a
/// backslash) in the regex crate's syntax, where `$` is the sign.
fn group_references(replacement: &str) -> String {
    let mut written = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('\\', Some(digit @ '0'..='9')) => {
                chars.next();
                let _ = write!(written, "${{{digit}}}");
            }
            ('\\', Some('&')) => {
                chars.next();
                written.push_str("${0}");
            }
            ('\\', Some('\\')) => {
                chars.next();
                written.push('\\');
            }
            ('$', _) => written.push_str("$$"),
            (other, _) => written.push(other),
        }
    }
    written
}

pub(super) fn regexp_extract(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let scalar = Scalar::RegexpExtract;
    let group = match columns.get(2) {
        Some(group) => constant(scalar, "group", group)?.map(|g| g.parse::<usize>()).transpose(),
        None => Ok(Some(0)),
    };
    let group = group.map_err(|_| polars_err!(InvalidOperation: "regexp_extract's group is a number of 0 or more"))?;
    let (Some(pattern), Some(group)) = (constant(scalar, "pattern", &columns[1])?, group) else { return Ok(no_texts(height)) };
    let (regex, _) = compiled(scalar, &pattern, "")?;
    let groups = regex.captures_len() - 1;
    polars_ensure!(group <= groups, InvalidOperation: "regexp_extract: `{pattern}` has {groups} group(s), so there is no group {group}");
    let subject = texts(&columns[0], height)?;
    let extracted = subject.iter().map(|text| {
        text.map(|text| regex.captures(text).and_then(|found| found.get(group)).map_or("", |m| m.as_str()).to_string())
    });
    Ok(extracted.collect::<StringChunked>().into_series())
}
