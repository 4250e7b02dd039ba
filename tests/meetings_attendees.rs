//! The nine meetings-and-attendees operations, driven by the official Rust SDK.

mod common;

use std::collections::HashSet;

use aws_sdk_chimesdkmeetings as chime;
use chime::types::{
    AttendeeCapabilities, AttendeeFeatures, AudioFeatures, ContentFeatures, ContentResolution,
    CreateAttendeeRequestItem, MediaCapabilities, MeetingFeatureStatus,
    MeetingFeaturesConfiguration, NotificationsConfiguration, Tag, VideoFeatures, VideoResolution,
};
use common::{err_code, new_token, Server, ACCOUNT};

const UNKNOWN: &str = "0f0f0f0f-1111-2222-3333-444455556666";

async fn meeting(c: &chime::Client) -> chime::types::Meeting {
    c.create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("standup")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
}

async fn meeting_with(c: &chime::Client, features: MeetingFeaturesConfiguration) -> String {
    c.create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("featured")
        .meeting_features(features)
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
        .meeting_id
        .unwrap()
}

fn caps(a: MediaCapabilities, v: MediaCapabilities, c: MediaCapabilities) -> AttendeeCapabilities {
    AttendeeCapabilities::builder()
        .audio(a)
        .video(v)
        .content(c)
        .build()
        .unwrap()
}

fn item(user: &str) -> CreateAttendeeRequestItem {
    CreateAttendeeRequestItem::builder()
        .external_user_id(user)
        .build()
        .unwrap()
}

#[tokio::test]
async fn meeting_lifecycle() {
    let s = Server::start();
    let c = s.client_in("eu-west-2");
    let out = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("eu-central-1")
        .external_meeting_id("weekly sync")
        .meeting_host_id("host-1")
        .tenant_ids("tenant-a")
        .tags(Tag::builder().key("team").value("blue").build().unwrap())
        .notifications_configuration(
            NotificationsConfiguration::builder()
                .sqs_queue_arn("arn:aws:sqs:eu-west-2:123456789012:events")
                .build(),
        )
        .meeting_features(
            MeetingFeaturesConfiguration::builder()
                .audio(
                    AudioFeatures::builder()
                        .echo_reduction(MeetingFeatureStatus::Available)
                        .build(),
                )
                .video(
                    VideoFeatures::builder()
                        .max_resolution(VideoResolution::Hd)
                        .build(),
                )
                .content(
                    ContentFeatures::builder()
                        .max_resolution(ContentResolution::Fhd)
                        .build(),
                )
                .attendee(AttendeeFeatures::builder().max_count(10).build())
                .build(),
        )
        .media_placement_network_type(chime::types::MediaPlacementNetworkType::DualStack)
        .send()
        .await
        .unwrap();
    let m = out.meeting.unwrap();
    let id = m.meeting_id.clone().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(
        m.meeting_arn.as_deref(),
        Some(format!("arn:aws:chime:eu-west-2:{ACCOUNT}:meeting/{id}").as_str())
    );
    assert_eq!(m.media_region.as_deref(), Some("eu-central-1"));
    assert_eq!(m.external_meeting_id.as_deref(), Some("weekly sync"));
    assert_eq!(m.meeting_host_id.as_deref(), Some("host-1"));
    assert_eq!(m.tenant_ids(), ["tenant-a".to_string()]);
    let f = m.meeting_features.clone().unwrap();
    assert_eq!(f.attendee.unwrap().max_count, Some(10));
    assert_eq!(
        f.audio.unwrap().echo_reduction,
        Some(MeetingFeatureStatus::Available)
    );
    let p = m.media_placement.clone().unwrap();
    let signaling = p.signaling_url.unwrap();
    assert!(
        signaling.ends_with(&format!("/control/{id}")),
        "{signaling}"
    );
    assert!(signaling.starts_with("ws://127.0.0.1:"));
    assert!(!signaling.contains('?'));
    for url in [
        p.audio_host_url,
        p.audio_fallback_url,
        p.turn_control_url,
        p.screen_data_url,
        p.screen_viewing_url,
        p.screen_sharing_url,
        p.event_ingestion_url,
    ] {
        assert!(url.is_some_and(|u| !u.is_empty()));
    }

    let got = c.get_meeting().meeting_id(&id).send().await.unwrap();
    assert_eq!(got.meeting.unwrap(), m);

    // CreateAttendee keeps the meetings it has read: once this one is
    // deleted, it must still be refused.
    c.create_attendee()
        .meeting_id(&id)
        .external_user_id("early")
        .send()
        .await
        .unwrap();
    c.delete_meeting().meeting_id(&id).send().await.unwrap();
    let e = c.get_meeting().meeting_id(&id).send().await.unwrap_err();
    assert_eq!(err_code(&e), ("NotFoundException".into(), 404));
    let e = c.delete_meeting().meeting_id(&id).send().await.unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
    let e = c
        .create_attendee()
        .meeting_id(&id)
        .external_user_id("late")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
    let e = c.list_attendees().meeting_id(&id).send().await.unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
}

