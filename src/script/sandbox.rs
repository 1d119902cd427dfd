//! One sandboxed runner process under bubblewrap: new user, PID, network,
//! IPC, UTS and mount namespaces; a read-only view of only the Python runtime
//! and system libraries; a private size-limited `/tmp`; no environment from
//! the server; and a socket (fd 3) to the server as its only way out.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use crate::cgroup::{Breach, Cgroups, Limits, WorkloadCgroup};
use super::channel::{self, Channel};
use super::runtime::Runtime;
use super::Error;

const CHANNEL_FD: i32 = 3;
/// The sandbox's unprivileged identity (nobody).
const SANDBOX_ID: &str = "65534";
/// Keeps the end of what a script printed, for error details.
const OUTPUT_TAIL_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct SandboxSpec {
    pub bwrap: PathBuf,
    pub runtime: Runtime,
    pub scratch_bytes: u64,
    pub max_output_bytes: u64,
}

/// What a runner reported once Polars was imported.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Ready {
    pub threads: u32,
    pub import_seconds: f64,
}

/// stdout and stderr of the runner: drained continuously so a chatty script
/// never blocks, counted so a flood stops the workload.
#[derive(Default)]
pub struct Output {
    bytes: AtomicU64,
    over_limit: AtomicBool,
    tail: Mutex<Vec<u8>>,
    pub flooded: Notify,
}

impl Output {
    pub fn tail(&self) -> String {
        String::from_utf8_lossy(&self.tail.lock().expect("output lock")).trim().to_string()
    }
}

pub struct Sandbox {
    child: Child,
    pub channel: Channel,
    pub output: Arc<Output>,
    pub ready: Ready,
    cgroup: Option<WorkloadCgroup>,
}

impl SandboxSpec {
    fn command(&self, threads: u32) -> Command {
        let mut command = Command::new(&self.bwrap);
        command.args(["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--clearenv"]);
        command.args(["--uid", SANDBOX_ID, "--gid", SANDBOX_ID]);
        for (key, value) in [
            ("PATH", "/usr/bin:/bin".to_string()),
            ("HOME", "/tmp".to_string()),
            ("LANG", "C.UTF-8".to_string()),
            ("POLARS_MAX_THREADS", threads.to_string()),
            ("OMP_NUM_THREADS", threads.to_string()),
        ] {
            command.arg("--setenv").arg(key).arg(value);
        }
        command.args(["--ro-bind", "/usr", "/usr"]);
        for dir in ["/lib", "/lib64", "/lib32", "/bin", "/sbin"] {
            match std::fs::read_link(dir) {
                Ok(target) => {
                    command.arg("--symlink").arg(target).arg(dir);
                }
                Err(_) if Path::new(dir).is_dir() => {
                    command.args(["--ro-bind", dir, dir]);
                }
                Err(_) => {}
            }
        }
        let mut bound: Vec<&Path> = Vec::new();
        for path in [&self.runtime.base_prefix, &self.runtime.prefix, self.runtime.runner.parent().unwrap_or(Path::new("/"))] {
            if !path.starts_with("/usr") && !bound.iter().any(|b| path.starts_with(b)) {
                command.arg("--ro-bind").arg(path).arg(path);
                bound.push(path);
            }
        }
        command.args(["--proc", "/proc", "--dev", "/dev"]);
        command.arg("--size").arg(self.scratch_bytes.to_string()).args(["--tmpfs", "/tmp", "--chdir", "/tmp"]);
        // bubblewrap's own root is a writable tmpfs: only /tmp may be written.
        command.args(["--remount-ro", "/"]);
        command.arg(&self.runtime.python).args(["-I", "-B"]).arg(&self.runtime.runner);
        command
    }

