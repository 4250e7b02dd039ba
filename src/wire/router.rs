//! Typed routing: method + path + the `operation` query literal → [`Endpoint`].

use super::error::WireError;
use crate::auth::sigv4::split_query;

/// Every operation of the API, with its URI labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    CreateMeeting,
    CreateMeetingWithAttendees,
    GetMeeting {
        meeting_id: String,
    },
    DeleteMeeting {
        meeting_id: String,
    },
    CreateAttendee {
        meeting_id: String,
    },
    BatchCreateAttendee {
        meeting_id: String,
    },
    GetAttendee {
        meeting_id: String,
        attendee_id: String,
    },
    ListAttendees {
        meeting_id: String,
    },
    DeleteAttendee {
        meeting_id: String,
        attendee_id: String,
    },
    UpdateAttendeeCapabilities {
        meeting_id: String,
        attendee_id: String,
    },
    BatchUpdateAttendeeCapabilitiesExcept {
        meeting_id: String,
    },
    StartMeetingTranscription {
        meeting_id: String,
    },
    StopMeetingTranscription {
        meeting_id: String,
    },
    TagResource,
    UntagResource,
    ListTagsForResource,
}

impl Endpoint {
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::CreateMeeting => "CreateMeeting",
            Endpoint::CreateMeetingWithAttendees => "CreateMeetingWithAttendees",
            Endpoint::GetMeeting { .. } => "GetMeeting",
            Endpoint::DeleteMeeting { .. } => "DeleteMeeting",
            Endpoint::CreateAttendee { .. } => "CreateAttendee",
            Endpoint::BatchCreateAttendee { .. } => "BatchCreateAttendee",
            Endpoint::GetAttendee { .. } => "GetAttendee",
            Endpoint::ListAttendees { .. } => "ListAttendees",
            Endpoint::DeleteAttendee { .. } => "DeleteAttendee",
            Endpoint::UpdateAttendeeCapabilities { .. } => "UpdateAttendeeCapabilities",
            Endpoint::BatchUpdateAttendeeCapabilitiesExcept { .. } => {
                "BatchUpdateAttendeeCapabilitiesExcept"
            }
            Endpoint::StartMeetingTranscription { .. } => "StartMeetingTranscription",
            Endpoint::StopMeetingTranscription { .. } => "StopMeetingTranscription",
            Endpoint::TagResource => "TagResource",
            Endpoint::UntagResource => "UntagResource",
            Endpoint::ListTagsForResource => "ListTagsForResource",
        }
    }

    /// True for the operations that change nothing (they only read the store).
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            Endpoint::GetMeeting { .. }
                | Endpoint::GetAttendee { .. }
                | Endpoint::ListAttendees { .. }
                | Endpoint::ListTagsForResource
        )
    }

    /// The MeetingId the request addresses, for operations that have one.
    pub fn meeting_id(&self) -> Option<&str> {
        match self {
            Endpoint::GetMeeting { meeting_id }
            | Endpoint::DeleteMeeting { meeting_id }
            | Endpoint::CreateAttendee { meeting_id }
            | Endpoint::BatchCreateAttendee { meeting_id }
            | Endpoint::GetAttendee { meeting_id, .. }
            | Endpoint::ListAttendees { meeting_id }
            | Endpoint::DeleteAttendee { meeting_id, .. }
            | Endpoint::UpdateAttendeeCapabilities { meeting_id, .. }
            | Endpoint::BatchUpdateAttendeeCapabilitiesExcept { meeting_id }
            | Endpoint::StartMeetingTranscription { meeting_id }
            | Endpoint::StopMeetingTranscription { meeting_id } => Some(meeting_id),
            Endpoint::CreateMeeting
            | Endpoint::CreateMeetingWithAttendees
            | Endpoint::TagResource
            | Endpoint::UntagResource
            | Endpoint::ListTagsForResource => None,
        }
    }

    /// Finds the operation a request addresses. `query` holds the decoded query parameters.
    pub fn parse(method: &str, path: &str, query: &Query) -> Result<Endpoint, WireError> {
        let unknown =
            || WireError::UnknownOperation(format!("No operation matches {method} {path}"));
        let segments: Vec<String> = path
            .strip_prefix('/')
            .ok_or_else(unknown)?
            .split('/')
            .map(percent_decode)
            .collect::<Option<_>>()
            .ok_or_else(unknown)?;
        let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
        let op = query.get("operation");
        let label = |s: &str| s.to_string();
        let endpoint = match (method, seg.as_slice(), op) {
            ("POST", ["meetings"], None) => Endpoint::CreateMeeting,
            ("POST", ["meetings"], Some("create-attendees")) => {
                Endpoint::CreateMeetingWithAttendees
            }
            ("GET", ["meetings", m], _) => Endpoint::GetMeeting {
                meeting_id: label(m),
            },
            ("DELETE", ["meetings", m], _) => Endpoint::DeleteMeeting {
                meeting_id: label(m),
            },
            ("POST", ["meetings", m, "attendees"], None) => Endpoint::CreateAttendee {
                meeting_id: label(m),
            },
            ("POST", ["meetings", m, "attendees"], Some("batch-create")) => {
                Endpoint::BatchCreateAttendee {
                    meeting_id: label(m),
                }
            }
            ("GET", ["meetings", m, "attendees"], _) => Endpoint::ListAttendees {
                meeting_id: label(m),
            },
            ("GET", ["meetings", m, "attendees", a], _) => Endpoint::GetAttendee {
                meeting_id: label(m),
                attendee_id: label(a),
            },
            ("DELETE", ["meetings", m, "attendees", a], _) => Endpoint::DeleteAttendee {
                meeting_id: label(m),
                attendee_id: label(a),
            },
            ("PUT", ["meetings", m, "attendees", "capabilities"], Some("batch-update-except")) => {
                Endpoint::BatchUpdateAttendeeCapabilitiesExcept {
                    meeting_id: label(m),
                }
            }
            ("PUT", ["meetings", m, "attendees", a, "capabilities"], _) => {
                Endpoint::UpdateAttendeeCapabilities {
                    meeting_id: label(m),
                    attendee_id: label(a),
                }
            }
            ("POST", ["meetings", m, "transcription"], Some("start")) => {
                Endpoint::StartMeetingTranscription {
                    meeting_id: label(m),
                }
            }
            ("POST", ["meetings", m, "transcription"], Some("stop")) => {
                Endpoint::StopMeetingTranscription {
                    meeting_id: label(m),
                }
            }
            ("GET", ["tags"], _) => Endpoint::ListTagsForResource,
            ("POST", ["tags"], Some("tag-resource")) => Endpoint::TagResource,
            ("POST", ["tags"], Some("untag-resource")) => Endpoint::UntagResource,
            _ => return Err(unknown()),
        };
        Ok(endpoint)
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    let bytes: Vec<u8> = form_urlencoded_free_decode(segment.as_bytes())?;
    String::from_utf8(bytes).ok()
}

