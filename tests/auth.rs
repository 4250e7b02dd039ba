//! Authentication through the real server over HTTP: every API request must
//! carry a valid SigV4 signature for the service `chime`, and every refusal is
//! the 403 an AWS SDK understands (never a 5xx, never a hint of whether the
//! resource exists).

mod common;

use std::time::{Duration, SystemTime};

use common::{err_code, new_token, presign, sign, RawResponse, Server, Signing, ACCESS_KEY};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Helpers

/// A 403 with the given error type, a request id and a JSON `Message`.
fn assert_denied(r: &RawResponse, error_type: &str, ctx: &str) -> Value {
    assert!(r.status < 500, "{ctx}: a 5xx: {} {}", r.status, r.body);
    assert_eq!(r.status, 403, "{ctx}: {} {}", r.status, r.body);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some(error_type),
        "{ctx}: {}",
        r.body
    );
    assert_request_id_and_message(r, ctx)
}

/// A 403 of any authentication error type, with a request id and a JSON `Message`.
fn assert_forbidden(r: &RawResponse, ctx: &str) -> Value {
    assert!(r.status < 500, "{ctx}: a 5xx: {} {}", r.status, r.body);
    assert_eq!(r.status, 403, "{ctx}: {} {}", r.status, r.body);
    let t = r.header("x-amzn-ErrorType").unwrap_or("");
    assert!(
        [
            "MissingAuthenticationTokenException",
            "IncompleteSignatureException",
            "InvalidSignatureException",
            "UnrecognizedClientException",
        ]
        .contains(&t),
        "{ctx}: error type {t:?}: {}",
        r.body
    );
    assert_request_id_and_message(r, ctx)
}

fn assert_request_id_and_message(r: &RawResponse, ctx: &str) -> Value {
    let id = r
        .header("x-amzn-RequestId")
        .unwrap_or_else(|| panic!("{ctx}: no x-amzn-RequestId: {:?}", r.headers));
    assert!(!id.is_empty(), "{ctx}: empty x-amzn-RequestId");
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{ctx}: {:?}",
        r.headers
    );
    let body = r.json();
    let msg = body["Message"]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: no Message in {}", r.body));
    assert!(!msg.is_empty(), "{ctx}: empty Message");
    body
}

fn signing(s: &Server) -> Signing {
    Signing::new(&s.addr)
}

