use sqlparser::ast::Statement;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use super::{Error, Result};

/// Longest statement accepted: far beyond any hand-written or generated
/// query, well short of what could tie up the parser.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// The dialect and options polars-sql itself parses with, so what we accept
/// here is what it can plan. A CREATE TABLE's `PARTITIONED BY (…)` is read
/// separately (`partition.rs`), so it is set aside here.
pub(super) fn parse_single(sql: &str) -> Result<Statement> {
    let _span = tracing::info_span!(target: "floe::sql", "sql.parse").entered();
    if sql.len() > MAX_SQL_BYTES {
        return Err(Error::TooLong(format!("the statement has {} bytes; the limit is {MAX_SQL_BYTES}", sql.len())));
    }
    let (sql, _) = super::partition::split_partitioned_by(sql)?;
    let sql = super::time_travel::fold_into_names(&sql)?;
    let mut statements = Parser::new(&GenericDialect)
        .with_options(ParserOptions { trailing_commas: true, ..Default::default() })
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|err| Error::Syntax(err.to_string()))?;
    match statements.len() {
        1 => {
            let mut statement = statements.remove(0);
            super::precedence::bind_as_postgres(&mut statement);
            numbers_as_polars_reads(&mut statement);
            super::show::translated(statement)
        }
        0 => Err(Error::Syntax("empty query: expected one SQL statement".into())),
        n => Err(Error::Syntax(format!("expected one SQL statement, got {n}"))),
    }
}

/// Numbers written with an exponent (`1e-3`, `2.5E2`) or past BIGINT,
/// which polars-sql cannot parse, as SQL reads them (`number_polars_reads`).
fn numbers_as_polars_reads(statement: &mut Statement) {
    use sqlparser::ast::{Expr, Value};
    let _ = crate::sql::visit::visit_expressions_mut(statement, |expr| {
        if let Expr::Value(value) = expr {
            if let Value::Number(text, _) = &value.value {
                if let Some(written) = number_polars_reads(text).and_then(|written| parse_literal(&written).ok()) {
                    *expr = written;
                }
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// A number literal polars-sql cannot parse, written as one it can: with
/// an exponent, a DOUBLE (its digits with a point, or polars-sql reads a
/// whole number past BIGINT and fails); a whole number past BIGINT, an
/// exact DECIMAL, as DuckDB and PostgreSQL read it.
fn number_polars_reads(text: &str) -> Option<String> {
    if text.contains(['e', 'E']) {
        let double = text.parse::<f64>().ok().filter(|d| d.is_finite())?;
        let digits = double.to_string();
        let point = if digits.contains('.') { "" } else { ".0" };
        return Some(format!("CAST({digits}{point} AS DOUBLE)"));
    }
    let whole = text.bytes().all(|b| b.is_ascii_digit());
    (whole && text.parse::<i64>().is_err() && text.trim_start_matches('0').len() <= 38).then(|| format!("CAST('{text}' AS DECIMAL(38,0))"))
}

pub(super) fn parse_literal(literal: &str) -> Result<sqlparser::ast::Expr> {
    Parser::new(&GenericDialect)
        .try_with_sql(literal)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|err| Error::Params(format!("invalid parameter value `{literal}`: {err}")))
}

/// Only queries run here; writes get a clear Unimplemented until the write
/// path exists rather than whatever polars-sql would do with them.
pub(super) fn ensure_query(statement: &Statement) -> Result<()> {
    let kind = match statement {
        Statement::Query(query) => {
            if let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() {
                if select.into.is_some() {
                    return Err(Error::Unsupported("SELECT … INTO is not supported: Floe does not write tables yet".into()));
                }
            }
            return Ok(());
        }
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::Drop { .. } => "DROP",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Explain { .. } => {
            return Err(Error::Unsupported("EXPLAIN takes one query".into()));
        }
        other => {
            let text = other.to_string();
            let head: String = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            return Err(Error::Unsupported(format!("statement `{head} …` is not supported: Floe runs SELECT queries")));
        }
    };
    Err(Error::Unsupported(format!(
        "{kind} is not supported yet"
    )))
}

/// A FROM item reading the relation `name` (a frame Floe registered).
pub(crate) fn table_named(name: &str, alias: Option<sqlparser::ast::TableAlias>) -> sqlparser::ast::TableFactor {
    sqlparser::ast::TableFactor::Table {
        name: sqlparser::ast::ObjectName::from(vec![sqlparser::ast::Ident::new(name)]),
        alias,
        args: None,
        with_hints: Vec::new(),
        version: None,
        with_ordinality: false,
        partitions: Vec::new(),
        json_path: None,
        sample: None,
        index_hints: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exponent_literals_are_doubles_and_huge_whole_numbers_decimals() {
        let parsed = super::parse_single("SELECT 1e-3, 2.5E2 * x, 7, 1e20, 100000000000000000000, 9223372036854775807").unwrap();
        assert_eq!(
            parsed.to_string(),
            "SELECT CAST(0.001 AS DOUBLE), CAST(250.0 AS DOUBLE) * x, 7, CAST(100000000000000000000.0 AS DOUBLE), \
             CAST('100000000000000000000' AS DECIMAL(38,0)), 9223372036854775807"
        );
    }
}
