//! Finding dedup and object idempotency, with state in one DynamoDB table.
//!
//! GuardDuty exports an updated finding again every export interval, with a higher
//! `service.count`. With a table configured (`DEDUP_TABLE`), a finding alerts the first time,
//! and again only when
//!
//! - its severity band rises above the band last alerted ([`Verdict::SeverityRose`]; a falling
//!   band does not alert),
//! - its count reaches the count last alerted × `DEDUP_COUNT_FACTOR` ([`Verdict::CountGrew`]),
//! - or `DEDUP_REALERT_HOURS` have passed since the last alert ([`Verdict::IntervalPassed`]).
//!
//! [`decide`] is that rule, pure. [`DedupStore`] applies it against the table so that nothing
//! is lost and concurrent invocations do not both alert:
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
//! # Settings
//!
//! | variable | meaning |
//! |---|---|
//! | `DEDUP_TABLE` | the table's name or ARN; unset or empty: no dedup |
//! | `DEDUP_COUNT_FACTOR` | alert again when the count reaches the count last alerted × this; above 1, default 2 |
//! | `DEDUP_REALERT_HOURS` | alert again after this many hours; default 24 |
//! | `DEDUP_TTL_DAYS` | items expire this many days after the last alert; default 30, at least the re-alert interval |

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::StreamExt;
use tracing::{debug, warn};

use crate::app::resolve::SetupError;
use crate::classify::{Classification, SeverityLabel, classify, format_severity};
use crate::decide::Decide;
use crate::decide::{Record, Sink};
use crate::export::finding::Finding;

/// Every variable [`DedupSettings::from_lookup`] reads.
pub const DEDUP_ENV_VARS: [&str; 4] = [
    "DEDUP_TABLE",
    "DEDUP_COUNT_FACTOR",
    "DEDUP_REALERT_HOURS",
    "DEDUP_TTL_DAYS",
];

/// Default of [`DedupSettings::count_factor`].
pub const DEFAULT_COUNT_FACTOR: f64 = 2.0;
/// Default of [`DedupSettings::realert_after`]: 24 hours.
pub const DEFAULT_REALERT_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Default of [`DedupSettings::ttl`]: 30 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 86400);

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

/// How the dedup behaves, from the environment ([`DedupSettings::from_lookup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DedupSettings {
    /// The table's name or ARN (`DEDUP_TABLE`).
    pub table: String,
    /// Alert again when the count is at least the count last alerted × this
    /// (`DEDUP_COUNT_FACTOR`, above 1; default 2).
    pub count_factor: f64,
    /// Alert again once this long has passed since the last alert (`DEDUP_REALERT_HOURS`;
    /// default 24 hours).
    pub realert_after: Duration,
    /// Items expire this long after the last alert (`DEDUP_TTL_DAYS`; default 30 days); at least
    /// `realert_after`.
    pub ttl: Duration,
}

impl DedupSettings {
    /// The defaults, for `table`.
    pub fn new(table: impl Into<String>) -> Self {
        DedupSettings {
            table: table.into(),
            count_factor: DEFAULT_COUNT_FACTOR,
            realert_after: DEFAULT_REALERT_AFTER,
            ttl: DEFAULT_TTL,
        }
    }

