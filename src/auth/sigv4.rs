//! SigV4 verification, as AWS's services do it for a non-S3 service.
//!
//! Pure functions build the canonical request, the string to sign and the
//! signature; [`Verifier::verify`] checks a request's header or presigned-URL
//! signature against the secret of its access key, in this order: the form of
//! the signature, the scope (service, date), the clock (skew, expiry), the
//! access key, then the signature itself, compared in constant time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from ours, either way.
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// The longest validity a presigned URL may ask for (seven days).
pub const MAX_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// Why a request was refused. Each maps to one of AWS's authentication errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No signature at all: `MissingAuthenticationTokenException`.
    Missing,
    /// A signature whose parts are missing or malformed: `IncompleteSignatureException`.
    Incomplete(String),
    /// A signature that does not verify, or is out of date: `InvalidSignatureException`.
    Invalid(String),
    /// An access key (or session token) we do not know: `UnrecognizedClientException`.
    Unrecognized,
}

/// One header as the verifier sees it: the lower-case name, and the value
/// borrowed from the request (owned only when it was not UTF-8 and had to be
/// made so).
pub type Header<'a> = (&'a str, Cow<'a, str>);

/// A request as the verifier sees it: raw path and query as they came on the wire.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    /// Header names lower-cased, in arrival order; repeated names appear repeatedly.
    pub headers: Vec<Header<'a>>,
    pub body: &'a [u8],
}

/// Headers held as owned pairs, borrowed the way [`SignedRequest`] holds them.
pub fn borrow_headers(headers: &[(String, String)]) -> Vec<Header<'_>> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str())))
        .collect()
}

impl SignedRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        split_query(self.raw_query.unwrap_or(""))
    }
}

/// How the path is encoded in the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathEncoding {
    /// Every service but S3: the path as sent is encoded once more (`%` becomes `%25`).
    Double,
    /// The path as sent, with only what is not already allowed encoded.
    Single,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// RFC 3986 encoding of everything but unreserved characters (and `/` when `keep_slash`).
pub fn uri_encode(input: &[u8], keep_slash: bool, keep_percent: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') || (keep_percent && b == b'%') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes; an invalid escape is kept as it is.
pub fn percent_decode(input: &str) -> Vec<u8> {
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Removes `.` and `..` segments and empty segments, keeping a trailing slash.
pub fn normalize_path(path: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&stack.join("/"));
    let ends_with_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if ends_with_slash && !stack.is_empty() {
        out.push('/');
    }
    out
}

pub fn canonical_uri(raw_path: &str, normalize: bool, encoding: PathEncoding) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    let path = if normalize {
        normalize_path(path)
    } else {
        path.to_string()
    };
    match encoding {
        PathEncoding::Double => uri_encode(path.as_bytes(), true, false),
        PathEncoding::Single => uri_encode(path.as_bytes(), true, true),
    }
}

/// Query parameters, decoded; a `+` is a space, as form encoding (and the
/// router) has it.
pub fn split_query(raw: &str) -> Vec<(String, String)> {
    let decode =
        |s: &str| String::from_utf8_lossy(&percent_decode(&s.replace('+', " "))).into_owned();
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Sorted, re-encoded query parameters; a presigned request's own
/// `X-Amz-Signature` is left out.
pub fn canonical_query(pairs: &[(String, String)], presigned: bool) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| {
            (
                uri_encode(k.as_bytes(), false, false),
                uri_encode(v.as_bytes(), false, false),
            )
        })
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as it is signed: trimmed, inner runs of white space folded
/// to one space. Most values already are, and are borrowed as they came.
fn canonical_value(v: &str) -> std::borrow::Cow<'_, str> {
    let b = v.as_bytes();
    let folded = b.first().is_some_and(u8::is_ascii_whitespace)
        || b.last().is_some_and(u8::is_ascii_whitespace)
        || b.windows(2).any(|w| w[0] == b' ' && w[1] == b' ')
        || v.chars().any(|c| c.is_whitespace() && c != ' ');
    if folded {
        v.split_whitespace().collect::<Vec<_>>().join(" ").into()
    } else {
        v.into()
    }
}

