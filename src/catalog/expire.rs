//! Removing snapshots from a table's metadata (snapshot expiry), published
//! like Floe's other commits: a new metadata file and the pointer's
//! compare-and-set for SQL catalogs, the commit endpoint for REST catalogs.

use iceberg::table::Table;
use iceberg::{TableRequirement, TableUpdate};

use super::{Error, Lake, Result, TableRef};

impl Lake {
    /// Drops `snapshot_ids` from the table's metadata if `table` is still
    /// current; false when another commit won.
    pub async fn remove_snapshots(&self, table_ref: &TableRef, table: &Table, snapshot_ids: &[i64]) -> Result<bool> {
        self.check_overwrite(table_ref)?;
        let metadata = table.metadata();
        let load_err = |source| Error::Load { table: table_ref.to_string(), source };
        if self.pointers.contains_key(&table_ref.catalog) {
            let current = super::metadata_location(table_ref, table)?;
            let next = metadata.clone().into_builder(Some(current)).remove_snapshots(snapshot_ids).build().map_err(load_err)?.metadata;
            return self.swap_metadata(table_ref, table, next).await;
        }
        let committer = self.committers.get(&table_ref.catalog).ok_or_else(|| self.unknown_catalog(&table_ref.catalog))?;
        let requirements = vec![
            TableRequirement::UuidMatch { uuid: metadata.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: iceberg::spec::MAIN_BRANCH.to_string(),
                snapshot_id: metadata.current_snapshot_id(),
            },
        ];
        let updates = vec![TableUpdate::RemoveSnapshots { snapshot_ids: snapshot_ids.to_vec() }];
        committer.commit(&table_ref.ident, requirements, updates).await
    }
}
