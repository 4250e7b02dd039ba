//! The AWS sinks, through the official AWS SDK for Rust crates (feature
//! `aws-sinks`):
//!
//! - EventBridge `PutEvents` to the configured bus, for every event of every
//!   meeting, in the meeting's control region (the envelope's `region`).
//!   `Source` and `DetailType` are the envelope's (the source can be changed
//!   for a real bus, where `aws.` sources are reserved); `Detail` is the
//!   envelope's `detail`. EventBridge gives the event its own id, time and account.
//! - SQS `SendMessage` to a meeting's `SqsQueueArn`: the queue URL comes from
//!   `GetQueueUrl` with the queue name and owner account of the ARN (kept
//!   once found). The body is the envelope.
//! - SNS `Publish` to a meeting's `SnsTopicArn`, the envelope as the message.
//! - Lambda `Invoke` with `InvocationType=Event` (asynchronous) to a
//!   meeting's `LambdaFunctionArn`, the envelope as the payload.
//!
//! SQS, SNS and Lambda calls go to the ARN's region. FIFO queues and topics
//! (`.fifo`) get the meeting id as message group and the event id as
//! deduplication id, so that they keep the per-meeting order too.
//!
//! Endpoint and credentials: one endpoint for every service when
//! `--events-aws-endpoint-url` is set (moto, LocalStack), otherwise the SDK's
//! own configuration chain (environment, profile, container or instance
//! role). The SDK's own retries are off: delivery retries with its backoff and
//! keeps the order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::super::outbox;
use super::Sink;
use crate::store::{BoxFuture, StoredEvent};

/// The region used where no meeting or ARN names one (never for sending).
const FALLBACK_REGION: &str = "us-east-1";

/// What the AWS sinks share: the SDK configuration (loaded at the first send)
/// and one client per service and region.
pub struct AwsShared {
    endpoint_url: Option<String>,
    timeout: Duration,
    config: OnceCell<SdkConfig>,
    eventbridge: Mutex<HashMap<String, aws_sdk_eventbridge::Client>>,
    sqs: Mutex<HashMap<String, aws_sdk_sqs::Client>>,
    sns: Mutex<HashMap<String, aws_sdk_sns::Client>>,
    lambda: Mutex<HashMap<String, aws_sdk_lambda::Client>>,
    /// Queue ARN → queue URL, from GetQueueUrl.
    queue_urls: Mutex<HashMap<String, String>>,
}

impl AwsShared {
    /// `endpoint_url`: one endpoint for every AWS service, else the SDK's chain.
    pub fn new(endpoint_url: Option<String>, timeout: Duration) -> Result<Arc<Self>, String> {
        if let Some(url) = &endpoint_url {
            check_endpoint_url(url)?;
        }
        Ok(Arc::new(AwsShared {
            endpoint_url,
            timeout,
            config: OnceCell::new(),
            eventbridge: Mutex::default(),
            sqs: Mutex::default(),
            sns: Mutex::default(),
            lambda: Mutex::default(),
            queue_urls: Mutex::default(),
        }))
    }

    async fn sdk_config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .region(
                        aws_config::meta::region::RegionProviderChain::default_provider()
                            .or_else(FALLBACK_REGION),
                    )
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .operation_timeout(self.timeout)
                            .connect_timeout(self.timeout)
                            .build(),
                    );
                if let Some(url) = &self.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            })
            .await
    }
}

/// `--events-aws-endpoint-url` must be an http(s) URL.
pub fn check_endpoint_url(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("--events-aws-endpoint-url {url:?} is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(()),
        _ => Err(format!(
            "--events-aws-endpoint-url {url:?} must be an http:// or https:// URL with a host"
        )),
    }
}

/// A lock that a panicking holder did not spoil (the maps stay consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One client per region, built from the shared configuration on first use.
macro_rules! client_for {
    ($shared:expr, $map:ident, $krate:ident, $region:expr) => {{
        let sdk = $shared.sdk_config().await;
        lock(&$shared.$map)
            .entry($region.to_string())
            .or_insert_with(|| {
                let conf = $krate::config::Builder::from(sdk)
                    .region(Region::new($region.to_string()))
                    .build();
                $krate::Client::from_conf(conf)
            })
            .clone()
    }};
}

