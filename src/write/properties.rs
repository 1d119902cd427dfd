//! Table properties set by SQL: checked against what Floe's writer obeys
//! before they are stored, and changed by one metadata commit, retried like
//! data commits when another writer's commit wins.

use std::collections::HashMap;

use iceberg::spec::TableProperties;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

use super::{commit, encoding, files, Error, Result};
use crate::catalog::{Lake, TableRef};

/// Refuses what a table's writes could not obey (a codec Floe cannot write,
/// a level the codec does not take) and what Iceberg keeps for itself
/// (`format-version`, `uuid`, …), so the mistake surfaces at CREATE or
/// ALTER rather than at the next write.
pub fn check_properties(properties: &[(String, String)]) -> Result<()> {
    check(&properties.iter().cloned().collect())
}

fn check(properties: &HashMap<String, String>) -> Result<()> {
    if let Some(reserved) = properties.keys().find(|key| TableProperties::RESERVED_PROPERTIES.contains(&key.as_str())) {
        return Err(Error::Schema(format!("`{reserved}` is kept by Iceberg itself, not a table property to set")));
    }
    if let Some(limit) = properties.get(files::ROW_GROUP_LIMIT).filter(|limit| files::row_group_limit(limit).is_none()) {
        return Err(Error::Schema(format!("table property {} = `{limit}` is not a positive number of rows", files::ROW_GROUP_LIMIT)));
    }
    encoding::codec(properties).map(drop).map_err(Error::Schema)
}

/// Sets `properties` on `table_ref` (others are kept), as one commit.
pub async fn set_properties(lake: &Lake, table_ref: &TableRef, properties: &[(String, String)]) -> Result<()> {
    check_properties(properties)?;
    let catalog = lake.catalog(&table_ref.catalog)?.clone();
    let (outcome, _) = commit::retrying(|| {
        let catalog = catalog.clone();
        async move {
            let table = lake.load(table_ref).await?;
            // A level set now must suit the codec set before, and the other way round.
            let mut merged = table.metadata().properties().clone();
            merged.extend(properties.iter().cloned());
            encoding::codec(&merged).map_err(Error::Schema)?;
            let iceberg_err = |e| Error::iceberg(&table, e);
            let tx = Transaction::new(&table);
            let action =
                properties.iter().fold(tx.update_table_properties(), |action, (key, value)| action.set(key.clone(), value.clone()));
            action.apply(tx).map_err(iceberg_err)?.commit(catalog.as_ref()).await.map_err(iceberg_err)?;
            Ok(())
        }
    })
    .await;
    outcome
}
