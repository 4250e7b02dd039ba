//! One signaling connection: the WebSocket behind `MediaPlacement.SignalingUrl`.
//!
//! The client authenticates with its JoinToken (the second entry of
//! `Sec-WebSocket-Protocol`, after `_aws_wt_session`), then speaks framed
//! `SdkSignalFrame`s: JOIN → JOIN_ACK, INDEX and the roster
//! (AUDIO_STREAM_ID_INFO); SUBSCRIBE → SUBSCRIBE_ACK with the SDP answer;
//! PING → PONG; AUDIO_CONTROL → mute state for everyone; LEAVE → LEAVE_ACK.
//! A refused token closes the socket with 4403, an ended meeting with 4410.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::sync::{mpsc, Notify};

use super::protocol::{
    FrameType, PingPongType, SdkDataMessageFrame, SdkIndexFrame, SdkJoinAckFrame, SdkLeaveAckFrame,
    SdkPingPongFrame, SdkSignalFrame, SdkSubscribeAckFrame, SdkTrackMapping,
};
use super::video::VIDEO_SUBSCRIPTION_LIMIT;
use super::{
    base_token, stream_info, MediaPlane, Outbound, CLOSE_FORBIDDEN, CLOSE_INTERNAL,
    CLOSE_MEETING_ENDED, CLOSE_TOO_MANY, OUTBOUND_QUEUE,
};
use crate::ops::join::{JoinGrant, JoinRefusal, MediaEvent};

/// The subprotocol the clients offer first, and that must be echoed.
pub const SUBPROTOCOL: &str = "_aws_wt_session";

/// A client that sends nothing for this long is gone (clients ping every 10 s).
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// The largest signaling message (and WebSocket frame) accepted. SDP offers
/// are the largest frames clients send, a few tens of kilobytes at most.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A write to a client that takes longer than this means it stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The JoinToken from a `Sec-WebSocket-Protocol` header value
/// (`_aws_wt_session, <JoinToken>`).
pub fn token_from_protocols(header: &str) -> Option<String> {
    let mut parts = header.split(',').map(str::trim);
    if !parts.any(|p| p == SUBPROTOCOL) {
        return None;
    }
    header
        .split(',')
        .map(str::trim)
        .find(|p| *p != SUBPROTOCOL && !p.is_empty())
        .map(str::to_string)
}

/// What the connection does next, after a frame.
enum Step {
    Continue,
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
    /// The connection is over (closed, or gone).
    Ended,
}

struct Session {
    plane: Arc<MediaPlane>,
    id: u64,
    grant: JoinGrant,
    /// A content share's session (`<JoinToken>#content`).
    content: bool,
}

/// Serves one upgraded WebSocket until it closes.
pub async fn serve(
    plane: Arc<MediaPlane>,
    mut socket: WebSocket,
    meeting_id: String,
    token: Option<String>,
) {
    let token = token.unwrap_or_default();
    let (tx, mut rx) = mpsc::channel(OUTBOUND_QUEUE);
    let abort = Arc::new(Notify::new());
    let id = plane.open(&meeting_id, &token, tx, abort.clone());
    let Some(session) = admit(&plane, &mut socket, &mut rx, &meeting_id, &token, id).await else {
        plane.close(id);
        return;
    };
    loop {
        let step = tokio::select! {
            () = abort.notified() => {
                tracing::info!(session = id, "signaling client dropped (not reading)");
                Step::Ended
            }
            m = tokio::time::timeout(IDLE_LIMIT, socket.recv()) => {
                session.inbound(m, &mut socket).await
            }
            o = rx.recv() => outbound(id, o, &mut socket).await,
        };
        if !matches!(step, Step::Continue) {
            break;
        }
    }
    // Gone while on the roster: dropped. Recorded before the others are told.
    if plane.on_roster(id) {
        session.video_stopped_on_exit().await;
        plane
            .service
            .record_media_event(&session.grant, session.content, MediaEvent::Dropped)
            .await;
    }
    plane.close(id);
    tracing::info!(session = id, "signaling closed");
}

