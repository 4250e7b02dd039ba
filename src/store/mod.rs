//! Storage: a narrow, transaction-shaped interface.
//!
//! An operation hands the store a closure that runs inside one transaction
//! against [`Tx`], a small set of primitive reads and writes scoped by account
//! or meeting. The logic that decides (limits, idempotency, cascades) lives once
//! in the operations layer; a backend only has to provide the primitives and
//! the transaction around them. Writes are serialized per backend as needed to
//! keep those decisions race-free; a 2xx is only sent after the commit is durable.

pub mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::domain::types::{Attendee, Capabilities, Meeting, Tag};
use crate::domain::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError::service_failure("The service could not complete the request; try again")
    }
}

/// What the lifecycle rules need to know of a live meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingBrief {
    pub account_id: String,
    pub meeting_id: String,
    pub primary_meeting_id: Option<String>,
    pub created_at_ms: i64,
}

/// The primitives an operation may use inside one transaction.
pub trait Tx {
    fn meeting_by_token(&mut self, account_id: &str, token: &str) -> StoreResult<Option<Meeting>>;
    fn get_meeting(&mut self, account_id: &str, meeting_id: &str) -> StoreResult<Option<Meeting>>;
    fn insert_meeting(&mut self, meeting: &Meeting) -> StoreResult<()>;
    /// Removes the meeting with its attendees, tags and transcription state.
    fn delete_meeting(&mut self, account_id: &str, meeting_id: &str) -> StoreResult<bool>;
    fn replica_ids(
        &mut self,
        account_id: &str,
        primary_meeting_id: &str,
    ) -> StoreResult<Vec<String>>;
    fn count_meetings(&mut self, account_id: &str) -> StoreResult<u64>;
    /// Remembers that a meeting was deleted (a tombstone: only its id and account).
    fn record_meeting_ended(
        &mut self,
        account_id: &str,
        meeting_id: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// True when the meeting was deleted.
    fn meeting_ended(&mut self, meeting_id: &str) -> StoreResult<bool>;
    /// Every live meeting of every account, briefly.
    fn meeting_briefs(&mut self) -> StoreResult<Vec<MeetingBrief>>;
    /// Forgets meetings that ended before `ended_before_ms` (of one account, or
    /// of all); returns how many.
    fn prune_ended_meetings(
        &mut self,
        account_id: Option<&str>,
        ended_before_ms: i64,
    ) -> StoreResult<u64>;

    /// Inserts the attendee and sets its `seq` (its place in the roster).
    fn insert_attendee(&mut self, attendee: &mut Attendee) -> StoreResult<()>;
    fn attendee_by_external_id(
        &mut self,
        meeting_id: &str,
        external_user_id: &str,
    ) -> StoreResult<Option<Attendee>>;
    fn get_attendee(
        &mut self,
        meeting_id: &str,
        attendee_id: &str,
    ) -> StoreResult<Option<Attendee>>;
    /// The attendee with this id, in whichever meeting (attendee ids are unique).
    fn attendee_by_id(&mut self, attendee_id: &str) -> StoreResult<Option<Attendee>>;
    fn count_attendees(&mut self, meeting_id: &str) -> StoreResult<u64>;
    /// Attendees after roster position `after_seq`, in roster order, at most `limit`.
    fn list_attendees(
        &mut self,
        meeting_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Attendee>>;
    fn delete_attendee(&mut self, meeting_id: &str, attendee_id: &str) -> StoreResult<bool>;
    fn set_capabilities(
        &mut self,
        meeting_id: &str,
        attendee_id: &str,
        caps: Capabilities,
    ) -> StoreResult<bool>;
    /// Sets the capabilities of every attendee of the meeting except `excluded`; returns how many changed.
    fn set_capabilities_except(
        &mut self,
        meeting_id: &str,
        excluded: &[String],
        caps: Capabilities,
    ) -> StoreResult<u64>;

    fn tags(&mut self, meeting_id: &str) -> StoreResult<Vec<Tag>>;
    /// Adds the tags, replacing the value of keys already present.
    fn put_tags(&mut self, meeting_id: &str, tags: &[Tag]) -> StoreResult<()>;
    fn remove_tags(&mut self, meeting_id: &str, keys: &[String]) -> StoreResult<()>;

    fn transcription(&mut self, meeting_id: &str) -> StoreResult<Option<String>>;
    fn set_transcription(
        &mut self,
        meeting_id: &str,
        configuration: &str,
        now_ms: i64,
    ) -> StoreResult<()>;
    fn clear_transcription(&mut self, meeting_id: &str) -> StoreResult<bool>;

    /// The account's meetings, newest first, at most `limit` (Convene's own
    /// view for the console: the API has no ListMeetings).
    fn list_meetings(&mut self, account_id: &str, limit: u32) -> StoreResult<Vec<Meeting>>;
    /// Meetings and attendees held, over every account (for metrics).
    fn totals(&mut self) -> StoreResult<(u64, u64)>;
}

/// A unit of work run inside one transaction. It answers whether to commit.
pub type TxJob = Box<dyn FnOnce(&mut dyn Tx) -> StoreResult<bool> + Send>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage backend.
pub trait Store: Send + Sync + 'static {
    /// Runs `job` in a read-only transaction (a consistent snapshot).
    fn read(&self, job: TxJob) -> BoxFuture<'_, StoreResult<()>>;
    /// Runs `job` in a write transaction; when it returns `Ok(true)` the
    /// transaction is committed durably before this resolves.
    fn write(&self, job: TxJob) -> BoxFuture<'_, StoreResult<()>>;
    /// A secret shared by every node using this store (signs page tokens).
    fn token_key(&self) -> Vec<u8>;
    /// True when the store answers: a real, durable write (so a stuck
    /// writer or a full disk shows) and the schema is up to date.
    fn ping(&self) -> BoxFuture<'_, bool>;
}

async fn run<T: Send + 'static>(
    store: &dyn Store,
    write: bool,
    f: impl FnOnce(&mut dyn Tx) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let slot: Arc<Mutex<Option<Result<T, ApiError>>>> = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let job: TxJob = Box::new(move |tx| {
        let result = f(tx);
        let commit = result.is_ok();
        *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        Ok(commit)
    });
    let started = std::time::Instant::now();
    let outcome = if write {
        store.write(job).await
    } else {
        store.read(job).await
    };
    metrics::histogram!("convene_store_transaction_duration_seconds",
        "kind" => if write { "write" } else { "read" })
    .record(started.elapsed().as_secs_f64());
    outcome?;
    let result = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    result.unwrap_or_else(|| {
        Err(ApiError::service_failure(
            "The request was not completed; try again",
        ))
    })
}

/// Runs `f` in a write transaction, committing when it succeeds.
pub async fn write<T: Send + 'static>(
    store: &dyn Store,
    f: impl FnOnce(&mut dyn Tx) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    run(store, true, f).await
}

/// Runs `f` in a read transaction.
pub async fn read<T: Send + 'static>(
    store: &dyn Store,
    f: impl FnOnce(&mut dyn Tx) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    run(store, false, f).await
}
