//! Fault rules: make an operation answer one of its modeled exceptions on demand.
//!
//! The rule shape is LocalStack's chaos API (`service`, `region`, `operation`,
//! `probability`, `error{statusCode, code}`), with our extensions `account`,
//! `meetingId`, `count`, `error.message` and `error.retryAfterSeconds`. Rules
//! are tried in order; the first that matches and wins its probability roll
//! answers the request.

use std::sync::{Mutex, MutexGuard};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::model::{Exception, ModeledError, Operation};

/// The service name rules may give (the one boto3 and the AWS CLI use).
pub const SERVICE: &str = "chime-sdk-meetings";

/// One rule, as sent and as listed (listed rules have every default filled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<String>,
    /// Matching calls still to fault; the rule goes away after the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FaultError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// What a request looks like to the rules.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub operation: &'a str,
    pub meeting_id: Option<&'a str>,
}

/// The answer a rule gives instead of running the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub error: ModeledError,
    /// The `Retry-After` header of a ServiceUnavailableException.
    pub retry_after_seconds: Option<u32>,
}

/// The exception named `code`: its shape name (`ThrottlingException`) or,
/// as LocalStack users often write it, the name without `Exception`.
fn exception_named(code: &str) -> Option<Exception> {
    Exception::from_shape_name(code)
        .or_else(|| Exception::from_shape_name(&format!("{code}Exception")))
}

/// The exceptions the model lists for `operation` (`None`: no such operation).
fn listed_for(operation: &str) -> Option<&'static [Exception]> {
    Operation::from_name(operation).map(Operation::errors)
}

fn names(list: impl IntoIterator<Item = &'static str>) -> String {
    list.into_iter().collect::<Vec<_>>().join(", ")
}

fn default_message(exception: Exception) -> &'static str {
    match exception {
        Exception::Throttling => "Rate exceeded",
        Exception::ServiceUnavailable => "The service is unavailable; try again later",
        Exception::ServiceFailure => "The service encountered an internal error",
        Exception::LimitExceeded => "The request exceeds a resource limit",
        Exception::NotFound | Exception::ResourceNotFound => "The resource was not found",
        Exception::Conflict => "Multiple instances of the same request were made at once",
        Exception::Forbidden => "The client is permanently forbidden from making the request",
        Exception::Unauthorized => "The user is not authorized to make the request",
        Exception::UnprocessableEntity => "The request was well-formed but could not be processed",
        Exception::TooManyTags => "Too many tags were added to the resource",
        Exception::BadRequest => "The input parameters do not match the service's restrictions",
    }
}

/// Checks the rule's error against the model (an exception the operation, or
/// some operation, lists; its status; Retry-After only for 503) and fills in
/// the exception's name and status.
fn normalized_error(operation: Option<&str>, mut error: FaultError) -> Result<FaultError, String> {
    let given = error
        .code
        .as_deref()
        .unwrap_or("ServiceUnavailableException");
    let Some(exception) = exception_named(given) else {
        return Err(format!(
            "error code {given:?} is not an exception of the {SERVICE} model; it has: {}",
            names(Exception::ALL.iter().map(|e| e.shape_name()))
        ));
    };
    let code = exception.shape_name();
    match operation {
        Some(op) => {
            let listed = listed_for(op).unwrap_or_default();
            if !listed.contains(&exception) {
                return Err(format!(
                    "{op} cannot raise {code}: the model lists only {}",
                    names(listed.iter().map(|e| e.shape_name()))
                ));
            }
        }
        None => {
            if !Operation::ALL
                .iter()
                .any(|o| o.errors().contains(&exception))
            {
                return Err(format!("no operation of the model raises {code}"));
            }
        }
    }
    let status = exception.status();
    if let Some(given) = error.status_code {
        if given != status {
            return Err(format!(
                "statusCode {given} disagrees with the model: {code} is sent with {status}"
            ));
        }
    }
    if error.retry_after_seconds.is_some() && exception != Exception::ServiceUnavailable {
        return Err(format!(
            "retryAfterSeconds applies only to ServiceUnavailableException (the model's \
             Retry-After header), not to {code}"
        ));
    }
    error.status_code = Some(status);
    error.code = Some(code.to_string());
    Ok(error)
}

impl FaultRule {
    /// Checks the rule against the model and fills in its defaults
    /// (probability 1.0; ServiceUnavailableException; the model's status).
    pub fn normalized(mut self) -> Result<FaultRule, String> {
        self.check_fields()?;
        let error = self.error.take().unwrap_or(FaultError {
            status_code: None,
            code: None,
            message: None,
            retry_after_seconds: None,
        });
        self.error = Some(normalized_error(self.operation.as_deref(), error)?);
        Ok(self)
    }

