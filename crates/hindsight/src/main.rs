//! The `hindsight` command. Glue only: it parses arguments, opens the
//! store, calls the library crates and prints what they return.

mod cli;
mod cli_whatif;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the HTTP path allocates per request, and glibc's malloc shows
/// up in its profiles; mimalloc is faster at small, short-lived blocks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("HINDSIGHT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let default_level = if matches!(cli.command, cli::Command::Serve(_)) { "info" } else { "warn" };
    let filter =
        std::env::var("HINDSIGHT_LOG").map_or_else(|_| tracing_subscriber::EnvFilter::new(default_level), |_| filter);
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        cli::LogFormat::Json => logs.json().init(),
        cli::LogFormat::Text => logs.init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // A store's refusal prints as the API would answer it.
            if let Some(store_error) = e.downcast_ref::<hindsight_store::StoreError>() {
                eprintln!("{}", output::error_json(store_error));
            } else if let Some(history_error) = e.downcast_ref::<hindsight_timetravel::streams::HistoryError>() {
                eprintln!("{}", history_error.to_wire().body());
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
