//! Anonymous results: rows too many to answer inline are written as one
//! Parquet file under `--results-location` (a local directory, or
//! `s3://bucket/prefix`) and kept for the retention period; a signed,
//! expiring link names the file. As in Polars on-premises, nothing but
//! the link knows the file, and expired files are deleted.
//!
//! Files live under the hour their retention ends (`<root>/<hour>/<id>.parquet`),
//! so whole expired hours are removed without listing a bucket, even after a
//! restart forgot what the previous process wrote.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use iceberg::io::FileIO;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("result storage at {location}: {message}")]
    Storage { location: String, message: String },
    #[error("the result expired and was deleted: run the workload again")]
    Gone,
    /// The rows being stored failed upstream; the source keeps its own kind.
    #[error(transparent)]
    Input(BoxError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// How far back a starting server looks for expired hours a previous
/// process left behind.
const SWEEP_BACK_HOURS: i64 = 24 * 7;

/// Bytes buffered before a part goes to storage.
const UPLOAD_PART_BYTES: usize = 8 << 20;

/// A result written to storage.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Path below the results location: `<hour>/<id>.parquet`.
    pub path: String,
    pub rows: u64,
    /// Unix seconds after which the result is gone.
    pub expires_at: i64,
}

impl Stored {
    /// How long the result has left (at least a second): what its links and tickets live.
    pub fn time_left(&self) -> Duration {
        Duration::from_secs((self.expires_at - now_unix()).max(1) as u64)
    }
}

pub struct ResultStore {
    /// Rows an answer holds before its result is stored instead.
    inline_rows: usize,
    root: String,
    file_io: FileIO,
    local_root: Option<PathBuf>,
    retention: Duration,
    /// Files this process wrote, by the second they expire: deleted on time.
    written: Mutex<BTreeMap<i64, Vec<String>>>,
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

fn hour_of(unix: i64) -> i64 {
    unix.div_euclid(3600)
}

/// Paths from links are the server's own words (links are signed), but are
/// checked anyway: nothing may climb out of the results location.
fn checked(path: &str) -> Result<&str> {
    let valid = path.split('/').count() == 2
        && path.split('/').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        && !path.contains("..");
    if valid {
        Ok(path)
    } else {
        Err(Error::Gone)
    }
}

impl ResultStore {
    /// `location`: none for `local_dir`, or a directory or `s3://bucket/prefix`
    /// reached with `props` (FileIO's `s3.*`).
    pub fn new(
        location: Option<&str>,
        local_dir: PathBuf,
        props: std::collections::HashMap<String, String>,
        retention: Duration,
        inline_rows: usize,
    ) -> Self {
        let (root, local_root) = match location {
            Some(location) if location.contains("://") => (location.trim_end_matches('/').to_string(), None),
            Some(dir) => (dir.trim_end_matches('/').to_string(), Some(PathBuf::from(dir))),
            None => (local_dir.display().to_string(), Some(local_dir)),
        };
        let factory = crate::catalog::storage::factory_for(Some(&root));
        let file_io = iceberg::io::FileIOBuilder::new(factory).with_props(props).build();
        Self { inline_rows: inline_rows.max(1), root, file_io, local_root, retention, written: Mutex::new(BTreeMap::new()) }
    }

    /// Rows an answer holds inline; larger results are stored.
    pub fn inline_rows(&self) -> usize {
        self.inline_rows
    }

    fn storage_error(&self, message: impl std::fmt::Display) -> Error {
        Error::Storage { location: self.root.clone(), message: message.to_string() }
    }

