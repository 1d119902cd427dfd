//! Distributed runs: a coordinator spreads a query's largest Iceberg scan
//! over `floe worker` processes.
//!
//! A worker is a Floe server like any other: a partition of a query is an
//! ordinary query ticket whose pin names the data files to read, so any node
//! with the lake can run it and a lost worker's partition simply runs
//! elsewhere. Workers join by heart-beating `floe.cluster.register` to the
//! coordinator, or are found by resolving a DNS name (a Kubernetes headless
//! Service).

mod aggregate;
mod gather;
mod keys;
pub mod plan;
pub mod stage;
mod tasks;
pub mod worker;

pub use tasks::{TaskRun, WorkerTotals};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::access::Principal;
use crate::exec::Engine;
use crate::proto::{DistributedTicket, WorkerHeartbeat};
use crate::ticket::{Keyring, Kind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no live workers remain to run partition {fragment} (tried {tried})")]
    NoWorkers { fragment: usize, tried: String },
    #[error(transparent)]
    Peer(#[from] crate::peer::Error),
    #[error("combining partial results: {0}")]
    Final(String),
    #[error(transparent)]
    Ticket(#[from] crate::ticket::Error),
    #[error(transparent)]
    Exec(#[from] crate::exec::Error),
    #[error("{0}")]
    NotCoordinator(String),
}

/// How the coordinator treats its workers.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Forget a worker that has not heart-beaten for this long.
    pub heartbeat_timeout: Duration,
    /// Resolve this `host:port` for workers (every few seconds).
    pub worker_dns: Option<String>,
    /// Give up on a partition's worker after this long and run it elsewhere.
    pub fragment_timeout: Duration,
    /// Runs of one partition before the query fails.
    pub fragment_attempts: usize,
    /// Hand clients endpoints on the workers (`direct`) or fetch through the
    /// coordinator (`proxy`, for clients that cannot reach workers).
    pub direct_endpoints: bool,
    /// This coordinator's address as clients reach it, for endpoint locations.
    pub advertise_address: Option<String>,
    /// A joined table larger than this is hash-shuffled rather than read
    /// whole by every partition.
    pub broadcast_limit_bytes: u64,
    /// A grouped scan larger than this is shuffled by its group keys.
    pub group_shuffle_bytes: u64,
}

struct Member {
    last_seen: Instant,
    worker_id: String,
    /// The host samples its heartbeats carried (the last hour).
    host: crate::host::Samples,
}

/// A worker as the observatory shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerView {
    pub address: String,
    pub worker_id: String,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ms: u64,
    pub host: Vec<crate::host::Sample>,
    /// Its partitions and shuffle map tasks since the coordinator started.
    pub tasks: WorkerTotals,
}

/// The coordinator's view of its workers.
pub struct Cluster {
    config: ClusterConfig,
    members: Mutex<HashMap<String, Member>>,
    tasks: tasks::Tasks,
}

impl Cluster {
    pub fn new(config: ClusterConfig) -> Self {
        Self { config, members: Mutex::new(HashMap::new()), tasks: Default::default() }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// `floe.cluster.register`: a sealed heartbeat, so only nodes holding
    /// the cluster's ticket key can join (and so receive partitions).
    pub fn register(&self, keyring: &Keyring, body: &[u8], caller: &Principal) -> Result<(), Error> {
        let heartbeat = keyring.open::<WorkerHeartbeat>(body, Kind::Heartbeat, caller)?.payload;
        if heartbeat.address.is_empty() {
            return Err(Error::Final("a worker heartbeat needs its address".into()));
        }
        self.heartbeat(&heartbeat.address, &heartbeat.worker_id);
        if let Some(sample) = heartbeat.host {
            if let Some(member) = self.members.lock().expect("members lock").get(&heartbeat.address) {
                member.host.push(crate::host::Sample {
                    at: sample.at,
                    cpu_percent: sample.cpu_percent,
                    memory_used_bytes: sample.memory_used_bytes,
                    memory_total_bytes: sample.memory_total_bytes,
                    process_rss_bytes: sample.process_rss_bytes,
                });
            }
        }
        crate::telemetry::metrics::metrics().workers_alive.record(self.live_workers().len() as u64, &[]);
        Ok(())
    }

    /// A worker's registration or heartbeat. A restarted worker (new id, same
    /// address) simply replaces its old entry.
    pub fn heartbeat(&self, address: &str, worker_id: &str) {
        let mut members = self.members.lock().expect("members lock");
        match members.get_mut(address) {
            Some(member) if member.worker_id == worker_id => member.last_seen = Instant::now(),
            _ => {
                tracing::info!(worker = address, id = worker_id, "worker joined");
                let member = Member { last_seen: Instant::now(), worker_id: worker_id.to_string(), host: Default::default() };
                members.insert(address.to_string(), member);
            }
        }
    }

    /// Workers heard from within the heartbeat timeout, in a stable order.
    /// The live workers with their heartbeats and host samples.
    pub fn workers(&self) -> Vec<WorkerView> {
        let live = self.live_workers();
        let members = self.members.lock().expect("members lock");
        live.iter()
            .filter_map(|address| members.get(address).map(|m| (address, m)))
            .map(|(address, member)| WorkerView {
                address: address.clone(),
                worker_id: member.worker_id.clone(),
                last_heartbeat_ms: member.last_seen.elapsed().as_millis() as u64,
                host: member.host.all(),
                tasks: self.tasks.totals(address),
            })
            .collect()
    }

    /// The partition and map task attempts of a client's query (recent ones).
    pub fn tasks_of(&self, query_id: &str) -> Vec<TaskRun> {
        self.tasks.of_query(query_id)
    }

    pub fn live_workers(&self) -> Vec<String> {
        let mut members = self.members.lock().expect("members lock");
        let timeout = self.config.heartbeat_timeout;
        members.retain(|address, member| {
            let alive = member.last_seen.elapsed() < timeout;
            if !alive {
                tracing::warn!(worker = address.as_str(), "worker missed its heartbeats; dropped from the cluster");
            }
            alive
        });
        let mut addresses: Vec<String> = members.keys().cloned().collect();
        addresses.sort();
        addresses
    }

    /// Marks a worker that just failed a partition as gone until it
    /// heart-beats again, so the retry and later queries avoid it.
    pub fn suspect(&self, address: &str) {
        self.members.lock().expect("members lock").remove(address);
    }

    /// Keeps membership in step with a DNS name's addresses.
    pub fn spawn_dns_discovery(self: &std::sync::Arc<Self>) {
        let Some(name) = self.config.worker_dns.clone() else { return };
        let cluster = self.clone();
        tokio::spawn(async move {
            loop {
                match tokio::net::lookup_host(name.as_str()).await {
                    Ok(addresses) => {
                        for address in addresses {
                            cluster.heartbeat(&address.to_string(), "dns");
                        }
                    }
                    Err(err) => tracing::warn!(name = name.as_str(), "cannot resolve workers: {err}"),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }
}

/// How a query will run over the cluster, with the workers it was planned for.
pub struct Spread {
    pub distribution: plan::Distribution,
    pub workers: Vec<String>,
    /// Hash-shuffle map stages already run for it (one stage shuffles every side of a join).
    pub shuffles: usize,
    /// Map tasks that had to run again on another worker.
    pub reruns: usize,
}

/// Plans `plan` over the live workers (at most `cluster_size`); Err says why
/// it runs on one node instead.
pub async fn spread(
    cluster: &Arc<Cluster>,
    engine: &Engine,
    plan: &crate::exec::Plan,
    cluster_size: Option<usize>,
    owner: &Principal,
) -> Result<Spread, plan::Reason> {
    let mut workers = cluster.live_workers();
    if let Some(size) = cluster_size {
        workers.truncate(size.max(1));
    }
    if workers.is_empty() {
        return Err("no Floe workers are live".into());
    }
    let scans = engine.planned_files(&plan.ticket).await.map_err(|e| e.to_string())?;
    let files = scans.iter().map(|(relation, scan)| (relation.clone(), scan.files.clone())).collect();
    let columns = scans.into_iter().map(|(relation, scan)| (relation, scan.columns)).collect();
    let names: Vec<String> = plan.schema.fields().iter().map(|f| f.name().clone()).collect();
    let limits = plan::Limits {
        broadcast_bytes: cluster.config.broadcast_limit_bytes,
        group_shuffle_bytes: cluster.config.group_shuffle_bytes,
    };
    let (mut distribution, sides) = plan::distribute_with_shuffle(&plan.ticket, &files, &columns, &names, workers.len(), limits)?;
    let mut reruns = 0;
    if !sides.is_empty() {
        // The map stage runs now, so reduce partitions are ready whoever fetches them.
        let started = Instant::now();
        let (outputs, map_reruns) = stage::run_map_stage(cluster, engine, &plan.ticket, &sides, &workers, owner)
            .await
            .map_err(|e| format!("the shuffle's map stage failed ({e}); runs on one node"))?;
        reruns = map_reruns;
        let relations: Vec<&str> = sides.iter().map(|side| side.relation.as_str()).collect();
        tracing::info!(query = plan.ticket.query_id.as_str(), relations = relations.join(" ⋈ ").as_str(),
            millis = started.elapsed().as_millis() as u64, "shuffle map stage done");
        distribution.fill_shuffles(&outputs);
    }
    Ok(Spread { distribution, workers, shuffles: usize::from(!sides.is_empty()), reruns })
}

/// The coordinator-run form of a spread query (its final SQL, if any, and
/// the result schema travel with it, so any coordinator can serve it).
pub fn distributed_ticket(spread: &Spread, plan: &crate::exec::Plan) -> DistributedTicket {
    let final_sql = match &spread.distribution {
        plan::Distribution::Combined { final_sql, .. } => final_sql.clone(),
        plan::Distribution::Partitioned { .. } => String::new(),
    };
    let schema = arrow_flight::FlightInfo::new().try_with_schema(&plan.schema).map(|info| info.schema.to_vec()).unwrap_or_default();
    DistributedTicket {
        fragments: spread.distribution.fragments().to_vec(),
        final_sql,
        session: plan.ticket.session.clone(),
        query_id: plan.ticket.query_id.clone(),
        schema,
        statement: Some(plan.ticket.clone()),
    }
}

/// The rows of a distributed ticket without a final step, streamed as its
/// partitions finish (two at a time): the coordinator holds at most those
/// partitions, never the whole result.
pub fn stream_partitions(
    cluster: &Arc<Cluster>,
    engine: &Arc<Engine>,
    ticket: &DistributedTicket,
    owner: &Principal,
) -> Result<(SchemaRef, crate::exec::BatchStream), Error> {
    use futures::{StreamExt, TryStreamExt};

    let schema = ticket_schema(ticket)?;
    let workers = cluster.live_workers();
    let runs = ticket.fragments.clone().into_iter().enumerate().map({
        let (cluster, engine, owner, query_id) = (cluster.clone(), engine.clone(), owner.clone(), ticket.query_id.clone());
        move |(index, fragment)| {
            let (cluster, engine, owner, query_id) = (cluster.clone(), engine.clone(), owner.clone(), query_id.clone());
            let first = gather::round_robin(&workers, index);
            async move {
                let task = gather::Task { query_id: &query_id, what: "partition", index };
                gather::run_one(&cluster, &engine, task, &fragment, first, &owner).await
            }
        }
    });
    let planned = schema.clone();
    let batches = futures::stream::iter(runs)
        .buffer_unordered(2)
        .map_ok(|(batches, _)| futures::stream::iter(batches.into_iter().map(Ok::<_, Error>)))
        .try_flatten()
        .and_then(move |batch| futures::future::ready(gather::as_planned(batch, &planned)))
        .map_err(|e| crate::exec::Error::Upstream(Box::new(e)));
    Ok((schema, Box::pin(batches)))
}

fn ticket_schema(ticket: &DistributedTicket) -> Result<SchemaRef, Error> {
    let info = arrow_flight::FlightInfo { schema: ticket.schema.clone().into(), ..Default::default() };
    Ok(Arc::new(info.try_decode_schema().map_err(|e| Error::Final(format!("ticket schema: {e}")))?))
}

/// Runs a distributed ticket: every partition on a worker, then the final
/// step here. Also answers how many partitions had to run again elsewhere.
pub async fn run_distributed(
    cluster: &Arc<Cluster>,
    engine: &Engine,
    ticket: &DistributedTicket,
    owner: &Principal,
) -> Result<(SchemaRef, Vec<RecordBatch>, usize), Error> {
    let schema = ticket_schema(ticket)?;
    let started = Instant::now();
    let (partials, stats) = gather::run_fragments(cluster, engine, &ticket.query_id, &ticket.fragments, owner).await?;
    let reruns = stats.iter().map(|stat| stat.attempts - 1).sum();
    for (index, stat) in stats.iter().enumerate() {
        tracing::info!(query = ticket.query_id.as_str(), partition = index, worker = stat.worker.as_str(),
            attempts = stat.attempts, rows = stat.rows, millis = stat.millis as u64, "partition done");
    }
    let gathered = started.elapsed();
    let final_sql = ticket.final_sql.clone();
    let result_schema = schema.clone();
    let batches = tokio::task::spawn_blocking(move || gather::combine(partials, &final_sql, &result_schema))
        .await
        .map_err(|e| Error::Final(e.to_string()))??;
    tracing::info!(query = ticket.query_id.as_str(), partitions = ticket.fragments.len(),
        gather_ms = gathered.as_millis() as u64, final_ms = (started.elapsed() - gathered).as_millis() as u64, "distributed query done");
    Ok((schema, batches, reruns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(timeout: Duration) -> ClusterConfig {
        ClusterConfig {
            heartbeat_timeout: timeout,
            worker_dns: None,
            fragment_timeout: Duration::from_secs(1),
            fragment_attempts: 3,
            direct_endpoints: true,
            advertise_address: None,
            broadcast_limit_bytes: 64 << 20,
            group_shuffle_bytes: 256 << 20,
        }
    }

    #[test]
    fn workers_that_stop_heart_beating_leave_and_rejoin_when_they_return() {
        let cluster = Cluster::new(config(Duration::from_millis(50)));
        cluster.heartbeat("b:1", "x");
        cluster.heartbeat("a:1", "y");
        assert_eq!(cluster.live_workers(), ["a:1", "b:1"]);
        std::thread::sleep(Duration::from_millis(80));
        cluster.heartbeat("a:1", "y");
        assert_eq!(cluster.live_workers(), ["a:1"]);
        cluster.suspect("a:1");
        assert!(cluster.live_workers().is_empty());
        cluster.heartbeat("a:1", "restarted");
        assert_eq!(cluster.live_workers(), ["a:1"]);
    }
}
