//! The host side of the plugin's imports: objects over the invocation's write set, messaging
//! queued until the invocation succeeds, and logging into the server log.
//!
//! Every import returns `wasmtime::Result<Result<T, Error>>`: the inner error goes back to the
//! guest as a value; the outer one would trap it and is reserved for host failures.

use crate::bindings::types::Error;
use crate::bindings::{logging, messaging, objects, types};
use crate::sandbox::Sandbox;
use crate::{Publish, SubscriptionChange};
use serde_json::Value;
use switchyard_store::{Error as StoreError, Query};

type HostResult<T> = wasmtime::Result<Result<T, Error>>;

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Error {
        match err {
            StoreError::NotFound(m) => Error::NotFound(m),
            StoreError::Invalid(m) | StoreError::BadQuery(m) => Error::Invalid(m),
            other => Error::Other(other.to_string()),
        }
    }
}

fn parse_json(what: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::Invalid(format!("{what} is not valid JSON: {e}")))
}

impl Sandbox {
    /// Runs one host call against the budget; a spent budget answers `limit-exceeded`.
    fn call<T>(&mut self, f: impl FnOnce(&mut Sandbox) -> Result<T, Error>) -> HostResult<T> {
        if !self.charge() {
            return Ok(Err(Error::LimitExceeded(
                "host call limit for this invocation reached".into(),
            )));
        }
        Ok(f(self))
    }

    /// Finds a client object by id or `name`, so publishes can be checked before they queue.
    fn client_id(&self, reference: &str) -> Result<String, Error> {
        let client = crate::clients::resolve(&self.writes, reference)?;
        client
            .map(|(id, _)| id)
            .ok_or_else(|| Error::NotFound(format!("no client with id or name `{reference}`")))
    }
}

impl types::Host for Sandbox {}

impl objects::Host for Sandbox {
    fn create(&mut self, type_name: String, properties: String) -> HostResult<String> {
        self.call(|s| {
            let props = parse_json("properties", &properties)?;
            let object = s.writes.create(&type_name, props)?;
            Ok(object["id"].as_str().unwrap_or_default().to_owned())
        })
    }

    fn get(&mut self, id: String) -> HostResult<Option<String>> {
        self.call(|s| Ok(s.writes.get(&id)?.map(|o| Value::Object(o).to_string())))
    }

    fn find(&mut self, type_name: String, query: String) -> HostResult<String> {
        self.call(|s| {
            let query = Query::from_json(&parse_json("query", &query)?)?;
            let page = s.writes.query(&type_name, &query)?;
            Ok(serde_json::to_string(&page.result).expect("objects serialize"))
        })
    }

    fn update(&mut self, id: String, properties: String) -> HostResult<()> {
        self.call(|s| {
            s.writes
                .update(&id, parse_json("properties", &properties)?)?;
            Ok(())
        })
    }

    fn delete(&mut self, id: String) -> HostResult<bool> {
        self.call(|s| Ok(s.writes.delete(&id)?))
    }
}

impl messaging::Host for Sandbox {
    fn publish(&mut self, client: String, topic: String, payload: Vec<u8>) -> HostResult<()> {
        self.call(|s| {
            switchyard_topic::validate_name(&topic)
                .map_err(|e| Error::Invalid(format!("cannot publish to `{topic}`: {e}")))?;
            let client_id = s.client_id(&client)?;
            s.publishes.push(Publish {
                client_id,
                topic,
                payload,
            });
            Ok(())
        })
    }

    fn subscribe(&mut self, client: String, topic: String) -> HostResult<()> {
        self.call(|s| {
            validate_filter(&topic)?;
            let client_id = s.client_id(&client)?;
            s.subscriptions
                .push(SubscriptionChange::Subscribe { client_id, topic });
            Ok(())
        })
    }

    fn unsubscribe(&mut self, client: String, topic: String) -> HostResult<()> {
        self.call(|s| {
            validate_filter(&topic)?;
            let client_id = s.client_id(&client)?;
            s.subscriptions
                .push(SubscriptionChange::Unsubscribe { client_id, topic });
            Ok(())
        })
    }
}

fn validate_filter(topic: &str) -> Result<(), Error> {
    switchyard_topic::validate(topic)
        .map_err(|e| Error::Invalid(format!("invalid topic filter `{topic}`: {e}")))
}

impl logging::Host for Sandbox {
    fn log(&mut self, level: logging::Level, message: String) -> wasmtime::Result<()> {
        if !self.charge() {
            return Ok(());
        }
        crate::log::line(&self.tag, level, &message);
        Ok(())
    }
}
