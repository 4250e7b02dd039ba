//! Several real `convene` nodes on one PostgreSQL database: racing requests
//! on two nodes keep every invariant, events and throttling cross nodes, an
//! outage of the database answers 503 and heals by itself, the flags a
//! cluster cannot use are refused, and a meeting's media stays on one node
//! (signaling relayed there) and moves when that node dies.
//!
//! Each test makes its own database on the PostgreSQL at
//! `CONVENE_TEST_POSTGRES` (default postgres://postgres@127.0.0.1:5432/postgres)
//! and drops it after. Without a reachable server the tests say SKIPPED and
//! pass, except under CONVENE_REQUIRE_POSTGRES=1 or CI=true, where they fail.

mod common;
#[path = "common/media.rs"]
mod media_client;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_chimesdkmeetings as chime;
use chime::types::{AttendeeFeatures, MeetingFeaturesConfiguration};
use common::{err_code, fresh_postgres, new_token, postgres_admin, Server};

/// A database for one test, dropped at the end.
struct Db {
    name: String,
    url: String,
}

impl Db {
    fn new(test: &str) -> Option<Db> {
        let name = format!(
            "{}{test}_{}",
            common::db_prefix(),
            uuid::Uuid::new_v4().simple()
        );
        fresh_postgres(&name).map(|url| Db { name, url })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = postgres_admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn node(url: &str, extra: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let backend = vec!["--database-url".to_string(), url.to_string()];
    let s = Server::start_with(dir.path(), extra, &backend, None);
    (s, dir)
}

/// Runs `n` futures at once, half of them through each client.
async fn race<T, F, Fut>(clients: &[chime::Client; 2], n: usize, f: F) -> Vec<T>
where
    F: Fn(chime::Client, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n)
        .map(|i| tokio::spawn(f(clients[i % 2].clone(), i)))
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_racing_keep_every_invariant() {
    let Some(db) = Db::new("race") else { return };
    let (a, _da) = node(&db.url, &["--max-meetings", "12"]);
    let (b, _db) = node(&db.url, &["--max-meetings", "12"]);
    let clients = [a.client(), b.client()];

    // One meeting for one ClientRequestToken; a retry gets the first answer.
    let token = new_token();
    let ids = race(&clients, 16, |c, _| {
        let token = token.clone();
        async move {
            c.create_meeting()
                .client_request_token(token)
                .media_region("us-east-1")
                .external_meeting_id("race")
                .meeting_features(
                    MeetingFeaturesConfiguration::builder()
                        .attendee(AttendeeFeatures::builder().max_count(5).build())
                        .build(),
                )
                .send()
                .await
                .expect("CreateMeeting never fails in a race")
                .meeting
                .unwrap()
                .meeting_id
                .unwrap()
        }
    })
    .await;
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 1, "one meeting per token: {distinct:?}");
    let meeting = ids[0].clone();

    // One attendee for one ExternalUserId.
    let attendees = race(&clients, 16, |c, _| {
        let meeting = meeting.clone();
        async move {
            c.create_attendee()
                .meeting_id(meeting)
                .external_user_id("same-user")
                .send()
                .await
                .expect("CreateAttendee never fails for a replay")
                .attendee
                .unwrap()
                .attendee_id
                .unwrap()
        }
    })
    .await;
    let distinct: HashSet<_> = attendees.iter().collect();
    assert_eq!(
        distinct.len(),
        1,
        "one attendee per ExternalUserId: {distinct:?}"
    );

    // MaxCount 5: four more distinct attendees fit, no more.
    let outcomes = race(&clients, 20, |c, i| {
        let meeting = meeting.clone();
        async move {
            match c
                .create_attendee()
                .meeting_id(meeting)
                .external_user_id(format!("user-{i}"))
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => Err(err_code(&e)),
            }
        }
    })
    .await;
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(created, 4, "MaxCount 5 holds across nodes: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|(code, status)| code == "LimitExceededException" && *status == 400),
        "{outcomes:?}"
    );

