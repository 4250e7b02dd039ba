//! Generated input types (`crate::model::shapes`, as `bindings.rs` decoded
//! them) → the operations' domain inputs. The bindings checked JSON types,
//! required members, and, while reading (the first error of a request
//! depends on it), the values of the enums the domain has as Rust types and
//! the integer ranges. Here those values become the domain's types (an enum
//! value the bindings let through always parses: the domain's enums are the
//! model's, see the test below); the other value rules are applied by the
//! domain and the operations.

use crate::domain::transcription::{
    EngineTranscribeMedicalSettings, EngineTranscribeSettings, TranscriptionConfiguration,
};
use crate::domain::types::{
    AttendeeFeatures, AudioFeatures, Capabilities, ContentFeatures, MeetingFeatures,
    NotificationsConfiguration, StringEnum, Tag, VideoFeatures,
};
use crate::domain::{validate, Checked, Invalid};
use crate::model::shapes;
use crate::ops::attendees::AttendeeRequest;
use crate::ops::meetings::CreateMeetingInput;

/// The value of an enum member at `path`, one of the domain's values.
fn enumeration<E: StringEnum>(path: &str, value: &str) -> Checked<E> {
    E::parse(value).ok_or_else(|| {
        Invalid::new(format!(
            "Invalid value for {path}: {value:?} is not one of {}",
            E::allowed()
        ))
    })
}

fn opt_enumeration<E: StringEnum>(path: &str, value: Option<&str>) -> Checked<Option<E>> {
    value.map(|v| enumeration(path, v)).transpose()
}

/// `at` is the path of the structure, with its trailing dot (`Capabilities.`).
pub fn capabilities(c: &shapes::AttendeeCapabilities, at: &str) -> Checked<Capabilities> {
    Ok(Capabilities {
        audio: enumeration(&format!("{at}Audio"), &c.audio)?,
        video: enumeration(&format!("{at}Video"), &c.video)?,
        content: enumeration(&format!("{at}Content"), &c.content)?,
    })
}

fn features(f: &shapes::MeetingFeaturesConfiguration, at: &str) -> Checked<MeetingFeatures> {
    let audio = f
        .audio
        .as_ref()
        .map(|a| {
            Ok::<_, Invalid>(AudioFeatures {
                echo_reduction: opt_enumeration(
                    &format!("{at}Audio.EchoReduction"),
                    a.echo_reduction.as_deref(),
                )?,
            })
        })
        .transpose()?;
    let video = f
        .video
        .as_ref()
        .map(|v| {
            Ok::<_, Invalid>(VideoFeatures {
                max_resolution: opt_enumeration(
                    &format!("{at}Video.MaxResolution"),
                    v.max_resolution.as_deref(),
                )?,
            })
        })
        .transpose()?;
    let content = f
        .content
        .as_ref()
        .map(|c| {
            Ok::<_, Invalid>(ContentFeatures {
                max_resolution: opt_enumeration(
                    &format!("{at}Content.MaxResolution"),
                    c.max_resolution.as_deref(),
                )?,
            })
        })
        .transpose()?;
    let attendee = f
        .attendee
        .as_ref()
        .map(|a| {
            let max_count = a
                .max_count
                .map(|n| validate::attendee_max(&format!("{at}Attendee.MaxCount"), n))
                .transpose()?;
            Ok::<_, Invalid>(AttendeeFeatures { max_count })
        })
        .transpose()?;
    Ok(MeetingFeatures {
        audio,
        video,
        content,
        attendee,
    })
}

fn notifications(n: &shapes::NotificationsConfiguration) -> NotificationsConfiguration {
    NotificationsConfiguration {
        lambda_function_arn: n.lambda_function_arn.clone(),
        sns_topic_arn: n.sns_topic_arn.clone(),
        sqs_queue_arn: n.sqs_queue_arn.clone(),
    }
}

pub fn tag(t: &shapes::Tag) -> Tag {
    Tag {
        key: t.key.clone(),
        value: t.value.clone(),
    }
}

/// One attendee to create; `at` is the item's path with its trailing dot
/// (empty for CreateAttendee's body, `Attendees[2].` in a batch).
pub fn attendee_request(
    external_user_id: &str,
    capabilities_given: Option<&shapes::AttendeeCapabilities>,
    at: &str,
) -> Checked<AttendeeRequest> {
    Ok(AttendeeRequest {
        external_user_id: external_user_id.to_string(),
        capabilities: capabilities_given
            .map(|c| capabilities(c, &format!("{at}Capabilities.")))
            .transpose()?,
    })
}

/// The items of an `Attendees` list.
pub fn attendee_list(items: &[shapes::CreateAttendeeRequestItem]) -> Checked<Vec<AttendeeRequest>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            attendee_request(
                &item.external_user_id,
                item.capabilities.as_ref(),
                &format!("Attendees[{i}]."),
            )
        })
        .collect()
}

