//! Every input member of all sixteen operations against its constraints.
//!
//! The table below is built in Rust: for each operation a valid base request,
//! then one case per (member, value): the value just inside each bound must be
//! accepted with the operation's modeled success code, the value just outside
//! must be a BadRequestException (HTTP 400) whose message names the member
//! (`MeetingFeatures.Attendee.MaxCount`, `Attendees[0].ExternalUserId`,
//! `TagKeys[0]`, the query members as MaxResults / NextToken / ResourceARN).
//!
//! Some cases hold the model's quirks on purpose: the `+-=` in the tag
//! character classes is the range U+002B..U+003D (digits, `,`, `;`, `<` are
//! allowed, `>` is not); a TenantId may not repeat a character four times in a
//! row; patterns are read as whole-value matches; the `aws:` prefix is reserved
//! in any letter case; lengths count characters, not bytes.
//!
//! Cases the server currently gets wrong are named in `KNOWN_SERVER_BUGS`: they
//! still run, their failures are printed but do not fail the test, and a known
//! bug that starts passing fails the test so that it is removed from the list.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use common::{new_token, Server};
use serde_json::{json, Value};

/// Cases the server gets wrong today (ids as printed by [`Case::id`]).
/// Remove an entry once the server is fixed; the test insists on it.
const KNOWN_SERVER_BUGS: &[&str] = &[];

// ---------------------------------------------------------------------------
// Operations and requests
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    CreateMeeting,
    CreateMeetingWithAttendees,
    GetMeeting,
    DeleteMeeting,
    CreateAttendee,
    BatchCreateAttendee,
    GetAttendee,
    ListAttendees,
    DeleteAttendee,
    UpdateAttendeeCapabilities,
    BatchUpdateAttendeeCapabilitiesExcept,
    StartMeetingTranscription,
    StopMeetingTranscription,
    TagResource,
    UntagResource,
    ListTagsForResource,
}

const ALL_OPS: [Op; 16] = [
    Op::CreateMeeting,
    Op::CreateMeetingWithAttendees,
    Op::GetMeeting,
    Op::DeleteMeeting,
    Op::CreateAttendee,
    Op::BatchCreateAttendee,
    Op::GetAttendee,
    Op::ListAttendees,
    Op::DeleteAttendee,
    Op::UpdateAttendeeCapabilities,
    Op::BatchUpdateAttendeeCapabilitiesExcept,
    Op::StartMeetingTranscription,
    Op::StopMeetingTranscription,
    Op::TagResource,
    Op::UntagResource,
    Op::ListTagsForResource,
];

impl Op {
    /// The modeled success status.
    fn success(self) -> u16 {
        match self {
            Op::DeleteMeeting | Op::DeleteAttendee | Op::TagResource | Op::UntagResource => 204,
            _ => 200,
        }
    }

    fn needs_meeting(self) -> bool {
        !matches!(self, Op::CreateMeeting | Op::CreateMeetingWithAttendees)
    }

    fn needs_attendee(self) -> bool {
        matches!(
            self,
            Op::GetAttendee
                | Op::DeleteAttendee
                | Op::UpdateAttendeeCapabilities
                | Op::BatchUpdateAttendeeCapabilitiesExcept
        )
    }

