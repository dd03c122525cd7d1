//! The pipeline for one source: open -> read export -> classify -> decide -> output, with an
//! account of everything that happened in [`Stats`].

pub mod dedup;
pub use dedup::DedupStage;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::time::Duration;

use serde::Serialize;
use tracing::{debug, warn};

use crate::classify::{Classification, SeverityLabel, classify};
use crate::decide::{Decide, Reason};
use crate::decide::{Record, Sink};
use crate::export::{
    Parsed, ReadError, ReaderOptions, RecordSink, RejectReason, Rejection, read_export,
};
use crate::source::{OpenError, Opener, SourceRef};

/// Rejected lines logged one by one per source; the rest are counted and summed up in one line.
pub const REJECTIONS_LOGGED_PER_SOURCE: u64 = 20;

/// Counts by key, serialised as a JSON object. The fixed keys (severity labels, reasons) are
/// always present; others (rule names) appear once counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<Cow<'static, str>, u64>);

impl Counts {
    fn with_keys(keys: impl IntoIterator<Item = &'static str>) -> Self {
        Counts(keys.into_iter().map(|k| (Cow::Borrowed(k), 0)).collect())
    }

    /// Adds one to `key` (allocates only the first time a key that is not fixed is seen).
    pub fn bump(&mut self, key: &str) {
        match self.0.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                self.0.insert(Cow::Owned(key.to_owned()), 1);
            }
        }
    }

    /// The count for `key`.
    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or_default()
    }

    /// The sum of all counts.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    fn add(&mut self, other: &Counts) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

/// The account of a run: every finding read is an alert or suppressed (by reason); rejected
/// lines are counted by reason beside them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Sources attempted.
    pub sources: u64,
    /// Sources that failed to open or broke off (their findings before the failure count).
    pub sources_failed: u64,
    /// Lines that parsed as findings.
    pub findings: u64,
    /// Findings decided as alerts.
    pub alerts: u64,
    /// Alerts by severity label.
    pub alerts_by_severity: Counts,
    /// Findings suppressed, by reason.
    pub suppressed: Counts,
    /// Findings that would alert but were alerted before (dedup table), by verdict:
    /// `duplicate`, or `in_flight` (another invocation is delivering it). Not in `alerts`.
    pub deduplicated: Counts,
    /// Lines rejected, by reason.
    pub rejected: Counts,
    /// Lines read (findings, rejected and blank).
    pub lines: u64,
    /// Decompressed bytes read.
    pub decompressed_bytes: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sources: 0,
            sources_failed: 0,
            findings: 0,
            alerts: 0,
            alerts_by_severity: Counts::with_keys(SeverityLabel::ALL.map(SeverityLabel::as_str)),
            suppressed: Counts::with_keys(Reason::ALL.map(Reason::as_str)),
            deduplicated: Counts::with_keys(["duplicate", "in_flight"]),
            rejected: Counts::with_keys(RejectReason::ALL.map(RejectReason::as_str)),
            lines: 0,
            decompressed_bytes: 0,
        }
    }
}

impl Stats {
    /// Moves findings from `alerts` to `deduplicated`: `by_verdict` counts, `by_label` the same
    /// findings by severity band (Low first).
    pub fn deduplicate(&mut self, by_verdict: &BTreeMap<&'static str, u64>, by_label: [u64; 4]) {
        for (verdict, n) in by_verdict {
            for _ in 0..*n {
                self.deduplicated.bump(verdict);
            }
            self.alerts = self.alerts.saturating_sub(*n);
        }
        for (label, n) in SeverityLabel::ALL.iter().zip(by_label) {
            if let Some(c) = self.alerts_by_severity.0.get_mut(label.as_str()) {
                *c = c.saturating_sub(n);
            }
        }
    }

    /// Adds another account to this one.
    pub fn add(&mut self, o: &Stats) {
        self.sources += o.sources;
        self.sources_failed += o.sources_failed;
        self.findings += o.findings;
        self.alerts += o.alerts;
        self.alerts_by_severity.add(&o.alerts_by_severity);
        self.suppressed.add(&o.suppressed);
        self.deduplicated.add(&o.deduplicated);
        self.rejected.add(&o.rejected);
        self.lines += o.lines;
        self.decompressed_bytes += o.decompressed_bytes;
    }

    /// The one-line JSON summary, with the elapsed time and the [`Account`] (no alert failed).
    pub fn summary_json(&self, elapsed: Duration) -> String {
        self.summary_json_with(elapsed, 0)
    }

    /// The one-line JSON summary, with the elapsed time and the [`Account`], of whose alerts
    /// `failed` were not delivered.
    pub fn summary_json_with(&self, elapsed: Duration, failed: u64) -> String {
        #[derive(Serialize)]
        struct Summary<'a> {
            #[serde(flatten)]
            stats: &'a Stats,
            account: Account,
            elapsed_ms: u64,
        }
        serde_json::to_string(&Summary {
            stats: self,
            account: Account::new(self, failed),
            elapsed_ms: elapsed.as_millis() as u64,
        })
        .unwrap_or_else(|e| format!(r#"{{"error":"summary failed: {e}"}}"#))
    }
}

/// The account of a run or invocation: every finding read is in exactly one of `alerted`,
/// `suppressed`, `deduplicated` and `failed`; rejected lines (not findings) are beside them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Lines that parsed as findings.
    pub findings: u64,
    /// Alerts delivered to every destination they were meant for (or printed, without delivery).
    pub alerted: u64,
    /// Findings suppressed (by reason in the summary's `suppressed`).
    pub suppressed: u64,
    /// Findings alerted before (dedup table).
    pub deduplicated: u64,
    /// Alerts not delivered to at least one destination (named in the log).
    pub failed: u64,
    /// Lines that were not findings (by reason in the summary's `rejected`).
    pub rejected_lines: u64,
    /// `findings == alerted + suppressed + deduplicated + failed`.
    pub balanced: bool,
}

