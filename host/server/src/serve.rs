//! `switchyard serve`: starts the embedded MQTT broker, builds the server through the
//! composition root, serves the REST/admin API, and runs until Ctrl-C or SIGTERM.

use crate::config::Config;
use crate::metrics;
use crate::token::{self, Token};
use anyhow::Context;
use std::io::Write;
use switchyard::Builder;
use switchyard_api::{AppState, Auth};
use switchyard_mqtt::{AuthMode, EmbeddedBroker};

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let render_metrics = metrics::install().context("installing the metrics recorder")?;
    let mut builder = Builder::new(&config.data)
        .limits(config.limits())
        .retention(config.retention())
        .quotas(config.quotas())
        .cache_bytes(config.store_cache_mb << 20)
        .store(config.store.clone())
        .address(format!("http://{}", config.http));
    if let Some(mqtt) = config.mqtt()? {
        builder = builder.mqtt(mqtt).mqtt_hooks(config.mqtt_hooks.clone());
    }
    let switchyard = builder.build()?;
    let (token_hash, token) = token::load(&switchyard.store, config.token.as_deref())?;
    let running = switchyard.start();

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| format!("binding the HTTP API to {}", config.http))?;
    let state = AppState::new(switchyard.dispatcher.clone(), Auth::from_hash(token_hash))
        .with_metrics(render_metrics, config.metrics_public)
        .with_mqtt(switchyard.mqtt.clone())
        .with_lifecycle(switchyard.lifecycle.clone(), switchyard.feeds.clone());
    banner(&config, &listener, switchyard.mqtt.as_ref(), &token)?;
    let closing = state.closing();
    axum::serve(listener, switchyard_api::router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            closing.cancel();
        })
        .await
        .context("serving the HTTP API")?;

    tracing::info!("shutting down");
    running.stop().await
}

/// Tells the user where everything listens and how to authenticate.
fn banner(
    config: &Config,
    http: &tokio::net::TcpListener,
    mqtt: Option<&EmbeddedBroker>,
    token: &Token,
) -> anyhow::Result<()> {
    let http = http.local_addr()?;
    println!("Switchyard {}", env!("CARGO_PKG_VERSION"));
    println!("  data:      {}", config.data.display());
    if let Some(url) = &config.store {
        println!(
            "  store:     {}",
            switchyard_store::Store::postgres_location(url)
        );
    }
    println!("  admin UI:  http://{http}/   (sign in with the token)");
    println!(
        "  REST API:  http://{http}/api   (health: http://{http}/health, docs: http://{http}/api/docs)"
    );
    match mqtt {
        Some(broker) => {
            let bound = broker.listeners();
            let auth = match broker.auth_mode() {
                AuthMode::Required => "devices authenticate as MQTTDevice objects",
                AuthMode::Off => "devices without credentials get in (--mqtt-auth off)",
            };
            println!("  MQTT:      embedded broker, {auth}");
            let urls = [
                (bound.tcp, "mqtt", ""),
                (bound.tls, "mqtts", ""),
                (bound.ws, "ws", "/mqtt"),
                (bound.wss, "wss", "/mqtt"),
            ];
            for (addr, scheme, path) in urls {
                if let Some(addr) = addr {
                    println!("             {scheme}://{addr}{path}");
                }
            }
        }
        None => println!("  MQTT:      embedded broker off"),
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
