//! Atomic commits of written data files. Appends use iceberg's fast-append;
//! overwrite (which iceberg-rust 0.10 does not offer) is a snapshot built here
//! from the spec types and published with the catalog's compare-and-set. Both
//! retry when another writer commits first, so concurrent writers lose nothing.

use std::collections::HashMap;
use std::time::Duration;

use iceberg::spec::{DataContentType, DataFile, FormatVersion, ManifestContentType, Operation, Snapshot, Summary};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::ErrorKind;

use super::snapshot::{self, Staging};
use super::{Error, Result};
use crate::catalog::{Lake, TableRef};

tokio::task_local! {
    /// The snapshots committed by the statement running in this task.
    static COMMITTED: std::cell::RefCell<Vec<i64>>;
}

/// Runs `work` and answers, with its output, the snapshots it committed (in
/// order), so a statement's record can name them without every write path
/// passing them back.
pub async fn noting_commits<T>(work: impl std::future::Future<Output = T>) -> (T, Vec<i64>) {
    COMMITTED
        .scope(Default::default(), async move {
            let output = work.await;
            (output, COMMITTED.with(|committed| committed.take()))
        })
        .await
}

/// Enough for dozens of concurrent writers on one table.
const MAX_ATTEMPTS: u32 = 40;

async fn back_off(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let jitter = rand::random::<u64>() % base;
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

fn is_conflict(err: &Error) -> bool {
    matches!(err, Error::Iceberg { source, .. } if source.kind() == ErrorKind::CatalogCommitConflicts || source.retryable())
        || matches!(err, Error::Conflict)
}

/// Runs `attempt_commit` again, after a back-off, while another writer's
/// commit wins; the outcome and the retries it took.
pub(super) async fn retrying<T, F, Fut>(mut attempt_commit: F) -> (Result<T>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match attempt_commit().await {
            Err(err) if is_conflict(&err) && attempt + 1 < MAX_ATTEMPTS => {
                attempt += 1;
                crate::telemetry::metrics::metrics().commit_retries.add(1, &[]);
                back_off(attempt).await;
            }
            Err(err) if is_conflict(&err) => return (Err(Error::TooManyConflicts(MAX_ATTEMPTS)), attempt),
            outcome => return (outcome, attempt),
        }
    }
}

pub(super) async fn with_retries<F, Fut>(attempt_commit: F) -> Result<i64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<i64>>,
{
    use tracing::Instrument;
    let metrics = crate::telemetry::metrics::metrics();
    let span = tracing::info_span!(target: "floe::write", "commit", retries = tracing::field::Empty, snapshot_id = tracing::field::Empty);
    let (outcome, attempt) = retrying(attempt_commit).instrument(span.clone()).await;
    span.record("retries", attempt as i64);
    if let Ok(snapshot_id) = &outcome {
        span.record("snapshot_id", *snapshot_id);
        let _ = COMMITTED.try_with(|committed| committed.borrow_mut().push(*snapshot_id));
    }
    metrics.commits.add(1, &crate::telemetry::metrics::label("outcome", if outcome.is_ok() { "ok" } else { "failed" }));
    outcome
}

/// A concurrent request with the same idempotency key may have won the race.
fn already_committed(table: &Table, properties: &HashMap<String, String>) -> Option<i64> {
    let key = properties.get(super::IDEMPOTENCY_KEY)?;
    super::committed_with_key(table, key).map(|outcome| outcome.snapshot_id)
}

pub async fn append(lake: &Lake, table_ref: &TableRef, files: Vec<DataFile>, properties: HashMap<String, String>) -> Result<i64> {
    if files.is_empty() {
        // Nothing to add: no snapshot, the table stays as it is.
        let table = lake.load(table_ref).await?;
        return Ok(table.metadata().current_snapshot_id().unwrap_or_default());
    }
    let catalog = lake.catalog(&table_ref.catalog)?.clone();
    with_retries(|| {
        let (files, properties, catalog) = (files.clone(), properties.clone(), catalog.clone());
        async move {
            let table = lake.load(table_ref).await?;
            if let Some(done) = already_committed(&table, &properties) {
                return Ok(done);
            }
            let iceberg_err = |e| Error::iceberg(&table, e);
            let tx = Transaction::new(&table);
            let action = tx.fast_append().add_data_files(files).set_snapshot_properties(properties);
            let committed = action.apply(tx).map_err(iceberg_err)?.commit(catalog.as_ref()).await.map_err(iceberg_err)?;
            Ok(committed.metadata().current_snapshot_id().unwrap_or_default())
        }
    })
    .await
}

