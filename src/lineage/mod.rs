//! OpenLineage run events for every workload that reads or writes tables.
//! Emission never slows or fails the work: events go into a bounded queue
//! that one task delivers (HTTP with retries, or a file); a full queue or a
//! receiver that stays down drops events, counted in `floe.lineage.dropped`.

mod deliver;
mod event;

use std::path::PathBuf;
use std::sync::Arc;

pub use event::{Dataset, Field, JobKind, Outcome, OutputStatistics, Parent, Run};

use crate::telemetry::metrics::metrics;

/// Events waiting for delivery; past this, new ones are dropped.
const QUEUE_DEPTH: usize = 1024;

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `<url>/api/v1/lineage` receives each event as a POST.
    pub url: Option<String>,
    pub api_key: Option<String>,
    /// Each event as one JSON line.
    pub file: Option<PathBuf>,
    /// The namespace of Floe's jobs.
    pub namespace: String,
}

/// Where events go; cheap to clone. Disabled, every call is a no-op.
#[derive(Clone, Default)]
pub struct Lineage {
    inner: Option<Arc<Emitter>>,
}

struct Emitter {
    queue: tokio::sync::mpsc::Sender<serde_json::Value>,
    namespace: String,
}

impl Lineage {
    /// Starts the delivery task (inside the runtime) if any transport is set.
    pub fn start(config: Config) -> Self {
        let sinks = deliver::sinks(&config);
        if sinks.is_empty() {
            return Self::default();
        }
        let (queue, events) = tokio::sync::mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(deliver::run(events, sinks));
        Self { inner: Some(Arc::new(Emitter { queue, namespace: config.namespace })) }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// A run starting now, whose events this emitter sends; `None` when disabled.
    pub fn run(&self, run_id: &str, kind: JobKind, job: event::JobName, parent: Option<Parent>) -> Option<Run> {
        let emitter = self.inner.as_ref()?;
        Some(Run::new(run_id, &emitter.namespace, kind, job, parent))
    }

    /// Queues `START` for `run`.
    pub fn started(&self, run: &Run) {
        self.send(run.event("START", None));
    }

    /// Queues the run's final event: `COMPLETE`, `FAIL` (with the error) or `ABORT`.
    pub fn finished(&self, run: &Run, outcome: Outcome) {
        let (kind, error) = match &outcome {
            Outcome::Complete => ("COMPLETE", None),
            Outcome::Failed(message) => ("FAIL", Some(message.as_str())),
            Outcome::Aborted => ("ABORT", None),
        };
        self.send(run.event(kind, error));
    }

    fn send(&self, event: serde_json::Value) {
        let Some(emitter) = &self.inner else { return };
        if emitter.queue.try_send(event).is_err() {
            metrics().lineage_dropped.add(1, &[]);
        }
    }
}

pub use event::JobName;

/// A run whose `START` went out; its final event goes out when it is
/// finished, or as `ABORT` if it is dropped unfinished (a client that left).
pub struct Tracked {
    lineage: Lineage,
    pub run: Run,
    finished: bool,
}

impl Tracked {
    pub fn start(lineage: &Lineage, run: Run) -> Self {
        lineage.started(&run);
        Self { lineage: lineage.clone(), run, finished: false }
    }

    pub fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.lineage.finished(&self.run, outcome);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.finished {
            self.lineage.finished(&self.run, Outcome::Aborted);
        }
    }
}

/// The job name a client gave, else one derived from `statement`.
pub fn job_name(context: Option<&crate::proto::LineageContext>, statement: &str) -> JobName {
    match context.map(|c| c.job_name.as_str()).filter(|name| !name.is_empty()) {
        Some(name) => JobName::Given(name.to_string()),
        None => JobName::Statement(statement.to_string()),
    }
}

/// The parent run a client named, if it named one.
pub fn parent(context: Option<&crate::proto::LineageContext>) -> Option<Parent> {
    let context = context.filter(|c| !c.parent_run_id.is_empty())?;
    Some(Parent {
        run_id: context.parent_run_id.clone(),
        job_namespace: if context.parent_job_namespace.is_empty() { "default".into() } else { context.parent_job_namespace.clone() },
        job_name: context.parent_job_name.clone(),
    })
}

/// The job name and parent run a client (Dagster, Airflow) gives its
/// statements' OpenLineage events, from `x-openlineage-*` headers.
pub fn context(headers: &http::HeaderMap) -> Option<crate::proto::LineageContext> {
    let header = |name: &str| headers.get(format!("x-openlineage-{name}").as_str()).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
    let context = crate::proto::LineageContext {
        job_name: header("job-name").unwrap_or_default(),
        parent_run_id: header("parent-run-id").unwrap_or_default(),
        parent_job_namespace: header("parent-job-namespace").unwrap_or_default(),
        parent_job_name: header("parent-job-name").unwrap_or_default(),
    };
    (context != crate::proto::LineageContext::default()).then_some(context)
}
