//! Columns of data files as Polars decoded them, kept in memory for the next
//! query that reads them (`--data-cache-mb`). An Iceberg data file never
//! changes once written — a commit adds and removes whole files — so an
//! entry keyed by the file's path and the column can never be stale: a
//! snapshot that no longer lists the file simply stops asking for it.
//! Bounded in bytes, least recently used first out; on by default, at a
//! quarter of the memory the server may use.
//!
//! A cached relation is a Polars anonymous scan: Polars tells it which
//! columns the plan reads (projection pushdown), so only those are decoded
//! and kept. Only Polars' in-memory engine runs such scans, so a query
//! over more than small inputs is planned again over those columns held
//! in memory (`materialized.rs`), and runs on the scans where it is small
//! or cannot be planned again (a recursive CTE).
//!
//! A query that finds its columns missing reads the files as if there were
//! no cache, and a background thread decodes them after it: decoding whole
//! columns first made `SELECT * FROM lineitem LIMIT 10` take 918 ms (25
//! uncached) and TPC-H 1's first run 2.3 times its uncached time.

use std::any::Any;
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use polars::prelude::*;

/// Which column of which file, as the table's schema types it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    file: Arc<str>,
    column: PlSmallStr,
    dtype: String,
}

/// Relations whose columns wait to be decoded; more are dropped (a later
/// query that misses them asks again).
const FILLS_QUEUED: usize = 64;

/// Columns of a relation's files to decode and keep.
pub struct Fill(Arc<CachedFiles>, Vec<PlSmallStr>);

impl Fill {
    /// Hands the columns to the cache's thread, which decodes them while no
    /// query waits on this one.
    pub fn queue(self) {
        let cache = self.0.cache.clone();
        cache.fill_behind(self);
    }
}

#[derive(Default)]
pub struct DataCache {
    capacity_bytes: usize,
    state: Mutex<State>,
    filler: OnceLock<SyncSender<Fill>>,
    /// How many times it let a column go (to make room, or for a copy).
    evictions: AtomicU64,
    /// Told the count each time it lets columns go: what holds their rows
    /// past the cache lets them go too.
    on_eviction: OnceLock<Box<dyn Fn(u64) + Send + Sync>>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, (Column, usize, u64)>,
    used_bytes: usize,
    clock: u64,
}

impl DataCache {
    pub fn new(capacity_bytes: usize) -> Self {
        Self { capacity_bytes, ..Self::default() }
    }

    pub fn enabled(&self) -> bool {
        self.capacity_bytes > 0
    }