    /// Starts a runner and waits until it has imported Polars.
    pub async fn spawn(&self, cgroups: &Cgroups, limits: Limits) -> Result<Sandbox, Error> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(Error::io("create the sandbox socket"))?;
        let theirs: OwnedFd = theirs.into();
        let cgroup = cgroups
            .create(&Cgroups::group_name(), limits)
            .map_err(Error::io("create the workload's cgroup"))?;
        let mut command = self.command(limits.vcpus);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let child_fd = theirs.as_raw_fd();
        let procs = cgroup.as_ref().map(|c| c as *const WorkloadCgroup as usize);
        // SAFETY: the hook only makes async-signal-safe syscalls (dup2, fcntl,
        // open, write, close), and the cgroup it reads outlives the spawn call.
        unsafe {
            command.pre_exec(move || {
                if let Some(group) = procs {
                    (*(group as *const WorkloadCgroup)).join_from_child()?;
                }
                if child_fd == CHANNEL_FD {
                    let flags = libc::fcntl(CHANNEL_FD, libc::F_GETFD);
                    libc::fcntl(CHANNEL_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                } else if libc::dup2(child_fd, CHANNEL_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(Error::io("start bubblewrap"))?;
        drop(theirs);
        ours.set_nonblocking(true).map_err(Error::io("configure the sandbox socket"))?;
        let stream = tokio::net::UnixStream::from_std(ours).map_err(Error::io("register the sandbox socket"))?;
        let output = Arc::new(Output::default());
        for pipe in [child.stdout.take().map(Pipe::Out), child.stderr.take().map(Pipe::Err)].into_iter().flatten() {
            tokio::spawn(drain(pipe, output.clone(), self.max_output_bytes));
        }
        let mut sandbox =
            Sandbox { child, channel: Channel::new(stream), output, ready: Ready { threads: 0, import_seconds: 0.0 }, cgroup };
        sandbox.ready = sandbox.await_ready().await?;
        Ok(sandbox)
    }
}

enum Pipe {
    Out(tokio::process::ChildStdout),
    Err(tokio::process::ChildStderr),
}

async fn drain(pipe: Pipe, output: Arc<Output>, limit: u64) {
    let mut reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match pipe {
        Pipe::Out(out) => Box::new(out),
        Pipe::Err(err) => Box::new(err),
    };
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let total = output.bytes.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        {
            let mut tail = output.tail.lock().expect("output lock");
            tail.extend_from_slice(&buf[..n]);
            let excess = tail.len().saturating_sub(OUTPUT_TAIL_BYTES);
            tail.drain(..excess);
        }
        if total > limit && !output.over_limit.swap(true, Ordering::Relaxed) {
            output.flooded.notify_waiters();
            output.flooded.notify_one();
        }
    }
}

impl Sandbox {
    async fn await_ready(&mut self) -> Result<Ready, Error> {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(60), self.channel.recv()).await;
        match frame {
            Ok(Ok((channel::JSON, payload))) => serde_json::from_slice::<Ready>(&payload)
                .map_err(|e| Error::Crashed(format!("the script runner sent a malformed greeting: {e}"))),
            Ok(_) => {
                let status = self.exit_status().await.map(|s| s.to_string()).unwrap_or_default();
                // Let the output drains catch up with what the process said last.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(Error::Crashed(format!("the script runner did not start ({status}): {}", self.output.tail())))
            }
            Err(_) => Err(Error::Crashed("the script runner did not start within 60 s".into())),
        }
    }

    /// Whether the runner still waits for work (a pooled one may have died).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Which kernel limit ended the runner, if one did.
    pub fn breach(&self) -> Option<Breach> {
        self.cgroup.as_ref().and_then(WorkloadCgroup::breach)
    }

    pub async fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(std::time::Duration::from_secs(2), self.child.wait()).await.ok()?.ok()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if let Some(cgroup) = self.cgroup.take() {
            // Reaping a killed group can take milliseconds; not on a runtime thread.
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(cgroup));
                }
                Err(_) => drop(cgroup),
            }
        }
    }
}
