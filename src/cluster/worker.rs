//! `floe worker`: a Floe server that announces itself to its coordinator
//! and keeps heart-beating, so a restarted worker rejoins by itself. The
//! heartbeat is sealed with the cluster's ticket key: only a node holding the
//! key can join, so partitions never go to an address a client made up.

use std::time::Duration;

use crate::access::Principal;
use crate::peer::Peers;
use crate::proto::WorkerHeartbeat;
use crate::ticket::{Keyring, Kind};

pub const REGISTER_ACTION: &str = "floe.cluster.register";

/// Heart-beats `address` to `coordinator` every `every` until the process ends.
pub fn spawn_heartbeat(coordinator: String, address: String, every: Duration, keyring: Keyring, peers: Peers, host: crate::host::Samples) {
    let worker_id = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut heartbeat = WorkerHeartbeat { address: address.clone(), worker_id, host: None };
        let mut reported_failure = false;
        loop {
            heartbeat.host = host.latest().map(|s| crate::proto::HostSample {
                at: s.at,
                cpu_percent: s.cpu_percent,
                memory_used_bytes: s.memory_used_bytes,
                memory_total_bytes: s.memory_total_bytes,
                process_rss_bytes: s.process_rss_bytes,
            });
            // Short-lived: a heartbeat only proves the sender holds the key now.
            let body = keyring.seal_for(Kind::Heartbeat, &heartbeat, &Principal::Peer, Duration::from_secs(60));
            match peers.action(&coordinator, REGISTER_ACTION, body).await {
                Ok(_) if reported_failure => {
                    tracing::info!(coordinator = coordinator.as_str(), "registered with the coordinator again");
                    reported_failure = false;
                }
                Ok(_) => {}
                Err(err) if !reported_failure => {
                    tracing::warn!(coordinator = coordinator.as_str(), "cannot reach the coordinator (will keep trying): {err}");
                    reported_failure = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(every).await;
        }
    });
}
