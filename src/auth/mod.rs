//! Who is calling: every API request must carry a valid SigV4 signature
//! (service `chime`) made with a configured access key. The key names the
//! account; the credential scope names the control region.

pub mod credentials;
pub mod sigv4;
pub mod throttle;

use std::collections::HashMap;

use crate::domain::ids::AccountId;
use crate::domain::types::Caller;
use sigv4::{AuthFailure, KeyInfo, SignedRequest, Verifier};

/// The signing name of the service.
pub const SIGNING_NAME: &str = "chime";

pub struct Authenticator {
    verifier: Verifier,
}

impl Authenticator {
    pub fn new(keys: HashMap<String, KeyInfo>) -> Self {
        Authenticator {
            verifier: Verifier::new(SIGNING_NAME, keys),
        }
    }

    /// The caller of a request, or why the request is refused (the wire
    /// layer answers each refusal as AWS does).
    pub fn authenticate(&self, req: &SignedRequest<'_>, now: i64) -> Result<Caller, AuthFailure> {
        let v = self.verifier.verify(req, now)?;
        Ok(Caller {
            account_id: AccountId::new(v.account_id),
            region: v.region,
        })
    }
}

impl Authenticator {
    /// The account of a key pair given in person (the console's sign-in),
    /// the secret compared in constant time.
    pub fn account_of_key_pair(&self, access_key_id: &str, secret: &str) -> Option<String> {
        use subtle::ConstantTimeEq;
        let key = self.verifier.key(access_key_id)?;
        let same: bool = key
            .secret_access_key
            .as_bytes()
            .ct_eq(secret.as_bytes())
            .into();
        same.then(|| key.account_id.clone())
    }

    /// The account a configured key belongs to.
    pub fn account_of_key(&self, access_key_id: &str) -> Option<String> {
        self.verifier
            .key(access_key_id)
            .map(|k| k.account_id.clone())
    }
}

impl Authenticator {
    /// A presigned `path?query` for a GET with this configured key, valid
    /// `expires_secs` from `now` (seconds): what a browser's `EventSource`
    /// opens. None when the key is not configured.
    #[allow(clippy::too_many_arguments)]
    pub fn presign_get(
        &self,
        access_key_id: &str,
        region: &str,
        host: &str,
        path: &str,
        query: &[(String, String)],
        now: i64,
        expires_secs: i64,
    ) -> Option<String> {
        let key = self.verifier.key(access_key_id)?;
        Some(sigv4::presign(&sigv4::Presign {
            service: SIGNING_NAME,
            region,
            access_key_id,
            key,
            method: "GET",
            host,
            path,
            query,
            now,
            expires_secs,
        }))
    }
}
