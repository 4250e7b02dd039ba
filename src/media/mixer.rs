//! The audio of a meeting: every listener gets one Opus stream.
//!
//! A browser has exactly one audio transceiver, so each listener receives one
//! stream. When a listener has a single possible source (two attendees), that
//! source's Opus packets are forwarded untouched. With two or more sources
//! (three or more attendees), the server decodes the senders it mixes
//! (libopus), sums all but the listener's own audio every 20 ms, and encodes
//! the mix for that listener. Attendees that may not send are never heard; attendees
//! that may not receive get nothing.
//!
//! At most the [`MAX_MIXED`] loudest senders are mixed at once (ranked by a
//! level that rises at once and falls over about 200 ms, so the choice does
//! not flicker); quieter ones are left out while they are. A sender whose
//! packets carry the RTP audio-level extension (RFC 6464, which browsers
//! send) is ranked by it, and decoded only while it is one of the loudest;
//! a sender without it is decoded to be ranked. A sender quieter than
//! [`SILENT_DBOV`] is not mixed at all, so a meeting where one talks and the
//! others listen with open microphones encodes one mix, not four. A listener who is
//! one of those loudest hears a mix of the others, encoded for it alone; every
//! other listener of the meeting hears the same mix of all of them, encoded
//! once per meeting and sent to each. In a meeting of ten that is four
//! encodings every 20 ms instead of ten, whoever talks (the way conference
//! bridges have long done it).
//!
//! Without libopus (see `opus`), a listener with several sources gets the
//! packets of one of them, untouched: the one it was already hearing while
//! that one keeps talking, else the first that talks (one speaker at a time).
//!
//! The mixer knows nothing of RTP or sockets: packets go in with [`Mixer::push`],
//! and [`Mixer::tick`], called every 20 ms, says what to send to whom.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::opus::{self, packet_samples, Decoder, Encoder, FRAME_SAMPLES, SILENCE_FRAME};

/// Decoded audio a sender may have buffered before the oldest is dropped
/// (60 ms): what jitter may add to the delay at most. A media thread that
/// falls behind under load hands the mixer bursts of packets; a deeper
/// buffer kept each burst as delay for seconds (a p50 near 100 ms at 100
/// participants with 120 ms).
const MAX_BUFFERED: usize = 3 * FRAME_SAMPLES;
/// Audio buffered before a sender is mixed in (20 ms): a frame is mixed at the
/// first tick after it arrives. A sender whose packet misses its tick is mixed
/// one frame later from then on (the buffer grew by the jitter it met).
const PRIME: usize = FRAME_SAMPLES;
/// Ticks a sender's buffer must keep at least [`PRIME`] (a whole frame) after mixing before
/// its oldest 20 ms is dropped, so that a buffer grown by a burst of jitter
/// shrinks back instead of adding its delay for good (5 s: a sender whose
/// packets straddle the tick pays one gap per 5 s, not one per second).
const SHRINK_AFTER_TICKS: u32 = 250;
/// Raw packets kept per sender between ticks.
const MAX_RAW: usize = 16;
/// Ticks without anything to forward after which silence is sent.
const SILENCE_AFTER_TICKS: u32 = 3;
/// Senders mixed at once: the loudest this many.
pub const MAX_MIXED: usize = 3;
/// How much of a sender's level is left one tick later, when it is quieter
/// than that (about a tenth after 200 ms).
const LEVEL_DECAY: f32 = 0.8;
/// Senders quieter than this (dBov, as RFC 6464 counts it) are not mixed:
/// an open microphone in a quiet room, not a voice. The smoothed level
/// decides, so a voice that stops is still mixed for a few hundred
/// milliseconds (the tail of a word is not cut).
const SILENT_DBOV: u8 = 60;

/// One member of a meeting at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// May send audio that others hear.
    pub sends: bool,
    /// May receive audio (and is ready to).
    pub receives: bool,
}

/// A packet to send: for `to`, with this RTP time (48 kHz).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: u64,
    pub payload: Arc<[u8]>,
    pub rtp_time: u64,
}

