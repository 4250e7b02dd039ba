//! The wire layer: routes, request parsing, response and error encoding.
//!
//! Each operation has one handler here, typed by the generated model
//! (`crate::model::shapes`): the generated bindings (`bindings.rs`) decode the
//! request into the operation's input type, the handler turns it into domain
//! values (ids are parsed into their newtypes here, once; `decode.rs` applies
//! the domain's rules), calls the operation, and answers the operation's
//! output type (`encode.rs`), which the bindings write as the JSON body. A
//! handler's error type is the operation's own, so what reaches
//! [`error::WireError`] is always an exception the model lists for that
//! operation.

#[cfg(feature = "server")]
pub mod admin;
pub mod bind;
#[rustfmt::skip]
pub mod bindings;
#[cfg(feature = "server")]
pub mod console;
#[cfg(feature = "server")]
pub mod controls;
pub mod decode;
pub mod encode;
pub mod error;
#[cfg(feature = "server")]
pub mod eventlog;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod json;
pub mod json_out;
pub mod request_log;
pub mod router;
#[cfg(feature = "server")]
pub mod server;

use crate::domain::ids::{AttendeeId, MeetingId};
use crate::domain::placement::PublicBase;
use crate::domain::types::Caller;
use crate::domain::{validate, Checked};
use crate::model::shapes::{
    operations, BatchCreateAttendeeRequest, BatchCreateAttendeeResponse,
    BatchUpdateAttendeeCapabilitiesExceptRequest, CreateAttendeeRequest, CreateAttendeeResponse,
    CreateMeetingRequest, CreateMeetingResponse, CreateMeetingWithAttendeesRequest,
    CreateMeetingWithAttendeesResponse, DeleteAttendeeRequest, DeleteMeetingRequest,
    GetAttendeeRequest, GetAttendeeResponse, GetMeetingRequest, GetMeetingResponse,
    ListAttendeesRequest, ListAttendeesResponse, ListTagsForResourceRequest,
    ListTagsForResourceResponse, OperationShape, StartMeetingTranscriptionRequest,
    StopMeetingTranscriptionRequest, TagResourceRequest, TagResourceResponse, UntagResourceRequest,
    UntagResourceResponse, UpdateAttendeeCapabilitiesRequest, UpdateAttendeeCapabilitiesResponse,
};
use crate::model::{
    BatchCreateAttendeeError, BatchUpdateAttendeeCapabilitiesExceptError, CreateAttendeeError,
    CreateMeetingError, CreateMeetingWithAttendeesError, DeleteAttendeeError, DeleteMeetingError,
    GetAttendeeError, GetMeetingError, ListAttendeesError, ListTagsForResourceError,
    StartMeetingTranscriptionError, StopMeetingTranscriptionError, TagResourceError,
    UntagResourceError, UpdateAttendeeCapabilitiesError,
};
use crate::ops::Service;
use bind::{Binding, Raw};
use error::WireError;
use router::{Endpoint, Query};

/// A successful answer: the modeled status and an optional JSON body, as
/// the bytes sent.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Vec<u8>>,
}

/// What a handler gets: the service, the caller and the raw request parts.
pub struct Request<'a> {
    pub service: &'a Service,
    pub base: &'a PublicBase,
    pub caller: &'a Caller,
    pub query: &'a Query,
    pub body: &'a [u8],
}

fn meeting_id(raw: &str) -> Checked<MeetingId> {
    MeetingId::parse("MeetingId", raw)
}

fn attendee_id(raw: &str) -> Checked<AttendeeId> {
    AttendeeId::parse("AttendeeId", raw)
}

/// Decodes the operation's generated input, runs its handler, and encodes
/// the generated output. The types pin each handler to its operation: it
/// takes `O::Input`, answers `O::Output`, and fails only with `O::Error`.
macro_rules! serve {
    ($op:ident, $handler:ident, $req:expr, $raw:expr) => {{
        let input = <operations::$op as Binding>::decode($raw)
            .map_err(<operations::$op as OperationShape>::Error::from)?;
        answer::<operations::$op>($handler($req, input).await)?
    }};
}

/// The reply for an operation's result.
fn answer<O: Binding>(result: Result<O::Output, O::Error>) -> Result<Reply, WireError> {
    Ok(O::encode(&result?))
}

