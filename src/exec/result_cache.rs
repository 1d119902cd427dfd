//! Answers kept for dashboards that send the same query again. An entry is
//! keyed by the statement, its parameters, the session settings and every
//! snapshot the ticket pinned, so it can never be stale: a commit makes a new
//! snapshot, the next plan pins it, and the key changes. Only what depends
//! on nothing else is kept — no clock or random functions, no
//! `information_schema` or `system` views, no metadata tables, no
//! partitions of distributed queries. Bounded in bytes, least recently used
//! first out; off unless `--result-cache-mb` sets a size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::Stream;
use prost::Message;
use sha2::{Digest, Sha256};

use super::{BatchStream, Result};
use crate::proto::QueryTicket;
use crate::sql::Query;

/// One answer: its schema and batches (shared, never copied on a hit).
pub struct Entry {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub bytes: usize,
    pub rows: usize,
}

/// The key an answer is kept under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key(String);

/// Whether a statement's answer may be kept, and under which key.
pub enum Caching {
    Off,
    NotKept(&'static str),
    Kept(Key),
}

impl Caching {
    pub fn key(&self) -> Option<&Key> {
        match self {
            Caching::Kept(key) => Some(key),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct ResultCache {
    capacity_bytes: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, (Arc<Entry>, u64)>,
    used_bytes: usize,
    clock: u64,
}

impl ResultCache {
    pub fn new(capacity_bytes: usize) -> Self {
        Self { capacity_bytes, state: Mutex::default() }
    }

    pub fn enabled(&self) -> bool {
        self.capacity_bytes > 0
    }

    /// Whether `query`'s answer (planned as `ticket`) may be kept: only what
    /// depends on nothing but the pinned snapshots.
    pub fn caching(&self, query: &Query, ticket: &QueryTicket, reads_metadata: bool) -> Caching {
        if !self.enabled() {
            return Caching::Off;
        }
        if query.is_volatile() {
            return Caching::NotKept("the query reads the clock or random numbers");
        }
        if !query.catalog_views().is_empty() {
            return Caching::NotKept("information_schema and system views change without a new snapshot");
        }
        if reads_metadata {
            return Caching::NotKept("metadata tables change without a new snapshot");
        }
        if ticket.tables.iter().any(|pin| pin.partitioned || pin.shuffle.is_some()) {
            return Caching::NotKept("a part of a distributed query");
        }
        Caching::Kept(Self::key(&query.sql(), ticket))
    }

    /// The most one answer may take: an eighth of the cache, so one huge
    /// answer cannot push out every dashboard's tiles.
    fn entry_limit(&self) -> usize {
        self.capacity_bytes / 8
    }

    /// The key of `ticket` whose statement, parameters bound and EXPLAIN
    /// stripped, reads `canonical` (so spacing, the case of keywords and
    /// EXPLAIN, do not matter); its query id is left out: every run has its own.
    pub fn key(canonical: &str, ticket: &QueryTicket) -> Key {
        let mut stable = ticket.clone();
        stable.sql = canonical.to_string();
        stable.params.clear();
        stable.query_id.clear();
        if let Some(session) = stable.session.as_mut() {
            session.lineage = None; // who asked, not what was asked
            session.compression.clear(); // how the answer travels
        }
        Key(hex(&Sha256::digest(stable.encode_to_vec())))
    }

    /// `get`, counted in `floe.result_cache.lookups`.
    pub fn lookup(&self, key: &Key) -> Option<Arc<Entry>> {
        let found = self.get(key);
        let outcome = if found.is_some() { "hit" } else { "miss" };
        crate::telemetry::metrics::metrics().result_cache_lookups.add(1, &crate::telemetry::metrics::label("outcome", outcome));
        found
    }

    /// The entry under `key`, neither counted nor made more recent (planning
    /// looks, the run that follows uses).
    pub fn peek(&self, key: &Key) -> Option<Arc<Entry>> {
        let state = self.state.lock().expect("result cache lock");
        state.entries.get(key).map(|(entry, _)| entry.clone())
    }

    fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        let mut state = self.state.lock().expect("result cache lock");
        state.clock += 1;
        let now = state.clock;
        let (entry, used) = state.entries.get_mut(key)?;
        *used = now;
        Some(entry.clone())
    }

    /// Keeps `entry` unless it is over the entry limit.
    fn put(&self, key: Key, entry: Entry) {
        if entry.bytes > self.entry_limit() {
            return;
        }
        let mut state = self.state.lock().expect("result cache lock");
        state.clock += 1;
        let now = state.clock;
        if let Some((old, _)) = state.entries.remove(&key) {
            state.used_bytes -= old.bytes;
        }
        while state.used_bytes + entry.bytes > self.capacity_bytes {
            let Some(oldest) = state.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(key, _)| key.clone()) else { break };
            let (evicted, _) = state.entries.remove(&oldest).expect("just found");
            state.used_bytes -= evicted.bytes;
        }
        state.used_bytes += entry.bytes;
        state.entries.insert(key, (Arc::new(entry), now));
    }

    /// `batches`, kept under `key` once the stream has ended without an
    /// error; a stream dropped early or over the entry limit keeps nothing.
    pub fn fill(self: &Arc<Self>, key: Key, schema: SchemaRef, batches: BatchStream) -> BatchStream {
        Box::pin(Filling { inner: batches, cache: self.clone(), key, schema, kept: Some(Vec::new()), bytes: 0 })
    }

    /// (entries, bytes) held now.
    #[cfg(test)]
    fn usage(&self) -> (usize, usize) {
        let state = self.state.lock().expect("result cache lock");
        (state.entries.len(), state.used_bytes)
    }
}

/// EXPLAIN's line on the cache, when it is on: why not kept, a hit, or a miss.
pub fn explained(caching: &Caching, cached: Option<&Entry>) -> Option<String> {
    let state = match (caching, cached) {
        (Caching::Off, _) => return None,
        (Caching::NotKept(reason), _) => format!("not kept: {reason}"),
        (Caching::Kept(_), Some(entry)) => format!("hit: {} rows ({} bytes) kept from an earlier run over the same snapshots", entry.rows, entry.bytes),
        (Caching::Kept(_), None) => "miss: the answer is kept when the query runs to its end".to_string(),
    };
    Some(format!("RESULT CACHE: {state}"))
}

/// A hit's rows as a stream.
pub fn replay(entry: &Entry) -> BatchStream {
    super::in_memory(entry.batches.clone())
}

struct Filling {
    inner: BatchStream,
    cache: Arc<ResultCache>,
    key: Key,
    schema: SchemaRef,
    /// None once the answer is known not to be kept.
    kept: Option<Vec<RecordBatch>>,
    bytes: usize,
}

impl Stream for Filling {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                self.bytes += batch.get_array_memory_size();
                let over = self.bytes > self.cache.entry_limit();
                match self.kept.as_mut() {
                    Some(_) if over => self.kept = None,
                    Some(kept) => kept.push(batch.clone()),
                    None => {}
                }
            }
            Poll::Ready(Some(Err(_))) => self.kept = None,
            Poll::Ready(None) => {
                if let Some(batches) = self.kept.take() {
                    let rows = batches.iter().map(RecordBatch::num_rows).sum();
                    let entry = Entry { schema: self.schema.clone(), batches, bytes: self.bytes, rows };
                    self.cache.put(self.key.clone(), entry);
                }
            }
            Poll::Pending => {}
        }
        polled
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::StreamExt;

