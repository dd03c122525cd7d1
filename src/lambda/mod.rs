//! The Lambda function: configuration from the environment (validated once per cold start), the
//! handler that runs every trigger shape through the same pipeline as the CLI, the failure
//! semantics, and per-invocation metrics in CloudWatch Embedded Metric Format.
//!
//! Failure semantics: an object that cannot be read (other than deleted since), or an alert
//! that SNS did not accept after retries, fails its *unit*: for an SQS batch the message is
//! returned in `batchItemFailures` (only that message comes back); for every other shape the
//! invocation fails, so Lambda's retries and on-failure destination take over. The log names
//! every finding that was not delivered.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::app::resolve::RulesLocation;
use crate::app::resolve::{DestinationsConfig, SetupError};
use crate::app::{Settings, Wiring};
use crate::classify::MinSeverity;
use crate::common::env::parse_bool;
use crate::common::time::parse_timestamp;
use crate::decide::dedup::DedupSettings;
use crate::decide::{Decide, Decider, Policy};
use crate::decide::{Record, Sink};
use crate::deliver::sns::Undelivered;
use crate::deliver::{Deliveries, Destination, DestinationCounts, counts_by_destination};
use crate::export::ReaderOptions;
use crate::health::{HealthSettings, SdkExportListing, SdkGuardDuty};
use crate::pipeline::DedupStage;
use crate::pipeline::{Account, SourceError, Stats, process_source};
use crate::source::s3::S3Opener;
use crate::source::{OpenError, SourceRef};
use crate::state::DedupStore;
use crate::trigger::{self, Shape};

/// Sets up logging as Lambda's advanced logging controls ask: `AWS_LAMBDA_LOG_LEVEL` (`TRACE`,
/// `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`; default `INFO`; `RUST_LOG` overrides) and
/// `AWS_LAMBDA_LOG_FORMAT` (`JSON` for one JSON object per line, else text). Never colour codes:
/// the output goes to CloudWatch, not a terminal.
pub fn init_logging() {
    let level = match std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.init();
    }
}

/// Undelivered findings listed in a response or error message (all are logged).
const UNDELIVERED_LISTED: usize = 50;

/// Every setting of the function, read from environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where alerts go: `SNS_TOPIC_ARN`, `SNS_MESSAGE_FORMAT`, the webhooks and their secrets
    /// (see [`crate::app`]).
    pub destinations: DestinationsConfig,
    /// `MIN_SEVERITY` (number or label, default `medium`), `INCLUDE_SAMPLES`,
    /// `INCLUDE_ARCHIVED` (`true`/`false`, default false).
    pub policy: Policy,
    /// `MAX_LINE_BYTES`, `MAX_DECOMPRESSED_BYTES`.
    pub reader: ReaderOptions,
    /// `METRICS_NAMESPACE` (default `GuardDutyAlerts`); `METRICS=off` disables EMF output.
    pub metrics_namespace: Option<String>,
    /// `RULES_CONFIG`: a rules file (path, `s3://BUCKET/KEY`, `ssm:NAME`). With one, the rules
    /// decide and route every finding, and the file names the destinations; `MIN_SEVERITY`,
    /// `INCLUDE_SAMPLES`, `INCLUDE_ARCHIVED` and the destination variables (`SNS_TOPIC_ARN`,
    /// `WEBHOOK_SECRET`, …) are not used (the HTTP settings still are).
    pub rules: Option<RulesLocation>,
    /// `DEDUP_TABLE` and its settings (see [`crate::state`]); `None`: no dedup.
    pub dedup: Option<DedupSettings>,
    /// `HEALTH_CHECK_REGIONS`, `HEALTH_MAX_EXPORT_AGE_HOURS`: the scheduled health check (see
    /// [`crate::health`]).
    pub health: HealthSettings,
}

/// The function's own settings (the destinations' are
/// [`crate::app::resolve::DESTINATION_ENV_VARS`]).
const OWN_ENV_VARS: [&str; 8] = [
    "MIN_SEVERITY",
    "INCLUDE_SAMPLES",
    "INCLUDE_ARCHIVED",
    "MAX_LINE_BYTES",
    "MAX_DECOMPRESSED_BYTES",
    "METRICS_NAMESPACE",
    "METRICS",
    "RULES_CONFIG",
];

