//! The DynamoDB table behind dedup and object idempotency.
//!
//! The verdict is [`crate::decide::dedup::decide`], pure. [`DedupStore`] applies it against the
//! table so that nothing is lost and concurrent invocations do not both alert:
//!
//! 1. [`DedupStore::claim`] reads the findings' items (`BatchGetItem`, consistent reads),
//!    decides, and for each finding that alerts writes a *claim* with a conditional `PutItem`:
//!    the new state, a lease (`lease_until`, the invocation's deadline) and the previous state.
//!    The condition is on the item's version, so of two invocations that read the same item only
//!    one claim succeeds; the other reads again and sees the lease ([`Verdict::InFlight`]).
//! 2. The caller delivers the claimed alerts.
//! 3. On success, [`DedupStore::confirm`] removes the lease. On failure,
//!    [`DedupStore::release`] restores the previous state (or deletes the item), so a retry alerts
//!    again. If the invocation dies in between, its lease expires: a later invocation reads the
//!    previous state from the item and alerts again.
//!
//! # Failure policy: fail open
//!
//! When DynamoDB fails (access denied, missing table, throttling after the SDK's retries, a
//! network error, a malformed request), the API reports a [`DedupError`] per finding
//! ([`ClaimOutcome::Error`]) and the caller alerts anyway: a duplicate alert is better than a
//! missed one. [`ClaimOutcome::alerts`] says so. A stored item that cannot be read (a member
//! missing or of the wrong type) is treated as absent, with a warning: the finding alerts, and
//! the claim replaces the item. Nothing here panics on what the table holds.
//!
//! # Table and items
//!
//! One table, partition key `pk` (String), no sort key, TTL enabled on `expires_at`, on-demand
//! capacity recommended. The function's role needs `dynamodb:GetItem`, `BatchGetItem`,
//! `PutItem`, `UpdateItem` and `DeleteItem` on it. The items are part of the product's contract:
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `pk` | S | `finding#ACCOUNT/REGION/FINDING_ID` (a missing account or region is `-`) |
//! | `band` | N | severity band last alerted: 0 Low, 1 Medium, 2 High, 3 Critical |
//! | `severity` | N | numeric severity last alerted |
//! | `count` | N | `service.count` last alerted |
//! | `alerted_at` | N | when it was last alerted (epoch seconds) |
//! | `ver` | S | the item's version, unique per write: every conditional write checks it |
//! | `lease_until` | N | while a delivery is in flight only: until when the claim holds (epoch seconds) |
//! | `prev` | M | while a delivery is in flight only, and only if there was a previous alert: its `band`, `severity`, `count`, `alerted_at` |
//! | `expires_at` | N | TTL: `DEDUP_TTL_DAYS` after the last alert (never before `lease_until`) |
//!
//! Object items record which export objects were processed in full, so a redelivered S3 event
//! is skipped ([`DedupStore::object_done`], [`DedupStore::mark_object_done`]):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `pk` | S | `object#<object_id>`, see [`object_id`] |
//! | `done_at` | N | when it was processed (epoch seconds) |
//! | `expires_at` | N | TTL: `DEDUP_TTL_DAYS` after `done_at` |
//!
//! A finding whose `expires_at` has passed counts as never alerted even before DynamoDB deletes
//! its item (which can take a day or two).
//!
//! The settings (`DEDUP_*`) are [`DedupSettings`]'s; the items' reading and writing is in `item.rs`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::StreamExt;
use tracing::{debug, warn};

use crate::decide::dedup::judge;
pub use crate::decide::dedup::{Alerted, Candidate, DedupSettings, Lease, Stored, Verdict};

mod item;
use item::{finding_item, finding_pk, n, new_ver, num, object_pk, parse_stored, s};

/// Keys per `BatchGetItem` call (DynamoDB's limit).
const BATCH_GET_KEYS: usize = 100;
/// `BatchGetItem` calls in flight at once.
const READS_IN_FLIGHT: usize = 4;
/// Writes in flight at once.
const WRITES_IN_FLIGHT: usize = 16;
/// Retries of the keys `BatchGetItem` left unprocessed.
const UNPROCESSED_RETRIES: u32 = 8;
/// Claim writes per finding before giving up on a contended item.
const CLAIM_ATTEMPTS: u32 = 5;

/// A successful claim: hand it back to [`DedupStore::confirm`] or [`DedupStore::release`].
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    key: String,
    ver: String,
    prev: Option<Alerted>,
}

