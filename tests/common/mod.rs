//! Test harness: starts the real `convene` binary on a loopback port and
//! builds official AWS SDK clients pointed at it.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_chimesdkmeetings as chime;
use chime::config::retry::RetryConfig;
use chime::config::{BehaviorVersion, Credentials, Region};

pub const ACCOUNT: &str = "123456789012";
pub const ACCESS_KEY: &str = "AKIDEXAMPLE";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A running server process with its own data directory.
pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub data_dir: PathBuf,
    /// The PostgreSQL database of this server, when the suite runs on PostgreSQL.
    pub database_url: Option<String>,
    tmp_dir: Option<tempfile::TempDir>,
}

/// The backend integration tests run on: `CONVENE_TEST_BACKEND=postgres`
/// runs them on PostgreSQL (the server at `CONVENE_TEST_POSTGRES`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`), one fresh database per
/// data directory; anything else (or unset) on the embedded SQLite.
pub fn on_postgres() -> bool {
    std::env::var("CONVENE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

pub fn postgres_admin_url() -> String {
    std::env::var("CONVENE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// How test databases' names begin: `CONVENE_TEST_DB_PREFIX`, default
/// `convene_test_` (lets runs sharing one server tell their databases apart).
pub fn db_prefix() -> String {
    std::env::var("CONVENE_TEST_DB_PREFIX").unwrap_or_else(|_| "convene_test_".into())
}

/// True when a missing PostgreSQL must fail the test rather than skip it.
pub fn postgres_required() -> bool {
    std::env::var("CONVENE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs one admin statement on the PostgreSQL server; Err when none answers.
pub fn postgres_admin(sql: &str) -> Result<(), String> {
    postgres_admin_rows(sql).map(|_| ())
}

/// Runs admin statements; the rows of their results, as text (NULL as "").
pub fn postgres_admin_rows(sql: &str) -> Result<Vec<Vec<String>>, String> {
    // On a thread of its own: callers may be inside a runtime already.
    let sql = sql.to_string();
    std::thread::spawn(move || postgres_admin_now(&sql))
        .join()
        .unwrap_or_else(|_| Err("the admin thread panicked".into()))
}

fn postgres_admin_now(sql: &str) -> Result<Vec<Vec<String>>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&postgres_admin_url(), tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        let task = tokio::spawn(conn);
        let r = client
            .simple_query(sql)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            })
            .map(|messages| {
                messages
                    .iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).unwrap_or("").to_string())
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            });
        drop(client);
        let _ = task.await;
        r
    })
}

/// What a test database's comment starts with: the data directory it stands for follows.
const DIR_COMMENT: &str = "convene-test-dir:";

