//! Tickets and the Arrow streams DoGet answers with.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::{ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tonic::Status;

use super::DoGetStream;
use crate::exec::BatchStream;
use crate::proto::QueryTicket;

/// Flight messages stay near 2 MiB: large enough to amortise per-message cost,
/// small enough for every client's default gRPC message limit.
const TARGET_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

pub fn statement_ticket(ticket: &QueryTicket) -> Ticket {
    let command = TicketStatementQuery { statement_handle: ticket.encode_to_vec().into() };
    Ticket::new(command.as_any().encode_to_vec())
}

pub fn decode_statement(handle: &[u8]) -> Result<QueryTicket, Status> {
    QueryTicket::decode(handle)
        .ok()
        .filter(|ticket| !ticket.sql.is_empty())
        .ok_or_else(|| Status::invalid_argument("malformed ticket: not one this server issued"))
}

/// The query ids of the Floe tickets inside a FlightInfo (for cancellation).
pub fn query_ids(info: &FlightInfo) -> Vec<String> {
    info.endpoint
        .iter()
        .filter_map(|endpoint| endpoint.ticket.as_ref())
        .filter_map(|ticket| arrow_flight::sql::Any::decode(ticket.ticket.as_ref()).ok())
        .filter_map(|any| match super::script::decode(&any) {
            Some(script) => Some(script.query_id),
            None => any
                .unpack::<TicketStatementQuery>()
                .ok()
                .flatten()
                .and_then(|command| QueryTicket::decode(command.statement_handle.as_ref()).ok())
                .map(|ticket| ticket.query_id),
        })
        .filter(|id| !id.is_empty())
        .collect()
}

pub fn flight_info(schema: &arrow::datatypes::Schema, ticket: Ticket, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor)
        .with_ordered(true))
}

pub fn stream(schema: SchemaRef, batches: BatchStream) -> DoGetStream {
    let batches = batches.map_err(|err| FlightError::Tonic(Box::new(Status::from(err))));
    let encoded = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_max_flight_data_size(TARGET_MESSAGE_BYTES)
        .build(batches)
        .map_err(Status::from);
    Box::pin(encoded)
}

pub fn single_batch(batch: RecordBatch) -> DoGetStream {
    let schema = batch.schema();
    stream(schema, Box::pin(futures::stream::once(async move { Ok(batch) }).boxed()))
}
