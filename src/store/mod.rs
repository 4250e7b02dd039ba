//! Storage: a narrow, transaction-shaped, async interface.
//!
//! An operation hands the store a job: an async closure run inside one
//! transaction against [`Tx`]. The job may be run more than once: a backend
//! re-runs it, in a fresh transaction, when the first attempt collides with a
//! concurrent writer (a serialization failure, or a unique-constraint race
//! that a re-run resolves by finding the winner's row). So a job must not
//! have effects outside the transaction; operations publish events only after
//! [`write`] returns.
//!
//! The invariants that must hold under concurrent writers (one meeting per
//! ClientRequestToken, the attendee limit, the replica limit, the account's
//! meeting quota) are decided inside the store's own methods
//! ([`Tx::create_meeting`], [`Tx::create_attendee`]), where each backend can
//! enforce them with its own means (a constraint, a locked row, or a single
//! writer), never with a count read before an insert in another statement
//! that a concurrent writer can slip between.
//!
//! Every attendee query takes the account: a backend answers only for
//! attendees of that account's meetings. The one exception is
//! [`Tx::join_credential`], the media plane's lookup, whose caller proves
//! itself with the attendee's join token instead of an account.
//!
//! One deadline, `--store-timeout-ms`, bounds how long the store may take to
//! start a job (wait for a connection, a lock or the writer); past it the job
//! fails with [`StoreError::Unavailable`], which operations answer as
//! ServiceUnavailableException with a Retry-After.

/// A backend's statement text made from its column lists: formatted the
/// first time its call site runs, then borrowed. Prepared statements are
/// cached by their text, so a `format!` per query was work done per request.
macro_rules! sql {
    ($($text:tt)+) => {{
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!($($text)+));
        SQL.as_str()
    }};
}

#[cfg(test)]
pub mod conformance;
#[cfg(feature = "postgres")]
pub mod migrate;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::ids::{AccountId, AttendeeId, ExternalUserId, MeetingId};
use crate::domain::types::{Attendee, Capabilities, Meeting, Tag};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not start the work within its deadline.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The transaction collided with a concurrent one; the runner re-runs it
    /// and reports this only when the attempts are used up.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How many times a job is run before a conflict is reported.
pub const MAX_ATTEMPTS: u32 = 5;

/// Settings every backend honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long the store may take to start a job before it answers
    /// [`StoreError::Unavailable`].
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            timeout: Duration::from_secs(10),
        }
    }
}

/// The limits [`Tx::create_meeting`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeetingLimits {
    /// Meetings (replicas included) one account may hold at once.
    pub max_meetings: u64,
    /// Replica meetings one primary meeting may have.
    pub max_replicas: u64,
}

/// What [`Tx::create_meeting`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatedMeeting {
    /// The meeting was inserted.
    Created(Meeting),
    /// The account already has a meeting with this ClientRequestToken: that one.
    Replayed(Meeting),
    /// The account holds `max_meetings` meetings already.
    QuotaReached,
    /// The primary meeting is not one of the account's meetings.
    PrimaryNotFound,
    /// The primary meeting is itself a replica.
    PrimaryIsReplica,
    /// The primary meeting has `max_replicas` replicas already.
    ReplicaLimitReached,
}

/// What [`Tx::create_attendee`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatedAttendee {
    /// The attendee was inserted (its `seq` set).
    Created(Attendee),
    /// The meeting already has an attendee with this ExternalUserId: that one.
    Existing(Attendee),
    /// The meeting has `limit` attendees already.
    LimitReached,
    /// The meeting is not one of the account's meetings.
    MeetingNotFound,
}

/// What the lifecycle rules need to know of a live meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingBrief {
    pub account_id: AccountId,
    pub meeting_id: MeetingId,
    pub primary_meeting_id: Option<MeetingId>,
    pub created_at_ms: i64,
}

/// One (sink, target, meeting) stream of the outbox: a sink kind
/// (`webhook`, `eventbridge`, `sqs`, `sns`, `lambda`), its target (an ARN, or
/// empty for the server-wide sinks) and the meeting whose events it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub sink: String,
    pub target: String,
    pub meeting_id: String,
}

/// An event to append to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub account_id: String,
    pub meeting_id: String,
    pub event_type: String,
    pub created_at_ms: i64,
    /// The envelope, as JSON.
    pub body: String,
}

/// An event as stored, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub id: String,
    pub account_id: String,
    pub meeting_id: String,
    pub event_type: String,
    pub created_at_ms: i64,
    pub body: String,
}

/// A stream a node leased for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamClaim {
    pub key: StreamKey,
    pub delivered_seq: i64,
    pub attempts: u32,
}

/// The new state of a leased stream after a delivery round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUpdate {
    /// Every event of the meeting up to this one was acknowledged (or dead-lettered).
    pub delivered_seq: i64,
    /// Failed tries of the next event.
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    /// `Some`: keep the lease until then; `None`: release it.
    pub lease_expires_ms: Option<i64>,
}

