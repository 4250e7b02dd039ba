//! Media capacity: how many mixed-audio participants and forwarded video
//! down-tracks one server core sustains, with the loss and the one-way
//! latency that the server adds.
//!
//! The bench starts the real `convene` binary (pinned to one core with
//! `taskset`), pins itself to the other core, and drives synthetic clients:
//! str0m peers that join through the real path (CreateMeeting and
//! CreateAttendee over the API, JOIN and SUBSCRIBE over the signaling
//! WebSocket, then ICE, DTLS and SRTP) and send Opus (frames encoded once at
//! start with the libopus the server loads) or VP8-framed video (a synthetic
//! payload: the SFU only forwards it).
//!
//! - `audio`: meetings of `--meeting-size` (10) where everyone talks, so the
//!   server decodes every sender and encodes one mix per listener. Latency is
//!   measured on a loud burst that one member of each meeting sends every
//!   second: from the send of the burst's first packet to the arrival of the
//!   first mixed packet that carries it at another member (decoded there).
//! - `video`: meetings of `--meeting-size` (6) where every member sends a
//!   camera and receives everyone else's (a down-track per pair). Each frame
//!   carries its source, its number and its send time: loss is counted from
//!   the frame numbers, latency from the send time.
//!
//! The load grows in steps (`--steps`: participants for audio, down-tracks
//! for video); each step settles, then is measured for `--seconds`.
//!
//! `bench/run media` (release build, both scenarios, BENCHMARKS.md's
//! `convene-bench:media` section rewritten) or
//! `target/release/convene-bench media audio`; `--smoke` is the short CI run
//! (no pinning, no thresholds). Each step records the machine's load average:
//! on a shared box the figures are floors.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use convene::media::opus::{Decoder, Encoder, FRAME_SAMPLES};
use convene::media::protocol::{
    FrameType, PingPongType, SdkJoinFrame, SdkPingPongFrame, SdkSignalFrame, SdkStreamDescriptor,
    SdkSubscribeFrame,
};
use futures_util::{SinkExt, StreamExt};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const ACCESS_KEY: &str = "AKIDBENCHMEDIA";
const SECRET_KEY: &str = "bench-media-secret-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Meetings of ten where everyone talks at once (the worst case).
    Audio,
    /// Meetings of ten where one talks and nine listen with open microphones
    /// (their packets carry silence and say so in their audio level).
    Speaker,
    /// Meetings of six, every camera forwarded to the five others.
    Video,
}

impl Scenario {
    fn is_audio(self) -> bool {
        matches!(self, Scenario::Audio | Scenario::Speaker)
    }
}

/// Media capacity of one server core (see BENCHMARKS.md, "Media capacity").
#[derive(Debug, Clone, Parser)]
#[command(name = "convene-bench media")]
struct Args {
    /// What to load: mixed audio or forwarded video [default: both, audio first].
    #[arg(value_enum)]
    scenario: Option<Scenario>,
    /// Cumulative load after each step: participants (audio) or down-tracks (video).
    #[arg(long, value_delimiter = ',')]
    steps: Option<Vec<usize>>,
    /// Members per meeting [default: 10 for audio, 6 for video].
    #[arg(long)]
    meeting_size: Option<usize>,
    /// Seconds each step is measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds each step settles (ICE, DTLS, keyframes) before it is measured.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// The core the server is pinned to (`taskset -c`); empty: not pinned.
    #[arg(long, default_value = "0")]
    server_cpu: String,
    /// The core the synthetic clients are pinned to; empty: not pinned.
    #[arg(long, default_value = "1")]
    client_cpu: String,
    /// Video frames per second of each camera.
    #[arg(long, default_value_t = 15)]
    fps: u32,
    /// Bytes per video frame (about two RTP packets at the default).
    #[arg(long, default_value_t = 2000)]
    frame_bytes: usize,
    /// The server binary [default: `convene` next to this program].
    #[arg(long)]
    server: Option<PathBuf>,
    /// Also write the tables into FILE between its
    /// `<!-- convene-bench:media -->` markers (BENCHMARKS.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// A short run for CI: one small step of each scenario, no pinning.
    #[arg(long)]
    smoke: bool,
}

// ---- the server under test ----

