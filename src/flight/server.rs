//! The Flight service on the port: `FloeService`'s Flight SQL handlers, plus
//! the two calls arrow-flight's `FlightSqlService` cannot route to them
//! (`PollFlightInfo` and `GetSchema` answer Unimplemented there).

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{Any, Command};
use arrow_flight::{
    Action, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, PollInfo,
    SchemaResult, Ticket,
};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::{prepared, principal, traced, FloeService};
use crate::error::Error;

#[derive(Clone)]
pub struct FlightServer(Arc<FloeService>);

impl FlightServer {
    pub fn new(service: FloeService) -> Self {
        Self(Arc::new(service))
    }

    /// DoGet, the messages' bodies in the parts `wire.rs` writes without
    /// joining them; tonic's `do_get` joins them.
    pub async fn do_get_messages(&self, request: Request<Ticket>) -> Result<Response<super::MessageStream>, Status> {
        let span = traced::call_span("DoGet", &request);
        // Boxed, as async_trait boxes tonic's handlers: the futures below are too deep to lay out inline.
        let call: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
            Box::pin(super::statement::do_get_messages(self.0.as_ref(), request));
        traced::streaming(span, "DoGet", call).await
    }

    /// GetSchema's answer without planning, where there is one: a prepared
    /// query not yet bound cannot plan, and a statement that changes data runs
    /// when planned, so it is refused rather than described.
    async fn schema_without_planning(&self, request: &Request<FlightDescriptor>) -> Result<Option<SchemaResult>, Status> {
        let malformed = |e: &dyn std::fmt::Display| Error::InvalidArgument(format!("malformed command: {e}"));
        let any = Any::decode(request.get_ref().cmd.as_ref()).map_err(|e| malformed(&e))?;
        let sql = match Command::try_from(any).map_err(|e| malformed(&e))? {
            Command::CommandStatementQuery(query) => query.query,
            Command::CommandPreparedStatementQuery(query) => {
                let (caller, client) = (principal(request), super::client(request));
                match prepared::bind_state(&self.0, &query.prepared_statement_handle, &caller, &client).await? {
                    prepared::BindState::Unbound(schema) => return Ok(Some(SchemaResult { schema: prepared::schema_bytes(&schema)? })),
                    prepared::BindState::Bound(sql) => sql,
                }
            }
            _ => return Ok(None),
        };
        if crate::sql::describe(&sql).map_err(Error::from)?.is_query {
            return Ok(None);
        }
        Err(Error::InvalidArgument(
            "GetSchema describes queries; this statement changes data and has no result schema until it runs".into(),
        )
        .into())
    }
}

#[tonic::async_trait]
impl FlightService for FlightServer {
    type HandshakeStream = <FloeService as FlightService>::HandshakeStream;
    type ListFlightsStream = <FloeService as FlightService>::ListFlightsStream;
    type DoGetStream = <FloeService as FlightService>::DoGetStream;
    type DoPutStream = <FloeService as FlightService>::DoPutStream;
    type DoExchangeStream = <FloeService as FlightService>::DoExchangeStream;
    type DoActionStream = <FloeService as FlightService>::DoActionStream;
    type ListActionsStream = <FloeService as FlightService>::ListActionsStream;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        let span = traced::call_span("Handshake", &request);
        traced::streaming(span, "Handshake", FlightService::handshake(self.0.as_ref(), request)).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        let span = traced::call_span("ListFlights", &request);
        traced::streaming(span, "ListFlights", FlightService::list_flights(self.0.as_ref(), request)).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let span = traced::call_span("GetFlightInfo", &request);
        traced::unary(span, "GetFlightInfo", FlightService::get_flight_info(self.0.as_ref(), request)).await
    }

    /// Floe plans a statement whole, so the first poll answers with every
    /// endpoint and no descriptor to poll again: the query is fully planned
    /// (its endpoints may still be running, as after GetFlightInfo).
    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        let span = traced::call_span("PollFlightInfo", &request);
        let planned = async {
            let info = FlightService::get_flight_info(self.0.as_ref(), request).await?.into_inner();
            Ok(Response::new(PollInfo { info: Some(info), flight_descriptor: None, progress: Some(1.0), expiration_time: None }))
        };
        traced::unary(span, "PollFlightInfo", planned).await
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let span = traced::call_span("GetSchema", &request);
        let described = async {
            if let Some(answer) = self.schema_without_planning(&request).await? {
                return Ok(Response::new(answer));
            }
            let info = FlightService::get_flight_info(self.0.as_ref(), request).await?.into_inner();
            Ok(Response::new(SchemaResult { schema: info.schema }))
        };
        traced::unary(span, "GetSchema", described).await
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        Ok(self.do_get_messages(request).await?.map(super::stream::flight_data))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let span = traced::call_span("DoPut", &request);
        traced::streaming(span, "DoPut", FlightService::do_put(self.0.as_ref(), request)).await
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        let span = traced::call_span("DoExchange", &request);
        traced::streaming(span, "DoExchange", FlightService::do_exchange(self.0.as_ref(), request)).await
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let span = traced::call_span("DoAction", &request);
        traced::streaming(span, "DoAction", FlightService::do_action(self.0.as_ref(), request)).await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        let span = traced::call_span("ListActions", &request);
        traced::streaming(span, "ListActions", FlightService::list_actions(self.0.as_ref(), request)).await
    }
}
