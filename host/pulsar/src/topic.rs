//! Pulsar topic names and what a filter means on a Pulsar client.
//!
//! Pulsar names a topic `persistent://tenant/namespace/topic`. Users write that, or the short
//! forms Pulsar's own tools accept: `topic` (in `public/default`) or `tenant/namespace/topic`.
//! Callbacks see the short form as the message's topic, and a subscriber's filter is matched
//! in its short form ([`short_name`]) too. A filter is one such name, or a wildcard as the last
//! level (`*`, `+` or `#`; alone, or after `tenant/namespace/`) for every persistent topic of
//! the namespace, what Pulsar clients call a `topicsPattern` subscription. Non-persistent
//! topics can be published to by their full name but not followed.

use switchyard_topic::InvalidFilter;

const PERSISTENT: &str = "persistent://";
const NON_PERSISTENT: &str = "non-persistent://";
const DEFAULT_NAMESPACE: &str = "public/default";

/// What a subscriber's filter subscribes to on a Pulsar client.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subscription {
    /// One topic, by its full name.
    Topic(String),
    /// Every persistent topic of `namespace` (`tenant/namespace`).
    Namespace(String),
}

/// Whether `full` (a full topic name) is a persistent topic of `namespace`.
pub fn in_namespace(full: &str, namespace: &str) -> bool {
    full.strip_prefix(PERSISTENT)
        .and_then(|path| path.strip_prefix(namespace))
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The full name of a topic to publish to or follow, from a short or full name.
pub fn full_name(name: &str) -> Result<String, InvalidFilter> {
    let invalid = |why: &str| {
        Err(InvalidFilter(format!(
            "`{name}` is not a Pulsar topic name: {why}; write `topic`, \
             `tenant/namespace/topic` or `persistent://tenant/namespace/topic`"
        )))
    };
    let (scheme, path) = match (
        name.strip_prefix(PERSISTENT),
        name.strip_prefix(NON_PERSISTENT),
    ) {
        (Some(path), _) => (PERSISTENT, path),
        (_, Some(path)) => (NON_PERSISTENT, path),
        _ if name.contains("://") => {
            return invalid("the scheme must be `persistent` or `non-persistent`");
        }
        _ => (PERSISTENT, name),
    };
    let levels: Vec<&str> = path.split('/').collect();
    if levels.iter().any(|level| level.is_empty()) {
        return invalid("no level may be empty");
    }
    if path.contains(['+', '#', '*']) {
        return invalid("a topic name has no wildcards");
    }
    match levels.len() {
        1 => Ok(format!("{scheme}{DEFAULT_NAMESPACE}/{path}")),
        3 => Ok(format!("{scheme}{path}")),
        _ => invalid("it has one level or three"),
    }
}

/// The name users and callbacks see for a full topic name: without `persistent://`, and
/// without `public/default/` too when it is in the default namespace.
pub fn short_name(full: &str) -> &str {
    match full.strip_prefix(PERSISTENT) {
        Some(path) => path
            .strip_prefix(DEFAULT_NAMESPACE)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(path),
        None => full,
    }
}

/// What `filter` (as users write it) subscribes to.
pub fn subscription(filter: &str) -> Result<Subscription, InvalidFilter> {
    let explain = |InvalidFilter(why)| {
        InvalidFilter(format!(
            "{why}; on a Pulsar client a filter is one topic, or `*` (alone or as \
             `tenant/namespace/*`) for every persistent topic of a namespace"
        ))
    };
    if filter.starts_with(NON_PERSISTENT) {
        return Err(explain(InvalidFilter(format!(
            "`{filter}` is non-persistent: Switchyard follows persistent topics only, so that \
             nothing acknowledged is lost"
        ))));
    }
    let path = match filter.strip_prefix(PERSISTENT) {
        Some(path) => path,
        None if filter.contains("://") => {
            return Err(explain(InvalidFilter(format!(
                "`{filter}` has an unknown scheme: a topic to follow is `persistent://...`"
            ))));
        }
        None => filter,
    };
    let namespace = match path.rsplit_once('/') {
        None if is_wildcard(path) => Some(DEFAULT_NAMESPACE),
        Some((namespace, last)) if is_wildcard(last) => Some(namespace),
        _ => None,
    };
    let Some(namespace) = namespace else {
        return full_name(path).map(Subscription::Topic).map_err(explain);
    };
    let probe = full_name(&format!("{namespace}/x")).map_err(explain)?;
    let namespace = probe[PERSISTENT.len()..probe.len() - 2].to_owned();
    Ok(Subscription::Namespace(namespace))
}

fn is_wildcard(level: &str) -> bool {
    matches!(level, "*" | "+" | "#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_their_short_form() {
        assert_eq!(
            full_name("orders").unwrap(),
            "persistent://public/default/orders"
        );
        assert_eq!(
            full_name("acme/eu/orders").unwrap(),
            "persistent://acme/eu/orders"
        );
        let full = "non-persistent://public/default/pings";
        assert_eq!(full_name(full).unwrap(), full);
        assert_eq!(short_name("persistent://public/default/orders"), "orders");
        assert_eq!(short_name("persistent://acme/eu/orders"), "acme/eu/orders");
        assert_eq!(short_name(full), full);
        for bad in ["", "a/b", "a//b/c", "http://x", "orders/*", "a/b/c/d"] {
            let why = full_name(bad).unwrap_err().0;
            assert!(why.contains("is not a Pulsar topic name"), "{bad}: {why}");
        }
    }

    #[test]
    fn filters_are_topics_or_namespace_patterns() {
        let topic = |t: &str| Subscription::Topic(t.into());
        assert_eq!(
            subscription("orders"),
            Ok(topic("persistent://public/default/orders"))
        );
        let all = Subscription::Namespace("public/default".into());
        assert_eq!(subscription("*"), Ok(all.clone()));
        assert_eq!(subscription("#"), Ok(all));
        let plant = Subscription::Namespace("acme/eu.1".into());
        assert_eq!(subscription("acme/eu.1/*"), Ok(plant));
        assert!(in_namespace("persistent://acme/eu.1/line", "acme/eu.1"));
        assert!(!in_namespace("persistent://acme/eu.10/line", "acme/eu.1"));
        let full = "persistent://public/default/orders";
        assert_eq!(
            subscription(full),
            Ok(topic(full)),
            "the full name Pulsar users write"
        );
        let acme = Subscription::Namespace("acme/eu".into());
        assert_eq!(subscription("persistent://acme/eu/*"), Ok(acme));
        for bad in [
            "orders/+",
            "a/*/c",
            "non-persistent://public/default/x",
            "pulsar://public/default/x",
            "persistent://public/orders",
        ] {
            let why = subscription(bad).unwrap_err().0;
            assert!(
                why.contains("on a Pulsar client a filter is"),
                "{bad}: {why}"
            );
        }
    }
}
