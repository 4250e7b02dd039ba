//! The wire layer: routes, request parsing, response and error encoding.
//!
//! Each operation has one handler here. It decodes the request into the
//! operation's typed input (ids are parsed into their newtypes here, once),
//! calls the operation, and encodes the output. A handler's error type is the
//! operation's own, so what reaches [`error::WireError`] is always an
//! exception the model lists for that operation.

pub mod admin;
pub mod console;
pub mod controls;
pub mod decode;
pub mod encode;
pub mod error;
pub mod eventlog;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod json;
pub mod router;
pub mod server;

use serde_json::{json, Value};

use crate::domain::ids::{AttendeeId, MeetingId};
use crate::domain::placement::PublicBase;
use crate::domain::types::Caller;
use crate::domain::{invalid, validate, Checked};
use crate::model::{
    BatchCreateAttendeeError, BatchUpdateAttendeeCapabilitiesExceptError, CreateAttendeeError,
    CreateMeetingError, CreateMeetingWithAttendeesError, DeleteAttendeeError, DeleteMeetingError,
    GetAttendeeError, GetMeetingError, ListAttendeesError, ListTagsForResourceError,
    StartMeetingTranscriptionError, StopMeetingTranscriptionError, TagResourceError,
    UntagResourceError, UpdateAttendeeCapabilitiesError,
};
use crate::ops::Service;
use error::WireError;
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

/// What a handler gets: the service, the caller and the raw request parts.
pub struct Request<'a> {
    pub service: &'a Service,
    pub base: &'a PublicBase,
    pub caller: &'a Caller,
    pub query: &'a Query,
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The JSON body; `Value::Null` stands for an absent body.
    fn json(&self) -> Checked<Value> {
        json::parse_body(self.body)
    }
}

fn meeting_id(raw: &str) -> Checked<MeetingId> {
    MeetingId::parse("MeetingId", raw)
}

fn attendee_id(raw: &str) -> Checked<AttendeeId> {
    AttendeeId::parse("AttendeeId", raw)
}

/// Decodes the request for `endpoint`, runs the operation and encodes its output.
pub async fn dispatch(req: &Request<'_>, endpoint: Endpoint) -> Result<Reply, WireError> {
    Ok(match endpoint {
        Endpoint::CreateMeeting => create_meeting(req).await?,
        Endpoint::CreateMeetingWithAttendees => create_meeting_with_attendees(req).await?,
        Endpoint::GetMeeting { meeting_id } => get_meeting(req, &meeting_id).await?,
        Endpoint::DeleteMeeting { meeting_id } => delete_meeting(req, &meeting_id).await?,
        Endpoint::CreateAttendee { meeting_id } => create_attendee(req, &meeting_id).await?,
        Endpoint::BatchCreateAttendee { meeting_id } => {
            batch_create_attendee(req, &meeting_id).await?
        }
        Endpoint::GetAttendee {
            meeting_id,
            attendee_id,
        } => get_attendee(req, &meeting_id, &attendee_id).await?,
        Endpoint::ListAttendees { meeting_id } => list_attendees(req, &meeting_id).await?,
        Endpoint::DeleteAttendee {
            meeting_id,
            attendee_id,
        } => delete_attendee(req, &meeting_id, &attendee_id).await?,
        Endpoint::UpdateAttendeeCapabilities {
            meeting_id,
            attendee_id,
        } => update_attendee_capabilities(req, &meeting_id, &attendee_id).await?,
        Endpoint::BatchUpdateAttendeeCapabilitiesExcept { meeting_id } => {
            batch_update_attendee_capabilities_except(req, &meeting_id).await?
        }
        Endpoint::StartMeetingTranscription { meeting_id } => {
            start_meeting_transcription(req, &meeting_id).await?
        }
        Endpoint::StopMeetingTranscription { meeting_id } => {
            stop_meeting_transcription(req, &meeting_id).await?
        }
        Endpoint::TagResource => tag_resource(req).await?,
        Endpoint::UntagResource => untag_resource(req).await?,
        Endpoint::ListTagsForResource => list_tags_for_resource(req).await?,
    })
}

async fn create_meeting(req: &Request<'_>) -> Result<Reply, CreateMeetingError> {
    let value = req.json()?;
    let input = decode::create_meeting(&Obj::root(&value)?)?;
    let m = req.service.create_meeting(req.caller, input).await?;
    Ok(Reply::ok(
        json!({ "Meeting": encode::meeting(&m, req.base) }),
    ))
}