    /// The query parameter a query-bound member travels in.
    fn query_name(self, member: &str) -> Option<&'static str> {
        match (self, member) {
            (Op::ListAttendees, "MaxResults") => Some("max-results"),
            (Op::ListAttendees, "NextToken") => Some("next-token"),
            (Op::ListTagsForResource, "ResourceARN") => Some("arn"),
            _ => None,
        }
    }

    /// A valid request body (`None` for operations without body members).
    /// Strings may hold placeholders, see [`Ctx::fill`].
    fn base_body(self) -> Option<Value> {
        let meeting = || {
            json!({
                "ClientRequestToken": new_token(),
                "MediaRegion": "us-east-1",
                "ExternalMeetingId": "ext-meeting",
            })
        };
        Some(match self {
            Op::CreateMeeting => meeting(),
            Op::CreateMeetingWithAttendees => {
                let mut b = meeting();
                b["Attendees"] = json!([{ "ExternalUserId": "base-user" }]);
                b
            }
            Op::CreateAttendee => json!({ "ExternalUserId": "user-1" }),
            Op::BatchCreateAttendee => json!({ "Attendees": [{ "ExternalUserId": "user-1" }] }),
            Op::UpdateAttendeeCapabilities => json!({ "Capabilities": all_send_receive() }),
            Op::BatchUpdateAttendeeCapabilitiesExcept => json!({
                "ExcludedAttendeeIds": [{ "AttendeeId": "{attendee}" }],
                "Capabilities": all_send_receive(),
            }),
            Op::StartMeetingTranscription => json!({
                "TranscriptionConfiguration": { "EngineTranscribeSettings": { "LanguageCode": "en-US" } }
            }),
            Op::TagResource => {
                json!({ "ResourceARN": "{arn}", "Tags": [{ "Key": "k", "Value": "v" }] })
            }
            Op::UntagResource => json!({ "ResourceARN": "{arn}", "TagKeys": ["k"] }),
            _ => return None,
        })
    }

    fn base_query(self) -> Vec<(String, String)> {
        match self {
            Op::ListTagsForResource => vec![("arn".into(), "{arn}".into())],
            _ => vec![],
        }
    }

    fn method_and_path(self, m: &str, a: &str) -> (&'static str, String) {
        let m = pct(m);
        let a = pct(a);
        match self {
            Op::CreateMeeting => ("POST", "/meetings".into()),
            Op::CreateMeetingWithAttendees => {
                ("POST", "/meetings?operation=create-attendees".into())
            }
            Op::GetMeeting => ("GET", format!("/meetings/{m}")),
            Op::DeleteMeeting => ("DELETE", format!("/meetings/{m}")),
            Op::CreateAttendee => ("POST", format!("/meetings/{m}/attendees")),
            Op::BatchCreateAttendee => (
                "POST",
                format!("/meetings/{m}/attendees?operation=batch-create"),
            ),
            Op::GetAttendee => ("GET", format!("/meetings/{m}/attendees/{a}")),
            Op::ListAttendees => ("GET", format!("/meetings/{m}/attendees")),
            Op::DeleteAttendee => ("DELETE", format!("/meetings/{m}/attendees/{a}")),
            Op::UpdateAttendeeCapabilities => {
                ("PUT", format!("/meetings/{m}/attendees/{a}/capabilities"))
            }
            Op::BatchUpdateAttendeeCapabilitiesExcept => (
                "PUT",
                format!("/meetings/{m}/attendees/capabilities?operation=batch-update-except"),
            ),
            Op::StartMeetingTranscription => (
                "POST",
                format!("/meetings/{m}/transcription?operation=start"),
            ),
            Op::StopMeetingTranscription => (
                "POST",
                format!("/meetings/{m}/transcription?operation=stop"),
            ),
            Op::TagResource => ("POST", "/tags?operation=tag-resource".into()),
            Op::UntagResource => ("POST", "/tags?operation=untag-resource".into()),
            Op::ListTagsForResource => ("GET", "/tags".into()),
        }
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn all_send_receive() -> Value {
    json!({ "Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive" })
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// What a case does to a member.
#[derive(Clone, Debug)]
enum Set {
    To(Value),
    Absent,
}

#[derive(Clone, Debug)]
enum Expect {
    /// The modeled success code (and, for batch creates, no per-item errors).
    Ok,
    /// 400 BadRequestException whose Message names the member.
    Bad,
    /// Batch creates: the request succeeds, and the item is reported in
    /// `Errors` with an ErrorMessage naming the member (the documented
    /// per-item rules: characters, reserved prefix, capability rules).
    ItemError,
    /// The value passes validation but the request fails for another reason
    /// (for example a well-formed id of a meeting that does not exist).
    Status(u16, &'static str),
}

#[derive(Clone, Debug)]
struct Case {
    op: Op,
    /// The member under test: a path in the body, a URI label or a query member.
    member: String,
    value: Set,
    /// Other members the case needs set first (context, not under test).
    with: Vec<(String, Set)>,
    expect: Expect,
}

fn describe(v: &Set) -> String {
    match v {
        Set::Absent => "<absent>".into(),
        Set::To(Value::String(s)) => {
            let n = s.chars().count();
            if n > 24 {
                let head: String = s.chars().take(12).collect();
                let tail: String = s.chars().skip(n - 8).collect();
                format!("{head:?}…{tail:?}({n} chars)")
            } else {
                format!("{s:?}")
            }
        }
        Set::To(Value::Array(a)) if a.len() > 2 => format!("[{} items]", a.len()),
        Set::To(other) => {
            let t = other.to_string();
            if t.chars().count() > 60 {
                format!("{}…", t.chars().take(60).collect::<String>())
            } else {
                t
            }
        }
    }
}

impl Case {
    fn id(&self) -> String {
        let mut id = format!("{:?} {} = {}", self.op, self.member, describe(&self.value));
        for (m, v) in &self.with {
            id.push_str(&format!(" [{m}={}]", describe(v)));
        }
        id
    }
}

#[derive(Default)]
struct Table {
    cases: Vec<Case>,
}

impl Table {
    fn push(&mut self, op: Op, member: &str, value: Set, with: &[(&str, Set)], expect: Expect) {
        self.cases.push(Case {
            op,
            member: member.to_string(),
            value,
            with: with
                .iter()
                .map(|(m, v)| (m.to_string(), v.clone()))
                .collect(),
            expect,
        });
    }
    fn ok(&mut self, op: Op, member: &str, v: impl Into<Value>) {
        self.push(op, member, Set::To(v.into()), &[], Expect::Ok);
    }
    fn bad(&mut self, op: Op, member: &str, v: impl Into<Value>) {
        self.push(op, member, Set::To(v.into()), &[], Expect::Bad);
    }
    fn ok_with(&mut self, op: Op, member: &str, v: impl Into<Value>, with: &[(&str, Set)]) {
        self.push(op, member, Set::To(v.into()), with, Expect::Ok);
    }
    fn bad_with(&mut self, op: Op, member: &str, v: impl Into<Value>, with: &[(&str, Set)]) {
        self.push(op, member, Set::To(v.into()), with, Expect::Bad);
    }
    fn item_error(&mut self, op: Op, member: &str, v: impl Into<Value>) {
        self.push(op, member, Set::To(v.into()), &[], Expect::ItemError);
    }
    fn missing(&mut self, op: Op, member: &str) {
        self.push(op, member, Set::Absent, &[], Expect::Bad);
    }
    fn missing_with(&mut self, op: Op, member: &str, with: &[(&str, Set)]) {
        self.push(op, member, Set::Absent, with, Expect::Bad);
    }
    fn status(&mut self, op: Op, member: &str, v: impl Into<Value>, code: u16, ty: &'static str) {
        self.push(op, member, Set::To(v.into()), &[], Expect::Status(code, ty));
    }
}

fn rep(s: &str, n: usize) -> String {
    s.repeat(n)
}

fn to(v: impl Into<Value>) -> Set {
    Set::To(v.into())
}

const MEDIA_CAPABILITIES: [&str; 4] = ["SendReceive", "Send", "Receive", "None"];
const MEDIA_REGIONS: [&str; 20] = [
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
const LANGUAGE_CODES: [&str; 14] = [
    "en-US", "en-GB", "es-US", "fr-CA", "fr-FR", "en-AU", "it-IT", "de-DE", "pt-BR", "ja-JP",
    "ko-KR", "zh-CN", "th-TH", "hi-IN",
];
const TRANSCRIBE_REGIONS: [&str; 13] = [
    "us-east-2",
    "us-east-1",
    "us-west-2",
    "ap-northeast-2",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "sa-east-1",
    "auto",
    "us-gov-west-1",
];
const MEDICAL_REGIONS: [&str; 7] = [
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ap-southeast-2",
    "ca-central-1",
    "eu-west-1",
    "auto",
];
const MEDICAL_SPECIALTIES: [&str; 6] = [
    "PRIMARYCARE",
    "CARDIOLOGY",
    "NEUROLOGY",
    "ONCOLOGY",
    "RADIOLOGY",
    "UROLOGY",
];

/// A well-formed GUID that names no meeting or attendee.
const UNKNOWN_GUID: &str = "0f0f0f0f-1111-2222-3333-444455556666";
const UNKNOWN_GUID_UPPER: &str = "ABCDEF01-2345-6789-ABCD-EF0123456789";

/// Cases for a GuidString URI label (MeetingId or AttendeeId).
fn guid_label(t: &mut Table, op: Op, member: &str, own: &str, not_found: &'static str) {
    t.ok(op, member, own);
    // Empty label: the member is missing.
    t.bad(op, member, "");
    t.bad(op, member, "not-a-guid");
    t.bad(op, member, format!("{own}0"));
    t.bad(op, member, format!("0{own}"));
    t.bad(op, member, "0123456g-89ab-cdef-0123-456789abcdef");
    t.bad(op, member, "01234567-89ab-cdef-0123-456789abcde");
    t.bad(op, member, "0123456789abcdef0123456789abcdef");
    // Well-formed (upper-case hex is allowed) but unknown: not a validation error.
    t.status(op, member, UNKNOWN_GUID, 404, not_found);
    t.status(op, member, UNKNOWN_GUID_UPPER, 404, not_found);
}

/// ExternalUserId, ExternalMeetingId, MeetingHostId: 2..64 characters,
/// documented character set, `aws:` reserved in any case.
fn external_id(t: &mut Table, op: Op, member: &str, required: bool) {
    if required {
        t.missing(op, member);
    } else {
        t.push(op, member, Set::Absent, &[], Expect::Ok);
    }
    t.ok(op, member, "ab");
    t.ok(op, member, rep("x", 64));
    // Lengths count characters: 64 two-byte characters fit.
    t.ok(op, member, rep("é", 64));
    t.ok(
        op,
        member,
        "José «x» [1] {2} (3) a@b.c|d'e\"f#g+h=i,j&k_l-m",
    );
    t.ok(op, member, "awsx");
    t.ok(op, member, "my aws:thing");
    t.bad(op, member, "a");
    t.bad(op, member, "");
    t.bad(op, member, rep("x", 65));
    t.bad(op, member, rep("é", 65));
    t.bad(op, member, "aws:");
    t.bad(op, member, "aws:x");
    t.bad(op, member, "AWS:x");
    t.bad(op, member, "Aws:x");
    t.bad(op, member, "bad*star");
    t.bad(op, member, "semi;colon");
    t.bad(op, member, 42);
}

/// AttendeeCapabilities at `prefix` (`Capabilities` or `Attendees[0].Capabilities`).
fn capabilities(t: &mut Table, op: Op, prefix: &str, in_base: bool) {
    let full = [(prefix, to(all_send_receive()))];
    let ctx: &[(&str, Set)] = if in_base { &[] } else { &full };
    let m = |k: &str| format!("{prefix}.{k}");
    for v in MEDIA_CAPABILITIES {
        t.ok_with(op, &m("Audio"), v, ctx);
        // Content SendReceive needs Video that receives; keep Content None here.
        let mut w: Vec<(&str, Set)> = ctx.to_vec();
        let content = m("Content");
        w.push((&content, to("None")));
        t.ok_with(op, &m("Video"), v, &w);
        t.ok_with(op, &m("Content"), v, ctx);
    }
    for k in ["Audio", "Video", "Content"] {
        t.missing_with(op, &m(k), ctx);
        t.bad_with(op, &m(k), "sendreceive", ctx);
        t.bad_with(op, &m(k), "Both", ctx);
        t.bad_with(op, &m(k), "", ctx);
        t.bad_with(op, &m(k), 1, ctx);
    }
    t.bad(op, prefix, "SendReceive");
}

/// The tag list of CreateMeeting, CreateMeetingWithAttendees and TagResource.
fn tags(t: &mut Table, op: Op, required: bool) {
    if required {
        t.missing(op, "Tags");
    } else {
        t.push(op, "Tags", Set::Absent, &[], Expect::Ok);
    }
    let list = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({ "Key": format!("key{i}"), "Value": format!("value{i}") }))
                .collect(),
        )
    };
    t.ok(op, "Tags", list(0));
    t.ok(op, "Tags", list(1));
    t.ok(op, "Tags", list(50));
    t.bad(op, "Tags", list(51));
    t.bad(op, "Tags", json!({ "Key": "k", "Value": "v" }));
    t.bad(op, "Tags[0]", "k=v");

    let base = [("Tags", to(json!([{ "Key": "k", "Value": "v" }])))];
    let w: &[(&str, Set)] = &base;
    let key = "Tags[0].Key";
    t.missing_with(op, key, w);
    t.ok_with(op, key, "a", w);
    t.ok_with(op, key, rep("k", 128), w);
    // `+-=` is the range U+002B..U+003D: + , - . / 0-9 : ; < =
    t.ok_with(op, key, "a+b,c-d.e/f0:g;h<i=j_k", w);
    t.ok_with(op, key, "0123456789", w);
    t.ok_with(op, key, "a,b", w);
    t.ok_with(op, key, "a;b", w);
    t.ok_with(op, key, "a<b", w);
    t.ok_with(op, key, "x:aws:y", w);
    t.bad_with(op, key, "", w);
    t.bad_with(op, key, rep("k", 129), w);
    t.bad_with(op, key, "a>b", w);
    t.bad_with(op, key, "a b", w);
    t.bad_with(op, key, "a@b", w);
    t.bad_with(op, key, "a*b", w);
    t.bad_with(op, key, "é", w);
    t.bad_with(op, key, "aws:x", w);
    t.bad_with(op, key, "AWS:x", w);
    t.bad_with(op, key, "aWs:x", w);
    let value = "Tags[0].Value";
    t.missing_with(op, value, w);
    t.ok_with(op, value, "", w);
    t.ok_with(op, value, rep("v", 256), w);
    t.ok_with(op, value, "a+b,c-d.e/f0:g;h<i=j_k @x", w);
    t.ok_with(op, value, "tab\there", w);
    t.bad_with(op, value, rep("v", 257), w);
    t.bad_with(op, value, "a>b", w);
    t.bad_with(op, value, "a*b", w);
    t.bad_with(op, value, "a#b", w);
    t.bad_with(op, value, 5, w);
    // An error in a later element names that element.
    let two = [(
        "Tags",
        to(json!([{ "Key": "k1", "Value": "v" }, { "Key": "k2", "Value": "v" }])),
    )];
    t.bad_with(op, "Tags[1].Key", "a>b", &two);
    t.bad_with(op, "Tags[1].Value", "a>b", &two);
}

/// Members shared by CreateMeeting and CreateMeetingWithAttendees.
fn create_meeting_members(t: &mut Table, op: Op) {
    let m = "ClientRequestToken";
    t.missing(op, m);
    t.ok(op, m, "{token2}");
    t.ok(op, m, "{token64}");
    t.ok(op, m, "{token-_}");
    t.bad(op, m, "a");
    t.bad(op, m, "");
    t.bad(op, m, rep("t", 65));
    t.bad(op, m, "a b");
    t.bad(op, m, "a.b");
    t.bad(op, m, "tok:1");
    t.bad(op, m, "é1");
    t.bad(op, m, 12);

    let m = "MediaRegion";
    t.missing(op, m);
    for r in MEDIA_REGIONS {
        t.ok(op, m, r);
    }
    t.bad(op, m, "x");
    t.bad(op, m, "");
    t.bad(op, m, rep("r", 65));
    t.bad(op, m, "il-central-1");
    t.bad(op, m, "US-EAST-1");
    t.bad(op, m, " us-east-1");

    external_id(t, op, "ExternalMeetingId", true);
    external_id(t, op, "MeetingHostId", false);

    for arn in ["LambdaFunctionArn", "SnsTopicArn", "SqsQueueArn"] {
        let m = format!("NotificationsConfiguration.{arn}");
        let m = m.as_str();
        t.push(op, m, Set::Absent, &[], Expect::Ok);
        t.ok(op, m, "arn:aws:sns:us-east-1:123456789012:topic-1_a.b/c");
        t.ok(op, m, "arnX");
        t.ok(op, m, format!("arn:{}", rep("a", 1020)));
        t.bad(op, m, format!("arn:{}", rep("a", 1021)));
        t.bad(op, m, "");
        t.bad(op, m, "arn");
        t.bad(op, m, "xarn:aws:sns:us-east-1:123456789012:t");
        t.bad(op, m, "arn:aws:sns:us-east-1:123456789012:t t");
        t.bad(op, m, "arn:aws:sns:us-east-1:123456789012:t*");
        t.bad(op, m, "arn:aws:sns:us-east-1:123456789012:t\n");
    }
    t.ok(op, "NotificationsConfiguration", json!({}));
    t.bad(
        op,
        "NotificationsConfiguration",
        "arn:aws:sns:us-east-1:1:t",
    );

    let m = "MeetingFeatures.Audio.EchoReduction";
    t.ok(op, m, "AVAILABLE");
    t.ok(op, m, "UNAVAILABLE");
    t.bad(op, m, "available");
    t.bad(op, m, "ON");
    t.bad(op, m, true);
    let m = "MeetingFeatures.Video.MaxResolution";
    for v in ["None", "HD", "FHD"] {
        t.ok(op, m, v);
    }
    t.bad(op, m, "UHD");
    t.bad(op, m, "hd");
    t.bad(op, m, "");
    let m = "MeetingFeatures.Content.MaxResolution";
    for v in ["None", "FHD", "UHD"] {
        t.ok(op, m, v);
    }
    t.bad(op, m, "HD");
    t.bad(op, m, "uhd");
    let m = "MeetingFeatures.Attendee.MaxCount";
    t.ok(op, m, 1);
    t.ok(op, m, 250);
    t.bad(op, m, 0);
    t.bad(op, m, 251);
    t.bad(op, m, -1);
    t.bad(op, m, "5");
    t.bad(op, m, 1.5);
    t.bad(op, m, json!(4_294_967_297_i64));
    t.ok(op, "MeetingFeatures", json!({}));
    t.bad(op, "MeetingFeatures", "HD");
    t.bad(op, "MeetingFeatures.Video", "HD");

    let m = "PrimaryMeetingId";
    t.push(op, m, Set::Absent, &[], Expect::Ok);
    t.ok(op, m, "{primary}");
    t.bad(op, m, "a");
    t.bad(op, m, "");
    t.bad(op, m, rep("p", 65));

    let m = "TenantIds";
    t.push(op, m, Set::Absent, &[], Expect::Ok);
    t.ok(op, m, json!(["t1"]));
    t.ok(op, m, json!(["t1", "t2", "t3", "t4", "t5"]));
    t.bad(op, m, json!([]));
    t.bad(op, m, json!(["t1", "t2", "t3", "t4", "t5", "t6"]));
    t.bad(op, m, "t1");
    let m = "TenantIds[0]";
    t.ok(op, m, "ab");
    t.ok(op, m, rep("ab", 128));
    t.ok(op, m, "aaab");
    t.ok(op, m, "aaabaaab");
    t.ok(op, m, "-_!@#$azAZ09");
    t.bad(op, m, "a");
    t.bad(op, m, "");
    t.bad(op, m, format!("{}a", rep("ab", 128)));
    // No character four or more times in a row, anywhere.
    t.bad(op, m, "aaaa");
    t.bad(op, m, "aaaab");
    t.bad(op, m, "xyz1111");
    t.bad(op, m, "ab____cd");
    t.bad(op, m, "a b");
    t.bad(op, m, "a.b");
    t.bad(op, m, "a%b");
    t.bad(op, m, "é1");
    t.bad(op, m, 12);
    t.bad_with(
        op,
        "TenantIds[1]",
        "aaaa",
        &[("TenantIds", to(json!(["t1", "t2"])))],
    );

    tags(t, op, false);

    let m = "MediaPlacementNetworkType";
    t.push(op, m, Set::Absent, &[], Expect::Ok);
    t.ok(op, m, "Ipv4Only");
    t.ok(op, m, "DualStack");
    t.bad(op, m, "IPv4Only");
    t.bad(op, m, "Ipv6Only");
    t.bad(op, m, "");
}

/// The attendee list of CreateMeetingWithAttendees and BatchCreateAttendee.
fn attendee_list(t: &mut Table, op: Op, max: usize) {
    let list = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({ "ExternalUserId": format!("user-{i}") }))
                .collect(),
        )
    };
    t.missing(op, "Attendees");
    t.ok(op, "Attendees", list(1));
    t.ok(op, "Attendees", list(max));
    t.bad(op, "Attendees", list(0));
    t.bad(op, "Attendees", list(max + 1));
    t.bad(op, "Attendees", json!({ "ExternalUserId": "user-1" }));
    t.bad(op, "Attendees[0]", "user-1");

    let m = "Attendees[0].ExternalUserId";
    t.missing(op, m);
    t.ok(op, m, "ab");
    t.ok(op, m, rep("u", 64));
    t.ok(op, m, rep("é", 64));
    t.ok(op, m, "awsx");
    t.bad(op, m, "a");
    t.bad(op, m, "");
    t.bad(op, m, rep("u", 65));
    t.bad(op, m, rep("é", 65));
    // Lengths are the model's own constraint: the whole request fails. The
    // documented rules (characters, reserved prefix) fail the item alone.
    t.item_error(op, m, "aws:u");
    t.item_error(op, m, "AWS:u");
    t.item_error(op, m, "bad*star");
    t.bad(op, m, 7);
    let two = [(
        "Attendees",
        to(json!([{ "ExternalUserId": "user-0" }, { "ExternalUserId": "user-1" }])),
    )];
    t.bad_with(op, "Attendees[1].ExternalUserId", "a", &two);
    t.bad_with(op, "Attendees[1].Capabilities.Audio", "Both", &two);

    capabilities(t, op, "Attendees[0].Capabilities", false);
}

