//! Table upkeep: expiring old snapshots (and deleting the files only they
//! reached), rewriting manifests into one per partition spec, and finding
//! (and deleting) orphan files under the table's location that no snapshot
//! or metadata file references, such as the leftovers of killed writes.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iceberg::spec::Snapshot;
use iceberg::table::Table;

use super::commit::with_retries;
use super::{Error, Result};
use crate::catalog::{Lake, TableRef};

/// What expiring snapshots did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Expired {
    pub snapshots: usize,
    pub data_files: usize,
    pub manifests: usize,
    pub manifest_lists: usize,
}

/// The files a set of snapshots reaches.
#[derive(Default)]
struct Reached {
    manifest_lists: BTreeSet<String>,
    manifests: BTreeSet<String>,
    /// Live data and delete files.
    data_files: BTreeSet<String>,
}

async fn reached(table: &Table, snapshots: &[&Snapshot]) -> Result<Reached> {
    let iceberg_err = |e| Error::iceberg(table, e);
    let file_io = table.file_io();
    let mut found = Reached::default();
    let mut seen_manifests = HashSet::new();
    for snapshot in snapshots {
        found.manifest_lists.insert(snapshot.manifest_list().to_string());
        for manifest_file in &super::snapshot::manifests(table, snapshot).await? {
            found.manifests.insert(manifest_file.manifest_path.clone());
            if !seen_manifests.insert(manifest_file.manifest_path.clone()) {
                continue;
            }
            let manifest = manifest_file.load_manifest(file_io).await.map_err(iceberg_err)?;
            found.data_files.extend(manifest.entries().iter().filter(|e| e.is_alive()).map(|e| e.file_path().to_string()));
        }
    }
    Ok(found)
}

/// Snapshot ids branches and tags point at (kept whatever their age).
fn referenced(table: &Table) -> HashSet<i64> {
    let json = serde_json::to_value(table.metadata()).unwrap_or_default();
    json["refs"].as_object().map(|refs| refs.values().filter_map(|r| r["snapshot-id"].as_i64()).collect()).unwrap_or_default()
}

/// The snapshots to expire: older than `older_than_ms`, not among the
/// `retain_last` newest, not current, not named by a branch or tag.
fn expirable(table: &Table, older_than_ms: i64, retain_last: usize) -> Vec<i64> {
    let metadata = table.metadata();
    let keep = referenced(table);
    let mut snapshots: Vec<&Snapshot> = metadata.snapshots().map(|s| s.as_ref()).collect();
    // Commits in the same millisecond are ordered by their sequence numbers.
    snapshots.sort_by_key(|s| std::cmp::Reverse((s.timestamp_ms(), s.sequence_number())));
    snapshots
        .into_iter()
        .skip(retain_last.max(1))
        .filter(|s| s.timestamp_ms() < older_than_ms && !keep.contains(&s.snapshot_id()))
        .filter(|s| Some(s.snapshot_id()) != metadata.current_snapshot_id())
        .map(|s| s.snapshot_id())
        .collect()
}

async fn delete_all(table: &Table, paths: impl IntoIterator<Item = &String>) -> usize {
    let mut deleted = 0;
    for path in paths {
        match table.file_io().delete(path).await {
            Ok(()) => deleted += 1,
            Err(err) => tracing::warn!("deleting {path}: {err}"),
        }
    }
    deleted
}

/// Expires snapshots and deletes the files only they reached.
pub async fn expire_snapshots(lake: &Lake, table_ref: &TableRef, older_than_ms: i64, retain_last: usize) -> Result<Expired> {
    let before = lake.load(table_ref).await?;
    with_retries(|| async {
        let current = lake.load(table_ref).await?;
        let ids = expirable(&current, older_than_ms, retain_last);
        if !ids.is_empty() && !lake.remove_snapshots(table_ref, &current, &ids).await? {
            return Err(Error::Conflict);
        }
        Ok(0)
    })
    .await?;
    let after = lake.load(table_ref).await?;
    let remaining: HashSet<i64> = after.metadata().snapshots().map(|s| s.snapshot_id()).collect();
    let gone: Vec<&Snapshot> =
        before.metadata().snapshots().filter(|s| !remaining.contains(&s.snapshot_id())).map(|s| s.as_ref()).collect();
    if gone.is_empty() {
        return Ok(Expired::default());
    }
    let kept: Vec<&Snapshot> = after.metadata().snapshots().map(|s| s.as_ref()).collect();
    let (was, still) = (reached(&before, &gone).await?, reached(&after, &kept).await?);
    let manifest_lists = delete_all(&after, was.manifest_lists.difference(&still.manifest_lists)).await;
    let manifests = delete_all(&after, was.manifests.difference(&still.manifests)).await;
    let data_files = delete_all(&after, was.data_files.difference(&still.data_files)).await;
    Ok(Expired { snapshots: gone.len(), data_files, manifests, manifest_lists })
}

