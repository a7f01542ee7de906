//! Broker clients of every type, with their live connection status and last error (the table
//! reloads itself every two seconds); adding, enabling, disabling and deleting them. Editing
//! is the object editor's.

use super::objects::{create_from_json, remove, update};
use super::view::{self, Outcome, cell};
use crate::AppState;
use crate::error::ApiError;
use crate::objects::id_of;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_store::{Object, Query};

pub(crate) const CLIENT_TYPES: [&str; 3] = ["MQTTClient", "KafkaClient", "PulsarClient"];

#[derive(Deserialize)]
pub(crate) struct NewClient {
    #[serde(rename = "type")]
    type_name: String,
    properties: String,
}

#[derive(Deserialize)]
pub(crate) struct Enabled {
    enabled: bool,
}

/// `GET /ui/clients` (and `/ui/`).
pub(crate) async fn show(State(state): State<AppState>) -> Response {
    render(&state, None)
}

/// `GET /ui/clients/table`: the table alone, which the page polls.
pub(crate) async fn table(State(state): State<AppState>) -> Response {
    match clients_table(&state) {
        Ok(table) => table.into_response(),
        Err(error) => (error.status(), html! { p.failed { (error.message()) } }).into_response(),
    }
}

/// `POST /ui/clients`.
pub(crate) async fn create(State(state): State<AppState>, Form(new): Form<NewClient>) -> Response {
    let outcome = if CLIENT_TYPES.contains(&new.type_name.as_str()) {
        create_from_json(&state, &new.type_name, &new.properties)
            .await
            .map(|client| format!("Added {} `{}`.", new.type_name, view::text(&client, "name")))
    } else {
        Err(ApiError::bad_request(format!(
            "`{}` is not a client type: use one of {}",
            new.type_name,
            CLIENT_TYPES.join(", ")
        )))
    };
    render(&state, Some(outcome))
}

/// `POST /ui/clients/{id}/enabled` with `enabled=true|false`.
pub(crate) async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<Enabled>,
) -> Response {
    let outcome = update(&state, &id, json!({ "isEnabled": form.enabled }))
        .await
        .map(|()| {
            let done = if form.enabled { "Enabled" } else { "Disabled" };
            format!("{done} `{id}`.")
        });
    render(&state, Some(outcome))
}

/// `POST /ui/clients/{id}/delete`.
pub(crate) async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let outcome = remove(&state, &id).await;
    render(&state, Some(outcome))
}

/// Every client, of every type.
pub(crate) fn all(state: &AppState) -> Result<Vec<Object>, ApiError> {
    let mut clients = Vec::new();
    for type_name in CLIENT_TYPES {
        clients.extend(state.store.query(type_name, &Query::default())?.result);
    }
    Ok(clients)
}

fn render(state: &AppState, outcome: Option<Outcome>) -> Response {
    let body = clients_table(state).map(|table| {
        html! {
            (table)
            h2 { "Add a client" }
            form method="post" action="/ui/clients" {
                label { "Type" select name="type" { @for t in CLIENT_TYPES { option { (t) } } } }
                label { "Properties (JSON)"
                    textarea name="properties" rows="5" required
                        placeholder=r#"{"name": "sensors", "mainBrokerURL": "mqtt://localhost:1883", "isEnabled": true}"# {} }
                p.hint { "Passwords and tokens are stored but never shown again." }
                button { "Add" }
            }
        }
    });
    view::page("Clients", outcome, body)
}

fn clients_table(state: &AppState) -> Result<Markup, ApiError> {
    let clients = all(state)?;
    Ok(html! {
        div #clients hx-get="/ui/clients/table" hx-trigger="every 2s" hx-swap="outerHTML" {
            @if clients.is_empty() {
                p { "No clients yet." }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Type" } th { "Broker" } th { "Enabled" } th { "Status" } th { "Last error" } th {} } }
                    tbody { @for client in &clients { (row(client)) } }
                }
            }
        }
    })
}

fn row(client: &Object) -> Markup {
    let id = id_of(client);
    let enabled = client.get("isEnabled") == Some(&Value::Bool(true));
    let connected = client.get("isConnected") == Some(&Value::Bool(true));
    let broker = client.get("mainBrokerURL").or(client.get("servers"));
    html! {
        tr data-client=(view::text(client, "name")) {
            td { (view::text(client, "name")) }
            td { (view::text(client, "type")) }
            td { (cell(broker)) }
            td { @if enabled { "yes" } @else { "no" } }
            td.status { @if connected { span.ok { "connected" } } @else { span.off { "not connected" } } }
            td.error { (cell(client.get("lastError"))) }
            td.actions {
                form method="post" action=(format!("/ui/clients/{id}/enabled")) {
                    input type="hidden" name="enabled" value=(!enabled);
                    button { @if enabled { "Disable" } @else { "Enable" } }
                }
                a href=(format!("/ui/objects/{id}")) { "Edit" }
                form method="post" action=(format!("/ui/clients/{id}/delete"))
                    hx-confirm=(format!("Delete client {}?", view::text(client, "name"))) {
                    button.danger { "Delete" }
                }
            }
        }
    }
}
