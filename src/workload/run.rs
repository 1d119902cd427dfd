//! `floe.run`: a query or script, its result streamed back by ticket or saved
//! to a destination table.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::inline::{self, Inline};
use super::request::{Compute, Mode, RunRequest, RunResponse, SaveMode, Saved};
use super::{tickets, Placement, Prepared, Workloads};
use crate::access::Principal;
use crate::error::{Error, Result};
use crate::exec::{self, dml};
use crate::proto::{ScriptTicket, SessionDefaults};
use crate::ticket::Kind;
use crate::{sql, write};

const VCPU_CHOICES: [u32; 5] = [2, 4, 8, 16, 32];

fn request_error(message: impl Into<String>) -> Error {
    Error::InvalidArgument(message.into())
}

/// Parses a `floe.run` request body.
pub fn parse_request(body: &[u8]) -> Result<RunRequest> {
    serde_json::from_slice(body).map_err(|e| request_error(format!("invalid floe.run request: {e}")))
}

fn compute(request: &RunRequest) -> Result<Compute> {
    let vcpus = request.vcpus.unwrap_or(2);
    if !VCPU_CHOICES.contains(&vcpus) {
        return Err(request_error(format!("`vcpus` must be one of 2, 4, 8, 16, 32; got {vcpus}")));
    }
    Ok(Compute {
        mode: "local",
        distributed: false,
        vcpus,
        placement: "local",
        shuffles: 0,
        reruns: 0,
        reason: None,
        instance_type: None,
        cluster_size: None,
    })
}

fn elapsed(started: Instant) -> String {
    format!("{}ms", started.elapsed().as_millis())
}

/// Column names and their Polars dtype names.
pub fn describe(schema: &arrow::datatypes::Schema) -> (Vec<String>, Vec<String>) {
    schema.fields().iter().map(|f| (f.name().clone(), super::dtype::polars_name(f.data_type()))).unzip()
}

/// How DoGet replays a workload once its first run has been counted: the
/// Flight ticket, sealed when the first run is over (a script's pins are
/// known only then).
type Replay = Box<dyn FnOnce() -> arrow_flight::Ticket + Send>;

type Started = (SchemaRef, exec::BatchStream, Replay, Option<ScriptPins>);

/// The snapshots a script read, by table name, once it has finished.
pub(super) type ScriptPins = Arc<Mutex<std::collections::HashMap<String, i64>>>;

/// A workload whose rows have started to flow (they travel beside it).
struct Begun {
    started: Instant,
    compute: Compute,
    session: SessionDefaults,
    schema: SchemaRef,
    script_pins: Option<ScriptPins>,
}

async fn begin(
    workloads: &Workloads,
    request: &RunRequest,
    mut session: SessionDefaults,
    principal: &Principal,
) -> Result<(Begun, exec::BatchStream, Replay)> {
    let started = Instant::now();
    let mut compute = compute(request)?;
    if let Some(catalog) = &request.catalog {
        workloads.engine().lake().catalog(catalog)?;
        session.catalog = catalog.clone();
    }
    let (schema, batches, replay, script_pins) = match request.mode {
        Mode::Script => {
            if request.distributed {
                compute.reason = Some("scripts run on one node".into());
            }
            start_script(workloads, request, &compute, &session, principal).await?
        }
        Mode::Query => start_query(workloads, request, &session, &mut compute, principal).await?,
    };
    Ok((Begun { started, compute, session, schema, script_pins }, batches, replay))
}

impl Begun {
    fn answer(self, row_count: u64, ticket: Option<String>, saved: Option<Saved>) -> RunResponse {
        let (columns, column_types) = describe(&self.schema);
        RunResponse { success: true, row_count, execution_time: elapsed(self.started), columns, column_types, ticket, saved, compute: self.compute }
    }
}

/// Runs a `floe.run` request: rows go to its destination, or the returned
/// ticket fetches them. A small result is counted here and replayed by the
/// ticket; a result past `--inline-rows` is stored as it runs, and the
/// ticket reads the stored rows (the workload runs once).
pub async fn run_request(workloads: &Workloads, request: RunRequest, session: SessionDefaults, principal: &Principal) -> Result<RunResponse> {
    let mut lineage = workloads.workload_run(&request, &session);
    let running = track(workloads, &request, principal, crate::history::Protocol::Run);
    let outcome = run_request_once(workloads, &request, session.clone(), principal, &mut lineage).await;
    finish_tracking(running, outcome.as_ref().map(|answer| answer.row_count));
    workloads.finish_workload(lineage, &request, &session, outcome.as_ref().err()).await;
    outcome
}

