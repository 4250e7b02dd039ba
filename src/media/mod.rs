//! The media plane: what lets the official Chime SDK clients join a meeting.
//!
//! - [`protocol`]: the signaling messages (prost types of `SdkSignalFrame`).
//! - [`signaling`]: one WebSocket connection behind `MediaPlacement.SignalingUrl`.
//! - [`rtc`]: the ICE-lite WebRTC endpoint on one UDP port (str0m).
//! - [`mixer`] and [`opus`]: one audio stream per listener (forwarded or mixed).
//!
//! [`MediaPlane`] ties them together: it keeps the live connections of every
//! meeting (the roster each client sees) and follows the service's domain
//! events, so that deleting an attendee or a meeting disconnects at once and
//! new capabilities apply to live connections.

pub mod data;
pub mod mixer;
pub mod observe;
pub mod opus;
pub mod protocol;
pub mod relay;
pub mod rtc;
pub mod signaling;
pub mod video;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc, Notify};

use crate::domain::types::{Capabilities, MediaCapability};
use crate::events::DomainEvent;
use crate::ops::join::{attendee_id_of_token, JoinGrant, JoinRefusal};
use crate::ops::Service;
use protocol::{
    Duplex, FrameType, MediaType, SdkAudioAttendeeState, SdkAudioMetadataFrame,
    SdkAudioStatusFrame, SdkAudioStreamIdInfo, SdkAudioStreamIdInfoFrame, SdkDataMessageFrame,
    SdkDataMessagePayload, SdkIndexFrame, SdkSignalFrame, SdkStreamAllocation, SdkStreamDescriptor,
    SdkSubscribeFrame, AUDIO_STATUS_ATTENDEE_REMOVED, AUDIO_STATUS_JOINED_FROM_ANOTHER_DEVICE,
    AUDIO_STATUS_MEETING_ENDED,
};
use rtc::RtcHandle;

/// WebSocket close code: the token is not that of a live attendee of the meeting.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// WebSocket close code: the meeting has ended.
pub const CLOSE_MEETING_ENDED: u16 = 4410;
/// WebSocket close code: the server could not serve the session.
pub const CLOSE_INTERNAL: u16 = 4500;
/// WebSocket close code: too many connections of one attendee (the oldest goes).
pub const CLOSE_TOO_MANY: u16 = 4429;

/// Frames queued for one connection before it counts as not reading.
pub const OUTBOUND_QUEUE: usize = 512;
/// Signaling sockets one attendee (or its content share) may hold at once.
pub const MAX_SOCKETS_PER_ATTENDEE: usize = 4;

/// Where the media plane listens.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The UDP address to bind (port 0 picks one).
    pub listen: SocketAddr,
    /// The address put in ICE candidates [default: the bound address].
    pub public_addr: Option<SocketAddr>,
}

/// What a signaling connection is told to do by the rest of the server.
#[derive(Debug)]
pub enum Outbound {
    Frame(Box<SdkSignalFrame>),
    Close(u16, &'static str),
}

struct Joined {
    audio_stream_id: u32,
    external_user_id: String,
    muted: bool,
}

struct Conn {
    meeting_id: String,
    /// The attendee the token names (`<AttendeeId>#content` for a content share).
    attendee_id: Option<String>,
    /// The attendee whose token it is (the content share's owner for `#content`).
    base_attendee_id: Option<String>,
    token: String,
    /// The attendee's capabilities: from the store at admission, then from events.
    capabilities: Option<Capabilities>,
    /// The store admitted the token.
    admitted: bool,
    joined: Option<Joined>,
    /// Sent LEAVE: off the roster, no media, but still reachable by kicks.
    left: bool,
    /// Told to close (deleted, ended, replaced, evicted).
    closing: bool,
    tx: mpsc::Sender<Outbound>,
    /// Wakes the connection's task to drop the socket at once.
    abort: Arc<Notify>,
    /// Data-message rate limits.
    limiter: data::Limiter,
    /// The video this connection sends (camera, or the content share), once allocated.
    video: Option<VideoSource>,
    /// The sources in the last INDEX it was sent, and its last video rights.
    last_index: Option<Vec<u32>>,
    last_video_sends: bool,
    /// Has a media session (SUBSCRIBEd).
    has_media: bool,
}

/// A video stream a connection sends, with its global ids.
#[derive(Debug, Clone)]
struct VideoSource {
    stream_id: u32,
    group_id: u32,
    framerate: Option<u32>,
    max_bitrate_kbps: Option<u32>,
    avg_bitrate_bps: Option<u32>,
}

impl Conn {
    /// Queues a frame; a client whose queue is full has stopped reading and is dropped.
    fn push(&mut self, o: Outbound) {
        match self.tx.try_send(o) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.closing {
                    tracing::info!(attendee_id = ?self.attendee_id, "signaling client is not reading; dropping it");
                }
                self.closing = true;
                self.abort.notify_one();
            }
        }
    }

    /// On the roster: joined, not left, not closing.
    fn live(&self) -> bool {
        self.joined.is_some() && !self.left && !self.closing
    }
}

