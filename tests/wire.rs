//! What the SDKs rely on at the HTTP level, and what they never send.

mod common;

use common::{new_token, Server};

fn create_body() -> String {
    format!(
        r#"{{"ClientRequestToken":"{}","MediaRegion":"us-east-1","ExternalMeetingId":"raw"}}"#,
        new_token()
    )
}

#[test]
fn errors_have_the_shape_every_sdk_reads() {
    let s = Server::start();
    let r = s.raw(
        "GET",
        "/meetings/0f0f0f0f-1111-2222-3333-444455556666",
        &[],
        b"",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("NotFoundException"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let id = r.header("x-amzn-RequestId").unwrap().to_string();
    let body = r.json();
    assert_eq!(body["Code"], "NotFound");
    assert_eq!(body["RequestId"], id.as_str());
    assert!(body["Message"]
        .as_str()
        .unwrap()
        .contains("0f0f0f0f-1111-2222-3333-444455556666"));
}

#[test]
fn bad_bodies_are_bad_requests() {
    let s = Server::start();
    let json = [("Content-Type", "application/json")];
    let cases: Vec<(&[u8], &str)> = vec![
        (b"{not json", "not valid JSON"),
        (b"[1,2]", "JSON object"),
        (b"\xff\xfe", "UTF-8"),
        (br#"{"ClientRequestToken":5,"MediaRegion":"us-east-1","ExternalMeetingId":"x1"}"#, "ClientRequestToken"),
        (br#"{"MediaRegion":"us-east-1","ExternalMeetingId":"x1"}"#, "ClientRequestToken"),
        (br#"{"ClientRequestToken":"tok1","MediaRegion":"us-east-1"}"#, "ExternalMeetingId"),
        (br#"{"ClientRequestToken":"tok1","MediaRegion":"us-east-1","ExternalMeetingId":"x1","MeetingFeatures":{"Attendee":{"MaxCount":1e300}}}"#, "MaxCount"),
        (br#"{"ClientRequestToken":"tok1","MediaRegion":"us-east-1","ExternalMeetingId":"x1","MeetingFeatures":{"Video":{"MaxResolution":"8K"}}}"#, "MeetingFeatures.Video.MaxResolution"),
        (br#"{"ClientRequestToken":"tok1","MediaRegion":"us-east-1","ExternalMeetingId":"x1","TenantIds":"t1"}"#, "TenantIds"),
        (br#"{"ClientRequestToken":"tok1","MediaRegion":"us-east-1","ExternalMeetingId":"x1","MediaPlacementNetworkType":"IPX"}"#, "MediaPlacementNetworkType"),
    ];
    for (body, needle) in cases {
        let r = s.raw("POST", "/meetings", &json, body);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(r.header("x-amzn-ErrorType"), Some("BadRequestException"));
        let msg = r.json()["Message"].as_str().unwrap().to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle}");
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = s.raw("POST", "/meetings", &json, deep.as_bytes());
    assert_eq!(r.status, 400);
    // The server still serves.
    let r = s.raw("POST", "/meetings", &json, create_body().as_bytes());
    assert_eq!(r.status, 200);
}

#[test]
fn unknown_fields_are_ignored_and_nulls_are_absent() {
    let s = Server::start();
    let body = format!(
        r#"{{"ClientRequestToken":"{}","MediaRegion":"us-east-1","ExternalMeetingId":"raw","Surprise":{{"x":1}},"MeetingHostId":null}}"#,
        new_token()
    );
    let r = s.raw(
        "POST",
        "/meetings",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["Meeting"].get("MeetingHostId").is_none());
}

#[test]
fn bodiless_operations_need_no_content_type() {
    let s = Server::start();
    let r = s.raw(
        "POST",
        "/meetings",
        &[("Content-Type", "application/json")],
        create_body().as_bytes(),
    );
    let id = r.json()["Meeting"]["MeetingId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(r.header("x-amzn-RequestId").is_some());
    // No Content-Type, no body, no Content-Length (as the Rust SDK sends a GET).
    let r = s.raw("GET", &format!("/meetings/{id}"), &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.header("x-amzn-RequestId").is_some());
    let r = s.raw(
        "GET",
        &format!("/meetings/{id}/attendees?max-results=5"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["Attendees"], serde_json::json!([]));
    assert!(r.json().get("NextToken").is_none());
    let r = s.raw(
        "GET",
        &format!("/meetings/{id}/attendees?max-results=abc"),
        &[],
        b"",
    );
    assert_eq!(r.status, 400);
    // CreateAttendee with a body but no Content-Type still works.
    let r = s.raw(
        "POST",
        &format!("/meetings/{id}/attendees"),
        &[],
        br#"{"ExternalUserId":"raw-user"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.raw("DELETE", &format!("/meetings/{id}"), &[], b"");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
}

#[test]
fn unknown_routes_answer_in_the_same_shape() {
    let s = Server::start();
    for (m, t) in [
        ("GET", "/nothing-here"),
        ("POST", "/meetings?operation=explode"),
        ("PATCH", "/meetings"),
        ("GET", "/meetings/a/b/c/d/e/f"),
        ("GET", "/meetings/%zz"),
    ] {
        let r = s.raw(m, t, &[], b"");
        assert_eq!(r.status, 404, "{m} {t}");
        assert_eq!(
            r.header("x-amzn-ErrorType"),
            Some("UnknownOperationException")
        );
        assert!(r.json()["Message"].is_string());
    }
    let r = s.raw("GET", "/meetings/..%2F..%2Fetc%2Fpasswd", &[], b"");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("BadRequestException"));
}

#[test]
fn health() {
    let s = Server::start();
    let r = s.raw("GET", "/health", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}

#[test]
fn oversized_bodies_are_refused() {
    let s = Server::start();
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = s.raw(
        "POST",
        "/meetings",
        &[("Content-Type", "application/json")],
        &big,
    );
    assert_eq!(r.status, 413);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("RequestEntityTooLargeException")
    );
}

/// A request with several errors is answered with the first one in reading
/// order: members in the order the model declares them (CreateMeetingWithAttendees:
/// CreateMeeting's members, then `Attendees`), each member's enum values and
/// integer range checked as it is read; the transcription rules only after
/// the whole configuration is read. Clients see these messages, so they
/// stay as they are.
#[test]
fn the_first_of_several_errors_is_answered() {
    let s = Server::start();
    let json = [("Content-Type", "application/json")];
    let r = s.raw("POST", "/meetings", &json, create_body().as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["Meeting"]["MeetingId"]
        .as_str()
        .unwrap()
        .to_string();
    let meeting =
        r#""ClientRequestToken":"first-1","MediaRegion":"us-east-1","ExternalMeetingId":"x1""#;
    let attendees = format!("/meetings/{id}/attendees");
    let transcription = format!("/meetings/{id}/transcription?operation=start");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            attendees.as_str(),
            r#"{"ExternalUserId":"alice1","Capabilities":{"Audio":"Bad","Video":5,"Content":"None"}}"#.into(),
            r#"Invalid value for Capabilities.Audio: "Bad" is not one of SendReceive, Send, Receive, None"#,
        ),
        (
            "/meetings",
            format!(r#"{{{meeting},"MeetingFeatures":{{"Attendee":{{"MaxCount":0}}}},"Tags":"x"}}"#),
            "Invalid value for MeetingFeatures.Attendee.MaxCount: must be between 1 and 250 (got 0)",
        ),
        (
            "/meetings",
            format!(r#"{{{meeting},"MeetingFeatures":{{"Video":{{"MaxResolution":"8K"}}}},"TenantIds":[5]}}"#),
            r#"Invalid value for MeetingFeatures.Video.MaxResolution: "8K" is not one of None, HD, FHD"#,
        ),
        (
            "/meetings?operation=create-attendees",
            format!(r#"{{{meeting},"Tags":"x"}}"#),
            "Invalid value for Tags: expected a list, got a string",
        ),
        (
            "/meetings?operation=create-attendees",
            format!(
                r#"{{{meeting},"Attendees":[{{"ExternalUserId":"alice1","Capabilities":{{"Audio":"Bad","Video":"None","Content":"None"}}}}],"MediaPlacementNetworkType":"IPX"}}"#
            ),
            r#"Invalid value for MediaPlacementNetworkType: "IPX" is not one of Ipv4Only, DualStack"#,
        ),
        (
            transcription.as_str(),
            r#"{"TranscriptionConfiguration":{"EngineTranscribeSettings":{"LanguageCode":"xx-XX"},"EngineTranscribeMedicalSettings":{"LanguageCode":"en-US","Specialty":"PRIMARYCARE","Type":"DICTATION"}}}"#.into(),
            "Invalid value for TranscriptionConfiguration: give exactly one of EngineTranscribeSettings and EngineTranscribeMedicalSettings",
        ),
        (
            transcription.as_str(),
            r#"{"TranscriptionConfiguration":{"EngineTranscribeSettings":{"LanguageCode":"xx-XX","IdentifyLanguage":"yes"}}}"#.into(),
            "Invalid value for TranscriptionConfiguration.EngineTranscribeSettings.IdentifyLanguage: expected a boolean, got a string",
        ),
    ];
    for (target, body, message) in cases {
        let r = s.raw("POST", target, &json, body.as_bytes());
        assert_eq!(r.status, 400, "{target} {body}: {}", r.body);
        assert_eq!(r.header("x-amzn-ErrorType"), Some("BadRequestException"));
        assert_eq!(r.json()["Message"], message, "{target} {body}");
    }
}