/// The parts of an ARN (`arn:partition:service:region:account:resource`).
#[derive(Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(arn: &'a str, service: &str) -> Result<Arn<'a>, String> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(_), Some(svc), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(format!("{arn:?} is not an ARN"));
        };
        if svc != service || region.is_empty() || resource.is_empty() {
            return Err(format!("{arn:?} is not an {service} ARN with a region"));
        }
        Ok(Arn {
            service: svc,
            region,
            account,
            resource,
        })
    }
}

/// The envelope of a stored event.
fn envelope(event: &StoredEvent) -> Result<Value, String> {
    serde_json::from_str(&event.body).map_err(|e| format!("stored event is not JSON: {e}"))
}

/// EventBridge `PutEvents` of every event to one bus.
pub struct EventBridgeSink {
    shared: Arc<AwsShared>,
    bus: String,
    source: String,
}

impl EventBridgeSink {
    /// The bus (a name or an ARN) and the source must not be empty.
    pub fn check(bus: &str, source: &str) -> Result<(), String> {
        if bus.trim().is_empty() {
            return Err("--events-eventbridge-bus must name a bus (or its ARN)".into());
        }
        if source.trim().is_empty() {
            return Err("--events-eventbridge-source must not be empty".into());
        }
        Ok(())
    }

    pub fn new(shared: Arc<AwsShared>, bus: &str, source: &str) -> Result<Self, String> {
        Self::check(bus, source)?;
        Ok(EventBridgeSink {
            shared,
            bus: bus.to_string(),
            source: source.to_string(),
        })
    }

    async fn send(&self, event: &StoredEvent) -> Result<(), String> {
        let env = envelope(event)?;
        let region = env["region"].as_str().unwrap_or(FALLBACK_REGION);
        let detail = env
            .get("detail")
            .cloned()
            .unwrap_or(Value::Null)
            .to_string();
        let resources: Vec<String> = env["resources"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let detail_type = env["detail-type"]
            .as_str()
            .unwrap_or(super::super::envelope::DETAIL_TYPE);
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(detail_type)
            .detail(detail)
            .set_resources(Some(resources))
            .build();
        let client = client_for!(self.shared, eventbridge, aws_sdk_eventbridge, region);
        let out = client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| sdk_error("EventBridge PutEvents", &e))?;
        if out.failed_entry_count() > 0 {
            let why = out.entries().first().map_or_else(
                || "no reason given".to_string(),
                |e| {
                    format!(
                        "{}: {}",
                        e.error_code().unwrap_or("?"),
                        e.error_message().unwrap_or("")
                    )
                },
            );
            return Err(format!("EventBridge PutEvents refused the event: {why}"));
        }
        Ok(())
    }
}

impl Sink for EventBridgeSink {
    fn kind(&self) -> &'static str {
        outbox::EVENTBRIDGE
    }

    fn deliver<'a>(
        &'a self,
        _target: &'a str,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.send(event))
    }
}

/// SQS `SendMessage` to the meeting's queue.
pub struct SqsSink {
    shared: Arc<AwsShared>,
}

impl SqsSink {
    pub fn new(shared: Arc<AwsShared>) -> Self {
        SqsSink { shared }
    }

    async fn queue_url(
        &self,
        client: &aws_sdk_sqs::Client,
        arn: &Arn<'_>,
        full: &str,
    ) -> Result<String, String> {
        let cached = lock(&self.shared.queue_urls).get(full).cloned();
        if let Some(url) = cached {
            return Ok(url);
        }
        let mut req = client.get_queue_url().queue_name(arn.resource);
        if !arn.account.is_empty() {
            req = req.queue_owner_aws_account_id(arn.account);
        }
        let out = req
            .send()
            .await
            .map_err(|e| sdk_error("SQS GetQueueUrl", &e))?;
        let url = out
            .queue_url()
            .ok_or("SQS GetQueueUrl answered no QueueUrl")?
            .to_string();
        lock(&self.shared.queue_urls).insert(full.to_string(), url.clone());
        Ok(url)
    }

