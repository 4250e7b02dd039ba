//! Several instances on one machine, the way parallel test runners start them:
//! each with nothing but `--listen 127.0.0.1:0 --ephemeral --ready-file`, each
//! announced by its ready file (and the last line of its stdout), each holding
//! a signaling session, all at once; then each stops and leaves nothing behind.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_chimesdkmeetings as chime;
use chime::config::retry::RetryConfig;
use chime::config::{BehaviorVersion, Credentials, Region};
use convene::media::protocol::{
    FrameType, PingPongType, SdkJoinFrame, SdkPingPongFrame, SdkSignalFrame, SdkSubscribeFrame,
};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How many instances run at once.
const INSTANCES: usize = 4;

/// One `convene serve` process with its own temp dir (its TMPDIR, so that the
/// ephemeral data directory can be seen to go, and the ready file).
struct Instance {
    child: Option<Child>,
    dir: tempfile::TempDir,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Instance {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_convene"));
        cmd.arg("serve")
            .args(args)
            .arg("--ready-file")
            .arg(dir.path().join("ready.json"));
        // Nothing from the environment of the test run may configure it.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CONVENE_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .env("TMPDIR", dir.path().join("tmp"))
            .env("CONVENE_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start convene");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let text = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Instance {
            child: Some(child),
            dir,
            stdout,
            stderr,
        }
    }

