//! The WebRTC endpoint: one UDP socket, ICE-lite, DTLS-SRTP, with one str0m
//! [`Rtc`] per attendee session, all driven by one loop on its own thread.
//!
//! Signaling talks to the loop through [`RtcHandle`]: it hands over an SDP
//! offer and gets the answer (with our host candidate inline: no trickle),
//! changes an attendee's audio capability, or removes a session. Every 20 ms
//! the loop asks the [`Mixer`] what each listener gets and writes it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{
    Frequency, KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::mixer::{Member, Mixer};
use super::video::{self, Subscription, Track};
use crate::domain::types::MediaCapability;

/// Who a media session belongs to.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// The signaling session (one WebSocket).
    pub session: u64,
    pub meeting_id: String,
    pub audio: MediaCapability,
    /// The global stream id of the video this session sends (camera or
    /// content), when it sends one.
    pub video_source: Option<u32>,
    /// Whether that video may reach others now.
    pub video_sends: bool,
    /// The sources this session may receive now.
    pub video_allowed: Vec<u32>,
    /// The m-lines of the offer that carry other sessions' video.
    pub subscriptions: Vec<Subscription>,
}

/// The answer to an offer, and the SSRC of every subscribed video m-line.
#[derive(Debug, Clone)]
pub struct Answer {
    pub sdp: String,
    pub tracks: Vec<Track>,
}

enum Command {
    Subscribe {
        peer: PeerSpec,
        offer: String,
        reply: oneshot::Sender<Result<Answer, String>>,
    },
    SetAudio {
        session: u64,
        audio: MediaCapability,
    },
    SetVideo {
        session: u64,
        sends: bool,
        allowed: Vec<u32>,
    },
    Remove {
        session: u64,
    },
}

/// The last audio level heard from one session (RFC 6464: dB below full
/// scale, 0 loudest, 127 silence), and when.
#[derive(Debug, Clone, Copy)]
pub struct AudioLevel {
    pub dbov: u8,
    pub at: Instant,
}

/// Audio levels by session, written by the media loop.
pub type Levels = Arc<Mutex<HashMap<u64, AudioLevel>>>;

/// The signaling side's handle on the media loop.
#[derive(Clone)]
pub struct RtcHandle {
    tx: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
    public_addr: SocketAddr,
    levels: Levels,
}

