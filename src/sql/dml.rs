//! Statements that change the lake, classified into what Floe runs for them.
//! Their SELECT parts (CTAS, INSERT … SELECT) are ordinary checked queries.

use arrow::datatypes::{DataType as Arrow, Field, TimeUnit};
use sqlparser::ast::{
    AssignmentTarget, ColumnOption, DataType as Sql, ExactNumberInfo, Expr, FromTable, HiveDistributionStyle, ObjectName,
    ObjectType, SchemaName, SetExpr, Statement, TableFactor, TableObject, TableWithJoins, TimezoneInfo,
};

use super::partition::{split_partitioned_by, PartitionField};
use super::properties::{self, Properties};
use super::{parse, Error, Query, Result};

pub type Name = Vec<String>;

#[derive(Debug)]
pub enum Command {
    Query(Query),
    CreateSchema { name: Name, if_not_exists: bool },
    DropSchema { name: Name, if_exists: bool },
    CreateTable { name: Name, columns: Vec<Field>, partition_by: Vec<PartitionField>, properties: Properties, if_not_exists: bool },
    CreateTableAs { name: Name, query: Query, properties: Properties, if_not_exists: bool },
    /// `ALTER TABLE … SET TBLPROPERTIES (…)`.
    SetProperties { table: Name, properties: Properties, if_exists: bool },
    DropTable { name: Name, if_exists: bool, purge: bool },
    /// `INSERT INTO` (append) or `INSERT OVERWRITE`; columns map positionally.
    Insert { table: Name, columns: Vec<String>, source: Query, overwrite: bool },
    Truncate { table: Name },
    /// `DELETE` (no assignments) or `UPDATE`: which rows (`condition`, SQL
    /// over the table's columns; `TRUE` when absent) and their new values,
    /// parameters already bound.
    ChangeRows { table: Name, condition: String, assignments: Vec<(String, String)> },
    Merge(super::merge::Merge),
    /// `INSERT OVERWRITE t PARTITION (conditions) SELECT …`: the rows where
    /// every condition holds (Hive's `column = value`, or any predicate) are
    /// replaced by the query's rows, in one commit.
    ReplaceRows { table: Name, condition: String, columns: Vec<String>, source: Query },
    /// `CALL system.<procedure>(…)`: table maintenance.
    Call(super::procedure::Call),
}