struct Server {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(bin: &Path, cpu: &str) -> Result<Server, BoxError> {
        use std::io::BufRead;
        let dir = tempfile::tempdir()?;
        let mut cmd = if cpu.is_empty() {
            Command::new(bin)
        } else {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu]).arg(bin);
            c
        };
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("CONVENE_MEDIA_LISTEN", "127.0.0.1:0")
            .env("CONVENE_ACCESS_KEY_ID", ACCESS_KEY)
            .env("CONVENE_SECRET_ACCESS_KEY", SECRET_KEY)
            .env(
                "CONVENE_LOG",
                std::env::var("CONVENE_LOG").unwrap_or("info".into()),
            )
            .env_remove("CONVENE_CONFIG")
            .env_remove("CONVENE_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let marker = "convene listening on http://";
        let addr = loop {
            let line = lines.next().ok_or("convene exited before listening")??;
            if let Some(i) = line.find(marker) {
                let rest = &line[i + marker.len()..];
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        std::thread::spawn(move || {
            // Only warnings and errors: the media loop logs each session at info.
            for line in lines.map_while(Result::ok) {
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("[convene] {line}");
                }
            }
        });
        Ok(Server {
            child,
            endpoint: format!("http://{addr}"),
            _dir: dir,
        })
    }

    fn api(&self) -> Api {
        Api {
            host: self.endpoint.trim_start_matches("http://").to_string(),
        }
    }
}

/// The Meetings API, over SigV4-signed HTTP/1.1 (aws-sigv4, the SDKs' signer).
#[derive(Clone)]
struct Api {
    host: String,
}

/// A meeting: its signaling URL and media address.
struct MeetingInfo {
    id: String,
    signaling_url: String,
    media: Option<SocketAddr>,
}

impl Api {
    /// POSTs a JSON body (on a blocking thread: the clients' loop keeps running).
    async fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, BoxError> {
        let host = self.host.clone();
        let path = path.to_string();
        tokio::task::spawn_blocking(move || post_blocking(&host, &path, &body.to_string())).await?
    }

    async fn create_meeting(&self, external_id: &str) -> Result<MeetingInfo, BoxError> {
        let body = serde_json::json!({
            "ClientRequestToken": uuid::Uuid::new_v4().to_string(),
            "MediaRegion": "us-east-1",
            "ExternalMeetingId": external_id,
        });
        let v = self.post("/meetings", body).await?;
        let m = &v["Meeting"];
        let p = &m["MediaPlacement"];
        Ok(MeetingInfo {
            id: m["MeetingId"].as_str().ok_or("no MeetingId")?.to_string(),
            signaling_url: p["SignalingUrl"]
                .as_str()
                .ok_or("no SignalingUrl")?
                .to_string(),
            media: p["AudioHostUrl"].as_str().and_then(|a| a.parse().ok()),
        })
    }

    async fn create_attendee(&self, meeting_id: &str, user: &str) -> Result<String, BoxError> {
        let body = serde_json::json!({ "ExternalUserId": user });
        let v = self
            .post(&format!("/meetings/{meeting_id}/attendees"), body)
            .await?;
        Ok(v["Attendee"]["JoinToken"]
            .as_str()
            .ok_or("no JoinToken")?
            .to_string())
    }
}

fn post_blocking(host: &str, path: &str, body: &str) -> Result<serde_json::Value, BoxError> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use std::io::{Read, Write};
    let creds = aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "bench");
    let identity = creds.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("chime")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let url = format!("http://{host}{path}");
    let headers = [("host", host), ("content-type", "application/json")];
    let signable = SignableRequest::new(
        "POST",
        url.clone(),
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let mut req = http::Request::builder().method("POST").uri(&url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut req = req.body(())?;
    instructions.apply_to_request_http1x(&mut req);
    let mut text = format!(
        "POST {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in req.headers() {
        let _ = write!(text, "{k}: {}\r\n", v.to_str()?);
    }
    text.push_str("\r\n");
    text.push_str(body);
    let mut s = std::net::TcpStream::connect(host)?;
    s.write_all(text.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, json) = out.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    if !head.starts_with("HTTP/1.1 2") {
        return Err(format!("{path}: {}", head.lines().next().unwrap_or_default()).into());
    }
    Ok(serde_json::from_str(json)?)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of a process or thread, from its `stat` file.
fn cpu_time(stat: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(stat).ok()?;
    // Fields after the command name (which may contain spaces), from field 3.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The `stat` file of the server's media thread.
fn media_thread_stat(pid: u32) -> Option<String> {
    let dir = format!("/proc/{pid}/task");
    for e in std::fs::read_dir(&dir).ok()?.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() == "convene-media" {
            return Some(e.path().join("stat").to_string_lossy().into_owned());
        }
    }
    None
}

/// Datagrams the kernel dropped at a local UDP port (its receive buffer was full).
fn udp_drops(port: u16) -> u64 {
    let text = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let hex = format!(":{port:04X}");
    text.lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&hex))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

// ---- measurements shared by every synthetic client ----

#[derive(Default)]
struct Window {
    audio_packets: u64,
    /// Per (receiver, source): first and last frame number seen, frames seen.
    frames: HashMap<(u64, u32), (u32, u32, u32)>,
    latency_us: Vec<u64>,
}

struct Stats {
    epoch: Instant,
    measuring: AtomicBool,
    window: Mutex<Window>,
    failures: AtomicU64,
    connected: AtomicU64,
}

impl Stats {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn with(&self, f: impl FnOnce(&mut Window)) {
        if self.measuring.load(Ordering::Relaxed) {
            f(&mut self
                .window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner));
        }
    }
}