impl Claim {
    /// The candidate's key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// What [`DedupStore::claim`] found for one candidate.
#[derive(Debug)]
pub enum ClaimOutcome {
    /// Alert, then confirm or release the claim.
    Alert {
        /// Why it alerts.
        verdict: Verdict,
        /// The claim.
        claim: Claim,
    },
    /// Do not alert.
    Skip(Verdict),
    /// DynamoDB failed: alert anyway (fail open), there is no claim.
    Error(DedupError),
}

impl ClaimOutcome {
    /// Whether to alert: [`ClaimOutcome::Alert`], and [`ClaimOutcome::Error`] (fail open).
    pub fn alerts(&self) -> bool {
        !matches!(self, ClaimOutcome::Skip(_))
    }
}

/// What kind of failure a [`DedupError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupErrorKind {
    /// The role may not use the table.
    AccessDenied,
    /// The table does not exist (in this region).
    TableNotFound,
    /// Throttled beyond the retries.
    Throttled,
    /// The item kept changing under concurrent claims; gave up.
    Contention,
    /// Confirm or release: the claim was taken over after its lease expired; nothing to do.
    LeaseLost,
    /// Anything else (network, validation).
    Other,
}

/// A DynamoDB operation that failed: names the table and operation and says what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("dedup table {table}: {operation} failed: {problem}")]
pub struct DedupError {
    /// The table.
    pub table: String,
    /// `BatchGetItem`, `GetItem`, `PutItem`, `UpdateItem` or `DeleteItem`.
    pub operation: &'static str,
    /// What kind of failure.
    pub kind: DedupErrorKind,
    /// What went wrong and what to do.
    pub problem: String,
}

/// The id of an export object at one version, for [`DedupStore::object_done`]:
/// `s3://BUCKET/KEY@VERSION_OR_ETAG` (unambiguous: versions and ETags have no `@`).
pub fn object_id(bucket: &str, key: &str, version_or_etag: &str) -> String {
    format!("s3://{bucket}/{key}@{version_or_etag}")
}

/// The dedup state in DynamoDB: a client and the settings.
#[derive(Debug, Clone)]
pub struct DedupStore {
    client: Client,
    settings: DedupSettings,
}

/// What a read found under a key.
#[derive(Debug, Clone, Default)]
struct Slot {
    /// Whether there is an item at all (decides the write condition).
    exists: bool,
    /// Its `ver`, if readable.
    ver: Option<String>,
    /// Its state, if readable.
    stored: Option<Stored>,
}

impl DedupStore {
    /// A store over `client` (see [`crate::app::aws::dynamodb_client`]).
    pub fn new(client: Client, settings: DedupSettings) -> Self {
        DedupStore { client, settings }
    }

    /// The settings.
    pub fn settings(&self) -> &DedupSettings {
        &self.settings
    }