    // At most 4 replicas of one primary.
    let outcomes = race(&clients, 10, |c, _| {
        let meeting = meeting.clone();
        async move {
            c.create_meeting()
                .client_request_token(new_token())
                .media_region("us-east-1")
                .external_meeting_id("replica")
                .primary_meeting_id(meeting)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err_code(&e))
        }
    })
    .await;
    let replicas = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(replicas, 4, "four replicas at most: {outcomes:?}");

    // The meeting quota (12 here): 1 primary + 4 replicas held, 7 more fit.
    let outcomes = race(&clients, 20, |c, _| async move {
        c.create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id("quota")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err_code(&e))
    })
    .await;
    let more = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(
        more, 7,
        "the meeting quota holds across nodes: {outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|(_, status)| *status < 500),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_on_one_node_while_another_inserts_skips_and_repeats_nothing() {
    let Some(db) = Db::new("paging") else { return };
    let (a, _da) = node(&db.url, &[]);
    let (b, _db) = node(&db.url, &[]);
    let (ca, cb) = (a.client(), b.client());
    let meeting = common::create_meeting_in(&ca, "us-east-1", "paging").await;
    let mut before = HashSet::new();
    for i in 0..30 {
        let id = common::add_attendee(&ca, &meeting, &format!("before-{i}")).await;
        before.insert(id);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let inserter = {
        let (ca, meeting, stop) = (ca.clone(), meeting.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 60 {
                ca.create_attendee()
                    .meeting_id(&meeting)
                    .external_user_id(format!("during-{i}"))
                    .send()
                    .await
                    .unwrap();
                i += 1;
            }
        })
    };
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = cb
            .list_attendees()
            .meeting_id(&meeting)
            .max_results(7)
            .set_next_token(next.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            page.attendees()
                .iter()
                .map(|a| a.attendee_id().unwrap().to_string()),
        );
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    inserter.await.unwrap();
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no attendee repeated");
    assert!(
        before.is_subset(&unique),
        "no attendee that existed before paging was skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn page_tokens_signed_on_one_node_are_accepted_by_another() {
    let Some(db) = Db::new("tokens") else { return };
    let (a, _da) = node(&db.url, &[]);
    let (b, _db) = node(&db.url, &[]);
    let (ca, cb) = (a.client(), b.client());
    let meeting = common::create_meeting_in(&ca, "us-east-1", "tokens").await;
    for i in 0..3 {
        ca.create_attendee()
            .meeting_id(&meeting)
            .external_user_id(format!("u-{i}"))
            .send()
            .await
            .unwrap();
    }
    let first = ca
        .list_attendees()
        .meeting_id(&meeting)
        .max_results(2)
        .send()
        .await
        .unwrap();
    let rest = cb
        .list_attendees()
        .meeting_id(&meeting)
        .max_results(2)
        .set_next_token(first.next_token().map(str::to_string))
        .send()
        .await
        .expect("node B accepts node A's NextToken");
    assert_eq!(first.attendees().len() + rest.attendees().len(), 3);
}

/// Two nodes with 20 requests/s (burst 20) per account and operation: requests
/// spread over both get the configured rate once, within 10%, not twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_holds_per_account_across_nodes() {
    let Some(db) = Db::new("throttle") else {
        return;
    };
    let limits = ["--rate-limit", "20", "--rate-burst", "20"];
    let (a, _da) = node(&db.url, &limits);
    let (b, _db) = node(&db.url, &limits);
    let clients = [a.client(), b.client()];
    let meeting = clients[0]
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("throttle")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
        .meeting_id
        .unwrap();
    let window = Duration::from_secs(3);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let c = clients[w % 2].clone();
        let meeting = meeting.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut throttled) = (0u32, 0u32);
            while started.elapsed() < window {
                match c.get_meeting().meeting_id(&meeting).send().await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        let (code, status) = err_code(&e);
                        assert_eq!((code.as_str(), status), ("ThrottlingException", 429));
                        throttled += 1;
                    }
                }
            }
            (ok, throttled)
        }));
    }
    let (mut ok, mut throttled) = (0, 0);
    for t in tasks {
        let (o, th) = t.await.unwrap();
        ok += o;
        throttled += th;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let expected = 20.0 + 20.0 * elapsed;
    let ratio = f64::from(ok) / expected;
    eprintln!("allowed {ok}, throttled {throttled}, expected {expected:.0} (ratio {ratio:.3})");
    assert!(throttled > 0, "the test must reach the limit");
    assert!(
        (0.9..=1.1).contains(&ratio),
        "allowed {ok} in {elapsed:.2}s across two nodes; one account's rate allows {expected:.0}"
    );
}

