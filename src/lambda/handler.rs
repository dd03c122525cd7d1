//! The handler: every trigger shape through the same pipeline as the CLI, source by source,
//! with the failure semantics of each shape (SQS partial batches, Batch Operations task
//! results, failed invocations for Lambda's retries) and the invocation's summary.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info, warn};

use super::App;
use super::summary::{InvocationSummary, ObjectFailure, emf};
use crate::common::env::parse_bool;
use crate::common::time::parse_timestamp;
use crate::decide::Decide;
use crate::decide::{Record, Sink};
use crate::deliver::{Deliveries, counts_by_destination};
use crate::pipeline::DedupStage;
use crate::pipeline::{Account, SourceError, Stats, process_source};
use crate::source::{OpenError, SourceRef};
use crate::trigger::{self, ObjectRef, Shape};

/// Undelivered findings listed in a response or error message (all are logged).
const UNDELIVERED_LISTED: usize = 50;

/// Runs one object through the pipeline into `out` (export lag measured on the way); returns
/// the outcome and the output, for its report.
async fn run_object<O: Sink + Send>(
    app: &App,
    src: &SourceRef,
    out: O,
    lag: &mut LagMeter,
    stats: &mut Stats,
) -> (Result<(), SourceError>, O) {
    let mut out = Metered { inner: out, lag };
    let result = process_source(
        src,
        &app.opener,
        &app.config.reader,
        &app.decider,
        &mut out,
        stats,
    )
    .await;
    (result, out.inner)
}

/// Until when a dedup claim holds (epoch seconds): the invocation's deadline and a few seconds
/// (`deadline` is the delivery deadline, a little before the function's own), or 15 minutes —
/// Lambda's longest timeout — without one.
fn lease_until(deadline: Option<Instant>) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match deadline {
        Some(d) => now + d.saturating_duration_since(Instant::now()).as_secs() + 5,
        None => now + 900,
    }
}

/// Time kept back from the Lambda's deadline for wrapping up (reporting what was not
/// delivered, metrics, the response): a tenth of the time left, between 0.5 and 3 seconds.
///
/// `None` when the runtime's deadline is not a plausible epoch time (more than an hour in the
/// past): cargo-lambda's emulator sends its timeout (`600000`) there instead of a time. Then only
/// the function's own timeout applies.
pub fn delivery_deadline(deadline_ms: u64, now_ms: u64) -> Option<Instant> {
    if deadline_ms.saturating_add(3_600_000) < now_ms {
        return None;
    }
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    let reserve = (left / 10).clamp(Duration::from_millis(500), Duration::from_secs(3));
    Some(Instant::now() + left.saturating_sub(reserve))
}

/// A failed invocation, with a stable error type for Lambda's error reporting.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InvocationError {
    /// `UnrecognisedEvent`, `ObjectFailed` or `DeliveryFailed`.
    pub kind: &'static str,
    /// What failed, what was not delivered.
    pub message: String,
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.kind.to_owned(),
            error_message: e.message,
        }
    }
}

/// Handles one event without a deadline (see [`handle_until`]).
pub async fn handle(app: &App, event: Value) -> Result<Value, InvocationError> {
    handle_until(app, event, None).await
}

/// What became of one source (an object, or the findings of an event).
#[derive(Debug)]
enum Ran {
    /// Read to its end, every alert delivered: the source's findings and alerts.
    Done { findings: u64, alerts: u64 },
    /// Processed in full before (same version or ETag, dedup table only): not read again.
    AlreadyDone,
    /// Deleted since the event: nothing to retry.
    Missing(String),
    /// Failed: what went wrong, and whether trying again may help (throttling, a network
    /// failure, an alert not delivered) or not (damaged gzip, access denied, not an export).
    Failed { reason: String, temporary: bool },
}

/// One invocation's work, source by source, and its account so far.
struct Invocation<'a> {
    app: &'a App,
    deadline: Option<Instant>,
    /// Alert again what the dedup table says was alerted (a Batch Operations job's
    /// `realert` user argument): the table is not consulted.
    realert: bool,
    summary: InvocationSummary,
    lag: LagMeter,
    failed_alerts: u64,
}

