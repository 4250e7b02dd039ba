//! Who may join a meeting's media session: the JoinToken is the credential.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::Service;
use crate::domain::ids::{AttendeeId, MeetingId};
use crate::domain::types::Capabilities;
use crate::store::{self, StoreError};

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
        let outcome = store::read(self.store(), move |tx| {
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
