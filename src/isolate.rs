//! Query executors: with `--query-memory-mb`, queries run in supervised
//! child Floe processes, one query at a time each, every child in a cgroup
//! whose memory ceiling is the per-query budget. A query that outgrows its
//! budget — or makes Polars abort on an impossible allocation — takes down
//! only its executor: it fails alone with `ResourceExhausted`, the executor
//! is replaced, and the server and other queries go on.
//!
//! An executor is `floe serve` on loopback with the parent's lake flags and
//! ticket key: the parent verifies a ticket, forwards it, and relays the
//! stream. Polars cannot account memory per query inside one process (its
//! thread pool is shared), so the process is the unit of accounting.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use futures::StreamExt;

use crate::cgroup::{Breach, Cgroups, Limits, WorkloadCgroup};
use crate::exec::BatchStream;
use crate::peer::Peers;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the query needed more than its memory budget of {0} MiB (--query-memory-mb) and was stopped; the server and other queries were not affected")]
    OverBudget(u64),
    #[error("an allocation of the query failed (its executor aborted: {0}); the server and other queries were not affected")]
    AllocationFailed(String),
    #[error("the query's executor process died ({0}); the server and other queries were not affected")]
    Died(String),
    #[error("cannot start a query executor: {0}")]
    Spawn(String),
    #[error(transparent)]
    Peer(#[from] crate::peer::Error),
}

/// How to start executors: the program and the flags of the lake they serve.
#[derive(Debug, Clone)]
pub struct ExecutorSpec {
    pub program: PathBuf,
    /// The parent's `serve` flags, less those an executor must not share.
    pub args: Vec<String>,
    /// Set when the parent made up its ticket key: executors need the same.
    pub ticket_key: Option<String>,
    pub budget_mb: u64,
    pub scratch: PathBuf,
}

struct Executor {
    address: String,
    child: tokio::process::Child,
    cgroup: Option<WorkloadCgroup>,
}

impl Executor {
    /// Why an executor whose stream broke failed: its cgroup's OOM kill, or
    /// how it exited (a dying process may not have exited yet: wait briefly).
    /// None: it is alive, and the failure was the connection's.
    async fn post_mortem(&mut self, budget_mb: u64) -> Option<Error> {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await.ok().and_then(Result::ok);
        if self.cgroup.as_ref().and_then(WorkloadCgroup::breach) == Some(Breach::Memory) {
            return Some(Error::OverBudget(budget_mb));
        }
        // Rust aborts when an allocation fails (Polars asking for terabytes).
        use std::os::unix::process::ExitStatusExt;
        status.map(|status| match status.signal() {
            Some(libc::SIGABRT) => Error::AllocationFailed(status.to_string()),
            _ => Error::Died(status.to_string()),
        })
    }
}

/// One query's hold on an executor: back to the pool when the query is done
/// (or its client left), replaced when the query took it down.
struct Lease {
    pool: Arc<Executors>,
    executor: Option<Executor>,
}

impl Lease {
    fn address(&self) -> String {
        self.executor.as_ref().map(|e| e.address.clone()).unwrap_or_default()
    }

    /// The error a failed run answers with. A refusal (bad query, denied
    /// table) leaves the executor healthy; a broken connection means it
    /// may have died, and its post-mortem names why.
    async fn failed(&mut self, err: crate::peer::Error) -> Error {
        let Some(mut executor) = self.executor.take() else { return err.into() };
        if matches!(err, crate::peer::Error::Refused { .. }) {
            self.pool.give_back(executor);
            return err.into();
        }
        match executor.post_mortem(self.pool.spec.budget_mb).await {
            Some(cause) => {
                tracing::warn!(executor = executor.address.as_str(), "a query took its executor down: {cause}");
                cause
            }
            None => err.into(),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(executor) = self.executor.take() {
            self.pool.give_back(executor);
        }
    }
}

/// Makes the kernel's OOM killer pick this process first, so that where no
/// cgroup can be made (a container without cgroup delegation) a runaway
/// query still takes down its executor rather than the server.
///
/// Runs between fork and exec: open, write and close only.
fn prefer_for_oom_kill() {
    const PATH: &[u8] = b"/proc/self/oom_score_adj\0";
    // SAFETY: async-signal-safe syscalls on a NUL-terminated static path.
    unsafe {
        let fd = libc::open(PATH.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::write(fd, b"1000".as_ptr().cast(), 4);
            libc::close(fd);
        }
    }
}

/// The pool of executors; at most one query runs on each at a time.
pub struct Executors {
    spec: ExecutorSpec,
    peers: Peers,
    cgroups: Cgroups,
    idle: Mutex<Vec<Executor>>,
}

/// Flags of `floe serve` an executor gets its own value for (or none).
const OWN_FLAGS: [&str; 21] = [
    "--listen", "--addr-file", "--query-memory-mb", "--cluster", "--worker-dns", "--coordinator", "--heartbeat-seconds",
    "--advertise-address", "--max-concurrent-queries", "--query-queue", "--tls-cert", "--tls-key", "--tls-client-ca",
    "--tls-peer-ca", "--cluster-endpoints", "--no-demo", "--no-scripts", "--openlineage-url", "--openlineage-file", "--http-listen",
    "--data-cache-mb",
];
/// Their environment twins, which the child must not inherit.
// The parent reports lineage for the queries it hands its executors.
const OWN_ENV: [&str; 16] = [
    "FLOE_LISTEN", "FLOE_ADDR_FILE", "FLOE_QUERY_MEMORY_MB", "FLOE_CLUSTER", "FLOE_WORKER_DNS", "FLOE_COORDINATOR",
    "FLOE_ADVERTISE_ADDRESS", "FLOE_TLS_CERT", "FLOE_TLS_KEY", "FLOE_TLS_CLIENT_CA", "FLOE_TLS_PEER_CA", "FLOE_CLUSTER_ENDPOINTS",
    "FLOE_OPENLINEAGE_URL", "FLOE_OPENLINEAGE_FILE", "FLOE_HTTP_LISTEN", "FLOE_DATA_CACHE_MB",
];
const BOOLEAN_FLAGS: [&str; 3] = ["--cluster", "--no-demo", "--no-scripts"];

/// The parent's command-line flags after its subcommand, less `OWN_FLAGS`
/// (in both `--flag value` and `--flag=value` forms).
pub fn shared_args(argv: &[String]) -> Vec<String> {
    let mut args = Vec::new();
    let mut rest = argv.iter().skip_while(|arg| !matches!(arg.as_str(), "serve" | "worker")).skip(1);
    while let Some(arg) = rest.next() {
        let name = arg.split('=').next().unwrap_or_default();
        if !OWN_FLAGS.contains(&name) {
            args.push(arg.clone());
        } else if !arg.contains('=') && !BOOLEAN_FLAGS.contains(&name) {
            rest.next();
        }
    }
    args
}

impl Executors {
    pub fn new(spec: ExecutorSpec, peers: Peers) -> Self {
        Self { spec, peers, cgroups: Cgroups::detect(), idle: Mutex::new(Vec::new()) }
    }

