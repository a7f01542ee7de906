//! The process-wide metrics recorder behind `/metrics`: Prometheus text, kept in memory.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Duration;
use switchyard_api::RenderMetrics;

/// Bucket bounds of the duration histograms, in seconds: 50 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// How often samples recorded since the last scrape are folded into the histograms, so they
/// take bounded memory whether or not anyone scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the recorder; call it before anything records, or those handles stay no-ops.
pub fn install() -> anyhow::Result<RenderMetrics> {
    let handle: PrometheusHandle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .install_recorder()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(std::sync::Arc::new(move || handle.render()))
}
