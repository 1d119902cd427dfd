//! Ad-hoc statements: CommandStatementQuery → FlightInfo → DoGet, and the
//! FlightInfo of wherever placement put a query.

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{Any, Command, CommandStatementQuery, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use futures::TryStreamExt;
use prost::Message as _;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::ipc::Message;
use super::{columns, principal, session, stream, FloeService, MessageStream};
use crate::access::Principal;
use crate::error::Error;
use crate::proto::SessionDefaults;
use crate::ticket::Kind;
use crate::workload::{tickets, Placement};

pub async fn flight_info(
    service: &FloeService,
    command: CommandStatementQuery,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let session = session::defaults(request.metadata());
    let info = plan(service, &command.query, Vec::new(), session, request).await?;
    Ok(Response::new(info))
}

/// Plans (or, for a statement that writes, runs) `sql` and describes where
/// its rows are.
pub async fn plan(
    service: &FloeService,
    sql: &str,
    params: Vec<String>,
    session: SessionDefaults,
    request: Request<FlightDescriptor>,
) -> Result<FlightInfo, Status> {
    let caller = principal(&request);
    let (client, kind) = (super::client(&request), crate::access::statement_kind(sql));
    let proxy = cannot_reach_workers(request.metadata());
    let planned = service.workloads.plan_statement(sql, params, session, &caller).await.map_err(Status::from);
    let tables = planned.as_ref().map(|planned| planned.tables.clone()).unwrap_or_default();
    super::audited(&caller, &client, &kind, &tables, &planned);
    let planned = planned?;
    let info = stream::empty_info(&columns::result_schema(&planned.schema), request.into_inner())?;
    let keyring = service.workloads.engine().keyring();
    let direct = service.workloads.cluster().is_some_and(|cluster| cluster.config().direct_endpoints) && !proxy;
    Ok(match planned.placement {
        Placement::Local { ticket, .. } => {
            info.with_endpoint(FlightEndpoint::new().with_ticket(tickets::query_ticket(keyring, &ticket, &caller))).with_ordered(true)
        }
        Placement::Partitioned { fragments, .. } if direct => {
            let coordinator = service.workloads.cluster().and_then(|cluster| cluster.config().advertise_address.clone());
            fragments.iter().fold(info, |info, (fragment, worker)| {
                let scheme = service.scheme;
                let mut endpoint = FlightEndpoint::new()
                    .with_ticket(tickets::query_ticket(keyring, fragment, &caller))
                    .with_location(format!("{scheme}://{worker}"));
                // Any Floe node can run a partition: the coordinator is the fallback.
                if let Some(coordinator) = &coordinator {
                    endpoint = endpoint.with_location(format!("{scheme}://{coordinator}"));
                }
                info.with_endpoint(endpoint)
            })
        }
        Placement::Partitioned { gathered: ticket, .. } | Placement::Gathered { ticket, .. } => {
            let sealed: Ticket = tickets::sealed_ticket(keyring, Kind::Distributed, &ticket, &caller);
            info.with_endpoint(FlightEndpoint::new().with_ticket(sealed)).with_ordered(true)
        }
    })
}

/// A client's `x-floe-endpoints: proxy` (one endpoint, on the coordinator:
/// Grafana accepts no other) or `direct` (the workers' partitions) decides.
/// Otherwise clients known to fetch every endpoint from the server they
/// asked (the Arrow Flight SQL JDBC driver, on grpc-java, in many
/// deployments) get the proxied form; `--cluster-endpoints proxy` does it for all.
fn cannot_reach_workers(metadata: &MetadataMap) -> bool {
    match metadata.get("x-floe-endpoints").and_then(|v| v.to_str().ok()).map(str::trim) {
        Some(choice) if choice.eq_ignore_ascii_case("proxy") => true,
        Some(choice) if choice.eq_ignore_ascii_case("direct") => false,
        _ => metadata.get("user-agent").and_then(|v| v.to_str().ok()).is_some_and(|agent| agent.contains("grpc-java")),
    }
}

pub async fn do_get(service: &FloeService, command: TicketStatementQuery, caller: &Principal, client: &str) -> Result<Response<MessageStream>, Status> {
    let arrived = std::time::Instant::now();
    let started = service.workloads.start_query(&command.statement_handle, caller, client).await?;
    Ok(Response::new(stream::respond(started, caller.clone(), client.to_string(), arrived, service.engine().history())))
}

/// DoGet of one of Floe's own (sealed) tickets.
pub async fn do_get_sealed(service: &FloeService, ticket: &Any, caller: &Principal, client: &str) -> Result<Response<MessageStream>, Status> {
    let arrived = std::time::Instant::now();
    let started = service.workloads.start_sealed(ticket, caller, client).await?;
    Ok(Response::new(stream::respond(started, caller.clone(), client.to_string(), arrived, service.engine().history())))
}

/// DoGet with the answer's messages as `wire.rs` writes them: the tickets of
/// queries answered here, the rest (catalog metadata, mistakes) through the
/// Flight SQL dispatch every DoGet of tonic's takes.
pub async fn do_get_messages(service: &FloeService, request: Request<Ticket>) -> Result<Response<MessageStream>, Status> {
    let command = Any::decode(&*request.get_ref().ticket).ok().and_then(|any| Command::try_from(any).ok());
    let (caller, client) = (principal(&request), super::client(&request));
    match command {
        Some(Command::TicketStatementQuery(ticket)) => do_get(service, ticket, &caller, &client).await,
        Some(Command::Unknown(ticket)) => do_get_sealed(service, &ticket, &caller, &client).await,
        _ => Ok(FlightService::do_get(service, request).await?.map(|data| Box::pin(data.map_ok(Message::from_flight_data)) as MessageStream)),
    }
}

/// CommandStatementUpdate: runs a statement that writes; a SELECT sent here is
/// a client mistake worth naming.
pub async fn update(
    service: &FloeService,
    sql: &str,
    params: &[String],
    session: &SessionDefaults,
    caller: &Principal,
) -> Result<i64, Status> {
    match service.workloads.apply(sql, params, session, caller).await.map_err(Error::from)? {
        crate::exec::dml::Statement::Changed { rows, .. } => Ok(rows),
        // An update count of a procedure: the first thing it counts.
        crate::exec::dml::Statement::Reported { report, .. } => Ok(report.first().map_or(0, |(_, n)| *n)),
        crate::exec::dml::Statement::Query(_) => Err(Error::InvalidArgument(
            "this statement returns rows: run it as a query (execute), not as an update".into(),
        )
        .into()),
    }
}
