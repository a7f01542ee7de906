//! `switchyard client list|add|enable|disable|rm` and `switchyard publish`.

use super::{CliError, Remote, cell, settings_map, table};
use clap::builder::PossibleValuesParser;
use reqwest::Method;
use serde_json::{Value, json};

/// What users call each broker kind (`mqtt`, `kafka`, ...).
fn kind_names() -> Vec<&'static str> {
    switchyard::client_kinds()
        .iter()
        .map(|k| k.short_name())
        .collect()
}

#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// List every broker client with its connection status.
    List,
    /// Add client NAME for BROKER: an MQTT URL (or `embedded`), or Kafka `host:port` /
    /// Pulsar URL servers, comma-separated.
    Add {
        name: String,
        broker: String,
        #[arg(long = "type", default_value = "mqtt", value_parser = PossibleValuesParser::new(kind_names()))]
        kind: String,
        /// Connect it now.
        #[arg(long)]
        enable: bool,
        /// Another property, as KEY=VALUE (VALUE is JSON, or else text); may repeat.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Enable client ID (an id or a name): it connects and stays connected.
    Enable { id: String },
    /// Disable client ID: it disconnects.
    Disable { id: String },
    /// Delete client ID.
    Rm { id: String },
}

pub async fn run(remote: &Remote, command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::List => {
            let clients = all(remote).await?;
            let answer = json!({"result": clients, "total": clients.len()});
            remote.print(&answer, |_| {
                let rows = (clients.iter())
                    .map(|client| {
                        let flag = |k: &str| if client[k] == true { "yes" } else { "no" }.into();
                        let broker = match &client[broker_property(client)] {
                            Value::String(url) => url.clone(),
                            servers => list_cell(servers),
                        };
                        vec![
                            cell(client, "id"),
                            cell(client, "type"),
                            cell(client, "name"),
                            broker,
                            flag("isEnabled"),
                            flag("isConnected"),
                            cell(client, "lastError"),
                        ]
                    })
                    .collect();
                let header = [
                    "id",
                    "type",
                    "name",
                    "broker",
                    "enabled",
                    "connected",
                    "last error",
                ];
                table(&header, rows)
            });
        }
        ClientCommand::Add {
            name,
            broker,
            kind,
            enable,
            settings,
        } => {
            let kinds = switchyard::client_kinds();
            let kind = kinds.named(&kind).expect("clap checked the name");
            let mut properties = settings_map(&settings)?;
            properties.insert("name".into(), name.clone().into());
            properties.insert("isEnabled".into(), enable.into());
            properties.extend(kind.broker_properties(&broker));
            let type_name = kind.type_name();
            let path = format!("/api/objects/{type_name}");
            let client = remote
                .call_json(Method::POST, &path, &Value::Object(properties))
                .await?;
            remote.print(&client, |client| {
                format!("added {type_name} {name} ({})\n", cell(client, "id"))
            });
        }
        ClientCommand::Enable { id } => set_enabled(remote, &id, true).await?,
        ClientCommand::Disable { id } => set_enabled(remote, &id, false).await?,
        ClientCommand::Rm { id } => {
            let path = object_path(&find(remote, &id).await?);
            remote.call(Method::DELETE, &path, None).await?;
            remote.print(&Value::Null, |_| format!("removed {id}\n"));
        }
    }
    Ok(())
}

/// The property that says where a client's broker is.
fn broker_property(client: &Value) -> &'static str {
    let kinds = switchyard::client_kinds();
    let kind = client["type"].as_str().and_then(|t| kinds.of(t).cloned());
    kind.map_or("mainBrokerURL", |kind| kind.broker_property())
}

fn list_cell(value: &Value) -> String {
    let items = value.as_array().into_iter().flatten();
    let texts: Vec<&str> = items.filter_map(Value::as_str).collect();
    texts.join(",")
}

/// Every client object, of every client type.
pub async fn all(remote: &Remote) -> Result<Vec<Value>, CliError> {
    let mut clients = Vec::new();
    for kind in switchyard::client_kinds().iter() {
        clients.extend(remote.list(kind.type_name(), "").await?);
    }
    Ok(clients)
}

/// The client whose id or name is `reference`.
pub async fn find(remote: &Remote, reference: &str) -> Result<Value, CliError> {
    let clients = all(remote).await?;
    let found = (clients.into_iter()).find(|c| c["id"] == reference || c["name"] == reference);
    found.ok_or_else(|| CliError::Failed(format!("no client with id or name `{reference}`")))
}

/// `/api/objects/{type}/{id}` of an object the API returned.
pub fn object_path(object: &Value) -> String {
    format!(
        "/api/objects/{}/{}",
        cell(object, "type"),
        cell(object, "id")
    )
}

/// Finds the client by id or name, and sets its `isEnabled`.
async fn set_enabled(remote: &Remote, reference: &str, enabled: bool) -> Result<(), CliError> {
    let path = object_path(&find(remote, reference).await?);
    let body = json!({"isEnabled": enabled});
    let answer = remote.call_json(Method::PATCH, &path, &body).await?;
    let done = if enabled { "enabled" } else { "disabled" };
    remote.print(&answer, |_| format!("{done} {reference}\n"));
    Ok(())
}

/// `switchyard publish CLIENT TOPIC MESSAGE`.
pub async fn publish(
    remote: &Remote,
    client: &str,
    topic: &str,
    message: &str,
) -> Result<(), CliError> {
    let path = format!("/api/clients/{client}/publish");
    let body = json!({"topic": topic, "message": message});
    let answer = remote.call_json(Method::POST, &path, &body).await?;
    remote.print(&answer, |_: &Value| {
        format!("published to {topic} through {client}\n")
    });
    Ok(())
}