impl Invocation<'_> {
    /// Runs one source through the pipeline and delivers its alerts; `object_id` (bucket, key,
    /// version or ETag) lets the dedup table skip an object processed in full before.
    async fn run(&mut self, src: SourceRef, object_id: Option<String>) -> Ran {
        let app = self.app;
        let store = app.dedup.as_ref().filter(|_| !self.realert);
        if let (Some(store), Some(id)) = (store, &object_id) {
            match store.object_done(id).await {
                Ok(Some(done_at)) => {
                    info!(object = %src, done_at, "already processed (same version or ETag); skipped");
                    self.summary.objects_skipped += 1;
                    self.summary.objects_already_processed += 1;
                    return Ran::AlreadyDone;
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(object = %src, error = %e, "cannot tell whether the object was processed before; processing it")
                }
            }
        }
        let inner = match app.decider.rules() {
            None => Deliveries::new(&app.destinations, self.deadline),
            Some(rules) => Deliveries::routed(&app.destinations, rules, self.deadline),
        };
        let mut stats = Stats::default();
        let (result, deliveries) = match store {
            None => run_object(app, &src, inner, &mut self.lag, &mut stats).await,
            Some(store) => {
                let stage = DedupStage::new(store, inner, lease_until(self.deadline));
                let (result, stage) = run_object(app, &src, stage, &mut self.lag, &mut stats).await;
                stats.deduplicate(&stage.deduplicated, stage.deduplicated_by_label);
                self.summary.dedup_errors += stage.errors;
                (result, stage.into_inner())
            }
        };
        let summary = &mut self.summary;
        summary.stats.add(&stats);
        let reports = deliveries.into_reports();
        for (name, c) in counts_by_destination(&reports) {
            let total = summary.deliveries.entry(name).or_default();
            total.sent += c.sent;
            total.digests += c.digests;
            total.digested_alerts += c.digested_alerts;
            total.failed += c.failed;
        }
        let mut report = crate::deliver::DeliveryReport::default();
        for (_, r) in reports {
            report.add(r);
        }
        let failed_alerts = crate::deliver::failed_alerts(&report.failed);
        self.failed_alerts += failed_alerts;
        summary.alerts_sent += report.sent;
        summary.digests_sent += report.digests_sent;
        summary.digested_alerts += report.digested_alerts;
        summary.findings_truncated += report.truncated;
        let undelivered = (!report.failed.is_empty()).then(|| {
            summary.delivery_failures += report.failed.len() as u64;
            for u in &report.failed {
                error!(object = %src, destination = %u.destination, finding_id = %u.finding_id, finding_type = %u.finding_type, reason = %u.reason, "alert not delivered");
            }
            let first = &report.failed[0];
            let text = format!(
                "{failed_alerts} alert(s) not delivered (first: {} to {}: {})",
                first.finding_id, first.destination, first.reason
            );
            let room = UNDELIVERED_LISTED.saturating_sub(summary.undelivered.len());
            summary
                .undelivered
                .extend(report.failed.into_iter().take(room));
            text
        });
        match (result, undelivered) {
            (Ok(()), None) => {
                if let (Some(store), Some(id)) = (store, &object_id)
                    && let Err(e) = store.mark_object_done(id, now_millis() / 1000).await
                {
                    warn!(object = %src, error = %e, "could not record the object as processed; a redelivery of its event is deduplicated finding by finding");
                }
                Ran::Done {
                    findings: stats.findings,
                    alerts: stats.alerts,
                }
            }
            (Ok(()), Some(undelivered)) => Ran::Failed {
                reason: undelivered,
                temporary: true,
            },
            (Err(e @ SourceError::Open(OpenError::NotFound { .. })), None) => {
                warn!(object = %src, "{e}; skipped");
                summary.objects_skipped += 1;
                summary.stats.sources_failed -= 1;
                Ran::Missing(e.to_string())
            }
            (Err(e), undelivered) => {
                error!(object = %src, error = %e, "object failed");
                summary.failures.push(ObjectFailure {
                    object: src.to_string(),
                    error: e.to_string(),
                });
                let temporary = undelivered.is_some() || is_temporary(&e);
                let reason = match undelivered {
                    Some(u) => format!("{e}; {u}"),
                    None => e.to_string(),
                };
                Ran::Failed { reason, temporary }
            }
        }
    }
}

/// Whether trying a failed source again may help: throttling and network failures may pass;
/// a damaged object, a missing permission, a refused kind of source do not.
fn is_temporary(e: &SourceError) -> bool {
    use crate::export::ReadError;
    match e {
        SourceError::Open(OpenError::Other { retryable, .. }) => *retryable,
        SourceError::Open(_) => false,
        SourceError::Read { error, .. } => match error {
            ReadError::Stream { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ),
            ReadError::TooLarge { .. } => false,
            ReadError::Sink { .. } => true,
        },
    }
}

