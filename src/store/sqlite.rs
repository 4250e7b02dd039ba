//! The embedded SQLite backend.
//!
//! One writer connection (SQLite allows one writer at a time; `BEGIN IMMEDIATE`
//! takes the lock up front so check-then-insert logic cannot race) and a pool of
//! reader connections. WAL journaling lets readers run while a write is under
//! way, and `synchronous=FULL` makes every commit durable before it returns.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{BoxFuture, MeetingBrief, Store, StoreError, StoreResult, Tx, TxJob};
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
];

/// Readers kept open for reuse.
const MAX_IDLE_READERS: usize = 16;

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    token_key: Vec<u8>,
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(backend)?;
    Ok(conn)
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
    let newest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > newest {
        return Err(StoreError::Backend(format!(
            "the database has schema version {current}, newer than this build knows ({newest}); use a newer convene"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::now_ms()],
        )
        .map_err(backend)?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().map_err(backend)
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
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("convene.sqlite3");
        let mut conn = open_connection(&path)?;
        migrate(&mut conn)?;
        let token_key = load_token_key(&conn)?;
        Ok(SqliteStore {
            path,
            writer: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Mutex::new(Vec::new())),
            token_key,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn run_job(conn: &mut Connection, behavior: TransactionBehavior, job: TxJob) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(behavior).map_err(backend)?;
    let commit = job(&mut SqliteTx { tx: &tx })?;
    if commit {
        tx.commit().map_err(backend)
    } else {
        tx.rollback().map_err(backend)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
}

impl Store for SqliteStore {
    fn read(&self, job: TxJob) -> BoxFuture<'_, StoreResult<()>> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        Box::pin(blocking(move || {
            let pooled = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => open_connection(&path)?,
            };
            let result = run_job(&mut conn, TransactionBehavior::Deferred, job);
            let mut idle = readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            result
        }))
    }

    fn write(&self, job: TxJob) -> BoxFuture<'_, StoreResult<()>> {
        let writer = self.writer.clone();
        Box::pin(blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            run_job(&mut conn, TransactionBehavior::Immediate, job)
        }))
    }

    fn token_key(&self) -> Vec<u8> {
        self.token_key.clone()
    }

    fn ping(&self) -> BoxFuture<'_, bool> {
        let writer = self.writer.clone();
        Box::pin(async move {
            let checked = blocking(move || {
                let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(backend)?;
                let newest = MIGRATIONS.last().map_or(0, |m| m.0);
                // Rewrites the newest migration's row with its own value: a
                // real page write and a synced commit, which changes nothing.
                let touched = tx
                    .execute(
                        "UPDATE schema_migrations SET applied_at = applied_at WHERE version = ?1",
                        params![newest],
                    )
                    .map_err(backend)?;
                tx.commit().map_err(backend)?;
                if touched == 1 {
                    Ok(())
                } else {
                    Err(StoreError::Backend(format!(
                        "schema migration {newest} is not applied"
                    )))
                }
            })
            .await;
            if let Err(e) = &checked {
                tracing::warn!(error = %e, "store readiness check failed");
            }
            checked.is_ok()
        })
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
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
    Ok(Meeting {
        meeting_id: r.get(0)?,
        account_id: r.get(1)?,
        control_region: r.get(2)?,
        media_region: r.get(3)?,
        external_meeting_id: r.get(4)?,
        meeting_host_id: r.get(5)?,
        primary_meeting_id: r.get(6)?,
        features: json_column(r.get(7)?)?,
        tenant_ids: json_column(r.get(8)?)?.unwrap_or_default(),
        notifications: json_column(r.get(9)?)?,
        network_type: network.as_deref().and_then(NetworkType::parse),
        client_request_token: r.get(11)?,
        created_at_ms: r.get(12)?,
    })
}

fn capability(raw: String) -> rusqlite::Result<MediaCapability> {
    MediaCapability::parse(&raw).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown capability {raw:?}").into(),
        )
    })
}

const ATTENDEE_COLUMNS: &str =
    "seq, meeting_id, attendee_id, external_user_id, join_token, audio, video, content";