impl Account {
    /// The account of `stats`, of whose alerts `failed` were not delivered.
    pub fn new(stats: &Stats, failed: u64) -> Account {
        let failed = failed.min(stats.alerts);
        let (suppressed, deduplicated) = (stats.suppressed.total(), stats.deduplicated.total());
        let alerted = stats.alerts - failed;
        Account {
            findings: stats.findings,
            alerted,
            suppressed,
            deduplicated,
            failed,
            rejected_lines: stats.rejected.total(),
            balanced: stats.findings == alerted + suppressed + deduplicated + failed,
        }
    }
}

/// Why a source failed. Its display names the source, how far it got and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// It could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// It broke off part-way; the findings before were processed.
    #[error("{source_name}: {error}; the findings before that point were processed{hint}")]
    Read {
        /// The source.
        source_name: String,
        /// What went wrong and how far it got.
        error: ReadError,
        /// What to do.
        hint: &'static str,
    },
}

/// Processes one source into `out`, adding to `stats`. A failure of this source is returned
/// (and counted) but leaves `stats` holding everything read before it.
pub async fn process_source<P: Opener, D: Decide + Sync + ?Sized, O: Sink + Send>(
    src: &SourceRef,
    opener: &P,
    opts: &ReaderOptions,
    decider: &D,
    out: &mut O,
    stats: &mut Stats,
) -> Result<(), SourceError> {
    let name = src.to_string();
    stats.sources += 1;
    let stream = match opener.open(src).await {
        Ok(s) => s,
        Err(e) => {
            stats.sources_failed += 1;
            return Err(e.into());
        }
    };
    let mut sink = Processor {
        source: &name,
        decider,
        out,
        stats: Stats::default(),
    };
    let mut result = read_export(stream, opts, &mut sink).await;
    // Deliveries still in flight get their outcome now, also when the source broke off.
    if let Err(e) = sink.out.finish().await
        && let Ok(summary) = &result
    {
        result = Err(ReadError::Sink {
            source: e,
            progress: summary.progress,
        });
    }
    let mut local = sink.stats;
    let logged = local.rejected.total().min(REJECTIONS_LOGGED_PER_SOURCE);
    if local.rejected.total() > logged {
        warn!(
            source = %name,
            rejected = local.rejected.total(),
            not_logged = local.rejected.total() - logged,
            "more rejected lines than logged one by one; see the summary for counts by reason"
        );
    }
    let outcome = match result {
        Ok(summary) => {
            local.lines = summary.progress.lines;
            local.decompressed_bytes = summary.progress.decompressed_bytes;
            debug!(source = %name, findings = local.findings, alerts = local.alerts, "source done");
            Ok(())
        }
        Err(error) => {
            let p = error.progress();
            local.lines = p.lines;
            local.decompressed_bytes = p.decompressed_bytes;
            local.sources_failed += 1;
            let hint = match &error {
                ReadError::Stream { .. } => {
                    ": the object is truncated or corrupt (or the connection broke); fetch or re-export it and process it again"
                }
                ReadError::TooLarge { .. } => {
                    ": raise the decompressed-size limit only if the object is a genuine export"
                }
                ReadError::Sink { .. } => "",
            };
            Err(SourceError::Read {
                source_name: name,
                error,
                hint,
            })
        }
    };
    stats.add(&local);
    outcome
}

/// Classifies and decides each finding, counts everything, hands records to the output.
struct Processor<'a, D: ?Sized, O> {
    source: &'a str,
    decider: &'a D,
    out: &'a mut O,
    stats: Stats,
}

impl<D: Decide + Sync + ?Sized, O: Sink + Send> RecordSink for Processor<'_, D, O> {
    async fn chunk(&mut self, parsed: &[Parsed<'_>]) -> io::Result<()> {
        let classes: Vec<Classification<'_>> =
            parsed.iter().map(|p| classify(&p.finding)).collect();
        let rules = self.decider.rules();
        let mut records = Vec::with_capacity(parsed.len());
        for (p, class) in parsed.iter().zip(&classes) {
            let decision = self.decider.decide(&p.finding, class);
            self.stats.findings += 1;
            match decision.suppression_key() {
                None => {
                    self.stats.alerts += 1;
                    self.stats.alerts_by_severity.bump(class.label.as_str());
                }
                Some(key) => self.stats.suppressed.bump(key),
            }
            records.push(Record {
                source: self.source,
                line: p.line,
                finding: &p.finding,
                class,
                decision,
                raw: p.raw,
                account_name: rules
                    .zip(class.account_id)
                    .and_then(|(r, id)| r.account_name(id)),
                rules,
            });
        }
        self.out.records(&records).await
    }

    fn rejected(&mut self, r: &Rejection<'_>) -> io::Result<()> {
        self.stats.rejected.bump(r.reason.as_str());
        if self.stats.rejected.total() <= REJECTIONS_LOGGED_PER_SOURCE {
            warn!(
                source = %self.source,
                line = r.line,
                reason = r.reason.as_str(),
                detail = %r.detail,
                "line rejected; the rest of the object is still processed"
            );
        } else {
            debug!(source = %self.source, line = r.line, reason = r.reason.as_str(), detail = %r.detail, "line rejected");
        }
        Ok(())
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        self.out.flush()
    }
}
