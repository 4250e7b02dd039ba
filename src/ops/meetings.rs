//! CreateMeeting, CreateMeetingWithAttendees, GetMeeting, DeleteMeeting.

use super::attendees::{create_in_meeting, AttendeeRequest, BatchOutcome};
use super::lifecycle::{end_meeting, EndReason};
use super::{meeting_of, Limits, Service};
use crate::domain::ids::new_meeting_id;
use crate::domain::types::{
    Caller, Meeting, MeetingFeatures, NetworkType, NotificationsConfiguration, Tag,
};
use crate::domain::{validate, ApiError, ApiResult};
use crate::store::{self, Tx};

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
    fn validate(&self) -> ApiResult<()> {
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
        if let Some(primary) = &self.primary_meeting_id {
            validate::primary_meeting_id("PrimaryMeetingId", primary)?;
        }
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
        Ok(())
    }
}

/// The result of CreateMeetingWithAttendees.
#[derive(Debug, Clone)]
pub struct MeetingWithAttendees {
    pub meeting: Meeting,
    pub outcome: BatchOutcome,
}

/// Creates the meeting, or finds the one this account created with the same token.
/// Runs inside the caller's write transaction.
fn create_or_replay(
    tx: &mut dyn Tx,
    caller: &Caller,
    input: CreateMeetingInput,
    limits: &Limits,
    now_ms: i64,
) -> ApiResult<Meeting> {
    if let Some(existing) = tx.meeting_by_token(&caller.account_id, &input.client_request_token)? {
        return Ok(existing);
    }
    if tx.count_meetings(&caller.account_id)? >= limits.max_meetings {
        return Err(ApiError::limit_exceeded(format!(
            "The account already has the maximum of {} concurrent meetings; delete one first",
            limits.max_meetings
        )));
    }
    let max_replicas = limits.max_replicas;
    if let Some(primary_id) = &input.primary_meeting_id {
        let primary = tx
            .get_meeting(&caller.account_id, primary_id)?
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid value for PrimaryMeetingId: meeting {primary_id} not found"
                ))
            })?;
        if primary.primary_meeting_id.is_some() {
            return Err(ApiError::bad_request(format!(
                "Invalid value for PrimaryMeetingId: meeting {primary_id} is itself a replica meeting"
            )));
        }
        if tx.replica_ids(&caller.account_id, primary_id)?.len() as u64 >= max_replicas {
            return Err(ApiError::limit_exceeded(format!(
                "Meeting {primary_id} already has the maximum of {max_replicas} replica meetings"
            )));
        }
    }
    let meeting = Meeting {
        account_id: caller.account_id.clone(),
        meeting_id: new_meeting_id(),
        control_region: caller.region.clone(),
        media_region: input.media_region,
        external_meeting_id: input.external_meeting_id,
        meeting_host_id: input.meeting_host_id,
        primary_meeting_id: input.primary_meeting_id,
        features: input.features,
        tenant_ids: input.tenant_ids.unwrap_or_default(),
        notifications: input.notifications,
        network_type: input.network_type,
        client_request_token: input.client_request_token,
        created_at_ms: now_ms,
    };
    tx.insert_meeting(&meeting)?;
    if let Some(tags) = &input.tags {
        tx.put_tags(&meeting.meeting_id, tags)?;
    }
    Ok(meeting)
}

impl Service {
    pub async fn create_meeting(
        &self,
        caller: &Caller,
        input: CreateMeetingInput,
    ) -> ApiResult<Meeting> {
        input.validate()?;
        let caller = caller.clone();
        let limits = self.limits.clone();
        let now = self.clock().now_ms(&caller.account_id);
        let meeting = store::write(self.store(), move |tx| {
            create_or_replay(tx, &caller, input, &limits, now)
        })
        .await?;
        self.meeting_created(
            &meeting.account_id,
            &meeting.meeting_id,
            meeting.created_at_ms,
        );
        Ok(meeting)
    }

    pub async fn create_meeting_with_attendees(
        &self,
        caller: &Caller,
        input: CreateMeetingInput,
        attendees: Vec<AttendeeRequest>,
    ) -> ApiResult<MeetingWithAttendees> {
        input.validate()?;
        validate::count("Attendees", attendees.len(), 1, 20)?;
        super::attendees::check_items(&attendees)?;
        let caller = caller.clone();
        let limits = self.limits.clone();
        let now = self.clock().now_ms(&caller.account_id);
        let r = store::write(self.store(), move |tx| {
            let meeting = create_or_replay(tx, &caller, input, &limits, now)?;
            let outcome = create_in_meeting(tx, &meeting, attendees)?;
            Ok(MeetingWithAttendees { meeting, outcome })
        })
        .await?;
        self.meeting_created(
            &r.meeting.account_id,
            &r.meeting.meeting_id,
            r.meeting.created_at_ms,
        );
        Ok(r)
    }

    pub async fn get_meeting(&self, caller: &Caller, meeting_id: String) -> ApiResult<Meeting> {
        validate::guid("MeetingId", &meeting_id)?;
        let caller = caller.clone();
        store::read(self.store(), move |tx| meeting_of(tx, &caller, &meeting_id)).await
    }

    /// Ends the meeting: removes it, its attendees, tags and transcription, and its replicas.
    pub async fn delete_meeting(&self, caller: &Caller, meeting_id: String) -> ApiResult<()> {
        validate::guid("MeetingId", &meeting_id)?;
        let caller = caller.clone();
        let clock = self.clock().clone();
        let ended = store::write(self.store(), move |tx| {
            meeting_of(tx, &caller, &meeting_id)?;
            let now = clock.now_ms(&caller.account_id);
            end_meeting(tx, &caller.account_id, &meeting_id, EndReason::Deleted, now)
        })
        .await?;
        self.announce_ended(&ended);
        Ok(())
    }
}
