//! The coordinator's Flight side: workers registering, queries spread over
//! them (FlightInfo endpoints on the workers, or one the coordinator gathers),
//! and DoGet of a gathered query.

use std::sync::Arc;

use arrow_flight::sql::Any;
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use prost::Message;
use tonic::{Response, Status};

use super::{session, ticket, DoGetStream, FloeService};
use crate::cluster::{self, plan::Distribution, Cluster};
use crate::proto::{DistributedTicket, WorkerHeartbeat};

pub fn register(service: &FloeService, body: &[u8]) -> Result<session::Reply, Status> {
    let Some(cluster) = &service.cluster else {
        return Err(Status::failed_precondition("this server is not a coordinator: start it with `floe serve --cluster`"));
    };
    let heartbeat = WorkerHeartbeat::decode(body).map_err(|e| Status::invalid_argument(format!("malformed heartbeat: {e}")))?;
    if heartbeat.address.is_empty() {
        return Err(Status::invalid_argument("a worker heartbeat needs its address"));
    }
    cluster.heartbeat(&heartbeat.address, &heartbeat.worker_id);
    Ok(session::Reply { body: Vec::new(), set_cookie: None })
}

/// `floe.cluster.workers`: the live workers, as JSON `{"workers": [...]}`.
pub fn workers(service: &FloeService) -> Result<session::Reply, Status> {
    let workers = service.cluster.as_ref().map(|cluster| cluster.live_workers()).unwrap_or_default();
    let body = serde_json::to_vec(&serde_json::json!({ "workers": workers })).map_err(|e| Status::internal(e.to_string()))?;
    Ok(session::Reply { body, set_cookie: None })
}

/// `floe.cluster.shuffle_map`: a map task of a shuffled join, on this node.
pub async fn shuffle_map(service: &FloeService, body: &[u8]) -> Result<session::Reply, Status> {
    let request = crate::proto::ShuffleMap::decode(body).map_err(|e| Status::invalid_argument(format!("malformed shuffle map: {e}")))?;
    let (rows, source) = cluster::shuffle::run_map(&service.engine, service.engine.shuffle_store(), request)
        .await
        .map_err(|e| Status::from(crate::error::Error::from(e)))?;
    let body =
        serde_json::to_vec(&serde_json::json!({ "rows": rows, "source": source })).map_err(|e| Status::internal(e.to_string()))?;
    Ok(session::Reply { body, set_cookie: None })
}

pub fn decode_shuffle_fetch(any: &Any) -> Option<crate::proto::ShuffleFetch> {
    (any.type_url == cluster::shuffle::FETCH_TICKET_TYPE).then(|| crate::proto::ShuffleFetch::decode(any.value.as_ref()).ok()).flatten()
}

pub fn shuffle_fetch(service: &FloeService, fetch: crate::proto::ShuffleFetch) -> Result<Response<DoGetStream>, Status> {
    let Some(dir) = service.engine.shuffle_store().local_dir() else {
        return Err(Status::not_found("this node keeps shuffle outputs in object storage, not on its disk"));
    };
    let (schema, batches) = cluster::shuffle::read_bucket(dir, &fetch).map_err(|e| Status::not_found(e.to_string()))?;
    let stream: crate::exec::BatchStream = Box::pin(futures::stream::iter(batches.into_iter().map(Ok)));
    Ok(Response::new(ticket::stream(schema, stream, "")))
}

pub fn ticket_bytes(ticket: &DistributedTicket) -> Vec<u8> {
    Any { type_url: cluster::DISTRIBUTED_TICKET_TYPE.into(), value: ticket.encode_to_vec().into() }.encode_to_vec()
}

pub fn decode(any: &Any) -> Option<DistributedTicket> {
    (any.type_url == cluster::DISTRIBUTED_TICKET_TYPE).then(|| DistributedTicket::decode(any.value.as_ref()).ok()).flatten()
}

/// A FlightInfo spreading `plan` over the workers, or None when it runs on
/// this node (the reason is logged).
/// Clients known to fetch every endpoint from the server they asked (the
/// Arrow Flight SQL JDBC driver, on grpc-java, in many deployments) get the
/// coordinator-proxied form; `--cluster-endpoints proxy` does it for all.
pub fn cannot_reach_workers(metadata: &tonic::metadata::MetadataMap) -> bool {
    metadata.get("user-agent").and_then(|v| v.to_str().ok()).is_some_and(|agent| agent.contains("grpc-java"))
}

pub async fn flight_info(
    service: &FloeService,
    plan: &crate::exec::Plan,
    descriptor: &FlightDescriptor,
    proxy: bool,
) -> Result<Option<FlightInfo>, Status> {
    let Some(cluster) = &service.cluster else { return Ok(None) };
    let spread = match cluster::spread(cluster, &service.engine, plan, None).await {
        Ok(spread) => spread,
        Err(reason) => {
            tracing::info!(query = plan.ticket.query_id.as_str(), "runs on one node: {reason}");
            return Ok(None);
        }
    };
    let info = FlightInfo::new()
        .try_with_schema(&plan.schema)
        .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
        .with_descriptor(descriptor.clone());
    let info = match &spread.distribution {
        Distribution::Partitioned { fragments } if cluster.config().direct_endpoints && !proxy => {
            fragments.iter().enumerate().fold(info, |info, (index, fragment)| {
                let worker = &spread.workers[index % spread.workers.len()];
                let mut endpoint = FlightEndpoint::new().with_ticket(ticket::statement_ticket(fragment)).with_location(format!("grpc://{worker}"));
                // Any Floe node can run a partition: the coordinator is the fallback.
                if let Some(coordinator) = &cluster.config().advertise_address {
                    endpoint = endpoint.with_location(format!("grpc://{coordinator}"));
                }
                info.with_endpoint(endpoint)
            })
        }
        _ => {
            let gathered = cluster::distributed_ticket(&spread, plan);
            info.with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket_bytes(&gathered)))).with_ordered(true)
        }
    };
    Ok(Some(info))
}

pub async fn do_get(cluster: &Arc<Cluster>, ticket: DistributedTicket) -> Result<Response<DoGetStream>, Status> {
    let compression = ticket.session.as_ref().map(|s| s.compression.clone()).unwrap_or_default();
    let status = |e: cluster::Error| Status::from(crate::error::Error::from(e));
    if ticket.final_sql.is_empty() {
        let (schema, stream) = cluster::stream_partitions(cluster, &ticket).map_err(status)?;
        return Ok(Response::new(ticket::stream(schema, stream, &compression)));
    }
    let (schema, batches) = cluster::execute(cluster, &ticket).await.map_err(status)?;
    let stream: crate::exec::BatchStream = Box::pin(futures::stream::iter(batches.into_iter().map(Ok)));
    Ok(Response::new(ticket::stream(schema, stream, &compression)))
}
