//! OpenLineage runs around the work placed here: statements that write
//! (however they arrive), queries a DoGet starts, `floe.run` workloads.

use super::Workloads;
use crate::access::Principal;
use crate::error::Result;
use crate::exec::dml;
use crate::lineage::{JobKind, Outcome, Tracked};
use crate::proto::{QueryTicket, SessionDefaults};

impl Workloads {
    /// Runs a statement; one that writes logs its `floe::statement` line
    /// here (it streams no rows) and is a lineage run with the table it
    /// wrote as output (what its snapshot added) and what it read as inputs.
    pub async fn apply(&self, sql: &str, params: &[String], session: &SessionDefaults, who: &Principal) -> Result<dml::Statement> {
        let started = std::time::Instant::now();
        let writes = || crate::sql::describe(sql).is_ok_and(|d| !d.is_query);
        let tracked = match self.lineage.enabled() && writes() {
            true => self.start_run(&uuid::Uuid::new_v4().to_string(), JobKind::Query, session, sql),
            false => None,
        };
        let (applied, committed) = crate::write::noting_commits(dml::apply(&self.engine, sql, params, session, who)).await;
        let applied = applied.map_err(crate::error::Error::from);
        let write = |target, rows, failure| Write { sql, target, rows, started, committed: committed.last().copied(), failure };
        match &applied {
            Ok(dml::Statement::Query(_)) => {}
            Ok(dml::Statement::Changed { rows, target }) => self.record_write(who, write(target, *rows, None)),
            Ok(dml::Statement::Reported { target, .. }) => self.record_write(who, write(target, 0, None)),
            Err(err) if writes() => self.record_write(who, write("", 0, Some((format!("{:?}", err.code()), err.to_string())))),
            Err(_) => {}
        }
        if let Some(tracked) = tracked {
            self.finish_write(tracked, sql, session, &applied).await;
        }
        applied
    }

    async fn finish_write(&self, mut tracked: Tracked, sql: &str, session: &SessionDefaults, applied: &Result<dml::Statement>) {
        let target = match applied {
            Ok(dml::Statement::Changed { target, .. } | dml::Statement::Reported { target, .. }) => target,
            Ok(dml::Statement::Query(_)) => return,
            Err(err) => return tracked.finish(Outcome::Failed(err.to_string())),
        };
        let parts: Vec<String> = target.split('.').map(|p| p.trim_matches('"').to_string()).collect();
        let lake = self.engine.lake();
        let table = match lake.names().resolve(&parts, session) {
            Ok(written) => lake.existing_or_written(written).await.ok(),
            Err(_) => None,
        };
        if let Some(table) = &table {
            if let Some((dataset, statistics)) = self.engine.written_dataset(table).await {
                tracked.run.outputs.push((dataset, Some(statistics)));
            }
        }
        self.engine.describe_statement(&mut tracked.run, sql, session, table.as_ref()).await;
        tracked.finish(Outcome::Complete);
    }

    /// A run for `text` (a statement, or a script), `START` sent; `None` when lineage is off.
    pub(super) fn start_run(&self, run_id: &str, kind: JobKind, session: &SessionDefaults, text: &str) -> Option<Tracked> {
        let context = session.lineage.as_ref();
        let mut run = self.lineage.run(run_id, kind, crate::lineage::job_name(context, text), crate::lineage::parent(context))?;
        if kind == JobKind::Query {
            run.sql = Some(text.to_string());
        }
        Some(Tracked::start(&self.lineage, run))
    }

    /// The lineage run of a query a client's DoGet starts, its inputs the pinned snapshots.
    pub(super) async fn query_run(&self, query: &QueryTicket) -> Option<Tracked> {
        // A statement's count of changed rows (a literal SELECT) reads no table: no lineage.
        if !self.lineage.enabled() || query.tables.is_empty() {
            return None;
        }
        let session = query.session.clone().unwrap_or_default();
        let context = session.lineage.as_ref();
        let mut run = self.lineage.run(&query.query_id, JobKind::Query, crate::lineage::job_name(context, &query.sql), crate::lineage::parent(context))?;
        run.sql = Some(query.sql.clone());
        run.inputs = self.engine.read_datasets(&query.tables).await;
        Some(Tracked::start(&self.lineage, run))
    }
}

/// A `floe.run` workload's lineage run, with what it learns as it runs.
pub(super) struct WorkloadRun {
    tracked: Tracked,
    /// A script's reads are known once it has run.
    pub script_pins: Option<super::run::ScriptPins>,
}

impl Workloads {
    /// The run of a `floe.run` workload, `START` sent. A query that writes is
    /// its statement's run instead (see `apply`).
    pub(super) fn workload_run(&self, request: &super::RunRequest, session: &SessionDefaults) -> Option<WorkloadRun> {
        if !self.lineage.enabled() {
            return None;
        }
        let (kind, text) = match request.mode {
            super::request::Mode::Script => (JobKind::Script, request.script.clone().unwrap_or_default()),
            super::request::Mode::Query => {
                let query = request.query.clone().unwrap_or_default();
                if crate::sql::describe(&query).is_ok_and(|d| !d.is_query) {
                    return None;
                }
                (JobKind::Query, query)
            }
        };
        let tracked = self.start_run(&uuid::Uuid::new_v4().to_string(), kind, session, &text)?;
        Some(WorkloadRun { tracked, script_pins: None })
    }

