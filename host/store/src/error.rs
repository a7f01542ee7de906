//! The store's error type.

use std::sync::Arc;

/// What went wrong with a store operation. The variants map onto HTTP statuses in the API
/// and onto the WIT `error` variant for plugins.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No object with this id (or not of the expected type).
    #[error("{0}")]
    NotFound(String),
    /// A property failed validation; the message names the property.
    #[error("{0}")]
    Invalid(String),
    /// A query could not be understood; the message says which part.
    #[error("{0}")]
    BadQuery(String),
    /// An object is over the size its writer may store; the message names the limit.
    #[error("{0}")]
    TooLarge(String),
    /// The write raced with another one (for example the object was deleted meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// The write gives a property that is unique on the server a value another object has.
    #[error("{0}")]
    Taken(String),
    /// The write would take its tenant over a quota; the message names it.
    #[error("{0}")]
    Quota(String),
    /// The storage engine failed; the source says how.
    #[error("the storage engine failed while {doing}")]
    Storage {
        doing: &'static str,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The store is shutting down.
    #[error("the store is closing")]
    Closing,
}

impl Error {
    /// A storage failure while `doing` something, keeping the engine's error as the source.
    pub(crate) fn storage(
        doing: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Storage {
            doing,
            source: Arc::new(source),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