    /// Reads and checks [`DEDUP_ENV_VARS`]. `Ok(None)`: `DEDUP_TABLE` is unset or empty, dedup
    /// is off. Every wrong value is an error naming its variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<DedupSettings>, SetupError> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(table) = get("DEDUP_TABLE") else {
            if let Some(var) = DEDUP_ENV_VARS[1..].iter().find(|v| get(v).is_some()) {
                return Err(setup_err(
                    var,
                    "is set but DEDUP_TABLE is not: set DEDUP_TABLE to turn dedup on",
                ));
            }
            return Ok(None);
        };
        if !is_table_name_or_arn(&table) {
            return Err(setup_err(
                "DEDUP_TABLE",
                format!(
                    "{table:?} is not a DynamoDB table name or ARN: a name has 3 to 255 letters, digits, '_', '-' or '.'"
                ),
            ));
        }
        let mut s = DedupSettings::new(table);
        let number = |var: &str, ok: &dyn Fn(f64) -> bool, hint: &str| {
            get(var)
                .map(|v| match v.parse::<f64>() {
                    Ok(n) if n.is_finite() && ok(n) => Ok(n),
                    _ => Err(setup_err(var, format!("{v:?}: {hint}"))),
                })
                .transpose()
        };
        if let Some(f) = number(
            "DEDUP_COUNT_FACTOR",
            &|n| n > 1.0,
            "use a number greater than 1 (default 2: alert again when the count has doubled)",
        )? {
            s.count_factor = f;
        }
        if let Some(h) = number(
            "DEDUP_REALERT_HOURS",
            &|n| n > 0.0 && n <= 8760.0,
            "use a number of hours greater than 0, at most 8760 (default 24)",
        )? {
            s.realert_after = Duration::from_secs_f64(h * 3600.0);
        }
        let ttl_days = number(
            "DEDUP_TTL_DAYS",
            &|n| n > 0.0 && n <= 3650.0,
            "use a number of days greater than 0, at most 3650 (default 30)",
        )?;
        if let Some(d) = ttl_days {
            s.ttl = Duration::from_secs_f64(d * 86400.0);
        }
        if s.ttl < s.realert_after {
            let hours = format_severity(s.realert_after.as_secs_f64() / 3600.0);
            let days = format_severity(s.ttl.as_secs_f64() / 86400.0);
            let at_least =
                format_severity((s.realert_after.as_secs_f64() / 86400.0 * 100.0).ceil() / 100.0);
            return Err(if ttl_days.is_some() {
                setup_err(
                    "DEDUP_TTL_DAYS",
                    format!(
                        "{days} days is shorter than the re-alert interval ({hours} hours): items would expire first; use at least {at_least}"
                    ),
                )
            } else {
                setup_err(
                    "DEDUP_REALERT_HOURS",
                    format!(
                        "{hours} hours is longer than the items' lifetime (DEDUP_TTL_DAYS, default {days} days): set DEDUP_TTL_DAYS to at least {at_least}"
                    ),
                )
            });
        }
        Ok(Some(s))
    }
}

fn setup_err(setting: &str, problem: impl Into<String>) -> SetupError {
    SetupError {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// A table name (3 to 255 of `[A-Za-z0-9_.-]`) or a table ARN.
fn is_table_name_or_arn(s: &str) -> bool {
    let name_ok = |n: &str| {
        (3..=255).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    match s.strip_prefix("arn:") {
        None => name_ok(s),
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            parts.len() == 5
                && parts[0].starts_with("aws")
                && parts[1] == "dynamodb"
                && parts[4].strip_prefix("table/").is_some_and(name_ok)
        }
    }
}

/// A finding as the dedup sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `ACCOUNT/REGION/FINDING_ID` (a missing account or region is `-`).
    pub key: String,
    /// The severity band.
    pub label: SeverityLabel,
    /// The numeric severity.
    pub severity: f64,
    /// `service.count` (1 when absent or below 1).
    pub count: u64,
}

impl Candidate {
    /// The candidate of a parsed, classified finding.
    pub fn new(f: &Finding<'_>, c: &Classification<'_>) -> Candidate {
        let count = f
            .service()
            .and_then(|s| s.count.0)
            .filter(|n| *n >= 1.0)
            .map_or(1, |n| n as u64);
        Candidate {
            key: format!(
                "{}/{}/{}",
                c.account_id.unwrap_or("-"),
                c.region.unwrap_or("-"),
                f.id()
            ),
            label: c.label,
            severity: f.severity(),
            count,
        }
    }

    fn alerted_at(&self, now_s: u64) -> Alerted {
        Alerted {
            label: self.label,
            severity: self.severity,
            count: self.count,
            alerted_at_s: now_s,
        }
    }
}

/// A finding's state as last alerted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alerted {
    /// The band.
    pub label: SeverityLabel,
    /// The numeric severity.
    pub severity: f64,
    /// The count.
    pub count: u64,
    /// When (epoch seconds).
    pub alerted_at_s: u64,
}

/// A claim on a finding whose delivery is (or was) in flight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lease {
    /// Until when the claim holds (epoch seconds).
    pub until_s: u64,
    /// The state before the claim (`None`: the finding had not been alerted).
    pub prev: Option<Alerted>,
}

/// A finding item as read from the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stored {
    /// The state written last (confirmed, or claimed while `lease` is set).
    pub current: Alerted,
    /// Set while a delivery is in flight, or after an invocation died before confirming.
    pub lease: Option<Lease>,
    /// When the item expires (epoch seconds).
    pub expires_at_s: u64,
}

