//! Every statement and workload this node ran or is running: live ones with
//! their progress (rows and bytes so far), finished ones newest first, kept
//! in a bounded store in the data directory so the history survives a
//! restart. `system.queries`, the observatory's JSON and its cancel button
//! read it.

mod record;
mod store;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use record::{Protocol, Record, Scan, State};
pub use store::{Kept, Store};

/// Finished records kept in memory (the store keeps them for `retention`).
const KEPT: usize = 10_000;

/// What a statement is, when it starts.
pub struct Start {
    pub query_id: String,
    pub protocol: Protocol,
    pub kind: String,
    pub sql: String,
    pub principal: String,
    pub client: String,
    pub tables: Vec<String>,
}

struct Live {
    record: Mutex<Record>,
    started: Instant,
    rows: AtomicU64,
    bytes: AtomicU64,
    first_rows: std::sync::OnceLock<u64>,
}

/// This node's statements. Cheap to clone.
#[derive(Clone, Default)]
pub struct History {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    live: Mutex<HashMap<u64, Arc<Live>>>,
    finished: Mutex<VecDeque<Record>>,
    next: AtomicU64,
    store: Option<Store>,
    /// Principals who see (and may cancel) everyone's statements.
    admins: Vec<String>,
}

impl History {
    /// A history kept in `store` (its recent records loaded now).
    pub async fn open(store: Store, admins: Vec<String>) -> Self {
        let recent = store.recent(KEPT).await;
        let inner = Inner { finished: Mutex::new(recent.into()), store: Some(store), admins, ..Default::default() };
        Self { inner: Arc::new(inner) }
    }

    /// Registers a running statement; its handle reports progress and the end.
    pub fn start(&self, start: Start) -> Running {
        self.begin(start, Duration::ZERO)
    }

    /// Registers a statement that waits for a query slot before it runs;
    /// the engine marks it admitted (`admitted`) when it gets one.
    pub fn start_queued(&self, start: Start) -> Running {
        let running = self.begin(start, Duration::ZERO);
        running.live.record.lock().expect("record lock").state = State::Queued;
        running
    }

    /// The query `query_id` got its slot: it runs from now.
    pub fn admitted(&self, query_id: &str) {
        self.update(query_id, |record, since| {
            if record.state == State::Queued {
                record.state = State::Running;
                record.queued_ms = Some(since);
            }
        });
    }

    /// The query `query_id` read `scan`.
    pub fn scanned(&self, query_id: &str, scan: Scan) {
        self.update(query_id, |record, _| record.scans.push(scan.clone()));
    }

    /// The query `query_id` is planned and starts executing.
    pub fn planned(&self, query_id: &str) {
        self.update(query_id, |record, since| record.planned_ms = Some(since));
    }

    /// The query `query_id` starts executing the plan a run of the same ticket made.
    pub fn planned_before(&self, query_id: &str) {
        self.update(query_id, |record, since| {
            record.planned_ms = Some(since);
            record.plan_reused = true;
        });
    }

    /// Changes the live record of `query_id` (with the milliseconds since
    /// it started), if this node is running it for a client; a worker's
    /// partition of another node's query has none.
    fn update(&self, query_id: &str, change: impl Fn(&mut Record, u64)) {
        let live = self.inner.live.lock().expect("history lock");
        for entry in live.values() {
            let mut record = entry.record.lock().expect("record lock");
            if record.query_id == query_id {
                change(&mut record, entry.started.elapsed().as_millis() as u64);
            }
        }
    }

    /// `start`, begun `ago`.
    fn begin(&self, start: Start, ago: Duration) -> Running {
        let record = Record {
            query_id: start.query_id,
            state: State::Running,
            protocol: serde_json::to_value(start.protocol).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            kind: start.kind,
            sql: start.sql,
            principal: start.principal,
            client: start.client,
            tables: start.tables,
            started_at: chrono::Utc::now().timestamp_millis() - ago.as_millis() as i64,
            elapsed_ms: 0,
            rows: 0,
            bytes: 0,
            code: None,
            error: None,
            trace_id: crate::telemetry::current_trace_id(),
            first_rows_ms: None,
            queued_ms: None,
            planned_ms: None,
            plan_reused: false,
            scans: Vec::new(),
            committed_snapshot: None,
        };
        let started = Instant::now().checked_sub(ago).unwrap_or_else(Instant::now);
        let live = Arc::new(Live { record: Mutex::new(record), started, rows: AtomicU64::new(0), bytes: AtomicU64::new(0), first_rows: Default::default() });
        let key = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.inner.live.lock().expect("history lock").insert(key, live.clone());
        Running { history: self.clone(), key, live, done: false }
    }

