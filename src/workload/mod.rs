//! Workload placement: what runs where. The protocol adapters (Flight SQL,
//! `floe.run`, HTTP) ask this layer to plan a statement — a change runs at
//! once; a query is placed on this node, partitioned over workers, or
//! gathered on the coordinator — and to start whatever a ticket names.

pub mod dtype;
pub mod inline;
mod lineage;
pub use lineage::Write;
pub mod request;
pub mod run;
pub mod tickets;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

pub use request::{RunFailure, RunRequest, RunResponse};
pub use tickets::Started;

use crate::access::Principal;
use crate::cluster::{self, plan::Distribution, Cluster};
use crate::error::Result;
use crate::exec::{dml, Engine, Plan};
use crate::proto::{DistributedTicket, QueryTicket, SessionDefaults};
use crate::isolate::Executors;
use crate::results::ResultStore;
use crate::script::Scripts;

/// Where a query runs.
pub enum Placement {
    /// On this node; `reason` says why when distribution was asked for.
    Local { ticket: QueryTicket, reason: Option<String> },
    /// Each partition's rows are final: a client may fetch them from the
    /// workers (`fragments`, each with the worker it was planned for), or
    /// through the coordinator (`gathered`).
    Partitioned { fragments: Vec<(QueryTicket, String)>, gathered: DistributedTicket, spread: SpreadStats },
    /// The coordinator combines the partitions' partial rows.
    Gathered { ticket: DistributedTicket, spread: SpreadStats },
}

/// What spreading a query cost before any partition ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpreadStats {
    /// Hash-shuffle map stages run.
    pub shuffles: usize,
    /// Map tasks re-run on another worker after a failure.
    pub reruns: usize,
}

impl Placement {
    pub fn name(&self) -> &'static str {
        match self {
            Placement::Local { .. } => "local",
            Placement::Partitioned { .. } => "partitioned",
            Placement::Gathered { .. } => "gathered",
        }
    }
}

/// A planned statement: the rows' schema and where they come from.
pub struct Planned {
    pub schema: SchemaRef,
    pub placement: Placement,
    /// The tables it reads, or the one it changed (as written), for the audit log.
    pub tables: Vec<String>,
}

/// A statement parsed once (see [`Workloads::prepare`]).
pub enum Prepared {
    /// A query, planned: where it runs is decided next.
    Query(Plan),
    /// A change already made, answered by its counts.
    Change(Planned),
}

/// The services workloads run on.
pub struct Workloads {
    engine: Arc<Engine>,
    scripts: Arc<Scripts>,
    /// Set on a coordinator (`floe serve --cluster`).
    cluster: Option<Arc<Cluster>>,
    /// Set with `--query-memory-mb`: queries run in capped executor processes.
    executors: Option<Arc<Executors>>,
    /// Where results too large to answer inline are kept.
    results: Arc<ResultStore>,
    /// Where OpenLineage events go (nowhere by default).
    lineage: crate::lineage::Lineage,
    /// This machine's CPU and memory, the last hour.
    host: crate::host::Samples,
    /// Whether this node is a `floe worker`.
    worker: bool,
}

/// The rows of a placed query, running now.
pub struct PlacedRows {
    pub schema: SchemaRef,
    pub batches: crate::exec::BatchStream,
    /// Partitions that ran again on another worker after a failure.
    pub reruns: usize,
}

impl Workloads {
    pub fn new(engine: Arc<Engine>, scripts: Arc<Scripts>, cluster: Option<Arc<Cluster>>, results: Arc<ResultStore>) -> Self {
        Self { engine, scripts, cluster, executors: None, results, lineage: Default::default(), host: Default::default(), worker: false }
    }

    pub fn results(&self) -> &ResultStore {
        &self.results
    }

    pub fn with_host(mut self, host: crate::host::Samples, worker: bool) -> Self {
        self.host = host;
        self.worker = worker;
        self
    }

    pub fn host(&self) -> &crate::host::Samples {
        &self.host
    }

    pub fn is_worker(&self) -> bool {
        self.worker
    }

    pub fn with_lineage(mut self, lineage: crate::lineage::Lineage) -> Self {
        self.lineage = lineage;
        self
    }

    pub fn with_executors(mut self, executors: Option<Arc<Executors>>) -> Self {
        self.executors = executors;
        self
    }

    /// Runs a query placed on this node: in an executor process when
    /// queries have a memory budget, else in the server itself.
    pub async fn run_local(&self, ticket: &QueryTicket, who: &Principal) -> Result<(SchemaRef, crate::exec::BatchStream)> {
        match &self.executors {
            Some(executors) => {
                let flight_ticket = crate::exec::ticket::flight_ticket(self.engine.keyring(), ticket, who);
                Ok(executors.run(flight_ticket.ticket.to_vec()).await?)
            }
            None => Ok(self.engine.execute(ticket, who).await?),
        }
    }

