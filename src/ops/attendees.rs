//! CreateAttendee, BatchCreateAttendee, GetAttendee, ListAttendees, DeleteAttendee.

use std::borrow::Borrow;
use std::sync::Arc;

use super::{meeting_not_found, meeting_of, Service};
use crate::domain::ids::{AttendeeId, ExternalUserId, JoinToken, MeetingId};
use crate::domain::types::{Attendee, AttendeeError, Caller, Capabilities, Meeting};
use crate::domain::{validate, Checked, Invalid};
use crate::events::envelope::{EventFacts, EventType};
use crate::events::outbox::{Outbox, Prepared};
use crate::events::DomainEvent;
use crate::model::{
    BatchCreateAttendeeError, CreateAttendeeError, DeleteAttendeeError, GetAttendeeError,
    LimitExceededException, ListAttendeesError, NotFoundException,
};
use crate::store::{self, CreatedAttendee, StoreError, Tx};

/// One attendee to create: `CreateAttendeeRequestItem`, or the body of CreateAttendee.
#[derive(Debug, Clone)]
pub struct AttendeeRequest {
    pub external_user_id: String,
    pub capabilities: Option<Capabilities>,
}

/// What a batch created, and what it could not.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub attendees: Vec<Attendee>,
    pub errors: Vec<AttendeeError>,
}

/// A page of the roster.
#[derive(Debug, Clone)]
pub struct AttendeePage {
    pub attendees: Vec<Attendee>,
    pub next_token: Option<String>,
}

pub(crate) fn attendee_not_found(attendee_id: &AttendeeId) -> NotFoundException {
    NotFoundException::new(format!("Attendee {attendee_id} not found"))
}

/// A new attendee of `meeting` as `req` asks (checked, with a fresh id and
/// join token), and the meeting's attendee limit. Made outside the write
/// transaction: nothing here needs the store.
fn new_attendee(
    meeting: &Meeting,
    req: &AttendeeRequest,
    member: &str,
) -> Result<(Attendee, u32), Invalid> {
    let external_user_id =
        ExternalUserId::parse(&format!("{member}ExternalUserId"), &req.external_user_id)?;
    let features = meeting.features_or_default();
    let capabilities = validate::resolve_capabilities(
        &format!("{member}Capabilities"),
        req.capabilities,
        &features,
    )?;
    let attendee_id = AttendeeId::generate();
    let attendee = Attendee {
        meeting_id: meeting.meeting_id.clone(),
        join_token: JoinToken::generate(&attendee_id),
        attendee_id,
        external_user_id,
        capabilities,
        seq: 0,
    };
    Ok((attendee, features.attendee_limit()))
}

/// The AttendeeAdded event of `a`.
fn added(outbox: &Outbox, meeting: &Meeting, a: &Attendee, now_ms: i64) -> Prepared {
    let facts = EventFacts::attendee(
        EventType::AttendeeAdded,
        a.attendee_id.as_str(),
        a.external_user_id.as_str(),
    );
    outbox.prepare(meeting, &facts, now_ms)
}

/// Creates one attendee in `meeting`, or returns the one that already has its
/// ExternalUserId (idempotent: no second slot is taken).
async fn create_one<E>(
    tx: &mut dyn Tx,
    caller: &Caller,
    meeting: &Meeting,
    req: &AttendeeRequest,
    member: &str,
    outbox: &Outbox,
    now_ms: i64,
) -> Result<Attendee, E>
where
    E: From<Invalid> + From<LimitExceededException> + From<NotFoundException> + From<StoreError>,
{
    let (attendee, limit) = new_attendee(meeting, req, member)?;
    insert_one(tx, caller, meeting, &attendee, limit, outbox, |a| {
        added(outbox, meeting, a, now_ms)
    })
    .await
}

/// Inserts `attendee` made by [`new_attendee`] and appends its event (made
/// by `event` only when it is created), or returns the attendee that already
/// has its ExternalUserId.
async fn insert_one<E, P: Borrow<Prepared>>(
    tx: &mut dyn Tx,
    caller: &Caller,
    meeting: &Meeting,
    attendee: &Attendee,
    limit: u32,
    outbox: &Outbox,
    event: impl FnOnce(&Attendee) -> P,
) -> Result<Attendee, E>
where
    E: From<LimitExceededException> + From<NotFoundException> + From<StoreError>,
{
    match tx
        .create_attendee(&caller.account_id, attendee, limit)
        .await?
    {
        CreatedAttendee::Created(a) => {
            outbox.append(tx, event(&a).borrow()).await?;
            Ok(a)
        }
        CreatedAttendee::Existing(a) => Ok(a),
        CreatedAttendee::LimitReached => Err(LimitExceededException::new(format!(
            "Meeting {} already has the maximum of {limit} attendees",
            meeting.meeting_id
        ))
        .into()),
        CreatedAttendee::MeetingNotFound => Err(meeting_not_found(&meeting.meeting_id).into()),
    }
}

