//! The samples store: an embedded SQLite file by default, PostgreSQL when
//! `MUSTER_MONITOR_DATABASE_URL` says so.
//!
//! Every query is written once and runs on both through sqlx's `Any` driver: times are
//! `BIGINT` milliseconds, flags `BIGINT` 0/1, numbers `DOUBLE PRECISION`, everything else
//! `TEXT`, and placeholders `$1…` (SQLite reads `$N` as the N-th argument). The schema is the
//! same text on both, so no dialect file can drift from the other. Sums are done in Rust, not
//! SQL: PostgreSQL's `SUM(bigint)` is a `numeric`, which `Any` cannot decode, and the rows
//! any one view reads are few (a 30-day range reads hour roll-ups).
//!
//! Tables: `probes` (one row per /health, /ready or E2E probe), `scrapes` (one row per
//! metrics scrape: the counters' increase since the previous good scrape, or why it was
//! bad), their roll-ups in two [`Tier`]s (`probe_rollups`/`scrape_rollups` by 5 minutes,
//! `probe_rollups_1h`/`scrape_rollups_1h` by hour), `incidents`, `deploys` and `maintenance`.

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS probes (target TEXT NOT NULL, at_ms BIGINT NOT NULL, kind TEXT NOT NULL, \
     ok BIGINT NOT NULL, latency_ms DOUBLE PRECISION, detail TEXT)",
    "CREATE INDEX IF NOT EXISTS probes_by_time ON probes (target, kind, at_ms)",
    "CREATE TABLE IF NOT EXISTS scrapes (target TEXT NOT NULL, at_ms BIGINT NOT NULL, ok BIGINT NOT NULL, \
     deltas TEXT, detail TEXT)",
    "CREATE INDEX IF NOT EXISTS scrapes_by_time ON scrapes (target, at_ms)",
    "CREATE TABLE IF NOT EXISTS probe_rollups (target TEXT NOT NULL, bucket_ms BIGINT NOT NULL, kind TEXT NOT NULL, \
     n BIGINT NOT NULL, ok_n BIGINT NOT NULL, latency_sum DOUBLE PRECISION NOT NULL, \
     latency_max DOUBLE PRECISION NOT NULL, PRIMARY KEY (target, kind, bucket_ms))",
    "CREATE TABLE IF NOT EXISTS scrape_rollups (target TEXT NOT NULL, bucket_ms BIGINT NOT NULL, n BIGINT NOT NULL, \
     ok_n BIGINT NOT NULL, deltas TEXT NOT NULL, PRIMARY KEY (target, bucket_ms))",
    "CREATE TABLE IF NOT EXISTS probe_rollups_1h (target TEXT NOT NULL, bucket_ms BIGINT NOT NULL, \
     kind TEXT NOT NULL, n BIGINT NOT NULL, ok_n BIGINT NOT NULL, latency_sum DOUBLE PRECISION NOT NULL, \
     latency_max DOUBLE PRECISION NOT NULL, PRIMARY KEY (target, kind, bucket_ms))",
    "CREATE TABLE IF NOT EXISTS scrape_rollups_1h (target TEXT NOT NULL, bucket_ms BIGINT NOT NULL, \
     n BIGINT NOT NULL, ok_n BIGINT NOT NULL, deltas TEXT NOT NULL, PRIMARY KEY (target, bucket_ms))",
    "CREATE TABLE IF NOT EXISTS incidents (id TEXT PRIMARY KEY, target TEXT NOT NULL, started_ms BIGINT NOT NULL, \
     detected_ms BIGINT NOT NULL, ended_ms BIGINT, cause TEXT NOT NULL, checks TEXT NOT NULL, build TEXT)",
    "CREATE INDEX IF NOT EXISTS incidents_by_time ON incidents (started_ms)",
    "CREATE TABLE IF NOT EXISTS deploys (target TEXT NOT NULL, at_ms BIGINT NOT NULL, from_build TEXT, \
     to_build TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS deploys_by_time ON deploys (target, at_ms)",
    "CREATE TABLE IF NOT EXISTS maintenance (id TEXT PRIMARY KEY, target TEXT, starts_ms BIGINT NOT NULL, \
     ends_ms BIGINT NOT NULL, reason TEXT NOT NULL)",
];