impl RtcHandle {
    /// The address the UDP socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address advertised in ICE candidates.
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Answers an SDP offer for this session (a first offer or a renegotiation).
    pub async fn subscribe(&self, peer: PeerSpec, offer: String) -> Result<Answer, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Subscribe { peer, offer, reply })
            .map_err(|_| "the media loop has stopped".to_string())?;
        rx.await
            .map_err(|_| "the media loop has stopped".to_string())?
    }

    pub fn set_audio(&self, session: u64, audio: MediaCapability) {
        let _ = self.tx.send(Command::SetAudio { session, audio });
    }

    pub fn remove(&self, session: u64) {
        let _ = self.tx.send(Command::Remove { session });
    }

    /// Whether a session's video may reach others, and which sources it may receive.
    pub fn set_video(&self, session: u64, sends: bool, allowed: Vec<u32>) {
        let _ = self.tx.send(Command::SetVideo {
            session,
            sends,
            allowed,
        });
    }

    /// True while the media loop runs.
    pub fn alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// The last audio level of every session that sends audio.
    pub fn levels(&self) -> HashMap<u64, AudioLevel> {
        self.levels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Binds the media socket and starts the media loop on its own thread.
///
/// `public` is the address put in candidates: by default the bound address
/// (127.0.0.1 when bound to an unspecified address); its port 0 means the bound port.
pub fn start(listen: SocketAddr, public: Option<SocketAddr>) -> std::io::Result<RtcHandle> {
    let socket = bind_media_socket(listen)?;
    let local_addr = socket.local_addr()?;
    let mut public_addr = public.unwrap_or(local_addr);
    if public_addr.ip().is_unspecified() {
        public_addr.set_ip(if public_addr.is_ipv4() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        });
    }
    if public_addr.port() == 0 {
        public_addr.set_port(local_addr.port());
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let levels: Levels = Arc::default();
    let loop_levels = levels.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("convene-media".into())
        .spawn(move || {
            runtime.block_on(async move {
                match UdpSocket::from_std(socket) {
                    Ok(socket) => {
                        MediaLoop::new(socket, public_addr, loop_levels)
                            .run(rx)
                            .await;
                    }
                    Err(e) => tracing::error!(error = %e, "media socket unusable"),
                }
            });
        })?;
    Ok(RtcHandle {
        tx,
        local_addr,
        public_addr,
        levels,
    })
}

/// Kernel buffer asked for the media socket, each way. The loop mixes every
/// meeting's audio in one go every 20 ms; meanwhile packets queue in the
/// kernel, which counts each at its allocation (about 2 KiB for a 100-byte
/// packet), so Linux's default of 208 KiB holds under a hundred and
/// overflows from about 150 participants. The kernel caps the size at
/// `net.core.rmem_max` / `wmem_max` (the start-up log says so).
const MEDIA_SOCKET_BUFFER: usize = 8 << 20;

fn bind_media_socket(listen: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Best effort: a smaller buffer than asked still works, with less room.
    let _ = socket.set_recv_buffer_size(MEDIA_SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(MEDIA_SOCKET_BUFFER);
    socket.bind(&listen.into())?;
    socket.set_nonblocking(true)?;
    // Linux reports twice what it grants (it counts its own overhead).
    let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
    if granted < MEDIA_SOCKET_BUFFER / 2 {
        tracing::info!(
            granted_bytes = granted,
            wanted_bytes = MEDIA_SOCKET_BUFFER,
            "the media socket's receive buffer is small: packets may be dropped from about 150 participants; raise net.core.rmem_max"
        );
    }
    Ok(socket.into())
}

struct Peer {
    meeting_id: String,
    audio: MediaCapability,
    rtc: Rtc,
    audio_mid: Option<Mid>,
    /// DTLS is up (once) and ICE currently connected.
    dtls_up: bool,
    connected: bool,
    /// The camera slot (the first video m-line): what this session sends.
    video_mid: Option<Mid>,
    video_source: Option<u32>,
    video_sends: bool,
    video_allowed: Vec<u32>,
    /// Subscribed m-lines: which source each one carries.
    video_out: HashMap<Mid, u32>,
    /// Subscribed m-lines that have not had a keyframe yet, with when one was
    /// last asked for: until one comes, the source is asked again (the first
    /// request may have found the source not connected yet). Delta frames are
    /// forwarded meanwhile; the subscriber's own PLIs are relayed too.
    awaiting_key: HashMap<Mid, Option<Instant>>,
    /// When ICE and DTLS last came up.
    connected_at: Option<Instant>,
    /// When str0m next needs time to pass for this session.
    next_timeout: Instant,
    /// Had input, writes or time since its output was last drained.
    dirty: bool,
}

/// Datagrams read from the socket before the loop looks at its other work.
const RECEIVE_BATCH: usize = 64;

/// How often a subscriber waiting for its first keyframe asks the source again.
const KEYFRAME_RETRY: Duration = Duration::from_millis(500);

/// A keyframe forwarded this soon after a subscriber's DTLS came up may reach
/// it before its own end of the handshake has its keys (it then drops the
/// packets); the subscriber keeps waiting for one sent after this.
const KEYFRAME_SETTLE: Duration = Duration::from_millis(250);

/// What a session's events ask of the others.
enum VideoOut {
    /// A frame of the session's own video, for its subscribers.
    Frame(u32, Box<MediaData>),
    /// A subscriber wants a keyframe of this source.
    Keyframe(u32, KeyframeRequestKind),
}

fn sends(c: MediaCapability) -> bool {
    matches!(c, MediaCapability::SendReceive | MediaCapability::Send)
}

struct MediaLoop {
    socket: UdpSocket,
    public_addr: SocketAddr,
    peers: HashMap<u64, Peer>,
    mixer: Mixer,
    levels: Levels,
    /// The session that last accepted datagrams from an address (asked again
    /// each time; on a refusal every session is asked, as for a new address).
    routes: HashMap<SocketAddr, u64>,
}

impl MediaLoop {
    fn new(socket: UdpSocket, public_addr: SocketAddr, levels: Levels) -> Self {
        MediaLoop {
            socket,
            public_addr,
            peers: HashMap::new(),
            mixer: Mixer::new(),
            levels,
            routes: HashMap::new(),
        }
    }

    fn forget(&mut self, session: u64) {
        self.mixer.remove(session);
        self.routes.retain(|_, s| *s != session);
        self.levels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&session);
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; 2048];
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.drive();
            let sleep = next.saturating_duration_since(Instant::now());
            tokio::select! {
                r = self.socket.readable() => match r {
                    Ok(()) => self.receive_all(&mut buf),
                    Err(e) => tracing::debug!(error = %e, "media socket receive failed"),
                },
                c = commands.recv() => match c {
                    Some(c) => self.command(c),
                    None => break,
                },
                _ = tick.tick() => self.mix(),
                () = tokio::time::sleep(sleep) => {}
            }
            self.timeouts(Instant::now());
        }
        tracing::info!("media loop stopped");
    }

    /// Lets time pass for the sessions whose timeout is due (only those: a
    /// timeout costs str0m real work, and most sessions wait).
    fn timeouts(&mut self, now: Instant) {
        for p in self.peers.values_mut() {
            if p.next_timeout > now {
                continue;
            }
            p.dirty = true;
            if let Err(e) = p.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(error = %e, "media session failed");
                p.rtc.disconnect();
            }
        }
    }

    /// Sends what the sessions touched since the last call have to send,
    /// handles their events (forwarding video, which touches others), and
    /// says when a session next needs time to pass.
    fn drive(&mut self) -> Instant {
        loop {
            let mut video = Vec::new();
            let mut sent = 0;
            for (&id, p) in &mut self.peers {
                if !std::mem::take(&mut p.dirty) {
                    continue;
                }
                while p.rtc.is_alive() {
                    match p.rtc.poll_output() {
                        Ok(Output::Timeout(t)) => {
                            p.next_timeout = t;
                            break;
                        }
                        Ok(Output::Transmit(t)) => {
                            sent += 1;
                            if let Err(e) = self.socket.try_send_to(&t.contents, t.destination) {
                                tracing::debug!(error = %e, to = %t.destination, "media send failed");
                            }
                        }
                        Ok(Output::Event(e)) => {
                            if let Some(v) = on_event(id, p, e, &mut self.mixer, &self.levels) {
                                video.push(v);
                            }
                        }
                        Err(e) => {
                            tracing::debug!(session = id, error = %e, "media session failed");
                            p.rtc.disconnect();
                        }
                    }
                }
            }
            if sent > 0 {
                metrics::counter!("convene_media_packets_sent_total").increment(sent);
            }
            if video.is_empty() {
                break;
            }
            // What is forwarded goes out in this same call.
            for v in video {
                self.route(v);
            }
        }
        let dead: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.rtc.is_alive())
            .map(|(&id, _)| id)
            .collect();
        if !dead.is_empty() {
            for id in dead {
                tracing::info!(session = id, "media session closed");
                self.peers.remove(&id);
                self.forget(id);
            }
            metrics::gauge!("convene_media_webrtc_sessions").set(self.peers.len() as f64);
        }
        let idle = Instant::now() + Duration::from_millis(100);
        self.peers
            .values()
            .map(|p| p.next_timeout)
            .fold(idle, Instant::min)
    }

    /// Forwards a frame to every subscriber of its source (no transcoding:
    /// the frame is packetized again with the subscriber's payload type), or
    /// passes a keyframe request to the source.
    fn route(&mut self, v: VideoOut) {
        match v {
            VideoOut::Frame(source, d) => {
                let now = Instant::now();
                let key = d.is_keyframe();
                let mut ask = false;
                for (&sid, p) in &mut self.peers {
                    if !p.video_allowed.contains(&source) || !p.connected {
                        continue;
                    }
                    let mids: Vec<Mid> = p
                        .video_out
                        .iter()
                        .filter(|(_, &s)| s == source)
                        .map(|(&m, _)| m)
                        .collect();
                    let settled = p
                        .connected_at
                        .is_some_and(|t| now.duration_since(t) >= KEYFRAME_SETTLE);
                    for mid in mids {
                        if let Some(last) = p.awaiting_key.get_mut(&mid) {
                            if key && settled {
                                p.awaiting_key.remove(&mid);
                            } else if last.is_none_or(|t| now.duration_since(t) >= KEYFRAME_RETRY) {
                                *last = Some(now);
                                ask = true;
                            }
                        }
                        let Some(writer) = p.rtc.writer(mid) else {
                            continue;
                        };
                        p.dirty = true;
                        let Some(pt) = writer.match_params(d.params) else {
                            tracing::debug!(session = sid, "no matching video codec");
                            continue;
                        };
                        if let Err(e) = writer.write(pt, now, d.time, d.data.to_vec()) {
                            tracing::debug!(session = sid, error = %e, "video write failed");
                        }
                    }
                }
                if ask {
                    self.request_keyframe(source, KeyframeRequestKind::Pli);
                }
            }
            VideoOut::Keyframe(source, kind) => self.request_keyframe(source, kind),
        }
    }

    fn request_keyframe(&mut self, source: u32, kind: KeyframeRequestKind) {
        let Some(p) = self
            .peers
            .values_mut()
            .find(|p| p.video_source == Some(source))
        else {
            return;
        };
        let Some(mid) = p.video_mid else { return };
        p.dirty = true;
        if let Some(mut w) = p.rtc.writer(mid) {
            if w.is_request_keyframe_possible(kind) {
                let _ = w.request_keyframe(None, kind);
            }
        }
    }

    /// Reads the datagrams waiting on the socket, a bounded batch at a time
    /// (so that the mixing tick and commands are not held up).
    fn receive_all(&mut self, buf: &mut [u8]) {
        let mut n = 0;
        while n < RECEIVE_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((len, source)) => {
                    n += 1;
                    self.receive(&buf[..len], source);
                }
                Err(e) => {
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        tracing::debug!(error = %e, "media socket receive failed");
                    }
                    break;
                }
            }
        }
        if n > 0 {
            metrics::counter!("convene_media_packets_received_total").increment(n as u64);
        }
    }

    /// Hands a datagram to the session it belongs to: the one that took the
    /// last datagram from that address, if it still accepts it, else the
    /// first that does (STUN by its username, the rest by the address pair).
    fn receive(&mut self, data: &[u8], source: SocketAddr) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.public_addr,
                contents,
            },
        );
        let known = self
            .routes
            .get(&source)
            .copied()
            .filter(|id| self.peers.get(id).is_some_and(|p| p.rtc.accepts(&input)));
        let session = known.or_else(|| {
            let (&id, _) = self.peers.iter().find(|(_, p)| p.rtc.accepts(&input))?;
            self.routes.insert(source, id);
            Some(id)
        });
        let Some(p) = session.and_then(|id| self.peers.get_mut(&id)) else {
            tracing::trace!(%source, "datagram for no session");
            return;
        };
        p.dirty = true;
        if let Err(e) = p.rtc.handle_input(input) {
            tracing::debug!(error = %e, "media input refused");
            p.rtc.disconnect();
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Subscribe { peer, offer, reply } => {
                let _ = reply.send(self.subscribe(peer, &offer));
            }
            Command::SetAudio { session, audio } => {
                if let Some(p) = self.peers.get_mut(&session) {
                    tracing::info!(session, audio = audio.as_str(), "audio capability changed");
                    p.audio = audio;
                }
            }
            Command::SetVideo {
                session,
                sends,
                allowed,
            } => {
                let mut wake = Vec::new();
                if let Some(p) = self.peers.get_mut(&session) {
                    tracing::info!(session, sends, ?allowed, "video rights changed");
                    // Sources newly allowed on subscribed m-lines need a keyframe.
                    wake.extend(
                        p.video_out
                            .values()
                            .copied()
                            .filter(|s| allowed.contains(s) && !p.video_allowed.contains(s)),
                    );
                    p.video_sends = sends;
                    p.video_allowed = allowed;
                }
                for s in wake {
                    self.request_keyframe(s, KeyframeRequestKind::Pli);
                }
            }
            Command::Remove { session } => {
                if let Some(mut p) = self.peers.remove(&session) {
                    p.rtc.disconnect();
                }
                self.forget(session);
            }
        }
    }

    #[allow(clippy::needless_pass_by_value)] // the spec is this subscription's to keep
    fn subscribe(&mut self, spec: PeerSpec, offer: &str) -> Result<Answer, String> {
        let answer = self.answer(&spec, offer)?;
        let (sdp, tracks) = video::label_answer(&answer, &spec.subscriptions);
        let p = self
            .peers
            .get_mut(&spec.session)
            .ok_or("the media session is gone")?;
        p.video_source = spec.video_source;
        p.video_sends = spec.video_sends;
        p.video_allowed.clone_from(&spec.video_allowed);
        let before: Vec<u32> = p.video_out.values().copied().collect();
        p.video_out = spec
            .subscriptions
            .iter()
            .filter(|s| tracks.iter().any(|t| t.stream_id == s.stream_id))
            .map(|s| (Mid::from(s.mid.as_str()), s.stream_id))
            .collect();
        // A new subscriber needs a keyframe to start decoding.
        p.awaiting_key
            .retain(|mid, _| p.video_out.get(mid).is_some_and(|s| before.contains(s)));
        for (mid, s) in &p.video_out {
            if !before.contains(s) {
                p.awaiting_key.insert(*mid, None);
            }
        }
        let fresh: Vec<u32> = p
            .video_out
            .values()
            .copied()
            .filter(|s| !before.contains(s))
            .collect();
        for s in fresh {
            self.request_keyframe(s, KeyframeRequestKind::Pli);
        }
        Ok(Answer { sdp, tracks })
    }

    fn answer(&mut self, spec: &PeerSpec, offer: &str) -> Result<String, String> {
        let parse = || SdpOffer::from_sdp_string(offer).map_err(|e| format!("bad SDP offer: {e}"));
        if let Some(p) = self.peers.get_mut(&spec.session) {
            // A renegotiation on the same session keeps the transport.
            match p.rtc.sdp_api().accept_offer(parse()?) {
                Ok(answer) => {
                    p.audio = spec.audio;
                    p.dirty = true;
                    return Ok(answer.to_sdp_string());
                }
                Err(e) => {
                    tracing::info!(session = spec.session, error = %e, "renegotiation failed; starting over");
                    self.peers.remove(&spec.session);
                    self.mixer.remove(spec.session);
                }
            }
        }
        let mut rtc = Rtc::builder().set_ice_lite(true).build(Instant::now());
        let candidate = Candidate::host(self.public_addr, "udp")
            .map_err(|e| format!("media address {} unusable: {e}", self.public_addr))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(parse()?)
            .map_err(|e| format!("cannot answer the SDP offer: {e}"))?;
        tracing::info!(session = spec.session, meeting_id = %spec.meeting_id, "media session created");
        self.mixer.remove(spec.session);
        self.peers.insert(
            spec.session,
            Peer {
                meeting_id: spec.meeting_id.clone(),
                audio: spec.audio,
                rtc,
                audio_mid: None,
                dtls_up: false,
                connected: false,
                video_mid: None,
                video_source: None,
                video_sends: false,
                video_allowed: Vec::new(),
                video_out: HashMap::new(),
                awaiting_key: HashMap::new(),
                connected_at: None,
                next_timeout: Instant::now(),
                dirty: true,
            },
        );
        metrics::gauge!("convene_media_webrtc_sessions").set(self.peers.len() as f64);
        Ok(answer.to_sdp_string())
    }

    fn mix(&mut self) {
        let mut meetings: HashMap<&str, Vec<Member>> = HashMap::new();
        for (&id, p) in &self.peers {
            let ready = p.connected && p.audio_mid.is_some();
            meetings.entry(&p.meeting_id).or_default().push(Member {
                id,
                sends: ready && sends(p.audio),
                receives: ready && p.audio.receives(),
            });
        }
        let mut outgoing = Vec::new();
        for (meeting, members) in &meetings {
            outgoing.extend(self.mixer.tick(meeting, members));
        }
        self.mixer.retain_meetings(|m| meetings.contains_key(m));
        let now = Instant::now();
        for o in outgoing {
            let Some(p) = self.peers.get_mut(&o.to) else {
                continue;
            };
            let Some(mid) = p.audio_mid else { continue };
            p.dirty = true;
            let Some(writer) = p.rtc.writer(mid) else {
                continue;
            };
            let Some(pt) = writer
                .payload_params()
                .find(|pp| pp.spec().codec == Codec::Opus)
                .map(str0m::format::PayloadParams::pt)
            else {
                continue;
            };
            let time = MediaTime::new(o.rtp_time, Frequency::FORTY_EIGHT_KHZ);
            if let Err(e) = writer.write(pt, now, time, o.payload) {
                tracing::debug!(session = o.to, error = %e, "audio write failed");
            }
        }
    }
}