#[derive(Default)]
struct Channel {
    /// Packets received since the last tick.
    raw: VecDeque<Arc<[u8]>>,
    decoder: Option<Decoder>,
    pcm: VecDeque<i16>,
    primed: bool,
    /// Consecutive ticks the buffer kept at least PRIME after mixing.
    surplus_ticks: u32,
    encoder: Option<Encoder>,
    /// RTP time of the next packet sent to this member.
    out_time: u64,
    idle_ticks: u32,
    /// Without libopus: the source this listener is hearing.
    speaker: Option<u64>,
    /// As a sender: its smoothed level (mean absolute sample value), by which
    /// the loudest are chosen.
    level: f32,
    /// As a sender: the loudest audio level (dBov, 0 loudest, 127 silence)
    /// of the packets since the last tick, if every one of them said it.
    packet_level: Option<u8>,
    /// As a sender: a packet since the last tick came without a level.
    unlevelled: bool,
}

impl Channel {
    fn next_time(&mut self, samples: usize) -> u64 {
        let t = self.out_time;
        self.out_time = self.out_time.wrapping_add(samples as u64);
        t
    }
}

/// Per-member audio state across the meetings of one media loop.
pub struct Mixer {
    channels: HashMap<u64, Channel>,
    /// Per meeting: the encoder of the mix every listener who is not one of
    /// the loudest senders hears.
    shared: HashMap<String, Option<Encoder>>,
    /// Whether several sources are mixed (libopus) or one is forwarded.
    can_mix: bool,
    /// Opus packets decoded so far (what ranking by audio level saves).
    decoded: u64,
}

impl Default for Mixer {
    fn default() -> Self {
        Self::new()
    }
}

impl Mixer {
    pub fn new() -> Self {
        Self::with_mixing(opus::available())
    }

    /// A mixer that mixes several sources only when `can_mix` (libopus is there).
    pub fn with_mixing(can_mix: bool) -> Self {
        Mixer {
            channels: HashMap::new(),
            shared: HashMap::new(),
            can_mix,
            decoded: 0,
        }
    }

    /// A packet received from `from` (call only for members that may send),
    /// with the audio level its RTP header gave (dBov: 0 loudest, 127 silence).
    pub fn push(&mut self, from: u64, packet: Arc<[u8]>, level: Option<u8>) {
        let ch = self.channels.entry(from).or_default();
        if ch.raw.len() >= MAX_RAW {
            ch.raw.pop_front();
        }
        ch.raw.push_back(packet);
        match level {
            Some(l) => ch.packet_level = Some(ch.packet_level.map_or(l, |p| p.min(l))),
            None => ch.unlevelled = true,
        }
    }

    /// Opus packets decoded so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Forgets a member.
    pub fn remove(&mut self, id: u64) {
        self.channels.remove(&id);
    }

    /// Forgets the shared mix of every meeting `live` does not name.
    pub fn retain_meetings(&mut self, live: impl Fn(&str) -> bool) {
        self.shared.retain(|m, _| live(m));
    }