/// Checks the JoinToken and takes the session onto the plane; a refusal
/// closes the socket (4403, or 4410 for an ended meeting).
async fn admit(
    plane: &Arc<MediaPlane>,
    socket: &mut WebSocket,
    rx: &mut mpsc::Receiver<Outbound>,
    meeting_id: &str,
    token: &str,
    id: u64,
) -> Option<Session> {
    let grant = match plane
        .service
        .authorize_join(meeting_id, base_token(token))
        .await
    {
        Ok(g) => g,
        Err(refusal) => {
            let (code, reason) = match refusal {
                JoinRefusal::Forbidden => (CLOSE_FORBIDDEN, "not a live attendee of this meeting"),
                JoinRefusal::MeetingEnded => (CLOSE_MEETING_ENDED, "meeting ended"),
                JoinRefusal::Unavailable => (CLOSE_INTERNAL, "try again"),
            };
            tracing::info!(%meeting_id, code, "signaling connection refused");
            close(socket, code, reason).await;
            return None;
        }
    };
    if !plane.admit(id, &grant) {
        // Closed while the store answered, or evicted to make room: the close
        // it was queued says why.
        let mut why = (CLOSE_FORBIDDEN, "closed");
        while let Ok(o) = rx.try_recv() {
            if let Outbound::Close(code, reason) = o {
                why = (code, reason);
            }
        }
        close(socket, why.0, why.1).await;
        return None;
    }
    let content = super::is_content_token(token);
    plane
        .service
        .record_media_event(&grant, content, MediaEvent::Authorized)
        .await;
    tracing::info!(session = id, meeting_id = %grant.meeting_id, attendee_id = %grant.attendee_id, "signaling connected");
    Some(Session {
        plane: plane.clone(),
        id,
        grant,
        content,
    })
}

/// Sends what the plane queued for the client, or closes the socket when asked to.
async fn outbound(id: u64, o: Option<Outbound>, socket: &mut WebSocket) -> Step {
    match o {
        Some(Outbound::Frame(f)) => {
            if send(socket, &f).await.is_err() {
                return Step::Ended;
            }
            Step::Continue
        }
        Some(Outbound::Close(code, reason)) => {
            tracing::info!(session = id, code, reason, "closing signaling connection");
            close(socket, code, reason).await;
            Step::Ended
        }
        None => Step::Ended,
    }
}

impl Session {
    /// What the client sent (or its silence, past [`IDLE_LIMIT`]).
    async fn inbound(
        &self,
        m: Result<Option<Result<Message, axum::Error>>, tokio::time::error::Elapsed>,
        socket: &mut WebSocket,
    ) -> Step {
        let step = match m {
            Err(_) => Step::Close(1001, "idle"),
            Ok(None | Some(Err(_))) => return Step::Ended,
            Ok(Some(Ok(Message::Close(_)))) => {
                // The WebSocket layer queues the close reply; reading once
                // more sends it, so the client sees a clean close (1000).
                let _ = tokio::time::timeout(Duration::from_millis(500), socket.recv()).await;
                return Step::Ended;
            }
            Ok(Some(Ok(Message::Binary(bytes)))) => match SdkSignalFrame::from_message(&bytes) {
                Ok(frame) => self.handle(frame, socket).await,
                Err(e) => {
                    tracing::debug!(session = self.id, error = %e, "unreadable signaling message ignored");
                    Step::Continue
                }
            },
            Ok(Some(Ok(_))) => Step::Continue,
        };
        if let Step::Close(code, reason) = step {
            close(socket, code, reason).await;
            return Step::Ended;
        }
        step
    }
}

