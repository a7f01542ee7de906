//! `switchyard client list|enable|disable` and `switchyard publish`.

use super::{CliError, Remote, table};
use reqwest::Method;
use serde_json::{Value, json};

/// The client object types, as the API names them.
const CLIENT_TYPES: [&str; 3] = ["MQTTClient", "KafkaClient", "PulsarClient"];

#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// List every broker client with its connection status.
    List,
    /// Enable client ID (an id or a name): it connects and stays connected.
    Enable { id: String },
    /// Disable client ID: it disconnects.
    Disable { id: String },
}

pub async fn run(remote: &Remote, command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::List => {
            let clients = all(remote).await?;
            let answer = json!({"result": clients, "total": clients.len()});
            remote.print(&answer, |_| {
                let rows = (clients.iter())
                    .map(|client| {
                        let text = |k: &str| client[k].as_str().unwrap_or_default().to_owned();
                        let flag =
                            |k: &str| if client[k] == true { "yes" } else { "no" }.to_owned();
                        let url = ["mainBrokerURL", "bootstrapServers", "serviceUrl"]
                            .iter()
                            .find_map(|k| client[*k].as_str())
                            .unwrap_or_default()
                            .to_owned();
                        let fields = ["id", "type", "name"].map(text);
                        let [id, kind, name] = fields;
                        vec![
                            id,
                            kind,
                            name,
                            url,
                            flag("isEnabled"),
                            flag("isConnected"),
                            text("lastError"),
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
        ClientCommand::Enable { id } => set_enabled(remote, &id, true).await?,
        ClientCommand::Disable { id } => set_enabled(remote, &id, false).await?,
    }
    Ok(())
}

/// Every client object, of every client type.
async fn all(remote: &Remote) -> Result<Vec<Value>, CliError> {
    let mut clients = Vec::new();
    for type_name in CLIENT_TYPES {
        let path = format!("/api/objects/{type_name}");
        let page = remote.call(Method::GET, &path, None).await?;
        clients.extend(page["result"].as_array().cloned().unwrap_or_default());
    }
    Ok(clients)
}

/// Finds the client by id or name, and sets its `isEnabled`.
async fn set_enabled(remote: &Remote, reference: &str, enabled: bool) -> Result<(), CliError> {
    let clients = all(remote).await?;
    let found = (clients.iter()).find(|c| c["id"] == reference || c["name"] == reference);
    let Some(client) = found else {
        return Err(CliError::Failed(format!(
            "no client with id or name `{reference}`"
        )));
    };
    let (kind, id) = (client["type"].as_str(), client["id"].as_str());
    let path = format!(
        "/api/objects/{}/{}",
        kind.unwrap_or_default(),
        id.unwrap_or_default()
    );
    let body = json!({"isEnabled": enabled}).to_string().into_bytes();
    let answer = (remote.call(Method::PATCH, &path, Some(("application/json", body)))).await?;
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
    let body = json!({"topic": topic, "message": message})
        .to_string()
        .into_bytes();
    let answer = remote
        .call(Method::POST, &path, Some(("application/json", body)))
        .await?;
    remote.print(&answer, |_: &Value| {
        format!("published to {topic} through {client}\n")
    });
    Ok(())
}
