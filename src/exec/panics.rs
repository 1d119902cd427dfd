//! The Polars error a panic's message carries, where Polars unwrapped one
//! (its Parquet reader evaluates a pushed-down filter so): the message
//! holds the error's debug form, perhaps inside a task's panic message,
//! each level escaped once more.

use polars::prelude::PolarsError;

const UNWRAPPED: &str = "called `Result::unwrap()` on an `Err` value: ";
const CARRIED: &str = "ErrString(";
const KINDS: [&str; 3] = ["ComputeError", "InvalidOperation", "OutOfBounds"];

/// The innermost error of a user's kind (a value that does not compute, an
/// operation on the wrong type), with its own message.
pub(super) fn carried_error(text: &str) -> Option<PolarsError> {
    if !text.starts_with(UNWRAPPED) {
        return None;
    }
    // Contexts wrap one error, whose kind comes first; their messages are `ErrString`s too.
    let (at, kind) = KINDS.iter().filter_map(|kind| Some((text.find(&format!("{kind}({CARRIED}"))?, *kind))).min()?;
    let mut rest = text[at + kind.len() + 1 + CARRIED.len()..].to_string();
    while rest.starts_with('\\') {
        rest = unescaped(&rest);
    }
    let message = literal(&rest)?;
    match kind {
        "ComputeError" => Some(PolarsError::ComputeError(message.into())),
        "InvalidOperation" => Some(PolarsError::InvalidOperation(message.into())),
        "OutOfBounds" => Some(PolarsError::OutOfBounds(message.into())),
        _ => None,
    }
}

/// One level of debug escaping undone.
fn unescaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().map_or('\\', escaped) } else { c });
    }
    out
}

/// The string a debug-escaped literal at the start of `text` spells.
fn literal(text: &str) -> Option<String> {
    let mut chars = text.strip_prefix('"')?.chars();
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(escaped(chars.next()?)),
            c => out.push(c),
        }
    }
    None
}

/// The character an escape's letter stands for.
fn escaped(letter: char) -> char {
    match letter {
        'n' => '\n',
        't' => '\t',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwrapped_error_inside_a_task_s_panic_is_carried() {
        let inner = format!("{UNWRAPPED}{:?}", PolarsError::ComputeError("integer overflow: 35 * 10 is \"past\" it".into()).context("a".into()));
        let outer = format!("{UNWRAPPED}JoinError::Panic(Id(556), {inner:?}, ...)");
        for text in [&inner, &outer] {
            let Some(PolarsError::ComputeError(message)) = carried_error(text) else { panic!("{text}") };
            assert_eq!(&*message, "integer overflow: 35 * 10 is \"past\" it");
        }
    }

    #[test]
    fn other_panics_are_the_server_s() {
        assert!(carried_error("index out of bounds: the len is 3 but the index is 7").is_none());
        assert!(carried_error(&format!("{UNWRAPPED}{:?}", PolarsError::IO { error: std::io::Error::other("gone").into(), msg: None })).is_none());
        assert!(carried_error(&format!("{UNWRAPPED}ComputeError(ErrString(\"cut short")).is_none());
    }
}