/// Percent-decoding of a path segment (`+` stays `+`, unlike form encoding).
fn form_urlencoded_free_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Decoded query parameters, in order; the first value of a repeated key wins.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string the way the signature verifier reads it (a
    /// `+` is a space), so that what is routed is what was signed.
    pub fn parse(raw: Option<&str>) -> Query {
        Query {
            pairs: raw.map(split_query).unwrap_or_default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, target: &str) -> Result<Endpoint, WireError> {
        let (path, q) = target
            .split_once('?')
            .map_or((target, None), |(p, q)| (p, Some(q)));
        Endpoint::parse(method, path, &Query::parse(q))
    }

    #[test]
    fn routes() {
        assert_eq!(route("POST", "/meetings").unwrap(), Endpoint::CreateMeeting);
        assert_eq!(
            route("POST", "/meetings?operation=create-attendees").unwrap(),
            Endpoint::CreateMeetingWithAttendees
        );
        assert_eq!(
            route(
                "PUT",
                "/meetings/m/attendees/capabilities?operation=batch-update-except"
            )
            .unwrap(),
            Endpoint::BatchUpdateAttendeeCapabilitiesExcept {
                meeting_id: "m".into()
            }
        );
        assert_eq!(
            route("GET", "/meetings/m/attendees/capabilities").unwrap(),
            Endpoint::GetAttendee {
                meeting_id: "m".into(),
                attendee_id: "capabilities".into()
            }
        );
        assert_eq!(
            route(
                "GET",
                "/tags?arn=arn%3Aaws%3Achime%3Aus-east-1%3A1%3Ameeting%2Fx"
            )
            .unwrap(),
            Endpoint::ListTagsForResource
        );
        assert_eq!(
            route("GET", "/meetings/a%2Fb").unwrap(),
            Endpoint::GetMeeting {
                meeting_id: "a/b".into()
            }
        );
        assert!(route("POST", "/meetings?operation=nope").is_err());
        assert!(route("POST", "/meetings/m/transcription").is_err());
        assert!(route("PATCH", "/meetings").is_err());
        assert!(route("GET", "/meetings/%zz").is_err());
        assert!(route("GET", "/").is_err());
    }

    #[test]
    fn query() {
        let q = Query::parse(Some("next-token=a%2Fb%2B%3D&max-results=10&arn=x+y"));
        assert_eq!(q.get("next-token"), Some("a/b+="));
        assert_eq!(q.get("max-results"), Some("10"));
        assert_eq!(q.get("arn"), Some("x y"));
    }
}
