//! What a range's samples are, read from the cheapest store that gives the exact figures:
//! raw samples for short recent ranges, 5-minute roll-ups beyond, and for ranges over a
//! week the hour roll-ups wherever they say the same as the 5-minute ones would.
//!
//! Reading time is the row count (each SQLite row crosses from sqlx's worker thread), so a
//! 30-day range reads hours: 720 rows per series instead of 8,640. Three kinds of stretch
//! still read 5-minute rows, which keeps every figure equal to the 5-minute tier's: the
//! partial hours at either end of the range, the hours not yet rolled (the newest, or a
//! store from before the hour tier), and any hour that touches a maintenance window (a
//! 5-minute bucket is left out of availability when it starts inside one; an hour cannot
//! say which of its buckets did). Charts over such ranges step by whole hours, so the two
//! tiers' rows land in the same points.

use crate::Retention;
use crate::db::{Db, Maintenance, ProbeRollup, Tier};
use crate::rollup::{BUCKET_MS, HOUR_BUCKET_MS, hour_of};
use crate::scrape::Counters;
use crate::time::{DAY_MS, Range};
use std::collections::BTreeMap;

/// Raw samples are read for ranges at most this long (and still inside raw retention).
pub const RAW_UP_TO_MS: i64 = 2 * DAY_MS;
/// Ranges longer than this read the hour tier where it is exact.
pub const HOURS_OVER_MS: i64 = 7 * DAY_MS;

/// Probes of one kind in one interval: `n` results, `ok` of them passed.
#[derive(Debug, Clone, Copy)]
pub struct Tally {
    pub at: i64,
    pub n: i64,
    pub ok: i64,
    pub latency_sum: f64,
}

/// Where a range's samples came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Raw,
    FiveMinutes,
    /// Hour roll-ups, with 5-minute ones where hours would not be exact.
    Hours,
}

impl Source {
    /// As the JSON API and reports name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Raw => "raw",
            Source::FiveMinutes => "rollups",
            Source::Hours => "rollups-1h",
        }
    }

    /// The finest chart step its rows allow.
    pub fn step_ms(self) -> i64 {
        match self {
            Source::Raw => 30_000,
            Source::FiveMinutes => BUCKET_MS,
            Source::Hours => HOUR_BUCKET_MS,
        }
    }
}

/// A range's samples, from raw rows or roll-ups alike.
#[derive(Debug, Default)]
pub struct Observations {
    pub ready: Vec<Tally>,
    pub e2e: Vec<Tally>,
    /// (time, counter increases) of good scrapes.
    pub scrapes: Vec<(i64, Counters)>,
    pub scrapes_n: i64,
    pub scrapes_bad: i64,
    /// E2E failing check names and how many runs each failed (raw ranges only).
    pub failing_checks: BTreeMap<String, i64>,
    pub source: Source,
}

/// The stretches of `range` and the tier each reads, in order. `hours_until` is where the
/// hour tier ends (the end of its newest hour); `windows` the range's maintenance.
pub fn plan(range: Range, hours_until: Option<i64>, windows: &[Maintenance]) -> Vec<(Tier, i64, i64)> {
    let first_hour = hour_of(range.from + HOUR_BUCKET_MS - 1);
    let end_hours = hour_of(range.to).min(hours_until.unwrap_or(first_hour));
    let mut out: Vec<(Tier, i64, i64)> = Vec::new();
    let mut push = |tier: Tier, from: i64, to: i64| {
        if from >= to {
            return;
        }
        match out.last_mut() {
            Some((t, _, end)) if *t == tier && *end == from => *end = to,
            _ => out.push((tier, from, to)),
        }
    };
    if end_hours <= first_hour {
        push(Tier::FiveMinutes, range.from, range.to);
        return out;
    }
    push(Tier::FiveMinutes, range.from, first_hour);
    let mut h = first_hour;
    while h < end_hours {
        let held = windows.iter().any(|m| m.starts_ms < h + HOUR_BUCKET_MS && m.ends_ms > h);
        push(if held { Tier::FiveMinutes } else { Tier::Hour }, h, h + HOUR_BUCKET_MS);
        h += HOUR_BUCKET_MS;
    }
    push(Tier::FiveMinutes, end_hours, range.to);
    out
}