// ---- signaling ----

async fn connect(url: &str, token: &str) -> Result<Ws, BoxError> {
    let full = format!(
        "{url}?X-Chime-Control-Protocol-Version=3&X-Amzn-Chime-Send-Close-On-Error=1&X-Amzn-Version=3.32.0&X-Amzn-User-Agent=convene-bench"
    );
    let mut req = full.into_client_request()?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {token}").parse()?,
    );
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

async fn send(ws: &mut Ws, f: &SdkSignalFrame) -> Result<(), BoxError> {
    ws.send(Message::Binary(f.to_message().into())).await?;
    Ok(())
}

/// The next frame of this type, skipping others.
async fn next_of(ws: &mut Ws, kind: FrameType) -> Result<SdkSignalFrame, BoxError> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .map_err(|_| format!("no {kind:?} within 20 s"))?
            .ok_or("signaling closed")??;
        match m {
            Message::Binary(b) => {
                let f = SdkSignalFrame::from_message(&b)?;
                if f.kind() == Some(kind) {
                    return Ok(f);
                }
            }
            Message::Close(c) => return Err(format!("signaling closed: {c:?}").into()),
            _ => {}
        }
    }
}

async fn join(ws: &mut Ws) -> Result<(), BoxError> {
    let mut f = SdkSignalFrame::new(FrameType::Join);
    f.join = Some(SdkJoinFrame {});
    send(ws, &f).await?;
    next_of(ws, FrameType::JoinAck).await?;
    next_of(ws, FrameType::Index).await?;
    Ok(())
}

/// SUBSCRIBE with an offer: the camera when `camera`, the sources wanted on
/// the video m-lines after it. Returns the answer and the camera's stream id.
async fn subscribe(
    ws: &mut Ws,
    offer: &str,
    camera: bool,
    receive: Vec<u32>,
) -> Result<(String, Option<u32>), BoxError> {
    let mut f = SdkSignalFrame::new(FrameType::Subscribe);
    f.sub = Some(SdkSubscribeFrame {
        duplex: Some(if camera { 3 } else { 1 }),
        sdp_offer: Some(offer.to_string()),
        audio_host: Some("audio-host".into()),
        audio_checkin: Some(false),
        audio_muted: Some(false),
        send_streams: if camera {
            vec![SdkStreamDescriptor {
                stream_id: Some(2),
                group_id: Some(2),
                track_label: Some("AmazonChimeExpressVideo".into()),
                media_type: Some(2),
                max_bitrate_kbps: Some(1500),
                framerate: Some(15),
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        receive_stream_ids: receive,
        ..Default::default()
    });
    send(ws, &f).await?;
    let ack = next_of(ws, FrameType::SubscribeAck)
        .await?
        .suback
        .ok_or("SUBSCRIBE_ACK without suback")?;
    let stream = ack.allocations.first().and_then(|a| a.stream_id);
    Ok((ack.sdp_answer.ok_or("no SDP answer")?, stream))
}

// ---- one synthetic client ----

/// What a client sends.
#[derive(Clone)]
enum Source {
    /// Opus packets, one per 20 ms, cycled; a probe marks when its burst (the
    /// cycle's first packet) left.
    Audio {
        packets: Arc<Vec<AudioPacket>>,
        burst_sent_us: Option<Arc<AtomicU64>>,
    },
    /// A camera: `fps` frames of `bytes`, each carrying its stream id, number and send time.
    Video { stream: u32, fps: u32, bytes: usize },
}

/// What a client does with what it receives.
enum Sink {
    /// Count the packets.
    Count,
    /// Count, decode, and time the burst of the meeting's probe.
    Probe {
        decoder: Decoder,
        burst_sent_us: Arc<AtomicU64>,
        quiet_frames: u32,
    },
    /// Count frames by source, and time them.
    Video,
}

struct Client {
    id: u64,
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    ws: Ws,
    audio_mid: Mid,
    camera_mid: Option<Mid>,
    source: Source,
    sink: Sink,
    stats: Arc<Stats>,
    keyframe_wanted: bool,
    sent: u64,
}

fn new_rtc() -> Result<(Rtc, std::net::UdpSocket, SocketAddr), BoxError> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.set_nonblocking(true)?;
    let addr = socket.local_addr()?;
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(addr, "udp")?);
    Ok((rtc, socket, addr))
}

/// A client joined and subscribed (media not yet connected).
struct Joined {
    rtc: Rtc,
    socket: std::net::UdpSocket,
    addr: SocketAddr,
    ws: Ws,
    audio_mid: Mid,
    camera_mid: Option<Mid>,
    stream: Option<u32>,
}

async fn join_client(url: &str, token: &str, camera: bool) -> Result<Joined, BoxError> {
    let mut ws = connect(url, token).await?;
    join(&mut ws).await?;
    let (mut rtc, socket, addr) = new_rtc()?;
    let mut api = rtc.sdp_api();
    let audio_mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let camera_mid =
        camera.then(|| api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None));
    let (offer, pending) = api.apply().ok_or("no offer")?;
    let (answer, stream) = subscribe(&mut ws, &offer.to_sdp_string(), camera, Vec::new()).await?;
    accept(&mut rtc, pending, &answer)?;
    Ok(Joined {
        rtc,
        socket,
        addr,
        ws,
        audio_mid,
        camera_mid,
        stream,
    })
}

