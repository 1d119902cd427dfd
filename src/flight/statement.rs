//! Ad-hoc statements: CommandStatementQuery → FlightInfo → DoGet.

use arrow_flight::sql::{CommandStatementQuery, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightInfo};
use tonic::{Request, Response, Status};

use super::{session, ticket, DoGetStream, FloeService};
use crate::sql;

pub async fn flight_info(
    service: &FloeService,
    command: CommandStatementQuery,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let session = session::defaults(request.metadata());
    let plan = service.engine.plan(&command.query, Vec::new(), session).await?;
    let info = ticket::flight_info(&plan.schema, ticket::statement_ticket(&plan.ticket), request.into_inner())?;
    Ok(Response::new(info))
}

pub async fn do_get(service: &FloeService, command: TicketStatementQuery) -> Result<Response<DoGetStream>, Status> {
    let query = ticket::decode_statement(&command.statement_handle)?;
    let (schema, batches) = service.engine.execute(&query).await?;
    Ok(Response::new(ticket::stream(schema, batches)))
}

/// CommandStatementUpdate: every data-changing statement is Unimplemented for
/// now; a SELECT sent here is a client mistake worth naming.
pub fn update(sql_text: &str) -> Result<i64, Status> {
    sql::parameter_count(sql_text)?;
    Err(Status::invalid_argument(
        "this statement returns rows: run it as a query (execute), not as an update",
    ))
}
