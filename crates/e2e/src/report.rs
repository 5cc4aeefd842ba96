//! What a run found, and its three forms: human lines (coloured on a terminal), JSON for
//! machines (the monitor stores it), and JUnit XML that CI systems display.

use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    /// The operation it exercises, as the OpenAPI document writes it.
    pub operation: String,
    /// The status it expects, and what else it looks at.
    pub expect: String,
    /// The status the target answered (none when skipped or unanswered).
    pub status: Option<u16>,
    pub outcome: Outcome,
    pub latency_ms: f64,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub target: String,
    /// The target's `/version` build (and commit), when it answered.
    pub build: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: u64,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Stopped by Ctrl-C before every check ran.
    pub interrupted: bool,
    pub checks: Vec<CheckResult>,
}

impl Report {
    pub(crate) fn new(
        run_id: String,
        target: String,
        build: Option<String>,
        started_at: chrono::DateTime<chrono::Utc>,
        took: Duration,
        interrupted: bool,
        checks: Vec<CheckResult>,
    ) -> Report {
        let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
        Report {
            passed: count(Outcome::Pass),
            failed: count(Outcome::Fail),
            skipped: count(Outcome::Skip),
            run_id,
            target,
            build,
            started_at,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            interrupted,
            checks,
        }
    }

    /// Every check passed (skips allowed) and the run was not cut short.
    pub fn ok(&self) -> bool {
        self.failed == 0 && !self.interrupted
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Fail)
    }

    pub fn render(&self, format: Format, colour: bool) -> String {
        match format {
            Format::Human => self.human(colour),
            Format::Json => serde_json::to_string_pretty(self).expect("a report serialises") + "\n",
            Format::Junit => self.junit(),
        }
    }

    fn human(&self, colour: bool) -> String {
        use std::fmt::Write;
        let paint =
            |code: &str, text: &str| if colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "muster e2e  run {}  target {}  build {}",
            self.run_id,
            self.target,
            self.build.as_deref().unwrap_or("unknown")
        );
        let name_w = self.checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0).min(60);
        let op_w = self.checks.iter().map(|c| c.operation.len()).max().unwrap_or(0).min(48);
        for c in &self.checks {
            let tag = match c.outcome {
                Outcome::Pass => paint("32", "PASS"),
                Outcome::Fail => paint("31;1", "FAIL"),
                Outcome::Skip => paint("33", "SKIP"),
            };
            let status = c.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
            let _ = write!(out, "  {tag}  {:name_w$}  {:op_w$}  {status:>3}", c.name, c.operation);
            match (&c.outcome, &c.reason) {
                (Outcome::Pass, _) => {
                    let _ = write!(out, "  {:>7.1} ms", c.latency_ms);
                }
                (_, Some(why)) => {
                    let _ = write!(out, "  {}", paint("2", why));
                }
                (_, None) => {}
            }
            out.push('\n');
        }
        let summary = format!(
            "{} passed, {} failed, {} skipped in {:.2} s{}",
            self.passed,
            self.failed,
            self.skipped,
            self.duration_ms as f64 / 1000.0,
            if self.interrupted { " (interrupted)" } else { "" }
        );
        let _ = writeln!(out, "{}", if self.ok() { paint("32;1", &summary) } else { paint("31;1", &summary) });
        out
    }

    fn junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Report as Junit, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new("muster e2e");
        suite.set_time(Duration::from_millis(self.duration_ms));
        suite.set_timestamp(self.started_at.fixed_offset());
        suite.add_property(("run_id", self.run_id.as_str()));
        suite.add_property(("target", self.target.as_str()));
        suite.add_property(("build", self.build.as_deref().unwrap_or("unknown")));
        for c in &self.checks {
            let status = match c.outcome {
                Outcome::Pass => TestCaseStatus::success(),
                Outcome::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(c.reason.clone().unwrap_or_default());
                    s.set_type(format!(
                        "expected {}, got {}",
                        c.expect,
                        c.status.map_or("-".into(), |s| s.to_string())
                    ));
                    s
                }
                Outcome::Skip => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(c.reason.clone().unwrap_or_default());
                    s
                }
            };
            let mut case = TestCase::new(c.name.as_str(), status);
            case.set_classname(c.operation.as_str());
            case.set_time(Duration::from_secs_f64(c.latency_ms / 1000.0));
            suite.add_test_case(case);
        }
        let mut report = Junit::new("muster e2e");
        report.add_test_suite(suite);
        report.to_string().expect("JUnit XML serialises")
    }
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Junit,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "human" => Ok(Format::Human),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            other => Err(format!("--format {other:?}: use human, json or junit")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let check = |name: &str, outcome, status, reason: Option<&str>| CheckResult {
            name: name.into(),
            operation: "GET /v1/events/{id}".into(),
            expect: "200".into(),
            status,
            outcome,
            latency_ms: 1.5,
            reason: reason.map(str::to_owned),
        };
        Report::new(
            "r1".into(),
            "http://127.0.0.1:1".into(),
            Some("7 (abc)".into()),
            chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            Duration::from_millis(1234),
            false,
            vec![
                check("read <it> & \"more\"", Outcome::Pass, Some(200), None),
                check("read it again", Outcome::Fail, Some(500), Some("expected 200, got 500: boom")),
                check("read a third", Outcome::Skip, None, Some("--read-only: this check writes")),
            ],
        )
    }

    #[test]
    fn counts_and_verdict() {
        let r = sample();
        assert_eq!((r.passed, r.failed, r.skipped), (1, 1, 1));
        assert!(!r.ok());
        assert_eq!(r.failures().count(), 1);
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: serde_json::Value = serde_json::from_str(&sample().render(Format::Json, false)).unwrap();
        for field in ["run_id", "target", "build", "started_at", "duration_ms", "passed", "failed", "skipped", "checks"]
        {
            assert!(v.get(field).is_some(), "{field}");
        }
        let c = &v["checks"][1];
        for field in ["name", "operation", "expect", "status", "outcome", "latency_ms", "reason"] {
            assert!(c.get(field).is_some(), "{field}");
        }
        assert_eq!(c["outcome"], "fail");
        assert_eq!(v["duration_ms"], 1234);
    }

    #[test]
    fn junit_escapes_and_counts() {
        let xml = sample().render(Format::Junit, false);
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(
            xml.contains(r#"tests="3""#) && xml.contains(r#"failures="1""#) && xml.contains(r#"skipped="1""#),
            "{xml}"
        );
        assert!(xml.contains("read &lt;it&gt; &amp; &quot;more&quot;"), "{xml}");
        assert!(xml.contains(r#"classname="GET /v1/events/{id}""#), "{xml}");
    }

    #[test]
    fn human_lines_colour_only_on_request() {
        let plain = sample().render(Format::Human, false);
        assert!(plain.contains("FAIL") && !plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("1 passed, 1 failed, 1 skipped in 1.23 s"), "{plain}");
        assert!(sample().render(Format::Human, true).contains("\x1b[31;1mFAIL"));
    }
}
