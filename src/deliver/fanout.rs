//! Where alerts go: the configured [`Destination`]s (SNS topics and webhooks), an [`Sink`]
//! that hands every alert to each of them and delivers them concurrently at every flush
//! ([`Deliveries`]), the account of what was delivered ([`DeliveryReport`], [`Undelivered`]),
//! and the dry run ([`DryRun`]) that prints, per alert and destination, exactly what would be
//! sent, secrets redacted.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::classify::SeverityLabel;
use crate::common::secret::REDACTED;
use crate::decide::Decision;
use crate::decide::digest::{AlertSummary, DigestBuilder};
use crate::decide::rules::RulesConfig;
use crate::decide::{Record, Sink};
use crate::deliver::sns::{SnsDestination, SnsOutput};
use crate::deliver::webhook::{self, WebhookDestination, WebhookKind, WebhookOutput};
use crate::render::digest::{DigestContext, sns_digest};
use crate::render::sns::render;

/// An alert (or a digest) that was not delivered to a destination, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Undelivered {
    /// The destination's name.
    pub destination: String,
    /// The finding id (for a digest: its id and how many alerts it held).
    pub finding_id: String,
    /// The finding type (`digest` for a digest).
    pub finding_type: String,
    /// Why (the last error; never a secret).
    pub reason: String,
    /// Alerts this delivery stood for: 1, or a digest's total.
    pub alerts: u64,
}

impl Undelivered {
    /// Whether this was a digest (its `alerts` alerts are not named one by one).
    pub fn is_digest(&self) -> bool {
        self.finding_type == "digest" && self.finding_id.starts_with("digest-")
    }
}

/// What happened to the alerts handed to an output.
#[derive(Debug, Clone, Default)]
pub struct DeliveryReport {
    /// Alerts sent individually.
    pub sent: u64,
    /// Digests sent.
    pub digests_sent: u64,
    /// Alerts delivered inside those digests.
    pub digested_alerts: u64,
    /// Deliveries that failed after retries (or were not attempted), each named.
    pub failed: Vec<Undelivered>,
    /// Alerts whose raw finding was shortened to fit a size limit.
    pub truncated: u64,
}

impl DeliveryReport {
    /// Adds another report to this one.
    pub fn add(&mut self, other: DeliveryReport) {
        self.sent += other.sent;
        self.digests_sent += other.digests_sent;
        self.digested_alerts += other.digested_alerts;
        self.truncated += other.truncated;
        self.failed.extend(other.failed);
    }
}

/// Delivered and failed counts of one destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DestinationCounts {
    /// Alerts sent individually.
    pub sent: u64,
    /// Digests sent.
    pub digests: u64,
    /// Alerts delivered inside digests.
    pub digested_alerts: u64,
    /// Deliveries that failed.
    pub failed: u64,
}

/// One configured destination.
#[derive(Debug, Clone)]
pub enum Destination {
    /// An SNS topic.
    Sns(SnsDestination),
    /// A webhook.
    Webhook(WebhookDestination),
}

impl Destination {
    /// The destination's name.
    pub fn name(&self) -> &str {
        match self {
            Destination::Sns(d) => d.name(),
            Destination::Webhook(d) => d.name(),
        }
    }
}

/// An [`Sink`] that gives every alert to its destinations and delivers at every flush, the
/// destinations concurrently. Nothing is sent after the deadline; what is left is reported.
///
/// Without a rules file ([`Deliveries::new`]) every alert goes to every destination, one by
/// one. With one ([`Deliveries::routed`]) each alert goes to the destinations its rule names,
/// and burst control applies per destination and source: alerts are held until the source
/// ends, or until there are more than the destination's digest threshold — then the Critical
/// ones still go out one by one and the rest are gathered into one digest, sent at the end.
pub struct Deliveries<'d> {
    lanes: Vec<Lane<'d>>,
    source: String,
    /// Dry run: what would be sent, as JSON lines, instead of sending.
    preview: Option<Vec<Value>>,
}

