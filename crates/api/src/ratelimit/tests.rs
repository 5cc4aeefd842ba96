//! The GCRA contract on the in-process limiter, with a manual clock so budgets are exact.

use super::gcra::Params;
use super::local::{Clock, LocalLimiter};
use super::*;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

fn limiter() -> (LocalLimiter, Clock) {
    let clock = Clock::manual();
    (LocalLimiter::new(clock.clone()), clock)
}

/// 10/s: T = 100 ms.
fn ten_per_sec(burst: u32) -> Quota {
    Quota::parse("10/s").unwrap().with_burst(burst)
}

#[test]
fn fresh_key_admits_exactly_burst_then_denies() {
    let (l, _) = limiter();
    let q = ten_per_sec(10);
    for i in 0..10 {
        let d = l.check("k", &q, 1);
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 9 - i);
        assert_eq!(d.reset, (i + 1) * 100 * MS);
        assert_eq!(d.retry_after, None);
    }
    let d = l.check("k", &q, 1);
    assert_eq!(d, Decision { allowed: false, remaining: 0, reset: 1000 * MS, retry_after: Some(100 * MS) });
    assert_eq!(d.retry_after_secs(), Some(1));
}

#[test]
fn refills_exactly_one_request_per_interval() {
    let (l, clock) = limiter();
    let q = ten_per_sec(3);
    for _ in 0..3 {
        assert!(l.check("k", &q, 1).allowed);
    }
    clock.advance(99 * MS);
    let d = l.check("k", &q, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Some(MS));
    assert_eq!(d.reset, 201 * MS);
    clock.advance(MS);
    let d = l.check("k", &q, 1);
    assert_eq!(d, Decision { allowed: true, remaining: 0, reset: 300 * MS, retry_after: None });
    let d = l.check("k", &q, 1);
    assert_eq!(d.retry_after, Some(100 * MS));
    // Half the bucket back after half the burst window; the remainder is floored.
    clock.advance(250 * MS);
    let d = l.check("k", &q, 1);
    assert_eq!(d, Decision { allowed: true, remaining: 1, reset: 150 * MS, retry_after: None });
}

#[test]
fn cost_charges_several_intervals() {
    let (l, _) = limiter();
    let q = ten_per_sec(5);
    assert_eq!(l.check("k", &q, 3), Decision { allowed: true, remaining: 2, reset: 300 * MS, retry_after: None });
    // 3 more would need 600 ms of room in a 500 ms bucket: 100 ms short, nothing charged.
    assert_eq!(
        l.check("k", &q, 3),
        Decision { allowed: false, remaining: 2, reset: 300 * MS, retry_after: Some(100 * MS) }
    );
    assert_eq!(l.check("k", &q, 2), Decision { allowed: true, remaining: 0, reset: 500 * MS, retry_after: None });
    // Cost 0 is treated as 1.
    assert!(!l.check("k", &q, 0).allowed);
}

#[test]
fn cost_above_burst_never_passes_and_says_when_bucket_is_full() {
    let (l, clock) = limiter();
    let q = ten_per_sec(5);
    let d = l.check("k", &q, 6);
    assert_eq!(d, Decision { allowed: false, remaining: 5, reset: Duration::ZERO, retry_after: Some(Duration::ZERO) });
    assert_eq!(d.retry_after_secs(), Some(1));
    assert!(l.check("k", &q, 2).allowed);
    assert_eq!(l.check("k", &q, 6).retry_after, Some(200 * MS));
    clock.advance(Duration::from_secs(3600));
    assert!(!l.check("k", &q, 6).allowed);
}

#[test]
fn keys_are_independent_and_idle_keys_start_fresh() {
    let (l, clock) = limiter();
    let q = ten_per_sec(2);
    assert!(l.check("a", &q, 1).allowed);
    assert!(l.check("a", &q, 1).allowed);
    assert!(!l.check("a", &q, 1).allowed);
    assert_eq!(l.check("b", &q, 1).remaining, 1);
    clock.advance(Duration::from_secs(60));
    assert_eq!(l.check("a", &q, 1), Decision { allowed: true, remaining: 1, reset: 100 * MS, retry_after: None });
}

#[test]
fn sweeping_bounds_memory_without_forgetting_live_keys() {
    let (l, clock) = limiter();
    let q = Quota::parse("1/s").unwrap();
    assert!(l.check("live", &Quota::parse("1/h").unwrap(), 1).allowed);
    for i in 0..40_000 {
        l.check(&format!("a{i}"), &q, 1);
    }
    clock.advance(Duration::from_secs(2));
    for i in 0..40_000 {
        l.check(&format!("b{i}"), &q, 1);
    }
    // Without sweeping this would be 80,001; the expired "a" keys went on the way.
    assert!(l.len() <= 50_000, "{} entries kept", l.len());
    assert!(!l.check("live", &Quota::parse("1/h").unwrap(), 1).allowed);
}

