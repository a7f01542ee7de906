//! `switchyard token add|list|revoke`: a tenant's tokens, issued and revoked by the operator.

use super::{CliError, Remote, cell, table};
use reqwest::Method;
use serde_json::json;

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a token of TENANT; it is printed this once.
    Add {
        tenant: String,
        /// `admin` (everything in the tenant) or `viewer` (reads only).
        #[arg(long, default_value = "admin")]
        role: String,
        /// What the token is for.
        #[arg(long)]
        note: Option<String>,
        /// When it stops working, as an RFC 3339 time.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List the tokens of TENANT (never the tokens themselves).
    List { tenant: String },
    /// Revoke token ID of TENANT.
    Revoke { tenant: String, id: String },
}

pub async fn run(remote: &Remote, command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Add {
            tenant,
            role,
            note,
            expires_at,
        } => {
            let body = json!({"role": role, "note": note, "expiresAt": expires_at});
            let path = format!("/api/tenants/{tenant}/tokens");
            let token = remote.call_json(Method::POST, &path, &body).await?;
            remote.print(&token, |token| {
                format!(
                    "{}\n(token {} of tenant {tenant}, {}; shown only this once)\n",
                    cell(token, "token"),
                    cell(token, "id"),
                    cell(token, "role"),
                )
            });
        }
        TokenCommand::List { tenant } => {
            let path = format!("/api/tenants/{tenant}/tokens");
            let answer = remote.call(Method::GET, &path, None).await?;
            remote.print(&answer, |answer| {
                let tokens = answer["result"].as_array().cloned().unwrap_or_default();
                let columns = ["id", "role", "note", "expiresAt", "createdAt"];
                let rows = (tokens.iter())
                    .map(|token| columns.iter().map(|c| cell(token, c)).collect())
                    .collect();
                table(&columns, rows)
            });
        }
        TokenCommand::Revoke { tenant, id } => {
            let path = format!("/api/tenants/{tenant}/tokens/{id}");
            remote.call(Method::DELETE, &path, None).await?;
            remote.print(&json!({"revoked": id}), |_| format!("revoked {id}\n"));
        }
    }
    Ok(())
}
