//! `convene migrate --from sqlite:DATA_DIR --to postgres://…`: moves a SQLite
//! deployment's data into an empty PostgreSQL database.
//!
//! The SQLite schema is first brought up to date (as a server start would),
//! then every table is read in one SQLite read transaction (one snapshot) and
//! written in one PostgreSQL transaction that holds the cluster-wide writer
//! lock: either all of it arrives or nothing does. The two schemas have the
//! same tables and columns, so rows are copied column by column, each value
//! converted to the type PostgreSQL declares for its column. Attendee and
//! event numbers are kept (roster order, NextTokens and event cursors stay
//! valid) and the sequences continue after them; the page-token key is copied
//! too, so a NextToken the SQLite server handed out is honoured by every node.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use tokio_postgres::types::{ToSql, Type};

use super::postgres::{backend, redact, PgStore, WRITE_LOCK};
use super::sqlite::SqliteStore;
use super::{StoreError, StoreOptions};
use crate::auth::credentials::GENERATED_FILE;

/// The tables copied, parents before children.
const TABLES: &[&str] = &[
    "meetings",
    "attendees",
    "meeting_tags",
    "transcriptions",
    "ended_meetings",
    "events",
    "event_streams",
    "event_dead_letters",
    "server_secrets",
];

/// Columns numbered by a sequence on PostgreSQL, which must continue after the copied rows.
const SERIALS: &[(&str, &str)] = &[("attendees", "seq"), ("events", "seq")];

/// What was moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Rows copied, per table.
    pub rows: Vec<(&'static str, u64)>,
    /// The generated key pair of the data directory, which the nodes need as
    /// a `--credentials-file` (a generated pair is refused with PostgreSQL).
    pub generated_credentials: Option<PathBuf>,
}

/// Copies the data in `data_dir` into the (empty) database at `url`.
pub async fn sqlite_to_postgres(data_dir: &Path, url: &str) -> Result<Moved, String> {
    let file = data_dir.join(super::sqlite::DATABASE_FILE);
    if !file.is_file() {
        return Err(format!(
            "{} has no Convene database ({} is missing)",
            data_dir.display(),
            file.display()
        ));
    }
    let sqlite = SqliteStore::open(data_dir).map_err(|e| e.to_string())?;
    let path = sqlite.path().to_path_buf();
    drop(sqlite);
    let tables = read_sqlite(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let pg = PgStore::connect(url, StoreOptions::default())
        .await
        .map_err(|e| format!("cannot open the PostgreSQL store at {}: {e}", redact(url)))?;
    let mut client = pg.dedicated().await.map_err(|e| e.to_string())?;
    let rows = write_postgres(&mut client, &tables)
        .await
        .map_err(|e| format!("writing to {}: {e}", redact(url)))?;
    let generated = data_dir.join(GENERATED_FILE);
    Ok(Moved {
        rows,
        generated_credentials: generated.is_file().then_some(generated),
    })
}

/// One table as read from SQLite.
struct Table {
    name: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

fn read_sqlite(path: &Path) -> rusqlite::Result<Vec<Table>> {
    let mut conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tx = conn.transaction()?;
    let mut out = Vec::new();
    for &name in TABLES {
        let columns: Vec<String> = tx
            .prepare(&format!("PRAGMA table_info({name})"))?
            .query_map([], |r| r.get::<_, String>(1))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = tx.prepare(&format!("SELECT {} FROM {name}", columns.join(", ")))?;
        let rows = stmt
            .query_map([], |r| {
                (0..columns.len())
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(stmt);
        out.push(Table {
            name,
            columns,
            rows,
        });
    }
    tx.commit()?;
    Ok(out)
}

async fn write_postgres(
    client: &mut tokio_postgres::Client,
    tables: &[Table],
) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"))
        .await
        .map_err(backend)?;
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT COUNT(*) FROM meetings) + (SELECT COUNT(*) FROM ended_meetings) \
             + (SELECT COUNT(*) FROM events)",
            &[],
        )
        .await
        .map_err(backend)?
        .get(0);
    if held > 0 {
        return Err(StoreError::Backend(format!(
            "the database already holds data ({held} meetings, ended meetings and events); \
             migrate into an empty database"
        )));
    }
    // The database's own page-token key gives way to the one the clients know.
    tx.execute("DELETE FROM server_secrets", &[])
        .await
        .map_err(backend)?;
    let mut counts = Vec::new();
    for table in tables {
        counts.push((table.name, copy_table(&tx, table).await?));
    }
    for (table, column) in SERIALS {
        tx.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        ))
        .await
        .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(counts)
}

async fn copy_table(
    tx: &tokio_postgres::Transaction<'_>,
    table: &Table,
) -> Result<u64, StoreError> {
    let placeholders: Vec<String> = (1..=table.columns.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        table.columns.join(", "),
        placeholders.join(", ")
    );
    let stmt = tx.prepare(&sql).await.map_err(backend)?;
    let types = stmt.params().to_vec();
    for row in &table.rows {
        let values = row
            .iter()
            .zip(&types)
            .zip(&table.columns)
            .map(|((v, ty), column)| {
                to_postgres(v, ty)
                    .map_err(|e| StoreError::Corrupt(format!("{}.{column}: {e}", table.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(AsRef::as_ref).collect();
        tx.execute(&stmt, &params).await.map_err(backend)?;
    }
    Ok(table.rows.len() as u64)
}

/// A SQLite value as the PostgreSQL type of its column.
fn to_postgres(v: &Value, ty: &Type) -> Result<Box<dyn ToSql + Sync>, String> {
    let wrong = || format!("{v:?} does not fit PostgreSQL type {ty}");
    let value: Box<dyn ToSql + Sync> = if *ty == Type::INT8 {
        match v {
            Value::Null => Box::new(None::<i64>),
            Value::Integer(i) => Box::new(*i),
            _ => return Err(wrong()),
        }
    } else if *ty == Type::INT4 {
        match v {
            Value::Null => Box::new(None::<i32>),
            Value::Integer(i) => Box::new(i32::try_from(*i).map_err(|_| wrong())?),
            _ => return Err(wrong()),
        }
    } else if *ty == Type::FLOAT8 {
        match v {
            Value::Null => Box::new(None::<f64>),
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(i) => Box::new(*i as f64),
            Value::Real(f) => Box::new(*f),
            _ => return Err(wrong()),
        }
    } else if *ty == Type::TEXT {
        match v {
            Value::Null => Box::new(None::<String>),
            Value::Text(s) => Box::new(s.clone()),
            Value::Integer(i) => Box::new(i.to_string()),
            _ => return Err(wrong()),
        }
    } else if *ty == Type::BYTEA {
        match v {
            Value::Null => Box::new(None::<Vec<u8>>),
            Value::Blob(b) => Box::new(b.clone()),
            Value::Text(s) => Box::new(s.clone().into_bytes()),
            _ => return Err(wrong()),
        }
    } else {
        return Err(wrong());
    };
    Ok(value)
}
