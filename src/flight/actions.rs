//! Actions beyond the Flight SQL ones arrow-flight dispatches: session
//! options and CancelFlightInfo.

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{session, FloeService};
use crate::access::Principal;
use crate::error::Error;

const SET_SESSION_OPTIONS: &str = "SetSessionOptions";
const GET_SESSION_OPTIONS: &str = "GetSessionOptions";
const CLOSE_SESSION: &str = "CloseSession";
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";
const FLOE_RUN: &str = "floe.run";
const CLUSTER_WORKERS: &str = "floe.cluster.workers";
const MAINTENANCE: &str = "floe.maintenance";

type ActionStream = <FloeService as FlightService>::DoActionStream;

pub fn custom_action_types() -> Vec<Result<ActionType, Status>> {
    [
        (SET_SESSION_OPTIONS, "Set session options `catalog` and `schema` (defaults for unqualified table names)."),
        (GET_SESSION_OPTIONS, "Get the session's options."),
        (CLOSE_SESSION, "Close the session, resetting its options."),
        (CANCEL_FLIGHT_INFO, "Stop the running query of a FlightInfo."),
        (
            FLOE_RUN,
            "Run a Polars workload (oleander's JSON request: mode (query or script), query, tables, script, \
             params, catalog, vcpus, timeoutSeconds, destination, saveMode, idempotencyKey). Answers one JSON result: row_count, columns, and a base64 \
             `ticket` to DoGet the rows, or `saved` when written to a destination table.",
        ),
        (CLUSTER_WORKERS, "The coordinator's live workers, as JSON {\"workers\": [address, …]}."),
        (
            MAINTENANCE,
            "Table upkeep, as CALL system.<procedure> does: JSON {procedure (expire_snapshots, remove_orphan_files, \
             rewrite_data_files, rewrite_manifests), table, args {older_than, retain_last, dry_run, target_file_size_bytes}}. \
             Answers what it did as JSON counts.",
        ),
        (crate::cluster::worker::REGISTER_ACTION, "A worker's registration and heartbeat (a sealed WorkerHeartbeat; proto/floe.proto)."),
    ]
    .into_iter()
    .map(|(name, description)| Ok(ActionType { r#type: name.into(), description: description.into() }))
    .collect()
}

pub async fn dispatch(service: &FloeService, request: Request<Action>) -> Result<Response<ActionStream>, Status> {
    let (caller, client) = (super::principal(&request), super::client(&request));
    let (metadata, _, action) = request.into_parts();
    let reply = match action.r#type.as_str() {
        SET_SESSION_OPTIONS => session::set(service, &action.body, &metadata).await?,
        GET_SESSION_OPTIONS => session::get(service, &metadata),
        CLOSE_SESSION => session::close(),
        CANCEL_FLIGHT_INFO => cancel(service, &action.body, &caller)?,
        FLOE_RUN => {
            let outcome = run(service, &action.body, &metadata, &caller).await;
            super::audited(&caller, &client, "FLOE.RUN", &[], &outcome);
            outcome?
        }
        crate::cluster::worker::REGISTER_ACTION => register(service, &action.body, &caller)?,
        CLUSTER_WORKERS => workers(service)?,
        MAINTENANCE => {
            let outcome = maintenance(service, &action.body, &metadata, &caller).await;
            super::audited(&caller, &client, "CALL", &[], &outcome);
            outcome?
        }
        crate::cluster::stage::MAP_ACTION => {
            let answer = crate::cluster::stage::serve_map(service.engine(), &action.body, &caller).await.map_err(Error::from)?;
            json_reply(&answer)?
        }
        other => return Err(Error::InvalidArgument(format!("unknown action `{other}`: ListActions names the supported actions")).into()),
    };
    let result = arrow_flight::Result { body: reply.body.into() };
    let mut response: Response<ActionStream> = Response::new(Box::pin(futures::stream::iter([Ok(result)])));
    if let Some(cookie) = reply.set_cookie {
        response.metadata_mut().insert("set-cookie", cookie);
    }
    Ok(response)
}

fn json_reply(value: &impl serde::Serialize) -> Result<session::Reply, Status> {
    let body = serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(session::Reply { body, set_cookie: None })
}

fn register(service: &FloeService, body: &[u8], caller: &Principal) -> Result<session::Reply, Status> {
    let Some(cluster) = service.workloads.cluster() else {
        return Err(Error::FailedPrecondition("this server is not a coordinator: start it with `floe serve --cluster`".into()).into());
    };
    cluster.register(service.engine().keyring(), body, caller).map_err(Error::from)?;
    Ok(session::Reply { body: Vec::new(), set_cookie: None })
}

/// `floe.cluster.workers`: the live workers, as JSON `{"workers": [...]}`.
fn workers(service: &FloeService) -> Result<session::Reply, Status> {
    let workers = service.workloads.cluster().map(|cluster| cluster.live_workers()).unwrap_or_default();
    json_reply(&serde_json::json!({ "workers": workers }))
}

fn cancel(service: &FloeService, body: &[u8], caller: &Principal) -> Result<session::Reply, Status> {
    let request = CancelFlightInfoRequest::decode(body)
        .map_err(|e| Error::InvalidArgument(format!("malformed CancelFlightInfoRequest: {e}")))?;
    let info = request.info.ok_or_else(|| Error::InvalidArgument("CancelFlightInfoRequest has no FlightInfo".into()))?;
    let tickets: Vec<&[u8]> = info.endpoint.iter().filter_map(|e| e.ticket.as_ref()).map(|t| t.ticket.as_ref()).collect();
    let ids = service.workloads.query_ids(&tickets, caller);
    if ids.is_empty() {
        return Err(Error::InvalidArgument("the FlightInfo holds no query ticket this server issued to you".into()).into());
    }
    for id in &ids {
        service.engine().running().cancel(id);
    }
    let result = CancelFlightInfoResult { status: CancelStatus::Cancelled as i32 };
    Ok(session::Reply { body: result.encode_to_vec(), set_cookie: None })
}

/// `floe.maintenance`: a procedure by JSON, answered by its counts.
async fn maintenance(
    service: &FloeService,
    body: &[u8],
    metadata: &tonic::metadata::MetadataMap,
    caller: &Principal,
) -> Result<session::Reply, Status> {
    let call = crate::sql::procedure::Call::from_json(body).map_err(Error::from)?;
    let report = crate::exec::dml::call_procedure(service.engine(), &call, &session::defaults(metadata), caller)
        .await
        .map_err(Error::from)?;
    let counts: serde_json::Map<String, serde_json::Value> = report.into_iter().map(|(name, n)| (name.to_string(), n.into())).collect();
    json_reply(&counts)
}

/// Failures answer with the right gRPC code and a JSON message a client can parse.
async fn run(
    service: &FloeService,
    body: &[u8],
    metadata: &tonic::metadata::MetadataMap,
    caller: &Principal,
) -> Result<session::Reply, Status> {
    let outcome = async {
        let request = crate::workload::run::parse_request(body)?;
        service.workloads.run(request, session::defaults(metadata), caller).await
    }
    .await;
    match outcome {
        Ok(response) => json_reply(&response),
        Err(err) => Err(err.into_status_with(|err| {
            let failure = crate::workload::RunFailure { error: format!("{:?}", err.code()), details: err.to_string() };
            serde_json::to_string(&failure).unwrap_or_else(|_| err.to_string())
        })),
    }
}