struct Hub {
    rtc: RtcHandle,
    /// Told when a meeting's roster gains or loses someone (the idle rule).
    service: Service,
    next_session: u64,
    next_stream_id: u32,
    conns: HashMap<u64, Conn>,
    /// Data messages kept for later joiners, by meeting.
    retained: HashMap<String, data::Retained>,
    /// The last ingest time given (ns since the epoch), kept increasing.
    last_ingest_ns: i64,
    next_video_stream: u32,
    next_group: u32,
}

/// The media plane of one server.
pub struct MediaPlane {
    service: Service,
    rtc: RtcHandle,
    hub: Mutex<Hub>,
    /// Signaling connections relayed from here to the node hosting their meeting.
    relays: relay::Relays,
}

fn roster_entry(j: &Joined, attendee_id: &str) -> SdkAudioStreamIdInfo {
    SdkAudioStreamIdInfo {
        audio_stream_id: Some(j.audio_stream_id),
        attendee_id: Some(attendee_id.to_string()),
        external_user_id: Some(j.external_user_id.clone()),
        muted: j.muted.then_some(true),
        dropped: None,
    }
}

fn stream_info(streams: Vec<SdkAudioStreamIdInfo>) -> SdkSignalFrame {
    let mut f = SdkSignalFrame::new(FrameType::AudioStreamIdInfo);
    f.audio_stream_id_info = Some(SdkAudioStreamIdInfoFrame { streams });
    f
}

fn audio_status(status: u32) -> SdkSignalFrame {
    let mut f = SdkSignalFrame::new(FrameType::AudioStatus);
    f.audio_status = Some(SdkAudioStatusFrame {
        audio_status: Some(status),
    });
    f
}

impl Hub {
    /// Sends `frame` to every joined connection of the meeting but `except`.
    fn broadcast(&mut self, meeting_id: &str, except: u64, frame: &SdkSignalFrame) {
        for (&id, c) in &mut self.conns {
            if id != except && c.meeting_id == meeting_id && c.live() {
                c.push(Outbound::Frame(Box::new(frame.clone())));
            }
        }
    }

    /// Ends a connection, whatever its state: AUDIO_STATUS (when on the
    /// roster), then a close frame; its media stops at once.
    fn kick(&mut self, session: u64, status: u32, code: u16, reason: &'static str) {
        let Some(c) = self.conns.get_mut(&session) else {
            return;
        };
        if c.closing {
            return;
        }
        if c.live() {
            c.push(Outbound::Frame(Box::new(audio_status(status))));
        }
        c.push(Outbound::Close(code, reason));
        c.closing = true;
        let meeting_id = c.meeting_id.clone();
        self.depart(session, false);
        self.rtc.remove(session);
        self.refresh_video(&meeting_id);
    }

    /// Takes the connection off the roster and tells the others.
    fn depart(&mut self, session: u64, dropped: bool) -> bool {
        let Some(c) = self.conns.get_mut(&session) else {
            return false;
        };
        let Some(j) = c.joined.take() else {
            return false;
        };

        let meeting_id = c.meeting_id.clone();
        self.service.attendee_disconnected(&meeting_id);
        let entry = SdkAudioStreamIdInfo {
            audio_stream_id: Some(j.audio_stream_id),
            dropped: dropped.then_some(true),
            ..Default::default()
        };
        self.broadcast(&meeting_id, session, &stream_info(vec![entry]));
        true
    }
}

impl MediaPlane {
    /// Binds the media socket, starts the media loop, and follows the
    /// service's events. Must be called inside a Tokio runtime.
    pub fn start(service: Service, config: &MediaConfig) -> std::io::Result<Arc<Self>> {
        let rtc = rtc::start(config.listen, config.public_addr)?;
        let events = service.events().subscribe();
        let plane = Arc::new(MediaPlane {
            service: service.clone(),
            rtc: rtc.clone(),
            hub: Mutex::new(Hub {
                rtc,
                service,
                next_session: 0,
                next_stream_id: 0,
                conns: HashMap::new(),
                retained: HashMap::new(),
                last_ingest_ns: 0,
                next_video_stream: 0,
                next_group: 0,
            }),
            relays: relay::Relays::default(),
        });
        tokio::spawn(plane.clone().follow(events));
        tokio::spawn(plane.clone().report_volumes());
        Ok(plane)
    }

