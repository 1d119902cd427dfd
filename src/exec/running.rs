//! Queries currently running, by the id their ticket carries, so
//! CancelFlightInfo can stop one; admission control (a bounded number run
//! at once, a bounded queue waits for a slot) and the per-query time limit.
//! This is control state, not a result cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Error;

/// How many queries run at once, how many may wait, and for how long each may run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Admission {
    /// 0: no limit.
    pub max_concurrent: usize,
    pub max_queued: usize,
    pub queue_timeout: Duration,
    /// None: no limit.
    pub query_timeout: Option<Duration>,
}

#[derive(Default, Clone)]
pub struct Running {
    queries: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
    admission: Admission,
    slots: Option<Arc<Semaphore>>,
    queued: Arc<AtomicUsize>,
}

/// Registration of one running query; dropping it unregisters (and frees its slot).
pub struct RunningQuery {
    id: String,
    cancelled: Arc<AtomicBool>,
    /// When the query's time limit runs out (admitted queries only).
    deadline: Option<Instant>,
    registry: Running,
    _slot: Option<OwnedSemaphorePermit>,
    /// Work left for when the query is done (filling the data cache), so
    /// it does not take the query's cores.
    afterwards: Vec<Box<dyn FnOnce() + Send + Sync>>,
}

/// Leaves the queue count when the waiting future ends, however it ends.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        crate::telemetry::metrics::metrics().queries_queued.add(-1, &[]);
    }
}

impl Running {
    pub fn new(admission: Admission) -> Self {
        let slots = (admission.max_concurrent > 0).then(|| Arc::new(Semaphore::new(admission.max_concurrent)));
        Self { admission, slots, ..Default::default() }
    }

    /// Registers a query without admission control (script workloads have
    /// their own limits); a query cancelled before it started stays cancelled.
    pub fn start(&self, id: &str) -> RunningQuery {
        self.register(id, None, None)
    }

    /// A query's time limit is a deadline its stop checks read, not a timer:
    /// nothing lingers per query for the length of the limit.
    fn register(&self, id: &str, slot: Option<OwnedSemaphorePermit>, limit: Option<Duration>) -> RunningQuery {
        let cancelled = self.queries.lock().expect("running queries lock").entry(id.to_string()).or_default().clone();
        let deadline = limit.map(|limit| Instant::now() + limit);
        crate::telemetry::metrics::metrics().queries_active.add(1, &[]);
        RunningQuery { id: id.to_string(), cancelled, deadline, registry: self.clone(), _slot: slot, afterwards: Vec::new() }
    }

    /// Waits for a free slot (in a bounded queue, for a bounded time), then
    /// registers the query. A full queue or a long wait answers
    /// ResourceExhausted, so a burst of clients cannot exhaust the server.
    pub async fn admit(&self, id: &str) -> Result<RunningQuery, Error> {
        let limit = self.admission.query_timeout;
        let Some(slots) = &self.slots else { return Ok(self.register(id, None, limit)) };
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return Ok(self.register(id, Some(slot), limit));
        }
        let slot_count = self.admission.max_concurrent;
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.admission.max_queued {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Overloaded(format!(
                "the server is busy: {slot_count} queries are running and {} are waiting; retry later",
                self.admission.max_queued
            )));
        }
        crate::telemetry::metrics::metrics().queries_queued.add(1, &[]);
        let _queued = Queued(self.queued.clone());
        let wait = self.admission.queue_timeout;
        match tokio::time::timeout(wait, slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(self.register(id, Some(slot), limit)),
            _ => Err(Error::Overloaded(format!(
                "the server is busy: waited {}s for one of its {slot_count} query slots; retry later",
                wait.as_secs()
            ))),
        }
    }

    /// Marks the query cancelled. Returns whether it was running.
    pub fn cancel(&self, id: &str) -> bool {
        let mut queries = self.queries.lock().expect("running queries lock");
        let was_running = queries.contains_key(id);
        queries.entry(id.to_string()).or_default().store(true, Ordering::Relaxed);
        was_running
    }

    /// Cancels every running query (at shutdown). Returns how many there were.
    pub fn cancel_all(&self) -> usize {
        let queries = self.queries.lock().expect("running queries lock");
        for flag in queries.values() {
            flag.store(true, Ordering::Relaxed);
        }
        queries.len()
    }
}

impl RunningQuery {
    /// Runs `work` once the query is done, however it ends.
    pub fn afterwards(&mut self, work: impl FnOnce() + Send + Sync + 'static) {
        self.afterwards.push(Box::new(work));
    }

    /// Whether the query should stop (cancelled, or past its time limit),
    /// as a check the engine's own threads can call between morsels.
    pub fn stop_check(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let (cancelled, deadline) = (self.cancelled.clone(), self.deadline);
        move || cancelled.load(Ordering::Relaxed) || deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }

    pub fn is_cancelled(&self) -> bool {
        self.stop_check()()
    }

    /// Whether CancelFlightInfo (or shutdown) asked the query to stop.
    pub fn cancel_requested(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Why a stopped query stopped.
    pub fn stop_reason(&self) -> Error {
        let timed_out = self.deadline.is_some_and(|deadline| Instant::now() >= deadline);
        match self.registry.admission.query_timeout {
            Some(limit) if timed_out && !self.cancel_requested() => Error::TimedOut(limit.as_secs()),
            _ => Error::Cancelled,
        }
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.registry.queries.lock().expect("running queries lock").remove(&self.id);
        crate::telemetry::metrics::metrics().queries_active.add(-1, &[]);
        for work in self.afterwards.drain(..) {
            work();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_beyond_the_queue_is_refused_and_admitted_queries_finish() {
        let running = Running::new(Admission {
            max_concurrent: 1,
            max_queued: 1,
            queue_timeout: Duration::from_secs(5),
            query_timeout: None,
        });
        let first = running.admit("a").await.unwrap();
        let waiting = tokio::spawn({
            let running = running.clone();
            async move { running.admit("b").await.map(|_| ()) }
        });
        while running.queued.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(running.admit("c").await, Err(Error::Overloaded(_))));
        drop(first);
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_query_over_its_time_limit_is_stopped() {
        let running = Running::new(Admission { query_timeout: Some(Duration::from_millis(20)), ..Default::default() });
        let query = running.admit("slow").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(query.is_cancelled());
        assert!(matches!(query.stop_reason(), Error::TimedOut(_)));
    }
}
