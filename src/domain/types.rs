//! Domain types: what a meeting and an attendee are, independent of HTTP and SQL.
//!
//! The serde derives give the JSON form used on the wire and in storage: the
//! member names of the service model (PascalCase), absent members omitted.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, AttendeeId, ExternalUserId, JoinToken, MeetingId};

/// A closed set of string values, as the model's enums are.
pub trait StringEnum: Sized + Copy + 'static {
    /// Every value with its wire spelling.
    const VALUES: &'static [(&'static str, Self)];

    fn parse(s: &str) -> Option<Self> {
        Self::VALUES
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, v)| *v)
    }

    fn allowed() -> String {
        Self::VALUES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }
        impl StringEnum for $name {
            const VALUES: &'static [(&'static str, Self)] = &[$(($wire, $name::$variant)),+];
        }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }
    };
}

string_enum!(
    /// What an attendee may do with one kind of media.
    MediaCapability { SendReceive = "SendReceive", Send = "Send", Receive = "Receive", None = "None" }
);

impl MediaCapability {
    /// True for every value that lets media flow in either direction.
    pub fn is_enabled(self) -> bool {
        self != MediaCapability::None
    }

    /// True when the attendee receives this kind of media.
    pub fn receives(self) -> bool {
        matches!(
            self,
            MediaCapability::SendReceive | MediaCapability::Receive
        )
    }
}

string_enum!(
    /// `MeetingFeatureStatus`.
    FeatureStatus { Available = "AVAILABLE", Unavailable = "UNAVAILABLE" }
);

string_enum!(
    /// `VideoResolution`.
    VideoResolution { None = "None", Hd = "HD", Fhd = "FHD" }
);

string_enum!(
    /// `ContentResolution`.
    ContentResolution { None = "None", Fhd = "FHD", Uhd = "UHD" }
);

string_enum!(
    /// `MediaPlacementNetworkType` (request only).
    NetworkType { Ipv4Only = "Ipv4Only", DualStack = "DualStack" }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Capabilities {
    pub audio: MediaCapability,
    pub video: MediaCapability,
    pub content: MediaCapability,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities {
        audio: MediaCapability::SendReceive,
        video: MediaCapability::SendReceive,
        content: MediaCapability::SendReceive,
    };
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AudioFeatures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echo_reduction: Option<FeatureStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VideoFeatures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_resolution: Option<VideoResolution>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContentFeatures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_resolution: Option<ContentResolution>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttendeeFeatures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
}

/// `MeetingFeaturesConfiguration`, stored and echoed as the caller gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MeetingFeatures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioFeatures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoFeatures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentFeatures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendee: Option<AttendeeFeatures>,
}

/// The most attendees a meeting may hold when nothing lowers it.
pub const MAX_ATTENDEES: u32 = 250;
/// The default cap when the meeting allows FHD video or UHD content.
pub const MAX_ATTENDEES_HIGH_RESOLUTION: u32 = 25;

impl MeetingFeatures {
    pub fn video_resolution(&self) -> VideoResolution {
        self.video
            .as_ref()
            .and_then(|v| v.max_resolution)
            .unwrap_or(VideoResolution::Hd)
    }

    pub fn content_resolution(&self) -> ContentResolution {
        self.content
            .as_ref()
            .and_then(|c| c.max_resolution)
            .unwrap_or(ContentResolution::Fhd)
    }

    /// How many live attendees the meeting may hold.
    pub fn attendee_limit(&self) -> u32 {
        if let Some(n) = self.attendee.as_ref().and_then(|a| a.max_count) {
            return n.min(MAX_ATTENDEES);
        }
        if self.video_resolution() == VideoResolution::Fhd
            || self.content_resolution() == ContentResolution::Uhd
        {
            MAX_ATTENDEES_HIGH_RESOLUTION
        } else {
            MAX_ATTENDEES
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotificationsConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda_function_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sns_topic_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqs_queue_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Who is calling: the account and the control region of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: AccountId,
    pub region: String,
}

/// A meeting as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub account_id: AccountId,
    pub meeting_id: MeetingId,
    /// The control region the meeting was created through (part of its ARN).
    pub control_region: String,
    pub media_region: String,
    pub external_meeting_id: String,
    pub meeting_host_id: Option<String>,
    pub primary_meeting_id: Option<MeetingId>,
    pub features: Option<MeetingFeatures>,
    pub tenant_ids: Vec<String>,
    pub notifications: Option<NotificationsConfiguration>,
    pub network_type: Option<NetworkType>,
    pub client_request_token: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl Meeting {
    pub fn arn(&self) -> String {
        meeting_arn(
            &self.control_region,
            self.account_id.as_str(),
            self.meeting_id.as_str(),
        )
    }

    pub fn features_or_default(&self) -> MeetingFeatures {
        self.features.clone().unwrap_or_default()
    }
}

pub fn meeting_arn(region: &str, account_id: &str, meeting_id: &str) -> String {
    // `concat` sizes the string once and copies the pieces: it is in every
    // meeting answered, and `format!` costs several times as much.
    [
        "arn:aws:chime:",
        region,
        ":",
        account_id,
        ":meeting/",
        meeting_id,
    ]
    .concat()
}

/// An attendee as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    pub meeting_id: MeetingId,
    pub attendee_id: AttendeeId,
    pub external_user_id: ExternalUserId,
    pub join_token: JoinToken,
    pub capabilities: Capabilities,
    /// Position in the meeting's roster (creation order), used for paging.
    pub seq: i64,
}

/// The outcome of creating one attendee in a batch.
#[derive(Debug, Clone)]
pub struct AttendeeError {
    pub external_user_id: String,
    pub error_code: String,
    pub error_message: String,
}
