//! The media plane: the signaling WebSocket behind `SignalingUrl`, driven the
//! way the Chime SDK clients drive it, and WebRTC media through the ICE-lite
//! endpoint, with str0m as the client peer.

mod common;
#[path = "common/media.rs"]
mod media_client;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use aws_sdk_chimesdkmeetings as chime;
use chime::types::{AttendeeCapabilities, MediaCapabilities};
use common::{new_token, Server};
use convene::media::opus::{Encoder, FRAME_SAMPLES, SILENCE_FRAME};
use convene::media::protocol::{
    FrameType, PingPongType, SdkAudioControlFrame, SdkDataMessageFrame, SdkDataMessagePayload,
    SdkLeaveFrame, SdkPingPongFrame, SdkSignalFrame, SdkSubscribeFrame,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

use media_client::{
    closed, connect, exchange, join, join_frame, media_peer, next, next_of, send, subscribe, tone,
    Ws,
};

struct Meeting {
    id: String,
    signaling_url: String,
    audio_host: String,
}

struct Attendee {
    id: String,
    token: String,
}

async fn meeting(c: &chime::Client) -> Meeting {
    let m = c
        .create_meeting()
        .client_request_token(new_token())
        .media_region("us-east-1")
        .external_meeting_id("media")
        .send()
        .await
        .unwrap()
        .meeting
        .unwrap();
    let p = m.media_placement.unwrap();
    Meeting {
        id: m.meeting_id.unwrap(),
        signaling_url: p.signaling_url.unwrap(),
        audio_host: p.audio_host_url.unwrap(),
    }
}

async fn attendee(c: &chime::Client, meeting_id: &str, user: &str) -> Attendee {
    let a = c
        .create_attendee()
        .meeting_id(meeting_id)
        .external_user_id(user)
        .send()
        .await
        .unwrap()
        .attendee
        .unwrap();
    Attendee {
        id: a.attendee_id.unwrap(),
        token: a.join_token.unwrap(),
    }
}

#[tokio::test]
async fn join_ping_mute_and_leave() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    assert!(m.signaling_url.starts_with("ws://") && !m.signaling_url.contains('?'));
    assert!(m.signaling_url.ends_with(&format!("/control/{}", m.id)));
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;

    let (mut a, proto) = connect(&m.signaling_url, &alice.token).await;
    assert_eq!(proto.as_deref(), Some("_aws_wt_session"));
    assert_eq!(join(&mut a).await, vec![alice.id.clone()]);

    let mut ping = SdkSignalFrame::new(FrameType::PingPong);
    ping.ping_pong = Some(SdkPingPongFrame {
        r#type: PingPongType::Ping as i32,
        ping_id: 4242,
    });
    send(&mut a, &ping).await;
    let pong = next(&mut a).await;
    assert_eq!(pong.kind(), Some(FrameType::PingPong));
    let p = pong.ping_pong.unwrap();
    assert_eq!((p.r#type, p.ping_id), (PingPongType::Pong as i32, 4242));

    // Bob joins: he sees both; Alice is told about Bob.
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    let roster = join(&mut b).await;
    assert_eq!(roster, vec![alice.id.clone(), bob.id.clone()]);
    let info = next_of(&mut a, FrameType::AudioStreamIdInfo).await;
    let s = &info.audio_stream_id_info.unwrap().streams[0];
    assert_eq!(s.attendee_id.as_deref(), Some(bob.id.as_str()));
    assert_eq!(s.external_user_id.as_deref(), Some("bob"));
    let bob_stream = s.audio_stream_id.unwrap();

    // Bob mutes: Alice hears of it.
    let mut mute = SdkSignalFrame::new(FrameType::AudioControl);
    mute.audio_control = Some(SdkAudioControlFrame { muted: Some(true) });
    send(&mut b, &mute).await;
    let info = next_of(&mut a, FrameType::AudioStreamIdInfo).await;
    let s = &info.audio_stream_id_info.unwrap().streams[0];
    assert_eq!((s.audio_stream_id, s.muted), (Some(bob_stream), Some(true)));

    // Bob leaves: LEAVE_ACK, and Alice sees him go (no attendee id, not dropped).
    let mut leave = SdkSignalFrame::new(FrameType::Leave);
    leave.leave = Some(SdkLeaveFrame {});
    send(&mut b, &leave).await;
    let ack = next_of(&mut b, FrameType::LeaveAck).await;
    assert!(ack.leave_ack.is_some());
    let info = next_of(&mut a, FrameType::AudioStreamIdInfo).await;
    let s = &info.audio_stream_id_info.unwrap().streams[0];
    assert_eq!(s.audio_stream_id, Some(bob_stream));
    assert_eq!((s.attendee_id.as_ref(), s.dropped), (None, None));
    b.close(None).await.unwrap();

    // The client's event posts are accepted and dropped, with CORS for browsers.
    let r = server.send(
        "POST",
        "/v1/client-events",
        &[("Authorization".into(), format!("Bearer {}", alice.token))],
        b"{\"events\":[]}",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = server.send(
        "OPTIONS",
        "/v1/client-events",
        &[("Origin".into(), "http://127.0.0.1:9".into())],
        b"",
    );
    assert!(r.status == 204 || r.status == 200);
    // The API still answers beside the new routes.
    assert_eq!(server.send("GET", "/health", &[], b"").status, 200);
}

#[tokio::test]
async fn a_dropped_connection_is_announced_as_dropped() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a).await;
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;
    next_of(&mut a, FrameType::AudioStreamIdInfo).await;
    drop(b);
    let info = next_of(&mut a, FrameType::AudioStreamIdInfo).await;
    let s = &info.audio_stream_id_info.unwrap().streams[0];
    assert_eq!((s.attendee_id.as_ref(), s.dropped), (None, Some(true)));
}

#[tokio::test]
async fn tokens_that_are_not_of_a_live_attendee_are_refused() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let other = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let carol = attendee(&c, &other.id, "carol").await;

    for token in ["garbage", "", &carol.token] {
        let (mut ws, proto) =
            connect(&m.signaling_url, if token.is_empty() { "x" } else { token }).await;
        assert_eq!(proto.as_deref(), Some("_aws_wt_session"));
        assert_eq!(closed(&mut ws).await.0, 4403, "token {token:?}");
    }
    // A token with the right attendee id and the wrong secret.
    let mut forged = alice.token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let (mut ws, _) = connect(&m.signaling_url, std::str::from_utf8(&forged).unwrap()).await;
    assert_eq!(closed(&mut ws).await.0, 4403);

    // A deleted attendee's token.
    c.delete_attendee()
        .meeting_id(&m.id)
        .attendee_id(&alice.id)
        .send()
        .await
        .unwrap();
    let (mut ws, _) = connect(&m.signaling_url, &alice.token).await;
    assert_eq!(closed(&mut ws).await.0, 4403);

    // A token of an ended meeting.
    c.delete_meeting()
        .meeting_id(&other.id)
        .send()
        .await
        .unwrap();
    let (mut ws, _) = connect(&other.signaling_url, &carol.token).await;
    assert_eq!(closed(&mut ws).await.0, 4410);
}

