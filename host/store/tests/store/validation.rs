//! Built-in types: validation messages, defaults, read-only status and write-only secrets.

use crate::{id, invalid, open};
use serde_json::{Value, json};
use switchyard_store::{ChangeKind, Object, Query, Store};

fn mqtt(store: &Store, extra: Value) -> Result<Object, switchyard_store::Error> {
    let mut props = json!({"mainBrokerURL": "embedded"});
    props
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    store.create("MQTTClient", props)
}

#[test]
fn mqtt_client_gets_defaults_and_initial_status() {
    let (_dir, store) = open();
    let client = mqtt(&store, json!({})).unwrap();
    assert_eq!(client["mainBrokerURL"], "embedded");
    assert_eq!(client["qos"], 0);
    assert_eq!(client["cleanSession"], true);
    assert_eq!(client["isEnabled"], false);
    assert_eq!(client["isConnected"], false);
    assert_eq!(client["lastError"], Value::Null);
}

#[test]
fn mqtt_client_accepts_every_documented_url_scheme() {
    let (_dir, store) = open();
    for url in [
        "mqtt://broker:1883",
        "tcp://127.0.0.1:1883",
        "mqtts://broker.example.com:8883",
        "ws://localhost:8080/mqtt",
        "wss://broker/mqtt",
    ] {
        let client = store
            .create(
                "MQTTClient",
                json!({"mainBrokerURL": url, "fallbackBrokerURLs": [url, "embedded"]}),
            )
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(client["mainBrokerURL"], url);
    }
}

#[test]
fn mqtt_client_errors_name_the_field() {
    let (_dir, store) = open();
    let expect = |props: Value, message: &str| {
        assert_eq!(
            invalid(store.create("MQTTClient", props.clone())),
            message,
            "{props}"
        );
    };
    let url = "`embedded` or a URL with scheme mqtt, tcp, mqtts, ws or wss and a host";
    expect(json!({}), "MQTTClient.mainBrokerURL is required");
    expect(
        json!({"mainBrokerURL": 5}),
        "MQTTClient.mainBrokerURL must be a string",
    );
    for bad in ["http://broker", "mqtt://", "broker:1883", "embedded2"] {
        expect(
            json!({"mainBrokerURL": bad}),
            &format!("MQTTClient.mainBrokerURL must be {url}"),
        );
    }
    let base = |extra: Value| {
        let mut props = json!({"mainBrokerURL": "embedded"});
        props
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        props
    };
    expect(
        base(json!({"fallbackBrokerURLs": "mqtt://a"})),
        &format!("MQTTClient.fallbackBrokerURLs must be a list, each element {url}"),
    );
    expect(
        base(json!({"fallbackBrokerURLs": ["mqtt://a", "ftp://b"]})),
        &format!("MQTTClient.fallbackBrokerURLs[1] must be {url}"),
    );
    for qos in [json!(3), json!(-1), json!(1.5), json!("1")] {
        expect(
            base(json!({"qos": qos})),
            "MQTTClient.qos must be 0, 1 or 2",
        );
    }
    expect(
        base(json!({"cleanSession": "yes"})),
        "MQTTClient.cleanSession must be true or false",
    );
    expect(
        base(json!({"isEnabled": 1})),
        "MQTTClient.isEnabled must be true or false",
    );
    for prop in ["name", "username", "password", "clientId"] {
        expect(
            base(json!({ prop: 1 })),
            &format!("MQTTClient.{prop} must be a string"),
        );
    }
}

#[test]
fn validation_applies_to_the_merged_object() {
    let (_dir, store) = open();
    let client = mqtt(&store, json!({"qos": 1})).unwrap();
    assert_eq!(
        invalid(store.update(id(&client), json!({"qos": 7}))),
        "MQTTClient.qos must be 0, 1 or 2"
    );
    assert_eq!(
        invalid(store.update(id(&client), json!({"mainBrokerURL": null}))),
        "MQTTClient.mainBrokerURL is required"
    );
    assert_eq!(
        invalid(store.replace(id(&client), json!({"qos": 1}))),
        "MQTTClient.mainBrokerURL is required"
    );
    // Removing a defaulted property brings the default back.
    let updated = store.update(id(&client), json!({"qos": null})).unwrap();
    assert_eq!(updated["qos"], 0);
    assert_eq!(store.get(id(&client)).unwrap().unwrap()["qos"], 0);
}

