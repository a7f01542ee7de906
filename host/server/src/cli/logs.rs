//! `switchyard logs [--follow] [--plugin P] [--subscriber S] [--limit N]`: what plugins logged
//! and printed, one line each; `--follow` keeps printing new lines as they come, until
//! interrupted or the server shuts down.

use super::{CliError, Remote};
use anyhow::Context;
use reqwest::Method;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Keep printing new lines as they are logged.
    #[arg(long, short)]
    follow: bool,
    /// Only this plugin's lines.
    #[arg(long)]
    plugin: Option<String>,
    /// Only lines of invocations for this subscriber (its id).
    #[arg(long)]
    subscriber: Option<String>,
    /// The latest this many lines first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

pub async fn run(remote: &Remote, args: LogsArgs) -> Result<(), CliError> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(plugin) = &args.plugin {
        query.append_pair("plugin", plugin);
    }
    if let Some(subscriber) = &args.subscriber {
        query.append_pair("subscriber", subscriber);
    }
    query.append_pair("limit", &args.limit.to_string());
    if !args.follow {
        let path = format!("/api/logs?{}", query.finish());
        let answer = remote.call(Method::GET, &path, None).await?;
        for line in answer["result"].as_array().into_iter().flatten() {
            print_line(remote, line);
        }
        return Ok(());
    }
    query.append_pair("follow", "true");
    let path = format!("/api/logs?{}", query.finish());
    let mut response = remote.send(Method::GET, &path, None).await?;
    // Server-sent events: `event:` and `data:` lines, a blank line ending each event.
    let (mut pending, mut event) = (Vec::new(), String::new());
    while let Some(chunk) = (response.chunk().await)
        .context("reading the log stream")
        .map_err(CliError::Unreachable)?
    {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end();
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                let data: Value = serde_json::from_str(data.trim()).unwrap_or_default();
                match event.as_str() {
                    "log" => print_line(remote, &data),
                    "lagged" => eprintln!("… {} lines missed", data["missed"]),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// One log line: as JSON, or `time plugin (subscriber) level: message`.
fn print_line(remote: &Remote, line: &Value) {
    if remote.json {
        println!("{line}");
        return;
    }
    let millis = line["timeMs"].as_i64().unwrap_or_default();
    let time = chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    let kind = match line["stream"].as_str() {
        Some("log") | None => line["level"].as_str().unwrap_or_default(),
        Some(stream) => stream,
    };
    let plugin = line["plugin"].as_str().unwrap_or_default();
    let subscriber = line["subscriber"].as_str().unwrap_or_default();
    let message = line["message"].as_str().unwrap_or_default();
    println!("{time} {plugin} ({subscriber}) {kind}: {message}");
}
