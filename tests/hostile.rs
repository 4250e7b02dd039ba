//! Slow, oversized and malformed input: always a modeled 4xx, never a 5xx, a
//! panic or a hang, and the server keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{new_token, sign, Server, Signing};

fn quick_server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        dir.path(),
        &[
            "--header-timeout-ms",
            "400",
            "--body-timeout-ms",
            "400",
            "--max-connections",
            "4",
        ],
    );
    (dir, s)
}

fn read_all(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

#[test]
fn a_client_that_never_finishes_its_headers_is_dropped() {
    let (_d, s) = quick_server();
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let _ = read_all(&mut c);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the server closed the connection"
    );
    assert_eq!(s.raw("GET", "/health", &[], b"").status, 200);
}

#[test]
fn a_body_that_never_arrives_times_out() {
    let (_d, s) = quick_server();
    let body = format!(
        r#"{{"ClientRequestToken":"{}","MediaRegion":"us-east-1","ExternalMeetingId":"slow"}}"#,
        new_token()
    );
    let headers = sign(
        &Signing::new(&s.addr),
        "POST",
        "/meetings",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    let mut c = TcpStream::connect(&s.addr).unwrap();
    let mut req = String::from("POST /meetings HTTP/1.1\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    c.write_all(req.as_bytes()).unwrap();
    c.write_all(&body.as_bytes()[..10]).unwrap();
    let out = String::from_utf8_lossy(&read_all(&mut c)).into_owned();
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("x-amzn-errortype: requesttimeoutexception"),
        "{out}"
    );
}

#[test]
fn idle_connections_cannot_hold_the_server() {
    let (_d, s) = quick_server();
    // More idle connections than the server serves at once.
    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(&s.addr).unwrap())
        .collect();
    let started = Instant::now();
    assert_eq!(s.raw("GET", "/health", &[], b"").status, 200);
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(idle);
}

#[test]
fn malformed_input_gets_modeled_4xx() {
    let (_d, s) = quick_server();
    let json = [("content-type", "application/json")];
    let meeting = {
        let body = format!(
            r#"{{"ClientRequestToken":"{}","MediaRegion":"us-east-1","ExternalMeetingId":"ok"}}"#,
            new_token()
        );
        let r = s.raw("POST", "/meetings", &json, body.as_bytes());
        r.json()["Meeting"]["MeetingId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let many: String = format!(
        r#"{{"Attendees":[{}]}}"#,
        (0..5000)
            .map(|i| format!(r#"{{"ExternalUserId":"u{i}"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let long = "x".repeat(900_000);
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("POST", "/meetings".into(), br#"{"ClientRequestToken":"t1","MediaRegion":"us-east-1","ExternalMeetingId":"a\u0000b"}"#.to_vec()),
        ("POST", "/meetings".into(), br#"{"ClientRequestToken":"t1","MediaRegion":"us-east-1","ExternalMeetingId":"ok","MeetingFeatures":{"Attendee":{"MaxCount":99999999999999999999999999999}}}"#.to_vec()),
        ("POST", "/meetings".into(), br#"{"ClientRequestToken":"t1","MediaRegion":"us-east-1","ExternalMeetingId":"ok","TenantIds":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["#.to_vec()),
        ("POST", "/meetings".into(), format!(r#"{{"ClientRequestToken":"t1","MediaRegion":"us-east-1","ExternalMeetingId":"{long}"}}"#).into_bytes()),
        ("POST", "/meetings".into(), b"{\"ClientRequestToken\":\"\xc3\x28\"}".to_vec()),
        ("POST", "/meetings".into(), br#"{"ClientRequestToken":"t1","ClientRequestToken":"t2"}"#.to_vec()),
        ("POST", format!("/meetings/{meeting}/attendees?operation=batch-create"), many.into_bytes()),
        ("POST", format!("/meetings/{meeting}/attendees"), br#"{"ExternalUserId":["a","b"]}"#.to_vec()),
        ("POST", format!("/meetings/{meeting}/attendees"), br#"{"ExternalUserId":"ab\u0007c"}"#.to_vec()),
        ("GET", format!("/meetings/{meeting}%00"), vec![]),
        ("GET", format!("/meetings/{meeting}/attendees/..%2F..%2F"), vec![]),
        ("GET", "/meetings/%C3%28".into(), vec![]),
        ("GET", format!("/meetings/{meeting}/attendees?max-results=99999999999999999999999"), vec![]),
        ("GET", format!("/meetings/{meeting}/attendees?next-token=%FF%FE"), vec![]),
        ("GET", "/tags?arn=arn%3A%00".into(), vec![]),
        ("PUT", format!("/meetings/{meeting}/attendees/capabilities?operation=batch-update-except"), br#"{"ExcludedAttendeeIds":{},"Capabilities":7}"#.to_vec()),
        ("POST", format!("/meetings/{meeting}/transcription?operation=start"), br#"{"TranscriptionConfiguration":{"EngineTranscribeSettings":{"LanguageCode":"en-US","IdentifyLanguage":"yes"}}}"#.to_vec()),
    ];
    for (method, target, body) in cases {
        let r = s.raw(method, &target, &json, &body);
        assert!(
            (400..500).contains(&r.status),
            "{method} {target}: {} {}",
            r.status,
            r.body
        );
        assert!(r.header("x-amzn-ErrorType").is_some(), "{method} {target}");
        assert!(r.json()["Message"].is_string(), "{method} {target}");
    }
    assert_eq!(
        s.raw("GET", &format!("/meetings/{meeting}"), &[], b"")
            .status,
        200
    );
}

#[test]
fn garbage_on_the_socket_does_not_hurt() {
    let (_d, s) = quick_server();
    for junk in [
        &b"\x00\x01\x02\x03\r\n\r\n"[..],
        b"GET /health HTTP/9.9\r\n\r\n",
        b"POST /meetings HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /meetings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
    ] {
        let mut c = TcpStream::connect(&s.addr).unwrap();
        let _ = c.write_all(junk);
        let out = read_all(&mut c);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.starts_with("HTTP/1.1 5"), "{text}");
    }
    let mut huge = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 512 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let mut c = TcpStream::connect(&s.addr).unwrap();
    let _ = c.write_all(&huge);
    let text = String::from_utf8_lossy(&read_all(&mut c)).into_owned();
    assert!(!text.starts_with("HTTP/1.1 5"), "{text}");
    assert_eq!(s.raw("GET", "/health", &[], b"").status, 200);
}
