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

type ActionStream = <FloeService as FlightService>::DoActionStream;

pub fn custom_action_types() -> Vec<Result<ActionType, Status>> {
    [
        (SET_SESSION_OPTIONS, "Set session options `catalog` and `schema` (defaults for unqualified table names)."),
        (GET_SESSION_OPTIONS, "Get the session's options."),
        (CLOSE_SESSION, "Close the session, resetting its options."),
        (CANCEL_FLIGHT_INFO, "Stop the running query of a FlightInfo."),
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
