//! Key-value spaces beside the objects: small named maps the host keeps for itself (plugin
//! uploads, settings such as the token hash), stored by the same engine and never shown as
//! objects.

use crate::Result;
use crate::backend::Backend;
use std::sync::Arc;

/// One named space. Cheap to clone.
#[derive(Clone)]
pub struct Space {
    backend: Arc<dyn Backend>,
    name: &'static str,
}

impl Space {
    pub(crate) fn new(backend: Arc<dyn Backend>, name: &'static str) -> Space {
        Space { backend, name }
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.backend.space_get(self.name, key)
    }

    /// The entries whose keys start with `prefix`, in key order.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.backend.space_list(self.name, prefix)
    }

    /// Sets (`Some`) and removes (`None`) entries, all or none, durably before it returns.
    pub fn write(&self, entries: &[(&str, Option<&[u8]>)]) -> Result<()> {
        self.backend.space_write(self.name, entries)
    }

    /// Sets one entry, durably.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write(&[(key, Some(value))])
    }
}
