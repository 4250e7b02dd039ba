//! The storage conformance suite, written once against [`Store`] and [`Tx`]
//! (the Garage `test_suite(db)` idea). Every backend runs all of it: the
//! SQLite backend from `sqlite.rs`; the next backend calls [`run_all`] with a
//! factory of its own and must pass unchanged.
//!
//! The invariants are checked under concurrent writers: many tasks race to
//! reuse a ClientRequestToken, take the last attendee slot, add replicas or
//! fill the account's meeting quota, and the store must let exactly the
//! allowed number through.

use std::sync::Arc;
use std::time::Duration;

use super::{
    read, write, CreatedAttendee, CreatedMeeting, MeetingLimits, Store, StoreError, StoreOptions,
    Tx,
};
use crate::domain::ids::{AccountId, AttendeeId, ExternalUserId, JoinToken, MeetingId};
use crate::domain::types::{
    Attendee, AttendeeFeatures, Capabilities, MediaCapability, Meeting, MeetingFeatures, Tag,
};

/// Makes a fresh, empty store with the given options.
pub trait Factory: Fn(StoreOptions) -> Arc<dyn Store> + Send + Sync {}
impl<F: Fn(StoreOptions) -> Arc<dyn Store> + Send + Sync> Factory for F {}

/// Runs every case, each on a fresh store.
pub async fn run_all(factory: impl Factory) {
    let fresh = || factory(StoreOptions::default());
    roundtrip_and_cascade(fresh()).await;
    attendees_are_scoped_by_account(fresh()).await;
    roster_order_and_capabilities(fresh()).await;
    rolled_back_jobs_leave_nothing(fresh()).await;
    failed_jobs_among_committed_ones_leave_nothing(fresh()).await;
    one_meeting_per_token_under_concurrent_writers(fresh()).await;
    one_attendee_per_external_id_under_concurrent_writers(fresh()).await;
    attendee_limit_under_concurrent_writers(fresh()).await;
    replica_limit_under_concurrent_writers(fresh()).await;
    meeting_quota_under_concurrent_writers(fresh()).await;
    outbox_appends_with_the_change_or_not_at_all(fresh()).await;
    outbox_streams_are_leased_to_one_holder(fresh()).await;
    busy_store_answers_unavailable(&factory).await;
}

const WRITERS: usize = 16;

fn account(n: u8) -> AccountId {
    AccountId::new(format!("{n:012}"))
}

fn meeting(account: &AccountId, token: &str) -> Meeting {
    Meeting {
        account_id: account.clone(),
        meeting_id: MeetingId::generate(),
        control_region: "us-east-1".into(),
        media_region: "us-east-1".into(),
        external_meeting_id: "ext".into(),
        meeting_host_id: None,
        primary_meeting_id: None,
        features: None,
        tenant_ids: vec![],
        notifications: None,
        network_type: None,
        client_request_token: token.into(),
        created_at_ms: 1,
    }
}

fn attendee(meeting: &MeetingId, external: &str) -> Attendee {
    let attendee_id = AttendeeId::generate();
    Attendee {
        meeting_id: meeting.clone(),
        join_token: JoinToken::generate(&attendee_id),
        attendee_id,
        external_user_id: ExternalUserId::parse("ExternalUserId", external).expect("valid"),
        capabilities: Capabilities::ALL,
        seq: 0,
    }
}

const LIMITS: MeetingLimits = MeetingLimits {
    max_meetings: 1000,
    max_replicas: 4,
};

async fn create_meeting(
    store: &dyn Store,
    m: Meeting,
    tags: Vec<Tag>,
    limits: MeetingLimits,
) -> CreatedMeeting {
    let (m, tags) = (Arc::new(m), Arc::new(tags));
    write(store, move |tx| {
        let (m, tags) = (m.clone(), tags.clone());
        Box::pin(async move { tx.create_meeting(&m, &tags, limits).await })
    })
    .await
    .expect("create_meeting")
}

