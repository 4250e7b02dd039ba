//! The embedded SQLite backend.
//!
//! One writer connection and a pool of reader connections. SQLite allows one
//! writer at a time, and every write transaction starts with `BEGIN IMMEDIATE`,
//! which takes the database's write lock before the first statement: the
//! whole database is the locked row, so the decisions [`Tx::create_meeting`]
//! and [`Tx::create_attendee`] make (limits, idempotency) cannot interleave
//! with another writer's. The unique constraints on (account, ClientRequestToken)
//! and (meeting, ExternalUserId) back them up, and an insert that meets one
//! returns the row already there. WAL journaling lets readers run while a
//! write is under way, and `synchronous=FULL` makes every commit durable
//! before it returns.
//!
//! Writes go through one thread that owns the write connection and commits
//! the jobs queued meanwhile together, one fsync for the lot (`writer.rs`).

mod checkpoint;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::{
    BoxFuture, CreatedAttendee, CreatedMeeting, DeadLetter, Job, MeetingBrief, MeetingLimits, Mode,
    NewEvent, Store, StoreError, StoreOptions, StoreResult, StoredEvent, StreamClaim, StreamKey,
    StreamUpdate, Tx, MAX_ATTEMPTS,
};
use crate::domain::ids::{AccountId, AttendeeId, ExternalUserId, JoinToken, MeetingId};
use crate::domain::types::{
    Attendee, Capabilities, MediaCapability, Meeting, NetworkType, StringEnum, Tag,
};

/// Schema migrations, applied in order; a version is never edited once released.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_ended_meetings.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_ended_meetings_by_time.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_meetings_by_creation.sql"),
    ),
    (5, include_str!("../../migrations/sqlite/0005_events.sql")),
    (6, include_str!("../../migrations/sqlite/0006_counts.sql")),
    (
        7,
        include_str!("../../migrations/sqlite/0007_attendee_keys.sql"),
    ),
];

/// Readers kept open for reuse.
const MAX_IDLE_READERS: usize = 16;

/// Maps SQLite's answers onto the store's: a busy database is
/// [`StoreError::Unavailable`], a unique-constraint hit is a
/// [`StoreError::Conflict`] (the job is re-run and finds the row that won).
#[allow(clippy::needless_pass_by_value)] // used as `map_err(backend)`
fn backend(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                return StoreError::Unavailable(format!("the database is busy: {e}"));
            }
            rusqlite::ErrorCode::DiskFull => {
                return StoreError::Unavailable(format!("the disk is full: {e}"));
            }
            rusqlite::ErrorCode::ConstraintViolation
                if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                return StoreError::Conflict(e.to_string());
            }
            _ => {}
        }
    }
    StoreError::Backend(e.to_string())
}

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "convene.sqlite3";

pub struct SqliteStore {
    path: PathBuf,
    writer: writer::Writer,
    readers: Arc<Mutex<Vec<Connection>>>,
    token_key: Vec<u8>,
    options: StoreOptions,
    locking: Locking,
}

/// Whether other processes may open the database while the store has it
/// (`--sqlite-locking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locking {
    /// They may (the `sqlite3` shell, a backup tool, another server): every
    /// read transaction takes the file's shared lock and gives it back, two
    /// `fcntl` calls and the kernel's lock on the file, about a tenth of a
    /// GetMeeting's time (BENCHMARKS.md).
    #[default]
    Shared,
    /// The process keeps the database to itself from open to exit (SQLite's
    /// `unix-excl` VFS: one lock held on the file, the WAL index in the
    /// process's memory), so reads take no file lock. Another process that
    /// opens the file finds it locked.
    Exclusive,
}

impl Locking {
    fn vfs(self) -> &'static str {
        match self {
            Locking::Shared => "unix",
            Locking::Exclusive => "unix-excl",
        }
    }
}

fn open_connection(
    path: &Path,
    options: &StoreOptions,
    locking: Locking,
) -> StoreResult<Connection> {
    let conn =
        Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), locking.vfs())
            .map_err(backend)?;
    conn.busy_timeout(options.timeout).map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(backend)?;
    Ok(conn)
}

/// Drops the per-value statistics `ANALYZE` (or `PRAGMA optimize`) leaves in
/// `sqlite_stat4`. With them the bundled SQLite (built with STAT4) plans a
/// cached statement again whenever a bound value changes, which more than
/// doubles the cost of every lookup (BENCHMARKS.md); without them each query
/// of the schema is planned by its index. `sqlite_stat1` is kept: it never
/// causes a re-plan.
fn drop_value_statistics(conn: &Connection) -> StoreResult<()> {
    let present: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat4')",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if present {
        conn.execute_batch("DROP TABLE sqlite_stat4")
            .map_err(backend)?;
        tracing::info!(
            "dropped sqlite_stat4 (left by ANALYZE): with it every lookup would be planned again"
        );
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .map_err(backend)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let current: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Backend(format!(
            "the database has schema version {current}, newer than this build knows ({newest}); use a newer convene"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        // Some copy a table (migration 7: about 80 s at 10 million
        // attendees), so the wait is announced.
        tracing::info!(version, "applying schema migration");
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::now_ms()],
        )
        .map_err(backend)?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().map_err(backend)?;
    if current < newest {
        // A migration that copied a table left its size in the log: copy it
        // into the database file now and empty the log, rather than keep a
        // `-wal` file of gigabytes (4.6 GiB after migration 7 at 10 million
        // attendees) until the next checkpoint starts it over.
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(backend)?;
    }
    Ok(())
}