fn accept(rtc: &mut Rtc, pending: SdpPendingOffer, answer: &str) -> Result<(), BoxError> {
    rtc.sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(answer)?)?;
    Ok(())
}

/// Renegotiates to receive `sources` on new receive-only video m-lines.
async fn receive_video(j: &mut Joined, sources: &[u32]) -> Result<(), BoxError> {
    let mut api = j.rtc.sdp_api();
    for _ in sources {
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().ok_or("no offer")?;
    let mut ids = vec![0];
    ids.extend_from_slice(sources);
    let (answer, _) = subscribe(&mut j.ws, &offer.to_sdp_string(), true, ids).await?;
    accept(&mut j.rtc, pending, &answer)
}

impl Client {
    fn new(
        id: u64,
        j: Joined,
        source: Source,
        sink: Sink,
        stats: Arc<Stats>,
    ) -> Result<Client, BoxError> {
        Ok(Client {
            id,
            rtc: j.rtc,
            socket: UdpSocket::from_std(j.socket)?,
            addr: j.addr,
            ws: j.ws,
            audio_mid: j.audio_mid,
            camera_mid: j.camera_mid,
            source,
            sink,
            stats,
            keyframe_wanted: true,
            sent: 0,
        })
    }

    /// Runs until `stop`: media out every frame period, media in, signaling
    /// read (and pinged every 10 s).
    async fn run(mut self, stop: Arc<AtomicBool>) {
        let period = match self.source {
            Source::Audio { .. } => Duration::from_millis(20),
            Source::Video { fps, .. } => Duration::from_secs(1) / fps,
        };
        // Spread the clients' send times over the period.
        let mut next_send = Instant::now() + period.mul_f64(rand::random::<f64>());
        let mut next_ping = Instant::now() + Duration::from_secs(10);
        let mut connected = false;
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let timeout = match self.drain(&mut connected) {
                Ok(t) => t,
                Err(e) => return self.fail(&e.to_string()),
            };
            let wake = timeout.min(next_send).min(next_ping);
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.input(&buf[..n], from);
                    }
                    while let Ok((n, from)) = self.socket.try_recv_from(&mut buf) {
                        self.input(&buf[..n], from);
                    }
                }
                m = self.ws.next() => match m {
                    Some(Ok(_)) => {}
                    _ => return self.fail("signaling closed"),
                },
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = Instant::now();
            if connected && now >= next_send {
                self.send_media(now);
                next_send += period;
                if next_send < now {
                    next_send = now + period;
                }
            }
            if now >= next_ping {
                next_ping = now + Duration::from_secs(10);
                let mut ping = SdkSignalFrame::new(FrameType::PingPong);
                ping.ping_pong = Some(SdkPingPongFrame {
                    r#type: PingPongType::Ping as i32,
                    ping_id: 1,
                });
                if send(&mut self.ws, &ping).await.is_err() {
                    return self.fail("ping failed");
                }
            }
            if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                return self.fail("rtc failed");
            }
        }
    }

    fn fail(&self, why: &str) {
        if self.stats.failures.fetch_add(1, Ordering::Relaxed) < 5 {
            eprintln!("client {} failed: {why}", self.id);
        }
    }

    fn input(&mut self, data: &[u8], source: SocketAddr) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.addr,
                contents,
            },
        );
        let _ = self.rtc.handle_input(input);
    }

    /// Transmits what str0m has to send and handles its events; returns when
    /// it next needs time to pass.
    fn drain(&mut self, connected: &mut bool) -> Result<Instant, BoxError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => {
                    *connected = true;
                    self.stats.connected.fetch_add(1, Ordering::Relaxed);
                }
                Output::Event(Event::KeyframeRequest(_)) => self.keyframe_wanted = true,
                Output::Event(Event::MediaData(d)) => self.received(d.mid, &d.data),
                Output::Event(_) => {}
            }
        }
    }

    fn received(&mut self, mid: Mid, data: &[u8]) {
        let stats = &self.stats;
        if mid == self.audio_mid {
            stats.with(|w| w.audio_packets += 1);
            if let Sink::Probe {
                decoder,
                burst_sent_us,
                quiet_frames,
            } = &mut self.sink
            {
                let mut pcm = Vec::with_capacity(FRAME_SAMPLES);
                if decoder.decode(data, &mut pcm).is_err() {
                    return;
                }
                let loud = pcm.iter().any(|s| s.unsigned_abs() > LOUD_THRESHOLD);
                if loud && *quiet_frames >= 10 {
                    let sent = burst_sent_us.load(Ordering::Relaxed);
                    let now = stats.now_us();
                    if sent > 0 && now > sent {
                        stats.with(|w| w.latency_us.push(now - sent));
                    }
                }
                *quiet_frames = if loud { 0 } else { *quiet_frames + 1 };
            }
        } else if matches!(self.sink, Sink::Video) && data.len() >= VIDEO_HEADER {
            let stream = u32::from_be_bytes(data[3..7].try_into().unwrap_or_default());
            let n = u32::from_be_bytes(data[7..11].try_into().unwrap_or_default());
            let sent = u64::from_be_bytes(data[11..19].try_into().unwrap_or_default());
            let now = stats.now_us();
            let id = self.id;
            stats.with(|w| {
                w.latency_us.push(now.saturating_sub(sent));
                let e = w.frames.entry((id, stream)).or_insert((n, n, 0));
                e.0 = e.0.min(n);
                e.1 = e.1.max(n);
                e.2 += 1;
            });
        }
    }

    fn send_media(&mut self, now: Instant) {
        self.sent += 1;
        match &self.source {
            Source::Audio {
                packets,
                burst_sent_us,
            } => {
                let i = (self.sent as usize - 1) % packets.len();
                if let (0, Some(b)) = (i, burst_sent_us) {
                    b.store(self.stats.now_us(), Ordering::Relaxed);
                }
                let AudioPacket { opus, level } = packets[i].clone();
                let time =
                    MediaTime::new(self.sent * FRAME_SAMPLES as u64, Frequency::FORTY_EIGHT_KHZ);
                self.write(self.audio_mid, Codec::Opus, now, time, opus, Some(level));
            }
            &Source::Video { stream, bytes, .. } => {
                let Some(mid) = self.camera_mid else { return };
                let key = std::mem::take(&mut self.keyframe_wanted);
                // The VP8 payload header's P bit: 0 for a keyframe.
                let mut frame = vec![if key { 0x10 } else { 0x11 }, 0x02, 0x00];
                frame.extend_from_slice(&stream.to_be_bytes());
                frame.extend_from_slice(&(self.sent as u32).to_be_bytes());
                frame.extend_from_slice(&self.stats.now_us().to_be_bytes());
                frame.resize(bytes.max(VIDEO_HEADER), 0x5A);
                let time = MediaTime::new(self.sent * 6000, Frequency::NINETY_KHZ);
                self.write(mid, Codec::Vp8, now, time, frame, None);
            }
        }
    }

    /// Writes a frame; audio with its level in the RTP header, as browsers send it.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        mid: Mid,
        codec: Codec,
        now: Instant,
        time: MediaTime,
        data: Vec<u8>,
        level: Option<i8>,
    ) {
        let Some(mut w) = self.rtc.writer(mid) else {
            return;
        };
        if let Some(level) = level {
            w = w.audio_level(level, level > -VOICE_BELOW_DBOV);
        }
        let Some(pt) = w
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .map(str0m::format::PayloadParams::pt)
        else {
            return;
        };
        let _ = w.write(pt, now, time, data);
    }
}