/// The canonical headers as signers that fold only spaces build them, when
/// that differs from [`canonical_headers`] (a signed value holds a tab or the like).
fn spaces_only_headers<K: AsRef<str>, V: AsRef<str>>(
    headers: &[(K, V)],
    signed: &[&str],
) -> Option<String> {
    let differs = headers.iter().any(|(k, v)| {
        signed.contains(&k.as_ref()) && v.as_ref().chars().any(|c| c.is_whitespace() && c != ' ')
    });
    if !differs {
        return None;
    }
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .iter()
            .filter(|(k, _)| k.as_ref() == *name)
            .map(|(_, v)| {
                v.as_ref()
                    .trim_matches(' ')
                    .split(' ')
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Some(out)
}

/// The canonical headers block (each `name:value\n`), or the first signed header that is missing.
pub fn canonical_headers<K: AsRef<str>, V: AsRef<str>>(
    headers: &[(K, V)],
    signed: &[&str],
) -> Result<String, String> {
    let mut out = String::with_capacity(256);
    for name in signed {
        out.push_str(name);
        out.push(':');
        let mut found = false;
        for (_, v) in headers.iter().filter(|(k, _)| k.as_ref() == *name) {
            if found {
                out.push(',');
            }
            found = true;
            out.push_str(&canonical_value(v.as_ref()));
        }
        if !found {
            return Err((*name).to_string());
        }
        out.push('\n');
    }
    Ok(out)
}

/// SHA-256 of nothing (the payload hash of every GET), in hex.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn hex_sha256(data: &[u8]) -> String {
    Hex64::sha256(data).as_str().to_string()
}

#[allow(clippy::too_many_arguments)]
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical_request.as_bytes())
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

pub fn signature(signing_key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Seconds since the epoch of an ISO 8601 basic time, `20150830T123600Z`.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// The signature's parts, from the `Authorization` header or the query
/// string, borrowed from the request.
#[derive(Debug, Clone)]
struct Parts<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
    amz_date: &'a str,
    /// Presigned URLs: seconds of validity.
    expires: Option<i64>,
}

fn incomplete(msg: impl Into<String>) -> AuthFailure {
    AuthFailure::Incomplete(msg.into())
}

/// `<access key>/<date>/<region>/<service>/aws4_request`, as its four parts.
fn parse_credential(credential: &str) -> Result<(&str, &str, &str, &str), AuthFailure> {
    let mut parts = credential.rsplitn(5, '/');
    let mut next = || parts.next().filter(|p| !p.is_empty());
    match (next(), next(), next(), next(), next()) {
        (Some("aws4_request"), Some(service), Some(region), Some(date), Some(key)) => {
            Ok((key, date, region, service))
        }
        _ => Err(incomplete(format!(
            "Credential should be of the form <access key>/<date>/<region>/<service>/aws4_request; got '{credential}'"
        ))),
    }
}

fn header_parts<'a>(req: &'a SignedRequest<'_>, auth: &'a str) -> Result<Parts<'a>, AuthFailure> {
    let rest = auth
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| incomplete(format!("Authorization header must use {ALGORITHM}")))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut sig = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let missing =
        |what: &str| incomplete(format!("Authorization header requires '{what}' parameter."));
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = sig.ok_or_else(|| missing("Signature"))?;
    let (access_key_id, date, region, service) = parse_credential(credential)?;
    let amz_date = req.header("x-amz-date").ok_or_else(|| {
        incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    })?;
    Ok(Parts {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
        amz_date,
        expires: None,
    })
}

