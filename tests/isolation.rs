//! Account isolation: two accounts on one server (A with two access keys, B with
//! one). Whatever B does with A's ids, ARNs, tokens or ExternalUserIds, A's
//! resources behave as if they did not exist for B, and nothing of A changes.

mod common;

use std::fmt::Debug;
use std::path::PathBuf;

use aws_sdk_chimesdkmeetings as chime;
use chime::config::http::HttpResponse;
use chime::error::{ProvideErrorMetadata, SdkError};
use chime::types::{
    Attendee, AttendeeCapabilities, AttendeeIdItem, CreateAttendeeRequestItem,
    EngineTranscribeSettings, MediaCapabilities, Meeting, Tag, TranscribeLanguageCode,
    TranscriptionConfiguration,
};
use common::{err_code, new_attendee, new_token, Server};
use MediaCapabilities::{None as Off, Receive, SendReceive};

const ACCOUNT_A: &str = "111122223333";
const ACCOUNT_B: &str = "444455556666";
const A_KEY1: &str = "AKIDALICE1";
const A_SECRET1: &str = "alice-secret-one/K7MDENG+bPxRfiCYEXAMPLE";
const A_KEY2: &str = "AKIDALICE2";
const A_SECRET2: &str = "alice-secret-two/K7MDENG+bPxRfiCYEXAMPLE";
const B_KEY: &str = "AKIDBOB1";
const B_SECRET: &str = "bob-secret/K7MDENG+bPxRfiCYEXAMPLEKEYBOB";
const REGION: &str = "us-east-1";

/// A server with accounts A and B; the server is dropped (killed) before its directory.
struct TwoAccounts {
    server: Server,
    _dir: tempfile::TempDir,
}

impl TwoAccounts {
    fn start() -> TwoAccounts {
        let dir = tempfile::tempdir().expect("temp dir");
        let creds: PathBuf = dir.path().join("credentials.toml");
        std::fs::write(
            &creds,
            format!(
                "[[credentials]]\naccount_id = \"{ACCOUNT_A}\"\naccess_key_id = \"{A_KEY1}\"\nsecret_access_key = \"{A_SECRET1}\"\n\n\
                 [[credentials]]\naccount_id = \"{ACCOUNT_A}\"\naccess_key_id = \"{A_KEY2}\"\nsecret_access_key = \"{A_SECRET2}\"\n\n\
                 [[credentials]]\naccount_id = \"{ACCOUNT_B}\"\naccess_key_id = \"{B_KEY}\"\nsecret_access_key = \"{B_SECRET}\"\n"
            ),
        )
        .unwrap();
        let data = dir.path().join("data");
        let server = Server::start_in(&data, &["--credentials-file", creds.to_str().unwrap()]);
        TwoAccounts { server, _dir: dir }
    }

    fn a1(&self) -> chime::Client {
        self.server.client_with(REGION, A_KEY1, A_SECRET1)
    }

    fn a2(&self) -> chime::Client {
        self.server.client_with(REGION, A_KEY2, A_SECRET2)
    }

    fn b(&self) -> chime::Client {
        self.server.client_with(REGION, B_KEY, B_SECRET)
    }
}

/// Shape name, HTTP status and message of a service error.
fn err<E>(e: &SdkError<E, HttpResponse>) -> (String, u16, String)
where
    E: ProvideErrorMetadata + Debug,
{
    let (code, status) = err_code(e);
    let message = e
        .as_service_error()
        .and_then(|se| se.message())
        .unwrap_or("")
        .to_string();
    (code, status, message)
}

fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn arn(region: &str, account: &str, meeting_id: &str) -> String {
    format!("arn:aws:chime:{region}:{account}:meeting/{meeting_id}")
}

