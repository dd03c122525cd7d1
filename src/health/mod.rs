//! The scheduled health check: is GuardDuty still exporting to us?
//!
//! GuardDuty writes an export only when findings are new or updated, so a quiet account sends
//! nothing for days and "no export lately" proves nothing. Instead, on a schedule (an EventBridge
//! `Scheduled Event`), the function asks GuardDuty itself: in every configured Region, each
//! detector must have a publishing destination whose status is `PUBLISHING` and which reports no
//! publishing failure. Optionally (`HEALTH_MAX_EXPORT_AGE_HOURS`), the newest export under each
//! destination (`{prefix}AWSLogs/{account}/GuardDuty/{region}/YYYY/MM/DD/`) must be younger
//! than a limit — for accounts busy enough that a long silence means something.
//!
//! [`assess`] is the verdict for one destination, pure. [`check`] walks the Regions through two
//! small edges, [`GuardDutyApi`] (the GuardDuty API) and [`ExportListing`] (S3 listing), whose
//! SDK implementations are [`SdkGuardDuty`] and [`SdkExportListing`]. A check that cannot be
//! made (the API refuses, a Region has no detector) counts as unhealthy: the alarm on
//! `PublishingDestinationsUnhealthy` fires and the log says why.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::json;

use crate::common::names::{is_account_id, is_region};

/// The environment variables of the health check.
pub const HEALTH_ENV_VARS: [&str; 2] = ["HEALTH_CHECK_REGIONS", "HEALTH_MAX_EXPORT_AGE_HOURS"];

/// What the health check looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthSettings {
    /// Regions whose detectors are checked (`HEALTH_CHECK_REGIONS`); empty: the function's own.
    pub regions: Vec<String>,
    /// The newest export must be younger than this (`HEALTH_MAX_EXPORT_AGE_HOURS`; 0 or unset:
    /// not checked).
    pub max_export_age: Option<Duration>,
}

impl HealthSettings {
    /// Parses `HEALTH_CHECK_REGIONS` (comma-separated Region names) and
    /// `HEALTH_MAX_EXPORT_AGE_HOURS` (a whole number of hours, 0 = off). The error names the
    /// variable, the value and what is accepted.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<HealthSettings, (&'static str, String, &'static str)> {
        let mut regions = Vec::new();
        if let Some(v) = get("HEALTH_CHECK_REGIONS") {
            for r in v.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                if !is_region(r) {
                    return Err((
                        "HEALTH_CHECK_REGIONS",
                        v.clone(),
                        "comma-separated Region names such as us-east-1,eu-west-1",
                    ));
                }
                if !regions.iter().any(|x| x == r) {
                    regions.push(r.to_owned());
                }
            }
        }
        let max_export_age = match get("HEALTH_MAX_EXPORT_AGE_HOURS") {
            None => None,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(h) if h <= 24 * 366 => Some(Duration::from_secs(h * 3600)),
                _ => {
                    return Err((
                        "HEALTH_MAX_EXPORT_AGE_HOURS",
                        v,
                        "a whole number of hours from 0 (off) to 8784",
                    ));
                }
            },
        };
        Ok(HealthSettings {
            regions,
            max_export_age,
        })
    }
}

/// A publishing destination as GuardDuty describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationState {
    /// `PUBLISHING`, `PENDING_VERIFICATION`, `UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY`,
    /// `STOPPED`.
    pub status: String,
    /// When GuardDuty first failed to publish (epoch milliseconds; 0 or absent: no failure).
    pub failing_since_ms: Option<i64>,
    /// `arn:aws:s3:::bucket/optional/prefix/`.
    pub destination_arn: Option<String>,
}

/// A GuardDuty call that failed, with what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} in {region} failed: {detail}")]
pub struct CallError {
    /// The API operation.
    pub call: &'static str,
    /// The Region it was made in.
    pub region: String,
    /// The service's answer and, for a denial, the permission the role needs.
    pub detail: String,
}

