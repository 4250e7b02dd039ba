//! The OpenAPI document (`openapi.json`): generated from the service model by
//! the codegen, committed, and served unsigned at `/openapi.json`.

mod common;

use serde_json::Value;

fn committed() -> String {
    std::fs::read_to_string(convene_codegen::repo_root().join(convene_codegen::OPENAPI_OUT))
        .expect("openapi.json is committed")
}

/// Regenerates from `../shared/spec/chime-sdk-meetings/service-2.json` (or
/// `CONVENE_SERVICE_MODEL`) and compares with the committed file. Without the
/// model it says so, and fails under `CI=true`.
#[test]
fn openapi_json_matches_the_model() {
    let root = convene_codegen::repo_root();
    let path = std::env::var_os("CONVENE_SERVICE_MODEL")
        .map_or_else(|| root.join(convene_codegen::MODEL_PATH), Into::into);
    let json = match std::fs::read_to_string(&path) {
        Ok(j) => j,
        Err(e) => {
            let msg = format!(
                "SKIPPED openapi_json_matches_the_model: cannot read the model {}: {e}",
                path.display()
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{msg} (CI=true: failing)"
            );
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
            return;
        }
    };
    let generated = convene_codegen::generate_openapi(&json).expect("the model parses");
    assert!(
        generated == committed(),
        "openapi.json is out of date with the model: run `cargo run -p convene-codegen` and commit it"
    );
}

fn doc() -> Value {
    serde_json::from_str(&committed()).expect("openapi.json is JSON")
}

#[test]
fn every_operation_is_described_once() {
    let d = doc();
    assert_eq!(d["openapi"], "3.1.0");
    let mut seen: Vec<String> = Vec::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            match op.get("x-amzn-operations") {
                Some(map) => seen.extend(
                    map.as_object()
                        .unwrap()
                        .values()
                        .map(|v| v.as_str().unwrap().to_string()),
                ),
                None => seen.push(op["operationId"].as_str().unwrap().to_string()),
            }
            assert!(
                op["responses"].get("default").is_some(),
                "{method} {path} has no default response"
            );
        }
    }
    seen.sort();
    let mut expected: Vec<String> = convene::model::OPERATIONS
        .iter()
        .map(|o| o.name.to_string())
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn operations_that_share_a_method_and_path_are_one_with_a_oneof_body() {
    let d = doc();
    let post = &d["paths"]["/meetings"]["post"];
    assert_eq!(
        post["x-amzn-operations"],
        serde_json::json!({"": "CreateMeeting", "create-attendees": "CreateMeetingWithAttendees"})
    );
    let param = post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "operation")
        .unwrap();
    assert_eq!(param["in"], "query");
    assert_eq!(param["required"], false);
    assert_eq!(
        param["schema"]["enum"],
        serde_json::json!(["create-attendees"])
    );
    let one_of = post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
        .as_array()
        .unwrap();
    assert_eq!(one_of.len(), 2);
    // Start and stop transcription: both need the parameter; only start has a body.
    let t = &d["paths"]["/meetings/{MeetingId}/transcription"]["post"];
    let param = t["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "operation")
        .unwrap();
    assert_eq!(param["required"], true);
    assert_eq!(
        param["schema"]["enum"],
        serde_json::json!(["start", "stop"])
    );
    assert_eq!(t["requestBody"]["required"], false);
    // Tag and untag.
    let tags = &d["paths"]["/tags"]["post"];
    assert_eq!(
        tags["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Patterns are anchored (whole-value matches), as the server applies them.
    let token = &d["components"]["schemas"]["ClientRequestToken"];
    assert_eq!(token["pattern"], "^(?:[-_a-zA-Z0-9]*)$");
}

#[test]
fn served_unsigned_at_openapi_json() {
    let s = common::Server::start();
    let r = s.send("GET", "/openapi.json", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, committed());
}