    pub fn describe(&self) -> &'static str {
        self.cgroups.describe()
    }

    async fn spawn(&self) -> Result<Executor, Error> {
        let fail = |e: &dyn std::fmt::Display| Error::Spawn(e.to_string());
        let dir = self.spec.scratch.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
        let addr_file = dir.join("addr");
        let threads = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2);
        let limits = Limits { memory_bytes: self.spec.budget_mb << 20, vcpus: threads, max_processes: 4096 };
        let cgroup = self.cgroups.create(&Cgroups::group_name(), limits).map_err(|e| fail(&e))?;
        let mut command = tokio::process::Command::new(&self.spec.program);
        command.arg("serve").args(&self.spec.args);
        command.args(["--listen", "127.0.0.1:0", "--no-demo", "--no-scripts", "--query-memory-mb", "0", "--http-listen", "off"]);
        // An executor's memory is its query's budget: none of it holds a cache.
        command.args(["--max-concurrent-queries", "1", "--query-queue", "8", "--data-cache-mb", "0"]).arg("--addr-file").arg(&addr_file);
        for variable in OWN_ENV {
            command.env_remove(variable);
        }
        if let Some(key) = &self.spec.ticket_key {
            command.env("FLOE_TICKET_KEY", key);
        }
        command.env("FLOE_LOG", "warn").stdin(std::process::Stdio::null()).kill_on_drop(true);
        let group = cgroup.as_ref().map(|group| group as *const WorkloadCgroup as usize);
        // SAFETY: the hook makes only async-signal-safe syscalls (prctl,
        // open, write, close), and the group it reads outlives the spawn call.
        unsafe {
            command.pre_exec(move || {
                // An executor must not outlive its server, however the server ends.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                prefer_for_oom_kill();
                match group {
                    Some(group) => (*(group as *const WorkloadCgroup)).join_from_child(),
                    None => Ok(()),
                }
            });
        }
        let mut child = command.spawn().map_err(|e| fail(&e))?;
        for _ in 0..600 {
            if let Ok(address) = std::fs::read_to_string(&addr_file) {
                return Ok(Executor { address: address.trim().to_string(), child, cgroup });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Spawn(format!("the executor exited at start-up ({status})")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::Spawn("the executor did not start within 30 s".into()))
    }

    async fn take(&self) -> Result<Executor, Error> {
        let idle = self.idle.lock().expect("executors lock").pop();
        match idle {
            Some(executor) => Ok(executor),
            None => self.spawn().await,
        }
    }

    fn give_back(&self, mut executor: Executor) {
        if matches!(executor.child.try_wait(), Ok(None)) {
            self.idle.lock().expect("executors lock").push(executor);
        }
    }

    /// Runs a query ticket (already verified by the caller) on an executor
    /// and streams its rows.
    pub async fn run(self: &Arc<Self>, ticket: Vec<u8>) -> Result<(SchemaRef, BatchStream), Error> {
        let mut lease = Lease { pool: self.clone(), executor: Some(self.take().await?) };
        let (schema, rows) = match self.peers.stream(&lease.address(), ticket).await {
            Ok(started) => started,
            Err(err) => return Err(lease.failed(err).await),
        };
        let batches = futures::stream::unfold((rows, lease), |(mut rows, mut lease)| async move {
            let item = match rows.next().await? {
                Ok(batch) => Ok(batch),
                Err(err) => Err(crate::exec::Error::Upstream(Box::new(lease.failed(err).await))),
            };
            Some((item, (rows, lease)))
        });
        Ok((schema, Box::pin(batches)))
    }
}