/// Every environment variable the function reads. The SAM template sets only variables from
/// this list.
pub const ENV_VARS: [&str; 28] = concat(
    concat::<22, 4, 26>(
        concat::<14, 8, 22>(crate::app::resolve::DESTINATION_ENV_VARS, OWN_ENV_VARS),
        crate::decide::dedup::DEDUP_ENV_VARS,
    ),
    crate::health::HEALTH_ENV_VARS,
);

/// `a` then `b` (`C` must be their total length, checked at compile time).
const fn concat<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    assert!(A + B == C);
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}

/// A setting with a bad value: names the variable, the value and what is accepted. (Only for
/// settings that are not secret; destinations report [`SetupError`], which never shows a
/// value.)
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A plain setting.
    #[error("configuration error: {name}={value:?} is invalid: {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A destination setting.
    #[error(transparent)]
    Destinations(#[from] SetupError),
}

impl Config {
    /// Reads and validates the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads and validates the configuration from `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let bad = |name: &'static str, value: &str, expected: &str| ConfigError::Invalid {
            name,
            value: value.to_owned(),
            expected: expected.to_owned(),
        };
        let rules = match get("RULES_CONFIG").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(RulesLocation::parse(&v).map_err(|e| bad("RULES_CONFIG", &v, &e))?),
        };
        let destinations = DestinationsConfig::from_lookup_with(&get, rules.is_none())?;
        let min_severity = match get("MIN_SEVERITY") {
            None => MinSeverity::default(),
            Some(v) => v.parse().map_err(|_| {
                bad(
                    "MIN_SEVERITY",
                    &v,
                    "a number from 0 to 10 or one of low, medium, high, critical",
                )
            })?,
        };
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name) {
                None => Ok(false),
                Some(v) => parse_bool(&v).ok_or_else(|| bad(name, &v, "true or false")),
            }
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(name, &v, "a positive whole number of bytes")),
            }
        };
        let defaults = ReaderOptions::default();
        let reader = ReaderOptions {
            max_line_bytes: number("MAX_LINE_BYTES", defaults.max_line_bytes as u64)? as usize,
            max_decompressed_bytes: number(
                "MAX_DECOMPRESSED_BYTES",
                defaults.max_decompressed_bytes,
            )?,
        };
        let metrics_on = match get("METRICS") {
            None => true,
            Some(v) => parse_bool(&v).ok_or_else(|| bad("METRICS", &v, "on or off"))?,
        };
        let namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| "GuardDutyAlerts".into());
        if namespace.trim().is_empty() || namespace.len() > 255 {
            return Err(bad("METRICS_NAMESPACE", &namespace, "1 to 255 characters"));
        }
        Ok(Config {
            destinations,
            policy: Policy {
                min_severity,
                include_samples: flag("INCLUDE_SAMPLES")?,
                include_archived: flag("INCLUDE_ARCHIVED")?,
            },
            reader,
            metrics_namespace: metrics_on.then_some(namespace),
            rules,
            dedup: DedupSettings::from_lookup(&get)?,
            health: HealthSettings::from_lookup(&get)
                .map_err(|(name, value, expected)| bad(name, &value, expected))?,
        })
    }
}

/// Everything built once per cold start.
pub struct App {
    /// The configuration.
    pub config: Config,
    /// Opens S3 objects.
    pub opener: S3Opener,
    /// Where alerts go (with a rules file, its destinations in its order).
    pub destinations: Vec<Destination>,
    /// The policy from the environment, or the rules file.
    pub decider: Decider,
    /// The dedup table, if configured.
    pub dedup: Option<DedupStore>,
    /// GuardDuty in each Region the health check looks at.
    pub guardduty: SdkGuardDuty,
    /// Lists export objects for the health check's age check.
    pub listing: SdkExportListing,
    /// The function's own Region (`AWS_REGION`).
    pub region: String,
}

