//! Pre-started runners, so a small script answers in well under a second.
//! Each runner serves exactly one workload and is then killed: a pool entry
//! is a fresh process that has only imported Polars, never a reused one.

use std::sync::{Arc, Mutex};

use crate::cgroup::{Cgroups, Limits};
use super::sandbox::{Sandbox, SandboxSpec};
use super::Error;

pub struct Pool {
    spec: SandboxSpec,
    cgroups: Cgroups,
    /// Pooled runners are started for this many vCPUs (Polars sizes its
    /// thread pool at start); other sizes start on demand.
    pooled_vcpus: u32,
    size: usize,
    limits: Box<dyn Fn(u32) -> Limits + Send + Sync>,
    idle: Mutex<Vec<Sandbox>>,
}

impl Pool {
    pub fn new(
        spec: SandboxSpec,
        cgroups: Cgroups,
        pooled_vcpus: u32,
        size: usize,
        limits: impl Fn(u32) -> Limits + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self { spec, cgroups, pooled_vcpus, size, limits: Box::new(limits), idle: Mutex::new(Vec::new()) })
    }

    pub async fn spawn(&self, vcpus: u32) -> Result<Sandbox, Error> {
        use tracing::Instrument;
        let span = tracing::info_span!(target: "floe::script", "sandbox.spawn", vcpus = vcpus as i64);
        let sandbox = self.spec.spawn(&self.cgroups, (self.limits)(vcpus)).instrument(span).await?;
        crate::telemetry::metrics::metrics().sandbox_starts.add(1, &[]);
        Ok(sandbox)
    }

    pub async fn take(self: &Arc<Self>, vcpus: u32) -> Result<Sandbox, Error> {
        if vcpus == self.pooled_vcpus {
            let pooled = {
                let mut idle = self.idle.lock().expect("pool lock");
                let mut found = None;
                while let Some(mut sandbox) = idle.pop() {
                    if sandbox.alive() {
                        found = Some(sandbox);
                        break;
                    }
                }
                found
            };
            self.refill();
            if let Some(sandbox) = pooled {
                return Ok(sandbox);
            }
        }
        self.spawn(vcpus).await
    }

    /// Starts runners in the background until the pool is full again.
    pub fn refill(self: &Arc<Self>) {
        let pool = self.clone();
        tokio::spawn(async move {
            loop {
                if pool.idle.lock().expect("pool lock").len() >= pool.size {
                    return;
                }
                match pool.spawn(pool.pooled_vcpus).await {
                    Ok(sandbox) => {
                        let mut idle = pool.idle.lock().expect("pool lock");
                        idle.push(sandbox);
                        crate::telemetry::metrics::metrics().sandbox_pool.record(idle.len() as u64, &[]);
                    }
                    Err(err) => {
                        tracing::warn!(%err, "could not pre-start a script sandbox");
                        return;
                    }
                }
            }
        });
    }
}
