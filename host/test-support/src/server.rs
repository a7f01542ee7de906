//! A running `switchyard serve`, started as a user would start it, and the REST calls the
//! tests make to it ([`Api`]: as the operator, or with a tenant's token).

use crate::{MqttPeer, eventually, free_port};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The `switchyard` binary cargo built beside the test binary running now (tests of the
/// server crate: cargo builds its binary for them), or beside the bench.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary's path");
    let dir = exe.parent().expect("target/<profile>[/deps]");
    let dir = match dir.ends_with("deps") {
        true => dir.parent().expect("target/<profile>"),
        false => dir,
    };
    let binary = dir.join("switchyard");
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// A running `switchyard serve`; its REST calls are its [`Api`]'s, with the token it was
/// started with.
pub struct Server {
    child: Child,
    pub mqtt: SocketAddr,
    pub data: PathBuf,
    log: PathBuf,
    api: Api,
}

/// REST calls to a server with one token (and, for the operator's, a tenant to act in).
#[derive(Clone)]
pub struct Api {
    pub http: SocketAddr,
    pub token: String,
    /// Sent as `X-Tenant`.
    pub tenant: Option<String>,
    client: reqwest::Client,
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Api {
        &mut self.api
    }
}

/// How to start a server.
pub struct Options {
    /// `None`: let the server generate a token and read it from its banner.
    pub token: Option<String>,
    pub plugin_timeout_ms: u64,
    pub http: Option<SocketAddr>,
    pub mqtt: Option<SocketAddr>,
    /// More settings, as environment variables.
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: Some("test-token".into()),
            plugin_timeout_ms: 1000,
            env: Vec::new(),
            http: None,
            mqtt: None,
        }
    }
}

impl Server {
    /// Starts a server with its own data directory under `dir`.
    pub async fn start(dir: &Path) -> Server {
        Server::start_with(dir, Options::default()).await
    }

    pub async fn start_with(dir: &Path, options: Options) -> Server {
        // A port picked here may be handed to another process (as the local port of an
        // outgoing connection) before the server binds it: then the server starts again on
        // others, unless the test chose the ports.
        let data = dir.join("data");
        let fresh = !data.exists();
        for _ in 0..4 {
            match Server::launch(dir, &options).await {
                Ok(server) => return server,
                Err(taken) if options.http.is_none() && options.mqtt.is_none() => {
                    eprintln!("{taken}; starting again on other ports");
                    if fresh {
                        // It made its token before it failed, and never showed it.
                        let _ = std::fs::remove_dir_all(&data);
                    }
                }
                Err(taken) => panic!("{taken}"),
            }
        }
        panic!("the server found its ports taken four times");
    }