pub fn create_meeting(r: &shapes::CreateMeetingRequest) -> Checked<CreateMeetingInput> {
    Ok(CreateMeetingInput {
        client_request_token: r.client_request_token.clone(),
        media_region: r.media_region.clone(),
        meeting_host_id: r.meeting_host_id.clone(),
        external_meeting_id: r.external_meeting_id.clone(),
        notifications: r.notifications_configuration.as_ref().map(notifications),
        features: r
            .meeting_features
            .as_ref()
            .map(|f| features(f, "MeetingFeatures."))
            .transpose()?,
        primary_meeting_id: r.primary_meeting_id.clone(),
        tenant_ids: r.tenant_ids.clone(),
        tags: r.tags.as_ref().map(|t| t.iter().map(tag).collect()),
        network_type: opt_enumeration(
            "MediaPlacementNetworkType",
            r.media_placement_network_type.as_deref(),
        )?,
    })
}

/// CreateMeetingWithAttendees' meeting members, as CreateMeeting has them.
pub fn meeting_of(r: &shapes::CreateMeetingWithAttendeesRequest) -> shapes::CreateMeetingRequest {
    shapes::CreateMeetingRequest {
        client_request_token: r.client_request_token.clone(),
        media_region: r.media_region.clone(),
        meeting_host_id: r.meeting_host_id.clone(),
        external_meeting_id: r.external_meeting_id.clone(),
        notifications_configuration: r.notifications_configuration.clone(),
        meeting_features: r.meeting_features.clone(),
        primary_meeting_id: r.primary_meeting_id.clone(),
        tenant_ids: r.tenant_ids.clone(),
        tags: r.tags.clone(),
        media_placement_network_type: r.media_placement_network_type.clone(),
    }
}

fn engine(e: &shapes::EngineTranscribeSettings) -> EngineTranscribeSettings {
    EngineTranscribeSettings {
        language_code: e.language_code.clone(),
        vocabulary_filter_method: e.vocabulary_filter_method.clone(),
        vocabulary_filter_name: e.vocabulary_filter_name.clone(),
        vocabulary_name: e.vocabulary_name.clone(),
        region: e.region.clone(),
        enable_partial_results_stabilization: e.enable_partial_results_stabilization,
        partial_results_stability: e.partial_results_stability.clone(),
        content_identification_type: e.content_identification_type.clone(),
        content_redaction_type: e.content_redaction_type.clone(),
        pii_entity_types: e.pii_entity_types.clone(),
        language_model_name: e.language_model_name.clone(),
        identify_language: e.identify_language,
        language_options: e.language_options.clone(),
        preferred_language: e.preferred_language.clone(),
        vocabulary_names: e.vocabulary_names.clone(),
        vocabulary_filter_names: e.vocabulary_filter_names.clone(),
    }
}

fn medical(m: &shapes::EngineTranscribeMedicalSettings) -> EngineTranscribeMedicalSettings {
    EngineTranscribeMedicalSettings {
        language_code: m.language_code.clone(),
        specialty: m.specialty.clone(),
        kind: m.r#type.clone(),
        vocabulary_name: m.vocabulary_name.clone(),
        region: m.region.clone(),
        content_identification_type: m.content_identification_type.clone(),
    }
}

pub fn transcription(c: &shapes::TranscriptionConfiguration) -> TranscriptionConfiguration {
    TranscriptionConfiguration {
        engine_transcribe_settings: c.engine_transcribe_settings.as_ref().map(engine),
        engine_transcribe_medical_settings: c
            .engine_transcribe_medical_settings
            .as_ref()
            .map(medical),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::{
        ContentResolution, FeatureStatus, MediaCapability, NetworkType, VideoResolution,
    };

    fn values<E: StringEnum>() -> Vec<&'static str> {
        E::VALUES.iter().map(|(name, _)| *name).collect()
    }

    /// The enums checked here are the model's, value for value and in its
    /// order (the order error messages list them in).
    #[test]
    fn domain_enums_are_the_models() {
        for (shape, domain) in [
            ("MediaCapabilities", values::<MediaCapability>()),
            ("MeetingFeatureStatus", values::<FeatureStatus>()),
            ("VideoResolution", values::<VideoResolution>()),
            ("ContentResolution", values::<ContentResolution>()),
            ("MediaPlacementNetworkType", values::<NetworkType>()),
        ] {
            let model = crate::model::shape(shape).expect("a shape of the model");
            assert_eq!(model.enum_values, domain.as_slice(), "{shape}");
        }
    }

    #[test]
    fn errors_name_the_member_path() {
        let caps = shapes::AttendeeCapabilities {
            audio: "SendReceive".into(),
            video: "Sometimes".into(),
            content: "None".into(),
        };
        let err = capabilities(&caps, "Attendees[3].Capabilities.").unwrap_err();
        assert_eq!(
            err.message,
            "Invalid value for Attendees[3].Capabilities.Video: \"Sometimes\" is not one of \
             SendReceive, Send, Receive, None"
        );
    }
}
