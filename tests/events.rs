//! Meeting events: AWS's envelope, the transactional outbox, ordered
//! at-least-once delivery to a Standard Webhooks receiver, through failures
//! and a kill -9.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use common::{new_token, Server};
use hmac::{Hmac, Mac};
use serde_json::Value;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct Receiver {
    /// (webhook-id, envelope) in arrival order, duplicates included.
    got: Mutex<Vec<(String, Value)>>,
    /// Answer 500 while set.
    failing: AtomicBool,
    refused: AtomicUsize,
    /// Milliseconds to wait before answering.
    delay_ms: AtomicUsize,
}

impl Receiver {
    fn events(&self) -> Vec<(String, Value)> {
        self.got.lock().unwrap().clone()
    }

    /// Each distinct event once, in order of first arrival.
    fn distinct(&self) -> Vec<Value> {
        let mut seen = HashSet::new();
        self.events()
            .into_iter()
            .filter(|(id, _)| seen.insert(id.clone()))
            .map(|(_, v)| v)
            .collect()
    }
}

fn check_signature(headers: &HeaderMap, body: &str) -> Result<String, String> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or(format!("no {n}"))
    };
    let id = h("webhook-id")?;
    let ts = h("webhook-timestamp")?;
    let sig = h("webhook-signature")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    if sig != want {
        return Err(format!("bad signature {sig}"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - ts.parse::<i64>().unwrap()).abs() > 300 {
        return Err("stale timestamp".into());
    }
    Ok(id)
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> StatusCode {
    let delay = r.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    if r.failing.load(Ordering::SeqCst) {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let id = match check_signature(&headers, &body) {
        Ok(id) => id,
        Err(e) => panic!("webhook signature: {e}"),
    };
    let v: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(v["id"], id, "webhook-id is the envelope id");
    r.got.lock().unwrap().push((id, v));
    StatusCode::NO_CONTENT
}

/// Starts a receiver on `port` (0: any); returns it and its URL.
async fn start_receiver_on(port: u16) -> (Arc<Receiver>, String, tokio::task::JoinHandle<()>) {
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (r, url, task)
}

fn start_server(dir: &std::path::Path, url: &str, extra: &[&str]) -> Server {
    // The secret only ever travels through the environment.
    std::env::set_var("CONVENE_EVENTS_WEBHOOK_SECRET", SECRET);
    let mut args = vec![
        "--events-webhook-url",
        url,
        "--events-retry-base-ms",
        "50",
        "--events-retry-max-ms",
        "300",
    ];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args)
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

async fn create_meeting(c: &aws_sdk_chimesdkmeetings::Client, ext: &str) -> String {
    common::create_meeting_in(c, "eu-west-1", ext).await
}

#[tokio::test]
async fn control_plane_events_in_aws_envelope() {
    let (r, url, _t) = start_receiver_on(0).await;
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path(), &url, &[]);
    let c = s.client_in("us-west-2");
    let mid = create_meeting(&c, "ext-1").await;
    let a = c
        .create_attendee()
        .meeting_id(&mid)
        .external_user_id("alice")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    let aid = a.attendee_id.unwrap();
    c.batch_create_attendee()
        .meeting_id(&mid)
        .attendees(
            aws_sdk_chimesdkmeetings::types::CreateAttendeeRequestItem::builder()
                .external_user_id("bob")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    c.start_meeting_transcription()
        .meeting_id(&mid)
        .transcription_configuration(
            aws_sdk_chimesdkmeetings::types::TranscriptionConfiguration::builder()
                .engine_transcribe_settings(
                    aws_sdk_chimesdkmeetings::types::EngineTranscribeSettings::builder()
                        .language_code("en-US".into())
                        .region("us-east-1".into())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.stop_meeting_transcription()
        .meeting_id(&mid)
        .send()
        .await
        .unwrap();
    c.delete_attendee()
        .meeting_id(&mid)
        .attendee_id(&aid)
        .send()
        .await
        .unwrap();
    c.delete_meeting().meeting_id(&mid).send().await.unwrap();
    wait_for("7 events", 20, || r.distinct().len() >= 7).await;
    let got = r.distinct();
    let kinds: Vec<String> = got.iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            "chime:MeetingStarted",
            "chime:AttendeeAdded",
            "chime:AttendeeAdded",
            "chime:TranscriptionStarted",
            "chime:TranscriptionStopped",
            "chime:AttendeeDeleted",
            "chime:MeetingEnded"
        ]
    );
    for e in &got {
        assert_eq!(e["version"], "0");
        assert_eq!(e["source"], "aws.chime");
        assert_eq!(e["detail-type"], "Chime Meeting State Change");
        assert_eq!(e["account"], common::ACCOUNT);
        assert_eq!(e["region"], "us-west-2", "the meeting's control region");
        assert_eq!(e["resources"], serde_json::json!([]));
        let t = e["time"].as_str().unwrap();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
        let d = &e["detail"];
        assert_eq!(d["version"], "0");
        assert_eq!(d["meetingId"], mid.as_str());
        assert_eq!(d["externalMeetingId"], "ext-1");
        assert_eq!(d["mediaRegion"], "eu-west-1");
        assert!(d["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    }
    assert_eq!(got[1]["detail"]["attendeeId"], aid.as_str());
    assert_eq!(got[1]["detail"]["externalUserId"], "alice");
    assert_eq!(got[2]["detail"]["externalUserId"], "bob");
    assert_eq!(got[3]["detail"]["transcriptionRegion"], "us-east-1");
    let conf: Value = serde_json::from_str(
        got[3]["detail"]["transcriptionConfiguration"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(conf.to_string().contains("en-US"), "{conf}");
    assert_eq!(got[5]["detail"]["attendeeId"], aid.as_str());
    assert!(got[0]["detail"].get("attendeeId").is_none());
    // Replaying CreateMeeting's token does not start it again.
    assert_eq!(
        r.events().len(),
        7,
        "each event exactly once with a healthy receiver"
    );
}

/// Changes `meetings` meetings with `per_meeting` attendees each, a few
/// meetings at a time; returns each meeting's expected event kinds and
/// external user ids in order.
async fn make_changes(
    c: &aws_sdk_chimesdkmeetings::Client,
    meetings: usize,
    per_meeting: usize,
) -> HashMap<String, Vec<String>> {
    common::meetings_with_attendees(c, "eu-west-1", "m", None, meetings, per_meeting).await
}

/// Every expected event arrived, each meeting's in order (first arrivals).
fn check_per_meeting_order(got: &[Value], expected: &HashMap<String, Vec<String>>) {
    let per = common::event_labels(got);
    for (mid, want) in expected {
        assert_eq!(per.get(mid), Some(want), "meeting {mid}'s events, in order");
    }
}

#[tokio::test]
async fn failing_receiver_gets_everything_in_order_once_it_recovers() {
    let (r, url, _t) = start_receiver_on(0).await;
    r.failing.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path(), &url, &[]);
    let c = s.client();
    let expected = make_changes(&c, 6, 15).await;
    wait_for("failed tries", 20, || r.refused.load(Ordering::SeqCst) > 20).await;
    r.failing.store(false, Ordering::SeqCst);
    let total: usize = expected.values().map(Vec::len).sum();
    wait_for("every event", 60, || r.distinct().len() >= total).await;
    let got = r.distinct();
    assert_eq!(got.len(), total);
    check_per_meeting_order(&got, &expected);
}

#[tokio::test]
async fn kill_dash_9_between_change_and_delivery_loses_nothing() {
    // The receiver is down while the changes are made: every event is
    // committed and none delivered when the server is killed.
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let mut s = start_server(dir.path(), &url, &[]);
    let c = s.client();
    let mut expected = make_changes(&c, 4, 10).await;
    s.kill_hard();

    // Now the receiver is up, and slow: the restarted server is killed
    // again in the middle of delivering.
    let (r, _, _t) = start_receiver_on(port).await;
    r.delay_ms.store(10, Ordering::SeqCst);
    let mut s = start_server(dir.path(), &url, &[]);
    let more = make_changes(&s.client(), 2, 10).await;
    expected.extend(more);
    wait_for("some events", 30, || r.distinct().len() >= 10).await;
    s.kill_hard();
    let before = r.distinct().len();
    let total: usize = expected.values().map(Vec::len).sum();
    assert!(before < total, "killed in the middle ({before} of {total})");

    r.delay_ms.store(0, Ordering::SeqCst);
    let _s = start_server(dir.path(), &url, &[]);
    wait_for("every event", 60, || r.distinct().len() >= total).await;
    let got = r.distinct();
    assert_eq!(got.len(), total);
    check_per_meeting_order(&got, &expected);
}

#[tokio::test]
async fn an_event_never_acknowledged_is_dead_lettered_and_the_stream_moves_on() {
    let (r, url, _t) = start_receiver_on(0).await;
    r.failing.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path(), &url, &["--events-max-attempts", "2"]);
    let c = s.client();
    let mid = create_meeting(&c, "dead").await;
    wait_for("two tries", 20, || r.refused.load(Ordering::SeqCst) >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    r.failing.store(false, Ordering::SeqCst);
    c.create_attendee()
        .meeting_id(&mid)
        .external_user_id("after")
        .send()
        .await
        .unwrap();
    wait_for("the next event", 20, || !r.distinct().is_empty()).await;
    let got = r.distinct();
    assert_eq!(
        kind(&got[0]),
        "chime:AttendeeAdded",
        "MeetingStarted was dead-lettered"
    );
    assert_eq!(
        r.refused.load(Ordering::SeqCst),
        2,
        "exactly the configured tries"
    );
}

#[test]
fn webhook_url_without_a_secret_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ephemeral",
            "--events-webhook-url",
            "http://127.0.0.1:9/hook",
        ])
        .env_remove("CONVENE_EVENTS_WEBHOOK_SECRET")
        .env("CONVENE_MEDIA_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CONVENE_EVENTS_WEBHOOK_SECRET"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_10000_changes_across_100_meetings_arrives_complete_and_in_order() {
    let (r, url, _t) = start_receiver_on(0).await;
    let dir = tempfile::tempdir().unwrap();
    // Unthrottled: on a quiet machine this burst goes faster than the dev
    // rate limit of 1,000 requests per second and operation.
    let s = start_server(dir.path(), &url, &["--rate-limit", "0"]);
    let started = std::time::Instant::now();
    // 100 meetings, each started and given 99 attendees: 10,000 events.
    let expected = make_changes(&s.client(), 100, 99).await;
    let made = started.elapsed();
    wait_for("10,000 events", 120, || r.distinct().len() >= 10_000).await;
    eprintln!(
        "burst: changes made in {made:?}, all delivered after {:?}",
        started.elapsed()
    );
    let got = r.distinct();
    assert_eq!(got.len(), 10_000);
    check_per_meeting_order(&got, &expected);
}

#[tokio::test]
async fn meetings_that_end_by_themselves_emit_meeting_ended() {
    let (r, url, _t) = start_receiver_on(0).await;
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path(), &url, &["--test-controls"]);
    let c = s.client();
    let primary = create_meeting(&c, "primary").await;
    let replica = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("eu-west-1")
        .external_meeting_id("replica")
        .primary_meeting_id(&primary)
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
        .meeting_id
        .unwrap();
    // Past the maximum duration (a day under the dev rules).
    let moved = s.send(
        "POST",
        "/_convene/clock",
        &[("Content-Type".into(), "application/json".into())],
        br#"{"advanceSeconds": 90000}"#,
    );
    assert_eq!(moved.status, 200, "{}", moved.body);
    wait_for("4 events", 20, || r.distinct().len() >= 4).await;
    // Each meeting's events are ordered within that meeting only: two
    // meetings are two streams, so the two ends may arrive in either order.
    let mut ends: Vec<String> = r
        .distinct()
        .iter()
        .filter(|e| kind(e) == "chime:MeetingEnded")
        .map(|e| e["detail"]["meetingId"].as_str().unwrap().to_string())
        .collect();
    ends.sort();
    let mut want = vec![primary, replica];
    want.sort();
    assert_eq!(ends, want, "the primary and its replica both end");
}
