//! The event log, read back: the meeting events the outbox recorded, scoped
//! to the caller's account (Convene's own API; AWS has none). Events stay
//! readable after their meeting ended, for as long as the log keeps them
//! (`--events-retention-hours`).

use crate::domain::ids::MeetingId;
use crate::domain::types::Caller;
use crate::model::{ModeledError, NotFoundException};
use crate::store::{self, StoreError, StoredEvent};

/// Largest page of events.
pub const MAX_PAGE: u32 = 100;

/// One recorded event: its place in the log and its envelope (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Rises with every event appended, across meetings (a reader's cursor).
    pub seq: i64,
    pub meeting_id: String,
    pub event_type: String,
    /// The envelope, as the sinks receive it.
    pub envelope: String,
}

impl From<StoredEvent> for LoggedEvent {
    fn from(e: StoredEvent) -> LoggedEvent {
        LoggedEvent {
            seq: e.seq,
            meeting_id: e.meeting_id,
            event_type: e.event_type,
            envelope: e.body,
        }
    }
}

/// A page of events, oldest first, and the cursor of the next page if there may be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<LoggedEvent>,
    pub next_after: Option<i64>,
}

fn failure(e: StoreError) -> ModeledError {
    match crate::ops::store_failure(e) {
        Ok(unavailable) => unavailable.into(),
        Err(failure) => failure.into(),
    }
}

/// Cuts `limit + 1` events read to a page of `limit`, with the next cursor.
fn page(mut events: Vec<StoredEvent>, limit: u32) -> EventPage {
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_after = if more {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    EventPage {
        events: events.into_iter().map(LoggedEvent::from).collect(),
        next_after,
    }
}

impl crate::ops::Service {
    /// The events of one of the caller's meetings (live or ended) after
    /// `after`, oldest first. NotFoundException when the meeting is not the
    /// caller's: neither live in its account nor in the log with its events.
    pub async fn meeting_events(
        &self,
        caller: &Caller,
        meeting_id: &MeetingId,
        after: i64,
        limit: u32,
    ) -> Result<EventPage, ModeledError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let account = caller.account_id.clone();
        let id = meeting_id.clone();
        let found = store::read::<_, StoreError, _>(self.store(), move |tx| {
            let (account, id) = (account.clone(), id.clone());
            Box::pin(async move {
                let live = tx.meeting(&account, &id).await?.is_some();
                // Meeting ids are unique across accounts, so a meeting's first
                // event tells whose it is (after its end, too).
                let first = tx.meeting_events(id.as_str(), 0, 1).await?;
                let logged = first
                    .first()
                    .is_some_and(|e| e.account_id == account.as_str());
                if !live && !logged {
                    return Ok(None);
                }
                let mut events = tx.meeting_events(id.as_str(), after, limit + 1).await?;
                events.retain(|e| e.account_id == account.as_str());
                Ok(Some(events))
            })
        })
        .await
        .map_err(failure)?;
        match found {
            Some(events) => Ok(page(events, limit)),
            None => Err(NotFoundException::new(format!("Meeting {meeting_id} not found")).into()),
        }
    }

    /// The caller's events (every meeting) after `after`, oldest first.
    pub async fn account_events(
        &self,
        caller: &Caller,
        after: i64,
        limit: u32,
    ) -> Result<EventPage, ModeledError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let account = caller.account_id.to_string();
        let events = store::read::<_, StoreError, _>(self.store(), move |tx| {
            let account = account.clone();
            Box::pin(async move { tx.account_events(&account, after, limit + 1).await })
        })
        .await
        .map_err(failure)?;
        Ok(page(events, limit))
    }

    /// The caller's newest `limit` events, oldest first, and the cursor a live
    /// reader continues from (the newest event's, or 0 when there is none).
    pub async fn latest_events(
        &self,
        caller: &Caller,
        limit: u32,
    ) -> Result<(Vec<LoggedEvent>, i64), ModeledError> {
        let account = caller.account_id.to_string();
        let take = limit.clamp(1, MAX_PAGE);
        let mut events = store::read::<_, StoreError, _>(self.store(), move |tx| {
            let account = account.clone();
            Box::pin(async move { tx.latest_account_events(&account, take).await })
        })
        .await
        .map_err(failure)?;
        let cursor = events.first().map_or(0, |e| e.seq);
        events.reverse();
        let skip = events.len().saturating_sub(limit as usize);
        let shown = events
            .into_iter()
            .skip(skip)
            .map(LoggedEvent::from)
            .collect();
        Ok((shown, cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: i64) -> StoredEvent {
        StoredEvent {
            seq,
            id: format!("e{seq}"),
            account_id: "111111111111".into(),
            meeting_id: "m".into(),
            event_type: "AttendeeAdded".into(),
            created_at_ms: seq,
            body: "{}".into(),
        }
    }

    #[test]
    fn pages_say_whether_more_may_follow() {
        let p = page((1..=3).map(stored).collect(), 2);
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.next_after, Some(2));
        let p = page((1..=2).map(stored).collect(), 2);
        assert_eq!(p.next_after, None);
        assert!(page(vec![], 5).events.is_empty());
    }
}