    /// Starts the server and waits for its health check; `Err` when it could not bind a port.
    async fn launch(dir: &Path, options: &Options) -> Result<Server, String> {
        let http = options
            .http
            .unwrap_or_else(|| ([127, 0, 0, 1], free_port()).into());
        let mqtt = options
            .mqtt
            .unwrap_or_else(|| ([127, 0, 0, 1], free_port()).into());
        let data = dir.join("data");
        let log = dir.join(format!("server-{}.log", http.port()));
        let log_file = std::fs::File::create(&log).expect("creating the server log");
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .env("SWITCHYARD_DATA", &data)
            .env("SWITCHYARD_HTTP", http.to_string())
            .env("SWITCHYARD_MQTT", mqtt.to_string())
            .env(
                "SWITCHYARD_PLUGIN_TIMEOUT_MS",
                options.plugin_timeout_ms.to_string(),
            )
            .env("NO_COLOR", "1")
            .env_remove("SWITCHYARD_TOKEN")
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        command.envs(options.env.iter().map(|(k, v)| (k, v)));
        if let Some(token) = &options.token {
            command.env("SWITCHYARD_TOKEN", token);
        }
        let child = command.spawn().expect("starting switchyard");
        let mut server = Server {
            child,
            mqtt,
            data,
            log,
            api: Api {
                http,
                token: options.token.clone().unwrap_or_default(),
                tenant: None,
                client: reqwest::Client::new(),
            },
        };
        let health = format!("http://{http}/health");
        let client = server.client.clone();
        let last = std::sync::Mutex::new(String::new());
        let child = &mut server.child;
        let answered = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(status);
                }
                let request = client.get(&health).timeout(Duration::from_secs(5)).send();
                match request.await {
                    Ok(response) if response.status().is_success() => return Ok(()),
                    Ok(response) => *last.lock().unwrap() = response.status().to_string(),
                    Err(e) => *last.lock().unwrap() = format!("{e:?}"),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let answered = answered.await;
        if let Ok(Err(status)) = answered {
            let logs = server.logs();
            let error = logs
                .lines()
                .find(|l| l.starts_with("Error"))
                .unwrap_or("none");
            if logs.contains("Address already in use") {
                return Err(format!("the server found a port taken: {error}"));
            }
            panic!("the server exited ({status}) before answering /health; error: {error}");
        }
        if answered.is_err() {
            let last = last.lock().unwrap().clone();
            let logs = server.logs();
            let error = logs
                .lines()
                .find(|l| l.starts_with("Error"))
                .unwrap_or("none");
            panic!(
                "the server did not answer /health within 60 s; last answer: {last}; error: {error}"
            );
        }
        if server.token.is_empty() {
            // A first start shows the generated token; later starts do not, and the test
            // sets the token it kept.
            server.token = server
                .logs()
                .lines()
                .find_map(|l| l.trim().strip_prefix("auth:      Authorization: Bearer "))
                .filter(|t| !t.starts_with('<'))
                .map(str::to_owned)
                .unwrap_or_default();
        }
        Ok(server)
    }

