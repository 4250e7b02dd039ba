//! The floors every figure is divided by, measured in the same run: a bare
//! hyper server answering a fixed small JSON body, and SQLite's raw durable
//! insert rate at Convene's setting (WAL, synchronous=FULL).

use std::convert::Infallible;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A GetMeeting-sized answer.
const BODY: &str = r#"{"Meeting":{"MeetingId":"8f4e2a2c-0000-4000-8000-000000000001","ExternalMeetingId":"bench","MediaRegion":"us-east-1","MediaPlacement":{"AudioHostUrl":"127.0.0.1:3478"}}}"#;

/// `convene-bench floor-server`: serves BODY to every request on a free
/// loopback port, printing the address on stdout; runs until killed. The
/// runtime is tokio's default multi-thread one, as in the server.
pub fn serve() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        println!("{}", listener.local_addr().map_err(|e| e.to_string())?);
        loop {
            let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let resp = hyper::Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                        .expect("a fixed response");
                    Ok::<_, Infallible>(resp)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Durable single-row insert transactions per second into an attendee-shaped
/// table (same columns and unique indexes as Convene's), one connection,
/// for `measure` after a short warm-up.
pub fn sqlite_inserts(dir: &Path, measure: Duration) -> Result<f64, String> {
    let conn = rusqlite::Connection::open(dir.join("floor.sqlite3")).map_err(|e| e.to_string())?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE attendees (
             seq INTEGER PRIMARY KEY AUTOINCREMENT,
             meeting_id TEXT NOT NULL,
             attendee_id TEXT NOT NULL UNIQUE,
             external_user_id TEXT NOT NULL,
             join_token TEXT NOT NULL UNIQUE,
             audio TEXT NOT NULL, video TEXT NOT NULL, content TEXT NOT NULL,
             UNIQUE (meeting_id, external_user_id));
         CREATE INDEX attendees_by_meeting ON attendees (meeting_id, seq);",
    )
    .map_err(|e| e.to_string())?;
    let mut n: u64 = 0;
    let mut insert = |conn: &rusqlite::Connection| -> Result<(), String> {
        n += 1;
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| e.to_string())?;
        conn.prepare_cached(
            "INSERT INTO attendees (meeting_id, attendee_id, external_user_id, join_token, audio, video, content)
             VALUES (?1, ?2, ?3, ?4, 'SendReceive', 'SendReceive', 'SendReceive')",
        )
        .and_then(|mut s| {
            s.execute((
                format!("meeting-{}", n % 97),
                format!("attendee-{n:016x}"),
                format!("user-{n}"),
                format!("token-{n:032x}"),
            ))
        })
        .map_err(|e| e.to_string())?;
        conn.execute_batch("COMMIT").map_err(|e| e.to_string())
    };
    let warm = Instant::now() + Duration::from_millis(200);
    while Instant::now() < warm {
        insert(&conn)?;
    }
    let began = Instant::now();
    let mut count = 0u64;
    while began.elapsed() < measure {
        insert(&conn)?;
        count += 1;
    }
    Ok(count as f64 / began.elapsed().as_secs_f64())
}
