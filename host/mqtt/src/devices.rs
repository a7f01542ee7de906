//! Devices on the embedded broker: `MQTTDevice` objects as the broker's
//! [`Gatekeeper`](switchyard_mqtt_broker::access::Gatekeeper). A device's username finds it in
//! whichever tenant has it, its password is checked against the stored Argon2id hash (off the
//! async threads), and its `isConnected` and `lastSeen` follow its connections.

use parking_lot::Mutex;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use switchyard_model::{Device, MQTT_DEVICE, Object};
use switchyard_mqtt_broker::BoxFuture;
use switchyard_mqtt_broker::access::{Gatekeeper, Identity, Login, Refused, Rights};
use switchyard_store::{Query, Store};

/// The devices of every tenant, for the embedded broker.
pub struct Devices {
    store: Store,
    /// Open connections per device (tenant and id); a device is connected while it has one.
    online: Arc<Mutex<HashMap<(String, String), usize>>>,
}

impl Devices {
    /// Devices over `store`; any device a previous run left marked connected is marked
    /// disconnected.
    pub fn new(store: Store) -> Arc<Devices> {
        if let Err(e) = reset(&store) {
            tracing::warn!("cannot reset the devices' connection status: {e}");
        }
        Arc::new(Devices {
            store,
            online: Arc::default(),
        })
    }

    /// The device `username` presents, if `password` is its password and it is enabled.
    fn check(store: &Store, login: &Login) -> Result<Identity, Refused> {
        let found = (store.find_unique(MQTT_DEVICE, &login.username)).map_err(|e| {
            tracing::error!("cannot read the device `{}`: {e}", login.username);
            Refused::Unavailable
        })?;
        let Some((tenant, device)) = found.and_then(|(t, d)| Some((t, Device::of(&d)?))) else {
            // As slow as a known device, so the time taken does not tell which names exist.
            decoy().verify(&login.password);
            return Err(Refused::BadCredentials);
        };
        if !device.verify(&login.password) {
            return Err(Refused::BadCredentials);
        }
        if !device.enabled {
            return Err(Refused::NotAuthorized);
        }
        Ok(identity(tenant, device))
    }

    /// The device `username` names, if it is enabled.
    fn find(store: &Store, username: &str) -> Result<Option<Identity>, Refused> {
        let found = (store.find_unique(MQTT_DEVICE, username)).map_err(|e| {
            tracing::error!("cannot read the device `{username}`: {e}");
            Refused::Unavailable
        })?;
        let found = found.and_then(|(tenant, d)| Some((tenant, Device::of(&d)?)));
        Ok(found
            .filter(|(_, device)| device.enabled)
            .map(|(tenant, device)| identity(tenant, device)))
    }
}

fn identity(tenant: String, device: Device) -> Identity {
    Identity {
        tenant,
        device: Some(device.id),
        username: Some(device.username),
        publish: Rights::Within(device.publish),
        subscribe: Rights::Within(device.subscribe),
        hooked: false,
    }
}

impl Gatekeeper for Devices {
    fn authenticate(&self, login: Login) -> BoxFuture<Result<Identity, Refused>> {
        let store = self.store.clone();
        Box::pin(async move {
            let checked = tokio::task::spawn_blocking(move || Devices::check(&store, &login));
            checked.await.unwrap_or(Err(Refused::Unavailable))
        })
    }

    fn lookup(&self, username: String) -> BoxFuture<Result<Option<Identity>, Refused>> {
        let store = self.store.clone();
        Box::pin(async move {
            let found = tokio::task::spawn_blocking(move || Devices::find(&store, &username));
            found.await.unwrap_or(Err(Refused::Unavailable))
        })
    }

    fn presence(&self, identity: &Identity, connected: bool) {
        let Some(id) = identity.device.clone() else {
            return;
        };
        let key = (identity.tenant.clone(), id);
        {
            let mut online = self.online.lock();
            let count = online.entry(key.clone()).or_default();
            match connected {
                true => *count += 1,
                false => *count = count.saturating_sub(1),
            }
            if *count == 0 {
                online.remove(&key);
            }
        }
        let (store, online) = (self.store.in_tenant(&key.0), self.online.clone());
        tokio::task::spawn_blocking(move || {
            // Under the lock, so the last write says what is true now whatever order the
            // writes of a quick connect and disconnect run in.
            let online = online.lock();
            let status = json!({
                "isConnected": online.contains_key(&key),
                "lastSeen": switchyard_store::now(),
            });
            let status: Object = status.as_object().cloned().unwrap_or_default();
            if let Err(e) = store.set_status(&key.1, status) {
                tracing::warn!(device = %key.1, "cannot record a device's connection: {e}");
            }
        });
    }
}

/// A device no one has, to spend the time of a password check on an unknown username.
fn decoy() -> &'static Device {
    static DECOY: OnceLock<Device> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut object = json!({"type": MQTT_DEVICE, "id": "", "username": "-", "password": "no device has this"});
        let object = object.as_object_mut().expect("an object");
        let _ = Device::hash_input(object);
        Device::of(object).expect("a device")
    })
}

/// Marks every device disconnected that a previous run left connected.
fn reset(store: &Store) -> switchyard_store::Result<()> {
    let connected = Query::from_json(&json!({"isConnected": true}))?;
    for tenant in store.tenants()? {
        let store = store.in_tenant(&tenant);
        for device in store.query(MQTT_DEVICE, &connected)?.result {
            let status = json!({"isConnected": false})
                .as_object()
                .cloned()
                .unwrap_or_default();
            store.set_status(switchyard_model::id_of(&device), status)?;
        }
    }
    Ok(())
}
