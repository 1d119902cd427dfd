//! How a written name stands to names that exist: SQL's unquoted names
//! match whatever their case, an exact spelling first. One rule for the
//! catalog's tables and namespaces, a table's columns when rows are
//! written, and a query's own names (`sql::rewrite::identifiers`).

/// A written name among candidates.
pub enum Match<T> {
    /// The candidate spelled exactly so.
    Exact(T),
    /// The one candidate spelled so but for case.
    Alike(T),
    /// Several are spelled so but for case, none exactly.
    Ambiguous,
    Absent,
}

/// How `written` stands to `candidates`, each named by `name`.
pub fn matching<T>(candidates: impl IntoIterator<Item = T>, written: &str, name: impl Fn(&T) -> &str) -> Match<T> {
    let mut alike: Option<T> = None;
    let mut ambiguous = false;
    for candidate in candidates {
        let spelled = name(&candidate);
        if spelled == written {
            return Match::Exact(candidate);
        }
        if spelled.eq_ignore_ascii_case(written) {
            match &alike {
                // The same name twice (columns of joined relations) is one spelling.
                Some(seen) if name(seen) == spelled => {}
                Some(_) => ambiguous = true,
                None => alike = Some(candidate),
            }
        }
    }
    match alike {
        Some(_) if ambiguous => Match::Ambiguous,
        Some(only) => Match::Alike(only),
        None => Match::Absent,
    }
}

/// The candidate `written` names: spelled so, else the one spelled so but for case.
pub fn one_spelled<T>(candidates: impl IntoIterator<Item = T>, written: &str, name: impl Fn(&T) -> &str) -> Option<T> {
    match matching(candidates, written, name) {
        Match::Exact(found) | Match::Alike(found) => Some(found),
        Match::Ambiguous | Match::Absent => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_spelling_wins_and_two_alike_are_ambiguous() {
        let names = ["id", "Name", "NAME", "Dept", "Dept"];
        let of = |candidates: &[&'static str], written| matching(candidates.iter().copied(), written, |name| name);
        assert!(matches!(of(&names, "Name"), Match::Exact("Name")));
        assert!(matches!(of(&names, "ID"), Match::Alike("id")));
        assert!(matches!(of(&names, "name"), Match::Ambiguous));
        assert!(matches!(of(&names, "dept"), Match::Alike("Dept")));
        assert!(matches!(of(&names, "x"), Match::Absent));
        assert_eq!(one_spelled(names, "DEPT", |name| name), Some("Dept"));
    }
}