pub async fn overwrite(
    lake: &Lake,
    table_ref: &TableRef,
    files: Vec<DataFile>,
    properties: HashMap<String, String>,
) -> Result<i64> {
    with_retries(|| {
        let (files, properties) = (files.clone(), properties.clone());
        async move {
            let table = lake.load(table_ref).await?;
            if let Some(done) = already_committed(&table, &properties) {
                return Ok(done);
            }
            let snapshot = stage_overwrite(&table, files, properties).await?;
            publish(lake, table_ref, &table, snapshot).await
        }
    })
    .await
}

/// Publishes a staged snapshot on `table`; losing the race to another
/// commit is a conflict, which `with_retries` retries from the new state.
pub(super) async fn publish(lake: &Lake, table_ref: &TableRef, table: &Table, snapshot: Snapshot) -> Result<i64> {
    let snapshot_id = snapshot.snapshot_id();
    if lake.publish_snapshot(table_ref, table, snapshot).await? {
        Ok(snapshot_id)
    } else {
        Err(Error::Conflict)
    }
}

/// Writes the manifests and manifest list of an overwrite snapshot; the
/// catalog publishes it (see `Lake::publish_snapshot`).
async fn stage_overwrite(table: &Table, files: Vec<DataFile>, mut properties: HashMap<String, String>) -> Result<Snapshot> {
    let iceberg_err = |e| Error::iceberg(table, e);
    let metadata = table.metadata();
    if metadata.format_version() == FormatVersion::V1 {
        return Err(Error::Unsupported(format!("overwriting format-v1 table `{}` is not supported", table.identifier())));
    }
    let staging = Staging::new(table);
    let added_records: u64 = files.iter().map(DataFile::record_count).sum();
    let added_files = files.len();
    let mut manifests: Vec<_> = staging.added(files).await?.into_iter().collect();

    // Record the replaced files as deleted, so incremental readers see what changed.
    let (mut deleted_files, mut deleted_records) = (0usize, 0u64);
    let mut writer = staging.manifest_writer("m1", metadata.default_partition_spec())?;
    // Files of older partition specs stay out of this bookkeeping manifest,
    // which has one spec; the new snapshot drops them all the same.
    let default_spec = metadata.default_partition_spec_id();
    for manifest_file in snapshot::current_manifests(table)
        .await?
        .iter()
        .filter(|m| m.content == ManifestContentType::Data && m.partition_spec_id == default_spec)
    {
        let manifest = manifest_file.load_manifest(table.file_io()).await.map_err(iceberg_err)?;
        for entry in manifest.entries().iter().filter(|e| e.is_alive() && e.data_file.content_type() == DataContentType::Data) {
            deleted_files += 1;
            deleted_records += entry.data_file.record_count();
            let sequence = entry.sequence_number.unwrap_or_default();
            writer.add_delete_file(entry.data_file.clone(), sequence, entry.file_sequence_number).map_err(iceberg_err)?;
        }
    }
    if deleted_files > 0 {
        manifests.push(writer.write_manifest_file().await.map_err(iceberg_err)?);
    }

    for (key, value) in [
        ("added-data-files", added_files.to_string()),
        ("added-records", added_records.to_string()),
        ("deleted-data-files", deleted_files.to_string()),
        ("deleted-records", deleted_records.to_string()),
    ] {
        properties.insert(key.to_string(), value);
    }
    staging.finish(manifests, Summary { operation: Operation::Overwrite, additional_properties: properties }).await
}
