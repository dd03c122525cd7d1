//! The dedup stage: a [`Sink`] in front of the destinations that claims each alert in the
//! dedup table ([`crate::state::DedupStore`]) before handing it on, and confirms or releases
//! the claims once the deliveries have an outcome.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, warn};

use crate::decide::dedup::Candidate;
use crate::decide::{DeliveryFailures, Record, Sink};
use crate::state::{Claim, ClaimOutcome, DedupStore};

/// The dedup stage of the pipeline: an [`Sink`] in front of the destinations. Each chunk's
/// alerts ([`Sink::records`]) are claimed in one batch and only those that alert go on, the
/// very records the pipeline decided (nothing is parsed or decided twice); at the end of the
/// source, claims of alerts that were delivered are confirmed and the others released, so a
/// retry alerts them again. Everything else (suppressed findings) passes straight through.
///
/// Holds nothing of a chunk past [`Sink::records`]: only the claims (a key each) until the end
/// of the source.
pub struct DedupStage<'a, O> {
    store: &'a DedupStore,
    inner: O,
    lease_until_s: u64,
    claims: Vec<(Claim, String)>,
    /// Claims of alerts that could not be handed on: released, never confirmed.
    unsent: Vec<Claim>,
    /// Findings not alerted again, by verdict (`duplicate`, `in_flight`).
    pub deduplicated: BTreeMap<&'static str, u64>,
    /// The same, by severity band (to take them off the alert counts).
    pub deduplicated_by_label: [u64; 4],
    /// Findings alerted without a claim because DynamoDB failed (fail open).
    pub errors: u64,
}

impl<'a, O: Sink + DeliveryFailures + Send> DedupStage<'a, O> {
    /// A stage in front of `inner`; claims hold until `lease_until_s` (the invocation's
    /// deadline, epoch seconds).
    pub fn new(store: &'a DedupStore, inner: O, lease_until_s: u64) -> Self {
        DedupStage {
            store,
            inner,
            lease_until_s,
            claims: Vec::new(),
            unsent: Vec::new(),
            deduplicated: BTreeMap::new(),
            deduplicated_by_label: [0; 4],
            errors: 0,
        }
    }

    /// The output behind the stage.
    pub fn into_inner(self) -> O {
        self.inner
    }

    /// Claims the alerts of one chunk in one batch and hands on those that alert. An error
    /// from the output breaks off the source, which fails it: the claim of that alert is
    /// released, so the retry alerts it.
    async fn claim(&mut self, alerts: &[&Record<'_>]) -> std::io::Result<()> {
        if alerts.is_empty() {
            return Ok(());
        }
        let candidates: Vec<Candidate> = alerts
            .iter()
            .map(|r| Candidate::new(r.finding, r.class))
            .collect();
        let outcomes = self
            .store
            .claim(&candidates, self.lease_until_s, unix_now())
            .await;
        let mut first_error = None;
        let mut forwarded = Ok(());
        for ((r, candidate), outcome) in alerts.iter().zip(&candidates).zip(outcomes) {
            match outcome {
                ClaimOutcome::Alert { verdict, claim } => {
                    debug!(finding_id = %r.finding.id(), verdict = verdict.as_str(), "alerting");
                    match self.inner.record(r) {
                        Ok(()) => self.claims.push((claim, r.finding.id().to_owned())),
                        Err(e) => {
                            self.unsent.push(claim);
                            forwarded = forwarded.and(Err(e));
                        }
                    }
                }
                ClaimOutcome::Skip(verdict) => {
                    debug!(finding_id = %r.finding.id(), verdict = verdict.as_str(), "not alerted again");
                    *self.deduplicated.entry(verdict.as_str()).or_default() += 1;
                    self.deduplicated_by_label[candidate.label as usize] += 1;
                }
                ClaimOutcome::Error(e) => {
                    self.errors += 1;
                    first_error.get_or_insert(e);
                    forwarded = forwarded.and(self.inner.record(r));
                }
            }
        }
        if let Some(e) = first_error {
            warn!(error = %e, alerted_anyway = self.errors, "dedup state unavailable: alerting without it (a repeat alert is possible)");
        }
        forwarded
    }

    /// Confirms the claims of what was delivered, releases the others.
    async fn settle(&mut self) {
        if self.claims.is_empty() && self.unsent.is_empty() {
            return;
        }
        let (failed, digest_failed) = self.inner.failed_findings();
        let (release, confirm): (Vec<_>, Vec<_>) = std::mem::take(&mut self.claims)
            .into_iter()
            .partition(|(_, id)| digest_failed || failed.contains(id));
        let confirm: Vec<Claim> = confirm.into_iter().map(|(c, _)| c).collect();
        let mut release: Vec<Claim> = release.into_iter().map(|(c, _)| c).collect();
        release.append(&mut self.unsent);
        let (confirmed, released) =
            futures_util::join!(self.store.confirm(&confirm), self.store.release(&release));
        for (c, r) in confirm.iter().zip(confirmed) {
            if let Err(e) = r {
                warn!(finding = %c.key(), error = %e, "could not confirm the alert in the dedup table; it may alert again after the lease");
            }
        }
        for (c, r) in release.iter().zip(released) {
            if let Err(e) = r {
                warn!(finding = %c.key(), error = %e, "could not release the claim of an undelivered alert; it alerts again once the lease expires");
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<O: Sink + DeliveryFailures + Send> Sink for DedupStage<'_, O> {
    /// One record on its own: a suppressed one passes through; an alert cannot be claimed
    /// without awaiting, so it is refused (the pipeline hands records in batches, through
    /// [`Sink::records`]); the refusal fails the source, which is retried, never dropped.
    fn record(&mut self, r: &Record<'_>) -> std::io::Result<()> {
        if !r.decision.is_alert() {
            return self.inner.record(r);
        }
        Err(std::io::Error::other(format!(
            "finding {}: the dedup stage takes alerts in batches (Sink::records), not one by one",
            r.finding.id()
        )))
    }

    async fn records(&mut self, batch: &[Record<'_>]) -> std::io::Result<()> {
        let mut alerts = Vec::new();
        for r in batch {
            if r.decision.is_alert() {
                alerts.push(r);
            } else {
                self.inner.record(r)?;
            }
        }
        self.claim(&alerts).await
    }

    fn flush(&mut self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        self.inner.flush()
    }

    async fn finish(&mut self) -> std::io::Result<()> {
        let finished = self.inner.finish().await;
        self.settle().await;
        finished
    }
}