/// The GuardDuty API, as far as the health check needs it.
pub trait GuardDutyApi: Sync {
    /// The detector ids in `region`.
    fn detectors(
        &self,
        region: &str,
    ) -> impl Future<Output = Result<Vec<String>, CallError>> + Send;
    /// The publishing destination ids of a detector.
    fn destinations(
        &self,
        region: &str,
        detector: &str,
    ) -> impl Future<Output = Result<Vec<String>, CallError>> + Send;
    /// One destination's state.
    fn describe(
        &self,
        region: &str,
        detector: &str,
        destination: &str,
    ) -> impl Future<Output = Result<DestinationState, CallError>> + Send;
}

/// Listing of export objects, for the age check.
pub trait ExportListing: Sync {
    /// Account folders under `prefix` (`{prefix}AWSLogs/{account}/`), the account ids only.
    fn accounts(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, CallError>> + Send;
    /// The newest `LastModified` (epoch seconds) of the objects under `prefix`, if any.
    fn newest(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Option<i64>, CallError>> + Send;
}

/// One line of the report: a destination, or a Region or detector that could not be checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthEntry {
    /// The Region.
    pub region: String,
    /// The detector, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_id: Option<String>,
    /// The publishing destination, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_id: Option<String>,
    /// Its status, when described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Where it publishes, when described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    /// Age of the newest export in hours (age check only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_export_age_hours: Option<f64>,
    /// What is wrong; empty when healthy.
    pub problems: Vec<String>,
}

impl HealthEntry {
    fn new(region: &str) -> Self {
        HealthEntry {
            region: region.to_owned(),
            detector_id: None,
            destination_id: None,
            status: None,
            destination_arn: None,
            newest_export_age_hours: None,
            problems: Vec::new(),
        }
    }
}

/// The result of one health check.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HealthReport {
    /// Publishing destinations described.
    pub checked: u64,
    /// Entries with a problem (destinations, and Regions or detectors that could not be
    /// checked).
    pub unhealthy: u64,
    /// The oldest "newest export" among the destinations, in hours (age check only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_age_hours: Option<f64>,
    /// Every destination, Region and detector looked at.
    pub entries: Vec<HealthEntry>,
}

impl HealthReport {
    fn push(&mut self, entry: HealthEntry) {
        if !entry.problems.is_empty() {
            self.unhealthy += 1;
        }
        if let Some(age) = entry.newest_export_age_hours {
            self.export_age_hours = Some(self.export_age_hours.map_or(age, |a| a.max(age)));
        }
        self.entries.push(entry);
    }

    /// The report's metrics as one CloudWatch Embedded Metric Format document:
    /// `PublishingDestinationsChecked`, `PublishingDestinationsUnhealthy` and, with the age
    /// check, `ExportAgeHours`.
    pub fn emf(&self, namespace: &str, function: &str, timestamp_ms: u64) -> String {
        let mut metrics = vec![
            json!({"Name": "PublishingDestinationsChecked", "Unit": "Count"}),
            json!({"Name": "PublishingDestinationsUnhealthy", "Unit": "Count"}),
        ];
        let mut doc = json!({
            "FunctionName": function,
            "PublishingDestinationsChecked": self.checked,
            "PublishingDestinationsUnhealthy": self.unhealthy,
        });
        if let Some(age) = self.export_age_hours {
            metrics.push(json!({"Name": "ExportAgeHours", "Unit": "None"}));
            doc["ExportAgeHours"] = json!(age);
        }
        doc["_aws"] = json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["FunctionName"]],
                "Metrics": metrics,
            }],
        });
        doc.to_string()
    }
}

/// What is wrong with one described destination (empty: healthy). `newest_export` is the age
/// check's finding: `None` when not checked, `Some(None)` when no export was found within the
/// limit, `Some(Some(t))` the newest export's time (epoch seconds). Pure.
pub fn assess(
    state: &DestinationState,
    newest_export: Option<Option<i64>>,
    now_secs: i64,
    max_age: Option<Duration>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if state.status != "PUBLISHING" {
        problems.push(format!(
            "status is {} (not PUBLISHING): check that GuardDuty can still reach the bucket and the KMS key (bucket policy, key policy, key enabled)",
            state.status
        ));
    }
    if let Some(since) = state.failing_since_ms.filter(|t| *t > 0) {
        let hours = (now_secs - since / 1000).max(0) as f64 / 3600.0;
        problems.push(format!(
            "GuardDuty has failed to publish for {hours:.1} hours (since {}): check the bucket and key policies",
            iso(since / 1000)
        ));
    }
    if let (Some(limit), Some(found)) = (max_age, newest_export) {
        let hours = limit.as_secs() / 3600;
        match found {
            None => problems.push(format!("no export in the last {hours} hours")),
            Some(t) if now_secs - t > limit.as_secs() as i64 => problems.push(format!(
                "the newest export is {:.1} hours old (limit {hours})",
                (now_secs - t) as f64 / 3600.0
            )),
            Some(_) => {}
        }
    }
    problems
}