    /// One 20 ms step of one meeting: what each listening member gets.
    pub fn tick(&mut self, meeting: &str, members: &[Member]) -> Vec<Outgoing> {
        let senders: Vec<u64> = members.iter().filter(|m| m.sends).map(|m| m.id).collect();
        for m in members.iter().filter(|m| !m.sends) {
            if let Some(ch) = self.channels.get_mut(&m.id) {
                ch.raw.clear();
                ch.pcm.clear();
                ch.primed = false;
            }
        }
        let sources_of = |id: u64| senders.iter().filter(move |&&s| s != id);
        let can_mix = self.can_mix;
        let need_mix = can_mix
            && members
                .iter()
                .any(|m| m.receives && sources_of(m.id).count() >= 2);

        let TickAudio {
            raw,
            frames,
            loudest,
        } = self.take_audio(&senders, need_mix);
        let mut shared: Option<Option<Arc<[u8]>>> = None;
        let mut out = Vec::new();
        for m in members.iter().filter(|m| m.receives) {
            let sources: Vec<u64> = sources_of(m.id).copied().collect();
            if sources.len() <= 1 || !can_mix {
                let ch = self.channels.entry(m.id).or_default();
                ch.forward(m.id, &sources, &raw, &mut out);
                continue;
            }
            let payload = if loudest.contains(&m.id) {
                let others: Vec<u64> = loudest.iter().copied().filter(|&s| s != m.id).collect();
                let ch = self.channels.entry(m.id).or_default();
                mix_and_encode(&others, &frames, &mut ch.encoder)
            } else {
                shared
                    .get_or_insert_with(|| {
                        let enc = self.shared.entry(meeting.to_string()).or_default();
                        mix_and_encode(&loudest, &frames, enc)
                    })
                    .clone()
            };
            let ch = self.channels.entry(m.id).or_default();
            ch.idle_ticks = 0;
            if let Some(payload) = payload {
                let rtp_time = ch.next_time(FRAME_SAMPLES);
                out.push(Outgoing {
                    to: m.id,
                    payload,
                    rtp_time,
                });
            }
        }
        out
    }

    /// This tick's packets of each sender and, when mixing, 20 ms of decoded
    /// audio of the loudest. A sender whose packets all carried their level
    /// is ranked by it and decoded only if it is among the loudest.
    fn take_audio(&mut self, senders: &[u64], need_mix: bool) -> TickAudio {
        let mut raw: HashMap<u64, Vec<Arc<[u8]>>> = HashMap::new();
        let mut frames: HashMap<u64, Vec<i16>> = HashMap::new();
        let mut by_level: HashMap<u64, f32> = HashMap::new();
        for &s in senders {
            let ch = self.channels.entry(s).or_default();
            let packets: Vec<Arc<[u8]>> = ch.raw.drain(..).collect();
            let level = ch.packet_level.take();
            let unlevelled = std::mem::take(&mut ch.unlevelled);
            if !need_mix {
                ch.pcm.clear();
                ch.primed = false;
            } else if let (Some(l), false, false) = (level, unlevelled, packets.is_empty()) {
                by_level.insert(s, amplitude_of(l));
            } else if let Some(frame) = ch.decode_frame(&packets, &mut self.decoded) {
                frames.insert(s, frame);
            }
            raw.insert(s, packets);
        }
        let loudest = self.loudest(senders, &frames, &by_level);
        for &s in by_level.keys() {
            let ch = self.channels.entry(s).or_default();
            if loudest.contains(&s) {
                if let Some(frame) = ch.decode_frame(&raw[&s], &mut self.decoded) {
                    frames.insert(s, frame);
                }
            } else {
                // Not heard this tick: its audio is dropped undecoded, and its
                // decoder starts afresh when it is heard again.
                ch.pcm.clear();
                ch.primed = false;
                ch.decoder = None;
            }
        }
        TickAudio {
            raw,
            frames,
            loudest,
        }
    }