    async fn send(&self, target: &str, event: &StoredEvent) -> Result<(), String> {
        let arn = Arn::parse(target, "sqs")?;
        let client = client_for!(self.shared, sqs, aws_sdk_sqs, arn.region);
        let url = self.queue_url(&client, &arn, target).await?;
        let mut req = client
            .send_message()
            .queue_url(url)
            .message_body(&event.body);
        if is_fifo(arn.resource) {
            req = req
                .message_group_id(&event.meeting_id)
                .message_deduplication_id(&event.id);
        }
        req.send()
            .await
            .map_err(|e| sdk_error("SQS SendMessage", &e))?;
        Ok(())
    }
}

impl Sink for SqsSink {
    fn kind(&self) -> &'static str {
        outbox::SQS
    }

    fn deliver<'a>(
        &'a self,
        target: &'a str,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.send(target, event))
    }
}

/// SNS `Publish` to the meeting's topic.
pub struct SnsSink {
    shared: Arc<AwsShared>,
}

impl SnsSink {
    pub fn new(shared: Arc<AwsShared>) -> Self {
        SnsSink { shared }
    }

    async fn send(&self, target: &str, event: &StoredEvent) -> Result<(), String> {
        let arn = Arn::parse(target, "sns")?;
        let client = client_for!(self.shared, sns, aws_sdk_sns, arn.region);
        let mut req = client.publish().topic_arn(target).message(&event.body);
        if is_fifo(arn.resource) {
            req = req
                .message_group_id(&event.meeting_id)
                .message_deduplication_id(&event.id);
        }
        req.send().await.map_err(|e| sdk_error("SNS Publish", &e))?;
        Ok(())
    }
}

impl Sink for SnsSink {
    fn kind(&self) -> &'static str {
        outbox::SNS
    }

    fn deliver<'a>(
        &'a self,
        target: &'a str,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.send(target, event))
    }
}

/// Lambda `Invoke` (asynchronous) of the meeting's function.
pub struct LambdaSink {
    shared: Arc<AwsShared>,
}

impl LambdaSink {
    pub fn new(shared: Arc<AwsShared>) -> Self {
        LambdaSink { shared }
    }

    async fn send(&self, target: &str, event: &StoredEvent) -> Result<(), String> {
        let arn = Arn::parse(target, "lambda")?;
        let client = client_for!(self.shared, lambda, aws_sdk_lambda, arn.region);
        let out = client
            .invoke()
            .function_name(target)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(event.body.as_bytes()))
            .send()
            .await
            .map_err(|e| sdk_error("Lambda Invoke", &e))?;
        if let Some(err) = out.function_error() {
            return Err(format!("Lambda Invoke: function error {err}"));
        }
        Ok(())
    }
}

impl Sink for LambdaSink {
    fn kind(&self) -> &'static str {
        outbox::LAMBDA
    }

    fn deliver<'a>(
        &'a self,
        target: &'a str,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.send(target, event))
    }
}

/// A FIFO queue or topic: its name ends with the (lowercase) `.fifo` suffix.
fn is_fifo(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, suffix)| suffix == "fifo")
}

/// An SDK error with its causes, for the delivery log and the dead letters.
fn sdk_error<E: std::error::Error>(call: &str, e: &E) -> String {
    format!("{call}: {}", error_chain(e))
}

fn error_chain<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let a = Arn::parse("arn:aws:sqs:eu-west-1:111122223333:events.fifo", "sqs").unwrap();
        assert_eq!(
            a,
            Arn {
                service: "sqs",
                region: "eu-west-1",
                account: "111122223333",
                resource: "events.fifo"
            }
        );
        let l = Arn::parse(
            "arn:aws:lambda:us-east-1:111122223333:function:f:live",
            "lambda",
        )
        .unwrap();
        assert_eq!(l.resource, "function:f:live");
        assert!(Arn::parse("arn:aws:sns:us-east-1:1:t", "sqs").is_err());
        assert!(Arn::parse("nope", "sqs").is_err());
        assert!(Arn::parse("arn:aws:sqs::1:q", "sqs").is_err());
    }

    #[test]
    fn endpoint_urls() {
        assert!(check_endpoint_url("http://127.0.0.1:5000").is_ok());
        assert!(check_endpoint_url("https://localstack:4566/").is_ok());
        assert!(check_endpoint_url("ftp://x").is_err());
        assert!(check_endpoint_url("127.0.0.1:5000").is_err());
        assert!(check_endpoint_url("not a url").is_err());
    }
}
