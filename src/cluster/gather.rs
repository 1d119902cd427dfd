//! The coordinator's side of a distributed query: run every partition on a
//! worker, re-running it on another when its worker fails or hangs, then
//! combine the partitions' rows.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_flight::FlightClient;
use futures::TryStreamExt;

use super::{Cluster, Error};
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
    fragments: &[QueryTicket],
) -> Result<(Vec<Vec<RecordBatch>>, Vec<FragmentStats>), Error> {
    let workers = cluster.live_workers();
    let runs = fragments.iter().enumerate().map(|(index, fragment)| {
        let cluster = cluster.clone();
        let first = round_robin(&workers, index);
        async move { run_one(&cluster, index, fragment, first).await }
    });
    let outcomes = futures::future::try_join_all(runs).await?;
    Ok(outcomes.into_iter().unzip())
}

/// The worker partition `index` starts on.
pub(super) fn round_robin(workers: &[String], index: usize) -> Option<String> {
    (!workers.is_empty()).then(|| workers[index % workers.len()].clone())
}

pub(super) async fn run_one(
    cluster: &Arc<Cluster>,
    index: usize,
    fragment: &QueryTicket,
    first: Option<String>,
) -> Result<(Vec<RecordBatch>, FragmentStats), Error> {
    let token = cluster.config().token.clone();
    let started = Instant::now();
    let (worker, attempts, batches) = on_some_worker(cluster, "partition", index, first, |worker| {
        let token = token.clone();
        async move { fetch(&worker, fragment, token.as_deref()).await }
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
    what: &str,
    index: usize,
    first: Option<String>,
    mut task: F,
) -> Result<(String, usize, T), Error>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
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
        match tokio::time::timeout(config.fragment_timeout, task(worker.clone())).await {
            Ok(Ok(output)) => return Ok((worker, attempt, output)),
            Ok(Err(err)) if !is_worker_fault(&err) => return Err(err),
            Ok(Err(err)) => tracing::warn!(index, worker = worker.as_str(), "{what} failed, re-running elsewhere: {err}"),
            Err(_) => tracing::warn!(index, worker = worker.as_str(), "{what} timed out, re-running elsewhere"),
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
    matches!(err, Error::Worker { .. } | Error::NoWorkers { .. })
}

/// A failed call to a worker: transport trouble is the worker's fault; a
/// status the worker chose (bad query, broken table) is the query's.
fn flight_failure(worker: &str, err: arrow_flight::error::FlightError) -> Error {
    use tonic::Code;
    match err {
        arrow_flight::error::FlightError::Tonic(status)
            if !matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::Aborted) =>
        {
            Error::Refused { worker: worker.to_string(), code: status.code(), message: status.message().to_string() }
        }
        other => Error::Worker { worker: worker.to_string(), message: other.to_string() },
    }
}

async fn fetch(worker: &str, fragment: &QueryTicket, token: Option<&str>) -> Result<Vec<RecordBatch>, Error> {
    fetch_ticket_from(worker, crate::flight::statement_ticket_bytes(fragment), token).await
}

async fn client_for(worker: &str, token: Option<&str>) -> Result<FlightClient, Error> {
    let fail = |message: String| Error::Worker { worker: worker.to_string(), message };
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{worker}"))
        .map_err(|e| fail(e.to_string()))?
        .connect_timeout(std::time::Duration::from_secs(3));
    let channel = endpoint.connect().await.map_err(|e| fail(format!("{e:?}")))?;
    let mut client = FlightClient::new(channel);
    if let Some(token) = token {
        client.add_header("authorization", &format!("Bearer {token}")).map_err(|e| fail(e.to_string()))?;
    }
    Ok(client)
}

/// DoGet of `ticket` on `worker`, all of it.
pub async fn fetch_ticket_from(worker: &str, ticket: Vec<u8>, token: Option<&str>) -> Result<Vec<RecordBatch>, Error> {
    let mut client = client_for(worker, token).await?;
    let mut stream = client.do_get(arrow_flight::Ticket::new(ticket)).await.map_err(|e| flight_failure(worker, e))?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.try_next().await.map_err(|e| flight_failure(worker, e))? {
        batches.push(batch);
    }
    // An empty partition still tells the final step its columns.
    if batches.is_empty() {
        if let Some(schema) = stream.schema() {
            batches.push(RecordBatch::new_empty(schema.clone()));
        }
    }
    Ok(batches)
}

/// A custom action on `worker`; its results' bodies.
pub async fn action_on(worker: &str, action: &str, body: Vec<u8>, token: Option<&str>) -> Result<Vec<bytes::Bytes>, Error> {
    let mut client = client_for(worker, token).await?;
    let action = arrow_flight::Action { r#type: action.to_string(), body: body.into() };
    let results = client.do_action(action).await.map_err(|e| flight_failure(worker, e))?;
    results.try_collect().await.map_err(|e| flight_failure(worker, e))
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
    let mut context = polars_sql::SQLContext::new();
    context.register("partials", frame.lazy());
    let combined = context
        .execute(final_sql)
        .and_then(|lazy| lazy.collect())
        .map_err(|e| Error::Final(format!("{e} (final SQL: {final_sql})")))?;
    crate::exec::convert::dataframe_to_batches(&combined, schema).map_err(|e| Error::Final(e.to_string()))
}