/// The workload in this node's history.
fn track(workloads: &Workloads, request: &RunRequest, principal: &Principal, protocol: crate::history::Protocol) -> crate::history::Running {
    let (kind, text) = match request.mode {
        Mode::Script => ("SCRIPT".to_string(), request.script.clone().unwrap_or_default()),
        Mode::Query => {
            let query = request.query.clone().unwrap_or_default();
            (crate::access::statement_kind(&query), query)
        }
    };
    let mut tables: Vec<String> = request.tables.iter().filter_map(|t| t.parts().ok()).map(|(_, table)| table).collect();
    tables.extend(request.destination.clone());
    workloads.engine().history().start(crate::history::Start {
        query_id: uuid::Uuid::new_v4().to_string(),
        protocol,
        kind,
        sql: text,
        principal: principal.to_string(),
        client: String::new(),
        tables,
    })
}

fn finish_tracking(running: crate::history::Running, outcome: std::result::Result<u64, &Error>) {
    match outcome {
        Ok(rows) => {
            running.progress(rows, 0);
            running.finish(None);
        }
        Err(err) => running.finish(Some((format!("{:?}", err.code()), err.to_string()))),
    }
}

async fn run_request_once(
    workloads: &Workloads,
    request: &RunRequest,
    session: SessionDefaults,
    principal: &Principal,
    lineage: &mut Option<super::lineage::WorkloadRun>,
) -> Result<RunResponse> {
    let request = request.clone();
    let (begun, batches, replay) = begin(workloads, &request, session, principal).await?;
    if let Some(run) = lineage {
        run.script_pins = begun.script_pins.clone();
    }
    if request.destination.is_some() {
        return save(workloads, &request, begun, batches, principal).await;
    }
    let inline = inline::collect(workloads.results(), begun.schema.clone(), batches).await?;
    let ticket = match &inline.stored {
        Some(stored) => tickets::result_ticket(workloads.engine().keyring(), stored, principal),
        None => replay(),
    };
    Ok(begun.answer(inline.row_count, Some(STANDARD.encode(ticket.ticket)), None))
}

/// Runs a request whose rows come back in the answer (HTTP): up to
/// `--inline-rows` inline, all of them in a stored result past that.
pub async fn run_inline(
    workloads: &Workloads,
    request: RunRequest,
    session: SessionDefaults,
    principal: &Principal,
) -> Result<(RunResponse, Option<Inline>)> {
    let mut lineage = workloads.workload_run(&request, &session);
    let running = track(workloads, &request, principal, crate::history::Protocol::Http);
    let outcome = run_inline_once(workloads, &request, session.clone(), principal, &mut lineage).await;
    finish_tracking(running, outcome.as_ref().map(|(answer, _)| answer.row_count));
    workloads.finish_workload(lineage, &request, &session, outcome.as_ref().err()).await;
    outcome
}

async fn run_inline_once(
    workloads: &Workloads,
    request: &RunRequest,
    session: SessionDefaults,
    principal: &Principal,
    lineage: &mut Option<super::lineage::WorkloadRun>,
) -> Result<(RunResponse, Option<Inline>)> {
    let request = request.clone();
    let (begun, batches, _) = begin(workloads, &request, session, principal).await?;
    if let Some(run) = lineage {
        run.script_pins = begun.script_pins.clone();
    }
    if request.destination.is_some() {
        return Ok((save(workloads, &request, begun, batches, principal).await?, None));
    }
    let inline = inline::collect(workloads.results(), begun.schema.clone(), batches).await?;
    Ok((begun.answer(inline.row_count, None, None), Some(inline)))
}

