//! Topic filters as users write them in `MessageSubscriber.topic`.
//!
//! MQTT's `+` (one level) and `#` (all remaining levels, last only), Structr's `*` as one
//! level (`sensors/*`), and a bare `*` that matches every topic. One parser serves validation
//! (the store rejects bad filters on write), matching (the dispatcher routes by it) and the
//! translation to what an MQTT broker understands.
//!
//! Shared subscriptions (`$share/<group>/<filter>`) are validated and matched on their inner
//! filter; the prefix only matters to the broker, so [`to_mqtt`] keeps it.

/// A filter that failed validation, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFilter(pub String);

impl std::fmt::Display for InvalidFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidFilter {}

const SHARE_PREFIX: &str = "$share/";

/// MQTT caps topic strings at 65535 bytes (two-byte length prefix).
const MAX_LEN: usize = u16::MAX as usize;

/// Splits a shared-subscription filter into its `$share/<group>/` prefix and the inner filter.
/// Filters without the prefix come back with an empty prefix.
fn split_share(filter: &str) -> Result<(&str, &str), InvalidFilter> {
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return Ok(("", filter));
    };
    let Some((group, inner)) = rest.split_once('/') else {
        return Err(InvalidFilter(format!(
            "shared subscription `{filter}` must have the form `$share/<group>/<filter>`"
        )));
    };
    if group.is_empty() || group.contains(['+', '#', '*']) {
        return Err(InvalidFilter(format!(
            "shared subscription `{filter}` needs a group name without wildcards"
        )));
    }
    let prefix_len = SHARE_PREFIX.len() + group.len() + 1;
    Ok((&filter[..prefix_len], inner))
}

/// The group and the inner filter of a well-formed shared subscription
/// (`$share/<group>/<filter>`); `None` for any other filter.
pub fn shared(filter: &str) -> Option<(&str, &str)> {
    match split_share(filter) {
        Ok((prefix, inner)) if !prefix.is_empty() => {
            Some((&prefix[SHARE_PREFIX.len()..prefix.len() - 1], inner))
        }
        _ => None,
    }
}

/// The inner filter of a shared subscription (or the filter itself), leniently: a malformed
/// `$share` prefix is matched as a literal filter, which then simply matches nothing useful.
fn inner(filter: &str) -> &str {
    split_share(filter).map_or(filter, |(_, inner)| inner)
}

fn is_wildcard(level: &str) -> bool {
    matches!(level, "+" | "#" | "*")
}

/// Checks that `name` can be published to: one concrete topic, not empty, no wildcards.
pub fn validate_name(name: &str) -> Result<(), InvalidFilter> {
    if name.is_empty() {
        Err(InvalidFilter(
            "a topic to publish to must not be empty".into(),
        ))
    } else if name.contains(['+', '#']) {
        Err(InvalidFilter(
            "a topic to publish to has no wildcards (`+` or `#`); name one concrete topic".into(),
        ))
    } else {
        Ok(())
    }
}

/// Checks that `filter` is a usable topic filter.
pub fn validate(filter: &str) -> Result<(), InvalidFilter> {
    if filter.len() > MAX_LEN {
        return Err(InvalidFilter(format!(
            "topic filter is {} bytes long; at most {MAX_LEN} are allowed",
            filter.len()
        )));
    }
    if filter.contains('\0') {
        return Err(InvalidFilter(
            "topic filter must not contain the NUL character".into(),
        ));
    }
    let (_, inner) = split_share(filter)?;
    if inner.is_empty() {
        return Err(InvalidFilter("topic filter is empty".into()));
    }
    let mut levels = inner.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.len() > 1 && level.contains(['+', '#', '*']) {
            return Err(InvalidFilter(format!(
                "wildcards `+`, `#` and `*` must occupy a whole level, but `{filter}` has `{level}`"
            )));
        }
        if level == "#" && levels.peek().is_some() {
            return Err(InvalidFilter(format!(
                "`#` must be the last level of a topic filter, but `{filter}` continues after it"
            )));
        }
    }
    Ok(())
}

