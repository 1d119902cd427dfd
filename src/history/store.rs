//! The history's file: finished records in a SQLite database in the data
//! directory, written by one background task (a statement never waits on
//! it) and trimmed to the retention period and the most queries kept.

use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use super::Record;

/// Records waiting to be written; past this they are dropped (and logged).
const QUEUE_DEPTH: usize = 4096;

/// Records written in one statement when many queries finish at once (two
/// parameters each, well under SQLite's 32,766).
const BATCH: usize = 256;

/// Trims run each time this many more records have been written.
const TRIM_EVERY: u64 = 100;

/// Records finishing within this long of the first one waiting are written
/// with it: each statement is a round trip to sqlx's connection thread, which
/// a query finishing alone paid for itself (3 of `SELECT 1`'s 14 thread
/// switches). A flush (at shutdown) writes at once.
const LINGER: Duration = Duration::from_millis(50);

enum Message {
    Finished(Record),
    /// Write what is waiting, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

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
    queue: tokio::sync::mpsc::Sender<Message>,
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
        if self.queue.try_send(Message::Finished(record)).is_err() {
            tracing::warn!("query history: the store is behind; a finished query was not recorded");
        }
    }

    /// Writes the records waiting to be written (the server stopping).
    pub async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
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

async fn write(pool: AnyPool, mut messages: tokio::sync::mpsc::Receiver<Message>, kept: Kept) {
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    while messages.recv_many(&mut batch, BATCH).await > 0 {
        linger(&mut messages, &mut batch).await;
        let mut flushes = Vec::new();
        let records: Vec<Record> = batch
            .drain(..)
            .filter_map(|message| match message {
                Message::Finished(record) => Some(record),
                Message::Flush(done) => {
                    flushes.push(done);
                    None
                }
            })
            .collect();
        if let Err(err) = insert(&pool, &records).await {
            tracing::warn!(%err, records = records.len(), "query history: cannot record finished queries");
        }
        let before = written;
        written += records.len() as u64;
        if !records.is_empty() && (before == 0 || before / TRIM_EVERY != written / TRIM_EVERY) {
            trim(&pool, kept).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Adds what arrives within [`LINGER`] to `batch`, until it is full or asks for a flush.
async fn linger(messages: &mut tokio::sync::mpsc::Receiver<Message>, batch: &mut Vec<Message>) {
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < BATCH && !batch.iter().any(|message| matches!(message, Message::Flush(_))) {
        match tokio::time::timeout_at(deadline, messages.recv_many(batch, BATCH - batch.len())).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
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

/// The records that finished while the last ones were written, as one
/// statement: SQLite applies a statement whole, and each statement is a round
/// trip to sqlx's connection thread, so BEGIN, an INSERT per record and COMMIT
/// cost a record written alone three where this costs one (a `SELECT 1`
/// switched threads 36 times, now 32).
async fn insert(pool: &AnyPool, records: &[Record]) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, String)> =
        records.iter().filter_map(|record| Some((record.started_at, serde_json::to_string(record).ok()?))).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut statement = sqlx::QueryBuilder::<sqlx::Any>::new("INSERT INTO queries (started_at, record) ");
    statement.push_values(rows, |mut row, (started_at, text)| {
        row.push_bind(started_at).push_bind(text);
    });
    statement.build().execute(pool).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(n: u64) -> Record {
        serde_json::from_value(serde_json::json!({
            "query_id": format!("q{n}"), "state": "finished", "protocol": "flight", "kind": "SELECT",
            "sql": format!("SELECT {n}"), "principal": "", "client": "", "tables": [],
            "started_at": 1_700_000_000_000i64 + n as i64, "elapsed_ms": 1, "rows": n, "bytes": 0,
            "code": null, "error": null, "trace_id": null,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn queries_finishing_together_are_written_whole_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let kept = Kept { retention: Duration::from_secs(u32::MAX.into()), max_queries: 0 };
        let store = Store::open(&dir.path().join("history.db"), kept).await.unwrap();
        // A full batch, then a partial one: the two statements the writer would send.
        let records: Vec<Record> = (1..=BATCH as u64 + 44).map(finished).collect();
        for batch in records.chunks(BATCH) {
            insert(&store.pool, batch).await.unwrap();
        }
        let read = store.recent(1000).await;
        assert_eq!(read.iter().map(|r| r.rows).collect::<Vec<_>>(), (1..=BATCH as u64 + 44).collect::<Vec<_>>());
        assert_eq!(read[0].sql, "SELECT 1");
    }

    #[tokio::test]
    async fn a_flush_writes_what_lingers() {
        let dir = tempfile::tempdir().unwrap();
        let kept = Kept { retention: Duration::from_secs(u32::MAX.into()), max_queries: 0 };
        let store = Store::open(&dir.path().join("history.db"), kept).await.unwrap();
        for n in 1..=3 {
            store.keep(finished(n));
        }
        store.flush().await;
        assert_eq!(store.recent(10).await.iter().map(|r| r.rows).collect::<Vec<_>>(), vec![1, 2, 3]);
    }
}