/// One destination's share of a source.
struct Lane<'d> {
    dest: &'d Destination,
    out: DestinationOutput<'d>,
    /// `None`: every alert individually, sent at every flush (no rules file).
    threshold: Option<usize>,
    /// Routed alerts so far (this source).
    routed: usize,
    /// Routed alerts sent (or to be sent) individually.
    individually: usize,
    /// More than `threshold` routed: the non-Critical ones go into the digest.
    over: bool,
    /// Summaries of the held alerts below Critical, moved to the digest when `over`.
    held: Vec<AlertSummary>,
    digest: DigestBuilder,
}

enum DestinationOutput<'d> {
    Sns(SnsOutput<'d>),
    Webhook(WebhookOutput<'d>),
    /// A dry run: the lines that would be sent, with a label (for digests).
    Preview(Vec<(SeverityLabel, Value)>),
}

impl<'d> Lane<'d> {
    fn new(
        dest: &'d Destination,
        threshold: Option<usize>,
        deadline: Option<Instant>,
        preview: bool,
    ) -> Self {
        let out = if preview {
            DestinationOutput::Preview(Vec::new())
        } else {
            match dest {
                Destination::Sns(s) => DestinationOutput::Sns(s.output(deadline)),
                Destination::Webhook(w) => DestinationOutput::Webhook(w.output(deadline)),
            }
        };
        Lane {
            dest,
            out,
            threshold,
            routed: 0,
            individually: 0,
            over: false,
            held: Vec::new(),
            digest: DigestBuilder::default(),
        }
    }

    fn push(&mut self, r: &Record<'_>) {
        match &mut self.out {
            DestinationOutput::Sns(s) => s.push(r),
            DestinationOutput::Webhook(w) => w.push(r),
            DestinationOutput::Preview(lines) => {
                lines.push((r.class.label, dry_run_line(self.dest, r)));
            }
        }
    }

    /// A routed alert: individually, held, or into the digest.
    fn route(&mut self, r: &Record<'_>) {
        let Some(threshold) = self.threshold else {
            self.individually += 1;
            self.push(r);
            return;
        };
        self.routed += 1;
        let critical = r.class.label == SeverityLabel::Critical;
        if self.over {
            if critical {
                self.individually += 1;
                self.push(r);
            } else {
                self.digest.add(summary(r));
            }
            return;
        }
        self.individually += 1;
        self.push(r);
        if !critical {
            self.held.push(summary(r));
        }
        if self.routed > threshold {
            // Over the threshold: what was held below Critical goes into the digest instead.
            self.over = true;
            self.individually -= self.held.len();
            for a in self.held.drain(..) {
                self.digest.add(a);
            }
            match &mut self.out {
                DestinationOutput::Sns(s) => s.keep_only_critical(),
                DestinationOutput::Webhook(w) => w.keep_only_critical(),
                DestinationOutput::Preview(lines) => {
                    lines.retain(|(l, _)| *l == SeverityLabel::Critical);
                }
            }
        }
    }

    /// Whether queued alerts may go out now: always without a threshold, and once over it
    /// (the Critical ones); otherwise only at the end of the source.
    fn may_send(&self, finish: bool) -> bool {
        finish || self.threshold.is_none() || self.over
    }

    fn queue_digest(&mut self, source: &str) {
        if self.digest.is_empty() {
            return;
        }
        let digest = std::mem::take(&mut self.digest).finish(self.individually);
        let ctx = DigestContext {
            digest: &digest,
            source,
            destination: self.dest.name(),
        };
        match &mut self.out {
            DestinationOutput::Sns(s) => s.push_digest(&ctx),
            DestinationOutput::Webhook(w) => w.push_digest(&ctx),
            DestinationOutput::Preview(lines) => {
                lines.push((ctx.top_label(), dry_run_digest_line(self.dest, &ctx)));
            }
        }
    }
}

/// The owned summary of an alert, for a digest.
fn summary(r: &Record<'_>) -> AlertSummary {
    let mut a = AlertSummary::new(r.finding, r.class);
    a.account_name = r.account_name.map(str::to_owned);
    a
}

impl<'d> Deliveries<'d> {
    /// Every alert to each of `destinations`, individually (no rules file).
    pub fn new(destinations: &'d [Destination], deadline: Option<Instant>) -> Self {
        Deliveries {
            lanes: destinations
                .iter()
                .map(|d| Lane::new(d, None, deadline, false))
                .collect(),
            source: String::new(),
            preview: None,
        }
    }

    /// Alerts where a rules file routes them: `destinations[i]` is the file's destination `i`,
    /// with its digest threshold.
    pub fn routed(
        destinations: &'d [Destination],
        rules: &RulesConfig,
        deadline: Option<Instant>,
    ) -> Self {
        Deliveries {
            lanes: destinations
                .iter()
                .zip(rules.destinations())
                .map(|(d, r)| Lane::new(d, Some(r.digest_threshold), deadline, false))
                .collect(),
            source: String::new(),
            preview: None,
        }
    }

    /// The same, sending nothing: [`Deliveries::take_preview`] returns what would be sent.
    fn previewing(mut self) -> Self {
        for lane in &mut self.lanes {
            lane.out = DestinationOutput::Preview(Vec::new());
        }
        self.preview = Some(Vec::new());
        self
    }

    /// Sends what may go now, every destination at once. Webhooks keep up to their concurrency
    /// in flight across flushes (no lull at each chunk); with `finish`, digests are queued and
    /// everything completes.
    async fn deliver(&mut self, finish: bool) {
        if finish {
            for lane in &mut self.lanes {
                lane.queue_digest(&self.source);
            }
        }
        let preview = &mut self.preview;
        let mut sends = Vec::new();
        for lane in &mut self.lanes {
            if !lane.may_send(finish) {
                continue;
            }
            match &mut lane.out {
                DestinationOutput::Preview(lines) => {
                    if let Some(p) = preview.as_mut() {
                        p.extend(lines.drain(..).map(|(_, v)| v));
                    }
                }
                out => sends.push(out),
            }
        }
        futures_util::future::join_all(sends.into_iter().map(|o| async move {
            match o {
                DestinationOutput::Sns(s) => s.send_pending().await,
                DestinationOutput::Webhook(w) => w.send(finish).await,
                DestinationOutput::Preview(_) => {}
            }
        }))
        .await;
        if finish {
            for lane in &mut self.lanes {
                lane.routed = 0;
                lane.individually = 0;
                lane.over = false;
                lane.held.clear();
            }
        }
    }

    /// A dry run's lines so far.
    fn take_preview(&mut self) -> Vec<Value> {
        self.preview
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The report of each destination, by name, once [`Sink::finish`] is done.
    pub fn into_reports(self) -> Vec<(String, DeliveryReport)> {
        self.lanes
            .into_iter()
            .filter_map(|l| match l.out {
                DestinationOutput::Sns(s) => Some((s.name().to_owned(), s.into_report())),
                DestinationOutput::Webhook(w) => Some((w.name().to_owned(), w.into_report())),
                DestinationOutput::Preview(_) => None,
            })
            .collect()
    }
}

impl crate::decide::DeliveryFailures for Deliveries<'_> {
    fn failed_findings(&self) -> (std::collections::HashSet<String>, bool) {
        let mut ids = std::collections::HashSet::new();
        let mut digest = false;
        for lane in &self.lanes {
            let report = match &lane.out {
                DestinationOutput::Sns(s) => s.report(),
                DestinationOutput::Webhook(w) => w.report(),
                DestinationOutput::Preview(_) => continue,
            };
            for u in &report.failed {
                if u.is_digest() {
                    digest = true;
                } else {
                    ids.insert(u.finding_id.clone());
                }
            }
        }
        (ids, digest)
    }
}

impl Sink for Deliveries<'_> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        if self.source != r.source {
            self.source.clear();
            self.source.push_str(r.source);
        }
        match r.decision {
            Decision::Alert => {
                for lane in &mut self.lanes {
                    lane.route(r);
                }
            }
            Decision::Routed { to, digest, .. } => {
                for &i in to {
                    let Some(lane) = self.lanes.get_mut(i) else {
                        continue;
                    };
                    if digest {
                        lane.digest.add(summary(r));
                    } else {
                        lane.route(r);
                    }
                }
            }
            Decision::Suppressed(_) | Decision::RuleSuppressed { .. } => {}
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.deliver(false).await;
        Ok(())
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.deliver(true).await;
        Ok(())
    }
}