fn attendee_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attendee> {
    Ok(Attendee {
        seq: r.get(0)?,
        meeting_id: r.get(1)?,
        attendee_id: r.get(2)?,
        external_user_id: r.get(3)?,
        join_token: r.get(4)?,
        capabilities: Capabilities {
            audio: capability(r.get(5)?)?,
            video: capability(r.get(6)?)?,
            content: capability(r.get(7)?)?,
        },
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

impl SqliteTx<'_> {
    fn one_meeting(&self, where_clause: &str, a: &str, b: &str) -> StoreResult<Option<Meeting>> {
        let sql = format!("SELECT {MEETING_COLUMNS} FROM meetings WHERE {where_clause}");
        self.tx
            .prepare_cached(&sql)
            .map_err(backend)?
            .query_row(params![a, b], meeting_from_row)
            .optional()
            .map_err(backend)
    }

    fn one_attendee(&self, where_clause: &str, a: &str, b: &str) -> StoreResult<Option<Attendee>> {
        let sql = format!("SELECT {ATTENDEE_COLUMNS} FROM attendees WHERE {where_clause}");
        self.tx
            .prepare_cached(&sql)
            .map_err(backend)?
            .query_row(params![a, b], attendee_from_row)
            .optional()
            .map_err(backend)
    }

    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<usize> {
        self.tx
            .prepare_cached(sql)
            .map_err(backend)?
            .execute(p)
            .map_err(backend)
    }

    fn count(&self, sql: &str, key: &str) -> StoreResult<u64> {
        let n: i64 = self
            .tx
            .prepare_cached(sql)
            .map_err(backend)?
            .query_row(params![key], |r| r.get(0))
            .map_err(backend)?;
        Ok(n as u64)
    }
}

impl Tx for SqliteTx<'_> {
    fn list_meetings(&mut self, account_id: &str, limit: u32) -> StoreResult<Vec<Meeting>> {
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings WHERE account_id = ?1 \
             ORDER BY created_at_ms DESC, meeting_id LIMIT ?2"
        );
        let mut stmt = self.tx.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![account_id, limit], meeting_from_row)
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn totals(&mut self) -> StoreResult<(u64, u64)> {
        let (m, a): (i64, i64) = self
            .tx
            .query_row(
                "SELECT (SELECT COUNT(*) FROM meetings), (SELECT COUNT(*) FROM attendees)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(backend)?;
        Ok((m as u64, a as u64))
    }

    fn meeting_by_token(&mut self, account_id: &str, token: &str) -> StoreResult<Option<Meeting>> {
        self.one_meeting(
            "account_id = ?1 AND client_request_token = ?2",
            account_id,
            token,
        )
    }

    fn get_meeting(&mut self, account_id: &str, meeting_id: &str) -> StoreResult<Option<Meeting>> {
        self.one_meeting(
            "account_id = ?1 AND meeting_id = ?2",
            account_id,
            meeting_id,
        )
    }

    fn insert_meeting(&mut self, m: &Meeting) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO meetings ({MEETING_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        );
        self.exec(
            &sql,
            params![
                m.meeting_id,
                m.account_id,
                m.control_region,
                m.media_region,
                m.external_meeting_id,
                m.meeting_host_id,
                m.primary_meeting_id,
                m.features.as_ref().map(to_json),
                to_json(&m.tenant_ids),
                m.notifications.as_ref().map(to_json),
                m.network_type.map(|n| n.as_str()),
                m.client_request_token,
                m.created_at_ms,
            ],
        )?;
        Ok(())
    }

    fn delete_meeting(&mut self, account_id: &str, meeting_id: &str) -> StoreResult<bool> {
        Ok(self.exec(
            "DELETE FROM meetings WHERE account_id = ?1 AND meeting_id = ?2",
            params![account_id, meeting_id],
        )? > 0)
    }

    fn replica_ids(
        &mut self,
        account_id: &str,
        primary_meeting_id: &str,
    ) -> StoreResult<Vec<String>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT meeting_id FROM meetings WHERE account_id = ?1 AND primary_meeting_id = ?2 ORDER BY created_at_ms",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![account_id, primary_meeting_id], |r| r.get(0))
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(backend)
    }

    fn count_meetings(&mut self, account_id: &str) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) FROM meetings WHERE account_id = ?1",
            account_id,
        )
    }

    fn insert_attendee(&mut self, a: &mut Attendee) -> StoreResult<()> {
        let seq: i64 = self
            .tx
            .prepare_cached(
                "INSERT INTO attendees (meeting_id, attendee_id, external_user_id, join_token, audio, video, content) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING seq",
            )
            .map_err(backend)?
            .query_row(
                params![
                    a.meeting_id,
                    a.attendee_id,
                    a.external_user_id,
                    a.join_token,
                    a.capabilities.audio.as_str(),
                    a.capabilities.video.as_str(),
                    a.capabilities.content.as_str(),
                ],
                |r| r.get(0),
            )
            .map_err(backend)?;
        a.seq = seq;
        Ok(())
    }

    fn attendee_by_external_id(
        &mut self,
        meeting_id: &str,
        external_user_id: &str,
    ) -> StoreResult<Option<Attendee>> {
        self.one_attendee(
            "meeting_id = ?1 AND external_user_id = ?2",
            meeting_id,
            external_user_id,
        )
    }

    fn get_attendee(
        &mut self,
        meeting_id: &str,
        attendee_id: &str,
    ) -> StoreResult<Option<Attendee>> {
        self.one_attendee(
            "meeting_id = ?1 AND attendee_id = ?2",
            meeting_id,
            attendee_id,
        )
    }

    fn attendee_by_id(&mut self, attendee_id: &str) -> StoreResult<Option<Attendee>> {
        let sql = format!("SELECT {ATTENDEE_COLUMNS} FROM attendees WHERE attendee_id = ?1");
        self.tx
            .prepare_cached(&sql)
            .map_err(backend)?
            .query_row(params![attendee_id], attendee_from_row)
            .optional()
            .map_err(backend)
    }

    fn record_meeting_ended(
        &mut self,
        account_id: &str,
        meeting_id: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT OR IGNORE INTO ended_meetings (meeting_id, account_id, ended_at_ms) VALUES (?1, ?2, ?3)",
            params![meeting_id, account_id, now_ms],
        )?;
        Ok(())
    }

    fn meeting_ended(&mut self, meeting_id: &str) -> StoreResult<bool> {
        Ok(self.count(
            "SELECT COUNT(*) FROM ended_meetings WHERE meeting_id = ?1",
            meeting_id,
        )? > 0)
    }

    fn meeting_briefs(&mut self) -> StoreResult<Vec<MeetingBrief>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT account_id, meeting_id, primary_meeting_id, created_at_ms FROM meetings",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(MeetingBrief {
                    account_id: r.get(0)?,
                    meeting_id: r.get(1)?,
                    primary_meeting_id: r.get(2)?,
                    created_at_ms: r.get(3)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn prune_ended_meetings(
        &mut self,
        account_id: Option<&str>,
        ended_before_ms: i64,
    ) -> StoreResult<u64> {
        let n = match account_id {
            None => self.exec(
                "DELETE FROM ended_meetings WHERE ended_at_ms < ?1",
                params![ended_before_ms],
            )?,
            Some(a) => self.exec(
                "DELETE FROM ended_meetings WHERE account_id = ?1 AND ended_at_ms < ?2",
                params![a, ended_before_ms],
            )?,
        };
        Ok(n as u64)
    }

    fn count_attendees(&mut self, meeting_id: &str) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) FROM attendees WHERE meeting_id = ?1",
            meeting_id,
        )
    }

    fn list_attendees(
        &mut self,
        meeting_id: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Attendee>> {
        let sql =
            format!("SELECT {ATTENDEE_COLUMNS} FROM attendees WHERE meeting_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
        let mut stmt = self.tx.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![meeting_id, after_seq, limit], attendee_from_row)
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn delete_attendee(&mut self, meeting_id: &str, attendee_id: &str) -> StoreResult<bool> {
        Ok(self.exec(
            "DELETE FROM attendees WHERE meeting_id = ?1 AND attendee_id = ?2",
            params![meeting_id, attendee_id],
        )? > 0)
    }

    fn set_capabilities(
        &mut self,
        meeting_id: &str,
        attendee_id: &str,
        caps: Capabilities,
    ) -> StoreResult<bool> {
        Ok(self.exec(
            "UPDATE attendees SET audio = ?3, video = ?4, content = ?5 WHERE meeting_id = ?1 AND attendee_id = ?2",
            params![meeting_id, attendee_id, caps.audio.as_str(), caps.video.as_str(), caps.content.as_str()],
        )? > 0)
    }

    fn set_capabilities_except(
        &mut self,
        meeting_id: &str,
        excluded: &[String],
        caps: Capabilities,
    ) -> StoreResult<u64> {
        // Exclusions are few (at most 250); filter them in SQL with a JSON list.
        let excluded_json = to_json(&excluded);
        Ok(self.exec(
            "UPDATE attendees SET audio = ?3, video = ?4, content = ?5 \
             WHERE meeting_id = ?1 AND attendee_id NOT IN (SELECT value FROM json_each(?2))",
            params![
                meeting_id,
                excluded_json,
                caps.audio.as_str(),
                caps.video.as_str(),
                caps.content.as_str()
            ],
        )? as u64)
    }

    fn tags(&mut self, meeting_id: &str) -> StoreResult<Vec<Tag>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT tag_key, tag_value FROM meeting_tags WHERE meeting_id = ?1 ORDER BY position")
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![meeting_id], |r| {
                Ok(Tag {
                    key: r.get(0)?,
                    value: r.get(1)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn put_tags(&mut self, meeting_id: &str, tags: &[Tag]) -> StoreResult<()> {
        for t in tags {
            self.exec(
                "INSERT INTO meeting_tags (meeting_id, tag_key, tag_value, position) \
                 VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(position), 0) + 1 FROM meeting_tags WHERE meeting_id = ?1)) \
                 ON CONFLICT (meeting_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                params![meeting_id, t.key, t.value],
            )?;
        }
        Ok(())
    }

    fn remove_tags(&mut self, meeting_id: &str, keys: &[String]) -> StoreResult<()> {
        for k in keys {
            self.exec(
                "DELETE FROM meeting_tags WHERE meeting_id = ?1 AND tag_key = ?2",
                params![meeting_id, k],
            )?;
        }
        Ok(())
    }

    fn transcription(&mut self, meeting_id: &str) -> StoreResult<Option<String>> {
        self.tx
            .prepare_cached("SELECT configuration FROM transcriptions WHERE meeting_id = ?1")
            .map_err(backend)?
            .query_row(params![meeting_id], |r| r.get(0))
            .optional()
            .map_err(backend)
    }

    fn set_transcription(
        &mut self,
        meeting_id: &str,
        configuration: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT INTO transcriptions (meeting_id, configuration, started_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (meeting_id) DO UPDATE SET configuration = excluded.configuration, started_at_ms = excluded.started_at_ms",
            params![meeting_id, configuration, now_ms],
        )?;
        Ok(())
    }

    fn clear_transcription(&mut self, meeting_id: &str) -> StoreResult<bool> {
        Ok(self.exec(
            "DELETE FROM transcriptions WHERE meeting_id = ?1",
            params![meeting_id],
        )? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::types::Capabilities;

    fn meeting(id: &str, token: &str) -> Meeting {
        Meeting {
            account_id: "111122223333".into(),
            meeting_id: id.into(),
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

    #[tokio::test]
    async fn roundtrip_and_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let m = meeting("m1", "t1");
        let mm = m.clone();
        crate::store::write(&store, move |tx| {
            tx.insert_meeting(&mm)?;
            let mut a = Attendee {
                meeting_id: "m1".into(),
                attendee_id: "a1".into(),
                external_user_id: "u1".into(),
                join_token: "j1".into(),
                capabilities: Capabilities::ALL,
                seq: 0,
            };
            tx.insert_attendee(&mut a)?;
            assert!(a.seq > 0);
            tx.put_tags(
                "m1",
                &[Tag {
                    key: "k".into(),
                    value: "v".into(),
                }],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        let got = crate::store::read(&store, |tx| Ok(tx.get_meeting("111122223333", "m1")?))
            .await
            .unwrap();
        assert_eq!(got, Some(m));
        let other = crate::store::read(&store, |tx| Ok(tx.get_meeting("999999999999", "m1")?))
            .await
            .unwrap();
        assert_eq!(other, None);
        crate::store::write(&store, |tx| {
            assert!(tx.delete_meeting("111122223333", "m1")?);
            assert_eq!(tx.count_attendees("m1")?, 0);
            assert!(tx.tags("m1")?.is_empty());
            Ok(())
        })
        .await
        .unwrap();
        // Reopening keeps the schema and the page-token key.
        let key = store.token_key();
        drop(store);
        let again = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(again.token_key(), key);
    }
}
