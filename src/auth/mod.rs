//! Who is calling.
//!
//! Every AWS SDK signs its requests with SigV4; the credential scope of the
//! signature (`<access key>/<date>/<region>/chime/aws4_request`) names the
//! region the client is configured for, which is the meeting's control region.
//! Signatures are not verified yet: any caller is taken to be the configured
//! account.

pub mod sigv4;

use crate::domain::types::Caller;

/// The parts of a SigV4 credential scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// Parses `AKID/20260101/us-east-1/chime/aws4_request`.
    pub fn parse(credential: &str) -> Option<Self> {
        let mut parts = credential.rsplitn(5, '/');
        let terminator = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let date = parts.next()?;
        let access_key_id = parts.next()?;
        if terminator != "aws4_request" || access_key_id.is_empty() || region.is_empty() {
            return None;
        }
        let region_ok = region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && region.len() <= 32;
        if !region_ok {
            return None;
        }
        Some(CredentialScope {
            access_key_id: access_key_id.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        })
    }

    /// The scope of a request: from the `Authorization` header
    /// (`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`), or from
    /// the `X-Amz-Credential` query parameter of a presigned URL.
    pub fn from_request(
        authorization: Option<&str>,
        query_credential: Option<&str>,
    ) -> Option<Self> {
        if let Some(auth) = authorization {
            let rest = auth.trim_start().strip_prefix("AWS4-HMAC-SHA256")?;
            let credential = rest
                .split(',')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("Credential="))?;
            return Self::parse(credential);
        }
        query_credential.and_then(Self::parse)
    }
}

/// Decides who the caller is.
#[derive(Debug, Clone)]
pub struct Authenticator {
    pub account_id: String,
    pub default_region: String,
}

impl Authenticator {
    pub fn caller(&self, scope: Option<&CredentialScope>) -> Caller {
        Caller {
            account_id: self.account_id.clone(),
            region: scope.map_or_else(|| self.default_region.clone(), |s| s.region.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let s = CredentialScope::from_request(
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-2/chime/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"),
            None,
        )
        .unwrap();
        assert_eq!(s.region, "eu-west-2");
        assert_eq!(s.access_key_id, "AKIDEXAMPLE");
        let q =
            CredentialScope::from_request(None, Some("AK/20150830/us-west-2/chime/aws4_request"))
                .unwrap();
        assert_eq!(q.region, "us-west-2");
        assert!(CredentialScope::from_request(Some("Bearer x"), None).is_none());
        assert!(CredentialScope::parse("AK/2015/US EAST/chime/aws4_request").is_none());
        assert!(CredentialScope::parse("nonsense").is_none());
    }
}