/// Whether `topic` (a concrete topic name) matches `filter`.
pub fn matches(filter: &str, topic: &str) -> bool {
    let filter = inner(filter);
    let mut wanted = filter.split('/');
    let mut actual = topic.split('/');
    // MQTT: topics starting with `$` (broker internals like `$SYS`) are not matched by a
    // filter whose first level is a wildcard.
    if topic.starts_with('$') && wanted.clone().next().is_some_and(is_wildcard) {
        return false;
    }
    if filter == "*" {
        return true;
    }
    loop {
        match (wanted.next(), actual.next()) {
            (Some("#"), _) => return true,
            (Some("+" | "*"), Some(_)) => {}
            (Some(w), Some(a)) if w == a => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic `filter` matches is matched by `allowed` too (both MQTT filters without
/// a `$share` prefix): what a device may subscribe to within the filters it is allowed.
pub fn covers(allowed: &str, filter: &str) -> bool {
    let mut allowed_levels = allowed.split('/');
    let mut levels = filter.split('/');
    // A `$...` topic is reached only through a filter whose first level names it.
    if filter.starts_with('$') && allowed_levels.clone().next().is_some_and(is_wildcard) {
        return false;
    }
    loop {
        match (allowed_levels.next(), levels.next()) {
            (Some("#"), _) => return true,
            (Some("+" | "*"), Some(level)) if level != "#" => {}
            (Some(a), Some(level)) if a == level && !is_wildcard(a) => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The filter in MQTT syntax: `*` levels become `+`, a bare `*` becomes `#`.
/// `$share/group/...` shared-subscription prefixes are kept as they are.
pub fn to_mqtt(filter: &str) -> String {
    let (prefix, inner) = split_share(filter).unwrap_or(("", filter));
    let mut out = String::with_capacity(filter.len());
    out.push_str(prefix);
    if inner == "*" {
        out.push('#');
        return out;
    }
    for (i, level) in inner.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if level == "*" { "+" } else { level });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_filter_covers_only_what_it_matches() {
        for (allowed, filter) in [
            ("#", "a/b"),
            ("#", "#"),
            ("a/#", "a"),
            ("a/#", "a/+/c"),
            ("a/+", "a/b"),
            ("a/+", "a/+"),
            ("a/b", "a/b"),
            ("$events/#", "$events/x"),
        ] {
            assert!(covers(allowed, filter), "{allowed} covers {filter}");
        }
        for (allowed, filter) in [
            ("a/+", "a/#"),
            ("a/+", "a/b/c"),
            ("a/b", "a/+"),
            ("a/b", "a"),
            ("a/+/c", "a/+/#"),
            ("#", "$events/x"),
            ("+/x", "$events/x"),
            ("a", "a/b"),
        ] {
            assert!(
                !covers(allowed, filter),
                "{allowed} does not cover {filter}"
            );
        }
    }

    #[test]
    fn accepts_wildcards_on_whole_levels() {
        for filter in [
            "a",
            "a/b/c",
            "sensors/+/temperature",
            "sensors/*",
            "sensors/#",
            "#",
            "+",
            "*",
            "+/+/#",
            "/leading/empty",
            "a//b",
            "$SYS/broker/#",
            "$share/group/sensors/+/temperature",
            "$share/g/*",
        ] {
            assert_eq!(validate(filter), Ok(()), "{filter}");
        }
    }

    #[test]
    fn rejects_bad_filters_with_a_reason() {
        let reason = |f: &str| validate(f).unwrap_err().0;
        assert_eq!(reason(""), "topic filter is empty");
        assert!(reason("a+/b").contains("whole level"), "{}", reason("a+/b"));
        assert!(reason("a/b#").contains("`b#`"));
        assert!(reason("sensors/t*").contains("`t*`"));
        assert!(reason("a/#/b").contains("last level"));
        assert!(reason("#/a").contains("last level"));
        assert!(reason("a\0b").contains("NUL"));
        assert!(reason("$share/group").contains("$share/<group>/<filter>"));
        assert!(reason("$share//a").contains("group name"));
        assert!(reason("$share/+/a").contains("group name"));
        assert_eq!(reason("$share/g/"), "topic filter is empty");
        assert!(reason("$share/g/a/#/b").contains("last level"));
        assert!(reason(&"a".repeat(70_000)).contains("at most 65535"));
    }

    #[test]
    fn single_level_wildcards_match_exactly_one_level() {
        for filter in ["sensors/+/temperature", "sensors/*/temperature"] {
            assert!(matches(filter, "sensors/t1/temperature"));
            assert!(matches(filter, "sensors//temperature"));
            assert!(!matches(filter, "sensors/temperature"));
            assert!(!matches(filter, "sensors/a/b/temperature"));
            assert!(!matches(filter, "sensors/t1/humidity"));
        }
        assert!(matches("sensors/*", "sensors/t1"));
        assert!(!matches("sensors/*", "sensors/t1/temperature"));
        assert!(!matches("sensors/*", "sensors"));
    }

    #[test]
    fn hash_matches_zero_or_more_remaining_levels() {
        assert!(matches("sensors/#", "sensors"));
        assert!(matches("sensors/#", "sensors/t1"));
        assert!(matches("sensors/#", "sensors/t1/temperature"));
        assert!(!matches("sensors/#", "other/t1"));
        assert!(matches("#", "anything/at/all"));
        assert!(matches("+/b/#", "a/b"));
    }

    #[test]
    fn bare_star_matches_every_topic() {
        assert!(matches("*", "a"));
        assert!(matches("*", "a/b/c"));
        assert!(matches("*", "/"));
    }

    #[test]
    fn literal_levels_match_exactly() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b", "a"));
        assert!(!matches("a/b", "A/b"));
        assert!(!matches("a/b", "a/b/"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_a_leading_wildcard() {
        for filter in ["#", "+/broker", "*", "*/broker"] {
            assert!(!matches(filter, "$SYS/broker"), "{filter}");
        }
        assert!(matches("$SYS/#", "$SYS/broker"));
        assert!(matches("$SYS/+", "$SYS/broker"));
    }

    #[test]
    fn shared_subscriptions_match_on_the_inner_filter() {
        assert!(matches(
            "$share/g/sensors/+/temperature",
            "sensors/t1/temperature"
        ));
        assert!(matches("$share/g/*", "a/b"));
        assert_eq!(shared("$share/g/a/+"), Some(("g", "a/+")));
        assert_eq!(shared("a/+"), None);
        assert_eq!(shared("$share/+/a"), None);
        assert!(!matches("$share/g/sensors/#", "$share/g/sensors"));
    }

    #[test]
    fn to_mqtt_translates_stars_and_keeps_the_share_prefix() {
        assert_eq!(to_mqtt("sensors/*/temperature"), "sensors/+/temperature");
        assert_eq!(to_mqtt("sensors/*"), "sensors/+");
        assert_eq!(to_mqtt("*"), "#");
        assert_eq!(to_mqtt("*/*"), "+/+");
        assert_eq!(to_mqtt("a/+/#"), "a/+/#");
        assert_eq!(to_mqtt("$share/g/*"), "$share/g/#");
        assert_eq!(to_mqtt("$share/g/a/*/c"), "$share/g/a/+/c");
    }
}
