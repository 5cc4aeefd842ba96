//! Time: the event window rule, IANA zones, and the microsecond precision both stores keep.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

/// Now, at the precision every store keeps, so a value read back equals the value written.
pub fn now_micros() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// When an event runs: `ends_at` strictly after `starts_at`, at most 31 days long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventWindow {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

impl EventWindow {
    pub fn new(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<Self, String> {
        let (starts_at, ends_at) = (truncate_micros(starts_at), truncate_micros(ends_at));
        if ends_at <= starts_at {
            return Err("must be after starts_at".into());
        }
        if ends_at - starts_at > chrono::Duration::days(31) {
            return Err("an event may last at most 31 days".into());
        }
        Ok(Self { starts_at, ends_at })
    }

    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }

    pub fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at
    }
}

/// Parses an RFC 3339 timestamp with an offset and converts it to UTC.
pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| truncate_micros(t.with_timezone(&Utc)))
        .map_err(|_| "must be an RFC 3339 timestamp with an offset, like 2026-11-03T18:00:00Z".into())
}

/// An IANA time zone name (`America/Chicago`), as the tz database spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeZone(String);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        s.parse::<chrono_tz::Tz>()
            .map(|tz| Self(tz.name().to_owned()))
            .map_err(|_| format!("{s:?} is not an IANA time zone name like America/Chicago"))
    }

    pub fn utc() -> Self {
        Self("UTC".into())
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn window_needs_end_after_start() {
        let t = parse_timestamp("2026-11-03T18:00:00-05:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-03T23:00:00+00:00");
        assert!(EventWindow::new(t, t).is_err());
        assert!(EventWindow::new(t, t - chrono::Duration::seconds(1)).is_err());
        assert!(EventWindow::new(t, t + chrono::Duration::days(32)).is_err());
        assert!(EventWindow::new(t, t + chrono::Duration::hours(2)).is_ok());
        assert!(parse_timestamp("2026-11-03 18:00").is_err());
        assert!(parse_timestamp("2026-11-03").is_err());
    }

    #[test]
    fn zones() {
        assert_eq!(TimeZone::parse("America/Chicago").unwrap().as_str(), "America/Chicago");
        assert_eq!(TimeZone::parse("UTC").unwrap().as_str(), "UTC");
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("").is_err());
    }

    proptest! {
        #[test]
        fn window_accepts_exactly_positive_spans(start in 0i64..4_000_000_000, span in -100_000i64..3_000_000) {
            let s = DateTime::from_timestamp(start, 0).unwrap();
            let e = s + chrono::Duration::seconds(span);
            let ok = EventWindow::new(s, e).is_ok();
            prop_assert_eq!(ok, span > 0 && span <= 31 * 86_400);
        }
    }
}

/// Serializes a UTC timestamp exactly as chrono's `Serialize` does (RFC 3339, `Z`, the
/// fraction in 0, 3, 6 or 9 digits, whichever is the shortest exact one), without going
/// through `core::fmt`: a page of 20 volunteers holds 40 timestamps, and chrono's way was a
/// visible share of an uncached list's CPU profile. Timestamps chrono writes differently
/// (years outside 0..=9999, a leap second) are left to chrono.
pub mod rfc3339 {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::Serializer;

    /// `serialize_with` for `DateTime<Utc>` fields.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        match write(t, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => serde::Serialize::serialize(t, s),
        }
    }

    /// `serialize_with` for `Option<DateTime<Utc>>` fields.
    pub fn option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// The text in `buf`, or `None` where chrono's form differs from the fixed layout.
    pub fn write<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None; // a leap second
        }
        let (digits, fraction) = match nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (3, n / 1_000_000),
            n if n % 1_000 == 0 => (6, n / 1_000),
            n => (9, n),
        };
        layout(t, buf, digits, fraction)
    }

    /// The same layout with the fraction always in six digits, as tracing-subscriber
    /// stamps log lines (a leap second's fraction reads `.999999`); `None` for a year
    /// outside 0..=9999.
    pub fn write_micros<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
        layout(t, buf, 6, (t.nanosecond() / 1_000).min(999_999))
    }

    /// `YYYY-MM-DDTHH:MM:SS`, then `.` and `fraction` in `digits` digits unless `digits`
    /// is 0, then `Z`.
    ///
    /// The date and time are taken apart once (`DateTime`'s own `year()`, `month()`, … each
    /// go through the offset again), and digits are written by division by constants: a list
    /// page writes forty of these, and they were a twelfth of its serialisation.
    fn layout<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30], digits: u32, fraction: u32) -> Option<&'b str> {
        let at = t.naive_utc();
        let (date, time) = (at.date(), at.time());
        let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
        put(&mut buf[0..4], year);
        buf[4] = b'-';
        put(&mut buf[5..7], date.month());
        buf[7] = b'-';
        put(&mut buf[8..10], date.day());
        buf[10] = b'T';
        put(&mut buf[11..13], time.hour());
        buf[13] = b':';
        put(&mut buf[14..16], time.minute());
        buf[16] = b':';
        put(&mut buf[17..19], time.second());
        let mut end = 19;
        if digits > 0 {
            buf[19] = b'.';
            end = 20 + digits as usize;
            put(&mut buf[20..end], fraction);
        }
        buf[end] = b'Z';
        std::str::from_utf8(&buf[..=end]).ok()
    }

    /// `value`'s last `out.len()` decimal digits, zero-padded, into `out`.
    fn put(out: &mut [u8], mut value: u32) {
        for d in out.iter_mut().rev() {
            *d = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }

    #[cfg(test)]
    mod tests {
        use chrono::{DateTime, TimeZone, Utc};
        use proptest::prelude::*;

        fn ours(t: &DateTime<Utc>) -> String {
            let mut out = Vec::new();
            super::serialize(t, &mut serde_json::Serializer::new(&mut out)).unwrap();
            String::from_utf8(out).unwrap()
        }

        #[test]
        fn the_fraction_is_as_short_as_exact() {
            let t = Utc.with_ymd_and_hms(2026, 11, 3, 18, 0, 5).unwrap();
            let ns = chrono::Duration::nanoseconds;
            assert_eq!(ours(&t), "\"2026-11-03T18:00:05Z\"");
            assert_eq!(ours(&(t + ns(120_000_000))), "\"2026-11-03T18:00:05.120Z\"");
            assert_eq!(ours(&(t + ns(187_637_000))), "\"2026-11-03T18:00:05.187637Z\"");
            assert_eq!(ours(&(t + ns(1))), "\"2026-11-03T18:00:05.000000001Z\"");
        }

        proptest! {
            /// Byte for byte what chrono's own Serialize writes, over its whole range.
            #[test]
            fn same_as_chrono(secs in -62_000_000_000i64..260_000_000_000i64, nanos in prop_oneof![
                Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000), (0u32..1_000_000).prop_map(|u| u * 1000),
                0u32..1_000_000_000, 1_000_000_000u32..2_000_000_000,
            ]) {
                let Some(t) = DateTime::from_timestamp(secs, nanos) else { return Ok(()) };
                prop_assert_eq!(ours(&t), serde_json::to_string(&t).unwrap());
            }
        }
    }
}
