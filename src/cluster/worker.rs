//! `floe worker`: a Floe server that announces itself to its coordinator
//! and keeps heart-beating, so a restarted worker rejoins by itself.

use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use prost::Message;

use crate::proto::WorkerHeartbeat;

pub const REGISTER_ACTION: &str = "floe.cluster.register";

/// Heart-beats `address` to `coordinator` every `every` until the process ends.
/// `token` (the cluster's shared static token, if servers require one) goes
/// along as a bearer token.
pub fn spawn_heartbeat(coordinator: String, address: String, every: Duration, token: Option<String>) {
    let worker_id = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let body = WorkerHeartbeat { address: address.clone(), worker_id }.encode_to_vec();
        let mut reported_failure = false;
        loop {
            match beat(&coordinator, &body, token.as_deref()).await {
                Ok(()) if reported_failure => {
                    tracing::info!(coordinator = coordinator.as_str(), "registered with the coordinator again");
                    reported_failure = false;
                }
                Ok(()) => {}
                Err(err) if !reported_failure => {
                    tracing::warn!(coordinator = coordinator.as_str(), "cannot reach the coordinator (will keep trying): {err}");
                    reported_failure = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(every).await;
        }
    });
}

async fn beat(coordinator: &str, body: &[u8], token: Option<&str>) -> Result<(), String> {
    let url = if coordinator.contains("://") { coordinator.replace("grpc://", "http://") } else { format!("http://{coordinator}") };
    let endpoint = tonic::transport::Endpoint::from_shared(url).map_err(|e| e.to_string())?.connect_timeout(Duration::from_secs(2));
    let mut client = FlightServiceClient::new(endpoint.connect().await.map_err(|e| e.to_string())?);
    let action = arrow_flight::Action { r#type: REGISTER_ACTION.into(), body: body.to_vec().into() };
    let mut request = tonic::Request::new(action);
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().map_err(|_| "the token is not a valid header value".to_string())?;
        request.metadata_mut().insert("authorization", value);
    }
    let mut results = client.do_action(request).await.map_err(|e| e.message().to_string())?.into_inner();
    while results.message().await.map_err(|e| e.message().to_string())?.is_some() {}
    Ok(())
}