/// The bytes before a video frame's padding: VP8 header, stream, number, send time.
const VIDEO_HEADER: usize = 3 + 4 + 4 + 8;
/// A sample louder than this is the probe's burst (the quiet tones stay far below).
const LOUD_THRESHOLD: u16 = 6000;

fn tone(freq: f32, amplitude: f32, start: usize) -> Vec<i16> {
    (0..FRAME_SAMPLES)
        .map(|i| {
            ((((start + i) as f32) * freq * std::f32::consts::TAU / 48_000.0).sin() * amplitude)
                as i16
        })
        .collect()
}

/// One 20 ms Opus packet and its audio level (RFC 6464: −dBov, 0 loudest).
#[derive(Clone)]
struct AudioPacket {
    opus: Vec<u8>,
    level: i8,
}

/// Audio quieter than this many dBov is marked as no voice.
const VOICE_BELOW_DBOV: i8 = 50;

/// What a synthetic member sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Voice {
    /// A quiet tone (talking softly).
    Quiet,
    /// A loud burst of five frames each second, then the quiet tone.
    Probe,
    /// Digital silence (an open microphone in a quiet room, after noise
    /// suppression).
    Silent,
}

/// One second of Opus of `voice`. Each packet carries the level a browser
/// would measure: the frame's RMS below full scale.
fn opus_second(voice: Voice) -> Result<Vec<AudioPacket>, BoxError> {
    let mut enc = Encoder::new().map_err(|e| format!("libopus: {e}"))?;
    (0..50)
        .map(|i| {
            let loud = voice == Voice::Probe && i < 5;
            let amplitude = match voice {
                Voice::Silent => 0.0,
                _ if loud => 14_000.0,
                _ => 120.0,
            };
            let pcm = tone(
                if loud { 880.0 } else { 300.0 },
                amplitude,
                i * FRAME_SAMPLES,
            );
            let opus = enc.encode(&pcm).map_err(|e| format!("libopus: {e}"))?;
            Ok(AudioPacket {
                opus,
                level: -(dbov(&pcm) as i8),
            })
        })
        .collect()
}

