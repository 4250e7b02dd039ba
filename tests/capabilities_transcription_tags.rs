//! UpdateAttendeeCapabilities, BatchUpdateAttendeeCapabilitiesExcept,
//! Start/StopMeetingTranscription and the three tag operations.

mod common;

use aws_sdk_chimesdkmeetings as chime;
use chime::types::{
    AttendeeCapabilities, AttendeeIdItem, EngineTranscribeMedicalSettings,
    EngineTranscribeSettings, MediaCapabilities, Tag, TranscribeLanguageCode,
    TranscribeMedicalLanguageCode, TranscribeMedicalSpecialty, TranscribeMedicalType,
    TranscriptionConfiguration,
};
use common::{add_attendee, err_code, new_token, Server, ACCOUNT};

const UNKNOWN: &str = "0f0f0f0f-1111-2222-3333-444455556666";
use MediaCapabilities::{None as Off, Receive, SendReceive};

fn caps(a: MediaCapabilities, v: MediaCapabilities, c: MediaCapabilities) -> AttendeeCapabilities {
    AttendeeCapabilities::builder()
        .audio(a)
        .video(v)
        .content(c)
        .build()
        .unwrap()
}

async fn meeting(c: &chime::Client) -> (String, String) {
    let m = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("ops")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    (m.meeting_id.unwrap(), m.meeting_arn.unwrap())
}

#[tokio::test]
async fn update_capabilities() {
    let s = Server::start();
    let c = s.client();
    let (m, _) = meeting(&c).await;
    let a = add_attendee(&c, &m, "alice").await;
    let out = c
        .update_attendee_capabilities()
        .meeting_id(&m)
        .attendee_id(&a)
        .capabilities(caps(Receive, Receive, Off))
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.attendee.unwrap().capabilities.unwrap(),
        caps(Receive, Receive, Off)
    );
    let got = c
        .get_attendee()
        .meeting_id(&m)
        .attendee_id(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.attendee.unwrap().capabilities.unwrap(),
        caps(Receive, Receive, Off)
    );
    let e = c
        .update_attendee_capabilities()
        .meeting_id(&m)
        .attendee_id(&a)
        .capabilities(caps(SendReceive, Off, Receive))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let e = c
        .update_attendee_capabilities()
        .meeting_id(&m)
        .attendee_id(UNKNOWN)
        .capabilities(caps(Receive, Receive, Off))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
    let e = c
        .update_attendee_capabilities()
        .meeting_id(UNKNOWN)
        .attendee_id(&a)
        .capabilities(caps(Receive, Receive, Off))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
}

#[tokio::test]
async fn batch_update_except() {
    let s = Server::start();
    let c = s.client();
    let (m, _) = meeting(&c).await;
    let a = add_attendee(&c, &m, "alice").await;
    let b = add_attendee(&c, &m, "bob").await;
    let d = add_attendee(&c, &m, "dave").await;
    c.batch_update_attendee_capabilities_except()
        .meeting_id(&m)
        .excluded_attendee_ids(AttendeeIdItem::builder().attendee_id(&a).build().unwrap())
        .capabilities(caps(Receive, Off, Off))
        .send()
        .await
        .unwrap();
    let get = |id: String| {
        let c = c.clone();
        let m = m.clone();
        async move {
            c.get_attendee()
                .meeting_id(m)
                .attendee_id(id)
                .send()
                .await
                .unwrap()
                .attendee
                .unwrap()
                .capabilities
                .unwrap()
        }
    };
    assert_eq!(
        get(a.clone()).await,
        caps(SendReceive, SendReceive, SendReceive)
    );
    assert_eq!(get(b).await, caps(Receive, Off, Off));
    assert_eq!(get(d).await, caps(Receive, Off, Off));
    let e = c
        .batch_update_attendee_capabilities_except()
        .meeting_id(&m)
        .excluded_attendee_ids(
            AttendeeIdItem::builder()
                .attendee_id("not-a-guid")
                .build()
                .unwrap(),
        )
        .capabilities(caps(Receive, Off, Off))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let e = c
        .batch_update_attendee_capabilities_except()
        .meeting_id(&m)
        .capabilities(caps(Receive, Off, Off))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let e = c
        .batch_update_attendee_capabilities_except()
        .meeting_id(&m)
        .excluded_attendee_ids(AttendeeIdItem::builder().attendee_id(&a).build().unwrap())
        .capabilities(caps(Receive, Off, SendReceive))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    // Nothing changed by the refused call.
    assert_eq!(get(a).await, caps(SendReceive, SendReceive, SendReceive));
}

