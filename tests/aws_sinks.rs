//! The AWS sinks of meeting events (feature `aws-sinks`):
//!
//! - Lambda `Invoke` against a small local stub of Lambda's Invoke route
//!   (moto runs functions only with a container engine);
//! - EventBridge (a rule on `source: aws.chime` to an SQS queue; in the
//!   burst, to a CloudWatch Logs group), SQS and SNS (subscribed by an SQS
//!   queue; in the burst, by an HTTP endpoint of the test) against moto's
//!   server mode. moto comes from
//!   PyPI (`moto[server]`): the test uses the server at `CONVENE_MOTO_URL`, or
//!   starts `moto_server` (from `CONVENE_MOTO_SERVER`, else `.ci/run`'s
//!   virtualenv `target/ci-venv` when it exists, else the PATH). When
//!   there is none it says so loudly, and fails under `CI=true`; `.ci/run`
//!   installs moto first.
#![cfg(feature = "aws-sinks")]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{new_token, Server};
use serde_json::Value;

/// Credentials for the SDK's own chain in the server (moto and the stub take any).
fn fake_aws_env() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_ENDPOINT_URL");
}

async fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    for _ in 0..secs * 20 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn kind(v: &Value) -> String {
    v["detail"]["eventType"].as_str().unwrap_or("").to_string()
}

/// Creates a meeting with these notification targets, adds and deletes an
/// attendee, and deletes the meeting: four events.
async fn meeting_story(
    c: &aws_sdk_chimesdkmeetings::Client,
    ext: &str,
    n: aws_sdk_chimesdkmeetings::types::NotificationsConfiguration,
) -> String {
    let mid = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("eu-west-1")
        .external_meeting_id(ext)
        .notifications_configuration(n)
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
        .meeting_id
        .unwrap();
    let aid = common::add_attendee(c, &mid, &format!("{ext}-user")).await;
    c.delete_attendee()
        .meeting_id(&mid)
        .attendee_id(&aid)
        .send()
        .await
        .unwrap();
    c.delete_meeting().meeting_id(&mid).send().await.unwrap();
    mid
}

const STORY: [&str; 4] = [
    "chime:MeetingStarted",
    "chime:AttendeeAdded",
    "chime:AttendeeDeleted",
    "chime:MeetingEnded",
];

/// Checks that each meeting got its four events, once each, in order.
///
/// Delivery is at least once (README, "Meeting events"): a send that timed
/// out after the service took it is sent again, and a slow moto (10 s
/// without an answer) makes that happen. A copy has the same `detail`, also
/// through EventBridge, whose envelope id is new for every PutEvents, so
/// copies of an event already seen are dropped first.
fn check_per_meeting(envelopes: &[Value], meetings: &[String]) {
    let events = without_copies(envelopes);
    let mut by_meeting: HashMap<String, Vec<String>> = HashMap::new();
    for e in &events {
        let mid = e["detail"]["meetingId"].as_str().unwrap().to_string();
        by_meeting.entry(mid).or_default().push(kind(e));
    }
    for m in meetings {
        assert_eq!(
            by_meeting.get(m).map(Vec::as_slice).unwrap_or_default(),
            STORY,
            "events of meeting {m}"
        );
    }
    assert_eq!(events.len(), meetings.len() * STORY.len());
}

/// `envelopes` in the order they came, without the copies of an event sent
/// again (the same `detail`).
fn without_copies(envelopes: &[Value]) -> Vec<&Value> {
    let mut seen = HashSet::new();
    envelopes
        .iter()
        .filter(|e| seen.insert(e["detail"].to_string()))
        .collect()
}

// ---- Lambda, against a stub of the Invoke route -----------------------------

#[derive(Default)]
struct LambdaStub {
    /// (function name in the path, invocation type, payload) in arrival order.
    calls: Mutex<Vec<(String, String, Value)>>,
    /// Answer 500 to this many calls first.
    fail_first: Mutex<u32>,
}

impl LambdaStub {
    /// Serves the Invoke route on a free port, failing the first `fail_first`
    /// calls; answers the stub and its URL.
    async fn start(fail_first: u32) -> (Arc<LambdaStub>, String) {
        let stub = Arc::new(LambdaStub::default());
        *stub.fail_first.lock().unwrap() = fail_first;
        let app = axum::Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (stub, url)
    }

