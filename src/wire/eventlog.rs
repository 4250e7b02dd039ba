//! The event log API under Convene's own prefix: the meeting events the
//! outbox recorded, read back by their account.
//!
//! - `GET /_convene/meetings/{MeetingId}/events`: a meeting's events, paged.
//! - `GET /_convene/events`: the account's events, paged.
//! - `GET /_convene/events/stream`: the account's events as server-sent
//!   events, live.
//!
//! Every request is signed with SigV4 (service `chime`) with the same keys as
//! the API, in the `Authorization` header or in the query string (a presigned
//! URL, which is what a browser's `EventSource` can open: it cannot set
//! headers). Answers and refusals are the API's (`x-amzn-ErrorType`, JSON
//! body). The routes exist whether or not the test controls do.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode, Uri};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::error::WireError;
use super::router::Query;
use super::server::{error_response, json_response, AppState};
use crate::domain::error::invalid;
use crate::domain::ids::MeetingId;
use crate::domain::types::Caller;
use crate::ops::eventlog::{EventPage, LoggedEvent, MAX_PAGE};

/// The path prefix of the event log.
pub const PREFIX: &str = "/_convene";

/// How often a live stream looks for new events besides the outbox's wake-ups
/// (which may come just before their transaction commits).
const POLL: Duration = Duration::from_millis(500);
/// A comment line this often keeps proxies from closing an idle stream (and
/// finds a client that went away).
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Reconnection delay suggested to `EventSource` clients, in milliseconds.
const RETRY_MS: u32 = 2000;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_convene/events", get(list_account))
        .route("/_convene/events/stream", get(stream))
        .route("/_convene/meetings/{meeting_id}/events", get(list_meeting))
}

/// The signed caller of a body-less request, within its rate limit.
async fn caller_of(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    operation: &'static str,
) -> Result<Caller, WireError> {
    let caller = super::server::authenticate(state, "GET", uri, headers, b"")?;
    super::server::throttle(state, &caller, operation).await?;
    Ok(caller)
}

/// A non-negative integer query parameter at most `max`, or `default` when absent.
fn number(query: &Query, name: &str, default: i64, max: i64) -> Result<i64, WireError> {
    match query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=max).contains(n))
            .ok_or_else(|| invalid(name, format!("must be a whole number from 0 to {max}")).into()),
    }
}

/// `max-results` (1 to 100, default 100) and `next-token` (a cursor from a previous page).
fn paging(query: &Query) -> Result<(i64, u32), WireError> {
    let limit = number(
        query,
        "max-results",
        i64::from(MAX_PAGE),
        i64::from(MAX_PAGE),
    )?;
    if limit == 0 {
        return Err(invalid("max-results", "must be at least 1").into());
    }
    let after = number(query, "next-token", 0, i64::MAX)?;
    Ok((after, limit as u32))
}

fn envelope(e: &LoggedEvent) -> Value {
    serde_json::from_str(&e.envelope).unwrap_or(Value::Null)
}

fn page_body(page: &EventPage) -> Value {
    let mut body = json!({ "Events": page.events.iter().map(envelope).collect::<Vec<_>>() });
    if let Some(next) = page.next_after {
        body["NextToken"] = json!(next.to_string());
    }
    body
}

