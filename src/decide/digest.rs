//! Noise control per destination and export: when one export brings a destination more alerts
//! than its digest threshold, the critical ones still go out one by one and the rest are
//! gathered into one [`Digest`]. Pure: [`DigestBuilder`] gathers the summaries; which alerts go
//! into a digest is decided as they arrive, by the delivery lane of each destination
//! (`deliver::fanout`).
//!
//! The digest holds the alerts that were *not* sent individually, so every alert reaches the
//! destination exactly once: Critical ones alone, the others in the digest. Findings routed by
//! an `action = "digest"` rule always go into the digest, whatever their severity and count.

use std::collections::BTreeMap;

use crate::classify::{Classification, SeverityLabel};
use crate::export::finding::Finding;

/// How many findings a digest lists by name (the most severe).
pub const DIGEST_TOP: usize = 10;

/// What a digest or an individual alert needs to know about one finding. Owned, so it can
/// outlive the export's lines.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSummary {
    /// The finding id.
    pub finding_id: String,
    /// The finding type.
    pub finding_type: String,
    /// The numeric severity.
    pub severity: f64,
    /// Its band.
    pub label: SeverityLabel,
    /// The finding's title, if any.
    pub title: Option<String>,
    /// The account, from the finding body.
    pub account_id: Option<String>,
    /// The account's name from `[accounts]`, if any.
    pub account_name: Option<String>,
    /// The region, from the finding body.
    pub region: Option<String>,
    /// The GuardDuty console link.
    pub console_url: Option<String>,
}

impl AlertSummary {
    /// The summary of one classified finding.
    pub fn new(f: &Finding<'_>, c: &Classification<'_>) -> Self {
        AlertSummary {
            finding_id: f.id().to_owned(),
            finding_type: f.type_str().to_owned(),
            severity: f.severity(),
            label: c.label,
            title: f.title.get().map(str::to_owned),
            account_id: c.account_id.map(str::to_owned),
            account_name: None,
            region: c.region.map(str::to_owned),
            console_url: c.console_url.clone(),
        }
    }
}

/// One message standing for many alerts of one export.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// Alerts in this digest.
    pub total: usize,
    /// Alerts in this digest by severity band, highest band first, bands with none left out.
    pub by_severity: Vec<(SeverityLabel, usize)>,
    /// Alerts in this digest by finding type, most frequent first (ties by type name).
    pub by_type: Vec<(String, usize)>,
    /// The [`DIGEST_TOP`] most severe alerts in this digest, most severe first (ties in the
    /// order they were given).
    pub top: Vec<AlertSummary>,
    /// Alerts of the same export and destination sent individually instead (the Critical
    /// ones), for a line such as "plus 3 critical alerts sent separately".
    pub sent_individually: usize,
}

/// Most distinct finding types a digest counts one by one; the rest are counted together under
/// [`OTHER_TYPES`] (GuardDuty has a few hundred types: this bounds memory, not real digests).
pub const MAX_TYPES: usize = 1000;

/// The `by_type` entry for types beyond [`MAX_TYPES`].
pub const OTHER_TYPES: &str = "(other types)";

/// Builds a [`Digest`] one alert at a time in bounded memory: counts, and only the
/// [`DIGEST_TOP`] most severe alerts kept.
#[derive(Debug, Clone, Default)]
pub struct DigestBuilder {
    total: usize,
    by_severity: [usize; 4],
    by_type: BTreeMap<String, usize>,
    top: Vec<AlertSummary>,
}

impl DigestBuilder {
    /// Adds one alert.
    pub fn add(&mut self, a: AlertSummary) {
        self.total += 1;
        self.by_severity[a.label as usize] += 1;
        let room = self.by_type.len() < MAX_TYPES;
        match self.by_type.get_mut(a.finding_type.as_str()) {
            Some(n) => *n += 1,
            None if room => {
                self.by_type.insert(a.finding_type.clone(), 1);
            }
            None => *self.by_type.entry(OTHER_TYPES.to_owned()).or_default() += 1,
        }
        // After every alert at least as severe: equal severities keep their order of arrival.
        let at = self.top.partition_point(|t| t.severity >= a.severity);
        if at < DIGEST_TOP {
            self.top.insert(at, a);
            self.top.truncate(DIGEST_TOP);
        }
    }