/// Writes the workload's rows to its destination table.
async fn save(
    workloads: &Workloads,
    request: &RunRequest,
    begun: Begun,
    batches: exec::BatchStream,
    principal: &Principal,
) -> Result<RunResponse> {
    let engine = workloads.engine();
    let destination = request.destination.as_deref().unwrap_or_default();
    let parts: Vec<String> = destination.split('.').map(str::to_string).collect();
    let written = engine.lake().names().resolve(&parts, &begun.session)?;
    let table = engine.lake().existing_or_written(written).await?;
    engine.authorize(principal, &table, crate::access::Right::Write)?;
    let mode = match request.save_mode {
        SaveMode::Append => write::SaveMode::Append,
        SaveMode::Overwrite => write::SaveMode::Overwrite,
    };
    let rows = dml::rows_to_write(batches);
    let outcome =
        write::write_creating(engine.lake(), &table, &begun.schema, rows, mode, request.idempotency_key.clone()).await?;
    let saved = Saved {
        table: format!("{}.{}", table.ident.namespace().join("."), table.ident.name()),
        rows_written: outcome.rows_written,
        mode: request.save_mode,
        snapshot_id: outcome.snapshot_id,
    };
    Ok(begun.answer(outcome.rows_written, None, Some(saved)))
}

async fn start_query(
    workloads: &Workloads,
    request: &RunRequest,
    session: &SessionDefaults,
    compute: &mut Compute,
    principal: &Principal,
) -> Result<Started> {
    if request.script.is_some() {
        return Err(request_error("`script` is only used with \"mode\": \"script\""));
    }
    let query = request
        .query
        .clone()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| request_error("`query` is required in query mode"))?;
    let aliases = request.tables.iter().map(|t| t.parts().map_err(request_error)).collect::<Result<Vec<_>>>()?;
    let sql = sql::with_table_aliases(&query, &aliases)?;
    let engine = workloads.engine().clone();
    let keyring = engine.keyring().clone();
    let owner = principal.clone();
    // DML and procedures run here, answered by their counts, as through Flight SQL.
    let placement = match workloads.prepare(&sql, Vec::new(), session.clone(), principal).await? {
        Prepared::Change(planned) => planned.placement,
        Prepared::Query(plan) => {
            workloads.place(plan, request.distributed, request.cluster_size.map(|n| n as usize), principal).await
        }
    };
    compute.placement = placement.name();
    let replay: Replay = match &placement {
        Placement::Local { ticket, reason } => {
            compute.reason = reason.clone();
            // A query ticket carries no rows: a small result runs once here
            // to be counted and again on DoGet (a large one is stored instead).
            let ticket = ticket.clone();
            Box::new(move || tickets::query_ticket(&keyring, &ticket, &owner))
        }
        Placement::Partitioned { gathered: ticket, spread, .. } | Placement::Gathered { ticket, spread } => {
            *compute = Compute {
                mode: "distributed",
                distributed: true,
                shuffles: spread.shuffles,
                reruns: spread.reruns,
                cluster_size: Some(ticket.fragments.len()),
                instance_type: request.instance_type.clone(),
                reason: None,
                ..compute.clone()
            };
            let ticket = ticket.clone();
            Box::new(move || tickets::sealed_ticket(&keyring, Kind::Distributed, &ticket, &owner))
        }
    };
    let rows = workloads.start_placed(placement, principal).await?;
    compute.reruns += rows.reruns;
    Ok((rows.schema, rows.batches, replay, None))
}

async fn start_script(
    workloads: &Workloads,
    request: &RunRequest,
    compute: &Compute,
    session: &SessionDefaults,
    principal: &Principal,
) -> Result<Started> {
    if request.query.is_some() || !request.tables.is_empty() {
        return Err(request_error(
            "`query` and `tables` are for \"mode\": \"query\"; a script reads tables with scan(\"ns.table\")",
        ));
    }
    let script = request
        .script
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| request_error("`script` is required in script mode"))?;
    let timeout = workloads.scripts.timeout_for(request.timeout_seconds)?;
    let mut ticket = ScriptTicket {
        script,
        params: request.params.clone().into_iter().collect(),
        session: Some(session.clone()),
        vcpus: compute.vcpus,
        timeout_seconds: timeout.as_secs(),
        pins: Default::default(),
        query_id: uuid::Uuid::new_v4().to_string(),
    };
    let engine = workloads.engine().clone();
    let started =
        crate::script::start(workloads.scripts.clone(), engine.clone(), tickets::script_job(ticket.clone(), principal.clone())).await?;
    let pins: ScriptPins = started.pins;
    let read = pins.clone();
    let owner = principal.clone();
    let replay: Replay = Box::new(move || {
        // The first run has finished: its pins are final.
        ticket.pins = pins.lock().expect("pins lock").clone().into_iter().collect();
        tickets::sealed_ticket(engine.keyring(), Kind::Script, &ticket, &owner)
    });
    Ok((started.schema, started.batches, replay, Some(read)))
}
