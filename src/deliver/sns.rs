//! The SNS destination: one message per alert, sent with `PublishBatch` in groups of at most 10
//! entries and 256 KiB, several batches in flight; failed entries retried with backoff; FIFO
//! topics supported. Nothing is dropped silently: every alert ends up in
//! [`DeliveryReport::sent`] or [`DeliveryReport::failed`].

use std::time::{Duration, Instant};

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use tokio::task::JoinSet;
use tracing::{debug, error, warn};

use crate::classify::SeverityLabel;
use crate::common::format::MessageFormat;
use crate::decide::Record;
use crate::render::digest::{DigestContext, sns_digest};
use crate::render::sns::{AlertMessage, SNS_MAX_BYTES, render};

pub use crate::deliver::{DeliveryReport, Undelivered};

/// Entries per `PublishBatch` (SNS's limit).
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Batches in flight at once.
pub const MAX_IN_FLIGHT: usize = 8;

/// How failed entries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per entry, the first included.
    pub attempts: u32,
    /// Wait before the first retry; each retry waits 4 times longer, with ±50% jitter.
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(100),
        }
    }
}

/// Where alerts are published.
#[derive(Debug, Clone)]
pub struct SnsDestination {
    name: String,
    client: aws_sdk_sns::Client,
    topic_arn: String,
    fifo: bool,
    format: MessageFormat,
    retry: RetryPolicy,
}

impl SnsDestination {
    /// A destination for `topic_arn` (a FIFO topic when the ARN ends in `.fifo`).
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String, format: MessageFormat) -> Self {
        let fifo = topic_arn.ends_with(".fifo");
        SnsDestination {
            name: "sns".to_owned(),
            client,
            topic_arn,
            fifo,
            format,
            retry: RetryPolicy::default(),
        }
    }

    /// Changes the destination's name (default `sns`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The destination's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topic.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// Whether the topic is a FIFO topic.
    pub fn is_fifo(&self) -> bool {
        self.fifo
    }

    /// The message format.
    pub fn format(&self) -> MessageFormat {
        self.format
    }

    /// An output that publishes the alerts of one source to this destination; nothing is
    /// published after `deadline`.
    pub fn output(&self, deadline: Option<Instant>) -> SnsOutput<'_> {
        SnsOutput {
            dest: self,
            deadline,
            pending: Vec::new(),
            report: DeliveryReport::default(),
            gave_up: None,
        }
    }
}

/// Gathers the alerts of one source and publishes them at every flush.
pub struct SnsOutput<'d> {
    dest: &'d SnsDestination,
    deadline: Option<Instant>,
    pending: Vec<AlertMessage>,
    report: DeliveryReport,
    /// Set after an error that retrying cannot fix (topic gone, not authorised): later alerts
    /// fail at once with this reason instead of hammering SNS.
    gave_up: Option<String>,
}

impl SnsOutput<'_> {
    /// The report so far.
    pub fn report(&self) -> &DeliveryReport {
        &self.report
    }

    /// The delivery report, once the last flush is done.
    pub fn into_report(self) -> DeliveryReport {
        self.report
    }

    /// The destination's name.
    pub fn name(&self) -> &str {
        &self.dest.name
    }

    /// Queues one alert.
    pub fn push(&mut self, r: &Record<'_>) {
        self.pending.push(render(r, self.dest.format));
    }

    /// Queues a digest.
    pub fn push_digest(&mut self, ctx: &DigestContext<'_>) {
        self.pending.push(sns_digest(ctx, self.dest.format));
    }

    /// Drops the queued alerts below Critical (they go into a digest instead).
    pub fn keep_only_critical(&mut self) {
        self.pending.retain(|m| m.label == SeverityLabel::Critical);
    }

    /// Publishes everything queued.
    pub async fn send_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let messages = std::mem::take(&mut self.pending);
        if let Some(reason) = &self.gave_up {
            let reason = format!("not attempted: {reason}");
            self.fail_all(messages, &reason);
            return;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.fail_all(messages, crate::common::retry::DEADLINE);
            return;
        }
        let mut set = JoinSet::new();
        for batch in batches(messages) {
            if set.len() >= MAX_IN_FLIGHT
                && let Some(done) = set.join_next().await
            {
                self.absorb(done);
            }
            let dest = self.dest.clone();
            let deadline = self.deadline;
            set.spawn(tracing::Instrument::in_current_span(async move {
                publish_with_retry(&dest, batch, deadline).await
            }));
        }
        while let Some(done) = set.join_next().await {
            self.absorb(done);
        }
    }

    fn absorb(&mut self, done: Result<BatchOutcome, tokio::task::JoinError>) {
        match done {
            Ok(outcome) => {
                self.report.sent += outcome.sent;
                self.report.digests_sent += outcome.digests_sent;
                self.report.digested_alerts += outcome.digested_alerts;
                self.report.truncated += outcome.truncated;
                if let Some(reason) = outcome.fatal {
                    self.gave_up.get_or_insert(reason);
                }
                self.report.failed.extend(outcome.failed);
            }
            Err(e) => {
                // A publishing task panicked: its alerts are unaccounted for, which must not
                // pass silently.
                error!(error = %e, "publishing task failed");
                self.report.failed.push(Undelivered {
                    destination: self.dest.name.clone(),
                    finding_id: "(unknown: publishing task failed)".into(),
                    finding_type: String::new(),
                    reason: e.to_string(),
                    alerts: 0,
                });
            }
        }
    }

    fn fail_all(&mut self, messages: Vec<AlertMessage>, reason: &str) {
        for m in messages {
            self.report.failed.push(Undelivered {
                destination: self.dest.name.clone(),
                finding_id: m.finding_id,
                finding_type: m.finding_type,
                reason: reason.to_owned(),
                alerts: m.alerts,
            });
        }
    }
}