#[tokio::test]
async fn deleting_disconnects_at_once() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a).await;
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;
    next_of(&mut a, FrameType::AudioStreamIdInfo).await;

    // DeleteAttendee: Bob is told (AUDIO_STATUS 411) and closed; Alice sees him go.
    c.delete_attendee()
        .meeting_id(&m.id)
        .attendee_id(&bob.id)
        .send()
        .await
        .unwrap();
    let (code, frames) = closed(&mut b).await;
    assert_eq!(code, 4403);
    assert!(frames
        .iter()
        .any(|f| f.audio_status.as_ref().and_then(|s| s.audio_status) == Some(411)));
    let info = next_of(&mut a, FrameType::AudioStreamIdInfo).await;
    assert_eq!(
        info.audio_stream_id_info.unwrap().streams[0].attendee_id,
        None
    );

    // DeleteMeeting: everyone is closed with 4410.
    c.delete_meeting().meeting_id(&m.id).send().await.unwrap();
    let (code, frames) = closed(&mut a).await;
    assert_eq!(code, 4410);
    assert!(frames
        .iter()
        .any(|f| f.audio_status.as_ref().and_then(|s| s.audio_status) == Some(410)));
}

/// An offer shaped like Chromium's for the Chime SDK: audio sendrecv (RED
/// first), and the inactive camera slot.
fn chrome_offer(candidate_port: u16) -> String {
    let fp = (0..32)
        .map(|i| format!("{:02X}", i * 7 % 256))
        .collect::<Vec<_>>()
        .join(":");
    let common = format!(
        "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
         a=candidate:1 1 udp 2122260223 127.0.0.1 {candidate_port} typ host generation 0 network-id 1\r\n\
         a=ice-ufrag:Ab1c\r\na=ice-pwd:0123456789abcdefABCDEFgh\r\na=ice-options:trickle\r\n\
         a=fingerprint:sha-256 {fp}\r\na=setup:actpass\r\n"
    );
    format!(
        "v=0\r\no=mozilla-chrome 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS s1\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 63 111 9 0 8 13 110 126\r\n{common}a=mid:0\r\n\
         a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
         a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
         a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
         a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
         a=sendrecv\r\na=msid:s1 t1\r\na=rtcp-mux\r\n\
         a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n\
         a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n\
         a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n\
         a=ssrc:1001 cname:c1\r\na=ssrc:1001 msid:s1 t1\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n{common}a=mid:1\r\n\
         a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
         a=inactive\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
         a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\n\
         a=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n\
         a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    )
}

/// The m-sections of an SDP, each as its lines.
fn sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = vec![vec![]];
    for line in sdp.lines() {
        if line.starts_with("m=") {
            out.push(vec![]);
        }
        out.last_mut().unwrap().push(line);
    }
    out
}

#[tokio::test]
async fn subscribe_answers_a_browser_offer() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let (mut ws, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut ws).await;
    let answer = subscribe(&mut ws, &chrome_offer(50000)).await;

    let media: SocketAddr = m
        .audio_host
        .parse()
        .expect("AudioHostUrl is the media address");
    assert_ne!(media.port(), 0);
    let s = sections(&answer);
    assert!(
        s[0].contains(&"a=ice-lite"),
        "ice-lite in the session part:\n{answer}"
    );
    assert_eq!(s.len(), 3, "two m-sections:\n{answer}");
    let audio = &s[1];
    let video = &s[2];
    assert!(audio[0].starts_with("m=audio"));
    assert!(audio.contains(&"a=mid:0"));
    assert!(
        audio.contains(&"a=sendrecv"),
        "audio answered sendrecv:\n{answer}"
    );
    assert!(audio
        .iter()
        .any(|l| l.starts_with("a=rtpmap:111 opus/48000/2")));
    assert!(video[0].starts_with("m=video"));
    assert!(video.contains(&"a=mid:1"));
    assert!(
        video.contains(&"a=inactive"),
        "video answered inactive:\n{answer}"
    );
    let candidate = format!(" {} {} typ host", media.ip(), media.port());
    assert!(
        answer
            .lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(&candidate)),
        "a host candidate for {media}:\n{answer}"
    );
    assert!(answer.contains("a=fingerprint:sha-256 "));
    assert!(!answer.contains("a=setup:actpass"));
    assert!(answer.contains("a=group:BUNDLE 0 1"));
}

// ---- media through the server, with str0m as the browser ----

#[tokio::test]
async fn audio_flows_between_two_peers_and_follows_capabilities() {
    if !media_client::need_libopus("audio_flows_between_two_peers_and_follows_capabilities") {
        return;
    }
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let (_wa, mut pa) = media_peer(&m.signaling_url, &alice.token).await;
    let (_wb, mut pb) = media_peer(&m.signaling_url, &bob.token).await;

    let mut t = 0u64;
    let sent = exchange(&mut pa, &mut pb, Duration::from_secs(3), &mut t).await;
    assert!(
        pa.connected && pb.connected,
        "both peers connect (ICE, DTLS)"
    );
    assert!(sent.len() > 50, "alice sent {} packets", sent.len());
    let forwarded = pb
        .received
        .iter()
        .filter(|r| sent.iter().any(|s| s.as_slice() == &r[..]))
        .count();
    assert!(
        forwarded > sent.len() / 2,
        "bob got {forwarded} of {} of alice's packets",
        sent.len()
    );

    // Alice may now only receive: nothing she sends reaches Bob any more.
    let receive_only = AttendeeCapabilities::builder()
        .audio(MediaCapabilities::Receive)
        .video(MediaCapabilities::SendReceive)
        .content(MediaCapabilities::SendReceive)
        .build()
        .unwrap();
    c.update_attendee_capabilities()
        .meeting_id(&m.id)
        .attendee_id(&alice.id)
        .capabilities(receive_only)
        .send()
        .await
        .unwrap();
    exchange(&mut pa, &mut pb, Duration::from_millis(300), &mut t).await;
    pb.received.clear();
    let sent = exchange(&mut pa, &mut pb, Duration::from_secs(2), &mut t).await;
    assert!(sent.len() > 50);
    assert!(
        pb.received
            .iter()
            .all(|r| !sent.iter().any(|s| s.as_slice() == &r[..])),
        "nothing of alice's reaches bob"
    );
    // Bob's stream stays alive with silence.
    assert!(pb.received.iter().any(|r| r[..] == SILENCE_FRAME[..]));
}