async fn created(store: &dyn Store, m: Meeting) -> Meeting {
    match create_meeting(store, m, vec![], LIMITS).await {
        CreatedMeeting::Created(m) => m,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn create_attendee(
    store: &dyn Store,
    account: &AccountId,
    a: Attendee,
    limit: u32,
) -> CreatedAttendee {
    let (account, a) = (account.clone(), Arc::new(a));
    write(store, move |tx| {
        let (account, a) = (account.clone(), a.clone());
        Box::pin(async move { tx.create_attendee(&account, &a, limit).await })
    })
    .await
    .expect("create_attendee")
}

/// Runs `f` in a read transaction and hands back its answer.
async fn look<T, F>(store: &dyn Store, f: F) -> T
where
    T: Send + 'static,
    F: for<'t> Fn(&'t mut dyn Tx) -> super::BoxFuture<'t, Result<T, StoreError>>
        + Send
        + Sync
        + 'static,
{
    read(store, f).await.expect("read")
}

async fn roundtrip_and_cascade(store: Arc<dyn Store>) {
    let (acct, other) = (account(1), account(2));
    let tags = vec![Tag {
        key: "k".into(),
        value: "v".into(),
    }];
    let m = match create_meeting(&*store, meeting(&acct, "t1"), tags.clone(), LIMITS).await {
        CreatedMeeting::Created(m) => m,
        other => panic!("{other:?}"),
    };
    let a = match create_attendee(&*store, &acct, attendee(&m.meeting_id, "alice"), 10).await {
        CreatedAttendee::Created(a) => a,
        other => panic!("{other:?}"),
    };
    assert!(a.seq > 0, "the store sets the roster position");
    let (mid, acct2, other2) = (m.meeting_id.clone(), acct.clone(), other.clone());
    let (got, elsewhere, got_tags) = look(&*store, move |tx| {
        let (mid, acct, other) = (mid.clone(), acct2.clone(), other2.clone());
        Box::pin(async move {
            Ok((
                tx.meeting(&acct, &mid).await?,
                tx.meeting(&other, &mid).await?,
                tx.tags(&mid).await?,
            ))
        })
    })
    .await;
    assert_eq!(got.as_ref(), Some(&m));
    assert_eq!(elsewhere, None, "another account does not see the meeting");
    assert_eq!(got_tags, tags);

    let (mid, acct2, aid) = (m.meeting_id.clone(), acct.clone(), a.attendee_id.clone());
    let ended = write(&*store, move |tx| {
        let (mid, acct, aid) = (mid.clone(), acct2.clone(), aid.clone());
        Box::pin(async move {
            let ended = tx.delete_meeting(&acct, &mid, 2).await?;
            let attendee = tx.attendee(&acct, &mid, &aid).await?;
            let tags = tx.tags(&mid).await?;
            let gone = tx.meeting_ended(&mid).await?;
            Ok::<_, StoreError>((ended, attendee, tags, gone))
        })
    })
    .await
    .expect("delete");
    assert_eq!(ended.0, vec![m.meeting_id.clone()]);
    assert_eq!(ended.1, None, "attendees go with their meeting");
    assert!(ended.2.is_empty(), "tags go with their meeting");
    assert!(ended.3, "the meeting is remembered as ended");
}

async fn attendees_are_scoped_by_account(store: Arc<dyn Store>) {
    let (acct, other) = (account(1), account(2));
    let m = created(&*store, meeting(&acct, "t1")).await;
    let a = match create_attendee(&*store, &acct, attendee(&m.meeting_id, "alice"), 10).await {
        CreatedAttendee::Created(a) => a,
        other => panic!("{other:?}"),
    };
    // Another account that knows both ids can neither create, read, list,
    // change nor delete.
    assert_eq!(
        create_attendee(&*store, &other, attendee(&m.meeting_id, "mallory"), 10).await,
        CreatedAttendee::MeetingNotFound
    );
    let (mid, aid, ext) = (
        m.meeting_id.clone(),
        a.attendee_id.clone(),
        a.external_user_id.clone(),
    );
    let seen = write(&*store, move |tx| {
        let (other, mid, aid, ext) = (other.clone(), mid.clone(), aid.clone(), ext.clone());
        Box::pin(async move {
            Ok::<_, StoreError>((
                tx.attendee(&other, &mid, &aid).await?,
                tx.attendee_by_external_id(&other, &mid, &ext).await?,
                tx.list_attendees(&other, &mid, 0, 100).await?,
                tx.set_capabilities(&other, &mid, &aid, Capabilities::ALL)
                    .await?,
                tx.set_capabilities_except(&other, &mid, &[], Capabilities::ALL)
                    .await?,
                tx.delete_attendee(&other, &mid, &aid).await?,
            ))
        })
    })
    .await
    .expect("scoped queries");
    assert_eq!(seen.0, None);
    assert_eq!(seen.1, None);
    assert!(seen.2.is_empty());
    assert_eq!(seen.3, None);
    assert_eq!(seen.4, 0);
    assert!(!seen.5);
    // The join lookup (the token is the credential) still finds it.
    let (mid, aid) = (m.meeting_id.clone(), a.attendee_id.clone());
    let found = look(&*store, move |tx| {
        let (mid, aid) = (mid.clone(), aid.clone());
        Box::pin(async move { tx.join_credential(&mid, &aid).await })
    })
    .await;
    assert_eq!(found, Some(a));
}

async fn roster_order_and_capabilities(store: Arc<dyn Store>) {
    let acct = account(1);
    let m = created(&*store, meeting(&acct, "t1")).await;
    let mut ids = Vec::new();
    for name in ["a1", "a2", "a3", "a4"] {
        match create_attendee(&*store, &acct, attendee(&m.meeting_id, name), 10).await {
            CreatedAttendee::Created(a) => ids.push(a.attendee_id),
            other => panic!("{other:?}"),
        }
    }
    let (mid, acct2, keep) = (m.meeting_id.clone(), acct.clone(), ids[0].clone());
    let muted = Capabilities {
        audio: MediaCapability::Receive,
        ..Capabilities::ALL
    };
    let (changed, page1) = write(&*store, move |tx| {
        let (mid, acct, keep) = (mid.clone(), acct2.clone(), keep.clone());
        Box::pin(async move {
            let n = tx
                .set_capabilities_except(&acct, &mid, std::slice::from_ref(&keep), muted)
                .await?;
            let page = tx.list_attendees(&acct, &mid, 0, 2).await?;
            Ok::<_, StoreError>((n, page))
        })
    })
    .await
    .expect("update");
    assert_eq!(changed, 3);
    assert_eq!(page1.len(), 2);
    assert_eq!(page1[0].attendee_id, ids[0]);
    assert_eq!(page1[0].capabilities, Capabilities::ALL);
    assert_eq!(page1[1].capabilities, muted);
    let (mid, acct2, after) = (m.meeting_id.clone(), acct.clone(), page1[1].seq);
    let page2 = look(&*store, move |tx| {
        let (mid, acct) = (mid.clone(), acct2.clone());
        Box::pin(async move { tx.list_attendees(&acct, &mid, after, 10).await })
    })
    .await;
    let rest: Vec<_> = page2.iter().map(|a| a.attendee_id.clone()).collect();
    assert_eq!(rest, ids[2..].to_vec(), "pages continue in roster order");
}

async fn rolled_back_jobs_leave_nothing(store: Arc<dyn Store>) {
    let acct = account(1);
    let m = Arc::new(meeting(&acct, "t1"));
    let m2 = m.clone();
    let result: Result<(), StoreError> = write(&*store, move |tx| {
        let m = m2.clone();
        Box::pin(async move {
            tx.create_meeting(&m, &[], LIMITS).await?;
            Err(StoreError::Backend("the job gives up".into()))
        })
    })
    .await;
    assert!(result.is_err());
    let mid = m.meeting_id.clone();
    let found = look(&*store, move |tx| {
        let (acct, mid) = (acct.clone(), mid.clone());
        Box::pin(async move { tx.meeting(&acct, &mid).await })
    })
    .await;
    assert_eq!(found, None, "a failed job's writes are rolled back");
}

/// Jobs that write and then give up, run at once with jobs that succeed (so
/// that a store that commits jobs together has both kinds in one batch):
/// every failed job's writes are undone, every other job's are kept.
async fn failed_jobs_among_committed_ones_leave_nothing(store: Arc<dyn Store>) {
    let acct = account(1);
    let answers = race(4 * WRITERS, |i| {
        let (store, acct) = (store.clone(), acct.clone());
        async move {
            let m = Arc::new(meeting(&acct, &format!("mixed-{i}")));
            let m2 = m.clone();
            let result: Result<(), StoreError> = write(&*store, move |tx| {
                let m = m2.clone();
                Box::pin(async move {
                    tx.create_meeting(&m, &[], LIMITS).await?;
                    if i % 2 == 1 {
                        return Err(StoreError::Backend("the job gives up".into()));
                    }
                    Ok(())
                })
            })
            .await;
            (i, m.meeting_id.clone(), result.is_ok())
        }
    })
    .await;
    for (i, mid, ok) in answers {
        assert_eq!(ok, i % 2 == 0, "job {i} answered {ok}");
        let acct = acct.clone();
        let found = look(&*store, move |tx| {
            let (acct, mid) = (acct.clone(), mid.clone());
            Box::pin(async move { tx.meeting(&acct, &mid).await })
        })
        .await;
        assert_eq!(found.is_some(), ok, "job {i}: kept only when it succeeded");
    }
}

/// Runs `n` copies of `task` at once and collects their answers.
async fn race<T, Fut>(n: usize, task: impl Fn(usize) -> Fut) -> Vec<T>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

async fn one_meeting_per_token_under_concurrent_writers(store: Arc<dyn Store>) {
    let acct = account(1);
    let outcomes = race(WRITERS, |_| {
        let (store, acct) = (store.clone(), acct.clone());
        async move { create_meeting(&*store, meeting(&acct, "same-token"), vec![], LIMITS).await }
    })
    .await;
    let mut ids: Vec<MeetingId> = Vec::new();
    let mut created = 0;
    for o in outcomes {
        match o {
            CreatedMeeting::Created(m) => {
                created += 1;
                ids.push(m.meeting_id);
            }
            CreatedMeeting::Replayed(m) => ids.push(m.meeting_id),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one writer creates the meeting");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every writer gets the same meeting");
}

async fn one_attendee_per_external_id_under_concurrent_writers(store: Arc<dyn Store>) {
    let acct = account(1);
    let m = created(&*store, meeting(&acct, "t1")).await;
    let outcomes = race(WRITERS, |_| {
        let (store, acct, mid) = (store.clone(), acct.clone(), m.meeting_id.clone());
        async move { create_attendee(&*store, &acct, attendee(&mid, "same-user"), 250).await }
    })
    .await;
    let mut ids = Vec::new();
    let mut created = 0;
    for o in outcomes {
        match o {
            CreatedAttendee::Created(a) => {
                created += 1;
                ids.push(a.attendee_id);
            }
            CreatedAttendee::Existing(a) => ids.push(a.attendee_id),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1, "every writer gets the same attendee");
}

async fn attendee_limit_under_concurrent_writers(store: Arc<dyn Store>) {
    let acct = account(1);
    let mut m = meeting(&acct, "t1");
    m.features = Some(MeetingFeatures {
        attendee: Some(AttendeeFeatures { max_count: Some(5) }),
        ..MeetingFeatures::default()
    });
    let m = created(&*store, m).await;
    let limit = m.features_or_default().attendee_limit();
    assert_eq!(limit, 5);
    let outcomes =
        race(WRITERS, |i| {
            let (store, acct, mid) = (store.clone(), acct.clone(), m.meeting_id.clone());
            async move {
                create_attendee(&*store, &acct, attendee(&mid, &format!("user-{i}")), limit).await
            }
        })
        .await;
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, CreatedAttendee::Created(_)))
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == CreatedAttendee::LimitReached)
        .count();
    assert_eq!((created, refused), (5, WRITERS - 5));
    let (mid, acct2) = (m.meeting_id.clone(), acct.clone());
    let roster = look(&*store, move |tx| {
        let (mid, acct) = (mid.clone(), acct2.clone());
        Box::pin(async move { tx.list_attendees(&acct, &mid, 0, 100).await })
    })
    .await;
    assert_eq!(roster.len(), 5);
    // A deleted attendee makes room for one more, and only one.
    let (mid, acct2, gone) = (
        m.meeting_id.clone(),
        acct.clone(),
        roster[0].attendee_id.clone(),
    );
    let deleted: Result<bool, StoreError> = write(&*store, move |tx| {
        let (mid, acct, gone) = (mid.clone(), acct2.clone(), gone.clone());
        Box::pin(async move { tx.delete_attendee(&acct, &mid, &gone).await })
    })
    .await;
    assert_eq!(deleted, Ok(true));
    let mid = m.meeting_id.clone();
    let again = create_attendee(&*store, &acct, attendee(&mid, "user-again"), limit).await;
    assert!(matches!(again, CreatedAttendee::Created(_)), "{again:?}");
    let full = create_attendee(&*store, &acct, attendee(&mid, "user-more"), limit).await;
    assert_eq!(full, CreatedAttendee::LimitReached);
}