fn resource_arn(t: &mut Table, op: Op) {
    let m = "ResourceARN";
    t.missing(op, m);
    t.ok(op, m, "{arn}");
    t.bad(op, m, "");
    t.bad(op, m, "a");
    t.bad(
        op,
        m,
        "xarn:aws:chime:us-east-1:123456789012:meeting/{meeting}",
    );
    t.bad(
        op,
        m,
        "ARN:aws:chime:us-east-1:123456789012:meeting/{meeting}",
    );
    t.bad(op, m, "not an arn");
    let tail = format!(":chime:us-east-1:123456789012:meeting/{UNKNOWN_GUID}");
    let pad = |len: usize| format!("arn:{}{tail}", rep("a", len - 4 - tail.len()));
    // At the maximum length the ARN is valid, merely unknown.
    t.status(op, m, pad(1011), 404, "ResourceNotFoundException");
    t.bad(op, m, pad(1012));
    t.status(
        op,
        m,
        format!("arn:aws:chime:us-east-1:123456789012:meeting/{UNKNOWN_GUID}"),
        404,
        "ResourceNotFoundException",
    );
    if op.query_name(m).is_none() {
        t.bad(op, m, 5);
    }
}

fn transcription(t: &mut Table) {
    let op = Op::StartMeetingTranscription;
    const E: &str = "TranscriptionConfiguration.EngineTranscribeSettings";
    const M: &str = "TranscriptionConfiguration.EngineTranscribeMedicalSettings";
    let e = |k: &str| format!("{E}.{k}");
    let md = |k: &str| format!("{M}.{k}");

    t.missing(op, "TranscriptionConfiguration");
    t.bad(op, "TranscriptionConfiguration", json!({}));
    t.bad(op, "TranscriptionConfiguration", "en-US");
    t.bad(
        op,
        "TranscriptionConfiguration",
        json!({
            "EngineTranscribeSettings": { "LanguageCode": "en-US" },
            "EngineTranscribeMedicalSettings": { "LanguageCode": "en-US", "Specialty": "PRIMARYCARE", "Type": "DICTATION" },
        }),
    );
    t.bad(op, E, "en-US");

    // Documented rule: LanguageCode or IdentifyLanguage is required.
    t.bad(op, E, json!({}));
    t.ok(op, E, json!({ "LanguageCode": "en-US" }));
    for v in LANGUAGE_CODES {
        t.ok(op, &e("LanguageCode"), v);
    }
    t.bad(op, &e("LanguageCode"), "en-us");
    t.bad(op, &e("LanguageCode"), "xx-XX");
    t.bad(op, &e("LanguageCode"), "");

    for v in ["remove", "mask", "tag"] {
        t.ok(op, &e("VocabularyFilterMethod"), v);
    }
    t.bad(op, &e("VocabularyFilterMethod"), "drop");
    t.bad(op, &e("VocabularyFilterMethod"), "Remove");

    for k in ["VocabularyFilterName", "VocabularyName"] {
        t.ok(op, &e(k), "my-vocabulary");
        t.ok(op, &e(k), rep("v", 4096));
        t.bad(op, &e(k), rep("v", 4097));
        t.bad(op, &e(k), 3);
    }

    for v in TRANSCRIBE_REGIONS {
        t.ok(op, &e("Region"), v);
    }
    t.bad(op, &e("Region"), "eu-west-3");
    t.bad(op, &e("Region"), "AUTO");

    let m = e("EnablePartialResultsStabilization");
    t.ok(op, &m, true);
    t.ok(op, &m, false);
    t.bad(op, &m, "true");
    t.bad(op, &m, 1);
    for v in ["low", "medium", "high"] {
        t.ok(op, &e("PartialResultsStability"), v);
    }
    t.bad(op, &e("PartialResultsStability"), "max");
    t.bad(op, &e("PartialResultsStability"), "LOW");

    t.ok(op, &e("ContentIdentificationType"), "PII");
    t.bad(op, &e("ContentIdentificationType"), "PHI");
    t.bad(op, &e("ContentIdentificationType"), "pii");
    t.ok(op, &e("ContentRedactionType"), "PII");
    t.bad(op, &e("ContentRedactionType"), "PHI");
    t.bad(op, &e("ContentRedactionType"), "pii");

    let pii_ctx = e("ContentIdentificationType");
    let pii: &[(&str, Set)] = &[(&pii_ctx, to("PII"))];
    let m = e("PiiEntityTypes");
    t.ok_with(op, &m, "A", pii);
    t.ok_with(op, &m, "NAME, ADDRESS,CREDIT_DEBIT_NUMBER", pii);
    t.ok_with(op, &m, rep("A", 300), pii);
    t.ok_with(op, &m, "SSN", &[(&e("ContentRedactionType"), to("PII"))]);
    t.bad_with(op, &m, "", pii);
    t.bad_with(op, &m, rep("A", 301), pii);
    t.bad_with(op, &m, "NAME!", pii);
    t.bad_with(op, &m, "name", pii);
    t.bad_with(op, &m, "NAME;ADDRESS", pii);

    let m = e("LanguageModelName");
    t.ok(op, &m, "a");
    t.ok(op, &m, rep("m", 200));
    t.ok(op, &m, "My.model_1-x");
    t.bad(op, &m, "");
    t.bad(op, &m, rep("m", 201));
    // Whole-value match: a valid prefix is not enough.
    t.bad(op, &m, "abc!");
    t.bad(op, &m, "a b");
    t.bad(op, &m, "model/1");

    // Automatic language identification.
    let lc = e("LanguageCode");
    let il = e("IdentifyLanguage");
    let lo = e("LanguageOptions");
    let identify: &[(&str, Set)] = &[(&lc, Set::Absent), (&il, to(true))];
    t.ok_with(
        op,
        &il,
        true,
        &[(&lc, Set::Absent), (&lo, to("en-US,fr-FR"))],
    );
    t.ok_with(op, &il, false, &[]);
    t.bad_with(op, &il, "yes", &[]);
    t.ok_with(op, &lo, "en-US,fr-FR", identify);
    t.ok_with(op, &lo, "a", identify);
    t.ok_with(op, &lo, rep("a", 200), identify);
    t.bad_with(op, &lo, "", identify);
    t.bad_with(op, &lo, rep("a", 201), identify);
    t.bad_with(op, &lo, "en_US", identify);
    t.bad_with(op, &lo, "en-US fr-FR", identify);
    t.bad_with(op, &lo, "en-US,fr-FR1", identify);
    let pl = e("PreferredLanguage");
    for v in LANGUAGE_CODES {
        let options = format!("en-US,{v}");
        t.ok_with(
            op,
            &pl,
            v,
            &[
                (&lc, Set::Absent),
                (&il, to(true)),
                (&lo, to(options.as_str())),
            ],
        );
    }
    let with_options: &[(&str, Set)] = &[
        (&lc, Set::Absent),
        (&il, to(true)),
        (&lo, to("en-US,fr-FR")),
    ];
    t.bad_with(op, &pl, "EN-US", with_options);
    t.bad_with(op, &pl, "xx-XX", with_options);

    for k in ["VocabularyNames", "VocabularyFilterNames"] {
        let m = e(k);
        t.ok(op, &m, "a");
        t.ok(op, &m, rep("v", 3000));
        // `,-.` is the range , - . (no other characters between them).
        t.ok(op, &m, "v1,v-2.x_y,Z9");
        t.bad(op, &m, "");
        t.bad(op, &m, rep("v", 3001));
        t.bad(op, &m, "a b");
        t.bad(op, &m, "a/b");
        t.bad(op, &m, "a+b");
        t.bad(op, &m, "abc!");
    }

    // Medical transcription.
    let medical =
        json!({ "LanguageCode": "en-US", "Specialty": "PRIMARYCARE", "Type": "CONVERSATION" });
    let med: &[(&str, Set)] = &[(E, Set::Absent), (M, to(medical))];
    t.ok_with(
        op,
        M,
        json!({ "LanguageCode": "en-US", "Specialty": "UROLOGY", "Type": "DICTATION" }),
        &[(E, Set::Absent)],
    );
    t.bad_with(op, M, "en-US", &[(E, Set::Absent)]);
    t.ok_with(op, &md("LanguageCode"), "en-US", med);
    t.missing_with(op, &md("LanguageCode"), med);
    t.bad_with(op, &md("LanguageCode"), "en-GB", med);
    t.bad_with(op, &md("LanguageCode"), "en-us", med);
    for v in MEDICAL_SPECIALTIES {
        t.ok_with(op, &md("Specialty"), v, med);
    }
    t.missing_with(op, &md("Specialty"), med);
    t.bad_with(op, &md("Specialty"), "DENTAL", med);
    t.bad_with(op, &md("Specialty"), "primarycare", med);
    for v in ["CONVERSATION", "DICTATION"] {
        t.ok_with(op, &md("Type"), v, med);
    }
    t.missing_with(op, &md("Type"), med);
    t.bad_with(op, &md("Type"), "conversation", med);
    t.bad_with(op, &md("Type"), "MONOLOGUE", med);
    t.ok_with(op, &md("VocabularyName"), "medical-vocab", med);
    t.ok_with(op, &md("VocabularyName"), rep("v", 4096), med);
    t.bad_with(op, &md("VocabularyName"), rep("v", 4097), med);
    for v in MEDICAL_REGIONS {
        t.ok_with(op, &md("Region"), v, med);
    }
    t.bad_with(op, &md("Region"), "us-gov-west-1", med);
    t.bad_with(op, &md("Region"), "eu-central-1", med);
    t.ok_with(op, &md("ContentIdentificationType"), "PHI", med);
    t.bad_with(op, &md("ContentIdentificationType"), "PII", med);
}