// ---- the roster is the only way in (each of these was a hole) ----

fn leave_frame() -> SdkSignalFrame {
    let mut f = SdkSignalFrame::new(FrameType::Leave);
    f.leave = Some(SdkLeaveFrame {});
    f
}

fn subscribe_frame(offer: &str) -> SdkSignalFrame {
    let mut f = SdkSignalFrame::new(FrameType::Subscribe);
    f.sub = Some(SdkSubscribeFrame {
        duplex: Some(1),
        sdp_offer: Some(offer.to_string()),
        audio_host: Some("audio-host".into()),
        audio_checkin: Some(false),
        audio_muted: Some(false),
        ..Default::default()
    });
    f
}

/// The socket is closed (close frame, end of stream or reset) within `secs`;
/// returns the close code (0 without a close frame) and the frames before it.
async fn ends_within(ws: &mut Ws, secs: u64) -> Result<(u16, Vec<SdkSignalFrame>), String> {
    let mut frames = Vec::new();
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(end, ws.next()).await {
            Err(_) => {
                let kinds: Vec<_> = frames.iter().map(|f: &SdkSignalFrame| f.kind()).collect();
                return Err(format!("still open after {secs} s; frames: {kinds:?}"));
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                return Ok((c.map_or(0, |c| u16::from(c.code)), frames))
            }
            Ok(Some(Ok(Message::Binary(b)))) => {
                frames.push(SdkSignalFrame::from_message(&b).unwrap());
            }
            Ok(Some(Ok(_))) => {}
            Ok(None | Some(Err(_))) => return Ok((0, frames)),
        }
    }
}

fn has(frames: &[SdkSignalFrame], kind: FrameType) -> bool {
    frames.iter().any(|f| f.kind() == Some(kind))
}

#[tokio::test]
async fn after_leave_subscribe_gets_no_media() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let (mut ws, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut ws).await;
    send(&mut ws, &leave_frame()).await;
    next_of(&mut ws, FrameType::LeaveAck).await;
    send(&mut ws, &subscribe_frame(&chrome_offer(50000))).await;
    let (code, frames) = ends_within(&mut ws, 10).await.unwrap();
    assert!(
        !has(&frames, FrameType::SubscribeAck),
        "a session that left got an SDP answer"
    );
    assert_eq!(code, 4403);
}

#[tokio::test]
async fn after_leave_delete_attendee_still_closes_the_socket() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let (mut ws, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut ws).await;
    send(&mut ws, &leave_frame()).await;
    next_of(&mut ws, FrameType::LeaveAck).await;
    c.delete_attendee()
        .meeting_id(&m.id)
        .attendee_id(&alice.id)
        .send()
        .await
        .unwrap();
    let (code, _) = ends_within(&mut ws, 10).await.unwrap();
    assert_eq!(code, 4403);

    // The same for DeleteMeeting.
    let bob = attendee(&c, &m.id, "bob").await;
    let (mut ws, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut ws).await;
    send(&mut ws, &leave_frame()).await;
    next_of(&mut ws, FrameType::LeaveAck).await;
    c.delete_meeting().meeting_id(&m.id).send().await.unwrap();
    let (code, _) = ends_within(&mut ws, 10).await.unwrap();
    assert_eq!(code, 4410);
}

#[tokio::test]
async fn without_join_subscribe_gets_no_media() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    // Bob is on the roster with media.
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;
    subscribe(&mut b, &chrome_offer(50001)).await;

    // Alice never joins.
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    send(&mut a, &subscribe_frame(&chrome_offer(50000))).await;
    let (code, frames) = ends_within(&mut a, 10).await.unwrap();
    assert!(
        !has(&frames, FrameType::SubscribeAck),
        "no JOIN, yet an SDP answer"
    );
    assert_eq!(code, 4403);

    // A second socket of Bob's cannot open a second media session beside the first.
    let (mut b2, _) = connect(&m.signaling_url, &bob.token).await;
    send(&mut b2, &subscribe_frame(&chrome_offer(50002))).await;
    let (code, frames) = ends_within(&mut b2, 10).await.unwrap();
    assert!(!has(&frames, FrameType::SubscribeAck));
    assert_eq!(code, 4403);
}

#[tokio::test]
async fn a_frame_larger_than_the_message_cap_is_refused_at_its_header() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let (mut ws, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut ws).await;
    // A masked binary frame that announces 8 MiB, of which only 64 KiB arrive: a
    // server that accepts the header reserves the whole frame and waits for the rest.
    let len: u64 = 8 << 20;
    let mut raw = vec![0x82u8, 0x80 | 127];
    raw.extend_from_slice(&len.to_be_bytes());
    raw.extend_from_slice(&[1, 2, 3, 4]);
    raw.extend(std::iter::repeat_n(0u8, 64 * 1024));
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("plain TCP")
    };
    tcp.write_all(&raw).await.unwrap();
    tcp.flush().await.unwrap();
    ends_within(&mut ws, 5)
        .await
        .expect("the oversized frame ends the connection");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;

    // Alice joins with a small receive buffer, then stops reading.
    let url = format!("{}?X-Chime-Control-Protocol-Version=3", m.signaling_url);
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("_aws_wt_session, {}", alice.token).parse().unwrap(),
    );
    let host = url.trim_start_matches("ws://").split('/').next().unwrap();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(host.parse().unwrap()).await.unwrap();
    let (mut a, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp))
        .await
        .unwrap();
    join(&mut a).await;

    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;
    // Bob floods the meeting; Alice's queue fills.
    let (mut bw, mut br) = b.split();
    let dropped = tokio::spawn(async move {
        while let Some(Ok(m)) = br.next().await {
            if let Message::Binary(b) = m {
                let f = SdkSignalFrame::from_message(&b).unwrap();
                for s in f
                    .audio_stream_id_info
                    .map(|i| i.streams)
                    .unwrap_or_default()
                {
                    // Only Alice can drop.
                    if s.dropped == Some(true) {
                        return true;
                    }
                }
            }
        }
        false
    });
    let end = Instant::now() + Duration::from_secs(40);
    while !dropped.is_finished() && Instant::now() < end {
        // 2 KB data messages at about 90 a second (under the rate limit, so
        // none comes back to Bob): each one is a frame for Alice.
        let batch: Vec<_> = (0..10).map(|_| data("flood", &[7; 2000], 0)).collect();
        bw.send(Message::Binary(data_frame(batch).to_message().into()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(110)).await;
    }
    assert!(
        dropped.is_finished(),
        "alice, who stopped reading, is still on the roster after 40 s of traffic"
    );
    assert!(dropped.await.unwrap());
    // What Alice had buffered ends in a closed stream, not in a wait.
    let mut n = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), a.next()).await {
            Err(elapsed) => {
                panic!("alice's socket is still open after {n} buffered frames ({elapsed})")
            }
            Ok(Some(Ok(Message::Binary(_)))) => n += 1,
            Ok(_) => break,
        }
    }
}

