//! Hash shuffles for joins of two large tables: each side's file partitions
//! run on workers (the map stage), which hash their rows by the join keys
//! into one Arrow IPC file per bucket on local disk; reduce partition `b`
//! then reads bucket `b` of both sides from every worker that holds some, so
//! matching keys meet on one worker.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use prost::Message;

use super::{Cluster, Error};
use crate::proto::{QueryTicket, ShuffleFetch, ShuffleInput, ShuffleMap};

pub const MAP_ACTION: &str = "floe.cluster.shuffle_map";
pub const FETCH_TICKET_TYPE: &str = "type.googleapis.com/floe.v1.ShuffleFetch";

/// Where map tasks leave their buckets: the worker's local disk (served to
/// reducers over Flight), or object storage (read by reducers directly, so a
/// map output outlives the worker that wrote it).
pub enum ShuffleStore {
    Local(PathBuf),
    Object { location: String, file_io: iceberg::io::FileIO },
}

impl ShuffleStore {
    /// `location`: none for `local_dir`, or an `s3://bucket/prefix` reached with `props` (FileIO's `s3.*`).
    pub fn new(location: Option<&str>, local_dir: PathBuf, props: std::collections::HashMap<String, String>) -> Self {
        match location {
            Some(location) if location.contains("://") => {
                let factory = crate::catalog::storage::factory_for(Some(location));
                let file_io = iceberg::io::FileIOBuilder::new(factory).with_props(props).build();
                ShuffleStore::Object { location: location.trim_end_matches('/').to_string(), file_io }
            }
            Some(dir) => ShuffleStore::Local(PathBuf::from(dir)),
            None => ShuffleStore::Local(local_dir),
        }
    }

    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            ShuffleStore::Local(dir) => Some(dir),
            ShuffleStore::Object { .. } => None,
        }
    }
}

/// Shuffle files older than this belong to finished queries.
const KEEP_SECONDS: u64 = 3600;

/// FNV-1a over a key's normalised bytes: the same on every worker and
/// process, for both sides of the join (integers of any width hash alike).
fn bucket_of_rows(keys: &[ArrayRef], rows: usize, buckets: u32) -> Result<Vec<u32>, arrow::error::ArrowError> {
    let normalised: Vec<ArrayRef> = keys
        .iter()
        .map(|key| match key.data_type() {
            t if t.is_integer() => arrow::compute::cast(key, &DataType::Int64),
            DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                arrow::compute::cast(key, &DataType::Float64)
            }
            _ => arrow::compute::cast(key, &DataType::Utf8),
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let mut hasher = Fnv(0xcbf29ce484222325);
        for key in &normalised {
            if key.is_null(row) {
                hasher.write(&[0xff]);
                continue;
            }
            match key.data_type() {
                DataType::Int64 => hasher.write(&key.as_primitive::<arrow::datatypes::Int64Type>().value(row).to_le_bytes()),
                DataType::Float64 => {
                    let value = key.as_primitive::<arrow::datatypes::Float64Type>().value(row);
                    let value = if value == 0.0 { 0.0 } else { value };
                    hasher.write(&value.to_bits().to_le_bytes())
                }
                _ => hasher.write(key.as_string::<i32>().value(row).as_bytes()),
            }
        }
        out.push((hasher.finish() % buckets as u64) as u32);
    }
    Ok(out)
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= *byte as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
}

/// Shuffle ids become file and object names: nothing that could climb out.
fn checked_id(shuffle_id: &str) -> Result<&str, Error> {
    if shuffle_id.is_empty() || !shuffle_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::Final(format!("invalid shuffle id `{shuffle_id}`")));
    }
    Ok(shuffle_id)
}

fn shuffle_dir(root: &Path, shuffle_id: &str) -> Result<PathBuf, Error> {
    Ok(root.join(checked_id(shuffle_id)?))
}

/// Removes shuffles of queries long finished.
fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let old = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if old.is_some_and(|age| age.as_secs() > KEEP_SECONDS) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A bucket file being written: straight to local disk, or buffered for
/// one upload to object storage.
enum Sink {
    File(FileWriter<std::fs::File>),
    Object(FileWriter<Vec<u8>>, String),
}

