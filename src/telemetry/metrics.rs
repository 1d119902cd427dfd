//! Floe's OpenTelemetry instruments. They are created on first use, after
//! `init` installed the meter provider; with no OTLP endpoint the provider
//! is OpenTelemetry's no-op one and recording costs nothing.

use std::sync::OnceLock;

use opentelemetry::metrics::{Counter, Gauge, Histogram, UpDownCounter};
use opentelemetry::KeyValue;

pub struct Metrics {
    /// Every Flight call, by `rpc.method` and `rpc.grpc.status_code` (0 is OK).
    pub rpc_requests: Counter<u64>,
    /// The calls that ended in an error status, by the same attributes.
    pub rpc_failures: Counter<u64>,
    /// Statement time from DoGet (or the write's call) to its last byte, by `kind` and `outcome`.
    pub statement_duration: Histogram<f64>,
    pub rows_streamed: Counter<u64>,
    pub bytes_streamed: Counter<u64>,
    /// Queries holding an execution slot, and those waiting for one.
    pub queries_active: UpDownCounter<i64>,
    pub queries_queued: UpDownCounter<i64>,
    /// Iceberg commits by `outcome`, and the attempts repeated after a conflict.
    pub commits: Counter<u64>,
    pub commit_retries: Counter<u64>,
    /// Script sandboxes: pre-started ones waiting, starts, and kills by the `limit` breached.
    pub sandbox_pool: Gauge<u64>,
    pub sandbox_starts: Counter<u64>,
    pub sandbox_kills: Counter<u64>,
    /// Workers whose heartbeat is fresh, as the coordinator sees them.
    pub workers_alive: Gauge<u64>,
    /// Distributed partitions and shuffle map tasks run again on another worker.
    pub partition_retries: Counter<u64>,
    /// Object-store and catalog round trips Floe makes itself, by `operation`.
    pub storage_duration: Histogram<f64>,
    /// Lineage events dropped because the queue was full or delivery kept failing.
    pub lineage_dropped: Counter<u64>,
    /// Result-cache lookups of cacheable queries, by `outcome` (`hit`, `miss`).
    pub result_cache_lookups: Counter<u64>,
    /// Relations queries read through the data cache, by `outcome` (`hit`: every
    /// column held; `miss`: read from the files).
    pub data_cache_reads: Counter<u64>,
    /// Bytes of decoded columns the data cache holds.
    pub data_cache_bytes: Gauge<u64>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| {
        let meter = opentelemetry::global::meter("floe");
        Metrics {
            rpc_requests: meter.u64_counter("floe.rpc.requests").with_description("Flight calls").build(),
            rpc_failures: meter.u64_counter("floe.rpc.failures").with_description("Flight calls that failed").build(),
            statement_duration: meter
                .f64_histogram("floe.statement.duration")
                .with_unit("s")
                .with_description("statement latency by kind")
                .build(),
            rows_streamed: meter.u64_counter("floe.statement.rows").with_description("result rows sent").build(),
            bytes_streamed: meter.u64_counter("floe.statement.bytes").with_unit("By").with_description("result bytes sent").build(),
            queries_active: meter.i64_up_down_counter("floe.queries.active").with_description("queries running").build(),
            queries_queued: meter.i64_up_down_counter("floe.queries.queued").with_description("queries waiting for a slot").build(),
            commits: meter.u64_counter("floe.commits").with_description("Iceberg commits").build(),
            commit_retries: meter.u64_counter("floe.commit.retries").with_description("commit attempts repeated after a conflict").build(),
            sandbox_pool: meter.u64_gauge("floe.sandbox.pool").with_description("pre-started script sandboxes").build(),
            sandbox_starts: meter.u64_counter("floe.sandbox.starts").with_description("script sandboxes started").build(),
            sandbox_kills: meter.u64_counter("floe.sandbox.kills").with_description("scripts stopped by a limit").build(),
            workers_alive: meter.u64_gauge("floe.cluster.workers").with_description("workers with a fresh heartbeat").build(),
            partition_retries: meter
                .u64_counter("floe.cluster.partition_retries")
                .with_description("partitions run again on another worker")
                .build(),
            storage_duration: meter
                .f64_histogram("floe.storage.duration")
                .with_unit("s")
                .with_description("catalog and object-store requests")
                .build(),
            lineage_dropped: meter.u64_counter("floe.lineage.dropped").with_description("lineage events not delivered").build(),
            result_cache_lookups: meter
                .u64_counter("floe.result_cache.lookups")
                .with_description("result-cache lookups by outcome (hit, miss)")
                .build(),
            data_cache_reads: meter
                .u64_counter("floe.data_cache.reads")
                .with_description("relations read through the data cache by outcome (hit, miss)")
                .build(),
            data_cache_bytes: meter.u64_gauge("floe.data_cache.bytes").with_unit("By").with_description("decoded columns held").build(),
        }
    })
}

/// One attribute, for the common single-label recordings.
pub fn label(key: &'static str, value: impl Into<opentelemetry::Value>) -> [KeyValue; 1] {
    [KeyValue::new(key, value)]
}

/// Times `work` into `floe.storage.duration` under `operation`.
pub async fn timed_storage<T>(operation: &'static str, work: impl std::future::Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let out = work.await;
    metrics().storage_duration.record(started.elapsed().as_secs_f64(), &label("operation", operation));
    out
}
