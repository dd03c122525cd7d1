//! The dedup stage: a [`Sink`] in front of the destinations that claims each alert in the
//! dedup table ([`crate::state::DedupStore`]) before handing it on, and confirms or releases
//! the claims once the deliveries have an outcome.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, warn};

use crate::classify::classify;
use crate::decide::dedup::Candidate;
use crate::decide::{Decide, DeliveryFailures, Record, Sink};
use crate::export::finding::Finding;
use crate::state::{Claim, ClaimOutcome, DedupStore};

/// The dedup stage of the pipeline: an [`Sink`] in front of the destinations. Alerts are held
/// until the next flush (a chunk of a few hundred findings), claimed in one batch, and only
/// those that alert go on; at the end of the source, claims of alerts that were delivered are
/// confirmed and the others released, so a retry alerts them again. Everything else (suppressed
/// findings) passes straight through.
///
/// Holds at most one chunk's alerts (each at most one line long).
pub struct DedupStage<'a, D: ?Sized, O> {
    store: &'a DedupStore,
    decider: &'a D,
    inner: O,
    lease_until_s: u64,
    /// The source of the held alerts (one at a time: held alerts are claimed at its end).
    source: String,
    held: Vec<Held>,
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

struct Held {
    line: u64,
    raw: String,
    candidate: Candidate,
    finding_id: String,
}

impl<'a, D: Decide + ?Sized, O: Sink + DeliveryFailures + Send> DedupStage<'a, D, O> {
    /// A stage in front of `inner`; claims hold until `lease_until_s` (the invocation's
    /// deadline, epoch seconds).
    pub fn new(store: &'a DedupStore, decider: &'a D, inner: O, lease_until_s: u64) -> Self {
        DedupStage {
            store,
            decider,
            inner,
            lease_until_s,
            source: String::new(),
            held: Vec::new(),
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

    async fn claim_held(&mut self) -> std::io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let candidates: Vec<Candidate> = held.iter().map(|h| h.candidate.clone()).collect();
        let outcomes = self
            .store
            .claim(&candidates, self.lease_until_s, unix_now())
            .await;
        let mut first_error = None;
        let mut forwarded = Ok(());
        for (h, outcome) in held.into_iter().zip(outcomes) {
            match outcome {
                ClaimOutcome::Alert { verdict, claim } => {
                    debug!(finding_id = %h.finding_id, verdict = verdict.as_str(), "alerting");
                    match self.forward(&h) {
                        Ok(()) => self.claims.push((claim, h.finding_id)),
                        Err(e) => {
                            self.unsent.push(claim);
                            forwarded = forwarded.and(Err(e));
                        }
                    }
                }
                ClaimOutcome::Skip(verdict) => {
                    debug!(finding_id = %h.finding_id, verdict = verdict.as_str(), "not alerted again");
                    *self.deduplicated.entry(verdict.as_str()).or_default() += 1;
                    self.deduplicated_by_label[h.candidate.label as usize] += 1;
                }
                ClaimOutcome::Error(e) => {
                    self.errors += 1;
                    first_error.get_or_insert(e);
                    forwarded = forwarded.and(self.forward(&h));
                }
            }
        }
        if let Some(e) = first_error {
            warn!(error = %e, alerted_anyway = self.errors, "dedup state unavailable: alerting without it (a repeat alert is possible)");
        }
        forwarded
    }

    /// Hands a held alert on, parsed and decided again (the same line decides the same way).
    /// An error (the line no longer parses, or the output refuses it) breaks off the source,
    /// which fails it: its claim is released, so the retry alerts it.
    fn forward(&mut self, h: &Held) -> std::io::Result<()> {
        let finding = Finding::parse(&h.raw).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "finding {} could not be parsed again after the dedup check",
                    h.finding_id
                ),
            )
        })?;
        let class = classify(&finding);
        let decision = self.decider.decide(&finding, &class);
        let rules = self.decider.rules();
        self.inner.record(&Record {
            source: &self.source,
            line: h.line,
            finding: &finding,
            class: &class,
            decision,
            raw: &h.raw,
            account_name: rules
                .zip(class.account_id)
                .and_then(|(r, id)| r.account_name(id)),
            rules,
        })
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

impl<D: Decide + ?Sized, O: Sink + DeliveryFailures + Send> Sink for DedupStage<'_, D, O> {
    fn record(&mut self, r: &Record<'_>) -> std::io::Result<()> {
        if !r.decision.is_alert() {
            return self.inner.record(r);
        }
        if self.source != r.source {
            self.source.clear();
            self.source.push_str(r.source);
        }
        self.held.push(Held {
            line: r.line,
            raw: r.raw.to_owned(),
            candidate: Candidate::new(r.finding, r.class),
            finding_id: r.finding.id().to_owned(),
        });
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.claim_held().await?;
        self.inner.flush().await
    }

    async fn finish(&mut self) -> std::io::Result<()> {
        let claimed = self.claim_held().await;
        let finished = self.inner.finish().await;
        self.settle().await;
        claimed.and(finished)
    }
}