/// The RMS of `pcm` in dB below full scale, 0 to 127.
fn dbov(pcm: &[i16]) -> u8 {
    let mean_square = pcm
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / pcm.len().max(1) as f64;
    let db = -10.0 * (mean_square.max(1e-9) / (32_767.0f64 * 32_767.0)).log10();
    db.clamp(0.0, 127.0).round() as u8
}

// ---- the load ----

struct Load {
    api: Api,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    args: Args,
    meeting_size: usize,
    quiet: Arc<Vec<AudioPacket>>,
    probe: Arc<Vec<AudioPacket>>,
    silent: Arc<Vec<AudioPacket>>,
    next_client: u64,
    participants: usize,
    down_tracks: usize,
    meetings: usize,
}

impl Load {
    async fn meeting(&mut self) -> Result<(String, Vec<String>), BoxError> {
        let m = self
            .api
            .create_meeting(&format!("bench-{}", self.meetings))
            .await?;
        let mut tokens = Vec::new();
        for i in 0..self.meeting_size {
            tokens.push(
                self.api
                    .create_attendee(&m.id, &format!("bench-user-{i}"))
                    .await?,
            );
        }
        self.meetings += 1;
        Ok((m.signaling_url, tokens))
    }

    fn spawn(&mut self, j: Joined, source: Source, sink: Sink) -> Result<(), BoxError> {
        self.next_client += 1;
        let c = Client::new(self.next_client, j, source, sink, self.stats.clone())?;
        tokio::spawn(c.run(self.stop.clone()));
        self.participants += 1;
        Ok(())
    }

    /// A meeting where everyone talks (or, `one_talks`, only member 0, the
    /// others sending silence); member 0 is the probe, member 1 times it.
    async fn add_audio_meeting(&mut self, one_talks: bool) -> Result<(), BoxError> {
        let (url, tokens) = self.meeting().await?;
        let burst = Arc::new(AtomicU64::new(0));
        for (i, token) in tokens.iter().enumerate() {
            let j = join_client(&url, token, false).await?;
            let source = Source::Audio {
                packets: if i == 0 {
                    self.probe.clone()
                } else if one_talks {
                    self.silent.clone()
                } else {
                    self.quiet.clone()
                },
                burst_sent_us: (i == 0).then(|| burst.clone()),
            };
            let sink = if i == 1 {
                Sink::Probe {
                    decoder: Decoder::new().map_err(|e| format!("libopus: {e}"))?,
                    burst_sent_us: burst.clone(),
                    quiet_frames: 0,
                }
            } else {
                Sink::Count
            };
            self.spawn(j, source, sink)?;
        }
        Ok(())
    }

    /// A meeting where everyone sends a camera and receives all the others.
    async fn add_video_meeting(&mut self) -> Result<(), BoxError> {
        let (url, tokens) = self.meeting().await?;
        let mut joined = Vec::new();
        for token in &tokens {
            joined.push(join_client(&url, token, true).await?);
        }
        let streams: Vec<u32> = joined.iter().filter_map(|j| j.stream).collect();
        for mut j in joined {
            let others: Vec<u32> = streams
                .iter()
                .copied()
                .filter(|&s| Some(s) != j.stream)
                .collect();
            receive_video(&mut j, &others).await?;
            self.down_tracks += others.len();
            let source = Source::Video {
                stream: j.stream.ok_or("no camera stream allocated")?,
                fps: self.args.fps,
                bytes: self.args.frame_bytes,
            };
            self.spawn(j, source, Sink::Video)?;
        }
        Ok(())
    }
}