/// Drops the test databases (of this prefix) whose data directory is gone:
/// a test that ended removed its directory, and its database goes with it at
/// the next start, here or in a later run.
fn drop_orphaned_databases() {
    let sql = format!(
        "SELECT datname, COALESCE(shobj_description(oid, 'pg_database'), '') FROM pg_database \
         WHERE starts_with(datname, '{}')",
        db_prefix()
    );
    let Ok(rows) = postgres_admin_rows(&sql) else {
        return;
    };
    for row in rows {
        let (name, comment) = (&row[0], &row[1]);
        if let Some(dir) = comment.strip_prefix(DIR_COMMENT) {
            if !Path::new(dir).exists() {
                let _ = postgres_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// A test cannot run because something from outside the repository is
/// missing (a system library, a program). Under `CI=true` the test fails
/// (CI installs it); otherwise it says so where the test harness does not
/// hide it (straight to stderr: the harness captures `eprintln!`), and the
/// caller returns.
pub fn missing_input(test: &str, what: &str) {
    let msg = format!("SKIPPED {test}: {what}");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{msg} (CI=true: a test input must be present; .ci/run installs it)"
    );
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
}

/// A fresh database URL (or None, said loudly, when no PostgreSQL answers
/// and it is not required).
pub fn fresh_postgres(name: &str) -> Option<String> {
    if let Err(e) = postgres_admin("SELECT 1") {
        let msg = format!("no PostgreSQL at {} ({e})", postgres_admin_url());
        assert!(
            !postgres_required(),
            "{msg}; CONVENE_REQUIRE_POSTGRES=1 or CI=true: failing"
        );
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    postgres_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .expect("drop old test database");
    postgres_admin(&format!("CREATE DATABASE {name}")).expect("create test database");
    let base = postgres_admin_url();
    let (base, _) = base.rsplit_once('/').expect("URL ends with /DATABASE");
    Some(format!("{base}/{name}"))
}

/// The database a data directory stands for on PostgreSQL (so that a restart
/// on the same directory finds the same data).
fn database_for(data_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    format!("{}{:016x}", db_prefix(), h.finish())
}

/// The database of a data directory: made at its first start, found again
/// at the next. None, said loudly, when no PostgreSQL answers and none is
/// required: the test then runs on SQLite.
fn database_of(data_dir: &Path) -> Option<String> {
    let name = database_for(data_dir);
    let marker = data_dir.join(".convene-test-db");
    if marker.exists() {
        let base = postgres_admin_url();
        return Some(format!("{}/{name}", base.rsplit_once('/')?.0));
    }
    drop_orphaned_databases();
    let Some(url) = fresh_postgres(&name) else {
        eprintln!("SKIPPED on PostgreSQL: this test runs on SQLite instead");
        return None;
    };
    std::fs::create_dir_all(data_dir).expect("data dir");
    std::fs::write(&marker, &name).expect("marker file");
    let dir = data_dir.canonicalize().expect("data dir path");
    let comment = format!("{DIR_COMMENT}{}", dir.display()).replace('\'', "''");
    postgres_admin(&format!("COMMENT ON DATABASE {name} IS '{comment}'"))
        .expect("comment on the test database");
    Some(url)
}

impl Server {
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir, &[]);
        s.tmp_dir = Some(tmp);
        s
    }

    /// Starts the server on `data_dir` (kept after the server stops). With
    /// `CONVENE_TEST_BACKEND=postgres` the server's store is a database of its
    /// own, named after `data_dir` (a restart on it finds the same data).
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        let mut database_url = None;
        let mut backend: Vec<String> = vec![];
        if on_postgres() && !extra.contains(&"--ephemeral") {
            database_url = database_of(data_dir);
            if let Some(url) = &database_url {
                backend = vec!["--database-url".into(), url.clone()];
            }
        }
        Self::start_with(data_dir, extra, &backend, database_url)
    }

    /// Starts the server with these arguments besides the test's own.
    pub fn start_with(
        data_dir: &Path,
        extra: &[&str],
        backend: &[String],
        database_url: Option<String>,
    ) -> Server {
        Self::start_with_env(data_dir, extra, backend, database_url, &[])
    }

    /// Starts the server on SQLite in `data_dir` with these environment
    /// variables set for it alone.
    pub fn start_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_with_env(data_dir, extra, &[], None, env)
    }

    fn start_with_env(
        data_dir: &Path,
        extra: &[&str],
        backend: &[String],
        database_url: Option<String>,
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_convene"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .args(backend)
            .env_remove("CONVENE_DATABASE_URL")
            .env(
                "CONVENE_LOG",
                std::env::var("CONVENE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("CONVENE_ACCOUNT_ID")
            .env_remove("CONVENE_PUBLIC_URL")
            .env_remove("CONVENE_CREDENTIALS_FILE")
            // Servers of parallel tests must not compete for the default media port.
            .env("CONVENE_MEDIA_LISTEN", "127.0.0.1:0")
            .env_remove("CONVENE_MEDIA_PUBLIC_ADDR")
            .env("CONVENE_ACCESS_KEY_ID", ACCESS_KEY)
            .env("CONVENE_SECRET_ACCESS_KEY", SECRET_KEY)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start convene");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("convene exited before listening")
                .expect("read convene log");
            if let Some(i) = line.find("convene listening on http://") {
                let rest = &line[i + "convene listening on http://".len()..];
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        // Set CONVENE_TEST_LOG (for example to `debug`) to see it.
        let show = std::env::var("CONVENE_TEST_LOG").is_ok();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if show {
                    eprintln!("[convene] {line}");
                }
            }
        });
        Server {
            child: Some(child),
            addr,
            data_dir: data_dir.to_path_buf(),
            database_url,
            tmp_dir: None,
        }
    }

    /// A handle on a server started some other way (not stopped when dropped).
    pub fn attach(addr: &str) -> Server {
        Server {
            child: None,
            addr: addr.to_string(),
            data_dir: PathBuf::new(),
            database_url: None,
            tmp_dir: None,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> chime::Client {
        self.client_in("us-east-1")
    }

    pub fn client_in(&self, region: &str) -> chime::Client {
        self.client_with(region, ACCESS_KEY, SECRET_KEY)
    }

    pub fn client_with(&self, region: &str, access_key: &str, secret: &str) -> chime::Client {
        let http = aws_smithy_http_client::Builder::new().build_http();
        let conf = chime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(access_key, secret, None, None, "tests"))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .http_client(http)
            .build();
        chime::Client::from_conf(conf)
    }

    /// Sends SIGKILL: no shutdown code runs.
    pub fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().expect("wait")
    }

    /// A raw HTTP/1.1 exchange, signed with the test key by `aws-sigv4`, for what SDKs never send.
    pub fn raw(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let signed = sign(&Signing::new(&self.addr), method, target, headers, body);
        self.send(method, target, &signed, body)
    }

    /// A raw HTTP/1.1 exchange with exactly these headers (plus Host and Connection).
    pub fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> RawResponse {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = format!("{method} {target} HTTP/1.1\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: {}\r\n", self.addr));
        }
        req.push_str("Connection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        let has_length = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !has_length && (!body.is_empty() || method == "POST" || method == "PUT") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        // The server may answer (413) and close before the whole body is sent.
        let _ = s.write_all(body);
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if out.is_empty() => panic!("no response: {e}"),
                Err(_) => break,
            }
        }
        RawResponse::parse(&out)
    }
}