/// `s3://`-style parts of a destination ARN: the bucket, and the prefix (empty, or ending in `/`).
pub fn destination_location(arn: &str) -> Option<(&str, String)> {
    let rest = arn.split_once(":::")?.1;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    Some((bucket, prefix))
}

/// `YYYY-MM-DDTHH:MM:SSZ` of an epoch second.
fn iso(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// The `YYYY/MM/DD/` folder of an epoch second (UTC), as in export keys.
fn day_folder(secs: i64) -> String {
    iso(secs)
        .get(..10)
        .map_or_else(String::new, |d| format!("{}/", d.replace('-', "/")))
}

/// Runs the health check over `regions` (the function's own when `settings.regions` is empty).
/// `account` (the function's account, from its ARN) narrows the age check to that account's
/// folder; without it every account folder under the destination is looked at.
pub async fn check<G: GuardDutyApi, L: ExportListing>(
    api: &G,
    listing: &L,
    settings: &HealthSettings,
    own_region: &str,
    account: Option<&str>,
    now_secs: i64,
) -> HealthReport {
    let own = [own_region.to_owned()];
    let regions = if settings.regions.is_empty() {
        &own[..]
    } else {
        &settings.regions[..]
    };
    let mut report = HealthReport::default();
    for region in regions {
        let detectors = match api.detectors(region).await {
            Ok(d) => d,
            Err(e) => {
                let mut entry = HealthEntry::new(region);
                entry.problems.push(e.to_string());
                report.push(entry);
                continue;
            }
        };
        if detectors.is_empty() {
            let mut entry = HealthEntry::new(region);
            entry.problems.push(format!(
                "no GuardDuty detector in {region}: enable GuardDuty there, or remove the Region from HEALTH_CHECK_REGIONS"
            ));
            report.push(entry);
        }
        for detector in detectors {
            let mut base = HealthEntry::new(region);
            base.detector_id = Some(detector.clone());
            let ids = match api.destinations(region, &detector).await {
                Ok(ids) => ids,
                Err(e) => {
                    base.problems.push(e.to_string());
                    report.push(base);
                    continue;
                }
            };
            if ids.is_empty() {
                base.problems.push(
                    "the detector has no publishing destination: findings are not exported (deploy deploy/publishing-destination.yaml in this Region, or set DetectorId)".into(),
                );
                report.push(base.clone());
            }
            for id in ids {
                let mut entry = base.clone();
                entry.destination_id = Some(id.clone());
                match api.describe(region, &detector, &id).await {
                    Err(e) => entry.problems.push(e.to_string()),
                    Ok(state) => {
                        report.checked += 1;
                        let newest = match settings.max_export_age {
                            None => None,
                            Some(limit) => {
                                match newest_export(
                                    listing, &state, region, account, limit, now_secs,
                                )
                                .await
                                {
                                    Ok(n) => Some(n),
                                    Err(e) => {
                                        entry.problems.push(e);
                                        None
                                    }
                                }
                            }
                        };
                        entry.newest_export_age_hours = newest
                            .flatten()
                            .map(|t| (now_secs - t).max(0) as f64 / 3600.0);
                        entry.problems.extend(assess(
                            &state,
                            newest,
                            now_secs,
                            settings.max_export_age,
                        ));
                        entry.status = Some(state.status);
                        entry.destination_arn = state.destination_arn;
                    }
                }
                report.push(entry);
            }
        }
    }
    report
}

/// The newest export of a destination within `limit`: the day folders from today back to the
/// day of `now - limit`, newest day first, for the account's folder (or every account folder).
async fn newest_export<L: ExportListing>(
    listing: &L,
    state: &DestinationState,
    region: &str,
    account: Option<&str>,
    limit: Duration,
    now_secs: i64,
) -> Result<Option<i64>, String> {
    let arn = state
        .destination_arn
        .as_deref()
        .ok_or("the destination has no destination ARN")?;
    let (bucket, prefix) =
        destination_location(arn).ok_or_else(|| format!("{arn} is not an S3 bucket ARN"))?;
    let accounts = match account {
        Some(a) => vec![a.to_owned()],
        None => listing
            .accounts(bucket, &format!("{prefix}AWSLogs/"))
            .await
            .map_err(|e| e.to_string())?,
    };
    // The day folders from today back to the day of `now - limit`, newest first.
    let oldest = now_secs - limit.as_secs() as i64;
    let mut days = vec![day_folder(now_secs)];
    let mut t = now_secs;
    while t > oldest {
        t = (t - 86_400).max(oldest);
        let d = day_folder(t);
        if days.last() != Some(&d) {
            days.push(d);
        }
    }
    for day in days {
        let mut newest: Option<i64> = None;
        for a in &accounts {
            let p = format!("{prefix}AWSLogs/{a}/GuardDuty/{region}/{day}");
            if let Some(t) = listing
                .newest(bucket, &p)
                .await
                .map_err(|e| e.to_string())?
            {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
        }
        if newest.is_some() {
            return Ok(newest);
        }
    }
    Ok(None)
}

/// Says what a GuardDuty or S3 error means, with the permission a denial asks for.
fn call_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    call: &'static str,
    region: &str,
    permission: &str,
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> CallError {
    let detail = match e.code() {
        Some(code) if code.contains("AccessDenied") || code.contains("Unauthorized") => {
            format!("{code}: the function's role needs {permission}")
        }
        Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
        None => format!("{}", aws_sdk_s3::error::DisplayErrorContext(e)),
    };
    CallError {
        call,
        region: region.to_owned(),
        detail,
    }
}

/// [`GuardDutyApi`] on the AWS SDK: one client per Region, built once per cold start.
#[derive(Debug, Clone)]
pub struct SdkGuardDuty {
    clients: Vec<(String, aws_sdk_guardduty::Client)>,
}

impl SdkGuardDuty {
    /// Clients for `regions` (the SDK configuration's own Region when empty).
    pub fn new(sdk: &aws_config::SdkConfig, regions: &[String]) -> Self {
        let own = sdk.region().map(|r| r.to_string()).into_iter().collect();
        let regions = if regions.is_empty() {
            own
        } else {
            regions.to_vec()
        };
        let clients = regions
            .into_iter()
            .map(|r| {
                let conf = aws_sdk_guardduty::config::Builder::from(sdk)
                    .region(aws_sdk_guardduty::config::Region::new(r.clone()))
                    .build();
                (r, aws_sdk_guardduty::Client::from_conf(conf))
            })
            .collect();
        SdkGuardDuty { clients }
    }

    fn client(&self, region: &str) -> Result<&aws_sdk_guardduty::Client, CallError> {
        self.clients
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, c)| c)
            .ok_or_else(|| CallError {
                call: "GuardDuty",
                region: region.to_owned(),
                detail: "no client for this Region (a bug)".into(),
            })
    }
}