/// How many alerts the failures stand for: each finding once however many destinations it
/// failed for, and every alert of a failed digest.
pub fn failed_alerts(failed: &[Undelivered]) -> u64 {
    let mut ids = std::collections::HashSet::new();
    let mut in_digests = 0;
    for u in failed {
        if u.is_digest() {
            in_digests += u.alerts;
        } else {
            ids.insert(u.finding_id.as_str());
        }
    }
    ids.len() as u64 + in_digests
}

/// Totals per destination name, from reports.
pub fn counts_by_destination(
    reports: &[(String, DeliveryReport)],
) -> BTreeMap<String, DestinationCounts> {
    let mut m: BTreeMap<String, DestinationCounts> = BTreeMap::new();
    for (name, r) in reports {
        let c = m.entry(name.clone()).or_default();
        c.sent += r.sent;
        c.digests += r.digests_sent;
        c.digested_alerts += r.digested_alerts;
        c.failed += r.failed.len() as u64;
    }
    m
}

/// An [`Sink`] that sends nothing: for each alert and destination it writes one JSON line
/// with exactly what would be sent, secrets (webhook URLs, routing keys, signing secrets,
/// static header values) shown as `***`. With a rules file, digests are shown as they would be
/// sent, and every suppressed finding gets a line naming the rule and its reason.
pub struct DryRun<'d, W: Write> {
    deliveries: Deliveries<'d>,
    out: W,
}

