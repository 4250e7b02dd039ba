//! The signaling client and the str0m media peer of the media tests, shared by
//! `tests/media.rs` (one node) and `tests/cluster.rs` (a meeting across nodes).
//! Those two include it with `#[path = "common/media.rs"] mod media_client;`
//! (not through `common`, which every suite compiles).
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convene::media::opus::{Encoder, FRAME_SAMPLES};
use convene::media::protocol::{FrameType, SdkJoinFrame, SdkSignalFrame, SdkSubscribeFrame};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// True when libopus can be loaded: the tests that encode a tone need it
/// (the server runs without it, `src/media/opus.rs`). When it is missing the
/// test is skipped, or fails under `CI=true` (`common::missing_input`).
pub fn need_libopus(test: &str) -> bool {
    if convene::media::opus::available() {
        return true;
    }
    crate::common::missing_input(test, "libopus is not installed (apt-get install libopus0)");
    false
}

/// Opens the signaling socket as the SDK does: query parameters appended, the
/// token as the second subprotocol. Returns the echoed subprotocol too.
pub async fn connect(url: &str, token: &str) -> (Ws, Option<String>) {
    let full = format!(
        "{url}?X-Chime-Control-Protocol-Version=3&X-Amzn-Chime-Send-Close-On-Error=1&X-Amzn-Version=3.32.0&X-Amzn-User-Agent=chrome-156"
    );
    let mut req = full.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {token}").parse().unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    let proto = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string());
    (ws, proto)
}

pub async fn send(ws: &mut Ws, f: &SdkSignalFrame) {
    ws.send(Message::Binary(f.to_message().into()))
        .await
        .unwrap();
}

