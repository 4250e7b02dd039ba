//! The test controls under `/_convene/` (fault rules, latency, the meeting
//! clock) and the meeting lifecycle rules the clock fires, against the real
//! server with the official Rust SDK.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_chimesdkmeetings as chime;
use common::{
    ended_meetings, new_attendee, new_token, RawResponse, Server, ACCESS_KEY, SECRET_KEY,
};
use convene::media::protocol::{FrameType, SdkJoinFrame, SdkLeaveFrame, SdkSignalFrame};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn with_controls(extra: &[&str]) -> (Server, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["--test-controls"];
    args.extend_from_slice(extra);
    (Server::start_in(tmp.path(), &args), tmp)
}

/// An unsigned request to a control, as a test suite sends it with curl.
#[allow(clippy::needless_pass_by_value)] // callers pass json! literals
fn control(server: &Server, method: &str, path: &str, body: Value) -> RawResponse {
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    server.send(
        method,
        path,
        &[("Content-Type".into(), "application/json".into())],
        &body,
    )
}

fn control_ok(server: &Server, method: &str, path: &str, body: Value) -> Value {
    let r = control(server, method, path, body);
    assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
    r.json()
}

fn advance(server: &Server, seconds: u64) -> Value {
    control_ok(
        server,
        "POST",
        "/_convene/clock",
        json!({ "advanceSeconds": seconds }),
    )
}

async fn meeting(c: &chime::Client, primary: Option<&str>) -> chime::types::Meeting {
    c.create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("controls")
        .set_primary_meeting_id(primary.map(str::to_string))
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
}

async fn exists(c: &chime::Client, meeting_id: &str) -> bool {
    match c.get_meeting().meeting_id(meeting_id).send().await {
        Ok(_) => true,
        Err(e) => {
            let e = e.into_service_error();
            assert!(e.is_not_found_exception(), "{e:?}");
            false
        }
    }
}

// ---- fault rules ----