fn caps(a: MediaCapabilities, v: MediaCapabilities, c: MediaCapabilities) -> AttendeeCapabilities {
    AttendeeCapabilities::builder()
        .audio(a)
        .video(v)
        .content(c)
        .build()
        .unwrap()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

fn transcription() -> TranscriptionConfiguration {
    TranscriptionConfiguration::builder()
        .engine_transcribe_settings(
            EngineTranscribeSettings::builder()
                .language_code(TranscribeLanguageCode::EnUs)
                .build(),
        )
        .build()
}

async fn create_meeting(c: &chime::Client, token: &str, tags: &[Tag]) -> Meeting {
    c.create_meeting()
        .client_request_token(token)
        .media_region("us-east-1")
        .external_meeting_id("isolation")
        .set_tags(if tags.is_empty() {
            None
        } else {
            Some(tags.to_vec())
        })
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap()
}

async fn roster(c: &chime::Client, m: &str) -> Vec<Attendee> {
    c.list_attendees()
        .meeting_id(m)
        .max_results(100)
        .send()
        .await
        .unwrap()
        .attendees
        .unwrap_or_default()
}

async fn tags_of(c: &chime::Client, arn: &str) -> Vec<Tag> {
    c.list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default()
}

/// Everything A can observe about one of its meetings.
#[derive(Debug, PartialEq)]
struct Observed {
    meeting: Meeting,
    attendees: Vec<Attendee>,
    tags: Vec<Tag>,
}

async fn observe(c: &chime::Client, m: &Meeting) -> Observed {
    let id = m.meeting_id.as_deref().unwrap();
    Observed {
        meeting: c
            .get_meeting()
            .meeting_id(id)
            .send()
            .await
            .unwrap()
            .meeting
            .unwrap(),
        attendees: roster(c, id).await,
        tags: tags_of(c, m.meeting_arn.as_deref().unwrap()).await,
    }
}

/// The eleven operations that name a meeting by MeetingId.
#[derive(Debug, Clone, Copy, PartialEq)]
enum IdOp {
    GetMeeting,
    CreateAttendee,
    BatchCreateAttendee,
    GetAttendee,
    ListAttendees,
    UpdateAttendeeCapabilities,
    BatchUpdateAttendeeCapabilitiesExcept,
    StartMeetingTranscription,
    StopMeetingTranscription,
    DeleteAttendee,
    DeleteMeeting,
}

/// Destructive operations last, so that a leak shows in the later checks too.
const ID_OPS: [IdOp; 11] = [
    IdOp::GetMeeting,
    IdOp::CreateAttendee,
    IdOp::BatchCreateAttendee,
    IdOp::GetAttendee,
    IdOp::ListAttendees,
    IdOp::UpdateAttendeeCapabilities,
    IdOp::BatchUpdateAttendeeCapabilitiesExcept,
    IdOp::StartMeetingTranscription,
    IdOp::StopMeetingTranscription,
    IdOp::DeleteAttendee,
    IdOp::DeleteMeeting,
];

type Failure = (String, u16, String);

fn outcome<T: Debug, E: ProvideErrorMetadata + Debug>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> Result<String, Failure> {
    match r {
        Ok(v) => Ok(format!("{v:?}")),
        Err(e) => Err(err(&e)),
    }
}

/// Runs `op` on meeting `m` (and attendee `a` where the operation takes one).
async fn run_id_op(c: &chime::Client, op: IdOp, m: &str, a: &str) -> Result<String, Failure> {
    match op {
        IdOp::GetMeeting => outcome(c.get_meeting().meeting_id(m).send().await),
        IdOp::DeleteMeeting => outcome(c.delete_meeting().meeting_id(m).send().await),
        IdOp::CreateAttendee => outcome(
            c.create_attendee()
                .meeting_id(m)
                .external_user_id("mallory")
                .send()
                .await,
        ),
        IdOp::BatchCreateAttendee => outcome(
            c.batch_create_attendee()
                .meeting_id(m)
                .attendees(
                    CreateAttendeeRequestItem::builder()
                        .external_user_id("mallory")
                        .build()
                        .unwrap(),
                )
                .attendees(
                    CreateAttendeeRequestItem::builder()
                        .external_user_id("alice")
                        .build()
                        .unwrap(),
                )
                .send()
                .await,
        ),
        IdOp::GetAttendee => outcome(c.get_attendee().meeting_id(m).attendee_id(a).send().await),
        IdOp::ListAttendees => outcome(c.list_attendees().meeting_id(m).send().await),
        IdOp::DeleteAttendee => outcome(
            c.delete_attendee()
                .meeting_id(m)
                .attendee_id(a)
                .send()
                .await,
        ),
        IdOp::UpdateAttendeeCapabilities => outcome(
            c.update_attendee_capabilities()
                .meeting_id(m)
                .attendee_id(a)
                .capabilities(caps(Off, Off, Off))
                .send()
                .await,
        ),
        IdOp::BatchUpdateAttendeeCapabilitiesExcept => outcome(
            c.batch_update_attendee_capabilities_except()
                .meeting_id(m)
                .excluded_attendee_ids(AttendeeIdItem::builder().attendee_id(a).build().unwrap())
                .capabilities(caps(Receive, Off, Off))
                .send()
                .await,
        ),
        IdOp::StartMeetingTranscription => outcome(
            c.start_meeting_transcription()
                .meeting_id(m)
                .transcription_configuration(transcription())
                .send()
                .await,
        ),
        IdOp::StopMeetingTranscription => {
            outcome(c.stop_meeting_transcription().meeting_id(m).send().await)
        }
    }
}

/// `msg` with each id replaced by a placeholder.
fn normalize(msg: &str, ids: &[&str]) -> String {
    let mut out = msg.to_string();
    for (i, id) in ids.iter().enumerate() {
        out = out.replace(id, &format!("<id{i}>"));
    }
    out
}

/// Asserts that B's attempt on A's (meeting, attendee) fails exactly as the same
/// attempt on an unknown meeting and attendee does: NotFoundException, 404, and
/// the same message but for the ids.
async fn assert_like_unknown(b: &chime::Client, op: IdOp, m: &str, a: &str) {
    let got = run_id_op(b, op, m, a).await;
    let (um, ua) = (guid(), guid());
    let unknown = run_id_op(b, op, &um, &ua).await;
    let got = got.unwrap_err_or_panic(op, "A's meeting");
    let unknown = unknown.unwrap_err_or_panic(op, "an unknown meeting");
    assert_eq!(
        (got.0.as_str(), got.1),
        ("NotFoundException", 404),
        "{op:?} by B on A's meeting: {got:?}"
    );
    assert_eq!(
        (unknown.0.as_str(), unknown.1),
        ("NotFoundException", 404),
        "{op:?} by B on an unknown meeting: {unknown:?}"
    );
    assert!(!got.2.is_empty(), "{op:?}: empty message");
    assert_eq!(
        normalize(&got.2, &[m, a]),
        normalize(&unknown.2, &[&um, &ua]),
        "{op:?}: B can tell A's meeting from an unknown one by the message"
    );
}

trait UnwrapErr {
    fn unwrap_err_or_panic(self, op: IdOp, what: &str) -> Failure;
}

impl UnwrapErr for Result<String, Failure> {
    fn unwrap_err_or_panic(self, op: IdOp, what: &str) -> Failure {
        match self {
            Err(f) => f,
            Ok(v) => panic!("{op:?} by B on {what} succeeded: {v}"),
        }
    }
}

/// The three tag operations, each with its ResourceName on ResourceNotFoundException.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::enum_variant_names)] // the operations' own names
enum TagOp {
    ListTagsForResource,
    TagResource,
    UntagResource,
}

const TAG_OPS: [TagOp; 3] = [
    TagOp::ListTagsForResource,
    TagOp::TagResource,
    TagOp::UntagResource,
];

/// Runs a tag operation on `arn`: Ok, or the failure and its ResourceName.
async fn run_tag_op(
    c: &chime::Client,
    op: TagOp,
    arn: &str,
) -> Result<String, (Failure, Option<String>)> {
    use chime::operation::{
        list_tags_for_resource::ListTagsForResourceError as L, tag_resource::TagResourceError as T,
        untag_resource::UntagResourceError as U,
    };
    match op {
        TagOp::ListTagsForResource => {
            match c.list_tags_for_resource().resource_arn(arn).send().await {
                Ok(v) => Ok(format!("{v:?}")),
                Err(e) => {
                    let f = err(&e);
                    let name = match e.into_service_error() {
                        L::ResourceNotFoundException(r) => r.resource_name,
                        _ => None,
                    };
                    Err((f, name))
                }
            }
        }
        TagOp::TagResource => match c
            .tag_resource()
            .resource_arn(arn)
            .tags(tag("team", "mallory"))
            .tags(tag("owner", "mallory"))
            .send()
            .await
        {
            Ok(v) => Ok(format!("{v:?}")),
            Err(e) => {
                let f = err(&e);
                let name = match e.into_service_error() {
                    T::ResourceNotFoundException(r) => r.resource_name,
                    _ => None,
                };
                Err((f, name))
            }
        },
        TagOp::UntagResource => match c
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("team")
            .tag_keys("env")
            .send()
            .await
        {
            Ok(v) => Ok(format!("{v:?}")),
            Err(e) => {
                let f = err(&e);
                let name = match e.into_service_error() {
                    U::ResourceNotFoundException(r) => r.resource_name,
                    _ => None,
                };
                Err((f, name))
            }
        },
    }
}

/// Asserts that a tag operation by `c` on `arn` fails as for a meeting that does
/// not exist: ResourceNotFoundException, 404, ResourceName = the ARN, and the
/// message of the same ARN with an unknown MeetingId but for the id.
async fn assert_tag_not_found(c: &chime::Client, op: TagOp, arn: &str, meeting_id: &str) {
    let (got, name) = match run_tag_op(c, op, arn).await {
        Err(x) => x,
        Ok(v) => panic!("{op:?} on {arn} succeeded: {v}"),
    };
    assert_eq!(
        (got.0.as_str(), got.1),
        ("ResourceNotFoundException", 404),
        "{op:?} on {arn}: {got:?}"
    );
    assert_eq!(name.as_deref(), Some(arn), "{op:?} on {arn}: ResourceName");
    let um = guid();
    let unknown_arn = arn.replace(meeting_id, &um);
    let (unknown, uname) = match run_tag_op(c, op, &unknown_arn).await {
        Err(x) => x,
        Ok(v) => panic!("{op:?} on {unknown_arn} succeeded: {v}"),
    };
    assert_eq!(
        (unknown.0.as_str(), unknown.1),
        ("ResourceNotFoundException", 404)
    );
    assert_eq!(uname.as_deref(), Some(unknown_arn.as_str()));
    assert_eq!(
        normalize(&got.2, &[meeting_id]),
        normalize(&unknown.2, &[&um]),
        "{op:?}: the message tells A's meeting from an unknown one"
    );
}

#[tokio::test]
async fn account_b_cannot_reach_account_a() {
    let s = TwoAccounts::start();
    let (a, b) = (s.a1(), s.b());

    // A: meeting 1 with tags, three attendees (one with changed capabilities) and
    // transcription running; meeting 2 with one attendee and no transcription.
    let m1 = create_meeting(&a, &new_token(), &[tag("team", "red"), tag("env", "prod")]).await;
    let m1_id = m1.meeting_id.clone().unwrap();
    let m1_arn = m1.meeting_arn.clone().unwrap();
    let alice = new_attendee(&a, &m1_id, "alice").await;
    let bob = new_attendee(&a, &m1_id, "bob").await;
    let batch = a
        .batch_create_attendee()
        .meeting_id(&m1_id)
        .attendees(
            CreateAttendeeRequestItem::builder()
                .external_user_id("carol")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(batch.errors.unwrap_or_default().is_empty());
    let carol = batch.attendees.unwrap().remove(0);
    a.update_attendee_capabilities()
        .meeting_id(&m1_id)
        .attendee_id(bob.attendee_id.as_deref().unwrap())
        .capabilities(caps(Receive, Receive, Off))
        .send()
        .await
        .unwrap();
    a.start_meeting_transcription()
        .meeting_id(&m1_id)
        .transcription_configuration(transcription())
        .send()
        .await
        .unwrap();
    let m2 = create_meeting(&a, &new_token(), &[tag("only", "m2")]).await;
    let m2_id = m2.meeting_id.clone().unwrap();
    let dave = new_attendee(&a, &m2_id, "dave").await;

    let before1 = observe(&a, &m1).await;
    let before2 = observe(&a, &m2).await;
    assert_eq!(before1.attendees.len(), 3);
    assert_eq!(before1.tags.len(), 2);

    // B on every MeetingId operation, with A's meeting and A's attendees.
    for (m, att) in [
        (&m1_id, alice.attendee_id.as_deref().unwrap()),
        (&m1_id, bob.attendee_id.as_deref().unwrap()),
        (&m1_id, carol.attendee_id.as_deref().unwrap()),
        (&m2_id, dave.attendee_id.as_deref().unwrap()),
    ] {
        for op in ID_OPS {
            assert_like_unknown(&b, op, m, att).await;
        }
    }

    // ListAttendees by B with a NextToken A was given for A's meeting.
    let page = a
        .list_attendees()
        .meeting_id(&m1_id)
        .max_results(1)
        .send()
        .await
        .unwrap();
    let a_token = page.next_token.expect("a second page");
    let e = b
        .list_attendees()
        .meeting_id(&m1_id)
        .next_token(&a_token)
        .send()
        .await
        .unwrap_err();
    let got = err(&e);
    let um = guid();
    let e = b.list_attendees().meeting_id(&um).send().await.unwrap_err();
    let unknown = err(&e);
    assert_eq!(
        (got.0.as_str(), got.1),
        ("NotFoundException", 404),
        "{got:?}"
    );
    assert_eq!(normalize(&got.2, &[&m1_id]), normalize(&unknown.2, &[&um]));

    // B on the three tag operations with A's MeetingArn, and with an ARN of A's
    // meeting id in B's own account.
    let b_arn_of_a_meeting = arn(REGION, ACCOUNT_B, &m1_id);
    for op in TAG_OPS {
        for (arn, id) in [
            (m1_arn.as_str(), m1_id.as_str()),
            (m2.meeting_arn.as_deref().unwrap(), m2_id.as_str()),
            (b_arn_of_a_meeting.as_str(), m1_id.as_str()),
        ] {
            assert_tag_not_found(&b, op, arn, id).await;
        }
    }

    // B's attempts with A's attendee ids inside B's own meeting.
    let mb = create_meeting(&b, &new_token(), &[]).await;
    let mb_id = mb.meeting_id.clone().unwrap();
    let b_alice = new_attendee(&b, &mb_id, "alice").await;
    for att in [&alice, &bob, &carol] {
        let aid = att.attendee_id.as_deref().unwrap();
        for op in [
            IdOp::GetAttendee,
            IdOp::UpdateAttendeeCapabilities,
            IdOp::DeleteAttendee,
        ] {
            let got = run_id_op(&b, op, &mb_id, aid)
                .await
                .unwrap_err_or_panic(op, "B's meeting with A's attendee");
            let ua = guid();
            let unknown = run_id_op(&b, op, &mb_id, &ua)
                .await
                .unwrap_err_or_panic(op, "B's meeting with an unknown attendee");
            assert_eq!(
                (got.0.as_str(), got.1),
                ("NotFoundException", 404),
                "{op:?}: {got:?}"
            );
            assert_eq!(
                normalize(&got.2, &[aid]),
                normalize(&unknown.2, &[&ua]),
                "{op:?}"
            );
        }
    }
    // Excluding A's attendees in B's meeting changes B's roster only.
    b.batch_update_attendee_capabilities_except()
        .meeting_id(&mb_id)
        .excluded_attendee_ids(
            AttendeeIdItem::builder()
                .attendee_id(alice.attendee_id.as_deref().unwrap())
                .build()
                .unwrap(),
        )
        .capabilities(caps(Receive, Off, Off))
        .send()
        .await
        .unwrap();
    let b_roster = roster(&b, &mb_id).await;
    assert_eq!(b_roster.len(), 1);
    assert_eq!(b_roster[0].attendee_id, b_alice.attendee_id);
    assert_eq!(b_roster[0].capabilities, Some(caps(Receive, Off, Off)));

    // After all of B's attempts, A sees exactly what it had.
    assert_eq!(observe(&a, &m1).await, before1);
    assert_eq!(observe(&a, &m2).await, before2);
    assert_eq!(
        before1.attendees[1].capabilities,
        Some(caps(Receive, Receive, Off))
    );
    assert_eq!(
        before1.attendees[0].capabilities,
        Some(caps(SendReceive, SendReceive, SendReceive))
    );
    // Transcription: still running on meeting 1 (B's stops did nothing), still not
    // running on meeting 2 (B's starts did nothing).
    a.stop_meeting_transcription()
        .meeting_id(&m1_id)
        .send()
        .await
        .expect("A's transcription is still running");
    let e = a
        .stop_meeting_transcription()
        .meeting_id(&m2_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        ("UnprocessableEntityException".into(), 422),
        "B started transcription on A's meeting 2"
    );
    // A's own operations still work on its meeting.
    a.delete_attendee()
        .meeting_id(&m1_id)
        .attendee_id(carol.attendee_id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    a.delete_meeting().meeting_id(&m2_id).send().await.unwrap();
    // B's meeting is untouched by A's deletions.
    assert_eq!(roster(&b, &mb_id).await.len(), 1);
}

#[tokio::test]
async fn client_request_tokens_are_per_account() {
    let s = TwoAccounts::start();
    let (a, a2, b) = (s.a1(), s.a2(), s.b());
    let token = new_token();

    let ma = create_meeting(&a, &token, &[]).await;
    let ma_id = ma.meeting_id.clone().unwrap();
    assert_eq!(
        ma.meeting_arn.as_deref(),
        Some(arn(REGION, ACCOUNT_A, &ma_id).as_str())
    );

    // B with A's token: a new meeting, in B.
    let mb = create_meeting(&b, &token, &[]).await;
    let mb_id = mb.meeting_id.clone().unwrap();
    assert_ne!(mb_id, ma_id);
    assert_eq!(
        mb.meeting_arn.as_deref(),
        Some(arn(REGION, ACCOUNT_B, &mb_id).as_str())
    );
    b.get_meeting().meeting_id(&mb_id).send().await.unwrap();
    let e = a.get_meeting().meeting_id(&mb_id).send().await.unwrap_err();
    assert_eq!(err_code(&e), ("NotFoundException".into(), 404));

    // Replays within each account return that account's meeting (with either of A's keys).
    for c in [&a, &a2] {
        let again = create_meeting(c, &token, &[]).await;
        assert_eq!(again.meeting_id.as_deref(), Some(ma_id.as_str()));
        assert_eq!(again.meeting_arn, ma.meeting_arn);
    }
    let again = create_meeting(&b, &token, &[]).await;
    assert_eq!(again.meeting_id.as_deref(), Some(mb_id.as_str()));

    // CreateMeetingWithAttendees replays the same way, per account.
    for (c, want) in [(&a, &ma_id), (&a2, &ma_id), (&b, &mb_id)] {
        let out = c
            .create_meeting_with_attendees()
            .client_request_token(&token)
            .media_region("us-east-1")
            .external_meeting_id("isolation")
            .attendees(
                CreateAttendeeRequestItem::builder()
                    .external_user_id("alice")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.meeting.unwrap().meeting_id.as_deref(),
            Some(want.as_str())
        );
    }
    // Each account's "alice" lives in its own meeting.
    let ra = roster(&a, &ma_id).await;
    let rb = roster(&b, &mb_id).await;
    assert_eq!(ra.len(), 1);
    assert_eq!(rb.len(), 1);
    assert_ne!(ra[0].attendee_id, rb[0].attendee_id);

    // B deleting its meeting releases B's token only.
    b.delete_meeting().meeting_id(&mb_id).send().await.unwrap();
    let fresh = create_meeting(&b, &token, &[]).await;
    assert_ne!(fresh.meeting_id.as_deref(), Some(mb_id.as_str()));
    assert_ne!(fresh.meeting_id.as_deref(), Some(ma_id.as_str()));
    let again = create_meeting(&a, &token, &[]).await;
    assert_eq!(again.meeting_id.as_deref(), Some(ma_id.as_str()));
    assert_eq!(roster(&a, &ma_id).await, ra);
}

#[tokio::test]
async fn external_user_ids_are_per_meeting() {
    let s = TwoAccounts::start();
    let (a, b) = (s.a1(), s.b());
    let ma = create_meeting(&a, &new_token(), &[]).await;
    let ma_id = ma.meeting_id.unwrap();
    let mb = create_meeting(&b, &new_token(), &[]).await;
    let mb_id = mb.meeting_id.unwrap();

    let a_alice = new_attendee(&a, &ma_id, "alice").await;
    let b_alice = new_attendee(&b, &mb_id, "alice").await;
    assert_ne!(a_alice.attendee_id, b_alice.attendee_id);
    assert_ne!(a_alice.join_token, b_alice.join_token);
    assert_eq!(b_alice.external_user_id.as_deref(), Some("alice"));

    // Idempotent repeats stay within each meeting.
    assert_eq!(new_attendee(&a, &ma_id, "alice").await, a_alice);
    assert_eq!(new_attendee(&b, &mb_id, "alice").await, b_alice);
    let out = b
        .batch_create_attendee()
        .meeting_id(&mb_id)
        .attendees(
            CreateAttendeeRequestItem::builder()
                .external_user_id("alice")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.attendees.unwrap(), vec![b_alice.clone()]);

    // B deleting its alice leaves A's alice.
    b.delete_attendee()
        .meeting_id(&mb_id)
        .attendee_id(b_alice.attendee_id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(roster(&a, &ma_id).await, vec![a_alice.clone()]);
    assert!(roster(&b, &mb_id).await.is_empty());
    // And a new alice in B is new, not A's.
    let b_alice2 = new_attendee(&b, &mb_id, "alice").await;
    assert_ne!(b_alice2.attendee_id, a_alice.attendee_id);
    assert_ne!(b_alice2.attendee_id, b_alice.attendee_id);
    assert_eq!(roster(&a, &ma_id).await, vec![a_alice]);
}

#[tokio::test]
async fn both_keys_of_a_see_the_same_account() {
    let s = TwoAccounts::start();
    let (a1, a2, b) = (s.a1(), s.a2(), s.b());

    let m = create_meeting(&a1, &new_token(), &[tag("k", "v")]).await;
    let m_id = m.meeting_id.clone().unwrap();
    let m_arn = m.meeting_arn.clone().unwrap();
    let alice = new_attendee(&a1, &m_id, "alice").await;

    // Key 2 sees key 1's meeting, attendees and tags, and the same ARN.
    assert_eq!(observe(&a2, &m).await, observe(&a1, &m).await);
    assert_eq!(
        a2.get_meeting()
            .meeting_id(&m_id)
            .send()
            .await
            .unwrap()
            .meeting
            .unwrap(),
        m
    );
    assert_eq!(
        a2.get_attendee()
            .meeting_id(&m_id)
            .attendee_id(alice.attendee_id.as_deref().unwrap())
            .send()
            .await
            .unwrap()
            .attendee
            .unwrap(),
        alice
    );
    // Key 2 changes what key 1 sees, and the other way round.
    a2.tag_resource()
        .resource_arn(&m_arn)
        .tags(tag("k2", "v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&a1, &m_arn).await,
        vec![tag("k", "v"), tag("k2", "v2")]
    );
    let bob = new_attendee(&a2, &m_id, "bob").await;
    assert_eq!(roster(&a1, &m_id).await, vec![alice.clone(), bob.clone()]);
    a2.start_meeting_transcription()
        .meeting_id(&m_id)
        .transcription_configuration(transcription())
        .send()
        .await
        .unwrap();
    a1.stop_meeting_transcription()
        .meeting_id(&m_id)
        .send()
        .await
        .unwrap();

    let m2 = create_meeting(&a2, &new_token(), &[]).await;
    let m2_id = m2.meeting_id.clone().unwrap();
    assert_eq!(
        m2.meeting_arn.as_deref(),
        Some(arn(REGION, ACCOUNT_A, &m2_id).as_str())
    );
    assert_eq!(
        a1.get_meeting()
            .meeting_id(&m2_id)
            .send()
            .await
            .unwrap()
            .meeting
            .unwrap(),
        m2
    );
    // A replica made by key 2 of key 1's meeting is fine (same account).
    let replica = a2
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("replica")
        .primary_meeting_id(&m_id)
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    assert_eq!(replica.primary_meeting_id.as_deref(), Some(m_id.as_str()));
    // Key 1 deletes what key 2 made.
    a1.delete_meeting().meeting_id(&m2_id).send().await.unwrap();
    let e = a2
        .get_meeting()
        .meeting_id(&m2_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("NotFoundException".into(), 404));
    // B sees none of it.
    for id in [&m_id, replica.meeting_id.as_ref().unwrap()] {
        let e = b.get_meeting().meeting_id(id).send().await.unwrap_err();
        assert_eq!(err_code(&e), ("NotFoundException".into(), 404));
    }
}

#[tokio::test]
async fn primary_meeting_of_another_account_is_bad_request() {
    let s = TwoAccounts::start();
    let (a, b) = (s.a1(), s.b());
    let m = create_meeting(&a, &new_token(), &[]).await;
    let m_id = m.meeting_id.clone().unwrap();

    let b_token = new_token();
    let e = b
        .create_meeting()
        .client_request_token(&b_token)
        .media_region("us-east-1")
        .external_meeting_id("replica")
        .primary_meeting_id(&m_id)
        .send()
        .await
        .unwrap_err();
    let got = err(&e);
    assert_eq!(
        (got.0.as_str(), got.1),
        ("BadRequestException", 400),
        "{got:?}"
    );
    let um = guid();
    let e = b
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("replica")
        .primary_meeting_id(&um)
        .send()
        .await
        .unwrap_err();
    let unknown = err(&e);
    assert_eq!(
        (unknown.0.as_str(), unknown.1),
        ("BadRequestException", 400)
    );
    assert_eq!(
        normalize(&got.2, &[&m_id]),
        normalize(&unknown.2, &[&um]),
        "B can tell A's meeting from an unknown one by the message"
    );

    // CreateMeetingWithAttendees the same.
    let e = b
        .create_meeting_with_attendees()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("replica")
        .primary_meeting_id(&m_id)
        .attendees(
            CreateAttendeeRequestItem::builder()
                .external_user_id("mallory")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let got2 = err(&e);
    assert_eq!(
        (got2.0.as_str(), got2.1),
        ("BadRequestException", 400),
        "{got2:?}"
    );
    assert_eq!(normalize(&got2.2, &[&m_id]), normalize(&unknown.2, &[&um]));

    // Nothing was created: B's token is still free and makes a plain meeting.
    let fresh = create_meeting(&b, &b_token, &[]).await;
    assert_eq!(fresh.primary_meeting_id, None);
    assert_ne!(fresh.meeting_id.as_deref(), Some(m_id.as_str()));
    // A's meeting has no replicas and no attendees: A can still make 4 replicas.
    assert!(roster(&a, &m_id).await.is_empty());
    for _ in 0..4 {
        a.create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id("replica")
            .primary_meeting_id(&m_id)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn key_of_no_account_is_unrecognized() {
    let s = TwoAccounts::start();
    let a = s.a1();
    let m = create_meeting(&a, &new_token(), &[]).await;
    let m_id = m.meeting_id.clone().unwrap();
    let nobody = s.server.client_with(
        REGION,
        "AKIDNOBODY",
        "nobody-secret/K7MDENG+bPxRfiCYEXAMPLE",
    );
    let e = nobody
        .get_meeting()
        .meeting_id(&m_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("UnrecognizedClientException".into(), 403));
    let e = nobody
        .list_tags_for_resource()
        .resource_arn(m.meeting_arn.as_deref().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("UnrecognizedClientException".into(), 403));
    let e = nobody
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("x1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("UnrecognizedClientException".into(), 403));
    let e = nobody
        .delete_meeting()
        .meeting_id(&m_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("UnrecognizedClientException".into(), 403));
    // The harness's default key is not configured when a credentials file is given.
    let e = s
        .server
        .client()
        .get_meeting()
        .meeting_id(&m_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), ("UnrecognizedClientException".into(), 403));
    a.get_meeting().meeting_id(&m_id).send().await.unwrap();
}

#[tokio::test]
async fn meeting_arn_names_account_and_client_region() {
    let s = TwoAccounts::start();
    for (region, key, secret, account) in [
        ("us-east-1", A_KEY1, A_SECRET1, ACCOUNT_A),
        ("eu-west-1", A_KEY2, A_SECRET2, ACCOUNT_A),
        ("ap-southeast-2", B_KEY, B_SECRET, ACCOUNT_B),
    ] {
        let c = s.server.client_with(region, key, secret);
        let m = create_meeting(&c, &new_token(), &[]).await;
        let id = m.meeting_id.clone().unwrap();
        let want = arn(region, account, &id);
        assert_eq!(m.meeting_arn.as_deref(), Some(want.as_str()));
        assert_eq!(
            c.get_meeting()
                .meeting_id(&id)
                .send()
                .await
                .unwrap()
                .meeting
                .unwrap()
                .meeting_arn
                .as_deref(),
            Some(want.as_str())
        );
        assert_eq!(tags_of(&c, &want).await, vec![]);
    }
}
