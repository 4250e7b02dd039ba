//! The load generator: N keep-alive HTTP/1.1 connections, each a task that
//! sends the next request of a shared pool as soon as the previous answer is
//! in (closed loop), or at its scheduled time (open loop). Only requests
//! started and answered inside the measured window count; the warm-up before
//! it is discarded.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use convene::telemetry::error_chain;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use crate::sign::Signed;

/// Requests to replay. A wrapping pool is replayed from the start when it runs
/// out (reads); a one-shot pool ends the run early when it runs out (writes,
/// whose every request must be new).
pub struct Pool {
    pub requests: Vec<Signed>,
    pub wrap: bool,
}

/// How long and how wide to load.
#[derive(Clone, Copy)]
pub struct Shape {
    pub connections: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Open loop: requests per second in all, each sent at its scheduled
    /// time (or as soon as a connection is free, when none was; see
    /// [`Pacing`]), its latency counted
    /// from that time, so a stalled server is charged for the wait it causes.
    /// `None`: closed loop (the next request as soon as the last answer is in).
    pub rate: Option<f64>,
    /// Open loop: how the schedule is shared among the connections.
    pub pacing: Pacing,
}

/// How an open-loop schedule is spread over the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// One schedule for the run (request i at i/rate), each request sent by
    /// whichever connection is free when it falls due, as a client's pool of
    /// keep-alive connections does: a request waits for a connection only
    /// when every one is busy.
    Shared,
    /// Each connection has its own schedule (connection k of C at
    /// k/rate, (k + C)/rate, ...), as wrk2 does: a request waits for its own
    /// connection's previous answer even when other connections are idle.
    PerConnection,
}

impl Pacing {
    pub fn parse(raw: &str) -> Option<Pacing> {
        match raw {
            "shared" => Some(Pacing::Shared),
            "per-connection" => Some(Pacing::PerConnection),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pacing::Shared => "shared",
            Pacing::PerConnection => "per-connection",
        }
    }
}

/// What one run measured.
#[derive(Default)]
pub struct Outcome {
    /// Answers received inside the window.
    pub done: u64,
    /// Of those, answers that were not 2xx.
    pub errors: u64,
    /// The first non-2xx answer, for the report.
    pub first_error: Option<String>,
    /// The measured window (shorter than asked when a one-shot pool ran out).
    pub window: Duration,
    /// Latencies in the window, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Open loop only, in time order: each request's scheduled time
    /// (microseconds from the window's start), its latency and how late the
    /// tool sent it (both microseconds; late because its connection still
    /// awaited the previous answer, or because the tool's own timer or
    /// threads were late).
    pub timeline: Vec<(u64, u32, u32)>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }

    /// The `q` quantile of latency, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

struct Worker {
    done: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
    last_answer: Option<Instant>,
    timeline: Vec<(u64, u32, u32)>,
}

/// Runs `pool` against `addr` with `shape`.
pub async fn run(addr: SocketAddr, pool: Arc<Pool>, shape: Shape) -> Result<Outcome, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now() + shape.warmup;
    let end = start + shape.measure;
    let mut tasks = Vec::new();
    let began = Instant::now();
    for k in 0..shape.connections {
        let (pool, next) = (pool.clone(), next.clone());
        let pace = shape.rate.filter(|r| *r > 0.0).map(|r| match shape.pacing {
            Pacing::Shared => Schedule::Shared { began, rate: r },
            // Connection k of C sends at k/rate, (k + C)/rate, (k + 2C)/rate...
            Pacing::PerConnection => Schedule::Own {
                next: began + Duration::from_secs_f64(k as f64 / r),
                every: Duration::from_secs_f64(shape.connections as f64 / r),
            },
        });
        tasks.push(tokio::spawn(worker(addr, pool, next, (start, end), pace)));
    }
    let mut out = Outcome::default();
    let mut last = None::<Instant>;
    for t in tasks {
        let w = t.await.map_err(|e| format!("a load task failed: {e}"))??;
        out.done += w.done;
        out.errors += w.errors;
        if out.first_error.is_none() {
            out.first_error = w.first_error;
        }
        out.latencies_us.extend(w.latencies_us);
        out.timeline.extend(w.timeline);
        last = last.max(w.last_answer);
    }
    out.latencies_us.sort_unstable();
    out.timeline.sort_unstable();
    let exhausted = next.load(Ordering::Relaxed) >= pool.requests.len() && !pool.wrap;
    out.window = match (exhausted, last) {
        (true, Some(l)) if l < end => l.saturating_duration_since(start),
        _ => shape.measure,
    };
    Ok(out)
}

