//! `switchyard`: the server binary. `switchyard serve` opens the object store, loads the
//! plugins, starts the embedded MQTT broker, connects the enabled clients and serves the
//! REST/admin API until interrupted.

mod cli;
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
    limit_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| {
                "info,rumqttd=warn,rumqttd::server::broker=off,rumqttc=warn".into()
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match Cli::parse().command {
        Command::Serve(config) => tokio::runtime::Runtime::new()?.block_on(serve::serve(config)),
        Command::Plugin { remote, command } => remote_call(cli::plugin::run(&remote, command)),
        Command::Client { remote, command } => remote_call(cli::client::run(&remote, command)),
        Command::Subscriber { remote, command } => {
            remote_call(cli::subscriber::run(&remote, command))
        }
        Command::Objects { remote, command } => remote_call(cli::objects::run(&remote, command)),
        Command::Failed { remote, command } => remote_call(cli::failed::run(&remote, command)),
        Command::Logs { remote, args } => remote_call(cli::logs::run(&remote, args)),
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

/// glibc gives threads that allocate at the same time arenas of their own, up to eight per
/// core, and memory freed in one arena is not reused by another: the runtime's workers and
/// blocking threads then keep growing resident memory they seldom return. One arena per core
/// (the runtime runs a worker per core) keeps the heap compact without contention.
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores).unwrap_or(i32::MAX);
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