impl App {
    /// Builds clients from the SDK configuration and fetches the destinations' secrets (once
    /// per cold start). An error names the setting at fault, never a secret.
    pub async fn new(config: Config, sdk: &aws_config::SdkConfig) -> Result<App, SetupError> {
        let opener = S3Opener::new(crate::app::aws::s3_client(sdk));
        let wiring = Wiring::build(Settings {
            policy: config.policy,
            rules: config.rules.as_ref().map(|l| (l, "RULES_CONFIG")),
            destinations: Some(&config.destinations),
            sdk: Some(sdk),
        })
        .await?;
        for w in &wiring.warnings {
            warn!(warning = %w, "rules file");
        }
        if let (Some(location), Some(rules)) = (&config.rules, wiring.decider.rules()) {
            if wiring.unused_destination_variables {
                info!(rules = %location, "the destination variables (SNS_TOPIC_ARN, WEBHOOK_SECRET, ...) are not used: the rules file names the destinations");
            }
            info!(rules = %location, summary = %rules.summary(), "rules loaded");
        }
        let (destinations, decider) = (wiring.destinations, wiring.decider);
        let dedup = config
            .dedup
            .clone()
            .map(|s| DedupStore::new(crate::app::aws::dynamodb_client(sdk), s));
        Ok(App {
            guardduty: SdkGuardDuty::new(sdk, &config.health.regions),
            listing: SdkExportListing::new(crate::app::aws::s3_client(sdk)),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            config,
            opener,
            destinations,
            decider,
            dedup,
        })
    }
}

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
    /// `s3`, `s3_test_event`, `eventbridge`, `sqs`, `sns`.
    pub shape: &'static str,
    /// Export objects referenced by the event.
    pub objects: u64,
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

/// Handles one event without a deadline (see [`handle_until`]).
pub async fn handle(app: &App, event: Value) -> Result<Value, InvocationError> {
    handle_until(app, event, None).await
}

