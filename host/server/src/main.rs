//! `switchyard`: the server binary. `switchyard serve` opens the object store, loads the
//! plugins, starts the embedded MQTT broker, connects the enabled clients and serves the
//! REST/admin API until interrupted.

mod config;
mod metrics;
mod serve;
mod token;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Runs WebAssembly callbacks on broker messages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve(config::Config),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| {
                "info,rumqttd=warn,rumqttd::server::broker=off,rumqttc=warn,sled=warn".into()
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match Cli::parse().command {
        Command::Serve(config) => tokio::runtime::Runtime::new()?.block_on(serve::serve(config)),
    }
}
