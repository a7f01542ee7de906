//! Publishing a text message through a client, as `POST /api/clients/{id}/publish` does.

use super::clients;
use super::view::{self, Outcome};
use crate::AppState;
use crate::clients::check_topic_name;
use crate::error::ApiError;
use crate::extract::Scoped;
use crate::objects::id_of;
use axum::Form;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct Message {
    client: String,
    topic: String,
    message: String,
}

/// `GET /ui/publish`.
pub(crate) async fn show(Scoped(state): Scoped) -> Response {
    view::page(&state, "Publish", None, body(&state, None))
}

/// `POST /ui/publish`.
pub(crate) async fn send(Scoped(state): Scoped, Form(message): Form<Message>) -> Response {
    let outcome = publish(&state, &message).await;
    // The form keeps what was sent, for the next message like it.
    view::page(
        &state,
        "Publish",
        Some(outcome),
        body(&state, Some(&message)),
    )
}

async fn publish(state: &AppState, message: &Message) -> Outcome {
    check_topic_name(&message.topic)?;
    let payload = message.message.clone().into_bytes();
    state
        .brokers
        .publish(&message.client, &message.topic, payload)
        .await?;
    Ok(format!("Published to `{}`.", message.topic))
}

fn body(state: &AppState, last: Option<&Message>) -> Result<Markup, ApiError> {
    let clients = clients::all(state)?;
    Ok(html! {
        form.publish method="post" action="/ui/publish" {
            label { "Client"
                select name="client" required {
                    @for client in &clients {
                        @let id = id_of(client);
                        option value=(id) selected[last.is_some_and(|m| m.client == id)] { (view::text(client, "name")) " (" (view::text(client, "type")) ")" }
                    }
                }
            }
            label { "Topic" input name="topic" required value=[last.map(|m| &m.topic)] placeholder="sensors/kitchen/temperature"; }
            label { "Message" textarea name="message" rows="4" { @if let Some(m) = last { (m.message) } } }
            button { "Publish" }
        }
    })
}