/// Handles one event. Returns the summary; for SQS also `batchItemFailures`. Nothing is sent
/// after `deadline`: alerts left then are reported as not delivered, and fail the invocation
/// (or the SQS message) like any failed delivery.
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
    let mut summary = InvocationSummary {
        shape: invocation.shape.as_str(),
        ..Default::default()
    };
    let mut failed_messages: Vec<String> = Vec::new();
    let mut lag = LagMeter::new(SystemTime::now());
    let mut failed_alerts_total = 0u64;
    for unit in invocation.units {
        let mut unit_failed = false;
        for s in &unit.skipped {
            info!(what = %s.what, reason = s.reason.as_str(), event = s.event.as_deref().unwrap_or("-"), "skipped");
            summary.objects_skipped += 1;
        }
        let objects = if let Some(err) = &unit.error {
            // Part of the payload is unreadable: process none of it, so that the retry (or
            // the on-failure destination) sees the whole unit once, without duplicate alerts.
            error!(
                message_id = unit.message_id.as_deref().unwrap_or("-"),
                error = %err,
                not_processed = unit.objects.len(),
                "event payload not understood; none of its objects were processed"
            );
            summary.failures.push(ObjectFailure {
                object: unit
                    .message_id
                    .as_deref()
                    .map_or_else(|| "event".to_owned(), |id| format!("SQS message {id}")),
                error: err.clone(),
            });
            unit_failed = true;
            Vec::new()
        } else {
            unit.objects
        };
        for obj in objects {
            summary.objects += 1;
            // The same object (bucket, key, version or ETag) processed in full before: skip it.
            let object_id = obj
                .version_id
                .as_deref()
                .or(obj.etag.as_deref())
                .map(|v| crate::state::object_id(&obj.bucket, &obj.key, v));
            if let (Some(store), Some(id)) = (&app.dedup, &object_id) {
                match store.object_done(id).await {
                    Ok(Some(done_at)) => {
                        info!(object = %obj, done_at, "already processed (same version or ETag); skipped");
                        summary.objects_skipped += 1;
                        summary.objects_already_processed += 1;
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(object = %obj, error = %e, "cannot tell whether the object was processed before; processing it")
                    }
                }
            }
            let src = SourceRef::S3(obj);
            let inner = match app.decider.rules() {
                None => Deliveries::new(&app.destinations, deadline),
                Some(rules) => Deliveries::routed(&app.destinations, rules, deadline),
            };
            let mut stats = Stats::default();
            let (result, deliveries) = match &app.dedup {
                None => run_object(app, &src, inner, &mut lag, &mut stats).await,
                Some(store) => {
                    let stage = DedupStage::new(store, inner, lease_until(deadline));
                    let (result, stage) = run_object(app, &src, stage, &mut lag, &mut stats).await;
                    stats.deduplicate(&stage.deduplicated, stage.deduplicated_by_label);
                    summary.dedup_errors += stage.errors;
                    (result, stage.into_inner())
                }
            };
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
            let delivered_all = report.failed.is_empty();
            failed_alerts_total += crate::deliver::failed_alerts(&report.failed);
            summary.alerts_sent += report.sent;
            summary.digests_sent += report.digests_sent;
            summary.digested_alerts += report.digested_alerts;
            summary.findings_truncated += report.truncated;
            if !report.failed.is_empty() {
                unit_failed = true;
                summary.delivery_failures += report.failed.len() as u64;
                for u in &report.failed {
                    error!(object = %src, destination = %u.destination, finding_id = %u.finding_id, finding_type = %u.finding_type, reason = %u.reason, "alert not delivered");
                }
                let room = UNDELIVERED_LISTED.saturating_sub(summary.undelivered.len());
                summary
                    .undelivered
                    .extend(report.failed.into_iter().take(room));
            }
            match result {
                Ok(()) => {
                    if delivered_all
                        && let (Some(store), Some(id)) = (&app.dedup, &object_id)
                        && let Err(e) = store.mark_object_done(id, now_millis() / 1000).await
                    {
                        warn!(object = %src, error = %e, "could not record the object as processed; a redelivery of its event is deduplicated finding by finding");
                    }
                }
                Err(e @ SourceError::Open(OpenError::NotFound { .. })) => {
                    // Deleted since the event: nothing to retry.
                    warn!(object = %src, "{e}; skipped");
                    summary.objects_skipped += 1;
                    summary.stats.sources_failed -= 1;
                }
                Err(e) => {
                    error!(object = %src, error = %e, "object failed");
                    summary.failures.push(ObjectFailure {
                        object: src.to_string(),
                        error: e.to_string(),
                    });
                    unit_failed = true;
                }
            }
        }
        if unit_failed && let Some(id) = unit.message_id {
            failed_messages.push(id);
        }
    }
    summary.export_lag_seconds = lag.max;
    summary.account = Account::new(&summary.stats, failed_alerts_total);
    if !summary.account.balanced {
        error!(account = ?summary.account, "the account does not balance: findings != alerted + suppressed + deduplicated + failed (a bug: please report it)");
    }
    let elapsed = started.elapsed();
    if let Some(ns) = &app.config.metrics_namespace {
        println!("{}", emf(ns, &summary, elapsed, now_millis()));
    }
    let mut response = serde_json::to_value(&summary).unwrap_or_else(|_| json!({}));
    info!(summary = %response, "invocation done");
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