    /// How many times it has let columns go: while this stays the same,
    /// every column it handed out is still held.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Acquire)
    }

    /// Calls `forget` with the count each time the cache lets columns go.
    pub fn on_eviction(&self, forget: Box<dyn Fn(u64) + Send + Sync>) {
        let _ = self.on_eviction.set(forget);
    }

    /// Whether a relation of `rows` rows of `schema`, whose files take
    /// `bytes` on storage, is read through the cache: what it decodes to must
    /// leave room for the other relations a query reads, and each column must
    /// fit, or it would be decoded whole for every query. Both by its row
    /// count and types (repetitive data decodes to a thousand times its
    /// files) and by a few times its files (long strings).
    pub fn admits(&self, schema: &Schema, rows: Option<u64>, bytes: u64) -> bool {
        let Some(rows) = rows.filter(|_| self.enabled()) else { return false };
        let widths: Vec<u64> = schema.iter_values().map(decoded_width).collect();
        let (half, quarter) = ((self.capacity_bytes / 2) as u64, (self.capacity_bytes / 4) as u64);
        let widest = widths.iter().max().copied().unwrap_or(0).saturating_mul(rows);
        let whole = widths.iter().sum::<u64>().saturating_mul(rows);
        whole <= half && widest <= quarter && bytes.saturating_mul(4) <= half
    }

    #[cfg(test)]
    fn used_bytes(&self) -> usize {
        self.state.lock().expect("data cache lock").used_bytes
    }

    fn holds(&self, key: &Key) -> bool {
        self.state.lock().expect("data cache lock").entries.contains_key(key)
    }

    /// Queues a fill for a thread of the cache's own, which decodes one
    /// relation at a time.
    fn fill_behind(&self, fill: Fill) {
        let sender = self.filler.get_or_init(|| {
            let (sender, fills) = sync_channel::<Fill>(FILLS_QUEUED);
            let filler = std::thread::Builder::new().name("floe-data-cache".into()).spawn(move || {
                for Fill(files, names) in fills {
                    if let Err(error) = files.decode(&names) {
                        tracing::warn!(target: "floe::exec", %error, "data cache: columns not kept");
                    }
                }
            });
            if let Err(error) = filler {
                tracing::warn!(target: "floe::exec", %error, "data cache: no thread to fill it");
            }
            sender
        });
        // Full or gone: the next query that misses these columns asks again.
        let _ = sender.try_send(fill);
    }

    fn get(&self, key: &Key) -> Option<Column> {
        let mut state = self.state.lock().expect("data cache lock");
        state.clock += 1;
        let clock = state.clock;
        let (column, _, used) = state.entries.get_mut(key)?;
        *used = clock;
        Some(column.clone())
    }

    fn put(&self, key: Key, column: Column, bytes: usize) {
        if bytes > self.capacity_bytes / 4 {
            return; // one column this large would push out everything else
        }
        let mut state = self.state.lock().expect("data cache lock");
        let mut evicted = false;
        while state.used_bytes + bytes > self.capacity_bytes {
            let Some(oldest) = state.entries.iter().min_by_key(|(_, (_, _, used))| *used).map(|(key, _)| key.clone()) else { break };
            if let Some((_, freed, _)) = state.entries.remove(&oldest) {
                state.used_bytes -= freed;
                evicted = true;
            }
        }
        state.clock += 1;
        let clock = state.clock;
        // Two decoders of one column: the copy handed out before is let go too.
        if let Some((_, replaced, _)) = state.entries.insert(key, (column, bytes, clock)) {
            state.used_bytes -= replaced;
            evicted = true;
        }
        state.used_bytes += bytes;
        crate::telemetry::metrics::metrics().data_cache_bytes.record(state.used_bytes as u64, &[]);
        // Counted before the lock goes: no query takes columns after one went without seeing it.
        let evictions = evicted.then(|| self.evictions.fetch_add(1, Ordering::AcqRel) + 1);
        drop(state);
        if let (Some(evictions), Some(forget)) = (evictions, self.on_eviction.get()) {
            forget(evictions);
        }
    }
}

/// Bytes a value of `dtype` takes decoded, about (text by a short string).
fn decoded_width(dtype: &DataType) -> u64 {
    match dtype {
        DataType::Boolean | DataType::Int8 | DataType::UInt8 => 1,
        DataType::Int16 | DataType::UInt16 => 2,
        DataType::Int32 | DataType::UInt32 | DataType::Float32 | DataType::Date => 4,
        DataType::Decimal(..) | DataType::Int128 | DataType::UInt128 => 16,
        DataType::String | DataType::Binary => 24,
        DataType::List(inner) => 8 + 4 * decoded_width(inner),
        DataType::Struct(fields) => fields.iter().map(|field| decoded_width(field.dtype())).sum(),
        _ => 8,
    }
}

/// A relation's data files read through the cache: the columns the plan
/// reads, from memory where kept, else decoded by Polars' Parquet reader
/// (as an uncached scan reads them) and kept.
pub struct CachedFiles {
    pub files: Vec<String>,
    pub cloud: Option<polars::io::cloud::CloudOptions>,
    pub schema: SchemaRef,
    pub cache: Arc<DataCache>,
}

impl CachedFiles {
    pub fn lazy_frame(self: &Arc<Self>) -> PolarsResult<LazyFrame> {
        let args = ScanArgsAnonymous { schema: Some(self.schema.clone()), name: "DATA CACHE", ..Default::default() };
        LazyFrame::anonymous_scan(self.clone(), args)
    }