    /// Checks every field but the error, and defaults the probability.
    fn check_fields(&mut self) -> Result<(), String> {
        if let Some(s) = &self.service {
            if s != SERVICE {
                return Err(format!(
                    "service {s:?} is not served here; use {SERVICE:?} or leave it out"
                ));
            }
        }
        if self.region.as_deref() == Some("") {
            return Err("region must not be empty; leave it out to match every region".into());
        }
        if let Some(op) = &self.operation {
            if Operation::from_name(op).is_none() {
                return Err(format!(
                    "operation {op:?} is not an operation of {SERVICE}; it is one of: {}",
                    names(Operation::ALL.iter().map(|o| o.name()))
                ));
            }
        }
        let p = self.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("probability must be between 0 and 1, got {p}"));
        }
        self.probability = Some(p);
        if let Some(a) = &self.account {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("account {a:?} must be a 12-digit account id"));
            }
        }
        if self.meeting_id.as_deref() == Some("") {
            return Err("meetingId must not be empty".into());
        }
        if self.count == Some(0) {
            return Err(
                "count must be at least 1; leave it out to fault every matching call".into(),
            );
        }
        Ok(())
    }

    /// Equal as DELETE compares rules: everything but the calls left (`count`).
    fn same_rule(&self, other: &FaultRule) -> bool {
        FaultRule {
            count: None,
            ..self.clone()
        } == FaultRule {
            count: None,
            ..other.clone()
        }
    }

    /// True when the rule's filters match the call (the probability aside).
    fn matches(&self, call: &Call<'_>) -> bool {
        let exception = self
            .error
            .as_ref()
            .and_then(|e| e.code.as_deref())
            .and_then(Exception::from_shape_name);
        let raisable = listed_for(call.operation)
            .is_some_and(|errors| exception.is_some_and(|e| errors.contains(&e)));
        raisable
            && self.region.as_deref().is_none_or(|r| r == call.region)
            && self
                .operation
                .as_deref()
                .is_none_or(|o| o == call.operation)
            && self.account.as_deref().is_none_or(|a| a == call.account)
            && self
                .meeting_id
                .as_deref()
                .is_none_or(|m| call.meeting_id == Some(m))
    }

    fn fault(&self) -> Fault {
        let e = self.error.as_ref();
        let exception = e
            .and_then(|e| e.code.as_deref())
            .and_then(Exception::from_shape_name)
            .unwrap_or(Exception::ServiceUnavailable);
        let message = e
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| default_message(exception).to_string());
        let retry_after_seconds = e.and_then(|e| e.retry_after_seconds);
        let mut error = ModeledError::new(exception, message);
        // The model's RetryAfterSeconds (the Retry-After header): what the
        // rule says, and 1 for ServiceUnavailableException when it says nothing.
        error.retry_after_seconds = retry_after_seconds
            .or((exception == Exception::ServiceUnavailable).then_some(1))
            .map(|s| s.to_string());
        Fault {
            error,
            retry_after_seconds,
        }
    }
}

/// Checks and normalizes a request body: an array of rules.
pub fn parse_rules(body: &[u8]) -> Result<Vec<FaultRule>, String> {
    let rules: Vec<FaultRule> = serde_json::from_slice(body)
        .map_err(|e| format!("the body must be a JSON array of fault rules: {e}"))?;
    rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.normalized().map_err(|e| format!("rule {i}: {e}")))
        .collect()
}

/// The rules in force.
#[derive(Debug, Default)]
pub struct FaultRules {
    rules: Mutex<Vec<FaultRule>>,
}

