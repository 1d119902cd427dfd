//! Trino/Spark time travel: `t FOR VERSION AS OF 8744…` (a snapshot id, or a
//! branch or tag name) and `t FOR TIMESTAMP AS OF TIMESTAMP '2026-11-21 07:00:00'`.
//!
//! sqlparser's generic dialect has no such clause, so it is folded into the
//! relation name before parsing (`"t@version:8744…"`), working on tokens so
//! strings and comments are never touched. Name resolution reads it back.

use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace, Word};

use super::{Error, Result};

const VERSION: &str = "@version:";
const TIMESTAMP: &str = "@timestamp:";

/// What a relation name selects of its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    Current,
    /// A snapshot id, or a branch or tag name.
    Version(String),
    Timestamp(String),
}

/// Splits a relation's last name part into the table name and what it selects.
pub fn split_as_of(name: &str) -> (&str, AsOf) {
    if let Some((table, version)) = name.split_once(VERSION) {
        return (table, AsOf::Version(version.to_string()));
    }
    if let Some((table, timestamp)) = name.split_once(TIMESTAMP) {
        return (table, AsOf::Timestamp(timestamp.to_string()));
    }
    (name, AsOf::Current)
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn significant(tokens: &[Token], from: usize) -> Option<usize> {
    (from..tokens.len()).find(|&i| !matches!(tokens[i], Token::Whitespace(_)))
}

/// Rewrites every time-travel clause in `sql` into its relation's name.
pub fn fold_into_names(sql: &str) -> Result<String> {
    if !sql.to_ascii_uppercase().contains(" AS OF") {
        return Ok(sql.to_string());
    }
    let mut tokens = Tokenizer::new(&GenericDialect, sql).tokenize().map_err(|e| Error::Syntax(e.to_string()))?;
    let mut i = 0;
    while i < tokens.len() {
        if !is_word(&tokens[i], "FOR") {
            i += 1;
            continue;
        }
        let Some(kind) = significant(&tokens, i + 1) else { break };
        let Some(as_) = significant(&tokens, kind + 1) else { break };
        let Some(of) = significant(&tokens, as_ + 1) else { break };
        let by_version = is_word(&tokens[kind], "VERSION");
        if !(by_version || is_word(&tokens[kind], "TIMESTAMP")) || !is_word(&tokens[as_], "AS") || !is_word(&tokens[of], "OF") {
            i += 1;
            continue;
        }
        let mut value_at = significant(&tokens, of + 1).ok_or_else(|| Error::Syntax("AS OF needs a value".into()))?;
        if !by_version && is_word(&tokens[value_at], "TIMESTAMP") {
            value_at = significant(&tokens, value_at + 1).ok_or_else(|| Error::Syntax("AS OF needs a value".into()))?;
        }
        let value = match (&tokens[value_at], by_version) {
            (Token::Number(n, _), true) => n.clone(),
            (Token::SingleQuotedString(s), _) => s.clone(),
            (Token::Word(w), true) => w.value.clone(),
            (other, _) => return Err(Error::Syntax(format!("unexpected `{other}` after AS OF"))),
        };
        let table_at = (0..i).rev().find(|&t| !matches!(tokens[t], Token::Whitespace(_)));
        let Some(Token::Word(table)) = table_at.map(|t| tokens[t].clone()) else {
            return Err(Error::Syntax("FOR … AS OF must follow a table name".into()));
        };
        let marker = if by_version { VERSION } else { TIMESTAMP };
        tokens[table_at.expect("found above")] = Token::Word(Word {
            value: format!("{}{marker}{value}", table.value),
            quote_style: Some('"'),
            keyword: sqlparser::keywords::Keyword::NoKeyword,
        });
        tokens.splice(i..=value_at, [Token::Whitespace(Whitespace::Space)]);
        i += 1;
    }
    Ok(tokens.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(sql: &str) -> String {
        fold_into_names(sql).unwrap().split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn folds_version_and_timestamp_clauses_into_names() {
        assert_eq!(
            folded("SELECT * FROM ns.t FOR VERSION AS OF 123 WHERE x = 'FOR VERSION AS OF 9'"),
            "SELECT * FROM ns.\"t@version:123\" WHERE x = 'FOR VERSION AS OF 9'"
        );
        assert_eq!(
            folded("SELECT * FROM t FOR TIMESTAMP AS OF TIMESTAMP '2026-01-01 00:00:00' AS old"),
            "SELECT * FROM \"t@timestamp:2026-01-01 00:00:00\" AS old"
        );
        assert_eq!(folded("SELECT * FROM t FOR VERSION AS OF 'audit'"), "SELECT * FROM \"t@version:audit\"");
        assert_eq!(split_as_of("t@version:123"), ("t", AsOf::Version("123".into())));
        assert_eq!(split_as_of("t"), ("t", AsOf::Current));
        assert!(fold_into_names("SELECT * FROM (SELECT 1) FOR VERSION AS OF 1").is_err());
    }
}