/// One measured step.
struct Row {
    participants: usize,
    meetings: usize,
    down_tracks: usize,
    server_cpu: f64,
    media_cpu: f64,
    client_cpu: f64,
    expected: u64,
    received: u64,
    lost: u64,
    server_drops: u64,
    latency: Option<(u64, u64, u64)>,
    failures: u64,
    /// The machine's 1-minute load average at the end of the step.
    load1: f64,
}

fn percentiles(mut v: Vec<u64>) -> Option<(u64, u64, u64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some((at(0.5), at(0.99), v[v.len() - 1]))
}

async fn measure(load: &Load, pid: u32, media_port: u16, secs: u64) -> Row {
    let media = media_thread_stat(pid);
    let proc_stat = format!("/proc/{pid}/stat");
    let read = || {
        (
            cpu_time(&proc_stat).unwrap_or_default(),
            media.as_deref().and_then(cpu_time).unwrap_or_default(),
            cpu_time("/proc/self/stat").unwrap_or_default(),
            udp_drops(media_port),
        )
    };
    *load
        .stats
        .window
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Window::default();
    let failures = load.stats.failures.load(Ordering::Relaxed);
    let (s0, m0, c0, d0) = read();
    let t0 = Instant::now();
    load.stats.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    load.stats.measuring.store(false, Ordering::Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let (s1, m1, c1, d1) = read();
    let w = std::mem::take(
        &mut *load
            .stats
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let share = |a: Duration, b: Duration| (b.saturating_sub(a)).as_secs_f64() / wall * 100.0;
    let (expected, received, lost) = if load.args.scenario.is_some_and(Scenario::is_audio) {
        // Every member hears one mixed packet per 20 ms.
        let expected = (wall * 50.0) as u64 * load.participants as u64;
        (
            expected,
            w.audio_packets,
            expected.saturating_sub(w.audio_packets),
        )
    } else {
        let received: u64 = w.frames.values().map(|e| u64::from(e.2)).sum();
        let lost: u64 = w
            .frames
            .values()
            .map(|e| u64::from(e.1 - e.0 + 1 - e.2))
            .sum();
        (received + lost, received, lost)
    };
    Row {
        participants: load.participants,
        meetings: load.meetings,
        down_tracks: load.down_tracks,
        server_cpu: share(s0, s1),
        media_cpu: share(m0, m1),
        client_cpu: share(c0, c1),
        expected,
        received,
        lost,
        server_drops: d1 - d0,
        latency: percentiles(w.latency_us),
        failures: load.stats.failures.load(Ordering::Relaxed) - failures,
        load1: load_average(),
    }
}

/// The 1-minute load average (`/proc/loadavg`), 0 when unknown.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn header(s: Scenario) -> String {
    let what = if s.is_audio() {
        "mixed packets"
    } else {
        "frames"
    };
    format!(
        "| participants | meetings | down-tracks | server CPU (% of a core) | media thread | clients' CPU | {what} received / expected | lost | kernel drops at server | latency p50 / p99 / max (ms) | client failures | load average |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
}

fn row(r: &Row) -> String {
    let lat = r.latency.map_or("n/a".to_string(), |(a, b, c)| {
        format!(
            "{:.1} / {:.1} / {:.1}",
            a as f64 / 1000.0,
            b as f64 / 1000.0,
            c as f64 / 1000.0
        )
    });
    let loss = if r.expected == 0 {
        0.0
    } else {
        r.lost as f64 / r.expected as f64 * 100.0
    };
    format!(
        "| {} | {} | {} | {:.0} % | {:.0} % | {:.0} % | {} / {} | {} ({:.2} %) | {} | {} | {} | {:.1} |",
        r.participants,
        r.meetings,
        r.down_tracks,
        r.server_cpu,
        r.media_cpu,
        r.client_cpu,
        r.received,
        r.expected,
        r.lost,
        loss,
        r.server_drops,
        lat,
        r.failures,
        r.load1
    )
}

/// `convene` next to this binary (cargo puts both in target/<profile>/).
fn default_server_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("convene")))
        .unwrap_or_else(|| PathBuf::from("convene"))
}

/// `convene-bench media [audio|video] [options]` (`rest` excludes the command).
pub fn command(rest: &[String]) -> Result<(), String> {
    let args = Args::try_parse_from(
        std::iter::once("convene-bench media".to_string()).chain(rest.iter().cloned()),
    )
    .map_err(|e| e.to_string())?;
    measure_all(args).map_err(|e| e.to_string())
}

