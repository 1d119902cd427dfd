//! Delivers queued events: POSTed to an OpenLineage HTTP receiver (a few
//! retries with back-off, then dropped and counted), appended to a file.

use std::io::Write;
use std::time::Duration;

use super::Config;
use crate::telemetry::metrics::metrics;

const ATTEMPTS: u32 = 3;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) enum Sink {
    Http { client: reqwest::Client, endpoint: String, api_key: Option<String> },
    File(std::path::PathBuf),
}

pub(super) fn sinks(config: &Config) -> Vec<Sink> {
    let mut sinks = Vec::new();
    if let Some(url) = config.url.as_deref().filter(|u| !u.is_empty()) {
        let endpoint = format!("{}/api/v1/lineage", url.trim_end_matches('/'));
        match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
            Ok(client) => sinks.push(Sink::Http { client, endpoint, api_key: config.api_key.clone() }),
            Err(err) => tracing::warn!(%err, "OpenLineage HTTP transport unavailable; lineage events will not be posted"),
        }
    }
    if let Some(path) = &config.file {
        sinks.push(Sink::File(path.clone()));
    }
    sinks
}

pub(super) async fn run(mut events: tokio::sync::mpsc::Receiver<serde_json::Value>, sinks: Vec<Sink>) {
    while let Some(event) = events.recv().await {
        for sink in &sinks {
            if let Err(err) = deliver(sink, &event).await {
                metrics().lineage_dropped.add(1, &[]);
                tracing::warn!(target: "floe::lineage", %err, "an OpenLineage event was dropped");
            }
        }
    }
}

async fn deliver(sink: &Sink, event: &serde_json::Value) -> Result<(), String> {
    match sink {
        Sink::File(path) => append(path, event).map_err(|e| format!("cannot append to {}: {e}", path.display())),
        Sink::Http { client, endpoint, api_key } => {
            let mut last = String::new();
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(200 * 4u64.pow(attempt - 1))).await;
                }
                let mut request = client.post(endpoint).json(event);
                if let Some(key) = api_key {
                    request = request.bearer_auth(key);
                }
                match request.send().await {
                    Ok(response) if response.status().is_success() => return Ok(()),
                    // A receiver that refuses the event will refuse it again.
                    Ok(response) if response.status().is_client_error() => return Err(format!("{endpoint} answered {}", response.status())),
                    Ok(response) => last = format!("{endpoint} answered {}", response.status()),
                    Err(err) => last = format!("{endpoint}: {err}"),
                }
            }
            Err(last)
        }
    }
}

fn append(path: &std::path::Path, event: &serde_json::Value) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(event)?;
    line.push(b'\n');
    // One write per line, so concurrent writers (a coordinator and its executors) never interleave.
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(&line)
}