/// Groups messages into batches of at most 10 entries and [`SNS_MAX_BYTES`] in total.
pub fn batches(messages: Vec<AlertMessage>) -> Vec<Vec<AlertMessage>> {
    let mut out: Vec<Vec<AlertMessage>> = Vec::new();
    let mut size = 0;
    for m in messages {
        let s = m.size();
        match out.last_mut() {
            Some(b) if b.len() < MAX_BATCH_ENTRIES && size + s <= SNS_MAX_BYTES => {
                size += s;
                b.push(m);
            }
            _ => {
                size = s;
                out.push(vec![m]);
            }
        }
    }
    out
}

struct BatchOutcome {
    sent: u64,
    digests_sent: u64,
    digested_alerts: u64,
    truncated: u64,
    failed: Vec<Undelivered>,
    fatal: Option<String>,
}

fn entry(dest: &SnsDestination, idx: usize, m: &AlertMessage) -> PublishBatchRequestEntry {
    let mut e = PublishBatchRequestEntry::builder()
        .id(idx.to_string())
        .message(m.message())
        .subject(&m.subject);
    if m.email.is_some() {
        e = e.message_structure("json");
    }
    for a in &m.attributes {
        if let Ok(v) = MessageAttributeValue::builder()
            .data_type(a.data_type)
            .string_value(&a.value)
            .build()
        {
            e = e.message_attributes(a.name, v);
        }
    }
    if dest.fifo {
        e = e
            .message_group_id(&m.group_id)
            .message_deduplication_id(&m.dedup_id);
    }
    // build() fails only when a required member (id, message) is missing; both are set above.
    e.build()
        .expect("PublishBatch entry has an id and a message")
}

/// Whether an SNS error code is worth retrying.
fn retryable_code(code: Option<&str>) -> bool {
    !matches!(
        code,
        Some(
            "NotFound"
                | "NotFoundException"
                | "AuthorizationError"
                | "AuthorizationErrorException"
                | "InvalidParameter"
                | "InvalidParameterException"
                | "InvalidParameterValue"
                | "ParameterValueInvalid"
                | "InvalidSecurity"
                | "KMSAccessDenied"
                | "KMSDisabled"
                | "KMSNotFound"
                | "KMSInvalidState"
                | "BatchRequestTooLong"
                | "BatchEntryIdsNotDistinct"
                | "TooManyEntriesInBatchRequest"
                | "EmptyBatchRequest"
        )
    )
}