fn table() -> Vec<Case> {
    let mut t = Table::default();

    // CreateMeeting, CreateMeetingWithAttendees
    create_meeting_members(&mut t, Op::CreateMeeting);
    create_meeting_members(&mut t, Op::CreateMeetingWithAttendees);
    attendee_list(&mut t, Op::CreateMeetingWithAttendees, 20);

    // Operations addressed by MeetingId alone.
    for op in [
        Op::GetMeeting,
        Op::DeleteMeeting,
        Op::StopMeetingTranscription,
        Op::CreateAttendee,
        Op::BatchCreateAttendee,
        Op::ListAttendees,
        Op::StartMeetingTranscription,
        Op::BatchUpdateAttendeeCapabilitiesExcept,
    ] {
        guid_label(&mut t, op, "MeetingId", "{meeting}", "NotFoundException");
    }
    // Operations addressed by MeetingId and AttendeeId.
    for op in [
        Op::GetAttendee,
        Op::DeleteAttendee,
        Op::UpdateAttendeeCapabilities,
    ] {
        guid_label(&mut t, op, "MeetingId", "{meeting}", "NotFoundException");
        guid_label(&mut t, op, "AttendeeId", "{attendee}", "NotFoundException");
    }

    // CreateAttendee
    let op = Op::CreateAttendee;
    external_id(&mut t, op, "ExternalUserId", true);
    t.push(op, "Capabilities", Set::Absent, &[], Expect::Ok);
    capabilities(&mut t, op, "Capabilities", false);
    // Documented rule: Content that receives needs Video that receives.
    t.bad_with(
        op,
        "Capabilities",
        json!({ "Audio": "SendReceive", "Video": "Send", "Content": "Receive" }),
        &[],
    );

    // BatchCreateAttendee
    attendee_list(&mut t, Op::BatchCreateAttendee, 100);

    // ListAttendees
    let op = Op::ListAttendees;
    let m = "MaxResults";
    t.push(op, m, Set::Absent, &[], Expect::Ok);
    t.ok(op, m, "1");
    t.ok(op, m, "100");
    t.bad(op, m, "0");
    t.bad(op, m, "101");
    t.bad(op, m, "-1");
    t.bad(op, m, "abc");
    t.bad(op, m, "1.5");
    t.bad(op, m, "");
    t.bad(op, m, "99999999999999999999");
    let m = "NextToken";
    t.push(op, m, Set::Absent, &[], Expect::Ok);
    t.ok(op, m, "{next_token}");
    t.bad(op, m, rep("t", 4097));
    t.bad(op, m, "not-a-token");

    // UpdateAttendeeCapabilities
    let op = Op::UpdateAttendeeCapabilities;
    t.missing(op, "Capabilities");
    capabilities(&mut t, op, "Capabilities", true);
    t.bad(
        op,
        "Capabilities",
        json!({ "Audio": "SendReceive", "Video": "None", "Content": "SendReceive" }),
    );

    // BatchUpdateAttendeeCapabilitiesExcept
    let op = Op::BatchUpdateAttendeeCapabilitiesExcept;
    let ids = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({ "AttendeeId": format!("00000000-0000-0000-0000-{i:012x}") }))
                .collect(),
        )
    };
    t.missing(op, "ExcludedAttendeeIds");
    t.ok(op, "ExcludedAttendeeIds", ids(1));
    t.ok(op, "ExcludedAttendeeIds", ids(250));
    t.bad(op, "ExcludedAttendeeIds", ids(0));
    t.bad(op, "ExcludedAttendeeIds", ids(251));
    t.bad(op, "ExcludedAttendeeIds", "{attendee}");
    t.bad(op, "ExcludedAttendeeIds[0]", "{attendee}");
    let m = "ExcludedAttendeeIds[0].AttendeeId";
    t.missing(op, m);
    t.ok(op, m, "{attendee}");
    t.ok(op, m, UNKNOWN_GUID_UPPER);
    t.bad(op, m, "");
    t.bad(op, m, "not-a-guid");
    t.bad(op, m, "{attendee}0");
    t.bad(op, m, "0{attendee}");
    t.bad(op, m, "0123456g-89ab-cdef-0123-456789abcdef");
    t.bad(op, m, 5);
    t.bad_with(
        op,
        "ExcludedAttendeeIds[1].AttendeeId",
        "nope",
        &[("ExcludedAttendeeIds", to(ids(2)))],
    );
    t.missing(op, "Capabilities");
    capabilities(&mut t, op, "Capabilities", true);
    t.bad(
        op,
        "Capabilities",
        json!({ "Audio": "SendReceive", "Video": "Send", "Content": "SendReceive" }),
    );

    // StartMeetingTranscription
    transcription(&mut t);

    // TagResource, UntagResource, ListTagsForResource
    resource_arn(&mut t, Op::TagResource);
    tags(&mut t, Op::TagResource, true);

    let op = Op::UntagResource;
    resource_arn(&mut t, op);
    let keys = |n: usize| Value::Array((0..n).map(|i| json!(format!("key{i}"))).collect());
    t.missing(op, "TagKeys");
    t.ok(op, "TagKeys", keys(0));
    t.ok(op, "TagKeys", keys(50));
    t.bad(op, "TagKeys", keys(51));
    t.bad(op, "TagKeys", "k");
    let m = "TagKeys[0]";
    t.ok(op, m, "a");
    t.ok(op, m, rep("k", 128));
    t.ok(op, m, "a+b,c-d.e/f0:g;h<i=j_k");
    t.bad(op, m, "");
    t.bad(op, m, rep("k", 129));
    t.bad(op, m, "a>b");
    t.bad(op, m, "a b");
    t.bad(op, m, "a@b");
    t.bad(op, m, "é");
    t.bad(op, m, "aws:x");
    t.bad(op, m, "AWS:x");
    t.bad(op, m, 3);
    t.bad_with(
        op,
        "TagKeys[1]",
        "a>b",
        &[("TagKeys", to(json!(["k1", "k2"])))],
    );

    resource_arn(&mut t, Op::ListTagsForResource);

    t.cases
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