#[tokio::test]
async fn ids_malformed_or_unknown() {
    let s = Server::start();
    let c = s.client();
    let e = c
        .get_meeting()
        .meeting_id("not-a-guid")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("BadRequestException".into(), 400));
    let e = c
        .get_meeting()
        .meeting_id(UNKNOWN)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("NotFoundException".into(), 404));
    let m = meeting(&c).await.meeting_id.unwrap();
    let e = c
        .get_attendee()
        .meeting_id(&m)
        .attendee_id("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let e = c
        .get_attendee()
        .meeting_id(&m)
        .attendee_id(UNKNOWN)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
    let e = c
        .delete_attendee()
        .meeting_id(&m)
        .attendee_id(UNKNOWN)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
}

#[tokio::test]
async fn create_meeting_validation() {
    let s = Server::start();
    let c = s.client();
    let base = || {
        c.create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id("ok-meeting")
    };
    let cases: Vec<(
        &str,
        chime::operation::create_meeting::builders::CreateMeetingFluentBuilder,
    )> = vec![
        ("MediaRegion", base().media_region("mars-1")),
        (
            "ExternalMeetingId",
            base().external_meeting_id("aws:meeting"),
        ),
        (
            "ExternalMeetingId",
            base().external_meeting_id("AWS:meeting"),
        ),
        ("ExternalMeetingId", base().external_meeting_id("x")),
        (
            "ExternalMeetingId",
            base().external_meeting_id("a".repeat(65)),
        ),
        ("ExternalMeetingId", base().external_meeting_id("bad*chars")),
        ("MeetingHostId", base().meeting_host_id("aws:host")),
        (
            "ClientRequestToken",
            base().client_request_token("has space"),
        ),
        ("TenantIds[0]", base().tenant_ids("aaaa")),
        (
            "TenantIds",
            base()
                .tenant_ids("t1")
                .tenant_ids("t2")
                .tenant_ids("t3")
                .tenant_ids("t4")
                .tenant_ids("t5")
                .tenant_ids("t6"),
        ),
        (
            "Tags[0].Key",
            base().tags(Tag::builder().key("aws:x").value("v").build().unwrap()),
        ),
        (
            "NotificationsConfiguration.SnsTopicArn",
            base().notifications_configuration(
                NotificationsConfiguration::builder()
                    .sns_topic_arn("not an arn")
                    .build(),
            ),
        ),
        (
            "MeetingFeatures.Attendee.MaxCount",
            base().meeting_features(
                MeetingFeaturesConfiguration::builder()
                    .attendee(AttendeeFeatures::builder().max_count(251).build())
                    .build(),
            ),
        ),
        ("PrimaryMeetingId", base().primary_meeting_id(UNKNOWN)),
    ];
    for (member, req) in cases {
        let e = req.send().await.unwrap_err();
        let (code, status) = err_code(&e);
        assert_eq!(
            (code.as_str(), status),
            ("BadRequestException", 400),
            "{member}"
        );
        let msg = e.into_service_error().to_string();
        assert!(msg.contains(member), "message {msg:?} should name {member}");
    }
    let mut fifty = base();
    for i in 0..50 {
        fifty = fifty.tags(
            Tag::builder()
                .key(format!("k{i}"))
                .value("v")
                .build()
                .unwrap(),
        );
    }
    fifty.send().await.unwrap();
    let e = fifty_one(base()).send().await.unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    // Every documented media region, GovCloud included, is accepted.
    for region in ["us-gov-east-1", "us-gov-west-1", "af-south-1", "eu-south-1"] {
        base().media_region(region).send().await.unwrap();
    }
}

