//! Command line and environment configuration. Every flag can also be set
//! through a `FLOE_*` environment variable so containers need no arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod http;
mod observability;
mod security;
pub use http::HttpArgs;
pub use observability::ObservabilityArgs;
pub use security::{LimitArgs, TlsArgs};

#[derive(Debug, Parser)]
#[command(name = "floe", version, about = "Arrow Flight SQL server for Apache Iceberg lakes, powered by Polars")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Flight SQL server.
    Serve(ServeArgs),
    /// Run one SQL query against a Floe server and print the result.
    Sql(SqlArgs),
    /// List the tables a Floe server can see.
    Tables(ClientArgs),
    /// Run a workload (the `floe.run` JSON request) and print its JSON answer.
    Run(RunArgs),
    /// Prepare script mode now (Python runtime, sandbox check) instead of at first use.
    Setup(SetupArgs),
    /// Run a worker: a Floe server that runs partitions of distributed queries
    /// for the coordinator it heart-beats to.
    Worker(WorkerArgs),
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The coordinator to join (`host:port` of `floe serve --cluster`).
    #[arg(long, env = "FLOE_COORDINATOR")]
    pub coordinator: String,

    /// Seconds between heartbeats to the coordinator.
    #[arg(long, env = "FLOE_HEARTBEAT_SECONDS", default_value_t = 2)]
    pub heartbeat_seconds: u64,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// How a coordinator runs its cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Act as a coordinator: accept workers (`floe worker --coordinator`) and
    /// spread queries of sessions with `distributed=true` over them.
    #[arg(long, env = "FLOE_CLUSTER")]
    pub cluster: bool,

    /// Also find workers by resolving this `host:port` (a Kubernetes headless Service).
    #[arg(long, env = "FLOE_WORKER_DNS")]
    pub worker_dns: Option<String>,

    /// Seconds without a heartbeat after which a worker leaves the cluster.
    #[arg(long, env = "FLOE_HEARTBEAT_TIMEOUT_SECONDS", default_value_t = 10)]
    pub heartbeat_timeout_seconds: u64,

    /// Seconds a partition may run on one worker before it is re-run on another.
    #[arg(long, env = "FLOE_PARTITION_TIMEOUT_SECONDS", default_value_t = 300)]
    pub partition_timeout_seconds: u64,

    /// Runs of one partition (on different workers) before the query fails.
    #[arg(long, env = "FLOE_PARTITION_ATTEMPTS", default_value_t = 3)]
    pub partition_attempts: usize,

    /// `direct`: FlightInfo endpoints on the workers (clients fetch in
    /// parallel); `proxy`: one endpoint on the coordinator, for clients that
    /// cannot reach workers.
    #[arg(long, env = "FLOE_CLUSTER_ENDPOINTS", value_enum, default_value_t = Endpoints::Direct)]
    pub cluster_endpoints: Endpoints,

    /// A joined table of more bytes than this is hash-shuffled between
    /// workers instead of read whole by every partition.
    #[arg(long, env = "FLOE_BROADCAST_LIMIT_BYTES", default_value_t = 64 << 20)]
    pub broadcast_limit_bytes: u64,

    /// A GROUP BY over a scan of more bytes than this is hash-shuffled by its
    /// keys (each worker aggregates whole groups) instead of combining
    /// partial aggregates on the coordinator.
    #[arg(long, env = "FLOE_GROUP_SHUFFLE_BYTES", default_value_t = 256 << 20)]
    pub group_shuffle_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoints {
    Direct,
    Proxy,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "FLOE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Write the bound address to this file once the server accepts connections.
    #[arg(long, env = "FLOE_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,

    /// `text`: readable lines on stderr; `json`: one JSON object per line on
    /// stdout (timestamp, level, target, message, fields, span), for log collectors.
    #[arg(long, env = "FLOE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Directory for the embedded catalog and warehouse.
    #[arg(long, env = "FLOE_DATA_DIR", default_value = "./floe-data")]
    pub data_dir: PathBuf,

    /// Iceberg SQL catalog database: a SQLite path or a sqlite:// / postgres:// URL.
    /// Defaults to `<data-dir>/catalog.db`.
    #[arg(long, env = "FLOE_CATALOG_URI")]
    pub catalog_uri: Option<String>,

    /// Name of the catalog (the first part of a three-part table name).
    #[arg(long, env = "FLOE_CATALOG_NAME", default_value = "floe")]
    pub catalog_name: String,

    /// Warehouse location for new tables. Defaults to `<data-dir>/warehouse`.
    #[arg(long, env = "FLOE_WAREHOUSE")]
    pub warehouse: Option<String>,

    /// S3-compatible endpoint for an `s3://` warehouse (Garage, MinIO, …); unset for AWS.
    /// Keys come only from FLOE_S3_ACCESS_KEY_ID / FLOE_S3_SECRET_ACCESS_KEY
    /// (/ FLOE_S3_SESSION_TOKEN), or AWS's own environment and profiles.
    #[arg(long, env = "FLOE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    #[arg(long, env = "FLOE_S3_REGION")]
    pub s3_region: Option<String>,

    /// Path-style S3 requests (`endpoint/bucket/key`), which most non-AWS servers need.
    #[arg(long, env = "FLOE_S3_PATH_STYLE")]
    pub s3_path_style: bool,

    /// Seconds one request to a catalog or object store may take before it
    /// is retried (storage) or the query fails with Unavailable (catalog).
    #[arg(long, env = "FLOE_STORAGE_TIMEOUT_SECONDS", default_value_t = 30)]
    pub storage_timeout_seconds: u64,

    /// Retries of a failed object-storage read before the query fails.
    #[arg(long, env = "FLOE_STORAGE_RETRIES", default_value_t = 3)]
    pub storage_retries: usize,

    /// Which reader reads data files: `auto` uses Polars' own Parquet reader
    /// wherever it reads the table correctly; `iceberg` always uses
    /// iceberg-rust's (slower; for comparison or as a workaround).
    #[arg(long, env = "FLOE_READER", value_enum, default_value_t = Reader::Auto)]
    pub reader: Reader,

    /// Which Polars engine runs queries: `auto` streams results as they
    /// are made in bounded memory, and collects those of queries over small
    /// inputs (at most 2^20 rows even as a cross join), which it answers
    /// sooner; `streaming` streams every query; `in-memory` collects each
    /// result first, which is faster for some join-heavy plans on few cores
    /// (BENCHMARKS.md) and holds whole intermediates in memory.
    #[arg(long, env = "FLOE_POLARS_ENGINE", value_enum, default_value_t = PolarsEngine::Auto)]
    pub polars_engine: PolarsEngine,

    /// Keep up to this many MiB of query answers for queries sent again
    /// (dashboards). An answer is reused only for the same statement over the
    /// same table snapshots, so a commit is seen at once; queries reading the
    /// clock, random numbers or system views are never kept. 0 turns it off.
    #[arg(long, env = "FLOE_RESULT_CACHE_MB", default_value_t = 0)]
    pub result_cache_mb: usize,

    /// Keep up to this many MiB of table data in memory, as decoded columns of
    /// the data files queries read, so the next query over them skips reading
    /// and decoding Parquet [default: a quarter of the memory the server may
    /// use, the machine's or its container's limit]. Never stale: Iceberg
    /// data files never change. A query whose columns are not all held reads
    /// the files as without a cache, and they are decoded into it after; only
    /// the columns queries read are kept, least recently used first out. With
    /// `--polars-engine streaming` or `--query-memory-mb` nothing is cached.
    /// 0 turns it off.
    #[arg(long, env = "FLOE_DATA_CACHE_MB")]
    pub data_cache_mb: Option<usize>,

    /// Static bearer token accepted from clients; repeat for several.
    #[arg(long = "token", env = "FLOE_TOKEN", value_delimiter = ',')]
    pub tokens: Vec<String>,

    /// `NAME:PASSWORD` accepted by the Flight handshake (Basic auth), which
    /// answers with a bearer token; repeat for several users.
    #[arg(long = "user", env = "FLOE_USER", value_delimiter = ',', value_parser = parse_user)]
    pub users: Vec<(String, String)>,

    /// File holding the key that seals tickets and handles (at least 16
    /// bytes). A coordinator and its workers need the same key; without one
    /// a random key is made at start-up and tickets end with the process.
    #[arg(long, env = "FLOE_TICKET_KEY_FILE")]
    pub ticket_key_file: Option<PathBuf>,

    /// The ticket key itself (prefer --ticket-key-file; a Kubernetes Secret works as either).
    #[arg(long, env = "FLOE_TICKET_KEY", hide_env_values = true)]
    pub ticket_key: Option<String>,

    /// How long tickets and prepared-statement handles stay valid: long
    /// enough for BI tools that fetch results slowly or keep statements open.
    #[arg(long, env = "FLOE_TICKET_LIFETIME_SECONDS", default_value_t = 86_400)]
    pub ticket_lifetime_seconds: u64,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub http: HttpArgs,

    #[command(flatten)]
    pub observability: ObservabilityArgs,

    /// TOML file naming more catalogs (see README); secrets only via environment variables.
    #[arg(long, env = "FLOE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Seconds to let in-flight calls finish after SIGTERM before exiting anyway.
    #[arg(long, env = "FLOE_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,

    /// Do not create the demo table `default.flowers` in an empty catalog.
    #[arg(long, env = "FLOE_NO_DEMO")]
    pub no_demo: bool,

    #[command(flatten)]
    pub scripts: ScriptArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Where hash-shuffle map outputs go: a directory (default
    /// `<data-dir>/shuffle`, served to other workers over Flight) or an
    /// `s3://bucket/prefix` (with the `--s3-*` settings), which outlives a lost worker.
    #[arg(long, env = "FLOE_SHUFFLE_LOCATION")]
    pub shuffle_location: Option<String>,

    /// The address clients and the coordinator reach this server at, as put
    /// in FlightInfo locations and worker heartbeats (default: the bound address).
    #[arg(long, env = "FLOE_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<String>,
}

/// Script mode: users' Python Polars scripts in sandboxes.
#[derive(Debug, Clone, Args)]
pub struct ScriptArgs {
    /// Turn script mode off.
    #[arg(long, env = "FLOE_NO_SCRIPTS")]
    pub no_scripts: bool,

    /// Run scripts on this Python (which must have polars, pyarrow and
    /// pyiceberg) instead of the runtime Floe provisions.
    #[arg(long, env = "FLOE_PYTHON")]
    pub python: Option<PathBuf>,

    /// Where Floe keeps the Python runtime it provisions (shared by servers).
    #[arg(long, env = "FLOE_SCRIPT_RUNTIME_DIR")]
    pub script_runtime_dir: Option<PathBuf>,

    /// Memory per vCPU a workload may use, in MiB (`vcpus` 2 gets twice this).
    #[arg(long, env = "FLOE_SCRIPT_MEMORY_MB_PER_VCPU", default_value_t = 1024)]
    pub script_memory_mb_per_vcpu: u64,

    /// Wall-clock limit for a workload unless its request sets `timeoutSeconds`.
    #[arg(long, env = "FLOE_SCRIPT_TIMEOUT_SECONDS", default_value_t = 300)]
    pub script_timeout_seconds: u64,

    /// The largest `timeoutSeconds` a request may ask for.
    #[arg(long, env = "FLOE_SCRIPT_MAX_TIMEOUT_SECONDS", default_value_t = 3600)]
    pub script_max_timeout_seconds: u64,

    /// Largest result a script may return, in MiB of Arrow data.
    #[arg(long, env = "FLOE_SCRIPT_MAX_RESULT_MB", default_value_t = 4096)]
    pub script_max_result_mb: u64,

    /// Most a script may print to stdout and stderr together, in KiB.
    #[arg(long, env = "FLOE_SCRIPT_MAX_OUTPUT_KB", default_value_t = 16384)]
    pub script_max_output_kb: u64,

    /// Size of a workload's private scratch `/tmp`, in MiB.
    #[arg(long, env = "FLOE_SCRIPT_SCRATCH_MB", default_value_t = 256)]
    pub script_scratch_mb: u64,

    /// Most processes and threads a workload may run at once.
    #[arg(long, env = "FLOE_SCRIPT_MAX_PROCESSES", default_value_t = 256)]
    pub script_max_processes: u32,

    /// Pre-started sandboxes kept ready (each serves one workload, then exits).
    #[arg(long, env = "FLOE_SCRIPT_POOL_SIZE", default_value_t = 2)]
    pub script_pool_size: usize,
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub scripts: ScriptArgs,
}

impl ScriptArgs {
    pub fn script_config(&self, private_paths: Vec<PathBuf>) -> crate::script::ScriptConfig {
        use std::time::Duration;
        crate::script::ScriptConfig {
            enabled: !self.no_scripts,
            python: self.python.clone(),
            runtime_dir: self.script_runtime_dir.clone().unwrap_or_else(crate::script::runtime::default_dir),
            memory_mb_per_vcpu: self.script_memory_mb_per_vcpu,
            default_timeout: Duration::from_secs(self.script_timeout_seconds),
            max_timeout: Duration::from_secs(self.script_max_timeout_seconds),
            max_result_bytes: self.script_max_result_mb << 20,
            max_output_bytes: self.script_max_output_kb << 10,
            scratch_bytes: self.script_scratch_mb << 20,
            max_processes: self.script_max_processes,
            pool_size: self.script_pool_size,
            private_paths,
        }
    }
}

impl ServeArgs {
    pub fn has_credentials(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty() || self.tls.tls_client_ca.is_some()
    }

    /// Static tokens with the principal each stands for (`token1`, `token2`, …).
    pub fn named_tokens(&self) -> Vec<(String, String)> {
        self.tokens.iter().enumerate().map(|(index, token)| (format!("token{}", index + 1), token.clone())).collect()
    }

    pub fn catalog_uri(&self) -> String {
        match &self.catalog_uri {
            Some(uri) if uri.contains("://") || uri.starts_with("sqlite:") => uri.clone(),
            Some(path) => sqlite_uri(&PathBuf::from(path)),
            None => sqlite_uri(&self.data_dir.join("catalog.db")),
        }
    }

    /// Storage settings of the catalog these flags define.
    pub fn s3_settings(&self) -> crate::catalog::storage::S3Settings {
        let from_env = |variable: &str| std::env::var_os(variable).map(|_| variable.to_string());
        crate::catalog::storage::S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            path_style: self.s3_path_style,
            access_key_id_env: from_env("FLOE_S3_ACCESS_KEY_ID"),
            secret_access_key_env: from_env("FLOE_S3_SECRET_ACCESS_KEY"),
            session_token_env: from_env("FLOE_S3_SESSION_TOKEN"),
        }
    }

    pub fn warehouse(&self) -> String {
        self.warehouse
            .clone()
            .unwrap_or_else(|| absolute(&self.data_dir.join("warehouse")).display().to_string())
    }
}

