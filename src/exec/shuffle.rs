//! The data side of hash shuffles: a map task hashes a fragment's rows by
//! keys into one Arrow IPC file per bucket (local disk or object storage);
//! a reduce partition reads its bucket from every map output. The
//! coordinator decides what to shuffle (`cluster::stage`); this module only
//! moves rows.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;

use super::{Engine, Error};
use crate::access::Principal;
use crate::proto::{ShuffleFetch, ShuffleInput, ShuffleMap};
use crate::ticket::{self, Keyring};

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
        return Err(Error::Invalid(format!("invalid shuffle id `{shuffle_id}`")));
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
pub async fn run_map(engine: &Engine, request: ShuffleMap, owner: &Principal) -> Result<MapOutput, Error> {
    let store = engine.shuffle_store();
    let fail = |e: &dyn std::fmt::Display| Error::Shuffle(format!("shuffle map: {e}"));
    let fragment = request.fragment.ok_or_else(|| Error::Invalid("shuffle map without a fragment".into()))?;
    let buckets = request.buckets.max(1);
    let (schema, mut batches) = engine.execute(&fragment, owner).await.map_err(|e| fail(&e))?;
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
    let mut bytes = 0u64;
    for sink in sinks {
        match sink {
            Sink::File(mut writer) => {
                writer.finish().map_err(|e| fail(&e))?;
                bytes += writer.get_ref().metadata().map(|m| m.len()).unwrap_or_default();
            }
            Sink::Object(writer, path) => {
                let ShuffleStore::Object { file_io, .. } = store else { unreachable!("object sinks need an object store") };
                let written = writer.into_inner().map_err(|e| fail(&e))?;
                bytes += written.len() as u64;
                file_io.new_output(&path).map_err(|e| fail(&e))?.write(written.into()).await.map_err(|e| fail(&e))?;
            }
        }
    }
    let source = if matches!(store, ShuffleStore::Object { .. }) { prefix } else { String::new() };
    Ok(MapOutput { rows, bytes, source })
}

/// What a map task wrote: its rows, the bytes of its bucket files, and
/// where a reducer finds them (an object prefix; empty: on this worker).
pub struct MapOutput {
    pub rows: u64,
    pub bytes: u64,
    pub source: String,
}

/// A bucket's rows on this worker (every map task's file for it).
pub fn read_bucket(store: &ShuffleStore, request: &ShuffleFetch) -> Result<(SchemaRef, Vec<RecordBatch>), Error> {
    let Some(root) = store.local_dir() else {
        return Err(Error::NotFound("this node keeps shuffle outputs in object storage, not on its disk".into()));
    };
    let fail = |e: &dyn std::fmt::Display| Error::NotFound(format!("shuffle fetch: {e}"));
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

/// The DoGet ticket a reducer presents to a map output's node.
pub fn seal_fetch(keyring: &Keyring, shuffle_id: &str, bucket: u32) -> Vec<u8> {
    let fetch = ShuffleFetch { shuffle_id: shuffle_id.to_string(), bucket };
    keyring.seal_ticket(ticket::Kind::ShuffleFetch, &fetch, &Principal::Peer)
}

/// The reduce side: bucket `input.bucket` from every source (a node, or a
/// map task's object prefix), concatenated. `input` comes from a verified
/// ticket: its sources are nodes this cluster's coordinator named.
pub async fn fetch_input(engine: &Engine, input: &ShuffleInput) -> Result<Vec<RecordBatch>, Error> {
    let store = engine.shuffle_store();
    let ticket = seal_fetch(engine.keyring(), &input.shuffle_id, input.bucket);
    let fetches = input.sources.iter().map(|source| {
        let ticket = ticket.clone();
        async move {
            if !source.contains("://") {
                return engine.peers().fetch(source, ticket).await.map_err(|e| Error::Remote(e.to_string()));
            }
            let ShuffleStore::Object { file_io, .. } = store else {
                return Err(Error::Invalid(format!("shuffle output {source} is in object storage; start this node with --shuffle-location")));
            };
            let path = format!("{source}-{}.arrow", input.bucket);
            let fail = |e: &dyn std::fmt::Display| Error::Remote(format!("{path}: {e}"));
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
