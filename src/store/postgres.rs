//! The PostgreSQL backend: several Convene nodes share one database.
//!
//! Driver: `tokio-postgres` with the `deadpool-postgres` pool. Both are small
//! (no macros, no compile-time query checking, no TLS stack unless asked
//! for), so the cold build grows by seconds rather than minutes; sqlx would
//! bring its macro and runtime layers for features this narrow store does
//! not use.
//!
//! How the invariants hold across nodes: every write transaction first takes
//! one transaction-scoped advisory lock ([`WRITE_LOCK`]), with a
//! `lock_timeout` equal to what is left of the `--store-timeout-ms` deadline.
//! Writers of every node therefore run one after another, as SQLite's single
//! writer does inside one process: the count-then-insert decisions of
//! [`Tx::create_meeting`] and [`Tx::create_attendee`] cannot interleave with
//! another node's, and attendee roster numbers (`seq`) are handed out in
//! commit order, so a NextToken never skips a row that commits later. The
//! unique constraints back this up; should a statement still meet a unique
//! violation, a serialization failure or a deadlock, the job is re-run in a
//! fresh transaction (up to [`MAX_ATTEMPTS`]). Reads take no lock: they run
//! in `REPEATABLE READ READ ONLY` transactions (one snapshot) on any pooled
//! connection, so they scale with the nodes. Control-plane writes are small
//! (a few statements on loopback or a LAN), which is why one writer at a time
//! is affordable.
//!
//! An unreachable database, a pool that gives no connection in time, or a
//! lock not granted in time is [`StoreError::Unavailable`] (503 with
//! Retry-After); the pool drops broken connections and makes new ones, so a
//! node recovers by itself when the database returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rand::RngCore;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

mod outbox;

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
pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_cluster.sql"),
    ),
    (3, include_str!("../../migrations/postgres/0003_events.sql")),
    (
        4,
        include_str!("../../migrations/postgres/0004_meeting_hosts.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_attendee_keys.sql"),
    ),
];

/// The advisory lock every write transaction holds (an arbitrary constant: "convene1").
pub const WRITE_LOCK: i64 = 0x636f_6e76_656e_6531;
/// The advisory lock held while migrations are applied ("convene2").
const MIGRATE_LOCK: i64 = 0x636f_6e76_656e_6532;

/// Connections one node keeps to the database.
const POOL_SIZE: usize = 16;

/// How long a job may run once started before its answer is given up on.
const JOB_LIMIT: Duration = Duration::from_secs(30);

/// What went wrong, with the server's own message: the driver's `Display`
/// alone says only "db error" for anything the server answered.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        return text;
    }
    crate::telemetry::error_chain(e)
}

/// Maps PostgreSQL's answers onto the store's.
#[allow(clippy::needless_pass_by_value)] // used as `.map_err(backend)`
pub fn backend(e: tokio_postgres::Error) -> StoreError {
    let text = describe(&e);
    if let Some(code) = e.code() {
        if code == &SqlState::T_R_SERIALIZATION_FAILURE
            || code == &SqlState::T_R_DEADLOCK_DETECTED
            || code == &SqlState::UNIQUE_VIOLATION
        {
            return StoreError::Conflict(text);
        }
        if code == &SqlState::LOCK_NOT_AVAILABLE
            || code == &SqlState::QUERY_CANCELED
            || code == &SqlState::ADMIN_SHUTDOWN
            || code == &SqlState::CRASH_SHUTDOWN
            || code == &SqlState::CANNOT_CONNECT_NOW
            || code == &SqlState::TOO_MANY_CONNECTIONS
            || code.code().starts_with("08")
        {
            return StoreError::Unavailable(format!("the database is busy or going away: {text}"));
        }
        return StoreError::Backend(text);
    }
    // No SQLSTATE: the connection itself failed (refused, reset, closed).
    StoreError::Unavailable(format!("the database is unreachable: {text}"))
}

/// A pool that gives no connection, as the store's error.
pub fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => backend(e),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}

/// The URL with its password masked, for logs and error messages.
pub fn redact(url: &str) -> String {
    crate::config::mask_url_password(url)
}

pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    token_key: Vec<u8>,
    options: StoreOptions,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), applies the
    /// migrations under an advisory lock (nodes starting at once apply them
    /// once) and loads the page-token key shared by the nodes.
    pub async fn connect(url: &str, options: StoreOptions) -> StoreResult<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Backend(format!("invalid database URL {}: {e}", redact(url)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.timeout);
        }
        config.application_name("convene");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        let store = PgStore {
            pool,
            config,
            token_key: Vec::new(),
            options,
        };
        store.migrate().await?;
        let token_key = store.load_token_key().await?;
        Ok(PgStore { token_key, ..store })
    }

    /// A connection of its own, outside the pool (for LISTEN and migrations).
    pub async fn dedicated(&self) -> StoreResult<tokio_postgres::Client> {
        let (client, connection) = self.connect_raw().await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "database connection closed");
            }
        });
        Ok(client)
    }

    /// A new connection whose messages (notifications) the caller drives.
    pub async fn connect_raw(
        &self,
    ) -> StoreResult<(
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    )> {
        self.config.connect(NoTls).await.map_err(backend)
    }

    /// The pool, for the cluster's own statements (heartbeats, buckets).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn options(&self) -> StoreOptions {
        self.options
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.dedicated().await?;
        client
            .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATE_LOCK})"))
            .await
            .map_err(backend)?;
        let result = apply_migrations(&mut client).await;
        let _ = client
            .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATE_LOCK})"))
            .await;
        result
    }

    async fn load_token_key(&self) -> StoreResult<Vec<u8>> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let mut fresh = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        client
            .execute(
                "INSERT INTO server_secrets (name, value) VALUES ('page-token-key', $1) ON CONFLICT (name) DO NOTHING",
                &[&fresh],
            )
            .await
            .map_err(backend)?;
        let row = client
            .query_one(
                "SELECT value FROM server_secrets WHERE name = 'page-token-key'",
                &[],
            )
            .await
            .map_err(backend)?;
        Ok(row.get(0))
    }

    async fn run_job(&self, mode: Mode, job: Arc<Job>) -> StoreResult<()> {
        let deadline = Instant::now() + self.options.timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let unavailable = |what: &str| {
            StoreError::Unavailable(format!(
                "{what} within {} ms",
                self.options.timeout.as_millis()
            ))
        };
        let mut client = tokio::time::timeout(left(), self.pool.get())
            .await
            .map_err(|_| unavailable("no database connection"))?
            .map_err(pool_error)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let begin = async {
                let tx = client
                    .build_transaction()
                    .isolation_level(match mode {
                        Mode::Read | Mode::Lookup => tokio_postgres::IsolationLevel::RepeatableRead,
                        Mode::Write => tokio_postgres::IsolationLevel::ReadCommitted,
                    })
                    .read_only(mode != Mode::Write)
                    .start()
                    .await
                    .map_err(backend)?;
                if mode == Mode::Write {
                    let ms = left().as_millis().max(1);
                    tx.batch_execute(&format!(
                        "SET LOCAL lock_timeout = {ms}; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
                    ))
                    .await
                    .map_err(backend)?;
                }
                Ok::<_, StoreError>(tx)
            };
            let tx = tokio::time::timeout(left() + Duration::from_millis(50), begin)
                .await
                .map_err(|_| unavailable("the database did not start the transaction"))??;
            let mut ptx = PgTx {
                tx: &tx,
                conflict: None,
            };
            let commit = tokio::time::timeout(JOB_LIMIT, job(&mut ptx))
                .await
                .map_err(|_| StoreError::Unavailable("the database stopped answering".into()))?;
            if let Some(why) = ptx.conflict.take() {
                let _ = tx.rollback().await;
                if attempt >= MAX_ATTEMPTS {
                    return Err(StoreError::Conflict(why));
                }
                continue;
            }
            if commit {
                tokio::time::timeout(JOB_LIMIT, tx.commit())
                    .await
                    .map_err(|_| StoreError::Unavailable("the database stopped answering".into()))?
                    .map_err(backend)?;
            } else {
                let _ = tx.rollback().await;
            }
            return Ok(());
        }
    }
}

async fn apply_migrations(client: &mut tokio_postgres::Client) -> StoreResult<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )
        .await
        .map_err(backend)?;
    let current: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(backend)?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Backend(format!(
            "the database has schema version {current}, newer than this build knows ({newest}); use a newer convene"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tracing::info!(version, "applying schema migration (postgres)");
        let tx = client.transaction().await.map_err(backend)?;
        tx.batch_execute(sql).await.map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &crate::now_ms()],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        tracing::info!(version, "applied schema migration (postgres)");
    }
    Ok(())
}

impl Store for PgStore {
    fn run(&self, mode: Mode, job: Arc<Job>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.run_job(mode, job))
    }

    fn token_key(&self) -> Vec<u8> {
        self.token_key.clone()
    }

    fn ping(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let newest = MIGRATIONS.last().map_or(0, |m| m.0);
            let check = async {
                let client = self.pool.get().await.map_err(pool_error)?;
                let n = client
                    .execute(
                        "UPDATE schema_migrations SET applied_at = applied_at WHERE version = $1",
                        &[&newest],
                    )
                    .await
                    .map_err(backend)?;
                if n == 1 {
                    Ok(())
                } else {
                    Err(StoreError::Backend(format!(
                        "schema migration {newest} is not applied"
                    )))
                }
            };
            let checked = match tokio::time::timeout(self.options.timeout, check).await {
                Ok(r) => r,
                Err(_) => Err(StoreError::Unavailable(
                    "the database did not answer".into(),
                )),
            };
            if let Err(e) = &checked {
                tracing::warn!(error = %e, "store readiness check failed");
            }
            checked.is_ok()
        })
    }
}

