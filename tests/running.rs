//! Running Convene as a service: the configuration file and its precedence,
//! `convene config check`, structured logs, /metrics, /health and /ready,
//! graceful shutdown of signaling sockets, and the console's API.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{new_token, Server, ACCESS_KEY, SECRET_KEY};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_convene");

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// The convene binary with none of the test run's CONVENE_* environment.
fn clean_convene() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("CONVENE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// `convene <args>` with a clean CONVENE_* environment plus `env`.
fn convene(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = clean_convene();
    cmd.args(args);
    cmd.envs(env.iter().copied());
    cmd.output().expect("run convene")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The line of `config check` output for `key`.
fn setting<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key} = ` line in:\n{out}"))
}

#[test]
fn the_example_file_is_valid_and_names_every_setting() {
    let example = repo_file("convene.example.toml");
    let o = convene(
        &["config", "check", "--config", example.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "config check failed: {}", stderr(&o));
    let out = stdout(&o);
    assert!(setting(&out, "listen").ends_with("# file"), "{out}");
    assert!(setting(&out, "shutdown_grace_ms").contains("20000"));
    // Every setting of `serve` is described in the example (set or commented out).
    let text = std::fs::read_to_string(&example).unwrap();
    let help = String::from_utf8(
        Command::new(BIN)
            .args(["serve", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|f| !["help", "config", "version"].contains(f))
        .collect();
    assert!(flags.len() > 15, "{flags:?}");
    for flag in flags {
        let key = flag.replace('-', "_");
        assert!(
            text.contains(&format!("{key} =")),
            "convene.example.toml does not describe `{key}`"
        );
    }
    // The output is itself a configuration that checks.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("effective.toml");
    std::fs::write(&again, &out).unwrap();
    let o = convene(
        &["config", "check", "--config", again.to_str().unwrap()],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "max_connections = 7\ndefault_page_size = 5\nbody_timeout_ms = 1234\n\
         limits = \"aws\"\nsecret_access_key = \"file-secret-value\"\n\
         metrics_token = \"file-metrics-token\"\naccess_key_id = \"AKIDFILE\"\n",
    )
    .unwrap();
    let o = convene(
        &["config", "check", "--default-page-size", "9"],
        &[
            ("CONVENE_CONFIG", file.to_str().unwrap()),
            ("CONVENE_MAX_CONNECTIONS", "8"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(
        setting(&out, "body_timeout_ms"),
        "body_timeout_ms = 1234  # file"
    );
    assert_eq!(setting(&out, "limits"), "limits = \"aws\"  # file");
    assert_eq!(
        setting(&out, "max_connections"),
        "max_connections = 8  # environment CONVENE_MAX_CONNECTIONS"
    );
    assert_eq!(
        setting(&out, "default_page_size"),
        "default_page_size = 9  # flag --default-page-size"
    );
    assert_eq!(
        setting(&out, "header_timeout_ms"),
        "header_timeout_ms = 10000  # default"
    );
    // Secrets are masked, whatever their source.
    assert!(!out.contains("file-secret-value") && !out.contains("file-metrics-token"));
    assert_eq!(
        setting(&out, "secret_access_key"),
        "secret_access_key = \"********\"  # file"
    );
    let o = convene(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[("CONVENE_METRICS_TOKEN", "env-token")],
    );
    let out = stdout(&o);
    assert_eq!(
        setting(&out, "metrics_token"),
        "metrics_token = \"********\"  # environment CONVENE_METRICS_TOKEN"
    );
    assert!(!out.contains("env-token"));
}

#[test]
fn config_check_masks_the_database_password_and_refuses_what_a_cluster_cannot_use() {
    let keys = [
        ("CONVENE_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("CONVENE_SECRET_ACCESS_KEY", "secret-value"),
    ];
    let url = "postgres://convene:hunter2-pw@db.internal:5432/convene";
    let o = convene(
        &["config", "check"],
        &[keys[0], keys[1], ("CONVENE_DATABASE_URL", url)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("hunter2-pw"), "{out}");
    assert_eq!(
        setting(&out, "database_url"),
        "database_url = \"postgres://convene:********@db.internal:5432/convene\"  \
         # environment CONVENE_DATABASE_URL"
    );
    let o = convene(&["config", "check", "--database-url", url], &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("a generated key pair"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("hunter2-pw"));
    let o = convene(
        &["config", "check", "--ephemeral", "--database-url", url],
        &keys,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--ephemeral"), "{}", stderr(&o));
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let o = convene(
            &["config", "check", "--config", file.to_str().unwrap()],
            &[],
        );
        assert!(!o.status.success(), "{text:?} was accepted");
        stderr(&o)
    };
    assert!(check("listn = \"127.0.0.1:1\"\n").contains("unknown setting `listn`"));
    assert!(check("listen = \"not an address\"\n").contains("not an address"));
    assert!(check("max_connections = [1]\n").contains("single value"));
    assert!(check("this is not toml").contains("not valid TOML"));
    assert!(check("account_id = \"12\"\n").contains("12 digits"));
    assert!(check("rate_limit = -1\n").contains("rate-limit"));
    let o = convene(
        &["config", "check", "--config", "/nonexistent/convene.toml"],
        &[],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot read"));
}

/// A server whose stderr goes to a file, started with exactly `args` and `env`.
struct Logged {
    child: Option<Child>,
    addr: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Logged {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("convene.log");
        let mut cmd = clean_convene();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--media-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("db"))
        .args(args)
        .envs(env.iter().copied())
        .env("CONVENE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("start convene");
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(i) = text.find("convene listening on http://") {
                let rest = &text[i + "convene listening on http://".len()..];
                break rest
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .unwrap()
                    .to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Logged {
            child: Some(child),
            addr,
            log,
            _dir: dir,
        }
    }

    fn server(&self) -> Server {
        Server::attach(&self.addr)
    }

    fn stop(&mut self) -> String {
        if let Some(c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "exit status {:?}", out.status);
        }
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_and_no_secrets() {
    let mut s = Logged::start(
        &["--log-format", "json"],
        &[
            ("CONVENE_ACCESS_KEY_ID", ACCESS_KEY),
            ("CONVENE_SECRET_ACCESS_KEY", SECRET_KEY),
        ],
    );
    let c = s.server().client();
    let m = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("log-test")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let meeting_id = m.meeting_id.unwrap();
    let a = c
        .create_attendee()
        .meeting_id(&meeting_id)
        .external_user_id("very-private-user-7f3a")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    let token = a.join_token.unwrap();
    let missing = c
        .get_meeting()
        .meeting_id("0f0f0f0f-1111-2222-3333-444455556666")
        .send()
        .await;
    assert!(missing.is_err());
    let log = s.stop();

    assert!(!log.contains(&token), "the JoinToken is in the log");
    assert!(
        !log.contains("very-private-user-7f3a"),
        "an ExternalUserId is in the log"
    );
    assert!(!log.contains(SECRET_KEY), "the secret is in the log");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "convene::request")
        .collect();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    let create = requests
        .iter()
        .find(|r| r["operation"] == "CreateMeeting")
        .unwrap();
    assert_eq!(create["status"], 200);
    assert_eq!(create["account_id"], common::ACCOUNT);
    assert_eq!(create["meeting_id"], meeting_id.as_str());
    assert!(create["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(create["request_id"].as_str().unwrap().len() >= 32);
    assert!(create.get("error_type").is_none());
    let attendee = requests
        .iter()
        .find(|r| r["operation"] == "CreateAttendee")
        .unwrap();
    assert_eq!(attendee["meeting_id"], meeting_id.as_str());
    let get = requests
        .iter()
        .find(|r| r["operation"] == "GetMeeting")
        .unwrap();
    assert_eq!(get["status"], 404);
    assert_eq!(get["error_type"], "NotFoundException");
}

#[test]
fn text_logs_have_no_colour_off_a_terminal_and_the_generated_secret_goes_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--media-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("db"))
        .env_remove("CONVENE_ACCESS_KEY_ID")
        .env_remove("CONVENE_SECRET_ACCESS_KEY")
        .env_remove("CONVENE_CREDENTIALS_FILE")
        .env_remove("CONVENE_CONFIG")
        .env_remove("CONVENE_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("convene listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut printed: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
    // The ready JSON follows the key pair once the server answers (it may not have yet).
    if printed.last().is_some_and(|l| l.starts_with('{')) {
        printed.pop();
    }
    assert_eq!(printed.len(), 2, "{printed:?}");
    assert!(printed[0].starts_with("export AWS_ACCESS_KEY_ID=AKIA"));
    let secret = printed[1]
        .strip_prefix("export AWS_SECRET_ACCESS_KEY=")
        .unwrap();
    assert_eq!(secret.len(), 40);
    assert!(!log.contains(secret), "the generated secret is in the log");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log that is not a terminal"
    );
    assert!(log.contains("generated a key pair"));
}

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_and_hold_gauges() {
    let s = Server::start();
    let c = s.client();
    let m = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("metrics")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    c.create_attendee()
        .meeting_id(m.meeting_id.as_deref().unwrap())
        .external_user_id("alice-metrics")
        .send()
        .await
        .unwrap();
    let _ = c.get_meeting().meeting_id("nope").send().await;
    c.get_meeting()
        .meeting_id(m.meeting_id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    // Unsigned, like /health.
    let r = s.send("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let t = &r.body;
    assert_eq!(
        metric(
            t,
            "convene_http_requests_total{operation=\"CreateMeeting\",status=\"200\"}"
        ),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        metric(
            t,
            "convene_http_requests_total{operation=\"GetMeeting\",status=\"400\"}"
        ),
        Some(1.0),
        "{t}"
    );
    assert!(
        metric(
            t,
            "convene_http_request_duration_seconds_count{operation=\"CreateAttendee\"}"
        ) == Some(1.0),
        "{t}"
    );
    assert!(t.contains(
        "convene_http_request_duration_seconds_bucket{operation=\"CreateMeeting\",le=\"0.005\"}"
    ));
    assert!(
        metric(
            t,
            "convene_store_transaction_duration_seconds_count{kind=\"write\"}"
        )
        .unwrap()
            >= 2.0
    );
    // Reads are timed too (GetMeeting's lookup), each kind under its own label.
    assert!(
        metric(
            t,
            "convene_store_transaction_duration_seconds_count{kind=\"read\"}"
        )
        .unwrap()
            >= 1.0,
        "{t}"
    );
    assert_eq!(metric(t, "convene_meetings"), Some(1.0));
    assert_eq!(metric(t, "convene_attendees"), Some(1.0));
    assert_eq!(metric(t, "convene_media_signaling_sessions"), Some(0.0));
    assert!(t.contains("# TYPE convene_http_request_duration_seconds histogram"));
    assert!(t.contains("convene_build_info{version=\""));
}

#[test]
fn metrics_can_require_a_bearer_token_from_the_environment() {
    let s = Logged::start(
        &[],
        &[
            ("CONVENE_ACCESS_KEY_ID", ACCESS_KEY),
            ("CONVENE_SECRET_ACCESS_KEY", SECRET_KEY),
            ("CONVENE_METRICS_TOKEN", "scrape-me-9c1"),
        ],
    );
    let srv = s.server();
    let r = srv.send("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let bad = vec![("Authorization".to_string(), "Bearer nope".to_string())];
    assert_eq!(srv.send("GET", "/metrics", &bad, b"").status, 401);
    let good = vec![(
        "Authorization".to_string(),
        "Bearer scrape-me-9c1".to_string(),
    )];
    let r = srv.send("GET", "/metrics", &good, b"");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("convene_meetings"));
    // /health and /ready stay open.
    assert_eq!(srv.send("GET", "/health", &[], b"").status, 200);
    assert_eq!(srv.send("GET", "/ready", &[], b"").status, 200);
}

#[tokio::test]
async fn a_configuration_file_sets_keys_and_the_metrics_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("convene.toml");
    std::fs::write(
        &file,
        format!(
            "access_key_id = \"AKIDFROMFILE\"\nsecret_access_key = \"{SECRET_KEY}\"\n\
             metrics_token = \"from-the-file\"\nlog_format = \"json\"\n"
        ),
    )
    .unwrap();
    let mut s = Logged::start(&["--config", file.to_str().unwrap()], &[]);
    let srv = s.server();
    let c = srv.client_with("us-east-1", "AKIDFROMFILE", SECRET_KEY);
    c.create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("from-file")
        .send()
        .await
        .unwrap();
    assert_eq!(srv.send("GET", "/metrics", &[], b"").status, 401);
    let auth = vec![(
        "Authorization".to_string(),
        "Bearer from-the-file".to_string(),
    )];
    assert_eq!(srv.send("GET", "/metrics", &auth, b"").status, 200);
    let log = s.stop();
    assert!(log
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

#[test]
fn health_and_ready_answer_unsigned_with_the_version() {
    let s = Server::start();
    let h = s.send("GET", "/health", &[], b"");
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["version"], env!("CARGO_PKG_VERSION"));
    let r = s.send("GET", "/ready", &[], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["checks"]["store"], "ok");
    assert_eq!(v["checks"]["media"], "ok");
}

#[test]
fn ready_fails_when_the_store_cannot_write() {
    let s = Server::start();
    assert_eq!(s.send("GET", "/ready", &[], b"").status, 200);
    // Another process holds the database's write lock: a stuck writer.
    let mut lock = hold_write_lock(&s.data_dir.join("convene.sqlite3"));
    let r = s.send("GET", "/ready", &[], b"");
    let h = s.send("GET", "/health", &[], b"");
    let _ = lock.kill();
    let _ = lock.wait();
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["status"], "not ready");
    assert_eq!(r.json()["checks"]["store"], "timed out");
    assert_eq!(h.status, 200, "liveness does not depend on the store");
}

/// Holds the database's write lock from another process (python3's sqlite3 module).
fn hold_write_lock(db: &Path) -> Child {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys,time\n\
             c=sqlite3.connect(sys.argv[1],isolation_level=None,timeout=30)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('locked',flush=True)\n\
             time.sleep(60)",
        ])
        .arg(db)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed to hold the database lock");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[tokio::test]
async fn shutdown_closes_signaling_sockets_with_a_reconnect_code() {
    let mut s = Server::start();
    let c = s.client();
    let m = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("shutdown")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let a = c
        .create_attendee()
        .meeting_id(m.meeting_id.as_deref().unwrap())
        .external_user_id("alice")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    let url = m.media_placement.unwrap().signaling_url.unwrap();
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {}", a.join_token.unwrap())
            .parse()
            .unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // Give the server a moment to register the connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = s.pid();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a close frame within 10 s")
        {
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(Message::Close(None))) => panic!("a close frame without a code"),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, 4503, "4500-4599 makes the SDK reconnect");
    assert!(s.terminate().success());
}

// ---- the console's API (the page itself is tested in Chromium: e2e/console.mjs) ----

fn console_headers(cookie: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![
        ("x-convene-console".to_string(), "1".to_string()),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    if let Some(c) = cookie {
        h.push(("cookie".to_string(), c.to_string()));
    }
    h
}

fn sign_in(s: &Server, key: &str, secret: &str) -> Option<String> {
    let body = serde_json::json!({"AccessKeyId": key, "SecretAccessKey": secret}).to_string();
    let r = s.send(
        "POST",
        "/console/api/session",
        &console_headers(None),
        body.as_bytes(),
    );
    if r.status != 200 {
        return None;
    }
    let set = r.header("set-cookie").expect("a session cookie");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    Some(set.split(';').next().unwrap().to_string())
}

#[tokio::test]
async fn the_console_api_is_account_scoped_and_acts_through_the_operations() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.toml");
    std::fs::write(
        &creds,
        "[[credentials]]\naccount_id = \"111122223333\"\naccess_key_id = \"AKIDALICE\"\nsecret_access_key = \"alice-secret\"\n\
         [[credentials]]\naccount_id = \"444455556666\"\naccess_key_id = \"AKIDBOB\"\nsecret_access_key = \"bob-secret\"\n",
    )
    .unwrap();
    let s = Server::start_in(
        &dir.path().join("db"),
        &["--credentials-file", creds.to_str().unwrap()],
    );
    let alice = s.client_with("us-east-1", "AKIDALICE", "alice-secret");
    let m = alice
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("console")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let meeting_id = m.meeting_id.unwrap();
    let a = alice
        .create_attendee()
        .meeting_id(&meeting_id)
        .external_user_id("alice-console")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    let attendee_id = a.attendee_id.unwrap();

    assert!(sign_in(&s, "AKIDALICE", "wrong").is_none());
    assert!(sign_in(&s, "AKIDNOBODY", "alice-secret").is_none());
    // Without the console header, no sign-in (a cross-site form cannot set it).
    let body = serde_json::json!({"AccessKeyId": "AKIDALICE", "SecretAccessKey": "alice-secret"});
    let r = s.send(
        "POST",
        "/console/api/session",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 403);
    assert_eq!(s.send("GET", "/console/api/overview", &[], b"").status, 401);

    let alice_cookie = sign_in(&s, "AKIDALICE", "alice-secret").unwrap();
    let bob_cookie = sign_in(&s, "AKIDBOB", "bob-secret").unwrap();
    let overview = |cookie: &str| {
        let r = s.send(
            "GET",
            "/console/api/overview",
            &console_headers(Some(cookie)),
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let v = overview(&alice_cookie);
    assert_eq!(v["AccountId"], "111122223333");
    let meetings = v["Meetings"].as_array().unwrap();
    assert_eq!(meetings.len(), 1);
    assert_eq!(meetings[0]["Meeting"]["MeetingId"], meeting_id.as_str());
    assert_eq!(
        meetings[0]["Attendees"][0]["AttendeeId"],
        attendee_id.as_str()
    );
    assert_eq!(
        meetings[0]["Attendees"][0]["Capabilities"]["Audio"],
        "SendReceive"
    );
    assert!(!v.to_string().contains(a.join_token.as_deref().unwrap()));
    // Bob sees nothing of Alice's, and cannot act on it.
    assert_eq!(
        overview(&bob_cookie)["Meetings"].as_array().unwrap().len(),
        0
    );
    let target = format!("/console/api/meetings/{meeting_id}/attendees/{attendee_id}");
    let r = s.send("DELETE", &target, &console_headers(Some(&bob_cookie)), b"");
    assert_eq!(r.status, 404);
    // A forged or altered cookie is no session.
    let forged = format!("{alice_cookie}x");
    assert_eq!(
        s.send(
            "GET",
            "/console/api/overview",
            &console_headers(Some(&forged)),
            b""
        )
        .status,
        401
    );

    // A signaling connection of the attendee shows as a live media session.
    let url = m.media_placement.unwrap().signaling_url.unwrap();
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {}", a.join_token.as_deref().unwrap())
            .parse()
            .unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = overview(&alice_cookie);
        let live = &v["Meetings"][0]["LiveSessions"];
        // The session shows as soon as it is admitted; its capabilities once
        // the join has been read: wait for both.
        if live[0]["AttendeeId"] == attendee_id.as_str() && !live[0]["Audio"].is_null() {
            assert_eq!(live[0]["Audio"], "SendReceive", "{live}");
            break;
        }
        assert!(Instant::now() < deadline, "no live session in {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        overview(&bob_cookie)["Meetings"].as_array().unwrap().len(),
        0
    );

    // Change capabilities, then remove the attendee, through the console; the API agrees.
    let caps = serde_json::json!({"Capabilities": {"Audio": "Receive", "Video": "None", "Content": "None"}});
    let r = s.send(
        "PUT",
        &format!("{target}/capabilities"),
        &console_headers(Some(&alice_cookie)),
        caps.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got = alice
        .get_attendee()
        .meeting_id(&meeting_id)
        .attendee_id(&attendee_id)
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap()
        .capabilities
        .unwrap();
    assert_eq!(got.audio.as_str(), "Receive");
    // Invalid capabilities get the API's own error.
    let bad =
        serde_json::json!({"Capabilities": {"Audio": "Loud", "Video": "None", "Content": "None"}});
    let r = s.send(
        "PUT",
        &format!("{target}/capabilities"),
        &console_headers(Some(&alice_cookie)),
        bad.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
    // Changes need the console header too.
    let r = s.send(
        "DELETE",
        &target,
        &[("cookie".to_string(), alice_cookie.clone())],
        b"",
    );
    assert_eq!(r.status, 403);
    let r = s.send(
        "DELETE",
        &target,
        &console_headers(Some(&alice_cookie)),
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.body);
    drop(ws);
    let gone = alice
        .get_attendee()
        .meeting_id(&meeting_id)
        .attendee_id(&attendee_id)
        .send()
        .await;
    assert!(gone.is_err());
    assert_eq!(
        overview(&alice_cookie)["Meetings"][0]["Attendees"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // End the meeting.
    let r = s.send(
        "DELETE",
        &format!("/console/api/meetings/{meeting_id}"),
        &console_headers(Some(&alice_cookie)),
        b"",
    );
    assert_eq!(r.status, 204);
    assert!(alice
        .get_meeting()
        .meeting_id(&meeting_id)
        .send()
        .await
        .is_err());
    // The page itself.
    let page = s.send("GET", "/console", &[], b"");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.header("content-security-policy").is_some());
}

/// Adds `ms` of latency to CreateMeeting through the test controls.
fn slow_create_meeting(s: &Server, ms: u64) {
    let body = serde_json::json!({"latency": ms, "operation": "CreateMeeting"}).to_string();
    let r = s.send(
        "POST",
        "/_convene/chaos/effects",
        &[("Content-Type".to_string(), "application/json".to_string())],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &["--test-controls"]);
    slow_create_meeting(&s, 1500);
    let c = s.client();
    let call = tokio::spawn(async move {
        c.create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id("in-flight")
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status();
    let created = call
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert!(s.terminate().success());
    // It was committed: a new server on the same data finds it.
    let again = Server::start_in(dir.path(), &[]);
    let id = created.meeting.unwrap().meeting_id.unwrap();
    again
        .client()
        .get_meeting()
        .meeting_id(&id)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_grace_period_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(
        dir.path(),
        &["--test-controls", "--shutdown-grace-ms", "200"],
    );
    slow_create_meeting(&s, 5000);
    let c = s.client();
    let call = tokio::spawn(async move {
        c.create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id("too-slow")
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status();
    assert!(s.terminate().success());
    // After 200 ms of grace the server stopped without the 5 s answer: had it
    // waited for the request, the request would have succeeded.
    assert!(call.await.unwrap().is_err());
}

/// SIGTERM straight after the "listening" line, before the server has
/// announced itself ready (its own probe of /health may not have been
/// answered yet): a clean stop, exit 0, not a failure to become ready.
#[tokio::test]
async fn a_stop_signal_before_the_ready_announcement_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    for _ in 0..3 {
        let mut s = Server::start_in(dir.path(), &["--ready-file", ready.to_str().unwrap()]);
        let status = s.terminate();
        assert!(status.success(), "exit on SIGTERM before ready: {status:?}");
    }
}

/// A reader of the server's stderr that stops reading (a log collector that
/// stalls) fills the pipe after a few hundred lines. Requests must go on
/// being answered: log lines queue for a writer thread of their own and,
/// when the queue is full, are dropped and counted, instead of each request
/// waiting on the write. SIGTERM still stops the server with the pipe full.
#[tokio::test]
async fn a_log_reader_that_stops_reading_stalls_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let mut child = clean_convene()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--media-listen",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json", "--rate-limit", "0"])
        .arg("--data-dir")
        .arg(dir.path().join("db"))
        .arg("--ready-file")
        .arg(&ready)
        .env("CONVENE_LOG", "info")
        .env("CONVENE_ACCESS_KEY_ID", ACCESS_KEY)
        .env("CONVENE_SECRET_ACCESS_KEY", SECRET_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // A pipe this test never reads: 64 KiB of lines fill it.
        .stderr(Stdio::piped())
        .spawn()
        .expect("start convene");
    let _unread = child.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let endpoint = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                break v["endpoint"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_string();
            }
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    };
    let s = Server::attach(endpoint.trim_start_matches("http://"));
    let c = s.client();
    // About 300 bytes of log a request: 1,000 requests are four pipes' worth.
    for i in 0..1_000 {
        let Ok(answer) = tokio::time::timeout(
            Duration::from_secs(10),
            c.get_meeting()
                .meeting_id(format!("{i:08}-0000-4000-8000-000000000000"))
                .send(),
        )
        .await
        else {
            panic!("request {i} had no answer in 10 s: the server waits on its log");
        };
        assert!(answer.is_err(), "no such meeting");
    }
    let r = s.send("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        metric(&r.body, "convene_log_lines_dropped_total"),
        Some(0.0),
        "1,000 lines fit the queue"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop on SIGTERM with its stderr pipe full");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}