    /// Runs a placed query now: here, or over the cluster's workers with
    /// the final step on this node.
    pub async fn start_placed(&self, placement: Placement, who: &Principal) -> Result<PlacedRows> {
        match placement {
            Placement::Local { ticket, .. } => {
                let (schema, batches) = self.run_local(&ticket, who).await?;
                Ok(PlacedRows { schema, batches, reruns: 0 })
            }
            Placement::Partitioned { gathered: ticket, .. } | Placement::Gathered { ticket, .. } => {
                let cluster = self.cluster.as_ref().expect("only a coordinator spreads queries");
                let (schema, batches, reruns) = cluster::run_distributed(cluster, &self.engine, &ticket, who).await?;
                Ok(PlacedRows { schema, batches: crate::exec::in_memory(batches), reruns })
            }
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// Parses `sql` once: a change runs now and is answered by its counts
    /// (already placed: a one-row literal); a query is planned, not yet placed.
    pub async fn prepare(&self, sql: &str, params: Vec<String>, session: SessionDefaults, who: &Principal) -> Result<Prepared> {
        Ok(match self.apply(sql, &params, &session, who).await? {
            dml::Statement::Changed { rows, target } => {
                Prepared::Change(self.literal_row(&[("rows_affected", rows)], target, session, who).await?)
            }
            dml::Statement::Reported { report, target } => Prepared::Change(self.literal_row(&report, target, session, who).await?),
            dml::Statement::Query(query) => Prepared::Query(self.engine.plan_query(query, sql, params, session, who).await?),
        })
    }

    /// Plans `sql`: a statement that writes runs now (clients send DDL and
    /// DML through `execute` too) and its rows are the affected row count;
    /// a query is planned and placed. The statement is parsed once.
    pub async fn plan_statement(&self, sql: &str, params: Vec<String>, session: SessionDefaults, who: &Principal) -> Result<Planned> {
        let distributed = session.distributed;
        let plan = match self.prepare(sql, params, session, who).await? {
            Prepared::Change(planned) => return Ok(planned),
            Prepared::Query(plan) => plan,
        };
        let schema = plan.schema.clone();
        let tables = plan.ticket.tables.iter().map(|pin| pin.relation.clone()).collect();
        Ok(Planned { schema, placement: self.place(plan, distributed, None, who).await, tables })
    }

    /// What a change answers: one row of named counts, as a query any node can replay.
    async fn literal_row(&self, values: &[(&str, i64)], target: String, session: SessionDefaults, who: &Principal) -> Result<Planned> {
        let items: Vec<String> = values.iter().map(|(name, value)| format!("CAST({value} AS BIGINT) AS {name}")).collect();
        let plan = self.engine.plan(&format!("SELECT {}", items.join(", ")), Vec::new(), session, who).await?;
        let placement = Placement::Local { ticket: plan.ticket, reason: None };
        Ok(Planned { schema: plan.schema, placement, tables: vec![target] })
    }

    /// Decides where a planned query runs: on the cluster's workers when
    /// `distributed` is asked for and the query spreads, else here.
    pub async fn place(&self, plan: Plan, distributed: bool, cluster_size: Option<usize>, who: &Principal) -> Placement {
        let cluster = match &self.cluster {
            Some(cluster) if distributed => cluster,
            _ => {
                let reason = distributed
                    .then(|| "this server has no workers (`floe serve --cluster`), so the workload ran on one node".to_string());
                return Placement::Local { ticket: plan.ticket, reason };
            }
        };
        let spread = match cluster::spread(cluster, &self.engine, &plan, cluster_size, who).await {
            Ok(spread) => spread,
            Err(reason) => {
                tracing::info!(query = plan.ticket.query_id.as_str(), "runs on one node: {reason}");
                return Placement::Local { ticket: plan.ticket, reason: Some(reason) };
            }
        };
        let gathered = cluster::distributed_ticket(&spread, &plan);
        let stats = SpreadStats { shuffles: spread.shuffles, reruns: spread.reruns };
        match spread.distribution {
            Distribution::Partitioned { fragments } => {
                let fragments = fragments
                    .into_iter()
                    .enumerate()
                    .map(|(index, fragment)| (fragment, spread.workers[index % spread.workers.len()].clone()))
                    .collect();
                Placement::Partitioned { fragments, gathered, spread: stats }
            }
            Distribution::Combined { .. } => Placement::Gathered { ticket: gathered, spread: stats },
        }
    }

    /// Runs a workload whose rows come back in the answer (the HTTP API):
    /// up to `--inline-rows` inline, the whole result stored past that.
    pub async fn run_inline(
        &self,
        request: RunRequest,
        session: SessionDefaults,
        principal: &Principal,
    ) -> Result<(RunResponse, Option<inline::Inline>)> {
        run::run_inline(self, request, session, principal).await
    }

    /// Runs a `floe.run` request (oleander's JSON contract).
    pub async fn run(&self, request: RunRequest, session: SessionDefaults, principal: &Principal) -> Result<RunResponse> {
        run::run_request(self, request, session, principal).await
    }
}
