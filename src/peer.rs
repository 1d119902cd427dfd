//! Calls from one Floe node to another (partitions, shuffle buckets and map
//! tasks, heartbeats). Nodes authenticate with the peer token derived from
//! the shared ticket key and use TLS when the cluster is configured with it;
//! addresses come only from membership or from tickets this cluster sealed.

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use arrow_flight::FlightClient;
use arrow::datatypes::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node is gone, unreachable or broken: another node may do the work.
    #[error("node {node}: {message}")]
    Unreachable { node: String, message: String },
    /// The node answered with a status of its own choosing (bad query,
    /// broken table): any node would answer the same.
    #[error("{message} (on node {node})")]
    Refused { node: String, code: tonic::Code, message: String },
}

/// Rows streamed from another node.
pub type RowStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<RecordBatch, Error>> + Send>>;

/// TLS for calls to other nodes: the CA that signed their certificates,
/// and this node's own certificate for clusters that require client certificates.
#[derive(Clone)]
pub struct PeerTls {
    pub ca: Vec<u8>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// How this node reaches the others.
#[derive(Clone)]
pub struct Peers {
    token: String,
    tls: Option<PeerTls>,
    connect_timeout: Duration,
}

impl Peers {
    pub fn new(token: String, tls: Option<PeerTls>) -> Self {
        Self { token, tls, connect_timeout: Duration::from_secs(3) }
    }

    fn endpoint(&self, node: &str) -> Result<Endpoint, Error> {
        let fail = |message: String| Error::Unreachable { node: node.to_string(), message };
        let host = node.trim_start_matches("grpc://").trim_start_matches("grpc+tls://");
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{host}"))
            .map_err(|e| fail(e.to_string()))?
            .connect_timeout(self.connect_timeout);
        if let Some(tls) = &self.tls {
            let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca));
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(Identity::from_pem(cert, key));
            }
            endpoint = endpoint.tls_config(config).map_err(|e| fail(e.to_string()))?;
        }
        Ok(endpoint)
    }

    async fn client(&self, node: &str) -> Result<FlightClient, Error> {
        let fail = |message: String| Error::Unreachable { node: node.to_string(), message };
        let channel = self.endpoint(node)?.connect().await.map_err(|e| fail(format!("{e:?}")))?;
        let mut client = FlightClient::new(channel);
        client.add_header("authorization", &format!("Bearer {}", self.token)).map_err(|e| fail(e.to_string()))?;
        // The node's spans join the caller's trace.
        if let Some(traceparent) = crate::telemetry::traceparent() {
            client.add_header("traceparent", &traceparent).map_err(|e| fail(e.to_string()))?;
        }
        Ok(client)
    }

    /// DoGet of `ticket` on `node`, all of it; an empty result still carries
    /// its schema as one empty batch.
    pub async fn fetch(&self, node: &str, ticket: Vec<u8>) -> Result<Vec<RecordBatch>, Error> {
        let (schema, rows) = self.stream(node, ticket).await?;
        let mut batches: Vec<RecordBatch> = rows.try_collect().await?;
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(batches)
    }

    /// DoGet of `ticket` on `node` as a stream, once its schema is known
    /// (the first batch has been read, and comes first in the stream).
    pub async fn stream(&self, node: &str, ticket: Vec<u8>) -> Result<(SchemaRef, RowStream), Error> {
        let mut client = self.client(node).await?;
        let mut stream = client.do_get(arrow_flight::Ticket::new(ticket)).await.map_err(|e| failure(node, e))?;
        let first = stream.try_next().await.map_err(|e| failure(node, e))?;
        let schema = match (&first, stream.schema()) {
            (_, Some(schema)) => schema.clone(),
            (Some(batch), None) => batch.schema(),
            (None, None) => return Err(Error::Unreachable { node: node.to_string(), message: "the result had no schema".into() }),
        };
        let node = node.to_string();
        let rest = stream.map_err(move |e| failure(&node, e));
        // The client lives as long as the stream: dropping it would close the channel.
        let rows = futures::stream::iter(first.map(Ok)).chain(rest).map(move |item| {
            let _ = &client;
            item
        });
        Ok((schema, Box::pin(rows)))
    }

    /// A custom action on `node`; its results' bodies.
    pub async fn action(&self, node: &str, action: &str, body: Vec<u8>) -> Result<Vec<bytes::Bytes>, Error> {
        let mut client = self.client(node).await?;
        let action = arrow_flight::Action { r#type: action.to_string(), body: body.into() };
        let results = client.do_action(action).await.map_err(|e| failure(node, e))?;
        results.try_collect().await.map_err(|e| failure(node, e))
    }
}

/// Transport trouble is the node's fault; a status the node chose is the work's.
fn failure(node: &str, err: arrow_flight::error::FlightError) -> Error {
    use tonic::Code;
    match err {
        arrow_flight::error::FlightError::Tonic(status)
            if !matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::Aborted) =>
        {
            Error::Refused { node: node.to_string(), code: status.code(), message: status.message().to_string() }
        }
        other => Error::Unreachable { node: node.to_string(), message: other.to_string() },
    }
}