fn query_parts(pairs: &[(String, String)]) -> Result<Parts<'_>, AuthFailure> {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let missing = |what: &str| {
        incomplete(format!(
            "AWS query-string parameters must include '{what}'."
        ))
    };
    for name in [
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
        "X-Amz-Security-Token",
    ] {
        if pairs.iter().filter(|(n, _)| n == name).count() > 1 {
            return Err(incomplete(format!(
                "The query-string parameter '{name}' appears more than once."
            )));
        }
    }
    let algorithm = get("X-Amz-Algorithm").ok_or_else(|| missing("X-Amz-Algorithm"))?;
    if algorithm != ALGORITHM {
        return Err(incomplete(format!("X-Amz-Algorithm must be {ALGORITHM}")));
    }
    let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
    let signed_headers =
        get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?;
    let sig = get("X-Amz-Signature").ok_or_else(|| missing("X-Amz-Signature"))?;
    let amz_date = get("X-Amz-Date").ok_or_else(|| missing("X-Amz-Date"))?;
    let expires = get("X-Amz-Expires").ok_or_else(|| missing("X-Amz-Expires"))?;
    let expires: i64 = expires
        .parse()
        .ok()
        .filter(|e| (0..=MAX_EXPIRES_SECS).contains(e))
        .ok_or_else(|| {
            incomplete(format!(
                "X-Amz-Expires must be a number of seconds from 0 to {MAX_EXPIRES_SECS}"
            ))
        })?;
    let (access_key_id, date, region, service) = parse_credential(credential)?;
    Ok(Parts {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature: sig,
        amz_date,
        expires: Some(expires),
    })
}

/// What the verifier needs to know of an access key.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub secret_access_key: String,
    pub account_id: String,
    /// When set, requests must carry this `x-amz-security-token`.
    pub session_token: Option<String>,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub account_id: String,
    pub region: String,
}

/// Checks signatures, caching derived signing keys per (key, date, region).
pub struct Verifier {
    service: String,
    /// Remove `.`/`..`/empty path segments before signing (every service but S3 does).
    normalize_path: bool,
    /// How the path is encoded in the canonical request (double for every service but S3).
    path_encoding: PathEncoding,
    keys: HashMap<String, KeyInfo>,
    /// HMACs keyed with a derived signing key, by `key\ndate\nregion`: a
    /// clone signs a string without deriving the key or hashing its pads again.
    cache: Mutex<HashMap<Box<str>, HmacSha256>>,
}

/// Signing keys cached at most; the cache is cleared when full (keys are cheap to derive again).
const MAX_CACHED_KEYS: usize = 4096;

impl Verifier {
    /// The configured key with this id.
    pub fn key(&self, access_key_id: &str) -> Option<&KeyInfo> {
        self.keys.get(access_key_id)
    }

