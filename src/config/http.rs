//! The HTTP API's settings: how many rows an answer holds inline, and
//! where larger results are kept and for how long.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Rows an HTTP answer holds inline; a larger result is stored whole
    /// (see --results-location) and the answer links to it.
    #[arg(long, env = "FLOE_INLINE_ROWS", default_value_t = 10_000)]
    pub inline_rows: usize,

    /// Where results too large to answer inline are written as Parquet: a
    /// directory (default `<data-dir>/results`) or `s3://bucket/prefix`
    /// (with the `--s3-*` settings).
    #[arg(long, env = "FLOE_RESULTS_LOCATION")]
    pub results_location: Option<String>,

    /// How long stored results (and their download links) live: `90s`,
    /// `15m`, `24h`, `7d`. Expired results are deleted.
    #[arg(long, env = "FLOE_RESULTS_RETENTION", default_value = "1h", value_parser = crate::results::parse_retention)]
    pub results_retention: std::time::Duration,

    /// Origins browsers may call the HTTP API from (CORS), e.g.
    /// `https://notebook.example.com`; none by default.
    #[arg(long = "cors-origin", env = "FLOE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}
