//! The event log API (`/_convene/…events`): a meeting's events paged, the
//! account's events live as server-sent events, SigV4 in a header or in a
//! presigned URL, and nothing of another account.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sdk_chimesdkmeetings as chime;
use common::{add_attendee, presign, sign, RawResponse, Server, Signing};
use serde_json::Value;

const ACCOUNT_A: &str = "111122223333";
const A_KEY: &str = "AKIDALICE1";
const A_SECRET: &str = "alice-secret-one/K7MDENG+bPxRfiCYEXAMPLE";
const ACCOUNT_B: &str = "444455556666";
const B_KEY: &str = "AKIDBOB1";
const B_SECRET: &str = "bob-secret/K7MDENG+bPxRfiCYEXAMPLEKEYBOB";

/// A server with accounts A and B.
fn two_accounts(dir: &tempfile::TempDir) -> Server {
    let creds: PathBuf = dir.path().join("credentials.toml");
    std::fs::write(
        &creds,
        format!(
            "[[credentials]]\naccount_id = \"{ACCOUNT_A}\"\naccess_key_id = \"{A_KEY}\"\nsecret_access_key = \"{A_SECRET}\"\n\n\
             [[credentials]]\naccount_id = \"{ACCOUNT_B}\"\naccess_key_id = \"{B_KEY}\"\nsecret_access_key = \"{B_SECRET}\"\n"
        ),
    )
    .unwrap();
    Server::start_in(
        &dir.path().join("data"),
        &["--credentials-file", creds.to_str().unwrap()],
    )
}

fn signing(s: &Server, key: &str, secret: &str) -> Signing {
    Signing {
        access_key: key.into(),
        secret: secret.into(),
        ..Signing::new(&s.addr)
    }
}

fn get(s: &Server, key: &str, secret: &str, target: &str) -> RawResponse {
    let headers = sign(&signing(s, key, secret), "GET", target, &[], b"");
    s.send("GET", target, &headers, b"")
}

