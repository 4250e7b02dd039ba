//! CreateAttendee, BatchCreateAttendee, GetAttendee, ListAttendees, DeleteAttendee.

use super::{meeting_of, Service};
use crate::domain::ids::{new_attendee_id, new_join_token};
use crate::domain::types::{Attendee, AttendeeError, Caller, Capabilities, Meeting};
use crate::domain::{validate, ApiError, ApiResult, ErrorKind};
use crate::events::DomainEvent;
use crate::store::{self, Tx};

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

/// Creates one attendee in `meeting`, or returns the one that already has its
/// ExternalUserId (idempotent: no second slot is taken).
pub(crate) fn create_one(
    tx: &mut dyn Tx,
    meeting: &Meeting,
    req: AttendeeRequest,
    member: &str,
) -> ApiResult<Attendee> {
    validate::external_id(&format!("{member}ExternalUserId"), &req.external_user_id)?;
    let features = meeting.features_or_default();
    let capabilities = validate::resolve_capabilities(
        &format!("{member}Capabilities"),
        req.capabilities,
        &features,
    )?;
    if let Some(existing) =
        tx.attendee_by_external_id(&meeting.meeting_id, &req.external_user_id)?
    {
        return Ok(existing);
    }
    let limit = features.attendee_limit();
    if tx.count_attendees(&meeting.meeting_id)? >= u64::from(limit) {
        return Err(ApiError::limit_exceeded(format!(
            "Meeting {} already has the maximum of {limit} attendees",
            meeting.meeting_id
        )));
    }
    let attendee_id = new_attendee_id();
    let mut attendee = Attendee {
        meeting_id: meeting.meeting_id.clone(),
        join_token: new_join_token(&attendee_id),
        attendee_id,
        external_user_id: req.external_user_id,
        capabilities,
        seq: 0,
    };
    tx.insert_attendee(&mut attendee)?;
    Ok(attendee)
}

/// Checks what the model itself constrains in a batch's items (the length of
/// each ExternalUserId): a violation fails the whole request, as AWS's model
/// validation does. The documented checks (characters, reserved prefix,
/// capabilities, limits) are per item and land in `Errors`.
pub(crate) fn check_items(items: &[AttendeeRequest]) -> ApiResult<()> {
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
pub(crate) fn create_in_meeting(
    tx: &mut dyn Tx,
    meeting: &Meeting,
    items: Vec<AttendeeRequest>,
) -> ApiResult<BatchOutcome> {
    let mut outcome = BatchOutcome::default();
    for (i, item) in items.into_iter().enumerate() {
        let external_user_id = item.external_user_id.clone();
        match create_one(tx, meeting, item, &format!("Attendees[{i}].")) {
            Ok(a) => outcome.attendees.push(a),
            Err(e) if e.kind == ErrorKind::ServiceFailure => return Err(e),
            Err(e) => outcome.errors.push(AttendeeError {
                external_user_id,
                error_code: e.kind.code().to_string(),
                error_message: e.message,
            }),
        }
    }
    Ok(outcome)
}

impl Service {
    pub async fn create_attendee(
        &self,
        caller: &Caller,
        meeting_id: String,
        req: AttendeeRequest,
    ) -> ApiResult<Attendee> {
        validate::guid("MeetingId", &meeting_id)?;
        validate::external_id("ExternalUserId", &req.external_user_id)?;
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            let meeting = meeting_of(tx, &caller, &meeting_id)?;
            create_one(tx, &meeting, req, "")
        })
        .await
    }

    pub async fn batch_create_attendee(
        &self,
        caller: &Caller,
        meeting_id: String,
        items: Vec<AttendeeRequest>,
    ) -> ApiResult<BatchOutcome> {
        validate::guid("MeetingId", &meeting_id)?;
        validate::count("Attendees", items.len(), 1, 100)?;
        check_items(&items)?;
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            let meeting = meeting_of(tx, &caller, &meeting_id)?;
            create_in_meeting(tx, &meeting, items)
        })
        .await
    }

    pub async fn get_attendee(
        &self,
        caller: &Caller,
        meeting_id: String,
        attendee_id: String,
    ) -> ApiResult<Attendee> {
        validate::guid("MeetingId", &meeting_id)?;
        validate::guid("AttendeeId", &attendee_id)?;
        let caller = caller.clone();
        store::read(self.store(), move |tx| {
            meeting_of(tx, &caller, &meeting_id)?;
            tx.get_attendee(&meeting_id, &attendee_id)?
                .ok_or_else(|| ApiError::attendee_not_found(&attendee_id))
        })
        .await
    }

    /// A page of the roster in creation order. The token records the last
    /// position returned, so attendees added or removed between pages never
    /// cause another to be skipped or repeated.
    pub async fn list_attendees(
        &self,
        caller: &Caller,
        meeting_id: String,
        next_token: Option<String>,
        max_results: Option<u32>,
    ) -> ApiResult<AttendeePage> {
        validate::guid("MeetingId", &meeting_id)?;
        let after = match &next_token {
            Some(t) => {
                validate::length("NextToken", t, 0, 4096)?;
                self.page_tokens.verify(&meeting_id, t)?
            }
            None => 0,
        };
        let limit = max_results.unwrap_or(self.limits.default_page_size);
        let caller = caller.clone();
        let tokens = self.page_tokens.clone();
        store::read(self.store(), move |tx| {
            meeting_of(tx, &caller, &meeting_id)?;
            let mut attendees = tx.list_attendees(&meeting_id, after, limit + 1)?;
            let next_token = if attendees.len() > limit as usize {
                attendees.truncate(limit as usize);
                attendees.last().map(|a| tokens.issue(&meeting_id, a.seq))
            } else {
                None
            };
            Ok(AttendeePage {
                attendees,
                next_token,
            })
        })
        .await
    }

    pub async fn delete_attendee(
        &self,
        caller: &Caller,
        meeting_id: String,
        attendee_id: String,
    ) -> ApiResult<()> {
        validate::guid("MeetingId", &meeting_id)?;
        validate::guid("AttendeeId", &attendee_id)?;
        let caller = caller.clone();
        let (mid, aid) = (meeting_id.clone(), attendee_id.clone());
        store::write(self.store(), move |tx| {
            meeting_of(tx, &caller, &mid)?;
            if tx.delete_attendee(&mid, &aid)? {
                Ok(())
            } else {
                Err(ApiError::attendee_not_found(&aid))
            }
        })
        .await?;
        self.publish(DomainEvent::AttendeeDeleted {
            meeting_id,
            attendee_id,
        });
        Ok(())
    }
}