impl Observations {
    /// `target`'s samples over `range`; `windows` are the range's maintenance windows.
    pub async fn load(
        db: &Db,
        target: &str,
        range: Range,
        now: i64,
        retention: Retention,
        windows: &[Maintenance],
    ) -> anyhow::Result<Observations> {
        let raw_from = now - i64::try_from(retention.raw.as_millis()).unwrap_or(i64::MAX / 4);
        if range.span_ms() <= RAW_UP_TO_MS && range.from >= raw_from {
            return Self::load_raw(db, target, range).await;
        }
        let stretches = if range.span_ms() > HOURS_OVER_MS {
            let hours_until = db.last_rollup_ms_in(Tier::Hour).await?.map(|h| h + HOUR_BUCKET_MS);
            plan(range, hours_until, windows)
        } else {
            vec![(Tier::FiveMinutes, range.from, range.to)]
        };
        let hours = stretches.iter().any(|(t, _, _)| *t == Tier::Hour);
        let mut o =
            Observations { source: if hours { Source::Hours } else { Source::FiveMinutes }, ..Observations::default() };
        let tally = |r: &ProbeRollup| Tally { at: r.bucket_ms, n: r.n, ok: r.ok_n, latency_sum: r.latency_sum };
        for (tier, from, to) in stretches {
            o.ready.extend(db.probe_rollups_in(tier, target, "ready", from, to).await?.iter().map(tally));
            o.e2e.extend(db.probe_rollups_in(tier, target, "e2e", from, to).await?.iter().map(tally));
            for r in db.scrape_rollups_in(tier, target, from, to).await? {
                o.scrapes_n += r.n;
                o.scrapes_bad += r.n - r.ok_n;
                o.scrapes.push((r.bucket_ms, Counters::from_json(&r.deltas)));
            }
        }
        Ok(o)
    }

    async fn load_raw(db: &Db, target: &str, range: Range) -> anyhow::Result<Observations> {
        let mut o = Observations { source: Source::Raw, ..Observations::default() };
        let tally = |p: &crate::db::Probe| Tally {
            at: p.at_ms,
            n: 1,
            ok: i64::from(p.ok),
            latency_sum: p.latency_ms.unwrap_or(0.0),
        };
        o.ready = db.probes(target, "ready", range.from, range.to).await?.iter().map(tally).collect();
        let e2e = db.probes(target, "e2e", range.from, range.to).await?;
        o.e2e = e2e.iter().map(tally).collect();
        for p in &e2e {
            let detail: serde_json::Value =
                p.detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
            for name in detail["failing"].as_array().into_iter().flatten().filter_map(|v| v.as_str()) {
                *o.failing_checks.entry(name.to_owned()).or_insert(0) += 1;
            }
        }
        for s in db.scrapes(target, range.from, range.to).await? {
            o.scrapes_n += 1;
            match (&s.ok, &s.deltas) {
                (true, Some(d)) => o.scrapes.push((s.at_ms, Counters::from_json(d))),
                (true, None) => {}
                (false, _) => o.scrapes_bad += 1,
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_BUCKET_MS;

    fn window(from: i64, to: i64) -> Maintenance {
        Maintenance { id: "w".into(), target: None, starts_ms: from, ends_ms: to, reason: String::new() }
    }

    #[test]
    fn whole_hours_read_hours_and_the_ragged_ends_five_minutes() {
        let r = Range { from: 10 * H + 25 * 60_000, to: 20 * H + 10 * 60_000 };
        assert_eq!(
            plan(r, Some(30 * H), &[]),
            vec![(Tier::FiveMinutes, r.from, 11 * H), (Tier::Hour, 11 * H, 20 * H), (Tier::FiveMinutes, 20 * H, r.to)]
        );
    }

    #[test]
    fn hours_not_rolled_yet_and_maintenance_hours_read_five_minutes() {
        let r = Range { from: 0, to: 10 * H };
        // the hour tier ends at 6h; a window from 2h10 to 3h05 touches hours 2 and 3
        assert_eq!(
            plan(r, Some(6 * H), &[window(2 * H + 600_000, 3 * H + 300_000)]),
            vec![
                (Tier::Hour, 0, 2 * H),
                (Tier::FiveMinutes, 2 * H, 4 * H),
                (Tier::Hour, 4 * H, 6 * H),
                (Tier::FiveMinutes, 6 * H, 10 * H)
            ]
        );
        // no hour tier at all (a store from before it): all 5-minute rows
        assert_eq!(plan(r, None, &[]), vec![(Tier::FiveMinutes, 0, 10 * H)]);
    }
}
