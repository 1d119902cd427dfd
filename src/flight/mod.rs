//! The Flight SQL service. This file only dispatches; each RPC family lives in
//! its own module.

mod actions;
mod columns;
pub mod auth;
pub mod tls;
mod ingest;
mod ipc;
#[cfg(test)]
mod fuzz;
mod metadata;
mod prepared;
mod server;
mod session;
mod sql_info;
mod statement;
mod traced;
mod stream;
mod wire;

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedSubstraitPlanRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest,
    CommandStatementQuery, CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::access::Principal;
use crate::workload::Workloads;

pub use auth::Auth;
pub use server::FlightServer;
pub use wire::DirectDoGet;

/// The principal the auth layer established for this call.
fn principal<T>(request: &Request<T>) -> Principal {
    request.extensions().get::<Principal>().cloned().unwrap_or_default()
}

/// The client's address, for the audit log.
fn client<T>(request: &Request<T>) -> String {
    request.remote_addr().map(|address| address.to_string()).unwrap_or_default()
}

/// Audits one statement with its outcome (`ok` or the status code).
fn audited<T>(caller: &Principal, client: &str, kind: &str, tables: &[String], outcome: &Result<T, Status>) {
    let outcome = match outcome {
        Ok(_) => "ok".to_string(),
        Err(status) => format!("{:?}", status.code()),
    };
    crate::access::audit(caller, client, kind, tables, &outcome);
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send + 'static>>;
/// DoGet's answer before tonic's codec: bodies in parts (`ipc.rs`), which
/// `wire.rs` writes as they are.
type MessageStream = Pin<Box<dyn Stream<Item = Result<ipc::Message, Status>> + Send + 'static>>;

/// Floe plans SQL text; GetSqlInfo says so (`FLIGHT_SQL_SERVER_SUBSTRAIT` is false).
fn no_substrait() -> Status {
    crate::error::Error::Unimplemented(
        "Floe runs SQL text, not Substrait plans: send the statement as SQL (CommandStatementQuery)".into(),
    )
    .into()
}

/// Everything the RPC handlers share.
pub struct FloeService {
    workloads: Arc<Workloads>,
    auth: Arc<Auth>,
    /// The URI scheme of this cluster's endpoints: `grpc`, or `grpc+tls`.
    scheme: &'static str,

    sql_info: arrow_flight::sql::metadata::SqlInfoData,
    xdbc_types: arrow_flight::sql::metadata::XdbcTypeInfoData,
}

impl FloeService {
    pub fn new(workloads: Arc<Workloads>, auth: Arc<Auth>) -> Self {
        Self { workloads, auth, scheme: "grpc", sql_info: sql_info::sql_info(), xdbc_types: sql_info::xdbc_types() }
    }

    /// Endpoint locations name TLS when the cluster's nodes serve it.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.scheme = if tls { "grpc+tls" } else { "grpc" };
        self
    }

    fn engine(&self) -> &Arc<crate::exec::Engine> {
        self.workloads.engine()
    }
}

#[tonic::async_trait]
impl FlightSqlService for FloeService {
    type FlightService = FloeService;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        self.auth.handshake(request.metadata())
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        statement::flight_info(self, query, request).await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let messages = statement::do_get(self, ticket, &principal(&request), &client(&request)).await?;
        Ok(messages.map(stream::flight_data))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let session = session::defaults(request.metadata());
        let caller = principal(&request);
        let outcome = statement::update(self, &command.query, &[], &session, &caller).await;
        audited(&caller, &client(&request), &crate::access::statement_kind(&command.query), &[], &outcome);
        outcome
    }

    /// A DoPut without its command: ADBC's driver sends no message at all when
    /// the data it ingests has no batches (an empty table), so say how to send one.
    async fn do_put_error_callback(
        &self,
        _request: Request<PeekableFlightDataStream>,
        error: arrow_flight::sql::server::DoPutError,
    ) -> Result<Response<<Self as FlightService>::DoPutStream>, Status> {
        let message = match error {
            arrow_flight::sql::server::DoPutError::MissingCommand => {
                "DoPut carried no message, so no command or table: ADBC sends nothing for data without batches; \
                 to ingest an empty table, send one empty batch (pa.RecordBatchReader.from_batches(schema, \
                 [pa.RecordBatch.from_pylist([], schema)]))"
                    .to_string()
            }
            other => format!("{other}: the first DoPut message must carry the Flight SQL command"),
        };
        Err(crate::error::Error::InvalidArgument(message).into())
    }

    async fn do_put_statement_ingest(
        &self,
        command: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let (caller, address, table) = (principal(&request), client(&request), command.table.clone());
        let outcome = ingest::ingest(self, command, request).await;
        audited(&caller, &address, "INGEST", &[table], &outcome);
        outcome
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        prepared::create(self, query, &request).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        prepared::close(self, query, &principal(&request))
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        prepared::bind(self, query, request).await
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        prepared::update(self, query, request).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        prepared::flight_info(self, query, request).await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        metadata::flight_info(self, query, request).await
    }

    async fn do_get_catalogs(&self, query: CommandGetCatalogs, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_schemas(&self, query: CommandGetDbSchemas, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_tables(&self, query: CommandGetTables, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_table_types(&self, query: CommandGetTableTypes, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_sql_info(&self, query: CommandGetSqlInfo, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_primary_keys(&self, query: CommandGetPrimaryKeys, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_exported_keys(&self, query: CommandGetExportedKeys, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_imported_keys(&self, query: CommandGetImportedKeys, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_cross_reference(&self, query: CommandGetCrossReference, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_xdbc_type_info(&self, query: CommandGetXdbcTypeInfo, request: Request<Ticket>) -> Result<Response<DoGetStream>, Status> {
        metadata::do_get(self, query, request).await
    }

    async fn do_get_fallback(&self, request: Request<Ticket>, message: arrow_flight::sql::Any) -> Result<Response<DoGetStream>, Status> {
        let messages = statement::do_get_sealed(self, &message, &principal(&request), &client(&request)).await?;
        Ok(messages.map(stream::flight_data))
    }

    async fn get_flight_info_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(no_substrait())
    }

    async fn do_put_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(no_substrait())
    }

    async fn do_action_create_prepared_substrait_plan(
        &self,
        _query: ActionCreatePreparedSubstraitPlanRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        Err(no_substrait())
    }

    async fn get_flight_info_fallback(
        &self,
        command: arrow_flight::sql::Command,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(crate::error::Error::InvalidArgument(format!("unknown command `{}`", command.type_url())).into())
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        actions::dispatch(self, request).await
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(actions::custom_action_types())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
