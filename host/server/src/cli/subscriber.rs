//! `switchyard subscriber list|add|rm`.

use super::client::{self, object_path};
use super::{CliError, Remote, cell, settings_map, table};
use reqwest::Method;
use serde_json::{Value, json};

const TYPE: &str = switchyard_model::MESSAGE_SUBSCRIBER;

#[derive(clap::Subcommand, Debug)]
pub enum SubscriberCommand {
    /// List the subscribers.
    List,
    /// Run plugin CALLBACK on messages matching TOPIC (a filter, wildcards allowed).
    Add {
        topic: String,
        callback: String,
        /// A client (id or name) whose messages it takes; may repeat.
        #[arg(long = "client", required = true)]
        clients: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// Another property, as KEY=VALUE (VALUE is JSON, or else text), e.g.
        /// `maxAttempts=1`; may repeat.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Delete subscriber ID (an id or a name).
    Rm { id: String },
}

pub async fn run(remote: &Remote, command: SubscriberCommand) -> Result<(), CliError> {
    match command {
        SubscriberCommand::List => {
            let subscribers = remote.list(TYPE, "").await?;
            let clients = client::all(remote).await?;
            let name_of = |id: &Value| {
                let found = clients.iter().find(|client| client["id"] == *id);
                found.map_or(id.as_str().unwrap_or_default().to_owned(), |client| {
                    cell(client, "name")
                })
            };
            let answer = json!({"result": subscribers, "total": subscribers.len()});
            remote.print(&answer, |_| {
                let rows = (subscribers.iter())
                    .map(|subscriber| {
                        let linked = subscriber["clients"].as_array().into_iter().flatten();
                        let linked: Vec<String> = linked.map(name_of).collect();
                        vec![
                            cell(subscriber, "id"),
                            cell(subscriber, "name"),
                            cell(subscriber, "topic"),
                            cell(subscriber, "callback"),
                            linked.join(","),
                        ]
                    })
                    .collect();
                table(&["id", "name", "topic", "callback", "clients"], rows)
            });
        }
        SubscriberCommand::Add {
            topic,
            callback,
            clients,
            name,
            settings,
        } => {
            let mut properties = settings_map(&settings)?;
            let mut ids = Vec::new();
            for reference in &clients {
                ids.push(client::find(remote, reference).await?["id"].clone());
            }
            properties.insert("topic".into(), topic.clone().into());
            properties.insert("callback".into(), callback.clone().into());
            properties.insert("clients".into(), Value::Array(ids));
            if let Some(name) = name {
                properties.insert("name".into(), name.into());
            }
            let path = format!("/api/objects/{TYPE}");
            let subscriber = remote
                .call_json(Method::POST, &path, &Value::Object(properties))
                .await?;
            remote.print(&subscriber, |subscriber| {
                let id = cell(subscriber, "id");
                format!("added subscriber {id}: {topic} -> {callback}\n")
            });
        }
        SubscriberCommand::Rm { id } => {
            let subscribers = remote.list(TYPE, "").await?;
            let found = (subscribers.iter()).find(|s| s["id"] == *id || s["name"] == *id);
            let subscriber = found
                .ok_or_else(|| CliError::Failed(format!("no subscriber with id or name `{id}`")))?;
            remote
                .call(Method::DELETE, &object_path(subscriber), None)
                .await?;
            remote.print(&Value::Null, |_| format!("removed {id}\n"));
        }
    }
    Ok(())
}
