//! Evaluating a flag for one subject: deterministic, sticky and monotonic.
//!
//! **The bucket.** A subject's bucket for a flag is the first 8 bytes of
//! `SHA-256("{flag_key}:{subject}")`, read as a big-endian unsigned integer, modulo
//! [`BUCKETS`] (10 000). The flag is on for the subject when `bucket < rollout_percent × 100`.
//! Anyone can recompute it with a standard library (see the test vectors below), it depends
//! on nothing but the key and the subject (so every instance, every restart and every
//! client agree), and because raising the percentage only raises the threshold, everyone
//! who had the flag at 25 % still has it at 50 %: rollouts widen without reshuffling, and
//! narrowing takes it away from the most recently added first. Keys may not contain `:`,
//! so `key:subject` is unambiguous; including the key makes buckets independent between
//! flags, so the same 1 % of users are not always the guinea pigs.
//!
//! **The variant.** For a flag with variants, the variant comes from a second, independent
//! hash, `SHA-256("{flag_key}:variant:{subject}")` modulo the sum of the weights, walked
//! through the variants in order. Independent of the bucket, a subject keeps its variant
//! while the rollout widens; changing the weights moves only the subjects whose point
//! falls in a boundary that moved.
//!
//! **Precedence**, first match wins:
//! 1. `enabled: false` → off for everyone, allow list included (`DISABLED`): the kill switch;
//! 2. subject in `deny` → off (`TARGETING_MATCH`): deny wins over allow, so one person can
//!    be taken out without editing the allow list;
//! 3. subject in `allow` → on (`TARGETING_MATCH`);
//! 4. rollout 0 % → off (`DEFAULT`); otherwise the bucket decides (`SPLIT`; `STATIC` at
//!    100 % for a boolean flag, where nothing about the subject matters).

use super::FlagSpec;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Buckets per flag: a rollout moves in steps of 0.01 %.
pub const BUCKETS: u64 = 10_000;

crate::wire_enum!(
    /// Why a subject got what it got, in OpenFeature's terms.
    Reason {
        Static => "STATIC",
        TargetingMatch => "TARGETING_MATCH",
        Split => "SPLIT",
        Disabled => "DISABLED",
        Default => "DEFAULT",
    }
);

/// What one subject gets from one flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Whether the flag is on for the subject.
    pub on: bool,
    /// `true`/`false` for a boolean flag; the variant name for a flag with variants.
    pub value: Value,
    /// `on`/`off` for a boolean flag; the variant name (or the `off_variant`) otherwise.
    pub variant: String,
    pub reason: Reason,
}

fn hash64(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("SHA-256 has 32 bytes"))
}

/// The subject's bucket for the flag, in `0..BUCKETS` (see the module docs).
pub fn bucket(key: &str, subject: &str) -> u16 {
    u16::try_from(hash64(&[key, subject]) % BUCKETS).expect("below 10000")
}

/// The subject's point in `0..total` on the flag's variant wheel (see the module docs).
pub fn variant_point(key: &str, subject: &str, total: u64) -> u64 {
    hash64(&[key, "variant", subject]) % total.max(1)
}

/// What `subject` gets from the flag `key` set up as `spec`.
pub fn evaluate(key: &str, spec: &FlagSpec, subject: &str) -> Evaluation {
    let listed = |list: &[String]| list.binary_search_by(|s| s.as_str().cmp(subject)).is_ok();
    if !spec.enabled {
        return off(spec, Reason::Disabled);
    }
    if listed(&spec.deny) {
        return off(spec, Reason::TargetingMatch);
    }
    if listed(&spec.allow) {
        return on(key, spec, subject, Reason::TargetingMatch);
    }
    let threshold = spec.rollout_percent.hundredths();
    if threshold == 0 {
        return off(spec, Reason::Default);
    }
    if bucket(key, subject) < threshold {
        let reason = if threshold == 10_000 && spec.variants.is_empty() { Reason::Static } else { Reason::Split };
        on(key, spec, subject, reason)
    } else {
        off(spec, Reason::Split)
    }
}

fn off(spec: &FlagSpec, reason: Reason) -> Evaluation {
    match &spec.off_variant {
        Some(name) if !spec.variants.is_empty() => {
            Evaluation { on: false, value: Value::String(name.clone()), variant: name.clone(), reason }
        }
        _ => Evaluation { on: false, value: Value::Bool(false), variant: "off".into(), reason },
    }
}