/// One transaction. It notes the first conflict any statement met, so that
/// the runner re-runs the job even when the job turned the error into an answer.
struct PgTx<'a> {
    tx: &'a deadpool_postgres::Transaction<'a>,
    conflict: Option<String>,
}

const MEETING_COLUMNS: &str =
    "meeting_id, account_id, control_region, media_region, external_meeting_id, \
     meeting_host_id, primary_meeting_id, features, tenant_ids, notifications, network_type, \
     client_request_token, created_at_ms";

/// Attendee columns, read from `attendees a`.
const ATTENDEE_COLUMNS: &str =
    "a.seq, a.meeting_id, a.attendee_id, a.external_user_id, a.join_token, a.audio, a.video, a.content";

/// A condition on `attendees` rows: the meeting is one of account `$1`'s.
const IN_ACCOUNT: &str = "meeting_id IN (SELECT meeting_id FROM meetings WHERE account_id = $1)";

/// Attendees of one account's meetings: `$1` is the account.
const ACCOUNT_ATTENDEES: &str =
    "attendees a JOIN meetings m ON m.meeting_id = a.meeting_id WHERE m.account_id = $1";

fn json_column<T: serde::de::DeserializeOwned>(raw: Option<String>) -> StoreResult<Option<T>> {
    raw.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

fn meeting_from_row(r: &Row) -> StoreResult<Meeting> {
    let network: Option<String> = r.get(10);
    let primary: Option<String> = r.get(6);
    Ok(Meeting {
        meeting_id: MeetingId::from_stored(r.get(0)),
        account_id: AccountId::from_stored(r.get(1)),
        control_region: r.get(2),
        media_region: r.get(3),
        external_meeting_id: r.get(4),
        meeting_host_id: r.get(5),
        primary_meeting_id: primary.map(MeetingId::from_stored),
        features: json_column(r.get(7))?,
        tenant_ids: json_column(r.get(8))?.unwrap_or_default(),
        notifications: json_column(r.get(9))?,
        network_type: network.as_deref().and_then(NetworkType::parse),
        client_request_token: r.get(11),
        created_at_ms: r.get(12),
    })
}

fn capability(raw: &str) -> StoreResult<MediaCapability> {
    MediaCapability::parse(raw)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown capability {raw:?}")))
}

fn attendee_from_row(r: &Row) -> StoreResult<Attendee> {
    Ok(Attendee {
        seq: r.get(0),
        meeting_id: MeetingId::from_stored(r.get(1)),
        attendee_id: AttendeeId::from_stored(r.get(2)),
        external_user_id: ExternalUserId::from_stored(r.get(3)),
        join_token: JoinToken::from_stored(r.get(4)),
        capabilities: Capabilities {
            audio: capability(r.get::<_, &str>(5))?,
            video: capability(r.get::<_, &str>(6))?,
            content: capability(r.get::<_, &str>(7))?,
        },
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl PgTx<'_> {
    fn note<T>(&mut self, r: StoreResult<T>) -> StoreResult<T> {
        if let Err(StoreError::Conflict(why)) = &r {
            self.conflict.get_or_insert_with(|| why.clone());
        }
        r
    }

    async fn query(&self, sql: &str, p: Params<'_>) -> StoreResult<Vec<Row>> {
        let st = self.tx.prepare_cached(sql).await.map_err(backend)?;
        self.tx.query(&st, p).await.map_err(backend)
    }

    async fn exec(&self, sql: &str, p: Params<'_>) -> StoreResult<u64> {
        let st = self.tx.prepare_cached(sql).await.map_err(backend)?;
        self.tx.execute(&st, p).await.map_err(backend)
    }

    async fn count(&self, sql: &str, p: Params<'_>) -> StoreResult<u64> {
        let rows = self.query(sql, p).await?;
        let n: i64 = rows.first().map_or(0, |r| r.get(0));
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// `sql` selects [`MEETING_COLUMNS`] from `meetings`.
    async fn query_meeting(&self, sql: &str, p: Params<'_>) -> StoreResult<Option<Meeting>> {
        self.query(sql, p)
            .await?
            .first()
            .map(meeting_from_row)
            .transpose()
    }

    /// `sql` selects [`ATTENDEE_COLUMNS`] from [`ACCOUNT_ATTENDEES`].
    async fn query_attendee(&self, sql: &str, p: Params<'_>) -> StoreResult<Option<Attendee>> {
        self.query(sql, p)
            .await?
            .first()
            .map(attendee_from_row)
            .transpose()
    }

    async fn get_meeting(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
    ) -> StoreResult<Option<Meeting>> {
        self.query_meeting(
            sql!(
                "SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = $1 AND meeting_id = $2"
            ),
            &[&account.as_str(), &meeting.as_str()],
        )
        .await
    }

    async fn by_token(&self, account: &AccountId, token: &str) -> StoreResult<Option<Meeting>> {
        self.query_meeting(
            sql!("SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = $1 AND client_request_token = $2"),
            &[&account.as_str(), &token],
        )
        .await
    }

    async fn create_meeting_now(
        &self,
        m: &Meeting,
        tags: &[Tag],
        limits: MeetingLimits,
    ) -> StoreResult<CreatedMeeting> {
        if let Some(existing) = self
            .by_token(&m.account_id, &m.client_request_token)
            .await?
        {
            return Ok(CreatedMeeting::Replayed(existing));
        }
        let held = self
            .count(
                "SELECT COUNT(*) FROM meetings WHERE account_id = $1",
                &[&m.account_id.as_str()],
            )
            .await?;
        if held >= limits.max_meetings {
            return Ok(CreatedMeeting::QuotaReached);
        }
        if let Some(primary_id) = &m.primary_meeting_id {
            let Some(primary) = self.get_meeting(&m.account_id, primary_id).await? else {
                return Ok(CreatedMeeting::PrimaryNotFound);
            };
            if primary.primary_meeting_id.is_some() {
                return Ok(CreatedMeeting::PrimaryIsReplica);
            }
            let replicas = self
                .count(
                    "SELECT COUNT(*) FROM meetings WHERE account_id = $1 AND primary_meeting_id = $2",
                    &[&m.account_id.as_str(), &primary_id.as_str()],
                )
                .await?;
            if replicas >= limits.max_replicas {
                return Ok(CreatedMeeting::ReplicaLimitReached);
            }
        }
        let sql = sql!(
            "INSERT INTO meetings ({MEETING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (account_id, client_request_token) DO NOTHING"
        );
        let features = m.features.as_ref().map(to_json);
        let tenants = to_json(&m.tenant_ids);
        let notifications = m.notifications.as_ref().map(to_json);
        let network = m.network_type.map(NetworkType::as_str);
        let primary = m.primary_meeting_id.as_ref().map(MeetingId::as_str);
        let inserted = self
            .exec(
                sql,
                &[
                    &m.meeting_id.as_str(),
                    &m.account_id.as_str(),
                    &m.control_region,
                    &m.media_region,
                    &m.external_meeting_id,
                    &m.meeting_host_id,
                    &primary,
                    &features,
                    &tenants,
                    &notifications,
                    &network,
                    &m.client_request_token,
                    &m.created_at_ms,
                ],
            )
            .await?;
        if inserted == 0 {
            return match self
                .by_token(&m.account_id, &m.client_request_token)
                .await?
            {
                Some(existing) => Ok(CreatedMeeting::Replayed(existing)),
                None => Err(StoreError::Conflict("the token's meeting vanished".into())),
            };
        }
        self.put_tags_now(&m.meeting_id, tags).await?;
        Ok(CreatedMeeting::Created(m.clone()))
    }

    async fn delete_meeting_now(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
        now_ms: i64,
    ) -> StoreResult<Vec<MeetingId>> {
        if self.get_meeting(account, meeting).await?.is_none() {
            return Ok(Vec::new());
        }
        let rows = self
            .query(
                "SELECT meeting_id FROM meetings WHERE account_id = $1 AND primary_meeting_id = $2 ORDER BY created_at_ms",
                &[&account.as_str(), &meeting.as_str()],
            )
            .await?;
        let mut ended = vec![meeting.clone()];
        ended.extend(rows.iter().map(|r| MeetingId::from_stored(r.get(0))));
        for id in &ended {
            self.exec(
                "DELETE FROM meetings WHERE account_id = $1 AND meeting_id = $2",
                &[&account.as_str(), &id.as_str()],
            )
            .await?;
            self.exec(
                "INSERT INTO ended_meetings (meeting_id, account_id, ended_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (meeting_id) DO NOTHING",
                &[&id.as_str(), &account.as_str(), &now_ms],
            )
            .await?;
        }
        Ok(ended)
    }

    async fn create_attendee_now(
        &self,
        account: &AccountId,
        a: &Attendee,
        limit: u32,
    ) -> StoreResult<CreatedAttendee> {
        if self.get_meeting(account, &a.meeting_id).await?.is_none() {
            return Ok(CreatedAttendee::MeetingNotFound);
        }
        let by_external =
            sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = $2 AND a.external_user_id = $3");
        let key: [&(dyn ToSql + Sync); 3] = [
            &account.as_str(),
            &a.meeting_id.as_str(),
            &a.external_user_id.as_str(),
        ];
        if let Some(found) = self.query_attendee(by_external, &key).await? {
            return Ok(CreatedAttendee::Existing(found));
        }
        let held = self
            .count(
                "SELECT COUNT(*) FROM attendees WHERE meeting_id = $1",
                &[&a.meeting_id.as_str()],
            )
            .await?;
        if held >= u64::from(limit) {
            return Ok(CreatedAttendee::LimitReached);
        }
        let rows = self
            .query(
                "INSERT INTO attendees (meeting_id, attendee_id, external_user_id, join_token, audio, video, content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (meeting_id, external_user_id) DO NOTHING RETURNING seq",
                &[
                    &a.meeting_id.as_str(),
                    &a.attendee_id.as_str(),
                    &a.external_user_id.as_str(),
                    &a.join_token.expose(),
                    &a.capabilities.audio.as_str(),
                    &a.capabilities.video.as_str(),
                    &a.capabilities.content.as_str(),
                ],
            )
            .await?;
        match rows.first() {
            Some(r) => {
                let mut created = a.clone();
                created.seq = r.get(0);
                Ok(CreatedAttendee::Created(created))
            }
            None => match self.query_attendee(by_external, &key).await? {
                Some(found) => Ok(CreatedAttendee::Existing(found)),
                None => Err(StoreError::Conflict("the attendee vanished".into())),
            },
        }
    }

    async fn put_tags_now(&self, meeting: &MeetingId, tags: &[Tag]) -> StoreResult<()> {
        for t in tags {
            self.exec(
                "INSERT INTO meeting_tags (meeting_id, tag_key, tag_value, position) \
                 VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM meeting_tags WHERE meeting_id = $1)) \
                 ON CONFLICT (meeting_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                &[&meeting.as_str(), &t.key, &t.value],
            )
            .await?;
        }
        Ok(())
    }

    async fn set_caps_now(
        &self,
        account: &AccountId,
        meeting: &MeetingId,
        attendee: &AttendeeId,
        caps: Capabilities,
    ) -> StoreResult<Option<Attendee>> {
        let sql = sql!(
            "UPDATE attendees SET audio = $4, video = $5, content = $6 WHERE meeting_id = $2 AND attendee_id = $3 AND {IN_ACCOUNT}"
        );
        let changed = self
            .exec(
                sql,
                &[
                    &account.as_str(),
                    &meeting.as_str(),
                    &attendee.as_str(),
                    &caps.audio.as_str(),
                    &caps.video.as_str(),
                    &caps.content.as_str(),
                ],
            )
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        self.query_attendee(
            sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = $2 AND a.attendee_id = $3"),
            &[&account.as_str(), &meeting.as_str(), &attendee.as_str()],
        )
        .await
    }
}

impl Tx for PgTx<'_> {
    fn append_event<'a>(
        &'a mut self,
        event: &'a NewEvent,
        streams: &'a [StreamKey],
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(async move {
            let r = self.append_event_now(event, streams).await;
            self.note(r)
        })
    }

    fn claim_streams<'a>(
        &'a mut self,
        sinks: &'a [String],
        holder: &'a str,
        now_ms: i64,
        lease_expires_ms: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StreamClaim>>> {
        Box::pin(async move {
            let r = self
                .claim_streams_now(sinks, holder, now_ms, lease_expires_ms, limit)
                .await;
            self.note(r)
        })
    }

    fn meeting_events<'a>(
        &'a mut self,
        meeting_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>> {
        Box::pin(async move {
            let r = self
                .events_after("meeting_id", meeting_id, after_seq, limit)
                .await;
            self.note(r)
        })
    }

    fn account_events<'a>(
        &'a mut self,
        account_id: &'a str,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>> {
        Box::pin(async move {
            let r = self
                .events_after("account_id", account_id, after_seq, limit)
                .await;
            self.note(r)
        })
    }

    fn latest_account_events<'a>(
        &'a mut self,
        account_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredEvent>>> {
        Box::pin(async move {
            let r = self.latest_events_now(account_id, limit).await;
            self.note(r)
        })
    }

    fn update_stream<'a>(
        &'a mut self,
        key: &'a StreamKey,
        holder: &'a str,
        update: &'a StreamUpdate,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let r = self.update_stream_now(key, holder, update).await;
            self.note(r)
        })
    }

    fn release_leases<'a>(&'a mut self, holder: &'a str) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let r = self.release_leases_now(holder).await;
            self.note(r)
        })
    }

    fn record_dead_letter<'a>(
        &'a mut self,
        dead: &'a DeadLetter,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let r = self.record_dead_letter_now(dead).await;
            self.note(r)
        })
    }

    fn dead_letters<'a>(
        &'a mut self,
        meeting_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<DeadLetter>>> {
        Box::pin(async move {
            let r = self.dead_letters_now(meeting_id).await;
            self.note(r)
        })
    }

    fn prune_events(&mut self, before_ms: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let r = self.prune_events_now(before_ms).await;
            self.note(r)
        })
    }

    fn meeting_by_id<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<Meeting>>> {
        Box::pin(async move {
            let r = self
                .query_meeting(
                    sql!("SELECT {MEETING_COLUMNS} FROM meetings WHERE meeting_id = $1"),
                    &[&meeting.as_str()],
                )
                .await;
            self.note(r)
        })
    }

    fn replica_meetings<'a>(
        &'a mut self,
        account: &'a AccountId,
        primary: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Vec<Meeting>>> {
        Box::pin(async move {
            let r = self.replica_meetings_now(account, primary).await;
            self.note(r)
        })
    }

    fn meeting<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<Meeting>>> {
        Box::pin(async move {
            let r = self.get_meeting(account, meeting).await;
            self.note(r)
        })
    }

    fn create_meeting<'a>(
        &'a mut self,
        meeting: &'a Meeting,
        tags: &'a [Tag],
        limits: MeetingLimits,
    ) -> BoxFuture<'a, StoreResult<CreatedMeeting>> {
        Box::pin(async move {
            let r = self.create_meeting_now(meeting, tags, limits).await;
            self.note(r)
        })
    }

    fn delete_meeting<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Vec<MeetingId>>> {
        Box::pin(async move {
            let r = self.delete_meeting_now(account, meeting, now_ms).await;
            self.note(r)
        })
    }

    fn meeting_ended<'a>(&'a mut self, meeting: &'a MeetingId) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let r = self
                .count(
                    "SELECT COUNT(*) FROM ended_meetings WHERE meeting_id = $1",
                    &[&meeting.as_str()],
                )
                .await
                .map(|n| n > 0);
            self.note(r)
        })
    }

    fn create_attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        attendee: &'a Attendee,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<CreatedAttendee>> {
        Box::pin(async move {
            let r = self.create_attendee_now(account, attendee, limit).await;
            self.note(r)
        })
    }

    fn attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        Box::pin(async move {
            let r = self
                .query_attendee(
                    sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = $2 AND a.attendee_id = $3"),
                    &[&account.as_str(), &meeting.as_str(), &attendee.as_str()],
                )
                .await;
            self.note(r)
        })
    }

    fn attendee_by_external_id<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        external_user_id: &'a ExternalUserId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        Box::pin(async move {
            let r = self
                .query_attendee(
                    sql!("SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = $2 AND a.external_user_id = $3"),
                    &[
                        &account.as_str(),
                        &meeting.as_str(),
                        &external_user_id.as_str(),
                    ],
                )
                .await;
            self.note(r)
        })
    }

    fn list_attendees<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        after_seq: i64,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Attendee>>> {
        Box::pin(async move {
            let sql = sql!(
                "SELECT {ATTENDEE_COLUMNS} FROM {ACCOUNT_ATTENDEES} AND a.meeting_id = $2 AND a.seq > $3 ORDER BY a.seq LIMIT $4"
            );
            let limit = i64::from(limit);
            let r = match self
                .query(
                    sql,
                    &[&account.as_str(), &meeting.as_str(), &after_seq, &limit],
                )
                .await
            {
                Ok(rows) => rows.iter().map(attendee_from_row).collect(),
                Err(e) => Err(e),
            };
            self.note(r)
        })
    }

    fn delete_attendee<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let sql = sql!(
                "DELETE FROM attendees WHERE meeting_id = $2 AND attendee_id = $3 AND {IN_ACCOUNT}"
            );
            let r = self
                .exec(
                    sql,
                    &[&account.as_str(), &meeting.as_str(), &attendee.as_str()],
                )
                .await
                .map(|n| n > 0);
            self.note(r)
        })
    }

    fn set_capabilities<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
        caps: Capabilities,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        Box::pin(async move {
            let r = self.set_caps_now(account, meeting, attendee, caps).await;
            self.note(r)
        })
    }

    fn set_capabilities_except<'a>(
        &'a mut self,
        account: &'a AccountId,
        meeting: &'a MeetingId,
        excluded: &'a [AttendeeId],
        caps: Capabilities,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let excluded: Vec<&str> = excluded.iter().map(AttendeeId::as_str).collect();
            let sql = sql!(
                "UPDATE attendees SET audio = $3, video = $4, content = $5 \
                 WHERE meeting_id = $2 AND {IN_ACCOUNT} AND NOT (attendee_id = ANY($6))"
            );
            let r = self
                .exec(
                    sql,
                    &[
                        &account.as_str(),
                        &meeting.as_str(),
                        &caps.audio.as_str(),
                        &caps.video.as_str(),
                        &caps.content.as_str(),
                        &excluded,
                    ],
                )
                .await;
            self.note(r)
        })
    }

    fn join_credential<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        attendee: &'a AttendeeId,
    ) -> BoxFuture<'a, StoreResult<Option<Attendee>>> {
        Box::pin(async move {
            let sql = sql!(
                "SELECT {ATTENDEE_COLUMNS} FROM attendees a WHERE a.meeting_id = $1 AND a.attendee_id = $2"
            );
            let r = match self
                .query(sql, &[&meeting.as_str(), &attendee.as_str()])
                .await
            {
                Ok(rows) => rows.first().map(attendee_from_row).transpose(),
                Err(e) => Err(e),
            };
            self.note(r)
        })
    }

    fn tags<'a>(&'a mut self, meeting: &'a MeetingId) -> BoxFuture<'a, StoreResult<Vec<Tag>>> {
        Box::pin(async move {
            let r = self
                .query(
                    "SELECT tag_key, tag_value FROM meeting_tags WHERE meeting_id = $1 ORDER BY position",
                    &[&meeting.as_str()],
                )
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|r| Tag {
                            key: r.get(0),
                            value: r.get(1),
                        })
                        .collect()
                });
            self.note(r)
        })
    }

    fn put_tags<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        tags: &'a [Tag],
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let r = self.put_tags_now(meeting, tags).await;
            self.note(r)
        })
    }

    fn remove_tags<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        keys: &'a [String],
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let r = self
                .exec(
                    "DELETE FROM meeting_tags WHERE meeting_id = $1 AND tag_key = ANY($2)",
                    &[&meeting.as_str(), &keys],
                )
                .await
                .map(|_| ());
            self.note(r)
        })
    }

    fn transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<Option<String>>> {
        Box::pin(async move {
            let r = self
                .query(
                    "SELECT configuration FROM transcriptions WHERE meeting_id = $1",
                    &[&meeting.as_str()],
                )
                .await
                .map(|rows| rows.first().map(|r| r.get(0)));
            self.note(r)
        })
    }

    fn set_transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
        configuration: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let r = self
                .exec(
                    "INSERT INTO transcriptions (meeting_id, configuration, started_at_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (meeting_id) DO UPDATE SET configuration = excluded.configuration, started_at_ms = excluded.started_at_ms",
                    &[&meeting.as_str(), &configuration, &now_ms],
                )
                .await
                .map(|_| ());
            self.note(r)
        })
    }

    fn clear_transcription<'a>(
        &'a mut self,
        meeting: &'a MeetingId,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let r = self
                .exec(
                    "DELETE FROM transcriptions WHERE meeting_id = $1",
                    &[&meeting.as_str()],
                )
                .await
                .map(|n| n > 0);
            self.note(r)
        })
    }

    fn meeting_briefs(
        &mut self,
        created_by_ms: Option<i64>,
    ) -> BoxFuture<'_, StoreResult<Vec<MeetingBrief>>> {
        Box::pin(async move {
            let by = created_by_ms.unwrap_or(i64::MAX);
            let r = self
                .query(
                    "SELECT account_id, meeting_id, primary_meeting_id, created_at_ms FROM meetings \
                     WHERE created_at_ms <= $1",
                    &[&by],
                )
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            let primary: Option<String> = r.get(2);
                            MeetingBrief {
                                account_id: AccountId::from_stored(r.get(0)),
                                meeting_id: MeetingId::from_stored(r.get(1)),
                                primary_meeting_id: primary.map(MeetingId::from_stored),
                                created_at_ms: r.get(3),
                            }
                        })
                        .collect()
                });
            self.note(r)
        })
    }

    fn prune_ended_meetings<'a>(
        &'a mut self,
        account: Option<&'a AccountId>,
        ended_before_ms: i64,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(async move {
            let r = match account {
                None => {
                    self.exec(
                        "DELETE FROM ended_meetings WHERE ended_at_ms < $1",
                        &[&ended_before_ms],
                    )
                    .await
                }
                Some(a) => {
                    self.exec(
                        "DELETE FROM ended_meetings WHERE account_id = $1 AND ended_at_ms < $2",
                        &[&a.as_str(), &ended_before_ms],
                    )
                    .await
                }
            };
            self.note(r)
        })
    }

    fn list_meetings<'a>(
        &'a mut self,
        account: &'a AccountId,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Meeting>>> {
        Box::pin(async move {
            let sql = sql!(
                "SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = $1 \
                 ORDER BY created_at_ms DESC, meeting_id LIMIT $2"
            );
            let limit = i64::from(limit);
            let r = match self.query(sql, &[&account.as_str(), &limit]).await {
                Ok(rows) => rows.iter().map(meeting_from_row).collect(),
                Err(e) => Err(e),
            };
            self.note(r)
        })
    }

    fn totals(&mut self) -> BoxFuture<'_, StoreResult<(u64, u64)>> {
        Box::pin(async move {
            let r = self
                .query(
                    "SELECT (SELECT COUNT(*) FROM meetings), (SELECT COUNT(*) FROM attendees)",
                    &[],
                )
                .await
                .map(|rows| {
                    rows.first().map_or((0, 0), |r| {
                        let (m, a): (i64, i64) = (r.get(0), r.get(1));
                        (u64::try_from(m).unwrap_or(0), u64::try_from(a).unwrap_or(0))
                    })
                });
            self.note(r)
        })
    }
}

