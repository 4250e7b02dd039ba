//! The API scenarios: the data they read is created through the API first,
//! then each scenario's pool of requests is signed before its clock starts.

use std::net::SocketAddr;

use http::Method;

use crate::load;
use crate::sign::{Signed, Signer};

/// How much each scenario prepares (a smoke run prepares little).
#[derive(Clone, Copy)]
pub struct Sizes {
    /// Meetings GetMeeting reads.
    pub meetings: usize,
    /// Meetings filled with 250 attendees (GetAttendee, ListAttendees read them).
    pub full_meetings: usize,
    /// CreateAttendee requests signed (each a new attendee).
    pub creates: usize,
    /// CreateMeeting requests signed.
    pub meeting_creates: usize,
    /// BatchCreateAttendee requests (of 100) signed.
    pub batches: usize,
    /// Requests of the mixed workload signed (a tenth are creates).
    pub mixed: usize,
}

impl Sizes {
    /// A full run whose warm-up and measured window last `run` together: the
    /// one-shot write pools hold what a fast server answers in that time
    /// (45,000 creates and 900 batches a second: the Intel machine did 31,000
    /// and 615 in 2026-12-03's run, and used up pools of 90,000 and 1,000
    /// well inside the window), so a write's rate is measured over the
    /// whole window. A pool used up early still gives a true rate, over a
    /// shorter window.
    pub fn full(run: std::time::Duration) -> Sizes {
        let secs = run.as_secs_f64().max(1.0);
        let per = |rate: f64| (rate * secs).ceil() as usize;
        Sizes {
            meetings: 100,
            full_meetings: 20,
            creates: per(45_000.0),
            meeting_creates: per(45_000.0),
            batches: per(900.0),
            mixed: per(45_000.0),
        }
    }
    pub const SMOKE: Sizes = Sizes {
        meetings: 4,
        full_meetings: 2,
        creates: 300,
        meeting_creates: 100,
        batches: 6,
        mixed: 500,
    };
}

/// The data the read scenarios use.
pub struct Seeded {
    pub meetings: Vec<String>,
    /// (meeting, attendee) of the full meetings.
    pub attendees: Vec<(String, String)>,
    pub full: Vec<String>,
}

/// A unique tag for this run (ClientRequestTokens and ExternalUserIds stay new
/// when the same data directory is reused).
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}", nanos & 0xffff_ffff_ffff)
}

fn create_meeting_spec(tag: &str, i: usize) -> (Method, String, Vec<u8>) {
    let body = serde_json::json!({
        "ClientRequestToken": format!("bench-{tag}-{i}"),
        "MediaRegion": "us-east-1",
        "ExternalMeetingId": format!("bench-{i}"),
    });
    (
        Method::POST,
        "/meetings".into(),
        body.to_string().into_bytes(),
    )
}

/// Creates `n` meetings through the API and returns their ids.
pub async fn create_meetings(
    addr: SocketAddr,
    signer: &Signer,
    tag: &str,
    n: usize,
) -> Result<Vec<String>, String> {
    let specs = (0..n).map(|i| create_meeting_spec(tag, i)).collect();
    let answers = load::each(addr, signer.sign_all(specs), 8).await?;
    answers
        .into_iter()
        .map(|(status, body)| {
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            match json["Meeting"]["MeetingId"].as_str() {
                Some(id) if status == 200 => Ok(id.to_string()),
                _ => Err(format!("CreateMeeting answered {status}: {body}")),
            }
        })
        .collect()
}

fn batch_spec(meeting: &str, users: impl Iterator<Item = String>) -> (Method, String, Vec<u8>) {
    let attendees: Vec<_> = users
        .map(|u| serde_json::json!({ "ExternalUserId": u }))
        .collect();
    let body = serde_json::json!({ "Attendees": attendees });
    (
        Method::POST,
        format!("/meetings/{meeting}/attendees?operation=batch-create"),
        body.to_string().into_bytes(),
    )
}

/// Creates the meetings the reads use and fills some with 250 attendees.
pub async fn seed(addr: SocketAddr, signer: &Signer, sizes: Sizes) -> Result<Seeded, String> {
    let tag = run_tag();
    let meetings = create_meetings(addr, signer, &format!("{tag}-r"), sizes.meetings).await?;
    let full: Vec<String> = meetings.iter().take(sizes.full_meetings).cloned().collect();
    let mut specs = Vec::new();
    for m in &full {
        for (from, to) in [(0, 100), (100, 200), (200, 250)] {
            specs.push(batch_spec(m, (from..to).map(|i| format!("seed-{i}"))));
        }
    }
    let answers = load::each(addr, signer.sign_all(specs), 4).await?;
    let mut attendees = Vec::new();
    for (k, (status, body)) in answers.into_iter().enumerate() {
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let list = json["Attendees"].as_array().filter(|_| status == 200);
        let Some(list) = list else {
            return Err(format!("BatchCreateAttendee answered {status}: {body}"));
        };
        let meeting = &full[k / 3];
        for a in list {
            if let Some(id) = a["AttendeeId"].as_str() {
                attendees.push((meeting.clone(), id.to_string()));
            }
        }
    }
    Ok(Seeded {
        meetings,
        attendees,
        full,
    })
}