async fn create_meeting_with_attendees(
    req: &Request<'_>,
) -> Result<Reply, CreateMeetingWithAttendeesError> {
    let value = req.json()?;
    let o = Obj::root(&value)?;
    let meeting = decode::create_meeting(&o)?;
    let attendees = decode::attendee_list(&o)?;
    let r = req
        .service
        .create_meeting_with_attendees(req.caller, meeting, attendees)
        .await?;
    Ok(Reply::ok(json!({
        "Meeting": encode::meeting(&r.meeting, req.base),
        "Attendees": encode::attendees(&r.outcome.attendees),
        "Errors": encode::attendee_errors(&r.outcome.errors),
    })))
}

async fn get_meeting(req: &Request<'_>, raw_meeting: &str) -> Result<Reply, GetMeetingError> {
    let m = req
        .service
        .get_meeting(req.caller, meeting_id(raw_meeting)?)
        .await?;
    Ok(Reply::ok(
        json!({ "Meeting": encode::meeting(&m, req.base) }),
    ))
}

async fn delete_meeting(req: &Request<'_>, raw_meeting: &str) -> Result<Reply, DeleteMeetingError> {
    req.service
        .delete_meeting(req.caller, meeting_id(raw_meeting)?)
        .await?;
    Ok(Reply::empty(204))
}

async fn create_attendee(
    req: &Request<'_>,
    raw_meeting: &str,
) -> Result<Reply, CreateAttendeeError> {
    let value = req.json()?;
    let input = decode::attendee_request(&Obj::root(&value)?)?;
    let a = req
        .service
        .create_attendee(req.caller, meeting_id(raw_meeting)?, input)
        .await?;
    Ok(Reply::ok(json!({ "Attendee": encode::attendee(&a) })))
}

async fn batch_create_attendee(
    req: &Request<'_>,
    raw_meeting: &str,
) -> Result<Reply, BatchCreateAttendeeError> {
    let value = req.json()?;
    let items = decode::attendee_list(&Obj::root(&value)?)?;
    let r = req
        .service
        .batch_create_attendee(req.caller, meeting_id(raw_meeting)?, items)
        .await?;
    Ok(Reply::ok(json!({
        "Attendees": encode::attendees(&r.attendees),
        "Errors": encode::attendee_errors(&r.errors),
    })))
}

async fn get_attendee(
    req: &Request<'_>,
    raw_meeting: &str,
    raw_attendee: &str,
) -> Result<Reply, GetAttendeeError> {
    let (m, a) = (meeting_id(raw_meeting)?, attendee_id(raw_attendee)?);
    let a = req.service.get_attendee(req.caller, m, a).await?;
    Ok(Reply::ok(json!({ "Attendee": encode::attendee(&a) })))
}

async fn list_attendees(req: &Request<'_>, raw_meeting: &str) -> Result<Reply, ListAttendeesError> {
    let max_results = match req.query.get("max-results") {
        None => None,
        Some(raw) => {
            let n: i64 = raw
                .trim()
                .parse()
                .map_err(|_| invalid("MaxResults", format!("expected an integer, got {raw:?}")))?;
            Some(validate::result_max("MaxResults", n)?)
        }
    };
    let next_token = req.query.get("next-token").map(str::to_string);
    let page = req
        .service
        .list_attendees(
            req.caller,
            meeting_id(raw_meeting)?,
            next_token,
            max_results,
        )
        .await?;
    let mut body = json!({ "Attendees": encode::attendees(&page.attendees) });
    if let Some(t) = page.next_token {
        body["NextToken"] = json!(t);
    }
    Ok(Reply::ok(body))
}

async fn delete_attendee(
    req: &Request<'_>,
    raw_meeting: &str,
    raw_attendee: &str,
) -> Result<Reply, DeleteAttendeeError> {
    let (m, a) = (meeting_id(raw_meeting)?, attendee_id(raw_attendee)?);
    req.service.delete_attendee(req.caller, m, a).await?;
    Ok(Reply::empty(204))
}

async fn update_attendee_capabilities(
    req: &Request<'_>,
    raw_meeting: &str,
    raw_attendee: &str,
) -> Result<Reply, UpdateAttendeeCapabilitiesError> {
    let value = req.json()?;
    let caps = decode::capabilities(&Obj::root(&value)?.req_obj("Capabilities")?)?;
    let (m, a) = (meeting_id(raw_meeting)?, attendee_id(raw_attendee)?);
    let a = req
        .service
        .update_attendee_capabilities(req.caller, m, a, caps)
        .await?;
    Ok(Reply::ok(json!({ "Attendee": encode::attendee(&a) })))
}

