//! Meeting events in AWS's envelope: the JSON object EventBridge carries with
//! `source: aws.chime` and `detail-type: Chime Meeting State Change`, and that
//! SQS, SNS, Lambda and webhook receivers get whole.

use serde::Serialize;

use crate::domain::clock::iso8601_seconds;
use crate::domain::types::Meeting;

/// The envelope's `source`.
pub const SOURCE: &str = "aws.chime";
/// The envelope's `detail-type`.
pub const DETAIL_TYPE: &str = "Chime Meeting State Change";

/// Declares [`EventType`] and its names from one list.
macro_rules! event_types {
    ($($name:ident),* $(,)?) => {
        /// Every event type AWS documents for meetings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($name),*
        }

        impl EventType {
            /// The name without the `chime:` prefix.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name)),*
                }
            }

            /// The name with its `chime:` prefix, as `detail.eventType` has it.
            pub fn qualified_name(self) -> &'static str {
                match self {
                    $(Self::$name => concat!("chime:", stringify!($name))),*
                }
            }
        }
    };
}

event_types! {
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
///
/// Its members are declared in the order of their names, as are the
/// envelope's: a stored body is written straight from these structs, and it
/// has the bytes a `serde_json::Value` of the same members (a map sorted by
/// name) had when bodies were made that way (`bodies_keep_their_bytes`).
#[derive(Debug, Serialize)]
pub struct Detail<'a> {
    #[serde(rename = "attendeeId", skip_serializing_if = "Option::is_none")]
    attendee_id: Option<&'a str>,
    #[serde(rename = "eventType")]
    event_type: &'static str,
    #[serde(rename = "externalMeetingId")]
    external_meeting_id: &'a str,
    #[serde(rename = "externalUserId", skip_serializing_if = "Option::is_none")]
    external_user_id: Option<&'a str>,
    #[serde(rename = "mediaRegion")]
    media_region: &'a str,
    #[serde(rename = "meetingId")]
    meeting_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(rename = "networkType", skip_serializing_if = "Option::is_none")]
    network_type: Option<&'static str>,
    timestamp: i64,
    #[serde(
        rename = "transcriptionConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    transcription_configuration: Option<&'a str>,
    #[serde(
        rename = "transcriptionRegion",
        skip_serializing_if = "Option::is_none"
    )]
    transcription_region: Option<&'a str>,
    version: &'static str,
}

/// The `detail` object of one event.
pub fn detail<'a>(meeting: &'a Meeting, facts: &'a EventFacts, at_ms: i64) -> Detail<'a> {
    let transcription = facts.transcription.as_ref();
    Detail {
        attendee_id: facts.attendee.as_ref().map(|a| a.attendee_id.as_str()),
        event_type: facts.event_type.qualified_name(),
        external_meeting_id: &meeting.external_meeting_id,
        external_user_id: facts.attendee.as_ref().map(|a| a.external_user_id.as_str()),
        media_region: &meeting.media_region,
        meeting_id: meeting.meeting_id.as_str(),
        message: transcription.and_then(|t| t.message.as_deref()),
        network_type: facts.event_type.has_network_type().then_some("Voip"),
        timestamp: at_ms,
        transcription_configuration: transcription.map(|t| t.configuration.as_str()),
        transcription_region: transcription.and_then(|t| t.region.as_deref()),
        version: "0",
    }
}

/// The whole envelope, as EventBridge would deliver it (members in the
/// order of their names; see [`Detail`]).
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    account: &'a str,
    detail: Detail<'a>,
    #[serde(rename = "detail-type")]
    detail_type: &'static str,
    id: &'a str,
    region: &'a str,
    resources: [&'static str; 0],
    source: &'static str,
    time: String,
    version: &'static str,
}