impl GuardDutyApi for SdkGuardDuty {
    async fn detectors(&self, region: &str) -> Result<Vec<String>, CallError> {
        let client = self.client(region)?;
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .list_detectors()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| call_error("ListDetectors", region, "guardduty:ListDetectors", &e))?;
            ids.extend(out.detector_ids().iter().cloned());
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(ids),
            }
        }
    }

    async fn destinations(&self, region: &str, detector: &str) -> Result<Vec<String>, CallError> {
        let client = self.client(region)?;
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .list_publishing_destinations()
                .detector_id(detector)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    call_error(
                        "ListPublishingDestinations",
                        region,
                        "guardduty:ListPublishingDestinations on the detector",
                        &e,
                    )
                })?;
            ids.extend(
                out.destinations()
                    .iter()
                    .filter_map(|d| d.destination_id().map(str::to_owned)),
            );
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(ids),
            }
        }
    }

    async fn describe(
        &self,
        region: &str,
        detector: &str,
        destination: &str,
    ) -> Result<DestinationState, CallError> {
        let out = self
            .client(region)?
            .describe_publishing_destination()
            .detector_id(detector)
            .destination_id(destination)
            .send()
            .await
            .map_err(|e| {
                call_error(
                    "DescribePublishingDestination",
                    region,
                    "guardduty:DescribePublishingDestination on the detector",
                    &e,
                )
            })?;
        Ok(DestinationState {
            status: out
                .status()
                .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
            failing_since_ms: out.publishing_failure_start_timestamp(),
            destination_arn: out
                .destination_properties()
                .and_then(|p| p.destination_arn())
                .map(str::to_owned),
        })
    }
}

