//! The host side of the plugin's imports: objects over the invocation's write set, messaging
//! queued until the invocation succeeds, and logging into the server log. Every call is
//! checked against the plugin's capabilities and charged to its budgets first.
//!
//! Every import returns `wasmtime::Result<Result<T, Error>>`: the inner error goes back to the
//! guest as a value; the outer one would trap it and is reserved for host failures.

use crate::bindings::types::Error;
use crate::bindings::{logging, messaging, objects, types};
use crate::capabilities::ClientName;
use crate::profile::{self, Phase};
use crate::sandbox::{Sandbox, spend};
use crate::{Publish, SubscriptionChange};
use serde_json::{Value, json};
use std::time::Instant;
use switchyard_broker::Client;
use switchyard_store::{Error as StoreError, Object, Query};

type HostResult<T> = wasmtime::Result<Result<T, Error>>;

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Error {
        match err {
            StoreError::NotFound(m) => Error::NotFound(m),
            StoreError::Invalid(m) | StoreError::BadQuery(m) | StoreError::Taken(m) => {
                Error::Invalid(m)
            }
            StoreError::TooLarge(m) => Error::LimitExceeded(m),
            other => Error::Other(switchyard_model::Report(&other).to_string()),
        }
    }
}

fn parse_json(what: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::Invalid(format!("{what} is not valid JSON: {e}")))
}