#[test]
fn passwords_are_never_read_back() {
    let (_dir, store) = open();
    let client = mqtt(&store, json!({"username": "u", "password": "secret"})).unwrap();
    assert!(!client.contains_key("password"));
    assert_eq!(client["username"], "u");
    assert!(
        !store
            .get(id(&client))
            .unwrap()
            .unwrap()
            .contains_key("password")
    );
    let mut txn = store.begin();
    assert!(
        !txn.get(id(&client))
            .unwrap()
            .unwrap()
            .contains_key("password")
    );
    assert!(
        !txn.update(id(&client), json!({"name": "n"}))
            .unwrap()
            .contains_key("password")
    );
    drop(txn);
    let page = store.query("MQTTClient", &Query::default()).unwrap();
    assert!(!page.result[0].contains_key("password"));
    // Not even by probing with a filter.
    let probe = Query::from_json(&json!({"password": "secret"})).unwrap();
    assert_eq!(store.query("MQTTClient", &probe).unwrap().total, 0);
    let full = store.get_with_secrets(id(&client)).unwrap().unwrap();
    assert_eq!(full["password"], "secret");
}

#[test]
fn passwords_survive_writes_that_omit_them_and_null_removes_them() {
    let (_dir, store) = open();
    let client = mqtt(&store, json!({"password": "secret"})).unwrap();
    let secret = |store: &Store| {
        store
            .get_with_secrets(id(&client))
            .unwrap()
            .unwrap()
            .get("password")
            .cloned()
    };

    // GET, edit, PUT: the password was not in what the user read, and stays.
    let mut read = store.get(id(&client)).unwrap().unwrap();
    read.insert("name".into(), json!("edited"));
    store.replace(id(&client), Value::Object(read)).unwrap();
    assert_eq!(secret(&store), Some(json!("secret")));
    store.update(id(&client), json!({"qos": 2})).unwrap();
    assert_eq!(secret(&store), Some(json!("secret")));

    store
        .replace(
            id(&client),
            json!({"mainBrokerURL": "embedded", "password": "new"}),
        )
        .unwrap();
    assert_eq!(secret(&store), Some(json!("new")));
    store
        .update(id(&client), json!({"password": null}))
        .unwrap();
    assert_eq!(secret(&store), None);
    store
        .update(id(&client), json!({"password": "again"}))
        .unwrap();
    store
        .replace(
            id(&client),
            json!({"mainBrokerURL": "embedded", "password": null}),
        )
        .unwrap();
    assert_eq!(secret(&store), None);
}

#[test]
fn users_cannot_write_connection_status() {
    let (_dir, store) = open();
    let client = mqtt(&store, json!({"isConnected": true, "lastError": "fake"})).unwrap();
    assert_eq!(
        (&client["isConnected"], &client["lastError"]),
        (&json!(false), &Value::Null)
    );
    let updated = store
        .update(
            id(&client),
            json!({"isConnected": true, "lastError": "fake"}),
        )
        .unwrap();
    assert_eq!(
        (&updated["isConnected"], &updated["lastError"]),
        (&json!(false), &Value::Null)
    );
    let replaced = store
        .replace(
            id(&client),
            json!({"mainBrokerURL": "embedded", "isConnected": true}),
        )
        .unwrap();
    assert_eq!(replaced["isConnected"], false);
}

#[test]
fn the_host_sets_status_and_user_writes_keep_it() {
    let (_dir, store) = open();
    let client = mqtt(&store, json!({"name": "c", "qos": 1})).unwrap();
    let mut changes = store.subscribe();
    let status = json!({"isConnected": true, "lastError": "refused"});
    store
        .set_status(id(&client), status.as_object().unwrap().clone())
        .unwrap();
    let change = changes.try_recv().unwrap();
    assert_eq!(
        (change.kind, change.id.as_str()),
        (ChangeKind::Updated, id(&client))
    );

    let read = store.get(id(&client)).unwrap().unwrap();
    assert_eq!(
        (&read["isConnected"], &read["lastError"]),
        (&json!(true), &json!("refused"))
    );
    assert_eq!((&read["name"], &read["qos"]), (&json!("c"), &json!(1)));

    let updated = store.update(id(&client), json!({"name": "d"})).unwrap();
    assert_eq!(updated["isConnected"], true);
    // Also when the user's write was computed before the host changed the status.
    let mut txn = store.begin();
    txn.update(id(&client), json!({"name": "e"})).unwrap();
    let status = json!({"isConnected": false, "lastError": "gone"});
    store
        .set_status(id(&client), status.as_object().unwrap().clone())
        .unwrap();
    txn.commit().unwrap();
    let read = store.get(id(&client)).unwrap().unwrap();
    assert_eq!(
        (&read["name"], &read["lastError"]),
        (&json!("e"), &json!("gone"))
    );
}

