//! Workloads (`floe.run`): a query or script, its result streamed back by
//! ticket or saved to a destination table.

pub mod request;

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::TryStreamExt;

pub use request::{RunFailure, RunRequest, RunResponse};
use request::{Compute, Mode, SaveMode, Saved};

use crate::exec::Engine;
use crate::proto::SessionDefaults;
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
    let reason = request.distributed.then(|| "no Floe workers are configured, so the workload ran on one node".to_string());
    Ok(Compute { mode: "local", distributed: false, vcpus, reason })
}

fn elapsed(started: Instant) -> String {
    format!("{}ms", started.elapsed().as_millis())
}

fn describe(schema: &arrow::datatypes::Schema) -> (Vec<String>, Vec<String>) {
    schema.fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).unzip()
}

pub async fn execute(engine: &Engine, request: RunRequest, mut session: SessionDefaults) -> Result<RunResponse> {
    let started = Instant::now();
    let compute = compute(&request)?;
    if request.mode == Mode::Script {
        return Err(Error::Unimplemented("script mode is not available in this version of Floe".into()));
    }
    if request.script.is_some() {
        return Err(Error::Request("`script` is only used with \"mode\": \"script\"".into()));
    }
    let query = request
        .query
        .clone()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Error::Request("`query` is required in query mode".into()))?;
    if let Some(catalog) = &request.catalog {
        engine.lake().catalog(catalog)?;
        session.catalog = catalog.clone();
    }
    let aliases = request.tables.iter().map(|t| t.parts().map_err(Error::Request)).collect::<Result<Vec<_>>>()?;
    let sql = sql::with_table_aliases(&query, &aliases)?;

    let Some(destination) = request.destination.clone() else {
        let plan = engine.plan(&sql, Vec::new(), session).await?;
        // Tickets carry no results, so counting runs the query once here.
        let (_, batches) = engine.execute(&plan.ticket).await?;
        let row_count = batches.try_fold(0u64, |n, b| async move { Ok(n + b.num_rows() as u64) }).await?;
        let (columns, column_types) = describe(&plan.schema);
        let ticket = crate::flight::statement_ticket_bytes(&plan.ticket);
        return Ok(RunResponse {
            success: true,
            row_count,
            execution_time: elapsed(started),
            columns,
            column_types,
            ticket: Some(STANDARD.encode(ticket)),
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
    let (schema, batches) = engine.run(&sql, session).await?;
    let (columns, column_types) = describe(&schema);
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