#[tokio::test]
async fn sockets_per_attendee_are_bounded() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let (ws, _) = connect(&m.signaling_url, &alice.token).await;
        sockets.push(ws);
    }
    // The oldest socket that never joined makes room for the newest.
    let (code, _) = ends_within(&mut sockets[0], 10)
        .await
        .expect("five sockets of one attendee at once");
    assert_eq!(code, 4429);
    // The newest works.
    join(sockets.last_mut().unwrap()).await;
}

#[tokio::test]
async fn upgraded_sockets_count_against_the_connection_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(tmp.path(), &["--max-connections", "3"]);
    let (m, people) = {
        let c = server.client();
        let m = meeting(&c).await;
        let mut people = Vec::new();
        for u in ["ann", "ben", "cat"] {
            people.push(attendee(&c, &m.id, u).await);
        }
        (m, people)
    };
    // Let the API client's pooled connection go.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sockets = Vec::new();
    for p in &people {
        let (mut ws, _) = connect(&m.signaling_url, &p.token).await;
        join(&mut ws).await;
        sockets.push(ws);
    }
    let health = |secs: u64| {
        let addr = server.addr.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(secs), async move {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let mut out = Vec::new();
                s.read_to_end(&mut out).await.unwrap();
                String::from_utf8_lossy(&out).into_owned()
            })
            .await
        }
    };
    assert!(
        health(2).await.is_err(),
        "three WebSockets are three connections: a fourth waits"
    );
    sockets.pop().unwrap().close(None).await.unwrap();
    let r = health(10).await.expect("served once a socket closed");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test]
async fn a_second_join_with_the_same_token_ends_the_first_with_status_301() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;
    let (mut a1, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a1).await;
    next_of(&mut b, FrameType::AudioStreamIdInfo).await;
    let (mut a2, _) = connect(&m.signaling_url, &alice.token).await;
    let roster = join(&mut a2).await;
    assert_eq!(roster, vec![bob.id.clone(), alice.id.clone()], "alice once");
    let (code, frames) = ends_within(&mut a1, 10).await.unwrap();
    assert!(
        frames
            .iter()
            .any(|f| f.audio_status.as_ref().and_then(|s| s.audio_status) == Some(301)),
        "AUDIO_STATUS 301 (AudioJoinedFromAnotherDevice)"
    );
    assert_eq!(code, 1000);
    // Bob sees alice's old stream go (not dropped) and her new one arrive.
    let mut gone = false;
    let mut back = false;
    while !(gone && back) {
        let f = next_of(&mut b, FrameType::AudioStreamIdInfo).await;
        for s in f.audio_stream_id_info.unwrap().streams {
            match s.attendee_id {
                None => {
                    assert_eq!(s.dropped, None);
                    gone = true;
                }
                Some(id) => {
                    assert_eq!(id, alice.id);
                    back = true;
                }
            }
        }
    }
}

// ---- data messages, presence, volumes ----

fn data_frame(messages: Vec<SdkDataMessagePayload>) -> SdkSignalFrame {
    let mut f = SdkSignalFrame::new(FrameType::DataMessage);
    f.data_message = Some(SdkDataMessageFrame { messages });
    f
}

fn data(topic: &str, body: &[u8], lifetime_ms: u32) -> SdkDataMessagePayload {
    SdkDataMessagePayload {
        topic: Some(topic.into()),
        data: Some(body.to_vec()),
        lifetime_ms: Some(lifetime_ms),
        ..Default::default()
    }
}

async fn next_data(ws: &mut Ws) -> Vec<SdkDataMessagePayload> {
    next_of(ws, FrameType::DataMessage)
        .await
        .data_message
        .unwrap()
        .messages
}

/// Nothing of this kind arrives within `ms`.
async fn none_of(ws: &mut Ws, kind: FrameType, ms: u64) {
    let r = tokio::time::timeout(Duration::from_millis(ms), next_of(ws, kind)).await;
    assert!(r.is_err(), "unexpected {kind:?}: {:?}", r.unwrap());
}

