//! HTTP: the axum application that turns requests into operations and
//! results (or errors) into responses.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, Limited};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::controls::{self, faults::Call, TestControls};
use super::error::WireError;
use super::router::{Endpoint, Query};
use super::{dispatch, Reply};
use crate::auth::sigv4::SignedRequest;
use crate::auth::throttle::Throttle;
use crate::auth::Authenticator;
use crate::domain::placement::PublicBase;
use crate::domain::types::Caller;
use crate::media::relay::{self, Hosting, Routed};
use crate::media::{signaling, MediaPlane};
use crate::model::{ServiceFailureException, ThrottlingException};
use crate::ops::Service;

/// Everything a request needs.
pub struct AppState {
    pub service: Service,
    pub base: PublicBase,
    pub auth: Authenticator,
    pub throttle: Throttle,
    pub max_body_bytes: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// The media plane behind the signaling route, when there is one.
    pub media: Option<Arc<MediaPlane>>,
    /// In a cluster: who hosts each meeting's media (connections for a
    /// meeting hosted elsewhere are relayed there). None on one node.
    pub hosting: Option<Arc<dyn Hosting>>,
    /// The test controls under `/_convene/`, only with `--test-controls`.
    pub controls: Option<Arc<TestControls>>,
    /// The bearer token GET /metrics requires, if any.
    pub metrics_token: Option<String>,
    /// Signs the console's session cookies.
    pub console_key: Vec<u8>,
    /// Set once a shutdown began (/ready then answers 503).
    pub shutting_down: std::sync::atomic::AtomicBool,
}

/// Limits on connections, independent of what they carry.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (and how long an
    /// idle keep-alive connection is kept).
    pub header_timeout: Duration,
    /// How long requests in flight may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// A connection's place under `max_connections`, shared by its requests: a
/// WebSocket keeps it after the upgrade, until the socket closes.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(super::admin::routes())
        .merge(super::console::routes())
        .merge(super::eventlog::routes())
        .route("/control/{meeting_id}", get(control))
        .route(
            "/v1/client-events",
            post(client_events).options(client_events_preflight),
        )
        .fallback(api)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The recorder before the first request: request_metrics keeps its handles.
    crate::telemetry::metrics();
    let app = router(state.clone());
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Graceful shutdown by hand: hyper-util's GracefulShutdown cannot watch a
    // connection with upgrades. `stop` tells connections to finish; each holds
    // a clone of `done_tx`, so `done_rx` ends when the last one has.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        // Wait for room before accepting: past the limit, clients queue in the backlog.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = ConnectionSlot(Arc::new(permit));
        spawn_connection(
            &app,
            &limits,
            stream,
            slot,
            stop_rx.clone(),
            done_tx.clone(),
        );
    }
    drop(listener);
    drain(&state, &limits, &stop_tx, done_tx, &mut done_rx).await;
    Ok(())
}

/// Serves one connection in its own task until it ends or `stop` says so.
fn spawn_connection(
    app: &Router,
    limits: &ConnectionLimits,
    stream: tokio::net::TcpStream,
    slot: ConnectionSlot,
    mut stop: tokio::sync::watch::Receiver<bool>,
    done: tokio::sync::mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(256 * 1024);
    // With upgrades: the signaling route turns its connection into a WebSocket,
    // which takes the connection's slot along.
    let service = TowerToHyperService::new(app.clone().layer(Extension(slot)));
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::spawn(async move {
        let mut conn = std::pin::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = async {
                loop {
                    let stopped = { *stop.borrow_and_update() };
                    if stopped || stop.changed().await.is_err() {
                        break;
                    }
                }
            } => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        drop(done);
    });
}

/// After the listener closed: close the signaling sockets, tell connections
/// to finish, and wait for them up to the grace period.
async fn drain(
    state: &AppState,
    limits: &ConnectionLimits,
    stop_tx: &tokio::sync::watch::Sender<bool>,
    done_tx: tokio::sync::mpsc::Sender<()>,
    done_rx: &mut tokio::sync::mpsc::Receiver<()>,
) {
    state
        .shutting_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(media) = &state.media {
        // Close frames first, so that clients reconnect (elsewhere) at once.
        let closed = media
            .close_all(limits.shutdown_grace.min(Duration::from_secs(2)))
            .await;
        if closed > 0 {
            tracing::info!(connections = closed, "signaling connections closed");
        }
    }
    let _ = stop_tx.send(true);
    drop(done_tx);
    tokio::select! {
        _ = done_rx.recv() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("requests still in flight after the grace period; stopping anyway");
        }
    }
}

