//! Classification: severity band, the parts of the finding type, a short resource summary,
//! sample detection, the console link and the link to the type's documentation ([`docs_url`]).
//! Pure functions, no I/O.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::export::finding::{Finding, Resource, items};

mod docs;

pub use docs::{ATTACK_SEQUENCES, docs_url, docs_url_for};

/// GuardDuty's severity bands. GuardDuty documents them by lower bound: Critical >= 9.0
/// (attack sequences), High >= 7.0, Medium >= 4.0, Low below. A decimal like 6.95 is Medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SeverityLabel {
    /// Below 4.0.
    Low,
    /// 4.0 up to (not including) 7.0.
    Medium,
    /// 7.0 up to (not including) 9.0.
    High,
    /// 9.0 and above.
    Critical,
}

impl SeverityLabel {
    /// Every band, lowest first.
    pub const ALL: [SeverityLabel; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The band of a numeric severity.
    pub fn from_score(score: f64) -> Self {
        if score >= 9.0 {
            Self::Critical
        } else if score >= 7.0 {
            Self::High
        } else if score >= 4.0 {
            Self::Medium
        } else {
            Self::Low
        }
    }

    /// The lowest score in this band.
    pub fn lower_bound(self) -> f64 {
        match self {
            Self::Low => 0.0,
            Self::Medium => 4.0,
            Self::High => 7.0,
            Self::Critical => 9.0,
        }
    }

    /// `Low`, `Medium`, `High` or `Critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }
}

impl fmt::Display for SeverityLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity as text: `8`, `6.95` (GuardDuty's number without a needless `.0`).
pub fn format_severity(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A minimum severity given by a user: a number (`5`, `6.5`) or a band label (`high`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinSeverity(pub f64);

impl Default for MinSeverity {
    fn default() -> Self {
        MinSeverity(SeverityLabel::Medium.lower_bound())
    }
}

impl FromStr for MinSeverity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        for label in SeverityLabel::ALL {
            if t.eq_ignore_ascii_case(label.as_str()) {
                return Ok(MinSeverity(label.lower_bound()));
            }
        }
        match t.parse::<f64>() {
            Ok(v) if (0.0..=10.0).contains(&v) => Ok(MinSeverity(v)),
            _ => Err(format!(
                "invalid minimum severity {s:?}: use a number from 0 to 10 or one of low, medium, high, critical"
            )),
        }
    }
}

/// The parts of a finding type: `ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.DetectionMechanism!Artifact`.
/// Purposes and resource types are open sets; missing parts are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FindingType<'a> {
    /// e.g. `Recon`, `UnauthorizedAccess`, `AttackSequence`.
    pub threat_purpose: &'a str,
    /// e.g. `EC2`, `IAMUser`, `S3`, `Runtime`.
    pub resource_type_affected: Option<&'a str>,
    /// e.g. `PortProbeUnprotectedPort`, `BitcoinTool`.
    pub threat_family: Option<&'a str>,
    /// e.g. `B`, `OutsideAWS`.
    pub detection_mechanism: Option<&'a str>,
    /// e.g. `DNS`.
    pub artifact: Option<&'a str>,
}

impl<'a> FindingType<'a> {
    /// Splits a type string on the first `:`, the first `/`, then `!` and the first `.`.
    pub fn parse(s: &'a str) -> Self {
        let nonempty = |p: &'a str| Some(p).filter(|p| !p.is_empty());
        let (purpose, rest) = match s.split_once(':') {
            Some((p, r)) => (p, Some(r)),
            None => (s, None),
        };
        let (resource, family_part) = match rest {
            None => (None, None),
            Some(r) => match r.split_once('/') {
                Some((res, fam)) => (nonempty(res), Some(fam)),
                None => (nonempty(r), None),
            },
        };
        let (family, mechanism, artifact) = match family_part {
            None => (None, None, None),
            Some(fp) => {
                let (fm, artifact) = match fp.split_once('!') {
                    Some((fm, a)) => (fm, nonempty(a)),
                    None => (fp, None),
                };
                match fm.split_once('.') {
                    Some((f, m)) => (nonempty(f), nonempty(m), artifact),
                    None => (nonempty(fm), None, artifact),
                }
            }
        };
        FindingType {
            threat_purpose: purpose,
            resource_type_affected: resource,
            threat_family: family,
            detection_mechanism: mechanism,
            artifact,
        }
    }
}

/// Whether the finding is a sample (made by the console or `CreateSampleFindings`):
/// `service.additionalInfo.sample: true`, or `additionalInfo.value` holding the JSON string
/// `{"sample":true}` (newer exports).
pub fn is_sample(f: &Finding<'_>) -> bool {
    let Some(info) = f.service().and_then(|s| s.additional_info.get()) else {
        return false;
    };
    if info.sample.0 {
        return true;
    }
    let Some(value) = info.value.get() else {
        return false;
    };
    if memchr::memmem::find(value.as_bytes(), b"\"sample\"").is_none() {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        sample: crate::export::finding::Flag,
    }
    serde_json::from_str::<Probe>(value).is_ok_and(|p| p.sample.0)
}

/// Whether `service.archived` is true.
pub fn is_archived(f: &Finding<'_>) -> bool {
    f.service().is_some_and(|s| s.archived.0)
}

/// The account of the finding: `accountId`, else the account in its ARN. Never the object key.
pub fn account_id<'f>(f: &'f Finding<'_>) -> Option<&'f str> {
    f.account_id.get().or_else(|| arn_part(f.arn.get()?, 4))
}

/// The region of the finding: `region`, else the region in its ARN.
pub fn region<'f>(f: &'f Finding<'_>) -> Option<&'f str> {
    f.region.get().or_else(|| arn_part(f.arn.get()?, 3))
}

/// The partition of the finding: `partition`, else the ARN's, else guessed from the region.
pub fn partition<'f>(f: &'f Finding<'_>) -> &'f str {
    if let Some(p) = f.partition.get().or_else(|| arn_part(f.arn.get()?, 1)) {
        return p;
    }
    match region(f) {
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        Some(r) if r.starts_with("cn-") => "aws-cn",
        _ => "aws",
    }
}

fn arn_part(arn: &str, index: usize) -> Option<&str> {
    if !arn.starts_with("arn:") {
        return None;
    }
    arn.split(':').nth(index).filter(|p| !p.is_empty())
}

/// The GuardDuty console link to a finding, for its partition and region.
pub fn console_url(partition: &str, region: &str, id: &str) -> String {
    let host = match partition {
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        "aws-cn" => "console.amazonaws.cn",
        _ => "console.aws.amazon.com",
    };
    let mut url = String::with_capacity(96 + id.len());
    url.push_str("https://");
    url.push_str(host);
    url.push_str("/guardduty/home?region=");
    push_url_safe(&mut url, region);
    url.push_str("#/findings?macros=current&fId=");
    push_url_safe(&mut url, id);
    url
}

/// Everything but ASCII letters, digits, `-`, `_` and `.` is percent-encoded in a console link.
/// Finding ids and regions never need it; a crafted export must not inject URL syntax.
const URL_UNSAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

fn push_url_safe(out: &mut String, s: &str) {
    out.extend(utf8_percent_encode(s, URL_UNSAFE));
}

/// A short human summary of the affected resource: an instance id, an access key id and its
/// user, bucket names, a cluster, a container, a database, a function. `None` when the finding
/// names no resource.
pub fn resource_summary(r: Option<&Resource<'_>>) -> Option<String> {
    let r = r?;
    let by_type = match r.resource_type.get() {
        Some("Instance") => instance(r),
        Some("AccessKey") => access_key(r),
        Some("S3Bucket" | "S3Object") => buckets(r),
        Some("EKSCluster") => eks(r),
        Some("ECSCluster") => ecs(r),
        Some("Container") => container(r),
        Some("RDSDBInstance" | "RDSLimitlessDB") => rds(r),
        Some("Lambda") => lambda(r),
        Some("AttackSequence") => Some("attack sequence".to_owned()),
        _ => None,
    };
    // Unknown or mismatched resource types: the first details object that names something.
    by_type
        .or_else(|| instance(r))
        .or_else(|| access_key(r))
        .or_else(|| buckets(r))
        .or_else(|| eks(r))
        .or_else(|| ecs(r))
        .or_else(|| container(r))
        .or_else(|| rds(r))
        .or_else(|| lambda(r))
}

fn instance(r: &Resource<'_>) -> Option<String> {
    let d = r.instance_details.get()?;
    let id = d.instance_id.get()?;
    let name = items(&d.tags)
        .find(|t| t.key.get() == Some("Name"))
        .and_then(|t| t.value.get());
    Some(match name {
        Some(n) => join(&[id, " (", n, ")"]),
        None => id.to_owned(),
    })
}

/// The parts in one string, in one allocation of exactly their length (`format!` grows its
/// buffer as it goes: up to five allocations for one summary, once per finding).
fn join(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

fn access_key(r: &Resource<'_>) -> Option<String> {
    let d = r.access_key_details.get()?;
    let key = d.access_key_id.get();
    // Who, as `TYPE NAME`, `NAME`, `TYPE PRINCIPAL` or `PRINCIPAL`: (type and space, name).
    let who = match (d.user_type.get(), d.user_name.get()) {
        (Some(t), Some(n)) => Some((t, " ", n)),
        (None, Some(n)) => Some(("", "", n)),
        (Some(t), None) => d.principal_id.get().map(|p| (t, " ", p)),
        (None, None) => d.principal_id.get().map(|p| ("", "", p)),
    };
    match (key, who) {
        (Some(k), Some((t, sp, n))) => Some(join(&[k, " (", t, sp, n, ")"])),
        (Some(k), None) => Some(k.to_owned()),
        (None, Some((t, sp, n))) => Some(join(&[t, sp, n])),
        (None, None) => None,
    }
}

fn buckets(r: &Resource<'_>) -> Option<String> {
    let names = || items(&r.s3_bucket_details).filter_map(|b| b.name.get());
    let (count, len) = names().fold((0, 0), |(c, l), n| (c + 1, l + n.len()));
    if count == 0 {
        return None;
    }
    let mut out = String::with_capacity(len + 2 * (count - 1));
    for (i, n) in names().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
    }
    Some(out)
}

fn eks(r: &Resource<'_>) -> Option<String> {
    let cluster = r.eks_cluster_details.get().and_then(|c| c.name.get());
    let workload = r
        .kubernetes_details
        .get()
        .and_then(|k| k.kubernetes_workload_details.get())
        .and_then(|w| match (w.namespace.get(), w.name.get()) {
            (Some(ns), Some(n)) => Some((ns, "/", n)),
            (None, Some(n)) => Some(("", "", n)),
            _ => None,
        });
    match (cluster, workload) {
        (Some(c), Some((ns, slash, n))) => Some(join(&[c, ": ", ns, slash, n])),
        (Some(c), None) => Some(c.to_owned()),
        (None, Some((ns, slash, n))) => Some(join(&[ns, slash, n])),
        (None, None) => None,
    }
}

fn ecs(r: &Resource<'_>) -> Option<String> {
    r.ecs_cluster_details
        .get()
        .and_then(|c| c.name.get())
        .map(str::to_owned)
}

fn container(r: &Resource<'_>) -> Option<String> {
    let c = r.container_details.get()?;
    match (c.name.get().or(c.id.get()), c.image.get()) {
        (Some(n), Some(i)) => Some(join(&[n, " (", i, ")"])),
        (Some(n), None) => Some(n.to_owned()),
        (None, Some(i)) => Some(i.to_owned()),
        (None, None) => None,
    }
}

fn rds(r: &Resource<'_>) -> Option<String> {
    let d = r.rds_db_instance_details.get()?;
    let id = d
        .db_instance_identifier
        .get()
        .or(d.db_cluster_identifier.get())?;
    Some(match d.engine.get() {
        Some(e) => join(&[id, " (", e, ")"]),
        None => id.to_owned(),
    })
}

fn lambda(r: &Resource<'_>) -> Option<String> {
    r.lambda_details
        .get()
        .and_then(|l| l.function_name.get())
        .map(str::to_owned)
}

/// Everything the product derives from one finding.
#[derive(Debug)]
pub struct Classification<'f> {
    /// The severity band.
    pub label: SeverityLabel,
    /// The parts of the type.
    pub kind: FindingType<'f>,
    /// The account, from the finding body.
    pub account_id: Option<&'f str>,
    /// The region, from the finding body.
    pub region: Option<&'f str>,
    /// `resource.resourceType`.
    pub resource_type: Option<&'f str>,
    /// See [`resource_summary`].
    pub resource: Option<String>,
    /// See [`is_sample`].
    pub sample: bool,
    /// See [`is_archived`].
    pub archived: bool,
    /// See [`console_url`]; `None` when the finding names no region.
    pub console_url: Option<String>,
    /// See [`partition`] (for the documentation link, [`docs_url`]).
    pub partition: &'f str,
}

