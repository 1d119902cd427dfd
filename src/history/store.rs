//! The history's file: finished records in a SQLite database in the data
//! directory, written by one background task (a statement never waits on
//! it) and trimmed to the retention period and the most queries kept.

use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use super::Record;

/// Records waiting to be written; past this they are dropped (and logged).
const QUEUE_DEPTH: usize = 4096;

/// Records written in one transaction when many queries finish at once.
const BATCH: usize = 256;

/// Trims run each time this many more records have been written.
const TRIM_EVERY: u64 = 100;

/// What the history file keeps: records younger than `retention`, at most
/// the newest `max_queries` of them (0: no count limit).
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    pub retention: Duration,
    pub max_queries: u64,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    queue: tokio::sync::mpsc::Sender<Record>,
}

impl Store {
    pub async fn open(path: &std::path::Path, kept: Kept) -> Result<Self, String> {
        install_default_drivers();
        let uri = format!("sqlite://{}?mode=rwc", path.display());
        // A commit per finished query in SQLite's default rollback journal
        // synced the disk each time: a fifth of the server's CPU for `SELECT 1`.
        // In WAL mode with NORMAL sync a crash can lose the last records, not
        // the file.
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .test_before_acquire(false)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *connection).await?;
                    sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *connection).await?;
                    Ok(())
                })
            })
            .connect(&uri)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        sqlx::query("CREATE TABLE IF NOT EXISTS queries (started_at BIGINT NOT NULL, record TEXT NOT NULL)")
            .execute(&pool)
            .await
            .map_err(|e| e.to_string())?;
        // Trimming to the retention period and loading the newest records
        // both go by start time; without the index each trim read the whole
        // file (56 MB after a few days of benchmarks, 7% of the server's CPU).
        sqlx::query("CREATE INDEX IF NOT EXISTS queries_by_start ON queries (started_at)")
            .execute(&pool)
            .await
            .map_err(|e| e.to_string())?;
        let (queue, records) = tokio::sync::mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(pool.clone(), records, kept));
        Ok(Self { pool, queue })
    }

    pub(super) fn keep(&self, record: Record) {
        if self.queue.try_send(record).is_err() {
            tracing::warn!("query history: the store is behind; a finished query was not recorded");
        }
    }

    /// The newest `limit` records, oldest first.
    pub(super) async fn recent(&self, limit: usize) -> Vec<Record> {
        let rows = sqlx::query("SELECT record FROM queries ORDER BY started_at DESC LIMIT ?")
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        let mut records: Vec<Record> =
            rows.iter().filter_map(|row| row.try_get::<String, _>(0).ok()).filter_map(|text| serde_json::from_str(&text).ok()).collect();
        records.reverse();
        records
    }
}

async fn write(pool: AnyPool, mut records: tokio::sync::mpsc::Receiver<Record>, kept: Kept) {
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    while records.recv_many(&mut batch, BATCH).await > 0 {
        if let Err(err) = insert(&pool, &batch).await {
            tracing::warn!(%err, records = batch.len(), "query history: cannot record finished queries");
        }
        let before = written;
        written += batch.len() as u64;
        batch.clear();
        if before == 0 || before / TRIM_EVERY != written / TRIM_EVERY {
            trim(&pool, kept).await;
        }
    }
}

async fn trim(pool: &AnyPool, kept: Kept) {
    let oldest = chrono::Utc::now().timestamp_millis() - kept.retention.as_millis() as i64;
    let _ = sqlx::query("DELETE FROM queries WHERE started_at < ?").bind(oldest).execute(pool).await;
    if kept.max_queries > 0 {
        // By insertion order (rowid), not start time: the newest rowid is one
        // index read away, while counting back by start time would walk
        // `max_queries` index entries on every trim.
        let _ = sqlx::query("DELETE FROM queries WHERE rowid <= (SELECT max(rowid) FROM queries) - ?")
            .bind(i64::try_from(kept.max_queries).unwrap_or(i64::MAX))
            .execute(pool)
            .await;
    }
}

/// One transaction for the records that finished while the last one was written.
async fn insert(pool: &AnyPool, records: &[Record]) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    for record in records {
        let Ok(text) = serde_json::to_string(record) else { continue };
        sqlx::query("INSERT INTO queries (started_at, record) VALUES (?, ?)")
            .bind(record.started_at)
            .bind(text)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await
}
