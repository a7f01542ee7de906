//! Kafka topic names and what a filter means on a Kafka client. Kafka names have no levels
//! (`/` is not allowed), so a filter is one topic name, or a bare `*` (or `+`, `#`) for every
//! topic whose name does not start with `_` (Kafka's internal topics), which becomes a regex
//! subscription.

use switchyard_topic::InvalidFilter;

/// The regex subscription for "every topic".
pub const ALL_TOPICS: &str = "^[a-zA-Z0-9.-][a-zA-Z0-9._-]*$";

/// Checks a Kafka topic name: 1 to 249 of `a-z A-Z 0-9 . _ -`, not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), InvalidFilter> {
    let valid = (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && (name.bytes()).all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        return Ok(());
    }
    Err(InvalidFilter(format!(
        "`{name}` is not a Kafka topic name: use 1 to 249 of a-z, A-Z, 0-9, `.`, `_` and `-` \
         (no `/`: Kafka topics have no levels)"
    )))
}

/// What a subscriber's filter subscribes to on a Kafka client: the topic name itself, or
/// [`ALL_TOPICS`] for a wildcard.
pub fn subscription(filter: &str) -> Result<String, InvalidFilter> {
    if matches!(filter, "*" | "+" | "#") {
        return Ok(ALL_TOPICS.to_owned());
    }
    validate_name(filter).map_err(|InvalidFilter(why)| {
        InvalidFilter(format!(
            "{why}; on a Kafka client a filter is one topic name or `*` for every topic"
        ))
    })?;
    Ok(filter.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_filters() {
        assert!(validate_name("orders.eu_1-x").is_ok());
        let slash = validate_name("orders/eu").unwrap_err().0;
        assert!(slash.contains("no `/`"), "{slash}");
        assert!(validate_name("").is_err() && validate_name("..").is_err());
        assert_eq!(subscription("orders").unwrap(), "orders");
        assert_eq!(subscription("*").unwrap(), ALL_TOPICS);
        assert!(
            subscription("orders/+")
                .unwrap_err()
                .0
                .contains("one topic name or `*`")
        );
    }
}
