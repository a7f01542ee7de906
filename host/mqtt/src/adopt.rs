//! Adopting what an instance that died left at an external broker. A member of a share group
//! with a persistent session keeps getting its share of the group's messages while its
//! instance is down, and the broker queues them for that session. Another instance connects
//! as that member (its client id), leaves the group at once (so nothing new is routed to it),
//! runs what is queued through the callbacks, acknowledges each message once the callbacks'
//! writes are durable, and when nothing more comes, ends the session.

use crate::settings::Settings;
use crate::wire::{self, Event};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_broker::{Inbound, Incoming, Outcome};

/// How long nothing may arrive before the session counts as drained.
const QUIET: Duration = Duration::from_secs(2);

/// How long an adoption may take at most; what is left then waits for the next one.
const LONGEST: Duration = Duration::from_secs(120);

/// Drains the session `instance` left for `tenant`'s client `id`, then ends it. Whether it
/// finished (nothing left, the session ended).
pub(crate) async fn adopt(
    tenant: String,
    id: String,
    settings: Settings,
    inbound: Arc<dyn Inbound>,
    instance: String,
) -> bool {
    let prefix = settings.filter_prefix();
    let filters: Vec<String> = (inbound.filters_for(&tenant, &id).iter())
        .map(|filter| format!("{prefix}{}", switchyard_topic::to_mqtt(filter)))
        .collect();
    let session = settings.session_id(&instance);
    let endpoint = &settings.endpoints[0];
    let (client, mut events) = wire::connect(&settings, &session, endpoint);
    let started = Instant::now();
    let mut connected = false;
    let mut drained = 0u64;
    while started.elapsed() < LONGEST {
        let event = match tokio::time::timeout(QUIET, events.poll()).await {
            Err(_) if connected => break,
            Err(_) => continue,
            Ok(Err(failure)) => {
                tracing::warn!(client = %id, session, "adopting the session failed: {}", failure.0);
                return false;
            }
            Ok(Ok(event)) => event,
        };
        let received = match event {
            Event::ConnAck => {
                connected = true;
                for filter in &filters {
                    let _ = client.unsubscribe(filter.clone()).await;
                }
                continue;
            }
            Event::Publish(received) => received,
            _ => continue,
        };
        let incoming = Incoming {
            tenant: tenant.clone(),
            client_id: id.clone(),
            topic: received.topic,
            payload: received.payload,
            headers: received.headers,
            received_at_ms: crate::connection::now_ms(),
            ..Incoming::default()
        };
        let outcome = inbound.clone().dispatch(incoming).await;
        if matches!(outcome, Outcome::Retry(_)) || inbound.durable().await.is_err() {
            // Not acknowledged: it stays queued for the next adoption.
            tracing::warn!(client = %id, session, "a message of an adopted session could not be kept");
            return false;
        }
        let _ = client.ack(received.qos, received.pkid).await;
        drained += 1;
    }
    if !connected {
        return false;
    }
    end(&settings, &session, &id, &mut events).await;
    tracing::info!(client = %id, session, drained, "adopted a session of an instance that died");
    true
}

/// Disconnects, then connects once more with a clean session and leaves: the broker forgets
/// the session.
async fn end(settings: &Settings, session: &str, id: &str, events: &mut wire::Events) {
    events.disconnect();
    let _ = tokio::time::timeout(QUIET, async {
        while !matches!(events.poll().await, Ok(Event::Disconnected) | Err(_)) {}
    })
    .await;
    let clean = settings.clean();
    let (_, mut events) = wire::connect(&clean, session, &clean.endpoints[0]);
    let ended = tokio::time::timeout(QUIET * 5, async {
        loop {
            match events.poll().await {
                Ok(Event::ConnAck) => events.disconnect(),
                Ok(Event::Disconnected) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    if ended != Ok(true) {
        tracing::warn!(client = %id, session, "could not end an adopted session");
    }
}