/// Replaces the value of header `name` (case-insensitive).
fn with_header(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut found = false;
    let out = headers
        .iter()
        .map(|(k, v)| {
            if k.eq_ignore_ascii_case(name) {
                found = true;
                (k.clone(), value.to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    assert!(found, "no header {name} in {headers:?}");
    out
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or_else(
            || panic!("no header {name} in {headers:?}"),
            |(_, v)| v.as_str(),
        )
}

fn create_body(external: &str) -> String {
    json!({
        "ClientRequestToken": new_token(),
        "MediaRegion": "us-east-1",
        "ExternalMeetingId": external,
    })
    .to_string()
}

fn create_meeting(s: &Server) -> String {
    let r = s.raw(
        "POST",
        "/meetings",
        &[("Content-Type", "application/json")],
        create_body("auth-test").as_bytes(),
    );
    assert!((200..300).contains(&r.status), "{} {}", r.status, r.body);
    r.json()["Meeting"]["MeetingId"]
        .as_str()
        .unwrap()
        .to_string()
}

fn get_meeting_status(s: &Server, id: &str) -> u16 {
    s.raw("GET", &format!("/meetings/{id}"), &[], b"").status
}

// ---------------------------------------------------------------------------
// Missing and malformed signatures

#[test]
fn unsigned_requests_are_missing_an_authentication_token() {
    let s = Server::start();
    let id = create_meeting(&s);
    for (method, target, body) in [
        ("GET", format!("/meetings/{id}"), String::new()),
        ("DELETE", format!("/meetings/{id}"), String::new()),
        ("POST", "/meetings".to_string(), create_body("unsigned")),
        ("GET", format!("/meetings/{id}/attendees"), String::new()),
        ("GET", "/no/such/operation".to_string(), String::new()),
    ] {
        let ctx = format!("unsigned {method} {target}");
        let r = s.send(
            method,
            &target,
            &[("Content-Type".into(), "application/json".into())],
            body.as_bytes(),
        );
        assert_denied(&r, "MissingAuthenticationTokenException", &ctx);
    }
    // Nothing happened.
    assert_eq!(get_meeting_status(&s, &id), 200);
}

#[test]
fn malformed_authorization_is_an_incomplete_signature() {
    let s = Server::start();
    let target = "/meetings/0f0f0f0f-1111-2222-3333-444455556666";
    let signed = sign(&signing(&s), "GET", target, &[], b"");
    let auth = header_value(&signed, "authorization").to_string();

    // No Signature= part.
    let no_sig = auth.split(", Signature=").next().unwrap().to_string();
    assert_ne!(no_sig, auth);
    let r = s.send(
        "GET",
        target,
        &with_header(&signed, "authorization", &no_sig),
        b"",
    );
    assert_denied(&r, "IncompleteSignatureException", "no Signature=");

    // No SignedHeaders= part.
    let no_sh: String = auth
        .split(", ")
        .filter(|p| !p.starts_with("SignedHeaders="))
        .collect::<Vec<_>>()
        .join(", ");
    let r = s.send(
        "GET",
        target,
        &with_header(&signed, "authorization", &no_sh),
        b"",
    );
    assert_denied(&r, "IncompleteSignatureException", "no SignedHeaders=");

    // Credential without the terminator, with a part missing, or just a key.
    let credential = auth
        .split(", ")
        .find_map(|p| p.strip_prefix("AWS4-HMAC-SHA256 Credential="))
        .unwrap()
        .to_string();
    let parts: Vec<&str> = credential.split('/').collect();
    assert_eq!(parts.len(), 5, "{credential}");
    for bad in [
        parts[..4].join("/"),
        format!("{}/{}/{}/aws4_request", parts[0], parts[1], parts[3]),
        format!(
            "{}/{}/{}/{}/aws5_request",
            parts[0], parts[1], parts[2], parts[3]
        ),
        ACCESS_KEY.to_string(),
        String::new(),
    ] {
        let a = auth.replace(&credential, &bad);
        let r = s.send(
            "GET",
            target,
            &with_header(&signed, "authorization", &a),
            b"",
        );
        assert_denied(
            &r,
            "IncompleteSignatureException",
            &format!("Credential={bad}"),
        );
    }

    // No x-amz-date at all.
    let no_date: Vec<(String, String)> = signed
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-amz-date"))
        .cloned()
        .collect();
    let r = s.send("GET", target, &no_date, b"");
    assert_forbidden(&r, "no x-amz-date");
}

#[test]
fn garbage_authentication_is_refused_without_a_server_error() {
    let s = Server::start();
    let target = "/meetings/0f0f0f0f-1111-2222-3333-444455556666";
    let signed = sign(&signing(&s), "GET", target, &[], b"");
    let date = header_value(&signed, "x-amz-date").to_string();
    let day = &date[..8];
    let auths = [
        "AWS4-HMAC-SHA256".to_string(),
        "AWS4-HMAC-SHA256 ".to_string(),
        "Bearer abc.def.ghi".to_string(),
        "AWS AKIDEXAMPLE:c2lnbmF0dXJl".to_string(),
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=".to_string(),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/us-east-1/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=zz"),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/us-east-1/chime/aws4_request, SignedHeaders=x-amz-date;host, Signature=00"),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/us-east-1/chime/aws4_request, SignedHeaders=;;, Signature=00"),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/us-east-1/chime/aws4_request, SignedHeaders=x-amz-date, Signature=00"),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/us-east-1/chime/aws4_request, SignedHeaders=host;x-amz-date;x-missing, Signature=00"),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/19991231/us-east-1/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/US_EAST_1/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
        format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{day}/{}/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "x".repeat(5000)),
        format!("AWS4-HMAC-SHA256 Credential=é/{day}/us-east-1/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
    ];
    for a in &auths {
        let r = s.send(
            "GET",
            target,
            &with_header(&signed, "authorization", a),
            b"",
        );
        assert_forbidden(&r, &format!("Authorization: {a:.80}"));
    }
    for d in [
        "",
        "yesterday",
        "20240230T250000Z",
        "2024-01-01T00:00:00Z",
        "99999999T999999Z",
    ] {
        let r = s.send("GET", target, &with_header(&signed, "x-amz-date", d), b"");
        assert_forbidden(&r, &format!("X-Amz-Date: {d}"));
    }
    let cred = format!("{ACCESS_KEY}%2F{day}%2Fus-east-1%2Fchime%2Faws4_request");
    for q in [
        "X-Amz-Signature=00".to_string(),
        format!("X-Amz-Credential={cred}"),
        format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={date}&X-Amz-Expires=abc&X-Amz-SignedHeaders=host&X-Amz-Signature=00"),
        format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={date}&X-Amz-Expires=-1&X-Amz-SignedHeaders=host&X-Amz-Signature=00"),
        format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={date}&X-Amz-Expires=99999999999999999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=00"),
        format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={date}&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00"),
        format!("X-Amz-Algorithm=HMAC&X-Amz-Credential={cred}&X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"),
        format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date=%FF%FE&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"),
    ] {
        let r = s.send("GET", &format!("{target}?{q}"), &[], b"");
        assert_forbidden(&r, &format!("query {q:.100}"));
    }
}

// ---------------------------------------------------------------------------
// Signatures that do not verify

#[test]
fn wrong_secret_unknown_key_and_stale_clocks() {
    let s = Server::start();
    let id = create_meeting(&s);
    let target = format!("/meetings/{id}");

    // The control: a good signature.
    let r = s.send(
        "GET",
        &target,
        &sign(&signing(&s), "GET", &target, &[], b""),
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let wrong = Signing {
        secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGKEY".into(),
        ..signing(&s)
    };
    let r = s.send("GET", &target, &sign(&wrong, "GET", &target, &[], b""), b"");
    assert_denied(&r, "InvalidSignatureException", "wrong secret");

    let unknown = Signing {
        access_key: "AKIDUNKNOWNKEY000000".into(),
        ..signing(&s)
    };
    let r = s.send(
        "GET",
        &target,
        &sign(&unknown, "GET", &target, &[], b""),
        b"",
    );
    assert_denied(&r, "UnrecognizedClientException", "unknown access key");

    let now = SystemTime::now();
    for (what, time) in [
        ("signed 20 minutes ago", now - Duration::from_secs(20 * 60)),
        (
            "signed 20 minutes in the future",
            now + Duration::from_secs(20 * 60),
        ),
        ("signed a day ago", now - Duration::from_secs(86_400)),
    ] {
        let st = Signing {
            time,
            ..signing(&s)
        };
        let r = s.send("GET", &target, &sign(&st, "GET", &target, &[], b""), b"");
        assert_denied(&r, "InvalidSignatureException", what);
    }
    // Within the allowed skew, both ways.
    for (what, time) in [
        ("signed 10 minutes ago", now - Duration::from_secs(10 * 60)),
        (
            "signed 10 minutes in the future",
            now + Duration::from_secs(10 * 60),
        ),
    ] {
        let st = Signing {
            time,
            ..signing(&s)
        };
        let r = s.send("GET", &target, &sign(&st, "GET", &target, &[], b""), b"");
        assert_eq!(r.status, 200, "{what}: {}", r.body);
    }

    // Signed for another service.
    let as_s3 = Signing {
        service: "s3".into(),
        ..signing(&s)
    };
    let h = sign(&as_s3, "GET", &target, &[], b"");
    let r = s.send("GET", &target, &h, b"");
    assert_denied(&r, "InvalidSignatureException", "signed for s3");
    // The same signer with the right name is accepted (the helper is sound).
    let h = sign(&signing(&s), "GET", &target, &[], b"");
    assert_eq!(s.send("GET", &target, &h, b"").status, 200);
}

#[test]
fn changes_after_signing_are_refused() {
    let s = Server::start();
    let id = create_meeting(&s);
    let other = create_meeting(&s);
    let target = format!("/meetings/{id}");

    // Method: a signed GET sent as DELETE deletes nothing.
    let h = sign(&signing(&s), "GET", &target, &[], b"");
    let r = s.send("DELETE", &target, &h, b"");
    assert_denied(&r, "InvalidSignatureException", "method changed");
    assert_eq!(get_meeting_status(&s, &id), 200);

    // Path: signed for one meeting, sent for another.
    let r = s.send("GET", &format!("/meetings/{other}"), &h, b"");
    assert_denied(&r, "InvalidSignatureException", "path changed");
    let h_del = sign(&signing(&s), "DELETE", &target, &[], b"");
    let r = s.send("DELETE", &format!("/meetings/{other}"), &h_del, b"");
    assert_denied(&r, "InvalidSignatureException", "DELETE path changed");
    assert_eq!(get_meeting_status(&s, &other), 200);

    // Query value.
    let list = format!("/meetings/{id}/attendees?max-results=5");
    let h = sign(&signing(&s), "GET", &list, &[], b"");
    let r = s.send("GET", &list, &h, b"");
    assert_eq!(r.status, 200, "control: {}", r.body);
    let r = s.send("GET", &list.replace("=5", "=6"), &h, b"");
    assert_denied(&r, "InvalidSignatureException", "query value changed");
    let r = s.send("GET", &format!("{list}&next-token=x"), &h, b"");
    assert_denied(&r, "InvalidSignatureException", "query parameter added");
    let r = s.send("GET", &format!("/meetings/{id}/attendees"), &h, b"");
    assert_denied(&r, "InvalidSignatureException", "query removed");

    // Parameters added to a header-signed query that the verifier skips: by
    // AWS's rules they are part of the canonical query, so they break the signature.
    for extra in ["X-Amz-Signature=00", "X-Amz-Security-Token=forged"] {
        let r = s.send("GET", &format!("{list}&{extra}"), &h, b"");
        assert!(r.status < 500, "{extra}: {} {}", r.status, r.body);
        assert_denied(&r, "InvalidSignatureException", &format!("{extra} added"));
    }

    // The path sent with its escape encoded once more (`%2F` as `%252F`), a
    // different resource: by AWS's rules its canonical URI differs, so it fails.
    let escaped = format!("/meetings/{id}%2Fx");
    let h = sign(&signing(&s), "GET", &escaped, &[], b"");
    let r = s.send("GET", &escaped, &h, b"");
    assert!(
        r.status != 403 && r.status < 500,
        "control: {} {}",
        r.status,
        r.body
    );
    let r = s.send("GET", &format!("/meetings/{id}%252Fx"), &h, b"");
    assert!(r.status < 500, "{} {}", r.status, r.body);
    assert_denied(&r, "InvalidSignatureException", "path escape re-encoded");

    // A signed header.
    let body = create_body("tamper-header");
    let h = sign(
        &signing(&s),
        "POST",
        "/meetings",
        &[
            ("Content-Type", "application/json"),
            ("X-Custom-Tag", "alpha"),
        ],
        body.as_bytes(),
    );
    let r = s.send(
        "POST",
        "/meetings",
        &with_header(&h, "x-custom-tag", "alphb"),
        body.as_bytes(),
    );
    assert_denied(&r, "InvalidSignatureException", "signed header changed");
    let r = s.send(
        "POST",
        "/meetings",
        &with_header(&h, "content-type", "application/jsoN"),
        body.as_bytes(),
    );
    assert_denied(&r, "InvalidSignatureException", "content-type changed");
    let r = s.send("POST", "/meetings", &h, body.as_bytes());
    assert!(
        (200..300).contains(&r.status),
        "control: {} {}",
        r.status,
        r.body
    );

    // Body.
    let body = create_body("tamper-body");
    let h = sign(
        &signing(&s),
        "POST",
        "/meetings",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    let tampered = body.replace("tamper-body", "tamper-bodz");
    let r = s.send("POST", "/meetings", &h, tampered.as_bytes());
    assert_denied(&r, "InvalidSignatureException", "body changed");
    let r = s.send("POST", "/meetings", &h, b"");
    assert_denied(&r, "InvalidSignatureException", "body dropped");
    let r = s.send("POST", "/meetings", &h, body.as_bytes());
    assert!(
        (200..300).contains(&r.status),
        "control: {} {}",
        r.status,
        r.body
    );

    // x-amz-date moved by one second.
    let h = sign(&signing(&s), "GET", &target, &[], b"");
    let d = header_value(&h, "x-amz-date").to_string();
    let secs: u32 = d[13..15].parse().unwrap();
    let moved = format!("{}{:02}Z", &d[..13], (secs + 1) % 60);
    let r = s.send("GET", &target, &with_header(&h, "x-amz-date", &moved), b"");
    assert_denied(&r, "InvalidSignatureException", "x-amz-date changed");
}

#[test]
fn a_content_sha256_that_does_not_match_the_body_is_refused() {
    let s = Server::start();
    let body = create_body("sha256");
    let other_hash = hex::encode(Sha256::digest(b"some other body"));
    // aws-sigv4 signs the header as given; the payload hash in the canonical
    // request is the body's own, so only the header's claim is wrong.
    let h = sign(
        &signing(&s),
        "POST",
        "/meetings",
        &[
            ("Content-Type", "application/json"),
            ("x-amz-content-sha256", &other_hash),
        ],
        body.as_bytes(),
    );
    let r = s.send("POST", "/meetings", &h, body.as_bytes());
    assert!(r.status < 500, "{} {}", r.status, r.body);
    assert_forbidden(&r, "x-amz-content-sha256 mismatch");

    // The matching hash is accepted.
    let body = create_body("sha256-ok");
    let good = hex::encode(Sha256::digest(body.as_bytes()));
    let h = sign(
        &signing(&s),
        "POST",
        "/meetings",
        &[
            ("Content-Type", "application/json"),
            ("x-amz-content-sha256", &good),
        ],
        body.as_bytes(),
    );
    let r = s.send("POST", "/meetings", &h, body.as_bytes());
    assert!((200..300).contains(&r.status), "{} {}", r.status, r.body);
}

// ---------------------------------------------------------------------------
// Presigned URLs

#[test]
fn presigned_urls_work_until_they_expire() {
    let s = Server::start();
    let id = create_meeting(&s);
    let target = format!("/meetings/{id}");

    let (url, headers) = presign(
        &Signing {
            presign_for: Some(Duration::from_secs(300)),
            ..signing(&s)
        },
        "GET",
        &target,
        &[],
        b"",
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization")),
        "{headers:?}"
    );
    let r = s.send("GET", &url, &headers, b"");
    assert_eq!(r.status, 200, "presigned GetMeeting: {}", r.body);
    assert_eq!(r.json()["Meeting"]["MeetingId"], id.as_str());

    // The same URL for another meeting, or with its expiry raised, is refused.
    let other = create_meeting(&s);
    let r = s.send("GET", &url.replace(&id, &other), &headers, b"");
    assert_denied(&r, "InvalidSignatureException", "presigned path changed");
    let r = s.send(
        "GET",
        &url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
        &headers,
        b"",
    );
    assert_denied(&r, "InvalidSignatureException", "presigned expiry changed");
    let r = s.send("DELETE", &url, &headers, b"");
    assert_denied(&r, "InvalidSignatureException", "presigned method changed");
    assert_eq!(get_meeting_status(&s, &id), 200);

    // Signed 10 minutes ago for 60 seconds: expired.
    let (url, headers) = presign(
        &Signing {
            presign_for: Some(Duration::from_secs(60)),
            time: SystemTime::now() - Duration::from_secs(600),
            ..signing(&s)
        },
        "GET",
        &target,
        &[],
        b"",
    );
    let r = s.send("GET", &url, &headers, b"");
    assert_denied(&r, "InvalidSignatureException", "expired presigned URL");

    // Presigned with a wrong secret.
    let (url, headers) = presign(
        &Signing {
            presign_for: Some(Duration::from_secs(300)),
            secret: "not-the-secret".into(),
            ..signing(&s)
        },
        "GET",
        &target,
        &[],
        b"",
    );
    let r = s.send("GET", &url, &headers, b"");
    assert_denied(&r, "InvalidSignatureException", "presigned, wrong secret");
}

// ---------------------------------------------------------------------------
// Never reveal whether a resource exists

#[test]
fn refusals_are_the_same_whether_the_meeting_exists_or_not() {
    let s = Server::start();
    let exists = create_meeting(&s);
    let missing = uuid::Uuid::new_v4().to_string();
    assert_eq!(get_meeting_status(&s, &missing), 404);

    let time = SystemTime::now();
    let variants: Vec<(&str, Signing)> = vec![
        (
            "wrong secret",
            Signing {
                secret: "wrong".into(),
                time,
                ..signing(&s)
            },
        ),
        (
            "unknown key",
            Signing {
                access_key: "AKIDNOBODY0000000000".into(),
                time,
                ..signing(&s)
            },
        ),
        (
            "stale",
            Signing {
                time: time - Duration::from_secs(3600),
                ..signing(&s)
            },
        ),
        (
            "presigned, wrong secret",
            Signing {
                secret: "wrong".into(),
                presign_for: Some(Duration::from_secs(300)),
                time,
                ..signing(&s)
            },
        ),
        (
            "presigned, expired",
            Signing {
                presign_for: Some(Duration::from_secs(60)),
                time: time - Duration::from_secs(600),
                ..signing(&s)
            },
        ),
    ];

    for (method, suffix) in [("GET", ""), ("DELETE", ""), ("GET", "/attendees")] {
        let target = |id: &str| format!("/meetings/{id}{suffix}");
        let mut pairs: Vec<(String, RawResponse, RawResponse)> = Vec::new();
        pairs.push((
            "unsigned".into(),
            s.send(method, &target(&exists), &[], b""),
            s.send(method, &target(&missing), &[], b""),
        ));
        for (what, st) in &variants {
            let send = |id: &str| {
                let (url, h) = presign(st, method, &target(id), &[], b"");
                s.send(method, &url, &h, b"")
            };
            pairs.push((what.to_string(), send(&exists), send(&missing)));
        }
        for (what, a, b) in pairs {
            let ctx = format!("{what} {method} {}", target("{id}"));
            let ba = assert_forbidden(&a, &ctx);
            let bb = assert_forbidden(&b, &ctx);
            assert_eq!(a.status, b.status, "{ctx}");
            assert_eq!(
                a.header("x-amzn-ErrorType"),
                b.header("x-amzn-ErrorType"),
                "{ctx}"
            );
            let strip = |r: &RawResponse| {
                let id = r.header("x-amzn-RequestId").unwrap();
                r.body.replace(id, "<request id>")
            };
            assert_eq!(strip(&a), strip(&b), "{ctx}: bodies differ");
            for body in [&ba, &bb] {
                let msg = body["Message"].as_str().unwrap();
                assert!(
                    !msg.contains(&exists) && !msg.contains(&missing),
                    "{ctx}: the message names the meeting: {msg}"
                );
            }
        }
    }
    // The meeting is still there.
    assert_eq!(get_meeting_status(&s, &exists), 200);
}

// ---------------------------------------------------------------------------
// What needs no signature; the SDK's view

#[test]
fn health_needs_no_signature() {
    let s = Server::start();
    let r = s.send("GET", "/health", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_with_a_wrong_secret_gets_invalid_signature() {
    let s = Server::start();
    let good = s.client();
    let m = good
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("sdk-auth")
        .send()
        .await
        .unwrap();
    let id = m.meeting().unwrap().meeting_id().unwrap().to_string();

    let bad = s.client_with(
        "us-east-1",
        ACCESS_KEY,
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGKEY",
    );
    let e = bad.get_meeting().meeting_id(&id).send().await.unwrap_err();
    assert_eq!(err_code(&e), ("InvalidSignatureException".to_string(), 403));
    let e = bad
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("sdk-auth-bad")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("InvalidSignatureException".to_string(), 403));
    let e = bad
        .delete_meeting()
        .meeting_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("InvalidSignatureException".to_string(), 403));

    let unknown = s.client_with("us-east-1", "AKIDNOBODY0000000000", "whatever");
    let e = unknown
        .get_meeting()
        .meeting_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        ("UnrecognizedClientException".to_string(), 403)
    );

    // Still there, for the right key.
    good.get_meeting().meeting_id(&id).send().await.unwrap();
}
