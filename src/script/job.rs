//! Drives one script workload: hands the script to a sandbox, answers its
//! lake requests, relays its result batches, and enforces the wall clock,
//! cancellation, result size and output limits. Whatever ends the workload,
//! the sandbox is killed with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::cgroup::Breach;
use super::channel;
use super::lake::LakeView;
use super::sandbox::Sandbox;
use super::{Error, Scripts};
use crate::exec::convert::wire_type;
use crate::exec::{BatchStream, Engine};
use crate::proto::SessionDefaults;

pub struct Job {
    /// Whose rights the script's reads run with.
    pub principal: crate::access::Principal,
    pub script: String,
    pub params: HashMap<String, String>,
    pub session: SessionDefaults,
    pub vcpus: u32,
    pub timeout: Duration,
    /// Snapshots to read (a replay); tables not named here read the latest.
    pub pins: HashMap<String, i64>,
    pub query_id: String,
}

/// A running workload: its result schema, its batches, and (once the stream
/// ends) the snapshots it read.
pub struct Started {
    pub schema: SchemaRef,
    pub batches: BatchStream,
    pub pins: Arc<Mutex<HashMap<String, i64>>>,
}

pub async fn start(scripts: Arc<Scripts>, engine: Arc<Engine>, job: Job) -> Result<Started, Error> {
    let span = tracing::info_span!(target: "floe::script", "sandbox.start", vcpus = job.vcpus as i64);
    let mut sandbox = tracing::Instrument::instrument(scripts.sandbox(job.vcpus, job.timeout), span).await?;
    let workload = json!({ "script": job.script, "params": job.params, "catalog": engine.lake().names().session_catalog(&job.session) });
    sandbox.channel.send_json(&workload).await.map_err(Error::io("hand the script to its sandbox"))?;

    let (batches_tx, batches_rx) = mpsc::channel(4);
    let (schema_tx, schema_rx) = oneshot::channel();
    let pins = Arc::new(Mutex::new(HashMap::new()));
    let driver = Driver {
        lake: LakeView::new(engine.clone(), job.session.clone(), job.pins.clone(), job.principal.clone()),
        schema_tx: Some(schema_tx),
        batches_tx,
        result_bytes: 0,
        max_result_bytes: scripts.config.max_result_bytes,
        pins: pins.clone(),
    };
    let running = engine.running().start(&job.query_id);
    let span = tracing::info_span!(target: "floe::script", "script.run", query_id = job.query_id.as_str(), vcpus = job.vcpus as i64);
    tokio::spawn(tracing::Instrument::instrument(driver.run(sandbox, job.timeout, running), span));
    let schema = schema_rx.await.map_err(|_| Error::Crashed("the workload ended without a result".into()))??;
    let batches: BatchStream = Box::pin(ReceiverStream::new(batches_rx).map(|item| item.map_err(|e| crate::exec::Error::Upstream(Box::new(e)))));
    Ok(Started { schema, batches, pins })
}

struct Driver {
    lake: LakeView,
    schema_tx: Option<oneshot::Sender<Result<SchemaRef, Error>>>,
    batches_tx: mpsc::Sender<Result<RecordBatch, Error>>,
    result_bytes: u64,
    max_result_bytes: u64,
    pins: Arc<Mutex<HashMap<String, i64>>>,
}

impl Driver {
    async fn run(mut self, mut sandbox: Sandbox, timeout: Duration, running: crate::exec::RunningQuery) {
        let output = sandbox.output.clone();
        let closed = self.batches_tx.clone();
        let outcome = tokio::select! {
            outcome = self.serve(&mut sandbox) => outcome,
            _ = tokio::time::sleep(timeout) => Err(Error::Timeout(timeout.as_secs())),
            _ = cancelled(&running) => Err(Error::Cancelled),
            _ = output.flooded.notified() => Err(Error::Limit("the script printed more than the output limit (stdout and stderr)".into())),
            // The client went away (DoGet dropped, action abandoned): stop now.
            _ = closed.closed() => Err(Error::Cancelled),
        };
        let outcome = match outcome {
            Err(Error::RunnerGone(reason)) => Err(why_gone(&mut sandbox, reason).await),
            // A script that failed because the kernel refused it (fork, mmap)
            // failed because of a limit, whatever exception it raised.
            Err(Error::Script { .. } | Error::Crashed(_)) if sandbox.breach().is_some() => {
                Err(why_gone(&mut sandbox, "limit".into()).await)
            }
            other => other,
        };
        *self.pins.lock().expect("pins lock") = std::mem::take(&mut self.lake.pins);
        drop(sandbox);
        if let Err(err) = outcome {
            match self.schema_tx.take() {
                Some(tx) => {
                    let _ = tx.send(Err(err));
                }
                None => {
                    let _ = self.batches_tx.send(Err(err)).await;
                }
            }
        }
    }

}

