//! Roll-ups and retention: raw samples are kept for `Retention::raw` (7 days by default),
//! the roll-ups for `Retention::rollups` (400 days), so the store stays small.
//!
//! Two tiers ([`Tier`]): 5-minute buckets rolled from the raw samples, and hour buckets
//! rolled from those. The hour tier exists for reading speed: with SQLite every row read
//! costs a hand-off between sqlx's worker thread and the runtime, so the row count, not the
//! arithmetic, is what a long range pays for, and a 30-day view reads 720 rows per series
//! instead of 8,640 ([`crate::observations`] decides which tier each stretch of a range
//! reads, so the figures stay those of the 5-minute tier).
//!
//! A bucket is rolled up once it is complete and written with an upsert, so running twice
//! (a restart, two passes) gives the same rows. Counters are stored as increases
//! ([`crate::scrape`]), so a bucket's is their sum, in either tier.

use crate::Retention;
use crate::db::{Db, ProbeRollup, ScrapeRollup, Tier};
use crate::scrape::Counters;

pub const BUCKET_MS: i64 = 5 * 60_000;
pub const HOUR_BUCKET_MS: i64 = 60 * 60_000;
/// The probe kinds rolled up.
pub const KINDS: [&str; 3] = ["health", "ready", "e2e"];
/// At most this many buckets per pass, so one pass after a long stop stays short.
const MAX_BUCKETS_PER_PASS: i64 = 2016;
/// Hours rolled per pass at most: a store from before the hour tier catches up over a few
/// passes (about six weeks each), and reads fall back to 5-minute rows until it has.
const MAX_HOURS_PER_PASS: i64 = 1000;

pub fn bucket_of(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS) * BUCKET_MS
}

pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_BUCKET_MS) * HOUR_BUCKET_MS
}

/// Rolls up every complete bucket not yet rolled up, in both tiers, then deletes what
/// retention allows.
pub async fn pass(db: &Db, now: i64, retention: Retention) -> anyhow::Result<()> {
    roll_five_minutes(db, now).await?;
    roll_hours(db).await?;
    purge(db, now, retention).await
}

async fn roll_five_minutes(db: &Db, now: i64) -> anyhow::Result<()> {
    let last_done = db.last_rollup_ms().await?;
    let first = match (last_done, db.first_raw_ms().await?) {
        // the newest bucket is rolled again: it may have been rolled while incomplete
        (Some(done), _) => done,
        (None, Some(raw)) => bucket_of(raw),
        (None, None) => return Ok(()),
    };
    let end = bucket_of(now);
    let mut b = first;
    let stop = end.min(first + MAX_BUCKETS_PER_PASS * BUCKET_MS);
    let targets = db.targets().await?;
    while b < stop {
        for t in &targets {
            roll_bucket(db, t, b).await?;
        }
        b += BUCKET_MS;
    }
    Ok(())
}

/// Rolls every hour whose twelve 5-minute buckets are all rolled (the newest 5-minute bucket
/// was rolled only once complete, so every hour that ends by its end is), again from the
/// newest hour already rolled.
async fn roll_hours(db: &Db) -> anyhow::Result<()> {
    let Some(five_done) = db.last_rollup_ms().await?.map(|b| b + BUCKET_MS) else { return Ok(()) };
    let first = match (db.last_rollup_ms_in(Tier::Hour).await?, db.first_rollup_ms().await?) {
        (Some(done), _) => done,
        (None, Some(b)) => hour_of(b),
        (None, None) => return Ok(()),
    };
    let stop = hour_of(five_done).min(first + MAX_HOURS_PER_PASS * HOUR_BUCKET_MS);
    let targets = db.targets().await?;
    let mut h = first;
    while h < stop {
        for t in &targets {
            roll_hour(db, t, h).await?;
        }
        h += HOUR_BUCKET_MS;
    }
    Ok(())
}

/// Rolls up one target's hour starting at `h` from its 5-minute roll-ups.
pub async fn roll_hour(db: &Db, target: &str, h: i64) -> anyhow::Result<()> {
    let end = h + HOUR_BUCKET_MS;
    for kind in KINDS {
        let fives = db.probe_rollups(target, kind, h, end).await?;
        if fives.is_empty() {
            continue;
        }
        let mut r = ProbeRollup {
            target: target.to_owned(),
            bucket_ms: h,
            kind: kind.to_owned(),
            n: 0,
            ok_n: 0,
            latency_sum: 0.0,
            latency_max: 0.0,
        };
        for f in &fives {
            r.n += f.n;
            r.ok_n += f.ok_n;
            r.latency_sum += f.latency_sum;
            r.latency_max = r.latency_max.max(f.latency_max);
        }
        db.upsert_probe_rollup_in(Tier::Hour, &r).await?;
    }
    let fives = db.scrape_rollups(target, h, end).await?;
    if !fives.is_empty() {
        let mut sum = Counters::default();
        for f in &fives {
            sum.merge(&Counters::from_json(&f.deltas));
        }
        db.upsert_scrape_rollup_in(
            Tier::Hour,
            &ScrapeRollup {
                target: target.to_owned(),
                bucket_ms: h,
                n: fives.iter().map(|f| f.n).sum(),
                ok_n: fives.iter().map(|f| f.ok_n).sum(),
                deltas: sum.to_json(),
            },
        )
        .await?;
    }
    Ok(())
}

async fn purge(db: &Db, now: i64, retention: Retention) -> anyhow::Result<()> {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
    let n = db.purge(now - ms(retention.raw), now - ms(retention.rollups)).await?;
    if n > 0 {
        tracing::debug!(rows = n, "old samples deleted");
    }
    Ok(())
}

/// Rolls up one target's bucket starting at `b` from its raw samples.
pub async fn roll_bucket(db: &Db, target: &str, b: i64) -> anyhow::Result<()> {
    for kind in KINDS {
        let probes = db.probes(target, kind, b, b + BUCKET_MS).await?;
        if probes.is_empty() {
            continue;
        }
        let mut r = ProbeRollup {
            target: target.to_owned(),
            bucket_ms: b,
            kind: kind.to_owned(),
            n: 0,
            ok_n: 0,
            latency_sum: 0.0,
            latency_max: 0.0,
        };
        for p in &probes {
            r.n += 1;
            r.ok_n += i64::from(p.ok);
            let l = p.latency_ms.unwrap_or(0.0);
            r.latency_sum += l;
            r.latency_max = r.latency_max.max(l);
        }
        db.upsert_probe_rollup(&r).await?;
    }
    let scrapes = db.scrapes(target, b, b + BUCKET_MS).await?;
    if !scrapes.is_empty() {
        let mut sum = Counters::default();
        for s in &scrapes {
            if let Some(d) = &s.deltas {
                sum.merge(&Counters::from_json(d));
            }
        }
        let ok_n = scrapes.iter().filter(|s| s.ok).count();
        db.upsert_scrape_rollup(&ScrapeRollup {
            target: target.to_owned(),
            bucket_ms: b,
            n: i64::try_from(scrapes.len()).unwrap_or(i64::MAX),
            ok_n: i64::try_from(ok_n).unwrap_or(i64::MAX),
            deltas: sum.to_json(),
        })
        .await?;
    }
    Ok(())
}