/// Whether a finding alerts, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Never alerted (or its item expired): alert.
    New,
    /// The band rose above the band last alerted: alert.
    SeverityRose {
        /// The band last alerted.
        from: SeverityLabel,
    },
    /// The count reached the count last alerted × the factor: alert.
    CountGrew {
        /// The count last alerted.
        from: u64,
    },
    /// The re-alert interval has passed since the last alert: alert.
    IntervalPassed {
        /// When it was last alerted (epoch seconds).
        last_alert_s: u64,
    },
    /// Alerted already and nothing grew: no alert.
    Duplicate {
        /// When it was last alerted (epoch seconds).
        last_alert_s: u64,
    },
    /// Another invocation holds an unexpired claim: it delivers, or fails and is retried (or its
    /// lease expires and a later invocation alerts). No alert here.
    InFlight,
}

impl Verdict {
    /// Whether the finding alerts.
    pub fn alerts(&self) -> bool {
        matches!(
            self,
            Verdict::New
                | Verdict::SeverityRose { .. }
                | Verdict::CountGrew { .. }
                | Verdict::IntervalPassed { .. }
        )
    }

    /// `new`, `severity_rose`, `count_grew`, `interval_passed`, `duplicate` or `in_flight`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::New => "new",
            Verdict::SeverityRose { .. } => "severity_rose",
            Verdict::CountGrew { .. } => "count_grew",
            Verdict::IntervalPassed { .. } => "interval_passed",
            Verdict::Duplicate { .. } => "duplicate",
            Verdict::InFlight => "in_flight",
        }
    }
}

/// Whether `c` alerts given its stored item. Pure.
///
/// An unexpired lease is [`Verdict::InFlight`]. An expired lease (the invocation died before
/// confirming or releasing) counts as not alerted: the state before it decides. A state whose
/// lifetime (`expires_at`, or `ttl` after a previous alert) has passed counts as absent.
pub fn decide(stored: Option<&Stored>, c: &Candidate, s: &DedupSettings, now_s: u64) -> Verdict {
    judge(stored, c, s, now_s).0
}