async fn replica_limit_under_concurrent_writers(store: Arc<dyn Store>) {
    let acct = account(1);
    let primary = created(&*store, meeting(&acct, "primary")).await;
    let limits = MeetingLimits {
        max_meetings: 1000,
        max_replicas: 3,
    };
    let outcomes = race(WRITERS, |i| {
        let (store, acct, pid) = (store.clone(), acct.clone(), primary.meeting_id.clone());
        async move {
            let mut m = meeting(&acct, &format!("replica-{i}"));
            m.primary_meeting_id = Some(pid);
            create_meeting(&*store, m, vec![], limits).await
        }
    })
    .await;
    let created: Vec<Meeting> = outcomes
        .iter()
        .filter_map(|o| match o {
            CreatedMeeting::Created(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    let refused = outcomes
        .iter()
        .filter(|o| **o == CreatedMeeting::ReplicaLimitReached)
        .count();
    assert_eq!((created.len(), refused), (3, WRITERS - 3));
    // A replica cannot be a primary.
    let mut m = meeting(&acct, "replica-of-replica");
    m.primary_meeting_id = Some(created[0].meeting_id.clone());
    assert_eq!(
        create_meeting(&*store, m, vec![], limits).await,
        CreatedMeeting::PrimaryIsReplica
    );
    let mut m = meeting(&account(2), "elsewhere");
    m.primary_meeting_id = Some(primary.meeting_id.clone());
    assert_eq!(
        create_meeting(&*store, m, vec![], limits).await,
        CreatedMeeting::PrimaryNotFound
    );
    // Deleting the primary ends its replicas.
    let (acct2, pid) = (acct.clone(), primary.meeting_id.clone());
    let ended = write(&*store, move |tx| {
        let (acct, pid) = (acct2.clone(), pid.clone());
        Box::pin(async move { tx.delete_meeting(&acct, &pid, 5).await })
    })
    .await
    .expect("delete");
    assert_eq!(ended.len(), 4);
}

async fn meeting_quota_under_concurrent_writers(store: Arc<dyn Store>) {
    let acct = account(1);
    let limits = MeetingLimits {
        max_meetings: 4,
        max_replicas: 4,
    };
    let outcomes =
        race(WRITERS, |i| {
            let (store, acct) = (store.clone(), acct.clone());
            async move {
                create_meeting(&*store, meeting(&acct, &format!("t-{i}")), vec![], limits).await
            }
        })
        .await;
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, CreatedMeeting::Created(_)))
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == CreatedMeeting::QuotaReached)
        .count();
    assert_eq!((created, refused), (4, WRITERS - 4));
    // The quota is per account.
    assert!(matches!(
        create_meeting(&*store, meeting(&account(2), "t"), vec![], limits).await,
        CreatedMeeting::Created(_)
    ));
}