fn engine(lang: TranscribeLanguageCode) -> TranscriptionConfiguration {
    TranscriptionConfiguration::builder()
        .engine_transcribe_settings(
            EngineTranscribeSettings::builder()
                .language_code(lang)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn transcription() {
    let s = Server::start();
    let c = s.client();
    let (m, _) = meeting(&c).await;
    let e = c
        .stop_meeting_transcription()
        .meeting_id(&m)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("UnprocessableEntityException".into(), 422));
    c.start_meeting_transcription()
        .meeting_id(&m)
        .transcription_configuration(engine(TranscribeLanguageCode::EnUs))
        .send()
        .await
        .unwrap();
    // A second start replaces the configuration.
    c.start_meeting_transcription()
        .meeting_id(&m)
        .transcription_configuration(engine(TranscribeLanguageCode::FrFr))
        .send()
        .await
        .unwrap();
    c.stop_meeting_transcription()
        .meeting_id(&m)
        .send()
        .await
        .unwrap();
    let e = c
        .stop_meeting_transcription()
        .meeting_id(&m)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "UnprocessableEntityException");

    let medical = TranscriptionConfiguration::builder()
        .engine_transcribe_medical_settings(
            EngineTranscribeMedicalSettings::builder()
                .language_code(TranscribeMedicalLanguageCode::EnUs)
                .specialty(TranscribeMedicalSpecialty::Cardiology)
                .r#type(TranscribeMedicalType::Dictation)
                .build()
                .unwrap(),
        )
        .build();
    c.start_meeting_transcription()
        .meeting_id(&m)
        .transcription_configuration(medical.clone())
        .send()
        .await
        .unwrap();

    let both = TranscriptionConfiguration::builder()
        .engine_transcribe_settings(
            EngineTranscribeSettings::builder()
                .language_code(TranscribeLanguageCode::EnUs)
                .build(),
        )
        .set_engine_transcribe_medical_settings(medical.engine_transcribe_medical_settings.clone())
        .build();
    for bad in [
        both,
        TranscriptionConfiguration::builder().build(),
        engine(TranscribeLanguageCode::from("xx-XX")),
        TranscriptionConfiguration::builder()
            .engine_transcribe_settings(
                EngineTranscribeSettings::builder()
                    .language_code(TranscribeLanguageCode::EnUs)
                    .content_identification_type(
                        chime::types::TranscribeContentIdentificationType::Pii,
                    )
                    .content_redaction_type(chime::types::TranscribeContentRedactionType::Pii)
                    .build(),
            )
            .build(),
    ] {
        let e = c
            .start_meeting_transcription()
            .meeting_id(&m)
            .transcription_configuration(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e).0, "BadRequestException");
    }
    let e = c
        .start_meeting_transcription()
        .meeting_id(UNKNOWN)
        .transcription_configuration(engine(TranscribeLanguageCode::EnUs))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
    // Deleting the meeting ends its transcription.
    c.delete_meeting().meeting_id(&m).send().await.unwrap();
    let e = c
        .stop_meeting_transcription()
        .meeting_id(&m)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

#[tokio::test]
async fn tags() {
    let s = Server::start();
    let c = s.client();
    let (m, arn) = meeting(&c).await;
    assert_eq!(
        arn,
        format!("arn:aws:chime:us-east-1:{ACCOUNT}:meeting/{m}")
    );
    c.tag_resource()
        .resource_arn(&arn)
        .tags(tag("team", "blue"))
        .tags(tag("env", "dev"))
        .send()
        .await
        .unwrap();
    c.tag_resource()
        .resource_arn(&arn)
        .tags(tag("team", "red"))
        .send()
        .await
        .unwrap();
    let listed = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags(), [tag("team", "red"), tag("env", "dev")]);
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .tag_keys("absent")
        .send()
        .await
        .unwrap();
    let listed = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.tags(), [tag("env", "dev")]);

    let mut req = c.tag_resource().resource_arn(&arn);
    for i in 0..50 {
        req = req.tags(tag(&format!("k{i}"), "v"));
    }
    let e = req.send().await.unwrap_err();
    assert_eq!(err_code(&e), ("TooManyTagsException".into(), 400));
    assert_eq!(
        c.list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .unwrap()
            .tags()
            .len(),
        1
    );

    let unknown = format!("arn:aws:chime:us-east-1:{ACCOUNT}:meeting/{UNKNOWN}");
    let e = c
        .list_tags_for_resource()
        .resource_arn(&unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("ResourceNotFoundException".into(), 404));
    match e.into_service_error() {
        chime::operation::list_tags_for_resource::ListTagsForResourceError::ResourceNotFoundException(r) => {
            assert_eq!(r.resource_name.as_deref(), Some(unknown.as_str()));
        }
        other => panic!("{other:?}"),
    }
    let other_region = format!("arn:aws:chime:eu-west-1:{ACCOUNT}:meeting/{m}");
    let e = c
        .tag_resource()
        .resource_arn(&other_region)
        .tags(tag("a", "b"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "ResourceNotFoundException");
    let other_account = format!("arn:aws:chime:us-east-1:999999999999:meeting/{m}");
    let e = c
        .untag_resource()
        .resource_arn(&other_account)
        .tag_keys("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "ResourceNotFoundException");
    for bad in ["not-an-arn", "arn:aws:chime:us-east-1:1:channel/x"] {
        let e = c
            .list_tags_for_resource()
            .resource_arn(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e).0, "BadRequestException", "{bad}");
    }
    let e = c
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("aws:reserved", "v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");

    c.delete_meeting().meeting_id(&m).send().await.unwrap();
    let e = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "ResourceNotFoundException");
}