async fn create_meeting(c: &chime::Client) -> String {
    common::create_meeting_in(c, "us-east-1", "eventlog").await
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["detail"]["eventType"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// A server-sent event stream read off a raw connection.
struct Sse {
    reader: BufReader<TcpStream>,
}

impl Sse {
    /// Opens `target` (presigned, or with these headers); panics unless it answers 200.
    fn open(s: &Server, target: &str, headers: &[(String, String)]) -> Sse {
        let mut stream = TcpStream::connect(&s.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut req = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n", s.addr);
        for (k, v) in headers {
            if !k.eq_ignore_ascii_case("host") {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "stream refused: {status}");
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-type:") {
                assert!(lower.contains("text/event-stream"), "{line}");
            }
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
        }
        assert!(chunked, "a stream is sent in chunks");
        Sse { reader }
    }

    /// The next line of the event stream's text (chunk framing removed).
    fn lines_of_next_chunk(&mut self) -> Vec<String> {
        let mut size = String::new();
        self.reader.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        assert!(n > 0, "the stream ended");
        let mut data = vec![0u8; n + 2];
        std::io::Read::read_exact(&mut self.reader, &mut data).unwrap();
        String::from_utf8(data[..n].to_vec())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The next event: its `id` and its envelope (comments and `retry` skipped).
    fn next_event(&mut self) -> (i64, Value) {
        loop {
            let lines = self.lines_of_next_chunk();
            let id = lines
                .iter()
                .find_map(|l| l.strip_prefix("id: "))
                .map(|v| v.parse::<i64>().unwrap());
            let data = lines.iter().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                return (id, serde_json::from_str(data).unwrap());
            }
        }
    }
}

#[tokio::test]
async fn a_meetings_events_are_listed_in_pages_for_its_account_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_accounts(&dir);
    let a = s.client_with("us-east-1", A_KEY, A_SECRET);
    let m = create_meeting(&a).await;
    let alice = add_attendee(&a, &m, "alice").await;
    add_attendee(&a, &m, "bob").await;
    a.delete_attendee()
        .meeting_id(&m)
        .attendee_id(&alice)
        .send()
        .await
        .unwrap();

    let target = format!("/_convene/meetings/{m}/events");
    let r = get(&s, A_KEY, A_SECRET, &target);
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.json()["Events"].as_array().unwrap().clone();
    assert_eq!(
        kinds(&events),
        [
            "chime:MeetingStarted",
            "chime:AttendeeAdded",
            "chime:AttendeeAdded",
            "chime:AttendeeDeleted"
        ]
    );
    assert!(r.json().get("NextToken").is_none(), "one page holds all");
    assert_eq!(events[0]["source"], "aws.chime");
    assert_eq!(events[0]["account"], ACCOUNT_A);
    assert_eq!(events[1]["detail"]["externalUserId"], "alice");

    // Pages of one: the same events, in the same order.
    let mut paged = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let t = match &next {
            Some(n) => format!("{target}?max-results=1&next-token={n}"),
            None => format!("{target}?max-results=1"),
        };
        let r = get(&s, A_KEY, A_SECRET, &t);
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        paged.extend(body["Events"].as_array().unwrap().iter().cloned());
        match body.get("NextToken").and_then(Value::as_str) {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, events);

    // An ended meeting's events stay readable.
    a.delete_meeting().meeting_id(&m).send().await.unwrap();
    let r = get(&s, A_KEY, A_SECRET, &target);
    assert_eq!(
        kinds(r.json()["Events"].as_array().unwrap())
            .last()
            .unwrap(),
        "chime:MeetingEnded"
    );

    // Another account: the meeting does not exist, and its own log is empty.
    let r = get(&s, B_KEY, B_SECRET, &target);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("NotFoundException"),
        "{r:?}"
    );
    let r = get(&s, B_KEY, B_SECRET, "/_convene/events");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["Events"], serde_json::json!([]));
    let r = get(&s, A_KEY, A_SECRET, "/_convene/events");
    assert_eq!(r.json()["Events"].as_array().unwrap().len(), 5);

    // Bad input is a modeled 400; no signature is refused as the API refuses it.
    for bad in [
        "max-results=0",
        "max-results=101",
        "max-results=x",
        "next-token=-1",
    ] {
        let r = get(&s, A_KEY, A_SECRET, &format!("{target}?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.header("x-amzn-ErrorType"), Some("BadRequestException"));
    }
    let r = get(
        &s,
        A_KEY,
        A_SECRET,
        "/_convene/meetings/not-a-meeting/events",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.send("GET", &target, &[], b"");
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
}

#[tokio::test]
async fn the_stream_delivers_the_accounts_events_live_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_accounts(&dir);
    let a = s.client_with("us-east-1", A_KEY, A_SECRET);
    let b = s.client_with("us-east-1", B_KEY, B_SECRET);
    // Something from before: not sent (a stream starts now unless told otherwise).
    create_meeting(&a).await;

    // Header-signed, as any SDK signer does it.
    let target = "/_convene/events/stream";
    let headers = sign(&signing(&s, A_KEY, A_SECRET), "GET", target, &[], b"");
    let mut live_a = Sse::open(&s, target, &headers);
    let headers = sign(&signing(&s, B_KEY, B_SECRET), "GET", target, &[], b"");
    let mut live_b = Sse::open(&s, target, &headers);

    let m = create_meeting(&a).await;
    let alice = add_attendee(&a, &m, "alice").await;
    a.delete_attendee()
        .meeting_id(&m)
        .attendee_id(&alice)
        .send()
        .await
        .unwrap();
    a.delete_meeting().meeting_id(&m).send().await.unwrap();
    let mut got = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (id, e) = live_a.next_event();
        assert_eq!(e["detail"]["meetingId"], m.as_str());
        ids.push(id);
        got.push(e);
    }
    assert_eq!(
        kinds(&got),
        [
            "chime:MeetingStarted",
            "chime:AttendeeAdded",
            "chime:AttendeeDeleted",
            "chime:MeetingEnded"
        ]
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // B saw none of A's: the first event B's stream carries is B's own.
    let mb = create_meeting(&b).await;
    let (_, e) = live_b.next_event();
    assert_eq!(e["detail"]["meetingId"], mb.as_str());
    assert_eq!(e["account"], ACCOUNT_B);

    // An EventSource reconnecting sends Last-Event-ID: it gets what came after.
    let mut headers = sign(&signing(&s, A_KEY, A_SECRET), "GET", target, &[], b"");
    headers.push(("Last-Event-ID".into(), ids[1].to_string()));
    let mut again = Sse::open(&s, target, &headers);
    assert_eq!(
        [again.next_event().1, again.next_event().1]
            .iter()
            .map(|e| e["detail"]["eventType"].clone())
            .collect::<Vec<_>>(),
        ["chime:AttendeeDeleted", "chime:MeetingEnded"]
    );

    // `backlog=N` starts with the newest N.
    let t = "/_convene/events/stream?backlog=2";
    let headers = sign(&signing(&s, A_KEY, A_SECRET), "GET", t, &[], b"");
    let mut recent = Sse::open(&s, t, &headers);
    assert_eq!(recent.next_event().0, ids[2]);
    assert_eq!(recent.next_event().0, ids[3]);
}

#[tokio::test]
async fn a_presigned_url_opens_the_stream_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_accounts(&dir);
    let a = s.client_with("us-east-1", A_KEY, A_SECRET);
    let target = "/_convene/events/stream?backlog=0";
    let presigned = |time: SystemTime, secs: u64| {
        presign(
            &Signing {
                presign_for: Some(Duration::from_secs(secs)),
                time,
                ..signing(&s, A_KEY, A_SECRET)
            },
            "GET",
            target,
            &[],
            b"",
        )
    };
    // What a browser's EventSource does: the URL alone, no Authorization header.
    let (url, headers) = presigned(SystemTime::now(), 300);
    assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=300"));
    assert!(!headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization")));
    let mut live = Sse::open(&s, &url, &headers);
    let m = create_meeting(&a).await;
    let (_, e) = live.next_event();
    assert_eq!(e["detail"]["meetingId"], m.as_str());

    let refused = |url: &str, why: &str| {
        let r = s.send("GET", url, &headers, b"");
        assert_eq!(r.status, 403, "{why}: {}", r.body);
        assert_eq!(
            r.header("x-amzn-ErrorType"),
            Some("InvalidSignatureException"),
            "{why}"
        );
    };
    refused(
        &url.replace("backlog=0", "backlog=5"),
        "a changed parameter",
    );
    refused(
        &url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
        "a longer expiry",
    );
    let sig = url.split("X-Amz-Signature=").nth(1).unwrap()[..64].to_string();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    refused(
        &url.replace(&sig, &format!("{flipped}{}", &sig[1..])),
        "a changed signature",
    );
    // Signed ten minutes ago for one minute: expired.
    let (old, _) = presigned(SystemTime::now() - Duration::from_secs(600), 60);
    refused(&old, "an expired URL");
    // The same goes for a meeting's list.
    let (url, headers) = presign(
        &Signing {
            presign_for: Some(Duration::from_secs(60)),
            ..signing(&s, A_KEY, A_SECRET)
        },
        "GET",
        &format!("/_convene/meetings/{m}/events"),
        &[],
        b"",
    );
    let r = s.send("GET", &url, &headers, b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        kinds(r.json()["Events"].as_array().unwrap()),
        ["chime:MeetingStarted"]
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}
