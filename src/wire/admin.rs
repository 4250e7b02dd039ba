//! The unsigned routes for the people and machines running the server:
//! `/health` (liveness), `/ready` (readiness), `/metrics` (Prometheus) and
//! `/openapi.json` (the API's description). They are answered before any SigV4 check.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::server::{json_response, AppState};

/// How long `/ready` waits for the store's write check.
const READY_STORE_DEADLINE: Duration = Duration::from_secs(2);

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The OpenAPI 3.1 description of the API, generated from the service model
/// by `cargo run -p convene-codegen` and committed.
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// Liveness: the process answers.
async fn health() -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"status": "ok", "version": VERSION}),
        None,
    )
}

/// Readiness: the store takes a real write within its deadline (which also
/// checks that the schema migrations are applied), the media thread runs, and
/// the server is not shutting down.
async fn ready(State(state): State<Arc<AppState>>) -> Response<Body> {
    let store = match tokio::time::timeout(READY_STORE_DEADLINE, state.service.store().ping()).await
    {
        Ok(true) => "ok",
        Ok(false) => "failed",
        Err(_) => "timed out",
    };
    let media = match &state.media {
        Some(m) if m.alive() => "ok",
        Some(_) => "stopped",
        None => "disabled",
    };
    let stopping = state.shutting_down.load(Ordering::Relaxed);
    let ok = store == "ok" && media != "stopped" && !stopping;
    let status = if stopping {
        "shutting down"
    } else if ok {
        "ready"
    } else {
        "not ready"
    };
    json_response(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "status": status,
            "version": VERSION,
            "checks": {"store": store, "media": media},
        }),
        None,
    )
}

/// True when the request carries the configured bearer token (or none is configured).
fn metrics_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let Some(token) = &state.metrics_token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or("");
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

/// Prometheus text exposition of every metric, with the gauges that are read
/// at scrape time (store totals, live media sessions) brought up to date.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response<Body> {
    if !metrics_allowed(&state, &headers) {
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "GET /metrics needs the bearer token (Authorization: Bearer <CONVENE_METRICS_TOKEN>)"}),
            None,
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"convene metrics\""),
        );
        return r;
    }
    let handle = crate::telemetry::metrics();
    if let Ok(Ok((meetings, attendees))) =
        tokio::time::timeout(READY_STORE_DEADLINE, state.service.totals()).await
    {
        metrics::gauge!("convene_meetings").set(meetings as f64);
        metrics::gauge!("convene_attendees").set(attendees as f64);
    }
    if let Some(media) = &state.media {
        let sessions = media.live_sessions();
        let joined = sessions.iter().filter(|s| s.joined).count();
        metrics::gauge!("convene_media_signaling_sessions").set(sessions.len() as f64);
        metrics::gauge!("convene_media_joined_sessions").set(joined as f64);
    }
    metrics::gauge!("convene_events_pending").set(state.service.events().pending() as f64);
    metrics::counter!("convene_log_lines_dropped_total")
        .absolute(crate::telemetry::log_lines_dropped());
    handle.run_upkeep();
    let mut r = Response::new(Body::from(handle.render()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn openapi() -> Response<Body> {
    let mut r = Response::new(Body::from(OPENAPI));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
