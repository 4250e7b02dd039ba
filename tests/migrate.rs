//! `convene migrate --from sqlite:DATA_DIR --to postgres://…`: a deployment
//! written through the AWS SDK on SQLite, migrated, then read back through
//! the SDK from a server on PostgreSQL: meetings, attendees (roster order and
//! a NextToken handed out before the move), tags, ended meetings,
//! idempotency tokens, and meeting events still waiting for delivery, which
//! the PostgreSQL node then delivers.
//!
//! Makes its own database on the PostgreSQL at `CONVENE_TEST_POSTGRES`;
//! without one it says SKIPPED and passes, except under
//! CONVENE_REQUIRE_POSTGRES=1 or CI=true, where it fails.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_chimesdkmeetings as chime;
use axum::http::HeaderMap;
use chime::types::{CreateAttendeeRequestItem, Tag};
use common::{err_code, fresh_postgres, postgres_admin, Server, ACCOUNT};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn migrate(from: &str, to: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_convene"))
        .args(["migrate", "--from", from, "--to", to])
        .env_remove("CONVENE_DATABASE_URL")
        .env_remove("CONVENE_MIGRATE_FROM")
        .output()
        .expect("run convene migrate")
}

/// A webhook receiver keeping each event's `webhook-id`.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let keep = keep.clone();
            async move {
                if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                    keep.lock().unwrap().push(id.to_string());
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// A configuration file holding the webhook secret.
fn events_config(dir: &Path) -> String {
    let path = dir.join("events.toml");
    std::fs::write(&path, format!("events_webhook_secret = \"{SECRET}\"\n")).unwrap();
    path.to_str().unwrap().to_string()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

fn attendee(external: &str) -> CreateAttendeeRequestItem {
    CreateAttendeeRequestItem::builder()
        .external_user_id(external)
        .build()
        .unwrap()
}

/// What the SQLite deployment held, for reading back.
struct Written {
    meeting_id: String,
    ended_id: String,
    next_token: String,
}

async fn write_on_sqlite(c: &chime::Client) -> Written {
    let m = c
        .create_meeting_with_attendees()
        .client_request_token("migrate-token-1")
        .media_region("us-east-1")
        .external_meeting_id("moving-house")
        .tags(tag("team", "blue"))
        .tags(tag("env", "prod"))
        .attendees(attendee("alice"))
        .attendees(attendee("bob"))
        .attendees(attendee("carol"))
        .send()
        .await
        .unwrap();
    let meeting_id = m.meeting.unwrap().meeting_id.unwrap();
    let ended = c
        .create_meeting()
        .client_request_token("migrate-token-2")
        .media_region("us-east-1")
        .external_meeting_id("short-lived")
        .send()
        .await
        .unwrap();
    let ended_id = ended.meeting.unwrap().meeting_id.unwrap();
    c.delete_meeting()
        .meeting_id(&ended_id)
        .send()
        .await
        .unwrap();
    let page = c
        .list_attendees()
        .meeting_id(&meeting_id)
        .max_results(2)
        .send()
        .await
        .unwrap();
    let first: Vec<String> = page
        .attendees()
        .iter()
        .map(|a| a.external_user_id().unwrap().to_string())
        .collect();
    assert_eq!(first, ["alice", "bob"]);
    Written {
        meeting_id,
        ended_id,
        next_token: page.next_token.expect("a second page"),
    }
}

async fn read_on_postgres(c: &chime::Client, w: &Written) {
    let got = c
        .get_meeting()
        .meeting_id(&w.meeting_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.meeting.unwrap().external_meeting_id.as_deref(),
        Some("moving-house")
    );
    // The NextToken the SQLite server handed out still works.
    let rest = c
        .list_attendees()
        .meeting_id(&w.meeting_id)
        .next_token(&w.next_token)
        .send()
        .await
        .unwrap();
    let rest: Vec<&str> = rest
        .attendees()
        .iter()
        .map(|a| a.external_user_id().unwrap())
        .collect();
    assert_eq!(rest, ["carol"]);
    // New attendees come after the migrated ones (the roster numbering continues).
    c.create_attendee()
        .meeting_id(&w.meeting_id)
        .external_user_id("dave")
        .send()
        .await
        .unwrap();
    let all = c
        .list_attendees()
        .meeting_id(&w.meeting_id)
        .send()
        .await
        .unwrap();
    let all: Vec<&str> = all
        .attendees()
        .iter()
        .map(|a| a.external_user_id().unwrap())
        .collect();
    assert_eq!(all, ["alice", "bob", "carol", "dave"]);
    let arn = format!("arn:aws:chime:us-east-1:{ACCOUNT}:meeting/{}", w.meeting_id);
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("team", "blue"), ("env", "prod")]);
    // The same ClientRequestToken still names the same meeting.
    let again = c
        .create_meeting()
        .client_request_token("migrate-token-1")
        .media_region("us-east-1")
        .external_meeting_id("moving-house")
        .send()
        .await
        .unwrap();
    assert_eq!(again.meeting.unwrap().meeting_id.unwrap(), w.meeting_id);
    let gone = c
        .get_meeting()
        .meeting_id(&w.ended_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&gone).0, "NotFoundException");
}

fn sqlite_event_ids(data_dir: &Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(data_dir.join("convene.sqlite3")).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM events").unwrap();
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<HashSet<_>, _>>()
        .unwrap();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_deployment_moves_to_postgres_whole() {
    let name = format!(
        "{}migrate_{}",
        common::db_prefix(),
        uuid::Uuid::new_v4().simple()
    );
    let Some(url) = fresh_postgres(&name) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let config = events_config(work.path());
    let sqlite_dir = work.path().join("sqlite");
    // Events are written while the webhook is unreachable: they wait in the outbox.
    let mut old = Server::start_with(
        &sqlite_dir,
        &[
            "--config",
            &config,
            "--events-webhook-url",
            "http://127.0.0.1:9/unreachable",
            "--events-retry-base-ms",
            "100",
            "--events-retry-max-ms",
            "200",
            "--events-max-attempts",
            "100000",
            "--events-lease-ms",
            "1000",
        ],
        &[],
        None,
    );
    let written = write_on_sqlite(&old.client()).await;
    old.terminate();
    let events = sqlite_event_ids(&sqlite_dir);
    assert!(events.len() >= 5, "events were recorded: {events:?}");

    let from = format!("sqlite:{}", sqlite_dir.display());
    let out = migrate(&from, &url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "migrate failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("meetings: 1 rows"), "{stdout}");
    assert!(stdout.contains("attendees: 3 rows"), "{stdout}");
    // A second run finds the database in use and changes nothing.
    let again = migrate(&from, &url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));
    let bad = migrate(&sqlite_dir.display().to_string(), &url);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sqlite:DATA_DIR"));

    let (hook, delivered) = receiver().await;
    let pg_dir = work.path().join("pg");
    let new = Server::start_with(
        &pg_dir,
        &["--config", &config, "--events-webhook-url", &hook],
        &["--database-url".to_string(), url.clone()],
        None,
    );
    read_on_postgres(&new.client(), &written).await;
    // The events that waited on SQLite are delivered from PostgreSQL.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: HashSet<String> = delivered.lock().unwrap().iter().cloned().collect();
        if events.is_subset(&got) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "undelivered after the move: {:?}",
            events.difference(&got).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(new);
    let _ = postgres_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