#[tokio::test]
async fn local_limiter_reports_no_redis() {
    let rl = RateLimiter::local();
    assert_eq!(rl.redis_healthy(), None);
    assert_eq!(rl.fallbacks(), 0);
    let (d, backend) = rl.check_detailed("k", &Quota::parse("2/min").unwrap(), 1).await;
    assert_eq!(backend, Backend::Local);
    assert_eq!(d.remaining, 1);
    let clocked = RateLimiter::with_local_clock(Clock::manual());
    assert!(clocked.clone().check("k", &ten_per_sec(1), 1).await.allowed);
    assert!(!clocked.check("k", &ten_per_sec(1), 1).await.allowed, "clones share budgets");
}

#[test]
fn parse_accepts_the_documented_forms() {
    let secs = |n| Duration::from_secs(n);
    for (s, limit, period) in [
        ("100/min", 100, secs(60)),
        ("10/s", 10, secs(1)),
        ("10/sec", 10, secs(1)),
        ("5000/hour", 5000, secs(3600)),
        ("100/m", 100, secs(60)),
        ("1/h", 1, secs(3600)),
        (" 7 / Minute ", 7, secs(60)),
        ("2/day", 2, secs(86_400)),
        ("1000000000/s", 1_000_000_000, secs(1)),
    ] {
        assert_eq!(Quota::parse(s), Ok(Quota { limit, period, burst: limit }), "{s}");
    }
}

#[test]
fn parse_refuses_everything_else_and_says_what_it_accepts() {
    for s in
        ["", "100", "/min", "0/min", "-1/s", "+5/s", "1.5/s", "1000000001/s", "99999999999/s", "10/week", "10/", "a/s"]
    {
        let err = Quota::parse(s).unwrap_err();
        assert!(err.contains("100/min") && err.contains("1000000000") && err.contains("hour"), "{s}: {err}");
    }
}

#[test]
fn header_values_are_exact() {
    let q = Quota::parse("100/min").unwrap();
    assert_eq!(q.policy_header("default"), r#""default";q=100;w=60"#);
    assert_eq!(q.with_burst(10).policy_header("default"), r#""default";q=10;w=6"#);
    assert_eq!(Quota::parse("3/s").unwrap().policy_header("p"), r#""p";q=3;w=1"#);
    assert_eq!(q.with_burst(0).burst, 1);
    let d = Decision { allowed: true, remaining: 42, reset: Duration::from_millis(29_001), retry_after: None };
    assert_eq!(d.header("default"), r#""default";r=42;t=30"#);
    assert_eq!(d.retry_after_secs(), None);
    let d = Decision {
        allowed: false,
        remaining: 0,
        reset: Duration::ZERO,
        retry_after: Some(Duration::from_millis(1500)),
    };
    assert_eq!(d.header(r#"a"b\é"#), r#""a\"b\\_";r=0;t=0"#);
    assert_eq!(d.retry_after_secs(), Some(2));
}

proptest! {
    /// Whatever the quota and traffic, admitted cost never exceeds burst + elapsed / T, and
    /// a denied request that fits the bucket is admitted after exactly its retry_after.
    #[test]
    fn never_admits_more_than_burst_plus_refill(
        limit in 1u32..=50,
        period_ms in 1u64..=10_000,
        burst in 1u32..=20,
        steps in proptest::collection::vec((0u64..=2_000, 1u32..=4), 1..200),
    ) {
        let (l, clock) = limiter();
        let q = Quota { limit, period: Duration::from_millis(period_ms), burst };
        let t = Params::new(&q, Duration::from_nanos(1)).interval;
        let (mut elapsed, mut admitted) = (0u64, 0u64);
        for (permille, cost) in steps {
            // Advances from zero to two intervals, in thousandths of one.
            let by = t * permille / 1000;
            clock.advance(Duration::from_nanos(by));
            elapsed += by;
            let d = l.check("k", &q, cost);
            if d.allowed {
                admitted += u64::from(cost);
            } else if cost <= burst {
                let wait = u64::try_from(d.retry_after.unwrap().as_nanos()).unwrap();
                prop_assert!(wait > 0);
                clock.advance(Duration::from_nanos(wait));
                elapsed += wait;
                prop_assert!(l.check("k", &q, cost).allowed, "not admitted after retry_after");
                admitted += u64::from(cost);
            }
            prop_assert!(admitted <= u64::from(burst) + elapsed / t, "{admitted} admitted in {elapsed} ns, T = {t}");
        }
    }
}
