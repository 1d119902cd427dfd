//! The catalog commands people type into a SQL console — `SHOW SCHEMAS`,
//! `SHOW TABLES`, `DESCRIBE t`, `SHOW COLUMNS FROM t` — as the queries they
//! stand for, so they are authorized, planned and streamed as every query
//! is and no client needs a second protocol for them.
//!
//! The listings read `information_schema` (only what the caller may read).
//! A table is described as `DESCRIBE SELECT * FROM t`: the name resolves
//! as a query's does (session catalog and schema, NotFound, rights), and
//! the answer is the columns that query returns.

use sqlparser::ast::{
    DescribeAlias, ObjectName, ShowStatementFilter, ShowStatementFilterPosition, ShowStatementIn, ShowStatementOptions, Statement, Value,
};

use super::{Error, Result};

/// `statement`, or the query it stands for when it is a catalog command.
pub(super) fn translated(statement: Statement) -> Result<Statement> {
    let sql = match &statement {
        Statement::ShowTables { show_options, .. } => tables(show_options)?,
        Statement::ShowSchemas { show_options, .. } => schemas(show_options)?,
        Statement::ShowColumns { show_options, .. } => {
            let table = show_options.show_in.as_ref().and_then(|show_in| show_in.parent_name.as_ref());
            let table = table.ok_or_else(|| Error::Syntax("SHOW COLUMNS names its table: SHOW COLUMNS FROM <table>".into()))?;
            if show_options.filter_position.is_some() {
                return Err(Error::Unsupported("SHOW COLUMNS … LIKE is not supported; filter information_schema.columns instead".into()));
            }
            described(table)
        }
        Statement::ExplainTable { hive_format: Some(format), .. } => {
            return Err(Error::Unsupported(format!("DESCRIBE {format} is not supported; DESCRIBE <table> lists its columns")));
        }
        Statement::ExplainTable { table_name, .. } => described(table_name),
        _ => return Ok(statement),
    };
    super::parse::parse_single(&sql)
}

/// Whether `alias` asks for a query's columns rather than its plan.
pub(super) fn is_describe(alias: DescribeAlias) -> bool {
    matches!(alias, DescribeAlias::Describe | DescribeAlias::Desc)
}

fn described(table: &ObjectName) -> String {
    format!("DESCRIBE SELECT * FROM {table}")
}

/// Every table the caller may read, by catalog and schema; `FROM ns` (or
/// `FROM catalog.ns`) narrows to one schema, `LIKE` matches the name.
fn tables(options: &ShowStatementOptions) -> Result<String> {
    let mut conditions = Vec::new();
    if let Some(parent) = parent(&options.show_in) {
        conditions.push(in_schema(&super::dml::name(parent)?, "table_catalog", "table_schema"));
    }
    conditions.extend(name_filter(options, "table_name")?);
    Ok(format!(
        "SELECT table_catalog AS \"catalog\", table_schema AS \"schema\", table_name AS \"name\" FROM information_schema.tables{} \
         ORDER BY \"catalog\", \"schema\", \"name\"",
        where_clause(&conditions)
    ))
}

/// Every schema the caller may read; `FROM catalog` narrows to one catalog.
fn schemas(options: &ShowStatementOptions) -> Result<String> {
    let mut conditions = Vec::new();
    if let Some(parent) = parent(&options.show_in) {
        conditions.push(format!("catalog_name = {}", quoted(&super::dml::name(parent)?.join("."))));
    }
    conditions.extend(name_filter(options, "schema_name")?);
    Ok(format!(
        "SELECT catalog_name AS \"catalog\", schema_name AS \"schema\" FROM information_schema.schemata{} ORDER BY \"catalog\", \"schema\"",
        where_clause(&conditions)
    ))
}

fn parent(show_in: &Option<ShowStatementIn>) -> Option<&ObjectName> {
    show_in.as_ref().and_then(|show_in| show_in.parent_name.as_ref())
}

/// A schema named `a.b` is the nested namespace `a.b` of any catalog, or
/// schema `b` of catalog `a` (as a query's table name reads).
fn in_schema(parts: &[String], catalog: &str, schema: &str) -> String {
    let whole = format!("{schema} = {}", quoted(&parts.join(".")));
    match parts.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            format!("({whole} OR ({catalog} = {} AND {schema} = {}))", quoted(first), quoted(&rest.join(".")))
        }
        _ => whole,
    }
}

fn name_filter(options: &ShowStatementOptions, column: &str) -> Result<Option<String>> {
    let filter = match &options.filter_position {
        Some(ShowStatementFilterPosition::Infix(filter) | ShowStatementFilterPosition::Suffix(filter)) => filter,
        None => return Ok(None),
    };
    Ok(Some(match filter {
        ShowStatementFilter::Like(pattern) | ShowStatementFilter::NoKeyword(pattern) => format!("{column} LIKE {}", quoted(pattern)),
        ShowStatementFilter::ILike(pattern) => format!("{column} ILIKE {}", quoted(pattern)),
        ShowStatementFilter::Where(_) => {
            return Err(Error::Unsupported("SHOW … WHERE is not supported; use LIKE, or query information_schema".into()))
        }
    }))
}

fn where_clause(conditions: &[String]) -> String {
    match conditions.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", conditions.join(" AND ")),
    }
}

fn quoted(text: &str) -> String {
    Value::SingleQuotedString(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_single;

    fn as_sql(sql: &str) -> String {
        parse_single(sql).unwrap().to_string()
    }

    #[test]
    fn listings_read_information_schema() {
        assert_eq!(
            as_sql("SHOW TABLES"),
            "SELECT table_catalog AS \"catalog\", table_schema AS \"schema\", table_name AS \"name\" FROM information_schema.tables \
             ORDER BY \"catalog\", \"schema\", \"name\""
        );
        let narrowed = as_sql("SHOW TABLES FROM lake.sales LIKE 'o%'");
        assert!(
            narrowed.contains(
                "WHERE (table_schema = 'lake.sales' OR (table_catalog = 'lake' AND table_schema = 'sales')) AND table_name LIKE 'o%'"
            ),
            "{narrowed}"
        );
        assert!(as_sql("SHOW SCHEMAS IN floe").contains("FROM information_schema.schemata WHERE catalog_name = 'floe'"));
        assert!(as_sql("SHOW TABLES IN \"it's\"").contains("table_schema = 'it''s'"));
    }

    #[test]
    fn a_table_is_described_as_the_query_reading_it_whole() {
        for sql in ["DESCRIBE tpch.orders", "DESC tpch.orders", "SHOW COLUMNS FROM tpch.orders", "SHOW COLUMNS IN tpch.orders"] {
            assert_eq!(as_sql(sql), "DESCRIBE SELECT * FROM tpch.orders", "{sql}");
        }
    }

    #[test]
    fn what_cannot_be_listed_is_refused_by_name() {
        for sql in ["SHOW TABLES WHERE name = 'x'", "SHOW COLUMNS FROM t LIKE 'a%'", "DESCRIBE FORMATTED t"] {
            assert!(matches!(parse_single(sql), Err(super::Error::Unsupported(_))), "{sql}");
        }
    }
}