impl<'d, W: Write> DryRun<'d, W> {
    /// A dry run over `destinations` (every alert to each), writing to `out`.
    pub fn new(destinations: &'d [Destination], out: W) -> Self {
        DryRun {
            deliveries: Deliveries::new(destinations, None).previewing(),
            out,
        }
    }

    /// A dry run of a rules file over its resolved `destinations`, writing to `out`.
    pub fn routed(destinations: &'d [Destination], rules: &RulesConfig, out: W) -> Self {
        DryRun {
            deliveries: Deliveries::routed(destinations, rules, None).previewing(),
            out,
        }
    }

    fn write_preview(&mut self) -> io::Result<()> {
        for v in self.deliveries.take_preview() {
            serde_json::to_writer(&mut self.out, &v)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}

/// The dry-run line of one alert for one destination.
pub fn dry_run_line(d: &Destination, r: &Record<'_>) -> Value {
    let finding_id = r.finding.id.get().unwrap_or_default();
    let mut v = match d {
        Destination::Sns(s) => sns_line(s, &render(r, s.format())),
        Destination::Webhook(w) => {
            let t = w.target();
            let body = webhook::payload(t.kind, r, None);
            let delivery_id = crate::common::hash::dedup_id(finding_id, r.finding.updated_at.get());
            webhook_line(t, &delivery_id, body)
        }
    };
    v["finding_id"] = json!(finding_id);
    if let Some(rule) = r.decision.rule() {
        v["rule"] = json!(rule);
    }
    v
}

/// The dry-run line of a digest for one destination.
pub fn dry_run_digest_line(d: &Destination, ctx: &DigestContext<'_>) -> Value {
    let mut v = match d {
        Destination::Sns(s) => sns_line(s, &sns_digest(ctx, s.format())),
        Destination::Webhook(w) => {
            let t = w.target();
            webhook_line(t, &ctx.id(), webhook::digest_payload(t.kind, ctx, None))
        }
    };
    v["digest"] = json!({"id": ctx.id(), "alerts": ctx.digest.total});
    v
}

fn sns_line(
    s: &crate::deliver::sns::SnsDestination,
    m: &crate::render::sns::AlertMessage,
) -> Value {
    let attributes: Map<String, Value> = m
        .attributes
        .iter()
        .map(|a| {
            (
                a.name.to_owned(),
                json!({"DataType": a.data_type, "StringValue": a.value}),
            )
        })
        .collect();
    let mut v = json!({
        "destination": s.name(),
        "kind": "sns",
        "topic_arn": s.topic_arn(),
        "subject": m.subject,
        "message_attributes": attributes,
        "message": m.body,
    });
    if s.is_fifo() {
        v["message_group_id"] = json!(m.group_id);
        v["message_deduplication_id"] = json!(m.dedup_id);
    }
    v
}

fn webhook_line(t: &webhook::WebhookTarget, delivery_id: &str, body: String) -> Value {
    let headers: Map<String, Value> = webhook::headers(t, delivery_id, 0, body.as_bytes(), true)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let mut v = json!({
        "destination": t.name,
        "kind": t.kind.as_str(),
        "method": "POST",
        "url": REDACTED,
        "headers": headers,
        "body": body,
    });
    if t.kind == WebhookKind::Generic && t.signing_secret.is_some() {
        v["signed"] = json!(true);
    }
    v
}

impl<W: Write + Send> Sink for DryRun<'_, W> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        if let Decision::RuleSuppressed { reason, .. } = r.decision {
            let line = json!({
                "finding_id": r.finding.id.get().unwrap_or_default(),
                "type": r.finding.type_str(),
                "severity": r.finding.severity(),
                "decision": "suppressed",
                "rule": r.decision.rule(),
                "reason": reason,
            });
            serde_json::to_writer(&mut self.out, &line)?;
            self.out.write_all(b"\n")?;
        }
        self.deliveries.record(r)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.deliveries.deliver(false).await;
        self.write_preview()
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.deliveries.deliver(true).await;
        self.write_preview()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;
    use crate::common::secret::Secret;
    use crate::decide::Decide;
    use crate::deliver::webhook::{HttpSettings, WebhookDestination, WebhookTarget};
    use crate::export::finding::Finding;

