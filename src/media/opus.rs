//! libopus, loaded at run time: mono 48 kHz decoders and encoders for the
//! audio mixer.
//!
//! The library is opened with `dlopen` (`libopus.so.0`, Debian's `libopus0`)
//! the first time it is needed, so building Convene never needs libopus or a
//! C toolchain for it. Without it, the server still runs: two attendees hear
//! each other (their packets are forwarded untouched), and with three or more
//! each listener hears one speaker at a time (see `mixer`); the start-up log
//! says so.

// The crate denies `unsafe_code`; this module is the one exception: it loads a
// C library (libloading) and calls its functions, which Rust can only do in
// `unsafe` blocks. Each block keeps to the library's documented contract.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::OnceLock;

/// Samples per second of every stream here.
pub const SAMPLE_RATE: i32 = 48_000;
/// Samples in one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// The longest Opus packet duration (120 ms) in samples.
const MAX_PACKET_SAMPLES: usize = 5760;

/// An Opus packet of 20 ms of silence (CELT, full band, mono), for keeping
/// an outgoing stream alive when nobody talks.
pub const SILENCE_FRAME: [u8; 3] = [0xF8, 0xFF, 0xFE];

const OPUS_OK: c_int = 0;
const OPUS_BAD_ARG: c_int = -1;
const OPUS_INVALID_PACKET: c_int = -4;
const OPUS_APPLICATION_VOIP: c_int = 2048;
const OPUS_APPLICATION_RESTRICTED_LOWDELAY: c_int = 2051;
const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
const OPUS_SET_SIGNAL_REQUEST: c_int = 4024;
const OPUS_SIGNAL_VOICE: c_int = 3001;
/// Our own code: libopus could not be loaded.
const UNAVAILABLE: c_int = -1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(*.0))]
pub struct OpusError(pub i32);

fn describe(code: i32) -> String {
    match code {
        UNAVAILABLE => "libopus is not installed (install libopus0)".into(),
        c => format!("opus error {c}"),
    }
}

type DecoderCreate = unsafe extern "C" fn(i32, c_int, *mut c_int) -> *mut c_void;
type Decode = unsafe extern "C" fn(*mut c_void, *const u8, i32, *mut i16, c_int, c_int) -> c_int;
type EncoderCreate = unsafe extern "C" fn(i32, c_int, c_int, *mut c_int) -> *mut c_void;
type Encode = unsafe extern "C" fn(*mut c_void, *const i16, c_int, *mut u8, i32) -> i32;
type EncoderCtl = unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int;
type Destroy = unsafe extern "C" fn(*mut c_void);

struct Lib {
    decoder_create: DecoderCreate,
    decode: Decode,
    decoder_destroy: Destroy,
    encoder_create: EncoderCreate,
    encode: Encode,
    encoder_ctl: EncoderCtl,
    encoder_destroy: Destroy,
    _library: libloading::Library,
}

fn load() -> Option<Lib> {
    for name in [
        "libopus.so.0",
        "libopus.so",
        "libopus.0.dylib",
        "libopus.dylib",
        "opus.dll",
    ] {
        // SAFETY: loading libopus runs no initialisation code with preconditions.
        let Ok(lib) = (unsafe { libloading::Library::new(name) }) else {
            continue;
        };
        // SAFETY: the signatures are those of libopus's public API (opus.h).
        let loaded = unsafe {
            (|| -> Result<Lib, libloading::Error> {
                Ok(Lib {
                    decoder_create: *lib.get::<DecoderCreate>(b"opus_decoder_create\0")?,
                    decode: *lib.get::<Decode>(b"opus_decode\0")?,
                    decoder_destroy: *lib.get::<Destroy>(b"opus_decoder_destroy\0")?,
                    encoder_create: *lib.get::<EncoderCreate>(b"opus_encoder_create\0")?,
                    encode: *lib.get::<Encode>(b"opus_encode\0")?,
                    encoder_ctl: *lib.get::<EncoderCtl>(b"opus_encoder_ctl\0")?,
                    encoder_destroy: *lib.get::<Destroy>(b"opus_encoder_destroy\0")?,
                    _library: lib,
                })
            })()
        };
        if let Ok(l) = loaded {
            return Some(l);
        }
    }
    None
}

fn lib() -> Result<&'static Lib, OpusError> {
    static LIB: OnceLock<Option<Lib>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().ok_or(OpusError(UNAVAILABLE))
}

/// True when libopus could be loaded, so that three or more attendees are mixed.
pub fn available() -> bool {
    lib().is_ok()
}

