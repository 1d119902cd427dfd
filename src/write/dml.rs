//! Runs SQL that changes the lake: DDL through the catalog, and CTAS /
//! INSERT / INSERT OVERWRITE / TRUNCATE as streamed writes with one atomic
//! commit each. Returns the affected row count.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::Schema;
use futures::StreamExt;
use iceberg::NamespaceIdent;

use super::{create_table, Error, Result, SaveMode};
use crate::catalog::{self, TableRef};
use crate::exec::{BatchStream, Engine};
use crate::proto::SessionDefaults;
use crate::sql::dml::{Command, Name};

fn namespace_of(engine: &Engine, name: &Name, session: &SessionDefaults) -> Result<(String, NamespaceIdent)> {
    let names = engine.lake().names();
    // A schema name is a table name without the table: resolve `name.x` and drop `x`.
    let mut probe = name.clone();
    probe.push(String::new());
    let resolved = names.resolve(&probe, session)?;
    Ok((resolved.catalog, resolved.ident.namespace().clone()))
}

fn iceberg_err(catalog_name: &str) -> impl Fn(iceberg::Error) -> Error + '_ {
    move |source| catalog::Error::Iceberg { catalog: catalog_name.to_string(), source }.into()
}

/// Executes a non-query statement; `None` when `sql` is a query.
pub async fn execute(engine: &Engine, sql: &str, params: &[String], session: &SessionDefaults) -> Result<Option<i64>> {
    let lake = engine.lake();
    let resolve = |name: &Name| lake.names().resolve(name, session).map_err(Error::from);
    let rows = match crate::sql::dml::classify(sql, params)? {
        Command::Query(_) => return Ok(None),
        Command::CreateSchema { name, if_not_exists } => {
            let (catalog_name, namespace) = namespace_of(engine, &name, session)?;
            let catalog = lake.catalog(&catalog_name)?;
            if catalog.namespace_exists(&namespace).await.map_err(iceberg_err(&catalog_name))? {
                if !if_not_exists {
                    return Err(Error::AlreadyExists(format!("schema `{}` already exists", namespace.join("."))));
                }
            } else {
                catalog.create_namespace(&namespace, HashMap::new()).await.map_err(iceberg_err(&catalog_name))?;
            }
            0
        }
        Command::DropSchema { name, if_exists } => {
            let (catalog_name, namespace) = namespace_of(engine, &name, session)?;
            let catalog = lake.catalog(&catalog_name)?;
            if !catalog.namespace_exists(&namespace).await.map_err(iceberg_err(&catalog_name))? {
                if !if_exists {
                    return Err(catalog::Error::SchemaNotFound(namespace.join(".")).into());
                }
            } else {
                if !catalog.list_tables(&namespace).await.map_err(iceberg_err(&catalog_name))?.is_empty() {
                    return Err(Error::Schema(format!("schema `{}` still has tables; drop them first", namespace.join("."))));
                }
                catalog.drop_namespace(&namespace).await.map_err(iceberg_err(&catalog_name))?;
            }
            0
        }
        Command::CreateTable { name, columns, partition_by, if_not_exists } => {
            let table = resolve(&name)?;
            match super::create_partitioned_table(lake, &table, &Schema::new(columns), &partition_by).await {
                Err(Error::AlreadyExists(_)) if if_not_exists => {}
                other => {
                    other?;
                }
            }
            0
        }
        Command::DropTable { name, if_exists, purge } => {
            let table = resolve(&name)?;
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
        Command::CreateTableAs { name, query, if_not_exists } => {
            let table = resolve(&name)?;
            let catalog = lake.catalog(&table.catalog)?;
            if catalog.table_exists(&table.ident).await.map_err(iceberg_err(&table.catalog))? {
                if if_not_exists {
                    return Ok(Some(0));
                }
                return Err(Error::AlreadyExists(format!("table `{table}` already exists")));
            }
            let (schema, batches) = engine.run(&query.sql(), session.clone()).await?;
            create_table(lake, &table, &schema, false).await?;
            write_rows(engine, &table, batches, SaveMode::Append).await?
        }
        Command::Insert { table, columns, source, overwrite } => {
            let table = resolve(&table)?;
            let target = lake.load(&table).await?;
            let target_columns: Vec<String> = if columns.is_empty() {
                target.metadata().current_schema().as_struct().fields().iter().map(|f| f.name.clone()).collect()
            } else {
                columns
            };
            let (schema, batches) = engine.run(&source.sql(), session.clone()).await?;
            if schema.fields().len() != target_columns.len() {
                return Err(Error::Schema(format!(
                    "INSERT gives {} value(s) per row for {} column(s) of `{table}`",
                    schema.fields().len(),
                    target_columns.len()
                )));
            }
            let mode = if overwrite { SaveMode::Overwrite } else { SaveMode::Append };
            write_rows(engine, &table, rename_positionally(batches, target_columns), mode).await?
        }
        Command::Truncate { table } => {
            let table = resolve(&table)?;
            write_rows(engine, &table, Box::pin(futures::stream::empty()), SaveMode::Overwrite).await?;
            0
        }
    };
    Ok(Some(rows))
}

async fn write_rows(engine: &Engine, table: &TableRef, batches: BatchStream, mode: SaveMode) -> Result<i64> {
    let outcome = super::write(engine.lake(), table, batches, mode, HashMap::new()).await?;
    Ok(outcome.rows_written as i64)
}

/// SQL INSERT maps values to columns by position, whatever the query named them.
fn rename_positionally(batches: BatchStream, columns: Vec<String>) -> BatchStream {
    Box::pin(batches.map(move |batch| {
        let batch = batch?;
        let fields: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(field, name)| field.as_ref().clone().with_name(name))
            .collect();
        Ok(arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec())?)
    }))
}