/// [`ExportListing`] on S3's `ListObjectsV2`.
#[derive(Debug, Clone)]
pub struct SdkExportListing {
    client: aws_sdk_s3::Client,
}

impl SdkExportListing {
    /// Uses `client`.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        SdkExportListing { client }
    }

    /// Every page of a listing, handed to `each`.
    async fn pages(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        mut each: impl FnMut(&aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output),
    ) -> Result<(), CallError> {
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(str::to_owned))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| CallError {
                    call: "ListObjectsV2",
                    region: format!("s3://{bucket}/{prefix}"),
                    detail: match e.code() {
                        Some(c) if c.contains("AccessDenied") => format!(
                            "{c}: the function's role needs s3:ListBucket on the bucket for the export prefix"
                        ),
                        _ => format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)),
                    },
                })?;
            each(&out);
            match out.next_continuation_token().filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(()),
            }
        }
    }
}

impl ExportListing for SdkExportListing {
    async fn accounts(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, CallError> {
        let mut accounts = Vec::new();
        self.pages(bucket, prefix, Some("/"), |out| {
            for p in out.common_prefixes() {
                if let Some(a) = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(prefix))
                    .map(|a| a.trim_end_matches('/'))
                    .filter(|a| is_account_id(a))
                {
                    accounts.push(a.to_owned());
                }
            }
        })
        .await?;
        Ok(accounts)
    }

    async fn newest(&self, bucket: &str, prefix: &str) -> Result<Option<i64>, CallError> {
        let mut newest = None;
        self.pages(bucket, prefix, None, |out| {
            for o in out.contents() {
                if let Some(t) = o.last_modified() {
                    newest = Some(newest.map_or(t.secs(), |n: i64| n.max(t.secs())));
                }
            }
        })
        .await?;
        Ok(newest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    const NOW: i64 = 1_796_479_200; // 2026-12-05T14:00:00Z

    fn state(status: &str, failing: Option<i64>) -> DestinationState {
        DestinationState {
            status: status.into(),
            failing_since_ms: failing,
            destination_arn: Some("arn:aws:s3:::exports/gd/".into()),
        }
    }

    #[test]
    fn settings() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            HealthSettings::from_lookup(get(&[])).unwrap(),
            HealthSettings::default()
        );
        let s = HealthSettings::from_lookup(get(&[
            (
                "HEALTH_CHECK_REGIONS",
                " us-east-1, eu-west-1,,us-east-1,af-south-1 ",
            ),
            ("HEALTH_MAX_EXPORT_AGE_HOURS", "48"),
        ]))
        .unwrap();
        assert_eq!(s.regions, ["us-east-1", "eu-west-1", "af-south-1"]);
        assert_eq!(s.max_export_age, Some(Duration::from_secs(48 * 3600)));
        let off =
            HealthSettings::from_lookup(get(&[("HEALTH_MAX_EXPORT_AGE_HOURS", "0")])).unwrap();
        assert_eq!(off.max_export_age, None);
        for (pairs, name) in [
            (
                &[("HEALTH_CHECK_REGIONS", "us-east-1,Mars")][..],
                "HEALTH_CHECK_REGIONS",
            ),
            (
                &[("HEALTH_CHECK_REGIONS", "us_east_1")][..],
                "HEALTH_CHECK_REGIONS",
            ),
            (
                &[("HEALTH_MAX_EXPORT_AGE_HOURS", "-1")][..],
                "HEALTH_MAX_EXPORT_AGE_HOURS",
            ),
            (
                &[("HEALTH_MAX_EXPORT_AGE_HOURS", "1.5")][..],
                "HEALTH_MAX_EXPORT_AGE_HOURS",
            ),
            (
                &[("HEALTH_MAX_EXPORT_AGE_HOURS", "99999")][..],
                "HEALTH_MAX_EXPORT_AGE_HOURS",
            ),
        ] {
            let pairs: &'static [(&str, &str)] = Box::leak(pairs.to_vec().into_boxed_slice());
            let e = HealthSettings::from_lookup(get(pairs)).unwrap_err();
            assert_eq!(e.0, name, "{pairs:?}");
        }
    }

