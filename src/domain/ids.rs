//! Identifiers and secrets: meeting and attendee ids, join tokens, page tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use std::fmt;

use super::error::{Checked, Invalid};
use super::validate;

/// Declares a string newtype with the conversions every id shares.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text itself, moved out.
            pub fn into_string(self) -> String {
                self.0
            }

            /// A value read back from the store, which only holds parsed values.
            pub fn from_stored(raw: String) -> $name {
                $name(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// A meeting id: a GUID (the model's `GuidString`).
    MeetingId
);
string_id!(
    /// An attendee id: a GUID (the model's `GuidString`).
    AttendeeId
);
string_id!(
    /// The account that owns meetings: it comes from the caller's access key.
    AccountId
);
string_id!(
    /// `ExternalUserId`: 2 to 64 characters of the documented set, no reserved prefix.
    ExternalUserId
);

/// `u` in its hyphenated lower-case form (`8f4e2a2c-...`), written without
/// going through a formatter (ids, tokens and request ids are made on every
/// write and every request).
pub fn uuid_text(u: uuid::Uuid) -> String {
    let mut out = String::with_capacity(uuid::fmt::Hyphenated::LENGTH);
    push_uuid(&mut out, u);
    out
}

/// Appends `u` to `out` as [`uuid_text`] writes it.
fn push_uuid(out: &mut String, u: uuid::Uuid) {
    out.push_str(
        u.hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
}

impl MeetingId {
    /// A fresh random (v4) id.
    pub fn generate() -> MeetingId {
        MeetingId(uuid_text(uuid::Uuid::new_v4()))
    }

    /// Parses the member named `member`: a GUID, kept as it was spelled.
    pub fn parse(member: &str, raw: &str) -> Checked<MeetingId> {
        validate::guid(member, raw)?;
        Ok(MeetingId(raw.to_string()))
    }
}

impl AttendeeId {
    /// A fresh random (v4) id.
    pub fn generate() -> AttendeeId {
        AttendeeId(uuid_text(uuid::Uuid::new_v4()))
    }

    /// Parses the member named `member`: a GUID, kept as it was spelled.
    pub fn parse(member: &str, raw: &str) -> Checked<AttendeeId> {
        validate::guid(member, raw)?;
        Ok(AttendeeId(raw.to_string()))
    }
}

impl AccountId {
    /// An account id from configuration (credentials are checked when loaded).
    pub fn new(raw: impl Into<String>) -> AccountId {
        AccountId(raw.into())
    }
}

impl ExternalUserId {
    pub fn parse(member: &str, raw: &str) -> Checked<ExternalUserId> {
        validate::external_id(member, raw)?;
        Ok(ExternalUserId(raw.to_string()))
    }
}

/// A join token: the credential an attendee's client presents to the media
/// plane. `Debug` and `Display` never show it; [`JoinToken::expose`] does,
/// for the one place that must (the operation's answer) and for comparison.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken(String);

impl JoinToken {
    /// A new token: base64url (no padding) of `<AttendeeId>:<128 random bits as a GUID>`,
    /// the same shape as the real service's tokens. The random part comes from rand's
    /// `ThreadRng` (ChaCha12, a CSPRNG seeded and reseeded from the operating system's,
    /// without a system call per token), so the token carries 128 bits that nobody can
    /// guess, and the attendee id in it makes it unique to one attendee.
    pub fn generate(attendee_id: &AttendeeId) -> JoinToken {
        let mut secret = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut secret);
        let mut plain = String::with_capacity(73);
        plain.push_str(attendee_id.as_str());
        plain.push(':');
        push_uuid(&mut plain, uuid::Uuid::from_bytes(secret));
        JoinToken(URL_SAFE_NO_PAD.encode(plain))
    }

    /// A token read back from the store, or presented by a client.
    pub fn from_stored(raw: String) -> JoinToken {
        JoinToken(raw)
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret itself, moved out (for the answer that carries it).
    pub fn into_exposed(self) -> String {
        self.0
    }

    /// Compares with a presented token in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinToken(<redacted>)")
    }
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
    pub fn verify(&self, meeting_id: &str, token: &str) -> Checked<i64> {
        let invalid =
            || Invalid::new("Invalid value for NextToken: the token is not valid for this request");
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
        let id = AttendeeId::parse("AttendeeId", "582e3b1f-115a-8024-a8dc-b3257e3e4856").unwrap();
        let (a, b) = (JoinToken::generate(&id), JoinToken::generate(&id));
        assert_ne!(a, b);
        assert!(a.matches(a.expose()) && !a.matches(b.expose()));
        assert_eq!(format!("{a:?}"), "JoinToken(<redacted>)");
        assert!(!format!("{:?}", Some(&a)).contains(a.expose()));
        let a = a.expose().to_string();
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(&a).unwrap()).unwrap();
        let secret = decoded
            .strip_prefix("582e3b1f-115a-8024-a8dc-b3257e3e4856:")
            .unwrap();
        assert!(validate::guid("secret", secret).is_ok(), "{secret}");
        assert_eq!(secret, secret.to_lowercase());
    }

    #[test]
    fn uuids_are_written_as_their_display_writes_them() {
        for u in [uuid::Uuid::nil(), uuid::Uuid::max(), uuid::Uuid::new_v4()] {
            assert_eq!(uuid_text(u), u.to_string());
        }
        let (m, a) = (MeetingId::generate(), AttendeeId::generate());
        assert!(MeetingId::parse("MeetingId", m.as_str()).is_ok());
        assert!(AttendeeId::parse("AttendeeId", a.as_str()).is_ok());
    }

    #[test]
    fn ids_parse_once() {
        assert!(MeetingId::parse("MeetingId", "not-a-guid").is_err());
        let m = MeetingId::parse("MeetingId", "582E3B1F-115a-8024-a8dc-b3257e3e4856").unwrap();
        assert_eq!(m.as_str(), "582E3B1F-115a-8024-a8dc-b3257e3e4856");
        assert!(ExternalUserId::parse("ExternalUserId", "a").is_err());
        assert!(ExternalUserId::parse("ExternalUserId", "aws:x").is_err());
        assert_eq!(
            ExternalUserId::parse("ExternalUserId", "alice").unwrap(),
            "alice"
        );
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