fn on(key: &str, spec: &FlagSpec, subject: &str, reason: Reason) -> Evaluation {
    let total = spec.total_weight();
    if total == 0 {
        return Evaluation { on: true, value: Value::Bool(true), variant: "on".into(), reason };
    }
    let point = variant_point(key, subject, total);
    let mut upto = 0u64;
    let chosen = spec
        .variants
        .iter()
        .find(|v| {
            upto += u64::from(v.weight);
            point < upto
        })
        .expect("the point is below the total weight");
    Evaluation { on: true, value: Value::String(chosen.name.clone()), variant: chosen.name.clone(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flag::{Rollout, Variant};
    use proptest::prelude::*;

    fn spec(hundredths: i64) -> FlagSpec {
        FlagSpec {
            description: None,
            enabled: true,
            rollout_percent: Rollout::from_hundredths(hundredths).unwrap(),
            allow: Vec::new(),
            deny: Vec::new(),
            variants: Vec::new(),
            off_variant: None,
        }
    }

    fn on_count(key: &str, hundredths: i64, n: usize) -> usize {
        let s = spec(hundredths);
        (0..n).filter(|i| evaluate(key, &s, &format!("user-{i}")).on).count()
    }

    /// Fixed vectors, so a change to the hash (which would reshuffle every rollout in
    /// production) fails here, and other implementations can check themselves against it:
    /// `printf 'csv-import:alice' | sha256sum` starts with the 16 hex digits below.
    #[test]
    fn bucket_test_vectors() {
        let digest = Sha256::digest(b"csv-import:alice");
        let first8 = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(u64::from(bucket("csv-import", "alice")), first8 % 10_000);
        let known: Vec<u16> = ["alice", "bob", "carol"].iter().map(|s| bucket("csv-import", s)).collect();
        assert_eq!(known, KNOWN_BUCKETS, "the bucket function changed: every rollout would reshuffle");
    }

    /// Computed independently (Python's `hashlib`): `csv-import:alice` digests to `21f8bd08256df3f3…`.
    const KNOWN_BUCKETS: [u16; 3] = [5475, 4814, 9743];

    #[test]
    fn distribution_at_25_percent_over_2000_subjects() {
        let share = on_count("list-compact", 2500, 2000) as f64 / 2000.0 * 100.0;
        assert!((share - 25.0).abs() <= 3.0, "{share:.2} % on at 25 %");
        for key in ["csv-import", "a", "checkout.v2"] {
            let share = on_count(key, 2500, 2000) as f64 / 20.0;
            assert!((share - 25.0).abs() <= 3.0, "{key}: {share:.2} %");
        }
    }

    #[test]
    fn ends_are_exact() {
        assert_eq!(on_count("k", 0, 500), 0);
        assert_eq!(on_count("k", 10_000, 500), 500);
        let e = evaluate("k", &spec(10_000), "x");
        assert_eq!((e.reason, e.value, e.variant.as_str()), (Reason::Static, Value::Bool(true), "on"));
        assert_eq!(evaluate("k", &spec(0), "x").reason, Reason::Default);
    }

    #[test]
    fn precedence_disabled_then_deny_then_allow() {
        let mut s = spec(0);
        s.allow = vec!["amy".into(), "both".into()];
        s.deny = vec!["both".into(), "dan".into()];
        let got = |s: &FlagSpec, who: &str| {
            let e = evaluate("k", s, who);
            (e.on, e.reason)
        };
        assert_eq!(got(&s, "amy"), (true, Reason::TargetingMatch));
        assert_eq!(got(&s, "both"), (false, Reason::TargetingMatch), "deny wins over allow");
        assert_eq!(got(&s, "zed"), (false, Reason::Default));
        s.rollout_percent = Rollout::ALL;
        assert_eq!(got(&s, "dan"), (false, Reason::TargetingMatch), "deny wins over 100 %");
        s.enabled = false;
        for who in ["amy", "both", "dan", "zed"] {
            assert_eq!(got(&s, who), (false, Reason::Disabled), "disabled is off for {who}");
        }
    }

    #[test]
    fn variants_split_by_weight_and_stay_put() {
        let mut s = spec(10_000);
        s.variants = vec![Variant { name: "blue".into(), weight: 3 }, Variant { name: "green".into(), weight: 1 }];
        s.off_variant = Some("classic".into());
        let blue = (0..4000).filter(|i| evaluate("theme", &s, &format!("u{i}")).variant == "blue").count();
        assert!((blue as f64 / 40.0 - 75.0).abs() <= 3.0, "{blue} of 4000 blue at 3:1");
        let e = evaluate("theme", &s, "u1");
        assert_eq!(e.value, Value::String(e.variant.clone()));
        assert_eq!(e.reason, Reason::Split);
        s.enabled = false;
        let e = evaluate("theme", &s, "u1");
        assert_eq!((e.value, e.variant.as_str()), (Value::String("classic".into()), "classic"));
    }

    proptest! {
        #[test]
        fn deterministic(key in "[a-z][a-z0-9-]{0,20}", subject in "\\PC{1,40}", pct in 0i64..=10_000) {
            let s = spec(pct);
            prop_assert_eq!(evaluate(&key, &s, &subject), evaluate(&key, &spec(pct), &subject));
            prop_assert!(u64::from(bucket(&key, &subject)) < BUCKETS);
        }

        /// Raising the percentage never takes the flag away from anyone who had it.
        #[test]
        fn monotonic(key in "[a-z][a-z0-9-]{0,20}", subject in "\\PC{1,40}", a in 0i64..=10_000, b in 0i64..=10_000) {
            let (lo, hi) = (a.min(b), a.max(b));
            if evaluate(&key, &spec(lo), &subject).on {
                prop_assert!(evaluate(&key, &spec(hi), &subject).on);
            }
        }

        /// A subject's variant does not change while the rollout widens.
        #[test]
        fn variant_sticky_across_rollouts(subject in "\\PC{1,40}", a in 1i64..=10_000, b in 1i64..=10_000) {
            let with = |pct| {
                let mut s = spec(pct);
                s.variants = vec![Variant { name: "a".into(), weight: 1 }, Variant { name: "b".into(), weight: 1 }];
                s.off_variant = Some("off".into());
                evaluate("exp", &s, &subject)
            };
            let (x, y) = (with(a), with(b));
            if x.on && y.on {
                prop_assert_eq!(x.variant, y.variant);
            }
        }
    }
}
