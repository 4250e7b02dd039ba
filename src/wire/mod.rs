//! The wire layer: routes, request parsing, response and error encoding.

pub mod admin;
pub mod console;
pub mod controls;
pub mod decode;
pub mod encode;
pub mod fuzzing;
pub mod json;
pub mod router;
pub mod server;

use serde_json::{json, Value};

use crate::domain::placement::PublicBase;
use crate::domain::types::Caller;
use crate::domain::{validate, ApiError, ApiResult};
use crate::ops::Service;
use json::Obj;
use router::{Endpoint, Query};

/// A successful answer: the modeled status and an optional JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply { status, body: None }
    }
}

/// Decodes the request for `endpoint`, runs the operation and encodes its output.
pub async fn dispatch(
    service: &Service,
    base: &PublicBase,
    caller: &Caller,
    endpoint: Endpoint,
    query: &Query,
    body: &[u8],
) -> ApiResult<Reply> {
    let value = if endpoint.has_body() {
        json::parse_body(body)?
    } else {
        Value::Null
    };
    let input = || Obj::root(&value);
    Ok(match endpoint {
        Endpoint::CreateMeeting => {
            let m = service
                .create_meeting(caller, decode::create_meeting(&input()?)?)
                .await?;
            Reply::ok(json!({ "Meeting": encode::meeting(&m, base) }))
        }
        Endpoint::CreateMeetingWithAttendees => {
            let o = input()?;
            let meeting = decode::create_meeting(&o)?;
            let attendees = decode::attendee_list(&o)?;
            let r = service
                .create_meeting_with_attendees(caller, meeting, attendees)
                .await?;
            Reply::ok(json!({
                "Meeting": encode::meeting(&r.meeting, base),
                "Attendees": encode::attendees(&r.outcome.attendees),
                "Errors": encode::attendee_errors(&r.outcome.errors),
            }))
        }
        Endpoint::GetMeeting { meeting_id } => {
            let m = service.get_meeting(caller, meeting_id).await?;
            Reply::ok(json!({ "Meeting": encode::meeting(&m, base) }))
        }
        Endpoint::DeleteMeeting { meeting_id } => {
            service.delete_meeting(caller, meeting_id).await?;
            Reply::empty(204)
        }
        Endpoint::CreateAttendee { meeting_id } => {
            let req = decode::attendee_request(&input()?)?;
            let a = service.create_attendee(caller, meeting_id, req).await?;
            Reply::ok(json!({ "Attendee": encode::attendee(&a) }))
        }
        Endpoint::BatchCreateAttendee { meeting_id } => {
            let items = decode::attendee_list(&input()?)?;
            let r = service
                .batch_create_attendee(caller, meeting_id, items)
                .await?;
            Reply::ok(json!({
                "Attendees": encode::attendees(&r.attendees),
                "Errors": encode::attendee_errors(&r.errors),
            }))
        }
        Endpoint::GetAttendee {
            meeting_id,
            attendee_id,
        } => {
            let a = service
                .get_attendee(caller, meeting_id, attendee_id)
                .await?;
            Reply::ok(json!({ "Attendee": encode::attendee(&a) }))
        }
        Endpoint::ListAttendees { meeting_id } => {
            let max_results = match query.get("max-results") {
                None => None,
                Some(raw) => {
                    let n: i64 = raw.trim().parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "Invalid value for MaxResults: expected an integer, got {raw:?}"
                        ))
                    })?;
                    Some(validate::result_max("MaxResults", n)?)
                }
            };
            let next_token = query.get("next-token").map(str::to_string);
            let page = service
                .list_attendees(caller, meeting_id, next_token, max_results)
                .await?;
            let mut body = json!({ "Attendees": encode::attendees(&page.attendees) });
            if let Some(t) = page.next_token {
                body["NextToken"] = json!(t);
            }
            Reply::ok(body)
        }
        Endpoint::DeleteAttendee {
            meeting_id,
            attendee_id,
        } => {
            service
                .delete_attendee(caller, meeting_id, attendee_id)
                .await?;
            Reply::empty(204)
        }
        Endpoint::UpdateAttendeeCapabilities {
            meeting_id,
            attendee_id,
        } => {
            let caps = decode::capabilities(&input()?.req_obj("Capabilities")?)?;
            let a = service
                .update_attendee_capabilities(caller, meeting_id, attendee_id, caps)
                .await?;
            Reply::ok(json!({ "Attendee": encode::attendee(&a) }))
        }
        Endpoint::BatchUpdateAttendeeCapabilitiesExcept { meeting_id } => {
            let o = input()?;
            let excluded = o.req_list("ExcludedAttendeeIds", |i| i.obj()?.req_str("AttendeeId"))?;
            let caps = decode::capabilities(&o.req_obj("Capabilities")?)?;
            service
                .batch_update_attendee_capabilities_except(caller, meeting_id, excluded, caps)
                .await?;
            Reply::empty(200)
        }
        Endpoint::StartMeetingTranscription { meeting_id } => {
            let config = decode::transcription(&input()?)?;
            service
                .start_meeting_transcription(caller, meeting_id, config)
                .await?;
            Reply::empty(200)
        }
        Endpoint::StopMeetingTranscription { meeting_id } => {
            service
                .stop_meeting_transcription(caller, meeting_id)
                .await?;
            Reply::empty(200)
        }
        Endpoint::TagResource => {
            let o = input()?;
            let arn = o.req_str("ResourceARN")?;
            let tags = o.req_list("Tags", |i| decode::tag(&i.obj()?))?;
            service.tag_resource(caller, arn, tags).await?;
            Reply::empty(204)
        }
        Endpoint::UntagResource => {
            let o = input()?;
            let arn = o.req_str("ResourceARN")?;
            let keys = o.req_list("TagKeys", |i| i.str())?;
            service.untag_resource(caller, arn, keys).await?;
            Reply::empty(204)
        }
        Endpoint::ListTagsForResource => {
            let arn = query
                .get("arn")
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Missing required member ResourceARN (query parameter arn)",
                    )
                })?
                .to_string();
            let tags = service.list_tags_for_resource(caller, arn).await?;
            Reply::ok(json!({ "Tags": encode::tags(&tags) }))
        }
    })
}
