//! Flags that protect the server: TLS, and the limits on what one client's
//! queries may take.

use std::path::PathBuf;

use clap::Args;

/// TLS and mutual TLS for the Flight endpoint and calls between nodes.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// The server's certificate chain (PEM); with --tls-key, serves `grpc+tls://`.
    #[arg(long, env = "FLOE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The server's private key (PEM).
    #[arg(long, env = "FLOE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this CA (PEM): mutual TLS. The
    /// certificate's subject (its common name) becomes the principal.
    #[arg(long, env = "FLOE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// The CA other Floe nodes' certificates are checked against (default:
    /// --tls-client-ca). Nodes present their own certificate to each other.
    #[arg(long, env = "FLOE_TLS_PEER_CA", requires = "tls_cert")]
    pub tls_peer_ca: Option<PathBuf>,

    /// Seconds between HTTP/2 and TCP keepalive pings, so load balancers keep
    /// long result streams open (0: off).
    #[arg(long, env = "FLOE_KEEPALIVE_SECONDS", default_value_t = 30)]
    pub keepalive_seconds: u64,
}

/// Limits that keep one client from taking the server down.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// A query running longer than this is stopped with DeadlineExceeded (0: no limit).
    #[arg(long, env = "FLOE_QUERY_TIMEOUT_SECONDS", default_value_t = 3600)]
    pub query_timeout_seconds: u64,

    /// Queries that run at once; more wait in a queue (0: no limit).
    #[arg(long, env = "FLOE_MAX_CONCURRENT_QUERIES", default_value_t = 16)]
    pub max_concurrent_queries: usize,

    /// Queries that may wait for a slot; beyond this they are refused with ResourceExhausted.
    #[arg(long, env = "FLOE_QUERY_QUEUE", default_value_t = 64)]
    pub query_queue: usize,

    /// Run each query in a supervised executor process whose memory is
    /// capped at this many MiB: a query over it fails alone with
    /// ResourceExhausted (0: queries run inside the server).
    #[arg(long, env = "FLOE_QUERY_MEMORY_MB", default_value_t = 0)]
    pub query_memory_mb: u64,

    /// Seconds a query may wait for a slot before it is refused with ResourceExhausted.
    #[arg(long, env = "FLOE_QUERY_QUEUE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub query_queue_timeout_seconds: u64,
}

impl LimitArgs {
    pub fn admission(&self) -> crate::exec::Admission {
        use std::time::Duration;
        crate::exec::Admission {
            max_concurrent: self.max_concurrent_queries,
            max_queued: self.query_queue,
            queue_timeout: Duration::from_secs(self.query_queue_timeout_seconds),
            query_timeout: (self.query_timeout_seconds > 0).then(|| Duration::from_secs(self.query_timeout_seconds)),
        }
    }
}
