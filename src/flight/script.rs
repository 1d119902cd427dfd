//! Script tickets: DoGet of a `floe.run` script result re-runs the script in
//! a fresh sandbox at the snapshots its first run read.

use std::time::Duration;

use arrow_flight::sql::Any;
use prost::Message;
use tonic::{Response, Status};

use super::{ticket, DoGetStream, FloeService};
use crate::proto::ScriptTicket;

pub const SCRIPT_TICKET_TYPE: &str = "type.googleapis.com/floe.v1.ScriptTicket";

pub fn ticket_bytes(script: &ScriptTicket) -> Vec<u8> {
    Any { type_url: SCRIPT_TICKET_TYPE.into(), value: script.encode_to_vec().into() }.encode_to_vec()
}

pub fn decode(any: &Any) -> Option<ScriptTicket> {
    (any.type_url == SCRIPT_TICKET_TYPE).then(|| ScriptTicket::decode(any.value.as_ref()).ok()).flatten()
}

pub fn job(ticket: ScriptTicket) -> crate::script::Job {
    crate::script::Job {
        script: ticket.script,
        params: ticket.params.into_iter().collect(),
        session: ticket.session.unwrap_or_default(),
        vcpus: ticket.vcpus,
        timeout: Duration::from_secs(ticket.timeout_seconds),
        pins: ticket.pins.into_iter().collect(),
        query_id: ticket.query_id,
    }
}

pub async fn do_get(service: &FloeService, any: Any) -> Result<Response<DoGetStream>, Status> {
    let Some(script) = decode(&any) else {
        return Err(Status::invalid_argument(format!("unknown ticket type `{}`", any.type_url)));
    };
    let compression = script.session.as_ref().map(|s| s.compression.clone()).unwrap_or_default();
    let started = crate::script::start(service.scripts.clone(), service.engine.clone(), job(script))
        .await
        .map_err(|e| Status::from(crate::error::Error::from(crate::run::Error::from(e))))?;
    Ok(Response::new(ticket::stream(started.schema, started.batches, &compression)))
}
