//! Runs SQL that changes the lake: DDL through the catalog, and CTAS /
//! INSERT / INSERT OVERWRITE / TRUNCATE as streamed writes, DELETE and
//! UPDATE as copy-on-write rewrites (`row_changes`), with one atomic commit
//! each. Returns the affected row count.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::Schema;
use futures::StreamExt;
use iceberg::NamespaceIdent;

use super::{BatchStream, Engine, Error, Result};
use crate::access::{Principal, Right};
use crate::catalog::{self, TableRef};
use crate::proto::SessionDefaults;
use crate::sql::dml::{Command, Name};
use crate::write::{self, SaveMode};

/// The schema `name` names: an existing one spelled so but for case, else as written.
async fn namespace_of(engine: &Engine, name: &Name, session: &SessionDefaults, who: &Principal) -> Result<(String, NamespaceIdent)> {
    let lake = engine.lake();
    // A schema name is a table name without the table: resolve `name.x` and drop `x`.
    let mut probe = name.clone();
    probe.push(String::new());
    let resolved = lake.names().resolve(&probe, session)?;
    let written = resolved.ident.namespace().clone();
    let namespace = lake.namespace_as_stored(&resolved.catalog, &written).await?.unwrap_or(written);
    let text = namespace.join(".");
    let object = format!("schema `{}.{text}`", resolved.catalog);
    engine.policy().check(who, &resolved.catalog, &text, Right::Write, &object).map_err(Error::Denied)?;
    Ok((resolved.catalog, namespace))
}

fn iceberg_err(catalog_name: &str) -> impl Fn(iceberg::Error) -> Error + '_ {
    move |source| catalog::Error::Iceberg { catalog: catalog_name.to_string(), source }.into()
}

/// A statement, parsed once: a query to plan, or a change already made.
pub enum Statement {
    Query(crate::sql::Query),
    /// The rows affected by the change, and what it changed (as written).
    Changed { rows: i64, target: String },
    /// A maintenance procedure ran on `target`: what it did, as named counts.
    Reported { report: super::maintenance::Report, target: String },
}

fn target(command: &Command) -> String {
    match command {
        Command::Query(_) => String::new(),
        Command::CreateSchema { name, .. }
        | Command::DropSchema { name, .. }
        | Command::CreateTable { name, .. }
        | Command::CreateTableAs { name, .. }
        | Command::SetProperties { table: name, .. }
        | Command::DropTable { name, .. }
        | Command::Insert { table: name, .. }
        | Command::Truncate { table: name }
        | Command::ChangeRows { table: name, .. }
        | Command::ReplaceRows { table: name, .. } => name.join("."),
        Command::Call(call) => call.table.join("."),
        Command::Merge(merge) => merge.target.join("."),
    }
}

