//! Ad-hoc statements: CommandStatementQuery → FlightInfo → DoGet.

use arrow_flight::sql::{CommandStatementQuery, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightInfo};
use tonic::{Request, Response, Status};

use super::{session, ticket, DoGetStream, FloeService};
use crate::proto::SessionDefaults;
use crate::write;

pub async fn flight_info(
    service: &FloeService,
    command: CommandStatementQuery,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let session = session::defaults(request.metadata());
    let proxy = super::cluster::cannot_reach_workers(request.metadata());
    let info = plan_or_write(service, &command.query, Vec::new(), session, request.into_inner(), proxy).await?;
    Ok(Response::new(info))
}

/// A query is planned; a statement that writes runs now (clients send DDL and
/// DML through `execute` too) and its ticket returns the affected row count.
pub async fn plan_or_write(
    service: &FloeService,
    sql_text: &str,
    params: Vec<String>,
    session: SessionDefaults,
    descriptor: FlightDescriptor,
    proxy: bool,
) -> Result<FlightInfo, Status> {
    let (sql_text, params) = match write::dml::execute(&service.engine, sql_text, &params, &session).await? {
        Some(rows) => (format!("SELECT CAST({rows} AS BIGINT) AS rows_affected"), Vec::new()),
        None => (sql_text.to_string(), params),
    };
    let distributed = session.distributed;
    let plan = service.engine.plan(&sql_text, params, session).await?;
    if distributed {
        if let Some(info) = super::cluster::flight_info(service, &plan, &descriptor, proxy).await? {
            return Ok(info);
        }
    }
    ticket::flight_info(&plan.schema, ticket::statement_ticket(&plan.ticket), descriptor)
}

pub async fn do_get(service: &FloeService, command: TicketStatementQuery) -> Result<Response<DoGetStream>, Status> {
    let query = ticket::decode_statement(&command.statement_handle)?;
    let (schema, batches) = service.engine.execute(&query).await?;
    let compression = query.session.as_ref().map(|s| s.compression.as_str()).unwrap_or_default();
    Ok(Response::new(ticket::stream(schema, batches, compression)))
}

/// CommandStatementUpdate: runs a statement that writes; a SELECT sent here is
/// a client mistake worth naming.
pub async fn update(
    service: &FloeService,
    sql_text: &str,
    params: &[String],
    session: &SessionDefaults,
) -> Result<i64, Status> {
    write::dml::execute(&service.engine, sql_text, params, session).await?.ok_or_else(|| {
        Status::invalid_argument("this statement returns rows: run it as a query (execute), not as an update")
    })
}
