//! Operations: one module per resource. Each takes the caller and a typed input
//! and returns a typed output or a modeled [`ApiError`]; nothing here knows HTTP.

pub mod attendees;
pub mod capabilities;
pub mod join;
pub mod lifecycle;
pub mod meetings;
pub mod overview;
pub mod tags;
pub mod transcription;

use std::sync::Arc;

use crate::domain::clock::MeetingClock;
use crate::domain::ids::PageTokens;
use crate::domain::types::{Caller, Meeting};
use crate::domain::{ApiError, ApiResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{Store, Tx};

/// Tunables of the operations layer.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Page size of ListAttendees when the request gives no MaxResults.
    pub default_page_size: u32,
    /// Replica meetings one primary meeting may have.
    pub max_replicas: u64,
    /// Meetings (replicas included) one account may hold at once.
    pub max_meetings: u64,
    /// When meetings end by themselves.
    pub lifecycle: lifecycle::LifecycleRules,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default_page_size: 100,
            max_replicas: 4,
            max_meetings: 10_000,
            lifecycle: lifecycle::LifecycleRules::default(),
        }
    }
}

/// The service: every operation of the API.
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    page_tokens: PageTokens,
    limits: Limits,
    events: EventBus,
    clock: MeetingClock,
    presence: Arc<lifecycle::Presence>,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, limits: Limits) -> Self {
        let page_tokens = PageTokens::new(store.token_key());
        Service {
            store,
            page_tokens,
            limits,
            events: EventBus::new(),
            clock: MeetingClock::new(),
            presence: Arc::default(),
        }
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The domain events this service publishes after each committed change.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    fn publish(&self, event: DomainEvent) {
        self.events.publish(event);
    }
}

/// The caller's meeting, or NotFoundException. Meetings of other accounts do not exist.
pub(crate) fn meeting_of(tx: &mut dyn Tx, caller: &Caller, meeting_id: &str) -> ApiResult<Meeting> {
    tx.get_meeting(&caller.account_id, meeting_id)?
        .ok_or_else(|| ApiError::meeting_not_found(meeting_id))
}