fn fifty_one(
    mut b: chime::operation::create_meeting::builders::CreateMeetingFluentBuilder,
) -> chime::operation::create_meeting::builders::CreateMeetingFluentBuilder {
    for i in 0..51 {
        b = b.tags(
            Tag::builder()
                .key(format!("k{i}"))
                .value("v")
                .build()
                .unwrap(),
        );
    }
    b
}

#[tokio::test]
async fn client_request_token_is_idempotent_even_concurrently() {
    let s = Server::start();
    let c = s.client();
    let token = new_token();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let c = c.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            c.create_meeting()
                .client_request_token(token)
                .media_region("us-east-1")
                .external_meeting_id("once")
                .send()
                .await
                .unwrap()
                .meeting
                .unwrap()
                .meeting_id
                .unwrap()
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one token, one meeting");

    // The same for CreateMeetingWithAttendees: same meeting, same attendees.
    let token = new_token();
    let call = || {
        c.create_meeting_with_attendees()
            .client_request_token(&token)
            .media_region("us-west-2")
            .external_meeting_id("with-people")
            .attendees(item("alice"))
            .attendees(item("bob"))
            .send()
    };
    let (a, b) = tokio::join!(call(), call());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.meeting, b.meeting);
    assert_eq!(a.attendees, b.attendees);
    assert_eq!(a.attendees().len(), 2);
    assert!(a.errors().is_empty());
    let again = call().await.unwrap();
    assert_eq!(again.attendees, a.attendees);
    let m = a.meeting.unwrap().meeting_id.unwrap();
    let roster = c.list_attendees().meeting_id(&m).send().await.unwrap();
    assert_eq!(roster.attendees().len(), 2);
}

#[tokio::test]
async fn attendees_are_idempotent_on_external_user_id() {
    let s = Server::start();
    let c = s.client();
    let m = meeting(&c).await.meeting_id.unwrap();
    let a = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("alice")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    assert_eq!(
        a.capabilities.clone().unwrap(),
        caps(
            MediaCapabilities::SendReceive,
            MediaCapabilities::SendReceive,
            MediaCapabilities::SendReceive
        )
    );
    let token = a.join_token.clone().unwrap();
    assert!(token.len() >= 22);
    assert!(token
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
    let again = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("alice")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    assert_eq!(again, a);
    let got = c
        .get_attendee()
        .meeting_id(&m)
        .attendee_id(a.attendee_id.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.attendee.unwrap(), a);
    assert_eq!(
        c.list_attendees()
            .meeting_id(&m)
            .send()
            .await
            .unwrap()
            .attendees()
            .len(),
        1
    );

    c.delete_attendee()
        .meeting_id(&m)
        .attendee_id(a.attendee_id.clone().unwrap())
        .send()
        .await
        .unwrap();
    let e = c
        .get_attendee()
        .meeting_id(&m)
        .attendee_id(a.attendee_id.clone().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("NotFoundException".into(), 404));
    let fresh = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("alice")
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    assert_ne!(fresh.attendee_id, a.attendee_id);
    assert_ne!(fresh.join_token, a.join_token);

    let e = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("aws:bot")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let e = c
        .create_attendee()
        .meeting_id(UNKNOWN)
        .external_user_id("bob")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
}

#[tokio::test]
async fn capability_rules() {
    let s = Server::start();
    let c = s.client();
    use MediaCapabilities::{None as Off, Receive, Send, SendReceive};
    let m = meeting(&c).await.meeting_id.unwrap();
    let e = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("u1")
        .capabilities(caps(SendReceive, Off, SendReceive))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let ok = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("u2")
        .capabilities(caps(Receive, Receive, Off))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.attendee.unwrap().capabilities.unwrap(),
        caps(Receive, Receive, Off)
    );

    let no_video = meeting_with(
        &c,
        MeetingFeaturesConfiguration::builder()
            .video(
                VideoFeatures::builder()
                    .max_resolution(VideoResolution::None)
                    .build(),
            )
            .build(),
    )
    .await;
    let e = c
        .create_attendee()
        .meeting_id(&no_video)
        .external_user_id("u3")
        .capabilities(caps(SendReceive, Send, Off))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let d = c
        .create_attendee()
        .meeting_id(&no_video)
        .external_user_id("u4")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.attendee.unwrap().capabilities.unwrap(),
        caps(SendReceive, Receive, SendReceive)
    );

    let no_content = meeting_with(
        &c,
        MeetingFeaturesConfiguration::builder()
            .content(
                ContentFeatures::builder()
                    .max_resolution(ContentResolution::None)
                    .build(),
            )
            .build(),
    )
    .await;
    let e = c
        .create_attendee()
        .meeting_id(&no_content)
        .external_user_id("u5")
        .capabilities(caps(SendReceive, SendReceive, Send))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
}

