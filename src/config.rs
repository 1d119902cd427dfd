//! Command line and environment configuration. Every flag can also be set
//! through a `FLOE_*` environment variable so containers need no arguments.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "FLOE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Write the bound address to this file once the server accepts connections.
    #[arg(long, env = "FLOE_ADDR_FILE")]
    pub addr_file: Option<PathBuf>,

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

    /// Static bearer token accepted from clients; repeat for several.
    #[arg(long = "token", env = "FLOE_TOKEN", value_delimiter = ',')]
    pub tokens: Vec<String>,

    /// `NAME:PASSWORD` accepted by the Flight handshake (Basic auth), which
    /// answers with a bearer token; repeat for several users.
    #[arg(long = "user", env = "FLOE_USER", value_delimiter = ',', value_parser = parse_user)]
    pub users: Vec<(String, String)>,

    /// TOML file naming more catalogs (see README); secrets only via environment variables.
    #[arg(long, env = "FLOE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Seconds to let in-flight calls finish after SIGTERM before exiting anyway.
    #[arg(long, env = "FLOE_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,

    /// Do not create the demo table `default.flowers` in an empty catalog.
    #[arg(long, env = "FLOE_NO_DEMO")]
    pub no_demo: bool,
}

impl ServeArgs {
    pub fn has_credentials(&self) -> bool {
        !self.tokens.is_empty() || !self.users.is_empty()
    }

    pub fn catalog_uri(&self) -> String {
        match &self.catalog_uri {
            Some(uri) if uri.contains("://") || uri.starts_with("sqlite:") => uri.clone(),
            Some(path) => sqlite_uri(&PathBuf::from(path)),
            None => sqlite_uri(&self.data_dir.join("catalog.db")),
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
