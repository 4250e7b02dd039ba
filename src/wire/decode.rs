//! Request bodies → operation inputs. Types, required members and enums are
//! checked here; value constraints are the domain's (see `domain::validate`).

use super::json::Obj;
use crate::domain::transcription::{
    EngineTranscribeMedicalSettings, EngineTranscribeSettings, TranscriptionConfiguration,
};
use crate::domain::types::{
    AttendeeFeatures, AudioFeatures, Capabilities, ContentFeatures, MeetingFeatures,
    NotificationsConfiguration, Tag, VideoFeatures,
};
use crate::domain::{validate, Checked};
use crate::ops::attendees::AttendeeRequest;
use crate::ops::meetings::CreateMeetingInput;

pub fn capabilities(o: &Obj<'_>) -> Checked<Capabilities> {
    Ok(Capabilities {
        audio: o.req_enumeration("Audio")?,
        video: o.req_enumeration("Video")?,
        content: o.req_enumeration("Content")?,
    })
}

fn features(o: &Obj<'_>) -> Checked<MeetingFeatures> {
    let audio = o
        .obj("Audio")?
        .map(|a| {
            Ok::<_, crate::domain::Invalid>(AudioFeatures {
                echo_reduction: a.enumeration("EchoReduction")?,
            })
        })
        .transpose()?;
    let video = o
        .obj("Video")?
        .map(|v| {
            Ok::<_, crate::domain::Invalid>(VideoFeatures {
                max_resolution: v.enumeration("MaxResolution")?,
            })
        })
        .transpose()?;
    let content = o
        .obj("Content")?
        .map(|c| {
            Ok::<_, crate::domain::Invalid>(ContentFeatures {
                max_resolution: c.enumeration("MaxResolution")?,
            })
        })
        .transpose()?;
    let attendee = match o.obj("Attendee")? {
        None => None,
        Some(a) => {
            let max_count = match a.int("MaxCount")? {
                None => None,
                Some(n) => Some(validate::attendee_max(&a.path("MaxCount"), n)?),
            };
            Some(AttendeeFeatures { max_count })
        }
    };
    Ok(MeetingFeatures {
        audio,
        video,
        content,
        attendee,
    })
}

fn notifications(o: &Obj<'_>) -> Checked<NotificationsConfiguration> {
    Ok(NotificationsConfiguration {
        lambda_function_arn: o.str("LambdaFunctionArn")?,
        sns_topic_arn: o.str("SnsTopicArn")?,
        sqs_queue_arn: o.str("SqsQueueArn")?,
    })
}

pub fn tag(o: &Obj<'_>) -> Checked<Tag> {
    Ok(Tag {
        key: o.req_str("Key")?,
        value: o.req_str("Value")?,
    })
}

pub fn attendee_request(o: &Obj<'_>) -> Checked<AttendeeRequest> {
    Ok(AttendeeRequest {
        external_user_id: o.req_str("ExternalUserId")?,
        capabilities: o
            .obj("Capabilities")?
            .map(|c| capabilities(&c))
            .transpose()?,
    })
}

pub fn create_meeting(o: &Obj<'_>) -> Checked<CreateMeetingInput> {
    Ok(CreateMeetingInput {
        client_request_token: o.req_str("ClientRequestToken")?,
        media_region: o.req_str("MediaRegion")?,
        meeting_host_id: o.str("MeetingHostId")?,
        external_meeting_id: o.req_str("ExternalMeetingId")?,
        notifications: o
            .obj("NotificationsConfiguration")?
            .map(|n| notifications(&n))
            .transpose()?,
        features: o
            .obj("MeetingFeatures")?
            .map(|f| features(&f))
            .transpose()?,
        primary_meeting_id: o.str("PrimaryMeetingId")?,
        tenant_ids: o.list("TenantIds", super::json::Item::str)?,
        tags: o.list("Tags", |i| tag(&i.obj()?))?,
        network_type: o.enumeration("MediaPlacementNetworkType")?,
    })
}

pub fn attendee_list(o: &Obj<'_>) -> Checked<Vec<AttendeeRequest>> {
    o.req_list("Attendees", |i| attendee_request(&i.obj()?))
}

fn engine(o: &Obj<'_>) -> Checked<EngineTranscribeSettings> {
    Ok(EngineTranscribeSettings {
        language_code: o.str("LanguageCode")?,
        vocabulary_filter_method: o.str("VocabularyFilterMethod")?,
        vocabulary_filter_name: o.str("VocabularyFilterName")?,
        vocabulary_name: o.str("VocabularyName")?,
        region: o.str("Region")?,
        enable_partial_results_stabilization: o.bool("EnablePartialResultsStabilization")?,
        partial_results_stability: o.str("PartialResultsStability")?,
        content_identification_type: o.str("ContentIdentificationType")?,
        content_redaction_type: o.str("ContentRedactionType")?,
        pii_entity_types: o.str("PiiEntityTypes")?,
        language_model_name: o.str("LanguageModelName")?,
        identify_language: o.bool("IdentifyLanguage")?,
        language_options: o.str("LanguageOptions")?,
        preferred_language: o.str("PreferredLanguage")?,
        vocabulary_names: o.str("VocabularyNames")?,
        vocabulary_filter_names: o.str("VocabularyFilterNames")?,
    })
}

fn medical(o: &Obj<'_>) -> Checked<EngineTranscribeMedicalSettings> {
    Ok(EngineTranscribeMedicalSettings {
        language_code: o.req_str("LanguageCode")?,
        specialty: o.req_str("Specialty")?,
        kind: o.req_str("Type")?,
        vocabulary_name: o.str("VocabularyName")?,
        region: o.str("Region")?,
        content_identification_type: o.str("ContentIdentificationType")?,
    })
}

pub fn transcription(o: &Obj<'_>) -> Checked<TranscriptionConfiguration> {
    let c = o.req_obj("TranscriptionConfiguration")?;
    Ok(TranscriptionConfiguration {
        engine_transcribe_settings: c
            .obj("EngineTranscribeSettings")?
            .map(|e| engine(&e))
            .transpose()?,
        engine_transcribe_medical_settings: c
            .obj("EngineTranscribeMedicalSettings")?
            .map(|m| medical(&m))
            .transpose()?,
    })
}
