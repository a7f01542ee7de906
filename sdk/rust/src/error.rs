//! The one error type of the SDK: host-call failures from the WIT contract plus the JSON and
//! UTF-8 problems of reading messages and objects, so a handler can `?` everything and the
//! host records a readable reason.

use crate::bindings::switchyard::plugin::types::Error as WitError;

/// Why an SDK call failed. Its `Display` text is what the host records when a handler
/// returns it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object, plugin or client named in a host call does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The host rejected the input: malformed JSON, a reserved or invalid property, a bad topic.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A per-invocation limit was reached; the text names it (host calls, bytes written, bytes
    /// published, publishes, object size, `find` rows).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The plugin's capabilities do not allow the call: a built-in type, an object type it was
    /// not granted, or a client or topic it may not publish to. The text says which.
    #[error("denied: {0}")]
    Denied(String),
    /// Any other failure, described in words; also what a handler builds with
    /// [`Error::other`] or `"...".into()`.
    #[error("{0}")]
    Other(String),
    /// A value could not be turned into or read from JSON; `context` says which value.
    #[error("{context}: {source}")]
    Json {
        /// Which value was being read or written.
        context: String,
        /// What serde_json found wrong.
        source: serde_json::Error,
    },
    /// The message payload is not valid UTF-8.
    #[error("message payload is not valid UTF-8: {0}")]
    Utf8(#[source] std::str::Utf8Error),
}

/// The SDK's result type; a handler returns `Result<()>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A handler's own failure, described in words.
    pub fn other(message: impl Into<String>) -> Error {
        Error::Other(message.into())
    }

    /// A short, stable name for the kind of error: `not-found`, `invalid`, `limit-exceeded`,
    /// `denied`, `other`, `json` or `utf8` (all but the last two match the WIT `error` cases).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not-found",
            Error::Invalid(_) => "invalid",
            Error::LimitExceeded(_) => "limit-exceeded",
            Error::Denied(_) => "denied",
            Error::Other(_) => "other",
            Error::Json { .. } => "json",
            Error::Utf8(_) => "utf8",
        }
    }

    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Json {
            context: context.into(),
            source,
        }
    }
}

impl From<WitError> for Error {
    fn from(error: WitError) -> Error {
        match error {
            WitError::NotFound(m) => Error::NotFound(m),
            WitError::Invalid(m) => Error::Invalid(m),
            WitError::LimitExceeded(m) => Error::LimitExceeded(m),
            WitError::Other(m) => Error::Other(m),
            WitError::Denied(m) => Error::Denied(m),
        }
    }
}

/// Lets a handler `?` its own serde_json calls.
impl From<serde_json::Error> for Error {
    fn from(source: serde_json::Error) -> Error {
        Error::json("JSON", source)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::Other(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::Other(message.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_keep_their_kind_and_text() {
        let cases = [
            (
                WitError::NotFound("object `x`".into()),
                "not-found",
                "not found: object `x`",
            ),
            (
                WitError::Invalid("bad topic".into()),
                "invalid",
                "invalid: bad topic",
            ),
            (
                WitError::LimitExceeded("100 host calls".into()),
                "limit-exceeded",
                "limit exceeded: 100 host calls",
            ),
            (WitError::Other("disk full".into()), "other", "disk full"),
            (
                WitError::Denied("type `MQTTClient` is built in".into()),
                "denied",
                "denied: type `MQTTClient` is built in",
            ),
        ];
        for (host_error, kind, text) in cases {
            let error = Error::from(host_error);
            assert_eq!((error.kind(), error.to_string().as_str()), (kind, text));
        }
    }

    #[test]
    fn a_handler_message_is_shown_as_written() {
        assert_eq!(Error::from("asked to fail").to_string(), "asked to fail");
        assert_eq!(Error::other("asked to fail").kind(), "other");
    }

    #[test]
    fn json_errors_name_what_was_read() {
        let source = serde_json::from_str::<u32>("x").unwrap_err();
        let error = Error::json("message payload", source);
        assert_eq!(error.kind(), "json");
        assert!(
            error
                .to_string()
                .starts_with("message payload: expected value"),
            "{error}"
        );
    }
}
