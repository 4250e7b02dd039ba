//! CreateMeeting, CreateMeetingWithAttendees, GetMeeting, DeleteMeeting.

use std::sync::Arc;

use super::attendees::{create_in_meeting, AttendeeRequest, BatchOutcome};
use super::lifecycle::{end_meeting, EndReason};
use super::{meeting_not_found, Limits, Service};
use crate::domain::ids::MeetingId;
use crate::domain::types::{
    Caller, Meeting, MeetingFeatures, NetworkType, NotificationsConfiguration, Tag,
};
use crate::domain::{invalid, validate, Checked, Invalid};
use crate::events::envelope::{EventFacts, EventType};
use crate::events::outbox::Outbox;
use crate::model::{
    CreateMeetingError, CreateMeetingWithAttendeesError, DeleteMeetingError, GetMeetingError,
    LimitExceededException,
};
use crate::store::{self, CreatedMeeting, StoreError, Tx};

/// The members shared by CreateMeeting and CreateMeetingWithAttendees.
#[derive(Debug, Clone, Default)]
pub struct CreateMeetingInput {
    pub client_request_token: String,
    pub media_region: String,
    pub meeting_host_id: Option<String>,
    pub external_meeting_id: String,
    pub notifications: Option<NotificationsConfiguration>,
    pub features: Option<MeetingFeatures>,
    pub primary_meeting_id: Option<String>,
    pub tenant_ids: Option<Vec<String>>,
    pub tags: Option<Vec<Tag>>,
    pub network_type: Option<NetworkType>,
}

impl CreateMeetingInput {
    /// Checks every member; answers the parsed PrimaryMeetingId.
    fn validate(&self) -> Checked<Option<MeetingId>> {
        validate::client_request_token("ClientRequestToken", &self.client_request_token)?;
        validate::media_region("MediaRegion", &self.media_region)?;
        validate::external_id("ExternalMeetingId", &self.external_meeting_id)?;
        if let Some(host) = &self.meeting_host_id {
            validate::external_id("MeetingHostId", host)?;
        }
        if let Some(n) = &self.notifications {
            for (member, arn) in [
                (
                    "NotificationsConfiguration.LambdaFunctionArn",
                    &n.lambda_function_arn,
                ),
                ("NotificationsConfiguration.SnsTopicArn", &n.sns_topic_arn),
                ("NotificationsConfiguration.SqsQueueArn", &n.sqs_queue_arn),
            ] {
                if let Some(arn) = arn {
                    validate::notification_arn(member, arn)?;
                }
            }
        }
        if let Some(count) = self
            .features
            .as_ref()
            .and_then(|f| f.attendee.as_ref())
            .and_then(|a| a.max_count)
        {
            validate::attendee_max("MeetingFeatures.Attendee.MaxCount", i64::from(count))?;
        }
        let primary = match &self.primary_meeting_id {
            Some(p) => {
                validate::primary_meeting_id("PrimaryMeetingId", p)?;
                Some(MeetingId::parse("PrimaryMeetingId", p)?)
            }
            None => None,
        };
        if let Some(ids) = &self.tenant_ids {
            validate::count("TenantIds", ids.len(), 1, 5)?;
            for (i, id) in ids.iter().enumerate() {
                validate::tenant_id(&format!("TenantIds[{i}]"), id)?;
            }
        }
        if let Some(tags) = &self.tags {
            validate::count("Tags", tags.len(), 0, 50)?;
            for (i, t) in tags.iter().enumerate() {
                validate::tag_key(&format!("Tags[{i}].Key"), &t.key)?;
                validate::tag_value(&format!("Tags[{i}].Value"), &t.value)?;
            }
        }
        Ok(primary)
    }
}

/// The result of CreateMeetingWithAttendees.
#[derive(Debug, Clone)]
pub struct MeetingWithAttendees {
    pub meeting: Meeting,
    pub outcome: BatchOutcome,
}

/// The meeting a create request asks for, with a fresh id.
fn new_meeting(
    caller: &Caller,
    input: &CreateMeetingInput,
    primary: Option<MeetingId>,
    now_ms: i64,
) -> Meeting {
    Meeting {
        account_id: caller.account_id.clone(),
        meeting_id: MeetingId::generate(),
        control_region: caller.region.clone(),
        media_region: input.media_region.clone(),
        external_meeting_id: input.external_meeting_id.clone(),
        meeting_host_id: input.meeting_host_id.clone(),
        primary_meeting_id: primary,
        features: input.features.clone(),
        tenant_ids: input.tenant_ids.clone().unwrap_or_default(),
        notifications: input.notifications.clone(),
        network_type: input.network_type,
        client_request_token: input.client_request_token.clone(),
        created_at_ms: now_ms,
    }
}

