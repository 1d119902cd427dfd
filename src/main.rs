use std::process::ExitCode;

use clap::Parser;
use floe::config::{Cli, Command};

fn main() -> ExitCode {
    floe::host::tune_memory();
    floe::host::quiet_library_backtraces();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => floe::server::run(args).await,
            Command::Sql(args) => floe::client::run_sql(args).await,
            Command::Tables(args) => floe::client::run_tables(args).await,
            Command::Run(args) => floe::client::run_workload(args).await,
            Command::Setup(args) => floe::server::setup(args).await,
            Command::Worker(args) => floe::server::run_worker(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