fn on_event(
    id: u64,
    p: &mut Peer,
    e: Event,
    mixer: &mut Mixer,
    levels: &Levels,
) -> Option<VideoOut> {
    match e {
        Event::Connected => {
            tracing::info!(session = id, "media connected (ICE and DTLS)");
            p.dtls_up = true;
            p.connected = true;
            p.connected_at = Some(Instant::now());
        }
        Event::MediaAdded(m) if m.kind == MediaKind::Video && p.video_mid.is_none() => {
            p.video_mid = Some(m.mid);
        }
        Event::MediaData(d) if Some(d.mid) == p.video_mid => {
            if let (true, Some(source)) = (p.video_sends, p.video_source) {
                return Some(VideoOut::Frame(source, Box::new(d)));
            }
        }
        Event::KeyframeRequest(KeyframeRequest { mid, kind, .. }) => {
            if let Some(&source) = p.video_out.get(&mid) {
                return Some(VideoOut::Keyframe(source, kind));
            }
        }
        Event::IceConnectionStateChange(s) => {
            tracing::debug!(session = id, state = ?s, "ICE state");
            match s {
                IceConnectionState::Disconnected => p.connected = false,
                IceConnectionState::Connected | IceConnectionState::Completed => {
                    p.connected = p.dtls_up;
                }
                _ => {}
            }
        }
        Event::MediaAdded(m) if m.kind == MediaKind::Audio && p.audio_mid.is_none() => {
            p.audio_mid = Some(m.mid);
        }
        Event::MediaData(d)
            if Some(d.mid) == p.audio_mid
                && sends(p.audio)
                && d.params.spec().codec == Codec::Opus =>
        {
            let dbov = d.ext_vals.audio_level.map(|l| l.unsigned_abs().min(127));
            if let Some(dbov) = dbov {
                levels
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        id,
                        AudioLevel {
                            dbov,
                            at: Instant::now(),
                        },
                    );
            }
            mixer.push(id, Arc::clone(&d.data), dbov);
        }
        _ => {}
    }
    None
}
