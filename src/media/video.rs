//! Video routing: the SFU side of camera tiles and content share.
//!
//! A client that sends video gets a global stream id and group id (SUBSCRIBE_ACK
//! `allocations`); every other client learns of it in INDEX (`sources`). A
//! client subscribes with SUBSCRIBE `receive_stream_ids`, one entry per video
//! m-line of its offer after the camera slot (0 = nothing). The server answers
//! those m-lines `sendonly` and names each one, in the answer's `a=msid` and in
//! SUBSCRIBE_ACK `tracks`, with a track label, which is how the client binds a
//! tile to an attendee.
//!
//! Forwarding is per source: a [`Subscription`] says "this m-line of this
//! subscriber carries that source stream". Frames are forwarded without
//! transcoding; keyframe requests go back to the source. Simulcast fits here
//! later: a source would get one stream id per layer (same group id), and a
//! subscription would name the layer's stream id; nothing else changes.

/// The track label the clients give their camera (and content) send stream.
pub const SEND_TRACK_LABEL: &str = "AmazonChimeExpressVideo";

/// Video streams one client may receive at once (announced in JOIN_ACK).
pub const VIDEO_SUBSCRIPTION_LIMIT: u32 = 25;

/// One subscribed m-line: the subscriber's `mid` carries source `stream_id`,
/// announced under `label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub mid: String,
    pub stream_id: u32,
    pub label: String,
}

/// What the answer says about one subscription: the SSRC the server sends it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub stream_id: u32,
    pub ssrc: u32,
    pub label: String,
}

/// The label of a source stream in answers and SUBSCRIBE_ACK `tracks`.
pub fn track_label(stream_id: u32) -> String {
    format!("convene-video-{stream_id}")
}

/// The mids of the video m-lines of an SDP, in order.
pub fn video_mids(sdp: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_video = false;
    for line in sdp.lines() {
        if let Some(rest) = line.strip_prefix("m=") {
            in_video = rest.starts_with("video");
        } else if in_video {
            if let Some(mid) = line.strip_prefix("a=mid:") {
                out.push(mid.trim().to_string());
                in_video = false;
            }
        }
    }
    out
}

/// Pairs `receive_stream_ids` with the offer's video m-lines: slot 0 is the
/// camera (never a subscription), 0 means nothing; `allowed` says whether a
/// stream may be received, and at most `limit` are taken.
pub fn subscriptions(
    offer: &str,
    receive_stream_ids: &[u32],
    allowed: impl Fn(u32) -> bool,
    limit: usize,
) -> Vec<Subscription> {
    let mids = video_mids(offer);
    let mut out: Vec<Subscription> = Vec::new();
    for (i, &stream_id) in receive_stream_ids.iter().enumerate().skip(1) {
        if out.len() >= limit {
            break;
        }
        let Some(mid) = mids.get(i) else { break };
        if stream_id == 0 || !allowed(stream_id) || out.iter().any(|s| s.stream_id == stream_id) {
            continue;
        }
        out.push(Subscription {
            mid: mid.clone(),
            stream_id,
            label: track_label(stream_id),
        });
    }
    out
}