pub(super) fn name(object: &ObjectName) -> Result<Name> {
    object
        .0
        .iter()
        .map(|part| part.as_ident().map(|ident| ident.value.clone()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::Unsupported(format!("unsupported name `{object}`")))
}

fn single_name(names: &[ObjectName]) -> Result<Name> {
    match names {
        [one] => name(one),
        _ => Err(Error::Unsupported("name one object per statement".into())),
    }
}

/// Parses and checks one statement; `params` bind its placeholders.
pub fn classify(sql: &str, params: &[String]) -> Result<Command> {
    if let Some(query) = super::memo::analyzed(sql, params) {
        return Ok(Command::Query(query));
    }
    let (_, partition_by) = split_partitioned_by(sql)?;
    let statement = parse::parse_single(sql)?;
    let sub_query = |query: &sqlparser::ast::Query| Query::from_statement(Statement::Query(Box::new(query.clone())), params);
    Ok(match &statement {
        Statement::Query(_) => {
            let query = Query::from_statement(statement.clone(), params)?;
            super::memo::keep(sql, params, &query);
            Command::Query(query)
        }
        Statement::CreateSchema { schema_name: SchemaName::Simple(object), if_not_exists, .. } => {
            Command::CreateSchema { name: name(object)?, if_not_exists: *if_not_exists }
        }
        Statement::Drop { object_type: ObjectType::Schema, if_exists, names, .. } => {
            Command::DropSchema { name: single_name(names)?, if_exists: *if_exists }
        }
        Statement::Drop { object_type: ObjectType::Table, if_exists, names, purge, .. } => {
            Command::DropTable { name: single_name(names)?, if_exists: *if_exists, purge: *purge }
        }
        Statement::CreateTable(create) => {
            if create.or_replace || create.temporary || create.external {
                return Err(Error::Unsupported("CREATE OR REPLACE / TEMPORARY / EXTERNAL tables are not supported".into()));
            }
            let partitioned = create.partition_by.is_some()
                || !matches!(create.hive_distribution, HiveDistributionStyle::NONE);
            if partitioned {
                return Err(Error::Unsupported("partitioned tables cannot be created yet".into()));
            }
            let table = name(&create.name)?;
            let properties = properties::of_create(&create.table_options)?;
            if create.query.is_some() && !partition_by.is_empty() {
                return Err(Error::Unsupported("CREATE TABLE … AS cannot be partitioned yet; create the table, then INSERT".into()));
            }
            match &create.query {
                Some(query) => {
                    Command::CreateTableAs { name: table, query: sub_query(query)?, properties, if_not_exists: create.if_not_exists }
                }
                None => Command::CreateTable {
                    name: table,
                    columns: create.columns.iter().map(column).collect::<Result<_>>()?,
                    partition_by,
                    properties,
                    if_not_exists: create.if_not_exists,
                },
            }
        }
        Statement::AlterTable(alter) => Command::SetProperties {
            table: name(&alter.name)?,
            properties: properties::of_alter(alter)?,
            if_exists: alter.if_exists,
        },
        Statement::Insert(insert) => {
            let TableObject::TableName(table) = &insert.table else {
                return Err(Error::Unsupported("INSERT INTO a table function is not supported".into()));
            };
            let columns = insert.columns.iter().map(column_name).collect();
            match (&insert.partitioned, insert.overwrite) {
                (Some(_), true) => {
                    // Placeholders may sit in PARTITION (…) and in the query: bind them all at once.
                    let mut bound = statement.clone();
                    super::rewrite::analyze(&mut bound, params)?;
                    let Statement::Insert(bound) = bound else { unreachable!("an INSERT stays one") };
                    let conditions = bound.partitioned.clone().unwrap_or_default();
                    let condition = conditions.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" AND ");
                    let source = insert_source(&bound, &[])?;
                    Command::ReplaceRows { table: name(table)?, condition, columns, source }
                }
                (Some(_), false) => return Err(Error::Unsupported("INSERT INTO … PARTITION: use INSERT OVERWRITE … PARTITION".into())),
                (None, overwrite) => Command::Insert { table: name(table)?, columns, source: insert_source(insert, params)?, overwrite },
            }
        }
        Statement::Delete(_) | Statement::Update(_) => row_change(statement.clone(), params)?,
        Statement::Merge(_) => Command::Merge(super::merge::Merge::classify(statement.clone(), params)?),
        Statement::Call(_) => Command::Call(super::procedure::Call::classify(&statement, params)?),
        Statement::Truncate(truncate) => match truncate.table_names.as_slice() {
            [target] => Command::Truncate { table: name(&target.name)? },
            _ => return Err(Error::Unsupported("truncate one table per statement".into())),
        },
        _ => Command::Query(Query::from_statement(statement.clone(), params)?),
    })
}

/// The target, condition and assignments of a DELETE or UPDATE on one table.
fn row_change(mut statement: Statement, params: &[String]) -> Result<Command> {
    super::rewrite::analyze(&mut statement, params)?;
    let single = |relation: &TableWithJoins| match (&relation.relation, relation.joins.is_empty()) {
        (TableFactor::Table { name: table, alias: None, args: None, .. }, true) => name(table),
        _ => Err(Error::Unsupported("DELETE and UPDATE change one table, named without an alias or joins".into())),
    };
    let condition = |selection: &Option<Expr>| selection.as_ref().map_or("TRUE".to_string(), Expr::to_string);
    match &statement {
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            if !delete.tables.is_empty() || delete.using.is_some() || delete.returning.is_some() || delete.limit.is_some() {
                return Err(Error::Unsupported("DELETE supports `DELETE FROM table [WHERE …]`".into()));
            }
            let [relation] = from.as_slice() else {
                return Err(Error::Unsupported("DELETE from one table at a time".into()));
            };
            Ok(Command::ChangeRows { table: single(relation)?, condition: condition(&delete.selection), assignments: Vec::new() })
        }
        Statement::Update(update) => {
            if update.from.is_some() || update.returning.is_some() || update.limit.is_some() || update.or.is_some() {
                return Err(Error::Unsupported("UPDATE supports `UPDATE table SET column = value, … [WHERE …]`".into()));
            }
            let assignments = assignments(&update.assignments)?;
            Ok(Command::ChangeRows { table: single(&update.table)?, condition: condition(&update.selection), assignments })
        }
        _ => unreachable!("only DELETE and UPDATE reach here"),
    }
}

