//! The AWS sinks, through the official AWS SDK for Rust crates (feature
//! `aws-sinks`):
//!
//! - EventBridge `PutEvents` to the configured bus, for every event of every
//!   meeting, in the meeting's control region (the envelope's `region`).
//!   `Source` and `DetailType` are the envelope's (the source can be changed
//!   for a real bus, where `aws.` sources are reserved); `Detail` is the
//!   envelope's `detail`. EventBridge gives the event its own id, time and account.
//! - SQS `SendMessageBatch` to a meeting's `SqsQueueArn`: the queue URL comes
//!   from `GetQueueUrl` with the queue name and owner account of the ARN (kept
//!   once found). The body is the envelope.
//! - SNS `PublishBatch` to a meeting's `SnsTopicArn`, the envelope as the message.
//! - Lambda `Invoke` with `InvocationType=Event` (asynchronous) to a
//!   meeting's `LambdaFunctionArn`, the envelope as the payload, one event a call.
//!
//! EventBridge, SQS and SNS take up to 10 of a stream's next events in one
//! call, and fewer when their sizes add up to more than 256 KiB. Each of these
//! APIs answers per entry; the sink reports how many entries, from the first,
//! were taken, and delivery sends the rest again from the first refused one.
//!
//! SQS, SNS and Lambda calls go to the ARN's region. FIFO queues and topics
//! (`.fifo`) get the meeting id as message group and the event id as
//! deduplication id on every entry, so that they keep the per-meeting order too.
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
use super::{fitting, Acked, Sink};
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

    /// The entry of one event, and its size as EventBridge counts it.
    fn entry(
        &self,
        event: &StoredEvent,
    ) -> Result<(aws_sdk_eventbridge::types::PutEventsRequestEntry, usize), String> {
        let env = envelope(event)?;
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
        let size = self.source.len()
            + detail_type.len()
            + detail.len()
            + resources.iter().map(String::len).sum::<usize>();
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(detail_type)
            .detail(detail)
            .set_resources(Some(resources))
            .build();
        Ok((entry, size))
    }

    /// One `PutEvents` of as many of the events as fit it, in the region of
    /// their meeting (a batch is one stream's, so one meeting's).
    async fn send(&self, events: &[StoredEvent]) -> Acked {
        let Some(first) = events.first() else {
            return Acked::all(0);
        };
        let region = match envelope(first) {
            Ok(env) => env["region"]
                .as_str()
                .unwrap_or(FALLBACK_REGION)
                .to_string(),
            Err(e) => return Acked::failed(0, e),
        };
        let mut entries = Vec::new();
        let mut sizes = Vec::new();
        for (i, ev) in events.iter().take(EVENTBRIDGE_MAX_ENTRIES).enumerate() {
            match self.entry(ev) {
                Ok((entry, size)) => {
                    entries.push(entry);
                    sizes.push(size);
                }
                // Send the ones before it; this one is refused next time.
                Err(e) if i == 0 => return Acked::failed(0, e),
                Err(_) => break,
            }
        }
        let n = fitting(sizes, EVENTBRIDGE_MAX_ENTRIES, EVENTBRIDGE_MAX_BYTES);
        entries.truncate(n);
        let client = client_for!(self.shared, eventbridge, aws_sdk_eventbridge, region);
        let out = match client.put_events().set_entries(Some(entries)).send().await {
            Ok(out) => out,
            Err(e) => return Acked::failed(0, sdk_error("EventBridge PutEvents", &e)),
        };
        // The answer's entries are in the order of the request's.
        let answers = out.entries();
        acked_prefix(n, |i| match answers.get(i) {
            Some(a) if a.error_code().is_none() && a.event_id().is_some() => None,
            Some(a) => Some(format!(
                "EventBridge PutEvents refused the event: {}: {}",
                a.error_code().unwrap_or("?"),
                a.error_message().unwrap_or("")
            )),
            None => Some("EventBridge PutEvents answered no entry for the event".into()),
        })
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
        Box::pin(async move { one(self.send(std::slice::from_ref(event)).await) })
    }

    fn max_batch(&self) -> usize {
        EVENTBRIDGE_MAX_ENTRIES
    }

    fn deliver_batch<'a>(
        &'a self,
        _target: &'a str,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Acked> {
        Box::pin(self.send(events))
    }
}

