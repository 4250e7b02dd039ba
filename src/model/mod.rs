//! The service model, generated from `service-2.json` by `codegen/`
//! (`cargo run -p convene-codegen`), kept apart from hand-written code.
//!
//! [`generated`] holds the operation table ([`Operation`], [`OperationSpec`]),
//! every shape with its constraints ([`shape`]), the exceptions with their
//! HTTP status ([`Exception`]), and one error enum per operation
//! (`CreateMeetingError`, ...) that can hold only the exceptions the model
//! lists for that operation. [`shapes`] holds each operation's input and
//! output types and the structures they use, with a marker type per
//! operation ([`shapes::OperationShape`]). Hand-written additions belong in
//! this file.

#[rustfmt::skip]
pub mod generated;
#[rustfmt::skip]
pub mod shapes;

pub use generated::*;