    pub fn new(service: &str, keys: HashMap<String, KeyInfo>) -> Self {
        Verifier {
            service: service.to_string(),
            normalize_path: true,
            path_encoding: PathEncoding::Double,
            keys,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Signs paths as they are, without normalizing them (only the S3 style needs this).
    pub fn without_path_normalization(mut self) -> Self {
        self.normalize_path = false;
        self
    }

    /// Signs paths as they are sent, encoded once (the S3 style, and that of AWS's generic test suite).
    pub fn with_single_path_encoding(mut self) -> Self {
        self.path_encoding = PathEncoding::Single;
        self
    }

    /// An HMAC keyed with the signing key of (key, date, region), from the
    /// cache or derived now.
    fn keyed_mac(&self, access_key_id: &str, secret: &str, date: &str, region: &str) -> HmacSha256 {
        let mut id = Small::new();
        let id = id.join(&[access_key_id, date, region]);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(mac) = cache.get(id) {
            return mac.clone();
        }
        let key = signing_key(secret, date, region, &self.service);
        let mac = HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(id.into(), mac.clone());
        mac
    }

    /// Verifies the request's signature at time `now` (seconds since the epoch):
    /// the parts, the scope, the time, the signed headers, the key and its
    /// session token, then the signature itself.
    pub fn verify(&self, req: &SignedRequest<'_>, now: i64) -> Result<Verified, AuthFailure> {
        let pairs = req.query_pairs();
        let parts = match req.header("authorization") {
            Some(auth) => header_parts(req, auth)?,
            None if pairs
                .iter()
                .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Credential") =>
            {
                query_parts(&pairs)?
            }
            None => return Err(AuthFailure::Missing),
        };
        self.check_scope(&parts)?;
        check_time(&parts, now)?;
        let signed = check_signed_headers(&parts)?;
        let key = self
            .keys
            .get(parts.access_key_id)
            .ok_or(AuthFailure::Unrecognized)?;
        check_session_token(req, &pairs, &parts, key)?;
        if self.signature_matches(req, &pairs, &parts, &signed, key)? {
            Ok(Verified {
                access_key_id: parts.access_key_id.to_string(),
                account_id: key.account_id.clone(),
                region: parts.region.to_string(),
            })
        } else {
            Err(AuthFailure::Invalid(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            ))
        }
    }

    /// The credential scope names this service and a well-formed region.
    fn check_scope(&self, parts: &Parts<'_>) -> Result<(), AuthFailure> {
        if parts.service != self.service {
            return Err(AuthFailure::Invalid(format!(
                "Credential should be scoped to correct service: '{}'.",
                self.service
            )));
        }
        let region_ok = parts.region.len() <= 32
            && parts
                .region
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !region_ok {
            return Err(AuthFailure::Invalid(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                parts.region
            )));
        }
        Ok(())
    }

    /// Computes the expected signature over each accepted spelling of the
    /// canonical request and compares it with the provided one in constant time.
    fn signature_matches(
        &self,
        req: &SignedRequest<'_>,
        pairs: &[(String, String)],
        parts: &Parts<'_>,
        signed: &[&str],
        key: &KeyInfo,
    ) -> Result<bool, AuthFailure> {
        let canonical_headers = canonical_headers(&req.headers, signed).map_err(|missing| {
            AuthFailure::Invalid(format!(
                "The header '{missing}' is named in SignedHeaders but is not in the request."
            ))
        })?;
        let body_hash = Hex64::sha256(req.body);
        if let Some(claimed) = req.header("x-amz-content-sha256") {
            if claimed != body_hash.as_str() {
                return Err(AuthFailure::Invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
                ));
            }
        }
        let presigned = parts.expires.is_some();
        let mut queries = vec![canonical_query(pairs, presigned)];
        if presigned && key.session_token.is_some() {
            // Some signers add the session token to a presigned URL after signing.
            let without: Vec<(String, String)> = pairs
                .iter()
                .filter(|(k, _)| k != "X-Amz-Security-Token")
                .cloned()
                .collect();
            queries.push(canonical_query(&without, presigned));
        }
        let mut header_blocks = vec![canonical_headers];
        if let Some(spaces_only) = spaces_only_headers(&req.headers, signed) {
            // Signers differ on white space other than spaces inside a value:
            // botocore folds it, aws-sigv4 keeps it. Both are genuine.
            header_blocks.push(spaces_only);
        }
        // The provided signature, lower-cased; any other length cannot match.
        let mut provided = [0u8; 64];
        if parts.signature.len() != provided.len() {
            return Ok(false);
        }
        for (p, c) in provided.iter_mut().zip(parts.signature.bytes()) {
            *p = c.to_ascii_lowercase();
        }
        let mac = self.keyed_mac(
            parts.access_key_id,
            &key.secret_access_key,
            parts.date,
            parts.region,
        );
        let curi = self.canonical_uri(req.raw_path);
        let mut bufs = (String::with_capacity(512), String::with_capacity(160));
        for cquery in &queries {
            for cheaders in &header_blocks {
                let canonical = Canonical {
                    method: req.method,
                    uri: &curi,
                    query: cquery,
                    headers: cheaders,
                    body_hash: body_hash.as_str(),
                };
                let expected = expected_signature(&mac, &canonical, parts, &mut bufs);
                if bool::from(expected.as_str().as_bytes().ct_eq(&provided)) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The canonical URI of a path, borrowed when signing leaves it as it
    /// is: it starts with `/`, has nothing to remove (normalizing) and
    /// nothing to encode.
    fn canonical_uri<'p>(&self, raw_path: &'p str) -> Cow<'p, str> {
        let plain = raw_path.starts_with('/')
            && raw_path.bytes().all(|b| is_unreserved(b) || b == b'/')
            && (!self.normalize_path
                || !(raw_path.contains("//")
                    || raw_path.split('/').any(|seg| seg == "." || seg == "..")));
        if plain {
            raw_path.into()
        } else {
            canonical_uri(raw_path, self.normalize_path, self.path_encoding).into()
        }
    }
}

/// One spelling of a request's canonical parts.
struct Canonical<'a> {
    method: &'a str,
    uri: &'a str,
    query: &'a str,
    headers: &'a str,
    body_hash: &'a str,
}