fn measure_all(mut args: Args) -> Result<(), BoxError> {
    if args.smoke {
        // One small step of each scenario, unpinned, briefly: it only proves the tool runs.
        args.server_cpu.clear();
        args.client_cpu.clear();
        args.seconds = 1;
        args.settle = 1;
        args.meeting_size = Some(3);
    }
    // Read before pinning: pinned, this process sees one CPU.
    let machine = crate::report::machine();
    crate::server::pin_self(&args.client_cpu);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let scenarios = args.scenario.map_or(
        vec![Scenario::Audio, Scenario::Speaker, Scenario::Video],
        |s| vec![s],
    );
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Run of {}: {}; server pinned to CPU {:?}, synthetic clients to CPU {:?}; {} s measured after {} s of settling per step; server `{}`.",
        crate::report::now_utc(),
        machine,
        args.server_cpu,
        args.client_cpu,
        args.seconds,
        args.settle,
        args.server.clone().unwrap_or_else(default_server_bin).display()
    );
    let mut failed = false;
    for scenario in scenarios {
        let mut a = args.clone();
        a.scenario = Some(scenario);
        if args.smoke {
            a.steps = Some(vec![if scenario.is_audio() { 3 } else { 6 }]);
        }
        let (rows, note) = runtime.block_on(run(a))?;
        failed |= rows.iter().any(|r| r.received == 0);
        let title = match scenario {
            Scenario::Audio => "Mixed audio, everyone talking",
            Scenario::Speaker => "Mixed audio, one talking and the others silent",
            Scenario::Video => "Forwarded video",
        };
        let _ = writeln!(text, "\n{title}:\n\n{}", header(scenario));
        for r in &rows {
            let _ = writeln!(text, "{}", row(r));
        }
        let _ = writeln!(text, "\n{note}");
    }
    if let Some(path) = &args.markdown {
        crate::report::splice(path, "media", &text)?;
    }
    if failed {
        return Err("a step received no media".into());
    }
    Ok(())
}

async fn run(args: Args) -> Result<(Vec<Row>, String), BoxError> {
    let bin = args.server.clone().unwrap_or_else(default_server_bin);
    let server = Server::start(&bin, &args.server_cpu)?;
    let pid = server.child.id();
    let api = server.api();
    // The media port, for the kernel's drop counter.
    let media_port = api
        .create_meeting("bench-probe")
        .await?
        .media
        .map_or(0, |a| a.port());
    let scenario = args.scenario.unwrap_or(Scenario::Audio);
    let (default_size, default_steps) = match scenario {
        Scenario::Audio => (10, vec![50, 100, 150, 200, 250, 300, 400]),
        Scenario::Speaker => (10, vec![100, 200, 300, 400, 500, 600]),
        Scenario::Video => (6, vec![120, 240, 510, 750, 990, 1230, 1500]),
    };
    let meeting_size = args.meeting_size.unwrap_or(default_size).max(2);
    let steps = args.steps.clone().unwrap_or(default_steps);
    let mut load = Load {
        api,
        stats: Arc::new(Stats {
            epoch: Instant::now(),
            measuring: AtomicBool::new(false),
            window: Mutex::default(),
            failures: AtomicU64::new(0),
            connected: AtomicU64::new(0),
        }),
        stop: Arc::new(AtomicBool::new(false)),
        meeting_size,
        quiet: Arc::new(opus_second(Voice::Quiet)?),
        probe: Arc::new(opus_second(Voice::Probe)?),
        silent: Arc::new(opus_second(Voice::Silent)?),
        next_client: 0,
        participants: 0,
        down_tracks: 0,
        meetings: 0,
        args,
    };
    println!(
        "\n{scenario:?}: meetings of {meeting_size}, server on CPU {:?}, clients on CPU {:?}, {} s per step\n",
        load.args.server_cpu, load.args.client_cpu, load.args.seconds
    );
    println!("{}", header(scenario));
    let mut rows = Vec::new();
    for target in steps {
        loop {
            let have = match scenario {
                Scenario::Audio | Scenario::Speaker => load.participants,
                Scenario::Video => load.down_tracks,
            };
            if have >= target {
                break;
            }
            match scenario {
                Scenario::Audio => Box::pin(load.add_audio_meeting(false)).await?,
                Scenario::Speaker => Box::pin(load.add_audio_meeting(true)).await?,
                Scenario::Video => Box::pin(load.add_video_meeting()).await?,
            }
        }
        tokio::time::sleep(Duration::from_secs(load.args.settle)).await;
        let r = measure(&load, pid, media_port, load.args.seconds).await;
        println!("{}", row(&r));
        rows.push(r);
    }
    let connected = load.stats.connected.load(Ordering::Relaxed);
    let mut note = String::new();
    let _ = write!(
        note,
        "{scenario:?}: {connected} of {} clients connected media.",
        load.participants
    );
    println!("\n{note}");
    load.stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(server);
    Ok((rows, note))
}