fn type_of(object: &Object) -> &str {
    object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Sandbox {
    /// Runs one host call against the budget, its time counted as `phase`; a spent budget
    /// answers `limit-exceeded`.
    fn call<T>(
        &mut self,
        phase: Phase,
        f: impl FnOnce(&mut Sandbox) -> Result<T, Error>,
    ) -> HostResult<T> {
        if !self.charge() {
            return Ok(Err(Error::LimitExceeded(format!(
                "host call limit: all {} host calls of this invocation are used",
                self.settings.limits.host_calls
            ))));
        }
        let started = Instant::now();
        let done = f(self);
        profile::since(phase, started);
        self.tripped |= matches!(done, Err(Error::LimitExceeded(_)));
        Ok(done)
    }

    /// A refused call: logged for the operator and in the plugin's journal, `denied` for the
    /// guest.
    fn denied(&self, why: String) -> Error {
        let (plugin, subscriber) = (&*self.tag.plugin, self.tag.subscriber.as_str());
        tracing::warn!(
            tenant = &*self.tag.tenant,
            plugin,
            subscriber,
            "denied: {why}"
        );
        let line = format!("denied: {why}");
        self.tag.journal.host(&self.tag.source(), "warn", &line);
        Error::Denied(why)
    }

    fn readable(&self, type_name: &str) -> Result<(), Error> {
        let kinds = self.writes.kinds();
        (self.settings.capabilities.may_read(kinds, type_name)).map_err(|why| self.denied(why))
    }

    fn writable(&self, type_name: &str) -> Result<(), Error> {
        let kinds = self.writes.kinds();
        (self.settings.capabilities.may_write(kinds, type_name)).map_err(|why| self.denied(why))
    }

    /// The type of an existing object the guest names by id.
    fn type_of_object(&self, id: &str) -> Result<String, Error> {
        let object = (self.writes.get(id)?)
            .ok_or_else(|| Error::NotFound(format!("no object with id `{id}`")))?;
        Ok(type_of(&object).to_owned())
    }

    /// Finds a client object by id or `name`, so publishes can be checked before they queue.
    fn client(&self, reference: &str) -> Result<Client, Error> {
        (switchyard_broker::resolve(&self.writes, reference)?)
            .ok_or_else(|| Error::NotFound(format!("no client with id or name `{reference}`")))
    }

    /// Charges bytes handed back to the guest; over budget, the read fails instead.
    fn read(&mut self, text: String) -> Result<String, Error> {
        let limit = self.settings.limits.read_bytes;
        spend(&mut self.budget.read_bytes, text.len(), "bytes read", limit)
            .map_err(Error::LimitExceeded)?;
        Ok(text)
    }

    fn charge_write(&mut self, properties: &str) -> Result<(), Error> {
        let limit = self.settings.limits.write_bytes;
        spend(
            &mut self.budget.write_bytes,
            properties.len(),
            "bytes written",
            limit,
        )
        .map_err(Error::LimitExceeded)
    }

    /// The subscription change a guest asked for, once its capabilities allow it.
    fn subscription(&self, client: &str, topic: &str) -> Result<String, Error> {
        let client = self.client(client)?;
        client.check_filter(topic).map_err(Error::Invalid)?;
        let name = ClientName {
            id: &client.id,
            name: client.name.as_deref(),
        };
        (self
            .settings
            .capabilities
            .may_subscribe(&name, &self.origin))
        .map_err(|why| self.denied(why))?;
        Ok(client.id)
    }

    /// The find's page with the plugin's row limits applied.
    fn limited(&self, query: &str) -> Result<Query, Error> {
        let mut query = Query::from_json(&parse_json("query", query)?)?;
        let limits = &self.settings.limits;
        match query.limit {
            None => query.limit = Some(limits.find_rows),
            Some(asked) if asked > limits.find_max_rows => {
                return Err(Error::LimitExceeded(format!(
                    "find row limit: `limit` {asked} is over the maximum of {} rows per find",
                    limits.find_max_rows
                )));
            }
            Some(_) => {}
        }
        Ok(query)
    }
}

impl types::Host for Sandbox {}

impl objects::Host for Sandbox {
    fn create(&mut self, type_name: String, properties: String) -> HostResult<String> {
        self.call(Phase::ObjectsWrite, |s| {
            s.writable(&type_name)?;
            s.charge_write(&properties)?;
            let object = s
                .writes
                .create(&type_name, parse_json("properties", &properties)?)?;
            Ok(object["id"].as_str().unwrap_or_default().to_owned())
        })
    }

    fn get(&mut self, id: String) -> HostResult<Option<String>> {
        self.call(Phase::ObjectsGet, |s| match s.writes.get(&id)? {
            None => Ok(None),
            Some(object) => {
                // Its own subscriber holds its settings (Structr's `$.this`): always readable.
                if id != s.tag.subscriber {
                    s.readable(type_of(&object))?;
                }
                s.read(Value::Object(object).to_string()).map(Some)
            }
        })
    }

    fn find(&mut self, type_name: String, query: String) -> HostResult<String> {
        self.call(Phase::ObjectsFind, |s| {
            s.readable(&type_name)?;
            let query = s.limited(&query)?;
            let page = s.writes.query(&type_name, &query)?;
            let found = match query.total {
                true => json!({"result": page.result, "total": page.total}).to_string(),
                false => serde_json::to_string(&page.result).expect("objects serialize"),
            };
            s.read(found)
        })
    }

    fn update(&mut self, id: String, properties: String) -> HostResult<()> {
        self.call(Phase::ObjectsWrite, |s| {
            s.writable(&s.type_of_object(&id)?)?;
            s.charge_write(&properties)?;
            s.writes
                .update(&id, parse_json("properties", &properties)?)?;
            Ok(())
        })
    }

    fn delete(&mut self, id: String) -> HostResult<bool> {
        self.call(Phase::ObjectsWrite, |s| {
            let Some(object) = s.writes.get(&id)? else {
                return Ok(false);
            };
            s.writable(type_of(&object))?;
            Ok(s.writes.delete(&id)?)
        })
    }
}

impl messaging::Host for Sandbox {
    fn publish(&mut self, client: String, topic: String, payload: Vec<u8>) -> HostResult<()> {
        self.call(Phase::MessagingPublish, |s| {
            let client = s.client(&client)?;
            client.check_topic(&topic).map_err(Error::Invalid)?;
            let name = ClientName {
                id: &client.id,
                name: client.name.as_deref(),
            };
            (s.settings
                .capabilities
                .may_publish(&name, &topic, &s.origin))
            .map_err(|why| s.denied(why))?;
            client
                .check_size(&topic, payload.len())
                .map_err(Error::LimitExceeded)?;
            let limits = &s.settings.limits;
            s.budget.publishes = s.budget.publishes.checked_sub(1).ok_or_else(|| {
                Error::LimitExceeded(format!(
                    "publish limit: all {} publishes of this invocation are used",
                    limits.publishes
                ))
            })?;
            spend(
                &mut s.budget.publish_bytes,
                payload.len(),
                "bytes published",
                limits.publish_bytes,
            )
            .map_err(Error::LimitExceeded)?;
            s.publishes.push(Publish {
                client,
                topic,
                payload,
            });
            Ok(())
        })
    }

    fn subscribe(&mut self, client: String, topic: String) -> HostResult<()> {
        self.call(Phase::MessagingSubscribe, |s| {
            let client_id = s.subscription(&client, &topic)?;
            s.subscriptions
                .push(SubscriptionChange::Subscribe { client_id, topic });
            Ok(())
        })
    }

    fn unsubscribe(&mut self, client: String, topic: String) -> HostResult<()> {
        self.call(Phase::MessagingSubscribe, |s| {
            let client_id = s.subscription(&client, &topic)?;
            s.subscriptions
                .push(SubscriptionChange::Unsubscribe { client_id, topic });
            Ok(())
        })
    }
}

impl logging::Host for Sandbox {
    fn log(&mut self, level: logging::Level, message: String) -> wasmtime::Result<()> {
        if self.charge() {
            let started = Instant::now();
            crate::log::budgeted(&self.tag, level, &message, &mut self.budget);
            profile::since(Phase::Logging, started);
        }
        Ok(())
    }
}