    /// The payloads received, in arrival order.
    fn envelopes(&self) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, v)| v.clone())
            .collect()
    }
}

/// `POST /2015-03-31/functions/{FunctionName}/invocations`, as Lambda's API has it.
async fn invoke(
    State(stub): State<Arc<LambdaStub>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, &'static str) {
    {
        let mut fail = stub.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"message":"try later"}"#,
            );
        }
    }
    let kind = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        headers.get("authorization").is_some(),
        "the call is SigV4-signed"
    );
    let v: Value = serde_json::from_str(&body).expect("the payload is the JSON envelope");
    stub.calls.lock().unwrap().push((name, kind, v));
    // An asynchronous invocation is accepted with 202 and no body.
    (StatusCode::ACCEPTED, "")
}

#[tokio::test]
async fn lambda_invoke_gets_every_event_in_order() {
    fake_aws_env();
    let (stub, url) = LambdaStub::start(2).await;

    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        dir.path(),
        &[
            "--events-aws-endpoint-url",
            &url,
            "--events-retry-base-ms",
            "50",
            "--events-retry-max-ms",
            "200",
        ],
    );
    let c = s.client_in("us-west-2");
    let arn = "arn:aws:lambda:us-west-2:111122223333:function:on-meeting-event";
    let mut meetings = Vec::new();
    for i in 0..3 {
        let n = aws_sdk_chimesdkmeetings::types::NotificationsConfiguration::builder()
            .lambda_function_arn(arn)
            .build();
        meetings.push(meeting_story(&c, &format!("lambda-{i}"), n).await);
    }
    wait_for("12 invocations", 30, || {
        stub.calls.lock().unwrap().len() >= 12
    })
    .await;
    let calls = stub.calls.lock().unwrap().clone();
    for (name, kind, v) in &calls {
        assert_eq!(name, arn, "FunctionName is the ARN");
        assert_eq!(kind, "Event", "asynchronous invocation");
        assert_eq!(v["source"], "aws.chime");
        assert_eq!(v["detail-type"], "Chime Meeting State Change");
        assert_eq!(v["region"], "us-west-2", "the meeting's control region");
    }
    let envelopes: Vec<Value> = calls.into_iter().map(|(_, _, v)| v).collect();
    check_per_meeting(&envelopes, &meetings);
}

// ---- EventBridge, SQS and SNS, against moto ---------------------------------

struct Moto {
    url: String,
    child: Option<Child>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `moto_server` to start: `CONVENE_MOTO_SERVER`, else the one in the
/// virtualenv `.ci/run` makes (`target/ci-venv`) when there is one, else the
/// PATH's. An older moto on the PATH (5.2.1 was seen) crawls through the
/// 10,000-event burst; the venv has the release `.ci/run` installed.
fn moto_server() -> String {
    if let Ok(bin) = std::env::var("CONVENE_MOTO_SERVER") {
        return bin;
    }
    let venv =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/moto_server");
    if venv.is_file() {
        return venv.display().to_string();
    }
    "moto_server".into()
}

/// moto at CONVENE_MOTO_URL, or a `moto_server` started on a free port.
async fn moto() -> Option<Moto> {
    if let Ok(url) = std::env::var("CONVENE_MOTO_URL") {
        return Some(Moto { url, child: None });
    }
    let bin = moto_server();
    eprintln!("aws_sinks: starting {bin}");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = match Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            common::missing_input(
                "aws_sinks moto test",
                &format!(
                    "cannot start {bin} ({e}): pip install 'moto[server]', or set CONVENE_MOTO_URL"
                ),
            );
            return None;
        }
    };
    let m = Moto {
        url: format!("http://127.0.0.1:{port}"),
        child: Some(child),
    };
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(m);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{bin} did not listen on port {port}");
}

