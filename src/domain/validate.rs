//! Every member constraint of the API, in one place.
//!
//! Each check takes the member's path (for example `Attendees[2].ExternalUserId`)
//! so that the BadRequestException it returns names the member at fault.
//!
//! Patterns in the service model are ECMA-262 expressions without implicit
//! anchors; we read them the way the service applies them, as whole-value
//! matches. Lengths count Unicode scalar values.

use super::error::{Checked, Invalid};
use super::types::{
    Capabilities, ContentResolution, MediaCapability, MeetingFeatures, VideoResolution,
};

/// The media regions a meeting may be hosted in (the model's documented list).
pub const MEDIA_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "us-gov-east-1",
    "us-gov-west-1",
];

fn bad(member: &str, what: impl std::fmt::Display) -> Invalid {
    Invalid::new(format!("Invalid value for {member}: {what}"))
}

/// Checks a length (in characters) against the model's min/max.
pub fn length(member: &str, value: &str, min: usize, max: usize) -> Checked<()> {
    let n = value.chars().count();
    if n < min {
        return Err(bad(
            member,
            format_args!("must be at least {min} characters long (got {n})"),
        ));
    }
    if n > max {
        return Err(bad(
            member,
            format_args!("must be at most {max} characters long (got {n})"),
        ));
    }
    Ok(())
}

/// Checks an element count of a list.
pub fn count(member: &str, n: usize, min: usize, max: usize) -> Checked<()> {
    if n < min || n > max {
        return Err(bad(
            member,
            format_args!("must hold {min} to {max} items (got {n})"),
        ));
    }
    Ok(())
}

fn chars_allowed(
    member: &str,
    value: &str,
    allowed: impl Fn(char) -> bool,
    described: &str,
) -> Checked<()> {
    match value.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(bad(
            member,
            format_args!("character {c:?} is not allowed; allowed: {described}"),
        )),
    }
}

fn reserved_prefix(member: &str, value: &str) -> Checked<()> {
    if value.len() >= 4 && value.as_bytes()[..4].eq_ignore_ascii_case(b"aws:") {
        return Err(bad(member, "values beginning with \"aws:\" are reserved"));
    }
    Ok(())
}

/// `GuidString`: 8-4-4-4-12 hexadecimal digits, nothing around them.
pub fn is_guid(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

pub fn guid(member: &str, value: &str) -> Checked<()> {
    if is_guid(value) {
        Ok(())
    } else {
        Err(bad(
            member,
            "must be a GUID such as 01234567-89ab-cdef-0123-456789abcdef",
        ))
    }
}

/// Characters the documentation allows in external ids:
/// `[-_&@+=,(){}\[\]\/«».:|'"#a-zA-Z0-9À-ÿ\s]`.
fn external_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "-_&@+=,(){}[]/«».:|'\"#".contains(c)
        || ('\u{C0}'..='\u{FF}').contains(&c)
        || c.is_whitespace()
}

const EXTERNAL_ID_CHARS: &str = "letters, digits, À-ÿ, white space and -_&@+=,(){}[]/«».:|'\"#";

/// ExternalUserId, ExternalMeetingId and MeetingHostId.
pub fn external_id(member: &str, value: &str) -> Checked<()> {
    length(member, value, 2, 64)?;
    chars_allowed(member, value, external_id_char, EXTERNAL_ID_CHARS)?;
    reserved_prefix(member, value)
}

/// `ClientRequestToken`: 2..64 of `[-_a-zA-Z0-9]`.
pub fn client_request_token(member: &str, value: &str) -> Checked<()> {
    length(member, value, 2, 64)?;
    chars_allowed(
        member,
        value,
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
        "letters, digits, - and _",
    )
}

pub fn media_region(member: &str, value: &str) -> Checked<()> {
    length(member, value, 2, 64)?;
    if MEDIA_REGIONS.contains(&value) {
        Ok(())
    } else {
        Err(bad(
            member,
            format_args!(
                "{value:?} is not a media region; use one of {}",
                MEDIA_REGIONS.join(", ")
            ),
        ))
    }
}

/// `PrimaryMeetingId`: 2..64 characters; a meeting id, so a GUID.
pub fn primary_meeting_id(member: &str, value: &str) -> Checked<()> {
    length(member, value, 2, 64)?;
    guid(member, value)
}

/// `TenantId`: 2..256 of `[-_!@#$a-zA-Z0-9]`, and no character four or more times in a row.
pub fn tenant_id(member: &str, value: &str) -> Checked<()> {
    length(member, value, 2, 256)?;
    chars_allowed(
        member,
        value,
        |c| c.is_ascii_alphanumeric() || "-_!@#$".contains(c),
        "letters, digits and -_!@#$",
    )?;
    let mut run = 0;
    let mut prev = None;
    for c in value.chars() {
        run = if Some(c) == prev { run + 1 } else { 1 };
        prev = Some(c);
        if run >= 4 {
            return Err(bad(
                member,
                format_args!("no character may repeat four or more times in a row ({c:?} does)"),
            ));
        }
    }
    Ok(())
}