/// Classifies a parsed finding.
pub fn classify<'f>(f: &'f Finding<'_>) -> Classification<'f> {
    let region = region(f);
    let partition = partition(f);
    Classification {
        label: SeverityLabel::from_score(f.severity()),
        kind: FindingType::parse(f.type_str()),
        account_id: account_id(f),
        region,
        resource_type: f.resource.get().and_then(|r| r.resource_type.get()),
        resource: resource_summary(f.resource.get()),
        sample: is_sample(f),
        archived: is_archived(f),
        console_url: region.map(|r| console_url(partition, r, f.id())),
        partition,
    }
}

/// Threat purposes GuardDuty documents (an open set: rules files naming others get a warning).
pub const DOCUMENTED_PURPOSES: &[&str] = &[
    "AttackSequence",
    "Backdoor",
    "Behavior",
    "CredentialAccess",
    "CryptoCurrency",
    "DefenseEvasion",
    "Discovery",
    "Execution",
    "Exfiltration",
    "Impact",
    "InitialAccess",
    "Object",
    "PenTest",
    "Persistence",
    "Policy",
    "PrivilegeEscalation",
    "Recon",
    "Stealth",
    "Trojan",
    "UnauthorizedAccess",
    "Canary",
];

/// ResourceTypeAffected parts of finding types GuardDuty documents (an open set).
pub const DOCUMENTED_AFFECTED: &[&str] = &[
    "EC2",
    "IAMUser",
    "IAM",
    "S3",
    "Kubernetes",
    "EKS",
    "Runtime",
    "Container",
    "ECS",
    "Lambda",
    "RDS",
];

