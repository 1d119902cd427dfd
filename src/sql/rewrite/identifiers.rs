//! Unquoted names are case-insensitive in SQL (`SELECT Name FROM Emp AS E
//! WHERE e.DEPT_ID = 1`), as DuckDB, Trino and PostgreSQL users expect, but
//! polars-sql matches names exactly. Each unquoted name that is not spelled
//! as anything it could name, but as exactly one thing but for case, is
//! written as that thing is spelled; a quoted name is left as written, and
//! a name two things share but for case stays as written (polars-sql then
//! says which it cannot find).
//!
//! At analysis, the names a query gives itself: CTEs its FROM clauses read,
//! the relations its qualifiers name, a SELECT's output names its ORDER BY
//! sorts by. At planning, with the catalog's columns in hand, every column
//! reference (tables themselves are found in the catalog by
//! `catalog::Lake::spelled_as_stored`).

use sqlparser::ast::{Ident, ObjectNamePart};

use crate::spelling::{matching, Match};

mod declared;
mod stored;

pub(super) use declared::as_declared;
pub(super) use stored::as_stored;

/// The one spelling among `known` that `written` matches but for case, if
/// `written` is unquoted and no known name is spelled exactly so.
pub(super) fn spelling<'a>(written: &Ident, known: impl IntoIterator<Item = &'a String>) -> Option<&'a String> {
    match matching(known, &written.value, |name| name.as_str()) {
        Match::Alike(spelled) if written.quote_style.is_none() => Some(spelled),
        _ => None,
    }
}

pub(super) fn respell<'a>(ident: &mut Ident, known: impl IntoIterator<Item = &'a String>) {
    if let Some(spelled) = spelling(ident, known) {
        ident.value = spelled.clone();
    }
}

pub(super) fn identifier_mut(part: &mut ObjectNamePart) -> Option<&mut Ident> {
    match part {
        ObjectNamePart::Identifier(ident) => Some(ident),
        ObjectNamePart::Function(_) => None,
    }
}

#[cfg(test)]
mod tests;
