//! Devices of the embedded broker coming and going, put to their tenant's lifecycle hooks
//! (`beforeConnect` may refuse one; `afterConnect`, `beforeDisconnect` and `afterDisconnect`
//! are told). A departure cannot be refused: both of its points are only told.

use switchyard_lifecycle::{Caller, CallerKind, Lifecycle, Operation, Request};
use switchyard_model::When;
use switchyard_mqtt_broker::{Arrivals, BoxFuture, Identity};

/// The tenants' lifecycle hooks, asked about their devices.
pub struct DeviceArrivals(pub Lifecycle);

fn request(operation: Operation, identity: &Identity, client_id: &str) -> Request {
    let name = identity.username.as_deref().unwrap_or(client_id);
    let caller = Caller {
        kind: CallerKind::Device,
        name: name.to_owned(),
        tenant: identity.tenant.clone(),
    };
    Request::new(operation, caller, "")
}

impl Arrivals for DeviceArrivals {
    fn connect(&self, identity: &Identity, client_id: &str) -> BoxFuture<bool> {
        let lifecycle = self.0.clone();
        let tenant = &identity.tenant;
        if !lifecycle.hooked(tenant, When::Before, Operation::Connect, "") {
            return Box::pin(std::future::ready(true));
        }
        let request = request(Operation::Connect, identity, client_id);
        Box::pin(async move {
            match lifecycle.before(request).await {
                Ok(_) => true,
                Err(refusal) => {
                    tracing::info!("a lifecycle hook refused a device: {}", refusal.message);
                    false
                }
            }
        })
    }

    fn presence(&self, identity: &Identity, client_id: &str, connected: bool) {
        let lifecycle = self.0.clone();
        let operation = match connected {
            true => Operation::Connect,
            false => Operation::Disconnect,
        };
        let tenant = &identity.tenant;
        let told = |when| lifecycle.hooked(tenant, when, operation, "");
        let (before, after) = (!connected && told(When::Before), told(When::After));
        if !before && !after {
            return;
        }
        let request = request(operation, identity, client_id);
        tokio::spawn(async move {
            if before && let Err(refusal) = lifecycle.before(request.clone()).await {
                tracing::info!(
                    "a lifecycle hook would refuse a disconnect, which cannot be: {}",
                    refusal.message
                );
            }
            if after {
                lifecycle
                    .after(&request, Ok(&serde_json::Value::Null))
                    .await;
            }
        });
    }
}
