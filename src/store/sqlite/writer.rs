//! Group commit: one thread owns SQLite's write connection and commits the
//! queued write jobs together.
//!
//! The thread takes every job waiting in the queue (up to [`MAX_BATCH`]),
//! opens one transaction with `BEGIN IMMEDIATE`, runs each job inside its own
//! `SAVEPOINT` (a job that fails or answers "do not commit" rolls back only
//! itself), commits once, and only then answers each job. With WAL and
//! `synchronous=FULL` that one commit is one fsync shared by the whole batch,
//! and every job is acknowledged after the fsync that made it durable. While a
//! batch commits, the next one queues up, so batches grow with the load.
//!
//! No thread is parked per write: a caller awaits its answer. A job that has
//! not started within the store's timeout is abandoned by its caller (it
//! answers [`StoreError::Unavailable`]) and skipped by the writer; one that
//! has started runs to its end. A full queue answers `Unavailable` at once.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::checkpoint::{self, Checkpointer};
use super::{backend, SqliteTx, MIGRATIONS};
use crate::store::{Job, StoreError, StoreResult, MAX_ATTEMPTS};

/// Jobs committed together at most.
const MAX_BATCH: usize = 1024;
/// Jobs waiting for the writer at most; past it a write answers `Unavailable`.
const MAX_QUEUED: usize = 16 * 1024;

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

/// What the writer runs for a caller.
pub(super) enum Work {
    /// An operation's job.
    Job(Arc<Job>),
    /// The readiness check: a real write that changes nothing.
    Touch,
}

struct Request {
    work: Work,
    /// `QUEUED` until the writer starts it or the caller gives up on it.
    state: Arc<AtomicU8>,
    deadline: Instant,
    runtime: Handle,
    reply: oneshot::Sender<StoreResult<()>>,
}

impl Request {
    /// True when the job may run: the caller still waits for it.
    fn start(&self) -> bool {
        match self
            .state
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == STARTED,
        }
    }

    fn abandoned(&self) -> bool {
        self.state.load(Ordering::Acquire) == ABANDONED
    }

    fn answer(self, result: StoreResult<()>) {
        let _ = self.reply.send(result);
    }
}

/// The handle callers submit work through; the thread ends when it is dropped.
pub(super) struct Writer {
    queue: SyncSender<Request>,
    timeout: Duration,
}

impl Writer {
    /// Starts the writer thread, which owns `conn` from now on.
    pub(super) fn start(
        conn: Connection,
        checkpointer: Checkpointer,
        timeout: Duration,
    ) -> StoreResult<Writer> {
        checkpoint::disable_autocheckpoint(&conn)?;
        let (queue, rx) = sync_channel(MAX_QUEUED);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, &rx, &checkpointer, timeout))
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { queue, timeout })
    }

    /// Runs `work` in the next batch and answers once its batch committed.
    pub(super) async fn run(&self, work: Work) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let request = Request {
            work,
            state: state.clone(),
            deadline: Instant::now() + self.timeout,
            runtime: Handle::current(),
            reply,
        };
        match self.queue.try_send(request) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(StoreError::Unavailable(format!(
                    "{MAX_QUEUED} writes are waiting already"
                )))
            }
            Err(TrySendError::Disconnected(_)) => return Err(stopped()),
        }
        let mut answer = answer;
        if let Ok(result) = tokio::time::timeout(self.timeout, &mut answer).await {
            return result.unwrap_or_else(|_| Err(stopped()));
        }
        let gave_up = state
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if gave_up {
            return Err(StoreError::Unavailable(format!(
                "the writer could not start the write within {} ms",
                self.timeout.as_millis()
            )));
        }
        // Started in time: it runs to its end.
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the storage writer stopped".into())
}

fn writer_loop(
    mut conn: Connection,
    rx: &Receiver<Request>,
    checkpointer: &Checkpointer,
    timeout: Duration,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let size = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        metrics::histogram!("convene_store_commit_batch_size").record(f64::from(size));
        commit_batch(&mut conn, batch, timeout);
        checkpointer.committed(&conn);
    }
}