/// `Arn` of a notification target: 1..1024, `^arn[\/\:\-\_\.a-zA-Z0-9]+$`.
pub fn notification_arn(member: &str, value: &str) -> Checked<()> {
    length(member, value, 1, 1024)?;
    let ok = value.starts_with("arn")
        && value.len() > 3
        && value[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/:-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(
            member,
            "must be an ARN (\"arn\" followed by letters, digits and /:-_.)",
        ))
    }
}

/// `AmazonResourceName`: 1..1011, beginning with `arn:`.
pub fn resource_arn(member: &str, value: &str) -> Checked<()> {
    length(member, value, 1, 1011)?;
    if value.starts_with("arn:") {
        Ok(())
    } else {
        Err(bad(member, "must be an ARN beginning with \"arn:\""))
    }
}

/// The character class `+-=` of the tag patterns is the range U+002B..U+003D.
fn in_plus_to_equals(c: char) -> bool {
    ('+'..='=').contains(&c)
}

/// `TagKey`: 1..128 of `[a-zA-Z+-=._:/]`, not beginning with `aws:`.
pub fn tag_key(member: &str, value: &str) -> Checked<()> {
    length(member, value, 1, 128)?;
    chars_allowed(
        member,
        value,
        |c| c.is_ascii_alphabetic() || in_plus_to_equals(c) || "._:/".contains(c),
        "letters, digits and +,-./:;<=_",
    )?;
    reserved_prefix(member, value)
}

/// `TagValue`: 0..256 of `[\s\w+-=\.:/@]`.
pub fn tag_value(member: &str, value: &str) -> Checked<()> {
    length(member, value, 0, 256)?;
    chars_allowed(
        member,
        value,
        |c| {
            c.is_whitespace()
                || c.is_alphanumeric()
                || c == '_'
                || in_plus_to_equals(c)
                || ".:/@".contains(c)
        },
        "letters, digits, white space and _+,-./:;<=@",
    )
}

