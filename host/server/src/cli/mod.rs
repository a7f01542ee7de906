//! The `switchyard` subcommands beside `serve`: a client of a running server's REST API.
//! `--url` names the server (default `http://127.0.0.1:8080`, or `SWITCHYARD_URL`) and the
//! token comes from `SWITCHYARD_TOKEN`. Output is a plain table for people, or the API's JSON
//! with `--json`. Exit codes: 0 done, 1 the server refused or the command could not be done
//! (the reason is printed), 2 a usage error (clap's), 3 the server could not be reached.

pub mod client;
pub mod plugin;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where the server is and how to talk to it; shared by every subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct Remote {
    /// The server's base URL.
    #[arg(
        long,
        env = "SWITCHYARD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// The API token.
    #[arg(long, env = "SWITCHYARD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Why a command failed, and the exit code that tells scripts which way.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{status}: {message}")]
    Refused { status: StatusCode, message: String },
    /// What the command was asked to do cannot be done (a file that cannot be read, a client
    /// that does not exist), before or without the server refusing anything.
    #[error("{0}")]
    Failed(String),
    #[error("cannot reach the server: {0:#}")]
    Unreachable(anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Refused { .. } | CliError::Failed(_) => 1,
            CliError::Unreachable(_) => 3,
        }
    }
}

impl Remote {
    /// Sends a request with the token; returns the JSON answer (`Null` for an empty one).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = reqwest::Client::new().request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = (request.send().await)
            .with_context(|| format!("sending to {url}"))
            .map_err(CliError::Unreachable)?;
        let status = response.status();
        let text = (response.text().await)
            .context("reading the answer")
            .map_err(CliError::Unreachable)?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"].as_str().map_or(text.clone(), str::to_owned);
            return Err(CliError::Refused { status, message });
        }
        Ok(value)
    }

    /// Prints an answer: as JSON, or with `table` for people.
    pub fn print(&self, value: &Value, table: impl FnOnce(&Value) -> String) {
        if self.json {
            println!("{value}");
        } else {
            print!("{}", table(value));
        }
    }
}

/// A plain table: a header row and one row per item, columns padded to their widest cell.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = (cells.iter().zip(&widths))
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        out += &line(row);
    }
    out
}
