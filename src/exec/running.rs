//! Queries currently streaming, by the id their ticket carries, so
//! CancelFlightInfo can stop one. This is control state, not a result cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default, Clone)]
pub struct Running {
    queries: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
}

/// Registration of one running query; dropping it unregisters.
pub struct RunningQuery {
    id: String,
    cancelled: Arc<AtomicBool>,
    registry: Running,
}

impl Running {
    /// Registers a query; a query cancelled before it started stays cancelled.
    pub fn start(&self, id: &str) -> RunningQuery {
        let cancelled = self.queries.lock().expect("running queries lock").entry(id.to_string()).or_default().clone();
        RunningQuery { id: id.to_string(), cancelled, registry: self.clone() }
    }

    /// Marks the query cancelled. Returns whether it was running.
    pub fn cancel(&self, id: &str) -> bool {
        let mut queries = self.queries.lock().expect("running queries lock");
        let was_running = queries.contains_key(id);
        queries.entry(id.to_string()).or_default().store(true, Ordering::Relaxed);
        was_running
    }
}

impl Running {
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
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.registry.queries.lock().expect("running queries lock").remove(&self.id);
    }
}
