//! Forwarder: republishes each message unchanged to the topic in its subscriber's `forwardTo`
//! property, through the client the message came in on.

use serde::Deserialize;
use switchyard_sdk::{Error, Message, Result, messaging};

/// The forwarder's settings on its subscriber object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    forward_to: Option<String>,
}

fn forward(msg: Message) -> Result<()> {
    let settings: Settings = msg.subscriber_as()?;
    let topic = settings
        .forward_to
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::other(format!(
                "subscriber `{}` has no `forwardTo` property: set it to the topic to forward to",
                msg.subscriber_id
            ))
        })?;
    messaging::publish(&msg.client_id, &topic, &msg.payload)
}

switchyard_sdk::handler!(forward);