#[tokio::test]
async fn a_fault_answers_the_modeled_exception_and_changes_nothing() {
    let (server, _tmp) = with_controls(&[]);
    let c = server.client();
    let m = meeting(&c, None).await;
    let id = m.meeting_id.unwrap();

    let rules = control_ok(
        &server,
        "PATCH",
        "/_convene/chaos/faults",
        json!([{
            "service": "chime-sdk-meetings",
            "operation": "CreateAttendee",
            "region": "us-east-1",
            "count": 2,
            "error": {"statusCode": 429, "code": "ThrottlingException"}
        }]),
    );
    assert_eq!(
        rules[0]["probability"],
        json!(1.0),
        "the default probability"
    );

    for _ in 0..2 {
        let e = c
            .create_attendee()
            .meeting_id(&id)
            .external_user_id("alice")
            .send()
            .await
            .unwrap_err();
        assert_eq!(common::err_code(&e), ("ThrottlingException".into(), 429));
        assert!(e.into_service_error().is_throttling_exception());
    }
    // The third call is past the count: it runs, and it is the only attendee.
    new_attendee(&c, &id, "alice").await;
    let listed = c.list_attendees().meeting_id(&id).send().await.unwrap();
    assert_eq!(listed.attendees.unwrap().len(), 1);
    let rules = control_ok(&server, "GET", "/_convene/chaos/faults", Value::Null);
    assert_eq!(rules, json!([]), "a rule goes away after its last call");

    // On the wire: status, x-amzn-ErrorType and the model's body members.
    control_ok(
        &server,
        "POST",
        "/_convene/chaos/faults",
        json!([{"operation": "CreateMeeting", "error": {"code": "LimitExceededException"}}]),
    );
    let r = server.raw(
        "POST",
        "/meetings",
        &[("content-type", "application/json")],
        br#"{"ClientRequestToken":"tok-1","MediaRegion":"us-east-1","ExternalMeetingId":"first"}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), Some("LimitExceededException"));
    let body = r.json();
    assert_eq!(body["Code"], "ResourceLimitExceeded");
    assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        body["RequestId"].as_str(),
        r.header("x-amzn-requestid"),
        "the request id of the body is the header's"
    );
    // The faulted CreateMeeting created nothing: the same token now creates a
    // new meeting rather than replaying one named "first".
    control_ok(&server, "POST", "/_convene/chaos/faults", json!([]));
    let r = server.raw(
        "POST",
        "/meetings",
        &[("content-type", "application/json")],
        br#"{"ClientRequestToken":"tok-1","MediaRegion":"us-east-1","ExternalMeetingId":"second"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["Meeting"]["ExternalMeetingId"], "second");
}

#[tokio::test]
async fn service_unavailable_carries_retry_after() {
    let (server, _tmp) = with_controls(&[]);
    let c = server.client();
    let id = meeting(&c, None).await.meeting_id.unwrap();
    control_ok(
        &server,
        "POST",
        "/_convene/chaos/faults",
        json!([{
            "operation": "GetMeeting",
            "error": {"statusCode": 503, "code": "ServiceUnavailableException", "retryAfterSeconds": 7}
        }]),
    );
    let e = c
        .get_meeting()
        .meeting_id(&id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match e {
        chime::operation::get_meeting::GetMeetingError::ServiceUnavailableException(x) => {
            assert_eq!(x.retry_after_seconds(), Some("7"));
        }
        other => panic!("expected ServiceUnavailableException, got {other:?}"),
    }
    let r = server.raw("GET", &format!("/meetings/{id}"), &[], b"");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("ServiceUnavailableException")
    );
    // Other operations are untouched.
    new_attendee(&c, &id, "bob").await;
}

#[tokio::test]
async fn rules_the_model_does_not_allow_are_refused() {
    let (server, _tmp) = with_controls(&[]);
    let refused = |body: Value, needle: &str| {
        let r = control(&server, "PATCH", "/_convene/chaos/faults", body);
        assert_eq!(r.status, 400, "{}", r.body);
        let message = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            message.contains(needle),
            "{message:?} should say {needle:?}"
        );
    };
    refused(
        json!([{"operation": "GetMeeting", "error": {"code": "LimitExceededException"}}]),
        "GetMeeting cannot raise LimitExceededException",
    );
    refused(
        json!([{"operation": "CreateAttendee", "error": {"statusCode": 500, "code": "ThrottlingException"}}]),
        "statusCode 500 disagrees with the model",
    );
    refused(
        json!([{"error": {"statusCode": 500, "code": "InternalFailure"}}]),
        "not an exception of the chime-sdk-meetings model",
    );
    refused(json!([{"operation": "PutObject"}]), "not an operation");
    refused(json!({"operation": "GetMeeting"}), "JSON array");
    // Nothing was added by the refused calls.
    assert_eq!(
        control_ok(&server, "GET", "/_convene/chaos/faults", Value::Null),
        json!([])
    );
}

#[tokio::test]
async fn verbs_replace_add_and_remove_rules() {
    let (server, _tmp) = with_controls(&[]);
    let path = "/_convene/chaos/faults";
    let a = json!({"operation": "GetMeeting", "error": {"code": "NotFoundException"}});
    let b = json!({"operation": "ListAttendees", "probability": 0.25});
    let c = json!({"operation": "DeleteMeeting", "error": {"code": "ServiceFailureException"}});
    let listed = control_ok(&server, "POST", path, json!([a, b]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        listed[0]["error"]["statusCode"], 404,
        "the model's status is filled in"
    );
    assert_eq!(listed[1]["error"]["code"], "ServiceUnavailableException");
    let listed = control_ok(&server, "PATCH", path, json!([c]));
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let listed = control_ok(&server, "DELETE", path, json!([a]));
    let ops: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["ListAttendees", "DeleteMeeting"]);
    assert_eq!(control_ok(&server, "GET", path, Value::Null), listed);
    assert_eq!(control_ok(&server, "POST", path, json!([])), json!([]));
    let r = control(&server, "PUT", path, json!([]));
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn probability_and_filters_choose_the_calls() {
    let (server, _tmp) = with_controls(&[]);
    let c = server.client();
    let one = meeting(&c, None).await.meeting_id.unwrap();
    let two = meeting(&c, None).await.meeting_id.unwrap();

    // Half of the calls, give or take: far from none and far from all.
    control_ok(
        &server,
        "POST",
        "/_convene/chaos/faults",
        json!([{"operation": "GetMeeting", "probability": 0.5}]),
    );
    let mut faulted = 0;
    for _ in 0..200 {
        if c.get_meeting().meeting_id(&one).send().await.is_err() {
            faulted += 1;
        }
    }
    assert!((40..=160).contains(&faulted), "{faulted} of 200 faulted");

    // meetingId: only that meeting; account: only that account; region: only that region.
    control_ok(
        &server,
        "POST",
        "/_convene/chaos/faults",
        json!([
            {"meetingId": one, "error": {"code": "NotFoundException"}},
            {"account": "999999999999", "operation": "CreateMeeting"},
            {"region": "eu-central-1", "operation": "CreateMeeting"}
        ]),
    );
    let e = c.get_meeting().meeting_id(&one).send().await.unwrap_err();
    assert!(e.into_service_error().is_not_found_exception());
    assert!(exists(&c, &two).await);
    meeting(&c, None).await; // another account's rule, another region's rule
    let e = server
        .client_in("eu-central-1")
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("x")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_service_unavailable_exception());
    // A rule with no operation only raises what each operation may raise:
    // TooManyTagsException reaches TagResource and never GetMeeting.
    control_ok(
        &server,
        "POST",
        "/_convene/chaos/faults",
        json!([{"error": {"code": "TooManyTagsException"}}]),
    );
    assert!(exists(&c, &two).await);
}

