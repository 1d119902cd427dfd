//! What the coordinator sent its workers: every partition and shuffle map
//! task attempt (its query, worker, start, duration, outcome), the recent
//! ones kept for the observatory's timelines, and totals per worker for its
//! cluster page.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

/// Attempts kept for timelines.
const KEPT: usize = 4096;

/// One attempt of a partition or map task on a worker.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TaskRun {
    /// The client's query this task is part of.
    pub query_id: String,
    /// `partition` or `shuffle map`.
    pub what: String,
    pub index: u64,
    pub worker: String,
    pub attempt: u64,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    /// None while it runs.
    pub elapsed_ms: Option<u64>,
    /// `running`, `ok`, `failed`, `timed out` or `cancelled`.
    pub outcome: String,
    pub rows: u64,
    /// Arrow bytes it moved (a partition's result, a map task's shuffle output).
    pub bytes: u64,
}

/// A worker's totals since the coordinator started.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerTotals {
    pub tasks_running: u64,
    pub tasks_done: u64,
    /// Attempts that failed or timed out there (each ran again elsewhere).
    pub tasks_failed: u64,
    /// Bytes its shuffle map tasks wrote.
    pub shuffle_bytes: u64,
}

#[derive(Default)]
pub(super) struct Tasks {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    runs: VecDeque<(u64, Instant, TaskRun)>,
    next: u64,
    totals: HashMap<String, WorkerTotals>,
}

/// An attempt in progress. Dropped without `end` (its query went away
/// mid-flight), it ends as cancelled, so the worker's running count holds.
pub(super) struct Attempt<'a> {
    tasks: &'a Tasks,
    key: u64,
    worker: String,
    shuffled: bool,
    ended: bool,
}

impl Attempt<'_> {
    /// `outcome` is `ok`, `failed` or `timed out`; rows and bytes it moved.
    pub fn end(mut self, outcome: &'static str, (rows, bytes): (u64, u64)) {
        self.ended = true;
        self.tasks.end(&self, outcome, rows, bytes);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.tasks.end(self, "cancelled", 0, 0);
        }
    }
}

impl Tasks {
    /// Notes an attempt starting.
    pub fn begin(&self, query_id: &str, what: &str, index: usize, worker: &str, attempt: usize) -> Attempt<'_> {
        let run = TaskRun {
            query_id: query_id.to_string(),
            what: what.to_string(),
            index: index as u64,
            worker: worker.to_string(),
            attempt: attempt as u64,
            started_at: chrono::Utc::now().timestamp_millis(),
            elapsed_ms: None,
            outcome: "running".into(),
            rows: 0,
            bytes: 0,
        };
        let mut inner = self.inner.lock().expect("tasks lock");
        let key = inner.next;
        inner.next += 1;
        inner.totals.entry(worker.to_string()).or_default().tasks_running += 1;
        inner.runs.push_back((key, Instant::now(), run));
        while inner.runs.len() > KEPT {
            inner.runs.pop_front();
        }
        Attempt { tasks: self, key, worker: worker.to_string(), shuffled: what == "shuffle map", ended: false }
    }

    /// The worker's totals change even when the attempt's run has left the
    /// kept window; a cancelled attempt is neither done nor failed.
    fn end(&self, attempt: &Attempt<'_>, outcome: &'static str, rows: u64, bytes: u64) {
        let mut inner = self.inner.lock().expect("tasks lock");
        if let Some((_, started, run)) = inner.runs.iter_mut().rev().find(|(k, ..)| *k == attempt.key) {
            run.elapsed_ms = Some(started.elapsed().as_millis() as u64);
            run.outcome = outcome.to_string();
            run.rows = rows;
            run.bytes = bytes;
        }
        let totals = inner.totals.entry(attempt.worker.clone()).or_default();
        totals.tasks_running = totals.tasks_running.saturating_sub(1);
        match outcome {
            "ok" => totals.tasks_done += 1,
            "cancelled" => {}
            _ => totals.tasks_failed += 1,
        }
        if attempt.shuffled {
            totals.shuffle_bytes += bytes;
        }
    }

    /// The attempts of `query_id`'s tasks, in the order they started.
    pub fn of_query(&self, query_id: &str) -> Vec<TaskRun> {
        let inner = self.inner.lock().expect("tasks lock");
        inner.runs.iter().filter(|(_, _, run)| run.query_id == query_id).map(|(_, _, run)| run.clone()).collect()
    }

    pub fn totals(&self, worker: &str) -> WorkerTotals {
        self.inner.lock().expect("tasks lock").totals.get(worker).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_dropped_mid_flight_ends_cancelled_and_leaves_no_task_running() {
        let tasks = Tasks::default();
        tasks.begin("q", "partition", 0, "w:1", 1).end("ok", (3, 30));
        tasks.begin("q", "partition", 1, "w:1", 1).end("failed", (0, 0));
        drop(tasks.begin("q", "shuffle map", 0, "w:1", 1));
        let outcomes: Vec<String> = tasks.of_query("q").into_iter().map(|run| run.outcome).collect();
        assert_eq!(outcomes, ["ok", "failed", "cancelled"]);
        let totals = tasks.totals("w:1");
        assert_eq!((totals.tasks_running, totals.tasks_done, totals.tasks_failed), (0, 1, 1));
    }
}