async fn batch_update_attendee_capabilities_except(
    req: &Request<'_>,
    raw_meeting: &str,
) -> Result<Reply, BatchUpdateAttendeeCapabilitiesExceptError> {
    let value = req.json()?;
    let o = Obj::root(&value)?;
    let excluded = o.req_list("ExcludedAttendeeIds", |i| i.obj()?.req_str("AttendeeId"))?;
    let caps = decode::capabilities(&o.req_obj("Capabilities")?)?;
    let m = meeting_id(raw_meeting)?;
    validate::count("ExcludedAttendeeIds", excluded.len(), 1, 250)?;
    let excluded = excluded
        .iter()
        .enumerate()
        .map(|(i, id)| AttendeeId::parse(&format!("ExcludedAttendeeIds[{i}].AttendeeId"), id))
        .collect::<Checked<Vec<_>>>()?;
    req.service
        .batch_update_attendee_capabilities_except(req.caller, m, excluded, caps)
        .await?;
    Ok(Reply::empty(200))
}

async fn start_meeting_transcription(
    req: &Request<'_>,
    raw_meeting: &str,
) -> Result<Reply, StartMeetingTranscriptionError> {
    let value = req.json()?;
    let config = decode::transcription(&Obj::root(&value)?)?;
    req.service
        .start_meeting_transcription(req.caller, meeting_id(raw_meeting)?, config)
        .await?;
    Ok(Reply::empty(200))
}

async fn stop_meeting_transcription(
    req: &Request<'_>,
    raw_meeting: &str,
) -> Result<Reply, StopMeetingTranscriptionError> {
    req.service
        .stop_meeting_transcription(req.caller, meeting_id(raw_meeting)?)
        .await?;
    Ok(Reply::empty(200))
}

async fn tag_resource(req: &Request<'_>) -> Result<Reply, TagResourceError> {
    let value = req.json()?;
    let o = Obj::root(&value)?;
    let arn = o.req_str("ResourceARN")?;
    let tags = o.req_list("Tags", |i| decode::tag(&i.obj()?))?;
    req.service.tag_resource(req.caller, arn, tags).await?;
    Ok(Reply::empty(204))
}

async fn untag_resource(req: &Request<'_>) -> Result<Reply, UntagResourceError> {
    let value = req.json()?;
    let o = Obj::root(&value)?;
    let arn = o.req_str("ResourceARN")?;
    let keys = o.req_list("TagKeys", json::Item::str)?;
    req.service.untag_resource(req.caller, arn, keys).await?;
    Ok(Reply::empty(204))
}

async fn list_tags_for_resource(req: &Request<'_>) -> Result<Reply, ListTagsForResourceError> {
    let arn = req
        .query
        .get("arn")
        .ok_or_else(|| {
            crate::domain::Invalid::new("Missing required member ResourceARN (query parameter arn)")
        })?
        .to_string();
    let tags = req.service.list_tags_for_resource(req.caller, arn).await?;
    Ok(Reply::ok(json!({ "Tags": encode::tags(&tags) })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Operation, OperationError};
    use std::future::Future;

    /// The operation whose error type a handler answers with.
    fn op_of<E, Fut>(_handler: impl Fn(&'static Request<'static>) -> Fut) -> Operation
    where
        E: OperationError,
        Fut: Future<Output = Result<Reply, E>>,
    {
        E::OPERATION
    }

    /// Each handler answers with the error type of its own operation, so it
    /// can only produce the exceptions the model lists for that operation.
    #[test]
    fn every_handler_has_its_operations_error_type() {
        let pairs = [
            (op_of(create_meeting), "CreateMeeting"),
            (
                op_of(create_meeting_with_attendees),
                "CreateMeetingWithAttendees",
            ),
            (op_of(|r| get_meeting(r, "")), "GetMeeting"),
            (op_of(|r| delete_meeting(r, "")), "DeleteMeeting"),
            (op_of(|r| create_attendee(r, "")), "CreateAttendee"),
            (
                op_of(|r| batch_create_attendee(r, "")),
                "BatchCreateAttendee",
            ),
            (op_of(|r| get_attendee(r, "", "")), "GetAttendee"),
            (op_of(|r| list_attendees(r, "")), "ListAttendees"),
            (op_of(|r| delete_attendee(r, "", "")), "DeleteAttendee"),
            (
                op_of(|r| update_attendee_capabilities(r, "", "")),
                "UpdateAttendeeCapabilities",
            ),
            (
                op_of(|r| batch_update_attendee_capabilities_except(r, "")),
                "BatchUpdateAttendeeCapabilitiesExcept",
            ),
            (
                op_of(|r| start_meeting_transcription(r, "")),
                "StartMeetingTranscription",
            ),
            (
                op_of(|r| stop_meeting_transcription(r, "")),
                "StopMeetingTranscription",
            ),
            (op_of(tag_resource), "TagResource"),
            (op_of(untag_resource), "UntagResource"),
            (op_of(list_tags_for_resource), "ListTagsForResource"),
        ];
        assert_eq!(pairs.len(), Operation::ALL.len());
        for (op, name) in pairs {
            assert_eq!(op.name(), name);
        }
    }
}