/// A runner that vanished was killed by a limit or crashed.
async fn why_gone(sandbox: &mut Sandbox, reason: String) -> Error {
        let status = sandbox.exit_status().await;
        if let Some(breach) = sandbox.breach() {
            let limit = if matches!(breach, Breach::Memory) { "memory" } else { "processes" };
            crate::telemetry::metrics::metrics().sandbox_kills.add(1, &crate::telemetry::metrics::label("limit", limit));
        }
        match sandbox.breach() {
            Some(Breach::Memory) => Error::Limit("the script exceeded the workload's memory limit and was stopped".into()),
            Some(Breach::Processes) => {
                Error::Limit("the script started more processes than the workload's process limit allows".into())
            }
            None => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|| "still running".into());
                let tail = sandbox.output.tail();
                Error::Crashed(format!("the script runner stopped unexpectedly ({status}; {reason}){}", if tail.is_empty() { String::new() } else { format!(": {tail}") }))
            }
        }
}

impl Driver {

    async fn serve(&mut self, sandbox: &mut Sandbox) -> Result<(), Error> {
        loop {
            let (kind, payload) = sandbox.channel.recv().await.map_err(|e| Error::RunnerGone(e.to_string()))?;
            match kind {
                channel::RESULT_CHUNK => self.relay(&payload).await?,
                channel::JSON => {
                    let request: Value = serde_json::from_slice(&payload)
                        .map_err(|e| Error::Crashed(format!("malformed message from the runner: {e}")))?;
                    match request.get("op").and_then(Value::as_str) {
                        Some("done") => return Ok(()),
                        Some("error") => return Err(script_error(&request)),
                        _ => {
                            let (kind, reply) = self.lake.handle(&request).await;
                            sandbox.channel.send(kind, &reply).await.map_err(|e| Error::RunnerGone(e.to_string()))?;
                        }
                    }
                }
                other => return Err(Error::Crashed(format!("unexpected frame {other} from the runner"))),
            }
        }
    }

    async fn relay(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.result_bytes += payload.len() as u64;
        if self.result_bytes > self.max_result_bytes {
            return Err(Error::Limit(format!(
                "the script's result is larger than the result size limit ({} MiB)",
                self.max_result_bytes >> 20
            )));
        }
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(payload), None)
            .map_err(|e| Error::Crashed(format!("unreadable result from the runner: {e}")))?;
        let wire = wire_schema(&reader.schema());
        if let Some(tx) = self.schema_tx.take() {
            let _ = tx.send(Ok(wire.clone()));
        }
        for batch in reader {
            let batch = batch.map_err(|e| Error::Crashed(format!("unreadable result from the runner: {e}")))?;
            let batch = to_wire(batch, &wire)?;
            if batch.num_rows() == 0 {
                continue;
            }
            if self.batches_tx.send(Ok(batch)).await.is_err() {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    }
}

async fn cancelled(running: &crate::exec::RunningQuery) {
    while !running.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn script_error(report: &Value) -> Error {
    let text = |key: &str| report.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    match text("kind").as_str() {
        "memory" => Error::Limit(text("message")),
        _ => Error::Script { message: text("message"), details: text("details") },
    }
}

fn wire_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(wire_type(f.data_type())).with_metadata(Default::default()))
        .collect();
    Arc::new(Schema::new(fields))
}

fn to_wire(batch: RecordBatch, wire: &SchemaRef) -> Result<RecordBatch, Error> {
    let columns = batch
        .columns()
        .iter()
        .zip(wire.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                arrow::compute::cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Crashed(format!("result conversion: {e}")))?;
    RecordBatch::try_new(wire.clone(), columns).map_err(|e| Error::Crashed(format!("result conversion: {e}")))
}
