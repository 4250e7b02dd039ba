//! What the service model says about errors, as the fault rules need it:
//! which exceptions each operation may raise, and each exception's status.
//!
//! A stand-in until the table generated from `service-2.json` lands; the
//! entries are the model's `operations.*.errors` and `error.httpStatusCode`.

use crate::domain::ErrorKind;

/// Each operation with the exceptions the model lists for it.
pub const OPERATION_ERRORS: &[(&str, &[&str])] = &[
    (
        "BatchCreateAttendee",
        &[
            "BadRequestException",
            "ForbiddenException",
            "NotFoundException",
            "UnauthorizedException",
            "UnprocessableEntityException",
            "LimitExceededException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "BatchUpdateAttendeeCapabilitiesExcept",
        &[
            "BadRequestException",
            "ConflictException",
            "UnauthorizedException",
            "NotFoundException",
            "ForbiddenException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "CreateAttendee",
        &[
            "BadRequestException",
            "ForbiddenException",
            "NotFoundException",
            "UnauthorizedException",
            "UnprocessableEntityException",
            "LimitExceededException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "CreateMeeting",
        &[
            "BadRequestException",
            "ConflictException",
            "ForbiddenException",
            "UnauthorizedException",
            "ThrottlingException",
            "ServiceFailureException",
            "ServiceUnavailableException",
            "LimitExceededException",
        ],
    ),
    (
        "CreateMeetingWithAttendees",
        &[
            "BadRequestException",
            "ConflictException",
            "ForbiddenException",
            "UnauthorizedException",
            "ThrottlingException",
            "ServiceFailureException",
            "ServiceUnavailableException",
            "LimitExceededException",
        ],
    ),
    (
        "DeleteAttendee",
        &[
            "BadRequestException",
            "ForbiddenException",
            "NotFoundException",
            "UnauthorizedException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "DeleteMeeting",
        &[
            "BadRequestException",
            "ForbiddenException",
            "UnauthorizedException",
            "NotFoundException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "GetAttendee",
        &[
            "BadRequestException",
            "ForbiddenException",
            "NotFoundException",
            "UnauthorizedException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "GetMeeting",
        &[
            "NotFoundException",
            "BadRequestException",
            "ForbiddenException",
            "UnauthorizedException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "ListAttendees",
        &[
            "BadRequestException",
            "ForbiddenException",
            "NotFoundException",
            "UnauthorizedException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
    (
        "ListTagsForResource",
        &[
            "BadRequestException",
            "ForbiddenException",
            "UnauthorizedException",
            "LimitExceededException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
            "ResourceNotFoundException",
        ],
    ),
    (
        "StartMeetingTranscription",
        &[
            "NotFoundException",
            "ForbiddenException",
            "BadRequestException",
            "UnauthorizedException",
            "LimitExceededException",
            "UnprocessableEntityException",
            "ThrottlingException",
            "ServiceUnavailableException",
            "ServiceFailureException",
        ],
    ),
    (
        "StopMeetingTranscription",
        &[
            "ForbiddenException",
            "NotFoundException",
            "BadRequestException",
            "UnauthorizedException",
            "UnprocessableEntityException",
            "ThrottlingException",
            "ServiceUnavailableException",
            "ServiceFailureException",
        ],
    ),
    (
        "TagResource",
        &[
            "BadRequestException",
            "ForbiddenException",
            "UnauthorizedException",
            "LimitExceededException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
            "ResourceNotFoundException",
            "TooManyTagsException",
        ],
    ),
    (
        "UntagResource",
        &[
            "BadRequestException",
            "ForbiddenException",
            "UnauthorizedException",
            "LimitExceededException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
            "ResourceNotFoundException",
        ],
    ),
    (
        "UpdateAttendeeCapabilities",
        &[
            "BadRequestException",
            "ConflictException",
            "UnauthorizedException",
            "NotFoundException",
            "ForbiddenException",
            "ServiceUnavailableException",
            "ServiceFailureException",
            "ThrottlingException",
        ],
    ),
];

/// Each exception shape with the HTTP status the model gives it.
pub const EXCEPTION_STATUS: &[(&str, u16)] = &[
    ("BadRequestException", 400),
    ("ConflictException", 409),
    ("ForbiddenException", 403),
    ("LimitExceededException", 400),
    ("NotFoundException", 404),
    ("ResourceNotFoundException", 404),
    ("ServiceFailureException", 500),
    ("ServiceUnavailableException", 503),
    ("ThrottlingException", 429),
    ("TooManyTagsException", 400),
    ("UnauthorizedException", 401),
    ("UnprocessableEntityException", 422),
];

/// The exceptions the model lists for `operation` (`None`: no such operation).
pub fn operation_errors(operation: &str) -> Option<&'static [&'static str]> {
    OPERATION_ERRORS
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, errors)| *errors)
}

/// The model's HTTP status of exception `shape` (`None`: not a modeled exception).
pub fn exception_status(shape: &str) -> Option<u16> {
    EXCEPTION_STATUS
        .iter()
        .find(|(s, _)| *s == shape)
        .map(|(_, status)| *status)
}

/// The names of every operation.
pub fn operations() -> impl Iterator<Item = &'static str> {
    OPERATION_ERRORS.iter().map(|(op, _)| *op)
}

/// The error kind that answers with exception `shape`.
pub fn kind_of(shape: &str) -> Option<ErrorKind> {
    const MODELED: [ErrorKind; 12] = [
        ErrorKind::BadRequest,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::ResourceNotFound,
        ErrorKind::Conflict,
        ErrorKind::LimitExceeded,
        ErrorKind::TooManyTags,
        ErrorKind::UnprocessableEntity,
        ErrorKind::Throttling,
        ErrorKind::ServiceFailure,
        ErrorKind::ServiceUnavailable,
    ];
    MODELED.into_iter().find(|k| k.shape() == shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_exception_is_modeled_with_our_status() {
        for (op, errors) in OPERATION_ERRORS {
            for e in *errors {
                let status = exception_status(e).unwrap_or_else(|| panic!("{op}: {e}"));
                assert_eq!(kind_of(e).map(|k| k.status()), Some(status), "{e}");
            }
        }
        assert_eq!(operations().count(), 16);
    }
}
