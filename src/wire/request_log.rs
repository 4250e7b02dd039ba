//! The request log: one line per API request (target `convene::request`).
//!
//! With `--log-format json` the line is written here, straight into a buffer
//! queued whole for stderr (`telemetry::write_log_line`), in the shape
//! tracing's JSON formatter gives (`timestamp`, `level`, `message`, the
//! fields, `target`; a field that does not apply is left out). Built by the
//! formatter it was a tenth of a GetMeeting's cost. The log filter
//! (`CONVENE_LOG`) decides as it does for every line; with text logs (for
//! people) tracing writes it as before.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Level;

use super::json_out::JsonOut;

/// What one request's line says. Never a body: no secret, JoinToken or
/// ExternalUserId.
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub operation: &'a str,
    pub account_id: Option<&'a str>,
    pub meeting_id: Option<&'a str>,
    pub status: u16,
    pub error_type: Option<&'a str>,
    pub elapsed: Duration,
}

/// Logs the line: at error level for a 5xx, else at info.
pub fn log(line: &RequestLine<'_>) {
    let failed = line.status >= 500;
    let enabled = if failed {
        tracing::enabled!(target: "convene::request", Level::ERROR)
    } else {
        tracing::enabled!(target: "convene::request", Level::INFO)
    };
    if !enabled {
        return;
    }
    if crate::telemetry::json_on_stderr() {
        let mut bytes = json_line(line, failed, SystemTime::now());
        bytes.push(b'\n');
        // Into the log's queue, as the formatter's own lines.
        crate::telemetry::write_log_line(&bytes);
        return;
    }
    let RequestLine {
        request_id,
        operation,
        account_id,
        meeting_id,
        status,
        error_type,
        elapsed,
    } = *line;
    let latency_ms = (elapsed.as_micros() as f64) / 1000.0;
    if failed {
        tracing::error!(target: "convene::request", request_id, operation, account_id, meeting_id,
            status, error_type, latency_ms, "request failed");
    } else {
        tracing::info!(target: "convene::request", request_id, operation, account_id, meeting_id,
            status, error_type, latency_ms, "request");
    }
}

/// The JSON object of one line, as tracing's JSON formatter (flattened) writes it.
fn json_line(line: &RequestLine<'_>, failed: bool, now: SystemTime) -> Vec<u8> {
    let mut out = JsonOut::with_capacity(320);
    out.begin_object();
    out.key("timestamp");
    out.string(&rfc3339_micros(now));
    out.key("level");
    out.string(if failed { "ERROR" } else { "INFO" });
    out.key("message");
    out.string(if failed { "request failed" } else { "request" });
    out.key("request_id");
    out.string(line.request_id);
    out.key("operation");
    out.string(line.operation);
    for (name, value) in [
        ("account_id", line.account_id),
        ("meeting_id", line.meeting_id),
    ] {
        if let Some(v) = value {
            out.key(name);
            out.string(v);
        }
    }
    out.key("status");
    out.int(i64::from(line.status));
    if let Some(e) = line.error_type {
        out.key("error_type");
        out.string(e);
    }
    out.key("latency_ms");
    let us = line.elapsed.as_micros() as i64;
    let mut ms = (us / 1000).to_string();
    ms.push('.');
    crate::domain::clock::push_digits(&mut ms, us % 1000, 3);
    out.number(&ms);
    out.key("target");
    out.string("convene::request");
    out.end_object();
    out.into_bytes()
}

/// `2026-11-30T22:52:41.123456Z`, the formatter's own timestamp.
fn rfc3339_micros(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ms = since.as_millis() as i64;
    let mut text = crate::domain::clock::iso8601(ms);
    // iso8601 ends `.mmmZ`: three more digits of microseconds go before the Z.
    text.pop();
    crate::domain::clock::push_digits(&mut text, i64::from(since.subsec_micros() % 1000), 3);
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_has_the_formatters_shape() {
        let line = RequestLine {
            request_id: "5c0f",
            operation: "GetMeeting",
            account_id: Some("123456789012"),
            meeting_id: Some("a\"b"),
            status: 404,
            error_type: Some("NotFoundException"),
            elapsed: Duration::from_micros(4_210),
        };
        let at = UNIX_EPOCH + Duration::from_micros(1_795_929_845_678_901);
        let text = String::from_utf8(json_line(&line, false, at)).unwrap();
        assert_eq!(
            text,
            r#"{"timestamp":"2026-11-29T05:24:05.678901Z","level":"INFO","message":"request","request_id":"5c0f","operation":"GetMeeting","account_id":"123456789012","meeting_id":"a\"b","status":404,"error_type":"NotFoundException","latency_ms":4.210,"target":"convene::request"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["latency_ms"].as_f64(), Some(4.21));

        let bare = RequestLine {
            account_id: None,
            meeting_id: None,
            error_type: None,
            status: 500,
            ..line
        };
        let text = String::from_utf8(json_line(&bare, true, at)).unwrap();
        assert!(text.contains(r#""level":"ERROR","message":"request failed","request_id":"5c0f","operation":"GetMeeting","status":500,"latency_ms""#), "{text}");
    }
}
