//! Starting the event machinery from the configuration: the outbox the
//! operations write to, and the delivery workers with their sinks.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::delivery::{Delivery, DeliveryConfig};
use super::outbox::{self, Outbox};
use super::sinks::webhook::{WebhookSecret, WebhookSink};
use super::sinks::Sink;
use crate::config::EventsArgs;
use crate::store::Store;

/// This node's id: the flag, or the one kept in the data directory (created
/// on first start), so that a restarted node takes its own leases back.
pub fn node_id(args: &EventsArgs, data_dir: &Path) -> String {
    if let Some(id) = &args.node_id {
        return id.clone();
    }
    let path = data_dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let id = format!("node-{}", uuid::Uuid::new_v4());
    if let Err(e) = std::fs::write(&path, &id) {
        tracing::warn!(error = %e, path = %path.display(), "cannot save the node id");
    }
    id
}

/// The outbox and its delivery, ready to spawn.
pub fn build(
    args: &EventsArgs,
    data_dir: &Path,
    store: Arc<dyn Store>,
) -> Result<(Outbox, Delivery), String> {
    let timeout = Duration::from_millis(args.send_timeout_ms);
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    let mut global = Vec::new();
    if let Some(url) = &args.webhook_url {
        let secret = WebhookSecret::parse(args.webhook_secret.as_deref().unwrap_or_default())?;
        sinks.push(Arc::new(WebhookSink::new(url, secret, timeout)?));
        global.push(outbox::WEBHOOK);
        tracing::info!(%url, "events: webhook sink");
    }
    let meeting_targets = args.meeting_targets();
    add_aws_sinks(args, timeout, &mut sinks, &mut global)?;
    let outbox = Outbox::new(global, meeting_targets);
    let cfg = DeliveryConfig {
        node_id: node_id(args, data_dir),
        max_attempts: args.max_attempts,
        retry_base: Duration::from_millis(args.retry_base_ms),
        retry_max: Duration::from_millis(args.retry_max_ms.max(args.retry_base_ms)),
        lease: Duration::from_millis(args.lease_ms.max(1000)),
        retention: Duration::from_secs(args.retention_hours.saturating_mul(3600)),
        ..DeliveryConfig::default()
    };
    tracing::info!(node_id = %cfg.node_id, sinks = ?outbox.sinks(), "events: delivery");
    let delivery = Delivery::new(store, outbox.clone(), sinks, cfg);
    Ok((outbox, delivery))
}

/// The AWS sinks the flags ask for (refused by `EventsArgs::check` when the
/// build has no `aws-sinks` feature).
#[cfg(feature = "aws-sinks")]
fn add_aws_sinks(
    args: &EventsArgs,
    timeout: Duration,
    sinks: &mut Vec<Arc<dyn Sink>>,
    global: &mut Vec<&'static str>,
) -> Result<(), String> {
    use super::sinks::aws::{AwsShared, EventBridgeSink, LambdaSink, SnsSink, SqsSink};
    if args.eventbridge_bus.is_none() && !args.meeting_targets() {
        return Ok(());
    }
    let shared = AwsShared::new(args.aws_endpoint_url.clone(), timeout)?;
    let endpoint = args
        .aws_endpoint_url
        .as_deref()
        .unwrap_or("the AWS SDK's configuration");
    if let Some(bus) = &args.eventbridge_bus {
        let sink = EventBridgeSink::new(shared.clone(), bus, &args.eventbridge_source)?;
        sinks.push(Arc::new(sink));
        global.push(outbox::EVENTBRIDGE);
        tracing::info!(%bus, source = %args.eventbridge_source, %endpoint, "events: EventBridge sink");
    }
    if args.meeting_targets() {
        sinks.push(Arc::new(SqsSink::new(shared.clone())));
        sinks.push(Arc::new(SnsSink::new(shared.clone())));
        sinks.push(Arc::new(LambdaSink::new(shared)));
        tracing::info!(%endpoint, "events: SQS, SNS and Lambda sinks for meetings' NotificationsConfiguration");
    }
    Ok(())
}

#[cfg(not(feature = "aws-sinks"))]
#[allow(clippy::unnecessary_wraps)]
fn add_aws_sinks(
    _args: &EventsArgs,
    _timeout: Duration,
    _sinks: &mut Vec<Arc<dyn Sink>>,
    _global: &mut Vec<&'static str>,
) -> Result<(), String> {
    Ok(())
}