#[tokio::test]
async fn latency_is_added_per_operation_or_to_all() {
    let (server, _tmp) = with_controls(&[]);
    let c = server.client();
    let id = meeting(&c, None).await.meeting_id.unwrap();
    let path = "/_convene/chaos/effects";
    assert_eq!(
        control_ok(&server, "GET", path, Value::Null),
        json!({"latency": 0, "operations": {}})
    );
    let set = control_ok(
        &server,
        "POST",
        path,
        json!({"latency": 400, "operation": "GetMeeting"}),
    );
    assert_eq!(
        set,
        json!({"latency": 0, "operations": {"GetMeeting": 400}})
    );
    let t = Instant::now();
    c.get_meeting().meeting_id(&id).send().await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );

    control_ok(&server, "POST", path, json!({"latency": 300}));
    let t = Instant::now();
    c.list_attendees().meeting_id(&id).send().await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // Faulted answers are delayed too: a client timeout sees the same delay.
    control_ok(
        &server,
        "POST",
        "/_convene/chaos/faults",
        json!([{"operation": "ListAttendees", "count": 1}]),
    );
    let t = Instant::now();
    assert!(c.list_attendees().meeting_id(&id).send().await.is_err());
    assert!(t.elapsed() >= Duration::from_millis(300));

    control_ok(&server, "POST", path, json!({"latency": 0}));
    let cleared = control_ok(
        &server,
        "POST",
        path,
        json!({"latency": 0, "operation": "GetMeeting"}),
    );
    assert_eq!(cleared, json!({"latency": 0, "operations": {}}));
    let r = control(
        &server,
        "POST",
        path,
        json!({"latency": 10, "operation": "Nope"}),
    );
    assert_eq!(r.status, 400);
}

// ---- the meeting clock and the lifecycle ----

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, token: &str) -> Ws {
    let mut req = format!("{url}?X-Chime-Control-Protocol-Version=3")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {token}").parse().unwrap(),
    );
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn send(ws: &mut Ws, f: SdkSignalFrame) {
    ws.send(Message::Binary(f.to_message().into()))
        .await
        .unwrap();
}

/// Waits for a frame of `kind`; panics if the socket closes first.
async fn wait_for(ws: &mut Ws, kind: FrameType) {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("open")
            .unwrap();
        if let Message::Binary(b) = m {
            if SdkSignalFrame::from_message(&b).unwrap().kind() == Some(kind) {
                return;
            }
        }
    }
}

/// JOINs and waits for the server's JOIN_ACK: the attendee is connected.
async fn joined(url: &str, token: &str) -> Ws {
    let mut ws = connect(url, token).await;
    let mut f = SdkSignalFrame::new(FrameType::Join);
    f.join = Some(SdkJoinFrame {});
    send(&mut ws, f).await;
    wait_for(&mut ws, FrameType::JoinAck).await;
    ws
}