/// The verdict, and the state it was decided against (the `prev` of a claim).
fn judge(
    stored: Option<&Stored>,
    c: &Candidate,
    s: &DedupSettings,
    now_s: u64,
) -> (Verdict, Option<Alerted>) {
    let last = match stored {
        None => None,
        Some(st) => {
            let (last, expires_at_s) = match st.lease {
                Some(l) if l.until_s > now_s => return (Verdict::InFlight, None),
                Some(l) => (
                    l.prev,
                    l.prev
                        .map_or(0, |p| p.alerted_at_s.saturating_add(s.ttl.as_secs())),
                ),
                None => (Some(st.current), st.expires_at_s),
            };
            last.filter(|_| expires_at_s > now_s)
        }
    };
    let Some(last) = last else {
        return (Verdict::New, None);
    };
    let verdict = if c.label > last.label {
        Verdict::SeverityRose { from: last.label }
    } else if c.count > last.count && c.count as f64 >= last.count as f64 * s.count_factor {
        Verdict::CountGrew { from: last.count }
    } else if now_s >= last.alerted_at_s.saturating_add(s.realert_after.as_secs()) {
        Verdict::IntervalPassed {
            last_alert_s: last.alerted_at_s,
        }
    } else {
        Verdict::Duplicate {
            last_alert_s: last.alerted_at_s,
        }
    };
    (verdict, Some(last))
}

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
        // Futures are made before they are streamed (not in a stream's `map` closure), so that
        // the whole future is provably `Send` for callers that need it.
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
        futures_util::stream::iter(claims)
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await
    }

    /// After delivery succeeded: removes the leases (each conditional on the claim's version).
    /// [`DedupErrorKind::LeaseLost`]: the lease had expired and another invocation took the
    /// finding over.
    pub async fn confirm(&self, claims: &[Claim]) -> Vec<Result<(), DedupError>> {
        let futures: Vec<_> = claims.iter().map(|c| self.confirm_one(c)).collect();
        futures_util::stream::iter(futures)
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await
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
        let futures: Vec<_> = claims.iter().map(|c| self.release_one(c)).collect();
        futures_util::stream::iter(futures)
            .buffered(WRITES_IN_FLIGHT)
            .collect()
            .await
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
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key("pk", s(object_pk(object_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_error("GetItem", e))?;
        let Some(item) = out.item else {
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
        let out = self
            .client
            .get_item()
            .table_name(&self.settings.table)
            .key("pk", s(finding_pk(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.sdk_error("GetItem", e))?;
        Ok(self.slot(key, out.item.as_ref()))
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

fn finding_pk(key: &str) -> String {
    format!("finding#{key}")
}

fn object_pk(object_id: &str) -> String {
    format!("object#{object_id}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A new version: unique per write (time, a process-wide counter, 64 random bits).
fn new_ver() -> String {
    use ring::rand::SecureRandom as _;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 8];
    let random = match ring::rand::SystemRandom::new().fill(&mut random) {
        Ok(()) => u64::from_le_bytes(random),
        Err(_) => u64::from(std::process::id()),
    };
    format!("{nanos:x}-{count:x}-{random:016x}")
}

/// The members of an [`Alerted`] state.
fn state_members(a: &Alerted) -> [(&'static str, AttributeValue); 4] {
    let severity = if a.severity.is_finite() {
        a.severity
    } else {
        0.0
    };
    [
        ("band", n(a.label as u8)),
        ("severity", n(severity)),
        ("count", n(a.count)),
        ("alerted_at", n(a.alerted_at_s)),
    ]
}

/// A finding item (see the module doc).
fn finding_item(
    pk: String,
    state: &Alerted,
    ver: String,
    expires_at_s: u64,
    lease: Option<Lease>,
) -> HashMap<String, AttributeValue> {
    let mut item: HashMap<String, AttributeValue> = state_members(state)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    item.insert("pk".into(), s(pk));
    item.insert("ver".into(), s(ver));
    item.insert("expires_at".into(), n(expires_at_s));
    if let Some(lease) = lease {
        item.insert("lease_until".into(), n(lease.until_s));
        if let Some(prev) = lease.prev {
            let prev = state_members(&prev)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            item.insert("prev".into(), AttributeValue::M(prev));
        }
    }
    item
}

/// A number member, or why not.
fn num<T: std::str::FromStr>(m: &HashMap<String, AttributeValue>, name: &str) -> Result<T, String> {
    match m.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| format!("{name} is not a number of the expected kind: {v:?}")),
        Some(_) => Err(format!("{name} is not of type N")),
        None => Err(format!("{name} is missing")),
    }
}

fn parse_state(m: &HashMap<String, AttributeValue>) -> Result<Alerted, String> {
    let band: usize = num(m, "band")?;
    let label = *SeverityLabel::ALL
        .get(band)
        .ok_or_else(|| format!("band {band} is not 0 to 3"))?;
    let severity: f64 = num(m, "severity")?;
    if !severity.is_finite() {
        return Err("severity is not finite".into());
    }
    Ok(Alerted {
        label,
        severity,
        count: num(m, "count")?,
        alerted_at_s: num(m, "alerted_at")?,
    })
}

/// A finding item's state, or why it cannot be read.
fn parse_stored(item: &HashMap<String, AttributeValue>) -> Result<Stored, String> {
    let current = parse_state(item)?;
    let expires_at_s = num(item, "expires_at")?;
    let lease = match item.get("lease_until") {
        None => None,
        Some(_) => {
            let until_s = num(item, "lease_until")?;
            let prev = match item.get("prev") {
                None | Some(AttributeValue::Null(_)) => None,
                Some(AttributeValue::M(m)) => {
                    Some(parse_state(m).map_err(|e| format!("prev: {e}"))?)
                }
                Some(_) => return Err("prev is not of type M".into()),
            };
            Some(Lease { until_s, prev })
        }
    };
    Ok(Stored {
        current,
        lease,
        expires_at_s,
    })
}

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

/// What an output can say after [`Sink::finish`] about what it failed to deliver.
pub trait DeliveryFailures {
    /// Finding ids that were not delivered to some destination, and whether a digest (whose
    /// findings are not all named) failed.
    fn failed_findings(&self) -> (std::collections::HashSet<String>, bool);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;
    use SeverityLabel::*;

    const NOW: u64 = 1_800_000_000;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86400;

    fn settings() -> DedupSettings {
        DedupSettings::new("gd-dedup")
    }

    fn cand(label: SeverityLabel, count: u64) -> Candidate {
        Candidate {
            key: "111122223333/us-east-1/f1".into(),
            label,
            severity: label.lower_bound() + 0.5,
            count,
        }
    }

    fn state(label: SeverityLabel, count: u64, alerted_at_s: u64) -> Alerted {
        Alerted {
            label,
            severity: label.lower_bound() + 0.5,
            count,
            alerted_at_s,
        }
    }

    /// A confirmed item, alerted `ago` seconds before NOW.
    fn confirmed(label: SeverityLabel, count: u64, ago: u64) -> Stored {
        Stored {
            current: state(label, count, NOW - ago),
            lease: None,
            expires_at_s: NOW - ago + 30 * DAY,
        }
    }

    /// An item claimed at NOW - 60 with a lease until NOW + `lease_from_now` (negative: expired).
    fn leased(lease_from_now: i64, prev: Option<Alerted>) -> Stored {
        Stored {
            current: state(Critical, 1000, NOW - 60),
            lease: Some(Lease {
                until_s: NOW.saturating_add_signed(lease_from_now),
                prev,
            }),
            expires_at_s: NOW - 60 + 30 * DAY,
        }
    }

    #[test]
    fn decide_table() {
        use Verdict::*;
        let dup = |ago: u64| Duplicate {
            last_alert_s: NOW - ago,
        };
        let cases: Vec<(&str, Option<Stored>, Candidate, Verdict)> = vec![
            ("never seen", None, cand(Medium, 1), New),
            (
                "same band and count",
                Some(confirmed(Medium, 3, HOUR)),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "band rises",
                Some(confirmed(Medium, 3, HOUR)),
                cand(High, 3),
                SeverityRose { from: Medium },
            ),
            (
                "band rises two steps",
                Some(confirmed(Low, 3, HOUR)),
                cand(Critical, 3),
                SeverityRose { from: Low },
            ),
            (
                "band falls",
                Some(confirmed(High, 3, HOUR)),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "count below the factor",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 19),
                dup(HOUR),
            ),
            (
                "count at the factor",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 20),
                CountGrew { from: 10 },
            ),
            (
                "count above the factor",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 21),
                CountGrew { from: 10 },
            ),
            (
                "count 1 to 2 doubles",
                Some(confirmed(Medium, 1, HOUR)),
                cand(Medium, 2),
                CountGrew { from: 1 },
            ),
            (
                "count fell",
                Some(confirmed(Medium, 10, HOUR)),
                cand(Medium, 4),
                dup(HOUR),
            ),
            (
                "band falls, count grew",
                Some(confirmed(High, 10, HOUR)),
                cand(Medium, 40),
                CountGrew { from: 10 },
            ),
            (
                "interval just below",
                Some(confirmed(Medium, 3, 24 * HOUR - 1)),
                cand(Medium, 3),
                dup(24 * HOUR - 1),
            ),
            (
                "interval at",
                Some(confirmed(Medium, 3, 24 * HOUR)),
                cand(Medium, 3),
                IntervalPassed {
                    last_alert_s: NOW - 24 * HOUR,
                },
            ),
            (
                "interval above",
                Some(confirmed(Medium, 3, 24 * HOUR + 1)),
                cand(Medium, 3),
                IntervalPassed {
                    last_alert_s: NOW - 24 * HOUR - 1,
                },
            ),
            (
                "interval passed, band fell",
                Some(confirmed(High, 3, 2 * DAY)),
                cand(Low, 3),
                IntervalPassed {
                    last_alert_s: NOW - 2 * DAY,
                },
            ),
            (
                "rise wins over count and interval",
                Some(confirmed(Medium, 1, 2 * DAY)),
                cand(High, 100),
                SeverityRose { from: Medium },
            ),
            (
                "count wins over interval",
                Some(confirmed(Medium, 1, 2 * DAY)),
                cand(Medium, 100),
                CountGrew { from: 1 },
            ),
            (
                "alerted in the future (clock skew)",
                Some(confirmed(Medium, 3, 0)),
                cand(Medium, 3),
                dup(0),
            ),
            (
                "expired item",
                Some(Stored {
                    expires_at_s: NOW,
                    ..confirmed(Medium, 3, HOUR)
                }),
                cand(Medium, 3),
                New,
            ),
            (
                "item expires in 1 s",
                Some(Stored {
                    expires_at_s: NOW + 1,
                    ..confirmed(Medium, 3, HOUR)
                }),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "unexpired lease",
                Some(leased(1, None)),
                cand(Medium, 1),
                InFlight,
            ),
            (
                "unexpired lease, band rose",
                Some(leased(600, Some(state(Low, 1, NOW - HOUR)))),
                cand(Critical, 1000),
                InFlight,
            ),
            (
                "expired lease at its deadline, no previous alert",
                Some(leased(0, None)),
                cand(Medium, 1),
                New,
            ),
            (
                "expired lease, no previous alert",
                Some(leased(-1, None)),
                cand(Medium, 1),
                New,
            ),
            (
                "expired lease, previous alert decides",
                Some(leased(-1, Some(state(Medium, 3, NOW - HOUR)))),
                cand(Medium, 3),
                dup(HOUR),
            ),
            (
                "expired lease, rise over the previous alert",
                Some(leased(-1, Some(state(Medium, 3, NOW - HOUR)))),
                cand(High, 3),
                SeverityRose { from: Medium },
            ),
            (
                "expired lease, previous alert expired",
                Some(leased(-1, Some(state(Medium, 3, NOW - 30 * DAY)))),
                cand(Medium, 3),
                New,
            ),
        ];
        let s = settings();
        for (name, stored, c, want) in cases {
            let got = decide(stored.as_ref(), &c, &s, NOW);
            assert_eq!(got, want, "{name}");
        }
        // Another factor.
        let s = DedupSettings {
            count_factor: 1.5,
            ..settings()
        };
        let st = confirmed(Medium, 3, HOUR);
        assert_eq!(decide(Some(&st), &cand(Medium, 4), &s, NOW), dup(HOUR));
        assert_eq!(
            decide(Some(&st), &cand(Medium, 5), &s, NOW),
            CountGrew { from: 3 }
        );
    }

    #[test]
    fn the_previous_state_of_a_claim_is_what_was_decided_against() {
        let s = settings();
        let st = confirmed(Medium, 3, HOUR);
        assert_eq!(
            judge(Some(&st), &cand(High, 3), &s, NOW).1,
            Some(st.current)
        );
        let prev = state(Low, 1, NOW - HOUR);
        let st = leased(-1, Some(prev));
        assert_eq!(judge(Some(&st), &cand(High, 3), &s, NOW).1, Some(prev));
        assert_eq!(judge(None, &cand(High, 3), &s, NOW).1, None);
    }

    #[test]
    fn verdict_names() {
        let all = [
            (Verdict::New, "new", true),
            (Verdict::SeverityRose { from: Low }, "severity_rose", true),
            (Verdict::CountGrew { from: 1 }, "count_grew", true),
            (
                Verdict::IntervalPassed { last_alert_s: 1 },
                "interval_passed",
                true,
            ),
            (Verdict::Duplicate { last_alert_s: 1 }, "duplicate", false),
            (Verdict::InFlight, "in_flight", false),
        ];
        for (v, name, alerts) in all {
            assert_eq!((v.as_str(), v.alerts()), (name, alerts));
        }
        let err = DedupError {
            table: "t".into(),
            operation: "PutItem",
            kind: DedupErrorKind::Other,
            problem: "p".into(),
        };
        assert!(ClaimOutcome::Error(err).alerts(), "fail open");
        assert!(!ClaimOutcome::Skip(Verdict::InFlight).alerts());
    }

    fn from_vars(vars: &[(&str, &str)]) -> Result<Option<DedupSettings>, String> {
        let m: HashMap<&str, &str> = vars.iter().copied().collect();
        DedupSettings::from_lookup(|k| m.get(k).map(|v| (*v).to_owned())).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_from_the_environment() {
        assert_eq!(from_vars(&[]), Ok(None));
        assert_eq!(from_vars(&[("DEDUP_TABLE", " ")]), Ok(None));
        assert_eq!(
            from_vars(&[("DEDUP_TABLE", "gd-dedup")]),
            Ok(Some(settings()))
        );
        assert_eq!(
            from_vars(&[
                ("DEDUP_TABLE", " gd_dedup.v1 "),
                ("DEDUP_COUNT_FACTOR", "1.5"),
                ("DEDUP_REALERT_HOURS", "0.5"),
                ("DEDUP_TTL_DAYS", "7"),
            ]),
            Ok(Some(DedupSettings {
                table: "gd_dedup.v1".into(),
                count_factor: 1.5,
                realert_after: Duration::from_secs(1800),
                ttl: Duration::from_secs(7 * DAY),
            }))
        );
        let arn = "arn:aws:dynamodb:us-east-1:111122223333:table/gd-dedup";
        assert_eq!(
            from_vars(&[("DEDUP_TABLE", arn)]).map(|s| s.map(|s| s.table)),
            Ok(Some(arn.to_owned()))
        );
        // The TTL may equal the re-alert interval.
        assert!(
            from_vars(&[("DEDUP_TABLE", "t12"), ("DEDUP_TTL_DAYS", "1")])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn every_bad_setting_is_an_error_naming_its_variable() {
        let t = ("DEDUP_TABLE", "gd-dedup");
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("DEDUP_COUNT_FACTOR", "3")],
                "configuration error: DEDUP_COUNT_FACTOR: is set but DEDUP_TABLE is not: set DEDUP_TABLE to turn dedup on",
            ),
            (
                vec![("DEDUP_TABLE", ""), ("DEDUP_TTL_DAYS", "3")],
                "configuration error: DEDUP_TTL_DAYS: is set but DEDUP_TABLE is not: set DEDUP_TABLE to turn dedup on",
            ),
            (
                vec![("DEDUP_TABLE", "my table")],
                "configuration error: DEDUP_TABLE: \"my table\" is not a DynamoDB table name or ARN: a name has 3 to 255 letters, digits, '_', '-' or '.'",
            ),
            (
                vec![("DEDUP_TABLE", "ab")],
                "configuration error: DEDUP_TABLE: \"ab\" is not a DynamoDB table name or ARN: a name has 3 to 255 letters, digits, '_', '-' or '.'",
            ),
            (
                vec![("DEDUP_TABLE", "arn:aws:sns:us-east-1:111122223333:gd-dedup")],
                "configuration error: DEDUP_TABLE: \"arn:aws:sns:us-east-1:111122223333:gd-dedup\" is not a DynamoDB table name or ARN",
            ),
            (
                vec![t, ("DEDUP_COUNT_FACTOR", "1")],
                "configuration error: DEDUP_COUNT_FACTOR: \"1\": use a number greater than 1 (default 2: alert again when the count has doubled)",
            ),
            (
                vec![t, ("DEDUP_COUNT_FACTOR", "double")],
                "configuration error: DEDUP_COUNT_FACTOR: \"double\": use a number greater than 1",
            ),
            (
                vec![t, ("DEDUP_COUNT_FACTOR", "inf")],
                "configuration error: DEDUP_COUNT_FACTOR: \"inf\": use a number greater than 1",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "0")],
                "configuration error: DEDUP_REALERT_HOURS: \"0\": use a number of hours greater than 0, at most 8760 (default 24)",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "NaN")],
                "configuration error: DEDUP_REALERT_HOURS: \"NaN\": use a number of hours",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "8761")],
                "configuration error: DEDUP_REALERT_HOURS: \"8761\": use a number of hours",
            ),
            (
                vec![t, ("DEDUP_TTL_DAYS", "-1")],
                "configuration error: DEDUP_TTL_DAYS: \"-1\": use a number of days greater than 0, at most 3650 (default 30)",
            ),
            (
                vec![t, ("DEDUP_TTL_DAYS", "1e9")],
                "configuration error: DEDUP_TTL_DAYS: \"1e9\": use a number of days",
            ),
            (
                vec![t, ("DEDUP_TTL_DAYS", "0.5")],
                "configuration error: DEDUP_TTL_DAYS: 0.5 days is shorter than the re-alert interval (24 hours): items would expire first; use at least 1",
            ),
            (
                vec![t, ("DEDUP_REALERT_HOURS", "1000")],
                "configuration error: DEDUP_REALERT_HOURS: 1000 hours is longer than the items' lifetime (DEDUP_TTL_DAYS, default 30 days): set DEDUP_TTL_DAYS to at least 41.67",
            ),
        ];
        for (vars, want) in cases {
            let got = from_vars(&vars).expect_err(want);
            assert!(got.starts_with(want), "{vars:?}:\n got {got}\nwant {want}");
        }
    }

    #[test]
    fn candidates_from_findings() {
        let line = r#"{"id":"abc","type":"Recon:EC2/PortProbeUnprotectedPort","severity":8,
            "accountId":"111122223333","region":"eu-west-1","service":{"count":"7"}}"#;
        let f = Finding::parse(line).unwrap();
        let c = Candidate::new(&f, &classify(&f));
        assert_eq!(
            c,
            Candidate {
                key: "111122223333/eu-west-1/abc".into(),
                label: High,
                severity: 8.0,
                count: 7,
            }
        );
        for (line, key, count) in [
            (r#"{"id":"x","type":"T","severity":2}"#, "-/-/x", 1),
            (
                r#"{"id":"x","type":"T","severity":2,"service":{"count":0}}"#,
                "-/-/x",
                1,
            ),
            (
                r#"{"id":"x","type":"T","severity":2,"arn":"arn:aws:guardduty:us-east-2:444455556666:detector/d/finding/x","service":{"count":12.0}}"#,
                "444455556666/us-east-2/x",
                12,
            ),
        ] {
            let f = Finding::parse(line).unwrap();
            let c = Candidate::new(&f, &classify(&f));
            assert_eq!((c.key.as_str(), c.count), (key, count), "{line}");
        }
    }

    #[test]
    fn items_round_trip() {
        let cur = state(High, 20, NOW);
        let prev = state(Medium, 9, NOW - DAY);
        for lease in [
            None,
            Some(Lease {
                until_s: NOW + 900,
                prev: None,
            }),
            Some(Lease {
                until_s: NOW + 900,
                prev: Some(prev),
            }),
        ] {
            let item = finding_item(finding_pk("a/b/c"), &cur, new_ver(), NOW + 30 * DAY, lease);
            assert_eq!(item["pk"], s("finding#a/b/c"));
            assert_eq!(item["band"], n(2));
            assert_eq!(
                parse_stored(&item),
                Ok(Stored {
                    current: cur,
                    lease,
                    expires_at_s: NOW + 30 * DAY,
                })
            );
        }
    }

    #[test]
    fn malformed_items_are_reasons_not_panics() {
        let good = finding_item(
            finding_pk("k"),
            &state(Low, 1, NOW),
            "v".into(),
            NOW + DAY,
            Some(Lease {
                until_s: NOW + 1,
                prev: Some(state(Low, 1, NOW - DAY)),
            }),
        );
        let prev_of = |k: &str, v: AttributeValue| {
            let AttributeValue::M(mut m) = good["prev"].clone() else {
                unreachable!()
            };
            m.insert(k.into(), v);
            AttributeValue::M(m)
        };
        let cases: Vec<(&str, Option<AttributeValue>, &str)> = vec![
            ("band", None, "band is missing"),
            ("band", Some(n(7)), "band 7 is not 0 to 3"),
            ("band", Some(s("2")), "band is not of type N"),
            (
                "band",
                Some(n(-1)),
                "band is not a number of the expected kind: \"-1\"",
            ),
            ("severity", Some(n("NaN")), "severity is not finite"),
            (
                "count",
                Some(n("1.5")),
                "count is not a number of the expected kind",
            ),
            (
                "alerted_at",
                Some(AttributeValue::Bool(true)),
                "alerted_at is not of type N",
            ),
            ("expires_at", None, "expires_at is missing"),
            (
                "lease_until",
                Some(s("soon")),
                "lease_until is not of type N",
            ),
            ("prev", Some(s("x")), "prev is not of type M"),
            (
                "prev",
                Some(prev_of("count", s("1"))),
                "prev: count is not of type N",
            ),
        ];
        for (member, value, want) in cases {
            let mut item = good.clone();
            match value {
                Some(v) => item.insert(member.into(), v),
                None => item.remove(member),
            };
            let got = parse_stored(&item).expect_err(want);
            assert!(got.starts_with(want), "{member}: {got}");
        }
        // A Null prev is no previous alert.
        let mut item = good.clone();
        item.insert("prev".into(), AttributeValue::Null(true));
        assert_eq!(parse_stored(&item).unwrap().lease.unwrap().prev, None);
    }

    #[test]
    fn a_malformed_item_reads_as_absent_but_present() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        let store = DedupStore::new(Client::from_conf(config), settings());
        let slot = store.slot("k", None);
        assert!(!slot.exists && slot.stored.is_none());
        let mut item = finding_item(finding_pk("k"), &state(Low, 1, NOW), "v1".into(), NOW, None);
        assert_eq!(store.slot("k", Some(&item)).ver.as_deref(), Some("v1"));
        item.insert("band".into(), s("High"));
        let slot = store.slot("k", Some(&item));
        assert!(slot.exists && slot.stored.is_none());
        assert_eq!(slot.ver.as_deref(), Some("v1"));
        item.remove("ver");
        let slot = store.slot("k", Some(&item));
        assert!(slot.exists && slot.ver.is_none() && slot.stored.is_none());
    }

    #[test]
    fn versions_are_unique() {
        let vers: std::collections::HashSet<String> = (0..10_000).map(|_| new_ver()).collect();
        assert_eq!(vers.len(), 10_000);
    }

    #[test]
    fn object_ids() {
        assert_eq!(
            object_id("b", "AWSLogs/1/GuardDuty/x.jsonl.gz", "3HL4kqtJ"),
            "s3://b/AWSLogs/1/GuardDuty/x.jsonl.gz@3HL4kqtJ"
        );
    }
}
