//! 5-minute roll-ups and retention: raw samples are kept for `Retention::raw` (7 days by
//! default), the roll-ups for `Retention::rollups` (400 days), so a 30-day view reads a few
//! thousand rows and the store stays small.
//!
//! A bucket is rolled up once it is complete, from the raw samples in it, and written with
//! an upsert, so running twice (a restart, two passes) gives the same rows. Counters are
//! stored as increases ([`crate::scrape`]), so a bucket's is their sum.

use crate::Retention;
use crate::db::{Db, ProbeRollup, ScrapeRollup};
use crate::scrape::Counters;

pub const BUCKET_MS: i64 = 5 * 60_000;
/// The probe kinds rolled up.
pub const KINDS: [&str; 3] = ["health", "ready", "e2e"];
/// At most this many buckets per pass, so one pass after a long stop stays short.
const MAX_BUCKETS_PER_PASS: i64 = 2016;

pub fn bucket_of(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS) * BUCKET_MS
}

/// Rolls up every complete bucket not yet rolled up, then deletes what retention allows.
pub async fn pass(db: &Db, now: i64, retention: Retention) -> anyhow::Result<()> {
    let last_done = db.last_rollup_ms().await?;
    let first = match (last_done, db.first_raw_ms().await?) {
        // the newest bucket is rolled again: it may have been rolled while incomplete
        (Some(done), _) => done,
        (None, Some(raw)) => bucket_of(raw),
        (None, None) => return purge(db, now, retention).await,
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
    purge(db, now, retention).await
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