/// The signaling WebSocket of a meeting (`MediaPlacement.SignalingUrl`). Its
/// credential is the attendee's JoinToken, not SigV4: the token travels as the
/// second WebSocket subprotocol, after `_aws_wt_session`, which is echoed.
/// In a cluster a connection for a meeting another node hosts is relayed
/// there (`media::relay`).
async fn control(
    State(state): State<Arc<AppState>>,
    Path(meeting_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    slot: Option<Extension<ConnectionSlot>>,
    ws: WebSocketUpgrade,
) -> Response<Body> {
    let Some(plane) = state.media.clone() else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": "no media service"}),
            None,
        );
    };
    let token = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(signaling::token_from_protocols);
    let relayed = headers.contains_key(relay::RELAY_HEADER);
    let hosting = state.hosting.clone();
    ws.protocols([signaling::SUBPROTOCOL])
        .max_message_size(signaling::MAX_MESSAGE_BYTES)
        .max_frame_size(signaling::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            match hosting {
                None => signaling::serve(plane, socket, meeting_id, token).await,
                Some(hosting) => {
                    let routed = Routed {
                        meeting_id,
                        token,
                        query,
                        relayed,
                    };
                    relay::route(hosting, plane, socket, routed).await;
                }
            }
        })
        .into_response()
}

/// `MediaPlacement.EventIngestionUrl`: the clients' telemetry is accepted and dropped.
async fn client_events(body: Body) -> Response<Body> {
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(body, 1024 * 1024).collect(),
    )
    .await;
    // The SDK reads a JSON body from every successful post.
    let mut r = Response::new(Body::from("{}"));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    cors(&mut r);
    r
}

async fn client_events_preflight() -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    cors(&mut r);
    r
}

/// Browsers post events from the meeting page's origin, with an Authorization header.
fn cors(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

pub(crate) fn json_response(
    status: StatusCode,
    body: &Value,
    request_id: Option<&str>,
) -> Response<Body> {
    json_bytes_response(
        status,
        serde_json::to_vec(body).unwrap_or_default(),
        request_id,
    )
}

/// A JSON body already written.
fn json_bytes_response(
    status: StatusCode,
    body: Vec<u8>,
    request_id: Option<&str>,
) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(id) = request_id {
        if let Ok(v) = HeaderValue::from_str(id) {
            r.headers_mut().insert("x-amzn-RequestId", v);
        }
    }
    r
}

/// The error response every AWS SDK understands: the shape name in
/// `x-amzn-ErrorType`, and `Code`, `Message`, `RequestId` in a JSON body (see
/// [`WireError`] for the mapping).
pub fn error_response(e: &WireError, request_id: &str) -> Response<Body> {
    let mut body = json!({
        "Code": e.code(),
        "Message": e.message(),
        "RequestId": request_id,
    });
    if let Some(name) = e.resource_name() {
        body["ResourceName"] = json!(name);
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json_response(status, &body, Some(request_id));
    r.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(e.shape()));
    if let Some(v) = e.retry_after().and_then(|s| HeaderValue::from_str(s).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn reply_response(reply: Reply, request_id: &str) -> Response<Body> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    if let Some(body) = reply.body {
        json_bytes_response(status, body, Some(request_id))
    } else {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        if let Ok(v) = HeaderValue::from_str(request_id) {
            r.headers_mut().insert("x-amzn-RequestId", v);
        }
        r
    }
}

fn too_large(limit: usize) -> WireError {
    WireError::PayloadTooLarge(format!(
        "The request body is larger than the limit of {limit} bytes"
    ))
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, WireError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(e) => Err(crate::domain::Invalid::new(format!(
            "The request body could not be read: {e}"
        ))
        .into()),
    }
}

