//! Removing snapshots from a table's metadata (snapshot expiry), published
//! like Floe's other commits: a new metadata file and the pointer's
//! compare-and-set for SQL catalogs, the commit endpoint for REST catalogs.

use std::str::FromStr;

use iceberg::table::Table;
use iceberg::{MetadataLocation, TableRequirement, TableUpdate};

use super::{Error, Lake, Result, TableRef};

impl Lake {
    /// Drops `snapshot_ids` from the table's metadata if `table` is still
    /// current; false when another commit won.
    pub async fn remove_snapshots(&self, table_ref: &TableRef, table: &Table, snapshot_ids: &[i64]) -> Result<bool> {
        self.check_overwrite(table_ref)?;
        let metadata = table.metadata();
        let load_err = |source| Error::Load { table: table_ref.to_string(), source };
        if let Some(pointer) = self.pointers.get(&table_ref.catalog) {
            let current = table
                .metadata_location()
                .ok_or_else(|| Error::Unsupported(format!("table `{table_ref}` has no metadata location")))?
                .to_string();
            let next_metadata =
                metadata.clone().into_builder(Some(current.clone())).remove_snapshots(snapshot_ids).build().map_err(load_err)?.metadata;
            let next = MetadataLocation::from_str(&current).map_err(load_err)?.with_next_version().with_new_metadata(&next_metadata);
            next_metadata.write_to(table.file_io(), &next).await.map_err(load_err)?;
            return pointer.swap(table_ref, &current, &next.to_string()).await;
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
