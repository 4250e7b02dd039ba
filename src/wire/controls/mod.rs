//! Test controls under `/_convene/`: what an application's test suite uses to
//! reach its failure paths.
//!
//! - `/_convene/chaos/faults`: fault rules (LocalStack's chaos API shape).
//! - `/_convene/chaos/effects`: latency added to API responses.
//! - `/_convene/clock`: the meeting clock, moved forward on demand.
//!
//! They exist only when the server runs with `--test-controls`; otherwise
//! these paths are routed like any other unknown path. They are served before
//! SigV4 checking; when a token is configured (always, off loopback) every
//! request must carry it as `Authorization: Bearer`. Every change is logged.

// Handlers answer early with a finished response as their error.
#![allow(clippy::result_large_err)]

pub mod faults;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::router::Query;
use crate::domain::clock::iso8601;
use crate::model::Operation;
use crate::ops::lifecycle::MeetingEnd;
use crate::ops::Service;
use faults::FaultRules;

/// The path prefix of every control.
pub const PREFIX: &str = "/_convene";

/// Largest control request body.
const MAX_BODY: usize = 1024 * 1024;
/// Largest latency that may be set, in milliseconds.
const MAX_LATENCY_MS: u64 = 300_000;
/// Furthest the clock may move in one step, in seconds (about a hundred years).
const MAX_ADVANCE_SECONDS: u64 = 100 * 366 * 86_400;

/// True for the paths the controls own.
pub fn is_control_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/_convene/")
}

#[derive(Debug, Default)]
struct Effects {
    /// Added to every API response.
    latency_ms: u64,
    /// Added to one operation's responses, instead of `latency_ms`.
    operations: BTreeMap<String, u64>,
}

/// The state of the test controls.
pub struct TestControls {
    service: Service,
    token: Option<String>,
    faults: FaultRules,
    effects: Mutex<Effects>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EffectsInput {
    latency: u64,
    #[serde(default)]
    operation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdvanceInput {
    advance_seconds: u64,
    #[serde(default)]
    account: Option<String>,
}

fn json_reply(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn bad_request(message: impl Into<String>) -> Response<Body> {
    let message = message.into();
    tracing::info!(target: "convene::test_controls", %message, "test control refused");
    json_reply(StatusCode::BAD_REQUEST, &json!({ "message": message }))
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = json_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({ "message": format!("this control accepts {allow}") }),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response<Body>> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid body: {e}")))
}

fn ended_json(ended: &[MeetingEnd]) -> Value {
    Value::Array(
        ended
            .iter()
            .map(|e| {
                json!({
                    "meetingId": e.meeting_id,
                    "account": e.account_id,
                    "reason": e.reason.as_str(),
                })
            })
            .collect(),
    )
}

impl TestControls {
    pub fn new(service: Service, token: Option<String>) -> Self {
        TestControls {
            service,
            token,
            faults: FaultRules::default(),
            effects: Mutex::default(),
        }
    }

    /// The fault rules, consulted for every authenticated API request.
    pub fn faults(&self) -> &FaultRules {
        &self.faults
    }

    fn effects(&self) -> MutexGuard<'_, Effects> {
        self.effects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latency to add to a response of `operation`.
    pub fn latency(&self, operation: &str) -> Duration {
        let e = self.effects();
        Duration::from_millis(e.operations.get(operation).copied().unwrap_or(e.latency_ms))
    }

    fn authorized(&self, request: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.as_bytes())))
    }