/// The number of 48 kHz samples an Opus packet carries (RFC 6716, section 3.1).
pub fn packet_samples(packet: &[u8]) -> Result<usize, OpusError> {
    let toc = *packet.first().ok_or(OpusError(OPUS_INVALID_PACKET))?;
    let config = usize::from(toc >> 3);
    // Frame size in 48 kHz samples, by configuration number.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][config % 4],
        12..=15 => [480, 960][config % 2],
        _ => [120, 240, 480, 960][config % 4],
    };
    let frames = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => usize::from(*packet.get(1).ok_or(OpusError(OPUS_INVALID_PACKET))? & 0x3F),
    };
    let samples = frame * frames;
    if frames == 0 || samples > MAX_PACKET_SAMPLES {
        return Err(OpusError(OPUS_INVALID_PACKET));
    }
    Ok(samples)
}

/// A mono 48 kHz decoder.
pub struct Decoder {
    st: NonNull<c_void>,
    lib: &'static Lib,
}

impl Decoder {
    pub fn new() -> Result<Self, OpusError> {
        let lib = lib()?;
        let mut err = OPUS_BAD_ARG;
        // SAFETY: valid arguments; the result is checked for null below.
        let st = unsafe { (lib.decoder_create)(SAMPLE_RATE, 1, &raw mut err) };
        match NonNull::new(st) {
            Some(st) if err == OPUS_OK => Ok(Decoder { st, lib }),
            Some(st) => {
                // SAFETY: created above and not used again.
                unsafe { (lib.decoder_destroy)(st.as_ptr()) };
                Err(OpusError(err))
            }
            None => Err(OpusError(err)),
        }
    }

    /// Decodes one packet, appending its samples to `out`.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, OpusError> {
        let start = out.len();
        out.resize(start + MAX_PACKET_SAMPLES, 0);
        // SAFETY: `out` has MAX_PACKET_SAMPLES writable samples from `start`;
        // the decoder state is owned by `self`.
        let n = unsafe {
            (self.lib.decode)(
                self.st.as_ptr(),
                packet.as_ptr(),
                packet.len() as i32,
                out[start..].as_mut_ptr(),
                MAX_PACKET_SAMPLES as i32,
                0,
            )
        };
        if n < 0 {
            out.truncate(start);
            return Err(OpusError(n));
        }
        out.truncate(start + n as usize);
        Ok(n as usize)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once.
        unsafe { (self.lib.decoder_destroy)(self.st.as_ptr()) }
    }
}

/// What an encoder is for, which sets libopus's mode and effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A microphone, as a browser sends it: the VoIP application told the
    /// signal is speech, at 32 kbit/s (SILK or hybrid packets).
    Microphone,
    /// The mixer's output: CELT only (`RESTRICTED_LOWDELAY`, 2.5 ms of
    /// look-ahead instead of 6.5) at complexity 5 and libopus's default
    /// bitrate for mono (about 51 kbit/s, full band). On this project's
    /// machines it encodes 20 ms of speech in about 55 µs, where the VoIP
    /// application at its default complexity takes about 280 µs (SILK's
    /// analysis); the mixer encodes up to four mixes per meeting every 20 ms,
    /// so this is most of a mixing core (BENCHMARKS.md, "Media capacity").
    Mix,
}

/// The mixer's encoder complexity (0 to 10): CELT's pitch pre-filter, which
/// voiced speech needs, is on from 5; the steps above it cost 40% more.
const MIX_COMPLEXITY: c_int = 5;
/// A browser's microphone bitrate for speech.
const MICROPHONE_BITRATE: c_int = 32_000;

/// A mono 48 kHz encoder.
pub struct Encoder {
    st: NonNull<c_void>,
    lib: &'static Lib,
}

impl Encoder {
    /// An encoder for a microphone's speech (what tests and synthetic
    /// clients send, as a browser would).
    pub fn new() -> Result<Self, OpusError> {
        Self::with_profile(Profile::Microphone)
    }

    pub fn with_profile(profile: Profile) -> Result<Self, OpusError> {
        let lib = lib()?;
        let mut err = OPUS_BAD_ARG;
        let application = match profile {
            Profile::Microphone => OPUS_APPLICATION_VOIP,
            Profile::Mix => OPUS_APPLICATION_RESTRICTED_LOWDELAY,
        };
        // SAFETY: valid arguments; the result is checked for null below.
        let st = unsafe { (lib.encoder_create)(SAMPLE_RATE, 1, application, &raw mut err) };
        let Some(st) = NonNull::new(st) else {
            return Err(OpusError(err));
        };
        // Owned from here, so an error below destroys it.
        let enc = Encoder { st, lib };
        if err != OPUS_OK {
            return Err(OpusError(err));
        }
        let settings: &[(c_int, c_int)] = match profile {
            Profile::Microphone => &[
                (OPUS_SET_SIGNAL_REQUEST, OPUS_SIGNAL_VOICE),
                (OPUS_SET_BITRATE_REQUEST, MICROPHONE_BITRATE),
            ],
            Profile::Mix => &[(OPUS_SET_COMPLEXITY_REQUEST, MIX_COMPLEXITY)],
        };
        for &(request, value) in settings {
            // SAFETY: these requests take one `opus_int32` argument (opus_defines.h).
            let r = unsafe { (lib.encoder_ctl)(enc.st.as_ptr(), request, value) };
            if r != OPUS_OK {
                return Err(OpusError(r));
            }
        }
        Ok(enc)
    }

