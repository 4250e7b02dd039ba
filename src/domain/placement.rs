//! MediaPlacement: where clients find the media services of a meeting.

use serde::Serialize;

/// The public address clients use to reach this server, from which every
/// MediaPlacement URL is built.
#[derive(Debug, Clone)]
pub struct PublicBase {
    /// `https` or `http`.
    secure: bool,
    /// `host` or `host:port`, as clients should dial it.
    authority: String,
    /// Host name alone.
    host: String,
    /// A path prefix, without a trailing slash (often empty).
    prefix: String,
    /// `host:port` of the media (UDP) endpoint, when known.
    media: Option<String>,
    /// What every meeting's URLs begin with, made once: `ws[s]://authority/prefix`,
    /// and the URLs that name no meeting.
    fixed: Fixed,
}

/// The parts of a MediaPlacement that are the same for every meeting.
#[derive(Debug, Clone, Default)]
struct Fixed {
    ws: String,
    audio_host_url: String,
    turn_control_url: String,
    event_ingestion_url: String,
}

impl PublicBase {
    /// Parses `http[s]://host[:port][/prefix]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (secure, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!(
                "public URL {url:?} must begin with http:// or https://"
            ));
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty()
            || authority.contains(['?', '#', '@', ' '])
            || prefix.contains(['?', '#'])
        {
            return Err(format!(
                "public URL {url:?} is not of the form http[s]://host[:port][/prefix]"
            ));
        }
        let host = if authority.starts_with('[') {
            authority.split_inclusive(']').next().unwrap_or(authority)
        } else {
            authority.rsplit_once(':').map_or(authority, |(h, _)| h)
        };
        Ok(PublicBase {
            secure,
            authority: authority.to_string(),
            host: host.to_string(),
            prefix: prefix.to_string(),
            media: None,
            fixed: Fixed::default(),
        }
        .fix())
    }

    /// Names the media endpoint (`AudioHostUrl`) instead of `<host>:3478`.
    pub fn with_media_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.media = Some(addr.to_string());
        self.fix()
    }

    /// Makes the fixed parts of every placement from the fields.
    fn fix(mut self) -> Self {
        self.fixed = Fixed {
            ws: self.ws(),
            audio_host_url: self
                .media
                .clone()
                .unwrap_or_else(|| format!("{}:3478", self.host)),
            turn_control_url: format!("{}/v2/turn_sessions", self.http()),
            event_ingestion_url: format!("{}/v1/client-events", self.http()),
        };
        self
    }

    fn http(&self) -> String {
        format!(
            "{}://{}{}",
            if self.secure { "https" } else { "http" },
            self.authority,
            self.prefix
        )
    }

    fn ws(&self) -> String {
        format!(
            "{}://{}{}",
            if self.secure { "wss" } else { "ws" },
            self.authority,
            self.prefix
        )
    }

    /// The URLs of one meeting. They have the shapes of AWS's own
    /// (`…/control/<MeetingId>`, `…/calls/<MeetingId>`, …) on this server's address.
    pub fn placement(&self, meeting_id: &str) -> MediaPlacement {
        let ws = &self.fixed.ws;
        let screen = concat(&[ws, "/v2/screen/", meeting_id]);
        MediaPlacement {
            audio_host_url: self.fixed.audio_host_url.clone(),
            audio_fallback_url: concat(&[ws, "/calls/", meeting_id]),
            signaling_url: concat(&[ws, "/control/", meeting_id]),
            turn_control_url: self.fixed.turn_control_url.clone(),
            screen_data_url: screen.clone(),
            screen_viewing_url: concat(&[
                ws,
                "/ws/connect?passcode=null&viewer_uuid=null&X-BitHub-Call-Id=",
                meeting_id,
            ]),
            screen_sharing_url: screen,
            event_ingestion_url: self.fixed.event_ingestion_url.clone(),
        }
    }
}

/// The pieces one after another, in a string of exactly their length.
fn concat(pieces: &[&str]) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for p in pieces {
        out.push_str(p);
    }
    out
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct MediaPlacement {
    pub audio_host_url: String,
    pub audio_fallback_url: String,
    pub signaling_url: String,
    pub turn_control_url: String,
    pub screen_data_url: String,
    pub screen_viewing_url: String,
    pub screen_sharing_url: String,
    pub event_ingestion_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = PublicBase::parse("http://127.0.0.1:8080")
            .unwrap()
            .placement("m");
        assert_eq!(p.signaling_url, "ws://127.0.0.1:8080/control/m");
        assert_eq!(p.audio_host_url, "127.0.0.1:3478");
        let with_media = PublicBase::parse("http://127.0.0.1:8080")
            .unwrap()
            .with_media_addr("127.0.0.1:40000".parse().unwrap())
            .placement("m");
        assert_eq!(with_media.audio_host_url, "127.0.0.1:40000");
        assert_eq!(
            p.event_ingestion_url,
            "http://127.0.0.1:8080/v1/client-events"
        );
        let p = PublicBase::parse("https://meet.example.com/convene/")
            .unwrap()
            .placement("m");
        assert_eq!(p.signaling_url, "wss://meet.example.com/convene/control/m");
        assert_eq!(p.audio_host_url, "meet.example.com:3478");
        assert!(PublicBase::parse("ftp://x").is_err());
        assert_eq!(
            PublicBase::parse("http://[::1]:80")
                .unwrap()
                .placement("m")
                .audio_host_url,
            "[::1]:3478"
        );
    }
}
