//! The web console at `/console`: a page for a person to see inside the server.
//!
//! Signing in takes an access key id and its secret (checked like a SigV4 key,
//! in constant time); the session is a cookie signed with HMAC-SHA256, HttpOnly,
//! SameSite=Strict, holding the account and the key id. Everything it reads or
//! changes is scoped to that account, and every change goes through the same
//! operations as the API (DeleteMeeting, DeleteAttendee, UpdateAttendeeCapabilities).
//! Requests that change something must carry the `x-convene-console` header,
//! which a cross-site form cannot send.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::{delete, get, put};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::error::WireError;
use super::json::{parse_body, Obj};
use super::server::{error_response, json_response, AppState};
use super::{bindings, decode, encode};
use crate::domain::ids::{AccountId, AttendeeId, MeetingId};
use crate::domain::types::Caller;
use crate::media::observe::LiveSession;

const PAGE: &str = include_str!("console/index.html");
const COOKIE: &str = "convene_console";
/// How long a console session lasts.
const SESSION_SECONDS: i64 = 12 * 3600;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route(
            "/console/api/session",
            get(session_info).post(sign_in).delete(sign_out),
        )
        .route("/console/api/overview", get(overview))
        .route("/console/api/events-url", get(events_url))
        .route("/console/api/meetings/{meeting_id}", delete(end_meeting))
        .route(
            "/console/api/meetings/{meeting_id}/attendees/{attendee_id}",
            delete(remove_attendee),
        )
        .route(
            "/console/api/meetings/{meeting_id}/attendees/{attendee_id}/capabilities",
            put(change_capabilities),
        )
}

/// The key that signs session cookies, derived from the store's shared secret
/// (so sessions survive a restart and work on every node of one store).
pub fn session_key(store_secret: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(store_secret).expect("any key length");
    mac.update(b"convene console session v1");
    mac.finalize().into_bytes().to_vec()
}

fn sign(key: &[u8], payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// `<payload>.<signature>`, payload = base64url(`account|key id|expiry`).
fn make_cookie(key: &[u8], account_id: &str, access_key_id: &str, now: i64) -> String {
    let payload = URL_SAFE_NO_PAD.encode(format!(
        "{account_id}|{access_key_id}|{}",
        now + SESSION_SECONDS
    ));
    let sig = sign(key, &payload);
    format!("{payload}.{sig}")
}

/// The signed-in caller, if the cookie is genuine, unexpired, and its key still
/// belongs to its account.
fn session(state: &AppState, headers: &HeaderMap) -> Option<(Caller, String)> {
    use subtle::ConstantTimeEq;
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())?;
    let (payload, sig) = value.split_once('.')?;
    let expected = sign(&state.console_key, payload);
    if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return None;
    }
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let mut parts = raw.split('|');
    let (account_id, key_id, expiry) = (parts.next()?, parts.next()?, parts.next()?);
    if expiry.parse::<i64>().ok()? < crate::now_ms() / 1000 {
        return None;
    }
    if state.auth.account_of_key(key_id).as_deref() != Some(account_id) {
        return None;
    }
    Some((
        Caller {
            account_id: AccountId::new(account_id),
            region: String::new(),
        },
        key_id.to_string(),
    ))
}

fn unauthorized() -> Response<Body> {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"message": "Sign in with an access key id and its secret"}),
        None,
    )
}

