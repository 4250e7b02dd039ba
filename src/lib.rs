//! Convene: a server that speaks the Amazon Chime SDK Meetings API.
//!
//! Layers, top to bottom: [`wire`] (routes, request parsing, error encoding) →
//! [`auth`] (who is calling) → [`ops`] (one module per resource) → [`domain`]
//! (types and validation) → [`store`] (transactions over SQLite), with
//! [`model`] (generated from the AWS model) beneath them all. ARCHITECTURE.md
//! at the repository root tells the whole story.

pub mod auth;
#[cfg(all(feature = "postgres", feature = "server"))]
pub mod cluster;
pub mod config;
pub mod domain;
pub mod events;
#[cfg(feature = "server")]
pub mod media;
pub mod model;
pub mod ops;
pub mod ready;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod wire;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