/// Runs the batch in one transaction and answers every job after the commit.
/// When SQLite rolls the whole transaction back on its own (a full disk, an
/// I/O error), the job that met it gets its error and the others run again
/// in a fresh transaction.
///
/// Jobs first run without a savepoint each (a savepoint copies every page a
/// job changes into its journal, a tenth of the writer's time). A job that
/// fails or answers "do not commit" usually does so before it writes
/// anything, and then there is nothing to undo; one that has written (the
/// connection's change count moved) can only be undone with the whole
/// transaction, so the batch is rolled back and runs again with a savepoint
/// per job.
fn commit_batch(conn: &mut Connection, mut batch: Vec<Request>, timeout: Duration) {
    let mut guarded = false;
    for round in 1..=MAX_ATTEMPTS {
        batch.retain(|r| !r.abandoned());
        let Some(deadline) = batch.iter().map(|r| r.deadline).max() else {
            return;
        };
        // Jobs started in an earlier round wait for the full timeout again.
        let deadline = if round == 1 {
            deadline
        } else {
            Instant::now() + timeout
        };
        if let Err(e) = begin(conn, deadline) {
            for r in batch {
                r.answer(Err(e.clone()));
            }
            return;
        }
        let mut ran = Vec::with_capacity(batch.len());
        let mut rest = batch.into_iter();
        let mut again = false;
        for r in rest.by_ref() {
            if !r.start() {
                continue;
            }
            match run_in_batch(conn, &r, guarded) {
                Ran::Done(result) => ran.push((r, result)),
                Ran::Lost(result) => {
                    // The transaction is gone, with the work of the jobs before.
                    r.answer(result.and(Err(StoreError::Backend(
                        "the transaction was rolled back".into(),
                    ))));
                    again = true;
                    break;
                }
                Ran::Undo => {
                    let _ = statement(conn, "ROLLBACK");
                    ran.push((r, Ok(())));
                    guarded = true;
                    again = true;
                    break;
                }
            }
        }
        if again {
            batch = ran.into_iter().map(|(r, _)| r).chain(rest).collect();
            continue;
        }
        let committed = statement(conn, "COMMIT");
        if committed.is_err() && !conn.is_autocommit() {
            let _ = statement(conn, "ROLLBACK");
        }
        for (r, result) in ran {
            let result = match &committed {
                Ok(()) => result,
                Err(e) => Err(e.clone()),
            };
            r.answer(result);
        }
        return;
    }
    for r in batch {
        r.answer(Err(StoreError::Backend(
            "the write transaction kept being rolled back".into(),
        )));
    }
}

/// How one job of a batch ended.
enum Ran {
    /// Its answer, given once the batch commits.
    Done(StoreResult<()>),
    /// SQLite rolled the transaction back on its own.
    Lost(StoreResult<()>),
    /// It wrote and then did not keep its writes, with no savepoint to
    /// undo them: the batch's transaction must be rolled back.
    Undo,
}

/// `BEGIN IMMEDIATE`, waiting for another process's write lock until `deadline`.
fn begin(conn: &Connection, deadline: Instant) -> StoreResult<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    conn.busy_timeout(left.max(Duration::from_millis(1)))
        .map_err(backend)?;
    statement(conn, "BEGIN IMMEDIATE")
}

/// Runs a statement without parameters from the connection's statement
/// cache (transaction control and savepoints are parsed once, not per batch).
fn statement(conn: &Connection, sql: &str) -> StoreResult<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(backend)
}

/// Runs one job, again when it meets a conflict; keeps its writes when it
/// answers commit. `guarded`: in a savepoint of its own, rolled back when it
/// does not keep its writes; unguarded, a job that wrote and does not keep
/// its writes answers [`Ran::Undo`].
fn run_in_batch(conn: &mut Connection, r: &Request, guarded: bool) -> Ran {
    let mut attempt = 0;
    loop {
        attempt += 1;
        if guarded {
            if let Err(e) = statement(conn, "SAVEPOINT job") {
                return Ran::Done(Err(e));
            }
        }
        let changes = conn.total_changes();
        let (outcome, conflict) = run_work(conn, r);
        if conn.is_autocommit() {
            return Ran::Lost(outcome.map(|_| ()));
        }
        let keep = matches!(outcome, Ok(true)) && conflict.is_none();
        if guarded {
            let undone = if keep {
                Ok(())
            } else {
                statement(conn, "ROLLBACK TO job")
            };
            if let Err(e) = undone.and_then(|()| statement(conn, "RELEASE job")) {
                return Ran::Done(Err(e));
            }
        } else if !keep && conn.total_changes() != changes {
            return Ran::Undo;
        }
        match (conflict, outcome) {
            (Some(why), _) if attempt >= MAX_ATTEMPTS => {
                return Ran::Done(Err(StoreError::Conflict(why)))
            }
            (Some(_), _) => {}
            (None, outcome) => return Ran::Done(outcome.map(|_| ())),
        }
    }
}

/// Runs the work; answers whether to keep its writes, and any conflict met.
fn run_work(conn: &mut Connection, r: &Request) -> (StoreResult<bool>, Option<String>) {
    match &r.work {
        Work::Touch => (touch_schema(conn).map(|()| true), None),
        Work::Job(job) => {
            let mut tx = SqliteTx {
                conn: &mut *conn,
                conflict: None,
            };
            let ran =
                std::panic::catch_unwind(AssertUnwindSafe(|| r.runtime.block_on(job(&mut tx))));
            let conflict = tx.conflict.take();
            match ran {
                Ok(commit) => (Ok(commit), conflict),
                Err(_) => (
                    Err(StoreError::Backend("the write job panicked".into())),
                    None,
                ),
            }
        }
    }
}

