//! Request-rate limits and the concurrent-meetings quota.

mod common;

use common::{err_code, new_token, Server};

#[tokio::test]
async fn rate_limits_are_per_account_and_operation() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--rate-limit", "0.001", "--rate-burst", "3"]);
    let c = s.client();
    let unknown = "0f0f0f0f-1111-2222-3333-444455556666";
    for _ in 0..3 {
        let e = c
            .get_meeting()
            .meeting_id(unknown)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e).0, "NotFoundException");
    }
    let e = c
        .get_meeting()
        .meeting_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("ThrottlingException".into(), 429));
    // Another operation has its own bucket.
    let e = c
        .list_attendees()
        .meeting_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
    // The raw answer is the usual error shape.
    let r = s.raw("GET", &format!("/meetings/{unknown}"), &[], b"");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("ThrottlingException"));
    assert!(r.json()["Message"].as_str().unwrap().contains("GetMeeting"));
}

#[tokio::test]
async fn concurrent_meetings_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--max-meetings", "3"]);
    let c = s.client();
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let t = new_token();
        let m = c
            .create_meeting()
            .client_request_token(&t)
            .media_region("us-east-1")
            .external_meeting_id("quota")
            .send()
            .await
            .unwrap();
        ids.push(m.meeting.unwrap().meeting_id.unwrap());
        tokens.push(t);
    }
    let e = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("quota")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("LimitExceededException".into(), 400));
    // A replay is not a new meeting.
    let again = c
        .create_meeting()
        .client_request_token(&tokens[0])
        .media_region("us-east-1")
        .external_meeting_id("quota")
        .send()
        .await
        .unwrap();
    assert_eq!(again.meeting.unwrap().meeting_id.unwrap(), ids[0]);
    c.delete_meeting().meeting_id(&ids[1]).send().await.unwrap();
    c.create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("quota")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_aws_profile_applies_aws_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--limits", "aws"]);
    let c = s.client();
    let unknown = "0f0f0f0f-1111-2222-3333-444455556666";
    let mut throttled = 0;
    for _ in 0..30 {
        if let Err(e) = c.get_meeting().meeting_id(unknown).send().await {
            if err_code(&e).0 == "ThrottlingException" {
                throttled += 1;
            }
        }
    }
    assert!(
        throttled > 0,
        "30 quick calls at 10 per second must meet the limit"
    );
}
