//! SigV4 signing of the requests the load generator replays. Requests are
//! signed ahead of the measured run (a pool per scenario), so the signer is
//! never the bottleneck; a signature stays valid for the server's 15-minute
//! clock skew.

use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use bytes::Bytes;

/// One ready-to-send request: everything the load generator puts on the wire.
#[derive(Clone)]
pub struct Signed {
    pub method: http::Method,
    pub path_and_query: String,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub body: Bytes,
}

impl Signed {
    pub fn to_request(&self) -> http::Request<http_body_util::Full<Bytes>> {
        let mut req = http::Request::builder()
            .method(self.method.clone())
            .uri(self.path_and_query.as_str());
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req.body(http_body_util::Full::new(self.body.clone()))
            .expect("a signed request is well-formed")
    }
}

/// The caller's key and where it sends.
#[derive(Clone)]
pub struct Signer {
    pub host: String,
    pub access_key: String,
    pub secret: String,
    pub region: String,
}

impl Signer {
    /// Signs `method target` with `body` (JSON when not empty).
    pub fn sign(&self, method: &str, target: &str, body: &[u8]) -> Signed {
        let creds = aws_credential_types::Credentials::new(
            &self.access_key,
            &self.secret,
            None,
            None,
            "convene-bench",
        );
        let identity = creds.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("chime")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("signing parameters are complete")
            .into();
        let mut headers: Vec<(String, String)> = vec![("host".into(), self.host.clone())];
        if !body.is_empty() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let url = format!("http://{}{}", self.host, target);
        let signable = SignableRequest::new(
            method,
            url.clone(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .expect("a signable request");
        let (instructions, _) = sign(signable, &params)
            .expect("the request signs")
            .into_parts();
        let mut req = http::Request::builder().method(method).uri(&url);
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut req = req.body(()).expect("a request");
        instructions.apply_to_request_http1x(&mut req);
        if !body.is_empty() {
            req.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(body.len()),
            );
        }
        Signed {
            method: req.method().clone(),
            path_and_query: target.to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: Bytes::copy_from_slice(body),
        }
    }

    /// Signs many requests on every core (the pool is built before the clock starts).
    #[allow(clippy::needless_pass_by_value)] // callers build the list for this call alone
    pub fn sign_all(&self, specs: Vec<(http::Method, String, Vec<u8>)>) -> Vec<Signed> {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let chunk = specs.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = specs
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(m, t, b)| self.sign(m.as_str(), t, b))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a signing thread"))
                .collect()
        })
    }
}