    /// The columns that hold `names`' rows: those, or for a count, which
    /// reads no column, the first (its rows are that column's height).
    fn kept_for(&self, names: &[PlSmallStr]) -> Vec<PlSmallStr> {
        match names.is_empty() {
            true => self.schema.iter_names_cloned().take(1).collect(),
            false => names.to_vec(),
        }
    }

    /// Marks `names` of every file as just read, where held: a kept plan
    /// over them runs again without asking for them.
    pub fn touch(&self, names: &[PlSmallStr]) {
        let names = self.kept_for(names);
        for file in &self.files {
            names.iter().for_each(|name| drop(self.cache.get(&self.key(file, name))));
        }
    }

    /// How many of the files have all `names` columns in memory.
    pub fn files_holding(&self, names: &[PlSmallStr]) -> usize {
        let names = self.kept_for(names);
        self.files.iter().filter(|file| names.iter().all(|name| self.cache.holds(&self.key(file, name)))).count()
    }

    /// `names` of every file, to decode and keep after the query that missed them.
    pub fn fill(self: &Arc<Self>, names: Vec<PlSmallStr>) -> Fill {
        Fill(self.clone(), names)
    }

    fn decode(&self, names: &[PlSmallStr]) -> PolarsResult<()> {
        let names = self.kept_for(names);
        self.files.iter().try_for_each(|file| self.file_frame(file, &names).map(drop))
    }

    fn key(&self, file: &str, name: &PlSmallStr) -> Key {
        Key { file: Arc::from(file), column: name.clone(), dtype: self.schema.get(name).map(|dtype| format!("{dtype:?}")).unwrap_or_default() }
    }

    /// The `names` columns of every file, in that order (a count's, no
    /// column, as one column: its rows are that column's height).
    fn columns(&self, names: &[PlSmallStr]) -> PolarsResult<DataFrame> {
        let names = self.kept_for(names);
        let mut frame = DataFrame::empty_with_schema(&self.schema.try_project(names.iter())?);
        for file in &self.files {
            // Appends the file's chunks: nothing is copied.
            frame.vstack_mut(&self.file_frame(file, &names)?)?;
        }
        Ok(frame)
    }

    /// The relation's columns among `read`, in its order.
    pub fn names_among(&self, read: &std::collections::BTreeSet<PlSmallStr>) -> Vec<PlSmallStr> {
        self.schema.iter_names().filter(|name| read.contains(*name)).cloned().collect()
    }

    /// The relation as a plan that reads only `names` of it sees it: those
    /// columns (from memory where kept), every other one null at no cost.
    pub fn frame_reading(&self, names: &[PlSmallStr]) -> PolarsResult<DataFrame> {
        let frame = self.columns(names)?;
        let height = frame.height();
        let columns = self.schema.iter().map(|(name, dtype)| match frame.column(name) {
            Ok(column) => column.clone(),
            Err(_) => Column::full_null(name.clone(), height, dtype),
        });
        DataFrame::new(height, columns.collect())
    }

    /// One file's `names` columns, in that order.
    fn file_frame(&self, file: &str, names: &[PlSmallStr]) -> PolarsResult<DataFrame> {
        let key = |name: &PlSmallStr| self.key(file, name);
        let mut columns: Vec<Option<Column>> = names.iter().map(|name| self.cache.get(&key(name))).collect();
        let missing: Vec<PlSmallStr> = names.iter().zip(&columns).filter(|(_, kept)| kept.is_none()).map(|(name, _)| name.clone()).collect();
        if !missing.is_empty() {
            let read = super::scan::scan_as_table(vec![PlRefPath::from(file)], self.cloud.clone(), None, &self.schema)?
                .select(missing.iter().map(|name| col(name.clone())).collect::<Vec<_>>())
                .collect()?;
            for (name, column) in missing.iter().zip(read.columns()) {
                let column = column.rechunk();
                let bytes = column.as_materialized_series().estimated_size();
                self.cache.put(key(name), column.clone(), bytes);
                let slot = names.iter().position(|n| n == name).expect("a missing name is asked for");
                columns[slot] = Some(column);
            }
        }
        DataFrame::new_infer_height(columns.into_iter().map(|column| column.expect("every column found or read")).collect())
    }
}