/// SQS `SendMessageBatch` to the meeting's queue.
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

    /// One `SendMessageBatch` of as many of the events as fit it; entry `i`
    /// has the id `i`.
    async fn send(&self, target: &str, events: &[StoredEvent]) -> Acked {
        let arn = match Arn::parse(target, "sqs") {
            Ok(arn) => arn,
            Err(e) => return Acked::failed(0, e),
        };
        let client = client_for!(self.shared, sqs, aws_sdk_sqs, arn.region);
        let url = match self.queue_url(&client, &arn, target).await {
            Ok(url) => url,
            Err(e) => return Acked::failed(0, e),
        };
        let n = fitting(
            events.iter().map(|e| e.body.len()),
            SQS_MAX_ENTRIES,
            SQS_MAX_BYTES,
        );
        let fifo = is_fifo(arn.resource);
        let mut req = client.send_message_batch().queue_url(url);
        for (i, ev) in events[..n].iter().enumerate() {
            let mut entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&ev.body);
            if fifo {
                entry = entry
                    .message_group_id(&ev.meeting_id)
                    .message_deduplication_id(&ev.id);
            }
            match entry.build() {
                Ok(entry) => req = req.entries(entry),
                Err(e) => return Acked::failed(0, format!("SQS SendMessageBatch entry: {e}")),
            }
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) => return Acked::failed(0, sdk_error("SQS SendMessageBatch", &e)),
        };
        acked_prefix(n, |i| {
            let id = i.to_string();
            if out.successful().iter().any(|s| s.id() == id) {
                return None;
            }
            Some(out.failed().iter().find(|f| f.id() == id).map_or_else(
                || "SQS SendMessageBatch answered nothing for the event".to_string(),
                |f| {
                    format!(
                        "SQS SendMessageBatch refused the event: {}: {}",
                        f.code(),
                        f.message().unwrap_or("")
                    )
                },
            ))
        })
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
        Box::pin(async move { one(self.send(target, std::slice::from_ref(event)).await) })
    }

    fn max_batch(&self) -> usize {
        SQS_MAX_ENTRIES
    }

    fn deliver_batch<'a>(
        &'a self,
        target: &'a str,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Acked> {
        Box::pin(self.send(target, events))
    }
}

/// SNS `PublishBatch` to the meeting's topic.
pub struct SnsSink {
    shared: Arc<AwsShared>,
}

impl SnsSink {
    pub fn new(shared: Arc<AwsShared>) -> Self {
        SnsSink { shared }
    }

    /// One `PublishBatch` of as many of the events as fit it; entry `i` has
    /// the id `i`.
    async fn send(&self, target: &str, events: &[StoredEvent]) -> Acked {
        let arn = match Arn::parse(target, "sns") {
            Ok(arn) => arn,
            Err(e) => return Acked::failed(0, e),
        };
        let client = client_for!(self.shared, sns, aws_sdk_sns, arn.region);
        let n = fitting(
            events.iter().map(|e| e.body.len()),
            SNS_MAX_ENTRIES,
            SNS_MAX_BYTES,
        );
        let fifo = is_fifo(arn.resource);
        let mut req = client.publish_batch().topic_arn(target);
        for (i, ev) in events[..n].iter().enumerate() {
            let mut entry = aws_sdk_sns::types::PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .message(&ev.body);
            if fifo {
                entry = entry
                    .message_group_id(&ev.meeting_id)
                    .message_deduplication_id(&ev.id);
            }
            match entry.build() {
                Ok(entry) => req = req.publish_batch_request_entries(entry),
                Err(e) => return Acked::failed(0, format!("SNS PublishBatch entry: {e}")),
            }
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) => return Acked::failed(0, sdk_error("SNS PublishBatch", &e)),
        };
        acked_prefix(n, |i| {
            let id = i.to_string();
            if out.successful().iter().any(|s| s.id() == Some(id.as_str())) {
                return None;
            }
            Some(out.failed().iter().find(|f| f.id() == id).map_or_else(
                || "SNS PublishBatch answered nothing for the event".to_string(),
                |f| {
                    format!(
                        "SNS PublishBatch refused the event: {}: {}",
                        f.code(),
                        f.message().unwrap_or("")
                    )
                },
            ))
        })
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
        Box::pin(async move { one(self.send(target, std::slice::from_ref(event)).await) })
    }

    fn max_batch(&self) -> usize {
        SNS_MAX_ENTRIES
    }

    fn deliver_batch<'a>(
        &'a self,
        target: &'a str,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Acked> {
        Box::pin(self.send(target, events))
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

/// The limits of one batch call, in entries and in bytes of all entries
/// together (256 KiB each; a smaller batch is always accepted).
const EVENTBRIDGE_MAX_ENTRIES: usize = 10;
const EVENTBRIDGE_MAX_BYTES: usize = 256 * 1024;
const SQS_MAX_ENTRIES: usize = 10;
const SQS_MAX_BYTES: usize = 256 * 1024;
const SNS_MAX_ENTRIES: usize = 10;
const SNS_MAX_BYTES: usize = 256 * 1024;

/// The acknowledged prefix of a batch of `sent` entries, from what the
/// service said of each entry (`refused(i)`: why entry `i` was not taken).
fn acked_prefix(sent: usize, refused: impl Fn(usize) -> Option<String>) -> Acked {
    for i in 0..sent {
        if let Some(why) = refused(i) {
            return Acked::failed(i, why);
        }
    }
    Acked::all(sent)
}

/// A batch of one, as a single send's result.
fn one(acked: Acked) -> Result<(), String> {
    match acked {
        Acked {
            count: 1,
            error: None,
        } => Ok(()),
        Acked { error: Some(e), .. } => Err(e),
        Acked { count, .. } => Err(format!("{count} events acknowledged of 1")),
    }
}

/// A FIFO queue or topic: its name ends with the (lowercase) `.fifo` suffix.
fn is_fifo(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, suffix)| suffix == "fifo")
}

/// An SDK error with its causes, for the delivery log and the dead letters.
fn sdk_error<E: std::error::Error>(call: &str, e: &E) -> String {
    format!("{call}: {}", crate::telemetry::error_chain(e))
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