/// How to sign a raw request.
pub struct Signing {
    pub host: String,
    pub region: String,
    pub access_key: String,
    pub secret: String,
    pub time: std::time::SystemTime,
    pub presign_for: Option<Duration>,
    /// The signing name (`chime` for this service).
    pub service: String,
}

impl Signing {
    pub fn new(host: &str) -> Signing {
        Signing {
            host: host.to_string(),
            region: "us-east-1".into(),
            access_key: ACCESS_KEY.into(),
            secret: SECRET_KEY.into(),
            time: std::time::SystemTime::now(),
            presign_for: None,
            service: "chime".into(),
        }
    }
}

/// Signs with `aws-sigv4` (the AWS SDKs' own signer) and returns the headers to send
/// (for a presigned request, `target` is rewritten: see [`presign`]).
pub fn sign(
    s: &Signing,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    sign_parts(s, method, target, headers, body).1
}

/// A presigned target (the signature in the query string) and the headers to send.
pub fn presign(
    s: &Signing,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, Vec<(String, String)>) {
    sign_parts(s, method, target, headers, body)
}

fn sign_parts(
    s: &Signing,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, Vec<(String, String)>) {
    use aws_sigv4::http_request::{
        sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    let creds =
        aws_credential_types::Credentials::new(&s.access_key, &s.secret, None, None, "tests");
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    if let Some(d) = s.presign_for {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(d);
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&s.region)
        .name(&s.service)
        .time(s.time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut all: Vec<(String, String)> = vec![("host".to_string(), s.host.clone())];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let url = format!("http://{}{}", s.host, target);
    let signable = SignableRequest::new(
        method,
        url.clone(),
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method(method).uri(&url);
    for (k, v) in &all {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let out_headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let pq = req
        .uri()
        .path_and_query()
        .map_or_else(|| target.to_string(), |p| p.as_str().to_string());
    (pq, out_headers)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
        // A server that owns its data directory owns its database too.
        if let (Some(_), Some(url)) = (&self.tmp_dir, &self.database_url) {
            if let Some((_, name)) = url.rsplit_once('/') {
                let _ = postgres_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    fn parse(raw: &[u8]) -> RawResponse {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        RawResponse {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// The service error's shape name and HTTP status, from an SDK error.
pub fn err_code<E>(
    e: &chime::error::SdkError<E, chime::config::http::HttpResponse>,
) -> (String, u16)
where
    E: chime::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match e {
        chime::error::SdkError::ServiceError(se) => (
            se.err().code().unwrap_or("").to_string(),
            se.raw().status().as_u16(),
        ),
        other => panic!("not a service error: {other:?}"),
    }
}

pub fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---- making meetings and attendees through the SDK --------------------------

/// Creates a meeting in `region` with this external id; answers its id.
pub async fn create_meeting_in(c: &chime::Client, region: &str, ext: &str) -> String {
    c.create_meeting()
        .client_request_token(new_token())
        .media_region(region)
        .external_meeting_id(ext)
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
        .meeting_id
        .unwrap()
}

/// Adds an attendee with this external user id; answers it.
pub async fn new_attendee(c: &chime::Client, meeting: &str, user: &str) -> chime::types::Attendee {
    c.create_attendee()
        .meeting_id(meeting)
        .external_user_id(user)
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap()
}

/// Adds an attendee with this external user id; answers its id.
pub async fn add_attendee(c: &chime::Client, meeting: &str, user: &str) -> String {
    new_attendee(c, meeting, user).await.attendee_id.unwrap()
}

/// Adds an attendee with this external user id; answers its join token (what
/// its media client presents).
pub async fn join_token(c: &chime::Client, meeting: &str, user: &str) -> String {
    new_attendee(c, meeting, user).await.join_token.unwrap()
}

/// Starts `meetings` meetings at once (external ids `{ext}{n}`, with these
/// notification targets if any), each then given `per_meeting` attendees
/// (`user-0`, `user-1`, … one after another). Answers each meeting's events
/// as [`event_labels`] names them, in the order they were made.
pub async fn meetings_with_attendees(
    c: &chime::Client,
    region: &str,
    ext: &str,
    notifications: Option<&chime::types::NotificationsConfiguration>,
    meetings: usize,
    per_meeting: usize,
) -> HashMap<String, Vec<String>> {
    let mut tasks = Vec::new();
    for m in 0..meetings {
        let (c, region, n) = (c.clone(), region.to_string(), notifications.cloned());
        let ext = format!("{ext}{m}");
        tasks.push(tokio::spawn(async move {
            let mid = c
                .create_meeting()
                .client_request_token(new_token())
                .media_region(region)
                .external_meeting_id(ext)
                .set_notifications_configuration(n)
                .send()
                .await
                .unwrap()
                .meeting
                .unwrap()
                .meeting_id
                .unwrap();
            let mut expected = vec!["MeetingStarted".to_string()];
            for i in 0..per_meeting {
                let user = format!("user-{i}");
                add_attendee(&c, &mid, &user).await;
                expected.push(user);
            }
            (mid, expected)
        }));
    }
    let mut out = HashMap::new();
    for t in tasks {
        let (mid, e) = t.await.unwrap();
        out.insert(mid, e);
    }
    out
}

/// The meetings a test-control clock answer (`POST /_convene/clock`) says
/// ended, as (meeting id, reason).
pub fn ended_meetings(clock_answer: &serde_json::Value) -> Vec<(String, String)> {
    clock_answer["endedMeetings"]
        .as_array()
        .expect("endedMeetings in the clock's answer")
        .iter()
        .map(|e| {
            (
                e["meetingId"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Each meeting's events, in order of first arrival: an attendee's event by
/// its external user id, any other by its type without `chime:`. An event
/// that arrives again (delivery is at least once) counts once; it is known by
/// its meeting, type and user, since EventBridge gives each copy a new `id`.
pub fn event_labels(envelopes: &[serde_json::Value]) -> HashMap<String, Vec<String>> {
    let mut seen = HashSet::new();
    let mut per: HashMap<String, Vec<String>> = HashMap::new();
    for e in envelopes {
        let d = &e["detail"];
        let user = d["externalUserId"].as_str();
        let kind = d["eventType"].as_str().unwrap_or_default();
        if !seen.insert(format!("{}/{kind}/{}", d["meetingId"], user.unwrap_or(""))) {
            continue;
        }
        let label = user.map_or_else(
            || kind.trim_start_matches("chime:").to_string(),
            str::to_string,
        );
        per.entry(d["meetingId"].as_str().unwrap().to_string())
            .or_default()
            .push(label);
    }
    per
}