/// A write that cannot start within the store's deadline fails with
/// [`StoreError::Unavailable`] instead of waiting.
async fn busy_store_answers_unavailable(factory: &impl Factory) {
    let store = factory(StoreOptions {
        timeout: Duration::from_millis(100),
    });
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let holder = {
        let store = store.clone();
        tokio::spawn(async move {
            write::<_, StoreError, _>(&*store, move |_tx| {
                let started = started_tx.clone();
                Box::pin(async move {
                    if let Some(s) = started.lock().expect("lock").take() {
                        let _ = s.send(());
                    }
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Ok(())
                })
            })
            .await
        })
    };
    started_rx.await.expect("the first writer started");
    let acct = account(1);
    let second = {
        let m = Arc::new(meeting(&acct, "t1"));
        write::<_, StoreError, _>(&*store, move |tx| {
            let m = m.clone();
            Box::pin(async move { tx.create_meeting(&m, &[], LIMITS).await })
        })
        .await
    };
    assert!(
        matches!(second, Err(StoreError::Unavailable(_))),
        "expected Unavailable, got {second:?}"
    );
    holder
        .await
        .expect("holder")
        .expect("the first writer commits");
}

fn new_event(mid: &str, n: usize) -> super::NewEvent {
    super::NewEvent {
        id: format!("event-{mid}-{n}"),
        account_id: "111111111111".into(),
        meeting_id: mid.into(),
        event_type: "AttendeeAdded".into(),
        created_at_ms: 1000 + n as i64,
        body: format!("{{\"n\":{n}}}"),
    }
}

