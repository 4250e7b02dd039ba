//! The domain's one error: a request that breaks a rule of the model.
//!
//! Validation answers with the model's `BadRequestException` (generated in
//! [`crate::model`]), which every operation lists. Which other exceptions an
//! operation may give is a fact of its own error type (`CreateMeetingError`,
//! ...); HTTP status codes and headers belong to the wire layer alone.

pub use crate::model::BadRequestException as Invalid;

/// The result of a check or a parse.
pub type Checked<T> = Result<T, Invalid>;

/// `Invalid value for <member>: <what>`.
pub fn invalid(member: &str, what: impl std::fmt::Display) -> Invalid {
    Invalid::new(format!("Invalid value for {member}: {what}"))
}