fn sqlite_uri(path: &std::path::Path) -> String {
    // mode=rwc creates the file on first start.
    format!("sqlite://{}?mode=rwc", absolute(path).display())
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn parse_user(raw: &str) -> Result<(String, String), String> {
    match raw.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => {
            Ok((name.to_string(), password.to_string()))
        }
        _ => Err(format!("expected NAME:PASSWORD, got `{raw}`")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Server address, `host:port` or a `grpc://` URL.
    #[arg(long, env = "FLOE_HOST", default_value = "127.0.0.1:50051")]
    pub host: String,

    /// Bearer token to send.
    #[arg(long, env = "FLOE_CLIENT_TOKEN")]
    pub token: Option<String>,

    /// Output format.
    #[arg(long, env = "FLOE_FORMAT", value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    /// The SQL query.
    pub query: String,

    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The request JSON, `@file.json`, or `-` for standard input, e.g.
    /// '{"query": "SELECT …", "destination": "ns.table", "saveMode": "append"}'.
    pub request: String,

    /// Also fetch and print the result rows (when the workload returns a ticket).
    #[arg(long, env = "FLOE_FETCH")]
    pub fetch: bool,

    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolarsEngine {
    Auto,
    Streaming,
    InMemory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reader {
    Auto,
    Iceberg,
}