/// Lets a page of another origin read the answer (its URL carries the credential).
fn cors(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The answer, with the request's one log line.
fn finish(
    result: Result<Response<Body>, WireError>,
    operation: &str,
    account_id: Option<&str>,
    meeting_id: Option<&str>,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    let (response, error_type) = match result {
        Ok(r) => (r, None),
        Err(e) => (error_response(&e, request_id), Some(e.shape())),
    };
    let status = response.status().as_u16();
    let latency_ms = (started.elapsed().as_micros() as f64) / 1000.0;
    metrics::counter!("convene_http_requests_total",
        "operation" => operation.to_string(), "status" => status.to_string())
    .increment(1);
    tracing::info!(target: "convene::request", %request_id, operation, account_id, meeting_id,
        status, error_type, latency_ms, "request");
    cors(response)
}

async fn list_meeting(
    State(state): State<Arc<AppState>>,
    Path(meeting_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    const OPERATION: &str = "ListMeetingEvents";
    let (started, request_id) = (Instant::now(), uuid::Uuid::new_v4().to_string());
    let mut account = None;
    let result = async {
        let caller = caller_of(&state, &uri, &headers, OPERATION).await?;
        account = Some(caller.account_id.to_string());
        let (after, limit) = paging(&Query::parse(uri.query()))?;
        let id = MeetingId::parse("MeetingId", &meeting_id)?;
        let page = state
            .service
            .meeting_events(&caller, &id, after, limit)
            .await?;
        Ok::<_, WireError>(json_response(
            StatusCode::OK,
            &page_body(&page),
            Some(&request_id),
        ))
    }
    .await;
    let meeting = Some(meeting_id.as_str());
    finish(
        result,
        OPERATION,
        account.as_deref(),
        meeting,
        &request_id,
        started,
    )
}

async fn list_account(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    const OPERATION: &str = "ListEvents";
    let (started, request_id) = (Instant::now(), uuid::Uuid::new_v4().to_string());
    let mut account = None;
    let result = async {
        let caller = caller_of(&state, &uri, &headers, OPERATION).await?;
        account = Some(caller.account_id.to_string());
        let (after, limit) = paging(&Query::parse(uri.query()))?;
        let page = state.service.account_events(&caller, after, limit).await?;
        Ok::<_, WireError>(json_response(
            StatusCode::OK,
            &page_body(&page),
            Some(&request_id),
        ))
    }
    .await;
    finish(
        result,
        OPERATION,
        account.as_deref(),
        None,
        &request_id,
        started,
    )
}

/// Where a stream starts: after `Last-Event-ID` (an `EventSource` reconnecting)
/// or `after`; otherwise after the newest event, sending the newest `backlog` first.
async fn start(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    query: &Query,
) -> Result<(i64, Vec<LoggedEvent>), WireError> {
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    if let Some(v) = last_id {
        let after = v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| invalid("Last-Event-ID", "must be an event's id from this stream"))?;
        return Ok((after, Vec::new()));
    }
    if query.get("after").is_some() {
        return Ok((number(query, "after", 0, i64::MAX)?, Vec::new()));
    }
    let backlog = number(query, "backlog", 0, i64::from(MAX_PAGE))? as u32;
    let (events, cursor) = state.service.latest_events(caller, backlog).await?;
    Ok((cursor, events))
}

async fn stream(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    const OPERATION: &str = "StreamEvents";
    let (started, request_id) = (Instant::now(), uuid::Uuid::new_v4().to_string());
    let mut account = None;
    let result = async {
        let caller = caller_of(&state, &uri, &headers, OPERATION).await?;
        account = Some(caller.account_id.to_string());
        let query = Query::parse(uri.query());
        let (cursor, backlog) = start(&state, &caller, &headers, &query).await?;
        let live = Live {
            wake: state.service.outbox().watch(),
            state: state.clone(),
            caller,
            cursor,
            queue: backlog.into(),
            opened: false,
            quiet_since: Instant::now(),
        };
        let body = Body::from_stream(futures_util::stream::unfold(live, Live::next));
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert("x-amzn-RequestId", v);
        }
        Ok::<_, WireError>(r)
    }
    .await;
    finish(
        result,
        OPERATION,
        account.as_deref(),
        None,
        &request_id,
        started,
    )
}

/// A live stream's state between chunks.
struct Live {
    state: Arc<AppState>,
    caller: Caller,
    /// The last event sent (or skipped).
    cursor: i64,
    queue: VecDeque<LoggedEvent>,
    wake: watch::Receiver<u64>,
    /// Whether the opening lines were sent.
    opened: bool,
    /// Since when nothing was sent.
    quiet_since: Instant,
}

/// One server-sent event: `id` is the event's place in the log (what
/// `Last-Event-ID` brings back), `data` its envelope on one line.
fn frame(e: &LoggedEvent) -> Bytes {
    let data = e.envelope.replace(['\r', '\n'], " ");
    Bytes::from(format!("id: {}\ndata: {data}\n\n", e.seq))
}

impl Live {
    /// The next chunk of the stream; None ends it (the server is stopping).
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Live)> {
        if !self.opened {
            self.opened = true;
            let hello = format!(": convene event log\nretry: {RETRY_MS}\n\n");
            return Some((Ok(Bytes::from(hello)), self));
        }
        loop {
            if self.state.shutting_down.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(e) = self.queue.pop_front() {
                self.cursor = e.seq;
                self.quiet_since = Instant::now();
                return Some((Ok(frame(&e)), self));
            }
            match self
                .state
                .service
                .account_events(&self.caller, self.cursor, MAX_PAGE)
                .await
            {
                Ok(page) if !page.events.is_empty() => {
                    self.queue.extend(page.events);
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "event stream could not read the log"),
            }
            if self.quiet_since.elapsed() >= KEEPALIVE {
                self.quiet_since = Instant::now();
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self));
            }
            tokio::select! {
                r = self.wake.changed() => if r.is_err() { tokio::time::sleep(POLL).await },
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