/// The worker's map task: runs the fragment and writes its rows, by bucket.
/// Returns the rows written and where a reducer finds them: empty for this
/// worker (over Flight), or the object prefix `<location>/<shuffle>/<task>`.
pub async fn run_map(engine: &crate::exec::Engine, store: &ShuffleStore, request: ShuffleMap) -> Result<(u64, String), Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Final(format!("shuffle map: {e}"));
    let fragment = request.fragment.ok_or_else(|| Error::Final("shuffle map without a fragment".into()))?;
    let buckets = request.buckets.max(1);
    let (schema, mut batches) = engine.execute(&fragment).await.map_err(|e| fail(&e))?;
    let key_indexes: Vec<usize> = request
        .keys
        .iter()
        .map(|key| schema.index_of(key).map_err(|_| fail(&format!("no column `{key}` to shuffle by"))))
        .collect::<Result<_, _>>()?;
    let task = uuid::Uuid::new_v4();
    checked_id(&request.shuffle_id)?;
    let prefix = match store {
        ShuffleStore::Local(root) => {
            sweep(root);
            let dir = shuffle_dir(root, &request.shuffle_id)?;
            std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
            format!("{}/{task}", dir.display())
        }
        ShuffleStore::Object { location, .. } => format!("{location}/{}/{task}", request.shuffle_id),
    };
    let mut sinks: Vec<Sink> = (0..buckets)
        .map(|bucket| {
            let path = format!("{prefix}-{bucket}.arrow");
            match store {
                ShuffleStore::Local(_) => {
                    let file = std::fs::File::create(&path).map_err(|e| fail(&e))?;
                    Ok(Sink::File(FileWriter::try_new(file, &schema).map_err(|e| fail(&e))?))
                }
                ShuffleStore::Object { .. } => Ok(Sink::Object(FileWriter::try_new(Vec::new(), &schema).map_err(|e| fail(&e))?, path)),
            }
        })
        .collect::<Result<_, Error>>()?;
    let mut rows = 0u64;
    while let Some(batch) = batches.try_next().await.map_err(|e| fail(&e))? {
        let keys: Vec<ArrayRef> = key_indexes.iter().map(|i| batch.column(*i).clone()).collect();
        let assigned = bucket_of_rows(&keys, batch.num_rows(), buckets).map_err(|e| fail(&e))?;
        for (bucket, sink) in sinks.iter_mut().enumerate() {
            let indexes: UInt32Array =
                assigned.iter().enumerate().filter(|(_, b)| **b == bucket as u32).map(|(row, _)| row as u32).collect();
            if indexes.is_empty() {
                continue;
            }
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .map(|column| arrow::compute::take(column, &indexes, None))
                .collect::<Result<_, _>>()
                .map_err(|e| fail(&e))?;
            let part = RecordBatch::try_new(batch.schema(), columns).map_err(|e| fail(&e))?;
            match sink {
                Sink::File(writer) => writer.write(&part),
                Sink::Object(writer, _) => writer.write(&part),
            }
            .map_err(|e| fail(&e))?;
        }
        rows += batch.num_rows() as u64;
    }
    for sink in sinks {
        match sink {
            Sink::File(mut writer) => writer.finish().map_err(|e| fail(&e))?,
            Sink::Object(writer, path) => {
                let ShuffleStore::Object { file_io, .. } = store else { unreachable!("object sinks need an object store") };
                let bytes = writer.into_inner().map_err(|e| fail(&e))?;
                file_io.new_output(&path).map_err(|e| fail(&e))?.write(bytes.into()).await.map_err(|e| fail(&e))?;
            }
        }
    }
    Ok((rows, if matches!(store, ShuffleStore::Object { .. }) { prefix } else { String::new() }))
}

/// A bucket's rows on this worker (every map task's file for it).
pub fn read_bucket(root: &Path, request: &ShuffleFetch) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Final(format!("shuffle fetch: {e}"));
    let dir = shuffle_dir(root, &request.shuffle_id)?;
    let suffix = format!("-{}.arrow", request.bucket);
    let mut schema = None;
    let mut batches = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| fail(&format!("shuffle `{}` is not on this worker: {e}", request.shuffle_id)))?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(&suffix))
        .collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let reader = arrow::ipc::reader::FileReader::try_new(std::fs::File::open(entry.path()).map_err(|e| fail(&e))?, None)
            .map_err(|e| fail(&e))?;
        schema.get_or_insert_with(|| reader.schema());
        for batch in reader {
            batches.push(batch.map_err(|e| fail(&e))?);
        }
    }
    let schema = schema.ok_or_else(|| fail(&format!("bucket {} of `{}` has no files here", request.bucket, request.shuffle_id)))?;
    Ok((schema, batches))
}

pub fn fetch_ticket(shuffle_id: &str, bucket: u32) -> Vec<u8> {
    let fetch = ShuffleFetch { shuffle_id: shuffle_id.to_string(), bucket };
    arrow_flight::sql::Any { type_url: FETCH_TICKET_TYPE.into(), value: fetch.encode_to_vec().into() }.encode_to_vec()
}