fn load_token_key(conn: &Connection) -> StoreResult<Vec<u8>> {
    let mut fresh = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    conn.execute(
        "INSERT INTO server_secrets (name, value) VALUES ('page-token-key', ?1) ON CONFLICT (name) DO NOTHING",
        params![fresh],
    )
    .map_err(backend)?;
    conn.query_row(
        "SELECT value FROM server_secrets WHERE name = 'page-token-key'",
        [],
        |r| r.get(0),
    )
    .map_err(backend)
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `dir` and brings its schema up to date.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// [`SqliteStore::open`] with explicit options.
    pub fn open_with(dir: &Path, options: StoreOptions) -> StoreResult<Self> {
        Self::open_locking(dir, options, Locking::Shared)
    }

    /// [`SqliteStore::open_with`], sharing the file with other processes or not.
    pub fn open_locking(dir: &Path, options: StoreOptions, locking: Locking) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DATABASE_FILE);
        let in_use = |e: StoreError| {
            match e {
            StoreError::Unavailable(why) => StoreError::Backend(format!(
                "{} is locked by another process ({why}); {}",
                path.display(),
                match locking {
                    Locking::Exclusive => "--sqlite-locking exclusive needs the database to itself: stop the other process (another server, the sqlite3 shell) or use --sqlite-locking shared",
                    Locking::Shared => "is another server running on it with --sqlite-locking exclusive?",
                }
            )),
            other => other,
        }
        };
        let mut conn = open_connection(&path, &options, locking).map_err(in_use)?;
        migrate(&mut conn).map_err(in_use)?;
        drop_value_statistics(&conn)?;
        let token_key = load_token_key(&conn)?;
        let checkpointer =
            checkpoint::Checkpointer::start(open_connection(&path, &options, locking)?)?;
        Ok(SqliteStore {
            path,
            writer: writer::Writer::start(conn, checkpointer, options.timeout)?,
            readers: Arc::new(Mutex::new(Vec::new())),
            token_key,
            options,
            locking,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Runs a transaction-control statement (`BEGIN`, `COMMIT`, `ROLLBACK`)
/// from the connection's statement cache, parsed once per connection.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `job` in a read transaction on `conn`, again when an attempt meets a
/// conflict, until `deadline` for starting it. The job's futures are ready at
/// once (every [`SqliteTx`] method is), so awaiting it never parks: on a
/// reader thread it is driven by `block_on`, for a lookup in place.
async fn run_job(conn: &mut Connection, deadline: Instant, job: &Job) -> StoreResult<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        conn.busy_timeout(left.max(Duration::from_millis(1)))
            .map_err(backend)?;
        control(conn, "BEGIN DEFERRED").map_err(backend)?;
        let mut tx = SqliteTx {
            conn: &mut *conn,
            conflict: None,
        };
        let commit = job(&mut tx).await;
        let conflict = tx.conflict.take();
        if let Some(why) = conflict {
            control(conn, "ROLLBACK").map_err(backend)?;
            if attempt >= MAX_ATTEMPTS {
                return Err(StoreError::Conflict(why));
            }
            continue;
        }
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        if let Err(e) = control(conn, end) {
            if !conn.is_autocommit() {
                let _ = control(conn, "ROLLBACK");
            }
            return Err(backend(e));
        }
        return Ok(());
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
}

impl SqliteStore {
    /// A reader from the pool, or a new one (opened on a blocking thread).
    async fn reader(&self) -> StoreResult<Connection> {
        let pooled = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        if let Some(c) = pooled {
            return Ok(c);
        }
        let (path, options, locking) = (self.path.clone(), self.options, self.locking);
        blocking(move || open_connection(&path, &options, locking)).await
    }

    /// Puts a reader back in the pool after a transaction that ended cleanly.
    fn put_back(readers: &Mutex<Vec<Connection>>, conn: Connection) {
        let mut idle = readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

impl Store for SqliteStore {
    fn run(&self, mode: Mode, job: Arc<Job>) -> BoxFuture<'_, StoreResult<()>> {
        let deadline = Instant::now() + self.options.timeout;
        Box::pin(async move {
            match mode {
                Mode::Write => self.writer.run(writer::Work::Job(job)).await,
                // A few rows by key from a WAL snapshot (readers never wait for
                // the writer): on this task, with no hop to a blocking thread
                // and back.
                Mode::Lookup => {
                    let mut conn = self.reader().await?;
                    let result = run_job(&mut conn, deadline, &*job).await;
                    if result.is_ok() {
                        Self::put_back(&self.readers, conn);
                    }
                    result
                }
                Mode::Read => {
                    let mut conn = self.reader().await?;
                    let readers = self.readers.clone();
                    let runtime = tokio::runtime::Handle::current();
                    blocking(move || {
                        let result = runtime.block_on(run_job(&mut conn, deadline, &*job));
                        if result.is_ok() {
                            Self::put_back(&readers, conn);
                        }
                        result
                    })
                    .await
                }
            }
        })
    }

    fn token_key(&self) -> Vec<u8> {
        self.token_key.clone()
    }

    fn ping(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let checked = self.writer.run(writer::Work::Touch).await;
            if let Err(e) = &checked {
                tracing::warn!(error = %e, "store readiness check failed");
            }
            checked.is_ok()
        })
    }
}

/// One transaction. It notes the first conflict any statement met, so that
/// the runner re-runs the job even when the job turned the error into an answer.
struct SqliteTx<'c> {
    conn: &'c mut Connection,
    conflict: Option<String>,
}

const MEETING_COLUMNS: &str =
    "meeting_id, account_id, control_region, media_region, external_meeting_id, \
     meeting_host_id, primary_meeting_id, features, tenant_ids, notifications, network_type, \
     client_request_token, created_at_ms";