/// The URI labels the router matched, by their names in the model.
fn labels(endpoint: &Endpoint) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if let Some(m) = endpoint.meeting_id() {
        out.push(("MeetingId", m));
    }
    if let Endpoint::GetAttendee { attendee_id, .. }
    | Endpoint::DeleteAttendee { attendee_id, .. }
    | Endpoint::UpdateAttendeeCapabilities { attendee_id, .. } = endpoint
    {
        out.push(("AttendeeId", attendee_id.as_str()));
    }
    out
}

/// Decodes the request for `endpoint`, runs the operation and encodes its output.
pub async fn dispatch(req: &Request<'_>, endpoint: Endpoint) -> Result<Reply, WireError> {
    let labels = labels(&endpoint);
    let raw = &Raw {
        labels: &labels,
        query: req.query,
        body: req.body,
    };
    Ok(match endpoint {
        Endpoint::CreateMeeting => serve!(CreateMeeting, create_meeting, req, raw),
        Endpoint::CreateMeetingWithAttendees => serve!(
            CreateMeetingWithAttendees,
            create_meeting_with_attendees,
            req,
            raw
        ),
        Endpoint::GetMeeting { .. } => serve!(GetMeeting, get_meeting, req, raw),
        Endpoint::DeleteMeeting { .. } => serve!(DeleteMeeting, delete_meeting, req, raw),
        Endpoint::CreateAttendee { .. } => serve!(CreateAttendee, create_attendee, req, raw),
        Endpoint::BatchCreateAttendee { .. } => {
            serve!(BatchCreateAttendee, batch_create_attendee, req, raw)
        }
        Endpoint::GetAttendee { .. } => serve!(GetAttendee, get_attendee, req, raw),
        Endpoint::ListAttendees { .. } => serve!(ListAttendees, list_attendees, req, raw),
        Endpoint::DeleteAttendee { .. } => serve!(DeleteAttendee, delete_attendee, req, raw),
        Endpoint::UpdateAttendeeCapabilities { .. } => serve!(
            UpdateAttendeeCapabilities,
            update_attendee_capabilities,
            req,
            raw
        ),
        Endpoint::BatchUpdateAttendeeCapabilitiesExcept { .. } => serve!(
            BatchUpdateAttendeeCapabilitiesExcept,
            batch_update_attendee_capabilities_except,
            req,
            raw
        ),
        Endpoint::StartMeetingTranscription { .. } => serve!(
            StartMeetingTranscription,
            start_meeting_transcription,
            req,
            raw
        ),
        Endpoint::StopMeetingTranscription { .. } => serve!(
            StopMeetingTranscription,
            stop_meeting_transcription,
            req,
            raw
        ),
        Endpoint::TagResource => serve!(TagResource, tag_resource, req, raw),
        Endpoint::UntagResource => serve!(UntagResource, untag_resource, req, raw),
        Endpoint::ListTagsForResource => {
            serve!(ListTagsForResource, list_tags_for_resource, req, raw)
        }
    })
}

async fn create_meeting(
    req: &Request<'_>,
    input: CreateMeetingRequest,
) -> Result<CreateMeetingResponse, CreateMeetingError> {
    let input = decode::create_meeting(&input)?;
    let m = req.service.create_meeting(req.caller, input).await?;
    Ok(CreateMeetingResponse {
        meeting: Some(encode::meeting(&m, req.base)),
    })
}

async fn create_meeting_with_attendees(
    req: &Request<'_>,
    input: CreateMeetingWithAttendeesRequest,
) -> Result<CreateMeetingWithAttendeesResponse, CreateMeetingWithAttendeesError> {
    let meeting = decode::create_meeting(&decode::meeting_of(&input))?;
    let attendees = decode::attendee_list(&input.attendees)?;
    let r = req
        .service
        .create_meeting_with_attendees(req.caller, meeting, attendees)
        .await?;
    Ok(CreateMeetingWithAttendeesResponse {
        meeting: Some(encode::meeting(&r.meeting, req.base)),
        attendees: Some(encode::attendees(r.outcome.attendees)),
        errors: Some(encode::attendee_errors(&r.outcome.errors)),
    })
}

async fn get_meeting(
    req: &Request<'_>,
    input: GetMeetingRequest,
) -> Result<GetMeetingResponse, GetMeetingError> {
    let m = req
        .service
        .get_meeting(req.caller, meeting_id(&input.meeting_id)?)
        .await?;
    Ok(GetMeetingResponse {
        meeting: Some(encode::meeting(&m, req.base)),
    })
}

