//! PostgreSQL's `to_char(timestamp, 'template')` as polars-sql's `strftime`,
//! each template pattern as the strftime field that writes the same text.
//! Patterns strftime cannot write (`Q`, `IW`, upper-case month names, a
//! padded `Month`) and number templates are refused by name rather than
//! written out literally, as PostgreSQL would take an unknown letter.

use sqlparser::ast::{Expr, Function};

use super::super::literals;
use super::super::scope::{parse_expr, plain_args};
use crate::sql::{Error, Result};

/// Longest first, so `HH24` is not read as `HH` then `24`: a pattern,
/// strftime's field, the field under `FM` (no padding), and whether the
/// pattern's case matters (it does where it changes the text: `Mon`, `am`;
/// PostgreSQL reads `yyyy-mm-dd` as `YYYY-MM-DD`).
const PATTERNS: [(&str, &str, &str, bool); 20] = [
    ("HH24", "%H", "%-H", false),
    ("HH12", "%I", "%-I", false),
    ("YYYY", "%Y", "%Y", false),
    ("FMMonth", "%B", "%B", true),
    ("FMDay", "%A", "%A", true),
    ("DDD", "%j", "%-j", false),
    ("Mon", "%b", "%b", true),
    ("HH", "%I", "%-I", false),
    ("MI", "%M", "%-M", false),
    ("SS", "%S", "%-S", false),
    ("MS", "%3f", "%3f", false),
    ("US", "%6f", "%6f", false),
    ("AM", "%p", "%p", true),
    ("PM", "%p", "%p", true),
    ("am", "%P", "%P", true),
    ("pm", "%P", "%P", true),
    ("YY", "%y", "%y", false),
    ("MM", "%m", "%-m", false),
    ("DD", "%d", "%-d", false),
    ("Dy", "%a", "%a", true),
];

fn starts(text: &str, pattern: &str, exact_case: bool) -> bool {
    match exact_case {
        true => text.starts_with(pattern),
        false => text.get(..pattern.len()).is_some_and(|head| head.eq_ignore_ascii_case(pattern)),
    }
}

const KNOWN: &str = "YYYY, YY, MM, Mon, FMMonth, DD, DDD, Dy, FMDay, HH24, HH12, HH, MI, SS, MS, US, AM/PM, am/pm, FM before a number, and \"quoted text\"";

pub(super) fn to_char(function: &Function) -> Result<Option<Expr>> {
    if function.name.to_string().to_ascii_lowercase() != "to_char" || function.over.is_some() {
        return Ok(None);
    }
    let Some(args) = plain_args(function) else { return Ok(None) };
    let [value, template] = args.as_slice() else {
        return Err(Error::Invalid(format!("`{function}`: to_char takes a timestamp and a template, as in to_char(ts, 'YYYY-MM-DD')")));
    };
    let Some(template) = literals::text(template) else {
        return Err(Error::Unsupported(format!("`{function}`: to_char's template must be a literal")));
    };
    let format = strftime_format(&template).map_err(|refused| Error::Unsupported(format!("`{function}`: {refused}")))?;
    Ok(parse_expr(&format!("strftime(CAST({value} AS TIMESTAMP), '{}')", format.replace('\'', "''"))))
}

/// The strftime format that writes what `template` does, or why there is none.
fn strftime_format(template: &str) -> std::result::Result<String, String> {
    let mut format = String::with_capacity(template.len());
    let mut rest = template;
    let mut patterns = 0;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            let quoted = rest[1..].find('"').ok_or_else(|| format!("the quote in '{template}' is not closed"))?;
            format.push_str(&rest[1..=quoted].replace('%', "%%"));
            rest = &rest[quoted + 2..];
            continue;
        }
        let fill = rest.starts_with("FM") && !rest.starts_with("FMMonth") && !rest.starts_with("FMDay");
        let after_fill = if fill { &rest[2..] } else { rest };
        if after_fill.starts_with("Month") || after_fill.starts_with("Day") {
            return Err(format!("to_char's `Month` and `Day` are padded to 9 characters in PostgreSQL, which Floe does not write; write FMMonth or FMDay ('{template}')"));
        }
        let found = PATTERNS.iter().find(|(pattern, _, _, exact)| starts(after_fill, pattern, *exact));
        let found = found.map(|(pattern, padded, bare, _)| (*pattern, if fill { *bare } else { *padded }));
        if let Some((pattern, field)) = found {
            format.push_str(field);
            rest = &after_fill[pattern.len()..];
            patterns += 1;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            return Err(format!("to_char's pattern `{word}` in '{template}' is not supported; Floe writes {KNOWN} (Month and Day as FMMonth and FMDay: PostgreSQL pads them to 9 characters)"));
        }
        if c == '%' {
            format.push_str("%%");
        } else {
            format.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    if patterns == 0 && template.contains(['9', '0']) {
        return Err(format!("to_char formats dates and times here; the number template '{template}' is not supported (cast the number to VARCHAR, or round it)"));
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::strftime_format;

    #[test]
    fn templates_become_strftime_formats() {
        assert_eq!(strftime_format("YYYY-MM-DD HH24:MI:SS.MS").unwrap(), "%Y-%m-%d %H:%M:%S.%3f");
        assert_eq!(strftime_format("FMDD FMMonth YYYY, FMHH12:MI am").unwrap(), "%-d %B %Y, %-I:%M %P");
        assert_eq!(strftime_format("Dy DD Mon YY \"week\" DDD 100%").unwrap(), "%a %d %b %y week %j 100%%");
        assert_eq!(strftime_format("FMDay, US").unwrap(), "%A, %6f");
        assert_eq!(strftime_format("yyyy-mm-dd hh24:mi").unwrap(), "%Y-%m-%d %H:%M");
    }

    #[test]
    fn what_strftime_cannot_write_is_named() {
        assert!(strftime_format("YYYY-Q").unwrap_err().starts_with("to_char's pattern `Q` in 'YYYY-Q' is not supported"));
        assert!(strftime_format("Month").unwrap_err().starts_with("to_char's `Month` and `Day` are padded"));
        assert!(strftime_format("MON").unwrap_err().starts_with("to_char's pattern `MON`"));
        assert!(strftime_format("999D99").unwrap_err().starts_with("to_char's pattern `D`"));
        assert!(strftime_format("0000").unwrap_err().contains("number template '0000'"));
        assert!(strftime_format("\"open").unwrap_err().contains("is not closed"));
    }
}