/// The envelope of one event.
pub fn envelope<'a>(
    id: &'a str,
    meeting: &'a Meeting,
    facts: &'a EventFacts,
    at_ms: i64,
) -> Envelope<'a> {
    Envelope {
        account: meeting.account_id.as_str(),
        detail: detail(meeting, facts, at_ms),
        detail_type: DETAIL_TYPE,
        id,
        region: &meeting.control_region,
        resources: [],
        source: SOURCE,
        time: iso8601_seconds(at_ms),
        version: "0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting() -> Meeting {
        Meeting {
            account_id: crate::domain::ids::AccountId::from_stored("111122223333".into()),
            meeting_id: crate::domain::ids::MeetingId::from_stored("m".into()),
            control_region: "us-east-1".into(),
            media_region: "eu-west-1".into(),
            external_meeting_id: "x \"quoted\" \u{e9}\n".into(),
            meeting_host_id: None,
            primary_meeting_id: None,
            features: None,
            tenant_ids: vec![],
            notifications: None,
            network_type: None,
            client_request_token: "t".into(),
            created_at_ms: 0,
        }
    }

    fn value(id: &str, meeting: &Meeting, facts: &EventFacts, at_ms: i64) -> serde_json::Value {
        serde_json::to_value(envelope(id, meeting, facts, at_ms)).unwrap()
    }

    #[test]
    fn joined_has_network_type_and_attendee() {
        let m = meeting();
        let e = value(
            "id1",
            &m,
            &EventFacts::attendee(EventType::AttendeeJoined, "a", "u"),
            0,
        );
        assert_eq!(e["version"], "0");
        assert_eq!(e["id"], "id1");
        assert_eq!(e["source"], "aws.chime");
        assert_eq!(e["detail-type"], "Chime Meeting State Change");
        assert_eq!(e["region"], "us-east-1");
        assert_eq!(e["account"], "111122223333");
        assert_eq!(e["resources"], serde_json::json!([]));
        assert_eq!(e["time"], "1970-01-01T00:00:00Z");
        assert_eq!(e["detail"]["version"], "0");
        assert_eq!(e["detail"]["eventType"], "chime:AttendeeJoined");
        assert_eq!(e["detail"]["networkType"], "Voip");
        assert_eq!(e["detail"]["attendeeId"], "a");
        assert_eq!(e["detail"]["externalUserId"], "u");
        assert_eq!(e["detail"]["meetingId"], "m");
        assert_eq!(e["detail"]["externalMeetingId"], m.external_meeting_id);
        assert_eq!(e["detail"]["mediaRegion"], "eu-west-1");
        assert_eq!(e["detail"]["timestamp"], 0);
        let s = value("i", &m, &EventFacts::meeting(EventType::MeetingStarted), 0);
        assert!(s["detail"].get("networkType").is_none());
        assert!(s["detail"].get("attendeeId").is_none());
        assert!(s["detail"].get("transcriptionConfiguration").is_none());
    }

    /// Bodies are written from the structs; before, from a `Value` built
    /// member by member (the builder below, as it was). Stored bodies, and so
    /// what sinks receive and what webhook signatures cover, keep their bytes.
    #[test]
    fn bodies_keep_their_bytes() {
        use serde_json::{json, Map, Value};
        fn old_detail(meeting: &Meeting, facts: &EventFacts, at_ms: i64) -> Value {
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
        fn old_time(ms: i64) -> String {
            let secs = ms.div_euclid(1000);
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
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
        fn old(id: &str, meeting: &Meeting, facts: &EventFacts, at_ms: i64) -> Value {
            json!({
                "version": "0",
                "id": id,
                "detail-type": DETAIL_TYPE,
                "source": SOURCE,
                "account": meeting.account_id,
                "time": old_time(at_ms),
                "region": meeting.control_region,
                "resources": [],
                "detail": old_detail(meeting, facts, at_ms),
            })
        }
        let m = meeting();
        let transcription = |region: Option<&str>, message: Option<&str>| EventFacts {
            event_type: EventType::TranscriptionFailed,
            attendee: None,
            transcription: Some(TranscriptionRef {
                region: region.map(str::to_string),
                configuration: r#"{"EngineTranscribeSettings":{"LanguageCode":"en-US"}}"#.into(),
                message: message.map(str::to_string),
            }),
        };
        let cases = [
            EventFacts::meeting(EventType::MeetingStarted),
            EventFacts::meeting(EventType::MeetingEnded),
            EventFacts::attendee(EventType::AttendeeAdded, "a1", "user \\ one"),
            EventFacts::attendee(EventType::AttendeeJoined, "a2", "u2"),
            EventFacts::attendee(EventType::AttendeeContentDropped, "a3#content", "u3"),
            transcription(None, None),
            transcription(Some("us-west-2"), Some("the engine stopped")),
        ];
        for facts in &cases {
            for at_ms in [
                0,
                -1,
                951_782_400_000,
                1_764_473_254_999,
                253_402_300_800_000,
            ] {
                let new = serde_json::to_string(&envelope("e1", &m, facts, at_ms)).unwrap();
                let was = serde_json::to_string(&old("e1", &m, facts, at_ms)).unwrap();
                assert_eq!(new, was, "{facts:?}");
            }
        }
    }
}
