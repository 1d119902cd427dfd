//! This machine's CPU and memory, sampled every few seconds and kept for the
//! last hour: the observatory's cluster charts (a worker sends its latest
//! sample with each heartbeat).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Samples kept: an hour at the default interval.
const KEPT: usize = 720;
pub const INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = HostSample)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// Busy share of all CPUs since the previous sample, 0–100.
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// This process's resident memory.
    pub process_rss_bytes: u64,
}

/// The last hour of samples. Cheap to clone.
#[derive(Clone, Default)]
pub struct Samples(Arc<Mutex<VecDeque<Sample>>>);

impl Samples {
    pub fn push(&self, sample: Sample) {
        let mut samples = self.0.lock().expect("samples lock");
        samples.push_back(sample);
        while samples.len() > KEPT {
            samples.pop_front();
        }
    }

    pub fn all(&self) -> Vec<Sample> {
        self.0.lock().expect("samples lock").iter().copied().collect()
    }

    pub fn latest(&self) -> Option<Sample> {
        self.0.lock().expect("samples lock").back().copied()
    }
}

/// A node as `system.workers` lists it: this one, and on a coordinator
/// each live worker.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub address: String,
    /// `coordinator`, `worker` or `single`.
    pub role: String,
    pub worker_id: String,
    /// Milliseconds since its last heartbeat (none for this node).
    pub last_heartbeat_ms: Option<u64>,
    pub latest: Option<Sample>,
    pub tasks_running: u64,
    pub tasks_done: u64,
    pub tasks_failed: u64,
    pub shuffle_bytes: u64,
}

/// Lists the nodes when asked (the cluster's membership lives above the engine).
pub type Directory = Arc<dyn Fn() -> Vec<Node> + Send + Sync>;

/// Samples this machine every `INTERVAL` into the returned buffer.
pub fn spawn_sampler() -> Samples {
    let samples = Samples::default();
    let kept = samples.clone();
    tokio::spawn(async move {
        let mut previous = cpu_times();
        loop {
            // The first sample comes soon, so a fresh node has a point to show.
            tokio::time::sleep(if kept.latest().is_none() { Duration::from_millis(500) } else { INTERVAL }).await;
            let now = cpu_times();
            kept.push(sample(previous, now));
            previous = now;
        }
    });
    samples
}

fn sample(previous: (u64, u64), now: (u64, u64)) -> Sample {
    let (busy, total) = (now.0.saturating_sub(previous.0), now.1.saturating_sub(previous.1));
    let (memory_total_bytes, available) = memory();
    Sample {
        at: chrono::Utc::now().timestamp_millis(),
        cpu_percent: if total == 0 { 0.0 } else { busy as f32 * 100.0 / total as f32 },
        memory_used_bytes: memory_total_bytes.saturating_sub(available),
        memory_total_bytes,
        process_rss_bytes: rss(),
    }
}

/// (busy, total) jiffies of all CPUs, from /proc/stat.
fn cpu_times() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else { return (0, 0) };
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// (total, available) bytes, from /proc/meminfo.
fn memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

/// The memory this process may use: the machine's, or less where a cgroup
/// it is in (a container's limit) caps it; 0 if neither can be read.
pub fn memory_limit_bytes() -> u64 {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let total = Some(memory().0).filter(|total| *total > 0);
    cgroup_memory_limits(&cgroups, Path::new("/sys/fs/cgroup")).into_iter().chain(total).min().unwrap_or(0)
}

/// The memory limits of the cgroups `/proc/self/cgroup` lists (v2's
/// `memory.max`, mounted at `root` or, on hosts with both versions, at
/// `root/unified`; v1's `memory.limit_in_bytes`) and of their parents;
/// "max" and unreadable files are no limit.
fn cgroup_memory_limits(cgroups: &str, root: &Path) -> Vec<u64> {
    let mut files = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let (dirs, file) = match controllers {
            "" => (vec![root.to_path_buf(), root.join("unified")], "memory.max"),
            _ if controllers.split(',').any(|controller| controller == "memory") => (vec![root.join("memory")], "memory.limit_in_bytes"),
            _ => continue,
        };
        for dir in dirs {
            files.extend(Path::new(path.trim_start_matches('/')).ancestors().map(|group| dir.join(group).join(file)));
        }
    }
    files.iter().filter_map(|file| std::fs::read_to_string(file).ok()?.trim().parse().ok()).collect()
}

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Memory settings for a server that streams large results, applied before
/// any thread starts.
///
/// glibc's allocator serves buffers over 128 KiB with a fresh `mmap` and
/// returns them with `munmap` (its adaptive threshold settles slowly), so
/// every 2 MiB Flight message and Parquet page buffer paid page faults on
/// new memory: a fifth of a large DoGet's time (perf). Buffers up to 4 MiB
/// now come from the heap, and up to 32 MiB of freed heap stays for reuse.
///
/// Polars decodes up to 16 row groups per file ahead of its consumer (a
/// floor sized for object-store latency, where its byte budget binds first
/// anyway); on local files that read-ahead was most of a streaming scan's
/// heap. One per core (at least two) keeps the decoders as busy as more did
/// (TPC-H SF 1 the same as with two per core) and keeps a full-table DoGet's
/// peak under 512 MiB. An operator's own `POLARS_ROW_GROUP_PREFETCH_SIZE` wins
/// (worth raising for lakes on object stores, where reads wait on the network).
pub fn tune_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called from main before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
    const PREFETCH: &str = "POLARS_ROW_GROUP_PREFETCH_SIZE";
    if std::env::var_os(PREFETCH).is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var(PREFETCH, cores.max(2).to_string());
    }
}

/// Libraries build error values on paths that are not failures (iceberg-rust
/// probed every selected column as a possible metadata column); with
/// `RUST_BACKTRACE` set, as shells and containers often have it, each one
/// also walked the stack. Panics keep their backtraces (`RUST_BACKTRACE`);
/// an operator's own `RUST_LIB_BACKTRACE` wins. Call before other threads exist.
pub fn quiet_library_backtraces() {
    const LIBRARY_BACKTRACES: &str = "RUST_LIB_BACKTRACE";
    if std::env::var_os(LIBRARY_BACKTRACES).is_none() {
        std::env::set_var(LIBRARY_BACKTRACES, "0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_limit_is_read_from_the_process_group_or_a_parent() {
        let root = tempfile::tempdir().unwrap();
        let v2 = root.path().join("pod/app");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(v2.join("memory.max"), "max\n").unwrap();
        std::fs::write(root.path().join("pod/memory.max"), "4294967296\n").unwrap();
        assert_eq!(cgroup_memory_limits("0::/pod/app\n", root.path()), [4 << 30], "the pod caps its container");
        let hybrid = root.path().join("unified/svc");
        std::fs::create_dir_all(&hybrid).unwrap();
        std::fs::write(hybrid.join("memory.max"), "2147483648\n").unwrap();
        assert_eq!(cgroup_memory_limits("0::/svc\n", root.path()), [2 << 30], "v2 beside v1");
        let v1 = root.path().join("memory/docker/abc");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v1.join("memory.limit_in_bytes"), "1073741824\n").unwrap();
        let listed = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n";
        assert_eq!(cgroup_memory_limits(listed, root.path()), [1 << 30]);
        assert!(cgroup_memory_limits("1:cpu:/x\n", root.path()).is_empty(), "no memory controller, no limit");
        assert!(memory_limit_bytes() > 0, "this machine's memory at least");
    }
}