/// Why one item of a batch was not created.
enum ItemError {
    /// Reported in the answer's `Errors`, with the model's ErrorCode.
    Rejected { code: &'static str, message: String },
    /// Aborts the whole batch.
    Store(StoreError),
}

impl From<Invalid> for ItemError {
    fn from(e: Invalid) -> Self {
        ItemError::Rejected {
            code: "BadRequest",
            message: e.message,
        }
    }
}

impl From<LimitExceededException> for ItemError {
    fn from(e: LimitExceededException) -> Self {
        ItemError::Rejected {
            code: "ResourceLimitExceeded",
            message: e.message,
        }
    }
}

impl From<NotFoundException> for ItemError {
    /// The meeting was checked in the same transaction: if it is gone, the
    /// transaction collided with a delete, and is run again.
    fn from(e: NotFoundException) -> Self {
        ItemError::Store(StoreError::Conflict(e.message))
    }
}

impl From<StoreError> for ItemError {
    fn from(e: StoreError) -> Self {
        ItemError::Store(e)
    }
}

/// Checks what the model itself constrains in a batch's items (the length of
/// each ExternalUserId): a violation fails the whole request, as AWS's model
/// validation does. The documented checks (characters, reserved prefix,
/// capabilities, limits) are per item and land in `Errors`.
pub(crate) fn check_items(items: &[AttendeeRequest]) -> Checked<()> {
    for (i, item) in items.iter().enumerate() {
        validate::length(
            &format!("Attendees[{i}].ExternalUserId"),
            &item.external_user_id,
            2,
            64,
        )?;
    }
    Ok(())
}

/// Creates each requested attendee; one that cannot be created is reported in
/// `errors` and does not stop the others. Storage failures abort the whole batch.
pub(crate) async fn create_in_meeting(
    tx: &mut dyn Tx,
    caller: &Caller,
    meeting: &Meeting,
    items: &[AttendeeRequest],
    outbox: &Outbox,
    now_ms: i64,
) -> Result<BatchOutcome, StoreError> {
    let mut outcome = BatchOutcome::default();
    for (i, item) in items.iter().enumerate() {
        let member = format!("Attendees[{i}].");
        match create_one::<ItemError>(tx, caller, meeting, item, &member, outbox, now_ms).await {
            Ok(a) => outcome.attendees.push(a),
            Err(ItemError::Store(e)) => return Err(e),
            Err(ItemError::Rejected { code, message }) => outcome.errors.push(AttendeeError {
                external_user_id: item.external_user_id.clone(),
                error_code: code.to_string(),
                error_message: message,
            }),
        }
    }
    Ok(outcome)
}

impl Service {
    pub async fn create_attendee(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        req: AttendeeRequest,
    ) -> Result<Attendee, CreateAttendeeError> {
        ExternalUserId::parse("ExternalUserId", &req.external_user_id)?;
        let caller = caller.clone();
        // The meeting is read before the write is queued (or known from an
        // earlier read): every write waits for the one writer's time, and a
        // meeting never changes once made, it only goes. The store's insert
        // checks in its own transaction that it is still there.
        let meeting = self
            .known_meeting::<CreateAttendeeError>(&caller, &meeting_id)
            .await?;
        // So are the attendee and its event (envelope and id), and the time
        // is taken now: the writer only inserts and appends. A replayed
        // ExternalUserId makes no event, and this one is dropped.
        let (attendee, limit) = new_attendee(&meeting, &req, "")?;
        let now = self.clock().now_ms(caller.account_id.as_str());
        let outbox = self.outbox().clone();
        let event = Arc::new(added(&outbox, &meeting, &attendee, now));
        let attendee = Arc::new(attendee);
        store::write(self.store(), move |tx| {
            let (caller, meeting, attendee) = (caller.clone(), meeting.clone(), attendee.clone());
            let (outbox, event) = (outbox.clone(), event.clone());
            Box::pin(async move {
                insert_one(tx, &caller, &meeting, &attendee, limit, &outbox, |_| {
                    &*event
                })
                .await
            })
        })
        .await
    }

