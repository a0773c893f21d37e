//! What the gate found: one [`Check`] per SLO, detector or check, grouped by scenario.

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Passed,
    Failed,
    /// The check could not be judged (e.g. the load generator saturated); blocks the release too.
    Inconclusive,
}

/// One judged check, with the figures behind the verdict.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub(crate) scenario: String,
    /// The phase of the scenario, when the check is phase-scoped.
    pub(crate) phase: Option<String>,
    pub(crate) name: String,
    pub(crate) status: Status,
    /// What was measured against what bound, in words.
    pub(crate) detail: String,
    pub(crate) seconds: f64,
}

impl Check {
    pub(crate) fn new(
        scenario: &str,
        name: &str,
        status: Status,
        detail: impl Into<String>,
    ) -> Check {
        Check {
            scenario: scenario.to_string(),
            phase: None,
            name: name.to_string(),
            status,
            detail: detail.into(),
            seconds: 0.0,
        }
    }

    pub(crate) fn pass(scenario: &str, name: &str, detail: impl Into<String>) -> Check {
        Check::new(scenario, name, Status::Passed, detail)
    }

    pub(crate) fn fail(scenario: &str, name: &str, detail: impl Into<String>) -> Check {
        Check::new(scenario, name, Status::Failed, detail)
    }

    pub(crate) fn in_phase(mut self, phase: &str) -> Check {
        self.phase = Some(phase.to_string());
        self
    }

    pub(crate) fn took(mut self, seconds: f64) -> Check {
        self.seconds = seconds;
        self
    }

    /// `scenario / phase / check`.
    pub(crate) fn path(&self) -> String {
        match &self.phase {
            Some(p) => format!("{} / {} / {}", self.scenario, p, self.name),
            None => format!("{} / {}", self.scenario, self.name),
        }
    }
}

/// The whole gate run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GateReport {
    pub(crate) suite: String,
    pub(crate) candidate: String,
    pub(crate) passed: bool,
    pub(crate) checks: Vec<Check>,
    /// The `performance` step's runs: a later gate's `--baseline REPORT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) performance: Option<crate::perf::Record>,
}

impl GateReport {
    pub(crate) fn new(suite: &str, candidate: &str, checks: Vec<Check>) -> GateReport {
        let passed = !checks.is_empty() && checks.iter().all(|c| c.status == Status::Passed);
        GateReport {
            suite: suite.to_string(),
            candidate: candidate.to_string(),
            passed,
            checks,
            performance: None,
        }
    }

    pub(crate) fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status != Status::Passed)
    }
}
