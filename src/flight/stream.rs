//! The Arrow streams DoGet answers with, and the FlightInfo of a single ticket.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use futures::{StreamExt, TryStreamExt};
use tonic::Status;

use super::ipc::{self, Message};
use super::{DoGetStream, MessageStream};
use crate::exec::BatchStream;

/// Flight messages stay near 2 MiB: large enough to amortise per-message cost,
/// small enough for every client's default gRPC message limit.
const TARGET_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

pub fn flight_info(schema: &arrow::datatypes::Schema, ticket: Ticket, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
    Ok(empty_info(schema, descriptor)?.with_endpoint(FlightEndpoint::new().with_ticket(ticket)).with_ordered(true))
}

/// A FlightInfo without endpoints yet.
pub fn empty_info(schema: &arrow::datatypes::Schema, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
    let info = FlightInfo::new().try_with_schema(schema).map_err(|e| crate::error::Error::Internal(format!("cannot encode the result schema: {e}")))?;
    Ok(info.with_descriptor(descriptor))
}

/// Streams `batches`, compressing IPC bodies with the session's codec
/// (`""`, `"lz4"` or `"zstd"`): worth it when the network, not the CPU, is slow.
/// Uncompressed flat results leave as their batches' own buffers (`ipc.rs`).
pub fn stream(schema: SchemaRef, batches: BatchStream, compression: &str) -> MessageStream {
    let codec = match compression {
        "lz4" => Some(arrow::ipc::CompressionType::LZ4_FRAME),
        "zstd" => Some(arrow::ipc::CompressionType::ZSTD),
        _ => None,
    };
    let waited = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let batches = Timed { inner: batches, waited: waited.clone() };
    let encoded: MessageStream = match codec {
        None if ipc::writes_directly(&schema) => Box::pin(directly(schema, batches)),
        _ => {
            let options = arrow::ipc::writer::IpcWriteOptions::default()
                .try_with_compression(codec)
                .expect("arrow is built with ipc_compression");
            let batches = batches.map_err(|err| FlightError::Tonic(Box::new(Status::from(crate::error::Error::from(err)))));
            let encoded = FlightDataEncoderBuilder::new()
                .with_options(options)
                .with_schema(schema)
                .with_max_flight_data_size(TARGET_MESSAGE_BYTES)
                .build(batches);
            Box::pin(encoded.map_ok(Message::from_flight_data).map_err(Status::from))
        }
    };
    let span = tracing::info_span!(target: "floe::flight", "ipc.encode", compression, messages = tracing::field::Empty, encode_ms = tracing::field::Empty);
    Box::pin(Encoding { inner: encoded, waited, busy: std::time::Duration::ZERO, messages: 0, span })
}

/// The schema, then each batch's messages as `ipc::encode` writes them.
fn directly(schema: SchemaRef, batches: Timed<BatchStream>) -> impl futures::Stream<Item = Result<Message, Status>> + Send + 'static {
    let options = arrow::ipc::writer::IpcWriteOptions::default();
    let schema = Message::from_flight_data(arrow_flight::SchemaAsIpc::new(&schema, &options).into());
    let messages = batches
        .map(|batch| {
            let batch = batch.map_err(|err| Status::from(crate::error::Error::from(err)))?;
            let messages = ipc::encode(&batch, TARGET_MESSAGE_BYTES)
                .map_err(|err| Status::from(crate::error::Error::Internal(format!("cannot encode a result batch: {err}"))))?;
            Ok::<_, Status>(futures::stream::iter(messages.into_iter().map(Ok)))
        })
        .try_flatten();
    futures::stream::once(std::future::ready(Ok(schema))).chain(messages)
}

/// Messages as FlightData, for the handlers of tonic's service.
pub fn flight_data(messages: MessageStream) -> DoGetStream {
    Box::pin(messages.map_ok(Message::into_flight_data))
}

/// The record batches on their way to the encoder, timing how long the
/// encoder waits for them (the query's time, not encoding's).
struct Timed<S> {
    inner: S,
    waited: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<S: futures::Stream + Unpin> futures::Stream for Timed<S> {
    type Item = S::Item;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        let started = std::time::Instant::now();
        let polled = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        self.waited.fetch_add(started.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        polled
    }
}

/// The encoded stream, in an `ipc.encode` span whose `encode_ms` is the
/// time spent encoding (polling the encoder less waiting for batches).
struct Encoding {
    inner: MessageStream,
    waited: std::sync::Arc<std::sync::atomic::AtomicU64>,
    busy: std::time::Duration,
    messages: u64,
    span: tracing::Span,
}

impl futures::Stream for Encoding {
    type Item = Result<Message, Status>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        let started = std::time::Instant::now();
        let polled = self.inner.as_mut().poll_next(cx);
        self.busy += started.elapsed();
        if let std::task::Poll::Ready(Some(Ok(_))) = &polled {
            self.messages += 1;
        }
        polled
    }
}

impl Drop for Encoding {
    fn drop(&mut self) {
        let waited = std::time::Duration::from_nanos(self.waited.load(std::sync::atomic::Ordering::Relaxed));
        self.span.record("messages", self.messages as i64);
        self.span.record("encode_ms", self.busy.saturating_sub(waited).as_secs_f64() * 1000.0);
    }
}

/// Who ran what, for the line logged when a DoGet stream ends.
pub struct Completion {
    pub principal: crate::access::Principal,
    pub client: String,
    pub work: crate::workload::tickets::Work,
    /// When the DoGet arrived: a gathered distributed query runs before its stream starts.
    pub started: std::time::Instant,
    /// The client's query as an OpenLineage run, finished with the stream.
    pub lineage: Option<crate::lineage::Tracked>,
    /// The query in this node's history (not a peer's fetch).
    pub running: Option<crate::history::Running>,
}