    /// Alerts added so far.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether no alert was added.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The digest; `sent_individually` is how many alerts of the same export and destination
    /// went out one by one.
    pub fn finish(self, sent_individually: usize) -> Digest {
        let by_severity = SeverityLabel::ALL
            .into_iter()
            .rev()
            .map(|l| (l, self.by_severity[l as usize]))
            .filter(|(_, n)| *n > 0)
            .collect();
        let mut by_type: Vec<(String, usize)> = self.by_type.into_iter().collect();
        // Stable: equal counts keep the BTreeMap's name order.
        by_type.sort_by_key(|t| std::cmp::Reverse(t.1));
        Digest {
            total: self.total,
            by_severity,
            by_type,
            top: self.top,
            sent_individually,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: usize, severity: f64, finding_type: &str) -> AlertSummary {
        AlertSummary {
            finding_id: format!("f{n}"),
            finding_type: finding_type.to_owned(),
            severity,
            label: SeverityLabel::from_score(severity),
            title: Some(format!("finding {n}")),
            account_id: Some("111122223333".to_owned()),
            account_name: None,
            region: Some("us-east-1".to_owned()),
            console_url: Some(format!(
                "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=f{n}"
            )),
        }
    }

    /// `n` alerts cycling through severities 2, 5, 8, 9.5 (so one in four is Critical) and
    /// three types.
    fn mixed(n: usize) -> Vec<AlertSummary> {
        let sev = [2.0, 5.0, 8.0, 9.5];
        let types = [
            "Recon:EC2/PortProbeUnprotectedPort",
            "Trojan:EC2/DropPoint!DNS",
            "AttackSequence:S3/CompromisedData",
        ];
        (0..n).map(|i| alert(i, sev[i % 4], types[i % 3])).collect()
    }

    fn ids(v: &[AlertSummary]) -> Vec<&str> {
        v.iter().map(|a| a.finding_id.as_str()).collect()
    }

    /// The digest of `alerts`, as a lane builds it.
    fn digest(alerts: Vec<AlertSummary>, sent_individually: usize) -> Digest {
        let mut b = DigestBuilder::default();
        for a in alerts {
            b.add(a);
        }
        b.finish(sent_individually)
    }

    #[test]
    fn a_digest_of_the_non_critical_alerts_in_detail() {
        // Nine alerts, the two Critical ones (f3, f7) sent alone, the other seven digested.
        let (critical, rest): (Vec<_>, Vec<_>) = mixed(9)
            .into_iter()
            .partition(|a| a.label == SeverityLabel::Critical);
        assert_eq!(ids(&critical), ["f3", "f7"]);
        let g = digest(rest, critical.len());
        assert_eq!(g.total, 7);
        assert_eq!(g.sent_individually, 2);
        assert_eq!(g.by_severity.iter().map(|x| x.1).sum::<usize>(), g.total);
        assert_eq!(g.by_type.iter().map(|x| x.1).sum::<usize>(), g.total);
        assert_eq!(
            g.by_severity,
            [
                (SeverityLabel::High, 2),
                (SeverityLabel::Medium, 2),
                (SeverityLabel::Low, 3)
            ]
        );
        // f0 f1 f2 f4 f5 f6 f8: types cycle Recon, Trojan, Attack by index % 3.
        assert_eq!(
            g.by_type,
            [
                ("AttackSequence:S3/CompromisedData".to_owned(), 3),
                ("Recon:EC2/PortProbeUnprotectedPort".to_owned(), 2),
                ("Trojan:EC2/DropPoint!DNS".to_owned(), 2),
            ]
        );
        // Severity desc, ties in input order.
        assert_eq!(ids(&g.top), ["f2", "f6", "f1", "f5", "f0", "f4", "f8"]);
        assert!(g.top.iter().all(|a| a.console_url.is_some()));
    }

    #[test]
    fn top_is_capped_and_sorted() {
        let alerts: Vec<_> = (0..25)
            .map(|i| alert(i, (i % 9) as f64, "Recon:EC2/PortProbeUnprotectedPort"))
            .collect();
        let g = digest(alerts, 0);
        assert_eq!(g.total, 25);
        assert_eq!(g.top.len(), DIGEST_TOP);
        let sev: Vec<f64> = g.top.iter().map(|a| a.severity).collect();
        assert_eq!(sev, [8.0, 8.0, 7.0, 7.0, 6.0, 6.0, 6.0, 5.0, 5.0, 5.0]);
        assert_eq!(ids(&g.top)[..2], ["f8", "f17"]);
    }
}
