//! What an invocation reports: the summary it returns and logs, and its metrics in CloudWatch
//! Embedded Metric Format (one JSON document printed to stdout, which Lambda's log stream turns
//! into metrics without an API call).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::deliver::DestinationCounts;
use crate::deliver::sns::Undelivered;
use crate::pipeline::{Account, Stats};

/// An object that failed.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectFailure {
    /// `s3://bucket/key`, or the SQS message when its body could not be read.
    pub object: String,
    /// What went wrong and what to do.
    pub error: String,
}

/// The summary an invocation returns (and logs).
#[derive(Debug, Clone, Serialize, Default)]
pub struct InvocationSummary {
    /// `s3`, `s3_test_event`, `eventbridge`, `guardduty_finding`, `s3_batch_operations`,
    /// `sqs`, `sns`.
    pub shape: &'static str,
    /// The first invocation of this execution environment.
    pub cold_start: bool,
    /// Export objects referenced by the event.
    pub objects: u64,
    /// Findings that came inside events (`GuardDuty Finding`), not in objects.
    pub event_findings: u64,
    /// Objects skipped (test events, non-export keys, deleted since the event, processed
    /// before).
    pub objects_skipped: u64,
    /// Of those, objects processed in full before (same version or ETag; dedup table only).
    pub objects_already_processed: u64,
    /// Findings alerted without the dedup table because it failed (fail open).
    pub dedup_errors: u64,
    /// The pipeline's account: findings, alerts, suppressed, rejected.
    #[serde(flatten)]
    pub stats: Stats,
    /// Alerts sent individually (an alert sent to two destinations counts twice).
    pub alerts_sent: u64,
    /// Digests sent (rules file only).
    pub digests_sent: u64,
    /// Alerts delivered inside digests.
    pub digested_alerts: u64,
    /// Deliveries that failed after retries or were not attempted in time.
    pub delivery_failures: u64,
    /// Sent and failed, per destination.
    pub deliveries: BTreeMap<String, DestinationCounts>,
    /// Raw findings shortened to fit SNS's size limit.
    pub findings_truncated: u64,
    /// Objects (or SQS messages) that failed.
    pub failures: Vec<ObjectFailure>,
    /// The first undelivered findings (all are logged).
    pub undelivered: Vec<Undelivered>,
    /// Largest export lag seen, in seconds (now minus a finding's `updatedAt`).
    pub export_lag_seconds: Option<f64>,
    /// Every finding accounted for: alerted + suppressed + deduplicated + failed.
    pub account: Account,
}

/// The invocation's metrics as one CloudWatch Embedded Metric Format document.
pub fn emf(namespace: &str, s: &InvocationSummary, elapsed: Duration, timestamp_ms: u64) -> String {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let mut values: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    values.insert("Findings", (s.stats.findings as f64, "Count"));
    // 1 on a cold start, else 0: the Sum counts cold starts, the Average is their share.
    values.insert("ColdStart", (f64::from(u8::from(s.cold_start)), "Count"));
    values.insert("Alerts", (s.stats.alerts as f64, "Count"));
    for (label, name) in [
        ("Low", "AlertsLow"),
        ("Medium", "AlertsMedium"),
        ("High", "AlertsHigh"),
        ("Critical", "AlertsCritical"),
    ] {
        values.insert(
            name,
            (s.stats.alerts_by_severity.get(label) as f64, "Count"),
        );
    }
    values.insert("AlertsSent", (s.alerts_sent as f64, "Count"));
    values.insert("DigestsSent", (s.digests_sent as f64, "Count"));
    values.insert("DigestedAlerts", (s.digested_alerts as f64, "Count"));
    values.insert("Suppressed", (s.stats.suppressed.total() as f64, "Count"));
    values.insert(
        "Deduplicated",
        (s.stats.deduplicated.total() as f64, "Count"),
    );
    values.insert("RejectedLines", (s.stats.rejected.total() as f64, "Count"));
    values.insert("DeliveryFailures", (s.delivery_failures as f64, "Count"));
    values.insert("FindingsAlerted", (s.account.alerted as f64, "Count"));
    values.insert("FindingsFailed", (s.account.failed as f64, "Count"));
    values.insert("ObjectsProcessed", (s.objects as f64, "Count"));
    values.insert("ObjectsFailed", (s.failures.len() as f64, "Count"));
    values.insert(
        "DurationMs",
        (elapsed.as_secs_f64() * 1000.0, "Milliseconds"),
    );
    if let Some(lag) = s.export_lag_seconds {
        values.insert("ExportLagSeconds", (lag, "Seconds"));
    }
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, (_, unit))| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["FunctionName"]],
                "Metrics": metrics,
            }],
        },
        "FunctionName": function,
    });
    for (name, (v, _)) in values {
        doc[name] = json!(v);
    }
    doc.to_string()
}