#[tokio::test]
async fn data_messages_reach_the_others_stamped_and_are_replayed_within_their_lifetime() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let carol = attendee(&c, &m.id, "carol").await;
    let dave = attendee(&c, &m.id, "dave").await;
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a).await;
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;
    let (mut cc, _) = connect(&m.signaling_url, &carol.token).await;
    join(&mut cc).await;

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    send(&mut a, &data_frame(vec![data("chat", b"hello", 0)])).await;
    send(&mut a, &data_frame(vec![data("chat", b"kept", 60_000)])).await;
    for ws in [&mut b, &mut cc] {
        let mut got = next_data(ws).await;
        got.extend(next_data(ws).await);
        assert_eq!(got.len(), 2);
        for (g, body) in got.iter().zip([&b"hello"[..], b"kept"]) {
            assert_eq!(g.topic.as_deref(), Some("chat"));
            assert_eq!(g.data.as_deref(), Some(body));
            assert_eq!(g.sender_attendee_id.as_deref(), Some(alice.id.as_str()));
            assert_eq!(g.sender_external_user_id.as_deref(), Some("alice"));
            assert!(g.ingest_time_ns.unwrap() >= before, "ingest time in ns");
        }
        assert!(got[1].ingest_time_ns > got[0].ingest_time_ns);
    }
    // The sender does not get its own messages back.
    none_of(&mut a, FrameType::DataMessage, 300).await;
    // Bob answers; Alice gets it.
    send(&mut b, &data_frame(vec![data("chat", b"hi alice", 0)])).await;
    let got = next_data(&mut a).await;
    assert_eq!(got[0].sender_attendee_id.as_deref(), Some(bob.id.as_str()));

    // Dave joins later: the message with a lifetime is replayed, the other is not.
    let (mut d, _) = connect(&m.signaling_url, &dave.token).await;
    join(&mut d).await;
    let replay = next_data(&mut d).await;
    assert_eq!(replay.len(), 1, "{replay:?}");
    assert_eq!(replay[0].data.as_deref(), Some(&b"kept"[..]));
    assert_eq!(
        replay[0].sender_attendee_id.as_deref(),
        Some(alice.id.as_str())
    );
}

#[tokio::test]
async fn data_messages_over_the_limits_come_back_throttled() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a).await;
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;

    // 2048 bytes pass; 2049 bytes, a bad topic or a 37-character topic come back
    // to the sender with ingest time 0 (the SDK's `throttled`).
    send(&mut a, &data_frame(vec![data("t", &[1; 2048], 0)])).await;
    assert_eq!(
        next_data(&mut b).await[0].data.as_ref().unwrap().len(),
        2048
    );
    for m in [
        data("t", &[1; 2049], 0),
        data("no spaces", b"x", 0),
        data(&"x".repeat(37), b"x", 0),
        data("", b"x", 0),
    ] {
        let topic = m.topic.clone();
        send(&mut a, &data_frame(vec![m])).await;
        let back = next_data(&mut a).await;
        assert_eq!(back[0].ingest_time_ns, Some(0), "{topic:?}");
        assert_eq!(back[0].topic, topic);
        assert_eq!(
            back[0].sender_attendee_id.as_deref(),
            Some(alice.id.as_str())
        );
    }
    none_of(&mut b, FrameType::DataMessage, 300).await;

    // The rate: a burst of 200, then 100 a second. 300 at once: about 200 pass.
    let burst: Vec<_> = (0..300)
        .map(|i| data("t", format!("{i}").as_bytes(), 0))
        .collect();
    send(&mut a, &data_frame(burst)).await;
    let back = next_data(&mut a).await;
    assert!(back.iter().all(|m| m.ingest_time_ns == Some(0)));
    let mut delivered = 0;
    while delivered < 300 - back.len() {
        delivered += next_data(&mut b).await.len();
    }
    assert!(
        (95..=110).contains(&back.len()),
        "{} of 300 came back throttled",
        back.len()
    );

    // Past the hard limit (a burst of 10,000) the connection is closed.
    let (mut w, mut r) = a.split();
    let reader = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), r.next()).await {
                Ok(Some(Ok(Message::Close(c)))) => return c.map(|c| u16::from(c.code)),
                Ok(Some(Ok(_))) => {}
                _ => return None,
            }
        }
    });
    for _ in 0..120 {
        let batch: Vec<_> = (0..100).map(|_| data("t", b"x", 0)).collect();
        if w.send(Message::Binary(data_frame(batch).to_message().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(reader.await.unwrap(), Some(4429));
}

#[tokio::test]
async fn presence_includes_the_content_share_in_order() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    join(&mut b).await;
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a).await;
    let content_id = format!("{}#content", alice.id);
    let (mut ac, proto) = connect(&m.signaling_url, &format!("{}#content", alice.token)).await;
    assert_eq!(proto.as_deref(), Some("_aws_wt_session"));
    let roster = join(&mut ac).await;
    assert_eq!(
        roster,
        vec![bob.id.clone(), alice.id.clone(), content_id.clone()]
    );
    // Bob saw alice, then her content share, in that order.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let f = next_of(&mut b, FrameType::AudioStreamIdInfo).await;
        for s in f.audio_stream_id_info.unwrap().streams {
            seen.push((s.attendee_id.clone(), s.external_user_id.clone()));
        }
    }
    assert_eq!(
        seen,
        vec![
            (Some(alice.id.clone()), Some("alice".to_string())),
            (Some(content_id.clone()), Some("alice".to_string())),
        ]
    );
    // The share ends: bob sees it leave, not drop.
    send(&mut ac, &leave_frame()).await;
    next_of(&mut ac, FrameType::LeaveAck).await;
    let f = next_of(&mut b, FrameType::AudioStreamIdInfo).await;
    let s = &f.audio_stream_id_info.unwrap().streams[0];
    assert_eq!((s.attendee_id.as_ref(), s.dropped), (None, None));
    // A content token of someone else's attendee id does not pass.
    let mut forged = bob.token.clone();
    forged.push_str("#contentx");
    let (mut x, _) = connect(&m.signaling_url, &forged).await;
    assert_eq!(closed(&mut x).await.0, 4403);
    // Deleting alice ends her content session too.
    let (mut ac, _) = connect(&m.signaling_url, &format!("{}#content", alice.token)).await;
    join(&mut ac).await;
    c.delete_attendee()
        .meeting_id(&m.id)
        .attendee_id(&alice.id)
        .send()
        .await
        .unwrap();
    assert_eq!(ends_within(&mut ac, 10).await.unwrap().0, 4403);
    assert_eq!(ends_within(&mut a, 10).await.unwrap().0, 4403);
}