/// The request pools, by scenario.
pub fn get_meeting(signer: &Signer, s: &Seeded) -> Vec<Signed> {
    let specs = s
        .meetings
        .iter()
        .map(|m| (Method::GET, format!("/meetings/{m}"), Vec::new()))
        .collect();
    signer.sign_all(specs)
}

pub fn get_attendee(signer: &Signer, s: &Seeded) -> Vec<Signed> {
    let specs = s
        .attendees
        .iter()
        .map(|(m, a)| {
            (
                Method::GET,
                format!("/meetings/{m}/attendees/{a}"),
                Vec::new(),
            )
        })
        .collect();
    signer.sign_all(specs)
}

pub fn list_attendees(signer: &Signer, s: &Seeded) -> Vec<Signed> {
    let specs = s
        .full
        .iter()
        .map(|m| {
            let target = format!("/meetings/{m}/attendees?max-results=100");
            (Method::GET, target, Vec::new())
        })
        .collect();
    signer.sign_all(specs)
}

/// `n` CreateAttendee specs spread over `meetings` (250 each at most).
fn create_attendee_specs(meetings: &[String], n: usize) -> Vec<(Method, String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let m = &meetings[i / 250];
            let body = serde_json::json!({ "ExternalUserId": format!("user-{}", i % 250) });
            (
                Method::POST,
                format!("/meetings/{m}/attendees"),
                body.to_string().into_bytes(),
            )
        })
        .collect()
}

pub async fn create_attendee(
    addr: SocketAddr,
    signer: &Signer,
    n: usize,
) -> Result<Vec<Signed>, String> {
    let meetings =
        create_meetings(addr, signer, &format!("{}-a", run_tag()), n.div_ceil(250)).await?;
    Ok(signer.sign_all(create_attendee_specs(&meetings, n)))
}

pub fn create_meeting(signer: &Signer, n: usize) -> Vec<Signed> {
    let tag = format!("{}-m", run_tag());
    signer.sign_all((0..n).map(|i| create_meeting_spec(&tag, i)).collect())
}

pub async fn batch_create_attendee(
    addr: SocketAddr,
    signer: &Signer,
    n: usize,
) -> Result<Vec<Signed>, String> {
    let meetings =
        create_meetings(addr, signer, &format!("{}-b", run_tag()), n.div_ceil(2)).await?;
    let specs = (0..n)
        .map(|i| {
            let half = i % 2 * 100;
            batch_spec(
                &meetings[i / 2],
                (half..half + 100).map(|u| format!("user-{u}")),
            )
        })
        .collect();
    Ok(signer.sign_all(specs))
}

/// The mixed workload: per 20 requests, 9 GetAttendee, 6 GetMeeting,
/// 3 ListAttendees and 2 CreateAttendee.
pub async fn mixed(
    addr: SocketAddr,
    signer: &Signer,
    s: &Seeded,
    n: usize,
) -> Result<Vec<Signed>, String> {
    let creates = n / 10 + 1;
    let tag = format!("{}-x", run_tag());
    let meetings = create_meetings(addr, signer, &tag, creates.div_ceil(250)).await?;
    let mut writes = create_attendee_specs(&meetings, creates).into_iter();
    let mut specs = Vec::with_capacity(n);
    for i in 0..n {
        let spec = match i % 20 {
            0..=8 => {
                let (m, a) = &s.attendees[i % s.attendees.len()];
                (
                    Method::GET,
                    format!("/meetings/{m}/attendees/{a}"),
                    Vec::new(),
                )
            }
            9..=14 => {
                let m = &s.meetings[i % s.meetings.len()];
                (Method::GET, format!("/meetings/{m}"), Vec::new())
            }
            15..=17 => {
                let m = &s.full[i % s.full.len()];
                let target = format!("/meetings/{m}/attendees?max-results=100");
                (Method::GET, target, Vec::new())
            }
            _ => match writes.next() {
                Some(w) => w,
                None => break,
            },
        };
        specs.push(spec);
    }
    Ok(signer.sign_all(specs))
}
