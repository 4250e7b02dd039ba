//! `--store-timeout-ms`: when the store cannot start a request's work in time,
//! the answer is 503 ServiceUnavailableException with the model's Retry-After
//! header, and the SDK sees the modeled exception (not an "unhandled" one).

mod common;

use common::{err_code, new_token, Server};

#[tokio::test]
async fn a_locked_store_answers_service_unavailable_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--store-timeout-ms", "200"]);
    let c = s.client();
    let existing = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("before-the-lock")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
        .meeting_id
        .unwrap();

    // Another process holds the database's write lock.
    let db = rusqlite::Connection::open(dir.path().join("convene.sqlite3")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();

    let body = br#"{"ClientRequestToken":"locked-token","MediaRegion":"us-east-1","ExternalMeetingId":"xy"}"#;
    let r = s.raw(
        "POST",
        "/meetings",
        &[("content-type", "application/json")],
        body,
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("ServiceUnavailableException")
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["Code"], "ServiceUnavailable");

    let e = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("during-the-lock")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        ("ServiceUnavailableException".to_string(), 503)
    );
    assert!(e
        .as_service_error()
        .unwrap()
        .is_service_unavailable_exception());

    // Reads do not wait for the writer.
    c.get_meeting().meeting_id(&existing).send().await.unwrap();

    db.execute_batch("ROLLBACK").unwrap();
    c.create_meeting()
        .client_request_token("locked-token")
        .media_region("us-east-1")
        .external_meeting_id("xy")
        .send()
        .await
        .unwrap();
}