#[tokio::test]
async fn volumes_and_mute_reach_everyone() {
    if !media_client::need_libopus("volumes_and_mute_reach_everyone") {
        return;
    }
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let (mut wa, mut pa) = media_peer(&m.signaling_url, &alice.token).await;
    let (mut wb, mut pb) = media_peer(&m.signaling_url, &bob.token).await;
    // Alice talks at -20 dBov for a while.
    let mut enc = Encoder::new().unwrap();
    let mut t = 0u64;
    let end = Instant::now() + Duration::from_secs(2);
    let mut next_frame = Instant::now();
    while Instant::now() < end {
        pa.step();
        pb.step();
        if pa.connected && Instant::now() >= next_frame {
            let pkt = enc.encode(&tone(440.0, t as usize)).unwrap();
            let mid = pa.mid.unwrap();
            let w = pa.rtc.writer(mid).unwrap().audio_level(-20, true);
            let pt = w
                .payload_params()
                .find(|p| p.spec().codec == str0m::format::Codec::Opus)
                .unwrap()
                .pt();
            w.write(
                pt,
                Instant::now(),
                str0m::media::MediaTime::new(t, str0m::media::Frequency::FORTY_EIGHT_KHZ),
                pkt,
            )
            .unwrap();
            t += FRAME_SAMPLES as u64;
            next_frame += Duration::from_millis(20);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Bob's AUDIO_METADATA (the reports queued while alice talked): alice at
    // volume 20 with full signal, bob silent.
    let mut states = Vec::new();
    for _ in 0..20 {
        let f = next_of(&mut wb, FrameType::AudioMetadata).await;
        states = f.audio_metadata.unwrap().attendee_states;
        if states.first().and_then(|s| s.volume) == Some(20) {
            break;
        }
    }
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(states[0].volume, Some(20), "{states:?}");
    assert_eq!(states[0].signal_strength, Some(2));
    assert_eq!(states[0].muted, Some(false));
    assert_eq!(states[1].volume, Some(127));
    let alice_stream = states[0].audio_stream_id;

    // Alice mutes: bob is told at once (AUDIO_STREAM_ID_INFO) and in the volume reports.
    let mut mute = SdkSignalFrame::new(FrameType::AudioControl);
    mute.audio_control = Some(SdkAudioControlFrame { muted: Some(true) });
    send(&mut wa, &mute).await;
    let info = next_of(&mut wb, FrameType::AudioStreamIdInfo).await;
    let s = &info.audio_stream_id_info.unwrap().streams[0];
    assert_eq!((s.audio_stream_id, s.muted), (alice_stream, Some(true)));
    let f = next_of(&mut wb, FrameType::AudioMetadata).await;
    let st = &f.audio_metadata.unwrap().attendee_states[0];
    assert_eq!((st.muted, st.volume), (Some(true), Some(127)));
    // And unmutes.
    mute.audio_control = Some(SdkAudioControlFrame { muted: Some(false) });
    send(&mut wa, &mute).await;
    let info = next_of(&mut wb, FrameType::AudioStreamIdInfo).await;
    assert_eq!(
        info.audio_stream_id_info.unwrap().streams[0].muted,
        Some(false)
    );
}

// ---- video: INDEX, allocations, subscriptions, capabilities ----

fn camera_subscribe(offer: &str, receive: Vec<u32>) -> SdkSignalFrame {
    let mut f = subscribe_frame(offer);
    let sub = f.sub.as_mut().unwrap();
    sub.duplex = Some(3);
    sub.send_streams = vec![convene::media::protocol::SdkStreamDescriptor {
        stream_id: Some(2),
        group_id: Some(2),
        track_label: Some("AmazonChimeExpressVideo".into()),
        media_type: Some(2),
        max_bitrate_kbps: Some(1500),
        framerate: Some(15),
        ..Default::default()
    }];
    sub.receive_stream_ids = receive;
    f
}

fn sources(f: &SdkSignalFrame) -> Vec<(u32, String)> {
    f.index
        .as_ref()
        .unwrap()
        .sources
        .iter()
        .map(|s| (s.stream_id.unwrap(), s.attendee_id.clone().unwrap()))
        .collect()
}

#[tokio::test]
async fn video_sources_are_indexed_allocated_and_follow_capabilities() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;
    let carol = attendee(&c, &m.id, "carol").await;
    let (mut b, _) = connect(&m.signaling_url, &bob.token).await;
    send(&mut b, &join_frame()).await;
    let ack = next_of(&mut b, FrameType::JoinAck).await;
    assert_eq!(ack.joinack.unwrap().video_subscription_limit, Some(25));
    assert!(sources(&next_of(&mut b, FrameType::Index).await).is_empty());

    // Alice turns her camera on: an allocation for her, an INDEX for bob.
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a).await;
    send(&mut a, &camera_subscribe(&chrome_offer(50000), vec![0])).await;
    let ack = next_of(&mut a, FrameType::SubscribeAck)
        .await
        .suback
        .unwrap();
    assert_eq!(ack.allocations.len(), 1);
    let alloc = &ack.allocations[0];
    assert_eq!(
        alloc.track_label.as_deref(),
        Some("AmazonChimeExpressVideo")
    );
    let stream = alloc.stream_id.unwrap();
    assert!(stream > 0 && alloc.group_id.unwrap() > 0);
    let idx = next_of(&mut b, FrameType::Index).await;
    assert_eq!(sources(&idx), vec![(stream, alice.id.clone())]);
    let d = &idx.index.unwrap().sources[0];
    assert_eq!(d.external_user_id.as_deref(), Some("alice"));
    assert_eq!(d.media_type, Some(2));

    // Carol joins later: her first INDEX already lists alice's camera.
    let (mut cc, _) = connect(&m.signaling_url, &carol.token).await;
    send(&mut cc, &join_frame()).await;
    assert_eq!(
        sources(&next_of(&mut cc, FrameType::Index).await),
        vec![(stream, alice.id.clone())]
    );

    // Video=None for alice: she is no longer a source; back to SendReceive: she is again.
    let set = |video: MediaCapabilities| {
        c.update_attendee_capabilities()
            .meeting_id(&m.id)
            .attendee_id(&alice.id)
            .capabilities(
                AttendeeCapabilities::builder()
                    .audio(MediaCapabilities::SendReceive)
                    .video(video)
                    .content(MediaCapabilities::None)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    set(MediaCapabilities::None).await.unwrap();
    assert!(sources(&next_of(&mut b, FrameType::Index).await).is_empty());
    set(MediaCapabilities::SendReceive).await.unwrap();
    assert_eq!(
        sources(&next_of(&mut b, FrameType::Index).await),
        vec![(stream, alice.id.clone())]
    );
    // Video=None for carol, the receiver: her INDEX empties.
    c.update_attendee_capabilities()
        .meeting_id(&m.id)
        .attendee_id(&carol.id)
        .capabilities(
            AttendeeCapabilities::builder()
                .audio(MediaCapabilities::SendReceive)
                .video(MediaCapabilities::None)
                .content(MediaCapabilities::None)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(sources(&next_of(&mut cc, FrameType::Index).await).is_empty());

    // The camera goes off (SUBSCRIBE without a video send stream): bob's INDEX empties.
    send(&mut a, &subscribe_frame(&chrome_offer(50000))).await;
    let ack = next_of(&mut a, FrameType::SubscribeAck)
        .await
        .suback
        .unwrap();
    assert!(ack.allocations.is_empty());
    assert!(sources(&next_of(&mut b, FrameType::Index).await).is_empty());
}

/// A str0m peer laid out like the SDK's: audio, the camera slot, then
/// `extra` receive-only video m-lines for subscriptions.
struct VideoPeer {
    rtc: str0m::Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    camera: str0m::media::Mid,
    slots: Vec<str0m::media::Mid>,
    connected: bool,
    /// Video frames received, by mid.
    frames: Vec<(str0m::media::Mid, Vec<u8>)>,
    keyframe_requests: usize,
}

impl VideoPeer {
    fn new(extra: usize) -> (VideoPeer, String, str0m::change::SdpPendingOffer) {
        use str0m::media::{Direction, MediaKind};
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let mut rtc = str0m::Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(str0m::Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let camera = api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        let slots = (0..extra)
            .map(|_| api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None))
            .collect();
        let (offer, pending) = api.apply().unwrap();
        let peer = VideoPeer {
            rtc,
            socket,
            addr,
            camera,
            slots,
            connected: false,
            frames: Vec::new(),
            keyframe_requests: 0,
        };
        (peer, offer.to_sdp_string(), pending)
    }

    fn step(&mut self) {
        loop {
            match self.rtc.poll_output().unwrap() {
                str0m::Output::Timeout(_) => break,
                str0m::Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                str0m::Output::Event(e) => match e {
                    str0m::Event::Connected => self.connected = true,
                    str0m::Event::MediaData(d) if d.mid != self.camera => {
                        self.frames.push((d.mid, d.data.to_vec()));
                    }
                    str0m::Event::KeyframeRequest(_) => self.keyframe_requests += 1,
                    _ => {}
                },
            }
        }
        let mut buf = [0u8; 2000];
        while let Ok((n, source)) = self.socket.recv_from(&mut buf) {
            let Ok(contents) = buf[..n].try_into() else {
                continue;
            };
            let input = str0m::Input::Receive(
                Instant::now(),
                str0m::net::Receive {
                    proto: str0m::net::Protocol::Udp,
                    source,
                    destination: self.addr,
                    contents,
                },
            );
            self.rtc.handle_input(input).unwrap();
        }
        self.rtc
            .handle_input(str0m::Input::Timeout(Instant::now()))
            .unwrap();
    }

    fn send_frame(&mut self, n: u32, payload: &[u8]) {
        let w = self.rtc.writer(self.camera).unwrap();
        let pt = w
            .payload_params()
            .find(|p| p.spec().codec == str0m::format::Codec::Vp8)
            .unwrap()
            .pt();
        w.write(
            pt,
            Instant::now(),
            str0m::media::MediaTime::new(u64::from(n) * 6000, str0m::media::Frequency::NINETY_KHZ),
            payload.to_vec(),
        )
        .unwrap();
    }
}

async fn run_peers(
    peers: &mut [&mut VideoPeer],
    dur: Duration,
    mut each: impl FnMut(&mut [&mut VideoPeer]),
) {
    let end = Instant::now() + dur;
    while Instant::now() < end {
        for p in peers.iter_mut() {
            p.step();
        }
        each(peers);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn video_is_forwarded_to_subscribers_and_keyframe_requests_reach_the_sender() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let bob = attendee(&c, &m.id, "bob").await;

    // Alice publishes her camera.
    let (mut wa, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut wa).await;
    let (mut pa, offer, pending) = VideoPeer::new(0);
    send(&mut wa, &camera_subscribe(&offer, vec![0])).await;
    let ack = next_of(&mut wa, FrameType::SubscribeAck)
        .await
        .suback
        .unwrap();
    let stream = ack.allocations[0].stream_id.unwrap();
    pa.rtc
        .sdp_api()
        .accept_answer(
            pending,
            str0m::change::SdpAnswer::from_sdp_string(&ack.sdp_answer.unwrap()).unwrap(),
        )
        .unwrap();

    // Alice's camera runs alone for a moment (a keyframe first, then deltas).
    let mut n = 0u32;
    let mut next_at = Instant::now();
    let mut answered = 0;
    let mut camera = |ps: &mut [&mut VideoPeer]| {
        if ps[0].connected && Instant::now() >= next_at {
            n += 1;
            let key = n == 1 || ps[0].keyframe_requests > answered;
            answered = ps[0].keyframe_requests;
            // The P bit of the VP8 payload header: 0 for a keyframe.
            let mut frame = vec![if key { 0x10 } else { 0x11 }, 0x02, 0x00];
            frame.extend(format!("frame {n:05}").bytes());
            ps[0].send_frame(n, &frame);
            next_at += Duration::from_millis(66);
        }
    };
    run_peers(&mut [&mut pa], Duration::from_secs(1), &mut camera).await;
    assert!(pa.connected);
    assert_eq!(pa.keyframe_requests, 0);

    // Bob joins, sees her in INDEX, and subscribes on his second video m-line.
    let (mut wb, _) = connect(&m.signaling_url, &bob.token).await;
    send(&mut wb, &join_frame()).await;
    assert_eq!(
        sources(&next_of(&mut wb, FrameType::Index).await),
        vec![(stream, alice.id.clone())]
    );
    let (mut pb, offer, pending) = VideoPeer::new(1);
    let mut sub = subscribe_frame(&offer);
    sub.sub.as_mut().unwrap().receive_stream_ids = vec![0, stream];
    send(&mut wb, &sub).await;
    let ack = next_of(&mut wb, FrameType::SubscribeAck)
        .await
        .suback
        .unwrap();
    assert_eq!(ack.tracks.len(), 1, "{ack:?}");
    let track = &ack.tracks[0];
    assert_eq!(track.stream_id, Some(stream));
    let answer = ack.sdp_answer.unwrap();
    let label = track.track_label.clone().unwrap();
    assert!(
        answer.contains(&format!("a=msid:{label} ")),
        "the answer names the track with its label:\n{answer}"
    );
    assert!(answer.contains(&format!("a=ssrc:{} ", track.ssrc.unwrap())));
    pb.rtc
        .sdp_api()
        .accept_answer(
            pending,
            str0m::change::SdpAnswer::from_sdp_string(&answer).unwrap(),
        )
        .unwrap();
    let slot = pb.slots[0];

    // Alice keeps sending (a keyframe whenever asked); Bob gets her frames on
    // his subscribed m-line, unchanged.
    run_peers(&mut [&mut pa, &mut pb], Duration::from_secs(3), &mut camera).await;
    assert!(pa.connected && pb.connected);
    let got: Vec<&Vec<u8>> = pb
        .frames
        .iter()
        .filter(|(mid, _)| *mid == slot)
        .map(|(_, d)| d)
        .collect();
    assert!(got.len() > 10, "bob got {} of {n} frames", got.len());
    assert!(got
        .iter()
        .all(|d| String::from_utf8_lossy(&d[3..]).starts_with("frame ")));
    // Alice was asked for a keyframe for the new subscriber, and bob got one.
    assert!(
        pa.keyframe_requests >= 1,
        "no keyframe request reached alice"
    );
    assert!(got.iter().any(|d| d[0] & 1 == 0), "no keyframe reached bob");

    // Bob's PLI reaches Alice.
    let before = pa.keyframe_requests;
    pb.rtc
        .writer(slot)
        .unwrap()
        .request_keyframe(None, str0m::media::KeyframeRequestKind::Pli)
        .unwrap();
    run_peers(&mut [&mut pa, &mut pb], Duration::from_secs(1), |_| {}).await;
    assert!(
        pa.keyframe_requests > before,
        "bob's PLI did not reach alice"
    );

    // Video=Receive for alice: her frames stop reaching bob.
    c.update_attendee_capabilities()
        .meeting_id(&m.id)
        .attendee_id(&alice.id)
        .capabilities(
            AttendeeCapabilities::builder()
                .audio(MediaCapabilities::SendReceive)
                .video(MediaCapabilities::Receive)
                .content(MediaCapabilities::None)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    run_peers(&mut [&mut pa, &mut pb], Duration::from_millis(500), |_| {}).await;
    pb.frames.clear();
    run_peers(&mut [&mut pa, &mut pb], Duration::from_secs(1), &mut camera).await;
    assert!(
        pb.frames.iter().all(|(mid, _)| *mid != slot),
        "frames reached bob after Video=Receive"
    );
}

// ---- media-plane events: video and content video ----

/// The meeting's events as the event log lists them: (eventType, attendeeId).
fn logged_events(server: &Server, meeting_id: &str) -> Vec<(String, String)> {
    let r = server.raw(
        "GET",
        &format!("/_convene/meetings/{meeting_id}/events"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let d = &e["detail"];
            let kind = d["eventType"]
                .as_str()
                .unwrap()
                .trim_start_matches("chime:");
            (
                kind.to_string(),
                d["attendeeId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The events after the first `skip`, for the attendees in `who`.
fn events_since(
    server: &Server,
    meeting_id: &str,
    skip: usize,
    who: &[&str],
) -> Vec<(String, String)> {
    logged_events(server, meeting_id)
        .into_iter()
        .skip(skip)
        .filter(|(_, a)| who.contains(&a.as_str()))
        .collect()
}

#[tokio::test]
async fn camera_and_content_video_are_recorded_before_they_are_acknowledged() {
    let server = Server::start();
    let c = server.client();
    let m = meeting(&c).await;
    let alice = attendee(&c, &m.id, "alice").await;
    let content_id = format!("{}#content", alice.id);
    let who = [alice.id.as_str(), content_id.as_str()];
    let ev = |k: &str, a: &str| (k.to_string(), a.to_string());
    let (mut a, _) = connect(&m.signaling_url, &alice.token).await;
    join(&mut a).await;
    let skip = logged_events(&server, &m.id).len();

    // The camera goes on: once SUBSCRIBE_ACK is here, the event is in the log.
    send(&mut a, &camera_subscribe(&chrome_offer(50000), vec![0])).await;
    let ack = next_of(&mut a, FrameType::SubscribeAck)
        .await
        .suback
        .unwrap();
    assert_eq!(ack.allocations.len(), 1);
    assert_eq!(
        events_since(&server, &m.id, skip, &who),
        [ev("AttendeeVideoStarted", &alice.id)]
    );
    // Again with video: no change, no event. Then off: stopped.
    send(&mut a, &camera_subscribe(&chrome_offer(50000), vec![0])).await;
    next_of(&mut a, FrameType::SubscribeAck).await;
    send(&mut a, &subscribe_frame(&chrome_offer(50000))).await;
    next_of(&mut a, FrameType::SubscribeAck).await;
    assert_eq!(
        events_since(&server, &m.id, skip, &who),
        [
            ev("AttendeeVideoStarted", &alice.id),
            ev("AttendeeVideoStopped", &alice.id)
        ]
    );

    // The content share (`#content`) has its own event types; leaving while
    // sharing stops its video first, before LEAVE_ACK.
    let skip = logged_events(&server, &m.id).len();
    let (mut share, _) = connect(&m.signaling_url, &format!("{}#content", alice.token)).await;
    join(&mut share).await;
    send(&mut share, &camera_subscribe(&chrome_offer(50002), vec![0])).await;
    next_of(&mut share, FrameType::SubscribeAck).await;
    send(&mut share, &leave_frame()).await;
    next_of(&mut share, FrameType::LeaveAck).await;
    assert_eq!(
        events_since(&server, &m.id, skip, &who),
        [
            ev("AttendeeContentJoined", &content_id),
            ev("AttendeeContentVideoStarted", &content_id),
            ev("AttendeeContentVideoStopped", &content_id),
            ev("AttendeeContentLeft", &content_id),
        ]
    );

    // A connection that drops while its camera is on: stopped, then dropped.
    send(&mut a, &camera_subscribe(&chrome_offer(50000), vec![0])).await;
    next_of(&mut a, FrameType::SubscribeAck).await;
    let skip = logged_events(&server, &m.id).len();
    drop(a);
    // The server notices the socket went; wait for it (generously, not timed).
    for _ in 0..1200 {
        let got = events_since(&server, &m.id, skip, &who);
        if got.len() >= 2 {
            assert_eq!(
                got,
                [
                    ev("AttendeeVideoStopped", &alice.id),
                    ev("AttendeeDropped", &alice.id)
                ]
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the drop was never recorded");
}
