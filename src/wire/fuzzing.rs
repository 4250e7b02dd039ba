//! An entry point for fuzzers: one request, from arbitrary bytes, through the
//! whole stack but the socket. Built only with the `fuzzing` feature (fuzz/
//! turns it on).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::router::{Endpoint, Query};
use crate::auth::sigv4::{KeyInfo, SignedRequest};
use crate::auth::Authenticator;
use crate::domain::ids::AccountId;
use crate::domain::placement::PublicBase;
use crate::domain::types::Caller;
use crate::ops::{Limits, Service};
use crate::store::sqlite::SqliteStore;

struct World {
    runtime: tokio::runtime::Runtime,
    service: Service,
    base: PublicBase,
    auth: Authenticator,
    _dir: std::path::PathBuf,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("convene-fuzz-{}", std::process::id()));
        let store = SqliteStore::open(&dir).expect("open store");
        let keys = HashMap::from([(
            "AKIDEXAMPLE".to_string(),
            KeyInfo {
                secret_access_key: "secret".into(),
                account_id: "123456789012".into(),
                session_token: None,
            },
        )]);
        World {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            service: Service::new(std::sync::Arc::new(store), Limits::default()),
            base: PublicBase::parse("http://127.0.0.1:8080").expect("base"),
            auth: Authenticator::new(keys),
            _dir: dir,
        }
    })
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// Input layout: byte 0 picks the method; then the target (`/path?query`) up
/// to the first newline; then header lines (`name: value`) up to an empty
/// line; the rest is the body.
pub fn one_request(data: &[u8]) {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[m as usize % METHODS.len()];
    let text = String::from_utf8_lossy(rest);
    let (target, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (head, body) = rest.split_once("\n\n").unwrap_or(("", rest));
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let headers: Vec<(String, String)> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let w = world();

    // The verifier must refuse (or accept) without panicking.
    let signed = SignedRequest {
        method,
        raw_path: path,
        raw_query,
        headers: crate::auth::sigv4::borrow_headers(&headers),
        body: body.as_bytes(),
    };
    let _ = w.auth.authenticate(&signed, 1_700_000_000);

    // Then the request as an authenticated caller.
    let query = Query::parse(raw_query);
    let Ok(endpoint) = Endpoint::parse(method, path, &query) else {
        return;
    };
    let caller = Caller {
        account_id: AccountId::new("123456789012"),
        region: "us-east-1".into(),
    };
    let req = super::Request {
        service: &w.service,
        base: &w.base,
        caller: &caller,
        query: &query,
        body: body.as_bytes(),
    };
    let result = w.runtime.block_on(super::dispatch(&req, endpoint));
    if let Err(e) = result {
        assert!(e.status() < 500, "a 5xx for fuzzed input: {e}");
    }
}