fn no_store(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// State-changing requests must come from the console's own script.
fn from_console(headers: &HeaderMap) -> bool {
    headers.contains_key("x-convene-console")
}

async fn page() -> Response<Body> {
    let mut r = Response::new(Body::from(PAGE));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    no_store(r)
}

async fn session_info(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response<Body> {
    match session(&state, &headers) {
        Some((caller, key_id)) => no_store(json_response(
            StatusCode::OK,
            &json!({"AccountId": caller.account_id, "AccessKeyId": key_id,
                    "Version": super::admin::VERSION}),
            None,
        )),
        None => unauthorized(),
    }
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if !from_console(&headers) {
        return json_response(
            StatusCode::FORBIDDEN,
            &json!({"message": "missing x-convene-console header"}),
            None,
        );
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key_id = v["AccessKeyId"].as_str().unwrap_or("").trim();
    let secret = v["SecretAccessKey"].as_str().unwrap_or("");
    let Some(account_id) = state.auth.account_of_key_pair(key_id, secret) else {
        // The same answer for an unknown key and a wrong secret, a little late.
        tokio::time::sleep(Duration::from_millis(200)).await;
        tracing::info!(target: "convene::console", "console sign-in refused");
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Unknown access key id or wrong secret"}),
            None,
        );
    };
    tracing::info!(target: "convene::console", %account_id, "console sign-in");
    let cookie = make_cookie(
        &state.console_key,
        &account_id,
        key_id,
        crate::now_ms() / 1000,
    );
    let mut r = json_response(
        StatusCode::OK,
        &json!({"AccountId": account_id, "AccessKeyId": key_id}),
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={cookie}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    no_store(r)
}

async fn sign_out() -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "convene_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

fn live_json(s: &LiveSession) -> Value {
    json!({
        "Session": s.session,
        "AttendeeId": s.attendee_id,
        "Joined": s.joined,
        "Muted": s.muted,
        "Audio": s.audio,
        "Video": s.video,
        "Content": s.content,
        "Media": s.has_media,
        "SendingVideo": s.sending_video,
        "ContentShare": s.content_share,
    })
}

/// The account's meetings with attendees, tags, transcription and live media sessions.
async fn overview(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response<Body> {
    let Some((caller, key_id)) = session(&state, &headers) else {
        return unauthorized();
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let meetings = match state.service.account_overview(&caller).await {
        Ok(m) => m,
        Err(e) => return error_response(&WireError::from_store(e), &request_id),
    };
    let mut live: HashMap<String, Vec<LiveSession>> = HashMap::new();
    if let Some(media) = &state.media {
        for s in media.live_sessions() {
            live.entry(s.meeting_id.clone()).or_default().push(s);
        }
    }
    let list: Vec<Value> = meetings
        .iter()
        .map(|o| {
            let mut m = encode::meeting_json(&o.meeting, &state.base);
            m["CreatedAt"] = json!(o.meeting.created_at_ms);
            let sessions = live.get(o.meeting.meeting_id.as_str());
            json!({
                "Meeting": m,
                "Attendees": o.attendees.iter().map(|a| json!({
                    "AttendeeId": a.attendee_id,
                    "ExternalUserId": a.external_user_id,
                    "Capabilities": {
                        "Audio": a.capabilities.audio.as_str(),
                        "Video": a.capabilities.video.as_str(),
                        "Content": a.capabilities.content.as_str(),
                    },
                })).collect::<Vec<_>>(),
                "Tags": encode::tags_json(&o.tags),
                "Transcription": o.transcription.as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok()),
                "LiveSessions": sessions.map(|v| v.iter().map(live_json).collect::<Vec<_>>())
                    .unwrap_or_default(),
            })
        })
        .collect();
    no_store(json_response(
        StatusCode::OK,
        &json!({
            "AccountId": caller.account_id,
            "AccessKeyId": key_id,
            "Version": super::admin::VERSION,
            "Media": state.media.as_ref().map(|m| json!({
                "Address": m.public_addr().to_string(),
                "Running": m.alive(),
            })),
            "Limit": crate::ops::overview::MAX_MEETINGS_LISTED,
            "Meetings": list,
        }),
        None,
    ))
}

/// How long the event stream URL the page gets is valid (the page asks for a
/// new one when its stream ends).
const EVENTS_URL_SECONDS: i64 = 300;

/// A presigned URL of the account's live event stream (`/_convene/events/stream`),
/// signed with the session's key, for the page's `EventSource`: the console
/// reads the event log through the same API as any client. `?after=N`
/// resumes after event N; otherwise the stream starts with the newest 50.
async fn events_url(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response<Body> {
    let Some((_, key_id)) = session(&state, &headers) else {
        return unauthorized();
    };
    let query = super::router::Query::parse(raw.as_deref());
    let param = match query.get("after").map(str::parse::<u64>) {
        Some(Ok(after)) => ("after".to_string(), after.to_string()),
        Some(Err(_)) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"message": "after must be an event id"}),
                None,
            )
        }
        None => ("backlog".to_string(), "50".to_string()),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let url = state.auth.presign_get(
        &key_id,
        "us-east-1",
        host,
        "/_convene/events/stream",
        &[param],
        crate::now_ms() / 1000,
        EVENTS_URL_SECONDS,
    );
    match url {
        Some(url) => no_store(json_response(
            StatusCode::OK,
            &json!({"Url": url, "ExpiresInSeconds": EVENTS_URL_SECONDS}),
            None,
        )),
        None => unauthorized(),
    }
}

/// The caller, checked, with the control region of the meeting it acts on.
async fn actor(
    state: &AppState,
    headers: &HeaderMap,
    meeting_id: &str,
) -> Result<Caller, Response<Body>> {
    let Some((mut caller, _)) = session(state, headers) else {
        return Err(unauthorized());
    };
    if !from_console(headers) {
        return Err(json_response(
            StatusCode::FORBIDDEN,
            &json!({"message": "missing x-convene-console header"}),
            None,
        ));
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let found = match MeetingId::parse("MeetingId", meeting_id) {
        Ok(id) => state
            .service
            .get_meeting(&caller, id)
            .await
            .map_err(WireError::from),
        Err(e) => Err(e.into()),
    };
    match found {
        Ok(m) => {
            caller.region = m.control_region;
            Ok(caller)
        }
        Err(e) => Err(error_response(&e, &request_id)),
    }
}

fn done(
    result: Result<Option<Value>, WireError>,
    operation: &str,
    caller: &Caller,
    meeting_id: &str,
) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (r, error_type) = match result {
        Ok(Some(body)) => (
            json_response(StatusCode::OK, &body, Some(&request_id)),
            None,
        ),
        Ok(None) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            (r, None)
        }
        Err(e) => (error_response(&e, &request_id), Some(e.shape())),
    };
    tracing::info!(target: "convene::request", %request_id, operation, via = "console",
        account_id = %caller.account_id, meeting_id, status = r.status().as_u16(), error_type,
        "request");
    r
}

async fn end_meeting(
    State(state): State<Arc<AppState>>,
    Path(meeting_id): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let caller = match actor(&state, &headers, &meeting_id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = async {
        let id = MeetingId::parse("MeetingId", &meeting_id)?;
        state.service.delete_meeting(&caller, id).await?;
        Ok::<_, WireError>(None)
    }
    .await;
    done(result, "DeleteMeeting", &caller, &meeting_id)
}

async fn remove_attendee(
    State(state): State<Arc<AppState>>,
    Path((meeting_id, attendee_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response<Body> {
    let caller = match actor(&state, &headers, &meeting_id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = async {
        let m = MeetingId::parse("MeetingId", &meeting_id)?;
        let a = AttendeeId::parse("AttendeeId", &attendee_id)?;
        state.service.delete_attendee(&caller, m, a).await?;
        Ok::<_, WireError>(None)
    }
    .await;
    done(result, "DeleteAttendee", &caller, &meeting_id)
}

/// Body: `{"Capabilities": {"Audio": …, "Video": …, "Content": …}}`, as the API takes it.
async fn change_capabilities(
    State(state): State<Arc<AppState>>,
    Path((meeting_id, attendee_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let caller = match actor(&state, &headers, &meeting_id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = async {
        let v = parse_body(&body)?;
        let caps = bindings::read_attendee_capabilities(&Obj::root(&v)?.req_obj("Capabilities")?)?;
        let caps = decode::capabilities(&caps, "Capabilities.")?;
        let m = MeetingId::parse("MeetingId", &meeting_id)?;
        let a = AttendeeId::parse("AttendeeId", &attendee_id)?;
        let a = state
            .service
            .update_attendee_capabilities(&caller, m, a, caps)
            .await?;
        Ok::<_, WireError>(Some(json!({ "Attendee": {
            "AttendeeId": a.attendee_id,
            "Capabilities": {
                "Audio": a.capabilities.audio.as_str(),
                "Video": a.capabilities.video.as_str(),
                "Content": a.capabilities.content.as_str(),
            }
        }})))
    }
    .await;
    done(result, "UpdateAttendeeCapabilities", &caller, &meeting_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trip_and_tamper() {
        let key = session_key(b"store secret");
        let c = make_cookie(&key, "111122223333", "AKID", 1_000);
        let (payload, sig) = c.split_once('.').unwrap();
        assert_eq!(sign(&key, payload), sig);
        let other = URL_SAFE_NO_PAD.encode("444455556666|AKID|99999999999");
        assert_ne!(sign(&key, &other), sig);
        assert_ne!(sign(&session_key(b"other"), payload), sig);
    }
}
