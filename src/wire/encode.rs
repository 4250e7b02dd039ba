//! Operation results (domain types) → the generated output types of
//! `crate::model::shapes`, which `bindings.rs` writes as JSON bodies.

use super::{bindings, json_out};
use crate::domain::placement::PublicBase;
use crate::domain::types::{Attendee, AttendeeError, Capabilities, Meeting, MeetingFeatures, Tag};
use crate::model::shapes;

fn name_of(value: &str) -> String {
    value.to_string()
}

fn features(f: &MeetingFeatures) -> shapes::MeetingFeaturesConfiguration {
    shapes::MeetingFeaturesConfiguration {
        audio: f.audio.as_ref().map(|a| shapes::AudioFeatures {
            echo_reduction: a.echo_reduction.map(|e| name_of(e.as_str())),
        }),
        video: f.video.as_ref().map(|v| shapes::VideoFeatures {
            max_resolution: v.max_resolution.map(|r| name_of(r.as_str())),
        }),
        content: f.content.as_ref().map(|c| shapes::ContentFeatures {
            max_resolution: c.max_resolution.map(|r| name_of(r.as_str())),
        }),
        attendee: f.attendee.as_ref().map(|a| shapes::AttendeeFeatures {
            max_count: a.max_count.map(i64::from),
        }),
    }
}

pub fn meeting(m: &Meeting, base: &PublicBase) -> shapes::Meeting {
    let p = base.placement(m.meeting_id.as_str());
    shapes::Meeting {
        meeting_id: Some(m.meeting_id.to_string()),
        meeting_host_id: m.meeting_host_id.clone(),
        external_meeting_id: Some(m.external_meeting_id.clone()),
        media_region: Some(m.media_region.clone()),
        media_placement: Some(shapes::MediaPlacement {
            audio_host_url: Some(p.audio_host_url),
            audio_fallback_url: Some(p.audio_fallback_url),
            signaling_url: Some(p.signaling_url),
            turn_control_url: Some(p.turn_control_url),
            screen_data_url: Some(p.screen_data_url),
            screen_viewing_url: Some(p.screen_viewing_url),
            screen_sharing_url: Some(p.screen_sharing_url),
            event_ingestion_url: Some(p.event_ingestion_url),
        }),
        meeting_features: m.features.as_ref().map(features),
        primary_meeting_id: m.primary_meeting_id.as_ref().map(ToString::to_string),
        tenant_ids: Some(m.tenant_ids.clone()),
        meeting_arn: Some(m.arn()),
    }
}

fn capabilities(c: Capabilities) -> shapes::AttendeeCapabilities {
    shapes::AttendeeCapabilities {
        audio: name_of(c.audio.as_str()),
        video: name_of(c.video.as_str()),
        content: name_of(c.content.as_str()),
    }
}

/// An attendee moved into its output shape (no copies).
pub fn attendee(a: Attendee) -> shapes::Attendee {
    shapes::Attendee {
        external_user_id: Some(a.external_user_id.into_string()),
        attendee_id: Some(a.attendee_id.into_string()),
        join_token: Some(a.join_token.into_exposed()),
        capabilities: Some(capabilities(a.capabilities)),
    }
}

pub fn attendees(list: Vec<Attendee>) -> Vec<shapes::Attendee> {
    list.into_iter().map(attendee).collect()
}

pub fn attendee_errors(list: &[AttendeeError]) -> Vec<shapes::CreateAttendeeError> {
    list.iter()
        .map(|e| shapes::CreateAttendeeError {
            external_user_id: Some(e.external_user_id.clone()),
            error_code: Some(e.error_code.clone()),
            error_message: Some(e.error_message.clone()),
        })
        .collect()
}

pub fn tags(list: &[Tag]) -> Vec<shapes::Tag> {
    list.iter()
        .map(|t| shapes::Tag {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

/// A meeting as the JSON the API answers with (for Convene's own views).
pub fn meeting_json(m: &Meeting, base: &PublicBase) -> serde_json::Value {
    let bytes = json_out::write(|w| bindings::write_meeting(w, &meeting(m, base)));
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Tags as the JSON the API answers with (for Convene's own views).
pub fn tags_json(list: &[Tag]) -> serde_json::Value {
    let bytes = json_out::write(|w| {
        w.begin_array();
        for t in &tags(list) {
            bindings::write_tag(w, t);
        }
        w.end_array();
    });
    serde_json::from_slice(&bytes).unwrap_or_default()
}
