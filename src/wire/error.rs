//! Every error answer of the API, mapped to HTTP in this one place: the
//! status, the `x-amzn-ErrorType` header, `Retry-After`, and the JSON body.

use crate::auth::sigv4::AuthFailure;
use crate::model::{Exception, ModeledError};

/// Anything a request can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// An exception of the model. Operations produce these through their own
    /// error types, so an operation's answer is always one its model lists.
    Modeled(ModeledError),
    /// The request's SigV4 authentication was refused.
    Auth(AuthFailure),
    /// No operation matches the method, path and query.
    UnknownOperation(String),
    /// The body is larger than the server accepts.
    PayloadTooLarge(String),
    /// The body did not arrive in time.
    RequestTimeout(String),
}

impl WireError {
    /// A store failure outside any operation (Convene's own views): the
    /// answer every operation gives for it.
    pub fn from_store(e: crate::store::StoreError) -> WireError {
        match crate::ops::store_failure(e) {
            Ok(unavailable) => unavailable.into(),
            Err(failure) => failure.into(),
        }
    }
}

impl<E: Into<ModeledError>> From<E> for WireError {
    fn from(e: E) -> WireError {
        WireError::Modeled(e.into())
    }
}

/// The short code the real service puts in the body's `Code` member.
pub fn exception_code(e: Exception) -> &'static str {
    match e {
        Exception::BadRequest => "BadRequest",
        Exception::Unauthorized => "Unauthorized",
        Exception::Forbidden => "Forbidden",
        Exception::NotFound | Exception::ResourceNotFound => "NotFound",
        Exception::Conflict => "Conflict",
        Exception::LimitExceeded | Exception::TooManyTags => "ResourceLimitExceeded",
        Exception::UnprocessableEntity => "Unprocessable",
        Exception::Throttling => "Throttling",
        Exception::ServiceFailure => "ServiceFailure",
        Exception::ServiceUnavailable => "ServiceUnavailable",
    }
}

impl WireError {
    /// The shape name, sent as `x-amzn-ErrorType`.
    pub fn shape(&self) -> &'static str {
        match self {
            WireError::Modeled(e) => e.exception.shape_name(),
            WireError::Auth(AuthFailure::Missing) => "MissingAuthenticationTokenException",
            WireError::Auth(AuthFailure::Incomplete(_)) => "IncompleteSignatureException",
            WireError::Auth(AuthFailure::Invalid(_)) => "InvalidSignatureException",
            WireError::Auth(AuthFailure::Unrecognized) => "UnrecognizedClientException",
            WireError::UnknownOperation(_) => "UnknownOperationException",
            WireError::PayloadTooLarge(_) => "RequestEntityTooLargeException",
            WireError::RequestTimeout(_) => "RequestTimeoutException",
        }
    }

    /// The body's `Code`.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Modeled(e) => exception_code(e.exception),
            WireError::Auth(AuthFailure::Missing) => "MissingAuthenticationToken",
            WireError::Auth(AuthFailure::Incomplete(_)) => "IncompleteSignature",
            WireError::Auth(AuthFailure::Invalid(_)) => "InvalidSignature",
            WireError::Auth(AuthFailure::Unrecognized) => "UnrecognizedClient",
            WireError::UnknownOperation(_) => "UnknownOperation",
            WireError::PayloadTooLarge(_) => "RequestEntityTooLarge",
            WireError::RequestTimeout(_) => "RequestTimeout",
        }
    }

    /// The HTTP status: the model's for its exceptions, AWS's front ends' for the rest.
    pub fn status(&self) -> u16 {
        match self {
            WireError::Modeled(e) => e.exception.status(),
            WireError::Auth(_) => 403,
            WireError::UnknownOperation(_) => 404,
            WireError::PayloadTooLarge(_) => 413,
            WireError::RequestTimeout(_) => 408,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            WireError::Modeled(e) => &e.message,
            WireError::Auth(AuthFailure::Missing) => "Missing Authentication Token",
            WireError::Auth(AuthFailure::Unrecognized) => {
                "The security token included in the request is invalid."
            }
            WireError::Auth(AuthFailure::Incomplete(m) | AuthFailure::Invalid(m))
            | WireError::UnknownOperation(m)
            | WireError::PayloadTooLarge(m)
            | WireError::RequestTimeout(m) => m,
        }
    }

    /// `ResourceName`, carried in the body by ResourceNotFound and TooManyTags.
    pub fn resource_name(&self) -> Option<&str> {
        match self {
            WireError::Modeled(e) => e.resource_name.as_deref(),
            _ => None,
        }
    }

    /// `RetryAfterSeconds`, which the model sends as the `Retry-After` header.
    pub fn retry_after(&self) -> Option<&str> {
        match self {
            WireError::Modeled(e) => e.retry_after_seconds.as_deref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.shape(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ServiceUnavailableException, TooManyTagsException};

    #[test]
    fn modeled_exceptions_keep_their_status_and_members() {
        let mut u = ServiceUnavailableException::new("busy");
        u.retry_after_seconds = Some("1".into());
        let e = WireError::from(u);
        assert_eq!(e.status(), 503);
        assert_eq!(e.shape(), "ServiceUnavailableException");
        assert_eq!(e.code(), "ServiceUnavailable");
        assert_eq!(e.retry_after(), Some("1"));
        let mut t = TooManyTagsException::new("too many");
        t.resource_name = Some("arn".into());
        let e = WireError::from(t);
        assert_eq!(
            (e.status(), e.code(), e.resource_name()),
            (400, "ResourceLimitExceeded", Some("arn"))
        );
        assert_eq!(WireError::PayloadTooLarge("x".into()).status(), 413);
        assert_eq!(WireError::Auth(AuthFailure::Missing).status(), 403);
    }
}