/// A fresh database on the PostgreSQL named by `CONVENE_TEST_POSTGRES`
/// (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped by
/// [`TestDatabase::drop_now`]. `None` (said loudly) when no server answers;
/// a panic instead when `CONVENE_REQUIRE_POSTGRES=1` or `CI=true`.
#[cfg(test)]
pub mod testdb {
    use super::*;

    pub struct TestDatabase {
        pub url: String,
        admin: String,
        name: String,
    }

    pub fn admin_url() -> String {
        std::env::var("CONVENE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    pub fn required() -> bool {
        std::env::var("CONVENE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
            || std::env::var("CI").is_ok_and(|v| v == "true")
    }

    async fn admin(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }

    pub async fn create(test: &str) -> Option<TestDatabase> {
        let admin_url = admin_url();
        let client = match admin(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                let msg = format!(
                    "PostgreSQL test {test}: no server at {} ({e}); set CONVENE_TEST_POSTGRES",
                    redact(&admin_url)
                );
                assert!(
                    !required(),
                    "{msg} (CONVENE_REQUIRE_POSTGRES=1 or CI=true: failing)"
                );
                eprintln!("SKIPPED: {msg}");
                return None;
            }
        };
        let prefix =
            std::env::var("CONVENE_TEST_DB_PREFIX").unwrap_or_else(|_| "convene_test_".into());
        let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("CONVENE_TEST_POSTGRES must end with /DATABASE"),
        };
        Some(TestDatabase {
            url,
            admin: admin_url,
            name,
        })
    }