async fn publish_with_retry(
    dest: &SnsDestination,
    batch: Vec<AlertMessage>,
    deadline: Option<Instant>,
) -> BatchOutcome {
    let mut outcome = BatchOutcome {
        sent: 0,
        digests_sent: 0,
        digested_alerts: 0,
        truncated: 0,
        failed: Vec::new(),
        fatal: None,
    };
    // Indices into `batch` still to send.
    let mut remaining: Vec<usize> = (0..batch.len()).collect();
    let mut last_error: Vec<String> = vec![String::new(); batch.len()];
    for attempt in 1..=dest.retry.attempts.max(1) {
        if attempt > 1 {
            let wait = backoff(dest.retry, attempt - 1);
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                for &i in &remaining {
                    last_error[i] = format!(
                        "{}; last error: {}",
                        crate::common::retry::DEADLINE,
                        last_error[i]
                    );
                }
                break;
            }
            tokio::time::sleep(wait).await;
        }
        let entries: Vec<_> = remaining
            .iter()
            .map(|&i| entry(dest, i, &batch[i]))
            .collect();
        let result = dest
            .client
            .publish_batch()
            .topic_arn(&dest.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        match result {
            Ok(out) => {
                for ok in out.successful() {
                    if let Some(i) = ok.id().and_then(|id| id.parse::<usize>().ok()) {
                        if batch[i].digest {
                            outcome.digests_sent += 1;
                            outcome.digested_alerts += batch[i].alerts;
                        } else {
                            outcome.sent += 1;
                        }
                        outcome.truncated += u64::from(batch[i].finding_truncated);
                        remaining.retain(|r| *r != i);
                    }
                }
                let mut retry_next = Vec::new();
                for f in out.failed() {
                    let Ok(i) = f.id().parse::<usize>() else {
                        continue;
                    };
                    let reason = format!(
                        "{}: {}",
                        f.code(),
                        f.message().unwrap_or("PublishBatch entry failed")
                    );
                    if f.sender_fault() {
                        // The entry itself is wrong: retrying will not help.
                        remaining.retain(|r| *r != i);
                        outcome.failed.push(undelivered(dest, &batch[i], reason));
                    } else {
                        last_error[i] = reason;
                        retry_next.push(i);
                    }
                }
                // Entries neither successful nor failed (should not happen): retry them.
                if remaining.is_empty() {
                    return outcome;
                }
                debug!(
                    attempt,
                    left = remaining.len(),
                    "PublishBatch entries to retry"
                );
            }
            Err(e) => {
                let code = e.code().map(str::to_owned);
                let reason = format!(
                    "PublishBatch to {} failed: {}",
                    dest.topic_arn,
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                );
                let transient = matches!(
                    e,
                    SdkError::TimeoutError(_)
                        | SdkError::DispatchFailure(_)
                        | SdkError::ResponseError(_)
                ) || retryable_code(code.as_deref());
                for &i in &remaining {
                    last_error[i] = reason.clone();
                }
                if !transient {
                    warn!(topic = %dest.topic_arn, error = %reason, "SNS refused the batch; not retrying");
                    outcome.fatal = Some(reason.clone());
                    break;
                }
                warn!(attempt, topic = %dest.topic_arn, error = %reason, "PublishBatch failed; will retry");
            }
        }
    }
    for i in remaining {
        outcome.failed.push(undelivered(
            dest,
            &batch[i],
            std::mem::take(&mut last_error[i]),
        ));
    }
    outcome
}

fn undelivered(dest: &SnsDestination, m: &AlertMessage, reason: String) -> Undelivered {
    Undelivered {
        destination: dest.name.clone(),
        finding_id: m.finding_id.clone(),
        finding_type: m.finding_type.clone(),
        reason,
        alerts: m.alerts,
    }
}

/// Exponential backoff with ±50% jitter: base × 4^(retry-1) (no cap beyond 4 attempts' worth).
fn backoff(p: RetryPolicy, retry: u32) -> Duration {
    crate::common::retry::backoff(p.base_delay, retry, Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(size: usize) -> AlertMessage {
        AlertMessage {
            finding_id: "f".into(),
            finding_type: "T".into(),
            label: SeverityLabel::High,
            subject: "s".into(),
            body: "x".repeat(size),
            email: None,
            finding_truncated: false,
            attributes: Vec::new(),
            group_id: "g".into(),
            dedup_id: "d".into(),
            digest: false,
            alerts: 1,
        }
    }

    #[test]
    fn batches_respect_count_and_size() {
        let sizes = |bs: &[Vec<AlertMessage>]| bs.iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(
            sizes(&batches((0..25).map(|_| msg(100)).collect())),
            [10, 10, 5]
        );
        assert_eq!(sizes(&batches(Vec::new())), Vec::<usize>::new());
        // 100 KiB each: two fit in 256 KiB, a third does not.
        assert_eq!(
            sizes(&batches((0..5).map(|_| msg(100 * 1024)).collect())),
            [2, 2, 1]
        );
        // A message of exactly the limit goes alone.
        assert_eq!(
            sizes(&batches(vec![msg(10), msg(SNS_MAX_BYTES), msg(10)])),
            [1, 1, 1]
        );
        for b in batches((0..37).map(|i| msg(1000 * (i % 7 + 1) * 9)).collect()) {
            assert!(b.len() <= MAX_BATCH_ENTRIES);
            assert!(b.iter().map(AlertMessage::size).sum::<usize>() <= SNS_MAX_BYTES);
        }
    }

    #[test]
    fn backoff_grows_with_jitter() {
        let p = RetryPolicy::default();
        for retry in 1..=3u32 {
            let d = backoff(p, retry);
            let nominal = 100.0 * 4f64.powi(retry as i32 - 1);
            let ms = d.as_secs_f64() * 1000.0;
            assert!(ms >= nominal * 0.5 && ms <= nominal * 1.5, "{retry}: {ms}");
        }
    }

    #[test]
    fn error_codes() {
        assert!(retryable_code(Some("Throttled")));
        assert!(retryable_code(Some("InternalError")));
        assert!(retryable_code(None));
        assert!(!retryable_code(Some("NotFound")));
        assert!(!retryable_code(Some("AuthorizationError")));
    }
}
