//! Operations: one module per resource. Each takes the caller and a typed input
//! and returns a typed output or its own error type, generated from the model
//! (`CreateMeetingError`, ...), which can hold only the exceptions the model
//! lists for that operation: returning any other does not compile. Nothing
//! here knows HTTP.

pub mod attendees;
pub mod capabilities;
pub mod eventlog;
pub mod join;
pub mod lifecycle;
pub mod meetings;
pub mod overview;
pub mod tags;
pub mod transcription;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::clock::MeetingClock;
use crate::domain::ids::{MeetingId, PageTokens};
use crate::domain::types::{Caller, Meeting};
use crate::events::outbox::Outbox;
use crate::events::{DomainEvent, EventBus};
use crate::model::{
    BatchCreateAttendeeError, BatchUpdateAttendeeCapabilitiesExceptError, CreateAttendeeError,
    CreateMeetingError, CreateMeetingWithAttendeesError, DeleteAttendeeError, DeleteMeetingError,
    GetAttendeeError, GetMeetingError, ListAttendeesError, ListTagsForResourceError,
    NotFoundException, ServiceFailureException, ServiceUnavailableException,
    StartMeetingTranscriptionError, StopMeetingTranscriptionError, TagResourceError,
    UntagResourceError, UpdateAttendeeCapabilitiesError,
};
use crate::store::{self, MeetingLimits, Store, StoreError, Tx};

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

/// Meetings and attendees counted at an instant.
type CountedTotals = (std::time::Instant, (u64, u64));

/// The service: every operation of the API.
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    page_tokens: PageTokens,
    limits: Limits,
    events: EventBus,
    clock: MeetingClock,
    presence: Arc<lifecycle::Presence>,
    outbox: Outbox,
    /// The last counted totals (see [`Service::totals`]) and when.
    totals: Arc<tokio::sync::Mutex<Option<CountedTotals>>>,
    /// Meetings read for CreateAttendee, by id (see [`Service::known_meeting`]).
    known: Arc<Mutex<HashMap<String, Arc<Meeting>>>>,
}

/// Meetings [`Service::known_meeting`] keeps before it starts again.
const KNOWN_MEETINGS: usize = 4096;

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
            outbox: Outbox::default(),
            totals: Arc::default(),
            known: Arc::default(),
        }
    }

    /// Records meeting events for these sinks (by default: only in the event log).
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = outbox;
        self
    }

    /// Where this service records meeting events.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
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

impl Limits {
    pub(crate) fn meetings(&self) -> MeetingLimits {
        MeetingLimits {
            max_meetings: self.max_meetings,
            max_replicas: self.max_replicas,
        }
    }
}

/// The seconds a client is asked to wait when the store is busy.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// A store failure as the model answers it (every operation lists both):
/// ServiceUnavailableException, with a Retry-After, when the store could not
/// start the work in time or kept colliding with other writers;
/// ServiceFailureException otherwise.
pub fn store_failure(
    e: StoreError,
) -> Result<ServiceUnavailableException, ServiceFailureException> {
    match e {
        StoreError::Unavailable(why) | StoreError::Conflict(why) => {
            tracing::warn!(reason = %why, "store unavailable");
            let mut u = ServiceUnavailableException::new("The service is busy; try again shortly");
            u.retry_after_seconds = Some(RETRY_AFTER_SECONDS.to_string());
            Ok(u)
        }
        other => {
            tracing::error!(error = %other, "store failure");
            Err(ServiceFailureException::new(
                "The service could not complete the request; try again",
            ))
        }
    }
}

macro_rules! store_errors_answer_as_modeled {
    ($($op:ident),* $(,)?) => {$(
        impl From<StoreError> for $op {
            fn from(e: StoreError) -> $op {
                match store_failure(e) {
                    Ok(unavailable) => unavailable.into(),
                    Err(failure) => failure.into(),
                }
            }
        }
    )*};
}

store_errors_answer_as_modeled!(
    BatchCreateAttendeeError,
    BatchUpdateAttendeeCapabilitiesExceptError,
    CreateAttendeeError,
    CreateMeetingError,
    CreateMeetingWithAttendeesError,
    DeleteAttendeeError,
    DeleteMeetingError,
    GetAttendeeError,
    GetMeetingError,
    ListAttendeesError,
    ListTagsForResourceError,
    StartMeetingTranscriptionError,
    StopMeetingTranscriptionError,
    TagResourceError,
    UntagResourceError,
    UpdateAttendeeCapabilitiesError,
);

pub(crate) fn meeting_not_found(meeting_id: &MeetingId) -> NotFoundException {
    NotFoundException::new(format!("Meeting {meeting_id} not found"))
}

impl Service {
    /// The caller's meeting for a write that checks again, inside its own
    /// transaction, that the meeting is still there (CreateAttendee's
    /// insert does): from the meetings read before when it is one of them,
    /// else read with [`Service::meeting`]. A meeting never changes once
    /// made, it only goes, so a kept one can only be gone, which that check
    /// finds. At most [`KNOWN_MEETINGS`] are kept (then they are all
    /// forgotten), about a kilobyte each. Another account's meeting is never
    /// taken from here: the kept meeting names its account.
    pub(crate) async fn known_meeting<E>(
        &self,
        caller: &Caller,
        meeting_id: &MeetingId,
    ) -> Result<Arc<Meeting>, E>
    where
        E: From<NotFoundException> + From<StoreError> + Send + 'static,
    {
        let lock = || self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = lock().get(meeting_id.as_str()) {
            if m.account_id == caller.account_id {
                return Ok(m.clone());
            }
        }
        let meeting = Arc::new(self.meeting::<E>(caller, meeting_id).await?);
        let mut known = lock();
        if known.len() >= KNOWN_MEETINGS {
            known.clear();
        }
        known.insert(meeting_id.to_string(), meeting.clone());
        Ok(meeting)
    }

    /// The caller's meeting, read with a pooled reader (outside any write).
    pub(crate) async fn meeting<E>(
        &self,
        caller: &Caller,
        meeting_id: &MeetingId,
    ) -> Result<Meeting, E>
    where
        E: From<NotFoundException> + From<StoreError> + Send + 'static,
    {
        let (caller, meeting_id) = (caller.clone(), meeting_id.clone());
        store::lookup(self.store(), move |tx| {
            let (caller, meeting_id) = (caller.clone(), meeting_id.clone());
            Box::pin(async move { meeting_of(tx, &caller, &meeting_id).await })
        })
        .await
    }
}

/// The caller's meeting, or NotFoundException. Meetings of other accounts do not exist.
pub(crate) async fn meeting_of<E>(
    tx: &mut dyn Tx,
    caller: &Caller,
    meeting_id: &MeetingId,
) -> Result<Meeting, E>
where
    E: From<NotFoundException> + From<StoreError>,
{
    tx.meeting(&caller.account_id, meeting_id)
        .await?
        .ok_or_else(|| meeting_not_found(meeting_id).into())
}
