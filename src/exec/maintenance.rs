//! The maintenance procedures behind `CALL system.<procedure>(…)`: each
//! needs `write` on the table and reports what it did as named counts.

use std::time::{Duration, UNIX_EPOCH};

use super::row_changes::{only_files, pinned_relation};
use super::{Engine, Error, Result};
use crate::access::Principal;
use crate::catalog::TableRef;
use crate::proto::SessionDefaults;
use crate::sql::procedure::Call;
use crate::write::{self, maintenance};

/// A procedure's outcome: named counts, in order.
pub type Report = Vec<(&'static str, i64)>;

/// Snapshots younger than this stay unless `older_than` says otherwise (Spark's default).
const EXPIRE_AFTER: Duration = Duration::from_secs(5 * 86400);
/// Unreferenced files younger than this may belong to a write in flight.
const ORPHAN_AFTER: Duration = Duration::from_secs(3 * 86400);
/// Files below this share of the target size are compacted.
const SMALL_SHARE: f64 = 0.75;
const TARGET_FILE_BYTES: i64 = 512 << 20;

pub async fn call(engine: &Engine, call: &Call, table: &TableRef, session: &SessionDefaults, who: &Principal) -> Result<Report> {
    let lake = engine.lake();
    match call.procedure.as_str() {
        "expire_snapshots" => {
            call.only(&["older_than", "retain_last"])?;
            let older_than = call.timestamp_ms("older_than")?.unwrap_or_else(|| maintenance::millis_ago(EXPIRE_AFTER));
            let retain_last = call.number("retain_last")?.unwrap_or(1).max(1) as usize;
            let expired = maintenance::expire_snapshots(lake, table, older_than, retain_last).await?;
            Ok(vec![
                ("expired_snapshots_count", expired.snapshots as i64),
                ("deleted_data_files_count", expired.data_files as i64),
                ("deleted_manifest_files_count", expired.manifests as i64),
                ("deleted_manifest_lists_count", expired.manifest_lists as i64),
            ])
        }
        "remove_orphan_files" => {
            call.only(&["older_than", "dry_run"])?;
            let older_than = match call.timestamp_ms("older_than")? {
                Some(ms) => UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
                None => std::time::SystemTime::now() - ORPHAN_AFTER,
            };
            let dry_run = call.flag("dry_run")?.unwrap_or(false);
            let orphans = maintenance::orphan_files(lake, table, older_than, dry_run).await?;
            for file in &orphans.files {
                tracing::info!(table = %table, dry_run, "orphan file {file}");
            }
            let deleted = if dry_run { 0 } else { orphans.files.len() as i64 };
            Ok(vec![
                ("orphan_files_count", orphans.files.len() as i64),
                ("orphan_bytes", orphans.bytes as i64),
                ("deleted_files_count", deleted),
            ])
        }
        "rewrite_manifests" => {
            call.only(&[])?;
            let (rewritten, added) = maintenance::rewrite_manifests(lake, table).await?;
            Ok(vec![("rewritten_manifests_count", rewritten as i64), ("added_manifests_count", added as i64)])
        }
        "rewrite_data_files" => {
            call.only(&["target_file_size_bytes"])?;
            let target = call.number("target_file_size_bytes")?.unwrap_or(TARGET_FILE_BYTES).max(1);
            rewrite_data_files(engine, table, target, session, who).await
        }
        other => Err(Error::Unsupported(format!(
            "unknown procedure `system.{other}`: Floe has expire_snapshots, remove_orphan_files, rewrite_data_files and rewrite_manifests"
        ))),
    }
}

/// Bin-packs the table's small data files into files of the target size,
/// in one `replace` commit: the rows stay the same.
async fn rewrite_data_files(engine: &Engine, table: &TableRef, target: i64, session: &SessionDefaults, who: &Principal) -> Result<Report> {
    let loaded = engine.lake().load(table).await?;
    let Some(snapshot_id) = loaded.metadata().current_snapshot_id() else {
        return Ok(vec![("rewritten_data_files_count", 0), ("added_data_files_count", 0), ("rewritten_bytes_count", 0)]);
    };
    let reading = engine.plan(&format!("SELECT * FROM {}", pinned_relation(table, snapshot_id)), Vec::new(), session.clone(), who).await?;
    let mut small: Vec<(String, u64)> = engine
        .planned_files(&reading.ticket)
        .await?
        .into_values()
        .flat_map(|scan| scan.files)
        .filter(|(_, size)| (*size as f64) < target as f64 * SMALL_SHARE)
        .collect();
    small.sort();
    small.dedup();
    if small.len() < 2 {
        return Ok(vec![("rewritten_data_files_count", 0), ("added_data_files_count", 0), ("rewritten_bytes_count", 0)]);
    }
    let paths: Vec<String> = small.iter().map(|(path, _)| path.clone()).collect();
    let bytes: u64 = small.iter().map(|(_, size)| size).sum();
    let (_, rows) = engine.execute(&only_files(&reading.ticket, table, snapshot_id, &paths), who).await?;
    let written = write::write_data_files_sized(&loaded, super::dml::rows_to_write(rows), target as usize).await?;
    let added = written.files.len() as i64;
    write::replace_files_as_compaction(engine.lake(), table, paths.clone(), written.files).await?;
    Ok(vec![("rewritten_data_files_count", paths.len() as i64), ("added_data_files_count", added), ("rewritten_bytes_count", bytes as i64)])
}