#[test]
fn set_status_on_a_deleted_object_does_nothing() {
    let (_dir, store) = open();
    let client = mqtt(&store, json!({})).unwrap();
    store.delete(id(&client)).unwrap();
    let mut changes = store.subscribe();
    let status = json!({"isConnected": true});
    store
        .set_status(id(&client), status.as_object().unwrap().clone())
        .unwrap();
    assert_eq!(store.get(id(&client)).unwrap(), None);
    assert!(changes.try_recv().is_err());
}

#[test]
fn kafka_client_needs_host_port_servers_and_hides_sasl_password() {
    let (_dir, store) = open();
    let kafka = store
        .create(
            "KafkaClient",
            json!({"servers": ["k1:9092", "10.0.0.2:9093"], "groupId": "g",
                   "security.protocol": "SASL_SSL", "sasl.password": "pw"}),
        )
        .unwrap();
    assert_eq!(kafka["isEnabled"], false);
    assert_eq!(kafka["startOffset"], "earliest");
    assert_eq!(kafka["isConnected"], false);
    assert_eq!(kafka["security.protocol"], "SASL_SSL");
    assert!(!kafka.contains_key("sasl.password"));
    assert_eq!(
        store.get_with_secrets(id(&kafka)).unwrap().unwrap()["sasl.password"],
        "pw"
    );

    let expect = |props: Value, message: &str| {
        assert_eq!(
            invalid(store.create("KafkaClient", props.clone())),
            message,
            "{props}"
        );
    };
    expect(json!({}), "KafkaClient.servers is required");
    let list = "KafkaClient.servers must be a non-empty list, each element a `host:port` string";
    expect(json!({"servers": []}), list);
    expect(json!({"servers": "k1:9092"}), list);
    expect(
        json!({"servers": ["k1"]}),
        "KafkaClient.servers[0] must be a `host:port` string",
    );
    expect(
        json!({"servers": ["k1:9092", "k2:x"]}),
        "KafkaClient.servers[1] must be a `host:port` string",
    );
    expect(
        json!({"servers": ["k1:9092"], "groupId": 1}),
        "KafkaClient.groupId must be a string",
    );
    expect(
        json!({"servers": ["k1:9092"], "isEnabled": "no"}),
        "KafkaClient.isEnabled must be true or false",
    );
    expect(
        json!({"servers": ["k1:9092"], "startOffset": "beginning"}),
        "KafkaClient.startOffset must be `earliest` or `latest`",
    );
    expect(
        json!({"servers": ["k1:9092"], "fetch.max.bytes": "1"}),
        "KafkaClient.fetch.max.bytes is not a librdkafka setting Switchyard passes on (it passes \
         security.protocol, sasl.* and ssl.*)",
    );
    expect(
        json!({"servers": ["k1:9092"], "sasl.mechanism": 1}),
        "KafkaClient.sasl.mechanism must be a string",
    );
}

#[test]
fn a_subscriber_topic_must_suit_its_kafka_clients() {
    let (_dir, store) = open();
    let kafka = store
        .create("KafkaClient", json!({"servers": ["k1:9092"]}))
        .unwrap();
    let mqtt = mqtt(&store, json!({})).unwrap();
    let subscriber = |topic: &str, client: &Object| {
        store.create(
            "MessageSubscriber",
            json!({"topic": topic, "callback": "p", "clients": [id(client)]}),
        )
    };
    assert!(subscriber("orders", &kafka).is_ok());
    assert!(subscriber("*", &kafka).is_ok());
    assert!(subscriber("orders/eu", &mqtt).is_ok());
    let refused = invalid(subscriber("orders/eu", &kafka));
    assert!(
        refused.starts_with(&format!(
            "MessageSubscriber.topic cannot be followed by KafkaClient `{}`: `orders/eu` is not \
             a Kafka topic name",
            id(&kafka)
        )),
        "{refused}"
    );
    // Linking a Kafka client later is checked too.
    let linked = subscriber("orders/eu", &mqtt).unwrap();
    let clients = json!({"clients": [id(&mqtt), id(&kafka)]});
    assert!(invalid(store.update(id(&linked), clients)).contains("no levels"));
}