    pub(super) async fn finish_workload(
        &self,
        run: Option<WorkloadRun>,
        request: &super::RunRequest,
        session: &SessionDefaults,
        failure: Option<&crate::error::Error>,
    ) {
        let Some(WorkloadRun { mut tracked, script_pins }) = run else { return };
        if let Some(err) = failure {
            return tracked.finish(Outcome::Failed(err.to_string()));
        }
        let mut session = session.clone();
        if let Some(catalog) = &request.catalog {
            session.catalog = catalog.clone();
        }
        let names = self.engine.lake().names();
        let destination = request.destination.as_deref().and_then(|d| names.resolve(&d.split('.').map(str::to_string).collect::<Vec<_>>(), &session).ok());
        if let Some(table) = &destination {
            if let Some((dataset, statistics)) = self.engine.written_dataset(table).await {
                tracked.run.outputs.push((dataset, Some(statistics)));
            }
        }
        match (script_pins, &request.query) {
            (Some(pins), _) => {
                let pins: Vec<(String, i64)> = pins.lock().expect("pins lock").clone().into_iter().collect();
                for (name, snapshot) in pins {
                    let Ok(table) = names.resolve(&name.split('.').map(str::to_string).collect::<Vec<_>>(), &session) else { continue };
                    tracked.run.inputs.extend(self.engine.table_dataset(&table, Some(snapshot)).await);
                }
            }
            (None, Some(query)) => {
                let aliases: Vec<(String, String)> = request.tables.iter().filter_map(|t| t.parts().ok()).collect();
                if let Ok(sql) = crate::sql::with_table_aliases(query, &aliases) {
                    self.engine.describe_statement(&mut tracked.run, &sql, &session, destination.as_ref()).await;
                }
            }
            (None, None) => {}
        }
        tracked.finish(Outcome::Complete);
    }
}

impl Workloads {
    /// A bulk ingest into `table` as a lineage run (no statement: the job is named for the table).
    pub fn ingest_run(&self, table: &crate::catalog::TableRef, session: &SessionDefaults) -> Option<Tracked> {
        let context = session.lineage.as_ref();
        let job = match context.map(|c| c.job_name.as_str()).filter(|name| !name.is_empty()) {
            Some(name) => crate::lineage::JobName::Given(name.to_string()),
            None => crate::lineage::JobName::Given(format!("ingest_{table}")),
        };
        let run = self.lineage.run(&uuid::Uuid::new_v4().to_string(), JobKind::Query, job, crate::lineage::parent(context))?;
        Some(Tracked::start(&self.lineage, run))
    }

    pub async fn finish_ingest(&self, tracked: Option<Tracked>, table: &crate::catalog::TableRef, failure: Option<String>) {
        let Some(mut tracked) = tracked else { return };
        if let Some(message) = failure {
            return tracked.finish(Outcome::Failed(message));
        }
        if let Some((dataset, statistics)) = self.engine.written_dataset(table).await {
            tracked.run.outputs.push((dataset, Some(statistics)));
        }
        tracked.finish(Outcome::Complete);
    }
}

impl Workloads {
    /// A statement that wrote (or an ingest, `sql` empty): its `floe::statement`
    /// line (a query's is logged when its DoGet stream ends; the client
    /// address is in the line's span) and its record in the history.
    pub fn record_write(&self, who: &Principal, write: Write<'_>) {
        let Write { sql, target, rows, started, committed, failure } = write;
        let kind = if sql.is_empty() { "INGEST".to_string() } else { crate::access::statement_kind(sql) };
        let outcome = failure.as_ref().map_or("ok", |(code, _)| code.as_str());
        let elapsed = started.elapsed();
        let metrics = crate::telemetry::metrics::metrics();
        let attributes = [opentelemetry::KeyValue::new("kind", kind.clone()), opentelemetry::KeyValue::new("outcome", outcome.to_string())];
        metrics.statement_duration.record(elapsed.as_secs_f64(), &attributes);
        tracing::info!(
            target: "floe::statement",
            role = "client",
            principal = %who,
            kind = kind.as_str(),
            tables = target,
            rows = rows.max(0) as u64,
            duration_ms = elapsed.as_millis() as u64,
            outcome,
            "statement finished"
        );
        let start = crate::history::Start {
            query_id: uuid::Uuid::new_v4().to_string(),
            protocol: crate::history::Protocol::Flight,
            sql: if sql.is_empty() { format!("ingest into {target}") } else { sql.to_string() },
            kind,
            principal: who.to_string(),
            client: String::new(),
            tables: if target.is_empty() { Vec::new() } else { vec![target.to_string()] },
        };
        self.engine.history().record(start, elapsed, rows.max(0) as u64, committed, failure);
    }
}

/// A statement that wrote (or an ingest, `sql` empty), as it ended.
pub struct Write<'a> {
    pub sql: &'a str,
    pub target: &'a str,
    pub rows: i64,
    pub started: std::time::Instant,
    /// The last snapshot it committed.
    pub committed: Option<i64>,
    /// The gRPC code and message of its failure.
    pub failure: Option<(String, String)>,
}
