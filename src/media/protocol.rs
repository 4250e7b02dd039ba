//! The signaling protocol of the Amazon Chime SDK clients: `SdkSignalFrame`
//! (proto2) and the messages inside it that Convene reads or writes,
//! hand-written with prost's derive from the field numbers the clients use.
//! Fields we never look at are left out; prost skips unknown fields.
//!
//! On the WebSocket every binary message is one byte, [`FRAME_TYPE_RTC`],
//! followed by the encoded `SdkSignalFrame`.

use prost::Message;

/// The first byte of every signaling message.
pub const FRAME_TYPE_RTC: u8 = 0x05;

/// `SdkSignalFrame.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum FrameType {
    Join = 1,
    JoinAck = 2,
    Subscribe = 3,
    SubscribeAck = 4,
    Index = 5,
    Pause = 7,
    Resume = 8,
    Leave = 9,
    LeaveAck = 10,
    Bitrates = 13,
    AudioControl = 16,
    AudioMetadata = 17,
    AudioStreamIdInfo = 18,
    PingPong = 19,
    AudioStatus = 20,
    ClientMetric = 21,
    DataMessage = 22,
    RemoteVideoUpdate = 24,
    PrimaryMeetingJoin = 25,
    PrimaryMeetingJoinAck = 26,
    PrimaryMeetingLeave = 27,
    Notification = 34,
    MeetingSessionTiming = 43,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkSignalFrame {
    #[prost(uint64, required, tag = "1")]
    pub timestamp_ms: u64,
    #[prost(enumeration = "FrameType", required, tag = "2")]
    pub r#type: i32,
    #[prost(message, optional, tag = "3")]
    pub error: Option<SdkErrorFrame>,
    #[prost(message, optional, tag = "4")]
    pub join: Option<SdkJoinFrame>,
    #[prost(message, optional, tag = "5")]
    pub joinack: Option<SdkJoinAckFrame>,
    #[prost(message, optional, tag = "6")]
    pub sub: Option<SdkSubscribeFrame>,
    #[prost(message, optional, tag = "7")]
    pub suback: Option<SdkSubscribeAckFrame>,
    #[prost(message, optional, tag = "8")]
    pub index: Option<SdkIndexFrame>,
    #[prost(message, optional, tag = "10")]
    pub pause: Option<SdkPauseResumeFrame>,
    #[prost(message, optional, tag = "11")]
    pub leave: Option<SdkLeaveFrame>,
    #[prost(message, optional, tag = "12")]
    pub leave_ack: Option<SdkLeaveAckFrame>,
    #[prost(message, optional, tag = "17")]
    pub audio_control: Option<SdkAudioControlFrame>,
    #[prost(message, optional, tag = "18")]
    pub audio_metadata: Option<SdkAudioMetadataFrame>,
    #[prost(message, optional, tag = "19")]
    pub audio_stream_id_info: Option<SdkAudioStreamIdInfoFrame>,
    #[prost(message, optional, tag = "20")]
    pub ping_pong: Option<SdkPingPongFrame>,
    #[prost(message, optional, tag = "21")]
    pub audio_status: Option<SdkAudioStatusFrame>,
    #[prost(message, optional, tag = "23")]
    pub data_message: Option<SdkDataMessageFrame>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkErrorFrame {
    #[prost(uint32, optional, tag = "1")]
    pub status: Option<u32>,
    #[prost(string, optional, tag = "2")]
    pub description: Option<String>,
}

/// JOIN: nothing in it changes what the server does yet.
#[derive(Clone, PartialEq, Message)]
pub struct SdkJoinFrame {}

/// JOIN_ACK. Sent empty: no TURN credentials (the client then uses host
/// candidates), the default subscription limit, no SDP compression.
#[derive(Clone, PartialEq, Message)]
pub struct SdkJoinAckFrame {
    #[prost(message, optional, tag = "1")]
    pub turn_credentials: Option<SdkTurnCredentials>,
    #[prost(uint32, optional, tag = "2")]
    pub video_subscription_limit: Option<u32>,
    #[prost(bool, optional, tag = "3")]
    pub wants_compressed_sdp: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkTurnCredentials {
    #[prost(string, optional, tag = "1")]
    pub username: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub password: Option<String>,
    #[prost(uint32, optional, tag = "3")]
    pub ttl: Option<u32>,
    #[prost(string, repeated, tag = "4")]
    pub uris: Vec<String>,
}

/// `SdkStreamServiceType` (the `duplex` of SUBSCRIBE and SUBSCRIBE_ACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Duplex {
    Rx = 1,
    Tx = 2,
    Duplex = 3,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkSubscribeFrame {
    #[prost(enumeration = "Duplex", optional, tag = "1")]
    pub duplex: Option<i32>,
    /// What the client sends (audio, and its camera while it is on).
    #[prost(message, repeated, tag = "2")]
    pub send_streams: Vec<SdkStreamDescriptor>,
    /// The video sources wanted, aligned with the offer's video m-lines after
    /// the first (the camera slot); 0 means none.
    #[prost(uint32, repeated, packed = "false", tag = "3")]
    pub receive_stream_ids: Vec<u32>,
    #[prost(string, optional, tag = "4")]
    pub sdp_offer: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub audio_host: Option<String>,
    #[prost(bool, optional, tag = "6")]
    pub audio_checkin: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub audio_muted: Option<bool>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub compressed_sdp_offer: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkSubscribeAckFrame {
    #[prost(enumeration = "Duplex", optional, tag = "1")]
    pub duplex: Option<i32>,
    /// The global ids given to what the client sends.
    #[prost(message, repeated, tag = "2")]
    pub allocations: Vec<SdkStreamAllocation>,
    #[prost(string, optional, tag = "3")]
    pub sdp_answer: Option<String>,
    /// Which answer track (by msid stream id) carries which source.
    #[prost(message, repeated, tag = "4")]
    pub tracks: Vec<SdkTrackMapping>,
}

/// `SdkStreamMediaType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MediaType {
    Audio = 1,
    Video = 2,
}

/// One stream: a client's send stream in SUBSCRIBE, a source in INDEX.
#[derive(Clone, PartialEq, Message)]
pub struct SdkStreamDescriptor {
    #[prost(uint32, optional, tag = "1")]
    pub stream_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub framerate: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub max_bitrate_kbps: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub track_label: Option<String>,
    #[prost(uint32, optional, tag = "6")]
    pub group_id: Option<u32>,
    #[prost(uint32, optional, tag = "7")]
    pub avg_bitrate_bps: Option<u32>,
    #[prost(string, optional, tag = "8")]
    pub attendee_id: Option<String>,
    #[prost(enumeration = "MediaType", optional, tag = "9")]
    pub media_type: Option<i32>,
    #[prost(string, optional, tag = "10")]
    pub external_user_id: Option<String>,
    #[prost(uint32, optional, tag = "11")]
    pub width: Option<u32>,
    #[prost(uint32, optional, tag = "12")]
    pub height: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkStreamAllocation {
    #[prost(string, optional, tag = "1")]
    pub track_label: Option<String>,
    #[prost(uint32, optional, tag = "2")]
    pub stream_id: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub group_id: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkTrackMapping {
    #[prost(uint32, optional, tag = "1")]
    pub stream_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub ssrc: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub track_label: Option<String>,
}

/// INDEX: the video sources a client may subscribe to. The first one
/// completes the client's join, so it is sent even when empty.
#[derive(Clone, PartialEq, Message)]
pub struct SdkIndexFrame {
    #[prost(bool, optional, tag = "1")]
    pub at_capacity: Option<bool>,
    #[prost(message, repeated, tag = "2")]
    pub sources: Vec<SdkStreamDescriptor>,
    #[prost(uint32, optional, tag = "4")]
    pub num_participants: Option<u32>,
}

/// PAUSE / RESUME: remote videos the client paused or resumed.
#[derive(Clone, PartialEq, Message)]
pub struct SdkPauseResumeFrame {
    #[prost(uint32, repeated, packed = "false", tag = "1")]
    pub stream_ids: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub group_ids: Vec<u32>,
}

/// DATA_MESSAGE, both ways.
#[derive(Clone, PartialEq, Message)]
pub struct SdkDataMessageFrame {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<SdkDataMessagePayload>,
}

/// One data message. The server stamps the sender and the ingest time; an
/// ingest time of 0 tells the sender its message was throttled or refused.
#[derive(Clone, PartialEq, Message)]
pub struct SdkDataMessagePayload {
    #[prost(string, optional, tag = "1")]
    pub topic: Option<String>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub data: Option<Vec<u8>>,
    #[prost(uint32, optional, tag = "3")]
    pub lifetime_ms: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub sender_attendee_id: Option<String>,
    #[prost(int64, optional, tag = "5")]
    pub ingest_time_ns: Option<i64>,
    #[prost(string, optional, tag = "6")]
    pub sender_external_user_id: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkLeaveFrame {}

#[derive(Clone, PartialEq, Message)]
pub struct SdkLeaveAckFrame {}

#[derive(Clone, PartialEq, Message)]
pub struct SdkAudioControlFrame {
    #[prost(bool, optional, tag = "1")]
    pub muted: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkAudioMetadataFrame {
    #[prost(message, repeated, tag = "1")]
    pub attendee_states: Vec<SdkAudioAttendeeState>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkAudioAttendeeState {
    #[prost(uint32, optional, tag = "1")]
    pub audio_stream_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub volume: Option<u32>,
    #[prost(bool, optional, tag = "3")]
    pub muted: Option<bool>,
    #[prost(uint32, optional, tag = "4")]
    pub signal_strength: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkAudioStreamIdInfoFrame {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<SdkAudioStreamIdInfo>,
}

/// One roster entry. An attendee is announced with `attendee_id` (and
/// `external_user_id`); a mute change carries `muted`; a departure carries
/// neither (and `dropped` when the attendee dropped rather than left).
#[derive(Clone, PartialEq, Message)]
pub struct SdkAudioStreamIdInfo {
    #[prost(uint32, optional, tag = "1")]
    pub audio_stream_id: Option<u32>,
    #[prost(string, optional, tag = "2")]
    pub attendee_id: Option<String>,
    #[prost(bool, optional, tag = "3")]
    pub muted: Option<bool>,
    #[prost(string, optional, tag = "4")]
    pub external_user_id: Option<String>,
    #[prost(bool, optional, tag = "5")]
    pub dropped: Option<bool>,
}

/// `SdkPingPongType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PingPongType {
    Ping = 1,
    Pong = 2,
}

#[derive(Clone, PartialEq, Message)]
pub struct SdkPingPongFrame {
    #[prost(enumeration = "PingPongType", required, tag = "1")]
    pub r#type: i32,
    #[prost(uint32, required, tag = "2")]
    pub ping_id: u32,
}

/// AUDIO_STATUS: 410 meeting ended, 411 attendee removed, 301 joined from
/// another device (each ends the client's session).
#[derive(Clone, PartialEq, Message)]
pub struct SdkAudioStatusFrame {
    #[prost(uint32, optional, tag = "1")]
    pub audio_status: Option<u32>,
}

pub const AUDIO_STATUS_JOINED_FROM_ANOTHER_DEVICE: u32 = 301;
pub const AUDIO_STATUS_MEETING_ENDED: u32 = 410;
pub const AUDIO_STATUS_ATTENDEE_REMOVED: u32 = 411;

impl SdkSignalFrame {
    /// A frame of `kind`, stamped now, with no payload yet.
    pub fn new(kind: FrameType) -> Self {
        SdkSignalFrame {
            timestamp_ms: crate::now_ms().max(0) as u64,
            r#type: kind as i32,
            ..Default::default()
        }
    }

    pub fn kind(&self) -> Option<FrameType> {
        FrameType::try_from(self.r#type).ok()
    }

    /// The bytes of one WebSocket message: the frame-type byte, then the frame.
    pub fn to_message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.encoded_len());
        out.push(FRAME_TYPE_RTC);
        self.encode(&mut out).expect("a Vec grows as needed");
        out
    }

    /// Parses one WebSocket message (frame-type byte 0x05 or 0x02, then the frame).
    pub fn from_message(bytes: &[u8]) -> Result<Self, String> {
        let (&first, rest) = bytes.split_first().ok_or("empty message")?;
        if first != FRAME_TYPE_RTC && first != 0x02 {
            return Err(format!("unknown frame type byte {first:#04x}"));
        }
        SdkSignalFrame::decode(rest).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_the_type_byte() {
        let mut f = SdkSignalFrame::new(FrameType::PingPong);
        f.ping_pong = Some(SdkPingPongFrame {
            r#type: PingPongType::Pong as i32,
            ping_id: 7,
        });
        let bytes = f.to_message();
        assert_eq!(bytes[0], FRAME_TYPE_RTC);
        // Field 1 (varint) then field 2 (varint) come first: required fields are always written.
        assert_eq!(bytes[1], 0x08);
        let back = SdkSignalFrame::from_message(&bytes).unwrap();
        assert_eq!(back, f);
        assert_eq!(back.kind(), Some(FrameType::PingPong));
        assert!(SdkSignalFrame::from_message(&[0x01, 0x08]).is_err());
        assert!(SdkSignalFrame::from_message(&[]).is_err());
    }

    #[test]
    fn empty_payloads_are_present() {
        let mut f = SdkSignalFrame::new(FrameType::JoinAck);
        f.joinack = Some(SdkJoinAckFrame::default());
        let back = SdkSignalFrame::from_message(&f.to_message()).unwrap();
        assert!(back.joinack.is_some());
        // A zero timestamp is still written: the field is required.
        let z = SdkSignalFrame {
            timestamp_ms: 0,
            r#type: FrameType::Index as i32,
            ..Default::default()
        };
        assert_eq!(&z.to_message()[1..5], &[0x08, 0x00, 0x10, 0x05]);
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // A JOIN with fields this server does not model (field 1 varint, field 9 string).
        let mut join = vec![0x08, 0x02, 0x4a, 0x01, b'x'];
        let mut frame = vec![0x08, 0x01, 0x10, 0x01, 0x22, join.len() as u8];
        frame.append(&mut join);
        // and an unmodeled frame field (50, varint).
        frame.extend_from_slice(&[0x90, 0x03, 0x01]);
        let mut msg = vec![FRAME_TYPE_RTC];
        msg.extend_from_slice(&frame);
        let f = SdkSignalFrame::from_message(&msg).unwrap();
        assert_eq!(f.kind(), Some(FrameType::Join));
        assert!(f.join.is_some());
    }
}
