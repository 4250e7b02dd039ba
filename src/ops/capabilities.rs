//! UpdateAttendeeCapabilities and BatchUpdateAttendeeCapabilitiesExcept.

use super::{meeting_of, Service};
use crate::domain::types::{Attendee, Caller, Capabilities};
use crate::domain::{validate, ApiError, ApiResult};
use crate::events::{AttendeeSet, DomainEvent};
use crate::store;

impl Service {
    pub async fn update_attendee_capabilities(
        &self,
        caller: &Caller,
        meeting_id: String,
        attendee_id: String,
        capabilities: Capabilities,
    ) -> ApiResult<Attendee> {
        validate::guid("MeetingId", &meeting_id)?;
        validate::guid("AttendeeId", &attendee_id)?;
        let caller = caller.clone();
        let attendee = store::write(self.store(), move |tx| {
            let meeting = meeting_of(tx, &caller, &meeting_id)?;
            validate::capabilities("Capabilities", capabilities, &meeting.features_or_default())?;
            if !tx.set_capabilities(&meeting_id, &attendee_id, capabilities)? {
                return Err(ApiError::attendee_not_found(&attendee_id));
            }
            tx.get_attendee(&meeting_id, &attendee_id)?
                .ok_or_else(|| ApiError::attendee_not_found(&attendee_id))
        })
        .await?;
        self.publish(DomainEvent::CapabilitiesChanged {
            meeting_id: attendee.meeting_id.clone(),
            attendees: AttendeeSet::Only(vec![attendee.attendee_id.clone()]),
            capabilities: attendee.capabilities,
        });
        Ok(attendee)
    }

    /// Gives every attendee of the meeting but the excluded ones the same
    /// capabilities, in one transaction: all change or none do.
    pub async fn batch_update_attendee_capabilities_except(
        &self,
        caller: &Caller,
        meeting_id: String,
        excluded: Vec<String>,
        capabilities: Capabilities,
    ) -> ApiResult<()> {
        validate::guid("MeetingId", &meeting_id)?;
        validate::count("ExcludedAttendeeIds", excluded.len(), 1, 250)?;
        for (i, id) in excluded.iter().enumerate() {
            validate::guid(&format!("ExcludedAttendeeIds[{i}].AttendeeId"), id)?;
        }
        let caller = caller.clone();
        let (mid, except) = (meeting_id.clone(), excluded.clone());
        store::write(self.store(), move |tx| {
            let meeting = meeting_of(tx, &caller, &mid)?;
            validate::capabilities("Capabilities", capabilities, &meeting.features_or_default())?;
            tx.set_capabilities_except(&mid, &except, capabilities)?;
            Ok(())
        })
        .await?;
        self.publish(DomainEvent::CapabilitiesChanged {
            meeting_id,
            attendees: AttendeeSet::AllExcept(excluded),
            capabilities,
        });
        Ok(())
    }
}
