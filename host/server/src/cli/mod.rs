//! The `switchyard` subcommands beside `serve`: a client of a running server's REST API.
//! `--url` names the server (or `SWITCHYARD_URL`) and the token comes from `SWITCHYARD_TOKEN`;
//! either left out comes from the file `switchyard login` wrote ([`login`]), and the URL then
//! defaults to `http://127.0.0.1:8080`. With the operator's token, `--tenant` (or
//! `SWITCHYARD_TENANT`) acts in that tenant. Output is a plain table for people, or the API's JSON
//! with `--json`. Exit codes: 0 done, 1 the server refused or the command could not be done
//! (the reason is printed), 2 a usage error (clap's), 3 the server could not be reached.

pub mod client;
pub mod failed;
pub mod login;
pub mod logs;
pub mod objects;
pub mod plugin;
mod scaffold;
pub mod subscriber;
pub mod tenant;
pub mod token;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// Where the server is and how to talk to it; shared by every subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct Remote {
    /// The server's base URL [default: from `switchyard login`, else http://127.0.0.1:8080].
    #[arg(long, env = "SWITCHYARD_URL", global = true)]
    pub url: Option<String>,
    /// The API token.
    #[arg(long, env = "SWITCHYARD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// The tenant to act in, with the operator's token [default: `default`; a tenant's token
    /// acts in its own].
    #[arg(long, env = "SWITCHYARD_TENANT", global = true)]
    pub tenant: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// The URL and token in effect, worked out (and the saved login read) on the first call.
    #[arg(skip)]
    endpoint: OnceLock<Endpoint>,
}

/// Where requests go, with what token, over one HTTP client (and its connections).
#[derive(Debug, Clone)]
struct Endpoint {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
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
    /// A remote for `url` with `token`, as if they were given on the command line.
    pub fn new(url: String, token: String, json: bool) -> Remote {
        Remote {
            url: Some(url),
            token: Some(token),
            tenant: None,
            json,
            endpoint: OnceLock::new(),
        }
    }

    /// The server's base URL and the token: as given, else as saved by `switchyard login`.
    fn endpoint(&self) -> Result<&Endpoint, CliError> {
        if let Some(endpoint) = self.endpoint.get() {
            return Ok(endpoint);
        }
        let saved = login::Saved::load()?;
        let url = (self.url.clone())
            .or_else(|| saved.as_ref().map(|saved| saved.url.clone()))
            .unwrap_or_else(|| login::DEFAULT_URL.to_owned());
        let token = (self.token.clone()).or_else(|| saved.map(|saved| saved.token));
        Ok(self.endpoint.get_or_init(|| Endpoint {
            base: url.trim_end_matches('/').to_owned(),
            token,
            client: reqwest::Client::new(),
        }))
    }

    /// Sends a request with the token; returns the response once its status is a success.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<reqwest::Response, CliError> {
        let endpoint = self.endpoint()?;
        let url = format!("{}{path}", endpoint.base);
        let mut request = endpoint.client.request(method, &url);
        if let Some(token) = &endpoint.token {
            request = request.bearer_auth(token);
        }
        if let Some(tenant) = &self.tenant {
            request = request.header("x-tenant", tenant);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = (request.send().await)
            .with_context(|| format!("sending to {url}"))
            .map_err(CliError::Unreachable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = value["error"].as_str().map_or(text.clone(), str::to_owned);
        Err(CliError::Refused { status, message })
    }

    /// Sends a request with the token; returns the JSON answer (`Null` for an empty one).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Value, CliError> {
        let response = self.send(method, path, body).await?;
        let text = (response.text().await)
            .context("reading the answer")
            .map_err(CliError::Unreachable)?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends `body` as JSON.
    pub async fn call_json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, CliError> {
        let body = Some(("application/json", body.to_string().into_bytes()));
        self.call(method, path, body).await
    }

    /// The objects of a type matching `query` (a query string, may be empty).
    pub async fn list(&self, type_name: &str, query: &str) -> Result<Vec<Value>, CliError> {
        let path = format!("/api/objects/{type_name}?{query}");
        let page = self.call(Method::GET, &path, None).await?;
        Ok(page["result"].as_array().cloned().unwrap_or_default())
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

/// A property as a table cell: text as itself, `null` or missing as nothing, else JSON.
pub fn cell(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `KEY=VALUE` settings as properties: VALUE as JSON when it parses, else as text.
pub fn settings_map(settings: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut properties = Map::new();
    for setting in settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| CliError::Failed(format!("`{setting}` is not KEY=VALUE")))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
        properties.insert(key.to_owned(), value);
    }
    Ok(properties)
}
