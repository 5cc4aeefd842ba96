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