impl AnonymousScan for CachedFiles {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn scan(&self, args: AnonymousScanArgs) -> PolarsResult<DataFrame> {
        let wanted: Vec<PlSmallStr> = match &args.with_columns {
            Some(columns) => columns.to_vec(),
            None => self.schema.iter_names_cloned().collect(),
        };
        let mut frame = self.columns(&wanted)?;
        if wanted.is_empty() {
            frame = DataFrame::new(frame.height(), Vec::new())?;
        }
        Ok(match args.n_rows {
            Some(rows) => frame.head(Some(rows)),
            None => frame,
        })
    }

    fn schema(&self, _: Option<usize>) -> PolarsResult<SchemaRef> {
        Ok(self.schema.clone())
    }

    fn allows_projection_pushdown(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, values: &[i64]) -> Column {
        Column::new(name.into(), values)
    }

    fn key(file: &str) -> Key {
        Key { file: Arc::from(file), column: "a".into(), dtype: "Int64".into() }
    }

    #[test]
    fn least_recently_used_columns_leave_first() {
        let cache = DataCache::new(400);
        cache.put(key("f1"), column("a", &[1]), 100);
        cache.put(key("f2"), column("a", &[2]), 100);
        cache.put(key("f3"), column("a", &[3]), 100);
        assert!(cache.get(&key("f1")).is_some(), "used again: now the most recent");
        cache.put(key("f4"), column("a", &[4]), 100);
        cache.put(key("f5"), column("a", &[5]), 100);
        assert!(cache.get(&key("f2")).is_none(), "the least recently used left first");
        assert!(cache.get(&key("f1")).is_some() && cache.get(&key("f5")).is_some());
        assert!(cache.used_bytes() <= 400);
        cache.put(key("f6"), column("a", &[6]), 101);
        assert!(cache.get(&key("f6")).is_none(), "over a quarter of the cache: never kept");
    }

    #[test]
    fn each_column_let_go_or_replaced_is_told() {
        let cache = DataCache::new(400);
        let told = Arc::new(AtomicU64::new(0));
        let seen = told.clone();
        cache.on_eviction(Box::new(move |evictions| seen.store(evictions, Ordering::SeqCst)));
        (1..=4).for_each(|n| cache.put(key(&format!("f{n}")), column("a", &[n]), 100));
        assert_eq!((cache.evictions(), told.load(Ordering::SeqCst)), (0, 0));
        cache.put(key("f5"), column("a", &[5]), 100);
        assert_eq!((cache.evictions(), told.load(Ordering::SeqCst)), (1, 1));
        // A second decoder's copy: the first one handed out is no longer held.
        cache.put(key("f5"), column("a", &[5]), 100);
        assert_eq!((cache.evictions(), told.load(Ordering::SeqCst)), (2, 2));
    }

    #[test]
    fn admits_what_decodes_within_half_the_cache_each_column_within_a_quarter() {
        let schema = Schema::from_iter([Field::new("a".into(), DataType::Int64), Field::new("b".into(), DataType::Int32)]);
        let cache = DataCache::new(16 << 20);
        assert!(!DataCache::new(0).admits(&schema, Some(1), 0), "off");
        assert!(cache.admits(&schema, Some(500_000), 1 << 20), "6 MB decoded, a column 4 MB");
        assert!(!cache.admits(&schema, Some(600_000), 1 << 10), "a column of 4.8 MB, however small its files");
        assert!(!cache.admits(&schema, Some(1_000), 3 << 20), "files that may hold long strings");
        assert!(!cache.admits(&schema, None, 0), "an uncounted snapshot");
    }
}
