//! What the generated bindings (`bindings.rs`, from `codegen/`) stand on: the
//! raw parts of a request ([`Raw`]) and the [`Binding`] each operation's
//! marker type implements.

use serde_json::Value;

use super::router::Query;
use super::{json, Reply};
use crate::domain::{invalid, validate, Checked, Invalid};
use crate::model::shapes::OperationShape;

/// How an operation's input is read from a request, and its output written.
pub trait Binding: OperationShape {
    /// Reads the input: JSON types and required members; no value rules.
    fn decode(raw: &Raw<'_>) -> Checked<Self::Input>;
    /// Writes the output with the operation's success status.
    fn encode(output: &Self::Output) -> Reply;
}

/// A request as the bindings read it: the URI labels the router matched, the
/// query and the body.
pub struct Raw<'a> {
    pub labels: &'a [(&'static str, &'a str)],
    pub query: &'a Query,
    pub body: &'a [u8],
}

impl Raw<'_> {
    /// The JSON body; an empty body reads as `{}`.
    pub fn json(&self) -> Checked<Value> {
        json::parse_body(self.body)
    }

    /// A URI label, as the router matched it.
    pub fn label(&self, name: &str) -> String {
        self.labels
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_string())
            .unwrap_or_default()
    }

    pub fn query_str(&self, key: &str) -> Option<String> {
        self.query.get(key).map(str::to_string)
    }

    pub fn req_query_str(&self, key: &str, member: &str) -> Checked<String> {
        self.query_str(key).ok_or_else(|| {
            Invalid::new(format!(
                "Missing required member {member} (query parameter {key})"
            ))
        })
    }

    /// An integer query parameter within the model's range.
    pub fn query_int_within(
        &self,
        key: &str,
        member: &str,
        min: i64,
        max: i64,
    ) -> Checked<Option<i64>> {
        let n = self.query_int(key, member)?;
        if let Some(n) = n {
            validate::within(member, n, min, max)?;
        }
        Ok(n)
    }

    /// An integer query parameter (surrounding spaces allowed).
    pub fn query_int(&self, key: &str, member: &str) -> Checked<Option<i64>> {
        match self.query.get(key) {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| invalid(member, format!("expected an integer, got {raw:?}"))),
        }
    }
}