/// The invocation's metrics as one CloudWatch Embedded Metric Format document.
pub fn emf(namespace: &str, s: &InvocationSummary, elapsed: Duration, timestamp_ms: u64) -> String {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let mut values: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    values.insert("Findings", (s.stats.findings as f64, "Count"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::resolve::DESTINATION_ENV_VARS;
    use crate::common::format::MessageFormat;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const TOPIC: (&str, &str) = ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:alerts");

    #[test]
    fn config_defaults_and_values() {
        let c = config(&[TOPIC]).unwrap();
        assert_eq!(c.policy.min_severity.0, 4.0);
        assert!(!c.policy.include_samples);
        assert_eq!(c.destinations.message_format, MessageFormat::Json);
        assert_eq!(c.metrics_namespace.as_deref(), Some("GuardDutyAlerts"));
        let c = config(&[
            TOPIC,
            ("MIN_SEVERITY", "high"),
            ("INCLUDE_SAMPLES", "true"),
            ("SNS_MESSAGE_FORMAT", "chatbot"),
            ("MAX_LINE_BYTES", "4096"),
            ("METRICS", "off"),
        ])
        .unwrap();
        assert_eq!(c.policy.min_severity.0, 7.0);
        assert!(c.policy.include_samples);
        assert_eq!(c.destinations.message_format, MessageFormat::Chatbot);
        assert_eq!(c.reader.max_line_bytes, 4096);
        assert_eq!(c.metrics_namespace, None);
    }

    #[test]
    fn config_errors_name_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "destinations: none is configured: set SNS_TOPIC_ARN"),
            (
                &[("SNS_TOPIC_ARN", "alerts")],
                "SNS_TOPIC_ARN: \"alerts\" is not an SNS topic ARN",
            ),
            (
                &[("SNS_TOPIC_ARN", "arn:aws:sqs:us-east-1:1:q")],
                "SNS_TOPIC_ARN",
            ),
            (
                &[TOPIC, ("MIN_SEVERITY", "severe")],
                "MIN_SEVERITY=\"severe\" is invalid: a number",
            ),
            (
                &[TOPIC, ("INCLUDE_SAMPLES", "maybe")],
                "INCLUDE_SAMPLES=\"maybe\" is invalid: true or false",
            ),
            (
                &[TOPIC, ("SNS_MESSAGE_FORMAT", "xml")],
                "SNS_MESSAGE_FORMAT: \"xml\": use json or chatbot",
            ),
            (&[TOPIC, ("MAX_LINE_BYTES", "0")], "MAX_LINE_BYTES=\"0\""),
            (
                &[TOPIC, ("MAX_DECOMPRESSED_BYTES", "lots")],
                "MAX_DECOMPRESSED_BYTES",
            ),
            (&[TOPIC, ("METRICS", "sometimes")], "METRICS=\"sometimes\""),
        ];
        for (vars, want) in cases {
            let e = config(vars).unwrap_err().to_string();
            assert!(e.contains(want), "{vars:?}: {e}");
        }
    }

    #[test]
    fn every_destination_variable_is_listed() {
        for v in DESTINATION_ENV_VARS {
            assert!(ENV_VARS.contains(&v), "{v}");
        }
    }

    #[test]
    fn deadlines_keep_time_back() {
        assert!(delivery_deadline(0, 1_795_700_108_993).is_none());
        // cargo-lambda's emulator sends its timeout instead of a time.
        assert!(delivery_deadline(600_000, 1_795_700_108_993).is_none());
        let now = Instant::now();
        // 30 s left: 3 s kept back.
        let d = delivery_deadline(1_000_030_000, 1_000_000_000).unwrap();
        let left = d.duration_since(now).as_secs_f64();
        assert!((26.9..27.1).contains(&left), "{left}");
        // 2 s left: 0.5 s kept back.
        let d = delivery_deadline(1_000_002_000, 1_000_000_000).unwrap();
        let left = d.duration_since(now).as_secs_f64();
        assert!((1.4..1.6).contains(&left), "{left}");
        // Just past: now.
        let d = delivery_deadline(1_795_700_100_000, 1_795_700_108_993).unwrap();
        assert!(d.duration_since(now) < Duration::from_millis(100));
    }

    #[test]
    fn emf_document() {
        let mut s = InvocationSummary {
            shape: "s3",
            objects: 2,
            alerts_sent: 3,
            export_lag_seconds: Some(42.0),
            ..Default::default()
        };
        s.stats.findings = 5;
        s.stats.alerts = 3;
        s.stats.alerts_by_severity.bump("High");
        let doc: Value =
            serde_json::from_str(&emf("NS", &s, Duration::from_millis(7), 1000)).unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 1000);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
        assert_eq!(doc["Findings"], 5.0);
        assert_eq!(doc["AlertsHigh"], 1.0);
        assert_eq!(doc["ExportLagSeconds"], 42.0);
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in &names {
            assert!(doc.get(*n).is_some(), "{n} has no value");
        }
        assert!(names.contains(&"DeliveryFailures"));
    }
}
