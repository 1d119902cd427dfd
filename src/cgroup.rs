//! Kernel-enforced limits for one workload (a script sandbox, a query
//! executor): a cgroup per workload with a memory ceiling, a CPU quota of
//! `vcpus` and a process cap. cgroup v2 is
//! used where it is mounted writable, v1 (separate hierarchies) otherwise.

use std::ffi::CString;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CPU_PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: u64,
    pub vcpus: u32,
    pub max_processes: u32,
}

#[derive(Debug, Clone)]
enum Layout {
    V2 { parent: PathBuf },
    V1 { memory: PathBuf, cpu: PathBuf, pids: PathBuf },
}

/// Where workload cgroups are made, if anywhere.
#[derive(Debug, Clone)]
pub struct Cgroups {
    layout: Option<Layout>,
}

/// Which limit the kernel enforced, read after a workload died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    Memory,
    Processes,
}

pub struct WorkloadCgroup {
    dirs: Vec<PathBuf>,
    memory_dir: PathBuf,
    pids_dir: PathBuf,
    v2: bool,
    /// `cgroup.procs` of every hierarchy, prepared before fork so the child
    /// joins with plain syscalls.
    procs_files: Vec<CString>,
}

impl Cgroups {
    /// Finds a writable hierarchy with memory, cpu and pids controllers.
    pub fn detect() -> Self {
        let root = Path::new(CGROUP_ROOT);
        let v2_parent = root.join("floe");
        let v2 = std::fs::read_to_string(root.join("cgroup.controllers"))
            .ok()
            .filter(|c| ["memory", "cpu", "pids"].iter().all(|want| c.split_whitespace().any(|have| have == *want)))
            .and_then(|_| {
                std::fs::create_dir_all(&v2_parent).ok()?;
                std::fs::write(root.join("cgroup.subtree_control"), "+memory +cpu +pids").ok()?;
                std::fs::write(v2_parent.join("cgroup.subtree_control"), "+memory +cpu +pids").ok()?;
                Some(Layout::V2 { parent: v2_parent })
            });
        let v1 = || {
            let dirs = ["memory", "cpu", "pids"].map(|c| root.join(c).join("floe"));
            dirs.iter().all(|d| std::fs::create_dir_all(d).is_ok()).then(|| {
                let [memory, cpu, pids] = dirs;
                Layout::V1 { memory, cpu, pids }
            })
        };
        let cgroups = Self { layout: v2.or_else(v1) };
        cgroups.remove_stale();
        cgroups
    }

    fn parents(&self) -> Vec<&Path> {
        match &self.layout {
            None => Vec::new(),
            Some(Layout::V2 { parent }) => vec![parent],
            Some(Layout::V1 { memory, cpu, pids }) => vec![memory, cpu, pids],
        }
    }

    /// Groups are named `w-<server pid>-…`; a server that died without
    /// cleaning up (SIGKILL) leaves empty groups that are removed here.
    fn remove_stale(&self) {
        for parent in self.parents() {
            let Ok(entries) = std::fs::read_dir(parent) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let owner = name.strip_prefix("w-").and_then(|rest| rest.split('-').next()).and_then(|pid| pid.parse::<u32>().ok());
                if owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
        }
    }

    /// A fresh, unique group name owned by this server process.
    pub fn group_name() -> String {
        format!("w-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple())
    }

    pub fn describe(&self) -> &'static str {
        match self.layout {
            Some(Layout::V2 { .. }) => "cgroup v2",
            Some(Layout::V1 { .. }) => "cgroup v1",
            None => "none (no writable cgroup hierarchy: memory, CPU and process limits are not enforced)",
        }
    }

    pub fn create(&self, name: &str, limits: Limits) -> std::io::Result<Option<WorkloadCgroup>> {
        let quota = u64::from(limits.vcpus) * CPU_PERIOD_US;
        let group = match &self.layout {
            None => return Ok(None),
            Some(Layout::V2 { parent }) => {
                let dir = parent.join(name);
                std::fs::create_dir(&dir)?;
                std::fs::write(dir.join("memory.max"), limits.memory_bytes.to_string())?;
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                std::fs::write(dir.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}"))?;
                std::fs::write(dir.join("pids.max"), limits.max_processes.to_string())?;
                WorkloadCgroup::new(vec![dir.clone()], dir.clone(), dir, true)
            }
            Some(Layout::V1 { memory, cpu, pids }) => {
                let (memory, cpu, pids) = (memory.join(name), cpu.join(name), pids.join(name));
                for dir in [&memory, &cpu, &pids] {
                    std::fs::create_dir(dir)?;
                }
                std::fs::write(memory.join("memory.limit_in_bytes"), limits.memory_bytes.to_string())?;
                let _ = std::fs::write(memory.join("memory.swappiness"), "0");
                std::fs::write(cpu.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string())?;
                std::fs::write(cpu.join("cpu.cfs_quota_us"), quota.to_string())?;
                std::fs::write(pids.join("pids.max"), limits.max_processes.to_string())?;
                WorkloadCgroup::new(vec![memory.clone(), cpu, pids.clone()], memory, pids, false)
            }
        };
        Ok(Some(group))
    }
}

impl WorkloadCgroup {
    fn new(dirs: Vec<PathBuf>, memory_dir: PathBuf, pids_dir: PathBuf, v2: bool) -> Self {
        let procs_files = dirs
            .iter()
            .map(|d| CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes()).expect("no NUL in path"))
            .collect();
        Self { dirs, memory_dir, pids_dir, v2, procs_files }
    }

    /// Moves the calling process into the cgroup. Runs between fork and exec,
    /// so it only makes raw syscalls and never allocates.
    ///
    /// # Safety
    /// Call only in a `pre_exec` hook.
    pub unsafe fn join_from_child(&self) -> std::io::Result<()> {
        let mut digits = [0u8; 20];
        let mut pid = libc::getpid() as u64;
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (pid % 10) as u8;
            pid /= 10;
            if pid == 0 {
                break;
            }
        }
        for file in &self.procs_files {
            let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let written = libc::write(fd, digits[start..].as_ptr().cast(), digits.len() - start);
            libc::close(fd);
            if written < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// The limit the kernel hit, if any: an OOM kill or a refused fork.
    pub fn breach(&self) -> Option<Breach> {
        let counter = |dir: &Path, file: &str, key: &str| -> u64 {
            std::fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|text| {
                    text.lines().find_map(|line| line.strip_prefix(key).and_then(|v| v.trim().parse::<u64>().ok()))
                })
                .unwrap_or(0)
        };
        // A fork bomb often exhausts memory too; the process cap names its cause better.
        if counter(&self.pids_dir, "pids.events", "max ") > 0 {
            return Some(Breach::Processes);
        }
        let oom = if self.v2 {
            counter(&self.memory_dir, "memory.events", "oom_kill ")
        } else {
            counter(&self.memory_dir, "memory.oom_control", "oom_kill ")
        };
        (oom > 0).then_some(Breach::Memory)
    }

    /// Kills everything still in the group: a forked grandchild must not outlive its workload.
    pub fn kill_all(&self) {
        for _ in 0..50 {
            let pids: Vec<i32> = std::fs::read_to_string(self.dirs[0].join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: plain kill(2) on a pid read from our own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for WorkloadCgroup {
    fn drop(&mut self) {
        self.kill_all();
        for dir in &self.dirs {
            // The kernel frees the group once its last process is reaped; retry briefly.
            for _ in 0..20 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}