/// The signature of one spelling of the request, with `mac` keyed by the
/// signing key; `bufs` are the canonical request's and the string to sign's
/// buffers, reused between spellings.
fn expected_signature(
    mac: &HmacSha256,
    c: &Canonical<'_>,
    parts: &Parts<'_>,
    (creq, to_sign): &mut (String, String),
) -> Hex64 {
    creq.clear();
    for (i, piece) in [
        c.method,
        c.uri,
        c.query,
        c.headers,
        parts.signed_headers,
        c.body_hash,
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            creq.push('\n');
        }
        creq.push_str(piece);
    }
    to_sign.clear();
    for piece in [
        ALGORITHM,
        "\n",
        parts.amz_date,
        "\n",
        parts.date,
        "/",
        parts.region,
        "/",
        parts.service,
        "/aws4_request\n",
        Hex64::sha256(creq.as_bytes()).as_str(),
    ] {
        to_sign.push_str(piece);
    }
    tracing::trace!(canonical_request = %creq, "SigV4 canonical request");
    let mut m = mac.clone();
    m.update(to_sign.as_bytes());
    Hex64::of(&m.finalize().into_bytes().into())
}

/// 32 bytes as 64 lower-case hex digits, on the stack.
struct Hex64([u8; 64]);

impl Hex64 {
    fn of(bytes: &[u8; 32]) -> Self {
        let mut out = [0u8; 64];
        hex::encode_to_slice(bytes, &mut out).expect("64 digits for 32 bytes");
        Hex64(out)
    }

    fn sha256(data: &[u8]) -> Self {
        if data.is_empty() {
            let mut out = [0u8; 64];
            out.copy_from_slice(EMPTY_SHA256.as_bytes());
            return Hex64(out);
        }
        Self::of(&Sha256::digest(data).into())
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// A short string built on the stack (a cache key), or on the heap when long.
struct Small {
    buf: [u8; 256],
    heap: String,
}

impl Small {
    fn new() -> Self {
        Small {
            buf: [0; 256],
            heap: String::new(),
        }
    }

    /// The parts joined by newlines.
    fn join(&mut self, parts: &[&str]) -> &str {
        let len = parts.iter().map(|p| p.len() + 1).sum::<usize>();
        if len > self.buf.len() {
            self.heap = parts.join("\n");
            return &self.heap;
        }
        let mut at = 0;
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                self.buf[at] = b'\n';
                at += 1;
            }
            self.buf[at..at + p.len()].copy_from_slice(p.as_bytes());
            at += p.len();
        }
        std::str::from_utf8(&self.buf[..at]).expect("joined from strs")
    }
}

/// The request's date is well-formed, agrees with the credential scope, and
/// is within the allowed skew (or, presigned, not expired).
fn check_time(parts: &Parts<'_>, now: i64) -> Result<(), AuthFailure> {
    let when = parse_amz_date(parts.amz_date).ok_or_else(|| {
        incomplete(format!(
            "Date must be in ISO 8601 basic format (yyyyMMddTHHmmssZ); got '{}'",
            parts.amz_date
        ))
    })?;
    if !parts.amz_date.starts_with(parts.date) || parts.date.len() != 8 {
        return Err(AuthFailure::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            parts.date,
            parts.amz_date.get(..8).unwrap_or(parts.amz_date)
        )));
    }
    if when - now > MAX_SKEW_SECS {
        return Err(AuthFailure::Invalid(format!(
            "Signature not yet current: {} is still later than the server's time plus 15 minutes.",
            parts.amz_date
        )));
    }
    match parts.expires {
        Some(expires) if now > when + expires => Err(AuthFailure::Invalid(format!(
            "Signature expired: {} plus X-Amz-Expires {expires} is now earlier than the server's time.",
            parts.amz_date
        ))),
        None if now - when > MAX_SKEW_SECS => Err(AuthFailure::Invalid(format!(
            "Signature expired: {} is now earlier than the server's time minus 15 minutes.",
            parts.amz_date
        ))),
        _ => Ok(()),
    }
}

