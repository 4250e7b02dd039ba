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

pub mod mixer;
pub mod opus;
pub mod protocol;
pub mod rtc;
pub mod signaling;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, mpsc};

use crate::domain::types::{Capabilities, MediaCapability};
use crate::events::DomainEvent;
use crate::ops::join::{JoinGrant, JoinRefusal};
use crate::ops::Service;
use protocol::{
    FrameType, SdkAudioStatusFrame, SdkAudioStreamIdInfo, SdkAudioStreamIdInfoFrame,
    SdkSignalFrame, AUDIO_STATUS_ATTENDEE_REMOVED, AUDIO_STATUS_JOINED_FROM_ANOTHER_DEVICE,
    AUDIO_STATUS_MEETING_ENDED,
};
use rtc::RtcHandle;

/// WebSocket close code: the token is not that of a live attendee of the meeting.
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// WebSocket close code: the meeting has ended.
pub const CLOSE_MEETING_ENDED: u16 = 4410;
/// WebSocket close code: the server could not serve the session.
pub const CLOSE_INTERNAL: u16 = 4500;

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
    attendee_id: Option<String>,
    token: String,
    capabilities: Option<Capabilities>,
    joined: Option<Joined>,
    /// Told to close (deleted, ended, replaced) or left with LEAVE.
    ended: bool,
    tx: mpsc::UnboundedSender<Outbound>,
}

#[derive(Default)]
struct Hub {
    next_session: u64,
    next_stream_id: u32,
    conns: HashMap<u64, Conn>,
}

/// The media plane of one server.
pub struct MediaPlane {
    service: Service,
    rtc: RtcHandle,
    hub: Mutex<Hub>,
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
    fn broadcast(&self, meeting_id: &str, except: u64, frame: &SdkSignalFrame) {
        for (&id, c) in &self.conns {
            if id != except && c.meeting_id == meeting_id && c.joined.is_some() && !c.ended {
                let _ = c.tx.send(Outbound::Frame(Box::new(frame.clone())));
            }
        }
    }

    /// Ends a connection: AUDIO_STATUS (when joined) and then a close frame.
    fn kick(&mut self, session: u64, status: u32, code: u16, reason: &'static str) {
        if let Some(c) = self.conns.get_mut(&session) {
            if c.ended {
                return;
            }
            c.ended = true;
            if c.joined.is_some() {
                let _ = c.tx.send(Outbound::Frame(Box::new(audio_status(status))));
            }
            let _ = c.tx.send(Outbound::Close(code, reason));
        }
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
            service,
            rtc,
            hub: Mutex::new(Hub::default()),
        });
        tokio::spawn(plane.clone().follow(events));
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
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn follow(self: Arc<Self>, mut events: broadcast::Receiver<DomainEvent>) {
        loop {
            match events.recv().await {
                Ok(e) => self.apply(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
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
                        c.meeting_id == meeting_id && c.attendee_id.as_deref() == Some(&attendee_id)
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
                for (&id, c) in hub.conns.iter_mut() {
                    let hit = c.meeting_id == meeting_id
                        && c.attendee_id
                            .as_deref()
                            .is_some_and(|a| attendees.contains(a));
                    if hit && c.capabilities.is_some() {
                        c.capabilities = Some(capabilities);
                        self.rtc.set_audio(id, capabilities.audio);
                    }
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
            .map(|(&id, c)| (id, c.meeting_id.clone(), c.token.clone()))
            .collect();
        for (id, meeting_id, token) in all {
            let verdict = self.service.authorize_join(&meeting_id, &token).await;
            let mut hub = self.hub();
            match verdict {
                Ok(grant) => {
                    if let Some(c) = hub.conns.get_mut(&id) {
                        if c.capabilities.is_some() {
                            c.capabilities = Some(grant.capabilities);
                            self.rtc.set_audio(id, grant.capabilities.audio);
                        }
                    }
                }
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
        attendee_id: Option<String>,
        token: &str,
        tx: mpsc::UnboundedSender<Outbound>,
    ) -> u64 {
        let mut hub = self.hub();
        hub.next_session += 1;
        let id = hub.next_session;
        hub.conns.insert(
            id,
            Conn {
                meeting_id: meeting_id.to_string(),
                attendee_id,
                token: token.to_string(),
                capabilities: None,
                joined: None,
                ended: false,
                tx,
            },
        );
        id
    }

    /// Records what the store said about the connection's attendee.
    fn admit(&self, session: u64, grant: &JoinGrant) {
        if let Some(c) = self.hub().conns.get_mut(&session) {
            c.capabilities = Some(grant.capabilities);
        }
    }

    /// Puts the connection on the roster (replacing any other connection of
    /// the same attendee) and returns the roster it must be sent.
    fn join(&self, session: u64, grant: &JoinGrant) -> Vec<SdkAudioStreamIdInfo> {
        let mut hub = self.hub();
        let replaced: Vec<u64> = hub
            .conns
            .iter()
            .filter(|(&id, c)| {
                id != session
                    && c.meeting_id == grant.meeting_id
                    && c.attendee_id.as_deref() == Some(&grant.attendee_id)
                    && !c.ended
            })
            .map(|(&id, _)| id)
            .collect();
        for id in replaced {
            tracing::info!(session = id, attendee_id = %grant.attendee_id, "replaced by a new connection");
            hub.kick(
                id,
                AUDIO_STATUS_JOINED_FROM_ANOTHER_DEVICE,
                1000,
                "replaced by a new connection",
            );
            hub.depart(id, false);
            self.rtc.remove(id);
        }
        let already = hub
            .conns
            .get(&session)
            .and_then(|c| c.joined.as_ref().map(|j| j.audio_stream_id));
        let audio_stream_id = match already {
            Some(s) => s,
            None => {
                hub.next_stream_id += 1;
                hub.next_stream_id
            }
        };
        let joined = Joined {
            audio_stream_id,
            external_user_id: grant.external_user_id.clone(),
            muted: false,
        };
        let entry = roster_entry(&joined, &grant.attendee_id);
        if let Some(c) = hub.conns.get_mut(&session) {
            c.joined = Some(joined);
        }
        if already.is_none() {
            hub.broadcast(&grant.meeting_id, session, &stream_info(vec![entry]));
        }
        let mut roster: Vec<(u32, SdkAudioStreamIdInfo)> = hub
            .conns
            .values()
            .filter(|c| c.meeting_id == grant.meeting_id && !c.ended)
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

    /// The attendee's mute state changed (AUDIO_CONTROL): everyone is told.
    fn set_muted(&self, session: u64, muted: bool) {
        let mut hub = self.hub();
        let Some(c) = hub.conns.get_mut(&session) else {
            return;
        };
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

    fn audio_capability(&self, session: u64) -> Option<MediaCapability> {
        self.hub()
            .conns
            .get(&session)
            .and_then(|c| c.capabilities.map(|c| c.audio))
    }

    /// LEAVE: off the roster, media stopped; the socket stays until the client closes it.
    fn leave(&self, session: u64) {
        let mut hub = self.hub();
        hub.depart(session, false);
        if let Some(c) = hub.conns.get_mut(&session) {
            c.ended = true;
        }
        self.rtc.remove(session);
    }

    /// The socket is gone.
    fn close(&self, session: u64) {
        let mut hub = self.hub();
        let dropped = hub.conns.get(&session).is_some_and(|c| !c.ended);
        hub.depart(session, dropped);
        hub.conns.remove(&session);
        self.rtc.remove(session);
    }
}
