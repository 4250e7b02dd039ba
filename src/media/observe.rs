//! What the rest of the server sees of the media plane: the live sessions (for
//! the console and metrics), whether the media thread runs (for readiness), and
//! closing every signaling socket when the server shuts down.

use std::time::{Duration, Instant};

use super::{MediaPlane, Outbound};

/// WebSocket close code sent when the server shuts down. The SDK treats 4500–4599
/// as a server failure that is not terminal and reconnects (in a cluster, to
/// another node).
pub const CLOSE_GOING_AWAY: u16 = 4503;

/// One signaling connection, as a person looking at the server sees it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub session: u64,
    pub meeting_id: String,
    pub attendee_id: Option<String>,
    /// On the roster (JOIN done, not left).
    pub joined: bool,
    pub muted: bool,
    /// The attendee's capabilities as applied to the live connection, once admitted.
    pub audio: Option<&'static str>,
    pub video: Option<&'static str>,
    pub content: Option<&'static str>,
    /// The WebRTC media session is set up (SUBSCRIBE answered).
    pub has_media: bool,
    /// Sends video: the camera, or the screen for a content share.
    pub sending_video: bool,
    /// The connection is a content share (`<AttendeeId>#content`).
    pub content_share: bool,
}

impl MediaPlane {
    /// Every open signaling connection.
    pub fn live_sessions(&self) -> Vec<LiveSession> {
        let hub = self.hub();
        let mut out: Vec<LiveSession> = hub
            .conns
            .iter()
            .filter(|(_, c)| !c.closing)
            .map(|(&id, c)| LiveSession {
                session: id,
                meeting_id: c.meeting_id.clone(),
                attendee_id: c.attendee_id.clone(),
                joined: c.joined.is_some(),
                muted: c.joined.as_ref().is_some_and(|j| j.muted),
                audio: c.capabilities.map(|k| k.audio.as_str()),
                video: c.capabilities.map(|k| k.video.as_str()),
                content: c.capabilities.map(|k| k.content.as_str()),
                has_media: c.has_media,
                sending_video: c.video.is_some(),
                content_share: c
                    .attendee_id
                    .as_deref()
                    .is_some_and(|a| a.ends_with("#content")),
            })
            .collect();
        out.sort_by_key(|s| s.session);
        out
    }

    /// True while the media thread runs.
    pub fn alive(&self) -> bool {
        self.rtc.alive()
    }

    /// The meetings with open signaling connections on this node.
    pub fn meetings_here(&self) -> std::collections::HashSet<String> {
        self.hub()
            .conns
            .values()
            .filter(|c| !c.closing)
            .map(|c| c.meeting_id.clone())
            .collect()
    }

    /// Closes every connection of the meeting with [`CLOSE_GOING_AWAY`], so
    /// that its clients reconnect (in a cluster: to the node that hosts it
    /// now); returns how many.
    pub fn send_away(&self, meeting_id: &str) -> usize {
        let mut hub = self.hub();
        let mut n = 0;
        for c in hub.conns.values_mut() {
            if c.meeting_id == meeting_id && !c.closing {
                n += 1;
                c.push(Outbound::Close(
                    CLOSE_GOING_AWAY,
                    "meeting moved to another node",
                ));
                c.closing = true;
            }
        }
        n
    }

    /// Sends every signaling connection a close frame ([`CLOSE_GOING_AWAY`]),
    /// those relayed to another node too, and waits up to `wait` for them to go.
    pub async fn close_all(&self, wait: Duration) -> usize {
        let count = {
            let mut hub = self.hub();
            let mut n = 0;
            for c in hub.conns.values_mut() {
                if !c.closing {
                    n += 1;
                    c.push(Outbound::Close(CLOSE_GOING_AWAY, "server shutting down"));
                    c.closing = true;
                }
            }
            n
        };
        let count = count + self.relays.close_all();
        let deadline = Instant::now() + wait;
        while (!self.hub().conns.is_empty() || self.relays.open() > 0) && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        count
    }
}
