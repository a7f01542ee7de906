//! Tenants: each sees, counts and indexes only its own objects, an id of another tenant is not
//! found however it is used, and a tenant's storage quota refuses what would take it over.

use super::open;
use crate::id;
use serde_json::json;
use switchyard_store::{Error, Query, StorageQuota, Usage};

#[test]
fn a_tenant_sees_only_its_own_objects() {
    let (_database, store) = open();
    assert_eq!(store.tenant(), "default");
    let (acme, globex) = (store.in_tenant("acme"), store.in_tenant("globex"));
    let secret = acme.create("Order", json!({"item": "anvil"})).unwrap();
    let theirs = globex.create("Order", json!({"item": "gadget"})).unwrap();

    assert_eq!(globex.get(id(&secret)).unwrap(), None);
    assert_eq!(store.get(id(&secret)).unwrap(), None, "nor the default tenant");
    assert!(matches!(globex.update(id(&secret), json!({"item": "x"})), Err(Error::NotFound(_))));
    assert!(matches!(globex.replace(id(&secret), json!({})), Err(Error::NotFound(_))));
    assert!(!globex.delete(id(&secret)).unwrap());
    let mut txn = globex.begin();
    assert!(txn.get(id(&secret)).unwrap().is_none());
    assert!(matches!(txn.expect_version(id(&secret), 1), Err(Error::NotFound(_))));
    drop(txn);

    let page = globex.query("Order", &Query::default()).unwrap();
    assert_eq!((page.total, &page.result[0]["item"]), (1, &json!("gadget")));
    assert_eq!(globex.types().unwrap(), ["Order"]);
    assert!(store.types().unwrap().is_empty());
    assert_eq!(acme.get(id(&secret)).unwrap().unwrap()["item"], "anvil");
    assert_eq!(acme.get(id(&theirs)).unwrap(), None);
}

#[test]
fn indexes_belong_to_their_tenant() {
    let (_database, store) = open();
    let (acme, globex) = (store.in_tenant("acme"), store.in_tenant("globex"));
    for n in 0..5 {
        acme.create("Reading", json!({"n": n})).unwrap();
        globex.create("Reading", json!({"n": n + 100})).unwrap();
    }
    assert_eq!(acme.create_index("Reading", "n").unwrap(), Some(5));
    assert_eq!(acme.indexes(), [("Reading".to_owned(), "n".to_owned())]);
    assert!(globex.indexes().is_empty());
    let both = Query::from_json(&json!({"filters": [
        {"column": "n", "operator": "in", "value": [1, 101]}]}))
    .unwrap();
    let found = acme.query("Reading", &both).unwrap();
    assert_eq!((found.total, &found.result[0]["n"]), (1, &json!(1)));
    let top = Query::from_json(&json!({"sort": "n", "order": "desc", "limit": 2})).unwrap();
    let page = acme.query("Reading", &top).unwrap();
    let ns: Vec<_> = page.result.iter().map(|o| o["n"].clone()).collect();
    assert_eq!(ns, [json!(4), json!(3)], "the index holds acme's objects only");
    assert_eq!(globex.create_index("Reading", "n").unwrap(), Some(5));
}

#[test]
fn usage_counts_objects_and_bytes_as_they_commit() {
    let (_database, store) = open();
    let acme = store.in_tenant("acme");
    assert_eq!(acme.usage().unwrap(), Usage::default());
    let order = acme.create("Order", json!({"item": "anvil"})).unwrap();
    let one = acme.usage().unwrap();
    assert_eq!(one.objects, 1);
    assert!(one.bytes > 20, "{one:?}");
    acme.update(id(&order), json!({"note": "x".repeat(1000)})).unwrap();
    assert!(acme.usage().unwrap().bytes > one.bytes + 1000);
    acme.delete(id(&order)).unwrap();
    assert_eq!(acme.usage().unwrap(), Usage::default());
    assert_eq!(store.usage().unwrap(), Usage::default(), "the default tenant stores nothing");
}

#[test]
fn a_quota_refuses_what_would_go_over_it_and_lets_a_tenant_clean_up() {
    let (_database, store) = open();
    let acme = store.in_tenant("acme");
    let quota = StorageQuota {
        objects: Some(2),
        bytes: None,
    };
    store.set_quota("acme", quota);
    let first = acme.create("Order", json!({"n": 1})).unwrap();
    acme.create("Order", json!({"n": 2})).unwrap();
    let refused = acme.create("Order", json!({"n": 3})).unwrap_err();
    assert!(
        matches!(&refused, Error::Quota(m) if m.starts_with("objects quota: tenant `acme` may keep 2 objects")),
        "{refused}"
    );
    // Another tenant is not limited by it; updates within it and deletes go on.
    store.in_tenant("globex").create("Order", json!({"n": 3})).unwrap();
    acme.update(id(&first), json!({"n": 10})).unwrap();
    acme.delete(id(&first)).unwrap();
    acme.create("Order", json!({"n": 4})).unwrap();

    store.set_quota(
        "acme",
        StorageQuota {
            objects: None,
            bytes: Some(1000),
        },
    );
    let big = json!({"blob": "x".repeat(2000)});
    let refused = acme.create("Order", big).unwrap_err();
    assert!(matches!(&refused, Error::Quota(m) if m.starts_with("storageMb quota")), "{refused}");
    assert_eq!(acme.usage().unwrap().objects, 2, "nothing of the refused writes landed");

    // The host's own records of what it received pass, and count.
    let record = json!({"blob": "x".repeat(2000)});
    acme.unquoted().create("Order", record).unwrap();
    assert_eq!(acme.usage().unwrap().objects, 3);
}

#[test]
fn a_removed_tenant_leaves_nothing_behind() {
    let (database, store) = open();
    let acme = store.in_tenant("acme");
    acme.create("Order", json!({"n": 1})).unwrap();
    acme.create_index("Order", "n").unwrap();
    store.in_tenant("globex").create("Order", json!({"n": 2})).unwrap();
    assert_eq!(store.tenants().unwrap(), ["acme", "globex"]);
    acme.remove_tenant().unwrap();
    assert!(acme.types().unwrap().is_empty());
    assert!(acme.indexes().is_empty());
    assert_eq!(acme.usage().unwrap(), Usage::default());
    assert_eq!(store.tenants().unwrap(), ["globex"]);
    store.flush().unwrap();
    drop((acme, store));
    let store = crate::Database::open(&database);
    assert!(store.in_tenant("acme").indexes().is_empty(), "after reopening too");
    assert_eq!(store.in_tenant("globex").count("Order").unwrap(), 1);
}
