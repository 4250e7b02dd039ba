//! Webhooks signed as the Standard Webhooks specification says
//! (<https://www.standardwebhooks.com/>): one event per POST, the body is the
//! envelope, and three headers:
//!
//! - `webhook-id`: the envelope's `id`, the same on every retry, so that a
//!   receiver can drop a duplicate;
//! - `webhook-timestamp`: seconds since the epoch when this try was sent;
//! - `webhook-signature`: `v1,` and the base64 HMAC-SHA256, keyed with the
//!   secret's bytes, of `{id}.{timestamp}.{body}`.
//!
//! The secret is `whsec_` and base64, as the specification's libraries
//! generate and expect.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;

use super::Sink;
use crate::store::{BoxFuture, StoredEvent};

/// A Standard Webhooks signing secret.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b64 = s.trim().strip_prefix("whsec_").ok_or(
            "the webhook secret must start with whsec_ (then base64 of at least 24 random bytes)",
        )?;
        let key = STANDARD
            .decode(b64)
            .map_err(|_| "the webhook secret after whsec_ is not valid base64".to_string())?;
        if key.len() < 24 {
            return Err("the webhook secret must hold at least 24 bytes".into());
        }
        Ok(WebhookSecret(key))
    }

    /// The `webhook-signature` value for this message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

pub struct WebhookSink {
    url: hyper::Uri,
    secret: WebhookSecret,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl WebhookSink {
    pub fn new(url: &str, secret: WebhookSecret, timeout: Duration) -> Result<Self, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("--events-webhook-url {url:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "--events-webhook-url {url:?}: only http:// URLs are supported (put a TLS proxy in front for https)"
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(WebhookSink {
            url: uri,
            secret,
            client,
            timeout,
        })
    }

    async fn send(&self, event: &StoredEvent) -> Result<(), String> {
        let ts = crate::now_ms() / 1000;
        let signature = self.secret.sign(&event.id, ts, &event.body);
        let req = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", concat!("convene/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(Bytes::from(event.body.clone())))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))?
            .map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status();
        // Read (and drop) the body so that the connection can be reused.
        let _ = tokio::time::timeout(
            self.timeout,
            http_body_util::BodyExt::collect(resp.into_body()),
        )
        .await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("receiver answered HTTP {}", status.as_u16()))
        }
    }
}

impl Sink for WebhookSink {
    fn kind(&self) -> &'static str {
        super::super::outbox::WEBHOOK
    }

    fn deliver<'a>(
        &'a self,
        _target: &'a str,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.send(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_specification() {
        // The example of the Standard Webhooks reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(WebhookSecret::parse("nope").is_err());
        assert!(WebhookSecret::parse("whsec_!!").is_err());
    }
}