    fn ready_path(&self) -> PathBuf {
        self.dir.path().join("ready.json")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// Waits for the ready file and returns its text.
    fn wait_ready(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(self.ready_path()) {
                return text;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "convene exited ({status}) before it was ready:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no ready file within 60 s:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stdout so far, once it holds a line equal to `json` (printed after the file).
    fn stdout_through(&self, json: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.stdout.lock().unwrap().clone();
            if lines.iter().any(|l| l == json) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "stdout never had {json}: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&mut self, name: &str) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &c.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
        c.wait().unwrap()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn client(endpoint: &str, key: &str, secret: &str) -> chime::Client {
    let conf = chime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "ready-file"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    chime::Client::from_conf(conf)
}

fn port_of(url_or_addr: &str) -> u16 {
    let rest = url_or_addr.split("://").last().unwrap();
    let authority = rest.split('/').next().unwrap();
    authority.rsplit_once(':').unwrap().1.parse().unwrap()
}

async fn send(ws: &mut Ws, f: &SdkSignalFrame) {
    ws.send(Message::Binary(f.to_message().into()))
        .await
        .unwrap();
}

async fn next_of(ws: &mut Ws, kind: FrameType) -> SdkSignalFrame {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .unwrap();
        match m {
            Message::Binary(b) => {
                let f = SdkSignalFrame::from_message(&b).unwrap();
                if f.kind() == Some(kind) {
                    return f;
                }
            }
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// A signaling session as the SDK opens it: connect, JOIN, SUBSCRIBE with an
/// audio offer. Returns the socket (held open) and the SDP answer.
async fn signaling_session(url: &str, token: &str) -> (Ws, String) {
    let mut req = format!("{url}?X-Chime-Control-Protocol-Version=3")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {token}").parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut join = SdkSignalFrame::new(FrameType::Join);
    join.join = Some(SdkJoinFrame {});
    send(&mut ws, &join).await;
    next_of(&mut ws, FrameType::JoinAck).await;

    let mut rtc = str0m::Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(str0m::Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
    let mut api = rtc.sdp_api();
    api.add_media(
        str0m::media::MediaKind::Audio,
        str0m::media::Direction::SendRecv,
        None,
        None,
        None,
    );
    let (offer, _pending) = api.apply().unwrap();
    let mut sub = SdkSignalFrame::new(FrameType::Subscribe);
    sub.sub = Some(SdkSubscribeFrame {
        duplex: Some(1),
        sdp_offer: Some(offer.to_sdp_string()),
        audio_host: Some("audio-host".into()),
        audio_checkin: Some(false),
        audio_muted: Some(false),
        ..Default::default()
    });
    send(&mut ws, &sub).await;
    let ack = next_of(&mut ws, FrameType::SubscribeAck).await;
    (ws, ack.suback.unwrap().sdp_answer.expect("an SDP answer"))
}

async fn ping(ws: &mut Ws, id: u64) {
    let mut f = SdkSignalFrame::new(FrameType::PingPong);
    f.ping_pong = Some(SdkPingPongFrame {
        r#type: PingPongType::Ping as i32,
        ping_id: id as _,
    });
    send(ws, &f).await;
    let pong = next_of(ws, FrameType::PingPong).await.ping_pong.unwrap();
    assert_eq!(pong.r#type, PingPongType::Pong as i32);
    assert_eq!(u64::from(pong.ping_id), id);
}

fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{} is 0600", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_free_ports_at_once_each_with_a_signaling_session() {
    // All started before any is waited for.
    let mut instances: Vec<Instance> = (0..INSTANCES)
        .map(|_| Instance::start(&["--listen", "127.0.0.1:0", "--ephemeral"], &[]))
        .collect();

    let mut announced = Vec::new();
    for inst in &mut instances {
        let text = inst.wait_ready();
        assert!(
            text.ends_with('\n') && text.lines().count() == 1,
            "one line: {text:?}"
        );
        let json = text.trim_end().to_string();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut keys: Vec<&str> = v
            .as_object()
            .unwrap()
            .keys()
            .map(std::string::String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "access_key_id",
                "account_id",
                "endpoint",
                "media_address",
                "secret_access_key"
            ],
            "a generated key pair is announced with its secret: {json}"
        );
        assert_private(&inst.ready_path());
        assert_eq!(v["account_id"], "123456789012");
        let endpoint = v["endpoint"].as_str().unwrap().to_string();
        let media = v["media_address"].as_str().unwrap().to_string();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        assert_ne!(port_of(&endpoint), 0);
        assert!(media.starts_with("127.0.0.1:"), "{media}");
        assert_ne!(port_of(&media), 0);
        assert_ne!(
            port_of(&media),
            3478,
            "a free media port, not the default one"
        );

        // Stdout: the notice with the key pair, then the same JSON as the last line.
        let lines = inst.stdout_through(&json);
        assert_eq!(
            lines.last().unwrap(),
            &json,
            "the JSON is the last line: {lines:?}"
        );
        let secret = v["secret_access_key"].as_str().unwrap().to_string();
        let notice = lines[..lines.len() - 1].join("\n");
        assert!(
            notice.contains(&format!("export AWS_SECRET_ACCESS_KEY={secret}")),
            "the notice comes first on stdout: {lines:?}"
        );
        announced.push((v, json));
    }
    let mut endpoints: Vec<&str> = announced
        .iter()
        .map(|(v, _)| v["endpoint"].as_str().unwrap())
        .collect();
    let mut medias: Vec<&str> = announced
        .iter()
        .map(|(v, _)| v["media_address"].as_str().unwrap())
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    medias.sort_unstable();
    medias.dedup();
    assert_eq!(
        (endpoints.len(), medias.len()),
        (INSTANCES, INSTANCES),
        "every instance has its own ports"
    );

    // Each: a meeting whose URLs carry the real ports, and a signaling session
    // whose ICE candidate names the real media port. All held at once.
    let mut sessions = Vec::new();
    for (v, _) in &announced {
        let endpoint = v["endpoint"].as_str().unwrap();
        let media = v["media_address"].as_str().unwrap();
        let c = client(
            endpoint,
            v["access_key_id"].as_str().unwrap(),
            v["secret_access_key"].as_str().unwrap(),
        );
        let m = c
            .create_meeting()
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .media_region("us-east-1")
            .external_meeting_id("parallel")
            .send()
            .await
            .unwrap()
            .meeting
            .unwrap();
        let p = m.media_placement.unwrap();
        let signaling = p.signaling_url.unwrap();
        let http_port = port_of(endpoint);
        assert!(
            signaling.starts_with(&format!("ws://127.0.0.1:{http_port}/control/")),
            "{signaling}"
        );
        assert_eq!(p.audio_host_url.as_deref(), Some(media));
        assert_eq!(port_of(&p.turn_control_url.unwrap()), http_port);
        assert!(m.meeting_arn.unwrap().contains(":123456789012:"));
        let a = c
            .create_attendee()
            .meeting_id(m.meeting_id.unwrap())
            .external_user_id("alice")
            .send()
            .await
            .unwrap()
            .attendee
            .unwrap();
        let (ws, answer) = signaling_session(&signaling, &a.join_token.unwrap()).await;
        let (ip, port) = media.rsplit_once(':').unwrap();
        let candidate = format!(" {ip} {port} typ host");
        assert!(
            answer
                .lines()
                .any(|l| l.starts_with("a=candidate:") && l.contains(&candidate)),
            "a host candidate for {media}:\n{answer}"
        );
        sessions.push(ws);
    }
    for (i, ws) in sessions.iter_mut().enumerate() {
        ping(ws, 1000 + i as u64).await;
    }

    // Stopped by SIGTERM or SIGINT: a clean exit, the ready file and the
    // ephemeral data gone, nothing on stdout after the JSON, no secret in the logs.
    drop(sessions);
    for (i, (inst, (v, json))) in instances.iter_mut().zip(&announced).enumerate() {
        let status = inst.signal(if i % 2 == 0 { "TERM" } else { "INT" });
        assert!(
            status.success(),
            "clean exit: {status}\n{}",
            inst.stderr.lock().unwrap()
        );
        assert!(
            !inst.ready_path().exists(),
            "the ready file is removed at exit"
        );
        let left: Vec<_> = std::fs::read_dir(inst.tmp()).unwrap().collect();
        assert!(
            left.is_empty(),
            "the ephemeral data directory is removed: {left:?}"
        );
        // The reader threads finish at EOF.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            inst.stdout.lock().unwrap().last(),
            Some(json),
            "nothing after the JSON"
        );
        let logs = inst.stderr.lock().unwrap().clone();
        assert!(
            logs.contains("ephemeral"),
            "the log says where the data is: {logs}"
        );
        let secret = v["secret_access_key"].as_str().unwrap();
        assert!(!logs.contains(secret), "the secret never reaches the logs");
    }
}

#[tokio::test]
async fn configured_credentials_are_never_in_the_ready_file() {
    let mut inst = Instance::start(
        &["--listen", "127.0.0.1:0", "--ephemeral"],
        &[
            ("CONVENE_ACCESS_KEY_ID", "AKIDCONFIGURED"),
            ("CONVENE_SECRET_ACCESS_KEY", "configured-secret"),
            ("CONVENE_ACCOUNT_ID", "111122223333"),
        ],
    );
    let text = inst.wait_ready();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["access_key_id"], "AKIDCONFIGURED");
    assert_eq!(v["account_id"], "111122223333");
    assert!(v.get("secret_access_key").is_none(), "{text}");
    assert!(!text.contains("configured-secret"));
    let lines = inst.stdout_through(text.trim_end());
    assert_eq!(
        lines,
        [text.trim_end()],
        "no notice when nothing was generated"
    );

    // The key works; the data is the run's own.
    let c = client(
        v["endpoint"].as_str().unwrap(),
        "AKIDCONFIGURED",
        "configured-secret",
    );
    let m = c
        .create_meeting()
        .client_request_token("t-1")
        .media_region("us-east-1")
        .external_meeting_id("xy")
        .send()
        .await
        .unwrap();
    assert!(m
        .meeting
        .unwrap()
        .meeting_arn
        .unwrap()
        .contains(":111122223333:"));
    assert!(inst.signal("TERM").success());
    assert!(std::fs::read_dir(inst.tmp()).unwrap().next().is_none());
}

#[tokio::test]
async fn a_generated_pair_is_kept_in_a_data_dir_and_announced_once() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("db");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    let mut first = Instance::start(&args, &[]);
    let v1: serde_json::Value = serde_json::from_str(&first.wait_ready()).unwrap();
    assert!(
        v1.get("secret_access_key").is_some(),
        "generated by this run"
    );
    assert!(first.signal("TERM").success());
    assert!(
        data_dir.join("credentials.toml").exists(),
        "kept without --ephemeral"
    );

    let mut second = Instance::start(&args, &[]);
    let text = second.wait_ready();
    let v2: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v2["access_key_id"], v1["access_key_id"]);
    assert!(
        v2.get("secret_access_key").is_none(),
        "not generated by this run: {text}"
    );
    assert_eq!(
        second.stdout_through(text.trim_end()).len(),
        1,
        "no notice the second time"
    );
    assert!(second.signal("INT").success());
}

#[test]
fn an_explicit_media_port_is_kept() {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut inst = Instance::start(
        &["--listen", "127.0.0.1:0", "--ephemeral"],
        &[("CONVENE_MEDIA_LISTEN", &format!("127.0.0.1:{port}"))],
    );
    let v: serde_json::Value = serde_json::from_str(&inst.wait_ready()).unwrap();
    assert_eq!(v["media_address"], format!("127.0.0.1:{port}"));
    assert!(inst.signal("TERM").success());
}
