//! The meeting clock: the time that meeting rules are judged by.
//!
//! It is the wall clock plus an offset that only ever grows. Test controls
//! (`/_convene/clock`) move it forward, for every account or for one, so that
//! an application's test suite can see a meeting reach its maximum duration or
//! its idle limit without waiting. Request signing never uses it: clients sign
//! with their real clocks, so the SigV4 skew check keeps real time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Offsets {
    /// Added for every account.
    global_ms: i64,
    /// Added on top of `global_ms` for one account.
    accounts: BTreeMap<String, i64>,
}

/// A shared handle to the meeting clock; clones see the same time.
#[derive(Debug, Clone, Default)]
pub struct MeetingClock {
    offsets: Arc<Mutex<Offsets>>,
}

impl MeetingClock {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Offsets> {
        self.offsets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How far ahead of the wall clock meeting time is for `account`
    /// (`None`: the part every account shares), in milliseconds.
    pub fn offset_ms(&self, account: Option<&str>) -> i64 {
        let o = self.lock();
        o.global_ms
            + account
                .and_then(|a| o.accounts.get(a))
                .copied()
                .unwrap_or(0)
    }

    /// Meeting time for `account`, in milliseconds since the Unix epoch.
    pub fn now_ms(&self, account: &str) -> i64 {
        crate::now_ms() + self.offset_ms(Some(account))
    }

    /// Meeting time shared by every account that was not moved on its own.
    pub fn global_now_ms(&self) -> i64 {
        crate::now_ms() + self.offset_ms(None)
    }

    /// Moves the clock forward by `ms` (never back), for one account or all.
    pub fn advance(&self, ms: i64, account: Option<&str>) {
        let ms = ms.max(0);
        let mut o = self.lock();
        match account {
            None => o.global_ms = o.global_ms.saturating_add(ms),
            Some(a) => {
                let e = o.accounts.entry(a.to_string()).or_insert(0);
                *e = e.saturating_add(ms);
            }
        }
    }

    /// The accounts moved on their own, with their own extra offset.
    pub fn account_offsets(&self) -> Vec<(String, i64)> {
        self.lock()
            .accounts
            .iter()
            .map(|(a, ms)| (a.clone(), *ms))
            .collect()
    }
}

/// `ms` since the epoch as ISO 8601 in UTC, to the millisecond
/// (`2026-11-30T03:04:05.678Z`).
pub fn iso8601(ms: i64) -> String {
    stamp(ms, true)
}

/// `ms` since the epoch as ISO 8601 in UTC, to the second
/// (`2026-11-30T03:04:05Z`): the `time` of an event's envelope.
pub fn iso8601_seconds(ms: i64) -> String {
    stamp(ms, false)
}

fn stamp(ms: i64, with_millis: bool) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        let fraction = if with_millis {
            format!(".{millis:03}")
        } else {
            String::new()
        };
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        );
    }
    // Digit by digit: this stamps every request's log line and every event.
    let mut out = String::with_capacity(24);
    push_digits(&mut out, y, 4);
    for (sep, n, width) in [
        ('-', i64::from(m), 2),
        ('-', i64::from(d), 2),
        ('T', rem / 3600, 2),
        (':', (rem / 60) % 60, 2),
        (':', rem % 60, 2),
    ] {
        out.push(sep);
        push_digits(&mut out, n, width);
    }
    if with_millis {
        out.push('.');
        push_digits(&mut out, millis, 3);
    }
    out.push('Z');
    out
}

/// The last `width` decimal digits of `n` (not negative), zero-padded.
pub fn push_digits(out: &mut String, n: i64, width: u32) {
    for p in (0..width).rev() {
        out.push(char::from(b'0' + ((n / 10i64.pow(p)) % 10) as u8));
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_795_929_845_678), "2026-11-29T05:24:05.678Z");
        assert_eq!(iso8601(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso8601(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn formats_utc_to_the_second() {
        assert_eq!(iso8601_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_seconds(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_seconds(1_764_473_254_999), "2025-11-30T03:27:34Z");
        assert_eq!(
            iso8601_seconds(253_402_300_800_000),
            "10000-01-01T00:00:00Z"
        );
        assert_eq!(iso8601_seconds(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn offsets_add_up_and_never_go_back() {
        let c = MeetingClock::new();
        c.advance(1000, None);
        c.advance(500, Some("111122223333"));
        c.advance(-10_000, None);
        assert_eq!(c.offset_ms(None), 1000);
        assert_eq!(c.offset_ms(Some("111122223333")), 1500);
        assert_eq!(c.offset_ms(Some("444455556666")), 1000);
        assert_eq!(c.account_offsets(), vec![("111122223333".into(), 500)]);
    }
}