async fn delete_meeting(
    req: &Request<'_>,
    input: DeleteMeetingRequest,
) -> Result<(), DeleteMeetingError> {
    req.service
        .delete_meeting(req.caller, meeting_id(&input.meeting_id)?)
        .await?;
    Ok(())
}

async fn create_attendee(
    req: &Request<'_>,
    input: CreateAttendeeRequest,
) -> Result<CreateAttendeeResponse, CreateAttendeeError> {
    let attendee =
        decode::attendee_request(&input.external_user_id, input.capabilities.as_ref(), "")?;
    let a = req
        .service
        .create_attendee(req.caller, meeting_id(&input.meeting_id)?, attendee)
        .await?;
    Ok(CreateAttendeeResponse {
        attendee: Some(encode::attendee(a)),
    })
}

async fn batch_create_attendee(
    req: &Request<'_>,
    input: BatchCreateAttendeeRequest,
) -> Result<BatchCreateAttendeeResponse, BatchCreateAttendeeError> {
    let items = decode::attendee_list(&input.attendees)?;
    let r = req
        .service
        .batch_create_attendee(req.caller, meeting_id(&input.meeting_id)?, items)
        .await?;
    Ok(BatchCreateAttendeeResponse {
        attendees: Some(encode::attendees(r.attendees)),
        errors: Some(encode::attendee_errors(&r.errors)),
    })
}

async fn get_attendee(
    req: &Request<'_>,
    input: GetAttendeeRequest,
) -> Result<GetAttendeeResponse, GetAttendeeError> {
    let (m, a) = (
        meeting_id(&input.meeting_id)?,
        attendee_id(&input.attendee_id)?,
    );
    let a = req.service.get_attendee(req.caller, m, a).await?;
    Ok(GetAttendeeResponse {
        attendee: Some(encode::attendee(a)),
    })
}

async fn list_attendees(
    req: &Request<'_>,
    input: ListAttendeesRequest,
) -> Result<ListAttendeesResponse, ListAttendeesError> {
    let max_results = input
        .max_results
        .map(|n| validate::result_max("MaxResults", n))
        .transpose()?;
    let page = req
        .service
        .list_attendees(
            req.caller,
            meeting_id(&input.meeting_id)?,
            input.next_token,
            max_results,
        )
        .await?;
    Ok(ListAttendeesResponse {
        attendees: Some(encode::attendees(page.attendees)),
        next_token: page.next_token,
    })
}

async fn delete_attendee(
    req: &Request<'_>,
    input: DeleteAttendeeRequest,
) -> Result<(), DeleteAttendeeError> {
    let (m, a) = (
        meeting_id(&input.meeting_id)?,
        attendee_id(&input.attendee_id)?,
    );
    req.service.delete_attendee(req.caller, m, a).await?;
    Ok(())
}

async fn update_attendee_capabilities(
    req: &Request<'_>,
    input: UpdateAttendeeCapabilitiesRequest,
) -> Result<UpdateAttendeeCapabilitiesResponse, UpdateAttendeeCapabilitiesError> {
    let caps = decode::capabilities(&input.capabilities, "Capabilities.")?;
    let (m, a) = (
        meeting_id(&input.meeting_id)?,
        attendee_id(&input.attendee_id)?,
    );
    let a = req
        .service
        .update_attendee_capabilities(req.caller, m, a, caps)
        .await?;
    Ok(UpdateAttendeeCapabilitiesResponse {
        attendee: Some(encode::attendee(a)),
    })
}

async fn batch_update_attendee_capabilities_except(
    req: &Request<'_>,
    input: BatchUpdateAttendeeCapabilitiesExceptRequest,
) -> Result<(), BatchUpdateAttendeeCapabilitiesExceptError> {
    let caps = decode::capabilities(&input.capabilities, "Capabilities.")?;
    let m = meeting_id(&input.meeting_id)?;
    let excluded = &input.excluded_attendee_ids;
    validate::count("ExcludedAttendeeIds", excluded.len(), 1, 250)?;
    let excluded = excluded
        .iter()
        .enumerate()
        .map(|(i, item)| {
            AttendeeId::parse(
                &format!("ExcludedAttendeeIds[{i}].AttendeeId"),
                &item.attendee_id,
            )
        })
        .collect::<Checked<Vec<_>>>()?;
    req.service
        .batch_update_attendee_capabilities_except(req.caller, m, excluded, caps)
        .await?;
    Ok(())
}

