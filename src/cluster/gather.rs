//! The coordinator's side of a distributed query: run every partition on a
//! worker, re-running it on another when its worker fails or hangs, then
//! combine the partitions' rows.

use tracing::Instrument;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{Cluster, Error};
use crate::access::Principal;
use crate::exec::Engine;
use crate::proto::QueryTicket;

/// What one partition cost, for the per-stage statistics a client can log.
#[derive(Debug, Clone)]
pub struct FragmentStats {
    pub worker: String,
    pub attempts: usize,
    pub rows: usize,
    pub millis: u128,
}

/// Runs every fragment, spread round-robin over the live workers; each
/// failure sends the fragment to the next worker.
pub async fn run_fragments(
    cluster: &Arc<Cluster>,
    engine: &Engine,
    query_id: &str,
    fragments: &[QueryTicket],
    owner: &Principal,
) -> Result<(Vec<Vec<RecordBatch>>, Vec<FragmentStats>), Error> {
    let workers = cluster.live_workers();
    let runs = fragments.iter().enumerate().map(|(index, fragment)| {
        let cluster = cluster.clone();
        let first = round_robin(&workers, index);
        async move { run_one(&cluster, engine, Task { query_id, what: "partition", index }, fragment, first, owner).await }
    });
    let outcomes = futures::future::try_join_all(runs).await?;
    Ok(outcomes.into_iter().unzip())
}

/// A task of a client's query, as the coordinator's task log names it.
#[derive(Clone, Copy)]
pub struct Task<'a> {
    pub query_id: &'a str,
    /// `partition` or `shuffle map`.
    pub what: &'static str,
    pub index: usize,
}

/// The worker partition `index` starts on.
pub(super) fn round_robin(workers: &[String], index: usize) -> Option<String> {
    (!workers.is_empty()).then(|| workers[index % workers.len()].clone())
}

/// One partition, sealed for the principal that planned the query (the
/// worker checks that principal's rights), run on `first` or elsewhere.
pub(super) async fn run_one(
    cluster: &Arc<Cluster>,
    engine: &Engine,
    task: Task<'_>,
    fragment: &QueryTicket,
    first: Option<String>,
    owner: &Principal,
) -> Result<(Vec<RecordBatch>, FragmentStats), Error> {
    let started = Instant::now();
    let ticket = crate::exec::ticket::flight_ticket(engine.keyring(), fragment, owner).ticket.to_vec();
    let size = |batches: &Vec<RecordBatch>| {
        (batches.iter().map(|b| b.num_rows() as u64).sum(), batches.iter().map(|b| b.get_array_memory_size() as u64).sum())
    };
    let (worker, attempts, batches) = on_some_worker(cluster, task, first, size, |worker| {
        let ticket = ticket.clone();
        async move { Ok(engine.peers().fetch(&worker, ticket).await?) }
    })
    .await?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    Ok((batches, FragmentStats { worker, attempts, rows, millis: started.elapsed().as_millis() }))
}

/// Runs `task` on `first`, and whenever its worker fails or exceeds the
/// partition timeout, on the next live worker not yet tried (bounded by
/// the configured attempts); a worker that refused the work ends it, since
/// any worker would. Returns the worker that did it, the attempts, the output.
pub(super) async fn on_some_worker<T, F, Fut>(
    cluster: &Arc<Cluster>,
    label: Task<'_>,
    first: Option<String>,
    size: impl Fn(&T) -> (u64, u64),
    mut task: F,
) -> Result<(String, usize, T), Error>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let Task { what, index, .. } = label;
    let config = cluster.config().clone();
    let mut tried: Vec<String> = Vec::new();
    let mut next = first;
    for attempt in 1..=config.fragment_attempts {
        let worker = match next.take() {
            Some(worker) => worker,
            None => match cluster.live_workers().into_iter().find(|w| !tried.contains(w)).or_else(|| cluster.live_workers().into_iter().next()) {
                Some(worker) => worker,
                None => break,
            },
        };
        // The worker's own spans join this one (the peer call passes `traceparent`).
        let span = tracing::info_span!(target: "floe::cluster", "partition", otel.name = what, index = index as i64, worker = worker.as_str(), attempt = attempt as i64);
        if attempt > 1 {
            crate::telemetry::metrics::metrics().partition_retries.add(1, &crate::telemetry::metrics::label("what", what.to_string()));
        }
        let attempt_log = cluster.tasks.begin(label.query_id, what, index, &worker, attempt);
        match tokio::time::timeout(config.fragment_timeout, task(worker.clone()).instrument(span)).await {
            Ok(Ok(output)) => {
                attempt_log.end("ok", size(&output));
                return Ok((worker, attempt, output));
            }
            Ok(Err(err)) if !is_worker_fault(&err) => {
                attempt_log.end("failed", (0, 0));
                return Err(err);
            }
            Ok(Err(err)) => {
                attempt_log.end("failed", (0, 0));
                tracing::warn!(index, worker = worker.as_str(), "{what} failed, re-running elsewhere: {err}")
            }
            Err(_) => {
                attempt_log.end("timed out", (0, 0));
                tracing::warn!(index, worker = worker.as_str(), "{what} timed out, re-running elsewhere")
            }
        }
        cluster.suspect(&worker);
        tried.push(worker);
    }
    Err(Error::NoWorkers { fragment: index, tried: if tried.is_empty() { "none".into() } else { tried.join(", ") } })
}

