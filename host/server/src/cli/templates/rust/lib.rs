//! A Switchyard plugin: stores every message as a `Note` object with its topic and text.
//! Build with `switchyard plugin build`, then `switchyard plugin deploy <name> <wasm>`.

use serde::Serialize;
use switchyard_sdk::{Message, Result, log, objects};

#[derive(Serialize)]
struct Note<'a> {
    topic: &'a str,
    text: &'a str,
}

fn handle(message: Message) -> Result<()> {
    let note = Note {
        topic: &message.topic,
        text: message.text()?,
    };
    let id = objects::create("Note", &note)?;
    log::info(format!("stored note {id}"));
    Ok(())
}

switchyard_sdk::handler!(handle);