    #[test]
    fn verdicts() {
        let day = Some(Duration::from_secs(24 * 3600));
        type Case = (
            DestinationState,
            Option<Option<i64>>,
            Option<Duration>,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (state("PUBLISHING", None), None, None, &[]),
            (state("PUBLISHING", Some(0)), None, None, &[]),
            (state("STOPPED", None), None, None, &["status is STOPPED"]),
            (
                state("UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY", None),
                None,
                None,
                &["status is UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY"],
            ),
            (
                state("PUBLISHING", Some((NOW - 7200) * 1000)),
                None,
                None,
                &["failed to publish for 2.0 hours (since 2026-12-05T12:00:00Z)"],
            ),
            (state("PUBLISHING", None), Some(Some(NOW - 3600)), day, &[]),
            (
                state("PUBLISHING", None),
                Some(Some(NOW - 30 * 3600)),
                day,
                &["the newest export is 30.0 hours old (limit 24)"],
            ),
            (
                state("PUBLISHING", None),
                Some(None),
                day,
                &["no export in the last 24 hours"],
            ),
            // Not checked (no limit): nothing said about exports.
            (state("PUBLISHING", None), Some(None), None, &[]),
            (
                state("PENDING_VERIFICATION", Some((NOW - 60) * 1000)),
                Some(None),
                day,
                &[
                    "status is PENDING_VERIFICATION",
                    "failed to publish",
                    "no export",
                ],
            ),
        ];
        for (s, newest, limit, want) in cases {
            let got = assess(s, *newest, NOW, *limit);
            assert_eq!(got.len(), want.len(), "{s:?} {newest:?}: {got:?}");
            for (g, w) in got.iter().zip(*want) {
                assert!(g.contains(w), "{g:?} should contain {w:?}");
            }
        }
    }

    #[test]
    fn locations_and_arns() {
        let cases = [
            ("arn:aws:s3:::b", Some(("b", ""))),
            ("arn:aws:s3:::b/", Some(("b", ""))),
            ("arn:aws:s3:::b/gd", Some(("b", "gd/"))),
            ("arn:aws-cn:s3:::b/a/b/", Some(("b", "a/b/"))),
            ("arn:aws:s3:::", None),
            ("bucket", None),
        ];
        for (arn, want) in cases {
            let got = destination_location(arn);
            assert_eq!(got.as_ref().map(|(b, p)| (*b, p.as_str())), want, "{arn}");
        }
        assert_eq!(day_folder(NOW), "2026/12/05/");
        assert_eq!(day_folder(0), "1970/01/01/");
    }

    /// GuardDuty and S3 as maps, for the walk over Regions (the SDK edges are tested against
    /// real stand-ins in tests/lambda.rs).
    #[derive(Default)]
    struct Fake {
        detectors: BTreeMap<String, Result<Vec<String>, CallError>>,
        destinations: BTreeMap<String, Vec<(String, DestinationState)>>,
        objects: BTreeMap<String, i64>,
        listed: Mutex<Vec<String>>,
    }