async fn api(State(state): State<Arc<AppState>>, request: Request) -> Response<Body> {
    let started = Instant::now();
    // The test controls come before signature checking; without them their
    // paths are routed like any other unknown path.
    if let Some(c) = &state.controls {
        if controls::is_control_path(request.uri().path()) {
            return c.handle(request).await;
        }
    }
    let request_id = crate::domain::ids::uuid_text(uuid::Uuid::new_v4());
    let (parts, body) = request.into_parts();
    let method = parts.method.to_string();
    let query = Query::parse(parts.uri.query());
    let endpoint = Endpoint::parse(&method, parts.uri.path(), &query);
    let mut seen = Seen {
        operation: endpoint.as_ref().map_or("Unknown", Endpoint::name),
        meeting_id: endpoint
            .as_ref()
            .ok()
            .and_then(Endpoint::meeting_id)
            .map(str::to_string),
        account_id: None,
        error_type: None,
    };
    let result = async {
        let bytes = read_body_in_time(&state, &parts.headers, body).await?;
        let caller = authenticate(&state, &method, &parts.uri, &parts.headers, &bytes)?;
        seen.account_id = Some(caller.account_id.to_string());
        let endpoint = endpoint?;
        admit(&state, &caller, &endpoint).await?;
        run_operation(&state, caller, query, bytes, endpoint).await
    }
    .await;
    let response = respond(result, &request_id, &mut seen);
    if let Some(c) = &state.controls {
        let delay = c.latency(seen.operation);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    record(&seen, &request_id, &response, started.elapsed());
    response
}

/// What the request log line reports about a request.
struct Seen {
    operation: &'static str,
    meeting_id: Option<String>,
    account_id: Option<String>,
    error_type: Option<&'static str>,
}

/// The body, within the size limit (413) and the time limit (408).
async fn read_body_in_time(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, WireError> {
    tokio::time::timeout(
        state.body_timeout,
        read_body(headers, body, state.max_body_bytes),
    )
    .await
    .map_err(|_| {
        WireError::RequestTimeout(format!(
            "The request body did not arrive within {} ms",
            state.body_timeout.as_millis()
        ))
    })?
}

/// A header's value as text, borrowed when it is UTF-8 (checked a word at a
/// time; `from_utf8_lossy` walks it byte by byte even when it is), with
/// U+FFFD for what is not.
fn header_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Checks the request's SigV4 signature (in the headers or, presigned, in the
/// query): who is calling. The event log routes use it too.
pub(super) fn authenticate(
    state: &AppState,
    method: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, WireError> {
    let signed = SignedRequest {
        method,
        raw_path: uri.path(),
        raw_query: uri.query(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str(), header_text(v.as_bytes())))
            .collect(),
        body,
    };
    state
        .auth
        .authenticate(&signed, crate::now_ms() / 1000)
        .map_err(WireError::Auth)
}

/// A test-control fault rule, then the rate limit: either may answer before
/// the operation runs, so neither changes anything.
async fn admit(state: &AppState, caller: &Caller, endpoint: &Endpoint) -> Result<(), WireError> {
    if let Some(c) = &state.controls {
        let call = Call {
            region: &caller.region,
            account: caller.account_id.as_str(),
            operation: endpoint.name(),
            meeting_id: endpoint.meeting_id(),
        };
        if let Some(fault) = c.faults().take(&call) {
            // The rules only raise exceptions the model lists for the operation.
            return Err(WireError::Modeled(fault.error));
        }
    }
    throttle(state, caller, endpoint.name()).await
}

/// The account's request-rate limit for `operation` (the event log routes use
/// it too). Every operation lists ThrottlingException.
pub(super) async fn throttle(
    state: &AppState,
    caller: &Caller,
    operation: &'static str,
) -> Result<(), WireError> {
    if state
        .throttle
        .check(caller.account_id.as_str(), operation)
        .await
    {
        Ok(())
    } else {
        Err(ThrottlingException::new(format!("Rate exceeded for {operation}")).into())
    }
}

/// Runs the operation so that a bug that panics still gets a modeled answer
/// rather than a dropped connection. An operation that changes something runs
/// in its own task, so that it finishes (and publishes its events) even when
/// the client goes away meanwhile; one that only reads runs in place (a
/// client that goes away cancels nothing that matters), which spares a task
/// and a hop to another worker per request.
async fn run_operation(
    state: &Arc<AppState>,
    caller: Caller,
    query: Query,
    bytes: Bytes,
    endpoint: Endpoint,
) -> Result<Reply, WireError> {
    let failed = |what: &dyn std::fmt::Display| {
        tracing::error!(error = %what, "operation task failed");
        // Every operation lists ServiceFailureException.
        Err(ServiceFailureException::new("The service failed to process the request").into())
    };
    if endpoint.only_reads() {
        use futures_util::FutureExt;
        let req = super::Request {
            service: &state.service,
            base: &state.base,
            caller: &caller,
            query: &query,
            body: &bytes,
        };
        return match std::panic::AssertUnwindSafe(dispatch(&req, endpoint))
            .catch_unwind()
            .await
        {
            Ok(r) => r,
            Err(panic) => failed(&panic_message(&*panic)),
        };
    }
    let state = state.clone();
    let task = tokio::spawn(async move {
        let req = super::Request {
            service: &state.service,
            base: &state.base,
            caller: &caller,
            query: &query,
            body: &bytes,
        };
        dispatch(&req, endpoint).await
    });
    match task.await {
        Ok(r) => r,
        Err(e) => failed(&e),
    }
}

/// What a panic said, for the log.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let said = panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("the operation panicked: {said}")
}

/// The response for a result; notes the created meeting's id, or the error's shape.
fn respond(result: Result<Reply, WireError>, request_id: &str, seen: &mut Seen) -> Response<Body> {
    match result {
        Ok(reply) => {
            if seen.meeting_id.is_none() {
                seen.meeting_id = reply.body.as_deref().and_then(created_meeting_id);
            }
            reply_response(reply, request_id)
        }
        Err(e) => {
            seen.error_type = Some(e.shape());
            error_response(&e, request_id)
        }
    }
}

/// The `Meeting.MeetingId` of a response body (CreateMeeting and
/// CreateMeetingWithAttendees), read off the bytes written: the body holds one
/// meeting, its members in name order, and no other member is named
/// `MeetingId` (a quote inside a string value is escaped, so cannot match).
fn created_meeting_id(body: &[u8]) -> Option<String> {
    const MEETING: &[u8] = b"\"Meeting\":{";
    const ID: &[u8] = b"\"MeetingId\":\"";
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let meeting = find(body, MEETING)? + MEETING.len();
    let start = meeting + find(&body[meeting..], ID)? + ID.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len])
        .ok()
        .map(str::to_string)
}