/// An open-loop connection's schedule.
#[derive(Clone, Copy, Debug)]
enum Schedule {
    /// Request i of the run is due at `began + i / rate`; a connection takes
    /// the next one when it is free.
    Shared { began: Instant, rate: f64 },
    /// This connection's own: at `next`, then every `every`.
    Own { next: Instant, every: Duration },
}

impl Schedule {
    /// When the request this connection sends next is due; `ticket` is its
    /// place in the run (the pool's shared counter).
    fn due(&mut self, ticket: usize) -> Instant {
        match self {
            Schedule::Shared { began, rate } => {
                *began + Duration::from_secs_f64(ticket as f64 / *rate)
            }
            Schedule::Own { next, every } => {
                let at = *next;
                *next += *every;
                at
            }
        }
    }
}

async fn worker(
    addr: SocketAddr,
    pool: Arc<Pool>,
    next: Arc<AtomicUsize>,
    (start, end): (Instant, Instant),
    mut pace: Option<Schedule>,
) -> Result<Worker, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    tokio::spawn(conn);
    let mut w = Worker {
        done: 0,
        errors: 0,
        first_error: None,
        latencies_us: Vec::with_capacity(1 << 16),
        last_answer: None,
        timeline: Vec::new(),
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        // Paced, a request is late from its scheduled time on.
        let sent = pace.as_mut().map_or_else(Instant::now, |p| p.due(i));
        if sent >= end {
            break;
        }
        if pace.is_some() {
            tokio::time::sleep_until(sent.into()).await;
        }
        let req = if pool.wrap {
            &pool.requests[i % pool.requests.len()]
        } else if let Some(r) = pool.requests.get(i) {
            r
        } else {
            break;
        };
        let sending = Instant::now();
        let resp = sender
            .send_request(req.to_request())
            .await
            .map_err(|e| format!("request to {addr} failed: {}", error_chain(&e)))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading an answer from {addr}: {}", error_chain(&e)))?
            .to_bytes();
        let answered = Instant::now();
        if sent < start || answered > end {
            continue;
        }
        w.done += 1;
        w.last_answer = Some(answered);
        let latency = u32::try_from(answered.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
        w.latencies_us.push(latency);
        if pace.is_some() {
            let at = u64::try_from(sent.duration_since(start).as_micros()).unwrap_or(u64::MAX);
            let late = u32::try_from(sending.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
            w.timeline.push((at, latency, late));
        }
        if !status.is_success() {
            w.errors += 1;
            if w.first_error.is_none() {
                w.first_error = Some(format!(
                    "{} {} -> {status}: {}",
                    req.method,
                    req.path_and_query,
                    String::from_utf8_lossy(&body)
                ));
            }
        }
    }
    Ok(w)
}

/// Sends every request of `reqs` over `connections` keep-alive connections and
/// returns each answer's status and body, in order (setting up the data a
/// scenario reads).
pub async fn each(
    addr: SocketAddr,
    reqs: Vec<Signed>,
    connections: usize,
) -> Result<Vec<(u16, String)>, String> {
    let reqs = Arc::new(reqs);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (reqs, next) = (reqs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut got = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = reqs.get(i) else { break };
                let resp = sender
                    .send_request(req.to_request())
                    .await
                    .map_err(|e| e.to_string())?;
                let status = resp.status().as_u16();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                got.push((i, status, String::from_utf8_lossy(&body).into_owned()));
            }
            Ok::<_, String>(got)
        }));
    }
    let mut all = Vec::with_capacity(reqs.len());
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    all.sort_unstable_by_key(|(i, _, _)| *i);
    Ok(all.into_iter().map(|(_, s, b)| (s, b)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_schedule_is_the_runs_and_an_own_one_the_connections() {
        let began = Instant::now();
        let ms = Duration::from_millis;
        // 1,000 a second over the run: ticket i at i ms, whoever sends it.
        let mut a = Schedule::Shared {
            began,
            rate: 1000.0,
        };
        let mut b = a;
        assert_eq!(a.due(0), began);
        assert_eq!(b.due(7), began + ms(7));
        assert_eq!(a.due(8), began + ms(8));
        // Its own: every 4 ms from its start, whatever the tickets.
        let mut own = Schedule::Own {
            next: began + ms(1),
            every: ms(4),
        };
        assert_eq!(own.due(0), began + ms(1));
        assert_eq!(own.due(9), began + ms(5));
        assert_eq!(own.due(10), began + ms(9));
        assert_eq!(Pacing::parse("shared"), Some(Pacing::Shared));
        assert_eq!(Pacing::parse("per-connection"), Some(Pacing::PerConnection));
        assert_eq!(Pacing::parse("each"), None);
    }
}
