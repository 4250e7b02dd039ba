//! What a 2xx promises: the write survives a restart and a kill -9.

mod common;

use common::{err_code, new_token, Server};

#[tokio::test]
async fn restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[]);
    let c = s.client();
    let m = c
        .create_meeting_with_attendees()
        .client_request_token("restart-token")
        .media_region("us-east-1")
        .external_meeting_id("persistent")
        .attendees(
            aws_sdk_chimesdkmeetings::types::CreateAttendeeRequestItem::builder()
                .external_user_id("alice")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let meeting = m.meeting.unwrap();
    let id = meeting.meeting_id.clone().unwrap();
    let alice = m.attendees.unwrap().remove(0);
    let page = c
        .list_attendees()
        .meeting_id(&id)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert!(page.next_token.is_none());
    c.create_attendee()
        .meeting_id(&id)
        .external_user_id("bob")
        .send()
        .await
        .unwrap();
    let page = c
        .list_attendees()
        .meeting_id(&id)
        .max_results(1)
        .send()
        .await
        .unwrap();
    let token = page.next_token.unwrap();
    let status = s.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");

    let s = Server::start_in(dir.path(), &[]);
    let c = s.client();
    let again = c
        .get_meeting()
        .meeting_id(&id)
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    assert_eq!(again.meeting_arn, meeting.meeting_arn);
    assert_eq!(again.external_meeting_id, meeting.external_meeting_id);
    let a = c
        .get_attendee()
        .meeting_id(&id)
        .attendee_id(alice.attendee_id.clone().unwrap())
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    assert_eq!(a, alice);
    // Page tokens issued before the restart still work.
    let rest = c
        .list_attendees()
        .meeting_id(&id)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.attendees()[0].external_user_id.as_deref(), Some("bob"));
    // The idempotency token is remembered too.
    let replay = c
        .create_meeting()
        .client_request_token("restart-token")
        .media_region("us-east-1")
        .external_meeting_id("persistent")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.meeting.unwrap().meeting_id.unwrap(), id);
}

#[tokio::test]
async fn kill_dash_nine_after_a_2xx_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[]);
    let c = s.client();
    let mut ids = Vec::new();
    for i in 0..20 {
        let m = c
            .create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id(format!("m{i}"))
            .send()
            .await
            .unwrap();
        ids.push(m.meeting.unwrap().meeting_id.unwrap());
    }
    c.delete_meeting().meeting_id(&ids[0]).send().await.unwrap();
    s.kill_hard();

    let s = Server::start_in(dir.path(), &[]);
    let c = s.client();
    let e = c
        .get_meeting()
        .meeting_id(&ids[0])
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e).0, "NotFoundException");
    for id in &ids[1..] {
        c.get_meeting().meeting_id(id).send().await.unwrap();
    }
}
