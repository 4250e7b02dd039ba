//! Arbitrary requests through routing, SigV4 verification, body decoding,
//! validation and the operations (on a real SQLite store): any outcome but a
//! 5xx or a panic is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    convene::wire::fuzzing::one_request(data);
});