/// The reduce side: bucket `input.bucket` from every source (a worker, or
/// a map task's object prefix), concatenated.
pub async fn fetch_input(input: &ShuffleInput, token: Option<&str>, store: &ShuffleStore) -> Result<Vec<RecordBatch>, Error> {
    let ticket = fetch_ticket(&input.shuffle_id, input.bucket);
    let fetches = input.sources.iter().map(|source| {
        let ticket = ticket.clone();
        async move {
            if !source.contains("://") {
                return super::gather::fetch_ticket_from(source, ticket, token).await;
            }
            let ShuffleStore::Object { file_io, .. } = store else {
                return Err(Error::Final(format!("shuffle output {source} is in object storage; start this node with --shuffle-location")));
            };
            let path = format!("{source}-{}.arrow", input.bucket);
            let fail = |e: &dyn std::fmt::Display| Error::Worker { worker: path.clone(), message: e.to_string() };
            let bytes = file_io.new_input(&path).map_err(|e| fail(&e))?.read().await.map_err(|e| fail(&e))?;
            let reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None).map_err(|e| fail(&e))?;
            let schema = reader.schema();
            let mut batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| fail(&e))?;
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            Ok(batches)
        }
    });
    let parts = futures::future::try_join_all(fetches).await?;
    Ok(parts.into_iter().flatten().collect())
}

/// One side of a shuffled join, as the coordinator plans it.
#[derive(Debug, Clone)]
pub struct Side {
    pub relation: String,
    pub keys: Vec<String>,
    pub files: Vec<(String, u64)>,
}

/// The map stage on the coordinator: each side's file partitions on the
/// workers (a failed map task runs on another worker); returns each side's
/// shuffle id and the workers holding its outputs.
pub async fn run_map_stage(
    cluster: &Arc<Cluster>,
    ticket: &QueryTicket,
    sides: &[Side],
    workers: &[String],
    buckets: u32,
) -> Result<Vec<(String, Vec<String>)>, Error> {
    let mut outputs = Vec::new();
    for (side_index, side) in sides.iter().enumerate() {
        let shuffle_id = format!("{}-s{side_index}", ticket.query_id.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
        let partitions = super::plan::balance(&side.files, workers.len());
        let tasks = partitions.into_iter().enumerate().map(|(index, files)| {
            let mut fragment = ticket.clone();
            fragment.sql = format!("SELECT * FROM {}", quoted(&side.relation));
            fragment.query_id = format!("{shuffle_id}-m{index}");
            fragment.tables.retain(|pin| pin.relation == side.relation);
            for pin in &mut fragment.tables {
                pin.partitioned = true;
                pin.files = files.clone();
            }
            let request = ShuffleMap { fragment: Some(fragment), keys: side.keys.clone(), buckets, shuffle_id: shuffle_id.clone() };
            let first = super::gather::round_robin(workers, index);
            async move { map_with_retries(cluster, index, request, first).await }
        });
        let mut holders: Vec<String> = futures::stream::iter(tasks).buffer_unordered(workers.len().max(1)).try_collect().await?;
        holders.sort();
        holders.dedup();
        outputs.push((shuffle_id, holders));
    }
    Ok(outputs)
}

fn quoted(relation: &str) -> String {
    relation.split('.').map(|part| format!("\"{}\"", part.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

/// One map task, on `first` or (when it fails or hangs) another worker;
/// answers where its output is: the worker, or the object prefix the map
/// task names when its store is object storage.
async fn map_with_retries(cluster: &Arc<Cluster>, index: usize, request: ShuffleMap, first: Option<String>) -> Result<String, Error> {
    let token = cluster.config().token.clone();
    let body = request.encode_to_vec();
    let (worker, _, bodies) = super::gather::on_some_worker(cluster, "shuffle map", index, first, |worker| {
        let (body, token) = (body.clone(), token.clone());
        async move { super::gather::action_on(&worker, MAP_ACTION, body, token.as_deref()).await }
    })
    .await?;
    let source = bodies
        .first()
        .and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok())
        .and_then(|answer| answer["source"].as_str().map(str::to_string))
        .filter(|source| !source.is_empty());
    Ok(source.unwrap_or(worker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_of_different_integer_widths_land_in_the_same_bucket() {
        let narrow: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![1, 2, 3, 40_000]));
        let wide: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3, 40_000]));
        assert_eq!(bucket_of_rows(&[narrow], 4, 7).unwrap(), bucket_of_rows(&[wide], 4, 7).unwrap());
        let spread = bucket_of_rows(&[Arc::new(arrow::array::Int64Array::from((0..1000).collect::<Vec<i64>>()))], 1000, 4).unwrap();
        for bucket in 0..4 {
            let share = spread.iter().filter(|b| **b == bucket).count();
            assert!((150..350).contains(&share), "bucket {bucket}: {share}");
        }
    }
}
