//! Flight SQL bulk ingest (`CommandStatementIngest`): the spec's
//! create / append / replace / fail semantics over a stream of batches.

use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use arrow_flight::sql::{CommandStatementIngest, TableExistsOption, TableNotExistOption};

use super::{create_table, schema, BatchStream, Error, Result, SaveMode};
use crate::catalog::{self, Lake, TableRef};
use crate::proto::SessionDefaults;

/// The table an ingest writes, as the command names it.
pub async fn target(lake: &Lake, command: &CommandStatementIngest, session: &SessionDefaults) -> Result<TableRef> {
    if command.temporary {
        return Err(Error::Unsupported("temporary tables are not supported".into()));
    }
    if command.transaction_id.is_some() {
        return Err(Error::Unsupported("transactions are not supported: every ingest commits on its own".into()));
    }
    let mut name = Vec::new();
    if let Some(catalog) = &command.catalog {
        name.push(catalog.clone());
        name.push(command.schema.clone().unwrap_or_else(|| lake.names().session_schema(session)));
    } else if let Some(schema) = &command.schema {
        name.push(schema.clone());
    }
    name.push(command.table.clone());
    Ok(lake.existing_or_written(lake.names().resolve(&name, session)?).await?)
}

/// Writes `batches` into `table` (from [`target`]) with the command's
/// create / append / replace / fail semantics.
pub async fn load(
    lake: &Lake,
    table: TableRef,
    command: CommandStatementIngest,
    incoming: SchemaRef,
    batches: BatchStream,
) -> Result<i64> {

    let options = command.table_definition_options.unwrap_or_default();
    let if_missing = TableNotExistOption::try_from(options.if_not_exist).unwrap_or(TableNotExistOption::Unspecified);
    let if_exists = TableExistsOption::try_from(options.if_exists).unwrap_or(TableExistsOption::Unspecified);
    let catalog = lake.catalog(&table.catalog)?;
    let exists = catalog
        .table_exists(&table.ident)
        .await
        .map_err(|source| catalog::Error::Iceberg { catalog: table.catalog.clone(), source })?;

    let mode = match (exists, if_missing, if_exists) {
        (false, TableNotExistOption::Create, _) => {
            create_table(lake, &table, &incoming, true).await?;
            SaveMode::Append
        }
        (false, _, _) => return Err(catalog::Error::TableNotFound(table.to_string()).into()),
        (true, _, TableExistsOption::Append) => SaveMode::Append,
        (true, _, TableExistsOption::Replace) => {
            let current = lake.load(&table).await?;
            let current_schema = iceberg::arrow::schema_to_arrow_schema(current.metadata().current_schema())
                .map_err(|source| Error::Iceberg { table: table.to_string(), source })?;
            if schema::widens_into(&incoming, &current_schema.into()) {
                SaveMode::Overwrite
            } else {
                // New columns, or narrower ones: the table is recreated with the incoming schema.
                catalog
                    .drop_table(&table.ident)
                    .await
                    .map_err(|source| catalog::Error::Iceberg { catalog: table.catalog.clone(), source })?;
                create_table(lake, &table, &incoming, true).await?;
                SaveMode::Append
            }
        }
        (true, _, _) => return Err(Error::AlreadyExists(format!("table `{table}` already exists"))),
    };
    let outcome = super::write(lake, &table, batches, mode, HashMap::new()).await?;
    Ok(outcome.rows_written as i64)
}
