//! Built-in objects (clients, subscribers) kept decoded in memory: the host and its plugins
//! read them on every message (a plugin its subscriber's settings, a publish its client), and
//! decoding the same JSON again each time was most of what those reads cost.
//!
//! An entry is dropped when its object changes, under the same lock that a reader inserts
//! under, and a reader inserts only if no built-in object changed since it started reading,
//! so a read that raced with a commit never leaves the old version behind.

use crate::Object;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Entries kept, at most; past it the cache starts over, so memory stays bounded whatever the
/// number of clients and subscribers.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(crate) struct Cache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Counts changes to built-in objects.
    changes: u64,
    /// By id, with the tenant each belongs to.
    objects: HashMap<String, (Arc<str>, Arc<Object>)>,
}

/// What a lookup found: the object and its tenant, or the point to insert a freshly read one
/// from.
pub(crate) enum Lookup {
    Hit(Arc<str>, Arc<Object>),
    Miss { changes: u64 },
}

impl Cache {
    pub(crate) fn lookup(&self, id: &str) -> Lookup {
        let inner = self.inner.lock();
        match inner.objects.get(id) {
            Some((tenant, object)) => Lookup::Hit(tenant.clone(), object.clone()),
            None => Lookup::Miss {
                changes: inner.changes,
            },
        }
    }

    /// Keeps the built-in `object`, read after a [`Lookup::Miss`] that saw `changes`, if
    /// nothing built in changed since.
    pub(crate) fn insert(&self, tenant: &str, id: &str, object: &Object, changes: u64) {
        let mut inner = self.inner.lock();
        if inner.changes != changes {
            return;
        }
        if inner.objects.len() >= CAPACITY {
            inner.objects.clear();
        }
        let entry = (Arc::from(tenant), Arc::new(object.clone()));
        (inner.objects).insert(id.to_owned(), entry);
    }

    /// Forgets a built-in object that changed; called after the change is committed.
    pub(crate) fn changed(&self, id: &str) {
        let mut inner = self.inner.lock();
        inner.changes += 1;
        inner.objects.remove(id);
    }

    /// Forgets every object: any may have changed.
    pub(crate) fn forget_all(&self) {
        let mut inner = self.inner.lock();
        inner.changes += 1;
        inner.objects.clear();
    }

    /// Forgets every object of `tenant`, which is gone.
    pub(crate) fn forget_tenant(&self, tenant: &str) {
        let mut inner = self.inner.lock();
        inner.changes += 1;
        inner.objects.retain(|_, (of, _)| **of != *tenant);
    }
}
