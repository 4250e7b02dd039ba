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

/// Group commit under load: many `CreateAttendee` calls in flight, the server
/// killed with SIGKILL mid-burst (once a number of them were acknowledged, not
/// after a time), and every attendee that got a 2xx is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_dash_nine_during_concurrent_writes_loses_no_acknowledged_attendee() {
    use std::sync::{Arc, Mutex};

    const MEETINGS: usize = 8;
    const WRITERS: usize = 32;
    const PER_WRITER: usize = 60;
    const KILL_AFTER: usize = 400;

    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[]);
    let c = s.client();
    let mut meetings = Vec::new();
    for i in 0..MEETINGS {
        let m = c
            .create_meeting()
            .client_request_token(new_token())
            .media_region("us-east-1")
            .external_meeting_id(format!("burst{i}"))
            .send()
            .await
            .unwrap();
        meetings.push(m.meeting.unwrap().meeting_id.unwrap());
    }
    let acked = Arc::new(Mutex::new(Vec::new()));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (c, acked, enough) = (c.clone(), acked.clone(), enough.clone());
        let meeting = meetings[w % MEETINGS].clone();
        writers.push(tokio::spawn(async move {
            for n in 0..PER_WRITER {
                let Ok(out) = c
                    .create_attendee()
                    .meeting_id(&meeting)
                    .external_user_id(format!("writer{w}-user{n}"))
                    .send()
                    .await
                else {
                    // The server is gone; nothing more is acknowledged.
                    return;
                };
                let attendee = out.attendee.unwrap();
                let mut acked = acked.lock().unwrap();
                acked.push((meeting.clone(), attendee));
                if acked.len() >= KILL_AFTER {
                    enough.notify_one();
                }
            }
        }));
    }
    enough.notified().await;
    s.kill_hard();
    for w in writers {
        w.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= KILL_AFTER);
    assert!(
        acked.len() < WRITERS * PER_WRITER,
        "the kill came while writes were in flight"
    );

    let s = Server::start_in(dir.path(), &[]);
    let c = s.client();
    for (meeting, attendee) in &acked {
        let found = c
            .get_attendee()
            .meeting_id(meeting)
            .attendee_id(attendee.attendee_id.clone().unwrap())
            .send()
            .await
            .unwrap_or_else(|e| panic!("acknowledged attendee lost: {attendee:?}: {e:?}"))
            .attendee
            .unwrap();
        assert_eq!(&found, attendee);
    }
}
