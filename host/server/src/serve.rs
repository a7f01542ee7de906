//! Wires the parts together and runs them until Ctrl-C or SIGTERM.

use crate::config::Config;
use crate::metrics;
use crate::token::{self, Token};
use anyhow::Context;
use std::io::Write;
use std::sync::Arc;
use switchyard_api::{AppState, Auth};
use switchyard_dispatch::{Brokers, Dispatcher};
use switchyard_kafka::KafkaBroker;
use switchyard_mqtt::{EmbeddedBroker, MqttBroker};
use switchyard_pulsar::PulsarBroker;
use switchyard_runtime::Runtime;
use switchyard_store::Store;
use tokio::task::JoinHandle;

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let render_metrics = metrics::install().context("installing the metrics recorder")?;
    let store = Store::open(&config.data)
        .with_context(|| format!("opening the database in {}", config.data.display()))?;
    let (token_hash, token) = token::load(&store, config.token.as_deref())?;
    let runtime = Runtime::new(store.clone(), config.limits()).context("starting the runtime")?;
    let brokers = Brokers::new(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), runtime, brokers.clone(), config.retention())
        .context("opening the retry queue")?;
    let retries = tokio::spawn({
        let dispatcher = dispatcher.clone();
        async move { dispatcher.run_retries().await }
    });

    let embedded = match config.mqtt.0 {
        Some(addr) => Some(
            EmbeddedBroker::start(addr, config.mqtt_ws.0)
                .with_context(|| format!("starting the embedded MQTT broker on {addr}"))?,
        ),
        None => None,
    };
    let mqtt = Arc::new(switchyard_mqtt::manager(
        store.clone(),
        Arc::new(dispatcher.clone()),
        embedded.as_ref().map(EmbeddedBroker::tcp_addr),
    ));
    brokers.register(MqttBroker::CLIENT_TYPE, mqtt.clone());
    let kafka = Arc::new(switchyard_kafka::manager(
        store.clone(),
        Arc::new(dispatcher.clone()),
    ));
    brokers.register(KafkaBroker::CLIENT_TYPE, kafka.clone());
    let pulsar = Arc::new(switchyard_pulsar::manager(
        store.clone(),
        Arc::new(dispatcher.clone()),
    ));
    brokers.register(PulsarBroker::CLIENT_TYPE, pulsar.clone());
    let clients = [
        tokio::spawn(mqtt.clone().run()),
        tokio::spawn(kafka.clone().run()),
        tokio::spawn(pulsar.clone().run()),
    ];

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("binding the HTTP API to {}", config.http))?;
    let state = AppState::new(dispatcher, Auth::from_hash(token_hash))
        .with_metrics(render_metrics, config.metrics_public);
    banner(&config, &listener, &token)?;
    let closing = state.closing();
    axum::serve(listener, switchyard_api::router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            closing.cancel();
        })
        .await
        .context("serving the HTTP API")?;

    tracing::info!("shutting down");
    clients.iter().for_each(JoinHandle::abort);
    retries.abort();
    tokio::join!(mqtt.shutdown(), kafka.shutdown(), pulsar.shutdown());
    store.flush()?;
    Ok(())
}

/// Tells the user where everything listens and how to authenticate.
fn banner(config: &Config, http: &tokio::net::TcpListener, token: &Token) -> anyhow::Result<()> {
    let http = http.local_addr()?;
    println!("Switchyard {}", env!("CARGO_PKG_VERSION"));
    println!("  data:      {}", config.data.display());
    println!("  admin UI:  http://{http}/   (sign in with the token)");
    println!(
        "  REST API:  http://{http}/api   (health: http://{http}/health, docs: http://{http}/api/docs)"
    );
    match config.mqtt.0 {
        Some(addr) => println!("  MQTT:      mqtt://{addr} (embedded broker)"),
        None => println!("  MQTT:      embedded broker off"),
    }
    if let Some(addr) = config.mqtt_ws.0 {
        println!("  MQTT/WS:   ws://{addr}/mqtt");
    }
    match token {
        Token::Configured => {
            println!("  auth:      Authorization: Bearer <the token you configured>")
        }
        Token::Generated(t) => {
            println!("  auth:      Authorization: Bearer {t}");
            println!("             (generated now and shown only this once; stored hashed)")
        }
        Token::Stored => println!(
            "  auth:      Authorization: Bearer <the token printed at first start>\n             (lost it? start with --token or SWITCHYARD_TOKEN to set a new one)"
        ),
    }
    std::io::stdout().flush()?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
