//! `switchyard objects list TYPE [--filter KEY=VALUE]... [--sort P] [--desc] [--limit N]`.

use super::{CliError, Remote, cell, table};
use serde_json::json;

/// Columns a table shows at most; `--json` has every property.
const MAX_COLUMNS: usize = 8;
/// Properties every object has, left out of the table to make room for its own.
const BOOKKEEPING: [&str; 4] = ["type", "version", "createdAt", "updatedAt"];

#[derive(clap::Subcommand, Debug)]
pub enum ObjectsCommand {
    /// List objects of TYPE, oldest first unless sorted.
    List {
        #[arg(value_name = "TYPE")]
        type_name: String,
        /// Only objects whose KEY equals VALUE; may repeat.
        #[arg(long, value_name = "KEY=VALUE")]
        filter: Vec<String>,
        /// Sort by this property.
        #[arg(long)]
        sort: Option<String>,
        /// Sort descending.
        #[arg(long)]
        desc: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
}

pub async fn run(remote: &Remote, command: ObjectsCommand) -> Result<(), CliError> {
    let ObjectsCommand::List {
        type_name,
        filter,
        sort,
        desc,
        limit,
        offset,
    } = command;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for pair in &filter {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Failed(format!("`--filter {pair}` is not KEY=VALUE")))?;
        query.append_pair(key, value);
    }
    if let Some(sort) = &sort {
        query.append_pair("_sort", sort);
    }
    if desc {
        query.append_pair("_order", "desc");
    }
    query.append_pair("_limit", &limit.to_string());
    query.append_pair("_offset", &offset.to_string());
    let objects = remote.list(&type_name, &query.finish()).await?;
    let answer = json!({"result": objects});
    remote.print(&answer, |_| {
        let mut columns = vec!["id".to_owned()];
        for object in objects.iter().filter_map(|object| object.as_object()) {
            for key in object.keys() {
                let shown = key == "id" || BOOKKEEPING.contains(&key.as_str());
                if !shown && !columns.contains(key) && columns.len() < MAX_COLUMNS {
                    columns.push(key.clone());
                }
            }
        }
        let rows = (objects.iter())
            .map(|object| columns.iter().map(|column| cell(object, column)).collect())
            .collect();
        let header: Vec<&str> = columns.iter().map(String::as_str).collect();
        table(&header, rows)
    });
    Ok(())
}