/// The close code the server ends the socket with.
async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed within 10 s");
        match m {
            Some(Ok(Message::Close(Some(c)))) => return u16::from(c.code),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_clock_ends_meetings_at_their_maximum_duration() {
    // The dev defaults: one day at most, no idle end.
    let (server, _tmp) = with_controls(&[]);
    let c = server.client();
    let primary = meeting(&c, None).await;
    let id = primary.meeting_id.clone().unwrap();
    let replica = meeting(&c, Some(&id)).await.meeting_id.unwrap();
    let alice = new_attendee(&c, &id, "alice").await;
    let url = primary.media_placement.unwrap().signaling_url.unwrap();
    let mut ws = joined(&url, alice.join_token.as_deref().unwrap()).await;

    let before = control_ok(&server, "GET", "/_convene/clock", Value::Null);
    assert_eq!(before["offsetSeconds"], 0);
    // Another account's time moves on its own.
    let other = control_ok(
        &server,
        "POST",
        "/_convene/clock",
        json!({"advanceSeconds": 90_000, "account": "999999999999"}),
    );
    assert_eq!(other["offsetSeconds"], 90_000);
    assert!(ended_meetings(&other).is_empty());
    // 23 hours: nothing ends, not even the idle replica (dev has no idle end).
    let r = advance(&server, 23 * 3600);
    assert!(ended_meetings(&r).is_empty(), "{r}");
    assert_eq!(r["offsetSeconds"], 23 * 3600);
    assert!(r["now"].as_str().unwrap().ends_with('Z'));
    assert!(exists(&c, &id).await && exists(&c, &replica).await);
    // 24 hours: the meeting ends, and its replica with it.
    let r = advance(&server, 3600);
    let mut got = ended_meetings(&r);
    got.sort();
    let mut want = vec![
        (id.clone(), "max-duration".to_string()),
        (replica.clone(), "primary-ended".to_string()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(close_code(&mut ws).await, 4410);
    assert!(!exists(&c, &id).await && !exists(&c, &replica).await);
    let e = c
        .create_attendee()
        .meeting_id(&id)
        .external_user_id("bob")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_not_found_exception());
    // A meeting created now starts its own day.
    let fresh = meeting(&c, None).await.meeting_id.unwrap();
    assert!(ended_meetings(&advance(&server, 3600)).is_empty());
    assert!(exists(&c, &fresh).await);
    let clock = control_ok(&server, "GET", "/_convene/clock", Value::Null);
    assert_eq!(
        clock["accounts"]["999999999999"]["offsetSeconds"],
        90_000 + 25 * 3600
    );
}

#[tokio::test]
async fn one_account_s_clock_moves_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("credentials.toml");
    std::fs::write(
        &creds,
        "[[credentials]]\naccount_id = \"111111111111\"\naccess_key_id = \"AKIDACCOUNTA\"\nsecret_access_key = \"secret-a\"\n\n\
         [[credentials]]\naccount_id = \"222222222222\"\naccess_key_id = \"AKIDACCOUNTB\"\nsecret_access_key = \"secret-b\"\n",
    )
    .unwrap();
    let server = Server::start_in(
        &tmp.path().join("data"),
        &[
            "--test-controls",
            "--credentials-file",
            creds.to_str().unwrap(),
        ],
    );
    let a = server.client_with("us-east-1", "AKIDACCOUNTA", "secret-a");
    let b = server.client_with("us-east-1", "AKIDACCOUNTB", "secret-b");
    let in_a = meeting(&a, None).await.meeting_id.unwrap();
    let in_b = meeting(&b, None).await.meeting_id.unwrap();

    let r = control_ok(
        &server,
        "POST",
        "/_convene/clock",
        json!({"advanceSeconds": 24 * 3600, "account": "111111111111"}),
    );
    assert_eq!(
        ended_meetings(&r),
        vec![(in_a.clone(), "max-duration".to_string())]
    );
    assert_eq!(r["account"], "111111111111");
    assert_eq!(r["offsetSeconds"], 24 * 3600);
    assert!(!exists(&a, &in_a).await);
    assert!(
        exists(&b, &in_b).await,
        "the other account's meeting keeps its time"
    );
    let global = control_ok(&server, "GET", "/_convene/clock", Value::Null);
    assert_eq!(global["offsetSeconds"], 0);
    let one = control_ok(
        &server,
        "GET",
        "/_convene/clock?account=111111111111",
        Value::Null,
    );
    assert_eq!(one["offsetSeconds"], 24 * 3600);
    // Signing keeps real time: both accounts still authenticate.
    meeting(&a, None).await;
    meeting(&b, None).await;
}

#[tokio::test]
async fn the_clock_ends_idle_meetings_under_aws_rules() {
    let (server, _tmp) = with_controls(&["--limits", "aws"]);
    let c = server.client();
    let empty = meeting(&c, None).await.meeting_id.unwrap();
    let busy = meeting(&c, None).await;
    let busy_id = busy.meeting_id.clone().unwrap();
    let replica = meeting(&c, Some(&busy_id)).await.meeting_id.unwrap();
    let alice = new_attendee(&c, &busy_id, "alice").await;
    let url = busy.media_placement.unwrap().signaling_url.unwrap();
    let mut ws = joined(&url, alice.join_token.as_deref().unwrap()).await;

    assert!(ended_meetings(&advance(&server, 4 * 60 + 50)).is_empty());
    // Five minutes with nobody: the empty meeting ends; the one with an
    // attendee connected stays, and so does its replica (nobody in it, but
    // replicas only end with their primary).
    let r = advance(&server, 10);
    assert_eq!(
        ended_meetings(&r),
        vec![(empty.clone(), "idle".to_string())]
    );
    assert!(!exists(&c, &empty).await);
    assert!(exists(&c, &busy_id).await && exists(&c, &replica).await);

    // Alice leaves: five idle minutes later the meeting ends, its replica too.
    let mut leave = SdkSignalFrame::new(FrameType::Leave);
    leave.leave = Some(SdkLeaveFrame {});
    send(&mut ws, leave).await;
    wait_for(&mut ws, FrameType::LeaveAck).await;
    assert!(ended_meetings(&advance(&server, 4 * 60)).is_empty());
    let mut got = ended_meetings(&advance(&server, 60));
    got.sort();
    let mut want = vec![
        (busy_id.clone(), "idle".to_string()),
        (replica.clone(), "primary-ended".to_string()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(!exists(&c, &busy_id).await && !exists(&c, &replica).await);
}

#[tokio::test]
async fn ended_meetings_are_forgotten_after_the_retention_time() {
    let (server, _tmp) = with_controls(&["--ended-meetings-retention-minutes", "60"]);
    let c = server.client();
    let m = meeting(&c, None).await;
    let id = m.meeting_id.unwrap();
    let url = m.media_placement.unwrap().signaling_url.unwrap();
    let alice = new_attendee(&c, &id, "alice").await;
    let token = alice.join_token.unwrap();
    c.delete_meeting().meeting_id(&id).send().await.unwrap();
    // Remembered: "meeting ended".
    assert_eq!(close_code(&mut connect(&url, &token).await).await, 4410);
    advance(&server, 59 * 60);
    assert_eq!(close_code(&mut connect(&url, &token).await).await, 4410);
    // Forgotten: the token is of nobody now.
    advance(&server, 2 * 60);
    assert_eq!(close_code(&mut connect(&url, &token).await).await, 4403);
}

// ---- safe by default ----

#[tokio::test]
async fn without_the_flag_the_paths_are_unknown_routes() {
    let server = Server::start();
    for (method, path) in [
        ("GET", "/_convene/chaos/faults"),
        ("POST", "/_convene/clock"),
        ("GET", "/_convene/chaos/effects"),
    ] {
        // Unsigned: the same answer as an unknown path, unsigned.
        let got = server.send(method, path, &[], b"[]");
        let unknown = server.send(method, "/no-such-route", &[], b"[]");
        assert_eq!(got.status, unknown.status);
        assert_eq!(
            got.header("x-amzn-errortype"),
            unknown.header("x-amzn-errortype")
        );
        assert_eq!(got.json()["Code"], unknown.json()["Code"]);
        // Signed: the same answer as an unknown path, signed.
        let got = server.raw(method, path, &[], b"[]");
        let unknown = server.raw(method, "/no-such-route", &[], b"[]");
        assert_eq!(got.status, unknown.status, "{}", got.body);
        assert_eq!(
            got.header("x-amzn-errortype"),
            unknown.header("x-amzn-errortype")
        );
        assert_eq!(got.json()["Code"], unknown.json()["Code"]);
    }
    // And nothing was configured by them: calls run normally.
    let c = server.client();
    meeting(&c, None).await;
}

/// A server started by hand, for listeners the harness does not use.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(listen: &str, token: Option<&str>, dir: &std::path::Path) -> Proc {
    spawn_with(listen, token, dir, &[])
}

fn spawn_with(listen: &str, token: Option<&str>, dir: &std::path::Path, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convene"));
    cmd.args(["serve", "--test-controls", "--listen", listen, "--data-dir"])
        .arg(dir)
        .args(extra)
        .env_remove("CONVENE_CONFIG")
        .env("CONVENE_LOG", "info")
        .env("CONVENE_MEDIA_LISTEN", "127.0.0.1:0")
        .env("CONVENE_ACCESS_KEY_ID", ACCESS_KEY)
        .env("CONVENE_SECRET_ACCESS_KEY", SECRET_KEY)
        .env_remove("CONVENE_TEST_CONTROLS")
        .env_remove("CONVENE_CREDENTIALS_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match token {
        Some(t) => cmd.env("CONVENE_TEST_CONTROLS_TOKEN", t),
        None => cmd.env_remove("CONVENE_TEST_CONTROLS_TOKEN"),
    };
    let mut child = cmd.spawn().expect("start convene");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Proc { child, lines: rx }
}

impl Proc {
    /// Log lines until one contains `needle` (or the log ends).
    fn wait_for(&self, needle: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

/// The address the server says it listens on.
fn listening(p: &Proc) -> String {
    const SAYS: &str = "convene listening on http://";
    let line = p.wait_for(SAYS).expect("the server started");
    let rest = &line[line.find(SAYS).unwrap() + SAYS.len()..];
    rest.split_whitespace().next().unwrap().to_string()
}

fn plain(addr: &str, method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (status, body)
}

#[test]
fn off_loopback_a_token_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    // No token: serve refuses to start, and says why.
    let mut p = spawn("0.0.0.0:0", None, tmp.path());
    let status = p.child.wait().unwrap();
    assert!(!status.success());
    let why: Vec<String> = p.lines.iter().collect();
    assert!(
        why.iter()
            .any(|l| l.contains("CONVENE_TEST_CONTROLS_TOKEN")),
        "{why:?}"
    );

    // With one: every control needs it as a bearer token.
    let token = "t0ken-for-tests";
    let p = spawn("0.0.0.0:0", Some(token), tmp.path());
    let addr = listening(&p).replace("0.0.0.0", "127.0.0.1");
    let bearer = format!("Bearer {token}");
    assert_eq!(plain(&addr, "GET", "/_convene/clock", None, "").0, 401);
    assert_eq!(
        plain(&addr, "GET", "/_convene/clock", Some("Bearer wrong"), "").0,
        401
    );
    let (status, body) = plain(&addr, "GET", "/_convene/clock", Some(&bearer), "");
    assert_eq!(status, 200, "{body}");
    // Every change is logged (the token never is).
    let rule = r#"[{"operation":"GetMeeting"}]"#;
    assert_eq!(
        plain(&addr, "POST", "/_convene/chaos/faults", Some(&bearer), rule).0,
        200
    );
    let logged = p
        .wait_for("fault rules replaced")
        .expect("the change is logged");
    assert!(logged.contains("GetMeeting") && !logged.contains(token));
    assert_eq!(
        plain(
            &addr,
            "POST",
            "/_convene/clock",
            Some(&bearer),
            r#"{"advanceSeconds":60}"#
        )
        .0,
        200
    );
    assert!(p.wait_for("meeting clock moved forward").is_some());
}

#[test]
fn the_token_may_come_from_the_configuration_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("convene.toml");
    std::fs::write(&config, "test_controls_token = \"from-the-file\"\n").unwrap();
    let p = spawn_with(
        "0.0.0.0:0",
        None,
        &tmp.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let addr = listening(&p).replace("0.0.0.0", "127.0.0.1");
    assert_eq!(plain(&addr, "GET", "/_convene/clock", None, "").0, 401);
    let (status, body) = plain(
        &addr,
        "GET",
        "/_convene/clock",
        Some("Bearer from-the-file"),
        "",
    );
    assert_eq!(status, 200, "{body}");
}

#[test]
fn on_loopback_a_configured_token_is_required_too() {
    let tmp = tempfile::tempdir().unwrap();
    let p = spawn("127.0.0.1:0", Some("secret-token"), tmp.path());
    let addr = listening(&p);
    assert_eq!(
        plain(&addr, "GET", "/_convene/chaos/faults", None, "").0,
        401
    );
    assert_eq!(
        plain(
            &addr,
            "GET",
            "/_convene/chaos/faults",
            Some("Bearer secret-token"),
            ""
        )
        .0,
        200
    );
}
