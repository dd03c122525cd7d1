//! The decision for one finding: alert (to every destination, or where a rules file routes
//! it), or suppress with a stated reason. Pure.

pub mod dedup;
pub mod digest;
pub mod record;
pub mod rules;

pub use record::{DeliveryFailures, Record, Sink};

use serde::Serialize;

use crate::classify::{Classification, MinSeverity};
use crate::decide::rules::{Action, DecidedBy, NO_RULE_MATCHED, RulesConfig};
use crate::export::finding::Finding;

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
pub enum Decision<'c> {
    /// Send an alert to every configured destination (no rules file).
    Alert,
    /// Send an alert where a rules file says (see [`rules`]).
    Routed {
        /// The deciding rule, or the file's default.
        by: DecidedBy<'c>,
        /// Indices into [`RulesConfig::destinations`].
        to: &'c [usize],
        /// Into each destination's digest, never individually (`action = "digest"`).
        digest: bool,
    },
    /// Do not alert, for this reason (the default policy).
    Suppressed(Reason),
    /// Do not alert: a rule (or the file's default) says so.
    RuleSuppressed {
        /// The deciding rule, or the file's default.
        by: DecidedBy<'c>,
        /// The rule's `reason`, or [`crate::decide::rules::NO_RULE_MATCHED`].
        reason: &'c str,
    },
}

impl<'c> Decision<'c> {
    /// `alert` or `suppressed`.
    pub fn as_str(self) -> &'static str {
        if self.is_alert() {
            "alert"
        } else {
            "suppressed"
        }
    }

    /// Whether an alert is sent.
    pub fn is_alert(self) -> bool {
        matches!(self, Decision::Alert | Decision::Routed { .. })
    }

    /// Why no alert is sent (`None` for alerts): the policy's reason name or the rule's
    /// `reason` text.
    pub fn reason(self) -> Option<&'c str> {
        match self {
            Decision::Alert | Decision::Routed { .. } => None,
            Decision::Suppressed(r) => Some(r.as_str()),
            Decision::RuleSuppressed { reason, .. } => Some(reason),
        }
    }

    /// The key a suppressed finding is counted under in the summary and metrics: the
    /// policy's reason, the suppressing rule's name, or `no_rule_matched`.
    pub fn suppression_key(self) -> Option<&'c str> {
        match self {
            Decision::Alert | Decision::Routed { .. } => None,
            Decision::Suppressed(r) => Some(r.as_str()),
            Decision::RuleSuppressed {
                by: DecidedBy::Rule { name, .. },
                ..
            } => Some(name),
            Decision::RuleSuppressed {
                by: DecidedBy::Default,
                ..
            } => Some(NO_RULE_MATCHED),
        }
    }

    /// The rule that decided (`default` when no rule matched), with a rules file.
    pub fn rule(self) -> Option<&'c str> {
        match self {
            Decision::Routed { by, .. } | Decision::RuleSuppressed { by, .. } => Some(match by {
                DecidedBy::Rule { name, .. } => name,
                DecidedBy::Default => "default",
            }),
            Decision::Alert | Decision::Suppressed(_) => None,
        }
    }
}

/// Decides findings: the default [`Policy`] or a rules file.
pub trait Decide: Sync {
    /// Decides one finding.
    fn decide<'c>(&'c self, f: &Finding<'_>, c: &Classification<'_>) -> Decision<'c>;

    /// The rules file, when decisions come from one.
    fn rules(&self) -> Option<&RulesConfig> {
        None
    }
}

impl Decide for Policy {
    fn decide<'c>(&'c self, f: &Finding<'_>, c: &Classification<'_>) -> Decision<'c> {
        Policy::decide(self, f, c)
    }
}

impl Decide for RulesConfig {
    fn decide<'c>(&'c self, f: &Finding<'_>, c: &Classification<'_>) -> Decision<'c> {
        let o = self.evaluate(f, c);
        match o.action {
            Action::Route(to) => Decision::Routed {
                by: o.decided_by,
                to,
                digest: false,
            },
            Action::Digest(to) => Decision::Routed {
                by: o.decided_by,
                to,
                digest: true,
            },
            Action::Suppress(reason) => Decision::RuleSuppressed {
                by: o.decided_by,
                reason,
            },
        }
    }

    fn rules(&self) -> Option<&RulesConfig> {
        Some(self)
    }
}

/// What decides findings in a run: the default policy, or a rules file.
#[derive(Debug, Clone)]
pub enum Decider {
    /// `MIN_SEVERITY`, `INCLUDE_SAMPLES`, `INCLUDE_ARCHIVED`.
    Policy(Policy),
    /// A rules file.
    Rules(Box<RulesConfig>),
}

impl Decide for Decider {
    fn decide<'c>(&'c self, f: &Finding<'_>, c: &Classification<'_>) -> Decision<'c> {
        match self {
            Decider::Policy(p) => Policy::decide(p, f, c),
            Decider::Rules(r) => Decide::decide(&**r, f, c),
        }
    }

    fn rules(&self) -> Option<&RulesConfig> {
        match self {
            Decider::Policy(_) => None,
            Decider::Rules(r) => Some(r),
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
    pub fn decide(&self, f: &Finding<'_>, c: &Classification<'_>) -> Decision<'static> {
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
