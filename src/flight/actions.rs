//! Actions beyond the Flight SQL ones arrow-flight dispatches: session
//! options and CancelFlightInfo.

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{session, ticket, FloeService};

const SET_SESSION_OPTIONS: &str = "SetSessionOptions";
const GET_SESSION_OPTIONS: &str = "GetSessionOptions";
const CLOSE_SESSION: &str = "CloseSession";
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";
const FLOE_RUN: &str = "floe.run";
const CLUSTER_WORKERS: &str = "floe.cluster.workers";

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
        (crate::cluster::worker::REGISTER_ACTION, "A worker's registration and heartbeat (WorkerHeartbeat in proto/floe.proto)."),
    ]
    .into_iter()
    .map(|(name, description)| Ok(ActionType { r#type: name.into(), description: description.into() }))
    .collect()
}

pub async fn dispatch(service: &FloeService, request: Request<Action>) -> Result<Response<ActionStream>, Status> {
    let (metadata, _, action) = request.into_parts();
    let reply = match action.r#type.as_str() {
        SET_SESSION_OPTIONS => session::set(service, &action.body, &metadata).await?,
        GET_SESSION_OPTIONS => session::get(service, &metadata),
        CLOSE_SESSION => session::close(),
        CANCEL_FLIGHT_INFO => cancel(service, &action.body)?,
        FLOE_RUN => run(service, &action.body, &metadata).await?,
        crate::cluster::worker::REGISTER_ACTION => super::cluster::register(service, &action.body)?,
        CLUSTER_WORKERS => super::cluster::workers(service)?,
        crate::cluster::shuffle::MAP_ACTION => super::cluster::shuffle_map(service, &action.body).await?,
        other => {
            return Err(Status::invalid_argument(format!(
                "unknown action `{other}`: ListActions names the supported actions"
            )))
        }
    };
    let result = arrow_flight::Result { body: reply.body.into() };
    let mut response: Response<ActionStream> = Response::new(Box::pin(futures::stream::iter([Ok(result)])));
    if let Some(cookie) = reply.set_cookie {
        response.metadata_mut().insert("set-cookie", cookie);
    }
    Ok(response)
}

fn cancel(service: &FloeService, body: &[u8]) -> Result<session::Reply, Status> {
    let request = CancelFlightInfoRequest::decode(body)
        .map_err(|e| Status::invalid_argument(format!("malformed CancelFlightInfoRequest: {e}")))?;
    let info = request.info.ok_or_else(|| Status::invalid_argument("CancelFlightInfoRequest has no FlightInfo"))?;
    let ids = ticket::query_ids(&info);
    if ids.is_empty() {
        return Err(Status::invalid_argument("the FlightInfo holds no query ticket issued by this server"));
    }
    for id in &ids {
        service.engine.running().cancel(id);
    }
    let result = CancelFlightInfoResult { status: CancelStatus::Cancelled as i32 };
    Ok(session::Reply { body: result.encode_to_vec(), set_cookie: None })
}

/// Failures answer with the right gRPC code and a JSON message a client can parse.
async fn run(
    service: &FloeService,
    body: &[u8],
    metadata: &tonic::metadata::MetadataMap,
) -> Result<session::Reply, Status> {
    let outcome = async {
        let request = crate::run::parse_request(body)?;
        crate::run::execute(&service.engine, &service.scripts, service.cluster.as_ref(), request, session::defaults(metadata)).await
    }
    .await;
    match outcome {
        Ok(response) => {
            let body = serde_json::to_vec(&response).map_err(|e| Status::internal(e.to_string()))?;
            Ok(session::Reply { body, set_cookie: None })
        }
        Err(err) => Err(crate::error::Error::from(err).into_status_with(|err| {
            let failure = crate::run::RunFailure { error: format!("{:?}", err.code()), details: err.to_string() };
            serde_json::to_string(&failure).unwrap_or_else(|_| err.to_string())
        })),
    }
}
