//! The README's aws-sdk-rust example: `aws_config` finds the server through
//! `AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS` (and `AWS_ENDPOINT_URL`) alone, with no
//! endpoint in the code.
//!
//! This file holds ONE test: it sets process environment variables, which no
//! other test of this binary may be reading at the same time.

mod common;

use common::{Server, ACCESS_KEY, SECRET_KEY};

/// The README's snippet, word for word (checked against README.md below).
const README_SNIPPET: &str = r#"let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
let chime = aws_sdk_chimesdkmeetings::Client::new(&config);
let meeting = chime
    .create_meeting()
    .client_request_token("t-1")
    .media_region("us-east-1")
    .external_meeting_id("standup")
    .send()
    .await?;"#;

async fn readme_example() -> Result<String, aws_sdk_chimesdkmeetings::Error> {
    // --- the README's snippet ---
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let chime = aws_sdk_chimesdkmeetings::Client::new(&config);
    let meeting = chime
        .create_meeting()
        .client_request_token("t-1")
        .media_region("us-east-1")
        .external_meeting_id("standup")
        .send()
        .await?;
    // ---
    Ok(meeting.meeting.unwrap().meeting_id.unwrap())
}

#[tokio::test]
async fn aws_config_takes_the_endpoint_from_the_environment() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(README_SNIPPET),
        "README.md no longer shows the snippet this test runs:\n{README_SNIPPET}"
    );

    let server = Server::start();
    let check = server.client();
    // Nothing but the environment: no profile files, no other endpoint settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            std::env::remove_var(k);
        }
    }
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/aws-credentials",
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    std::env::set_var("AWS_REGION", "us-east-1");

    for var in ["AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS", "AWS_ENDPOINT_URL"] {
        std::env::set_var(var, server.endpoint());
        let id = readme_example()
            .await
            .unwrap_or_else(|e| panic!("with {var}: {e:?}"));
        // The meeting is on this server (the idempotency token returns the same one).
        let got = check.get_meeting().meeting_id(&id).send().await.unwrap();
        assert_eq!(
            got.meeting.unwrap().meeting_id.as_deref(),
            Some(id.as_str())
        );
        std::env::remove_var(var);
    }
}