/// The object id the dedup table records an object under: bucket, key and version (or ETag).
fn object_id(obj: &ObjectRef) -> Option<String> {
    obj.version_id
        .as_deref()
        .or(obj.etag.as_deref())
        .map(|v| crate::state::object_id(&obj.bucket, &obj.key, v))
}

/// Handles one event. Returns the summary; for SQS also `batchItemFailures`; for S3 Batch
/// Operations the result of every task. Nothing is sent after `deadline`: alerts left then are
/// reported as not delivered, and fail the invocation (or the SQS message, or the task) like
/// any failed delivery.
pub async fn handle_until(
    app: &App,
    event: Value,
    deadline: Option<Instant>,
) -> Result<Value, InvocationError> {
    let started = Instant::now();
    let invocation = trigger::parse_event(&event).map_err(|e| {
        error!(error = %e, "unrecognised event");
        InvocationError {
            kind: "UnrecognisedEvent",
            message: e.to_string(),
        }
    })?;
    if invocation.shape == Shape::Schedule {
        return Ok(health_check(app, event.get("account").and_then(Value::as_str)).await);
    }
    let realert = invocation
        .batch
        .as_ref()
        .and_then(|b| b.user_arguments.get("realert"))
        .is_some_and(|v| parse_bool(v) == Some(true));
    let mut run = Invocation {
        app,
        deadline,
        realert,
        summary: InvocationSummary {
            shape: invocation.shape.as_str(),
            cold_start: first_invocation(),
            ..Default::default()
        },
        lag: LagMeter::new(SystemTime::now()),
        failed_alerts: 0,
    };
    if realert {
        info!(
            "realert: the job's user argument asks for every alert again; the dedup table is not consulted"
        );
    }
    let mut failed_messages: Vec<String> = Vec::new();
    let mut results: Vec<TaskResult> = Vec::new();
    for unit in invocation.units {
        let mut unit_failed = false;
        let mut outcome = UnitOutcome::default();
        for s in &unit.skipped {
            info!(what = %s.what, reason = s.reason.as_str(), event = s.event.as_deref().unwrap_or("-"), "skipped");
            run.summary.objects_skipped += 1;
            outcome.skipped.push(s.to_string());
        }
        let (objects, findings) = if let Some(err) = &unit.error {
            // Part of the payload is unreadable: process none of it, so that the retry (or
            // the on-failure destination) sees the whole unit once, without duplicate alerts.
            error!(
                message_id = unit.message_id.as_deref().unwrap_or("-"),
                task_id = unit.task_id.as_deref().unwrap_or("-"),
                error = %err,
                not_processed = unit.objects.len() + unit.findings.len(),
                "event payload not understood; none of its objects were processed"
            );
            let object = match (&unit.message_id, &unit.task_id) {
                (Some(id), _) => format!("SQS message {id}"),
                (None, Some(id)) => format!("Batch Operations task {id}"),
                (None, None) => "event".to_owned(),
            };
            run.summary.failures.push(ObjectFailure {
                object,
                error: err.clone(),
            });
            unit_failed = true;
            outcome.add(Ran::Failed {
                reason: format!("the task cannot be read: {err}"),
                temporary: false,
            });
            (Vec::new(), Vec::new())
        } else {
            (unit.objects, unit.findings)
        };
        for obj in objects {
            run.summary.objects += 1;
            let id = object_id(&obj);
            let ran = run.run(SourceRef::S3(obj), id).await;
            unit_failed |= matches!(ran, Ran::Failed { .. });
            outcome.add(ran);
        }
        for finding in findings {
            run.summary.event_findings += 1;
            let src = SourceRef::Inline {
                name: finding.name,
                body: finding.json.into(),
            };
            let ran = run.run(src, None).await;
            unit_failed |= matches!(ran, Ran::Failed { .. });
            outcome.add(ran);
        }
        if unit_failed && let Some(id) = &unit.message_id {
            failed_messages.push(id.clone());
        }
        if let Some(task_id) = unit.task_id {
            results.push(outcome.task_result(task_id));
        }
    }
    let mut summary = run.summary;
    summary.export_lag_seconds = run.lag.max;
    summary.account = Account::new(&summary.stats, run.failed_alerts);
    if !summary.account.balanced {
        error!(account = ?summary.account, "the account does not balance: findings != alerted + suppressed + deduplicated + failed (a bug: please report it)");
    }
    let elapsed = started.elapsed();
    if let Some(ns) = &app.config.metrics_namespace {
        println!("{}", emf(ns, &summary, elapsed, now_millis()));
    }
    let response = serde_json::to_value(&summary).unwrap_or_else(|_| json!({}));
    log_summary(&summary, &response, elapsed);
    let mut response = response;
    if let Some(job) = &invocation.batch {
        // Batch Operations reads exactly these members; the summary is in the log.
        for r in &results {
            info!(job_id = %job.job_id, task_id = %r.task_id, result_code = r.result_code, result = %r.result_string, "task result");
        }
        return Ok(json!({
            "invocationSchemaVersion": job.schema_version,
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": job.invocation_id,
            "results": results,
        }));
    }
    if invocation.shape == Shape::Sqs {
        response["batchItemFailures"] = failed_messages
            .iter()
            .map(|id| json!({ "itemIdentifier": id }))
            .collect();
        return Ok(response);
    }
    if summary.failures.is_empty() && summary.delivery_failures == 0 {
        return Ok(response);
    }
    let kind = if summary.failures.is_empty() {
        "DeliveryFailed"
    } else {
        "ObjectFailed"
    };
    let ids: Vec<&str> = summary
        .undelivered
        .iter()
        .map(|u| u.finding_id.as_str())
        .collect();
    let objects: Vec<String> = summary
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.object, f.error))
        .collect();
    Err(InvocationError {
        kind,
        message: format!(
            "{} object(s) failed, {} alert(s) not delivered; the invocation fails so that Lambda retries it. Objects: [{}]. Undelivered finding ids (first {}): [{}]",
            summary.failures.len(),
            summary.delivery_failures,
            objects.join("; "),
            ids.len(),
            ids.join(", ")
        ),
    })
}

