//! Convene's own views for people running it (the console, metrics): reads the
//! API does not have, such as listing an account's meetings. Still scoped to
//! the caller's account like every operation.

use std::time::{Duration, Instant};

use super::Service;
use crate::domain::types::{Attendee, Caller, Meeting, Tag};
use crate::store::{self, StoreError};

/// How long counted totals are reused.
pub const TOTALS_MAX_AGE: Duration = Duration::from_secs(60);

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

    /// Meetings and attendees held over every account. Counting reads every
    /// row (two seconds at ten million attendees), so a count is reused for
    /// [`TOTALS_MAX_AGE`], and scrapes that come meanwhile wait for the one
    /// running instead of starting their own.
    ///
    /// The count runs in a task of its own, so that a scrape that gives up
    /// waiting (the metrics route waits two seconds) still leaves its result
    /// for the next one.
    pub async fn totals(&self) -> Result<(u64, u64), StoreError> {
        let this = self.clone();
        tokio::spawn(async move { this.count_totals().await })
            .await
            .map_err(|e| StoreError::Backend(format!("counting the totals failed: {e}")))?
    }

    async fn count_totals(&self) -> Result<(u64, u64), StoreError> {
        let mut last = self.totals.lock().await;
        if let Some((at, t)) = *last {
            if at.elapsed() < TOTALS_MAX_AGE {
                return Ok(t);
            }
        }
        let t = store::read(self.store(), |tx| tx.totals()).await?;
        *last = Some((Instant::now(), t));
        Ok(t)
    }
}
