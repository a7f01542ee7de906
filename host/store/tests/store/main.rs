//! Behaviour of the object store as its users (the API, the dispatcher, plugins) see it,
//! against a real sled database in a temporary directory.

mod indexes;
mod objects;
mod query;
mod txn;
mod validation;

use switchyard_store::{Error, Object, Store};

/// A store in a fresh directory; keep the directory alive as long as the store.
fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    (dir, store)
}

fn id(object: &Object) -> &str {
    object["id"].as_str().expect("object has an id")
}

/// The message of an `Invalid` error; panics on anything else.
fn invalid(result: Result<Object, Error>) -> String {
    match result {
        Err(Error::Invalid(message)) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}
