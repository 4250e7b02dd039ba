//! Domain types, identifiers and validation: what the API means, with no HTTP and no SQL.

pub mod clock;
pub mod error;
pub mod ids;
pub mod placement;
pub mod transcription;
pub mod types;
pub mod validate;

pub use error::{invalid, Checked, Invalid};
