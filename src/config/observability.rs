//! Traces, metrics and lineage: where they go.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ObservabilityArgs {
    /// OpenTelemetry collector (OTLP over gRPC, e.g. `http://otel-collector:4317`) for traces
    /// and metrics. The standard `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_METRIC_EXPORT_INTERVAL` are honoured too.
    #[arg(long, env = "FLOE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// OpenLineage HTTP receiver (Marquez, oleander): events are POSTed to
    /// `<url>/api/v1/lineage`, with `FLOE_OPENLINEAGE_API_KEY` as a bearer token if set.
    #[arg(long, env = "FLOE_OPENLINEAGE_URL")]
    pub openlineage_url: Option<String>,

    /// Append OpenLineage events to this file, one JSON object a line.
    #[arg(long, env = "FLOE_OPENLINEAGE_FILE")]
    pub openlineage_file: Option<PathBuf>,

    /// The OpenLineage namespace of Floe's jobs.
    #[arg(long, env = "FLOE_OPENLINEAGE_NAMESPACE", default_value = "floe")]
    pub openlineage_namespace: String,

    /// The observatory (the web dashboard, and the HTTP API beside it) on its
    /// own port, like Polars on-premises' on :3001; `off` turns it off.
    #[arg(long, env = "FLOE_HTTP_LISTEN", default_value = "127.0.0.1:3001", value_parser = listen_or_off)]
    pub http_listen: Listen,

    /// How long the query history (`system.queries`, the observatory) is kept
    /// in `<data-dir>/history.db`: `7d`, `12h`, `30m`.
    #[arg(long, env = "FLOE_HISTORY_RETENTION", default_value = "7d", value_parser = crate::history::parse_retention)]
    pub history_retention: std::time::Duration,

    /// At most this many finished queries are kept in the history file, the
    /// newest, whatever the retention period (a busy server answers hundreds
    /// a second); 0 keeps all within the retention period.
    #[arg(long, env = "FLOE_HISTORY_MAX_QUERIES", default_value_t = 1_000_000)]
    pub history_max_queries: u64,

    /// Principals who see and may cancel everyone's queries (repeatable, or comma-separated).
    #[arg(long = "admin", env = "FLOE_ADMINS", value_delimiter = ',')]
    pub admins: Vec<String>,

    /// Bearer token for the OpenLineage receiver (read from the environment only).
    #[arg(long = "openlineage-api-key", env = "FLOE_OPENLINEAGE_API_KEY", hide = true, hide_env_values = true)]
    pub openlineage_api_key: Option<String>,
}

/// An address to listen on, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<std::net::SocketAddr>);

fn listen_or_off(text: &str) -> Result<Listen, String> {
    match text.trim() {
        "off" | "" => Ok(Listen(None)),
        address => address.parse().map(|a| Listen(Some(a))).map_err(|e| format!("`{address}` is not an address like 127.0.0.1:3001 or `off`: {e}")),
    }
}