    /// The senders mixed this tick: those with a frame or a level, not
    /// silent, the loudest [`MAX_MIXED`] by their smoothed level (ties to the
    /// lower id).
    fn loudest(
        &mut self,
        senders: &[u64],
        frames: &HashMap<u64, Vec<i16>>,
        by_level: &HashMap<u64, f32>,
    ) -> Vec<u64> {
        let mut ranked: Vec<(f32, u64)> = Vec::new();
        for &s in senders {
            let ch = self.channels.entry(s).or_default();
            let now = match (frames.get(&s), by_level.get(&s)) {
                (Some(f), _) => Some(mean_abs(f)),
                (None, Some(&a)) => Some(a),
                (None, None) => None,
            };
            ch.level = now.unwrap_or(0.0).max(ch.level * LEVEL_DECAY);
            if now.is_some() && ch.level >= amplitude_of(SILENT_DBOV) {
                ranked.push((ch.level, s));
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().take(MAX_MIXED).map(|(_, s)| s).collect()
    }
}

/// The mean absolute sample value of audio at `dbov` (RFC 6464: the RMS
/// level below full scale), on the scale of [`mean_abs`] (for a tone the mean
/// absolute value is about 0.9 of the RMS).
fn amplitude_of(dbov: u8) -> f32 {
    0.9 * 32_767.0 * 10f32.powf(-f32::from(dbov.min(127)) / 20.0)
}

/// What one tick has to mix: each sender's packets, the decoded frames, and
/// who is mixed.
struct TickAudio {
    raw: HashMap<u64, Vec<Arc<[u8]>>>,
    frames: HashMap<u64, Vec<i16>>,
    loudest: Vec<u64>,
}

fn mean_abs(frame: &[i16]) -> f32 {
    let sum: u64 = frame.iter().map(|&x| u64::from(x.unsigned_abs())).sum();
    sum as f32 / frame.len().max(1) as f32
}

/// The sum of `sources`' frames of this tick, encoded with `encoder` (made
/// when first needed); silence when none of them has a frame, `None` when
/// encoding fails.
fn mix_and_encode(
    sources: &[u64],
    frames: &HashMap<u64, Vec<i16>>,
    encoder: &mut Option<Encoder>,
) -> Option<Arc<[u8]>> {
    let mut mix = [0i32; FRAME_SAMPLES];
    let mut heard = 0;
    for s in sources {
        if let Some(f) = frames.get(s) {
            heard += 1;
            for (acc, &x) in mix.iter_mut().zip(f.iter()) {
                *acc += i32::from(x);
            }
        }
    }
    if heard == 0 {
        return Some(Arc::from(&SILENCE_FRAME[..]));
    }
    let pcm: Vec<i16> = mix
        .iter()
        .map(|&x| x.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
        .collect();
    if encoder.is_none() {
        match Encoder::with_profile(opus::Profile::Mix) {
            Ok(e) => *encoder = Some(e),
            Err(e) => tracing::warn!(error = %e, "cannot create an Opus encoder"),
        }
    }
    match encoder.as_mut()?.encode(&pcm) {
        Ok(p) => Some(Arc::from(p)),
        Err(e) => {
            tracing::warn!(error = %e, "Opus encoding failed");
            None
        }
    }
}

impl Channel {
    /// Decodes a sender's packets of this tick into its buffer, and takes the
    /// next 20 ms frame from it once enough audio is buffered.
    fn decode_frame(&mut self, packets: &[Arc<[u8]>], count: &mut u64) -> Option<Vec<i16>> {
        let mut decoded = Vec::new();
        for p in packets {
            *count += 1;
            if self.decoder.is_none() {
                match Decoder::new() {
                    Ok(d) => self.decoder = Some(d),
                    Err(e) => tracing::warn!(error = %e, "cannot create an Opus decoder"),
                }
            }
            let Some(dec) = self.decoder.as_mut() else {
                break;
            };
            if let Err(e) = dec.decode(p, &mut decoded) {
                tracing::debug!(error = %e, "undecodable Opus packet dropped");
            }
        }
        self.pcm.extend(decoded);
        while self.pcm.len() > MAX_BUFFERED {
            self.pcm.pop_front();
        }
        if !self.primed && self.pcm.len() >= PRIME {
            self.primed = true;
        }
        if !self.primed {
            return None;
        }
        if self.pcm.len() >= FRAME_SAMPLES {
            let frame = self.pcm.drain(..FRAME_SAMPLES).collect();
            self.shrink();
            Some(frame)
        } else {
            self.primed = false;
            None
        }
    }

    /// Drops the oldest 20 ms of a buffer that has kept a whole frame for
    /// SHRINK_AFTER_TICKS ticks (the jitter that grew it has passed).
    fn shrink(&mut self) {
        if self.pcm.len() < PRIME {
            self.surplus_ticks = 0;
            return;
        }
        self.surplus_ticks += 1;
        if self.surplus_ticks >= SHRINK_AFTER_TICKS {
            self.surplus_ticks = 0;
            self.pcm.drain(..FRAME_SAMPLES.min(self.pcm.len()));
        }
    }

    /// Forwards one source's packets untouched to listener `to` (the one
    /// talking, preferring the one heard last), or silence after a pause.
    fn forward(
        &mut self,
        to: u64,
        sources: &[u64],
        raw: &HashMap<u64, Vec<Arc<[u8]>>>,
        out: &mut Vec<Outgoing>,
    ) {
        let talking = |s: &u64| raw.get(s).is_some_and(|p| !p.is_empty());
        let source = match self.speaker.filter(|s| sources.contains(s) && talking(s)) {
            Some(s) => Some(s),
            None => sources
                .iter()
                .copied()
                .find(|s| talking(s))
                .or(sources.first().copied()),
        };
        self.speaker = source;
        let packets = source
            .and_then(|s| raw.get(&s))
            .cloned()
            .unwrap_or_default();
        if packets.is_empty() {
            self.idle_ticks += 1;
            if self.idle_ticks >= SILENCE_AFTER_TICKS {
                let rtp_time = self.next_time(FRAME_SAMPLES);
                out.push(Outgoing {
                    to,
                    payload: Arc::from(&SILENCE_FRAME[..]),
                    rtp_time,
                });
            }
            return;
        }
        self.idle_ticks = 0;
        for p in packets {
            let samples = packet_samples(&p).unwrap_or(FRAME_SAMPLES);
            let rtp_time = self.next_time(samples);
            out.push(Outgoing {
                to,
                payload: p,
                rtp_time,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, sends: bool, receives: bool) -> Member {
        Member {
            id,
            sends,
            receives,
        }
    }

    fn tone(freq: f32, phase: usize) -> Vec<i16> {
        tone_at(freq, phase, 6000.0)
    }

    fn tone_at(freq: f32, phase: usize, amplitude: f32) -> Vec<i16> {
        (0..FRAME_SAMPLES)
            .map(|i| {
                (((phase + i) as f32 * freq * std::f32::consts::TAU / 48_000.0).sin() * amplitude)
                    as i16
            })
            .collect()
    }

    /// Energy of `signal` at `freq` (a single-bin DFT), normalised.
    fn energy_at(signal: &[i16], freq: f32) -> f64 {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (i, &s) in signal.iter().enumerate() {
            let w = i as f64 * f64::from(freq) * std::f64::consts::TAU / 48_000.0;
            re += f64::from(s) * w.cos();
            im += f64::from(s) * w.sin();
        }
        (re * re + im * im).sqrt() / signal.len() as f64
    }

    #[test]
    fn two_members_are_forwarded_untouched() {
        let mut mixer = Mixer::new();
        let members = [member(1, true, true), member(2, true, true)];
        let p: Arc<[u8]> = Arc::from(&[0x78u8, 1, 2, 3][..]);
        mixer.push(1, p.clone(), None);
        let out = mixer.tick("m", &members);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, 2);
        assert_eq!(out[0].payload, p);
        // Member 1 heard nothing yet; silence only comes after a few idle ticks.
        let mut silence = 0;
        for _ in 0..3 {
            silence += mixer
                .tick("m", &members)
                .iter()
                .filter(|o| o.to == 1)
                .count();
        }
        assert!(silence >= 1);
    }

    #[test]
    fn without_libopus_one_speaker_at_a_time_is_forwarded() {
        let mut mixer = Mixer::with_mixing(false);
        let members = [
            member(1, true, true),
            member(2, true, true),
            member(3, true, true),
        ];
        let a: Arc<[u8]> = Arc::from(&[0x78u8, 1][..]);
        let b: Arc<[u8]> = Arc::from(&[0x78u8, 2][..]);
        mixer.push(1, a.clone(), None);
        let out = mixer.tick("m", &members);
        let to3: Vec<_> = out
            .iter()
            .filter(|o| o.to == 3)
            .map(|o| o.payload.clone())
            .collect();
        assert_eq!(to3.as_slice(), std::slice::from_ref(&a));
        // 3 keeps hearing 1 while 1 talks, even when 2 talks too.
        mixer.push(1, a.clone(), None);
        mixer.push(2, b.clone(), None);
        let out = mixer.tick("m", &members);
        let to3: Vec<_> = out
            .iter()
            .filter(|o| o.to == 3)
            .map(|o| o.payload.clone())
            .collect();
        assert_eq!(to3.as_slice(), std::slice::from_ref(&a));
        // 1 hears 2 (never itself).
        assert!(out.iter().any(|o| o.to == 1 && o.payload == b));
        // When 1 stops, 3 switches to 2.
        mixer.push(2, b.clone(), None);
        let out = mixer.tick("m", &members);
        assert!(out.iter().any(|o| o.to == 3 && o.payload == b));
    }

    #[test]
    fn capabilities_stop_audio() {
        let mut mixer = Mixer::new();
        let p: Arc<[u8]> = Arc::from(&[0x78u8, 9][..]);
        // 1 may not send: 2 never gets its packet.
        mixer.push(1, p.clone(), None);
        let out = mixer.tick("m", &[member(1, false, true), member(2, true, true)]);
        assert!(out.iter().all(|o| o.payload != p));
        // 2 may not receive: it gets nothing at all.
        for _ in 0..5 {
            mixer.push(1, p.clone(), None);
            let out = mixer.tick("m", &[member(1, true, true), member(2, true, false)]);
            assert!(out.iter().all(|o| o.to != 2));
        }
    }

    /// No priming delay: the first frame of a sender that was silent until now
    /// is in the mix of the very next tick, and so is each frame after it (a
    /// buffer primed with a frame before mixing would answer silence at the
    /// first tick and hear the sender 20 ms late from then on).
    #[test]
    fn a_new_senders_first_frame_is_mixed_at_the_next_tick() {
        if !crate::media::opus::tests::need_libopus() {
            return;
        }
        let mut mixer = Mixer::with_mixing(true);
        // Three members, so 2 hears a mix; 3 says nothing, 1 starts talking.
        let members = [
            member(1, true, true),
            member(2, true, true),
            member(3, true, true),
        ];
        let mut talker = Encoder::new().unwrap();
        let mut listener = Decoder::new().unwrap();
        for tick in 0..3 {
            let pkt = talker.encode(&tone(440.0, tick * FRAME_SAMPLES)).unwrap();
            mixer.push(1, Arc::from(pkt), None);
            let out = mixer.tick("m", &members);
            let to2: Vec<&Outgoing> = out.iter().filter(|o| o.to == 2).collect();
            assert_eq!(to2.len(), 1, "tick {tick}: one mixed packet for 2");
            assert_ne!(
                &to2[0].payload[..],
                &SILENCE_FRAME[..],
                "tick {tick}: 2 got silence, so 1's frame of this tick was held back"
            );
            let mut pcm = Vec::new();
            listener.decode(&to2[0].payload, &mut pcm).unwrap();
            // Two codec delays (~13 ms) leave part of the first frame's 20 ms
            // audible at tick 0, and all of it after.
            let e = energy_at(&pcm, 440.0);
            assert!(e > 300.0, "tick {tick}: 2 does not hear 1 yet ({e})");
        }
    }

    #[test]
    fn three_members_each_hear_the_two_others() {
        if !crate::media::opus::tests::need_libopus() {
            return;
        }
        let mut mixer = Mixer::with_mixing(true);
        let members = [
            member(1, true, true),
            member(2, true, true),
            member(3, true, true),
        ];
        let freqs = [(1u64, 440.0f32), (2, 1000.0), (3, 2500.0)];
        let mut encoders: HashMap<u64, Encoder> = freqs
            .iter()
            .map(|(id, _)| (*id, Encoder::new().unwrap()))
            .collect();
        let mut decoders: HashMap<u64, Decoder> = freqs
            .iter()
            .map(|(id, _)| (*id, Decoder::new().unwrap()))
            .collect();
        let mut heard: HashMap<u64, Vec<i16>> = HashMap::new();
        for tick in 0..50 {
            for (id, f) in freqs {
                let pkt = encoders
                    .get_mut(&id)
                    .unwrap()
                    .encode(&tone(f, tick * FRAME_SAMPLES))
                    .unwrap();
                mixer.push(id, Arc::from(pkt), None);
            }
            for o in mixer.tick("m", &members) {
                decoders
                    .get_mut(&o.to)
                    .unwrap()
                    .decode(&o.payload, heard.entry(o.to).or_default())
                    .unwrap();
            }
        }
        for (id, _) in freqs {
            let pcm = &heard[&id][20 * FRAME_SAMPLES..];
            for (other, f) in freqs {
                let e = energy_at(pcm, f);
                if other == id {
                    assert!(e < 300.0, "{id} hears itself at {f} Hz: {e}");
                } else {
                    assert!(e > 800.0, "{id} does not hear {other} at {f} Hz: {e}");
                }
            }
        }
    }

    /// Five talking: the three loudest are mixed. Each of them hears the two
    /// others; the two quieter ones hear the three loudest (not each other),
    /// from one encoding they share.
    #[test]
    fn the_loudest_three_are_mixed_and_the_others_share_one_encoding() {
        if !crate::media::opus::tests::need_libopus() {
            return;
        }
        // Without levels in the packets, every sender is decoded to be ranked.
        assert_eq!(five_talk(false), 5 * 50);
    }

    /// The same five, their packets carrying the RTP audio level: the same is
    /// heard, and only the three loudest are ever decoded.
    #[test]
    fn senders_with_audio_levels_are_decoded_only_while_among_the_loudest() {
        if !crate::media::opus::tests::need_libopus() {
            return;
        }
        assert_eq!(five_talk(true), 3 * 50);
    }

    /// Five talk for 50 ticks (1 to 3 loud, 4 and 5 quiet), with or without
    /// their levels in the packets; checks what each hears, and answers how
    /// many packets the mixer decoded.
    fn five_talk(with_levels: bool) -> u64 {
        assert_eq!(MAX_MIXED, 3);
        let mut mixer = Mixer::with_mixing(true);
        let members: Vec<Member> = (1..=5).map(|id| member(id, true, true)).collect();
        // (id, frequency, amplitude, dBov as a browser measures it).
        let voices = [
            (1u64, 440.0f32, 6000.0f32, 18u8),
            (2, 1000.0, 6000.0, 18),
            (3, 2500.0, 6000.0, 18),
            (4, 700.0, 1500.0, 30),
            (5, 1700.0, 1500.0, 30),
        ];
        let mut encoders: HashMap<u64, Encoder> =
            (1..=5).map(|id| (id, Encoder::new().unwrap())).collect();
        let mut decoders: HashMap<u64, Decoder> =
            (1..=5).map(|id| (id, Decoder::new().unwrap())).collect();
        let mut heard: HashMap<u64, Vec<i16>> = HashMap::new();
        for tick in 0..50 {
            for (id, f, a, dbov) in voices {
                let pcm = tone_at(f, tick * FRAME_SAMPLES, a);
                let pkt = encoders.get_mut(&id).unwrap().encode(&pcm).unwrap();
                mixer.push(id, Arc::from(pkt), with_levels.then_some(dbov));
            }
            let out = mixer.tick("m", &members);
            assert_eq!(out.len(), 5, "tick {tick}: one packet per listener");
            let to = |id: u64| &out.iter().find(|o| o.to == id).unwrap().payload;
            assert!(
                Arc::ptr_eq(to(4), to(5)),
                "tick {tick}: 4 and 5 were encoded for separately"
            );
            for o in &out {
                decoders
                    .get_mut(&o.to)
                    .unwrap()
                    .decode(&o.payload, heard.entry(o.to).or_default())
                    .unwrap();
            }
        }
        for (id, _, _, _) in voices {
            let pcm = &heard[&id][20 * FRAME_SAMPLES..];
            for (other, f, _, _) in voices {
                let e = energy_at(pcm, f);
                if other == id || other >= 4 {
                    assert!(e < 200.0, "{id} hears {other} at {f} Hz: {e}");
                } else {
                    assert!(e > 800.0, "{id} does not hear {other} at {f} Hz: {e}");
                }
            }
        }
        mixer.decoded()
    }

    /// One talks, four listen with open microphones (silence, and said so
    /// in their levels or not): the silent are not mixed, so the talker gets
    /// silence (nobody else to hear) and the four share one encoding of the
    /// talker.
    #[test]
    fn the_silent_are_not_mixed() {
        if !crate::media::opus::tests::need_libopus() {
            return;
        }
        for with_levels in [true, false] {
            let mut mixer = Mixer::with_mixing(true);
            let members: Vec<Member> = (1..=5).map(|id| member(id, true, true)).collect();
            let mut encoders: HashMap<u64, Encoder> =
                (1..=5).map(|id| (id, Encoder::new().unwrap())).collect();
            let mut listener = Decoder::new().unwrap();
            let mut heard_by_2 = Vec::new();
            for tick in 0..30 {
                for id in 1..=5u64 {
                    let (pcm, dbov) = if id == 1 {
                        (tone_at(440.0, tick * FRAME_SAMPLES, 6000.0), 18)
                    } else {
                        (vec![0i16; FRAME_SAMPLES], 127)
                    };
                    let pkt = encoders.get_mut(&id).unwrap().encode(&pcm).unwrap();
                    mixer.push(id, Arc::from(pkt), with_levels.then_some(dbov));
                }
                let out = mixer.tick("m", &members);
                let to = |id: u64| &out.iter().find(|o| o.to == id).unwrap().payload;
                assert_eq!(
                    &to(1)[..],
                    &SILENCE_FRAME[..],
                    "tick {tick}: 1 hears someone"
                );
                for id in 3..=5 {
                    assert!(
                        Arc::ptr_eq(to(2), to(id)),
                        "tick {tick}: {id} has its own mix"
                    );
                }
                listener.decode(to(2), &mut heard_by_2).unwrap();
            }
            let e = energy_at(&heard_by_2[5 * FRAME_SAMPLES..], 440.0);
            assert!(e > 1000.0, "2 does not hear 1 ({e})");
            if with_levels {
                assert_eq!(mixer.decoded(), 30, "only the talker is decoded");
            }
        }
    }

    /// A quiet sender that starts to talk louder than the others is heard
    /// from the tick its packets say so, though it was not decoded before.
    #[test]
    fn a_sender_ranked_by_level_is_heard_as_soon_as_it_is_loud() {
        if !crate::media::opus::tests::need_libopus() {
            return;
        }
        let mut mixer = Mixer::with_mixing(true);
        let members: Vec<Member> = (1..=5).map(|id| member(id, true, true)).collect();
        let mut encoders: HashMap<u64, Encoder> =
            (1..=5).map(|id| (id, Encoder::new().unwrap())).collect();
        let mut listener = Decoder::new().unwrap();
        let mut heard_by_1 = Vec::new();
        for tick in 0..40 {
            // 5 is quiet for 20 ticks, then the loudest, at 1700 Hz.
            let loud5 = tick >= 20;
            for id in 1..=5u64 {
                let (f, a, dbov) = match id {
                    5 if loud5 => (1700.0, 9000.0, 12),
                    5 => (1700.0, 200.0, 50),
                    _ => (300.0 + 100.0 * id as f32, 3000.0, 24),
                };
                let pcm = tone_at(f, tick * FRAME_SAMPLES, a);
                let pkt = encoders.get_mut(&id).unwrap().encode(&pcm).unwrap();
                mixer.push(id, Arc::from(pkt), Some(dbov));
            }
            let out = mixer.tick("m", &members);
            let p = &out.iter().find(|o| o.to == 1).unwrap().payload;
            let mut pcm = Vec::new();
            listener.decode(p, &mut pcm).unwrap();
            if tick == 19 {
                heard_by_1.clear();
            }
            heard_by_1.extend(pcm);
        }
        // Ticks 19 to 39: 1 hears 5 (a fresh decoder, at once).
        let e = energy_at(&heard_by_1[2 * FRAME_SAMPLES..], 1700.0);
        assert!(e > 1000.0, "1 does not hear 5 once it is loud: {e}");
    }
}
