//! `switchyard`: the server binary. `switchyard serve` opens the object store, loads the
//! plugins, starts the embedded MQTT broker, connects the enabled clients and serves the
//! REST/admin API until interrupted.

mod cli;
mod config;
mod memory;
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
    Serve(Box<config::Config>),
    /// Manage the plugins of a running server.
    Plugin {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(subcommand)]
        command: cli::plugin::PluginCommand,
    },
    /// Manage the broker clients of a running server.
    Client {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(subcommand)]
        command: cli::client::ClientCommand,
    },
    /// Manage the subscribers of a running server.
    Subscriber {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(subcommand)]
        command: cli::subscriber::SubscriberCommand,
    },
    /// Read the objects of a running server.
    Objects {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(subcommand)]
        command: cli::objects::ObjectsCommand,
    },
    /// List and replay the failed messages of a running server.
    Failed {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(subcommand)]
        command: cli::failed::FailedCommand,
    },
    /// Print what plugins logged and printed.
    Logs {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(flatten)]
        args: cli::logs::LogsArgs,
    },
    /// Manage the tenants of a running server (the operator's token).
    Tenant {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(subcommand)]
        command: cli::tenant::TenantCommand,
    },
    /// Issue, list and revoke a tenant's tokens (the operator's token).
    Token {
        #[command(flatten)]
        remote: cli::Remote,
        #[command(subcommand)]
        command: cli::token::TokenCommand,
    },
    /// Check a server's token and save it with its URL for the other commands.
    Login {
        #[command(flatten)]
        remote: cli::Remote,
    },
    /// Publish MESSAGE to TOPIC through CLIENT (an id or a name) of a running server.
    Publish {
        #[command(flatten)]
        remote: cli::Remote,
        client: String,
        topic: String,
        message: String,
    },
}

fn main() -> anyhow::Result<()> {
    memory::limit_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| {
                "info,rumqttd=warn,rumqttd::server::broker=off,rumqttc=warn".into()
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match Cli::parse().command {
        Command::Serve(config) => {
            memory::return_freed();
            tokio::runtime::Runtime::new()?.block_on(serve::serve(*config))
        }
        Command::Plugin { remote, command } => remote_call(cli::plugin::run(&remote, command)),
        Command::Client { remote, command } => remote_call(cli::client::run(&remote, command)),
        Command::Subscriber { remote, command } => {
            remote_call(cli::subscriber::run(&remote, command))
        }
        Command::Objects { remote, command } => remote_call(cli::objects::run(&remote, command)),
        Command::Failed { remote, command } => remote_call(cli::failed::run(&remote, command)),
        Command::Logs { remote, args } => remote_call(cli::logs::run(&remote, args)),
        Command::Tenant { remote, command } => remote_call(cli::tenant::run(&remote, command)),
        Command::Token { remote, command } => remote_call(cli::token::run(&remote, command)),
        Command::Login { remote } => remote_call(cli::login::login(&remote)),
        Command::Publish {
            remote,
            client,
            topic,
            message,
        } => remote_call(cli::client::publish(&remote, &client, &topic, &message)),
    }
}

/// Runs a command against a server; a failure exits with the code scripts rely on.
fn remote_call(
    command: impl std::future::Future<Output = Result<(), cli::CliError>>,
) -> anyhow::Result<()> {
    if let Err(error) = tokio::runtime::Runtime::new()?.block_on(command) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
    Ok(())
}
