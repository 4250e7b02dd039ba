//! UpdateAttendeeCapabilities and BatchUpdateAttendeeCapabilitiesExcept.

use std::sync::Arc;

use super::attendees::attendee_not_found;
use super::{meeting_of, Service};
use crate::domain::ids::{AttendeeId, MeetingId};
use crate::domain::types::{Attendee, Caller, Capabilities};
use crate::domain::validate;
use crate::events::{AttendeeSet, DomainEvent};
use crate::model::{BatchUpdateAttendeeCapabilitiesExceptError, UpdateAttendeeCapabilitiesError};
use crate::store;

impl Service {
    pub async fn update_attendee_capabilities(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        attendee_id: AttendeeId,
        capabilities: Capabilities,
    ) -> Result<Attendee, UpdateAttendeeCapabilitiesError> {
        let caller = caller.clone();
        let attendee =
            store::write::<_, UpdateAttendeeCapabilitiesError, _>(self.store(), move |tx| {
                let (caller, meeting_id, attendee_id) =
                    (caller.clone(), meeting_id.clone(), attendee_id.clone());
                Box::pin(async move {
                    let meeting =
                        meeting_of::<UpdateAttendeeCapabilitiesError>(tx, &caller, &meeting_id)
                            .await?;
                    validate::capabilities(
                        "Capabilities",
                        capabilities,
                        &meeting.features_or_default(),
                    )?;
                    tx.set_capabilities(&caller.account_id, &meeting_id, &attendee_id, capabilities)
                        .await?
                        .ok_or_else(|| attendee_not_found(&attendee_id).into())
                })
            })
            .await?;
        self.publish(DomainEvent::CapabilitiesChanged {
            meeting_id: attendee.meeting_id.to_string(),
            attendees: AttendeeSet::Only(vec![attendee.attendee_id.to_string()]),
            capabilities: attendee.capabilities,
        });
        Ok(attendee)
    }

    /// Gives every attendee of the meeting but the excluded ones the same
    /// capabilities, in one transaction: all change or none do.
    pub async fn batch_update_attendee_capabilities_except(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        excluded: Vec<AttendeeId>,
        capabilities: Capabilities,
    ) -> Result<(), BatchUpdateAttendeeCapabilitiesExceptError> {
        validate::count("ExcludedAttendeeIds", excluded.len(), 1, 250)?;
        let caller = caller.clone();
        let (mid, except) = (meeting_id.clone(), Arc::new(excluded.clone()));
        store::write::<_, BatchUpdateAttendeeCapabilitiesExceptError, _>(self.store(), move |tx| {
            let (caller, mid, except) = (caller.clone(), mid.clone(), except.clone());
            Box::pin(async move {
                let meeting =
                    meeting_of::<BatchUpdateAttendeeCapabilitiesExceptError>(tx, &caller, &mid)
                        .await?;
                validate::capabilities(
                    "Capabilities",
                    capabilities,
                    &meeting.features_or_default(),
                )?;
                tx.set_capabilities_except(&caller.account_id, &mid, &except, capabilities)
                    .await?;
                Ok(())
            })
        })
        .await?;
        self.publish(DomainEvent::CapabilitiesChanged {
            meeting_id: meeting_id.to_string(),
            attendees: AttendeeSet::AllExcept(excluded.iter().map(ToString::to_string).collect()),
            capabilities,
        });
        Ok(())
    }
}