/// The default store: a SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite://muster-monitor.db";

/// A roll-up tier: the same columns in tables of their own, so one query text serves both
/// (the table name comes from this closed set, never from input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// 5-minute buckets, rolled from raw samples.
    FiveMinutes,
    /// Hour buckets, rolled from the 5-minute ones: what ranges over a week read.
    Hour,
}

impl Tier {
    pub fn bucket_ms(self) -> i64 {
        match self {
            Tier::FiveMinutes => 5 * 60_000,
            Tier::Hour => 60 * 60_000,
        }
    }

    fn probe_table(self) -> &'static str {
        match self {
            Tier::FiveMinutes => "probe_rollups",
            Tier::Hour => "probe_rollups_1h",
        }
    }

    fn scrape_table(self) -> &'static str {
        match self {
            Tier::FiveMinutes => "scrape_rollups",
            Tier::Hour => "scrape_rollups_1h",
        }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
}

/// One /health, /ready or E2E probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub target: String,
    pub at_ms: i64,
    pub kind: String,
    pub ok: bool,
    pub latency_ms: Option<f64>,
    /// Why it failed; for E2E, the run's summary (JSON).
    pub detail: Option<String>,
}

/// One metrics scrape: the counters' increase since the previous good scrape (JSON), or
/// `ok == false` and why (never zeros).
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    pub target: String,
    pub at_ms: i64,
    pub ok: bool,
    pub deltas: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRollup {
    pub target: String,
    pub bucket_ms: i64,
    pub kind: String,
    pub n: i64,
    pub ok_n: i64,
    pub latency_sum: f64,
    pub latency_max: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeRollup {
    pub target: String,
    pub bucket_ms: i64,
    pub n: i64,
    pub ok_n: i64,
    pub deltas: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Incident {
    pub id: String,
    pub target: String,
    pub started_ms: i64,
    pub detected_ms: i64,
    pub ended_ms: Option<i64>,
    pub cause: String,
    /// The failing checks, one per line.
    pub checks: String,
    pub build: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Deploy {
    pub target: String,
    pub at_ms: i64,
    pub from_build: Option<String>,
    pub to_build: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Maintenance {
    pub id: String,
    /// `None`: every target.
    pub target: Option<String>,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub reason: String,
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

impl Db {
    /// Opens (creating a SQLite file when missing) and brings the schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_owned()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the monitor's store {}", redact(&url)))?;
        if sqlite {
            // readers never wait for the writer
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await?;
        }
        for stmt in SCHEMA {
            sqlx::query(stmt).execute(&pool).await.with_context(|| format!("schema: {stmt}"))?;
        }
        Ok(Db { pool })
    }

    pub async fn insert_probe(&self, p: &Probe) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO probes (target, at_ms, kind, ok, latency_ms, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&p.target)
            .bind(p.at_ms)
            .bind(&p.kind)
            .bind(flag(p.ok))
            .bind(p.latency_ms)
            .bind(&p.detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Many probes in one transaction (the generator, and roll-up tests).
    pub async fn insert_probes(&self, ps: &[Probe]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        for p in ps {
            sqlx::query(
                "INSERT INTO probes (target, at_ms, kind, ok, latency_ms, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&p.target)
            .bind(p.at_ms)
            .bind(&p.kind)
            .bind(flag(p.ok))
            .bind(p.latency_ms)
            .bind(&p.detail)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_scrape(&self, s: &Scrape) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO scrapes (target, at_ms, ok, deltas, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.target)
            .bind(s.at_ms)
            .bind(flag(s.ok))
            .bind(&s.deltas)
            .bind(&s.detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn insert_scrapes(&self, ss: &[Scrape]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        for s in ss {
            sqlx::query("INSERT INTO scrapes (target, at_ms, ok, deltas, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(&s.target)
                .bind(s.at_ms)
                .bind(flag(s.ok))
                .bind(&s.deltas)
                .bind(&s.detail)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Probes of `kind` for `target` in `[from, to)`, oldest first.
    pub async fn probes(&self, target: &str, kind: &str, from: i64, to: i64) -> anyhow::Result<Vec<Probe>> {
        let rows = sqlx::query(
            "SELECT target, at_ms, kind, ok, latency_ms, detail FROM probes \
             WHERE target = $1 AND kind = $2 AND at_ms >= $3 AND at_ms < $4 ORDER BY at_ms",
        )
        .bind(target)
        .bind(kind)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(probe_row).collect()
    }

    pub async fn scrapes(&self, target: &str, from: i64, to: i64) -> anyhow::Result<Vec<Scrape>> {
        let rows = sqlx::query(
            "SELECT target, at_ms, ok, deltas, detail FROM scrapes \
             WHERE target = $1 AND at_ms >= $2 AND at_ms < $3 ORDER BY at_ms",
        )
        .bind(target)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Scrape {
                    target: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    ok: r.try_get::<i64, _>(2)? != 0,
                    deltas: r.try_get(3)?,
                    detail: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// 5-minute roll-ups of `kind` for `target` with a bucket starting in `[from, to)`.
    pub async fn probe_rollups(
        &self,
        target: &str,
        kind: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<ProbeRollup>> {
        self.probe_rollups_in(Tier::FiveMinutes, target, kind, from, to).await
    }

    pub async fn probe_rollups_in(
        &self,
        tier: Tier,
        target: &str,
        kind: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<ProbeRollup>> {
        let sql = format!(
            "SELECT target, bucket_ms, kind, n, ok_n, latency_sum, latency_max FROM {} \
             WHERE target = $1 AND kind = $2 AND bucket_ms >= $3 AND bucket_ms < $4 ORDER BY bucket_ms",
            tier.probe_table()
        );
        let rows = sqlx::query(&sql).bind(target).bind(kind).bind(from).bind(to).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ProbeRollup {
                    target: r.try_get(0)?,
                    bucket_ms: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    n: r.try_get(3)?,
                    ok_n: r.try_get(4)?,
                    latency_sum: r.try_get(5)?,
                    latency_max: r.try_get(6)?,
                })
            })
            .collect()
    }

    pub async fn scrape_rollups(&self, target: &str, from: i64, to: i64) -> anyhow::Result<Vec<ScrapeRollup>> {
        self.scrape_rollups_in(Tier::FiveMinutes, target, from, to).await
    }

    pub async fn scrape_rollups_in(
        &self,
        tier: Tier,
        target: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<ScrapeRollup>> {
        let sql = format!(
            "SELECT target, bucket_ms, n, ok_n, deltas FROM {} \
             WHERE target = $1 AND bucket_ms >= $2 AND bucket_ms < $3 ORDER BY bucket_ms",
            tier.scrape_table()
        );
        let rows = sqlx::query(&sql).bind(target).bind(from).bind(to).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ScrapeRollup {
                    target: r.try_get(0)?,
                    bucket_ms: r.try_get(1)?,
                    n: r.try_get(2)?,
                    ok_n: r.try_get(3)?,
                    deltas: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub async fn upsert_probe_rollup(&self, r: &ProbeRollup) -> anyhow::Result<()> {
        self.upsert_probe_rollup_in(Tier::FiveMinutes, r).await
    }

    pub async fn upsert_probe_rollup_in(&self, tier: Tier, r: &ProbeRollup) -> anyhow::Result<()> {
        let sql = format!(
            "INSERT INTO {} (target, bucket_ms, kind, n, ok_n, latency_sum, latency_max) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (target, kind, bucket_ms) DO UPDATE SET \
             n = excluded.n, ok_n = excluded.ok_n, latency_sum = excluded.latency_sum, latency_max = excluded.latency_max",
            tier.probe_table()
        );
        sqlx::query(&sql)
            .bind(&r.target)
            .bind(r.bucket_ms)
            .bind(&r.kind)
            .bind(r.n)
            .bind(r.ok_n)
            .bind(r.latency_sum)
            .bind(r.latency_max)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn upsert_scrape_rollup(&self, r: &ScrapeRollup) -> anyhow::Result<()> {
        self.upsert_scrape_rollup_in(Tier::FiveMinutes, r).await
    }

    pub async fn upsert_scrape_rollup_in(&self, tier: Tier, r: &ScrapeRollup) -> anyhow::Result<()> {
        let sql = format!(
            "INSERT INTO {} (target, bucket_ms, n, ok_n, deltas) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (target, bucket_ms) DO UPDATE SET n = excluded.n, ok_n = excluded.ok_n, deltas = excluded.deltas",
            tier.scrape_table()
        );
        sqlx::query(&sql)
            .bind(&r.target)
            .bind(r.bucket_ms)
            .bind(r.n)
            .bind(r.ok_n)
            .bind(&r.deltas)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest rolled-up 5-minute bucket, so roll-ups resume where they stopped.
    pub async fn last_rollup_ms(&self) -> anyhow::Result<Option<i64>> {
        self.last_rollup_ms_in(Tier::FiveMinutes).await
    }

    /// The newest bucket of `tier` (of any target).
    pub async fn last_rollup_ms_in(&self, tier: Tier) -> anyhow::Result<Option<i64>> {
        let sql = format!("SELECT MAX(bucket_ms) FROM {}", tier.probe_table());
        let row = sqlx::query(&sql).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// The oldest 5-minute roll-up, where the hour tier starts rolling in a store without one.
    pub async fn first_rollup_ms(&self) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(bucket_ms) FROM probe_rollups").fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// The oldest raw probe still kept.
    pub async fn first_raw_ms(&self) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(at_ms) FROM probes").fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// The oldest sample of any kind, raw or rolled up, for `target`.
    pub async fn first_sample_ms(&self, target: &str) -> anyhow::Result<Option<i64>> {
        let raw =
            sqlx::query("SELECT MIN(at_ms) FROM probes WHERE target = $1").bind(target).fetch_one(&self.pool).await?;
        let rolled = sqlx::query("SELECT MIN(bucket_ms) FROM probe_rollups WHERE target = $1")
            .bind(target)
            .fetch_one(&self.pool)
            .await?;
        let (a, b): (Option<i64>, Option<i64>) = (raw.try_get(0)?, rolled.try_get(0)?);
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Every target with samples, in name order.
    pub async fn targets(&self) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT target FROM probes UNION SELECT target FROM probe_rollups UNION SELECT target FROM incidents \
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Raw samples before `raw_before` and roll-ups before `rollups_before` are deleted.
    pub async fn purge(&self, raw_before: i64, rollups_before: i64) -> anyhow::Result<u64> {
        let mut n = 0;
        n += sqlx::query("DELETE FROM probes WHERE at_ms < $1")
            .bind(raw_before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM scrapes WHERE at_ms < $1")
            .bind(raw_before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM probe_rollups WHERE bucket_ms < $1")
            .bind(rollups_before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        for table in ["scrape_rollups", "probe_rollups_1h", "scrape_rollups_1h"] {
            n += sqlx::query(&format!("DELETE FROM {table} WHERE bucket_ms < $1"))
                .bind(rollups_before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    pub async fn open_incident(&self, i: &Incident) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO incidents (id, target, started_ms, detected_ms, ended_ms, cause, checks, build) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&i.id)
        .bind(&i.target)
        .bind(i.started_ms)
        .bind(i.detected_ms)
        .bind(i.ended_ms)
        .bind(&i.cause)
        .bind(&i.checks)
        .bind(&i.build)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What an open incident has seen fail so far (it may grow while it is open).
    pub async fn update_incident(&self, id: &str, cause: &str, checks: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE incidents SET cause = $1, checks = $2 WHERE id = $3")
            .bind(cause)
            .bind(checks)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close_incident(&self, id: &str, ended_ms: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE incidents SET ended_ms = $1 WHERE id = $2")
            .bind(ended_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Incidents that overlap `[from, to)` (open ones included), oldest first.
    pub async fn incidents(&self, target: Option<&str>, from: i64, to: i64) -> anyhow::Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT id, target, started_ms, detected_ms, ended_ms, cause, checks, build FROM incidents \
             WHERE ($1 IS NULL OR target = $1) AND started_ms < $3 AND (ended_ms IS NULL OR ended_ms > $2) \
             ORDER BY started_ms",
        )
        .bind(target)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_row).collect()
    }

    pub async fn open_incidents(&self) -> anyhow::Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT id, target, started_ms, detected_ms, ended_ms, cause, checks, build FROM incidents \
             WHERE ended_ms IS NULL ORDER BY started_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_row).collect()
    }

    pub async fn insert_deploy(&self, d: &Deploy) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO deploys (target, at_ms, from_build, to_build) VALUES ($1, $2, $3, $4)")
            .bind(&d.target)
            .bind(d.at_ms)
            .bind(&d.from_build)
            .bind(&d.to_build)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The build last seen on `target`, so a monitor restart does not mark a deploy.
    pub async fn last_build(&self, target: &str) -> anyhow::Result<Option<String>> {
        let row = sqlx::query("SELECT to_build FROM deploys WHERE target = $1 ORDER BY at_ms DESC LIMIT 1")
            .bind(target)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub async fn deploys(&self, target: Option<&str>, from: i64, to: i64) -> anyhow::Result<Vec<Deploy>> {
        let rows = sqlx::query(
            "SELECT target, at_ms, from_build, to_build FROM deploys \
             WHERE ($1 IS NULL OR target = $1) AND at_ms >= $2 AND at_ms < $3 ORDER BY at_ms",
        )
        .bind(target)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Deploy {
                    target: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    from_build: r.try_get(2)?,
                    to_build: r.try_get(3)?,
                })
            })
            .collect()
    }

    pub async fn insert_maintenance(&self, m: &Maintenance) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO maintenance (id, target, starts_ms, ends_ms, reason) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&m.id)
        .bind(&m.target)
        .bind(m.starts_ms)
        .bind(m.ends_ms)
        .bind(&m.reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Windows for `target` (or every target) that overlap `[from, to)`.
    pub async fn maintenance(&self, target: Option<&str>, from: i64, to: i64) -> anyhow::Result<Vec<Maintenance>> {
        let rows = sqlx::query(
            "SELECT id, target, starts_ms, ends_ms, reason FROM maintenance \
             WHERE ($1 IS NULL OR target IS NULL OR target = $1) AND starts_ms < $3 AND ends_ms > $2 \
             ORDER BY starts_ms",
        )
        .bind(target)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Maintenance {
                    id: r.try_get(0)?,
                    target: r.try_get(1)?,
                    starts_ms: r.try_get(2)?,
                    ends_ms: r.try_get(3)?,
                    reason: r.try_get(4)?,
                })
            })
            .collect()
    }
}

fn probe_row(r: &AnyRow) -> anyhow::Result<Probe> {
    Ok(Probe {
        target: r.try_get(0)?,
        at_ms: r.try_get(1)?,
        kind: r.try_get(2)?,
        ok: r.try_get::<i64, _>(3)? != 0,
        latency_ms: r.try_get(4)?,
        detail: r.try_get(5)?,
    })
}

fn incident_row(r: &AnyRow) -> anyhow::Result<Incident> {
    Ok(Incident {
        id: r.try_get(0)?,
        target: r.try_get(1)?,
        started_ms: r.try_get(2)?,
        detected_ms: r.try_get(3)?,
        ended_ms: r.try_get(4)?,
        cause: r.try_get(5)?,
        checks: r.try_get(6)?,
        build: r.try_get(7)?,
    })
}

/// The URL without its password, for error messages.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