/// Every file the table's metadata references: metadata files (current and
/// logged), statistics, and what every snapshot reaches.
async fn referenced_files(table: &Table) -> Result<HashSet<String>> {
    let metadata = table.metadata();
    let snapshots: Vec<&Snapshot> = metadata.snapshots().map(|s| s.as_ref()).collect();
    let found = reached(table, &snapshots).await?;
    let mut files: HashSet<String> =
        found.manifest_lists.into_iter().chain(found.manifests).chain(found.data_files).collect();
    files.extend(metadata.metadata_log().iter().map(|log| log.metadata_file.clone()));
    files.extend(table.metadata_location().map(str::to_string));
    files.extend(metadata.statistics_iter().map(|s| s.statistics_path.clone()));
    Ok(files)
}

/// Orphan files under the table's location.
pub struct Orphans {
    pub files: Vec<String>,
    pub bytes: u64,
}

/// Files under the table's location that nothing references and that are
/// older than `older_than` (younger ones may belong to a write in flight);
/// deleted unless `dry_run`.
pub async fn orphan_files(lake: &Lake, table_ref: &TableRef, older_than: SystemTime, dry_run: bool) -> Result<Orphans> {
    let table = lake.load(table_ref).await?;
    let referenced = referenced_files(&table).await?;
    let normalise = |path: &str| path.trim_start_matches("file://").to_string();
    let referenced: HashSet<String> = referenced.iter().map(|p| normalise(p)).collect();
    let listed = super::listing::list(&table, table.metadata().location()).await?;
    let mut orphans = Orphans { files: Vec::new(), bytes: 0 };
    for (path, size, modified) in listed {
        if referenced.contains(&normalise(&path)) || modified.is_some_and(|m| m >= older_than) {
            continue;
        }
        orphans.bytes += size;
        orphans.files.push(path);
    }
    orphans.files.sort();
    if !dry_run {
        delete_all(&table, orphans.files.iter()).await;
    }
    Ok(orphans)
}

/// `now - duration` in Unix milliseconds.
pub fn millis_ago(duration: Duration) -> i64 {
    SystemTime::now().checked_sub(duration).and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as i64)
}

/// Rewrites the current snapshot's data manifests into one per partition
/// spec, in a `replace` snapshot over the same files; returns how many
/// manifests were rewritten and how many replace them.
pub async fn rewrite_manifests(lake: &Lake, table_ref: &TableRef) -> Result<(usize, usize)> {
    let counts = std::sync::Mutex::new((0, 0));
    with_retries(|| async {
        let table = lake.load(table_ref).await?;
        let Some((snapshot, rewritten, added)) = stage_manifests(&table).await? else { return Ok(0) };
        super::commit::publish(lake, table_ref, &table, snapshot).await?;
        *counts.lock().expect("counts") = (rewritten, added);
        Ok(0)
    })
    .await?;
    let counts = *counts.lock().expect("counts");
    Ok(counts)
}

async fn stage_manifests(table: &Table) -> Result<Option<(Snapshot, usize, usize)>> {
    use iceberg::spec::{ManifestContentType, Operation, Summary};
    let iceberg_err = |e| Error::iceberg(table, e);
    let metadata = table.metadata();
    let Some(current) = metadata.current_snapshot() else { return Ok(None) };
    let mut by_spec: std::collections::BTreeMap<i32, Vec<iceberg::spec::ManifestFile>> = Default::default();
    let mut kept = Vec::new();
    for manifest in super::snapshot::manifests(table, current).await? {
        match manifest.content {
            ManifestContentType::Data => by_spec.entry(manifest.partition_spec_id).or_default().push(manifest),
            ManifestContentType::Deletes => kept.push(manifest),
        }
    }
    if by_spec.values().all(|group| group.len() < 2) {
        return Ok(None);
    }
    let staging = super::snapshot::Staging::new(table);
    let (mut rewritten, mut added) = (0, 0);
    for (spec_id, group) in by_spec {
        if group.len() < 2 {
            kept.extend(group);
            continue;
        }
        let spec = metadata.partition_spec_by_id(spec_id).ok_or_else(|| Error::Unsupported(format!("unknown partition spec {spec_id}")))?;
        let mut writer = staging.manifest_writer(&format!("s{spec_id}"), spec)?;
        for manifest_file in group {
            rewritten += 1;
            let manifest = manifest_file.load_manifest(table.file_io()).await.map_err(iceberg_err)?;
            for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
                let added_by = entry.snapshot_id().unwrap_or(current.snapshot_id());
                let sequence = entry.sequence_number().unwrap_or_default();
                writer.add_existing_file(entry.data_file().clone(), added_by, sequence, entry.file_sequence_number).map_err(iceberg_err)?;
            }
        }
        kept.push(writer.write_manifest_file().await.map_err(iceberg_err)?);
        added += 1;
    }
    let summary = Summary {
        operation: Operation::Replace,
        additional_properties: [("manifests-replaced".to_string(), rewritten.to_string()), ("manifests-created".to_string(), added.to_string())]
            .into_iter()
            .collect(),
    };
    Ok(Some((staging.finish(kept, summary).await?, rewritten, added)))
}