async fn sdk(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// Every message of the queue, bodies parsed (deleted once read).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str, into: &mut Vec<Value>) {
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let msgs = out.messages();
        if msgs.is_empty() {
            return;
        }
        for m in msgs {
            into.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

/// What the moto tests deliver to: a queue named by `SqsQueueArn`, a bus whose
/// rule (on `source: aws.chime` and the detail type) routes to a second
/// queue, and a topic with a third queue subscribed (raw delivery).
struct MotoTargets {
    sqs: aws_sdk_sqs::Client,
    bus: String,
    topic: String,
    direct_url: String,
    direct_arn: String,
    rule_url: String,
    sub_url: String,
}

impl MotoTargets {
    /// Makes them on moto, named with `prefix` and a fresh token.
    async fn make(moto: &Moto, prefix: &str) -> MotoTargets {
        let conf = sdk(&moto.url).await;
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let sns = aws_sdk_sns::Client::new(&conf);
        let eb = aws_sdk_eventbridge::Client::new(&conf);
        let tag = new_token();
        let (direct_url, direct_arn) = queue(&sqs, &format!("{prefix}direct-{tag}")).await;
        let (rule_url, rule_arn) = queue(&sqs, &format!("{prefix}rule-{tag}")).await;
        let (sub_url, sub_arn) = queue(&sqs, &format!("{prefix}sub-{tag}")).await;
        let bus = format!("{prefix}bus-{tag}");
        eb.create_event_bus().name(&bus).send().await.unwrap();
        eb.put_rule()
            .event_bus_name(&bus)
            .name("chime")
            .event_pattern(
                r#"{"source":["aws.chime"],"detail-type":["Chime Meeting State Change"]}"#,
            )
            .send()
            .await
            .unwrap();
        eb.put_targets()
            .event_bus_name(&bus)
            .rule("chime")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("q")
                    .arn(&rule_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let topic = sns
            .create_topic()
            .name(format!("{prefix}topic-{tag}"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&sub_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        MotoTargets {
            sqs,
            bus,
            topic,
            direct_url,
            direct_arn,
            rule_url,
            sub_url,
        }
    }

    /// A meeting's notification targets: the direct queue and the topic.
    fn notifications(&self) -> aws_sdk_chimesdkmeetings::types::NotificationsConfiguration {
        aws_sdk_chimesdkmeetings::types::NotificationsConfiguration::builder()
            .sqs_queue_arn(&self.direct_arn)
            .sns_topic_arn(&self.topic)
            .build()
    }
}

#[tokio::test]
async fn eventbridge_sqs_and_sns_on_moto() {
    fake_aws_env();
    let Some(moto) = moto().await else { return };
    let t = MotoTargets::make(&moto, "").await;
    let MotoTargets {
        sqs,
        bus,
        direct_url,
        rule_url,
        sub_url,
        ..
    } = &t;
    // No --events-aws-endpoint-url: the sinks find each service's endpoint
    // through the AWS SDK's own configuration, here its per-service
    // environment variables, as a deployment to real AWS would configure it
    // (the burst below uses the flag).
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_env(
        dir.path(),
        &[
            "--events-eventbridge-bus",
            bus,
            "--events-meeting-targets",
            "true",
        ],
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL_SQS", &moto.url),
            ("AWS_ENDPOINT_URL_SNS", &moto.url),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", &moto.url),
        ],
    );
    let c = s.client_in("us-east-1");
    let mut meetings = Vec::new();
    for i in 0..3 {
        meetings.push(meeting_story(&c, &format!("moto-{i}"), t.notifications()).await);
    }
    let want = meetings.len() * STORY.len();
    let (mut direct, mut ruled, mut subbed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..600 {
        drain(sqs, direct_url, &mut direct).await;
        drain(sqs, rule_url, &mut ruled).await;
        drain(sqs, sub_url, &mut subbed).await;
        if [&direct, &ruled, &subbed]
            .iter()
            .all(|got| without_copies(got).len() >= want)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // SQS and SNS carry the envelope whole.
    check_per_meeting(&direct, &meetings);
    check_per_meeting(&subbed, &meetings);
    for e in direct.iter().chain(&subbed) {
        assert_eq!(e["source"], "aws.chime");
        assert_eq!(e["region"], "us-east-1");
    }
    // EventBridge wraps the detail in its own envelope, which the rule matched.
    check_per_meeting(&ruled, &meetings);
    for e in &ruled {
        assert_eq!(e["source"], "aws.chime");
        assert_eq!(e["detail-type"], "Chime Meeting State Change");
        assert_eq!(
            e["region"], "us-east-1",
            "put in the meeting's control region"
        );
        assert!(e["detail"]["eventType"].is_string(), "{e}");
    }
}

// ---- a burst across 100 meetings, through every AWS sink -----------------

/// 100 meetings with these notification targets, each started and given
/// `per_meeting` attendees; each meeting's expected events in order.
async fn burst(
    c: &aws_sdk_chimesdkmeetings::Client,
    n: &aws_sdk_chimesdkmeetings::types::NotificationsConfiguration,
    per_meeting: usize,
) -> HashMap<String, Vec<String>> {
    common::meetings_with_attendees(c, "us-east-1", "burst-", Some(n), 100, per_meeting).await
}

fn check_burst(sink: &str, envelopes: &[Value], expected: &HashMap<String, Vec<String>>) {
    let got = common::event_labels(envelopes);
    let total: usize = got.values().map(Vec::len).sum();
    let want: usize = expected.values().map(Vec::len).sum();
    assert_eq!(total, want, "{sink}: distinct events");
    for (mid, want) in expected {
        assert_eq!(
            got.get(mid),
            Some(want),
            "{sink}: meeting {mid}'s events, in order"
        );
    }
}

/// How many distinct events these envelopes hold (a copy sent again counts once).
fn distinct(envelopes: &[Value]) -> usize {
    common::event_labels(envelopes).values().map(Vec::len).sum()
}

/// When readers last saw something new. Readers of one burst share it: a
/// queue late in the sink's order may wait longer than five minutes for its
/// first event on a slow machine while the others fill, and only a sink that
/// delivers nowhere has stalled.
#[derive(Clone)]
struct Progress(Arc<Mutex<std::time::Instant>>);

impl Progress {
    fn new() -> Progress {
        Progress(Arc::new(Mutex::new(std::time::Instant::now())))
    }
    fn saw_new(&self) {
        *self.0.lock().unwrap() = std::time::Instant::now();
    }
    fn idle(&self) -> Duration {
        self.0.lock().unwrap().elapsed()
    }
}

/// Calls `read`, which answers everything received so far, until that holds
/// `want` distinct events (`envelope` finds each item's envelope), pausing
/// `pause` between calls. Fails when five minutes pass with nothing new for
/// any reader sharing `progress`: a sink that stalled, not one that is slow.
async fn read_until<T, F, Fut>(
    what: &str,
    want: usize,
    pause: Duration,
    progress: Progress,
    envelope: fn(&T) -> &Value,
    mut read: F,
) -> Vec<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let mut seen = 0;
    loop {
        let got = read().await;
        let envelopes: Vec<Value> = got.iter().map(|t| envelope(t).clone()).collect();
        if distinct(&envelopes) >= want {
            return got;
        }
        if got.len() > seen {
            seen = got.len();
            progress.saw_new();
        }
        assert!(
            progress.idle() < Duration::from_secs(300),
            "{what}: only {} received for {want} events, nothing new anywhere for 5 minutes",
            got.len()
        );
        tokio::time::sleep(pause).await;
    }
}

/// Keeps reading a queue, as one consumer, 10 messages a receive and one
/// batch delete each, until `want` distinct events came (so the queue stays
/// short: moto's receive and send cost grows with the queue's length).
/// Duplicates count once: delivery is at least once, and a slow moto can
/// answer after the sink's timeout, so the sink sends again. Receives wait
/// (long polling) when the queue is empty, and a receive that got fewer than
/// 10 is followed by a short pause, so that idle readers do not take moto's
/// time from the senders.
async fn drain_until(
    sqs: aws_sdk_sqs::Client,
    url: String,
    want: usize,
    progress: Progress,
) -> Vec<Value> {
    let got = Arc::new(Mutex::new(Vec::new()));
    read_until(
        &url.clone(),
        want,
        Duration::ZERO,
        progress,
        |v| v,
        || {
            let (sqs, url, got) = (sqs.clone(), url.clone(), got.clone());
            async move {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(2)
                    .send()
                    .await
                    .unwrap();
                let msgs = out.messages();
                if !msgs.is_empty() {
                    let mut batch = sqs.delete_message_batch().queue_url(&url);
                    for (i, m) in msgs.iter().enumerate() {
                        let envelope = serde_json::from_str(m.body().unwrap()).unwrap();
                        got.lock().unwrap().push(envelope);
                        batch = batch.entries(
                            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(m.receipt_handle().unwrap())
                                .build()
                                .unwrap(),
                        );
                    }
                    batch.send().await.unwrap();
                    if msgs.len() < 10 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                let all = got.lock().unwrap().clone();
                all
            }
        },
    )
    .await
}

/// Events per sink in the moto burst: 10,000 (100 meetings, each started and
/// given 99 attendees); `CONVENE_MOTO_BURST_EVENTS` sets another count (at
/// least one per meeting). Moto's SQS looks at every message of a queue for
/// each message it takes in or hands out, so its cost per message grows with
/// the queue's backlog: each meeting has a queue of its own, read as the
/// burst runs, so that no queue holds more than one meeting's events. Only
/// the SQS sink goes through queues (SNS delivers over HTTP to the test, the
/// rules to CloudWatch Logs).
fn moto_burst_per_meeting() -> usize {
    let events: usize = std::env::var("CONVENE_MOTO_BURST_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    (events / 100).max(1) - 1
}

/// Groups of meetings in the moto burst, each with its own topic and rule
/// (below); every meeting has its own queue.
const GROUPS: usize = 10;
/// Meetings per group.
const PER_GROUP: usize = 100 / GROUPS;

/// One group's targets on moto: a queue for each of its meetings (named by
/// its `SqsQueueArn`: URL and ARN), a topic with an HTTP endpoint of the test
/// subscribed ([`SnsReceiver`]), and a rule on the shared bus that matches the
/// group's meetings by external id prefix and routes to a CloudWatch Logs
/// group.
struct BurstGroup {
    queues: Vec<(String, String)>,
    topic: String,
    log_group: String,
}

/// One CloudWatch Logs call to moto (JSON protocol; moto takes the service
/// from the credential scope and checks no signature), as a plain HTTP/1.1
/// request: the SDK's Logs crate is not a dependency for this alone.
async fn moto_logs(moto_url: &str, action: &str, body: Value) -> Value {
    let addr = moto_url.trim_start_matches("http://").to_string();
    let action = action.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let body = body.to_string();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: Logs_20140328.{action}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=testing/20261130/us-east-1/logs/aws4_request, SignedHeaders=host, \
             Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, rest) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{action}: {out}");
        serde_json::from_str(rest).unwrap_or(Value::Null)
    })
    .await
    .unwrap()
}

/// Every event a rule put in this log group, in the order they came: moto
/// writes each to a new stream and, not interleaved, lists the streams in the
/// order it made them. Waits until `want` distinct events came, failing after
/// 5 minutes without a new one.
async fn log_events_until(moto_url: &str, group: &str, want: usize) -> Vec<Value> {
    read_until(
        group,
        want,
        Duration::from_secs(2),
        Progress::new(),
        |v| v,
        || async {
            let mut got = Vec::new();
            let mut token = None::<String>;
            loop {
                let mut req = serde_json::json!({"logGroupName": group});
                if let Some(t) = &token {
                    req["nextToken"] = t.clone().into();
                }
                let out = moto_logs(moto_url, "FilterLogEvents", req).await;
                for e in out["events"].as_array().unwrap() {
                    got.push(serde_json::from_str(e["message"].as_str().unwrap()).unwrap());
                }
                match out["nextToken"].as_str() {
                    Some(t) => token = Some(t.to_string()),
                    None => return got,
                }
            }
        },
    )
    .await
}

/// The HTTP endpoint the burst's topics deliver to: moto POSTs each
/// notification (JSON, whose `Message` is what was published) to
/// `/sns/{group}` as it publishes, before it answers the publisher, so the
/// arrival order here is the publish order. moto confirms HTTP subscriptions
/// at once (no `SubscriptionConfirmation` round trip). This keeps moto's SQS,
/// whose cost per message grows with the queue, off the SNS path.
#[derive(Default)]
struct SnsReceiver {
    /// (group in the path, topic ARN, the published envelope) in arrival order.
    got: Mutex<Vec<(usize, String, Value)>>,
    /// Bodies that were not a notification carrying a JSON message.
    bad: Mutex<Vec<String>>,
}

impl SnsReceiver {
    /// Serves `/sns/{group}` on a free port; answers the receiver and its URL.
    async fn start() -> (Arc<SnsReceiver>, String) {
        let r = Arc::new(SnsReceiver::default());
        let app = axum::Router::new()
            .route("/sns/{group}", post(sns_notification))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    /// Waits until `want` distinct events came, failing on a malformed
    /// notification or after 5 minutes without a new one; answers them all.
    async fn wait(&self, want: usize) -> Vec<(usize, String, Value)> {
        read_until(
            "SNS",
            want,
            Duration::from_millis(500),
            Progress::new(),
            |t: &(usize, String, Value)| &t.2,
            || async {
                let bad = self.bad.lock().unwrap().clone();
                assert!(bad.is_empty(), "malformed SNS notifications: {bad:?}");
                self.got.lock().unwrap().clone()
            },
        )
        .await
    }
}

/// `POST /sns/{group}`: one SNS notification, as moto sends it over HTTP.
async fn sns_notification(
    State(r): State<Arc<SnsReceiver>>,
    Path(group): Path<usize>,
    body: String,
) -> StatusCode {
    let parsed = serde_json::from_str::<Value>(&body).ok().and_then(|n| {
        if n["Type"] != "Notification" {
            return None;
        }
        let envelope = serde_json::from_str(n["Message"].as_str()?).ok()?;
        Some((n["TopicArn"].as_str()?.to_string(), envelope))
    });
    if let Some((topic, envelope)) = parsed {
        r.got.lock().unwrap().push((group, topic, envelope));
        StatusCode::OK
    } else {
        r.bad.lock().unwrap().push(body);
        StatusCode::BAD_REQUEST
    }
}

/// The burst's targets, one set per group. Why several: moto's SQS scans the
/// whole queue for every message it takes in or hands out, so a long queue
/// makes each call slower (it grows with the square of the backlog). With one
/// queue per group and sink, and one reader per queue, no queue gets long.
/// Only the SQS sink goes through a queue: the topics deliver over HTTP to
/// `sns_url` (a [`SnsReceiver`]), and the rules to a log group per group
/// (moto has no SNS target for rules, and its API destinations send no body).
/// The rules pass each event on whole (`<aws.events.event.json>`) through an
/// input transformer with one path: what reaches the log group is the same as
/// without one, and moto evaluates one JSONPath per event instead of the
/// eight of its default target input (about 20 ms per event here).
async fn burst_targets(moto: &Moto, bus: &str, sns_url: &str) -> Vec<BurstGroup> {
    let conf = sdk(&moto.url).await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let eb = aws_sdk_eventbridge::Client::new(&conf);
    eb.create_event_bus().name(bus).send().await.unwrap();
    let tag = new_token();
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let mut queues = Vec::new();
        for m in 0..PER_GROUP {
            queues.push(queue(&sqs, &format!("bd{g}-{m}-{tag}")).await);
        }
        let log_group = format!("bl{g}-{tag}");
        moto_logs(
            &moto.url,
            "CreateLogGroup",
            serde_json::json!({"logGroupName": log_group}),
        )
        .await;
        let rule = format!("chime-{g}");
        eb.put_rule()
            .event_bus_name(bus)
            .name(&rule)
            .event_pattern(
                serde_json::json!({
                    "source": ["aws.chime"],
                    "detail-type": ["Chime Meeting State Change"],
                    "detail": {"externalMeetingId": [{"prefix": format!("burst-{g}-")}]},
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        eb.put_targets()
            .event_bus_name(bus)
            .rule(&rule)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("logs")
                    .arn(format!(
                        "arn:aws:logs:us-east-1:123456789012:log-group:{log_group}"
                    ))
                    .input_transformer(
                        aws_sdk_eventbridge::types::InputTransformer::builder()
                            .input_paths_map("meeting", "$.detail.meetingId")
                            .input_template("<aws.events.event.json>")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let topic = sns
            .create_topic()
            .name(format!("bt{g}-{tag}"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("http")
            .endpoint(format!("{sns_url}/sns/{g}"))
            .send()
            .await
            .unwrap();
        groups.push(BurstGroup {
            queues,
            topic,
            log_group,
        });
    }
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_across_100_meetings_reaches_eventbridge_sqs_and_sns_complete_and_in_order() {
    fake_aws_env();
    let Some(moto) = moto().await else { return };
    let bus = format!("bbus-{}", new_token());
    let (sns_in, sns_url) = SnsReceiver::start().await;
    let groups = burst_targets(&moto, &bus, &sns_url).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk(&moto.url).await);
    let per_meeting = moto_burst_per_meeting();
    let per_group = PER_GROUP * (per_meeting + 1);
    // Readers run during the burst, one per queue, as consumers would.
    let mut readers = Vec::new();
    let progress = Progress::new();
    for g in &groups {
        for (url, _) in &g.queues {
            let task = tokio::spawn(drain_until(
                sqs.clone(),
                url.clone(),
                per_meeting + 1,
                progress.clone(),
            ));
            readers.push(("SQS", task));
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        dir.path(),
        &[
            "--rate-limit",
            "0",
            "--events-aws-endpoint-url",
            &moto.url,
            "--events-eventbridge-bus",
            &bus,
        ],
    );
    let c = s.client_in("us-east-1");
    let started = std::time::Instant::now();
    let mut makers = Vec::new();
    for (g, t) in groups.iter().enumerate() {
        for (m, (_, arn)) in t.queues.iter().enumerate() {
            let n = aws_sdk_chimesdkmeetings::types::NotificationsConfiguration::builder()
                .sqs_queue_arn(arn)
                .sns_topic_arn(&t.topic)
                .build();
            let c = c.clone();
            makers.push(tokio::spawn(async move {
                common::meetings_with_attendees(
                    &c,
                    "us-east-1",
                    &format!("burst-{g}-{m}-"),
                    Some(&n),
                    1,
                    per_meeting,
                )
                .await
            }));
        }
    }
    let mut expected = HashMap::new();
    for m in makers {
        expected.extend(m.await.unwrap());
    }
    let made = started.elapsed();
    let mut got: HashMap<&str, Vec<Value>> = HashMap::new();
    for (sink, task) in readers {
        got.entry(sink).or_default().extend(task.await.unwrap());
    }
    let sqs_done = started.elapsed();
    let total: usize = expected.values().map(Vec::len).sum();
    for g in &groups {
        let ruled = log_events_until(&moto.url, &g.log_group, per_group).await;
        got.entry("EventBridge rule to CloudWatch Logs")
            .or_default()
            .extend(ruled);
    }
    let rules_done = started.elapsed();
    let notified = sns_in.wait(total).await;
    for (g, topic, _) in &notified {
        assert_eq!(topic, &groups[*g].topic, "SNS: the group's topic");
    }
    got.insert(
        "SNS to HTTP",
        notified.into_iter().map(|(_, _, v)| v).collect(),
    );
    eprintln!(
        "aws burst: {total} changes across {} meetings made in {made:?}; all of them read back \
         from EventBridge, SQS and SNS after {:?} (SQS complete after {sqs_done:?}, the rules' \
         log groups after {rules_done:?})",
        expected.len(),
        started.elapsed()
    );
    assert_eq!(got.len(), 3);
    for (sink, envelopes) in &got {
        check_burst(sink, envelopes, &expected);
    }
    for e in &got["EventBridge rule to CloudWatch Logs"] {
        assert_eq!(e["source"], "aws.chime", "{e}");
        assert_eq!(e["detail-type"], "Chime Meeting State Change", "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_10000_changes_reaches_lambda_complete_and_in_order() {
    fake_aws_env();
    // A short outage at the start: the retries must keep each meeting's order.
    let (stub, url) = LambdaStub::start(20).await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        dir.path(),
        &[
            "--rate-limit",
            "0",
            "--events-aws-endpoint-url",
            &url,
            "--events-retry-base-ms",
            "50",
            "--events-retry-max-ms",
            "200",
        ],
    );
    let n = aws_sdk_chimesdkmeetings::types::NotificationsConfiguration::builder()
        .lambda_function_arn("arn:aws:lambda:us-east-1:111122223333:function:burst")
        .build();
    let expected = burst(&s.client_in("us-east-1"), &n, 99).await;
    wait_for("10,000 invocations", 300, || {
        distinct(&stub.envelopes()) >= 10_000
    })
    .await;
    check_burst("Lambda", &stub.envelopes(), &expected);
}
