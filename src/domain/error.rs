//! The modeled errors of the API, independent of HTTP.
//!
//! Every failure an operation can report is one of the exception shapes the
//! service model defines. The wire layer turns an [`ApiError`] into a status
//! code, the `x-amzn-ErrorType` header and a JSON body.

use std::fmt;

/// The exception shapes of `chime-sdk-meetings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    ResourceNotFound,
    Conflict,
    LimitExceeded,
    TooManyTags,
    UnprocessableEntity,
    Throttling,
    ServiceFailure,
    ServiceUnavailable,
    /// Authentication: no signature at all.
    MissingAuthenticationToken,
    /// Authentication: a signature with parts missing or malformed.
    IncompleteSignature,
    /// Authentication: a signature that does not verify or is out of date.
    InvalidSignature,
    /// Authentication: an unknown access key.
    UnrecognizedClient,
    /// Not a modeled shape: the answer to a request that matches no operation,
    /// as AWS's front ends give it.
    UnknownOperation,
    /// Not a modeled shape: the request body is larger than the server accepts.
    PayloadTooLarge,
    /// Not a modeled shape: the request body did not arrive in time.
    RequestTimeout,
}

impl ErrorKind {
    /// The shape name, sent as `x-amzn-ErrorType`.
    pub fn shape(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "BadRequestException",
            ErrorKind::Unauthorized => "UnauthorizedException",
            ErrorKind::Forbidden => "ForbiddenException",
            ErrorKind::NotFound => "NotFoundException",
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::Conflict => "ConflictException",
            ErrorKind::LimitExceeded => "LimitExceededException",
            ErrorKind::TooManyTags => "TooManyTagsException",
            ErrorKind::UnprocessableEntity => "UnprocessableEntityException",
            ErrorKind::Throttling => "ThrottlingException",
            ErrorKind::ServiceFailure => "ServiceFailureException",
            ErrorKind::ServiceUnavailable => "ServiceUnavailableException",
            ErrorKind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorKind::IncompleteSignature => "IncompleteSignatureException",
            ErrorKind::InvalidSignature => "InvalidSignatureException",
            ErrorKind::UnrecognizedClient => "UnrecognizedClientException",
            ErrorKind::UnknownOperation => "UnknownOperationException",
            ErrorKind::PayloadTooLarge => "RequestEntityTooLargeException",
            ErrorKind::RequestTimeout => "RequestTimeoutException",
        }
    }

    /// The short code the real service puts in the body's `Code` member.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "BadRequest",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotFound | ErrorKind::ResourceNotFound => "NotFound",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::LimitExceeded | ErrorKind::TooManyTags => "ResourceLimitExceeded",
            ErrorKind::UnprocessableEntity => "Unprocessable",
            ErrorKind::Throttling => "Throttling",
            ErrorKind::ServiceFailure => "ServiceFailure",
            ErrorKind::ServiceUnavailable => "ServiceUnavailable",
            ErrorKind::MissingAuthenticationToken => "MissingAuthenticationToken",
            ErrorKind::IncompleteSignature => "IncompleteSignature",
            ErrorKind::InvalidSignature => "InvalidSignature",
            ErrorKind::UnrecognizedClient => "UnrecognizedClient",
            ErrorKind::UnknownOperation => "UnknownOperation",
            ErrorKind::PayloadTooLarge => "RequestEntityTooLarge",
            ErrorKind::RequestTimeout => "RequestTimeout",
        }
    }

    /// The HTTP status the model gives the shape.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest | ErrorKind::LimitExceeded | ErrorKind::TooManyTags => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden
            | ErrorKind::MissingAuthenticationToken
            | ErrorKind::IncompleteSignature
            | ErrorKind::InvalidSignature
            | ErrorKind::UnrecognizedClient => 403,
            ErrorKind::NotFound | ErrorKind::ResourceNotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::UnprocessableEntity => 422,
            ErrorKind::Throttling => 429,
            ErrorKind::ServiceFailure => 500,
            ErrorKind::ServiceUnavailable => 503,
            ErrorKind::UnknownOperation => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RequestTimeout => 408,
        }
    }
}

/// A modeled error with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// `ResourceName`, carried by ResourceNotFound and TooManyTags.
    pub resource_name: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            resource_name: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitExceeded, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn service_failure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServiceFailure, message)
    }

    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    pub fn meeting_not_found(meeting_id: &str) -> Self {
        Self::not_found(format!("Meeting {meeting_id} not found"))
    }

    pub fn attendee_not_found(attendee_id: &str) -> Self {
        Self::not_found(format!("Attendee {attendee_id} not found"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.shape(), self.message)
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;