    /// Encodes one frame (2.5 to 60 ms of samples) into a packet.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, OpusError> {
        let mut out = vec![0u8; 1500];
        // SAFETY: `pcm` holds `pcm.len()` samples and `out` 1500 writable bytes.
        let n = unsafe {
            (self.lib.encode)(
                self.st.as_ptr(),
                pcm.as_ptr(),
                pcm.len() as i32,
                out.as_mut_ptr(),
                out.len() as i32,
            )
        };
        if n < 0 {
            return Err(OpusError(n));
        }
        out.truncate(n as usize);
        Ok(out)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once.
        unsafe { (self.lib.encoder_destroy)(self.st.as_ptr()) }
    }
}

// SAFETY: libopus states are plain memory with no thread affinity; each is
// owned by one value and only used through `&mut self`.
unsafe impl Send for Decoder {}
// SAFETY: as above.
unsafe impl Send for Encoder {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn tone(freq: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f32 * freq * std::f32::consts::TAU / 48_000.0).sin() * 8000.0) as i16)
            .collect()
    }

    /// Tests that need libopus say so loudly when it is missing, and fail
    /// under `CI=true` (CI installs it).
    pub(crate) fn need_libopus() -> bool {
        if available() {
            return true;
        }
        crate::test_support::missing_input(
            "a libopus test",
            "libopus is not installed (apt-get install libopus0)",
        );
        false
    }

    #[test]
    fn packet_sizes_without_libopus() {
        assert_eq!(packet_samples(&SILENCE_FRAME).unwrap(), FRAME_SAMPLES);
        assert_eq!(packet_samples(&[0x78]).unwrap(), 960); // SILK WB 20 ms
        assert_eq!(packet_samples(&[0x79]).unwrap(), 1920); // two frames
        assert_eq!(packet_samples(&[0x7B, 0x03]).unwrap(), 2880); // code 3, three frames
        assert!(packet_samples(&[0x7B, 0x00]).is_err());
        assert!(packet_samples(&[0x7B, 0x3F]).is_err());
        assert!(packet_samples(&[]).is_err());
    }

    #[test]
    fn round_trip_keeps_the_energy() {
        if !need_libopus() {
            return;
        }
        let mut enc = Encoder::new().unwrap();
        let mut dec = Decoder::new().unwrap();
        let mut out = Vec::new();
        for _ in 0..10 {
            let pkt = enc.encode(&tone(440.0, FRAME_SAMPLES)).unwrap();
            assert_eq!(packet_samples(&pkt).unwrap(), FRAME_SAMPLES);
            dec.decode(&pkt, &mut out).unwrap();
        }
        assert_eq!(out.len(), 10 * FRAME_SAMPLES);
        let rms = (out[5 * FRAME_SAMPLES..]
            .iter()
            .map(|&s| f64::from(s).powi(2))
            .sum::<f64>()
            / (5 * FRAME_SAMPLES) as f64)
            .sqrt();
        assert!(rms > 2000.0, "rms {rms}");
    }

    #[test]
    fn the_mix_profile_sends_celt_and_keeps_the_energy() {
        if !need_libopus() {
            return;
        }
        let mut enc = Encoder::with_profile(Profile::Mix).unwrap();
        let mut dec = Decoder::new().unwrap();
        let mut out = Vec::new();
        for _ in 0..10 {
            let pkt = enc.encode(&tone(440.0, FRAME_SAMPLES)).unwrap();
            // TOC configurations 16 to 31 are CELT (RFC 6716, section 3.1).
            assert!(pkt[0] >> 3 >= 16, "not CELT: TOC {:#x}", pkt[0]);
            dec.decode(&pkt, &mut out).unwrap();
        }
        let tail = &out[5 * FRAME_SAMPLES..];
        let rms =
            (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        assert!(rms > 2000.0, "rms {rms}");
    }

    #[test]
    fn the_microphone_profile_sends_speech_modes() {
        if !need_libopus() {
            return;
        }
        let mut enc = Encoder::new().unwrap();
        let pkt = enc.encode(&tone(440.0, FRAME_SAMPLES)).unwrap();
        // Configurations 0 to 15 are SILK or hybrid: the speech modes.
        assert!(pkt[0] >> 3 < 16, "not a speech mode: TOC {:#x}", pkt[0]);
    }

    #[test]
    fn the_silence_frame_is_20ms_of_silence() {
        if !need_libopus() {
            return;
        }
        assert_eq!(packet_samples(&SILENCE_FRAME).unwrap(), FRAME_SAMPLES);
        let mut dec = Decoder::new().unwrap();
        let mut out = Vec::new();
        dec.decode(&SILENCE_FRAME, &mut out).unwrap();
        assert!(out.iter().all(|&s| s.abs() < 10));
        assert!(packet_samples(&[]).is_err());
    }
}