/// What a cluster cannot use is refused at start with a clear message.
#[test]
fn generated_credentials_and_ephemeral_are_refused_with_a_database_url() {
    let refused = |args: &[&str], env_keys: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_convene"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--media-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env_remove("CONVENE_CREDENTIALS_FILE")
        .env_remove("CONVENE_DATABASE_URL")
        .env_remove("CONVENE_DATA_DIR");
        if env_keys {
            cmd.env("CONVENE_ACCESS_KEY_ID", common::ACCESS_KEY)
                .env("CONVENE_SECRET_ACCESS_KEY", common::SECRET_KEY);
        } else {
            cmd.env_remove("CONVENE_ACCESS_KEY_ID")
                .env_remove("CONVENE_SECRET_ACCESS_KEY");
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let url = "postgres://postgres@127.0.0.1:1/none";
    let msg = refused(&["--database-url", url], false);
    assert!(msg.contains("a generated key pair"), "{msg}");
    let msg = refused(&["--database-url", url, "--ephemeral"], true);
    assert!(msg.contains("--ephemeral"), "{msg}");
}

/// A TCP proxy in front of PostgreSQL that the test cuts (closing every
/// connection and refusing new ones) and restores on the same port.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let (up3, gen3) = (up2.clone(), gen2.clone());
                let born = gen3.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let cut = async {
                        while up3.load(Ordering::SeqCst) && gen3.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut => {}
                    }
                });
            }
        });
        Proxy {
            addr,
            up,
            generation,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_answers_503_then_heals_without_a_restart() {
    let Some(db) = Db::new("outage") else { return };
    let target: std::net::SocketAddr = {
        let rest = db.url.split_once('@').map_or(db.url.as_str(), |(_, r)| r);
        let hostport = rest.split('/').next().unwrap();
        tokio::net::lookup_host(hostport)
            .await
            .unwrap()
            .next()
            .unwrap()
    };
    let proxy = Proxy::start(target).await;
    let via_proxy = format!(
        "postgres://{}/{}",
        proxy.addr,
        db.url.rsplit_once('/').unwrap().1
    );
    let user = db
        .url
        .split_once("://")
        .unwrap()
        .1
        .split_once('@')
        .map(|(u, _)| u.to_string());
    let via_proxy = match user {
        Some(u) => via_proxy.replacen("://", &format!("://{u}@"), 1),
        None => via_proxy,
    };
    let (s, _d) = node(&via_proxy, &["--store-timeout-ms", "500"]);
    let c = s.client();
    let create = |c: chime::Client| async move {
        c.create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id("outage")
            .send()
            .await
    };
    create(c.clone()).await.expect("works before the outage");
    assert_eq!(s.send("GET", "/ready", &[], b"").status, 200);

    proxy.cut();
    // The proxy's connections notice the cut within 20 ms.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let r = s.raw(
            "POST",
            "/meetings",
            &[("content-type", "application/json")],
            format!(
                r#"{{"ClientRequestToken":"{}","MediaRegion":"us-east-1","ExternalMeetingId":"xx"}}"#,
                new_token()
            )
            .as_bytes(),
        );
        // Measured, not asserted (no timed assertions): the bound is the
        // server's own --store-timeout-ms (500 ms here).
        eprintln!("503 during the outage after {:?}", started.elapsed());
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(
            r.header("x-amzn-errortype")
                .map(|t| t.split(':').next().unwrap()),
            Some("ServiceUnavailableException")
        );
        assert!(r.header("retry-after").is_some(), "{r:?}");
    }
    let ready = s.send("GET", "/ready", &[], b"");
    assert_eq!(
        ready.status, 503,
        "/ready while the database is gone: {ready:?}"
    );
    assert_eq!(s.send("GET", "/health", &[], b"").status, 200);

    proxy.restore();
    let healed = Instant::now();
    // Bounded by tries, not by a clock: about a minute of 200 ms pauses.
    let mut tries = 0;
    loop {
        match create(c.clone()).await {
            Ok(_) => break,
            Err(e) => {
                let (code, status) = err_code(&e);
                assert_eq!(
                    (code.as_str(), status),
                    ("ServiceUnavailableException", 503)
                );
                tries += 1;
                assert!(tries < 300, "no recovery after {tries} tries");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    eprintln!(
        "recovered {:?} after the database returned",
        healed.elapsed()
    );
    assert_eq!(s.send("GET", "/ready", &[], b"").status, 200);
}

/// A DeleteAttendee answered by node A closes the attendee's signaling socket
/// on node B (the event travels by LISTEN/NOTIFY; the time is printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_attendee_on_one_node_closes_the_socket_on_another() {
    let Some(db) = Db::new("events") else { return };
    let (a, _da) = node(&db.url, &[]);
    let (b, _db) = node(&db.url, &[]);
    let ca = a.client();
    let m = ca
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("events")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let meeting_id = m.meeting_id.unwrap();
    let signaling = m.media_placement.unwrap().signaling_url.unwrap();
    let at = ca
        .create_attendee()
        .meeting_id(&meeting_id)
        .external_user_id("bob")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    // The signaling URL names node A; Bob's socket goes to node B instead.
    let on_b = signaling.replace(&a.addr, &b.addr);
    assert_ne!(on_b, signaling);
    let (mut ws, _) = media_client::connect(&on_b, &at.join_token.unwrap()).await;
    // JOIN_ACK: Bob is in the meeting on node B.
    media_client::join(&mut ws).await;
    let deleted = Instant::now();
    ca.delete_attendee()
        .meeting_id(&meeting_id)
        .attendee_id(at.attendee_id.unwrap())
        .send()
        .await
        .unwrap();
    // Nothing but the event from node A closes the socket: no poll, no
    // expiry. The time it took is printed (no timed assertions).
    let (closed, _) = media_client::closed(&mut ws).await;
    eprintln!(
        "node B closed the socket {:?} after node A's DeleteAttendee was sent",
        deleted.elapsed()
    );
    assert_eq!(closed, 4403);
}

// ---- meeting events delivered by two nodes sharing the outbox ---------------

/// A webhook receiver that keeps (webhook-id, envelope) in arrival order.
#[derive(Default)]
struct Hook {
    got: std::sync::Mutex<Vec<(String, serde_json::Value)>>,
}

impl Hook {
    /// Each distinct event once, in order of first arrival.
    fn distinct(&self) -> Vec<serde_json::Value> {
        let mut seen = HashSet::new();
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(id, _)| seen.insert(id.clone()))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

async fn hook(
    axum::extract::State(h): axum::extract::State<Arc<Hook>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    h.got.lock().unwrap().push((id, v));
    axum::http::StatusCode::NO_CONTENT
}

/// Two nodes share one outbox: every event of every meeting (made on either
/// node) reaches the receiver, each meeting's in order, and it still does
/// after one node is killed with SIGKILL while it holds leases (the other
/// takes its streams over once the leases expire).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_every_event_in_order_and_survive_a_kill() {
    let Some(db) = Db::new("outbox") else { return };
    let h = Arc::new(Hook::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The secret only ever travels through the environment.
    std::env::set_var(
        "CONVENE_EVENTS_WEBHOOK_SECRET",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    let args = [
        "--events-webhook-url",
        url.as_str(),
        "--events-lease-ms",
        "2000",
        "--events-retry-base-ms",
        "50",
        "--events-retry-max-ms",
        "300",
        "--rate-limit",
        "0",
    ];
    let (mut a, _da) = node(&db.url, &args);
    let (b, _db) = node(&db.url, &args);
    let (ca, cb) = (a.client(), b.client());
    // 20 meetings on each node, 25 events each: 1,000 events.
    let (on_a, on_b) = tokio::join!(
        common::meetings_with_attendees(&ca, "us-east-1", "a", None, 20, 24),
        common::meetings_with_attendees(&cb, "us-east-1", "b", None, 20, 24)
    );
    let mut expected = on_a;
    expected.extend(on_b);
    // Kill node A as soon as delivery is under way (it holds leases then),
    // and go on making changes on node B.
    for _ in 0..6_000 {
        if !h.distinct().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill_hard();
    expected.extend(common::meetings_with_attendees(&cb, "us-east-1", "after", None, 10, 24).await);
    let total: usize = expected.values().map(Vec::len).sum();
    // A guard against hanging, not a timed claim.
    for _ in 0..12_000 {
        if h.distinct().len() >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = h.distinct();
    assert_eq!(got.len(), total, "every event, once each by id");
    let per = common::event_labels(&got);
    for (mid, want) in &expected {
        assert_eq!(per.get(mid), Some(want), "meeting {mid}'s events, in order");
    }
    let dupes = h.got.lock().unwrap().len() - total;
    eprintln!("two-node delivery: {total} events, {dupes} sent again after the kill");
}

// ---- a meeting's media on one node, signaling on any ------------------------

/// The media address a node puts in MediaPlacement.AudioHostUrl and in its
/// ICE candidates, learnt from a meeting created through it.
async fn media_addr_of(c: &chime::Client) -> String {
    c.create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("probe")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
        .media_placement
        .unwrap()
        .audio_host_url
        .unwrap()
}

/// True when the SDP answer's host candidate is `addr` (`ip:port`).
fn candidate_is(answer: &str, addr: &str) -> bool {
    let (ip, port) = addr.rsplit_once(':').unwrap();
    let want = format!(" {ip} {port} typ host");
    answer
        .lines()
        .any(|l| l.starts_with("a=candidate:") && l.contains(&want))
}

/// Joins and subscribes like `media_peer`, and returns the SDP answer too.
async fn peer_with_answer(
    url: &str,
    token: &str,
) -> (media_client::Ws, media_client::Peer, String) {
    let (mut ws, _) = media_client::connect(url, token).await;
    media_client::join(&mut ws).await;
    let mut peer = media_client::Peer::new();
    let (offer, pending) = peer.offer();
    let answer = media_client::subscribe(&mut ws, &offer).await;
    peer.accept(pending, &answer);
    (ws, peer, answer)
}

/// Runs `from` sending a tone to `to` for 3 s; how many of its packets arrived.
async fn heard(
    from: &mut media_client::Peer,
    to: &mut media_client::Peer,
    t: &mut u64,
) -> (usize, usize) {
    to.received.clear();
    let sent = media_client::exchange(from, to, Duration::from_secs(3), t).await;
    let got = to
        .received
        .iter()
        .filter(|r| sent.iter().any(|s| s.as_slice() == &r[..]))
        .count();
    (got, sent.len())
}

/// Two nodes, one meeting, Alice's signaling on node A and Bob's on node B:
/// both are hosted by one node (Bob's connection is relayed; his ICE
/// candidate names node A's media address) and hear each other. After node A
/// is killed (SIGKILL), the relay closes Bob's socket with 4503 (the SDK
/// reconnects on it), both reconnect to node B, which takes the meeting over
/// once A's heartbeat expires, and they hear each other again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_meeting_is_hosted_by_one_node_and_taken_over_when_it_dies() {
    if !media_client::need_libopus("a_meeting_is_hosted_by_one_node_and_taken_over_when_it_dies") {
        return;
    }
    let Some(db) = Db::new("mediahost") else {
        return;
    };
    let (mut a, _da) = node(&db.url, &[]);
    let (b, _db) = node(&db.url, &[]);
    let (ca, cb) = (a.client(), b.client());
    let (media_a, media_b) = (media_addr_of(&ca).await, media_addr_of(&cb).await);
    assert_ne!(media_a, media_b);
    let m = ca
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("mediahost")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let meeting_id = m.meeting_id.unwrap();
    let on_a = m.media_placement.unwrap().signaling_url.unwrap();
    let on_b = on_a.replace(&a.addr, &b.addr);
    assert_ne!(on_a, on_b);
    let alice = common::join_token(&ca, &meeting_id, "alice").await;
    let bob = common::join_token(&cb, &meeting_id, "bob").await;

    // Alice arrives first, on node A, which takes the meeting.
    let (wa, mut pa, answer) = peer_with_answer(&on_a, &alice).await;
    assert!(candidate_is(&answer, &media_a), "node A's media:\n{answer}");
    // Bob's signaling lands on node B and is relayed to node A.
    let started = Instant::now();
    let (mut wb, mut pb, answer) = peer_with_answer(&on_b, &bob).await;
    eprintln!(
        "relayed JOIN + SUBSCRIBE through node B took {:?}",
        started.elapsed()
    );
    assert!(
        candidate_is(&answer, &media_a),
        "Bob, on node B, is told node A's media address {media_a}:\n{answer}"
    );
    assert!(!candidate_is(&answer, &media_b));
    let mut t = 0u64;
    let (got, sent) = heard(&mut pa, &mut pb, &mut t).await;
    assert!(pa.connected && pb.connected, "both reach node A's media");
    assert!(got > sent / 2, "Bob heard {got} of Alice's {sent} packets");
    let (got, sent) = heard(&mut pb, &mut pa, &mut t).await;
    assert!(got > sent / 2, "Alice heard {got} of Bob's {sent} packets");

    // A connection marked as relayed is not served by a node that does not
    // host the meeting (the relay header makes no second host), and a bad
    // token is refused on node B as on one node (it takes no meeting).
    assert_eq!(marked_relayed(&on_b, &bob).await, 4503);
    let (mut bad, _) = media_client::connect(&on_b, "not-a-token").await;
    assert_eq!(media_client::closed(&mut bad).await.0, 4403);

    a.kill_hard();
    let killed = Instant::now();
    let (code, _) = media_client::closed(&mut wb).await;
    eprintln!(
        "node B closed Bob's relay {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(code, 4503, "the SDK reconnects on 45xx");
    drop(wa);

    // Both come back to node B (Alice's load balancer has only B left).
    let (_wa, mut pa, answer_a) = peer_with_answer(&on_b, &alice).await;
    eprintln!(
        "node B took the meeting over {:?} after the kill",
        killed.elapsed()
    );
    let (_wb, mut pb, answer_b) = peer_with_answer(&on_b, &bob).await;
    assert!(
        candidate_is(&answer_a, &media_b),
        "node B's media:\n{answer_a}"
    );
    assert!(
        candidate_is(&answer_b, &media_b),
        "node B's media:\n{answer_b}"
    );
    let (got, sent) = heard(&mut pa, &mut pb, &mut t).await;
    assert!(pa.connected && pb.connected, "both reach node B's media");
    assert!(got > sent / 2, "Bob heard {got} of Alice's {sent} packets");
    let (got, sent) = heard(&mut pb, &mut pa, &mut t).await;
    assert!(got > sent / 2, "Alice heard {got} of Bob's {sent} packets");
}

/// Opens a signaling socket as if relayed by another node; its close code.
async fn marked_relayed(url: &str, token: &str) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{url}?X-Chime-Control-Protocol-Version=3")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {token}").parse().unwrap(),
    );
    req.headers_mut()
        .insert("x-convene-relayed-by", "someone".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    media_client::closed(&mut ws).await.0
}

/// Runs one statement on the test's own database; the rows as text.
async fn on_db(url: &str, sql: &str) -> Vec<Vec<String>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .simple_query(sql)
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// A node that finds one of its meetings hosted by another node (as after
/// its heartbeat lapsed) closes that meeting's connections with 4503, and the
/// client that reconnects to it is relayed to the new host: the meeting is
/// never left split across two nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_meeting_was_taken_over_sends_its_clients_to_the_new_host() {
    let Some(db) = Db::new("mediamove") else {
        return;
    };
    let (a, _da) = node(&db.url, &[]);
    let (b, _db) = node(&db.url, &[]);
    let (ca, cb) = (a.client(), b.client());
    let media_b = media_addr_of(&cb).await;
    let m = ca
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("mediamove")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let meeting_id = m.meeting_id.unwrap();
    let on_a = m.media_placement.unwrap().signaling_url.unwrap();
    let alice = common::join_token(&ca, &meeting_id, "alice").await;
    let (mut wa, _pa, _) = peer_with_answer(&on_a, &alice).await;
    let host = on_db(
        &db.url,
        &format!("SELECT node_id FROM meeting_hosts WHERE meeting_id = '{meeting_id}'"),
    )
    .await;
    let host_a = host[0][0].clone();
    // Node B takes the meeting behind node A's back.
    let moved = on_db(
        &db.url,
        &format!(
            "UPDATE meeting_hosts SET node_id = (SELECT node_id FROM nodes WHERE node_id <> '{host_a}') \
             WHERE meeting_id = '{meeting_id}' RETURNING node_id"
        ),
    )
    .await;
    assert_eq!(moved.len(), 1);
    let started = Instant::now();
    let (code, _) = media_client::closed(&mut wa).await;
    eprintln!(
        "node A sent its client away {:?} after the move",
        started.elapsed()
    );
    assert_eq!(code, 4503);
    // Back through node A, Alice is relayed to node B's media.
    let (_wa, _pa, answer) = peer_with_answer(&on_a, &alice).await;
    assert!(candidate_is(&answer, &media_b), "node B's media:\n{answer}");
}

/// Moves a node's meeting clock forward (a test control); the meetings that
/// ended because of it.
fn advance(node: &Server, seconds: u64) -> Vec<(String, String)> {
    let r = node.send(
        "POST",
        "/_convene/clock",
        &[("Content-Type".into(), "application/json".into())],
        format!(r#"{{"advanceSeconds":{seconds}}}"#).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    common::ended_meetings(&r.json())
}

/// A meeting created through `c`, and an attendee's join token in it.
async fn meeting_with_attendee(c: &chime::Client, name: &str) -> (String, String, String) {
    let m = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id(name)
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let meeting_id = m.meeting_id.unwrap();
    let token = common::join_token(c, &meeting_id, name).await;
    (
        meeting_id,
        m.media_placement.unwrap().signaling_url.unwrap(),
        token,
    )
}

async fn meeting_exists(c: &chime::Client, meeting_id: &str) -> bool {
    match c.get_meeting().meeting_id(meeting_id).send().await {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(err_code(&e), ("NotFoundException".to_string(), 404));
            false
        }
    }
}

/// Under AWS's rules (five idle minutes) only the node hosting a meeting's
/// media knows who is connected, so only it ends the meeting for being idle:
/// the node the meeting was created on, which sees nobody, leaves it alone
/// while the host is alive. When the host dies, the other node counts the
/// idle time from the moment it last saw the meeting hosted, not from the
/// meeting's creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_hosting_node_ends_a_meeting_for_being_idle() {
    use convene::media::protocol::{FrameType, SdkLeaveFrame, SdkSignalFrame};

    let Some(db) = Db::new("idle") else {
        return;
    };
    let rules = ["--test-controls", "--limits", "aws"];
    let (mut a, _da) = node(&db.url, &rules);
    let (b, _db) = node(&db.url, &rules);
    let cb = b.client();
    // Both meetings are created through node B (their idle time starts
    // there at creation) and joined through node A, which hosts them.
    let (first, url, alice) = meeting_with_attendee(&cb, "alice").await;
    let (mut wa, _) = media_client::connect(&url.replace(&b.addr, &a.addr), &alice).await;
    media_client::join(&mut wa).await;
    let (second, url, carol) = meeting_with_attendee(&cb, "carol").await;
    let (mut wc, _) = media_client::connect(&url.replace(&b.addr, &a.addr), &carol).await;
    media_client::join(&mut wc).await;

    // Ten minutes later by node B's clock nothing has ended: node A hosts
    // both meetings and has someone in each.
    assert_eq!(advance(&b, 600), vec![]);
    assert!(meeting_exists(&cb, &first).await && meeting_exists(&cb, &second).await);
    assert_eq!(advance(&a, 600), vec![]);

    // Alice leaves: node A ends her meeting five idle minutes later.
    let mut leave = SdkSignalFrame::new(FrameType::Leave);
    leave.leave = Some(SdkLeaveFrame {});
    media_client::send(&mut wa, &leave).await;
    media_client::next_of(&mut wa, FrameType::LeaveAck).await;
    assert_eq!(advance(&a, 240), vec![]);
    assert_eq!(advance(&a, 60), vec![(first.clone(), "idle".to_string())]);
    assert!(!meeting_exists(&cb, &first).await);

    // Node A dies with Carol in the second meeting. Once its heartbeat has
    // expired, node B judges that meeting, counting from when it last saw
    // node A host it.
    a.kill_hard();
    let gone = Instant::now();
    loop {
        let live = on_db(
            &db.url,
            &format!(
                "SELECT count(*) FROM nodes WHERE heartbeat_ms >= {}",
                convene::now_ms() - convene::cluster::NODE_TTL_MS
            ),
        )
        .await;
        if live[0][0] == "1" {
            break;
        }
        // A guard against hanging, not a timed claim.
        assert!(
            gone.elapsed() < Duration::from_secs(60),
            "node A's heartbeat never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(advance(&b, 240), vec![]);
    assert!(meeting_exists(&cb, &second).await);
    assert_eq!(advance(&b, 60), vec![(second.clone(), "idle".to_string())]);
    assert!(!meeting_exists(&cb, &second).await);
    drop(wc);
}