/// DoGet's answer for a started ticket: its rows encoded, counted, logged,
/// in this node's history (unless a peer fetches them) and lineage.
pub fn respond(
    started: crate::workload::Started,
    principal: crate::access::Principal,
    client: String,
    arrived: std::time::Instant,
    history: &crate::history::History,
) -> MessageStream {
    let work = started.work;
    // Tickets started before their rows were ready have their record already.
    let running = started.running.or_else(|| (!principal.is_peer()).then(|| history.start(work.history_start(&principal, &client))));
    let completion = Completion { principal, client, work, started: arrived, lineage: started.lineage, running };
    let encoded = stream(super::columns::result_schema(&started.schema), started.batches, &started.compression);
    logged(encoded, completion)
}

/// `stream`, counting the rows and bytes it sends, that logs one
/// `floe::statement` line when it ends: finished, failed, or dropped by a
/// client that left (`cancelled`).
pub fn logged(stream: MessageStream, completion: Completion) -> MessageStream {
    Box::pin(Logged { inner: stream, completion, rows: 0, bytes: 0, outcome: None, error: None })
}

struct Logged {
    inner: MessageStream,
    completion: Completion,
    rows: u64,
    bytes: u64,
    outcome: Option<String>,
    error: Option<String>,
}

impl futures::Stream for Logged {
    type Item = Result<Message, Status>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(message))) => {
                let bytes = (message.fields.data_header.len() + message.body_len()) as u64;
                self.bytes += bytes;
                let batch_rows = arrow::ipc::root_as_message(&message.fields.data_header)
                    .ok()
                    .and_then(|message| message.header_as_record_batch())
                    .map_or(0, |batch| batch.length());
                self.rows += batch_rows.max(0) as u64;
                if let Some(running) = &self.completion.running {
                    running.progress(batch_rows.max(0) as u64, bytes);
                }
            }
            std::task::Poll::Ready(Some(Err(status))) => {
                self.outcome = Some(format!("{:?}", status.code()));
                self.error = Some(status.message().to_string());
            }
            std::task::Poll::Ready(None) => {
                self.outcome.get_or_insert_with(|| "ok".to_string());
            }
            std::task::Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let work = &self.completion.work;
        let outcome = self.outcome.as_deref().unwrap_or("cancelled");
        let elapsed = self.completion.started.elapsed();
        let metrics = crate::telemetry::metrics::metrics();
        let kind = opentelemetry::KeyValue::new("kind", work.kind.clone());
        metrics.statement_duration.record(elapsed.as_secs_f64(), &[kind.clone(), opentelemetry::KeyValue::new("outcome", outcome.to_string())]);
        metrics.rows_streamed.add(self.rows, std::slice::from_ref(&kind));
        metrics.bytes_streamed.add(self.bytes, std::slice::from_ref(&kind));
        if let Some(running) = self.completion.running.take() {
            running.finish(self.outcome.as_ref().filter(|o| *o != "ok").map(|code| (code.clone(), self.error.clone().unwrap_or_default())));
        }
        if let Some(tracked) = self.completion.lineage.take() {
            tracked.finish(match (&self.outcome, &self.error) {
                (Some(_), Some(message)) => crate::lineage::Outcome::Failed(message.clone()),
                (Some(_), None) => crate::lineage::Outcome::Complete,
                (None, _) => crate::lineage::Outcome::Aborted,
            });
        }
        let work = &self.completion.work;
        tracing::info!(
            target: "floe::statement",
            query_id = work.query_id.as_str(),
            // A node fetching a partition or shuffle bucket of a distributed query (same query id).
            role = if self.completion.principal.is_peer() { "peer" } else { "client" },
            principal = %self.completion.principal,
            client = self.completion.client.as_str(),
            kind = work.kind.as_str(),
            tables = work.tables.join(",").as_str(),
            rows = self.rows,
            bytes = self.bytes,
            duration_ms = elapsed.as_millis() as u64,
            outcome,
            "statement finished"
        );
    }
}

pub fn single_batch(batch: RecordBatch) -> MessageStream {
    let schema = batch.schema();
    stream(schema, Box::pin(futures::stream::once(async move { Ok(batch) }).boxed()), "")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::StreamExt;

    use super::*;

    fn body_compression(compression: &str) -> Vec<Option<arrow::ipc::CompressionType>> {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false), Field::new("s", DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..10_000)),
                Arc::new(StringArray::from_iter_values((0..10_000).map(|i| format!("row {}", i % 7)))),
            ],
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let messages: Vec<_> = runtime.block_on(
            stream(schema, Box::pin(futures::stream::iter([Ok(batch)])), compression).collect::<Vec<_>>(),
        );
        messages
            .into_iter()
            .map(|m| m.unwrap().into_flight_data())
            .filter_map(|data| {
                let message = arrow::ipc::root_as_message(&data.data_header).ok()?;
                let batch = message.header_as_record_batch()?;
                Some(batch.compression().map(|c| c.codec()))
            })
            .collect()
    }

    #[test]
    fn result_bodies_are_compressed_with_the_session_codec() {
        assert_eq!(body_compression(""), vec![None]);
        assert_eq!(body_compression("lz4"), vec![Some(arrow::ipc::CompressionType::LZ4_FRAME)]);
        assert_eq!(body_compression("zstd"), vec![Some(arrow::ipc::CompressionType::ZSTD)]);
    }
}