    /// Serves one request under `/_convene/`.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        if !self.authorized(&request) {
            let mut r = json_reply(
                StatusCode::UNAUTHORIZED,
                &json!({ "message": "the test controls need `Authorization: Bearer <CONVENE_TEST_CONTROLS_TOKEN>`" }),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"convene-test-controls\""),
            );
            return r;
        }
        let (parts, body) = request.into_parts();
        let body = match tokio::time::timeout(
            Duration::from_secs(10),
            Limited::new(body, MAX_BODY).collect(),
        )
        .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => {
                return bad_request(format!(
                    "the body is larger than {MAX_BODY} bytes or broken"
                ))
            }
            Err(_) => return bad_request("the body did not arrive within 10 s"),
        };
        let query = Query::parse(parts.uri.query());
        let result = match parts.uri.path() {
            "/_convene/chaos/faults" => self.faults_control(&parts.method, &body),
            "/_convene/chaos/effects" => self.effects_control(&parts.method, &body),
            "/_convene/clock" => self.clock_control(&parts.method, &query, &body).await,
            other => Err(json_reply(
                StatusCode::NOT_FOUND,
                &json!({ "message": format!("no test control at {other}; there are /_convene/chaos/faults, /_convene/chaos/effects and /_convene/clock") }),
            )),
        };
        result.unwrap_or_else(|r| r)
    }

    fn faults_control(
        &self,
        method: &Method,
        body: &[u8],
    ) -> Result<Response<Body>, Response<Body>> {
        let given = || faults::parse_rules(body).map_err(bad_request);
        let (verb, rules) = match *method {
            Method::GET => return Ok(json_reply(StatusCode::OK, &json!(self.faults.list()))),
            Method::POST => ("replaced", self.faults.replace(given()?)),
            Method::PATCH => ("added", self.faults.add(given()?)),
            Method::DELETE => ("removed", self.faults.remove(&given()?)),
            _ => return Err(method_not_allowed("GET, POST, PATCH, DELETE")),
        };
        let listed = json!(rules);
        tracing::info!(target: "convene::test_controls", change = verb, rules = %listed, "fault rules {verb}");
        Ok(json_reply(StatusCode::OK, &listed))
    }

    fn effects_json(&self) -> Value {
        let e = self.effects();
        json!({ "latency": e.latency_ms, "operations": e.operations })
    }

    fn effects_control(
        &self,
        method: &Method,
        body: &[u8],
    ) -> Result<Response<Body>, Response<Body>> {
        match *method {
            Method::GET => {}
            Method::POST => {
                let input: EffectsInput = parse(body)?;
                if input.latency > MAX_LATENCY_MS {
                    return Err(bad_request(format!(
                        "latency is in milliseconds, at most {MAX_LATENCY_MS}; got {}",
                        input.latency
                    )));
                }
                if let Some(op) = &input.operation {
                    if Operation::from_name(op).is_none() {
                        return Err(bad_request(format!(
                            "operation {op:?} is not an operation of {}",
                            faults::SERVICE
                        )));
                    }
                }
                {
                    let mut e = self.effects();
                    match input.operation {
                        None => e.latency_ms = input.latency,
                        Some(op) if input.latency == 0 => {
                            e.operations.remove(&op);
                        }
                        Some(op) => {
                            e.operations.insert(op, input.latency);
                        }
                    }
                }
                let now = self.effects_json();
                tracing::info!(target: "convene::test_controls", effects = %now, "network effects set");
            }
            Method::DELETE => {
                *self.effects() = Effects::default();
                tracing::info!(target: "convene::test_controls", "network effects cleared");
            }
            _ => return Err(method_not_allowed("GET, POST, DELETE")),
        }
        Ok(json_reply(StatusCode::OK, &self.effects_json()))
    }

    fn clock_json(&self, account: Option<&str>) -> Value {
        let clock = self.service.clock();
        let offset = clock.offset_ms(account);
        let mut body = json!({
            "now": iso8601(crate::now_ms() + offset),
            "offsetSeconds": offset / 1000,
        });
        if let Some(a) = account {
            body["account"] = json!(a);
        }
        let accounts: serde_json::Map<String, Value> = clock
            .account_offsets()
            .into_iter()
            .map(|(a, _)| {
                let offset = clock.offset_ms(Some(&a));
                (
                    a,
                    json!({ "now": iso8601(crate::now_ms() + offset), "offsetSeconds": offset / 1000 }),
                )
            })
            .collect();
        body["accounts"] = Value::Object(accounts);
        body
    }

    async fn clock_control(
        &self,
        method: &Method,
        query: &Query,
        body: &[u8],
    ) -> Result<Response<Body>, Response<Body>> {
        let check_account = |a: &str| {
            if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(bad_request(format!(
                    "account {a:?} must be a 12-digit account id"
                )))
            }
        };
        match *method {
            Method::GET => {
                let account = query.get("account");
                if let Some(a) = account {
                    check_account(a)?;
                }
                Ok(json_reply(StatusCode::OK, &self.clock_json(account)))
            }
            Method::POST => {
                let input: AdvanceInput = parse(body)?;
                if let Some(a) = &input.account {
                    check_account(a)?;
                }
                if input.advance_seconds > MAX_ADVANCE_SECONDS {
                    return Err(bad_request(format!(
                        "advanceSeconds may be at most {MAX_ADVANCE_SECONDS}"
                    )));
                }
                let account = input.account.as_deref();
                self.service
                    .clock()
                    .advance(input.advance_seconds as i64 * 1000, account);
                tracing::info!(
                    target: "convene::test_controls",
                    advance_seconds = input.advance_seconds,
                    account = account.unwrap_or("(all)"),
                    offset_seconds = self.service.clock().offset_ms(account) / 1000,
                    "meeting clock moved forward"
                );
                // Whatever is now due ends before the answer is sent.
                let ended = self.service.run_lifecycle().await.map_err(|e| {
                    json_reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &json!({ "message": format!("the clock moved, but the lifecycle rules could not be applied: {e}") }),
                    )
                })?;
                let _ = self.service.prune_ended().await;
                let mut body = self.clock_json(account);
                body["endedMeetings"] = ended_json(&ended);
                Ok(json_reply(StatusCode::OK, &body))
            }
            _ => Err(method_not_allowed("GET, POST")),
        }
    }
}