fn json_column<T: serde::de::DeserializeOwned>(raw: Option<String>) -> rusqlite::Result<Option<T>> {
    raw.map(|s| {
        serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

fn meeting_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Meeting> {
    let network: Option<String> = r.get(10)?;
    let primary: Option<String> = r.get(6)?;
    Ok(Meeting {
        meeting_id: MeetingId::from_stored(r.get(0)?),
        account_id: AccountId::from_stored(r.get(1)?),
        control_region: r.get(2)?,
        media_region: r.get(3)?,
        external_meeting_id: r.get(4)?,
        meeting_host_id: r.get(5)?,
        primary_meeting_id: primary.map(MeetingId::from_stored),
        features: json_column(r.get(7)?)?,
        tenant_ids: json_column(r.get(8)?)?.unwrap_or_default(),
        notifications: json_column(r.get(9)?)?,
        network_type: network.as_deref().and_then(NetworkType::parse),
        client_request_token: r.get(11)?,
        created_at_ms: r.get(12)?,
    })
}

/// A capability column, matched as bytes (the names are ASCII, so there is
/// no UTF-8 to check first).
fn capability(raw: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<MediaCapability> {
    let bytes = raw.as_bytes()?;
    std::str::from_utf8(bytes)
        .ok()
        .and_then(MediaCapability::parse)
        .ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("unknown capability {:?}", String::from_utf8_lossy(bytes)).into(),
            )
        })
}

/// Attendee columns, read from `attendees a` joined with `meetings m`.
const ATTENDEE_COLUMNS: &str =
    "a.seq, a.meeting_id, a.attendee_id, a.external_user_id, a.join_token, a.audio, a.video, a.content";

/// A condition on `attendees` rows: the meeting is one of account `?1`'s.
const IN_ACCOUNT: &str = "meeting_id IN (SELECT meeting_id FROM meetings WHERE account_id = ?1)";

/// Attendees of one account's meetings: `?1` is the account.
const ACCOUNT_ATTENDEES: &str =
    "attendees a JOIN meetings m ON m.meeting_id = a.meeting_id WHERE m.account_id = ?1";

fn attendee_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attendee> {
    attendee_of(r, MeetingId::from_stored(r.get(1)?))
}

/// An attendee row of a meeting already known (its id column is not read again).
fn attendee_of(r: &rusqlite::Row<'_>, meeting_id: MeetingId) -> rusqlite::Result<Attendee> {
    Ok(Attendee {
        seq: r.get(0)?,
        meeting_id,
        attendee_id: AttendeeId::from_stored(r.get(2)?),
        external_user_id: ExternalUserId::from_stored(r.get(3)?),
        join_token: JoinToken::from_stored(r.get(4)?),
        capabilities: Capabilities {
            audio: capability(r.get_ref(5)?)?,
            video: capability(r.get_ref(6)?)?,
            content: capability(r.get_ref(7)?)?,
        },
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

impl SqliteTx<'_> {
    /// Hands a result back as a future, noting a conflict for the runner.
    fn done<'a, T: Send + 'a>(&mut self, r: StoreResult<T>) -> BoxFuture<'a, StoreResult<T>> {
        if let Err(StoreError::Conflict(why)) = &r {
            self.conflict.get_or_insert_with(|| why.clone());
        }
        Box::pin(std::future::ready(r))
    }

    /// `sql` selects [`MEETING_COLUMNS`] from `meetings`.
    fn query_meeting(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<Option<Meeting>> {
        self.conn
            .prepare_cached(sql)
            .map_err(backend)?
            .query_row(p, meeting_from_row)
            .optional()
            .map_err(backend)
    }

    /// `sql` selects [`ATTENDEE_COLUMNS`] from [`ACCOUNT_ATTENDEES`].
    fn query_attendee(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<Option<Attendee>> {
        self.conn
            .prepare_cached(sql)
            .map_err(backend)?
            .query_row(p, attendee_from_row)
            .optional()
            .map_err(backend)
    }

    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<usize> {
        self.conn
            .prepare_cached(sql)
            .map_err(backend)?
            .execute(p)
            .map_err(backend)
    }

    fn count(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(sql)
            .map_err(backend)?
            .query_row(p, |r| r.get(0))
            .map_err(backend)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn get_meeting(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
    ) -> StoreResult<Option<Meeting>> {
        self.query_meeting(
            sql!(
                "SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = ?1 AND meeting_id = ?2"
            ),
            params![account.as_str(), meeting.as_str()],
        )
    }

    /// True when the account has this meeting: its key looked up, no row decoded.
    fn has_meeting(&self, account: &AccountId, meeting: &MeetingId) -> StoreResult<bool> {
        self.count(
            "SELECT COUNT(*) FROM meetings WHERE meeting_id = ?2 AND account_id = ?1",
            params![account.as_str(), meeting.as_str()],
        )
        .map(|n| n > 0)
    }

    fn by_token(&self, account: &AccountId, token: &str) -> StoreResult<Option<Meeting>> {
        self.query_meeting(
            sql!("SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = ?1 AND client_request_token = ?2"),
            params![account.as_str(), token],
        )
    }

    fn create_meeting_now(
        &self,
        m: &Meeting,
        tags: &[Tag],
        limits: MeetingLimits,
    ) -> StoreResult<CreatedMeeting> {
        if let Some(existing) = self.by_token(&m.account_id, &m.client_request_token)? {
            return Ok(CreatedMeeting::Replayed(existing));
        }
        // Kept beside the meetings (migration 6): raised below, lowered by a trigger.
        let held = self.count(
            "SELECT COALESCE((SELECT n FROM meeting_counts WHERE account_id = ?1), 0)",
            params![m.account_id.as_str()],
        )?;
        if held >= limits.max_meetings {
            return Ok(CreatedMeeting::QuotaReached);
        }
        if let Some(primary_id) = &m.primary_meeting_id {
            let Some(primary) = self.get_meeting(&m.account_id, primary_id)? else {
                return Ok(CreatedMeeting::PrimaryNotFound);
            };
            if primary.primary_meeting_id.is_some() {
                return Ok(CreatedMeeting::PrimaryIsReplica);
            }
            let replicas = self.count(
                "SELECT COUNT(*) FROM meetings WHERE account_id = ?1 AND primary_meeting_id = ?2",
                params![m.account_id.as_str(), primary_id.as_str()],
            )?;
            if replicas >= limits.max_replicas {
                return Ok(CreatedMeeting::ReplicaLimitReached);
            }
        }
        let sql = sql!(
            "INSERT INTO meetings ({MEETING_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (account_id, client_request_token) DO NOTHING"
        );
        let inserted = self.exec(
            sql,
            params![
                m.meeting_id.as_str(),
                m.account_id.as_str(),
                m.control_region,
                m.media_region,
                m.external_meeting_id,
                m.meeting_host_id,
                m.primary_meeting_id.as_ref().map(MeetingId::as_str),
                m.features.as_ref().map(to_json),
                to_json(&m.tenant_ids),
                m.notifications.as_ref().map(to_json),
                m.network_type
                    .map(super::super::domain::types::NetworkType::as_str),
                m.client_request_token,
                m.created_at_ms,
            ],
        )?;
        if inserted == 0 {
            // Another writer used the token first: answer with its meeting.
            return match self.by_token(&m.account_id, &m.client_request_token)? {
                Some(existing) => Ok(CreatedMeeting::Replayed(existing)),
                None => Err(StoreError::Conflict("the token's meeting vanished".into())),
            };
        }
        self.exec(
            "INSERT INTO meeting_counts (account_id, n) VALUES (?1, 1) \
             ON CONFLICT (account_id) DO UPDATE SET n = n + 1",
            params![m.account_id.as_str()],
        )?;
        self.put_tags_now(&m.meeting_id, tags)?;
        Ok(CreatedMeeting::Created(m.clone()))
    }

    fn delete_meeting_now(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
        now_ms: i64,
    ) -> StoreResult<Vec<MeetingId>> {
        if !self.has_meeting(account, meeting)? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT meeting_id FROM meetings WHERE account_id = ?1 AND primary_meeting_id = ?2 ORDER BY created_at_ms",
            )
            .map_err(backend)?;
        let replicas: Vec<MeetingId> = stmt
            .query_map(params![account.as_str(), meeting.as_str()], |r| {
                r.get(0).map(MeetingId::from_stored)
            })
            .map_err(backend)?
            .collect::<rusqlite::Result<_>>()
            .map_err(backend)?;
        let mut ended = vec![meeting.clone()];
        ended.extend(replicas);
        for id in &ended {
            self.exec(
                "DELETE FROM meetings WHERE account_id = ?1 AND meeting_id = ?2",
                params![account.as_str(), id.as_str()],
            )?;
            self.exec(
                "INSERT INTO ended_meetings (meeting_id, account_id, ended_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (meeting_id) DO NOTHING",
                params![id.as_str(), account.as_str(), now_ms],
            )?;
        }
        Ok(ended)
    }

    fn create_attendee_now(
        &self,
        account: &AccountId,
        a: &Attendee,
        limit: u32,
    ) -> StoreResult<CreatedAttendee> {
        if !self.has_meeting(account, &a.meeting_id)? {
            return Ok(CreatedAttendee::MeetingNotFound);
        }
        let existing = |tx: &Self| {
            tx.query_attendee(
                sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = ?2 AND a.external_user_id = ?3"),
                params![
                    account.as_str(),
                    a.meeting_id.as_str(),
                    a.external_user_id.as_str()
                ],
            )
        };
        // The limit first: a new attendee (the common case) is then inserted
        // without a lookup before; an ExternalUserId already there is found
        // by the insert's conflict, or here when the meeting is full. The
        // count (migration 6) is raised below and lowered by a trigger.
        let held = self.count(
            "SELECT COALESCE((SELECT n FROM attendee_counts WHERE meeting_id = ?1), 0)",
            params![a.meeting_id.as_str()],
        )?;
        if held >= u64::from(limit) {
            return Ok(match existing(self)? {
                Some(found) => CreatedAttendee::Existing(found),
                None => CreatedAttendee::LimitReached,
            });
        }
        // No RETURNING: SQLite runs a statement with one through a temporary
        // table and checks its foreign key at the end, which makes it keep a
        // statement journal (a copy of every page it changes): 7% of the
        // writer's time. The new row's number is the connection's last rowid.
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO attendees (meeting_id, attendee_id, external_user_id, join_token, audio, video, content) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (meeting_id, external_user_id) DO NOTHING",
            )
            .map_err(backend)?
            .execute(params![
                a.meeting_id.as_str(),
                a.attendee_id.as_str(),
                a.external_user_id.as_str(),
                a.join_token.expose(),
                a.capabilities.audio.as_str(),
                a.capabilities.video.as_str(),
                a.capabilities.content.as_str(),
            ])
            .map_err(backend)?;
        let seq = (inserted == 1).then(|| self.conn.last_insert_rowid());
        match seq {
            Some(seq) => {
                self.exec(
                    "INSERT INTO attendee_counts (meeting_id, n) VALUES (?1, 1) \
                     ON CONFLICT (meeting_id) DO UPDATE SET n = n + 1",
                    params![a.meeting_id.as_str()],
                )?;
                Ok(CreatedAttendee::Created(Attendee { seq, ..a.clone() }))
            }
            None => match existing(self)? {
                Some(found) => Ok(CreatedAttendee::Existing(found)),
                None => Err(StoreError::Conflict("the attendee vanished".into())),
            },
        }
    }

    fn put_tags_now(&self, meeting: &MeetingId, tags: &[Tag]) -> StoreResult<()> {
        for t in tags {
            self.exec(
                "INSERT INTO meeting_tags (meeting_id, tag_key, tag_value, position) \
                 VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(position), 0) + 1 FROM meeting_tags WHERE meeting_id = ?1)) \
                 ON CONFLICT (meeting_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                params![meeting.as_str(), t.key, t.value],
            )?;
        }
        Ok(())
    }

    fn list_now(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Attendee>> {
        let sql = sql!(
            "SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = ?2 AND a.seq > ?3 ORDER BY a.seq LIMIT ?4"
        );
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt
            .query_map(
                params![account.as_str(), meeting.as_str(), after_seq, limit],
                |r| attendee_of(r, meeting.clone()),
            )
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn set_caps_now(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
        attendee: &AttendeeId,
        caps: Capabilities,
    ) -> StoreResult<Option<Attendee>> {
        let sql = sql!(
            "UPDATE attendees SET audio = ?4, video = ?5, content = ?6 WHERE meeting_id = ?2 AND attendee_id = ?3 AND {IN_ACCOUNT}"
        );
        let changed = self.exec(
            sql,
            params![
                account.as_str(),
                meeting.as_str(),
                attendee.as_str(),
                caps.audio.as_str(),
                caps.video.as_str(),
                caps.content.as_str()
            ],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        self.query_attendee(
            sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = ?2 AND a.attendee_id = ?3"),
            params![account.as_str(), meeting.as_str(), attendee.as_str()],
        )
    }

    fn set_caps_except_now(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
        excluded: &[AttendeeId],
        caps: Capabilities,
    ) -> StoreResult<u64> {
        // One placeholder per excluded id (at most 250 of them).
        let holes: Vec<String> = (0..excluded.len()).map(|i| format!("?{}", i + 6)).collect();
        let not_in = if holes.is_empty() {
            String::new()
        } else {
            format!(" AND attendee_id NOT IN ({})", holes.join(", "))
        };
        let sql = format!(
            "UPDATE attendees SET audio = ?3, video = ?4, content = ?5 WHERE meeting_id = ?2 AND {IN_ACCOUNT}{not_in}"
        );
        let mut values: Vec<&str> = vec![
            account.as_str(),
            meeting.as_str(),
            caps.audio.as_str(),
            caps.video.as_str(),
            caps.content.as_str(),
        ];
        values.extend(excluded.iter().map(AttendeeId::as_str));
        let n = self
            .conn
            .prepare(&sql)
            .map_err(backend)?
            .execute(params_from_iter(values))
            .map_err(backend)?;
        Ok(n as u64)
    }

    fn briefs_now(&self, created_by_ms: Option<i64>) -> StoreResult<Vec<MeetingBrief>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT account_id, meeting_id, primary_meeting_id, created_at_ms FROM meetings \
                 WHERE created_at_ms <= ?1",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![created_by_ms.unwrap_or(i64::MAX)], |r| {
                let primary: Option<String> = r.get(2)?;
                Ok(MeetingBrief {
                    account_id: AccountId::from_stored(r.get(0)?),
                    meeting_id: MeetingId::from_stored(r.get(1)?),
                    primary_meeting_id: primary.map(MeetingId::from_stored),
                    created_at_ms: r.get(3)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn list_meetings_now(&self, account: &AccountId, limit: u32) -> StoreResult<Vec<Meeting>> {
        let sql = sql!(
            "SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = ?1 \
             ORDER BY created_at_ms DESC, meeting_id LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![account.as_str(), limit], meeting_from_row)
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn tags_now(&self, meeting: &MeetingId) -> StoreResult<Vec<Tag>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tag_key, tag_value FROM meeting_tags WHERE meeting_id = ?1 ORDER BY position")
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![meeting.as_str()], |r| {
                Ok(Tag {
                    key: r.get(0)?,
                    value: r.get(1)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }
}

/// The outbox and the event log.
impl SqliteTx<'_> {
    fn events_query(
        &self,
        sql: &str,
        key: &str,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![key, after, limit], |r| {
                Ok(StoredEvent {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    account_id: r.get(2)?,
                    meeting_id: r.get(3)?,
                    event_type: r.get(4)?,
                    created_at_ms: r.get(5)?,
                    body: r.get(6)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn append_event_now(&self, e: &NewEvent, streams: &[StreamKey]) -> StoreResult<i64> {
        self.exec(
            "INSERT INTO events (id, account_id, meeting_id, event_type, created_at_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                e.id,
                e.account_id,
                e.meeting_id,
                e.event_type,
                e.created_at_ms,
                e.body
            ],
        )?;
        let seq = self.conn.last_insert_rowid();
        for k in streams {
            // A new stream starts just before this event: it carries the
            // meeting's events from now on.
            self.exec(
                "INSERT INTO event_streams (sink, target, meeting_id, last_seq, delivered_seq)
                 VALUES (?1, ?2, ?3, ?4, ?4 - 1)
                 ON CONFLICT (sink, target, meeting_id) DO UPDATE SET last_seq = excluded.last_seq",
                params![k.sink, k.target, k.meeting_id, seq],
            )?;
        }
        Ok(seq)
    }

    fn claim_streams_now(
        &self,
        sinks: &[String],
        holder: &str,
        now_ms: i64,
        lease_expires_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<StreamClaim>> {
        let sinks = to_json(&sinks);
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE event_streams SET lease_holder = ?1, lease_expires_ms = ?2
                 WHERE rowid IN (
                     SELECT rowid FROM event_streams
                     WHERE delivered_seq < last_seq AND next_attempt_ms <= ?3
                       AND (lease_holder IS NULL OR lease_expires_ms <= ?3)
                       AND sink IN (SELECT value FROM json_each(?4))
                     ORDER BY next_attempt_ms LIMIT ?5)
                 RETURNING sink, target, meeting_id, delivered_seq, attempts",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![holder, lease_expires_ms, now_ms, sinks, limit],
                |r| {
                    Ok(StreamClaim {
                        key: StreamKey {
                            sink: r.get(0)?,
                            target: r.get(1)?,
                            meeting_id: r.get(2)?,
                        },
                        delivered_seq: r.get(3)?,
                        attempts: r.get(4)?,
                    })
                },
            )
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn meeting_events_now(
        &self,
        meeting_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.events_query(
            "SELECT seq, id, account_id, meeting_id, event_type, created_at_ms, body FROM events
             WHERE meeting_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            meeting_id,
            after_seq,
            limit,
        )
    }

    fn account_events_now(
        &self,
        account_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.events_query(
            "SELECT seq, id, account_id, meeting_id, event_type, created_at_ms, body FROM events
             WHERE account_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            account_id,
            after_seq,
            limit,
        )
    }

    fn latest_account_events_now(
        &self,
        account_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.events_query(
            "SELECT seq, id, account_id, meeting_id, event_type, created_at_ms, body FROM events
             WHERE account_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
            account_id,
            i64::MAX,
            limit,
        )
    }

    fn update_stream_now(
        &self,
        k: &StreamKey,
        holder: &str,
        u: &StreamUpdate,
    ) -> StoreResult<bool> {
        let n = self.exec(
            "UPDATE event_streams SET delivered_seq = MAX(delivered_seq, ?5), attempts = ?6,
                 next_attempt_ms = ?7, last_error = ?8,
                 lease_holder = CASE WHEN ?9 IS NULL THEN NULL ELSE lease_holder END,
                 lease_expires_ms = COALESCE(?9, 0)
             WHERE sink = ?1 AND target = ?2 AND meeting_id = ?3 AND lease_holder = ?4",
            params![
                k.sink,
                k.target,
                k.meeting_id,
                holder,
                u.delivered_seq,
                u.attempts,
                u.next_attempt_ms,
                u.last_error,
                u.lease_expires_ms
            ],
        )?;
        Ok(n > 0)
    }

    fn release_leases_now(&self, holder: &str) -> StoreResult<u64> {
        Ok(self.exec(
            "UPDATE event_streams SET lease_holder = NULL, lease_expires_ms = 0 WHERE lease_holder = ?1",
            params![holder],
        )? as u64)
    }

    fn record_dead_letter_now(&self, d: &DeadLetter) -> StoreResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO event_dead_letters
                 (sink, target, meeting_id, event_seq, event_id, attempts, last_error, dead_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                d.key.sink,
                d.key.target,
                d.key.meeting_id,
                d.event_seq,
                d.event_id,
                d.attempts,
                d.last_error,
                d.dead_at_ms
            ],
        )?;
        Ok(())
    }

    fn dead_letters_now(&self, meeting_id: &str) -> StoreResult<Vec<DeadLetter>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT sink, target, meeting_id, event_seq, event_id, attempts, last_error, dead_at_ms
                 FROM event_dead_letters WHERE meeting_id = ?1 ORDER BY event_seq",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![meeting_id], |r| {
                Ok(DeadLetter {
                    key: StreamKey {
                        sink: r.get(0)?,
                        target: r.get(1)?,
                        meeting_id: r.get(2)?,
                    },
                    event_seq: r.get(3)?,
                    event_id: r.get(4)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                    dead_at_ms: r.get(7)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn prune_events_now(&self, before_ms: i64) -> StoreResult<u64> {
        let n = self.exec(
            "DELETE FROM events WHERE created_at_ms < ?1 AND NOT EXISTS (
                 SELECT 1 FROM event_streams s
                 WHERE s.meeting_id = events.meeting_id AND s.delivered_seq < events.seq)",
            params![before_ms],
        )?;
        self.exec(
            "DELETE FROM event_streams WHERE delivered_seq >= last_seq AND NOT EXISTS (
                 SELECT 1 FROM events e WHERE e.meeting_id = event_streams.meeting_id)",
            [],
        )?;
        self.exec(
            "DELETE FROM event_dead_letters WHERE dead_at_ms < ?1",
            params![before_ms],
        )?;
        Ok(n as u64)
    }

    fn meeting_by_id_now(&self, meeting: &MeetingId) -> StoreResult<Option<Meeting>> {
        self.query_meeting(
            sql!("SELECT {MEETING_COLUMNS} FROM meetings WHERE meeting_id = ?1"),
            params![meeting.as_str()],
        )
    }

    fn replica_meetings_now(
        &self,
        account: &AccountId,
        primary: &MeetingId,
    ) -> StoreResult<Vec<Meeting>> {
        let sql = sql!(
            "SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = ?1 AND primary_meeting_id = ?2"
        );
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt
            .query_map(
                params![account.as_str(), primary.as_str()],
                meeting_from_row,
            )
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }
}

impl Tx for SqliteTx<'_> {
    fn append_event<'a>(
        &'a mut self,
        event: &'a NewEvent,
        streams: &'a [StreamKey],
    ) -> BoxFuture<'a, StoreResult<i64>> {
        let r = self.append_event_now(event, streams);
        self.done(r)
    }

    fn claim_streams<'a>(
        &'a mut self,
        sinks: &'a [String],
        holder: &'a str,
        now_ms: i64,
        lease_expires_ms: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StreamClaim>>> {
        let r = self.claim_streams_now(sinks, holder, now_ms, lease_expires_ms, limit);
        self.done(r)
    }

    fn meeting_events<'a>(
        &'a mut self,
        meeting_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>> {
        let r = self.meeting_events_now(meeting_id, after_seq, limit);
        self.done(r)
    }

    fn account_events<'a>(
        &'a mut self,
        account_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>> {
        let r = self.account_events_now(account_id, after_seq, limit);
        self.done(r)
    }

    fn latest_account_events<'a>(
        &'a mut self,
        account_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>> {
        let r = self.latest_account_events_now(account_id, limit);
        self.done(r)
    }

    fn update_stream<'a>(
        &'a mut self,
        key: &'a StreamKey,
        holder: &'a str,
        update: &'a StreamUpdate,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let r = self.update_stream_now(key, holder, update);
        self.done(r)
    }

    fn release_leases<'a>(&'a mut self, holder: &'a str) -> BoxFuture<'a, StoreResult<u64>> {
        let r = self.release_leases_now(holder);
        self.done(r)
    }

    fn record_dead_letter<'a>(
        &'a mut self,
        dead: &'a DeadLetter,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let r = self.record_dead_letter_now(dead);
        self.done(r)
    }

    fn dead_letters<'a>(
        &'a mut self,
        meeting_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<DeadLetter>>> {
        let r = self.dead_letters_now(meeting_id);
        self.done(r)
    }

    fn prune_events(&mut self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>> {
        let r = self.prune_events_now(before_ms);
        self.done(r)
    }

    fn meeting_by_id<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<Meeting>>> {
        let r = self.meeting_by_id_now(meeting);
        self.done(r)
    }

    fn replica_meetings<'a>(
        &'a mut self,
        account: &'a AccountId,
        primary: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Vec<Meeting>>> {
        let r = self.replica_meetings_now(account, primary);
        self.done(r)
    }

    fn meeting<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<Meeting>>> {
        let r = self.get_meeting(account, meeting);
        self.done(r)
    }

    fn create_meeting<'a>(
        &'a mut self,
        meeting: &'a Meeting,
        tags: &'a [Tag],
        limits: MeetingLimits,
    ) -> BoxFuture<'a, StoreResult<CreatedMeeting>> {
        let r = self.create_meeting_now(meeting, tags, limits);
        self.done(r)
    }

    fn delete_meeting<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Vec<MeetingId>>> {
        let r = self.delete_meeting_now(account, meeting, now_ms);
        self.done(r)
    }

    fn meeting_ended<'a>(&'a mut self, meeting: &'a MeetingId) -> BoxFuture<'a, StoreResult<bool>> {
        let r = self
            .count(
                "SELECT COUNT(*) FROM ended_meetings WHERE meeting_id = ?1",
                params![meeting.as_str()],
            )
            .map(|n| n > 0);
        self.done(r)
    }

    fn create_attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        attendee: &'a Attendee,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<CreatedAttendee>> {
        let r = self.create_attendee_now(account, attendee, limit);
        self.done(r)
    }

    fn attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        let r = self.query_attendee(
            sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = ?2 AND a.attendee_id = ?3"),
            params![account.as_str(), meeting.as_str(), attendee.as_str()],
        );
        self.done(r)
    }

    fn attendee_by_external_id<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        external_user_id: &'a ExternalUserId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        let r = self.query_attendee(
            sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = ?2 AND a.external_user_id = ?3"),
            params![
                account.as_str(),
                meeting.as_str(),
                external_user_id.as_str()
            ],
        );
        self.done(r)
    }

    fn list_attendees<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Attendee>>> {
        let r = self.list_now(account, meeting, after_seq, limit);
        self.done(r)
    }

    fn delete_attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let sql = sql!(
            "DELETE FROM attendees WHERE meeting_id = ?2 AND attendee_id = ?3 AND {IN_ACCOUNT}"
        );
        let r = self
            .exec(
                sql,
                params![account.as_str(), meeting.as_str(), attendee.as_str()],
            )
            .map(|n| n > 0);
        self.done(r)
    }

    fn set_capabilities<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
        caps: Capabilities,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        let r = self.set_caps_now(account, meeting, attendee, caps);
        self.done(r)
    }

    fn set_capabilities_except<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        excluded: &'a [AttendeeId],
        caps: Capabilities,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        let r = self.set_caps_except_now(account, meeting, excluded, caps);
        self.done(r)
    }

    fn join_credential<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        let sql = sql!(
            "SELECT {ATTENDEE_COLUMNS} FROM attendees a WHERE a.meeting_id = ?1 AND a.attendee_id = ?2"
        );
        let r = self
            .conn
            .prepare_cached(sql)
            .map_err(backend)
            .and_then(|mut s| {
                s.query_row(
                    params![meeting.as_str(), attendee.as_str()],
                    attendee_from_row,
                )
                .optional()
                .map_err(backend)
            });
        self.done(r)
    }

    fn tags<'a>(&'a mut self, meeting: &'a MeetingId) -> BoxFuture<'a, StoreResult<Vec<Tag>>> {
        let r = self.tags_now(meeting);
        self.done(r)
    }

    fn put_tags<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        tags: &'a [Tag],
    ) -> BoxFuture<'a, StoreResult<()>> {
        let r = self.put_tags_now(meeting, tags);
        self.done(r)
    }

    fn remove_tags<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        keys: &'a [String],
    ) -> BoxFuture<'a, StoreResult<()>> {
        let mut r = Ok(());
        for k in keys {
            if let Err(e) = self.exec(
                "DELETE FROM meeting_tags WHERE meeting_id = ?1 AND tag_key = ?2",
                params![meeting.as_str(), k],
            ) {
                r = Err(e);
                break;
            }
        }
        self.done(r)
    }

    fn transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<String>>> {
        let r = self
            .conn
            .prepare_cached("SELECT configuration FROM transcriptions WHERE meeting_id = ?1")
            .map_err(backend)
            .and_then(|mut s| {
                s.query_row(params![meeting.as_str()], |r| r.get(0))
                    .optional()
                    .map_err(backend)
            });
        self.done(r)
    }

    fn set_transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        configuration: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let r = self
            .exec(
                "INSERT INTO transcriptions (meeting_id, configuration, started_at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (meeting_id) DO UPDATE SET configuration = excluded.configuration, started_at_ms = excluded.started_at_ms",
                params![meeting.as_str(), configuration, now_ms],
            )
            .map(|_| ());
        self.done(r)
    }

    fn clear_transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let r = self
            .exec(
                "DELETE FROM transcriptions WHERE meeting_id = ?1",
                params![meeting.as_str()],
            )
            .map(|n| n > 0);
        self.done(r)
    }

    fn meeting_briefs(
        &mut self,
        created_by_ms: Option<i64>,
    ) -> BoxFuture<'_, StoreResult<Vec<MeetingBrief>>> {
        let r = self.briefs_now(created_by_ms);
        self.done(r)
    }

    fn prune_ended_meetings<'a>(
        &'a mut self,
        account: Option<&'a AccountId>,
        ended_before_ms: i64,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        let r = match account {
            None => self.exec(
                "DELETE FROM ended_meetings WHERE ended_at_ms < ?1",
                params![ended_before_ms],
            ),
            Some(a) => self.exec(
                "DELETE FROM ended_meetings WHERE account_id = ?1 AND ended_at_ms < ?2",
                params![a.as_str(), ended_before_ms],
            ),
        }
        .map(|n| n as u64);
        self.done(r)
    }

    fn list_meetings<'a>(
        &'a mut self,
        account: &'a AccountId,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Meeting>>> {
        let r = self.list_meetings_now(account, limit);
        self.done(r)
    }

    fn totals(&mut self) -> BoxFuture<'_, StoreResult<(u64, u64)>> {
        let r = self
            .conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM meetings), (SELECT COUNT(*) FROM attendees)",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .map(|(m, a)| (u64::try_from(m).unwrap_or(0), u64::try_from(a).unwrap_or(0)))
            .map_err(backend);
        self.done(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    /// Statistics ANALYZE leaves in `sqlite_stat4` make every cached lookup
    /// re-plan itself; opening the store drops them (and keeps sqlite_stat1).
    #[test]
    fn opening_drops_the_value_statistics_analyze_leaves() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.execute_batch(
            "INSERT INTO meetings (meeting_id, account_id, control_region, media_region,
                 external_meeting_id, tenant_ids, client_request_token, created_at_ms)
             VALUES ('m', 'a', 'us-east-1', 'us-east-1', 'x', '[]', 't', 0);
             ANALYZE;",
        )
        .unwrap();
        let tables = |c: &Connection| -> Vec<String> {
            c.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%' ORDER BY name")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert!(
            tables(&conn).contains(&"sqlite_stat4".to_string()),
            "{:?}",
            tables(&conn)
        );
        drop(conn);
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        assert_eq!(tables(&conn), vec!["sqlite_stat1".to_string()]);
    }

    /// Migration 7 copies the attendees table with new keys: an older
    /// store's attendees keep their numbers, the AUTOINCREMENT high-water
    /// mark survives (a deleted attendee's number is not handed out again),
    /// the count trigger is back, and the keys are the new ones.
    #[test]
    fn migration_7_keeps_attendees_their_numbers_and_the_count_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);",
        )
        .unwrap();
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 6) {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [version])
                .unwrap();
        }
        let attendee = |c: &Connection, id: &str, user: &str, token: &str| {
            c.execute(
                "INSERT INTO attendees (meeting_id, attendee_id, external_user_id, join_token,
                     audio, video, content)
                 VALUES ('m', ?1, ?2, ?3, 'SendReceive', 'SendReceive', 'SendReceive')",
                [id, user, token],
            )
            .map(|_| c.last_insert_rowid())
        };
        conn.execute_batch(
            "INSERT INTO meetings (meeting_id, account_id, control_region, media_region,
                 external_meeting_id, tenant_ids, client_request_token, created_at_ms)
             VALUES ('m', 'a', 'us-east-1', 'us-east-1', 'x', '[]', 't', 0);
             INSERT INTO attendee_counts (meeting_id, n) VALUES ('m', 3);",
        )
        .unwrap();
        for (id, user, token) in [("a1", "u1", "t1"), ("a2", "u2", "t2"), ("a3", "u3", "t3")] {
            attendee(&conn, id, user, token).unwrap();
        }
        conn.execute("DELETE FROM attendees WHERE attendee_id = 'a3'", [])
            .unwrap();
        drop(conn);

        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        let version: i64 = conn
            .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(version, 7);
        let rows: Vec<(i64, String)> = conn
            .prepare("SELECT seq, attendee_id FROM attendees ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, vec![(1, "a1".to_string()), (2, "a2".to_string())]);
        let count = |c: &Connection| -> i64 {
            c.query_row(
                "SELECT n FROM attendee_counts WHERE meeting_id = 'm'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(count(&conn), 2);
        conn.execute("DELETE FROM attendees WHERE attendee_id = 'a2'", [])
            .unwrap();
        assert_eq!(count(&conn), 1, "the count trigger was recreated");
        assert_eq!(
            attendee(&conn, "a4", "u4", "t4").unwrap(),
            4,
            "3 was handed out"
        );
        assert!(
            attendee(&conn, "a4", "u5", "t5").is_err(),
            "an attendee id is unique in its meeting"
        );
        attendee(&conn, "a5", "u6", "t4").expect("join tokens have no unique index");
        let by_meeting: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'attendees_by_meeting'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(by_meeting, 1);
    }

    /// The storage conformance suite on SQLite, each case on a fresh database.
    async fn conformance_suite_with(locking: Locking) {
        let dirs = Arc::new(Mutex::new(Vec::new()));
        let keep = dirs.clone();
        conformance::run_all(move |options| {
            let dir = tempfile::tempdir().expect("temp dir");
            let store =
                SqliteStore::open_locking(dir.path(), options, locking).expect("open store");
            keep.lock().unwrap().push(dir);
            Arc::new(store) as Arc<dyn Store>
        })
        .await;
        drop(dirs);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_suite() {
        conformance_suite_with(Locking::Shared).await;
    }

    /// The same suite with the database held exclusively (`--sqlite-locking
    /// exclusive`): the store's own connections share it as before.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_suite_with_exclusive_locking() {
        conformance_suite_with(Locking::Exclusive).await;
    }

    #[tokio::test]
    async fn reopening_keeps_the_schema_and_the_page_token_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = SqliteStore::open(dir.path()).unwrap().token_key();
        let again = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(again.token_key(), key);
    }
}
