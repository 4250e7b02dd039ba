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

    pub fn begin_object(&mut self) {
        self.separate();
        self.buf.push(b'{');
        self.first = true;
    }

    pub fn end_object(&mut self) {
        self.buf.push(b'}');
        self.first = false;
    }

    pub fn begin_array(&mut self) {
        self.separate();
        self.buf.push(b'[');
        self.first = true;
    }

    pub fn end_array(&mut self) {
        self.buf.push(b']');
        self.first = false;
    }

    /// A member's name; its value comes next.
    pub fn key(&mut self, name: &str) {
        self.string(name);
        self.buf.push(b':');
        self.first = true;
    }

    pub fn string(&mut self, s: &str) {
        self.separate();
        // Ids, ARNs, URLs and tokens need no escape: copied whole. Anything
        // else is escaped by serde_json (writing into a Vec cannot fail).
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.buf.reserve(s.len() + 2);
            self.buf.push(b'"');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut self.buf, s);
        }
    }

    pub fn int(&mut self, n: i64) {
        self.separate();
        let _ = serde_json::to_writer(&mut self.buf, &n);
    }

    pub fn bool(&mut self, b: bool) {
        self.separate();
        self.buf
            .extend_from_slice(if b { b"true" } else { b"false" });
    }
}

/// Writes one document with `write`.
pub fn write(write: impl FnOnce(&mut JsonOut)) -> Vec<u8> {
    let mut out = JsonOut::with_capacity(256);
    write(&mut out);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
