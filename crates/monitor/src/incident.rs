//! When an incident opens and closes: a pure state machine per target, fed every probe.
//!
//! Each signal (`ready`: the target unreachable or `/ready` failing; `e2e`: checks failing)
//! keeps its own streak, so a passing `/ready` between two failing E2E runs does not reset
//! the E2E streak. A signal turns *failing* after `failure_threshold` consecutive failures
//! and *healthy* again after `success_threshold` consecutive successes; the incident is open
//! while any signal is failing. Its start is the first failure of the streak that opened it
//! (so time to detect = detection − start), not the moment the threshold was reached.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    Ready,
    E2e,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Ready => "ready",
            Signal::E2e => "e2e",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Streak {
    fails: u32,
    oks: u32,
    first_fail_ms: Option<i64>,
    failing: bool,
    /// The last failure's description.
    why: String,
}

/// What one observation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The first signal turned failing: an incident opens, started at `started_ms`.
    Opened { started_ms: i64, cause: String },
    /// Still open; the cause (which signals fail, and why) changed.
    Changed { cause: String },
    /// Every signal is healthy again.
    Closed,
}

#[derive(Debug, Clone)]
pub struct Tracker {
    failure_threshold: u32,
    success_threshold: u32,
    streaks: BTreeMap<Signal, Streak>,
    open: bool,
}

impl Tracker {
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Tracker {
        Tracker {
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
            streaks: BTreeMap::new(),
            open: false,
        }
    }

    /// A tracker for a target whose incident was open when the monitor last stopped: it
    /// closes after the usual successes.
    pub fn resume_open(mut self) -> Tracker {
        self.open = true;
        let s = self.streaks.entry(Signal::Ready).or_default();
        s.failing = true;
        s.why = "open when the monitor restarted".into();
        self
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Which signals fail and why, one line each.
    pub fn cause(&self) -> String {
        let lines: Vec<String> =
            self.streaks.iter().filter(|(_, s)| s.failing).map(|(k, s)| format!("{}: {}", k.as_str(), s.why)).collect();
        lines.join("\n")
    }

    /// One probe result. `held` (a maintenance window) keeps failures from opening an
    /// incident, but streaks still count, so one still failing after the window opens then.
    pub fn observe(&mut self, signal: Signal, ok: bool, at_ms: i64, why: &str, held: bool) -> Option<Transition> {
        let (ft, st) = (self.failure_threshold, self.success_threshold);
        let s = self.streaks.entry(signal).or_default();
        let before = (s.failing, s.why.clone());
        if ok {
            s.oks += 1;
            s.fails = 0;
            s.first_fail_ms = None;
            if s.failing && s.oks >= st {
                s.failing = false;
            }
        } else {
            s.oks = 0;
            s.fails += 1;
            s.first_fail_ms.get_or_insert(at_ms);
            s.why = why.to_owned();
            if !s.failing && s.fails >= ft && !held {
                s.failing = true;
            }
        }
        let first_fail = s.first_fail_ms;
        let changed = before != (s.failing, s.why.clone());
        let any_failing = self.streaks.values().any(|s| s.failing);
        match (self.open, any_failing) {
            (false, true) => {
                self.open = true;
                Some(Transition::Opened { started_ms: first_fail.unwrap_or(at_ms), cause: self.cause() })
            }
            (true, false) => {
                self.open = false;
                Some(Transition::Closed)
            }
            (true, true) if changed => Some(Transition::Changed { cause: self.cause() }),
            _ => None,
        }
    }
}

/// An open incident's recorded cause after a [`Transition::Changed`]: each signal's line is
/// the latest why, and a signal that healed keeps its line. [`Tracker::cause`] says only what
/// fails now, and an incident that began with `/ready` down must not end up recorded as an
/// E2E failure because `/ready` recovered first.
pub fn merge_cause(recorded: &str, now: &str) -> String {
    let key = |l: &str| l.split_once(": ").map_or(l, |(k, _)| k).to_owned();
    let mut lines: Vec<String> = recorded.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    for line in now.lines().filter(|l| !l.is_empty()) {
        match lines.iter_mut().find(|l| key(l) == key(line)) {
            Some(old) => line.clone_into(old),
            None => lines.push(line.to_owned()),
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healed_signal_stays_in_the_recorded_cause() {
        let opened = "ready: unreachable";
        let both = merge_cause(opened, "e2e: target unreachable\nready: unreachable");
        assert_eq!(both, "ready: unreachable\ne2e: target unreachable");
        // /ready recovers first: the tracker's cause is e2e alone, the record keeps both
        assert_eq!(merge_cause(&both, "e2e: 1 check failing: x"), "ready: unreachable\ne2e: 1 check failing: x");
    }

    #[test]
    fn opens_after_two_failures_and_closes_after_two_successes() {
        let mut t = Tracker::new(2, 2);
        assert_eq!(t.observe(Signal::Ready, false, 10, "refused", false), None);
        assert_eq!(
            t.observe(Signal::Ready, false, 20, "refused", false),
            Some(Transition::Opened { started_ms: 10, cause: "ready: refused".into() })
        );
        assert_eq!(t.observe(Signal::Ready, false, 30, "refused", false), None);
        assert_eq!(t.observe(Signal::Ready, true, 40, "", false), None);
        assert_eq!(t.observe(Signal::Ready, true, 50, "", false), Some(Transition::Closed));
    }

    #[test]
    fn signals_keep_their_own_streaks() {
        let mut t = Tracker::new(2, 2);
        t.observe(Signal::E2e, false, 10, "1 check failing", false);
        t.observe(Signal::Ready, true, 15, "", false);
        let opened = t.observe(Signal::E2e, false, 20, "1 check failing", false);
        assert!(matches!(opened, Some(Transition::Opened { started_ms: 10, .. })), "{opened:?}");
        // ready fails too: the cause grows
        t.observe(Signal::Ready, false, 25, "503", false);
        assert!(matches!(t.observe(Signal::Ready, false, 26, "503", false), Some(Transition::Changed { .. })));
        assert!(t.cause().contains("ready: 503") && t.cause().contains("e2e: 1 check"));
    }

    #[test]
    fn maintenance_holds_opening_until_it_ends() {
        let mut t = Tracker::new(2, 2);
        assert_eq!(t.observe(Signal::Ready, false, 10, "down", true), None);
        assert_eq!(t.observe(Signal::Ready, false, 20, "down", true), None);
        assert!(matches!(
            t.observe(Signal::Ready, false, 30, "down", false),
            Some(Transition::Opened { started_ms: 10, .. })
        ));
    }
}