    /// Decides each candidate against its stored item and claims those that alert: one outcome
    /// per candidate, in order. `lease_until_s` is the invocation's deadline (epoch seconds):
    /// until then other invocations see the claimed findings as [`Verdict::InFlight`]; after it
    /// they treat an unconfirmed claim as a crashed delivery and alert again.
    ///
    /// Reads are consistent `BatchGetItem`s of up to 100 keys; each claim is a conditional
    /// `PutItem` (on the version read), up to 16 at once. A claim that loses a race reads the
    /// item again and decides again (at most 5 times, then [`DedupErrorKind::Contention`]). A
    /// key given twice claims once: the other is [`Verdict::InFlight`] or a skip. A
    /// `lease_until_s` not after `now_s` protects nothing: the claim counts as crashed at once.
    pub async fn claim(
        &self,
        candidates: &[Candidate],
        lease_until_s: u64,
        now_s: u64,
    ) -> Vec<ClaimOutcome> {
        let mut keys: Vec<&str> = candidates.iter().map(|c| c.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        // Made before they are streamed, as in `in_flight`.
        let reads: Vec<_> = keys
            .chunks(BATCH_GET_KEYS)
            .map(|chunk| self.batch_get(chunk))
            .collect();
        let reads: HashMap<String, Result<Slot, DedupError>> = futures_util::stream::iter(reads)
            .buffer_unordered(READS_IN_FLIGHT)
            .flat_map(futures_util::stream::iter)
            .collect()
            .await;
        let claims: Vec<_> = candidates
            .iter()
            .map(|c| {
                let read = reads.get(&c.key).cloned().unwrap_or_else(|| {
                    Err(self.error(
                        "BatchGetItem",
                        DedupErrorKind::Other,
                        "the key was not read",
                    ))
                });
                self.claim_one(c, read, lease_until_s, now_s)
            })
            .collect();
        in_flight(claims).await
    }

    /// After delivery succeeded: removes the leases (each conditional on the claim's version).
    /// [`DedupErrorKind::LeaseLost`]: the lease had expired and another invocation took the
    /// finding over.
    pub async fn confirm(&self, claims: &[Claim]) -> Vec<Result<(), DedupError>> {
        in_flight(claims.iter().map(|c| self.confirm_one(c)).collect()).await
    }

    async fn confirm_one(&self, claim: &Claim) -> Result<(), DedupError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.settings.table)
            .key("pk", s(finding_pk(&claim.key)))
            .update_expression("SET ver = :new REMOVE lease_until, prev")
            .condition_expression("ver = :ver")
            .expression_attribute_values(":new", s(new_ver()))
            .expression_attribute_values(":ver", s(&claim.ver))
            .send()
            .await;
        result
            .map(drop)
            .map_err(|e| self.write_error("UpdateItem", &claim.key, e))
    }

    /// After delivery failed: restores the state before each claim (or deletes the item when
    /// there was none), conditional on the claim's version, so that a retry alerts again.
    /// [`DedupErrorKind::LeaseLost`]: another invocation took the finding over; nothing to undo.
    pub async fn release(&self, claims: &[Claim]) -> Vec<Result<(), DedupError>> {
        in_flight(claims.iter().map(|c| self.release_one(c)).collect()).await
    }

    async fn release_one(&self, claim: &Claim) -> Result<(), DedupError> {
        let pk = finding_pk(&claim.key);
        match claim.prev {
            Some(prev) => {
                let expires = prev
                    .alerted_at_s
                    .saturating_add(self.settings.ttl.as_secs());
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.settings.table)
                    .set_item(Some(finding_item(pk, &prev, new_ver(), expires, None)))
                    .condition_expression("ver = :ver")
                    .expression_attribute_values(":ver", s(&claim.ver))
                    .send()
                    .await;
                result
                    .map(drop)
                    .map_err(|e| self.write_error("PutItem", &claim.key, e))
            }
            None => {
                let result = self
                    .client
                    .delete_item()
                    .table_name(&self.settings.table)
                    .key("pk", s(pk))
                    .condition_expression("ver = :ver")
                    .expression_attribute_values(":ver", s(&claim.ver))
                    .send()
                    .await;
                result
                    .map(drop)
                    .map_err(|e| self.write_error("DeleteItem", &claim.key, e))
            }
        }
    }

    /// Whether the object (see [`object_id`]) was processed in full before: when, in epoch
    /// seconds. A malformed item counts as not processed.
    pub async fn object_done(&self, object_id: &str) -> Result<Option<u64>, DedupError> {
        let Some(item) = self.get_item(object_pk(object_id)).await? else {
            return Ok(None);
        };
        match num::<u64>(&item, "done_at") {
            Ok(done) => Ok(Some(done)),
            Err(why) => {
                warn!(table = %self.settings.table, object_id, why, "malformed object item in the dedup table: treated as not processed");
                Ok(None)
            }
        }
    }

    /// Records that the object (see [`object_id`]) was processed in full, for `ttl`.
    pub async fn mark_object_done(&self, object_id: &str, now_s: u64) -> Result<(), DedupError> {
        let expires = now_s.saturating_add(self.settings.ttl.as_secs());
        self.client
            .put_item()
            .table_name(&self.settings.table)
            .item("pk", s(object_pk(object_id)))
            .item("done_at", n(now_s))
            .item("expires_at", n(expires))
            .send()
            .await
            .map(drop)
            .map_err(|e| self.sdk_error("PutItem", e))
    }

    /// Decides one candidate and, if it alerts, claims it.
    async fn claim_one(
        &self,
        c: &Candidate,
        read: Result<Slot, DedupError>,
        lease_until_s: u64,
        now_s: u64,
    ) -> ClaimOutcome {
        let mut slot = match read {
            Ok(slot) => slot,
            Err(e) => return ClaimOutcome::Error(e),
        };
        for attempt in 1..=CLAIM_ATTEMPTS {
            let (verdict, prev) = judge(slot.stored.as_ref(), c, &self.settings, now_s);
            if !verdict.alerts() {
                return ClaimOutcome::Skip(verdict);
            }
            let ver = new_ver();
            let expires = now_s
                .saturating_add(self.settings.ttl.as_secs())
                .max(lease_until_s);
            let item = finding_item(
                finding_pk(&c.key),
                &c.alerted_at(now_s),
                ver.clone(),
                expires,
                Some(Lease {
                    until_s: lease_until_s,
                    prev,
                }),
            );
            let put = self
                .client
                .put_item()
                .table_name(&self.settings.table)
                .set_item(Some(item));
            let put = match (&slot.exists, &slot.ver) {
                (false, _) => put.condition_expression("attribute_not_exists(pk)"),
                (true, Some(old)) => put
                    .condition_expression("ver = :ver")
                    .expression_attribute_values(":ver", s(old)),
                // An unreadable item without a readable version: replace it as long as that holds.
                (true, None) => put
                    .condition_expression("attribute_exists(pk) AND NOT attribute_type(ver, :s)")
                    .expression_attribute_values(":s", s("S")),
            };
            match put.send().await {
                Ok(_) => {
                    return ClaimOutcome::Alert {
                        verdict,
                        claim: Claim {
                            key: c.key.clone(),
                            ver,
                            prev,
                        },
                    };
                }
                Err(e) if is_conditional_failure(&e) => {
                    debug!(key = %c.key, attempt, "dedup claim lost a race; reading the item again");
                    slot = match self.get_one(&c.key).await {
                        Ok(slot) => slot,
                        Err(e) => return ClaimOutcome::Error(e),
                    };
                }
                Err(e) => return ClaimOutcome::Error(self.sdk_error("PutItem", e)),
            }
        }
        ClaimOutcome::Error(self.error(
            "PutItem",
            DedupErrorKind::Contention,
            format!(
                "the item of finding {} changed under {CLAIM_ATTEMPTS} claims in a row; alerting without a claim",
                c.key
            ),
        ))
    }

    /// Reads up to 100 finding keys with one `BatchGetItem` (and its unprocessed keys again).
    async fn batch_get(&self, keys: &[&str]) -> Vec<(String, Result<Slot, DedupError>)> {
        let mut pending: Vec<HashMap<String, AttributeValue>> = keys
            .iter()
            .map(|k| HashMap::from([("pk".to_owned(), s(finding_pk(k)))]))
            .collect();
        let mut found: HashMap<String, HashMap<String, AttributeValue>> = HashMap::new();
        let mut failure: Option<DedupError> = None;
        let mut retry = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending.clone()))
                .consistent_read(true)
                .build();
            let sent = match request {
                Ok(request) => self
                    .client
                    .batch_get_item()
                    .request_items(&self.settings.table, request)
                    .send()
                    .await
                    .map_err(|e| self.sdk_error("BatchGetItem", e)),
                Err(e) => Err(self.error("BatchGetItem", DedupErrorKind::Other, e.to_string())),
            };
            let out = match sent {
                Ok(out) => out,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            for item in out.responses.unwrap_or_default().into_values().flatten() {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    found.insert(pk.clone(), item);
                }
            }
            pending = out
                .unprocessed_keys
                .unwrap_or_default()
                .into_values()
                .flat_map(|ka| ka.keys)
                .collect();
            if pending.is_empty() {
                break;
            }
            retry += 1;
            if retry > UNPROCESSED_RETRIES {
                failure = Some(self.error(
                    "BatchGetItem",
                    DedupErrorKind::Throttled,
                    format!(
                        "{} keys were still unprocessed after {UNPROCESSED_RETRIES} retries: use on-demand capacity (PAY_PER_REQUEST) or raise the table's read capacity",
                        pending.len()
                    ),
                ));
                break;
            }
            debug!(
                retry,
                left = pending.len(),
                "BatchGetItem left keys unprocessed; retrying"
            );
            tokio::time::sleep(crate::common::retry::backoff(
                Duration::from_millis(50),
                retry,
                Duration::from_secs(2),
            ))
            .await;
        }
        // The keys not read (only after a failure).
        let unread: Vec<&String> = pending
            .iter()
            .filter_map(|k| match k.get("pk") {
                Some(AttributeValue::S(pk)) => Some(pk),
                _ => None,
            })
            .collect();
        keys.iter()
            .map(|k| {
                let pk = finding_pk(k);
                let result = match &failure {
                    Some(e) if unread.contains(&&pk) => Err(e.clone()),
                    _ => Ok(self.slot(k, found.get(&pk))),
                };
                ((*k).to_owned(), result)
            })
            .collect()
    }

    /// Reads one finding key (after a lost race).
    async fn get_one(&self, key: &str) -> Result<Slot, DedupError> {
        let item = self.get_item(finding_pk(key)).await?;
        Ok(self.slot(key, item.as_ref()))
    }

    /// One item, read consistently.
    async fn get_item(
        &self,
        pk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, DedupError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    /// What an item read under `key` holds; a malformed one is logged and counts as absent.
    fn slot(&self, key: &str, item: Option<&HashMap<String, AttributeValue>>) -> Slot {
        let Some(item) = item else {
            return Slot::default();
        };
        let ver = match item.get("ver") {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        };
        let stored = match parse_stored(item) {
            Ok(st) if ver.is_some() => Some(st),
            Ok(_) => {
                warn!(table = %self.settings.table, key, "dedup item without a version: treated as absent");
                None
            }
            Err(why) => {
                warn!(table = %self.settings.table, key, why, "malformed dedup item: treated as absent");
                None
            }
        };
        Slot {
            exists: true,
            ver,
            stored,
        }
    }

    fn error(
        &self,
        operation: &'static str,
        kind: DedupErrorKind,
        problem: impl Into<String>,
    ) -> DedupError {
        DedupError {
            table: self.settings.table.clone(),
            operation,
            kind,
            problem: problem.into(),
        }
    }

    /// A failed conditional write of confirm or release: a lost lease, or as [`Self::sdk_error`].
    fn write_error<E, R>(&self, operation: &'static str, key: &str, e: SdkError<E, R>) -> DedupError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        if is_conditional_failure(&e) {
            self.error(
                operation,
                DedupErrorKind::LeaseLost,
                format!(
                    "the claim on finding {key} was taken over by another invocation after its lease expired; nothing to do"
                ),
            )
        } else {
            self.sdk_error(operation, e)
        }
    }

    /// An SDK error as a [`DedupError`] that says what to do.
    fn sdk_error<E, R>(&self, operation: &'static str, e: SdkError<E, R>) -> DedupError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let table = &self.settings.table;
        let (kind, problem) = match e.code() {
            Some("AccessDeniedException") => (
                DedupErrorKind::AccessDenied,
                format!(
                    "access denied: the function's role needs dynamodb:GetItem/BatchGetItem/PutItem/UpdateItem/DeleteItem on table {table} ({})",
                    e.message().unwrap_or("no detail")
                ),
            ),
            Some("ResourceNotFoundException") => {
                let region = self
                    .client
                    .config()
                    .region()
                    .map_or_else(|| "the configured region".to_owned(), ToString::to_string);
                (
                    DedupErrorKind::TableNotFound,
                    format!(
                        "table {table} does not exist in {region}: create it (partition key pk of type String, TTL on expires_at) or fix DEDUP_TABLE"
                    ),
                )
            }
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded",
            ) => (
                DedupErrorKind::Throttled,
                "throttled beyond the SDK's retries: use on-demand capacity (PAY_PER_REQUEST) or raise the table's capacity".to_owned(),
            ),
            Some("ValidationException") => (
                DedupErrorKind::Other,
                format!(
                    "DynamoDB rejected the request ({}): the table's partition key must be pk of type String, with no sort key",
                    e.message().unwrap_or("no detail")
                ),
            ),
            _ => match e {
                SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => (
                    DedupErrorKind::Other,
                    format!(
                        "DynamoDB did not answer ({}): check the function's network path to DynamoDB (a VPC endpoint or NAT)",
                        DisplayErrorContext(&e)
                    ),
                ),
                _ => (
                    DedupErrorKind::Other,
                    DisplayErrorContext(&e).to_string(),
                ),
            },
        };
        self.error(operation, kind, problem)
    }
}

fn is_conditional_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// Runs the writes with at most [`WRITES_IN_FLIGHT`] at once; the results in their order. The
/// futures are made before they are streamed (a `Vec`, not a stream's `map` closure), so that the
/// whole future is provably `Send` for callers that need it.
async fn in_flight<F: Future>(writes: Vec<F>) -> Vec<F::Output> {
    futures_util::stream::iter(writes)
        .buffered(WRITES_IN_FLIGHT)
        .collect()
        .await
}

#[cfg(test)]
mod tests;