/// Creates the meeting, or finds the one this account created with the same
/// token. Runs inside the caller's write transaction; the store decides
/// atomically (see [`crate::store::Tx::create_meeting`]).
async fn create_or_replay<E>(
    tx: &mut dyn Tx,
    meeting: &Meeting,
    tags: &[Tag],
    limits: &Limits,
    outbox: &Outbox,
) -> Result<Meeting, E>
where
    E: From<Invalid> + From<LimitExceededException> + From<StoreError>,
{
    let max_replicas = limits.max_replicas;
    let primary = meeting
        .primary_meeting_id
        .as_ref()
        .map_or_else(String::new, ToString::to_string);
    match tx.create_meeting(meeting, tags, limits.meetings()).await? {
        CreatedMeeting::Created(m) => {
            let facts = EventFacts::meeting(EventType::MeetingStarted);
            outbox.emit(tx, &m, facts, m.created_at_ms).await?;
            Ok(m)
        }
        CreatedMeeting::Replayed(m) => Ok(m),
        CreatedMeeting::QuotaReached => Err(LimitExceededException::new(format!(
            "The account already has the maximum of {} concurrent meetings; delete one first",
            limits.max_meetings
        ))
        .into()),
        CreatedMeeting::PrimaryNotFound => {
            Err(invalid("PrimaryMeetingId", format!("meeting {primary} not found")).into())
        }
        CreatedMeeting::PrimaryIsReplica => Err(invalid(
            "PrimaryMeetingId",
            format!("meeting {primary} is itself a replica meeting"),
        )
        .into()),
        CreatedMeeting::ReplicaLimitReached => Err(LimitExceededException::new(format!(
            "Meeting {primary} already has the maximum of {max_replicas} replica meetings"
        ))
        .into()),
    }
}

impl Service {
    pub async fn create_meeting(
        &self,
        caller: &Caller,
        input: CreateMeetingInput,
    ) -> Result<Meeting, CreateMeetingError> {
        let primary = input.validate()?;
        let now = self.clock().now_ms(caller.account_id.as_str());
        let meeting = Arc::new(new_meeting(caller, &input, primary, now));
        let tags: Arc<[Tag]> = input.tags.unwrap_or_default().into();
        let limits = self.limits.clone();
        let outbox = self.outbox().clone();
        let meeting = store::write::<_, CreateMeetingError, _>(self.store(), move |tx| {
            let (meeting, tags, limits) = (meeting.clone(), tags.clone(), limits.clone());
            let outbox = outbox.clone();
            Box::pin(async move { create_or_replay(tx, &meeting, &tags, &limits, &outbox).await })
        })
        .await?;
        self.meeting_created(
            meeting.account_id.as_str(),
            meeting.meeting_id.as_str(),
            meeting.created_at_ms,
        );
        Ok(meeting)
    }

    pub async fn create_meeting_with_attendees(
        &self,
        caller: &Caller,
        input: CreateMeetingInput,
        attendees: Vec<AttendeeRequest>,
    ) -> Result<MeetingWithAttendees, CreateMeetingWithAttendeesError> {
        let primary = input.validate()?;
        validate::count("Attendees", attendees.len(), 1, 20)?;
        super::attendees::check_items(&attendees)?;
        let now = self.clock().now_ms(caller.account_id.as_str());
        let meeting = Arc::new(new_meeting(caller, &input, primary, now));
        let tags: Arc<[Tag]> = input.tags.unwrap_or_default().into();
        let attendees: Arc<[AttendeeRequest]> = attendees.into();
        let limits = self.limits.clone();
        let caller = caller.clone();
        let outbox = self.outbox().clone();
        let r = store::write::<_, CreateMeetingWithAttendeesError, _>(self.store(), move |tx| {
            let outbox = outbox.clone();
            let (meeting, tags, limits) = (meeting.clone(), tags.clone(), limits.clone());
            let (caller, attendees) = (caller.clone(), attendees.clone());
            Box::pin(async move {
                let meeting = create_or_replay::<CreateMeetingWithAttendeesError>(
                    tx, &meeting, &tags, &limits, &outbox,
                )
                .await?;
                let outcome = create_in_meeting(
                    tx,
                    &caller,
                    &meeting,
                    &attendees,
                    &outbox,
                    meeting.created_at_ms,
                )
                .await?;
                Ok(MeetingWithAttendees { meeting, outcome })
            })
        })
        .await?;
        self.meeting_created(
            r.meeting.account_id.as_str(),
            r.meeting.meeting_id.as_str(),
            r.meeting.created_at_ms,
        );
        Ok(r)
    }

    pub async fn get_meeting(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
    ) -> Result<Meeting, GetMeetingError> {
        self.meeting(caller, &meeting_id).await
    }

    /// Ends the meeting: removes it, its attendees, tags and transcription, and its replicas.
    pub async fn delete_meeting(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
    ) -> Result<(), DeleteMeetingError> {
        let caller = caller.clone();
        let clock = self.clock().clone();
        let outbox = self.outbox().clone();
        let ended = store::write::<_, DeleteMeetingError, _>(self.store(), move |tx| {
            let (caller, meeting_id, clock) = (caller.clone(), meeting_id.clone(), clock.clone());
            let outbox = outbox.clone();
            Box::pin(async move {
                let now = clock.now_ms(caller.account_id.as_str());
                let ended = end_meeting(
                    tx,
                    &outbox,
                    &caller.account_id,
                    &meeting_id,
                    EndReason::Deleted,
                    now,
                )
                .await?;
                if ended.is_empty() {
                    return Err(meeting_not_found(&meeting_id).into());
                }
                Ok(ended)
            })
        })
        .await?;
        self.announce_ended(&ended);
        Ok(())
    }
}