    /// Writes `head` and then the rest of `rows` as one Parquet file.
    pub async fn write<E>(
        &self,
        schema: SchemaRef,
        head: Vec<RecordBatch>,
        rows: impl Stream<Item = std::result::Result<RecordBatch, E>> + Send + Unpin,
    ) -> Result<Stored>
    where
        E: Into<BoxError>,
    {
        let expires_at = now_unix() + self.retention.as_secs() as i64;
        let path = format!("{}/{}.parquet", hour_of(expires_at) + 1, uuid::Uuid::new_v4());
        if let Some(dir) = &self.local_root {
            let hour_dir = dir.join(path.split('/').next().unwrap_or_default());
            tokio::fs::create_dir_all(&hour_dir).await.map_err(|e| self.storage_error(e))?;
        }
        let output = self.file_io.new_output(self.full(&path)).map_err(|e| self.storage_error(e))?;
        let mut upload = output.writer().await.map_err(|e| self.storage_error(e))?;
        let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
        let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties)).map_err(|e| self.storage_error(e))?;
        let mut stored = 0u64;
        let mut rows = futures::stream::iter(head.into_iter().map(Ok)).chain(rows.map(|batch| batch.map_err(Into::into)));
        while let Some(batch) = rows.next().await {
            let batch = batch.map_err(Error::Input)?;
            stored += batch.num_rows() as u64;
            writer.write(&batch).map_err(|e| self.storage_error(e))?;
            if writer.inner().len() >= UPLOAD_PART_BYTES {
                let part = std::mem::take(writer.inner_mut());
                upload.write(Bytes::from(part)).await.map_err(|e| self.storage_error(e))?;
            }
        }
        let rest = writer.into_inner().map_err(|e| self.storage_error(e))?;
        upload.write(Bytes::from(rest)).await.map_err(|e| self.storage_error(e))?;
        upload.close().await.map_err(|e| self.storage_error(e))?;
        self.written.lock().expect("results index").entry(expires_at).or_default().push(path.clone());
        Ok(Stored { path, rows: stored, expires_at })
    }

    fn full(&self, path: &str) -> String {
        format!("{}/{path}", self.root)
    }

    /// The stored file's bytes (Parquet), or `Gone` once it was deleted.
    pub async fn read(&self, path: &str) -> Result<Bytes> {
        let input = self.file_io.new_input(self.full(checked(path)?)).map_err(|e| self.storage_error(e))?;
        if !input.exists().await.map_err(|e| self.storage_error(e))? {
            return Err(Error::Gone);
        }
        input.read().await.map_err(|e| self.storage_error(e))
    }

    /// The stored result's rows.
    pub async fn read_batches(&self, path: &str) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let bytes = self.read(path).await?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|builder| builder.build())
            .map_err(|e| self.storage_error(e))?;
        let schema = arrow::array::RecordBatchReader::schema(&reader);
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.storage_error(e))?;
        Ok((schema, batches))
    }

    /// Deletes what expired: files this process wrote, on time, and whole
    /// hours past (those earlier processes wrote included).
    async fn sweep(&self, hours_back: i64) {
        let now = now_unix();
        let due: Vec<String> = {
            let mut written = self.written.lock().expect("results index");
            let later = written.split_off(&(now + 1));
            std::mem::replace(&mut *written, later).into_values().flatten().collect()
        };
        for path in due {
            if let Err(err) = self.file_io.delete(self.full(&path)).await {
                tracing::warn!("deleting expired result {path}: {err}");
            }
        }
        let current = hour_of(now);
        for hour in (current - hours_back)..=current {
            let prefix = self.full(&hour.to_string());
            let result = match &self.local_root {
                Some(_) => match tokio::fs::remove_dir_all(&prefix).await {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.to_string()),
                    _ => Ok(()),
                },
                None => self.file_io.delete_prefix(format!("{prefix}/")).await.map_err(|e| e.to_string()),
            };
            if let Err(err) = result {
                tracing::warn!("deleting expired results under {prefix}: {err}");
            }
        }
    }

    /// Deletes expired results for as long as the server runs.
    pub fn spawn_sweeper(self: Arc<Self>) {
        let every = (self.retention / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            self.sweep(SWEEP_BACK_HOURS).await;
            loop {
                tokio::time::sleep(every).await;
                self.sweep(1).await;
            }
        });
    }
}

/// `90`, `90s`, `15m`, `24h` or `7d`.
pub fn parse_retention(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 90s, 15m, 24h or 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(number * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_units_and_paths_cannot_escape() {
        assert_eq!(parse_retention("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_retention("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_retention("24h").unwrap(), Duration::from_secs(86400));
        assert!(parse_retention("1w").is_err() && parse_retention("h").is_err());
        assert!(checked("123/abc.parquet").is_ok());
        assert!(checked("../etc/passwd").is_err() && checked("123/../../x").is_err() && checked("/x").is_err());
    }
}
