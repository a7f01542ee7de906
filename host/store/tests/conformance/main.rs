//! The store's conformance suite: behaviour of the object store as its users (the API, the
//! dispatcher, plugins) see it, written once and run against every storage engine. An engine
//! joins with one `conformance!` line below, naming how a test gets a database of its own.

// The suite's files are compiled once per engine, on purpose.
#![allow(clippy::duplicate_mod)]

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_model::schema::Props;
use switchyard_model::{ClientKind, Kinds};
use switchyard_store::{Error, Object, Store};

/// The client type of [`TestKind`].
pub const TEST_CLIENT: &str = "TestClient";

/// A client kind of the suite's own, so the store's handling of client objects (defaults,
/// checks, secrets, host status, links from subscribers) is tested apart from any real
/// broker's rules, which their crates test.
struct TestKind;

impl ClientKind for TestKind {
    fn type_name(&self) -> &'static str {
        TEST_CLIENT
    }

    fn short_name(&self) -> &'static str {
        "test"
    }

    fn broker_property(&self) -> &'static str {
        "url"
    }

    fn broker_properties(&self, broker: &str) -> Object {
        json!({ "url": broker })
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn example(&self) -> Value {
        json!({"url": "test://broker"})
    }

    fn apply_defaults(&self, object: &mut Object) {
        object.entry("isEnabled").or_insert(Value::Bool(false));
    }

    fn validate(&self, object: &Object) -> Result<(), String> {
        let props = Props::new(TEST_CLIENT, object);
        props.required_string("url")?;
        props.string("username")?;
        props.bool("isEnabled")
    }

    fn is_secret(&self, property: &str) -> bool {
        property == "password"
    }

    fn check_topic(&self, _topic: &str) -> Result<(), String> {
        Ok(())
    }

    fn check_filter(&self, filter: &str) -> Result<(), String> {
        match filter.contains('/') {
            true => Err(format!("`{filter}` has levels, which this broker does not")),
            false => Ok(()),
        }
    }

    fn message_size(&self, _topic: &str, payload: usize) -> (usize, usize, &'static str) {
        (payload, usize::MAX, "test message")
    }
}

/// The client kinds every test's store knows.
pub fn kinds() -> Kinds {
    Kinds::new(vec![Arc::new(TestKind)])
}

/// A database for one test, thrown away after it; every [`Database::open`] is a new handle to
/// the same data (the one before it dropped), as a restarted server would open it.
pub trait Database {
    fn new() -> Self;
    fn open(&self) -> Store;
}

/// The embedded engine in a temporary directory.
pub struct Embedded(tempfile::TempDir);

impl Database for Embedded {
    fn new() -> Embedded {
        Embedded(tempfile::tempdir().expect("temp dir"))
    }

    fn open(&self) -> Store {
        Store::open(self.0.path(), kinds()).expect("open store")
    }
}

/// PostgreSQL: a database of its own on the test binary's cluster (see
/// `switchyard_test_support::postgres`), and a directory for the instance's own files.
pub struct Postgres {
    url: String,
    dir: tempfile::TempDir,
}

impl Database for Postgres {
    fn new() -> Postgres {
        Postgres {
            url: switchyard_test_support::postgres::database(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn open(&self) -> Store {
        Store::open_postgres(&self.url, self.dir.path(), kinds()).expect("open store")
    }
}

/// Runs every test of the suite against the engine `$database`, in module `$engine`.
macro_rules! conformance {
    ($engine:ident, $database:ty) => {
        // The suite's files are this folder's, whatever the engine's module is called.
        #[path = "."]
        mod $engine {
            use crate::Database;

            /// A fresh database and a store over it; keep the database as long as the store.
            pub(crate) fn open() -> ($database, switchyard_store::Store) {
                let database = <$database>::new();
                let store = database.open();
                (database, store)
            }

            mod indexes;
            mod objects;
            mod query;
            mod spaces;
            mod tenants;
            mod txn;
            mod unique;
            mod validation;
        }
    };
}

conformance!(embedded, crate::Embedded);
conformance!(postgres, crate::Postgres);

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