/// Rewrites the answer so that each subscribed, sending m-line carries its
/// label as the msid stream id, and returns the SSRC of each. Subscriptions
/// whose m-line does not send (or has no SSRC) are left out.
pub fn label_answer(answer: &str, subs: &[Subscription]) -> (String, Vec<Track>) {
    let mut sections: Vec<Vec<String>> = vec![vec![]];
    for line in answer.lines() {
        if line.starts_with("m=") {
            sections.push(vec![]);
        }
        sections
            .last_mut()
            .expect("one section")
            .push(line.to_string());
    }
    let mut tracks = Vec::new();
    for sec in sections.iter_mut().skip(1) {
        let Some(mid) = sec.iter().find_map(|l| l.strip_prefix("a=mid:")) else {
            continue;
        };
        let Some(sub) = subs.iter().find(|s| s.mid == mid.trim()) else {
            continue;
        };
        let sending = sec.iter().any(|l| l == "a=sendonly" || l == "a=sendrecv");
        let ssrc = sec.iter().find_map(|l| {
            let rest = l.strip_prefix("a=ssrc:")?;
            rest.split_whitespace().next()?.parse::<u32>().ok()
        });
        let (true, Some(ssrc)) = (sending, ssrc) else {
            continue;
        };
        let track_id = format!("{}-track", sub.label);
        for l in sec.iter_mut() {
            if l.starts_with("a=msid:") {
                *l = format!("a=msid:{} {track_id}", sub.label);
            } else if let Some(rest) = l.strip_prefix("a=ssrc:") {
                let mut parts = rest.splitn(2, ' ');
                let n = parts.next().unwrap_or_default().to_string();
                if parts.next().is_some_and(|a| a.starts_with("msid:")) {
                    *l = format!("a=ssrc:{n} msid:{} {track_id}", sub.label);
                }
            }
        }
        tracks.push(Track {
            stream_id: sub.stream_id,
            ssrc,
            label: sub.label.clone(),
        });
    }
    let mut out = sections.concat().join("\r\n");
    out.push_str("\r\n");
    (out, tracks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\ns=-\r\na=group:BUNDLE 0 1 2\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\na=msid:a t\r\na=ssrc:5 cname:x\r\na=ssrc:5 msid:a t\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=inactive\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\na=msid:- abc\r\na=ssrc:777 cname:x\r\na=ssrc:777 msid:- abc\r\n";

    #[test]
    fn mids_and_subscriptions() {
        assert_eq!(video_mids(ANSWER), vec!["1", "2"]);
        let subs = subscriptions(ANSWER, &[0, 42], |_| true, 25);
        assert_eq!(
            subs,
            vec![Subscription {
                mid: "2".into(),
                stream_id: 42,
                label: track_label(42)
            }]
        );
        assert!(subscriptions(ANSWER, &[0, 42], |_| false, 25).is_empty());
        assert!(subscriptions(ANSWER, &[0, 42], |_| true, 0).is_empty());
        // Slot 0 is the camera, never a subscription; ids past the m-lines are ignored.
        assert!(subscriptions(ANSWER, &[42], |_| true, 25).is_empty());
        assert_eq!(subscriptions(ANSWER, &[0, 42, 43], |_| true, 25).len(), 1);
    }

    #[test]
    fn the_subscription_limit_is_respected() {
        let mut sdp = String::from("v=0\r\n");
        for mid in 0..32 {
            sdp.push_str(&format!(
                "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{mid}\r\n"
            ));
        }
        let ids: Vec<u32> = (0..32).collect();
        let subs = subscriptions(&sdp, &ids, |_| true, VIDEO_SUBSCRIPTION_LIMIT as usize);
        assert_eq!(subs.len(), 25);
        assert_eq!(subs[0].stream_id, 1);
        assert_eq!(subs[24].stream_id, 25);
    }

    #[test]
    fn answers_are_labelled() {
        let subs = subscriptions(ANSWER, &[0, 42], |_| true, 25);
        let (sdp, tracks) = label_answer(ANSWER, &subs);
        assert_eq!(
            tracks,
            vec![Track {
                stream_id: 42,
                ssrc: 777,
                label: track_label(42)
            }]
        );
        assert!(sdp.contains("a=msid:convene-video-42 convene-video-42-track\r\n"));
        assert!(sdp.contains("a=ssrc:777 msid:convene-video-42 convene-video-42-track\r\n"));
        assert!(sdp.contains("a=ssrc:777 cname:x\r\n"));
        // The audio section is untouched.
        assert!(sdp.contains("a=ssrc:5 msid:a t\r\n"));
        assert!(sdp.ends_with("\r\n"));
    }
}
