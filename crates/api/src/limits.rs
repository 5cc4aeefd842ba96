//! Who gets how many requests: the default quota, administrators' per-principal
//! overrides, the per-route costs, and which proxies may name the client's address.
//!
//! Overrides live in the store so every instance sees them; each instance reloads them on
//! an interval ([`RELOAD_EVERY`]) and at once after a change it made itself.

use crate::ratelimit::{Quota, RateLimiter};
use axum::http::Method;
use muster_store::{RateLimitOverride, Store};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// A request's cost in budget units: a batch or an import does the work of many calls.
pub fn cost_of(method: &Method, path: &str) -> u32 {
    if *method == Method::POST && path.ends_with("/batch") {
        10
    } else if *method == Method::POST && path.ends_with("/import") {
        50
    } else {
        1
    }
}

pub struct Limits {
    pub limiter: RateLimiter,
    pub default: Quota,
    overrides: RwLock<crate::FastMap<String, Quota>>,
    pub trusted_proxies: Vec<Cidr>,
}

impl Limits {
    pub fn new(limiter: RateLimiter, default: Quota, trusted_proxies: Vec<Cidr>) -> Self {
        Limits { limiter, default, overrides: RwLock::new(crate::FastMap::default()), trusted_proxies }
    }

    /// The quota for an authenticated subject.
    pub fn quota_for(&self, subject: &str) -> Quota {
        self.overrides.read().expect("overrides lock").get(subject).copied().unwrap_or(self.default)
    }

    /// Replaces the overrides with what the store holds.
    pub async fn reload(&self, store: &dyn Store) -> muster_store::Result<()> {
        let rows = store.list_rate_limits().await?;
        let map = rows.iter().filter_map(|o| Some((o.subject.clone(), quota_of(o)?))).collect();
        *self.overrides.write().expect("overrides lock") = map;
        Ok(())
    }

    /// Reloads forever; errors are logged and the current overrides kept.
    pub async fn reload_loop(self: Arc<Self>, store: Arc<dyn Store>) {
        loop {
            if let Err(e) = self.reload(&*store).await {
                tracing::warn!(error = %e, "could not reload rate-limit overrides; keeping the current ones");
            }
            tokio::time::sleep(RELOAD_EVERY).await;
        }
    }
}

/// The quota a stored override describes (None if out of range, e.g. edited by hand).
pub fn quota_of(o: &RateLimitOverride) -> Option<Quota> {
    let limit = u32::try_from(o.limit).ok().filter(|n| *n > 0)?;
    let burst = u32::try_from(o.burst).ok().filter(|n| *n > 0)?;
    let period = Duration::from_millis(u64::try_from(o.period_ms).ok().filter(|n| *n > 0)?);
    Some(Quota { limit, period, burst })
}

/// An address range (`10.0.0.0/8`, `::1/128`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
        };
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further
/// left were written by the client and can be forged).
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> =
        forwarded_for.unwrap_or("").split(',').filter_map(|h| h.trim().parse::<IpAddr>().ok()).collect();
    hops.iter().rev().copied().find(|ip| !is_trusted(*ip)).or_else(|| hops.first().copied()).or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_matching() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("proxy").is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        // untrusted peer: its header is ignored, so clients cannot spoof their address
        assert_eq!(client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4"), &trusted), Some(ip("203.0.113.9")));
        // trusted peer: the right-most untrusted hop, not the forgeable left-most
        assert_eq!(
            client_ip(Some(ip("10.0.0.2")), Some("6.6.6.6, 198.51.100.7, 10.0.0.1"), &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_ip(Some(ip("10.0.0.2")), None, &trusted), Some(ip("10.0.0.2")));
        assert_eq!(client_ip(Some(ip("10.0.0.2")), Some("1.1.1.1"), &[]), Some(ip("10.0.0.2")));
    }

    #[test]
    fn costs() {
        assert_eq!(cost_of(&Method::GET, "/v1/volunteers"), 1);
        assert_eq!(cost_of(&Method::POST, "/v1/volunteers/batch"), 10);
        assert_eq!(cost_of(&Method::POST, "/v1/volunteers/import"), 50);
    }
}