/// `resource.resourceType` values GuardDuty documents (an open set).
pub const DOCUMENTED_RESOURCE_TYPES: &[&str] = &[
    "Instance",
    "AccessKey",
    "S3Bucket",
    "S3Object",
    "EKSCluster",
    "ECSCluster",
    "Container",
    "RDSDBInstance",
    "RDSLimitlessDB",
    "Lambda",
    "AttackSequence",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_bands_by_lower_bound() {
        use SeverityLabel::*;
        for (score, want) in [
            (0.0, Low),
            (1.0, Low),
            (3.9, Low),
            (3.95, Low),
            (3.999, Low),
            (4.0, Medium),
            (5.0, Medium),
            (6.95, Medium),
            (6.999, Medium),
            (7.0, High),
            (8.0, High),
            (8.9, High),
            (9.0, Critical),
            (10.0, Critical),
            (-1.0, Low),
        ] {
            assert_eq!(SeverityLabel::from_score(score), want, "{score}");
        }
    }

    #[test]
    fn min_severity_parsing() {
        for (s, want) in [
            ("4", Some(4.0)),
            ("6.5", Some(6.5)),
            ("0", Some(0.0)),
            ("10", Some(10.0)),
            ("low", Some(0.0)),
            ("Medium", Some(4.0)),
            ("HIGH", Some(7.0)),
            ("critical", Some(9.0)),
            (" high ", Some(7.0)),
            ("11", None),
            ("-1", None),
            ("severe", None),
            ("", None),
            ("NaN", None),
        ] {
            assert_eq!(s.parse::<MinSeverity>().ok().map(|m| m.0), want, "{s:?}");
        }
    }

    #[test]
    fn finding_type_parts() {
        let t = |p, r, f, m, a| FindingType {
            threat_purpose: p,
            resource_type_affected: r,
            threat_family: f,
            detection_mechanism: m,
            artifact: a,
        };
        let cases = [
            (
                "Recon:EC2/PortProbeUnprotectedPort",
                t(
                    "Recon",
                    Some("EC2"),
                    Some("PortProbeUnprotectedPort"),
                    None,
                    None,
                ),
            ),
            (
                "Trojan:EC2/DropPoint!DNS",
                t("Trojan", Some("EC2"), Some("DropPoint"), None, Some("DNS")),
            ),
            (
                "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
                t(
                    "CryptoCurrency",
                    Some("Runtime"),
                    Some("BitcoinTool"),
                    Some("B"),
                    Some("DNS"),
                ),
            ),
            (
                "AttackSequence:S3/CompromisedData",
                t(
                    "AttackSequence",
                    Some("S3"),
                    Some("CompromisedData"),
                    None,
                    None,
                ),
            ),
            (
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                t(
                    "UnauthorizedAccess",
                    Some("IAMUser"),
                    Some("InstanceCredentialExfiltration"),
                    Some("OutsideAWS"),
                    None,
                ),
            ),
            (
                "Backdoor:Lambda/C&CActivity.B",
                t(
                    "Backdoor",
                    Some("Lambda"),
                    Some("C&CActivity"),
                    Some("B"),
                    None,
                ),
            ),
            (
                "Execution:Kubernetes/ExecInKubeSystemPod",
                t(
                    "Execution",
                    Some("Kubernetes"),
                    Some("ExecInKubeSystemPod"),
                    None,
                    None,
                ),
            ),
            (
                "Canary:EC2/Stateless.IntegTest",
                t(
                    "Canary",
                    Some("EC2"),
                    Some("Stateless"),
                    Some("IntegTest"),
                    None,
                ),
            ),
            (
                "Object:S3/MaliciousFile",
                t("Object", Some("S3"), Some("MaliciousFile"), None, None),
            ),
            (
                "NewPurpose2030:Quantum/Thing.X!Y",
                t(
                    "NewPurpose2030",
                    Some("Quantum"),
                    Some("Thing"),
                    Some("X"),
                    Some("Y"),
                ),
            ),
            (
                "Weird:NoSlash",
                t("Weird", Some("NoSlash"), None, None, None),
            ),
            ("NoColon", t("NoColon", None, None, None, None)),
            ("A:B/", t("A", Some("B"), None, None, None)),
            ("A:/F", t("A", None, Some("F"), None, None)),
            (
                "A:B/F.M.N!X!Y",
                t("A", Some("B"), Some("F"), Some("M.N"), Some("X!Y")),
            ),
            ("", t("", None, None, None, None)),
        ];
        for (s, want) in cases {
            assert_eq!(FindingType::parse(s), want, "{s}");
        }
    }

    #[test]
    fn every_documented_purpose_parses() {
        for p in DOCUMENTED_PURPOSES {
            for r in DOCUMENTED_AFFECTED {
                let s = format!("{p}:{r}/Family.M!A");
                let t = FindingType::parse(&s);
                assert_eq!(
                    (t.threat_purpose, t.resource_type_affected, t.threat_family),
                    (*p, Some(*r), Some("Family"))
                );
            }
        }
    }

    fn summary(json: &str) -> Option<String> {
        let line = format!(r#"{{"id":"x","type":"T","severity":1,"resource":{json}}}"#);
        let f = Finding::parse(&line).unwrap();
        resource_summary(f.resource.get())
    }

    #[test]
    fn resource_summaries() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0abc","tags":[{"key":"Name","value":"web-1"}]}}"#,
                Some("i-0abc (web-1)"),
            ),
            (
                r#"{"resourceType":"Instance","instanceDetails":{"instanceId":"i-0abc","tags":null}}"#,
                Some("i-0abc"),
            ),
            (
                r#"{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":"ASIAEXAMPLE","userName":"alice","userType":"IAMUser"}}"#,
                Some("ASIAEXAMPLE (IAMUser alice)"),
            ),
            (
                r#"{"resourceType":"AccessKey","accessKeyDetails":{"accessKeyId":null,"userName":"bob"}}"#,
                Some("bob"),
            ),
            (
                r#"{"resourceType":"S3Bucket","s3BucketDetails":[{"name":"logs"},{"name":"data"}]}"#,
                Some("logs, data"),
            ),
            (
                r#"{"resourceType":"EKSCluster","eksClusterDetails":{"name":"prod"},"kubernetesDetails":{"kubernetesWorkloadDetails":{"name":"api","namespace":"kube-system"}}}"#,
                Some("prod: kube-system/api"),
            ),
            (
                r#"{"resourceType":"EKSCluster","eksClusterDetails":{"name":"prod"},"kubernetesDetails":{"kubernetesWorkloadDetails":null}}"#,
                Some("prod"),
            ),
            (
                r#"{"resourceType":"ECSCluster","ecsClusterDetails":{"name":"batch"}}"#,
                Some("batch"),
            ),
            (
                r#"{"resourceType":"Container","containerDetails":{"name":null,"id":"abcd","image":"nginx:1"}}"#,
                Some("abcd (nginx:1)"),
            ),
            (
                r#"{"resourceType":"RDSDBInstance","rdsDbInstanceDetails":{"dbInstanceIdentifier":"orders","engine":"aurora-postgresql"}}"#,
                Some("orders (aurora-postgresql)"),
            ),
            (
                r#"{"resourceType":"Lambda","lambdaDetails":{"functionName":"resize"}}"#,
                Some("resize"),
            ),
            (
                r#"{"resourceType":"AttackSequence"}"#,
                Some("attack sequence"),
            ),
            // A runtime finding whose resourceType names the cluster but details the instance.
            (
                r#"{"resourceType":"EKSCluster","instanceDetails":{"instanceId":"i-1"}}"#,
                Some("i-1"),
            ),
            (
                r#"{"resourceType":"SomethingNew","lambdaDetails":{"functionName":"f"}}"#,
                Some("f"),
            ),
            (
                r#"{"resourceType":"Instance","instanceDetails":null}"#,
                None,
            ),
            (r#"{}"#, None),
            (r#"null"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(summary(json).as_deref(), *want, "{json}");
        }
    }

    fn finding_with_info(info: &str) -> bool {
        let line = format!(
            r#"{{"id":"x","type":"T","severity":1,"service":{{"additionalInfo":{info}}}}}"#
        );
        is_sample(&Finding::parse(&line).unwrap())
    }

    #[test]
    fn sample_forms() {
        for (info, want) in [
            (r#"{"sample":true}"#, true),
            (r#"{"sample":"true"}"#, true),
            (r#"{"value":"{\"sample\":true}","type":"default"}"#, true),
            (
                r#"{"value":"{\"threatListName\":\"x\",\"sample\":true}","type":"default"}"#,
                true,
            ),
            (r#"{"sample":true,"value":"{\"sample\":true}"}"#, true),
            (r#"{"sample":false}"#, false),
            (r#"{"value":"{\"sample\":false}"}"#, false),
            (r#"{"value":"not json \"sample\" true"}"#, false),
            (r#"{"value":"{}"}"#, false),
            (r#"{"unusual":22}"#, false),
            (r#"null"#, false),
        ] {
            assert_eq!(finding_with_info(info), want, "{info}");
        }
    }

    #[test]
    fn console_urls_per_partition() {
        let url = |line: &str| {
            let f = Finding::parse(line).unwrap();
            classify(&f).console_url
        };
        assert_eq!(
            url(r#"{"id":"abc123","type":"T","severity":1,"region":"eu-west-1"}"#).as_deref(),
            Some(
                "https://console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=abc123"
            )
        );
        assert_eq!(
            url(r#"{"id":"a","type":"T","severity":1,"region":"us-gov-west-1","partition":"aws-us-gov"}"#).as_deref(),
            Some(
                "https://console.amazonaws-us-gov.com/guardduty/home?region=us-gov-west-1#/findings?macros=current&fId=a"
            )
        );
        assert_eq!(
            url(r#"{"id":"a","type":"T","severity":1,"region":"cn-north-1"}"#).as_deref(),
            Some(
                "https://console.amazonaws.cn/guardduty/home?region=cn-north-1#/findings?macros=current&fId=a"
            )
        );
        // Region and partition from the ARN when the members are missing.
        assert_eq!(
            url(r#"{"id":"a","type":"T","severity":1,"arn":"arn:aws:guardduty:ap-south-1:111122223333:detector/d/finding/a"}"#).as_deref(),
            Some(
                "https://console.aws.amazon.com/guardduty/home?region=ap-south-1#/findings?macros=current&fId=a"
            )
        );
        assert_eq!(url(r#"{"id":"a","type":"T","severity":1}"#), None);
        // A crafted id cannot inject URL syntax.
        assert_eq!(
            url(r##"{"id":"a&x=<y>#z","type":"T","severity":1,"region":"us-east-1"}"##).as_deref(),
            Some(
                "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=a%26x%3D%3Cy%3E%23z"
            )
        );
    }

    #[test]
    fn account_from_body_then_arn() {
        let f = Finding::parse(
            r#"{"id":"a","type":"T","severity":1,"arn":"arn:aws:guardduty:us-east-1:444455556666:detector/d/finding/a"}"#,
        )
        .unwrap();
        assert_eq!(account_id(&f), Some("444455556666"));
        assert_eq!(region(&f), Some("us-east-1"));
        let f = Finding::parse(
            r#"{"id":"a","type":"T","severity":1,"accountId":"111122223333","arn":"arn:aws:guardduty:us-east-1:444455556666:x"}"#,
        )
        .unwrap();
        assert_eq!(account_id(&f), Some("111122223333"));
    }
}