/// An event a sink never acknowledged within the allowed tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub key: StreamKey,
    pub event_seq: i64,
    pub event_id: String,
    pub attempts: u32,
    pub last_error: String,
    pub dead_at_ms: i64,
}

/// The primitives a job may use inside one transaction.
pub trait Tx: Send {
    /// Appends an event to the outbox and the log, and makes each stream
    /// (created when new) carry it. Returns the event's `seq`.
    fn append_event<'a>(
        &'a mut self,
        event: &'a NewEvent,
        streams: &'a [StreamKey],
    ) -> BoxFuture<'a, StoreResult<i64>>;
    /// Leases up to `limit` streams of these sinks that have events to deliver
    /// and are due, whose lease is free or expired, to `holder` until
    /// `lease_expires_ms`. On a shared database each stream is claimed by
    /// exactly one node (PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED`).
    fn claim_streams<'a>(
        &'a mut self,
        sinks: &'a [String],
        holder: &'a str,
        now_ms: i64,
        lease_expires_ms: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StreamClaim>>>;
    /// Events of the meeting after `after_seq`, oldest first, at most `limit`.
    fn meeting_events<'a>(
        &'a mut self,
        meeting_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>>;
    /// Events of the account after `after_seq`, oldest first, at most `limit`.
    fn account_events<'a>(
        &'a mut self,
        account_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>>;
    /// The account's newest events, newest first, at most `limit` (where a
    /// live reader of the event log starts).
    fn latest_account_events<'a>(
        &'a mut self,
        account_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>>;
    /// Updates a stream the holder still leases; false when the lease was lost.
    fn update_stream<'a>(
        &'a mut self,
        key: &'a StreamKey,
        holder: &'a str,
        update: &'a StreamUpdate,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Releases every lease of this holder (a node starting again).
    fn release_leases<'a>(&'a mut self, holder: &'a str) -> BoxFuture<'a, StoreResult<u64>>;
    fn record_dead_letter<'a>(&'a mut self, dead: &'a DeadLetter)
        -> BoxFuture<'a, StoreResult<()>>;
    fn dead_letters<'a>(
        &'a mut self,
        meeting_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<DeadLetter>>>;
    /// Forgets events created before `before_ms` that every stream has
    /// delivered, and the streams left with nothing; returns how many events.
    fn prune_events(&mut self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>>;
    /// The meeting with this id, of whichever account (the media plane's
    /// lookup, after a join token proved the caller).
    fn meeting_by_id<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<Meeting>>>;
    /// The replicas of a primary meeting.
    fn replica_meetings<'a>(
        &'a mut self,
        account: &'a AccountId,
        primary: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Vec<Meeting>>>;

    fn meeting<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<Meeting>>>;

    /// Inserts `meeting` with `tags`, unless the token was used, a limit is
    /// reached or the primary does not qualify (see [`CreatedMeeting`]). The
    /// decision and the insert are atomic with respect to concurrent writers.
    fn create_meeting<'a>(
        &'a mut self,
        meeting: &'a Meeting,
        tags: &'a [Tag],
        limits: MeetingLimits,
    ) -> BoxFuture<'a, StoreResult<CreatedMeeting>>;

    /// Deletes the meeting and its replicas with their attendees, tags and
    /// transcription, and remembers them as ended. Returns the ids ended, the
    /// meeting first, then its replicas (empty when the account has no such meeting).
    fn delete_meeting<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Vec<MeetingId>>>;

    /// True when the meeting was deleted.
    fn meeting_ended<'a>(&'a mut self, meeting: &'a MeetingId) -> BoxFuture<'a, StoreResult<bool>>;

    /// Inserts the attendee unless its ExternalUserId is taken in the meeting
    /// or the meeting has `limit` attendees (see [`CreatedAttendee`]); atomic
    /// with respect to concurrent writers.
    fn create_attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        attendee: &'a Attendee,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<CreatedAttendee>>;

    fn attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>>;

    fn attendee_by_external_id<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        external_user_id: &'a ExternalUserId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>>;

    /// Attendees after roster position `after_seq`, in roster order, at most `limit`.
    fn list_attendees<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Attendee>>>;

    fn delete_attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Sets the attendee's capabilities; returns the attendee as changed.
    fn set_capabilities<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
        caps: Capabilities,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>>;

    /// Sets the capabilities of every attendee of the meeting except `excluded`; returns how many changed.
    fn set_capabilities_except<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        excluded: &'a [AttendeeId],
        caps: Capabilities,
    ) -> BoxFuture<'a, StoreResult<u64>>;

    /// The attendee whose join token a media client presents: not scoped by
    /// account, because the token (compared by the caller) is the credential.
    fn join_credential<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>>;

    fn tags<'a>(&'a mut self, meeting: &'a MeetingId) -> BoxFuture<'a, StoreResult<Vec<Tag>>>;
    /// Adds the tags, replacing the value of keys already present.
    fn put_tags<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        tags: &'a [Tag],
    ) -> BoxFuture<'a, StoreResult<()>>;
    fn remove_tags<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        keys: &'a [String],
    ) -> BoxFuture<'a, StoreResult<()>>;

    fn transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<String>>>;
    fn set_transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        configuration: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<()>>;
    fn clear_transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Live meetings of every account, briefly (for the lifecycle rules): all
    /// of them, or only those created at or before `created_by_ms`.
    fn meeting_briefs(
        &mut self,
        created_by_ms: Option<i64>,
    ) -> BoxFuture<'_, StoreResult<Vec<MeetingBrief>>>;
    /// Forgets meetings that ended before `ended_before_ms` (of one account, or
    /// of all); returns how many.
    fn prune_ended_meetings<'a>(
        &'a mut self,
        account: Option<&'a AccountId>,
        ended_before_ms: i64,
    ) -> BoxFuture<'a, StoreResult<u64>>;
    /// The account's meetings, newest first, at most `limit` (Convene's own
    /// view for the console: the API has no ListMeetings).
    fn list_meetings<'a>(
        &'a mut self,
        account: &'a AccountId,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Meeting>>>;
    /// Meetings and attendees held, over every account (for metrics).
    fn totals(&mut self) -> BoxFuture<'_, StoreResult<(u64, u64)>>;
}