impl FaultRules {
    fn lock(&self) -> MutexGuard<'_, Vec<FaultRule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    pub fn replace(&self, rules: Vec<FaultRule>) -> Vec<FaultRule> {
        let mut all = self.lock();
        *all = rules;
        all.clone()
    }

    pub fn add(&self, rules: Vec<FaultRule>) -> Vec<FaultRule> {
        let mut all = self.lock();
        all.extend(rules);
        all.clone()
    }

    pub fn remove(&self, rules: &[FaultRule]) -> Vec<FaultRule> {
        let mut all = self.lock();
        all.retain(|r| !rules.iter().any(|g| g.same_rule(r)));
        all.clone()
    }

    /// The fault for this call, if a rule takes it (counting it against the rule).
    pub fn take(&self, call: &Call<'_>) -> Option<Fault> {
        let mut all = self.lock();
        if all.is_empty() {
            return None;
        }
        let mut rng = rand::thread_rng();
        let i = all.iter().position(|r| {
            r.matches(call) && {
                let p = r.probability.unwrap_or(1.0);
                p >= 1.0 || rng.gen::<f64>() < p
            }
        })?;
        let fault = all[i].fault();
        if let Some(n) = all[i].count.as_mut() {
            *n -= 1;
            if *n == 0 {
                all.remove(i);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Result<Vec<FaultRule>, String> {
        parse_rules(json.as_bytes())
    }

    const CALL: Call<'static> = Call {
        region: "us-east-1",
        account: "111122223333",
        operation: "CreateAttendee",
        meeting_id: Some("m1"),
    };

    #[test]
    fn every_exception_answers_with_its_modeled_status() {
        for e in Exception::ALL {
            let answer = crate::wire::error::WireError::Modeled(ModeledError::new(e, "x"));
            assert_eq!(answer.status(), e.status(), "{e}");
            assert_eq!(answer.shape(), e.shape_name());
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let r = rules(r#"[{"operation": "CreateAttendee"}]"#).unwrap();
        let e = r[0].error.as_ref().unwrap();
        assert_eq!(r[0].probability, Some(1.0));
        assert_eq!(e.code.as_deref(), Some("ServiceUnavailableException"));
        assert_eq!(e.status_code, Some(503));
        let r = rules(r#"[{"error": {"code": "Throttling"}}]"#).unwrap();
        assert_eq!(
            r[0].error.as_ref().unwrap().code.as_deref(),
            Some("ThrottlingException")
        );
    }

    #[test]
    fn the_model_decides_what_may_be_added() {
        let err = |j: &str| rules(j).unwrap_err();
        assert!(err(
            r#"[{"operation": "GetMeeting", "error": {"code": "LimitExceededException"}}]"#
        )
        .contains("GetMeeting cannot raise LimitExceededException"));
        assert!(err(r#"[{"operation": "CreateAttendee", "error": {"statusCode": 500, "code": "ThrottlingException"}}]"#)
            .contains("disagrees with the model"));
        assert!(err(r#"[{"error": {"code": "InternalError"}}]"#).contains("not an exception"));
        assert!(err(r#"[{"operation": "PutObject"}]"#).contains("not an operation"));
        assert!(err(r#"[{"service": "s3"}]"#).contains("not served here"));
        assert!(err(r#"[{"probability": 1.5}]"#).contains("between 0 and 1"));
        assert!(err(r#"[{"count": 0}]"#).contains("at least 1"));
        assert!(err(r#"[{"account": "12"}]"#).contains("12-digit"));
        assert!(
            err(r#"[{"error": {"code": "ThrottlingException", "retryAfterSeconds": 3}}]"#)
                .contains("only to ServiceUnavailableException")
        );
        assert!(err(r#"[{"operaton": "GetMeeting"}]"#).contains("unknown field"));
        assert!(err(r#"{"operation": "GetMeeting"}"#).contains("JSON array"));
    }

    #[test]
    fn first_matching_rule_answers_and_counts_down() {
        let f = FaultRules::default();
        f.replace(
            rules(
                r#"[{"operation": "GetMeeting", "error": {"code": "NotFoundException"}},
                    {"meetingId": "m1", "count": 2, "error": {"code": "ThrottlingException"}}]"#,
            )
            .unwrap(),
        );
        for _ in 0..2 {
            let fault = f.take(&CALL).unwrap();
            assert_eq!(fault.error.exception, Exception::Throttling);
        }
        assert_eq!(f.take(&CALL), None);
        assert_eq!(f.list().len(), 1);
        let other = Call {
            meeting_id: Some("m2"),
            ..CALL
        };
        assert_eq!(f.take(&other), None);
    }

    #[test]
    fn a_rule_without_operation_only_raises_what_the_operation_may() {
        let f = FaultRules::default();
        f.replace(rules(r#"[{"error": {"code": "TooManyTagsException"}}]"#).unwrap());
        assert_eq!(f.take(&CALL), None);
        let tag = Call {
            operation: "TagResource",
            meeting_id: None,
            ..CALL
        };
        assert_eq!(
            f.take(&tag).unwrap().error.exception,
            Exception::TooManyTags
        );
    }

    #[test]
    fn delete_compares_without_count() {
        let f = FaultRules::default();
        f.replace(rules(r#"[{"operation": "GetMeeting", "count": 5}, {}]"#).unwrap());
        let left = f.remove(&rules(r#"[{"operation": "GetMeeting"}]"#).unwrap());
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].operation, None);
    }

    #[test]
    fn probability_zero_never_fires() {
        let f = FaultRules::default();
        f.replace(rules(r#"[{"probability": 0}]"#).unwrap());
        assert!((0..100).all(|_| f.take(&CALL).is_none()));
    }
}