    /// Live statements first (newest first), then finished ones, newest first.
    pub fn records(&self) -> Vec<Record> {
        let mut live: Vec<Record> = self.inner.live.lock().expect("history lock").values().map(|l| l.snapshot()).collect();
        live.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        live.extend(self.inner.finished.lock().expect("history lock").iter().rev().cloned());
        live
    }

    /// The records `who` may see: its own, or everyone's for an admin (and
    /// on a server without authentication, where everyone is anonymous).
    pub fn visible_to(&self, who: &crate::access::Principal) -> Vec<Record> {
        let everyone = who.is_peer() || self.inner.admins.iter().any(|admin| admin == who.name());
        let name = who.to_string();
        self.records().into_iter().filter(|record| everyone || record.principal == name).collect()
    }

    /// A statement that started and ended elsewhere (a write, an ingest)
    /// recorded whole, with the snapshot it committed.
    pub fn record(&self, start: Start, elapsed: Duration, rows: u64, committed: Option<i64>, failure: Option<(String, String)>) {
        let running = self.begin(start, elapsed);
        running.live.record.lock().expect("record lock").committed_snapshot = committed;
        running.progress(rows, 0);
        running.finish(failure);
    }

    /// Writes the finished records still waiting for the store (the server stopping).
    pub async fn flush(&self) {
        if let Some(store) = &self.inner.store {
            store.flush().await;
        }
    }

    fn finish(&self, key: u64, record: Record) {
        self.inner.live.lock().expect("history lock").remove(&key);
        let mut finished = self.inner.finished.lock().expect("history lock");
        finished.push_back(record.clone());
        while finished.len() > KEPT {
            finished.pop_front();
        }
        drop(finished);
        if let Some(store) = &self.inner.store {
            store.keep(record);
        }
    }
}

impl Live {
    fn snapshot(&self) -> Record {
        let mut record = self.record.lock().expect("record lock").clone();
        record.elapsed_ms = self.started.elapsed().as_millis() as u64;
        record.rows = self.rows.load(Ordering::Relaxed);
        record.bytes = self.bytes.load(Ordering::Relaxed);
        record.first_rows_ms = self.first_rows.get().copied();
        record
    }
}

/// A statement in progress. Dropped without `finish`, it ends as cancelled.
pub struct Running {
    history: History,
    key: u64,
    live: Arc<Live>,
    done: bool,
}

impl Running {
    pub fn progress(&self, rows: u64, bytes: u64) {
        if rows > 0 {
            self.live.first_rows.get_or_init(|| self.live.started.elapsed().as_millis() as u64);
        }
        self.live.rows.fetch_add(rows, Ordering::Relaxed);
        self.live.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Ends it: `None` finished, else the failure's gRPC code and message.
    pub fn finish(mut self, failure: Option<(String, String)>) {
        self.end(match failure {
            None => (State::Finished, None),
            Some((code, message)) if code == "Cancelled" => (State::Cancelled, Some((code, message))),
            Some(failure) => (State::Failed, Some(failure)),
        });
    }

    fn end(&mut self, (state, failure): (State, Option<(String, String)>)) {
        self.done = true;
        let mut record = self.live.snapshot();
        record.state = state;
        if let Some((code, message)) = failure {
            record.code = Some(code);
            record.error = Some(message);
        }
        self.history.finish(self.key, record);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            self.end((State::Cancelled, None));
        }
    }
}

/// How long the store keeps records, parsed from `7d`, `12h`, `30m`.
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 7d, 12h or 30m"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("`{text}`: the unit is d, h, m or s")),
    };
    Ok(Duration::from_secs(number * seconds))
}
