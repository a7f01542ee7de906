//! Broker clients of every type, with their live connection status and last error (the table
//! reloads itself every two seconds); adding, enabling, disabling and deleting them. Editing
//! is the object editor's.

use super::objects::{create_from_json, remove, update};
use super::view::{self, Outcome, cell};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Scoped;
use crate::objects::id_of;
use axum::Form;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_store::{Object, Query};

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
pub(crate) async fn show(Scoped(state): Scoped) -> Response {
    render(&state, None)
}

/// `GET /ui/clients/table`: the table alone, which the page polls.
pub(crate) async fn table(Scoped(state): Scoped) -> Response {
    match clients_table(&state) {
        Ok(table) => table.into_response(),
        Err(error) => (error.status(), html! { p.failed { (error.message()) } }).into_response(),
    }
}

/// `POST /ui/clients`.
pub(crate) async fn create(Scoped(state): Scoped, Form(new): Form<NewClient>) -> Response {
    let kinds = state.store.kinds();
    let outcome = if kinds.of(&new.type_name).is_some() {
        create_from_json(&state, &new.type_name, &new.properties)
            .await
            .map(|client| format!("Added {} `{}`.", new.type_name, view::text(&client, "name")))
    } else {
        Err(ApiError::bad_request(format!(
            "`{}` is not a client type: use one of {}",
            new.type_name,
            kinds.type_names().join(", ")
        )))
    };
    render(&state, Some(outcome))
}

/// `POST /ui/clients/{id}/enabled` with `enabled=true|false`.
pub(crate) async fn set_enabled(
    Scoped(state): Scoped,
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
pub(crate) async fn delete(Scoped(state): Scoped, Path(id): Path<String>) -> Response {
    let outcome = remove(&state, &id).await;
    render(&state, Some(outcome))
}

/// Every client, of every type.
pub(crate) fn all(state: &AppState) -> Result<Vec<Object>, ApiError> {
    let mut clients = Vec::new();
    for kind in state.store.kinds().iter() {
        clients.extend(
            state
                .store
                .query(kind.type_name(), &Query::default())?
                .result,
        );
    }
    Ok(clients)
}

fn render(state: &AppState, outcome: Option<Outcome>) -> Response {
    let kinds = state.store.kinds();
    let example = kinds.iter().next().map(|kind| kind.example().to_string());
    let body = clients_table(state).map(|table| {
        html! {
            (table)
            h2 { "Add a client" }
            form method="post" action="/ui/clients" {
                label { "Type" select name="type" {
                    @for kind in kinds.iter() { option { (kind.type_name()) } }
                } }
                label { "Properties (JSON)"
                    textarea name="properties" rows="5" required placeholder=[example] {} }
                p.hint { "For example: "
                    @for (i, kind) in kinds.iter().enumerate() {
                        @if i > 0 { "; " }
                        (kind.type_name()) " " code { (kind.example().to_string()) }
                    }
                }
                p.hint { "Passwords and tokens are stored but never shown again." }
                button { "Add" }
            }
        }
    });
    view::page(state, "Clients", outcome, body)
}

fn clients_table(state: &AppState) -> Result<Markup, ApiError> {
    let clients = all(state)?;
    let kinds = state.store.kinds();
    Ok(html! {
        div #clients hx-get="/ui/clients/table" hx-trigger="every 2s" hx-swap="outerHTML" {
            @if clients.is_empty() {
                p { "No clients yet." }
            } @else {
                table {
                    thead { tr { th { "Name" } th { "Type" } th { "Broker" } th { "Enabled" } th { "Status" } th { "Last error" } th {} } }
                    tbody { @for client in &clients {
                        (row(client, kinds.of(switchyard_model::type_of(client)).map(|k| k.broker_property())))
                    } }
                }
            }
        }
    })
}

/// One client's row; `broker` is the property that says where its broker is.
fn row(client: &Object, broker: Option<&str>) -> Markup {
    let id = id_of(client);
    let enabled = client.get("isEnabled") == Some(&Value::Bool(true));
    let connected = client.get("isConnected") == Some(&Value::Bool(true));
    let broker = broker.and_then(|property| client.get(property));
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
