//! A small safe wrapper over libopus (the system library, through `opusic-sys`):
//! mono 48 kHz decoders and encoders for the audio mixer.

use std::ptr::NonNull;

use opusic_sys as ffi;

/// Samples per second of every stream here.
pub const SAMPLE_RATE: i32 = 48_000;
/// Samples in one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// The longest Opus packet duration (120 ms) in samples.
const MAX_PACKET_SAMPLES: usize = 5760;

/// An Opus packet of 20 ms of silence (CELT, full band, mono), for keeping
/// an outgoing stream alive when nobody talks.
pub const SILENCE_FRAME: [u8; 3] = [0xF8, 0xFF, 0xFE];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("opus error {0}")]
pub struct OpusError(pub i32);

/// The number of 48 kHz samples an Opus packet carries.
pub fn packet_samples(packet: &[u8]) -> Result<usize, OpusError> {
    if packet.is_empty() {
        return Err(OpusError(ffi::OPUS_INVALID_PACKET));
    }
    // SAFETY: the pointer and length describe a live slice; libopus only reads it.
    let n = unsafe {
        ffi::opus_packet_get_nb_samples(packet.as_ptr(), packet.len() as i32, SAMPLE_RATE)
    };
    if n < 0 {
        Err(OpusError(n))
    } else {
        Ok(n as usize)
    }
}

/// A mono 48 kHz decoder.
pub struct Decoder {
    st: NonNull<ffi::OpusDecoder>,
}

impl Decoder {
    pub fn new() -> Result<Self, OpusError> {
        let mut err = 0;
        // SAFETY: valid arguments; the result is checked for null below.
        let st = unsafe { ffi::opus_decoder_create(SAMPLE_RATE, 1, &mut err) };
        match NonNull::new(st) {
            Some(st) if err == ffi::OPUS_OK => Ok(Decoder { st }),
            Some(st) => {
                // SAFETY: created above and not used again.
                unsafe { ffi::opus_decoder_destroy(st.as_ptr()) };
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
            ffi::opus_decode(
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
        unsafe { ffi::opus_decoder_destroy(self.st.as_ptr()) }
    }
}

/// A mono 48 kHz encoder tuned for speech.
pub struct Encoder {
    st: NonNull<ffi::OpusEncoder>,
}

impl Encoder {
    pub fn new() -> Result<Self, OpusError> {
        let mut err = 0;
        // SAFETY: valid arguments; the result is checked for null below.
        let st = unsafe {
            ffi::opus_encoder_create(SAMPLE_RATE, 1, ffi::OPUS_APPLICATION_VOIP, &mut err)
        };
        match NonNull::new(st) {
            Some(st) if err == ffi::OPUS_OK => Ok(Encoder { st }),
            Some(st) => {
                // SAFETY: created above and not used again.
                unsafe { ffi::opus_encoder_destroy(st.as_ptr()) };
                Err(OpusError(err))
            }
            None => Err(OpusError(err)),
        }
    }

    /// Encodes one frame (2.5 to 60 ms of samples) into a packet.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, OpusError> {
        let mut out = vec![0u8; 1500];
        // SAFETY: `pcm` holds `pcm.len()` samples and `out` 1500 writable bytes.
        let n = unsafe {
            ffi::opus_encode(
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
        unsafe { ffi::opus_encoder_destroy(self.st.as_ptr()) }
    }
}

// SAFETY: libopus states are plain memory with no thread affinity; each is
// owned by one value and only used through `&mut self`.
unsafe impl Send for Decoder {}
// SAFETY: as above.
unsafe impl Send for Encoder {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f32 * freq * std::f32::consts::TAU / 48_000.0).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn round_trip_keeps_the_energy() {
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
            .map(|&s| (s as f64).powi(2))
            .sum::<f64>()
            / (5 * FRAME_SAMPLES) as f64)
            .sqrt();
        assert!(rms > 2000.0, "rms {rms}");
    }

    #[test]
    fn the_silence_frame_is_20ms_of_silence() {
        assert_eq!(packet_samples(&SILENCE_FRAME).unwrap(), FRAME_SAMPLES);
        let mut dec = Decoder::new().unwrap();
        let mut out = Vec::new();
        dec.decode(&SILENCE_FRAME, &mut out).unwrap();
        assert!(out.iter().all(|&s| s.abs() < 10));
        assert!(packet_samples(&[]).is_err());
    }
}