    fn batch(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..rows))]).unwrap()
    }

    fn ticket(sql: &str, snapshot: i64) -> QueryTicket {
        QueryTicket {
            sql: sql.into(),
            query_id: uuid::Uuid::new_v4().to_string(),
            tables: vec![crate::proto::TablePin { name: "t".into(), snapshot_id: Some(snapshot), ..Default::default() }],
            ..Default::default()
        }
    }

    fn drained(cache: &Arc<ResultCache>, key: Key, batches: Vec<Result<RecordBatch>>) {
        let stream: BatchStream = Box::pin(futures::stream::iter(batches));
        let schema = batch(1).schema();
        futures::executor::block_on(cache.fill(key, schema, stream).collect::<Vec<_>>());
    }

    #[test]
    fn keys_follow_the_statement_and_its_snapshots_not_the_run() {
        let key = |sql: &str, snapshot| ResultCache::key(sql, &ticket(&format!("explain {sql}"), snapshot));
        assert_eq!(key("SELECT 1", 7), key("SELECT 1", 7));
        assert_ne!(key("SELECT 1", 7), key("SELECT 1", 8));
        assert_ne!(key("SELECT 1", 7), key("SELECT 2", 7));
    }

    #[test]
    fn only_whole_answers_are_kept() {
        let cache = Arc::new(ResultCache::new(64 << 20));
        let key = ResultCache::key("SELECT n", &ticket("SELECT n", 1));
        drained(&cache, key.clone(), vec![Ok(batch(10)), Err(super::super::Error::Worker("lost".into()))]);
        assert!(cache.get(&key).is_none());
        drained(&cache, key.clone(), vec![Ok(batch(10)), Ok(batch(5))]);
        assert_eq!(cache.get(&key).map(|entry| entry.rows), Some(15));
    }

    #[test]
    fn the_least_recently_used_answer_goes_first() {
        let one = batch(1000).get_array_memory_size();
        let capacity = one * 8 + one / 2; // eight answers, each within an eighth
        let cache = Arc::new(ResultCache::new(capacity));
        let keys: Vec<Key> = (0..9).map(|n| ResultCache::key(&format!("SELECT {n}"), &ticket("", 1))).collect();
        for key in &keys[..8] {
            drained(&cache, key.clone(), vec![Ok(batch(1000))]);
        }
        assert!(cache.get(&keys[0]).is_some()); // now the second is the least recent
        drained(&cache, keys[8].clone(), vec![Ok(batch(1000))]);
        assert!(cache.get(&keys[1]).is_none());
        assert!(cache.get(&keys[0]).is_some() && cache.get(&keys[8]).is_some());
        assert_eq!(cache.usage(), (8, one * 8));
    }
}