fn stream(sink: &str, mid: &str) -> super::StreamKey {
    super::StreamKey {
        sink: sink.into(),
        target: String::new(),
        meeting_id: mid.into(),
    }
}

/// An event is written by the transaction that makes its change: a job that
/// fails leaves neither; one that commits leaves both, in order.
async fn outbox_appends_with_the_change_or_not_at_all(store: Arc<dyn Store>) {
    let failed: Result<(), StoreError> = write(&*store, move |tx| {
        Box::pin(async move {
            tx.append_event(&new_event("m1", 0), &[stream("webhook", "m1")])
                .await?;
            Err(StoreError::Backend("the change fails".into()))
        })
    })
    .await;
    assert!(failed.is_err());
    let none = look(&*store, |tx| {
        Box::pin(async move { tx.meeting_events("m1", 0, 10).await })
    })
    .await;
    assert!(none.is_empty(), "a rolled-back change leaves no event");
    for n in 1..=3 {
        write::<_, StoreError, _>(&*store, move |tx| {
            Box::pin(async move {
                tx.append_event(&new_event("m1", n), &[stream("webhook", "m1")])
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    }
    let got = look(&*store, |tx| {
        Box::pin(async move { tx.meeting_events("m1", 0, 10).await })
    })
    .await;
    assert_eq!(
        got.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["event-m1-1", "event-m1-2", "event-m1-3"]
    );
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    let acct = look(&*store, |tx| {
        Box::pin(async move { tx.account_events("111111111111", 0, 10).await })
    })
    .await;
    assert_eq!(acct.len(), 3);
    let latest = look(&*store, |tx| {
        Box::pin(async move { tx.latest_account_events("111111111111", 2).await })
    })
    .await;
    assert_eq!(
        latest.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["event-m1-3", "event-m1-2"],
        "the newest first"
    );
    let other = look(&*store, |tx| {
        Box::pin(async move { tx.latest_account_events("222222222222", 10).await })
    })
    .await;
    assert!(other.is_empty(), "another account sees none");
}

/// A stream is leased by one holder at a time; its cursor moves only under
/// the lease; an expired lease passes to another holder, which resumes
/// after the cursor (at least once, in order).
async fn outbox_streams_are_leased_to_one_holder(store: Arc<dyn Store>) {
    for n in 1..=4 {
        write::<_, StoreError, _>(&*store, move |tx| {
            Box::pin(async move {
                tx.append_event(&new_event("m2", n), &[stream("webhook", "m2")])
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    }
    let claim = |holder: &'static str, now: i64| {
        let store = store.clone();
        async move {
            write::<_, StoreError, _>(&*store, move |tx| {
                Box::pin(async move {
                    tx.claim_streams(&["webhook".to_string()], holder, now, now + 100, 10)
                        .await
                })
            })
            .await
            .unwrap()
        }
    };
    let a = claim("a", 0).await;
    assert_eq!(a.len(), 1);
    assert!(claim("b", 50).await.is_empty(), "leased to a until 100");
    let first = look(&*store, |tx| {
        Box::pin(async move { tx.meeting_events("m2", 0, 10).await })
    })
    .await;
    // b may not move a's cursor.
    let key = a[0].key.clone();
    let update = super::StreamUpdate {
        delivered_seq: first[1].seq,
        attempts: 0,
        next_attempt_ms: 0,
        last_error: None,
        lease_expires_ms: Some(100),
    };
    let (k2, u2) = (key.clone(), update.clone());
    let by_b = write::<_, StoreError, _>(&*store, move |tx| {
        let (k, u) = (k2.clone(), u2.clone());
        Box::pin(async move { tx.update_stream(&k, "b", &u).await })
    })
    .await
    .unwrap();
    assert!(!by_b, "only the holder moves the cursor");
    let by_a = write::<_, StoreError, _>(&*store, move |tx| {
        let (k, u) = (key.clone(), update.clone());
        Box::pin(async move { tx.update_stream(&k, "a", &u).await })
    })
    .await
    .unwrap();
    assert!(by_a);
    // a dies; once its lease expires b takes the stream after the cursor.
    let b = claim("b", 150).await;
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].delivered_seq, first[1].seq);
    let released = write::<_, StoreError, _>(&*store, |tx| {
        Box::pin(async move { tx.release_leases("b").await })
    })
    .await
    .unwrap();
    assert_eq!(released, 1);
}