/// A unit of work run inside one transaction, possibly more than once. It
/// answers whether to commit.
pub type Job = dyn for<'t> Fn(&'t mut dyn Tx) -> BoxFuture<'t, bool> + Send + Sync;

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    /// A read of a few rows found through an index (an API operation's
    /// lookups, a page of a roster): short enough that a backend may run it
    /// on the calling task instead of handing it to another thread.
    Lookup,
    Write,
}

/// A storage backend.
pub trait Store: Send + Sync + 'static {
    /// Runs `job` in a transaction of `mode` (a read sees one consistent
    /// snapshot). A write commits when the job answers true, durably before
    /// this resolves. When a run fails with a conflict the backend may roll
    /// back and run the job again, up to [`MAX_ATTEMPTS`] times.
    fn run(&self, mode: Mode, job: Arc<Job>) -> BoxFuture<'_, StoreResult<()>>;
    /// A secret shared by every node using this store (signs page tokens).
    fn token_key(&self) -> Vec<u8>;
    /// True when the store answers: a real, durable write (so a stuck
    /// writer or a full disk shows) and the schema is up to date.
    fn ping(&self) -> BoxFuture<'_, bool>;
}

type Slot<T, E> = Arc<Mutex<Option<Result<T, E>>>>;

async fn run<T, E, F>(store: &dyn Store, mode: Mode, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> Fn(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, E>> + Send + Sync + 'static,
{
    let slot: Slot<T, E> = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let job: Arc<Job> = Arc::new(move |tx| {
        let attempt = f(tx);
        let out = out.clone();
        Box::pin(async move {
            let result = attempt.await;
            let commit = result.is_ok();
            *out.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
            commit
        })
    });
    let started = std::time::Instant::now();
    let outcome = store.run(mode, job).await;
    record_duration(mode, started.elapsed());
    outcome?;
    let result = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    result.unwrap_or_else(|| {
        Err(StoreError::Backend("the transaction ended without an answer".into()).into())
    })
}

/// Records a transaction's duration. Each thread keeps the two histogram
/// handles it has used, so that a request does not look its labels up in the
/// metrics registry again (as `wire::server::request_metrics` does).
fn record_duration(mode: Mode, elapsed: Duration) {
    thread_local! {
        static READ: metrics::Histogram =
            metrics::histogram!("convene_store_transaction_duration_seconds", "kind" => "read");
        static WRITE: metrics::Histogram =
            metrics::histogram!("convene_store_transaction_duration_seconds", "kind" => "write");
    }
    let handle = if mode == Mode::Write { &WRITE } else { &READ };
    handle.with(|histogram| histogram.record(elapsed.as_secs_f64()));
}

/// Runs `f` in a write transaction, committing when it succeeds. `f` may run
/// more than once (see the module documentation).
pub async fn write<T, E, F>(store: &dyn Store, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> Fn(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, E>> + Send + Sync + 'static,
{
    run(store, Mode::Write, f).await
}

/// Runs `f` in a read transaction that reads a few rows by key (see
/// [`Mode::Lookup`]); scans and long reads use [`read`].
pub async fn lookup<T, E, F>(store: &dyn Store, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> Fn(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, E>> + Send + Sync + 'static,
{
    run(store, Mode::Lookup, f).await
}

/// Runs `f` in a read transaction.
pub async fn read<T, E, F>(store: &dyn Store, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> Fn(&'t mut dyn Tx) -> BoxFuture<'t, Result<T, E>> + Send + Sync + 'static,
{
    run(store, Mode::Read, f).await
}
