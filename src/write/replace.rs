//! Copy-on-write commits for row-level changes: some data files of a
//! snapshot are replaced by rewritten ones, in one snapshot (`delete` when
//! nothing is added, `append` when nothing is removed, else `overwrite`). Manifests without a replaced file
//! are reused as they are; the others are rewritten with those files marked
//! deleted. Another writer's commit in between is fine unless it removed a
//! file this change rewrote: then the change was computed from rows that no
//! longer exist, and it fails rather than lose that writer's update.

use std::collections::{HashMap, HashSet};

use iceberg::spec::{DataFile, FormatVersion, ManifestContentType, ManifestFile, Operation, Snapshot, Summary};
use iceberg::table::Table;

use super::commit::{publish, with_retries};
use super::snapshot::{self, Staging};
use super::{Error, Result};
use crate::catalog::{Lake, TableRef};

/// Replaces `removed` (data file paths, all live in the current snapshot)
/// with `added`; returns the new snapshot's id.
pub async fn replace_files(lake: &Lake, table_ref: &TableRef, removed: Vec<String>, added: Vec<DataFile>) -> Result<i64> {
    commit(lake, table_ref, removed, added, false).await
}

/// As [`replace_files`] for files holding the same rows (compaction): a `replace` snapshot.
pub async fn replace_files_as_compaction(lake: &Lake, table_ref: &TableRef, removed: Vec<String>, added: Vec<DataFile>) -> Result<i64> {
    commit(lake, table_ref, removed, added, true).await
}

async fn commit(lake: &Lake, table_ref: &TableRef, removed: Vec<String>, added: Vec<DataFile>, compaction: bool) -> Result<i64> {
    lake.check_overwrite(table_ref)?;
    let removed: HashSet<String> = removed.into_iter().collect();
    with_retries(|| {
        let (removed, added) = (removed.clone(), added.clone());
        async move {
            let table = lake.load(table_ref).await?;
            let snapshot = stage(&table, &removed, added, compaction).await?;
            publish(lake, table_ref, &table, snapshot).await
        }
    })
    .await
}

/// The current snapshot's manifests with `removed` marked deleted.
async fn carry_over(table: &Table, removed: &HashSet<String>, staging: &Staging<'_>) -> Result<(Vec<ManifestFile>, usize, u64)> {
    let iceberg_err = |e| Error::iceberg(table, e);
    let metadata = table.metadata();
    let Some(current) = metadata.current_snapshot() else {
        // An empty table: nothing to carry over, and nothing this change could have read.
        return if removed.is_empty() { Ok((Vec::new(), 0, 0)) } else { Err(Error::RowsChanged(table.identifier().to_string())) };
    };
    let (mut manifests, mut found, mut records) = (Vec::new(), 0usize, 0u64);
    for (index, manifest_file) in snapshot::manifests(table, current).await?.into_iter().enumerate() {
        if manifest_file.content != ManifestContentType::Data {
            manifests.push(manifest_file);
            continue;
        }
        let manifest = manifest_file.load_manifest(table.file_io()).await.map_err(iceberg_err)?;
        let alive = manifest.entries().iter().filter(|e| e.is_alive());
        if !alive.clone().any(|e| removed.contains(e.file_path())) {
            manifests.push(manifest_file);
            continue;
        }
        let spec = metadata
            .partition_spec_by_id(manifest_file.partition_spec_id)
            .ok_or_else(|| Error::Unsupported(format!("manifest of unknown partition spec {}", manifest_file.partition_spec_id)))?;
        let mut writer = staging.manifest_writer(&format!("r{index}"), spec)?;
        for entry in alive {
            let sequence = entry.sequence_number().unwrap_or_default();
            if removed.contains(entry.file_path()) {
                found += 1;
                records += entry.record_count();
                writer.add_delete_file(entry.data_file().clone(), sequence, entry.file_sequence_number).map_err(iceberg_err)?;
            } else {
                let added_by = entry.snapshot_id().unwrap_or(current.snapshot_id());
                writer
                    .add_existing_file(entry.data_file().clone(), added_by, sequence, entry.file_sequence_number)
                    .map_err(iceberg_err)?;
            }
        }
        manifests.push(writer.write_manifest_file().await.map_err(iceberg_err)?);
    }
    if found != removed.len() {
        return Err(Error::RowsChanged(table.identifier().to_string()));
    }
    Ok((manifests, found, records))
}

/// Row-level changes replace files, which format-v1 tables cannot record:
/// checked before any file is written.
pub fn check_row_level(table: &Table) -> Result<()> {
    if table.metadata().format_version() == FormatVersion::V1 {
        return Err(Error::Unsupported(format!(
            "row-level changes to format-v1 table `{}` are not supported: upgrade it to format version 2",
            table.identifier()
        )));
    }
    Ok(())
}

async fn stage(table: &Table, removed: &HashSet<String>, added: Vec<DataFile>, compaction: bool) -> Result<Snapshot> {
    check_row_level(table)?;
    let staging = Staging::new(table);
    let (mut manifests, deleted_files, deleted_records) = carry_over(table, removed, &staging).await?;
    let added_files = added.len();
    let added_records: u64 = added.iter().map(DataFile::record_count).sum();
    manifests.extend(staging.added(added).await?);
    let properties: HashMap<String, String> = [
        ("added-data-files", added_files.to_string()),
        ("added-records", added_records.to_string()),
        ("deleted-data-files", deleted_files.to_string()),
        ("deleted-records", deleted_records.to_string()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();
    let operation = match (deleted_files, added_files) {
        _ if compaction => Operation::Replace,
        (0, _) => Operation::Append,
        (_, 0) => Operation::Delete,
        _ => Operation::Overwrite,
    };
    staging.finish(manifests, Summary { operation, additional_properties: properties }).await
}
