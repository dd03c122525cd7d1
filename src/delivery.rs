//! Where alerts go: the configured [`Destination`]s (SNS topics and webhooks), an [`Output`]
//! that hands every alert to each of them and delivers them concurrently at every flush
//! ([`Deliveries`]), the account of what was delivered ([`DeliveryReport`], [`Undelivered`]),
//! and the dry run ([`DryRun`]) that prints, per alert and destination, exactly what would be
//! sent, secrets redacted.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::alert::render;
use crate::decision::Decision;
use crate::pipeline::{Output, Record};
use crate::secret::REDACTED;
use crate::sns::{SnsDestination, SnsOutput};
use crate::webhook::{self, WebhookDestination, WebhookKind, WebhookOutput};

/// Exponential backoff with ±50% jitter, shared by every destination: `base` × 4^(retry-1), at
/// most `max`, times a factor from 0.5 to 1.5.
pub fn backoff(base: Duration, retry: u32, max: Duration) -> Duration {
    let exp = base
        .saturating_mul(4u32.saturating_pow(retry.saturating_sub(1)))
        .min(max);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    exp.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0)
}

/// An alert that was not delivered to a destination, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Undelivered {
    /// The destination's name.
    pub destination: String,
    /// The finding id.
    pub finding_id: String,
    /// The finding type.
    pub finding_type: String,
    /// Why (the last error; never a secret).
    pub reason: String,
}

/// What happened to the alerts handed to an output.
#[derive(Debug, Clone, Default)]
pub struct DeliveryReport {
    /// Deliveries that succeeded.
    pub sent: u64,
    /// Deliveries that failed after retries (or were not attempted), each named.
    pub failed: Vec<Undelivered>,
    /// Alerts whose raw finding was shortened to fit a size limit.
    pub truncated: u64,
}

impl DeliveryReport {
    /// Adds another report to this one.
    pub fn add(&mut self, other: DeliveryReport) {
        self.sent += other.sent;
        self.truncated += other.truncated;
        self.failed.extend(other.failed);
    }
}

/// Delivered and failed counts of one destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DestinationCounts {
    /// Deliveries that succeeded.
    pub sent: u64,
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

/// An [`Output`] that gives every alert to each destination and delivers at every flush, the
/// destinations concurrently. Nothing is sent after the deadline; what is left is reported.
pub struct Deliveries<'d> {
    outputs: Vec<DestinationOutput<'d>>,
}

enum DestinationOutput<'d> {
    Sns(SnsOutput<'d>),
    Webhook(WebhookOutput<'d>),
}

impl<'d> Deliveries<'d> {
    /// An output over `destinations` for one source.
    pub fn new(destinations: &'d [Destination], deadline: Option<Instant>) -> Self {
        Deliveries {
            outputs: destinations
                .iter()
                .map(|d| match d {
                    Destination::Sns(s) => DestinationOutput::Sns(s.output(deadline)),
                    Destination::Webhook(w) => DestinationOutput::Webhook(w.output(deadline)),
                })
                .collect(),
        }
    }

    /// Sends what is queued, every destination at once. Webhooks keep up to their concurrency
    /// in flight across flushes (no lull at each chunk); with `finish`, everything completes.
    async fn deliver(&mut self, finish: bool) {
        futures_util::future::join_all(self.outputs.iter_mut().map(|o| async move {
            match o {
                DestinationOutput::Sns(s) => s.send_pending().await,
                DestinationOutput::Webhook(w) => w.send(finish).await,
            }
        }))
        .await;
    }

    /// The report of each destination, by name, once [`Output::finish`] is done.
    pub fn into_reports(self) -> Vec<(String, DeliveryReport)> {
        self.outputs
            .into_iter()
            .map(|o| match o {
                DestinationOutput::Sns(s) => (s.name().to_owned(), s.into_report()),
                DestinationOutput::Webhook(w) => (w.name().to_owned(), w.into_report()),
            })
            .collect()
    }
}

impl Output for Deliveries<'_> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        if r.decision != Decision::Alert {
            return Ok(());
        }
        for o in &mut self.outputs {
            match o {
                DestinationOutput::Sns(s) => s.push(r),
                DestinationOutput::Webhook(w) => w.push(r),
            }
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

/// Totals per destination name, from reports.
pub fn counts_by_destination(
    reports: &[(String, DeliveryReport)],
) -> BTreeMap<String, DestinationCounts> {
    let mut m: BTreeMap<String, DestinationCounts> = BTreeMap::new();
    for (name, r) in reports {
        let c = m.entry(name.clone()).or_default();
        c.sent += r.sent;
        c.failed += r.failed.len() as u64;
    }
    m
}

/// An [`Output`] that sends nothing: for each alert and destination it writes one JSON line
/// with exactly what would be sent, secrets (webhook URLs, routing keys, signing secrets,
/// static header values) shown as `***`.
pub struct DryRun<'d, W: Write> {
    destinations: &'d [Destination],
    out: W,
}

impl<'d, W: Write> DryRun<'d, W> {
    /// A dry run over `destinations`, writing to `out`.
    pub fn new(destinations: &'d [Destination], out: W) -> Self {
        DryRun { destinations, out }
    }
}

/// The dry-run line of one alert for one destination.
pub fn dry_run_line(d: &Destination, r: &Record<'_>) -> Value {
    let finding_id = r.finding.id.get().unwrap_or_default();
    match d {
        Destination::Sns(s) => {
            let m = render(r, s.format());
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
                "finding_id": finding_id,
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
        Destination::Webhook(w) => {
            let t = w.target();
            let body = webhook::payload(t.kind, r, None);
            let delivery_id = crate::alert::dedup_id(finding_id, r.finding.updated_at.get());
            let headers: Map<String, Value> =
                webhook::headers(t, &delivery_id, 0, body.as_bytes(), true)
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            let mut v = json!({
                "destination": t.name,
                "kind": t.kind.as_str(),
                "finding_id": finding_id,
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
    }
}

impl<W: Write + Send> Output for DryRun<'_, W> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        if r.decision != Decision::Alert {
            return Ok(());
        }
        for d in self.destinations {
            serde_json::to_writer(&mut self.out, &dry_run_line(d, r))?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
