//! The decision for one finding: alert, or suppress with a stated reason. Pure.

use serde::Serialize;

use crate::classify::{Classification, MinSeverity};
use crate::finding::Finding;

/// Why a finding does not become an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// `service.archived` is true (GuardDuty does not export these, but a replay might).
    Archived,
    /// A sample finding, and samples are not let through.
    Sample,
    /// Severity below the configured minimum.
    BelowMinSeverity,
}

impl Reason {
    /// Every reason, in the order they are checked.
    pub const ALL: [Reason; 3] = [Self::Archived, Self::Sample, Self::BelowMinSeverity];

    /// The stable snake_case name used in output, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Archived => "archived",
            Self::Sample => "sample",
            Self::BelowMinSeverity => "below_min_severity",
        }
    }
}

/// What happens to one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send an alert.
    Alert,
    /// Do not alert, for this reason.
    Suppressed(Reason),
}

impl Decision {
    /// `alert` or `suppressed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Alert => "alert",
            Decision::Suppressed(_) => "suppressed",
        }
    }

    /// The reason, for a suppressed finding.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Decision::Alert => None,
            Decision::Suppressed(r) => Some(r),
        }
    }
}

/// The default policy: a minimum severity, samples and archived findings suppressed unless let
/// through. Reasons are checked in the order archived, sample, severity; the first that applies
/// is the one reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// Findings below this severity are suppressed (default Medium, 4.0).
    pub min_severity: MinSeverity,
    /// Let sample findings through.
    pub include_samples: bool,
    /// Let archived findings through.
    pub include_archived: bool,
}

impl Policy {
    /// Decides one finding.
    pub fn decide(&self, f: &Finding<'_>, c: &Classification<'_>) -> Decision {
        if c.archived && !self.include_archived {
            Decision::Suppressed(Reason::Archived)
        } else if c.sample && !self.include_samples {
            Decision::Suppressed(Reason::Sample)
        } else if f.severity() < self.min_severity.0 {
            Decision::Suppressed(Reason::BelowMinSeverity)
        } else {
            Decision::Alert
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;

    #[test]
    fn decisions() {
        let sample = r#""additionalInfo":{"sample":true}"#;
        let archived = r#""archived":true"#;
        let cases = [
            // (severity, service members, policy (min, samples, archived), want)
            (5.0, "", (4.0, false, false), Decision::Alert),
            (4.0, "", (4.0, false, false), Decision::Alert),
            (
                3.9,
                "",
                (4.0, false, false),
                Decision::Suppressed(Reason::BelowMinSeverity),
            ),
            (
                8.0,
                sample,
                (4.0, false, false),
                Decision::Suppressed(Reason::Sample),
            ),
            (8.0, sample, (4.0, true, false), Decision::Alert),
            (
                2.0,
                sample,
                (4.0, true, false),
                Decision::Suppressed(Reason::BelowMinSeverity),
            ),
            (
                8.0,
                archived,
                (4.0, false, false),
                Decision::Suppressed(Reason::Archived),
            ),
            (8.0, archived, (4.0, true, true), Decision::Alert),
            (
                6.95,
                "",
                (7.0, false, false),
                Decision::Suppressed(Reason::BelowMinSeverity),
            ),
            (0.0, "", (0.0, false, false), Decision::Alert),
        ];
        for (sev, members, (min, samples, arch), want) in cases {
            let line =
                format!(r#"{{"id":"a","type":"T","severity":{sev},"service":{{{members}}}}}"#);
            let f = Finding::parse(&line).unwrap();
            let policy = Policy {
                min_severity: MinSeverity(min),
                include_samples: samples,
                include_archived: arch,
            };
            assert_eq!(policy.decide(&f, &classify(&f)), want, "{line} {policy:?}");
        }
    }
}