    const RULES: &str = r#"
        [settings]
        digest_threshold = 3
        [destinations.a]
        type = "webhook"
        url = { env = "UNUSED_A" }
        [destinations.b]
        type = "webhook"
        url = { env = "UNUSED_B" }
        digest_threshold = 100
        [[rules]]
        name = "low"
        match = { severity = "low" }
        action = "suppress"
        reason = "too low"
        [[rules]]
        name = "recon"
        match = { purposes = ["Recon"] }
        action = "digest"
        destinations = ["a"]
        [[rules]]
        name = "rest"
        match = {}
        action = "route"
        destinations = ["a", "b"]
    "#;

    fn destinations(rules: &RulesConfig) -> Vec<Destination> {
        let client = webhook::http_client(&HttpSettings::default()).unwrap();
        rules
            .destinations()
            .iter()
            .map(|d| {
                Destination::Webhook(WebhookDestination::new(
                    WebhookTarget {
                        name: d.name.clone(),
                        kind: WebhookKind::Generic,
                        url: Secret::new("https://example.invalid/hook"),
                        routing_key: None,
                        signing_secret: None,
                        headers: Vec::new(),
                        limits: WebhookKind::Generic.default_limits(),
                    },
                    client.clone(),
                    HttpSettings::default(),
                ))
            })
            .collect()
    }

    fn line(i: usize, ty: &str, severity: f64) -> String {
        format!(
            r#"{{"id":"f{i}","type":"{ty}","severity":{severity},"accountId":"111122223333","region":"us-east-1"}}"#
        )
    }

