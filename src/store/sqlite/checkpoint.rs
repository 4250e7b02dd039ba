//! WAL checkpoints on a thread of their own, off the writer's path.
//!
//! In WAL mode a commit appends the pages it changed to the `-wal` file (and
//! is durable there: `synchronous=FULL` syncs it), and a checkpoint later
//! copies them into the database file. By default SQLite runs that
//! checkpoint inside the commit that takes the log past 1,000 pages, on the
//! committing thread: every write queued behind it would wait for the page
//! copies and two more fsyncs. The writer's connection turns that off
//! (`wal_autocheckpoint = 0`), and this thread, with a connection of its own,
//! copies the log after commits instead, with `PASSIVE` checkpoints, which
//! never wait for the writer nor hold it back.
//!
//! The log starts over (its space is reused) at the first write after a
//! checkpoint that copied all of it. Under a steady stream of writes a
//! checkpoint on another thread rarely ends just before a write begins, so
//! when the log has grown past [`RESTART_FRAMES`] the thread asks the writer
//! to checkpoint once more itself, right after one of its commits: only the
//! frames of the last batches are left to copy by then, and the writer's next
//! transaction starts the log over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// Log frames (pages of 4 KiB) past which the writer checkpoints itself so
/// that the log can start over.
const RESTART_FRAMES: i64 = 16 * 1024;

/// A pass that copied fewer frames than this has caught up with the writer.
const FEW_FRAMES: i64 = 256;

/// Passes back to back at most while catching up.
const MAX_CATCH_UP: usize = 16;

/// How long the thread lets commits gather before a checkpoint pass.
const PAUSE: Duration = Duration::from_millis(100);

/// The writer's handle: it nudges the thread after each commit.
pub(super) struct Checkpointer {
    nudge: SyncSender<()>,
    restart: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread, which owns `conn` (a connection of its own to the
    /// database) and ends when the handle is dropped.
    pub(super) fn start(conn: Connection) -> StoreResult<Checkpointer> {
        let (nudge, rx) = sync_channel(1);
        let restart = Arc::new(AtomicBool::new(false));
        let flag = restart.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpnt".into())
            .spawn(move || run(&conn, &rx, &flag))
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { nudge, restart })
    }

    /// Called by the writer after each commit.
    pub(super) fn committed(&self, writer: &Connection) {
        if self.restart.swap(false, Ordering::AcqRel) {
            // Copies what is left (the frames since the thread's last pass),
            // so that the writer's next transaction starts the log over.
            if let Err(e) = pass(writer) {
                tracing::warn!(error = %e, "WAL checkpoint on the writer failed");
            }
        }
        let _ = self.nudge.try_send(());
    }
}

/// Turns the commit-time checkpoint off on the writer's connection.
pub(super) fn disable_autocheckpoint(writer: &Connection) -> StoreResult<()> {
    writer
        .execute_batch("PRAGMA wal_autocheckpoint = 0")
        .map_err(super::backend)
}

fn run(conn: &Connection, nudged: &Receiver<()>, restart: &AtomicBool) {
    while nudged.recv().is_ok() {
        std::thread::sleep(PAUSE);
        match pass(conn) {
            Ok(p) if p.frames >= RESTART_FRAMES => catch_up(conn, restart, p),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// The log is long: passes back to back until one finds little new to
/// copy, then the writer is asked to copy the rest itself (a short pause of
/// its queue instead of a long one).
fn catch_up(conn: &Connection, restart: &AtomicBool, mut last: Pass) {
    for _ in 0..MAX_CATCH_UP {
        match pass(conn) {
            Ok(p) => {
                let copied = p.copied - last.copied;
                last = p;
                if copied < FEW_FRAMES {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                return;
            }
        }
    }
    restart.store(true, Ordering::Release);
}

/// What a `PASSIVE` checkpoint reports.
#[derive(Clone, Copy)]
struct Pass {
    /// Frames in the log.
    frames: i64,
    /// Frames of the log in the database file (after this pass).
    copied: i64,
}

fn pass(conn: &Connection) -> rusqlite::Result<Pass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Pass {
            frames: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .unwrap();
        conn
    }

    /// In WAL mode only a checkpoint writes to the database file: it stays
    /// as it was through the writer's commits (the writer does not
    /// checkpoint), and grows once the thread, nudged, has copied them.
    #[test]
    fn the_thread_copies_the_writers_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let writer = open(&path);
        disable_autocheckpoint(&writer).unwrap();
        writer
            .execute_batch("CREATE TABLE t (v TEXT NOT NULL)")
            .unwrap();
        let checkpointer = Checkpointer::start(open(&path)).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        // More than SQLite's default checkpoint threshold (1,000 pages).
        for _ in 0..25 {
            writer.execute_batch("BEGIN IMMEDIATE").unwrap();
            for _ in 0..50 {
                writer
                    .execute("INSERT INTO t (v) VALUES (?1)", [&"x".repeat(4000)])
                    .unwrap();
            }
            writer.execute_batch("COMMIT").unwrap();
        }
        assert_eq!(size(), before, "the writer's commits stay in the log");
        let copied = |size_was: u64| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if size() > size_was {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        };
        checkpointer.committed(&writer);
        assert!(copied(before), "the thread copied the commits");
    }
}
