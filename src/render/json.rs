//! The JSON view of one decided finding ([`JsonRecord`]): the CLI's `--format json` record, and
//! the `alert` member of SNS and generic-webhook bodies.

use serde::Serialize;

use crate::classify::SeverityLabel;
use crate::decide::rules::DecidedBy;
use crate::decide::rules::runbook::{RunbookFields, expand};
use crate::decide::{Decision, Record};

/// The `--format json` record: one object per finding read. Its keys are a contract that
/// scripts rely on; add keys, never rename or remove them.
#[derive(Debug, Serialize)]
pub struct JsonRecord<'a> {
    /// Finding id.
    pub id: &'a str,
    /// Finding type.
    #[serde(rename = "type")]
    pub finding_type: &'a str,
    /// Numeric severity as GuardDuty gave it.
    pub severity: f64,
    /// `Low`, `Medium`, `High` or `Critical`.
    pub severity_label: SeverityLabel,
    /// Type part before `:`.
    pub threat_purpose: &'a str,
    /// Type part between `:` and `/`.
    pub resource_type_affected: Option<&'a str>,
    /// Type part after `/`, before `.` and `!`.
    pub threat_family: Option<&'a str>,
    /// Type part after `.`.
    pub detection_mechanism: Option<&'a str>,
    /// Type part after `!`.
    pub artifact: Option<&'a str>,
    /// Account, from the finding body.
    pub account_id: Option<&'a str>,
    /// The account's name from the rules file (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<&'a str>,
    /// Region, from the finding body.
    pub region: Option<&'a str>,
    /// `resource.resourceType`.
    pub resource_type: Option<&'a str>,
    /// Short resource summary.
    pub resource: Option<&'a str>,
    /// Finding title.
    pub title: Option<&'a str>,
    /// `service.count`: how often GuardDuty saw the activity.
    pub count: Option<u64>,
    /// `service.eventFirstSeen`.
    pub first_seen: Option<&'a str>,
    /// `service.eventLastSeen`.
    pub last_seen: Option<&'a str>,
    /// `updatedAt`.
    pub updated_at: Option<&'a str>,
    /// A sample finding.
    pub sample: bool,
    /// `service.archived`.
    pub archived: bool,
    /// `alert` or `suppressed`.
    pub decision: &'static str,
    /// Why suppressed; null for alerts.
    pub reason: Option<&'a str>,
    /// The rule that decided (`default` when none matched); absent without a rules file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    /// Where a rules file routes the alert (destination names); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<&'a str>>,
    /// `true` when a rule sends the alert into a digest only; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_only: Option<bool>,
    /// GuardDuty console link.
    pub console_url: Option<&'a str>,
    /// The GuardDuty User Guide's section on this finding type
    /// ([`crate::classify::docs_url`]): where to start reading.
    pub docs_url: Option<String>,
    /// The deciding rule's `runbook`, filled in for this finding; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
    /// Where it was read.
    pub source: &'a str,
    /// Line in the decompressed object.
    pub line: u64,
}

impl<'a> JsonRecord<'a> {
    /// Builds the record for one decided finding.
    pub fn new(r: &'a Record<'a>) -> Self {
        let f = r.finding;
        let c = r.class;
        let service = f.service();
        JsonRecord {
            id: f.id(),
            finding_type: f.type_str(),
            severity: f.severity(),
            severity_label: c.label,
            threat_purpose: c.kind.threat_purpose,
            resource_type_affected: c.kind.resource_type_affected,
            threat_family: c.kind.threat_family,
            detection_mechanism: c.kind.detection_mechanism,
            artifact: c.kind.artifact,
            account_id: c.account_id,
            account_name: r.account_name,
            region: c.region,
            resource_type: c.resource_type,
            resource: c.resource.as_deref(),
            title: f.title.get(),
            count: service
                .and_then(|s| s.count.0)
                .filter(|c| *c >= 0.0)
                .map(|c| c as u64),
            first_seen: service.and_then(|s| s.event_first_seen.get()),
            last_seen: service.and_then(|s| s.event_last_seen.get()),
            updated_at: f.updated_at.get(),
            sample: c.sample,
            archived: c.archived,
            decision: r.decision.as_str(),
            reason: r.decision.reason(),
            rule: r.decision.rule(),
            destinations: match (r.decision, r.rules) {
                (Decision::Routed { to, .. }, Some(rules)) => Some(
                    to.iter()
                        .filter_map(|i| rules.destinations().get(*i))
                        .map(|d| d.name.as_str())
                        .collect(),
                ),
                _ => None,
            },
            digest_only: match r.decision {
                Decision::Routed { digest: true, .. } => Some(true),
                _ => None,
            },
            console_url: c.console_url.as_deref(),
            docs_url: crate::classify::docs_url(c.partition, f.type_str()),
            runbook_url: runbook_url(r),
            source: r.source,
            line: r.line,
        }
    }
}

/// The deciding rule's runbook link for this finding, if the rule has one.
fn runbook_url(r: &Record<'_>) -> Option<String> {
    let (
        Decision::Routed {
            by: DecidedBy::Rule { index, .. },
            ..
        },
        Some(rules),
    ) = (r.decision, r.rules)
    else {
        return None;
    };
    let template = rules.rules().get(index)?.runbook.as_deref()?;
    let fields = RunbookFields {
        finding_type: r.finding.type_str(),
        account: r.class.account_id,
        region: r.class.region,
        resource: r.class.resource.as_deref(),
        id: r.finding.id(),
    };
    Some(expand(template, &fields))
}
