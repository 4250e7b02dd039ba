//! JSON written straight into a response body, member by member: what the
//! generated writers (`bindings.rs`) use, so that an answer is never built as
//! a `serde_json::Value` tree first (for ListAttendees that tree, built,
//! serialized and dropped, was more than half the request's cost).
//!
//! Strings are escaped by serde_json itself, so the bytes are the ones
//! `serde_json::to_vec` wrote for the same document; the writers emit members
//! in name order, as the `Value` maps did.

/// A JSON document being written.
#[derive(Debug, Default)]
pub struct JsonOut {
    buf: Vec<u8>,
    /// The next value opens its container or follows a key: no comma before it.
    first: bool,
}

impl JsonOut {
    pub fn with_capacity(n: usize) -> JsonOut {
        JsonOut {
            buf: Vec::with_capacity(n),
            first: true,
        }
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn separate(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    fn open(&mut self, bracket: u8) {
        self.separate();
        self.buf.push(bracket);
        self.first = true;
    }

    fn close(&mut self, bracket: u8) {
        self.buf.push(bracket);
        self.first = false;
    }

    pub fn begin_object(&mut self) {
        self.open(b'{');
    }

    pub fn end_object(&mut self) {
        self.close(b'}');
    }

    pub fn begin_array(&mut self) {
        self.open(b'[');
    }

    pub fn end_array(&mut self) {
        self.close(b']');
    }

    /// A member's name; its value comes next. Names come from the model
    /// (letters and digits) or from our own code (and `_`), so they are
    /// copied without an escape check.
    pub fn key(&mut self, name: &str) {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.separate();
        self.buf.reserve(name.len() + 3);
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.first = true;
    }

    pub fn string(&mut self, s: &str) {
        self.separate();
        // Ids, ARNs, URLs and tokens need no escape: copied whole. Anything
        // else is escaped by serde_json (writing into a Vec cannot fail).
        if needs_escape(s.as_bytes()) {
            let _ = serde_json::to_writer(&mut self.buf, s);
        } else {
            self.buf.reserve(s.len() + 2);
            self.buf.push(b'"');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.push(b'"');
        }
    }

    pub fn int(&mut self, n: i64) {
        self.separate();
        let _ = serde_json::to_writer(&mut self.buf, &n);
    }

    /// A number already written as JSON (digits, a point, a sign).
    pub fn number(&mut self, text: &str) {
        debug_assert!(text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-'));
        self.separate();
        self.buf.extend_from_slice(text.as_bytes());
    }

    pub fn bool(&mut self, b: bool) {
        self.separate();
        self.buf
            .extend_from_slice(if b { b"true" } else { b"false" });
    }
}

/// Whether any byte of `b` is a control character, `"` or `\\` (JSON must
/// escape those). Eight bytes at a time: a byte `x` of a word is flagged by
/// `(x - k) & !x & 0x80` when it is below `k`, and equals `c` when
/// `x ^ c` is zero (below 1).
fn needs_escape(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, k: u8| x.wrapping_sub(ONES * u64::from(k)) & !x & HIGH;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let hit = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if hit != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

/// Room a body starts with: a meeting's answer (its placement URLs) fits,
/// and a page of attendees grows from here in a few doublings.
const FIRST_CAPACITY: usize = 2048;

/// Writes one document with `write`.
pub fn write(write: impl FnOnce(&mut JsonOut)) -> Vec<u8> {
    let mut out = JsonOut::with_capacity(FIRST_CAPACITY);
    write(&mut out);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The word-at-a-time check agrees with the byte-by-byte one for every
    /// byte value at every position of strings of 0 to 24 bytes.
    #[test]
    fn needs_escape_finds_every_byte_json_escapes() {
        let plain = |c: u8| c >= 0x20 && c != b'"' && c != b'\\';
        for len in 0..=24 {
            let base = vec![b'a'; len];
            assert!(!needs_escape(&base));
            for at in 0..len {
                for c in 0..=255u8 {
                    let mut v = base.clone();
                    v[at] = c;
                    assert_eq!(needs_escape(&v), !plain(c), "byte {c:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn writes_the_bytes_serde_json_writes() {
        let doc = write(|w| {
            w.begin_object();
            w.key("A");
            w.string("quote \" backslash \\ newline \n tab \t bell \u{7} é /");
            w.key("B");
            w.begin_array();
            w.begin_object();
            w.key("N");
            w.int(-42);
            w.key("T");
            w.bool(true);
            w.end_object();
            w.begin_object();
            w.end_object();
            w.begin_array();
            w.end_array();
            w.string("x");
            w.end_array();
            w.key("C");
            w.bool(false);
            w.key("D");
            w.string("plain é ∑ 😀 text, no escape: ok");
            w.key("E");
            w.string("");
            w.end_object();
        });
        let want = json!({
            "A": "quote \" backslash \\ newline \n tab \t bell \u{7} é /",
            "B": [{"N": -42, "T": true}, {}, [], "x"],
            "C": false,
            "D": "plain é ∑ 😀 text, no escape: ok",
            "E": "",
        });
        assert_eq!(
            String::from_utf8(doc).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
    }
}