#[tokio::test]
async fn attendee_limits() {
    let s = Server::start();
    let c = s.client();
    let m = meeting_with(
        &c,
        MeetingFeaturesConfiguration::builder()
            .attendee(AttendeeFeatures::builder().max_count(2).build())
            .build(),
    )
    .await;
    c.create_attendee()
        .meeting_id(&m)
        .external_user_id("one")
        .send()
        .await
        .unwrap();
    let two = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("two")
        .send()
        .await
        .unwrap();
    let e = c
        .create_attendee()
        .meeting_id(&m)
        .external_user_id("three")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("LimitExceededException".into(), 400));
    // A repeat of an existing attendee takes no slot.
    c.create_attendee()
        .meeting_id(&m)
        .external_user_id("two")
        .send()
        .await
        .unwrap();
    // Deleted attendees free their slot.
    c.delete_attendee()
        .meeting_id(&m)
        .attendee_id(two.attendee.unwrap().attendee_id.unwrap())
        .send()
        .await
        .unwrap();
    c.create_attendee()
        .meeting_id(&m)
        .external_user_id("three")
        .send()
        .await
        .unwrap();

    // The default limit is 250.
    let big = meeting(&c).await.meeting_id.unwrap();
    for batch in 0..3 {
        let mut req = c.batch_create_attendee().meeting_id(&big);
        for i in 0..100 {
            req = req.attendees(item(&format!("user-{batch}-{i}")));
        }
        let out = req.send().await.unwrap();
        let created = out.attendees().len();
        let failed = out.errors().len();
        assert_eq!(created + failed, 100);
        if batch < 2 {
            assert_eq!(created, 100);
        } else {
            assert_eq!(created, 50);
            assert!(out
                .errors()
                .iter()
                .all(|e| e.error_code.is_some() && e.error_message.is_some()));
        }
    }
    let e = c
        .create_attendee()
        .meeting_id(&big)
        .external_user_id("one-more")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "LimitExceededException");
}

#[tokio::test]
async fn batch_create_reports_item_errors() {
    let s = Server::start();
    let c = s.client();
    let m = meeting(&c).await.meeting_id.unwrap();
    let out = c
        .batch_create_attendee()
        .meeting_id(&m)
        .attendees(item("alice"))
        .attendees(item("aws:nope"))
        .attendees(
            CreateAttendeeRequestItem::builder()
                .external_user_id("carol")
                .capabilities(caps(
                    MediaCapabilities::SendReceive,
                    MediaCapabilities::None,
                    MediaCapabilities::Receive,
                ))
                .build()
                .unwrap(),
        )
        .attendees(item("dave"))
        .send()
        .await
        .unwrap();
    let names: Vec<_> = out
        .attendees()
        .iter()
        .map(|a| a.external_user_id.clone().unwrap())
        .collect();
    assert_eq!(names, ["alice", "dave"]);
    let errs: Vec<_> = out
        .errors()
        .iter()
        .map(|e| e.external_user_id.clone().unwrap())
        .collect();
    assert_eq!(errs, ["aws:nope", "carol"]);
    assert!(out.errors()[0]
        .error_message()
        .unwrap()
        .contains("ExternalUserId"));

    let mut too_many = c.batch_create_attendee().meeting_id(&m);
    for i in 0..101 {
        too_many = too_many.attendees(item(&format!("u{i}")));
    }
    let e = too_many.send().await.unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    let e = c
        .batch_create_attendee()
        .meeting_id(&m)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");

    let mut too_many = c
        .create_meeting_with_attendees()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("big");
    for i in 0..21 {
        too_many = too_many.attendees(item(&format!("u{i}")));
    }
    let e = too_many.send().await.unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
}