    impl GuardDutyApi for Fake {
        async fn detectors(&self, region: &str) -> Result<Vec<String>, CallError> {
            self.detectors.get(region).cloned().unwrap_or(Ok(vec![]))
        }
        async fn destinations(&self, _: &str, d: &str) -> Result<Vec<String>, CallError> {
            Ok(self
                .destinations
                .get(d)
                .map(|v| v.iter().map(|(id, _)| id.clone()).collect())
                .unwrap_or_default())
        }
        async fn describe(
            &self,
            _: &str,
            d: &str,
            id: &str,
        ) -> Result<DestinationState, CallError> {
            Ok(self.destinations[d]
                .iter()
                .find(|(i, _)| i == id)
                .unwrap()
                .1
                .clone())
        }
    }

    impl ExportListing for Fake {
        async fn accounts(&self, _: &str, _: &str) -> Result<Vec<String>, CallError> {
            Ok(vec!["111122223333".into(), "444455556666".into()])
        }
        async fn newest(&self, _: &str, prefix: &str) -> Result<Option<i64>, CallError> {
            self.listed.lock().unwrap().push(prefix.to_owned());
            Ok(self
                .objects
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(_, t)| *t)
                .max())
        }
    }

    #[tokio::test]
    async fn walk_over_regions() {
        let mut fake = Fake::default();
        fake.detectors
            .insert("us-east-1".into(), Ok(vec!["d1".into()]));
        fake.detectors
            .insert("eu-west-1".into(), Ok(vec!["d2".into()]));
        fake.detectors.insert(
            "ap-south-1".into(),
            Err(CallError {
                call: "ListDetectors",
                region: "ap-south-1".into(),
                detail: "AccessDeniedException: the function's role needs guardduty:ListDetectors"
                    .into(),
            }),
        );
        fake.destinations
            .insert("d1".into(), vec![("p1".into(), state("PUBLISHING", None))]);
        fake.destinations
            .insert("d2".into(), vec![("p2".into(), state("STOPPED", None))]);
        // An export 3 hours old in us-east-1 under the second account, yesterday's folder.
        fake.objects.insert(
            "gd/AWSLogs/444455556666/GuardDuty/us-east-1/2026/12/04/x.jsonl.gz".into(),
            NOW - 16 * 3600,
        );
        let settings = HealthSettings {
            regions: vec![
                "us-east-1".into(),
                "eu-west-1".into(),
                "ap-south-1".into(),
                "sa-east-1".into(),
            ],
            max_export_age: Some(Duration::from_secs(36 * 3600)),
        };
        let r = check(&fake, &fake, &settings, "us-east-1", None, NOW).await;
        assert_eq!(r.checked, 2);
        assert_eq!(r.entries.len(), 4, "{r:#?}");
        assert_eq!(r.unhealthy, 3, "{r:#?}");
        let by_region = |reg: &str| r.entries.iter().find(|e| e.region == reg).unwrap();
        assert!(by_region("us-east-1").problems.is_empty());
        assert_eq!(by_region("us-east-1").newest_export_age_hours, Some(16.0));
        assert!(by_region("eu-west-1").problems[0].contains("STOPPED"));
        assert!(by_region("eu-west-1").problems[1].contains("no export in the last 36 hours"));
        assert!(by_region("ap-south-1").problems[0].contains("guardduty:ListDetectors"));
        assert!(by_region("sa-east-1").problems[0].contains("no GuardDuty detector"));
        assert_eq!(r.export_age_hours, Some(16.0));
        // Today then yesterday for both accounts; the search stopped at the day with an export.
        let listed = fake.listed.lock().unwrap().clone();
        assert_eq!(
            &listed[..4],
            [
                "gd/AWSLogs/111122223333/GuardDuty/us-east-1/2026/12/05/",
                "gd/AWSLogs/444455556666/GuardDuty/us-east-1/2026/12/05/",
                "gd/AWSLogs/111122223333/GuardDuty/us-east-1/2026/12/04/",
                "gd/AWSLogs/444455556666/GuardDuty/us-east-1/2026/12/04/",
            ]
        );
        let doc: serde_json::Value = serde_json::from_str(&r.emf("NS", "fn", 1000)).unwrap();
        assert_eq!(doc["PublishingDestinationsUnhealthy"], 3);
        assert_eq!(doc["PublishingDestinationsChecked"], 2);
        assert_eq!(doc["ExportAgeHours"], 16.0);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