/// The next signaling frame (panics on a close or a timeout).
pub async fn next(ws: &mut Ws) -> SdkSignalFrame {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .unwrap();
        match m {
            Message::Binary(b) => {
                let f = SdkSignalFrame::from_message(&b).unwrap();
                // Volume reports arrive every 250 ms; tests that want them use next_of.
                if f.kind() == Some(FrameType::AudioMetadata)
                    && !WANT_METADATA.with(std::cell::Cell::get)
                {
                    continue;
                }
                return f;
            }
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

thread_local! {
    static WANT_METADATA: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The next frame of this type, skipping others.
pub async fn next_of(ws: &mut Ws, kind: FrameType) -> SdkSignalFrame {
    WANT_METADATA.with(|w| w.set(kind == FrameType::AudioMetadata));
    loop {
        let f = next(ws).await;
        if f.kind() == Some(kind) {
            WANT_METADATA.with(|w| w.set(false));
            return f;
        }
    }
}

/// Waits for the close frame and returns its code, with the frames before it.
pub async fn closed(ws: &mut Ws) -> (u16, Vec<SdkSignalFrame>) {
    let mut frames = Vec::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed within 10 s");
        match m {
            Some(Ok(Message::Close(Some(c)))) => return (u16::from(c.code), frames),
            Some(Ok(Message::Close(None))) => return (u16::from(CloseCode::Status), frames),
            Some(Ok(Message::Binary(b))) => frames.push(SdkSignalFrame::from_message(&b).unwrap()),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}

pub fn join_frame() -> SdkSignalFrame {
    let mut f = SdkSignalFrame::new(FrameType::Join);
    f.join = Some(SdkJoinFrame {});
    f
}

/// JOIN and the three frames that answer it; returns the roster's attendee ids.
pub async fn join(ws: &mut Ws) -> Vec<String> {
    send(ws, &join_frame()).await;
    let ack = next(ws).await;
    assert_eq!(ack.kind(), Some(FrameType::JoinAck));
    assert!(ack.joinack.is_some(), "JOIN_ACK carries joinack");
    assert!(ack.timestamp_ms > 0);
    let index = next(ws).await;
    assert_eq!(index.kind(), Some(FrameType::Index));
    assert!(index.index.is_some(), "INDEX carries index");
    let info = next(ws).await;
    assert_eq!(info.kind(), Some(FrameType::AudioStreamIdInfo));
    info.audio_stream_id_info
        .unwrap()
        .streams
        .into_iter()
        .filter_map(|s| s.attendee_id)
        .collect()
}

pub async fn subscribe(ws: &mut Ws, offer: &str) -> String {
    let mut f = SdkSignalFrame::new(FrameType::Subscribe);
    f.sub = Some(SdkSubscribeFrame {
        duplex: Some(1),
        sdp_offer: Some(offer.to_string()),
        audio_host: Some("audio-host".into()),
        audio_checkin: Some(false),
        audio_muted: Some(false),
        ..Default::default()
    });
    send(ws, &f).await;
    let ack = next_of(ws, FrameType::SubscribeAck).await;
    let suback = ack.suback.unwrap();
    assert_eq!(suback.duplex, Some(1));
    suback.sdp_answer.expect("an SDP answer")
}

pub struct Peer {
    pub rtc: str0m::Rtc,
    pub socket: UdpSocket,
    pub addr: SocketAddr,
    pub mid: Option<str0m::media::Mid>,
    pub connected: bool,
    pub received: Vec<Arc<[u8]>>,
}

impl Default for Peer {
    fn default() -> Self {
        Peer::new()
    }
}

impl Peer {
    pub fn new() -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = str0m::Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(str0m::Candidate::host(addr, "udp").unwrap());
        Peer {
            rtc,
            socket,
            addr,
            mid: None,
            connected: false,
            received: Vec::new(),
        }
    }

    pub fn offer(&mut self) -> (String, str0m::change::SdpPendingOffer) {
        let mut api = self.rtc.sdp_api();
        let mid = api.add_media(
            str0m::media::MediaKind::Audio,
            str0m::media::Direction::SendRecv,
            None,
            None,
            None,
        );
        self.mid = Some(mid);
        let (offer, pending) = api.apply().unwrap();
        (offer.to_sdp_string(), pending)
    }

    pub fn accept(&mut self, pending: str0m::change::SdpPendingOffer, answer: &str) {
        let answer = str0m::change::SdpAnswer::from_sdp_string(answer).unwrap();
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    /// Runs the peer for a moment: output, input, time.
    pub fn step(&mut self) {
        loop {
            match self.rtc.poll_output().unwrap() {
                str0m::Output::Timeout(_) => break,
                str0m::Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                str0m::Output::Event(e) => match e {
                    str0m::Event::Connected => self.connected = true,
                    str0m::Event::MediaData(d) => self.received.push(d.data.clone()),
                    _ => {}
                },
            }
        }
        let mut buf = [0u8; 2000];
        while let Ok((n, source)) = self.socket.recv_from(&mut buf) {
            let Ok(contents) = buf[..n].try_into() else {
                continue;
            };
            let input = str0m::Input::Receive(
                Instant::now(),
                str0m::net::Receive {
                    proto: str0m::net::Protocol::Udp,
                    source,
                    destination: self.addr,
                    contents,
                },
            );
            self.rtc.handle_input(input).unwrap();
        }
        self.rtc
            .handle_input(str0m::Input::Timeout(Instant::now()))
            .unwrap();
    }

    pub fn write(&mut self, rtp_time: u64, payload: &[u8]) {
        let mid = self.mid.unwrap();
        let writer = self.rtc.writer(mid).unwrap();
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == str0m::format::Codec::Opus)
            .unwrap()
            .pt();
        writer
            .write(
                pt,
                Instant::now(),
                str0m::media::MediaTime::new(rtp_time, str0m::media::Frequency::FORTY_EIGHT_KHZ),
                payload.to_vec(),
            )
            .unwrap();
    }
}

pub fn tone(freq: f32, start: usize) -> Vec<i16> {
    (0..FRAME_SAMPLES)
        .map(|i| {
            ((((start + i) as f32) * freq * std::f32::consts::TAU / 48_000.0).sin() * 6000.0) as i16
        })
        .collect()
}

/// Joins and negotiates media for one str0m peer.
pub async fn media_peer(url: &str, token: &str) -> (Ws, Peer) {
    let (mut ws, _) = connect(url, token).await;
    join(&mut ws).await;
    let mut peer = Peer::new();
    let (offer, pending) = peer.offer();
    let answer = subscribe(&mut ws, &offer).await;
    peer.accept(pending, &answer);
    (ws, peer)
}

/// Runs both peers for `dur`, Alice sending a tone; returns the packets Alice sent.
pub async fn exchange(
    alice: &mut Peer,
    bob: &mut Peer,
    dur: Duration,
    t: &mut u64,
) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new().unwrap();
    let mut sent = Vec::new();
    let end = Instant::now() + dur;
    let mut next_frame = Instant::now();
    while Instant::now() < end {
        alice.step();
        bob.step();
        if alice.connected && Instant::now() >= next_frame {
            let pkt = enc.encode(&tone(440.0, *t as usize)).unwrap();
            alice.write(*t, &pkt);
            *t += FRAME_SAMPLES as u64;
            sent.push(pkt);
            next_frame += Duration::from_millis(20);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sent
}