/// Whether this is the first invocation of this execution environment (a cold start).
fn first_invocation() -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static INVOKED: AtomicBool = AtomicBool::new(false);
    !INVOKED.swap(true, Ordering::Relaxed)
}

/// The invocation's summary as one log line of separate fields (numbers as numbers), so that
/// CloudWatch Logs Insights can query it: `fields findings, alerts | filter account.balanced = 0`.
/// The per-reason and per-destination counts are JSON text in `suppressed_by`, `deliveries`.
fn log_summary(s: &InvocationSummary, response: &Value, elapsed: Duration) {
    let a = &s.account;
    info!(
        shape = s.shape,
        cold_start = s.cold_start,
        objects = s.objects,
        event_findings = s.event_findings,
        objects_skipped = s.objects_skipped,
        objects_already_processed = s.objects_already_processed,
        objects_failed = s.failures.len(),
        findings = s.stats.findings,
        alerts = s.stats.alerts,
        alerts_sent = s.alerts_sent,
        digests_sent = s.digests_sent,
        digested_alerts = s.digested_alerts,
        delivery_failures = s.delivery_failures,
        suppressed = s.stats.suppressed.total(),
        deduplicated = s.stats.deduplicated.total(),
        rejected_lines = s.stats.rejected.total(),
        dedup_errors = s.dedup_errors,
        findings_truncated = s.findings_truncated,
        decompressed_bytes = s.stats.decompressed_bytes,
        export_lag_seconds = s.export_lag_seconds,
        duration_ms = elapsed.as_millis() as u64,
        account.findings = a.findings,
        account.alerted = a.alerted,
        account.suppressed = a.suppressed,
        account.deduplicated = a.deduplicated,
        account.failed = a.failed,
        account.rejected_lines = a.rejected_lines,
        account.balanced = u8::from(a.balanced),
        suppressed_by = %response["suppressed"],
        deliveries = %response["deliveries"],
        "invocation done"
    );
}

/// The result of one Batch Operations task, as Batch Operations reads it (and writes it to the
/// job's completion report).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskResult {
    task_id: String,
    /// `Succeeded`, `TemporaryFailure` (Batch Operations retries the task) or
    /// `PermanentFailure`.
    result_code: &'static str,
    result_string: String,
}

/// Longest `resultString` written: the completion report is for people, and the log has the
/// whole account.
const RESULT_STRING_MAX: usize = 1000;

/// What one unit's sources came to.
#[derive(Debug, Default)]
struct UnitOutcome {
    findings: u64,
    alerts: u64,
    already_done: u64,
    skipped: Vec<String>,
    missing: Vec<String>,
    temporary: Vec<String>,
    permanent: Vec<String>,
}

