//! `switchyard plugin new|build|list|deploy|rm`.

use super::scaffold::{self, Lang};
use super::{CliError, Remote, table};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum PluginCommand {
    /// Create a plugin project NAME (a folder of that name) that builds out of the box.
    New {
        name: PathBuf,
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
    },
    /// Build the plugin project in DIR and print the `.wasm` it made.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// List the installed plugins.
    List,
    /// Upload a `.wasm` as plugin NAME (replacing one of that name).
    Deploy { name: String, file: PathBuf },
    /// Delete plugin NAME.
    Rm { name: String },
}

pub async fn run(remote: &Remote, command: PluginCommand) -> Result<(), CliError> {
    match command {
        PluginCommand::New { name, lang } => {
            let next = scaffold::new(&name, lang)?;
            remote.print(&json!({"created": name}), |_| next);
        }
        PluginCommand::Build { dir } => {
            let wasm = tokio::task::spawn_blocking(move || scaffold::build(&dir))
                .await
                .map_err(|e| CliError::Failed(format!("the build stopped: {e}")))??;
            remote.print(&json!({"wasm": wasm}), |_| format!("{}\n", wasm.display()));
        }
        PluginCommand::List => {
            let answer = remote.call(Method::GET, "/api/plugins", None).await?;
            remote.print(&answer, |answer| {
                let rows = (answer["result"].as_array().into_iter().flatten())
                    .map(|plugin| {
                        let text = |k: &str| plugin[k].as_str().unwrap_or_default().to_owned();
                        let size = plugin["size"].as_u64().unwrap_or_default().to_string();
                        vec![
                            text("name"),
                            size,
                            text("kind"),
                            text("world"),
                            text("sha256"),
                        ]
                    })
                    .collect();
                table(&["name", "bytes", "kind", "world", "sha256"], rows)
            });
        }
        PluginCommand::Deploy { name, file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
            let path = format!("/api/plugins/{name}");
            let body = Some(("application/wasm", bytes));
            let answer = remote.call(Method::PUT, &path, body).await?;
            remote.print(&answer, |info| {
                let sha = info["sha256"].as_str().unwrap_or_default();
                format!("deployed {name} ({} bytes, sha256 {sha})\n", info["size"])
            });
        }
        PluginCommand::Rm { name } => {
            let path = format!("/api/plugins/{name}");
            remote.call(Method::DELETE, &path, None).await?;
            remote.print(&Value::Null, |_| format!("removed {name}\n"));
        }
    }
    Ok(())
}