    /// Kills the server with SIGKILL, as a crash or a power cut would: no shutdown, no flush.
    /// Returns once the process is dead (its ports free again).
    pub fn kill(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        // The main thread turns zombie first; the process's files (the database lock) are
        // released only when its last thread is gone, so wait for that too.
        let dead = || {
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |stat| stat.split_whitespace().nth(2) == Some("Z"));
            let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count);
            zombie && threads <= 1
        };
        while !dead() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Options that start a server again on this one's ports, data and token.
    pub fn same_again(&self) -> Options {
        Options {
            token: Some(self.token.clone()),
            http: Some(self.http),
            mqtt: Some(self.mqtt),
            ..Options::default()
        }
    }

    /// The server process's resident memory, in MiB.
    pub fn rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("reading the server's /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status");
        kib / 1024
    }

    /// Everything the server printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "server did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Api {
    /// The same server with another token.
    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: token.to_owned(),
            tenant: None,
            ..self.clone()
        }
    }

    /// The same server and token, acting in `tenant` (`X-Tenant`).
    pub fn in_tenant(&self, tenant: &str) -> Api {
        Api {
            tenant: Some(tenant.to_owned()),
            ..self.clone()
        }
    }

    /// A request to `path` with the token (and the tenant).
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("http://{}{path}", self.http);
        let request = self.client.request(method, url).bearer_auth(&self.token);
        match &self.tenant {
            Some(tenant) => request.header("x-tenant", tenant),
            None => request,
        }
    }

    /// Sends a request with the token; returns the status and the JSON body (or Null).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Like [`Server::call`], but `None` when the request could not be sent or answered (the
    /// server is gone).
    pub async fn try_post(&self, path: &str, body: Value) -> Option<(StatusCode, Value)> {
        let request = self.request(Method::POST, path).json(&body);
        Some(read(request.send().await.ok()?).await)
    }

    /// Sends a JSON body with the token and extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Adds one to the number `property` of the object at `path` over REST: reads its version,
    /// writes with `If-Match`, and starts over on 409.
    pub async fn increment(&self, path: &str, property: &str) {
        loop {
            let (etag, object) = self.raw_get(path).await;
            let etag = etag.expect("an ETag on every object");
            let count = object[property].as_u64().expect("a number to increment");
            let body = json!({ property: count + 1 });
            let headers = [("if-match", etag.as_str())];
            match self.call_with(Method::PATCH, path, body, &headers).await {
                (StatusCode::OK, _) => return,
                (StatusCode::CONFLICT, _) => continue,
                (other, body) => panic!("unexpected {other}: {body}"),
            }
        }
    }

    /// The sum of the server's `/metrics` samples of `name` whose labels include all of
    /// `labels` (each written as in the exposition, `outcome="ok"`).
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let response = (self.request(Method::GET, "/metrics").send().await).expect("metrics");
        let text = response.text().await.expect("metrics read");
        let series = format!("{name}{{");
        (text.lines())
            .filter(|line| line.starts_with(&series) && labels.iter().all(|l| line.contains(l)))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// GETs `path`; returns its `ETag` header and JSON body.
    pub async fn raw_get(&self, path: &str) -> (Option<String>, Value) {
        let response = (self.request(Method::GET, path).send().await).expect("request sent");
        let etag = (response.headers().get("etag"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (etag, read(response).await.1)
    }

    /// Sends raw bytes with a content type and an optional token.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.http))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// Uploads a `.wasm` file as plugin `name`; panics unless it is accepted.
    pub async fn upload(&self, name: &str, wasm: &Path) -> Value {
        let (status, body) = self.try_upload(name, wasm).await;
        assert!(status.is_success(), "uploading {name}: {status} {body}");
        body
    }

    /// Uploads a `.wasm` file as plugin `name`; returns the answer.
    pub async fn try_upload(&self, name: &str, wasm: &Path) -> (StatusCode, Value) {
        let bytes = std::fs::read(wasm).expect("reading the plugin");
        let request = self.request(Method::PUT, &format!("/api/plugins/{name}"));
        let request = request
            .header("content-type", "application/wasm")
            .body(bytes);
        read(request.send().await.expect("request sent")).await
    }

    /// Creates an object; panics unless it is created. Returns it.
    pub async fn create(&self, type_name: &str, properties: Value) -> Value {
        let (status, body) = self
            .post(&format!("/api/objects/{type_name}"), properties)
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "creating a {type_name}: {body}"
        );
        body
    }

    /// Creates an enabled MQTTClient for `url` and waits until it is connected. Returns its id.
    pub async fn connected_client(&self, properties: Value) -> String {
        let client = self.create("MQTTClient", properties).await;
        let id = client["id"].as_str().expect("client id").to_owned();
        self.wait_connected(&id).await;
        id
    }

    /// Creates an enabled client of the embedded broker, waits for it to connect, and links a
    /// subscriber running `callback` on `topic` to it. Returns the subscriber's id.
    pub async fn subscribe_plugin(&self, callback: &str, topic: &str) -> String {
        let client = self
            .connected_client(json!({"mainBrokerURL": "embedded", "isEnabled": true}))
            .await;
        let subscriber = self
            .create(
                "MessageSubscriber",
                json!({"topic": topic, "callback": callback, "clients": [client]}),
            )
            .await;
        subscriber["id"].as_str().expect("subscriber id").to_owned()
    }

    /// Creates an `MQTTDevice` of this tenant that may use every topic, and connects as it to
    /// the embedded broker at `mqtt`, subscribed to `filters`: a device in this tenant's topic
    /// namespace.
    pub async fn connect_device(
        &self,
        mqtt: SocketAddr,
        username: &str,
        filters: &[&str],
    ) -> MqttPeer {
        let password = format!("{username}-password");
        let device = json!({"username": username, "password": password, "publish": ["#"], "subscribe": ["#"]});
        self.create("MQTTDevice", device).await;
        MqttPeer::connect(mqtt, Some((username, &password)), filters).await
    }

    /// Waits until the client object says it is connected.
    pub async fn wait_connected(&self, id: &str) -> Value {
        let path = format!("/api/objects/MQTTClient/{id}");
        eventually("the client to connect", Duration::from_secs(20), || async {
            let (_, client) = self.get(&path).await;
            (client["isConnected"] == json!(true)).then_some(client)
        })
        .await
    }

    /// Waits until client `id` of type `type_name` satisfies `check` (`what` names the wait);
    /// returns the client object.
    pub async fn client_status(
        &self,
        (type_name, id): (&str, &str),
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/api/objects/{type_name}/{id}");
        let what = format!("the {type_name} {what}");
        eventually(&what, Duration::from_secs(30), || async {
            let (_, client) = self.get(&path).await;
            check(&client).then_some(client)
        })
        .await
    }

    /// Creates a subscriber of `topic` running `callback` on `client`, with `extra` settings.
    pub async fn subscriber(&self, topic: &str, callback: &str, client: &str, extra: Value) {
        let mut subscriber = json!({"topic": topic, "callback": callback, "clients": [client]});
        let fields = subscriber.as_object_mut().expect("an object");
        fields.extend(extra.as_object().expect("extra settings").clone());
        self.create("MessageSubscriber", subscriber).await;
    }

    /// How many `ChaosRecord`s (made by the `chaos` plugin) of `topic` there are for each `n`.
    pub async fn chaos_records(&self, topic: &str) -> std::collections::BTreeMap<u64, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for record in self
            .list("ChaosRecord", &format!("topic={topic}&_limit=100000"))
            .await
        {
            if let Some(n) = record["n"].as_u64() {
                *counts.entry(n).or_default() += 1;
            }
        }
        counts
    }

    /// The `n` of every `ChaosRecord` of `topic`.
    pub async fn chaos_numbers(&self, topic: &str) -> std::collections::BTreeSet<u64> {
        self.chaos_records(topic).await.into_keys().collect()
    }

    /// Lists objects of a type with a query string; returns `result`.
    pub async fn list(&self, type_name: &str, query: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/api/objects/{type_name}?{query}")).await;
        assert_eq!(status, StatusCode::OK, "listing {type_name}: {body}");
        body["result"].as_array().cloned().unwrap_or_default()
    }

    /// Publishes `payload` to `topic` through `device` every 200 ms until listing
    /// `type_name?query` finds something: proves a subscription that may still be settling
    /// is live.
    pub async fn publish_until_stored(
        &self,
        device: &MqttPeer,
        (topic, payload): (&str, &str),
        (type_name, query): (&str, &str),
    ) {
        let what = format!("a {type_name} matching `{query}` after publishing to {topic}");
        eventually(&what, Duration::from_secs(20), || async {
            device.publish(topic, payload).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            (!self.list(type_name, query).await.is_empty()).then_some(())
        })
        .await
    }

    /// Publishes a reading of `sensor` (`{"sensorId", "value"}`, what the `recorder` plugin
    /// stores as a `TemperatureReading`) to `topic` through `device` until it is stored.
    pub async fn record_reading(&self, device: &MqttPeer, topic: &str, sensor: &str) {
        let reading = json!({"sensorId": sensor, "value": 1}).to_string();
        let query = format!("sensorId={sensor}");
        self.publish_until_stored(device, (topic, &reading), ("TemperatureReading", &query))
            .await
    }

    /// A `MessageSubscriber` running `callback` for `topic` on `client`; returns its id.
    pub async fn subscribe_client(&self, client: &str, topic: &str, callback: &str) -> String {
        let subscriber = json!({"topic": topic, "callback": callback, "clients": [client]});
        let created = self.create("MessageSubscriber", subscriber).await;
        created["id"].as_str().expect("a subscriber id").to_owned()
    }

    /// Waits until listing `type_name?query` returns exactly `n` objects; returns them.
    pub async fn wait_for(&self, type_name: &str, query: &str, n: usize) -> Vec<Value> {
        let what = format!("{n} {type_name} objects matching `{query}`");
        eventually(&what, Duration::from_secs(20), || async {
            let found = self.list(type_name, query).await;
            (found.len() == n).then_some(found)
        })
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let logs = self.logs();
            // Request traces would crowd out what went wrong.
            let tail: Vec<&str> = (logs.lines().rev())
                .filter(|l| !l.contains("finished processing request"))
                .take(40)
                .collect();
            eprintln!("--- last lines of the server log ({}):", self.log.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
