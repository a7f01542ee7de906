//! Subscribers: which topic, which plugin's callback, which clients. Created and edited with
//! a form; the rest of a subscriber's settings (retries, order) are the object editor's.

use super::clients;
use super::objects::{insert, remove, update};
use super::view::{self, Outcome, cell};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Scoped;
use crate::objects::id_of;
use axum::Form;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Map, Value};
use switchyard_store::{Object, Query};

const TYPE: &str = switchyard_model::MESSAGE_SUBSCRIBER;

/// The form's fields as sent: `clients` may repeat, once per ticked client.
type Fields = Form<Vec<(String, String)>>;

/// `GET /ui/subscribers`.
pub(crate) async fn show(Scoped(state): Scoped) -> Response {
    render(&state, None, None)
}

/// `GET /ui/subscribers/{id}`: the list with this subscriber in the form.
pub(crate) async fn edit(Scoped(state): Scoped, Path(id): Path<String>) -> Response {
    render(&state, None, Some(&id))
}

/// `POST /ui/subscribers`.
pub(crate) async fn create(Scoped(state): Scoped, Form(fields): Fields) -> Response {
    let mut properties = properties(&fields);
    properties.retain(|_, value| !value.is_null());
    let outcome = insert(&state, TYPE, Value::Object(properties))
        .await
        .map(|subscriber| format!("Added subscriber `{}`.", id_of(&subscriber)));
    render(&state, Some(outcome), None)
}

/// `POST /ui/subscribers/{id}`.
pub(crate) async fn save(
    Scoped(state): Scoped,
    Path(id): Path<String>,
    Form(fields): Fields,
) -> Response {
    let outcome = update(&state, &id, Value::Object(properties(&fields)))
        .await
        .map(|()| format!("Saved subscriber `{id}`."));
    let editing = outcome.is_err().then_some(id.as_str());
    render(&state, Some(outcome), editing)
}

/// `POST /ui/subscribers/{id}/delete`.
pub(crate) async fn delete(Scoped(state): Scoped, Path(id): Path<String>) -> Response {
    let outcome = remove(&state, &id).await;
    render(&state, Some(outcome), None)
}

/// The subscriber properties the form sets. An empty name is no name.
fn properties(fields: &[(String, String)]) -> Map<String, Value> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.trim())
    };
    let clients: Vec<Value> = fields
        .iter()
        .filter(|(key, _)| key == "clients")
        .map(|(_, id)| Value::from(id.as_str()))
        .collect();
    let mut properties = Map::new();
    let name = field("name").filter(|name| !name.is_empty());
    properties.insert("name".into(), name.map_or(Value::Null, Value::from));
    properties.insert("topic".into(), field("topic").unwrap_or("").into());
    properties.insert("callback".into(), field("callback").unwrap_or("").into());
    properties.insert("clients".into(), Value::Array(clients));
    properties
}

fn render(state: &AppState, outcome: Option<Outcome>, editing: Option<&str>) -> Response {
    view::page(state, "Subscribers", outcome, body(state, editing))
}

fn body(state: &AppState, editing: Option<&str>) -> Result<Markup, ApiError> {
    let subscribers = state.store.query(TYPE, &Query::default())?.result;
    let clients = clients::all(state)?;
    let client_name = |id: &str| {
        clients
            .iter()
            .find(|client| id_of(client) == id)
            .map_or(id.to_owned(), |client| {
                view::text(client, "name").to_owned()
            })
    };
    let editing = match editing {
        Some(id) => Some(
            state
                .store
                .get(id)?
                .ok_or_else(|| ApiError::not_found(format!("no subscriber with id `{id}`")))?,
        ),
        None => None,
    };
    Ok(html! {
        @if subscribers.is_empty() {
            p { "No subscribers yet." }
        } @else {
            table {
                thead { tr { th { "Name" } th { "Topic" } th { "Callback" } th { "Clients" } th {} } }
                tbody {
                    @for subscriber in &subscribers {
                        @let id = id_of(subscriber);
                        tr {
                            td { (cell(subscriber.get("name"))) }
                            td { code { (view::text(subscriber, "topic")) } }
                            td { (view::text(subscriber, "callback")) }
                            td { (linked(subscriber).iter().map(|id| client_name(id)).collect::<Vec<_>>().join(", ")) }
                            td.actions {
                                a href=(format!("/ui/subscribers/{id}")) { "Edit" }
                                a href=(format!("/ui/objects/{id}")) { "JSON" }
                                form method="post" action=(format!("/ui/subscribers/{id}/delete"))
                                    hx-confirm=(format!("Delete subscriber {id}?")) {
                                    button.danger { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        (form(state, editing.as_ref(), &clients))
    })
}

fn form(state: &AppState, editing: Option<&Object>, clients: &[Object]) -> Markup {
    let value = |key: &str| editing.map_or("", |subscriber| view::text(subscriber, key));
    let linked = editing.map(linked).unwrap_or_default();
    let mut plugins = super::plugins::names(state);
    // A subscriber may name a plugin not (or no longer) installed: saving keeps it.
    let callback = value("callback");
    if !callback.is_empty() && !plugins.iter().any(|plugin| plugin == callback) {
        plugins.push(callback.to_owned());
    }
    plugins.sort();
    let action = match editing {
        Some(subscriber) => format!("/ui/subscribers/{}", id_of(subscriber)),
        None => "/ui/subscribers".to_owned(),
    };
    html! {
        h2 { @if editing.is_some() { "Edit subscriber" } @else { "Add a subscriber" } }
        form.subscriber method="post" action=(action) {
            label { "Name" input name="name" value=(value("name")); }
            label { "Topic filter" input name="topic" value=(value("topic")) required placeholder="sensors/+/temperature"; }
            label { "Callback (plugin)"
                select name="callback" required {
                    @for plugin in &plugins { option selected[plugin == callback] { (plugin) } }
                }
                @if plugins.is_empty() { p.hint { "No plugins yet: upload one on the Plugins page first." } }
            }
            fieldset {
                legend { "Clients" }
                @for client in clients {
                    @let id = id_of(client);
                    label.inline {
                        input type="checkbox" name="clients" value=(id) checked[linked.contains(&id)];
                        (view::text(client, "name")) " (" (view::text(client, "type")) ")"
                    }
                }
            }
            button { @if editing.is_some() { "Save" } @else { "Add" } }
        }
    }
}

/// The ids of the clients a subscriber listens through.
fn linked(subscriber: &Object) -> Vec<&str> {
    let clients = subscriber.get("clients").and_then(Value::as_array);
    clients
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