/// A worker that is gone or broken, as opposed to a query the worker
/// rightly refused (which would fail the same way anywhere, so retrying it
/// elsewhere would only evict healthy workers).
fn is_worker_fault(err: &Error) -> bool {
    matches!(err, Error::Peer(crate::peer::Error::Unreachable { .. }) | Error::NoWorkers { .. })
}

/// Rows of another node cast to the planned wire schema (same columns; the
/// worker's types and nullability flags may differ in detail).
pub fn as_planned(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, Error> {
    if batch.schema() == *schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| arrow::compute::cast(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Final(e.to_string()))?;
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| Error::Final(e.to_string()))
}

/// The partitions' rows as one table `partials`, and `final_sql` over it, as
/// record batches of the query's planned `schema`.
pub fn combine(partials: Vec<Vec<RecordBatch>>, final_sql: &str, schema: &SchemaRef) -> Result<Vec<RecordBatch>, Error> {
    use polars::prelude::IntoLazy;

    let batches: Vec<RecordBatch> = partials.into_iter().flatten().collect();
    let Some(first) = batches.first() else {
        // No partition produced rows: the final SQL over an empty table.
        return Ok(Vec::new());
    };
    let partial_schema = crate::exec::convert::polars_schema(&first.schema()).map_err(|e| Error::Final(e.to_string()))?;
    let frame = crate::exec::convert::batches_to_dataframe(&batches, &partial_schema).map_err(|e| Error::Final(e.to_string()))?;
    if final_sql.is_empty() {
        return crate::exec::convert::dataframe_to_batches(&frame, schema).map_err(|e| Error::Final(e.to_string()));
    }
    let mut context = crate::exec::functions::sql_context();
    context.register("partials", summed_wide(frame).map_err(|e| Error::Final(e.to_string()))?.lazy());
    let combined = context
        .execute(final_sql)
        .and_then(|lazy| lazy.collect())
        .map_err(|e| Error::Final(format!("{e} (final SQL: {final_sql})")))?;
    // The query's own error, as one node gives it.
    let combined = narrowed(combined, schema).map_err(|e| Error::Exec(e.into()))?;
    crate::exec::convert::dataframe_to_batches(&combined, schema).map_err(|e| Error::Final(e.to_string()))
}

/// The partitions' integer aggregates in 128 bits, so that their total
/// stops at BIGINT's range as one node's SUM does (`narrowed`): each
/// partition's fits, and their sum wrapped around.
fn summed_wide(mut frame: polars::prelude::DataFrame) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    use polars::prelude::DataType;
    let partial: Vec<_> = frame.columns().iter().filter(|c| c.name().starts_with("__a") && c.dtype().is_integer()).cloned().collect();
    for column in partial {
        frame.with_column(column.cast(&DataType::Int128)?)?;
    }
    Ok(frame)
}

/// The 128-bit aggregates back in their planned integer types (a BIGINT
/// total, an INTEGER's minimum), an error past the type's range.
fn narrowed(mut frame: polars::prelude::DataFrame, schema: &SchemaRef) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
    use arrow::datatypes::DataType as Arrow;
    use polars::prelude::{polars_err, DataType};
    let planned = |field: &arrow::datatypes::Field| match field.data_type() {
        Arrow::Int8 => Some(DataType::Int8),
        Arrow::Int16 => Some(DataType::Int16),
        Arrow::Int32 => Some(DataType::Int32),
        Arrow::Int64 => Some(DataType::Int64),
        _ => None,
    };
    let wide: Vec<_> = frame.columns().iter().zip(schema.fields()).filter(|(c, _)| c.dtype() == &DataType::Int128).filter_map(|(c, field)| Some((c.clone(), planned(field)?))).collect();
    for (column, dtype) in wide {
        let narrow = column.strict_cast(&dtype).map_err(|_| polars_err!(ComputeError: "integer overflow: `{}` sums past {dtype}'s range; cast the summed value to DECIMAL(38, 0)", column.name()))?;
        frame.with_column(narrow)?;
    }
    Ok(frame)
}
