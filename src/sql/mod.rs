//! SQL in front of Polars: parse with sqlparser, refuse what must not run,
//! bind parameters, and rename catalog relations to the frames Polars sees.
//!
//! polars-sql resolves a dotted name by its first part and offers table
//! functions that read server files, so user SQL never reaches it unchecked.

pub mod dml;
mod names;
mod parse;
pub mod params;
mod rewrite;

use std::collections::HashMap;

use sqlparser::ast::Statement;

pub use rewrite::RelationName;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQL syntax error: {0}")]
    Syntax(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Params(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A checked, parameter-bound query and the catalog relations it reads.
#[derive(Debug, Clone)]
pub struct Query {
    statement: Statement,
    relations: Vec<RelationName>,
}

impl Query {
    /// Parses one read-only statement and binds `params` (SQL literals, in
    /// placeholder order). Fails unless the parameter count matches exactly.
    pub fn analyze(sql: &str, params: &[String]) -> Result<Self> {
        Self::from_statement(parse::parse_single(sql)?, params)
    }

    fn from_statement(mut statement: Statement, params: &[String]) -> Result<Self> {
        parse::ensure_query(&statement)?;
        rewrite::bind_params(&mut statement, params)?;
        rewrite::refuse_table_functions(&statement)?;
        names::name_colliding_projections(&mut statement);
        let relations = rewrite::catalog_relations(&statement);
        Ok(Self { statement, relations })
    }

    /// Distinct relations (as written) that name catalog tables, in first-use order.
    pub fn relations(&self) -> &[RelationName] {
        &self.relations
    }

    /// The query as SQL text (parameters bound).
    pub fn sql(&self) -> String {
        self.statement.to_string()
    }

    /// The SQL Polars runs: each catalog relation renamed to its registered
    /// frame, aliased by its table name so qualified columns keep working.
    pub fn render(&self, frames: &HashMap<RelationName, String>) -> String {
        let mut statement = self.statement.clone();
        rewrite::rename_relations(&mut statement, frames);
        statement.to_string()
    }
}

/// How many parameters a statement takes (`?` or `$n` placeholders).
pub fn parameter_count(sql: &str) -> Result<usize> {
    rewrite::placeholder_count(&parse::parse_single(sql)?)
}

/// Whether `sql` is a query (returns rows) rather than a statement that writes.
pub fn is_query(sql: &str) -> Result<bool> {
    Ok(matches!(parse::parse_single(sql)?, Statement::Query(_)))
}

#[cfg(test)]
mod tests;
