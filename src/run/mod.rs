//! Workloads (`floe.run`): a query or script, its result streamed back by
//! ticket or saved to a destination table.

pub mod request;

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use futures::TryStreamExt;

pub use request::{RunFailure, RunRequest, RunResponse};
use request::{Compute, Mode, SaveMode, Saved};

use crate::exec::Engine;
use crate::proto::SessionDefaults;
use crate::script::Scripts;
use crate::{catalog, exec, sql, write};

const VCPU_CHOICES: [u32; 5] = [2, 4, 8, 16, 32];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error(transparent)]
    Sql(#[from] sql::Error),
    #[error(transparent)]
    Catalog(#[from] catalog::Error),
    #[error(transparent)]
    Exec(#[from] exec::Error),
    #[error(transparent)]
    Write(#[from] write::Error),
    #[error(transparent)]
    Script(#[from] crate::script::Error),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

pub fn parse_request(body: &[u8]) -> Result<RunRequest> {
    serde_json::from_slice(body).map_err(|e| Error::Request(format!("invalid floe.run request: {e}")))
}

fn compute(request: &RunRequest) -> Result<Compute> {
    let vcpus = request.vcpus.unwrap_or(2);
    if !VCPU_CHOICES.contains(&vcpus) {
        return Err(Error::Request(format!("`vcpus` must be one of 2, 4, 8, 16, 32; got {vcpus}")));
    }
    let reason = request.distributed.then(|| "this server has no workers (`floe serve --cluster`), so the workload ran on one node".to_string());
    Ok(Compute { mode: "local", distributed: false, vcpus, reason, cluster_size: None })
}

fn elapsed(started: Instant) -> String {
    format!("{}ms", started.elapsed().as_millis())
}

fn describe(schema: &arrow::datatypes::Schema) -> (Vec<String>, Vec<String>) {
    schema.fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).unzip()
}

pub async fn execute(
    engine: &Arc<Engine>,
    scripts: &Arc<Scripts>,
    cluster: Option<&Arc<crate::cluster::Cluster>>,
    request: RunRequest,
    mut session: SessionDefaults,
) -> Result<RunResponse> {
    let started = Instant::now();
    let mut compute = compute(&request)?;
    if let Some(catalog) = &request.catalog {
        engine.lake().catalog(catalog)?;
        session.catalog = catalog.clone();
    }
    let (schema, batches, ticket) = match request.mode {
        Mode::Script => {
            if request.distributed {
                compute.reason = Some("scripts run on one node".into());
            }
            start_script(engine, scripts, &request, &compute, &session).await?
        }
        Mode::Query => start_query(engine, cluster, &request, &session, &mut compute).await?,
    };
    let (columns, column_types) = describe(&schema);

    let Some(destination) = request.destination.clone() else {
        let row_count = batches.try_fold(0u64, |n, b| async move { Ok(n + b.num_rows() as u64) }).await?;
        return Ok(RunResponse {
            success: true,
            row_count,
            execution_time: elapsed(started),
            columns,
            column_types,
            ticket: Some(STANDARD.encode(ticket.bytes())),
            saved: None,
            compute,
        });
    };

    let parts: Vec<String> = destination.split('.').map(str::to_string).collect();
    let table = engine.lake().names().resolve(&parts, &session)?;
    let mode = match request.save_mode {
        SaveMode::Append => write::SaveMode::Append,
        SaveMode::Overwrite => write::SaveMode::Overwrite,
    };
    let outcome = write::write_creating(engine.lake(), &table, &schema, batches, mode, request.idempotency_key.clone()).await?;
    Ok(RunResponse {
        success: true,
        row_count: outcome.rows_written,
        execution_time: elapsed(started),
        columns,
        column_types,
        ticket: None,
        saved: Some(Saved {
            table: format!("{}.{}", table.ident.namespace().join("."), table.ident.name()),
            rows_written: outcome.rows_written,
            mode: request.save_mode,
            snapshot_id: outcome.snapshot_id,
        }),
        compute,
    })
}

/// How DoGet replays a workload once its first run has been counted.
enum Replay {
    Query(crate::proto::QueryTicket),
    Distributed(crate::proto::DistributedTicket),
    Script(crate::proto::ScriptTicket, Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>),
}

impl Replay {
    fn bytes(self) -> Vec<u8> {
        match self {
            Replay::Query(ticket) => crate::flight::statement_ticket_bytes(&ticket),
            Replay::Distributed(ticket) => crate::flight::cluster::ticket_bytes(&ticket),
            Replay::Script(mut ticket, pins) => {
                // The first run has finished: its pins are final.
                ticket.pins = pins.lock().expect("pins lock").clone().into_iter().collect();
                crate::flight::script::ticket_bytes(&ticket)
            }
        }
    }
}

type Started = (SchemaRef, exec::BatchStream, Replay);

async fn start_query(
    engine: &Engine,
    cluster: Option<&Arc<crate::cluster::Cluster>>,
    request: &RunRequest,
    session: &SessionDefaults,
    compute: &mut Compute,
) -> Result<Started> {
    if request.script.is_some() {
        return Err(Error::Request("`script` is only used with \"mode\": \"script\"".into()));
    }
    let query = request
        .query
        .clone()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Error::Request("`query` is required in query mode".into()))?;
    let aliases = request.tables.iter().map(|t| t.parts().map_err(Error::Request)).collect::<Result<Vec<_>>>()?;
    let sql = sql::with_table_aliases(&query, &aliases)?;
    let plan = engine.plan(&sql, Vec::new(), session.clone()).await?;
    if let (true, Some(cluster)) = (request.distributed, cluster) {
        match crate::cluster::spread(cluster, engine, &plan, request.cluster_size.map(|n| n as usize)).await {
            Ok(spread) => {
                let ticket = crate::cluster::distributed_ticket(&spread, &plan);
                let (schema, batches) = crate::cluster::execute(cluster, &ticket).await?;
                *compute = Compute {
                    mode: "distributed",
                    distributed: true,
                    vcpus: compute.vcpus,
                    reason: None,
                    cluster_size: Some(spread.distribution.fragments().len()),
                };
                let stream: exec::BatchStream = Box::pin(futures::stream::iter(batches.into_iter().map(Ok)));
                return Ok((schema, stream, Replay::Distributed(ticket)));
            }
            Err(reason) => compute.reason = Some(reason),
        }
    }
    // Tickets carry no results: without a destination the query runs once
    // here to count its rows, and again on DoGet.
    let (schema, batches) = engine.execute(&plan.ticket).await?;
    Ok((schema, batches, Replay::Query(plan.ticket)))
}

async fn start_script(
    engine: &Arc<Engine>,
    scripts: &Arc<Scripts>,
    request: &RunRequest,
    compute: &Compute,
    session: &SessionDefaults,
) -> Result<Started> {
    if request.query.is_some() || !request.tables.is_empty() {
        return Err(Error::Request(
            "`query` and `tables` are for \"mode\": \"query\"; a script reads tables with scan(\"ns.table\")".into(),
        ));
    }
    let script = request
        .script
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| Error::Request("`script` is required in script mode".into()))?;
    let timeout = scripts.timeout_for(request.timeout_seconds)?;
    let ticket = crate::proto::ScriptTicket {
        script,
        params: request.params.clone().into_iter().collect(),
        session: Some(session.clone()),
        vcpus: compute.vcpus,
        timeout_seconds: timeout.as_secs(),
        pins: Default::default(),
        query_id: uuid::Uuid::new_v4().to_string(),
    };
    let started = crate::script::start(scripts.clone(), engine.clone(), crate::flight::script::job(ticket.clone())).await?;
    Ok((started.schema, started.batches, Replay::Script(ticket, started.pins)))
}
