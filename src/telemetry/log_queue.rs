//! The log's queue: request threads append whole lines to a buffer in memory
//! and one thread, `convene-log`, writes what has gathered to stderr.
//!
//! Appending is a copy under an uncontended lock, never a system call. The
//! writer thread sleeps while the buffer is empty; the first line after that
//! wakes it (one wake-up), and it then waits [`GATHER`] for more before one
//! `write` takes every line that came meanwhile: under load a few hundred
//! writes and wake-ups a second whatever the request rate, none when idle.
//! A line per wake-up (a channel to the writer) cost the server about a
//! seventh of its CPU under GetMeeting (BENCHMARKS.md, "The log's writer").
//!
//! A reader of stderr that stops reading (a full pipe, a stalled collector)
//! blocks only the writer thread; the buffer fills to [`LIMIT`] and lines
//! that find it full are dropped and counted instead of stalling requests.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Duration;

/// How long the writer waits after its wake-up for more lines to gather.
const GATHER: Duration = Duration::from_millis(5);

/// Bytes the queue holds (about 13,000 request lines, a quarter of a second
/// at 50,000 requests a second) before lines are dropped.
pub const LIMIT: usize = 4 * 1024 * 1024;

/// What a buffer keeps of its capacity after a write that needed more.
const KEEP: usize = 256 * 1024;

/// How long a clean stop waits for the writer to write out what is queued.
const FINISH: Duration = Duration::from_secs(1);

/// The queue as appenders see it.
pub struct LogQueue {
    pending: Mutex<Pending>,
    /// Signalled when the writer thread has stopped.
    stopped: Condvar,
    /// The writer thread, to unpark (set before anyone can append).
    writer: OnceLock<Thread>,
    dropped: AtomicU64,
    limit: usize,
}

struct Pending {
    lines: Vec<u8>,
    /// The writer is parked (or about to park) and needs a wake-up.
    idle: bool,
    closing: bool,
    /// The writer thread has written out what was queued and returned.
    stopped: bool,
}

impl LogQueue {
    /// Starts the writer thread on `sink`, holding at most `limit` bytes.
    pub fn start(sink: Box<dyn Write + Send>, limit: usize) -> std::io::Result<Arc<LogQueue>> {
        let queue = Arc::new(LogQueue {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                idle: false,
                closing: false,
                stopped: false,
            }),
            stopped: Condvar::new(),
            writer: OnceLock::new(),
            dropped: AtomicU64::new(0),
            limit,
        });
        let for_writer = queue.clone();
        let handle = std::thread::Builder::new()
            .name("convene-log".into())
            .spawn(move || {
                for_writer.write_until_closed(sink);
                for_writer.lock().stopped = true;
                for_writer.stopped.notify_all();
            })?;
        let _ = queue.writer.set(handle.thread().clone());
        Ok(queue)
    }

    fn wake_writer(&self) {
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding it leaves only bytes behind: keep logging.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues one whole line (or several), or drops it if the queue is full.
    pub fn append(&self, line: &[u8]) {
        let mut pending = self.lock();
        if pending.closing || pending.lines.len() + line.len() > self.limit {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.lines.extend_from_slice(line);
        if pending.idle {
            pending.idle = false;
            drop(pending);
            self.wake_writer();
        }
    }

    /// Lines dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops taking lines and waits (up to a second) for the writer to write
    /// out what is queued; a writer stuck on a reader that stopped reading is
    /// left behind.
    pub fn finish(&self) {
        let mut pending = self.lock();
        pending.closing = true;
        self.wake_writer();
        let _ = self
            .stopped
            .wait_timeout_while(pending, FINISH, |p| !p.stopped);
    }

    /// The writer thread's loop.
    fn write_until_closed(&self, mut sink: Box<dyn Write + Send>) {
        let mut batch = Vec::new();
        loop {
            let closing = {
                let mut pending = self.lock();
                while pending.lines.is_empty() && !pending.closing {
                    pending.idle = true;
                    drop(pending);
                    std::thread::park();
                    pending = self.lock();
                }
                pending.closing
            };
            if !closing {
                std::thread::sleep(GATHER);
            }
            let closing = {
                let mut pending = self.lock();
                std::mem::swap(&mut pending.lines, &mut batch);
                pending.closing
            };
            // A log that cannot be written is nobody's failure to report.
            let _ = sink.write_all(&batch).and_then(|()| sink.flush());
            batch.clear();
            batch.shrink_to(KEEP);
            if closing && self.lock().lines.is_empty() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that hands what it is given to the test.
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A sink whose every write waits until the test opens the gate.
    struct Gated(Arc<(Mutex<bool>, Condvar)>, Arc<Mutex<Vec<u8>>>);

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, signal) = &*self.0;
            let open = lock.lock().unwrap();
            drop(signal.wait_while(open, |open| !*open).unwrap());
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order_and_finish_writes_out_the_rest() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let queue = LogQueue::start(Box::new(Shared(out.clone())), LIMIT).unwrap();
        let mut expected = Vec::new();
        for i in 0..10_000 {
            let line = format!("line {i}\n");
            queue.append(line.as_bytes());
            expected.extend_from_slice(line.as_bytes());
            if i % 1_000 == 0 {
                // Let the writer go idle and be woken again.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        queue.finish();
        assert_eq!(*out.lock().unwrap(), expected);
        assert_eq!(queue.dropped(), 0);
        queue.append(b"after the stop\n");
        assert_eq!(queue.dropped(), 1, "a line after finish is dropped");
    }

    #[test]
    fn a_stalled_sink_drops_and_counts_lines_past_the_limit_and_blocks_no_one() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let queue = LogQueue::start(Box::new(Gated(gate.clone(), out.clone())), 100).unwrap();
        // The first line wakes the writer, which takes it and stalls.
        queue.append(b"first 10\n");
        std::thread::sleep(GATHER * 10);
        // Ten lines of ten bytes fill the queue; five more are dropped.
        for _ in 0..15 {
            queue.append(b"123456789\n");
        }
        assert_eq!(queue.dropped(), 5);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        queue.finish();
        let written = out.lock().unwrap().clone();
        assert_eq!(written.len(), 9 + 100);
        assert!(written.starts_with(b"first 10\n123456789\n"));
    }

    #[test]
    fn finish_gives_up_on_a_sink_that_never_returns() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let queue = LogQueue::start(Box::new(Gated(gate, out)), LIMIT).unwrap();
        queue.append(b"stuck\n");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            queue.finish();
            let _ = tx.send(());
        });
        // A hang, not a speed, is what fails here: finish waits one second.
        rx.recv_timeout(Duration::from_secs(60))
            .expect("finish returned although the writer is stuck");
    }
}