    impl TestDatabase {
        pub async fn drop_now(self) {
            if let Ok(client) = admin(&self.admin).await {
                let _ = client
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    /// The storage conformance suite on PostgreSQL, each case on a fresh database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_suite() {
        let Some(db) = testdb::create("conformance_suite").await else {
            return;
        };
        let url = db.url.clone();
        let handle = tokio::runtime::Handle::current();
        conformance::run_all(move |options| {
            // Each case wants an empty store: clear the tables between cases.
            let url = url.clone();
            tokio::task::block_in_place(|| {
                handle.block_on(async move {
                    let store = PgStore::connect(&url, options).await.expect("connect");
                    let client = store.pool.get().await.expect("connection");
                    client
                        .batch_execute(
                            "TRUNCATE meetings, attendees, meeting_tags, transcriptions, ended_meetings, \
                             events, event_streams, event_dead_letters CASCADE",
                        )
                        .await
                        .expect("truncate");
                    Arc::new(store) as Arc<dyn Store>
                })
            })
        })
        .await;
        db.drop_now().await;
    }

    #[tokio::test]
    async fn migrations_run_once_when_nodes_start_together() {
        let Some(db) = testdb::create("migrations_run_once").await else {
            return;
        };
        let starts = (0..4).map(|_| {
            let url = db.url.clone();
            async move { PgStore::connect(&url, StoreOptions::default()).await }
        });
        let stores: Vec<PgStore> = futures_join(starts).await;
        let keys: Vec<Vec<u8>> = stores.iter().map(Store::token_key).collect();
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "one page-token key for every node"
        );
        let client = stores[0].pool.get().await.unwrap();
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, MIGRATIONS.len() as i64);
        assert!(stores[0].ping().await);
        drop(client);
        drop(stores);
        db.drop_now().await;
    }

    async fn futures_join<
        F: std::future::Future<Output = StoreResult<PgStore>> + Send + 'static,
    >(
        starts: impl Iterator<Item = F>,
    ) -> Vec<PgStore> {
        let handles: Vec<_> = starts.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap().expect("connect"));
        }
        out
    }

    #[test]
    fn redacts_the_password() {
        assert_eq!(
            redact("postgres://convene:s3cret@db:5432/convene"),
            "postgres://convene:********@db:5432/convene"
        );
        assert_eq!(redact("postgres://db/convene"), "postgres://db/convene");
    }
}