/// Runs `sql` if it changes the lake; hands a query back analyzed.
pub async fn apply(engine: &Engine, sql: &str, params: &[String], session: &SessionDefaults, who: &Principal) -> Result<Statement> {
    let lake = engine.lake();
    // Every table a statement changes needs `write` there, checked before anything is written.
    let resolve = async |name: &Name| {
        let written = lake.names().resolve(name, session).map_err(Error::from)?;
        let table = lake.existing_or_written(written).await?;
        engine.authorize(who, &table, Right::Write)?;
        Ok::<_, Error>(table)
    };
    let command = crate::sql::dml::classify(sql, params)?;
    let target = target(&command);
    let rows = match command {
        Command::Query(query) => return Ok(Statement::Query(query)),
        Command::CreateSchema { name, if_not_exists } => {
            let (catalog_name, namespace) = namespace_of(engine, &name, session, who).await?;
            let catalog = lake.catalog(&catalog_name)?;
            if catalog.namespace_exists(&namespace).await.map_err(iceberg_err(&catalog_name))? {
                if !if_not_exists {
                    return Err(write::Error::AlreadyExists(format!("schema `{}` already exists", namespace.join("."))).into());
                }
            } else {
                catalog.create_namespace(&namespace, HashMap::new()).await.map_err(iceberg_err(&catalog_name))?;
            }
            0
        }
        Command::DropSchema { name, if_exists } => {
            let (catalog_name, namespace) = namespace_of(engine, &name, session, who).await?;
            let catalog = lake.catalog(&catalog_name)?;
            if !catalog.namespace_exists(&namespace).await.map_err(iceberg_err(&catalog_name))? {
                if !if_exists {
                    return Err(catalog::Error::SchemaNotFound(namespace.join(".")).into());
                }
            } else {
                if !catalog.list_tables(&namespace).await.map_err(iceberg_err(&catalog_name))?.is_empty() {
                    return Err(write::Error::Schema(format!("schema `{}` still has tables; drop them first", namespace.join("."))).into());
                }
                catalog.drop_namespace(&namespace).await.map_err(iceberg_err(&catalog_name))?;
            }
            0
        }
        Command::CreateTable { name, columns, partition_by, properties, if_not_exists } => {
            let table = resolve(&name).await?;
            match write::create_declared_table(lake, &table, &Schema::new(columns), &partition_by, &properties).await {
                Err(write::Error::AlreadyExists(_)) if if_not_exists => {}
                other => {
                    other?;
                }
            }
            0
        }
        Command::DropTable { name, if_exists, purge } => {
            let table = resolve(&name).await?;
            let catalog = lake.catalog(&table.catalog)?;
            if !catalog.table_exists(&table.ident).await.map_err(iceberg_err(&table.catalog))? {
                if !if_exists {
                    return Err(catalog::Error::TableNotFound(table.to_string()).into());
                }
            } else if purge {
                catalog.purge_table(&table.ident).await.map_err(iceberg_err(&table.catalog))?;
            } else {
                catalog.drop_table(&table.ident).await.map_err(iceberg_err(&table.catalog))?;
            }
            0
        }
        Command::SetProperties { table, properties, if_exists } => {
            let table = resolve(&table).await?;
            let catalog = lake.catalog(&table.catalog)?;
            if if_exists && !catalog.table_exists(&table.ident).await.map_err(iceberg_err(&table.catalog))? {
                return Ok(Statement::Changed { rows: 0, target });
            }
            write::set_properties(lake, &table, &properties).await?;
            0
        }
        Command::CreateTableAs { name, query, properties, if_not_exists } => {
            let table = resolve(&name).await?;
            let catalog = lake.catalog(&table.catalog)?;
            if catalog.table_exists(&table.ident).await.map_err(iceberg_err(&table.catalog))? {
                if if_not_exists {
                    return Ok(Statement::Changed { rows: 0, target });
                }
                return Err(write::Error::AlreadyExists(format!("table `{table}` already exists")).into());
            }
            // Before the query runs: a property the writer cannot obey fails now.
            write::check_properties(&properties)?;
            let (schema, batches) = engine.run_query(query, session.clone(), who).await?;
            write::create_declared_table(lake, &table, &schema, &[], &properties).await?;
            write_rows(engine, &table, rows_to_write(batches), SaveMode::Append).await?
        }
        Command::Insert { table, columns, source, overwrite } => {
            let table = resolve(&table).await?;
            let rows = positional_rows(engine, &table, columns, source, session, who).await?;
            let mode = if overwrite { SaveMode::Overwrite } else { SaveMode::Append };
            write_rows(engine, &table, rows, mode).await?
        }
        Command::ReplaceRows { table, condition, columns, source } => {
            let table = resolve(&table).await?;
            let rows = positional_rows(engine, &table, columns, source, session, who).await?;
            super::row_changes::replace_rows(engine, &table, &condition, rows, session, who).await?
        }
        Command::Truncate { table } => {
            let table = resolve(&table).await?;
            write_rows(engine, &table, Box::pin(futures::stream::empty()), SaveMode::Overwrite).await?;
            0
        }
        Command::ChangeRows { table, condition, assignments } => {
            let table = resolve(&table).await?;
            super::row_changes::change_rows(engine, &table, &condition, &assignments, session, who).await?
        }
        Command::Merge(merge) => {
            let table = resolve(&merge.target).await?;
            super::merge::merge(engine, &merge, &table, session, who).await?
        }
        Command::Call(call) => {
            let report = call_procedure(engine, &call, session, who).await?;
            return Ok(Statement::Reported { report, target });
        }
    };
    Ok(Statement::Changed { rows, target })
}

/// Runs a maintenance procedure; its table needs `write`.
pub async fn call_procedure(
    engine: &Engine,
    call: &crate::sql::procedure::Call,
    session: &SessionDefaults,
    who: &Principal,
) -> Result<super::maintenance::Report> {
    let written = engine.lake().names().resolve(&call.table, session)?;
    let table = engine.lake().existing_or_written(written).await?;
    engine.authorize(who, &table, Right::Write)?;
    super::maintenance::call(engine, call, &table, session, who).await
}

/// An INSERT's rows, named after the target's columns by position.
async fn positional_rows(
    engine: &Engine,
    table: &TableRef,
    columns: Vec<String>,
    source: crate::sql::Query,
    session: &SessionDefaults,
    who: &Principal,
) -> Result<write::BatchStream> {
    let target = engine.lake().load(table).await?;
    let target_columns: Vec<String> = if columns.is_empty() {
        target.metadata().current_schema().as_struct().fields().iter().map(|f| f.name.clone()).collect()
    } else {
        columns
    };
    let (schema, batches) = engine.run_query(source, session.clone(), who).await?;
    if schema.fields().len() != target_columns.len() {
        return Err(write::Error::Schema(format!(
            "INSERT gives {} value(s) per row for {} column(s) of `{table}`",
            schema.fields().len(),
            target_columns.len()
        ))
        .into());
    }
    Ok(rename_positionally(batches, target_columns))
}

async fn write_rows(engine: &Engine, table: &TableRef, batches: write::BatchStream, mode: SaveMode) -> Result<i64> {
    let outcome = write::write(engine.lake(), table, batches, mode, HashMap::new()).await?;
    Ok(outcome.rows_written as i64)
}

/// A query's rows as rows to write.
pub fn rows_to_write(batches: BatchStream) -> write::BatchStream {
    Box::pin(batches.map(|batch| batch.map_err(write::Error::input)))
}

/// SQL INSERT maps values to columns by position, whatever the query named them.
fn rename_positionally(batches: BatchStream, columns: Vec<String>) -> write::BatchStream {
    Box::pin(batches.map(move |batch| {
        let batch = batch.map_err(write::Error::input)?;
        let fields: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(field, name)| field.as_ref().clone().with_name(name))
            .collect();
        arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec())
            .map_err(|e| write::Error::Schema(e.to_string()))
    }))
}
