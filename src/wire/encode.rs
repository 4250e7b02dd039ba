//! Operation outputs → JSON bodies, in the member names of the model.

use serde_json::{json, Map, Value};

use crate::domain::placement::PublicBase;
use crate::domain::types::{Attendee, AttendeeError, Meeting, Tag};

pub fn meeting(m: &Meeting, base: &PublicBase) -> Value {
    let mut out = Map::new();
    out.insert("MeetingId".into(), json!(m.meeting_id));
    if let Some(host) = &m.meeting_host_id {
        out.insert("MeetingHostId".into(), json!(host));
    }
    out.insert("ExternalMeetingId".into(), json!(m.external_meeting_id));
    out.insert("MediaRegion".into(), json!(m.media_region));
    out.insert(
        "MediaPlacement".into(),
        json!(base.placement(m.meeting_id.as_str())),
    );
    if let Some(f) = &m.features {
        out.insert("MeetingFeatures".into(), json!(f));
    }
    if let Some(p) = &m.primary_meeting_id {
        out.insert("PrimaryMeetingId".into(), json!(p));
    }
    out.insert("TenantIds".into(), json!(m.tenant_ids));
    out.insert("MeetingArn".into(), json!(m.arn()));
    Value::Object(out)
}

pub fn attendee(a: &Attendee) -> Value {
    json!({
        "ExternalUserId": a.external_user_id,
        "AttendeeId": a.attendee_id,
        "JoinToken": a.join_token.expose(),
        "Capabilities": a.capabilities,
    })
}

pub fn attendees(list: &[Attendee]) -> Value {
    Value::Array(list.iter().map(attendee).collect())
}

pub fn attendee_errors(list: &[AttendeeError]) -> Value {
    Value::Array(
        list.iter()
            .map(|e| {
                json!({
                    "ExternalUserId": e.external_user_id,
                    "ErrorCode": e.error_code,
                    "ErrorMessage": e.error_message,
                })
            })
            .collect(),
    )
}

pub fn tags(list: &[Tag]) -> Value {
    json!(list)
}