/// Checks a value against the values of one of the model's enums, given in
/// the model's order (the order the message lists them in).
pub fn one_of(member: &str, value: &str, allowed: &[&str]) -> Checked<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(bad(
            member,
            format_args!("{value:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// Checks an integer against the model's range, both ends included.
pub fn within(member: &str, value: i64, min: i64, max: i64) -> Checked<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(bad(
            member,
            format_args!("must be between {min} and {max} (got {value})"),
        ))
    }
}

/// An integer of a range within 0..=u32::MAX, as a `u32`.
fn within_u32(member: &str, value: i64, min: u32, max: u32) -> Checked<u32> {
    within(member, value, i64::from(min), i64::from(max))?;
    u32::try_from(value).map_err(|_| bad(member, format_args!("out of range (got {value})")))
}

/// The attendee limit of `MeetingFeatures.Attendee.MaxCount` (`AttendeeMax`).
pub fn attendee_max(member: &str, value: i64) -> Checked<u32> {
    within_u32(member, value, 1, 250)
}

/// `MaxResults` of ListAttendees (`ResultMax`).
pub fn result_max(member: &str, value: i64) -> Checked<u32> {
    within_u32(member, value, 1, 100)
}

/// Checks requested capabilities against each other and against the meeting's features.
pub fn capabilities(member: &str, caps: Capabilities, features: &MeetingFeatures) -> Checked<()> {
    if features.video_resolution() == VideoResolution::None && caps.video.is_enabled() {
        return Err(Invalid::new(format!(
            "Invalid value for {member}.Video: the meeting's MeetingFeatures.Video.MaxResolution is None, so Video must be None (got {})",
            caps.video.as_str()
        )));
    }
    if features.content_resolution() == ContentResolution::None && caps.content.is_enabled() {
        return Err(Invalid::new(format!(
            "Invalid value for {member}.Content: the meeting's MeetingFeatures.Content.MaxResolution is None, so Content must be None (got {})",
            caps.content.as_str()
        )));
    }
    if caps.content.receives() && !caps.video.receives() {
        return Err(Invalid::new(format!(
            "Invalid value for {member}: Content {} requires Video SendReceive or Receive (got Video {})",
            caps.content.as_str(),
            caps.video.as_str()
        )));
    }
    Ok(())
}

/// The capabilities an attendee gets when the request names none.
pub fn default_capabilities(features: &MeetingFeatures) -> Capabilities {
    let video_off = features.video_resolution() == VideoResolution::None;
    let content_off = features.content_resolution() == ContentResolution::None;
    match (video_off, content_off) {
        (false, false) => Capabilities::ALL,
        (false, true) => Capabilities {
            content: MediaCapability::None,
            ..Capabilities::ALL
        },
        // Content sharing needs video receive; the service documents this default.
        (true, false) => Capabilities {
            video: MediaCapability::Receive,
            ..Capabilities::ALL
        },
        (true, true) => Capabilities {
            video: MediaCapability::None,
            content: MediaCapability::None,
            ..Capabilities::ALL
        },
    }
}

/// Requested capabilities, checked, or the defaults for the meeting.
pub fn resolve_capabilities(
    member: &str,
    requested: Option<Capabilities>,
    features: &MeetingFeatures,
) -> Checked<Capabilities> {
    match requested {
        Some(caps) => capabilities(member, caps, features).map(|()| caps),
        None => Ok(default_capabilities(features)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_shape() {
        assert!(is_guid("01234567-89ab-cdef-0123-456789ABCDEF"));
        assert!(!is_guid("01234567-89ab-cdef-0123-456789abcdeg"));
        assert!(!is_guid("x01234567-89ab-cdef-0123-456789abcdef"));
        assert!(!is_guid("0123456789ab-cdef-0123-456789abcdef-"));
        assert!(!is_guid(""));
    }

    #[test]
    fn external_ids() {
        assert!(external_id("X", "ab").is_ok());
        assert!(external_id("X", "a").is_err());
        assert!(external_id("X", &"a".repeat(64)).is_ok());
        assert!(external_id("X", &"a".repeat(65)).is_err());
        assert!(external_id("X", "AWS:foo").is_err());
        assert!(external_id("X", "aws:").is_err());
        assert!(external_id("X", "awsfoo").is_ok());
        assert!(external_id("X", "José «x» [1] {2} (3) a@b.c|d'e\"f#g").is_ok());
        assert!(external_id("X", "bad*star").is_err());
        assert!(external_id("X", "tab\tok").is_ok());
        let e = external_id("Attendees[3].ExternalUserId", "a").unwrap_err();
        assert!(e.message.contains("Attendees[3].ExternalUserId"));
    }

    #[test]
    fn tokens_and_regions() {
        assert!(client_request_token("T", "a-_Z9").is_ok());
        assert!(client_request_token("T", "a b").is_err());
        assert!(client_request_token("T", "a").is_err());
        assert!(media_region("M", "us-gov-west-1").is_ok());
        assert!(media_region("M", "il-central-1").is_err());
    }

    #[test]
    fn tenant_ids() {
        assert!(tenant_id("T", "aaab").is_ok());
        assert!(tenant_id("T", "aaaab").is_err());
        assert!(tenant_id("T", "a!@#$_-b").is_ok());
        assert!(tenant_id("T", "a b").is_err());
        assert!(tenant_id("T", "a").is_err());
        assert!(tenant_id("T", &"ab".repeat(128)).is_ok());
        assert!(tenant_id("T", &"ab".repeat(129)).is_err());
    }

    #[test]
    fn tags() {
        assert!(tag_key("K", "a+b,c-d.e/f0:g;h<i=j_k").is_ok());
        assert!(tag_key("K", "a>b").is_err());
        assert!(tag_key("K", "AWS:x").is_err());
        assert!(tag_key("K", "").is_err());
        assert!(tag_value("V", "").is_ok());
        assert!(tag_value("V", "héllo wörld @ 1.2:3/4").is_ok());
        assert!(tag_value("V", "a>b").is_err());
    }

    #[test]
    fn arns() {
        assert!(notification_arn("A", "arn:aws:sqs:us-east-1:111122223333:q").is_ok());
        assert!(notification_arn("A", "arn").is_err());
        assert!(notification_arn("A", "arn:aws:sqs:us-east-1:1:q q").is_err());
        assert!(resource_arn("A", "arn:x").is_ok());
        assert!(resource_arn("A", "nope").is_err());
    }

    #[test]
    fn capability_rules() {
        let f = MeetingFeatures::default();
        use MediaCapability::*;
        let c = |a, v, ct| Capabilities {
            audio: a,
            video: v,
            content: ct,
        };
        assert!(capabilities("C", c(SendReceive, None, SendReceive), &f).is_err());
        assert!(capabilities("C", c(SendReceive, Send, Receive), &f).is_err());
        assert!(capabilities("C", c(SendReceive, Receive, SendReceive), &f).is_ok());
        assert!(capabilities("C", c(SendReceive, Receive, None), &f).is_ok());
        assert!(capabilities("C", c(None, None, Send), &f).is_ok());

        let no_video: MeetingFeatures =
            serde_json::from_str(r#"{"Video":{"MaxResolution":"None"}}"#).unwrap();
        assert!(capabilities("C", c(SendReceive, Send, None), &no_video).is_err());
        assert!(capabilities("C", c(SendReceive, None, Send), &no_video).is_ok());
        assert_eq!(
            default_capabilities(&no_video),
            c(SendReceive, Receive, SendReceive)
        );
        let nothing: MeetingFeatures = serde_json::from_str(
            r#"{"Video":{"MaxResolution":"None"},"Content":{"MaxResolution":"None"}}"#,
        )
        .unwrap();
        assert_eq!(default_capabilities(&nothing), c(SendReceive, None, None));
    }

    #[test]
    fn attendee_limits() {
        let f: MeetingFeatures =
            serde_json::from_str(r#"{"Video":{"MaxResolution":"FHD"}}"#).unwrap();
        assert_eq!(f.attendee_limit(), 25);
        let f: MeetingFeatures = serde_json::from_str(r#"{"Attendee":{"MaxCount":3}}"#).unwrap();
        assert_eq!(f.attendee_limit(), 3);
        assert_eq!(MeetingFeatures::default().attendee_limit(), 250);
    }
}
