//! `--store-timeout-ms`: when the store cannot start a request's work in time,
//! the answer is 503 ServiceUnavailableException with the model's Retry-After
//! header, and the SDK sees the modeled exception (not an "unhandled" one).

mod common;

use common::{add_attendee, create_meeting_in, err_code, new_token, Server};

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

/// `--sqlite-locking exclusive`: the server keeps its database to itself, so
/// nothing else can lock it. Another process (the sqlite3 shell, a second
/// server on the same directory) finds it locked and is told why; the server
/// serves on, and once it stops the data is there for anyone.
#[tokio::test]
async fn with_exclusive_locking_no_other_process_opens_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_with(
        dir.path(),
        &["--sqlite-locking", "exclusive", "--store-timeout-ms", "200"],
        &[],
        None,
    );
    let c = s.client();
    let id = create_meeting_in(&c, "us-east-1", "held").await;

    let path = dir.path().join("convene.sqlite3");
    let db = rusqlite::Connection::open(&path).unwrap();
    let read = db.query_row("SELECT COUNT(*) FROM meetings", [], |r| r.get::<_, i64>(0));
    let e = read.expect_err("another process reads a database held exclusively");
    assert!(e.to_string().contains("locked"), "{e}");
    drop(db);

    // A second server on the same directory stops at start with the reason.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_convene"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--store-timeout-ms", "200"])
        .env("CONVENE_MEDIA_LISTEN", "127.0.0.1:0")
        .env_remove("CONVENE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("is locked by another process") && log.contains("--sqlite-locking exclusive"),
        "{log}"
    );

    // The first server is unaffected, reads and writes.
    c.get_meeting().meeting_id(&id).send().await.unwrap();
    add_attendee(&c, &id, "after").await;

    assert!(s.terminate().success());
    let db = rusqlite::Connection::open(&path).unwrap();
    let attendees: i64 = db
        .query_row("SELECT COUNT(*) FROM attendees", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attendees, 1);
}