    /// Runs findings (type, severity) through a routed dry run; returns the lines written.
    async fn preview(findings: &[(&str, f64)]) -> Vec<Value> {
        let rules = RulesConfig::from_toml_str(RULES, "test.toml").unwrap();
        let dests = destinations(&rules);
        let mut buf = Vec::new();
        {
            let mut out = DryRun::routed(&dests, &rules, &mut buf);
            for (i, (ty, sev)) in findings.iter().enumerate() {
                let raw = line(i, ty, *sev);
                let f = Finding::parse(&raw).unwrap();
                let c = classify(&f);
                out.record(&Record {
                    source: "s3://bucket/export.jsonl.gz",
                    line: i as u64 + 1,
                    finding: &f,
                    class: &c,
                    decision: Decide::decide(&rules, &f, &c),
                    raw: &raw,
                    account_name: None,
                    rules: Some(&rules),
                })
                .unwrap();
                if i % 2 == 1 {
                    out.flush().await.unwrap();
                }
            }
            out.finish().await.unwrap();
        }
        String::from_utf8(buf)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// (individual alert lines, digest alerts) per destination.
    fn tally(lines: &[Value], dest: &str) -> (usize, Option<u64>) {
        let mine = lines.iter().filter(|l| l["destination"] == dest);
        let individual = mine.clone().filter(|l| l.get("digest").is_none()).count();
        let digest = mine
            .filter_map(|l| l.get("digest"))
            .map(|d| d["alerts"].as_u64().unwrap())
            .reduce(|a, b| a + b);
        (individual, digest)
    }

    const MEDIUM: (&str, f64) = ("Backdoor:EC2/C&CActivity.B", 5.0);
    const CRITICAL: (&str, f64) = ("AttackSequence:IAM/CompromisedCredentials", 9.5);
    const RECON: (&str, f64) = ("Recon:EC2/PortProbeUnprotectedPort", 8.0);
    const LOW: (&str, f64) = ("Backdoor:EC2/C&CActivity.B", 2.0);

    #[tokio::test]
    async fn burst_control_at_and_around_the_threshold() {
        // (mediums, criticals, recons) -> destination a (threshold 3): (individual, digest);
        // destination b (threshold 100): individual.
        let cases = [
            ((0, 0, 0), (0, None), 0),
            ((3, 0, 0), (3, None), 3),
            ((2, 1, 0), (3, None), 3),
            // One over: the Critical still alone, the 3 mediums in a digest.
            ((3, 1, 0), (1, Some(3)), 4),
            ((4, 0, 0), (0, Some(4)), 4),
            ((10, 2, 0), (2, Some(10)), 12),
            ((0, 5, 0), (5, None), 5),
            // A digest rule always digests, even below the threshold and at severity 8.
            ((1, 0, 2), (1, Some(2)), 1),
            ((4, 0, 2), (0, Some(6)), 4),
        ];
        for ((m, c, r), (want_a, want_digest), want_b) in cases {
            let mut findings = Vec::new();
            findings.extend(std::iter::repeat_n(MEDIUM, m));
            findings.extend(std::iter::repeat_n(RECON, r));
            findings.extend(std::iter::repeat_n(CRITICAL, c));
            findings.push(LOW);
            let lines = preview(&findings).await;
            assert_eq!(tally(&lines, "a"), (want_a, want_digest), "a: {m} {c} {r}");
            assert_eq!(tally(&lines, "b"), (want_b, None), "b: {m} {c} {r}");
            // Every line of an alert names its rule; the suppressed one names its reason.
            let suppressed: Vec<&Value> = lines
                .iter()
                .filter(|l| l["decision"] == "suppressed")
                .collect();
            assert_eq!(suppressed.len(), 1);
            assert_eq!(suppressed[0]["rule"], "low");
            assert_eq!(suppressed[0]["reason"], "too low");
            for l in lines.iter().filter(|l| l["destination"].is_string()) {
                assert!(l.get("digest").is_some() || l["rule"] == "rest", "{l}");
            }
        }
    }
}