/// Metrics, and one log line per request. Never a body: no secret, JoinToken
/// or ExternalUserId.
fn record(seen: &Seen, request_id: &str, response: &Response<Body>, elapsed: Duration) {
    let status = response.status().as_u16();
    request_metrics(seen.operation, status, elapsed);
    super::request_log::log(&super::request_log::RequestLine {
        request_id,
        operation: seen.operation,
        account_id: seen.account_id.as_deref(),
        meeting_id: seen.meeting_id.as_deref(),
        status,
        error_type: seen.error_type,
        elapsed,
    });
}

/// The request counter and latency histogram of (operation, status). Each
/// worker thread keeps the handles it has used, so that a request does not
/// look its labels up in the registry (and format its status) again.
fn request_metrics(operation: &'static str, status: u16, elapsed: Duration) {
    type Handles = HashMap<(&'static str, u16), (metrics::Counter, metrics::Histogram)>;
    thread_local! {
        static HANDLES: std::cell::RefCell<Handles> = std::cell::RefCell::new(HashMap::new());
    }
    HANDLES.with_borrow_mut(|handles| {
        let (counter, histogram) = handles.entry((operation, status)).or_insert_with(|| {
            (
                metrics::counter!("convene_http_requests_total",
                    "operation" => operation, "status" => status.to_string()),
                metrics::histogram!("convene_http_request_duration_seconds",
                    "operation" => operation),
            )
        });
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
}

#[cfg(test)]
mod tests {
    use super::created_meeting_id;

    #[test]
    fn the_created_meeting_id_is_read_off_the_body() {
        let body = br#"{"Attendees":[{"AttendeeId":"a","ExternalUserId":"\"MeetingId\":\"x"}],"Meeting":{"ExternalMeetingId":"e","MeetingArn":"arn","MeetingId":"m-1","PrimaryMeetingId":"p"}}"#;
        assert_eq!(created_meeting_id(body).as_deref(), Some("m-1"));
        assert_eq!(
            created_meeting_id(br#"{"Attendee":{"AttendeeId":"a"}}"#),
            None
        );
    }
}
