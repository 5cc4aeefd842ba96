//! Time as the monitor keeps it: milliseconds since the epoch (one integer type that both
//! stores index and compare the same way), and the ranges people ask for: `from`/`to` as
//! RFC 3339, a date, `now`, or a duration back from now (`-24h`, `7d`), and the dashboard's
//! named ranges (`1h`, `24h`, `7d`, `30d`).

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use std::time::Duration;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// RFC 3339 in UTC, to the second (what reports and the JSON API print).
pub fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// `500ms`, `30s`, `5m`, `24h`, `7d`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = raw.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// "1h 5m", "3d 2h", "42s": how long an incident lasted, to the two largest units.
pub fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// One end of a range: `now`, `-24h` or `24h` (that long before now), RFC 3339, or a
/// date (midnight UTC).
pub fn parse_instant(raw: &str, now: i64) -> Result<i64, String> {
    let raw = raw.trim();
    if raw == "now" {
        return Ok(now);
    }
    let back = raw.strip_prefix("now-").or_else(|| raw.strip_prefix('-')).unwrap_or(raw);
    if let Some(d) = parse_duration(back) {
        return Ok(now - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis()));
    }
    Err(format!(
        "{raw:?} is not a time; use RFC 3339 (2026-12-01T00:00:00Z), a date, now, or a duration back like -24h"
    ))
}

/// A half-open interval `[from, to)` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: i64,
    pub to: i64,
}

impl Range {
    pub fn span_ms(&self) -> i64 {
        self.to - self.from
    }

    /// The range from the query parameters: `range=24h` (back from now), or `from` and
    /// `to` (either may be missing: `to` is now, `from` a day before `to`).
    pub fn from_params(range: Option<&str>, from: Option<&str>, to: Option<&str>, now: i64) -> Result<Range, String> {
        fn empty(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        let (range, from, to) = (empty(range), empty(from), empty(to));
        if from.is_none()
            && to.is_none()
            && let Some(r) = range
        {
            let d = parse_duration(r).ok_or_else(|| format!("range {r:?} is not a duration like 1h, 24h, 7d"))?;
            return Ok(Range { from: now - i64::try_from(d.as_millis()).unwrap_or(0), to: now });
        }
        let to = to.map_or(Ok(now), |t| parse_instant(t, now))?;
        let from = from.map_or(Ok(to - DAY_MS), |f| parse_instant(f, now))?;
        if from >= to {
            return Err(format!("from ({}) must be before to ({})", rfc3339(from), rfc3339(to)));
        }
        Ok(Range { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_ranges() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_instant("now", now), Ok(now));
        assert_eq!(parse_instant("-24h", now), Ok(now - DAY_MS));
        assert_eq!(parse_instant("7d", now), Ok(now - 7 * DAY_MS));
        assert_eq!(
            parse_instant("2027-01-15T08:00:00Z", now),
            Ok(Utc.with_ymd_and_hms(2027, 1, 15, 8, 0, 0).unwrap().timestamp_millis())
        );
        assert_eq!(
            parse_instant("2026-12-01", now),
            Ok(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap().timestamp_millis())
        );
        assert!(parse_instant("yesterday", now).is_err());
        assert_eq!(Range::from_params(Some("1h"), None, None, now), Ok(Range { from: now - HOUR_MS, to: now }));
        assert_eq!(
            Range::from_params(None, Some("-2h"), Some("-1h"), now),
            Ok(Range { from: now - 2 * HOUR_MS, to: now - HOUR_MS })
        );
        assert!(Range::from_params(None, Some("-1h"), Some("-2h"), now).is_err());
        assert_eq!(human_duration(3_723_000), "1h 2m");
        assert_eq!(human_duration(42_000), "42s");
    }
}