async fn start_meeting_transcription(
    req: &Request<'_>,
    input: StartMeetingTranscriptionRequest,
) -> Result<(), StartMeetingTranscriptionError> {
    let config = decode::transcription(&input.transcription_configuration);
    req.service
        .start_meeting_transcription(req.caller, meeting_id(&input.meeting_id)?, config)
        .await?;
    Ok(())
}

async fn stop_meeting_transcription(
    req: &Request<'_>,
    input: StopMeetingTranscriptionRequest,
) -> Result<(), StopMeetingTranscriptionError> {
    req.service
        .stop_meeting_transcription(req.caller, meeting_id(&input.meeting_id)?)
        .await?;
    Ok(())
}

async fn tag_resource(
    req: &Request<'_>,
    input: TagResourceRequest,
) -> Result<TagResourceResponse, TagResourceError> {
    let tags = input.tags.iter().map(decode::tag).collect();
    req.service
        .tag_resource(req.caller, input.resource_arn, tags)
        .await?;
    Ok(TagResourceResponse {})
}

async fn untag_resource(
    req: &Request<'_>,
    input: UntagResourceRequest,
) -> Result<UntagResourceResponse, UntagResourceError> {
    req.service
        .untag_resource(req.caller, input.resource_arn, input.tag_keys)
        .await?;
    Ok(UntagResourceResponse {})
}

async fn list_tags_for_resource(
    req: &Request<'_>,
    input: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ListTagsForResourceError> {
    let tags = req
        .service
        .list_tags_for_resource(req.caller, input.resource_arn)
        .await?;
    Ok(ListTagsForResourceResponse {
        tags: Some(encode::tags(&tags)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Operation;
    use std::future::Future;

    /// The operation whose generated types a handler takes and answers.
    fn op_of<O, Fut>(_handler: impl Fn(&'static Request<'static>, O::Input) -> Fut) -> Operation
    where
        O: OperationShape,
        Fut: Future<Output = Result<O::Output, O::Error>>,
    {
        O::OPERATION
    }

    /// Each handler takes its operation's input type, answers its output type
    /// and fails with its error type, so it can only produce the exceptions
    /// the model lists for that operation.
    #[test]
    fn every_handler_has_its_operations_types() {
        use operations as o;
        let pairs = [
            (
                op_of::<o::CreateMeeting, _>(create_meeting),
                "CreateMeeting",
            ),
            (
                op_of::<o::CreateMeetingWithAttendees, _>(create_meeting_with_attendees),
                "CreateMeetingWithAttendees",
            ),
            (op_of::<o::GetMeeting, _>(get_meeting), "GetMeeting"),
            (
                op_of::<o::DeleteMeeting, _>(delete_meeting),
                "DeleteMeeting",
            ),
            (
                op_of::<o::CreateAttendee, _>(create_attendee),
                "CreateAttendee",
            ),
            (
                op_of::<o::BatchCreateAttendee, _>(batch_create_attendee),
                "BatchCreateAttendee",
            ),
            (op_of::<o::GetAttendee, _>(get_attendee), "GetAttendee"),
            (
                op_of::<o::ListAttendees, _>(list_attendees),
                "ListAttendees",
            ),
            (
                op_of::<o::DeleteAttendee, _>(delete_attendee),
                "DeleteAttendee",
            ),
            (
                op_of::<o::UpdateAttendeeCapabilities, _>(update_attendee_capabilities),
                "UpdateAttendeeCapabilities",
            ),
            (
                op_of::<o::BatchUpdateAttendeeCapabilitiesExcept, _>(
                    batch_update_attendee_capabilities_except,
                ),
                "BatchUpdateAttendeeCapabilitiesExcept",
            ),
            (
                op_of::<o::StartMeetingTranscription, _>(start_meeting_transcription),
                "StartMeetingTranscription",
            ),
            (
                op_of::<o::StopMeetingTranscription, _>(stop_meeting_transcription),
                "StopMeetingTranscription",
            ),
            (op_of::<o::TagResource, _>(tag_resource), "TagResource"),
            (
                op_of::<o::UntagResource, _>(untag_resource),
                "UntagResource",
            ),
            (
                op_of::<o::ListTagsForResource, _>(list_tags_for_resource),
                "ListTagsForResource",
            ),
        ];
        assert_eq!(pairs.len(), Operation::ALL.len());
        for (op, name) in pairs {
            assert_eq!(op.name(), name);
        }
    }
}
