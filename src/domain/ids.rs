//! Identifiers and secrets: meeting and attendee ids, join tokens, page tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::error::{ApiError, ApiResult};

pub fn new_meeting_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn new_attendee_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A join token: base64url (no padding) of `<AttendeeId>:<128 random bits as a GUID>`,
/// the same shape as the real service's tokens. The random part comes from the
/// operating system's CSPRNG, so the token carries 128 bits that nobody can guess,
/// and the attendee id in it makes it unique to one attendee.
pub fn new_join_token(attendee_id: &str) -> String {
    let mut secret = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let s = uuid::Uuid::from_bytes(secret).to_string();
    URL_SAFE_NO_PAD.encode(format!("{attendee_id}:{s}"))
}

/// Signs and checks the opaque `NextToken` of ListAttendees.
///
/// A token names the meeting it belongs to and the roster position after which
/// the next page starts; an HMAC-SHA256 over both makes any change detectable.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

type HmacSha256 = Hmac<Sha256>;

impl PageTokens {
    pub fn new(key: Vec<u8>) -> Self {
        PageTokens { key }
    }

    fn mac(&self, body: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"convene/list-attendees/v1\0");
        mac.update(body.as_bytes());
        mac
    }

    pub fn issue(&self, meeting_id: &str, after_seq: i64) -> String {
        let body = format!("{meeting_id}/{after_seq}");
        let tag = self.mac(&body).finalize().into_bytes();
        let mut raw = body.into_bytes();
        raw.push(b'.');
        raw.extend_from_slice(&tag[..16]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position a token continues after, if the token is one we issued for this meeting.
    pub fn verify(&self, meeting_id: &str, token: &str) -> ApiResult<i64> {
        let invalid = || {
            ApiError::bad_request(
                "Invalid value for NextToken: the token is not valid for this request",
            )
        };
        let raw = URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| invalid())?;
        if raw.len() < 17 || raw[raw.len() - 17] != b'.' {
            return Err(invalid());
        }
        let (body, rest) = raw.split_at(raw.len() - 17);
        let tag = &rest[1..];
        self.mac(std::str::from_utf8(body).map_err(|_| invalid())?)
            .verify_truncated_left(tag)
            .map_err(|_| invalid())?;
        let body = std::str::from_utf8(body).map_err(|_| invalid())?;
        let (mid, seq) = body.rsplit_once('/').ok_or_else(invalid)?;
        if mid != meeting_id {
            return Err(invalid());
        }
        seq.parse().map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_tokens_are_unique_and_url_safe() {
        let a = new_join_token("582e3b1f-115a-8024-a8dc-b3257e3e4856");
        let b = new_join_token("582e3b1f-115a-8024-a8dc-b3257e3e4856");
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(&a).unwrap()).unwrap();
        assert!(decoded.starts_with("582e3b1f-115a-8024-a8dc-b3257e3e4856:"));
    }

    #[test]
    fn page_tokens_are_tamper_evident() {
        let t = PageTokens::new(b"k".to_vec());
        let tok = t.issue("m1", 42);
        assert_eq!(t.verify("m1", &tok).unwrap(), 42);
        assert!(t.verify("m2", &tok).is_err());
        assert!(t.verify("m1", "garbage").is_err());
        assert!(t.verify("m1", "").is_err());
        let mut bytes = tok.into_bytes();
        bytes[3] ^= 1;
        let forged = String::from_utf8(bytes).unwrap();
        assert!(t.verify("m1", &forged).is_err());
        let other = PageTokens::new(b"other".to_vec()).issue("m1", 42);
        assert!(t.verify("m1", &other).is_err());
    }
}