/// SignedHeaders is lower case, sorted, and includes `host`; answers the names.
fn check_signed_headers<'a>(parts: &Parts<'a>) -> Result<Vec<&'a str>, AuthFailure> {
    let signed: Vec<&str> = parts.signed_headers.split(';').collect();
    let well_formed = signed
        .iter()
        .all(|h| !h.is_empty() && h.bytes().all(|c| !c.is_ascii_uppercase()))
        && signed.windows(2).all(|w| w[0] < w[1]);
    if !well_formed {
        return Err(incomplete(
            "SignedHeaders must be lower-case header names, sorted, separated by ';'.",
        ));
    }
    if !signed.contains(&"host") {
        return Err(AuthFailure::Invalid(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    Ok(signed)
}

/// The session token the key requires, and only then, is present and right.
fn check_session_token(
    req: &SignedRequest<'_>,
    pairs: &[(String, String)],
    parts: &Parts<'_>,
    key: &KeyInfo,
) -> Result<(), AuthFailure> {
    // Header auth carries the token in a header; a presigned URL in its query.
    let token = if parts.expires.is_some() {
        pairs
            .iter()
            .find(|(k, _)| k == "X-Amz-Security-Token")
            .map(|(_, v)| v.as_str())
    } else {
        req.header("x-amz-security-token")
    };
    match (&key.session_token, token) {
        (Some(expected), Some(t)) if bool::from(t.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        (None, None) => Ok(()),
        // A missing, wrong or unexpected session token: AWS does not know the credentials.
        _ => Err(AuthFailure::Unrecognized),
    }
}

/// What a presigned URL is made of.
#[derive(Debug, Clone)]
pub struct Presign<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub access_key_id: &'a str,
    pub key: &'a KeyInfo,
    pub method: &'a str,
    /// The `Host` the client will send (the only signed header).
    pub host: &'a str,
    /// The path as it will be sent (already percent-encoded where needed).
    pub path: &'a str,
    /// The request's own query parameters, decoded.
    pub query: &'a [(String, String)],
    /// Seconds since the epoch.
    pub now: i64,
    pub expires_secs: i64,
}

/// A presigned `path?query` (SigV4 in the query string, as every AWS SDK's
/// presigner writes it), for a body-less request.
pub fn presign(p: &Presign<'_>) -> String {
    let amz_date: String = crate::domain::clock::iso8601(p.now * 1000)
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .chain(std::iter::once('Z'))
        .collect();
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", p.region, p.service);
    let mut pairs: Vec<(String, String)> = p.query.to_vec();
    pairs.extend([
        ("X-Amz-Algorithm".into(), ALGORITHM.into()),
        (
            "X-Amz-Credential".into(),
            format!("{}/{scope}", p.access_key_id),
        ),
        ("X-Amz-Date".into(), amz_date.clone()),
        (
            "X-Amz-Expires".into(),
            p.expires_secs.clamp(1, MAX_EXPIRES_SECS).to_string(),
        ),
        ("X-Amz-SignedHeaders".into(), "host".into()),
    ]);
    if let Some(token) = &p.key.session_token {
        pairs.push(("X-Amz-Security-Token".into(), token.clone()));
    }
    let cquery = canonical_query(&pairs, true);
    let creq = canonical_request(
        p.method,
        &canonical_uri(p.path, true, PathEncoding::Double),
        &cquery,
        &format!("host:{}\n", canonical_value(p.host)),
        "host",
        &hex_sha256(b""),
    );
    let key = signing_key(&p.key.secret_access_key, date, p.region, p.service);
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &creq));
    format!("{}?{cquery}&X-Amz-Signature={sig}", p.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn the_empty_payload_hash_is_sha256_of_nothing() {
        assert_eq!(EMPTY_SHA256, hex::encode(Sha256::digest(b"")));
        assert_eq!(hex_sha256(b""), EMPTY_SHA256);
    }

    #[test]
    fn header_values_are_trimmed_and_folded_and_otherwise_borrowed() {
        use std::borrow::Cow;
        for (raw, want) in [
            ("a b", "a b"),
            ("  a   b  ", "a b"),
            ("a\tb", "a b"),
            ("a \t b", "a b"),
            ("x", "x"),
            ("", ""),
            (" ", ""),
        ] {
            assert_eq!(canonical_value(raw), want, "{raw:?}");
        }
        assert!(matches!(
            canonical_value("AWS4-HMAC-SHA256 x"),
            Cow::Borrowed(_)
        ));
    }

    fn suite_dir() -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/sigv4-test-suite/v4");
        if dir.is_dir() {
            Some(dir)
        } else {
            crate::test_support::missing_input(
                "aws_test_vectors",
                &format!(
                    "the SigV4 test vectors are not at {} (../shared is missing)",
                    dir.display()
                ),
            );
            None
        }
    }

    type Parsed = (
        String,
        String,
        Option<String>,
        Vec<(String, String)>,
        Vec<u8>,
    );

    /// Parses a request file of the suite: request line, headers (with folded
    /// continuation lines), blank line, body.
    fn parse_request(text: &str) -> Parsed {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let first = lines.next().unwrap();
        let (method, rest) = first.split_once(' ').unwrap();
        let target = rest.rsplit_once(" HTTP/").unwrap().0;
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (target.to_string(), None),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with(' ') || line.starts_with('\t') {
                let last = headers.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else if let Some((k, v)) = line.split_once(':') {
                headers.push((k.to_ascii_lowercase(), v.to_string()));
            }
        }
        (
            method.to_string(),
            path,
            query,
            headers,
            body.as_bytes().to_vec(),
        )
    }

    fn json_str(ctx: &serde_json::Value, path: &[&str]) -> Option<String> {
        let mut v = ctx;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str().map(str::to_string)
    }

    #[test]
    fn aws_test_vectors() {
        let Some(dir) = suite_dir() else { return };
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let case = entry.unwrap().path();
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            let read = |f: &str| std::fs::read_to_string(case.join(f)).ok();
            let Some(ctx) = read("context.json") else {
                // Old-format cases give only the canonical request (double encoding).
                let (method, path, _, _, _) = parse_request(&read("request.txt").unwrap());
                let expected = read("header-canonical-request.txt").unwrap();
                let uri = expected.lines().nth(1).unwrap();
                assert_eq!(
                    canonical_uri(&path, true, PathEncoding::Double),
                    uri,
                    "{name}"
                );
                assert_eq!(expected.lines().next().unwrap(), method);
                checked += 1;
                continue;
            };
            let ctx: serde_json::Value = serde_json::from_str(&ctx).unwrap();
            let service = json_str(&ctx, &["service"]).unwrap();
            let key = KeyInfo {
                secret_access_key: json_str(&ctx, &["credentials", "secret_access_key"]).unwrap(),
                account_id: "111122223333".into(),
                session_token: json_str(&ctx, &["credentials", "token"]),
            };
            let akid = json_str(&ctx, &["credentials", "access_key_id"]).unwrap();
            let now = {
                let t = json_str(&ctx, &["timestamp"])
                    .unwrap()
                    .replace(['-', ':'], "");
                parse_amz_date(&t).unwrap()
            };
            let mut verifier =
                Verifier::new(&service, HashMap::from([(akid, key)])).with_single_path_encoding();
            if ctx["normalize"] == serde_json::Value::Bool(false) {
                verifier = verifier.without_path_normalization();
            }
            for kind in ["header", "query"] {
                let Some(signed) = read(&format!("{kind}-signed-request.txt")) else {
                    continue;
                };
                let (method, path, query, headers, body) = parse_request(&signed);
                let req = SignedRequest {
                    method: &method,
                    raw_path: &path,
                    raw_query: query.as_deref(),
                    headers: borrow_headers(&headers),
                    body: &body,
                };
                let got = verifier.verify(&req, now);
                assert!(got.is_ok(), "{name} ({kind}): {got:?}");
                checked += 1;

                // Our canonical request is theirs, byte for byte.
                let expected = read(&format!("{kind}-canonical-request.txt")).unwrap();
                let signed_line = expected.lines().rev().nth(1).unwrap();
                let signed_names: Vec<&str> = signed_line.split(';').collect();
                let mut pairs = split_query(query.as_deref().unwrap_or(""));
                if ctx["omit_session_token"] == serde_json::Value::Bool(true) {
                    pairs.retain(|(k, _)| k != "X-Amz-Security-Token");
                }
                let encoding = if path.contains('%') {
                    PathEncoding::Single
                } else {
                    PathEncoding::Double
                };
                let creq = canonical_request(
                    &method,
                    &canonical_uri(
                        &path,
                        ctx["normalize"] != serde_json::Value::Bool(false),
                        encoding,
                    ),
                    &canonical_query(&pairs, kind == "query"),
                    &canonical_headers(&headers, &signed_names).unwrap(),
                    signed_line,
                    expected.lines().last().unwrap(),
                );
                assert_eq!(creq, expected, "{name} ({kind})");

                // Any change to the signature fails.
                let mut tampered = req.clone();
                let mut h = headers.clone();
                for (k, v) in &mut h {
                    if k == "authorization" {
                        let last = v.pop().unwrap();
                        v.push(if last == '0' { '1' } else { '0' });
                    }
                }
                tampered.headers = borrow_headers(&h);
                let q2;
                if kind == "query" {
                    q2 = query
                        .clone()
                        .unwrap()
                        .replace("X-Amz-Signature=", "X-Amz-Signature=0");
                    tampered.raw_query = Some(&q2);
                }
                assert!(
                    verifier.verify(&tampered, now).is_err(),
                    "{name} ({kind}) tampered"
                );
            }
        }
        assert!(checked >= 70, "only {checked} vectors checked");
        eprintln!("{checked} SigV4 test vectors verified");
    }

    #[test]
    fn presigned_urls_verify_until_they_expire() {
        let key = KeyInfo {
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            account_id: "123456789012".into(),
            session_token: None,
        };
        let verifier = Verifier::new(
            "chime",
            HashMap::from([("AKIDEXAMPLE".to_string(), key.clone())]),
        );
        let query = [("after".to_string(), "a b/c".to_string())];
        let url = presign(&Presign {
            service: "chime",
            region: "us-east-1",
            access_key_id: "AKIDEXAMPLE",
            key: &key,
            method: "GET",
            host: "127.0.0.1:8080",
            path: "/_convene/events/stream",
            query: &query,
            now: 1_440_938_160,
            expires_secs: 60,
        });
        let (path, q) = url.split_once('?').unwrap();
        fn req<'a>(path: &'a str, q: &'a str, host: &'a str) -> SignedRequest<'a> {
            SignedRequest {
                method: "GET",
                raw_path: path,
                raw_query: Some(q),
                headers: vec![("host", host.into())],
                body: b"",
            }
        }
        let ok = verifier.verify(&req(path, q, "127.0.0.1:8080"), 1_440_938_170);
        assert_eq!(ok.unwrap().account_id, "123456789012");
        assert!(matches!(
            verifier.verify(&req(path, q, "127.0.0.1:8080"), 1_440_938_160 + 61),
            Err(AuthFailure::Invalid(_))
        ));
        assert!(verifier
            .verify(&req(path, q, "other:8080"), 1_440_938_170)
            .is_err());
        let tampered = q.replace("after=a%20b", "after=a%20c");
        assert!(verifier
            .verify(&req(path, &tampered, "127.0.0.1:8080"), 1_440_938_170)
            .is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("20150830T123600"), None);
        assert_eq!(parse_amz_date("2015083OT123600Z"), None);
        assert_eq!(parse_amz_date("20151330T123600Z"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path("/a/./b/../c/"), "/a/c/");
        assert_eq!(normalize_path("//"), "/");
        assert_eq!(normalize_path("/example/.."), "/");
        assert_eq!(
            canonical_uri("/a%2Fb", true, PathEncoding::Double),
            "/a%252Fb"
        );
        assert_eq!(canonical_uri("/a b", true, PathEncoding::Single), "/a%20b");
    }
}
