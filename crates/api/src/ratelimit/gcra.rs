//! The GCRA arithmetic, in whole clock units, shared by the in-process limiter
//! (nanoseconds) and mirrored line for line by the Redis script (microseconds).
//!
//! Integers only: a float emission interval drifts, and the tests check exact budgets.
//! The state per key is one number, the theoretical arrival time (TAT): the instant the
//! bucket would be full again if nothing else arrived.

use super::Quota;

/// A quota converted to clock units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// Emission interval T: one request's worth of refill time; at least one unit, so an
    /// absurd limit cannot turn into "unlimited".
    pub interval: u64,
    /// burst × T: how far the TAT may run ahead of now.
    pub tolerance: u64,
}

impl Params {
    /// `unit` is the clock resolution (1 ns locally, 1 µs in Redis). A zero limit or burst
    /// (only reachable by building a `Quota` by hand) counts as 1.
    pub fn new(quota: &Quota, unit: std::time::Duration) -> Params {
        let period = quota.period.as_nanos() / unit.as_nanos().max(1);
        let interval = (period / u128::from(quota.limit.max(1))).max(1);
        let tolerance = interval.saturating_mul(u128::from(quota.burst.max(1)));
        Params { interval: clamp(interval), tolerance: clamp(tolerance) }
    }
}

fn clamp(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The verdict in clock units; see [`super::Decision`] for the meaning of each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub allowed: bool,
    pub remaining: u32,
    pub reset: u64,
    pub retry_after: Option<u64>,
    /// The TAT to store; `None` when denied (a denial costs nothing).
    pub new_tat: Option<u64>,
}

/// One GCRA step: `stored` is the key's TAT (none for a fresh key), `now` the current time.
pub(crate) fn step(stored: Option<u64>, now: u64, p: Params, cost: u32) -> Outcome {
    // A TAT in the past means a full bucket: the same as a fresh key.
    let tat = stored.map_or(now, |t| t.max(now));
    let used = tat - now;
    let charge = p.interval.saturating_mul(u64::from(cost.max(1)));
    let ahead = used.saturating_add(charge);
    if ahead > p.tolerance {
        // A request larger than the whole bucket can never pass; waiting for the bucket to
        // fill is the best a client can do, so that is what retry_after says.
        let retry = if charge > p.tolerance { used } else { ahead - p.tolerance };
        return Outcome {
            allowed: false,
            remaining: remaining(p, used),
            reset: used,
            retry_after: Some(retry),
            new_tat: None,
        };
    }
    Outcome {
        allowed: true,
        remaining: remaining(p, ahead),
        reset: ahead,
        retry_after: None,
        new_tat: Some(now.saturating_add(ahead)),
    }
}

fn remaining(p: Params, ahead: u64) -> u32 {
    u32::try_from(p.tolerance.saturating_sub(ahead) / p.interval).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn params_are_exact_integers() {
        let q = Quota::parse("100/min").unwrap();
        assert_eq!(
            Params::new(&q, Duration::from_nanos(1)),
            Params { interval: 600_000_000, tolerance: 60_000_000_000 }
        );
        assert_eq!(Params::new(&q, Duration::from_micros(1)), Params { interval: 600_000, tolerance: 60_000_000 });
        // More requests per second than clock units still leaves a nonzero interval.
        let fast = Quota::parse("1000000000/s").unwrap();
        assert_eq!(Params::new(&fast, Duration::from_micros(1)).interval, 1);
    }

    #[test]
    fn huge_burst_saturates_instead_of_overflowing() {
        let q = Quota::parse("1/h").unwrap().with_burst(u32::MAX);
        let p = Params::new(&q, Duration::from_nanos(1));
        let o = step(None, 0, p, u32::MAX);
        assert!(o.allowed);
    }
}
