//! Wildcard patterns: SQL LIKE with `%` and `_` (and `\` escapes), as
//! Flight SQL filter patterns use it, and the `*` globs of access grants.
//! Iterative: a pattern splits at its "any run" wildcard into segments
//! matched leftmost-first, which is exact and takes at most
//! O(pattern × text) steps — a hostile pattern cannot make it backtrack
//! exponentially or recurse off the stack.

#[derive(Clone, Copy, PartialEq)]
enum Token {
    /// `_`: any one character.
    One,
    Literal(char),
}

/// A LIKE pattern's segments between `%`s (one segment: no `%` at all).
fn like_segments(pattern: &str) -> Vec<Vec<Token>> {
    let mut segments = vec![Vec::new()];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '%' => segments.push(Vec::new()),
            '_' => segments.last_mut().expect("never empty").push(Token::One),
            '\\' if chars.peek().is_some() => {
                let escaped = chars.next().expect("peeked");
                segments.last_mut().expect("never empty").push(Token::Literal(escaped));
            }
            other => segments.last_mut().expect("never empty").push(Token::Literal(other)),
        }
    }
    segments
}

/// A glob's segments between `*`s: everything else is literal.
fn glob_segments(pattern: &str) -> Vec<Vec<Token>> {
    pattern.split('*').map(|part| part.chars().map(Token::Literal).collect()).collect()
}

fn matches_at(segment: &[Token], text: &[char], at: usize) -> bool {
    at + segment.len() <= text.len()
        && segment.iter().zip(&text[at..]).all(|(token, c)| match token {
            Token::One => true,
            Token::Literal(expected) => expected == c,
        })
}

pub fn like(pattern: &str, text: &str) -> bool {
    matches(&like_segments(pattern), text)
}

/// `*` matches any run of characters; nothing else is special.
pub fn glob(pattern: &str, text: &str) -> bool {
    matches(&glob_segments(pattern), text)
}

fn matches(segments: &[Vec<Token>], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (first, rest) = segments.split_first().expect("never empty");
    if rest.is_empty() {
        return first.len() == text.len() && matches_at(first, &text, 0);
    }
    if !matches_at(first, &text, 0) {
        return false;
    }
    let (last, middle) = rest.split_last().expect("more than one segment");
    let mut position = first.len();
    for segment in middle {
        // Leftmost placement leaves the most text for what follows.
        match (position..=text.len().saturating_sub(segment.len())).find(|&at| matches_at(segment, &text, at)) {
            Some(at) => position = at + segment.len(),
            None => return false,
        }
    }
    let tail = text.len().checked_sub(last.len());
    tail.is_some_and(|tail| tail >= position && matches_at(last, &text, tail))
}

#[cfg(test)]
mod tests {
    use super::{glob, like};

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abc"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("ab", "abc"));
        assert!(glob("*x", "xx"));
        assert!(!glob("x*x", "x"));
        assert!(glob("sales_eu%", "sales_eu%"), "LIKE's wildcards are literal in a glob");
        assert!(!glob("sales_eu", "salesXeu"));
    }

    #[test]
    fn like_patterns_follow_sql() {
        assert!(like("%", "anything"));
        assert!(like("%", ""));
        assert!(like("flo_ers", "flowers"));
        assert!(like("def%", "default"));
        assert!(!like("def", "default"));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "axb"));
        assert!(like("%low%", "flowers"));
        assert!(like("f%s", "flowers"));
        assert!(!like("f%x", "flowers"));
        assert!(like("%a%a", "aa"));
        assert!(!like("%a%a%a", "aa"));
        assert!(like("a%%b", "ab"));
        assert!(!like("ab%ba", "aba"));
        assert!(like("_%_", "ab"));
        assert!(!like("_%_", "a"));
    }

    #[test]
    fn hostile_patterns_answer_at_once() {
        let started = std::time::Instant::now();
        let pattern = format!("{}b", "%a".repeat(25));
        assert!(!like(&pattern, &"a".repeat(10_000)));
        assert!(like(&"%".repeat(200_000), "flowers"));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    }
}
