//! Who may join a meeting's media session: the JoinToken is the credential.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::Service;
use crate::domain::ids::{AttendeeId, MeetingId};
use crate::domain::types::Capabilities;
use crate::events::envelope::{EventFacts, EventType};
use crate::store::{self, StoreError};

/// What the media plane reports of an attendee's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// Its join token was accepted.
    Authorized,
    Joined,
    Left,
    /// Its connection went without a LEAVE.
    Dropped,
    VideoStarted,
    VideoStopped,
}

impl MediaEvent {
    /// The event type for an attendee's own session, or for its content share.
    fn event_type(self, content: bool) -> Option<EventType> {
        use EventType as E;
        Some(match (self, content) {
            (MediaEvent::Authorized, false) => E::AttendeeAuthorized,
            (MediaEvent::Authorized, true) => return None,
            (MediaEvent::Joined, false) => E::AttendeeJoined,
            (MediaEvent::Joined, true) => E::AttendeeContentJoined,
            (MediaEvent::Left, false) => E::AttendeeLeft,
            (MediaEvent::Left, true) => E::AttendeeContentLeft,
            (MediaEvent::Dropped, false) => E::AttendeeDropped,
            (MediaEvent::Dropped, true) => E::AttendeeContentDropped,
            (MediaEvent::VideoStarted, false) => E::AttendeeVideoStarted,
            (MediaEvent::VideoStarted, true) => E::AttendeeContentVideoStarted,
            (MediaEvent::VideoStopped, false) => E::AttendeeVideoStopped,
            (MediaEvent::VideoStopped, true) => E::AttendeeContentVideoStopped,
        })
    }
}

/// An attendee admitted to a meeting's media session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGrant {
    pub meeting_id: String,
    pub attendee_id: String,
    pub external_user_id: String,
    pub capabilities: Capabilities,
}

/// Why a join is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The token is malformed, unknown, of a deleted attendee, or of another meeting.
    Forbidden,
    /// The meeting was deleted.
    MeetingEnded,
    /// The store could not answer.
    Unavailable,
}

/// The attendee id a join token names (`base64url("<AttendeeId>:<secret>")`),
/// if the token has that shape. Nothing is trusted until the whole token has
/// been compared with the stored one.
pub fn attendee_id_of_token(token: &str) -> Option<String> {
    if token.len() > 512 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = AttendeeId::parse("AttendeeId", id).ok()?;
    (!secret.is_empty()).then(|| id.to_string())
}

impl Service {
    /// Records a media-plane event durably (in the outbox). The media plane
    /// awaits this before it acknowledges the fact to anyone. A content share
    /// is reported with the `#content` attendee and its own event types.
    /// False when it could not be recorded (the store failed, or the meeting
    /// is gone).
    pub async fn record_media_event(
        &self,
        grant: &JoinGrant,
        content: bool,
        what: MediaEvent,
    ) -> bool {
        let Some(event_type) = what.event_type(content) else {
            return true;
        };
        let Ok(meeting_id) = MeetingId::parse("MeetingId", &grant.meeting_id) else {
            return false;
        };
        let suffix = if content { "#content" } else { "" };
        let attendee_id: Arc<str> = format!("{}{suffix}", grant.attendee_id).into();
        let external_user_id: Arc<str> = format!("{}{suffix}", grant.external_user_id).into();
        let (outbox, clock) = (self.outbox().clone(), self.clock().clone());
        let recorded = store::write::<_, StoreError, _>(self.store(), move |tx| {
            let (meeting_id, outbox, clock) = (meeting_id.clone(), outbox.clone(), clock.clone());
            let (attendee_id, external_user_id) = (attendee_id.clone(), external_user_id.clone());
            Box::pin(async move {
                let Some(meeting) = tx.meeting_by_id(&meeting_id).await? else {
                    return Ok(false);
                };
                let now = clock.now_ms(meeting.account_id.as_str());
                let facts = EventFacts::attendee(event_type, &attendee_id, &external_user_id);
                outbox.emit(tx, &meeting, facts, now).await?;
                Ok(true)
            })
        })
        .await;
        match recorded {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, event = event_type.name(), "media event not recorded");
                false
            }
        }
    }

    /// Admits the holder of `join_token` to meeting `meeting_id` when the
    /// token is that of a live attendee of the meeting (compared in constant time).
    pub async fn authorize_join(
        &self,
        meeting_id: &str,
        join_token: &str,
    ) -> Result<JoinGrant, JoinRefusal> {
        let Ok(meeting_id) = MeetingId::parse("MeetingId", meeting_id) else {
            return Err(JoinRefusal::Forbidden);
        };
        let attendee_id = attendee_id_of_token(join_token)
            .and_then(|id| AttendeeId::parse("AttendeeId", &id).ok());
        let token: Arc<str> = join_token.into();
        let outcome = store::lookup(self.store(), move |tx| {
            let (meeting_id, attendee_id, token) =
                (meeting_id.clone(), attendee_id.clone(), token.clone());
            Box::pin(async move {
                if tx.meeting_ended(&meeting_id).await? {
                    return Ok(Err(JoinRefusal::MeetingEnded));
                }
                let Some(attendee_id) = attendee_id else {
                    return Ok(Err(JoinRefusal::Forbidden));
                };
                let Some(attendee) = tx.join_credential(&meeting_id, &attendee_id).await? else {
                    return Ok(Err(JoinRefusal::Forbidden));
                };
                if !attendee.join_token.matches(&token) {
                    return Ok(Err(JoinRefusal::Forbidden));
                }
                Ok::<_, StoreError>(Ok(JoinGrant {
                    meeting_id: attendee.meeting_id.to_string(),
                    attendee_id: attendee.attendee_id.to_string(),
                    external_user_id: attendee.external_user_id.to_string(),
                    capabilities: attendee.capabilities,
                }))
            })
        })
        .await;
        match outcome {
            Ok(r) => r,
            Err(_) => Err(JoinRefusal::Unavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::JoinToken;

    #[test]
    fn token_names_its_attendee() {
        let id = "582e3b1f-115a-8024-a8dc-b3257e3e4856";
        assert_eq!(
            attendee_id_of_token(
                JoinToken::generate(&AttendeeId::parse("AttendeeId", id).unwrap()).expose()
            )
            .as_deref(),
            Some(id)
        );
        assert_eq!(attendee_id_of_token("garbage"), None);
        assert_eq!(attendee_id_of_token(""), None);
        assert_eq!(
            attendee_id_of_token(&URL_SAFE_NO_PAD.encode("not-a-uuid:secret")),
            None
        );
    }
}