/// The readiness check: rewrites the newest migration's row with its own
/// value (a real page write, committed and synced with its batch), and fails
/// when that migration is not applied.
fn touch_schema(conn: &Connection) -> StoreResult<()> {
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    let touched = conn
        .prepare_cached("UPDATE schema_migrations SET applied_at = applied_at WHERE version = ?1")
        .and_then(|mut s| s.execute(params![newest]))
        .map_err(backend)?;
    if touched == 1 {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "schema migration {newest} is not applied"
        )))
    }
}

#[cfg(test)]
mod bench {
    //! A measurement, not a check (nothing here asserts on time): group commit
    //! against SQLite's raw durable insert rate on the same disk, in one run.
    //! `cargo test --release --lib group_commit_throughput -- --ignored --nocapture`

    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::domain::ids::{AccountId, AttendeeId, ExternalUserId, JoinToken, MeetingId};
    use crate::domain::types::{Attendee, Capabilities, Meeting};
    use crate::store::sqlite::SqliteStore;
    use crate::store::{write, CreatedAttendee, CreatedMeeting, MeetingLimits, NewEvent, Store};

    const RUN: Duration = Duration::from_secs(3);

    /// One `INSERT` per `BEGIN IMMEDIATE … COMMIT`, WAL, `synchronous=FULL`.
    fn raw_durable_inserts_per_second() -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("raw.sqlite3")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        )
        .unwrap();
        let started = Instant::now();
        let mut n = 0u32;
        while started.elapsed() < RUN {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            conn.execute("INSERT INTO t (v) VALUES (?1)", ["attendee"])
                .unwrap();
            conn.execute_batch("COMMIT").unwrap();
            n += 1;
        }
        f64::from(n) / started.elapsed().as_secs_f64()
    }

    fn meeting(account: &AccountId) -> Meeting {
        Meeting {
            account_id: account.clone(),
            meeting_id: MeetingId::generate(),
            control_region: "us-east-1".into(),
            media_region: "us-east-1".into(),
            external_meeting_id: "bench".into(),
            meeting_host_id: None,
            primary_meeting_id: None,
            features: None,
            tenant_ids: vec![],
            notifications: None,
            network_type: None,
            client_request_token: MeetingId::generate().to_string(),
            created_at_ms: 1,
        }
    }

    async fn new_meeting(store: &dyn Store, account: &AccountId) -> MeetingId {
        let m = Arc::new(meeting(account));
        let limits = MeetingLimits {
            max_meetings: 1_000_000,
            max_replicas: 4,
        };
        let created = write(store, move |tx| {
            let m = m.clone();
            Box::pin(async move { tx.create_meeting(&m, &[], limits).await })
        })
        .await
        .unwrap();
        match created {
            CreatedMeeting::Created(m) => m.meeting_id,
            other => panic!("{other:?}"),
        }
    }

    /// What `CreateAttendee` does in the store: the attendee and its event.
    async fn create_attendee(store: &dyn Store, account: &AccountId, mid: &MeetingId, n: u64) {
        let attendee_id = AttendeeId::generate();
        let a = Arc::new(Attendee {
            meeting_id: mid.clone(),
            join_token: JoinToken::generate(&attendee_id),
            attendee_id,
            external_user_id: ExternalUserId::parse("ExternalUserId", &format!("user-{n}"))
                .unwrap(),
            capabilities: Capabilities::ALL,
            seq: 0,
        });
        let account = account.clone();
        let created = write(store, move |tx| {
            let (a, account) = (a.clone(), account.clone());
            Box::pin(async move {
                let created = tx.create_attendee(&account, &a, 250).await?;
                let event = NewEvent {
                    id: a.attendee_id.to_string(),
                    account_id: account.to_string(),
                    meeting_id: a.meeting_id.to_string(),
                    event_type: "AttendeeAdded".into(),
                    created_at_ms: 1,
                    body: "{}".into(),
                };
                tx.append_event(&event, &[]).await?;
                Ok::<_, crate::store::StoreError>(created)
            })
        })
        .await
        .unwrap();
        assert!(matches!(created, CreatedAttendee::Created(_)));
    }

    #[allow(clippy::cast_precision_loss)]
    async fn store_creates_per_second(writers: u64) -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let account = AccountId::new("000000000001".to_string());
        let (stop, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let started = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let (store, account) = (store.clone(), account.clone());
                let (stop, done) = (stop.clone(), done.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let mid = new_meeting(&*store, &account).await;
                        for _ in 0..200 {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            create_attendee(&*store, &account, &mid, n).await;
                            n += 1;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(RUN).await;
        stop.store(true, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        n as f64 / elapsed
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement: run it with --ignored --nocapture"]
    async fn group_commit_throughput() {
        let floor = tokio::task::spawn_blocking(raw_durable_inserts_per_second)
            .await
            .unwrap();
        println!("raw durable inserts (one fsync each): {floor:.0}/s");
        for writers in [1, 16, 64, 256] {
            let rate = store_creates_per_second(writers).await;
            println!(
                "store CreateAttendee jobs, {writers:>3} concurrent: {rate:.0}/s ({:.2}x the raw floor)",
                rate / floor
            );
        }
    }
}