#[test]
fn a_subscriber_topic_must_suit_its_pulsar_clients() {
    let (_dir, store) = open();
    let pulsar = store
        .create("PulsarClient", json!({"servers": ["pulsar://p:6650"]}))
        .unwrap();
    let subscriber = |topic: &str| {
        store.create(
            "MessageSubscriber",
            json!({"topic": topic, "callback": "p", "clients": [id(&pulsar)]}),
        )
    };
    for topic in ["orders", "acme/eu/orders", "*", "acme/eu/*"] {
        assert!(subscriber(topic).is_ok(), "{topic}");
    }
    for (topic, why) in [
        ("orders/eu", "it has one level or three"),
        ("persistent://public/default/orders", "short form, `orders`"),
        ("acme/*/orders", "a topic name has no wildcards"),
    ] {
        let refused = invalid(subscriber(topic));
        assert!(
            refused.starts_with(&format!(
                "MessageSubscriber.topic cannot be followed by PulsarClient `{}`",
                id(&pulsar)
            )) && refused.contains(why),
            "{topic}: {refused}"
        );
    }
}

#[test]
fn pulsar_client_needs_pulsar_urls_and_a_known_subscription_type() {
    let (_dir, store) = open();
    let pulsar = store
        .create(
            "PulsarClient",
            json!({"servers": ["pulsar://p:6650", "pulsar+ssl://p:6651"],
                   "subscription": "s", "subscriptionType": "KeyShared"}),
        )
        .unwrap();
    assert_eq!(pulsar["isEnabled"], false);
    assert_eq!(pulsar["lastError"], Value::Null);
    let with_token = (store.create(
        "PulsarClient",
        json!({"servers": ["pulsar://p"], "token": "jwt"}),
    ))
    .unwrap();
    assert_eq!(with_token.get("token"), None, "the token is write-only");

    let expect = |props: Value, message: &str| {
        assert_eq!(
            invalid(store.create("PulsarClient", props.clone())),
            message,
            "{props}"
        );
    };
    expect(json!({}), "PulsarClient.servers is required");
    expect(
        json!({"servers": ["http://p:6650"]}),
        "PulsarClient.servers[0] must be a `pulsar://` or `pulsar+ssl://` URL with a host",
    );
    expect(
        json!({"servers": ["pulsar://p"], "subscriptionType": "Random"}),
        "PulsarClient.subscriptionType must be one of Exclusive, Shared, Failover, KeyShared",
    );
    expect(
        json!({"servers": ["pulsar://p"], "subscription": 3}),
        "PulsarClient.subscription must be a string",
    );
}

#[test]
fn message_subscriber_checks_topic_and_callback_and_keeps_settings() {
    let (_dir, store) = open();
    let subscriber = store
        .create(
            "MessageSubscriber",
            json!({"topic": "sensors/+/temperature", "callback": "recorder", "threshold": 30}),
        )
        .unwrap();
    assert_eq!(subscriber["clients"], json!([]));
    assert_eq!(subscriber["threshold"], 30);

    let expect = |props: Value, message: &str| {
        assert_eq!(
            invalid(store.create("MessageSubscriber", props.clone())),
            message,
            "{props}"
        );
    };
    expect(
        json!({"callback": "recorder"}),
        "MessageSubscriber.topic is required",
    );
    expect(
        json!({"topic": "a/#"}),
        "MessageSubscriber.callback is required",
    );
    let message = invalid(store.create(
        "MessageSubscriber",
        json!({"topic": "a+/b", "callback": "r"}),
    ));
    assert!(
        message.starts_with("MessageSubscriber.topic `a+/b`"),
        "{message}"
    );
    assert!(message.contains("whole level"), "{message}");
    let plugin = "MessageSubscriber.callback must be a plugin name of 1 to 64 letters, digits, `.`, `_` or `-`";
    for callback in ["", "../etc", "my plugin", &"p".repeat(65)] {
        expect(json!({"topic": "a", "callback": callback}), plugin);
    }
    expect(
        json!({"topic": "a", "callback": "r", "clients": "c1"}),
        "MessageSubscriber.clients must be a list, each element a client id string",
    );
    expect(
        json!({"topic": "a", "callback": "r", "clients": ["c1", 2]}),
        "MessageSubscriber.clients[1] must be a client id string",
    );
}

#[test]
fn failed_messages_and_user_types_take_any_properties() {
    let (_dir, store) = open();
    let failed = store
        .create("FailedMessage", json!({"topic": 5, "attempts": "three"}))
        .unwrap();
    assert_eq!(failed["attempts"], "three");
    let order = store
        .create(
            "Order",
            json!({"password": "shown", "isConnected": true, "nested": {"a": [1]}}),
        )
        .unwrap();
    assert_eq!(order["password"], "shown");
    assert_eq!(order["isConnected"], true);
    assert_eq!(order["nested"], json!({"a": [1]}));
}