    /// The address the media socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.rtc.local_addr()
    }

    /// The address clients are told to send media to.
    pub fn public_addr(&self) -> SocketAddr {
        self.rtc.public_addr()
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn follow(self: Arc<Self>, mut events: broadcast::Receiver<DomainEvent>) {
        loop {
            match events.recv().await {
                Ok(e) => self.apply(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    metrics::counter!("convene_events_missed_total").increment(n);
                    tracing::warn!(
                        missed = n,
                        "media plane missed events; checking every connection"
                    );
                    self.recheck_all().await;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }

    fn apply(&self, event: DomainEvent) {
        let mut hub = self.hub();
        match event {
            DomainEvent::MeetingDeleted { meeting_id } => {
                hub.retained.remove(&meeting_id);
                let ids: Vec<u64> = hub
                    .conns
                    .iter()
                    .filter(|(_, c)| c.meeting_id == meeting_id)
                    .map(|(&id, _)| id)
                    .collect();
                for id in ids {
                    hub.kick(
                        id,
                        AUDIO_STATUS_MEETING_ENDED,
                        CLOSE_MEETING_ENDED,
                        "meeting ended",
                    );
                }
            }
            DomainEvent::AttendeeDeleted {
                meeting_id,
                attendee_id,
            } => {
                let ids: Vec<u64> = hub
                    .conns
                    .iter()
                    .filter(|(_, c)| {
                        c.meeting_id == meeting_id
                            && c.base_attendee_id.as_deref() == Some(&attendee_id)
                    })
                    .map(|(&id, _)| id)
                    .collect();
                for id in ids {
                    hub.kick(
                        id,
                        AUDIO_STATUS_ATTENDEE_REMOVED,
                        CLOSE_FORBIDDEN,
                        "attendee deleted",
                    );
                }
            }
            DomainEvent::CapabilitiesChanged {
                meeting_id,
                attendees,
                capabilities,
            } => {
                // Every socket of the attendee, admitted yet or not: an event
                // is newer than what the store said at admission.
                let ids: Vec<u64> = hub
                    .conns
                    .iter()
                    .filter(|(_, c)| {
                        c.meeting_id == meeting_id
                            && c.base_attendee_id
                                .as_deref()
                                .is_some_and(|a| attendees.contains(a))
                    })
                    .map(|(&id, _)| id)
                    .collect();
                for id in ids {
                    hub.set_capabilities(id, capabilities);
                }
            }
        }
    }

    /// After missed events: asks the store about every connection again.
    async fn recheck_all(&self) {
        let all: Vec<(u64, String, String)> = self
            .hub()
            .conns
            .iter()
            .filter(|(_, c)| !c.closing)
            .map(|(&id, c)| (id, c.meeting_id.clone(), c.token.clone()))
            .collect();
        for (id, meeting_id, token) in all {
            let verdict = self
                .service
                .authorize_join(&meeting_id, base_token(&token))
                .await;
            let mut hub = self.hub();
            match verdict {
                Ok(grant) => hub.set_capabilities(id, grant.capabilities),
                Err(JoinRefusal::MeetingEnded) => hub.kick(
                    id,
                    AUDIO_STATUS_MEETING_ENDED,
                    CLOSE_MEETING_ENDED,
                    "meeting ended",
                ),
                Err(JoinRefusal::Forbidden) => hub.kick(
                    id,
                    AUDIO_STATUS_ATTENDEE_REMOVED,
                    CLOSE_FORBIDDEN,
                    "attendee deleted",
                ),
                Err(JoinRefusal::Unavailable) => {}
            }
        }
    }

    // ---- the lifecycle of one signaling connection ----

    /// Registers a connection before its token is checked, so that no event
    /// between the check and the registration can be missed.
    fn open(
        &self,
        meeting_id: &str,
        token: &str,
        tx: mpsc::Sender<Outbound>,
        abort: Arc<Notify>,
    ) -> u64 {
        let base = attendee_id_of_token(base_token(token));
        let attendee_id = base.as_ref().map(|b| {
            if is_content_token(token) {
                format!("{b}{CONTENT_SUFFIX}")
            } else {
                b.clone()
            }
        });
        let mut hub = self.hub();
        hub.next_session += 1;
        let id = hub.next_session;
        hub.conns.insert(
            id,
            Conn {
                meeting_id: meeting_id.to_string(),
                attendee_id,
                base_attendee_id: base,
                token: token.to_string(),
                capabilities: None,
                admitted: false,
                joined: None,
                left: false,
                closing: false,
                tx,
                abort,
                limiter: data::Limiter::new(std::time::Instant::now()),
                video: None,
                last_index: None,
                last_video_sends: false,
                has_media: false,
            },
        );
        id
    }

    /// Records what the store said about the connection's attendee, and makes
    /// room: an attendee holds at most [`MAX_SOCKETS_PER_ATTENDEE`] sockets
    /// (per modality); past that the oldest one that is not on the roster goes,
    /// which may be this one when the store answered for it after newer ones.
    /// Returns false when the connection is closing (closed meanwhile, or made
    /// room itself): its close frame is then in its queue.
    fn admit(&self, session: u64, grant: &JoinGrant) -> bool {
        let mut hub = self.hub();
        let Some(c) = hub.conns.get_mut(&session) else {
            return false;
        };
        if c.closing {
            return false;
        }
        c.admitted = true;
        if c.capabilities.is_none() {
            c.capabilities = Some(grant.capabilities);
        }
        let attendee_id = c.attendee_id.clone();
        let meeting_id = c.meeting_id.clone();
        let mut mine: Vec<(u64, bool)> = hub
            .conns
            .iter()
            .filter(|(_, c)| {
                c.admitted
                    && !c.closing
                    && c.meeting_id == meeting_id
                    && c.attendee_id == attendee_id
            })
            .map(|(&id, c)| (id, c.live()))
            .collect();
        mine.sort_unstable();
        let mut extra = mine.len().saturating_sub(MAX_SOCKETS_PER_ATTENDEE);
        for (id, live) in mine {
            if extra == 0 {
                break;
            }
            if !live {
                hub.kick(
                    id,
                    0,
                    CLOSE_TOO_MANY,
                    "too many connections for this attendee",
                );
                extra -= 1;
            }
        }
        hub.conns.get(&session).is_some_and(|c| !c.closing)
    }

    /// Puts the connection on the roster (replacing any other connection of
    /// the same attendee) and returns the roster it must be sent; None when
    /// the connection may not join (it left, or is closing).
    fn join(&self, session: u64, grant: &JoinGrant) -> Option<Joining> {
        let mut hub = self.hub();
        let me = hub.conns.get(&session)?;
        if me.left || me.closing || !me.admitted {
            return None;
        }
        let attendee_id = me.attendee_id.clone()?;
        hub.replace_others(session, &grant.meeting_id, &attendee_id);
        let already = hub
            .conns
            .get(&session)
            .and_then(|c| c.joined.as_ref().map(|j| j.audio_stream_id));
        let audio_stream_id = if let Some(s) = already {
            s
        } else {
            hub.next_stream_id += 1;
            hub.next_stream_id
        };
        // A content share carries its attendee's external user id, as the
        // SDK's own content-share session does.
        let external_user_id = grant.external_user_id.clone();
        let joined = Joined {
            audio_stream_id,
            external_user_id,
            muted: false,
        };
        let entry = roster_entry(&joined, &attendee_id);
        if let Some(c) = hub.conns.get_mut(&session) {
            c.joined = Some(joined);
        }
        if already.is_none() {
            hub.service.attendee_connected(&grant.meeting_id);
            hub.broadcast(&grant.meeting_id, session, &stream_info(vec![entry]));
        }
        let roster = hub.roster(&grant.meeting_id);
        let replay = hub
            .retained
            .get_mut(&grant.meeting_id)
            .map(|r| r.live(std::time::Instant::now()))
            .unwrap_or_default();
        let index = hub.view(session);
        if let Some(c) = hub.conns.get_mut(&session) {
            c.last_index = Some(index.iter().filter_map(|d| d.stream_id).collect());
        }
        Some(Joining {
            roster,
            replay,
            index,
        })
    }

    /// DATA_MESSAGE from a client: each message is delivered to the meeting's
    /// other attendees (stamped with its sender and ingest time) and kept for
    /// its lifetime, or returned to the sender marked throttled. Returns false
    /// when the client went past the hard rate limit.
    fn data_message(&self, session: u64, frame: SdkDataMessageFrame) -> bool {
        let mut hub = self.hub();
        let now = std::time::Instant::now();
        let Some(c) = hub.conns.get_mut(&session) else {
            return true;
        };
        if !c.live() {
            return true;
        }
        let sender = c.attendee_id.clone().unwrap_or_default();
        let external = c
            .joined
            .as_ref()
            .map(|j| j.external_user_id.clone())
            .unwrap_or_default();
        let meeting_id = c.meeting_id.clone();
        let mut deliver = Vec::new();
        let mut refused = Vec::new();
        let mut over = false;
        for mut m in frame.messages {
            m.sender_attendee_id = Some(sender.clone());
            m.sender_external_user_id = Some(external.clone());
            match c.limiter.check(now, &m) {
                data::Verdict::Deliver => deliver.push(m),
                data::Verdict::Refuse => {
                    m.ingest_time_ns = Some(0);
                    refused.push(m);
                }
                data::Verdict::Close => {
                    over = true;
                    break;
                }
            }
        }
        if !refused.is_empty() {
            let mut f = SdkSignalFrame::new(FrameType::DataMessage);
            f.data_message = Some(SdkDataMessageFrame { messages: refused });
            c.push(Outbound::Frame(Box::new(f)));
        }
        if over {
            return false;
        }
        if deliver.is_empty() {
            return true;
        }
        for m in &mut deliver {
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            hub.last_ingest_ns = wall.max(hub.last_ingest_ns + 1);
            m.ingest_time_ns = Some(hub.last_ingest_ns);
            if m.lifetime_ms.unwrap_or(0) > 0 {
                hub.retained
                    .entry(meeting_id.clone())
                    .or_default()
                    .keep(now, m);
            }
        }
        let mut f = SdkSignalFrame::new(FrameType::DataMessage);
        f.data_message = Some(SdkDataMessageFrame { messages: deliver });
        hub.broadcast(&meeting_id, session, &f);
        true
    }

    /// AUDIO_METADATA every [`VOLUME_INTERVAL`]: the volume, mute state and
    /// signal strength of every attendee on the roster, to everyone in the
    /// meeting, so volume indicators and active-speaker detection work.
    async fn report_volumes(self: Arc<Self>) {
        let mut tick = tokio::time::interval(VOLUME_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let levels = self.rtc.levels();
            let now = std::time::Instant::now();
            let mut hub = self.hub();
            let mut meetings: HashMap<String, Vec<SdkAudioAttendeeState>> = HashMap::new();
            for (id, c) in &hub.conns {
                if !c.live() {
                    continue;
                }
                let Some(j) = c.joined.as_ref() else { continue };
                let sends = c.capabilities.is_some_and(|caps| {
                    matches!(
                        effective(c, caps).audio,
                        MediaCapability::Send | MediaCapability::SendReceive
                    )
                });
                let mut state = SdkAudioAttendeeState {
                    audio_stream_id: Some(j.audio_stream_id),
                    muted: Some(j.muted),
                    ..Default::default()
                };
                if sends {
                    match levels.get(id) {
                        Some(l) if now.duration_since(l.at) < LEVEL_FRESH => {
                            state.volume = Some(if j.muted { 127 } else { u32::from(l.dbov) });
                            state.signal_strength = Some(2);
                        }
                        // Allowed to send, yet nothing arrives: no signal.
                        Some(_) => {
                            state.volume = Some(127);
                            state.signal_strength = Some(0);
                        }
                        None => state.volume = Some(127),
                    }
                } else {
                    state.volume = Some(127);
                }
                meetings
                    .entry(c.meeting_id.clone())
                    .or_default()
                    .push(state);
            }
            for (meeting_id, mut states) in meetings {
                states.sort_by_key(|s| s.audio_stream_id);
                let mut f = SdkSignalFrame::new(FrameType::AudioMetadata);
                f.audio_metadata = Some(SdkAudioMetadataFrame {
                    attendee_states: states,
                });
                hub.broadcast(&meeting_id, 0, &f);
            }
            // Meetings nobody is in keep their messages only while they live.
            let now = std::time::Instant::now();
            hub.retained.retain(|_, r| {
                r.live(now);
                !r.is_empty()
            });
        }
    }

    /// The attendee's mute state changed (AUDIO_CONTROL): everyone is told.
    fn set_muted(&self, session: u64, muted: bool) {
        let mut hub = self.hub();
        let Some(c) = hub.conns.get_mut(&session) else {
            return;
        };
        if c.left || c.closing {
            return;
        }
        let Some(j) = c.joined.as_mut() else { return };
        if j.muted == muted {
            return;
        }
        j.muted = muted;
        let entry = SdkAudioStreamIdInfo {
            audio_stream_id: Some(j.audio_stream_id),
            muted: Some(muted),
            ..Default::default()
        };
        let meeting_id = c.meeting_id.clone();
        hub.broadcast(&meeting_id, 0, &stream_info(vec![entry]));
    }

    /// Plans a SUBSCRIBE: None unless the connection is on the roster. Gives
    /// its video a global stream id when it sends one (keeping the one it
    /// has), and picks the subscriptions it may have.
    fn plan_subscribe(
        &self,
        session: u64,
        sub: &SdkSubscribeFrame,
        offer: &str,
    ) -> Option<SubscribePlan> {
        let mut hub = self.hub();
        let c = hub.conns.get(&session)?;
        if !c.live() || !c.admitted {
            return None;
        }
        let caps = effective(c, c.capabilities?);
        let meeting_id = c.meeting_id.clone();
        let sent = sub
            .send_streams
            .iter()
            .find(|d| d.media_type == Some(MediaType::Video as i32));
        let sends_video = sent.is_some()
            && sub
                .duplex
                .is_some_and(|d| d == Duplex::Tx as i32 || d == Duplex::Duplex as i32);
        let existing = c.video.clone();
        let video = match (sends_video, existing) {
            (false, _) => None,
            (true, Some(v)) => Some(v),
            (true, None) => {
                hub.next_video_stream += 1;
                hub.next_group += 1;
                let d = sent.cloned().unwrap_or_default();
                Some(VideoSource {
                    stream_id: hub.next_video_stream,
                    group_id: hub.next_group,
                    framerate: d.framerate,
                    max_bitrate_kbps: d.max_bitrate_kbps,
                    avg_bitrate_bps: d.avg_bitrate_bps,
                })
            }
        };
        let allocations = video
            .iter()
            .map(|v| SdkStreamAllocation {
                track_label: Some(
                    sent.and_then(|d| d.track_label.clone())
                        .unwrap_or_else(|| video::SEND_TRACK_LABEL.to_string()),
                ),
                stream_id: Some(v.stream_id),
                group_id: Some(v.group_id),
            })
            .collect();
        if let Some(c) = hub.conns.get_mut(&session) {
            c.video.clone_from(&video);
            c.has_media = true;
        }
        let visible: Vec<u32> = hub
            .view(session)
            .iter()
            .filter_map(|d| d.stream_id)
            .collect();
        let subscriptions = video::subscriptions(
            offer,
            &sub.receive_stream_ids,
            |s| visible.contains(&s),
            video::VIDEO_SUBSCRIPTION_LIMIT as usize,
        );
        let c = hub.conns.get(&session)?;
        let spec = rtc::PeerSpec {
            session,
            meeting_id: meeting_id.clone(),
            audio: caps.audio,
            video_source: video.as_ref().map(|v| v.stream_id),
            video_sends: video_sends(c),
            video_allowed: visible,
            subscriptions,
        };
        Some(SubscribePlan { spec, allocations })
    }

    /// After a SUBSCRIBE was answered: the others learn of new or gone video.
    fn subscribed(&self, session: u64) {
        let mut hub = self.hub();
        let Some(m) = hub.conns.get(&session).map(|c| c.meeting_id.clone()) else {
            return;
        };
        hub.refresh_video(&m);
    }

    /// What the connection may do with media now: None unless it is on the
    /// roster (joined, not left, not closing) with a live attendee.
    fn media_rights(&self, session: u64) -> Option<MediaCapability> {
        let hub = self.hub();
        let c = hub.conns.get(&session)?;
        if !c.live() || !c.admitted {
            return None;
        }
        c.capabilities.map(|caps| effective(c, caps).audio)
    }

    /// True when the session is on the roster (joined, not left, not kicked).
    fn on_roster(&self, session: u64) -> bool {
        self.hub()
            .conns
            .get(&session)
            .is_some_and(|c| c.joined.is_some() && !c.left && !c.closing)
    }

    /// Whether the connection sends video now.
    fn sends_video(&self, session: u64) -> bool {
        self.hub()
            .conns
            .get(&session)
            .is_some_and(|c| c.video.is_some())
    }

    /// LEAVE: off the roster, media stopped; the socket stays until the client
    /// closes it, and deletions still reach it.
    fn leave(&self, session: u64) {
        let mut hub = self.hub();
        hub.depart(session, false);
        let mut meeting = None;
        if let Some(c) = hub.conns.get_mut(&session) {
            c.left = true;
            c.video = None;
            meeting = Some(c.meeting_id.clone());
        }
        self.rtc.remove(session);
        if let Some(m) = meeting {
            hub.refresh_video(&m);
        }
    }

    /// The socket is gone.
    fn close(&self, session: u64) {
        let mut hub = self.hub();
        // Still on the roster when the socket went: it dropped (a kick or a
        // LEAVE has already taken it off).
        let dropped = hub
            .conns
            .get(&session)
            .is_some_and(|c| c.joined.is_some() && !c.left);
        hub.depart(session, dropped);
        let gone = hub.conns.remove(&session);
        self.rtc.remove(session);
        if let Some(c) = gone {
            if c.video.is_some() {
                hub.refresh_video(&c.meeting_id);
            }
        }
    }
}

/// What a JOIN is answered with besides JOIN_ACK and INDEX.
pub struct Joining {
    /// Everyone on the roster (AUDIO_STREAM_ID_INFO).
    pub roster: Vec<SdkAudioStreamIdInfo>,
    /// Data messages still within their lifetime.
    pub replay: Vec<SdkDataMessagePayload>,
    /// The video sources it may receive (INDEX).
    pub index: Vec<SdkStreamDescriptor>,
}

/// What a SUBSCRIBE may do, decided on the roster.
pub struct SubscribePlan {
    pub spec: rtc::PeerSpec,
    pub allocations: Vec<SdkStreamAllocation>,
}

/// How often AUDIO_METADATA (volumes) is sent.
pub const VOLUME_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
/// An audio level older than this means the attendee's audio stopped.
const LEVEL_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// The attendee-id suffix (and token suffix) of a content share.
pub const CONTENT_SUFFIX: &str = "#content";

fn is_content_token(token: &str) -> bool {
    token.ends_with(CONTENT_SUFFIX)
}

/// The attendee's own JoinToken inside a content share's `<JoinToken>#content`.
pub fn base_token(token: &str) -> &str {
    token.strip_suffix(CONTENT_SUFFIX).unwrap_or(token)
}

/// What a connection may do, from its attendee's capabilities: a content
/// share sends (audio and video) only when its attendee's Content capability
/// sends, and receives nothing.
fn effective(c: &Conn, caps: Capabilities) -> Capabilities {
    let content = c
        .attendee_id
        .as_deref()
        .is_some_and(|a| a.ends_with(CONTENT_SUFFIX));
    if !content {
        return caps;
    }
    let send = if matches!(
        caps.content,
        MediaCapability::Send | MediaCapability::SendReceive
    ) {
        MediaCapability::Send
    } else {
        MediaCapability::None
    };
    Capabilities {
        audio: send,
        video: send,
        content: send,
    }
}

impl Hub {
    /// Kicks the attendee's other joined connections to the meeting: the
    /// newest connection wins.
    fn replace_others(&mut self, session: u64, meeting_id: &str, attendee_id: &str) {
        let replaced: Vec<u64> = self
            .conns
            .iter()
            .filter(|(&id, c)| {
                id != session
                    && c.meeting_id == meeting_id
                    && c.attendee_id.as_deref() == Some(attendee_id)
                    && c.joined.is_some()
            })
            .map(|(&id, _)| id)
            .collect();
        for id in replaced {
            tracing::info!(session = id, %attendee_id, "replaced by a new connection");
            self.kick(
                id,
                AUDIO_STATUS_JOINED_FROM_ANOTHER_DEVICE,
                1000,
                "replaced by a new connection",
            );
        }
    }

    /// The meeting's live roster, in audio stream id order.
    fn roster(&self, meeting_id: &str) -> Vec<SdkAudioStreamIdInfo> {
        let mut roster: Vec<(u32, SdkAudioStreamIdInfo)> = self
            .conns
            .values()
            .filter(|c| c.meeting_id == meeting_id && c.live())
            .filter_map(|c| {
                let j = c.joined.as_ref()?;
                Some((
                    j.audio_stream_id,
                    roster_entry(j, c.attendee_id.as_deref()?),
                ))
            })
            .collect();
        roster.sort_by_key(|(s, _)| *s);
        roster.into_iter().map(|(_, e)| e).collect()
    }
    /// New capabilities for one connection, applied to its live media.
    fn set_capabilities(&mut self, session: u64, caps: Capabilities) {
        let Some(c) = self.conns.get_mut(&session) else {
            return;
        };
        c.capabilities = Some(caps);
        let eff = effective(c, caps);
        let meeting_id = c.meeting_id.clone();
        self.rtc.set_audio(session, eff.audio);
        self.refresh_video(&meeting_id);
    }

    /// The video sources connection `to` may receive now, as INDEX lists them.
    fn view(&self, to: u64) -> Vec<SdkStreamDescriptor> {
        let Some(r) = self.conns.get(&to) else {
            return Vec::new();
        };
        let Some(rcaps) = r.capabilities.map(|c| effective(r, c)) else {
            return Vec::new();
        };
        let mut out: Vec<SdkStreamDescriptor> = self
            .conns
            .iter()
            .filter(|(&id, s)| id != to && s.meeting_id == r.meeting_id && s.live())
            .filter_map(|(_, s)| {
                let v = s.video.as_ref()?;
                if !video_sends(s) || s.base_attendee_id == r.base_attendee_id {
                    return None;
                }
                let content = is_content(s);
                let may = if content { rcaps.content } else { rcaps.video };
                if !may.receives() {
                    return None;
                }
                let j = s.joined.as_ref()?;
                Some(SdkStreamDescriptor {
                    stream_id: Some(v.stream_id),
                    group_id: Some(v.group_id),
                    attendee_id: s.attendee_id.clone(),
                    external_user_id: Some(j.external_user_id.clone()),
                    media_type: Some(MediaType::Video as i32),
                    track_label: Some(video::SEND_TRACK_LABEL.to_string()),
                    framerate: v.framerate.or(Some(15)),
                    max_bitrate_kbps: v.max_bitrate_kbps.or(Some(1500)),
                    avg_bitrate_bps: v.avg_bitrate_bps.or(Some(1_000_000)),
                    ..Default::default()
                })
            })
            .collect();
        out.sort_by_key(|d| d.stream_id);
        out
    }

    /// After any change to who sends video or who may receive it: an INDEX to
    /// every connection of the meeting whose view changed, and the new rights
    /// to the media loop (forwarding stops or starts at once).
    fn refresh_video(&mut self, meeting_id: &str) {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.meeting_id == meeting_id)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let view = self.view(id);
            let ids_now: Vec<u32> = view.iter().filter_map(|d| d.stream_id).collect();
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            let sends = video_sends(c);
            if c.live() && c.last_index.as_ref() != Some(&ids_now) {
                let mut f = SdkSignalFrame::new(FrameType::Index);
                f.index = Some(SdkIndexFrame {
                    sources: view,
                    ..Default::default()
                });
                c.push(Outbound::Frame(Box::new(f)));
                c.last_index = Some(ids_now.clone());
            }
            if c.has_media {
                c.last_video_sends = sends;
                self.rtc.set_video(id, sends, ids_now);
            }
        }
    }
}

fn is_content(c: &Conn) -> bool {
    c.attendee_id
        .as_deref()
        .is_some_and(|a| a.ends_with(CONTENT_SUFFIX))
}

/// Whether the connection's video may reach others now.
fn video_sends(c: &Conn) -> bool {
    c.live()
        && c.video.is_some()
        && c.capabilities.is_some_and(|caps| {
            matches!(
                effective(c, caps).video,
                MediaCapability::Send | MediaCapability::SendReceive
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{AttendeeId, JoinToken};
    use crate::ops::Limits;
    use crate::store::sqlite::SqliteStore;

    /// The store answers for each socket in its own time: when the oldest of
    /// five sockets is admitted last, it is the one that makes room.
    #[tokio::test]
    async fn the_oldest_socket_goes_even_when_it_is_admitted_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let service = Service::new(Arc::new(store), Limits::default());
        let config = MediaConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            public_addr: None,
        };
        let plane = MediaPlane::start(service, &config).unwrap();
        let attendee = "582e3b1f-115a-8024-a8dc-b3257e3e4856";
        let token = JoinToken::generate(&AttendeeId::parse("AttendeeId", attendee).unwrap());
        let meeting = "11111111-2222-3333-4444-555555555555";
        let grant = JoinGrant {
            meeting_id: meeting.into(),
            attendee_id: attendee.into(),
            external_user_id: "alice".into(),
            capabilities: Capabilities::ALL,
        };
        let mut sockets = Vec::new();
        for _ in 0..5 {
            let (tx, rx) = mpsc::channel(8);
            let id = plane.open(meeting, token.expose(), tx, Arc::new(Notify::new()));
            sockets.push((id, rx));
        }
        for (id, _) in &sockets[1..] {
            assert!(plane.admit(*id, &grant), "room for four");
        }
        let (oldest, rx) = &mut sockets[0];
        assert!(!plane.admit(*oldest, &grant), "the oldest makes room");
        match rx.try_recv() {
            Ok(Outbound::Close(code, _)) => assert_eq!(code, CLOSE_TOO_MANY),
            other => panic!("expected a close, got {other:?}"),
        }
        for (id, rx) in &mut sockets[1..] {
            assert!(rx.try_recv().is_err(), "socket {id} stays");
        }
    }
}