/// An INSERT's rows: its query, or its VALUES as one.
fn insert_source(insert: &sqlparser::ast::Insert, params: &[String]) -> Result<Query> {
    let source = insert.source.as_ref().ok_or_else(|| Error::Unsupported("INSERT needs VALUES or a SELECT".into()))?;
    let query = match source.body.as_ref() {
        SetExpr::Values(values) => values_as_select(&values.rows)?,
        _ => source.as_ref().clone(),
    };
    Query::from_statement(Statement::Query(Box::new(query)), params)
}

/// `SET column = value, …` as (column, value SQL) pairs.
pub(super) fn assignments(assignments: &[sqlparser::ast::Assignment]) -> Result<Vec<(String, String)>> {
    assignments
        .iter()
        .map(|assignment| match &assignment.target {
            AssignmentTarget::ColumnName(column) => match column.0.last().and_then(|part| part.as_ident()) {
                Some(ident) => Ok((ident.value.clone(), assignment.value.to_string())),
                None => Err(Error::Unsupported(format!("unsupported column `{column}`"))),
            },
            AssignmentTarget::Tuple(_) => Err(Error::Unsupported("SET (a, b) = … is not supported".into())),
        })
        .collect()
}

/// `VALUES (…), (…)` as `SELECT … UNION ALL SELECT …`, which polars-sql plans.
fn values_as_select(rows: &[sqlparser::ast::Parens<Vec<sqlparser::ast::Expr>>]) -> Result<sqlparser::ast::Query> {
    let selects: Vec<String> = rows
        .iter()
        .map(|row| {
            let items: Vec<String> = row.content.iter().enumerate().map(|(i, value)| format!("{value} AS column{}", i + 1)).collect();
            format!("SELECT {}", items.join(", "))
        })
        .collect();
    match parse::parse_single(&selects.join(" UNION ALL "))? {
        Statement::Query(query) => Ok(*query),
        _ => Err(Error::Syntax("VALUES could not be read as rows".into())),
    }
}

fn column(def: &sqlparser::ast::ColumnDef) -> Result<Field> {
    let required = def.options.iter().any(|o| matches!(o.option, ColumnOption::NotNull));
    Ok(Field::new(def.name.value.clone(), arrow_type(&def.data_type)?, !required))
}

/// SQL column types for `CREATE TABLE`, as the Iceberg types they become.
fn arrow_type(data_type: &Sql) -> Result<Arrow> {
    Ok(match data_type {
        Sql::Boolean | Sql::Bool => Arrow::Boolean,
        Sql::TinyInt(_) | Sql::SmallInt(_) | Sql::Int(_) | Sql::Integer(_) | Sql::Int4(_) => Arrow::Int32,
        Sql::BigInt(_) | Sql::Int8(_) | Sql::Int64 => Arrow::Int64,
        Sql::Real | Sql::Float4 | Sql::Float32 => Arrow::Float32,
        Sql::Double(_) | Sql::DoublePrecision | Sql::Float8 | Sql::Float64 | Sql::Float(_) => Arrow::Float64,
        Sql::Decimal(info) | Sql::Numeric(info) | Sql::Dec(info) => match info {
            ExactNumberInfo::PrecisionAndScale(p, s) => Arrow::Decimal128(*p as u8, *s as i8),
            ExactNumberInfo::Precision(p) => Arrow::Decimal128(*p as u8, 0),
            ExactNumberInfo::None => Arrow::Decimal128(38, 9),
        },
        Sql::Varchar(_) | Sql::Char(_) | Sql::Text | Sql::String(_) | Sql::CharVarying(_) | Sql::Character(_) => Arrow::Utf8,
        Sql::Binary(_) | Sql::Varbinary(_) | Sql::Bytea | Sql::Blob(_) => Arrow::Binary,
        Sql::Date => Arrow::Date32,
        Sql::Time(_, _) => Arrow::Time64(TimeUnit::Microsecond),
        Sql::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            Arrow::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        Sql::Timestamp(_, _) | Sql::Datetime(_) => Arrow::Timestamp(TimeUnit::Microsecond, None),
        other => return Err(Error::Unsupported(format!("column type `{other}` is not supported"))),
    })
}

/// A column list's name as the column is named (`"Val"` is `Val`).
pub(super) fn column_name(name: &sqlparser::ast::ObjectName) -> String {
    match name.0.last().and_then(|part| part.as_ident()) {
        Some(ident) if name.0.len() == 1 => ident.value.clone(),
        _ => name.to_string(),
    }
}