#[tokio::test]
async fn list_attendees_pages_while_the_roster_changes() {
    let s = Server::start();
    let c = s.client();
    let m = meeting(&c).await.meeting_id.unwrap();
    let mut req = c.batch_create_attendee().meeting_id(&m);
    for i in 0..10 {
        req = req.attendees(item(&format!("user-{i:02}")));
    }
    let created = req.send().await.unwrap().attendees;
    let created = created.unwrap();

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut page_no = 0;
    loop {
        let page = c
            .list_attendees()
            .meeting_id(&m)
            .max_results(3)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.attendees().len() <= 3);
        seen.extend(
            page.attendees()
                .iter()
                .map(|a| a.external_user_id.clone().unwrap()),
        );
        page_no += 1;
        if page_no == 1 {
            // Between pages: delete one already seen and one not yet seen, add one.
            c.delete_attendee()
                .meeting_id(&m)
                .attendee_id(created[0].attendee_id.clone().unwrap())
                .send()
                .await
                .unwrap();
            c.delete_attendee()
                .meeting_id(&m)
                .attendee_id(created[5].attendee_id.clone().unwrap())
                .send()
                .await
                .unwrap();
            c.create_attendee()
                .meeting_id(&m)
                .external_user_id("late-comer")
                .send()
                .await
                .unwrap();
        }
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    let mut expected: Vec<String> = (0..10)
        .filter(|i| *i != 5)
        .map(|i| format!("user-{i:02}"))
        .collect();
    expected.push("late-comer".into());
    assert_eq!(
        seen, expected,
        "creation order, nothing skipped or repeated"
    );

    // The paginator of the SDK walks the same roster.
    let pages: Vec<_> = c
        .list_attendees()
        .meeting_id(&m)
        .max_results(4)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let total: usize = pages.iter().map(|p| p.attendees().len()).sum();
    assert_eq!(total, 9);

    for bad in ["garbage", "AAAA", &"x".repeat(5000)] {
        let e = c
            .list_attendees()
            .meeting_id(&m)
            .next_token(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e).0, "BadRequestException", "{bad}");
    }
    // A token from one meeting is no good for another.
    let first = c
        .list_attendees()
        .meeting_id(&m)
        .max_results(1)
        .send()
        .await
        .unwrap();
    let other = meeting(&c).await.meeting_id.unwrap();
    let e = c
        .list_attendees()
        .meeting_id(&other)
        .next_token(first.next_token.unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    for bad in [0, 101] {
        let e = c
            .list_attendees()
            .meeting_id(&m)
            .max_results(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e).0, "BadRequestException");
    }
}

#[tokio::test]
async fn replicas() {
    let s = Server::start();
    let c = s.client();
    let primary = meeting(&c).await.meeting_id.unwrap();
    let mut replicas = Vec::new();
    for _ in 0..4 {
        let r = c
            .create_meeting()
            .client_request_token(new_token())
            .media_region("eu-west-1")
            .external_meeting_id("replica")
            .primary_meeting_id(&primary)
            .send()
            .await
            .unwrap()
            .meeting
            .unwrap();
        assert_eq!(r.primary_meeting_id.as_deref(), Some(primary.as_str()));
        replicas.push(r.meeting_id.unwrap());
    }
    let e = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("eu-west-1")
        .external_meeting_id("replica")
        .primary_meeting_id(&primary)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "LimitExceededException");
    let e = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("eu-west-1")
        .external_meeting_id("replica")
        .primary_meeting_id(&replicas[0])
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "BadRequestException");
    c.delete_meeting()
        .meeting_id(&primary)
        .send()
        .await
        .unwrap();
    for r in replicas {
        let e = c.get_meeting().meeting_id(&r).send().await.unwrap_err();
        assert_eq!(err_code(&e).0, "NotFoundException");
    }
}