    pub async fn batch_create_attendee(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        items: Vec<AttendeeRequest>,
    ) -> Result<BatchOutcome, BatchCreateAttendeeError> {
        validate::count("Attendees", items.len(), 1, 100)?;
        check_items(&items)?;
        let caller = caller.clone();
        let items: Arc<[AttendeeRequest]> = items.into();
        let (outbox, clock) = (self.outbox().clone(), self.clock().clone());
        store::write(self.store(), move |tx| {
            let (caller, meeting_id, items) = (caller.clone(), meeting_id.clone(), items.clone());
            let (outbox, clock) = (outbox.clone(), clock.clone());
            Box::pin(async move {
                let meeting =
                    meeting_of::<BatchCreateAttendeeError>(tx, &caller, &meeting_id).await?;
                let now = clock.now_ms(caller.account_id.as_str());
                Ok(create_in_meeting(tx, &caller, &meeting, &items, &outbox, now).await?)
            })
        })
        .await
    }

    pub async fn get_attendee(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        attendee_id: AttendeeId,
    ) -> Result<Attendee, GetAttendeeError> {
        let caller = caller.clone();
        store::lookup(self.store(), move |tx| {
            let (caller, meeting_id, attendee_id) =
                (caller.clone(), meeting_id.clone(), attendee_id.clone());
            Box::pin(async move {
                // The attendee query joins the meeting on the caller's account:
                // a row found proves the meeting is the caller's, so the meeting
                // row (and its JSON columns) is read only to tell which of the
                // two is missing.
                let found = tx
                    .attendee(&caller.account_id, &meeting_id, &attendee_id)
                    .await?;
                if let Some(a) = found {
                    return Ok(a);
                }
                meeting_of::<GetAttendeeError>(tx, &caller, &meeting_id).await?;
                Err(attendee_not_found(&attendee_id).into())
            })
        })
        .await
    }

    /// A page of the roster in creation order. The token records the last
    /// position returned, so attendees added or removed between pages never
    /// cause another to be skipped or repeated.
    pub async fn list_attendees(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        next_token: Option<String>,
        max_results: Option<u32>,
    ) -> Result<AttendeePage, ListAttendeesError> {
        let after = match &next_token {
            Some(t) => {
                validate::length("NextToken", t, 0, 4096)?;
                self.page_tokens.verify(meeting_id.as_str(), t)?
            }
            None => 0,
        };
        let limit = max_results.unwrap_or(self.limits.default_page_size);
        let caller = caller.clone();
        let tokens = self.page_tokens.clone();
        store::lookup(self.store(), move |tx| {
            let (caller, meeting_id, tokens) = (caller.clone(), meeting_id.clone(), tokens.clone());
            Box::pin(async move {
                let mut attendees = tx
                    .list_attendees(&caller.account_id, &meeting_id, after, limit + 1)
                    .await?;
                // Rows found prove the meeting is the caller's (the query joins
                // it on the account); an empty page must still tell a missing
                // meeting from an empty roster.
                if attendees.is_empty() {
                    meeting_of::<ListAttendeesError>(tx, &caller, &meeting_id).await?;
                }
                let next_token = if attendees.len() > limit as usize {
                    attendees.truncate(limit as usize);
                    attendees
                        .last()
                        .map(|a| tokens.issue(meeting_id.as_str(), a.seq))
                } else {
                    None
                };
                Ok(AttendeePage {
                    attendees,
                    next_token,
                })
            })
        })
        .await
    }

    pub async fn delete_attendee(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        attendee_id: AttendeeId,
    ) -> Result<(), DeleteAttendeeError> {
        let caller = caller.clone();
        let (mid, aid) = (meeting_id.clone(), attendee_id.clone());
        let (outbox, clock) = (self.outbox().clone(), self.clock().clone());
        store::write::<_, DeleteAttendeeError, _>(self.store(), move |tx| {
            let (caller, mid, aid) = (caller.clone(), mid.clone(), aid.clone());
            let (outbox, clock) = (outbox.clone(), clock.clone());
            Box::pin(async move {
                let meeting = meeting_of::<DeleteAttendeeError>(tx, &caller, &mid).await?;
                let Some(attendee) = tx.attendee(&caller.account_id, &mid, &aid).await? else {
                    return Err(attendee_not_found(&aid).into());
                };
                if !tx.delete_attendee(&caller.account_id, &mid, &aid).await? {
                    return Err(attendee_not_found(&aid).into());
                }
                let facts = EventFacts::attendee(
                    EventType::AttendeeDeleted,
                    attendee.attendee_id.as_str(),
                    attendee.external_user_id.as_str(),
                );
                let now = clock.now_ms(caller.account_id.as_str());
                outbox.emit(tx, &meeting, facts, now).await?;
                Ok(())
            })
        })
        .await?;
        self.publish(DomainEvent::AttendeeDeleted {
            meeting_id: meeting_id.to_string(),
            attendee_id: attendee_id.to_string(),
        });
        Ok(())
    }
}
