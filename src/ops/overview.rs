//! Convene's own views for people running it (the console, metrics): reads the
//! API does not have, such as listing an account's meetings. Still scoped to
//! the caller's account like every operation.

use super::Service;
use crate::domain::types::{Attendee, Caller, Meeting, Tag};
use crate::store::{self, StoreError};

/// Most meetings one overview lists (newest first).
pub const MAX_MEETINGS_LISTED: u32 = 200;

/// A meeting with everything stored about it.
#[derive(Debug, Clone)]
pub struct MeetingOverview {
    pub meeting: Meeting,
    pub attendees: Vec<Attendee>,
    pub tags: Vec<Tag>,
    /// The active transcription configuration (JSON), if transcription runs.
    pub transcription: Option<String>,
}

impl Service {
    /// The caller's meetings, newest first (at most [`MAX_MEETINGS_LISTED`]),
    /// with their attendees, tags and transcription state, in one snapshot.
    pub async fn account_overview(
        &self,
        caller: &Caller,
    ) -> Result<Vec<MeetingOverview>, StoreError> {
        let account = caller.account_id.clone();
        store::read(self.store(), move |tx| {
            let account = account.clone();
            Box::pin(async move {
                let meetings = tx.list_meetings(&account, MAX_MEETINGS_LISTED).await?;
                let mut out = Vec::with_capacity(meetings.len());
                for meeting in meetings {
                    let id = meeting.meeting_id.clone();
                    out.push(MeetingOverview {
                        attendees: tx.list_attendees(&account, &id, 0, 1000).await?,
                        tags: tx.tags(&id).await?,
                        transcription: tx.transcription(&id).await?,
                        meeting,
                    });
                }
                Ok(out)
            })
        })
        .await
    }

    /// Meetings and attendees held over every account.
    pub async fn totals(&self) -> Result<(u64, u64), StoreError> {
        store::read(self.store(), |tx| tx.totals()).await
    }
}
