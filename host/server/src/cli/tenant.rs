//! `switchyard tenant add|list|show|quota|rm`: the operator's tenants and their quotas.

use super::{CliError, Remote, settings_map, table};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(clap::Subcommand, Debug)]
pub enum TenantCommand {
    /// Create tenant NAME, with quotas as QUOTA=N (`plugins=5 storageMb=100`).
    Add { name: String, quotas: Vec<String> },
    /// List the tenants with what they use of their quotas.
    List,
    /// Show tenant NAME: each quota beside what it uses.
    Show { name: String },
    /// Set quotas of tenant NAME as QUOTA=N; QUOTA=null goes back to the server's default.
    Quota {
        name: String,
        #[arg(required = true)]
        quotas: Vec<String>,
    },
    /// Delete tenant NAME; with `--force`, with everything it holds.
    Rm {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(remote: &Remote, command: TenantCommand) -> Result<(), CliError> {
    match command {
        TenantCommand::Add { name, quotas } => {
            let body = json!({"name": name, "quotas": settings_map(&quotas)?});
            let tenant = remote
                .call_json(Method::POST, "/api/tenants", &body)
                .await?;
            remote.print(&tenant, |tenant| {
                format!("added tenant {}\n", tenant["name"])
            });
        }
        TenantCommand::List => {
            let answer = remote.call(Method::GET, "/api/tenants", None).await?;
            remote.print(&answer, |answer| {
                let tenants = answer["result"].as_array().cloned().unwrap_or_default();
                let columns = ["name", "objects", "plugins", "clients", "subscribers"];
                let rows = (tenants.iter())
                    .map(|tenant| {
                        let name = tenant["name"].as_str().unwrap_or_default().to_owned();
                        let used = columns[1..].iter().map(|q| usage(&tenant["usage"][q]));
                        std::iter::once(name).chain(used).collect()
                    })
                    .collect();
                table(&columns, rows)
            });
        }
        TenantCommand::Show { name } => {
            let tenant = remote
                .call(Method::GET, &format!("/api/tenants/{name}"), None)
                .await?;
            remote.print(&tenant, show);
        }
        TenantCommand::Quota { name, quotas } => {
            let body = json!({"quotas": settings_map(&quotas)?});
            let path = format!("/api/tenants/{name}");
            let tenant = remote.call_json(Method::PATCH, &path, &body).await?;
            remote.print(&tenant, show);
        }
        TenantCommand::Rm { name, force } => {
            let path = format!("/api/tenants/{name}?force={force}");
            remote.call(Method::DELETE, &path, None).await?;
            remote.print(&json!({"deleted": name}), |_| {
                format!("deleted tenant {name}\n")
            });
        }
    }
    Ok(())
}

/// `used/limit`, `used` without a limit, `-/limit` for a rate.
fn usage(entry: &Value) -> String {
    let used = (entry.get("used")).map_or_else(|| "-".to_owned(), Value::to_string);
    match &entry["limit"] {
        Value::Null => used,
        limit => format!("{used}/{limit}"),
    }
}

/// One line per quota: its name, what is used and the limit in effect.
fn show(tenant: &Value) -> String {
    let empty = serde_json::Map::new();
    let quotas = tenant["usage"].as_object().unwrap_or(&empty);
    let rows = (quotas.iter())
        .map(|(name, entry)| vec![name.clone(), usage(entry)])
        .collect();
    format!("tenant {}\n", tenant["name"]) + &table(&["quota", "used/limit"], rows)
}
