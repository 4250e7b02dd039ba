//! What the server tells the people running it: Prometheus metrics (the
//! `metrics` facade, rendered by `metrics-exporter-prometheus` into the text
//! format on `GET /metrics`) and the log subscriber (text or JSON on stderr).

mod log_queue;

use std::io::{IsTerminal, Write};
use std::sync::{Arc, OnceLock};

use log_queue::LogQueue;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Bucket bounds (seconds) of the latency histograms: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's metrics recorder (once) and returns its handle.
pub fn metrics() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
        }
        describe();
        metrics::gauge!("convene_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds histogram samples into buckets every few seconds. The recorder
/// keeps every sample until then: a scrape did it before, so a server that
/// nobody scraped held two samples per request for ever (memory that grew
/// with every request), and the first scrape after a long time had them all
/// to fold.
fn spawn_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms fold only when /metrics is scraped");
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "convene_http_requests_total",
        "API requests answered, by operation and HTTP status"
    );
    describe_histogram!(
        "convene_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an API request, by operation"
    );
    describe_histogram!(
        "convene_store_transaction_duration_seconds",
        Unit::Seconds,
        "Time of one store transaction, by kind (read or write)"
    );
    describe_gauge!("convene_meetings", "Meetings held (every account)");
    describe_gauge!("convene_attendees", "Attendees held (every account)");
    describe_gauge!(
        "convene_media_signaling_sessions",
        "Open signaling WebSocket connections"
    );
    describe_gauge!(
        "convene_media_joined_sessions",
        "Signaling connections on a meeting's roster"
    );
    describe_gauge!(
        "convene_media_webrtc_sessions",
        "WebRTC sessions of the media loop"
    );
    describe_counter!(
        "convene_media_packets_received_total",
        "UDP datagrams received by the media endpoint"
    );
    describe_counter!(
        "convene_media_packets_sent_total",
        "UDP datagrams sent by the media endpoint"
    );
    describe_counter!(
        "convene_events_published_total",
        "Domain events published after a committed change, by event"
    );
    describe_counter!(
        "convene_events_delivered_total",
        "Domain events handed to subscribers (one per subscriber)"
    );
    describe_counter!(
        "convene_events_missed_total",
        "Domain events a subscriber missed because it fell behind"
    );
    describe_gauge!(
        "convene_events_pending",
        "Domain events published and not yet read by every subscriber"
    );
    describe_counter!(
        "convene_log_lines_dropped_total",
        "Log lines dropped because stderr's reader fell behind and the log queue was full"
    );
    describe_gauge!("convene_build_info", "Always 1; the version as a label");
}

/// Set when [`init_logging`] installed the JSON formatter on stderr.
static JSON_ON_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether log lines are JSON objects on stderr, so that a hot path may
/// write its line itself, in the formatter's own shape
/// (`wire::request_log`).
pub fn json_on_stderr() -> bool {
    JSON_ON_STDERR.load(std::sync::atomic::Ordering::Relaxed)
}

/// The log's queue (`log_queue`). Every line (tracing's and the request
/// log's) goes into it and a thread of its own, `convene-log`, writes them to
/// stderr, many lines a `write` and never on a request's thread. A reader of
/// stderr that stops reading (a full pipe, a stalled log collector) fills the
/// queue, and lines that find it full are dropped and counted
/// (`convene_log_lines_dropped_total` on `/metrics`) instead of stalling
/// every request behind the write.
static LOG_QUEUE: OnceLock<Arc<LogQueue>> = OnceLock::new();

/// Keeps the log's writer thread; dropped at exit, it writes out what is
/// still queued (waiting up to a second).
#[must_use = "dropping the guard stops the log's writer thread"]
pub struct LogGuard {
    queue: Option<Arc<LogQueue>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(queue) = &self.queue {
            queue.finish();
        }
    }
}

/// tracing's writer: each event's formatted line, appended whole.
struct QueueWriter(Option<Arc<LogQueue>>);

impl Write for QueueWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(queue) => {
                queue.append(buf);
                Ok(buf.len())
            }
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the log subscriber on stderr, through the log's queue. Colour
/// only when stderr is a terminal (and NO_COLOR is unset); `CONVENE_LOG`
/// filters (default `info`). Hold the guard until the process ends.
pub fn init_logging(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_env("CONVENE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let queue = match LogQueue::start(Box::new(std::io::stderr()), log_queue::LIMIT) {
        Ok(queue) => Some(queue),
        Err(e) => {
            eprintln!(
                "convene: cannot start the log's writer thread ({e}); logging straight to stderr"
            );
            None
        }
    };
    let for_tracing = queue.clone();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || QueueWriter(for_tracing.clone()));
    let installed = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init().is_ok(),
        LogFormat::Json => {
            let installed = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .try_init()
                .is_ok();
            if installed {
                JSON_ON_STDERR.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            installed
        }
    };
    match queue {
        Some(queue) if installed && LOG_QUEUE.set(queue.clone()).is_ok() => {
            LogGuard { queue: Some(queue) }
        }
        other => {
            if let Some(queue) = other {
                queue.finish();
            }
            LogGuard { queue: None }
        }
    }
}

/// Queues one whole line (its newline included) for stderr, the way the
/// subscriber's own lines go. Before [`init_logging`] it is written at once.
pub fn write_log_line(line: &[u8]) {
    // A log that cannot be written is not the caller's failure.
    let _ = match LOG_QUEUE.get() {
        Some(queue) => {
            queue.append(line);
            Ok(())
        }
        None => std::io::stderr().lock().write_all(line),
    };
}

/// An error and its causes on one line ("a: b: c"), for logs and messages:
/// many errors (the AWS SDK's, hyper's, tokio-postgres's) say why only in
/// their sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Lines dropped because the log's queue was full (its reader too slow).
pub fn log_lines_dropped() -> u64 {
    LOG_QUEUE.get().map_or(0, |q| q.dropped())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_chain_names_every_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("connection reset"));
        assert_eq!(super::error_chain(&e), "request failed: connection reset");
        assert_eq!(super::error_chain(&e.0), "connection reset");
    }
}