/// The resources a case runs against, made fresh for it.
struct Ctx<'a> {
    s: &'a Server,
    meeting: String,
    attendee: String,
    arn: String,
}

fn post_json(s: &Server, target: &str, body: &Value) -> Value {
    let r = s.raw(
        "POST",
        target,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert!(
        (200..300).contains(&r.status),
        "setup {target} failed: {} {}",
        r.status,
        r.body
    );
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

fn new_meeting(s: &Server) -> Value {
    post_json(
        s,
        "/meetings",
        &json!({
            "ClientRequestToken": new_token(),
            "MediaRegion": "us-east-1",
            "ExternalMeetingId": "setup-meeting",
        }),
    )["Meeting"]
        .clone()
}

fn random_chars(n: usize) -> String {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        .chars()
        .collect();
    let mut out = String::new();
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < n {
                out.push(alphabet[*b as usize % alphabet.len()]);
            }
        }
    }
    out
}

impl<'a> Ctx<'a> {
    fn new(s: &'a Server, op: Op) -> Ctx<'a> {
        let mut ctx = Ctx {
            s,
            meeting: String::new(),
            attendee: String::new(),
            arn: String::new(),
        };
        if op.needs_meeting() {
            let m = new_meeting(s);
            ctx.meeting = m["MeetingId"].as_str().unwrap().to_string();
            ctx.arn = m["MeetingArn"].as_str().unwrap().to_string();
        }
        if op.needs_attendee() {
            ctx.attendee = ctx.add_attendee("setup-user");
        }
        if op == Op::StopMeetingTranscription {
            post_json(
                s,
                &format!("/meetings/{}/transcription?operation=start", ctx.meeting),
                &Op::StartMeetingTranscription.base_body().unwrap(),
            );
        }
        ctx
    }

    fn add_attendee(&self, external: &str) -> String {
        post_json(
            self.s,
            &format!("/meetings/{}/attendees", self.meeting),
            &json!({ "ExternalUserId": external }),
        )["Attendee"]["AttendeeId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Replaces the placeholders of a value by this case's resources.
    fn fill(&mut self, s: &str) -> String {
        let mut out = s
            .replace("{meeting}", &self.meeting)
            .replace("{attendee}", &self.attendee)
            .replace("{arn}", &self.arn)
            .replace("{token2}", &random_chars(2))
            .replace("{token64}", &random_chars(64))
            .replace("{token-_}", &format!("-_{}", random_chars(10)));
        if out.contains("{primary}") {
            let primary = new_meeting(self.s)["MeetingId"]
                .as_str()
                .unwrap()
                .to_string();
            out = out.replace("{primary}", &primary);
        }
        if out.contains("{next_token}") {
            self.add_attendee("page-user-1");
            self.add_attendee("page-user-2");
            let r = self.s.raw(
                "GET",
                &format!("/meetings/{}/attendees?max-results=1", self.meeting),
                &[],
                b"",
            );
            let token = r.json()["NextToken"]
                .as_str()
                .expect("a NextToken after one of two attendees")
                .to_string();
            out = out.replace("{next_token}", &token);
        }
        out
    }

    fn fill_value(&mut self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.fill(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.fill_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.fill_value(i)),
            _ => {}
        }
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        segs.push(Seg::Key(name.to_string()));
        for idx in rest.split('[').skip(1) {
            segs.push(Seg::Index(idx.trim_end_matches(']').parse().unwrap()));
        }
    }
    segs
}

/// Sets (or removes) the member at `path`, creating the objects and lists on the way.
fn set_path(root: &mut Value, path: &str, value: &Set) {
    let segs = parse_path(path);
    let (last, init) = segs.split_last().unwrap();
    let mut cur = root;
    for (i, seg) in init.iter().enumerate() {
        let empty = match segs[i + 1] {
            Seg::Index(_) => json!([]),
            Seg::Key(_) => json!({}),
        };
        cur = match seg {
            Seg::Key(k) => {
                let map = cur.as_object_mut().expect("an object on the path");
                let slot = map.entry(k.clone()).or_insert(Value::Null);
                if slot.is_null() {
                    *slot = empty;
                }
                slot
            }
            Seg::Index(n) => {
                let items = cur.as_array_mut().expect("a list on the path");
                while items.len() <= *n {
                    items.push(empty.clone());
                }
                &mut items[*n]
            }
        };
    }
    match (last, value) {
        (Seg::Key(k), Set::To(v)) => {
            cur.as_object_mut().unwrap().insert(k.clone(), v.clone());
        }
        (Seg::Key(k), Set::Absent) => {
            cur.as_object_mut().unwrap().remove(k);
        }
        (Seg::Index(n), Set::To(v)) => {
            let items = cur.as_array_mut().unwrap();
            while items.len() <= *n {
                items.push(Value::Null);
            }
            items[*n] = v.clone();
        }
        (Seg::Index(n), Set::Absent) => {
            let items = cur.as_array_mut().unwrap();
            if *n < items.len() {
                items.remove(*n);
            }
        }
    }
}

fn as_text(v: &Set) -> Option<String> {
    match v {
        Set::Absent => None,
        Set::To(Value::String(s)) => Some(s.clone()),
        Set::To(other) => Some(other.to_string()),
    }
}

/// True when `message` names `member` itself, not merely a member whose
/// name or path ends with it (`MeetingId` in `PrimaryMeetingId`,
/// `Capabilities.Audio` in `Attendees[0].Capabilities.Audio`).
fn names(message: &str, member: &str) -> bool {
    message.match_indices(member).any(|(i, _)| {
        let before = message[..i].chars().next_back();
        let after = message[i + member.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || ".[]".contains(c))
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '[')
    })
}

/// Runs one case; `Err` describes how the server's answer differs from the expectation.
fn run(s: &Server, case: &Case) -> Result<(), String> {
    let op = case.op;
    let mut ctx = Ctx::new(s, op);
    let mut meeting = "{meeting}".to_string();
    let mut attendee = "{attendee}".to_string();
    let mut query = op.base_query();
    let mut body = op.base_body();

    let mut apply = |member: &str, value: &Set| match member {
        "MeetingId" if op.needs_meeting() => meeting = as_text(value).unwrap_or_default(),
        "AttendeeId" if op.needs_attendee() && op != Op::BatchUpdateAttendeeCapabilitiesExcept => {
            attendee = as_text(value).unwrap_or_default();
        }
        _ => match op.query_name(member) {
            Some(q) => {
                query.retain(|(k, _)| k != q);
                if let Some(v) = as_text(value) {
                    query.push((q.to_string(), v));
                }
            }
            None => set_path(
                body.as_mut()
                    .expect("a body member for an operation without a body"),
                member,
                value,
            ),
        },
    };
    for (m, v) in &case.with {
        apply(m, v);
    }
    apply(&case.member, &case.value);

    let meeting = ctx.fill(&meeting);
    let attendee = ctx.fill(&attendee);
    let query: Vec<(String, String)> = query.into_iter().map(|(k, v)| (k, ctx.fill(&v))).collect();
    if let Some(b) = body.as_mut() {
        ctx.fill_value(b);
    }

    let (method, mut target) = op.method_and_path(&meeting, &attendee);
    for (i, (k, v)) in query.iter().enumerate() {
        let sep = if i == 0 && !target.contains('?') {
            '?'
        } else {
            '&'
        };
        target.push_str(&format!("{sep}{k}={}", pct(v)));
    }
    let bytes = body
        .as_ref()
        .map(std::string::ToString::to_string)
        .unwrap_or_default();
    let headers: &[(&str, &str)] = if body.is_some() {
        &[("Content-Type", "application/json")]
    } else {
        &[]
    };
    let r = s.raw(method, &target, headers, bytes.as_bytes());
    let got = || {
        let shown: String = r.body.chars().take(300).collect();
        format!(
            "got {} {} {shown}",
            r.status,
            r.header("x-amzn-ErrorType").unwrap_or("-")
        )
    };
    match &case.expect {
        Expect::Ok => {
            if r.status != op.success() {
                return Err(format!("expected {}, {}", op.success(), got()));
            }
            if matches!(op, Op::BatchCreateAttendee | Op::CreateMeetingWithAttendees) {
                let errors = &r.json()["Errors"];
                if errors.as_array().is_some_and(|e| !e.is_empty()) {
                    return Err(format!("expected no per-attendee Errors, {}", got()));
                }
            }
            Ok(())
        }
        Expect::Bad => {
            if r.status != 400 || r.header("x-amzn-ErrorType") != Some("BadRequestException") {
                return Err(format!("expected 400 BadRequestException, {}", got()));
            }
            let message = r.json()["Message"].as_str().unwrap_or("").to_string();
            if !names(&message, &case.member) {
                return Err(format!(
                    "expected the Message to name {}, got {message:?}",
                    case.member
                ));
            }
            Ok(())
        }
        Expect::ItemError => {
            if r.status != op.success() {
                return Err(format!("expected {}, {}", op.success(), got()));
            }
            let body = r.json();
            let errors = body["Errors"].as_array().cloned().unwrap_or_default();
            let named = errors.iter().any(|e| {
                e["ErrorMessage"]
                    .as_str()
                    .is_some_and(|m| names(m, &case.member))
            });
            if !named || errors.len() != 1 {
                return Err(format!(
                    "expected one item error naming {}, {}",
                    case.member,
                    got()
                ));
            }
            Ok(())
        }
        Expect::Status(code, ty) => {
            if r.status != *code || r.header("x-amzn-ErrorType") != Some(*ty) {
                return Err(format!("expected {code} {ty}, {}", got()));
            }
            Ok(())
        }
    }
}

#[test]
fn every_member_constraint_of_every_operation() {
    let cases = table();

    // The table covers every operation, and its ids are unique.
    let ops: BTreeSet<Op> = cases.iter().map(|c| c.op).collect();
    for op in ALL_OPS {
        assert!(ops.contains(&op), "no case for {op:?}");
    }
    let mut ids = BTreeSet::new();
    for c in &cases {
        assert!(ids.insert(c.id()), "duplicate case {}", c.id());
    }
    for bug in KNOWN_SERVER_BUGS {
        assert!(ids.contains(*bug), "KNOWN_SERVER_BUGS names no case: {bug}");
    }

    let server = Server::start();
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                if let Err(why) = run(&server, case) {
                    failures.lock().unwrap().push((case.id(), why));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();

    let failed: BTreeSet<&str> = failures.iter().map(|(id, _)| id.as_str()).collect();
    let mut unexpected = Vec::new();
    for (id, why) in &failures {
        if KNOWN_SERVER_BUGS.contains(&id.as_str()) {
            eprintln!("known server bug: {id}: {why}");
        } else {
            unexpected.push(format!("{id}\n    {why}"));
        }
    }
    let fixed: Vec<&&str> = KNOWN_SERVER_BUGS
        .iter()
        .filter(|b| !failed.contains(**b))
        .collect();
    eprintln!(
        "{} cases, {} failed ({} known server bugs)",
        cases.len(),
        failures.len(),
        failures.len() - unexpected.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} cases failed:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "these known server bugs pass now; remove them from KNOWN_SERVER_BUGS: {fixed:?}"
    );
}