/// Writes one frame; a client that does not take it within [`SEND_TIMEOUT`] is gone.
async fn send(socket: &mut WebSocket, frame: &SdkSignalFrame) -> Result<(), ()> {
    match tokio::time::timeout(
        SEND_TIMEOUT,
        socket.send(Message::Binary(frame.to_message().into())),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = tokio::time::timeout(
        SEND_TIMEOUT,
        socket.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))),
    )
    .await;
    // Give the client a moment to answer the close, then drop the socket.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// A frame's answer: the frames to send, or the close that ends the connection.
type Answer = Result<Vec<SdkSignalFrame>, (u16, &'static str)>;

impl Session {
    /// A SUBSCRIBE that starts or stops the connection's video is recorded
    /// before SUBSCRIBE_ACK and before the others' INDEX tell anyone.
    async fn video_changed(&self, before: bool, now: bool) {
        let what = match (before, now) {
            (false, true) => MediaEvent::VideoStarted,
            (true, false) => MediaEvent::VideoStopped,
            _ => return,
        };
        let service = &self.plane.service;
        service
            .record_media_event(&self.grant, self.content, what)
            .await;
    }

    /// A connection that leaves or drops while sending video stops it first.
    async fn video_stopped_on_exit(&self) {
        if self.plane.sends_video(self.id) {
            self.plane
                .service
                .record_media_event(&self.grant, self.content, MediaEvent::VideoStopped)
                .await;
        }
    }

    async fn handle(&self, frame: SdkSignalFrame, socket: &mut WebSocket) -> Step {
        let kind = frame.kind();
        tracing::debug!(session = self.id, ?kind, "signaling frame");
        let answer = match kind {
            Some(FrameType::Join) => self.join().await,
            Some(FrameType::Subscribe) => self.subscribe(frame, socket).await,
            Some(FrameType::PingPong) => Ok(pong(frame)),
            Some(FrameType::AudioControl) => {
                if let Some(muted) = frame.audio_control.and_then(|a| a.muted) {
                    self.plane.set_muted(self.id, muted);
                }
                Ok(vec![])
            }
            Some(FrameType::DataMessage) => self.data_message(frame),
            Some(FrameType::Leave) => Ok(self.leave().await),
            _ => Ok(vec![]),
        };
        let replies = match answer {
            Ok(replies) => replies,
            Err((code, reason)) => return Step::Close(code, reason),
        };
        for f in &replies {
            if send(socket, f).await.is_err() {
                return Step::Close(1011, "send failed");
            }
        }
        Step::Continue
    }

    /// JOIN: onto the roster; JOIN_ACK, the index, the roster and any replayed data messages.
    async fn join(&self) -> Answer {
        // Recorded before JOIN_ACK and before the roster hears of it.
        if !self.plane.on_roster(self.id) {
            self.plane
                .service
                .record_media_event(&self.grant, self.content, MediaEvent::Joined)
                .await;
        }
        let Some(joining) = self.plane.join(self.id, &self.grant) else {
            return Err((CLOSE_FORBIDDEN, "JOIN after LEAVE"));
        };
        let mut ack = SdkSignalFrame::new(FrameType::JoinAck);
        ack.joinack = Some(SdkJoinAckFrame {
            video_subscription_limit: Some(VIDEO_SUBSCRIPTION_LIMIT),
            ..Default::default()
        });
        let mut index = SdkSignalFrame::new(FrameType::Index);
        index.index = Some(SdkIndexFrame {
            sources: joining.index,
            ..Default::default()
        });
        let mut replies = vec![ack, index, stream_info(joining.roster)];
        if !joining.replay.is_empty() {
            let mut f = SdkSignalFrame::new(FrameType::DataMessage);
            f.data_message = Some(SdkDataMessageFrame {
                messages: joining.replay,
            });
            replies.push(f);
        }
        Ok(replies)
    }

    /// SUBSCRIBE: answers the SDP offer with SUBSCRIBE_ACK (sent here, before
    /// the plane hears the session subscribed).
    async fn subscribe(&self, frame: SdkSignalFrame, socket: &mut WebSocket) -> Answer {
        let sub = frame.sub.unwrap_or_default();
        let Some(offer) = sub.sdp_offer.clone().filter(|o| !o.is_empty()) else {
            return Err((4400, "SUBSCRIBE without an SDP offer"));
        };
        // Media only for a session on the roster: JOINed, not LEFT.
        let had_video = self.plane.sends_video(self.id);
        let Some(plan) = self.plane.plan_subscribe(self.id, &sub, &offer) else {
            return Err((CLOSE_FORBIDDEN, "SUBSCRIBE without JOIN or after LEAVE"));
        };
        self.video_changed(had_video, !plan.allocations.is_empty())
            .await;
        let spec = plan.spec;
        let answer = match self.plane.rtc.subscribe(spec, offer).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(session = self.id, error = %e, "SUBSCRIBE failed");
                return Err((CLOSE_INTERNAL, "cannot answer the SDP offer"));
            }
        };
        // A capability change (or a kick) while the answer was made is applied now.
        if let Some(audio) = self.plane.media_rights(self.id) {
            self.plane.rtc.set_audio(self.id, audio);
        } else {
            self.plane.rtc.remove(self.id);
            return Err((CLOSE_FORBIDDEN, "no longer on the roster"));
        }
        if let Some(muted) = sub.audio_muted {
            self.plane.set_muted(self.id, muted);
        }
        let mut ack = SdkSignalFrame::new(FrameType::SubscribeAck);
        ack.suback = Some(SdkSubscribeAckFrame {
            duplex: sub.duplex,
            sdp_answer: Some(answer.sdp),
            allocations: plan.allocations,
            tracks: answer
                .tracks
                .into_iter()
                .map(|t| SdkTrackMapping {
                    stream_id: Some(t.stream_id),
                    ssrc: Some(t.ssrc),
                    track_label: Some(t.label),
                })
                .collect(),
        });
        if send(socket, &ack).await.is_err() {
            return Err((1011, "send failed"));
        }
        self.plane.subscribed(self.id);
        Ok(vec![])
    }

    /// DATA_MESSAGE: relayed to the meeting, within the rate limit.
    fn data_message(&self, frame: SdkSignalFrame) -> Answer {
        if let Some(d) = frame.data_message {
            if !self.plane.data_message(self.id, d) {
                return Err((CLOSE_TOO_MANY, "data messages over the rate limit"));
            }
        }
        Ok(vec![])
    }

    /// LEAVE: off the roster; LEAVE_ACK.
    async fn leave(&self) -> Vec<SdkSignalFrame> {
        if self.plane.on_roster(self.id) {
            self.video_stopped_on_exit().await;
            self.plane
                .service
                .record_media_event(&self.grant, self.content, MediaEvent::Left)
                .await;
        }
        self.plane.leave(self.id);
        let mut ack = SdkSignalFrame::new(FrameType::LeaveAck);
        ack.leave_ack = Some(SdkLeaveAckFrame {});
        vec![ack]
    }
}

/// PING → PONG (a PONG from the client needs no answer).
fn pong(frame: SdkSignalFrame) -> Vec<SdkSignalFrame> {
    match frame.ping_pong {
        Some(p) if p.r#type == PingPongType::Ping as i32 => {
            let mut pong = SdkSignalFrame::new(FrameType::PingPong);
            pong.ping_pong = Some(SdkPingPongFrame {
                r#type: PingPongType::Pong as i32,
                ping_id: p.ping_id,
            });
            vec![pong]
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_other_subprotocol() {
        assert_eq!(
            token_from_protocols("_aws_wt_session, abc-_d").as_deref(),
            Some("abc-_d")
        );
        assert_eq!(
            token_from_protocols("abc,_aws_wt_session").as_deref(),
            Some("abc")
        );
        assert_eq!(token_from_protocols("_aws_wt_session"), None);
        assert_eq!(token_from_protocols("abc"), None);
    }
}