impl UnitOutcome {
    fn add(&mut self, ran: Ran) {
        match ran {
            Ran::Done { findings, alerts } => {
                self.findings += findings;
                self.alerts += alerts;
            }
            Ran::AlreadyDone => self.already_done += 1,
            Ran::Missing(why) => self.missing.push(why),
            Ran::Failed {
                reason,
                temporary: true,
            } => self.temporary.push(reason),
            Ran::Failed {
                reason,
                temporary: false,
            } => self.permanent.push(reason),
        }
    }

    /// A task's result: a temporary failure wins (the retry may deliver what is left; the dedup
    /// table keeps what was delivered from going again), then a permanent one (a missing
    /// object, a key that is not an export, damage), else success with the counts.
    fn task_result(self, task_id: String) -> TaskResult {
        let (result_code, mut result_string) = if !self.temporary.is_empty() {
            ("TemporaryFailure", self.temporary.join("; "))
        } else if !self.permanent.is_empty() || !self.missing.is_empty() {
            let mut why = self.permanent;
            why.extend(self.missing);
            ("PermanentFailure", why.join("; "))
        } else if self.already_done > 0 {
            (
                "Succeeded",
                "already processed (same version); not read again".to_owned(),
            )
        } else if !self.skipped.is_empty() && self.findings == 0 {
            (
                "PermanentFailure",
                format!(
                    "{}: only findings exports (*.jsonl.gz) are processed; leave other keys out of the manifest",
                    self.skipped.join("; ")
                ),
            )
        } else {
            (
                "Succeeded",
                format!("findings {}, alerts {}", self.findings, self.alerts),
            )
        };
        if result_string.len() > RESULT_STRING_MAX {
            result_string.truncate(result_string.floor_char_boundary(RESULT_STRING_MAX));
            result_string.push('…');
        }
        TaskResult {
            task_id,
            result_code,
            result_string,
        }
    }
}

/// The scheduled health check: every publishing destination in the configured Regions, logged
/// (each unhealthy one at `error`), the metrics as EMF, the report as the response. It never
/// fails the invocation: an unhealthy destination, or one that could not be checked, raises
/// `PublishingDestinationsUnhealthy`, which the template's alarm watches.
async fn health_check(app: &App, account: Option<&str>) -> Value {
    let now = now_millis();
    // The scheduled event's `account` is the rule's, the function's own: its export folder.
    let account = account.filter(|a| crate::common::names::is_account_id(a));
    let report = crate::health::check(
        &app.guardduty,
        &app.listing,
        &app.config.health,
        &app.region,
        account,
        (now / 1000) as i64,
    )
    .await;
    for e in &report.entries {
        let detector = e.detector_id.as_deref().unwrap_or("-");
        let destination = e.destination_id.as_deref().unwrap_or("-");
        if e.problems.is_empty() {
            info!(region = %e.region, detector, destination, status = e.status.as_deref().unwrap_or("-"), "publishing destination healthy");
        } else {
            error!(region = %e.region, detector, destination, status = e.status.as_deref().unwrap_or("-"), problems = %e.problems.join("; "), "publishing destination unhealthy");
        }
    }
    if let Some(ns) = &app.config.metrics_namespace {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
        println!("{}", report.emf(ns, &function, now));
    }
    let mut response = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    response["shape"] = json!(Shape::Schedule.as_str());
    info!(
        checked = report.checked,
        unhealthy = report.unhealthy,
        "health check done"
    );
    response
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Measures export lag (now minus `updatedAt`) for every finding, then passes records on.
struct Metered<'m, O> {
    inner: O,
    lag: &'m mut LagMeter,
}

impl<O: Sink> Sink for Metered<'_, O> {
    fn record(&mut self, r: &Record<'_>) -> std::io::Result<()> {
        if let Some(t) = r.finding.updated_at.get() {
            self.lag.observe(t);
        }
        self.inner.record(r)
    }

    fn records(
        &mut self,
        batch: &[Record<'_>],
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        for r in batch {
            if let Some(t) = r.finding.updated_at.get() {
                self.lag.observe(t);
            }
        }
        self.inner.records(batch)
    }

    fn flush(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        self.inner.flush()
    }

    fn finish(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        self.inner.finish()
    }
}

/// The largest lag seen.
struct LagMeter {
    now: f64,
    max: Option<f64>,
}

impl LagMeter {
    fn new(now: SystemTime) -> Self {
        LagMeter {
            now: now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            max: None,
        }
    }

    fn observe(&mut self, updated_at: &str) {
        if let Some(t) = parse_timestamp(updated_at) {
            let lag = (self.now - t).max(0.0);
            self.max = Some(self.max.map_or(lag, |m| m.max(lag)));
        }
    }
}
