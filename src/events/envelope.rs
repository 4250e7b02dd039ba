//! Meeting events in AWS's envelope: the JSON object EventBridge carries with
//! `source: aws.chime` and `detail-type: Chime Meeting State Change`, and that
//! SQS, SNS, Lambda and webhook receivers get whole.

use serde_json::{json, Map, Value};

use crate::domain::types::Meeting;

/// The envelope's `source`.
pub const SOURCE: &str = "aws.chime";
/// The envelope's `detail-type`.
pub const DETAIL_TYPE: &str = "Chime Meeting State Change";

/// Every event type AWS documents for meetings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    MeetingStarted,
    MeetingEnded,
    AttendeeAdded,
    AttendeeDeleted,
    AttendeeAuthorized,
    AttendeeJoined,
    AttendeeLeft,
    AttendeeDropped,
    AttendeeVideoStarted,
    AttendeeVideoStopped,
    AttendeeContentJoined,
    AttendeeContentLeft,
    AttendeeContentDropped,
    AttendeeContentVideoStarted,
    AttendeeContentVideoStopped,
    TranscriptionStarted,
    TranscriptionStopped,
    TranscriptionInterrupted,
    TranscriptionResumed,
    TranscriptionFailed,
}

impl EventType {
    /// The name without the `chime:` prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::MeetingStarted => "MeetingStarted",
            Self::MeetingEnded => "MeetingEnded",
            Self::AttendeeAdded => "AttendeeAdded",
            Self::AttendeeDeleted => "AttendeeDeleted",
            Self::AttendeeAuthorized => "AttendeeAuthorized",
            Self::AttendeeJoined => "AttendeeJoined",
            Self::AttendeeLeft => "AttendeeLeft",
            Self::AttendeeDropped => "AttendeeDropped",
            Self::AttendeeVideoStarted => "AttendeeVideoStarted",
            Self::AttendeeVideoStopped => "AttendeeVideoStopped",
            Self::AttendeeContentJoined => "AttendeeContentJoined",
            Self::AttendeeContentLeft => "AttendeeContentLeft",
            Self::AttendeeContentDropped => "AttendeeContentDropped",
            Self::AttendeeContentVideoStarted => "AttendeeContentVideoStarted",
            Self::AttendeeContentVideoStopped => "AttendeeContentVideoStopped",
            Self::TranscriptionStarted => "TranscriptionStarted",
            Self::TranscriptionStopped => "TranscriptionStopped",
            Self::TranscriptionInterrupted => "TranscriptionInterrupted",
            Self::TranscriptionResumed => "TranscriptionResumed",
            Self::TranscriptionFailed => "TranscriptionFailed",
        }
    }

    /// Joined, Left and Dropped (content share too) carry `networkType`.
    fn has_network_type(self) -> bool {
        matches!(
            self,
            Self::AttendeeJoined
                | Self::AttendeeLeft
                | Self::AttendeeDropped
                | Self::AttendeeContentJoined
                | Self::AttendeeContentLeft
                | Self::AttendeeContentDropped
        )
    }
}

/// Who an attendee event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeRef {
    pub attendee_id: String,
    pub external_user_id: String,
}

/// What a transcription event adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionRef {
    pub region: Option<String>,
    /// The configuration as a JSON string.
    pub configuration: String,
    pub message: Option<String>,
}

/// One event, before it gets its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    pub event_type: EventType,
    pub attendee: Option<AttendeeRef>,
    pub transcription: Option<TranscriptionRef>,
}

impl EventFacts {
    pub fn meeting(event_type: EventType) -> Self {
        EventFacts {
            event_type,
            attendee: None,
            transcription: None,
        }
    }

    pub fn attendee(event_type: EventType, attendee_id: &str, external_user_id: &str) -> Self {
        EventFacts {
            event_type,
            attendee: Some(AttendeeRef {
                attendee_id: attendee_id.to_string(),
                external_user_id: external_user_id.to_string(),
            }),
            transcription: None,
        }
    }
}

/// The `detail` object: the same in every sink.
pub fn detail(meeting: &Meeting, facts: &EventFacts, at_ms: i64) -> Value {
    let mut d = Map::new();
    d.insert("version".into(), json!("0"));
    d.insert(
        "eventType".into(),
        json!(format!("chime:{}", facts.event_type.name())),
    );
    d.insert("timestamp".into(), json!(at_ms));
    d.insert("meetingId".into(), json!(meeting.meeting_id));
    d.insert(
        "externalMeetingId".into(),
        json!(meeting.external_meeting_id),
    );
    d.insert("mediaRegion".into(), json!(meeting.media_region));
    if let Some(a) = &facts.attendee {
        d.insert("attendeeId".into(), json!(a.attendee_id));
        d.insert("externalUserId".into(), json!(a.external_user_id));
    }
    if facts.event_type.has_network_type() {
        d.insert("networkType".into(), json!("Voip"));
    }
    if let Some(t) = &facts.transcription {
        if let Some(r) = &t.region {
            d.insert("transcriptionRegion".into(), json!(r));
        }
        d.insert("transcriptionConfiguration".into(), json!(t.configuration));
        if let Some(m) = &t.message {
            d.insert("message".into(), json!(m));
        }
    }
    Value::Object(d)
}

/// The whole envelope, as EventBridge would deliver it.
pub fn envelope(id: &str, meeting: &Meeting, facts: &EventFacts, at_ms: i64) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": meeting.account_id,
        "time": rfc3339_seconds(at_ms),
        "region": meeting.control_region,
        "resources": [],
        "detail": detail(meeting, facts, at_ms),
    })
}

/// `yyyy-mm-ddThh:mm:ssZ` for milliseconds since the epoch (UTC).
pub fn rfc3339_seconds(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_seconds(1_764_473_254_999), "2025-11-30T03:27:34Z");
    }

    #[test]
    fn joined_has_network_type_and_attendee() {
        let m = Meeting {
            account_id: crate::domain::ids::AccountId::from_stored("111122223333".into()),
            meeting_id: crate::domain::ids::MeetingId::from_stored("m".into()),
            control_region: "us-east-1".into(),
            media_region: "eu-west-1".into(),
            external_meeting_id: "x".into(),
            meeting_host_id: None,
            primary_meeting_id: None,
            features: None,
            tenant_ids: vec![],
            notifications: None,
            network_type: None,
            client_request_token: "t".into(),
            created_at_ms: 0,
        };
        let e = envelope(
            "id1",
            &m,
            &EventFacts::attendee(EventType::AttendeeJoined, "a", "u"),
            0,
        );
        assert_eq!(e["source"], "aws.chime");
        assert_eq!(e["detail-type"], "Chime Meeting State Change");
        assert_eq!(e["region"], "us-east-1");
        assert_eq!(e["account"], "111122223333");
        assert_eq!(e["detail"]["eventType"], "chime:AttendeeJoined");
        assert_eq!(e["detail"]["networkType"], "Voip");
        assert_eq!(e["detail"]["attendeeId"], "a");
        assert_eq!(e["detail"]["mediaRegion"], "eu-west-1");
        let s = envelope("i", &m, &EventFacts::meeting(EventType::MeetingStarted), 0);
        assert!(s["detail"].get("networkType").is_none());
        assert!(s["detail"].get("attendeeId").is_none());
    }
}
