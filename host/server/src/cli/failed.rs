//! `switchyard failed list|replay`.

use super::{CliError, Remote, cell, table};
use reqwest::Method;
use serde_json::json;

#[derive(clap::Subcommand, Debug)]
pub enum FailedCommand {
    /// List failed messages, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Replay failed message ID through its subscriber's callback, or every one with `--all`.
    Replay {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
        /// With `--all`: only this subscriber's (its id).
        #[arg(long, requires = "all")]
        subscriber: Option<String>,
    },
}

pub async fn run(remote: &Remote, command: FailedCommand) -> Result<(), CliError> {
    match command {
        FailedCommand::List { limit } => {
            let query = format!("_sort=lastFailedAt&_order=desc&_limit={limit}");
            let failed = remote
                .list(switchyard_model::FAILED_MESSAGE, &query)
                .await?;
            let answer = json!({"result": failed});
            remote.print(&answer, |_| {
                let columns = [
                    "id",
                    "lastFailedAt",
                    "subscriber",
                    "callback",
                    "topic",
                    "attempts",
                    "error",
                ];
                let rows = (failed.iter())
                    .map(|record| columns.iter().map(|c| cell(record, c)).collect())
                    .collect();
                table(&columns, rows)
            });
        }
        FailedCommand::Replay {
            id: Some(id),
            all: false,
            ..
        } => {
            let path = format!("/api/failed/{id}/replay");
            let answer = remote.call(Method::POST, &path, None).await?;
            remote.print(&answer, |_| format!("replayed {id}\n"));
        }
        FailedCommand::Replay { subscriber, .. } => {
            let path = match &subscriber {
                Some(subscriber) => format!("/api/failed/replay?subscriber={subscriber}"),
                None => "/api/failed/replay".to_owned(),
            };
            let answer = remote.call(Method::POST, &path, None).await?;
            remote.print(&answer, |answer| {
                format!("replayed {}\n", answer["replayed"])
            });
            // Scripts learn from the exit code that some are still failing.
            let failed = answer["failed"].as_u64().unwrap_or_default();
            if failed > 0 {
                return Err(CliError::Failed(format!(
                    "{failed} failed again; their records stay"
                )));
            }
        }
    }
    Ok(())
}
