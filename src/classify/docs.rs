//! Where each finding type is documented: a link to its section in the GuardDuty User Guide,
//! which every alert carries (where to start reading at 2 a.m.).
//!
//! GuardDuty documents its finding types on one page per affected resource (EC2, IAM, S3, EKS,
//! Runtime Monitoring, the Malware Protection plans, RDS, Lambda, attack sequences), and each
//! type has its own section there, anchored by the type's name in lower case with `:` and `/`
//! turned into `-` and every other character that is not a letter or digit dropped, and with
//! `IAMUser` written `iam`: `Backdoor:EC2/C&CActivity.B!DNS` is
//! `guardduty_finding-types-ec2.html#backdoor-ec2-ccactivitybdns`, and
//! `PenTest:IAMUser/KaliLinux` is `guardduty_finding-types-iam.html#pentest-iam-kalilinux`.
//! The attack sequences are the exception (their anchors spell the words out), so they are
//! listed in [`ATTACK_SEQUENCES`]. A type of a resource this table does not know (GuardDuty adds
//! some every year) links to the page of all active types, without an anchor; a retired type's
//! link opens its resource's page at the top. Pure functions, no I/O.

use crate::classify::FindingType;

/// The page of a finding type: by purpose and affected resource, first match wins.
/// `(purpose or "*", affected, family or "*", page)`.
const PAGES: &[(&str, &str, &str, &str)] = &[
    (
        "AttackSequence",
        "*",
        "*",
        "guardduty-attack-sequence-finding-types",
    ),
    // Malware Protection: for S3 (uploads scanned), for EC2 and containers (EBS scans).
    (
        "Object",
        "S3",
        "MaliciousFile",
        "gdu-malware-protection-s3-finding-types",
    ),
    (
        "Execution",
        "EC2",
        "MaliciousFile",
        "findings-malware-protection",
    ),
    (
        "Execution",
        "EC2",
        "SuspiciousFile",
        "findings-malware-protection",
    ),
    (
        "Execution",
        "Kubernetes",
        "MaliciousFile",
        "findings-malware-protection",
    ),
    (
        "Execution",
        "Kubernetes",
        "SuspiciousFile",
        "findings-malware-protection",
    ),
    // Only Malware Protection names ECS tasks and containers as the affected resource.
    ("*", "ECS", "*", "findings-malware-protection"),
    ("*", "Container", "*", "findings-malware-protection"),
    ("*", "EC2", "*", "guardduty_finding-types-ec2"),
    ("*", "IAMUser", "*", "guardduty_finding-types-iam"),
    ("*", "IAM", "*", "guardduty_finding-types-iam"),
    ("*", "S3", "*", "guardduty_finding-types-s3"),
    (
        "*",
        "Kubernetes",
        "*",
        "guardduty-finding-types-eks-audit-logs",
    ),
    ("*", "EKS", "*", "guardduty-finding-types-eks-audit-logs"),
    ("*", "Runtime", "*", "findings-runtime-monitoring"),
    ("*", "RDS", "*", "findings-rds-protection"),
    ("*", "Lambda", "*", "lambda-protection-finding-types"),
];

/// The page that lists every active finding type, for a resource the table does not know.
const ALL_TYPES_PAGE: &str = "guardduty_finding-types-active";

/// The attack sequences' anchors, which do not follow the rule.
pub const ATTACK_SEQUENCES: &[(&str, &str)] = &[
    (
        "AttackSequence:EKS/CompromisedCluster",
        "attack-sequence-eks-compromised-cluster",
    ),
    (
        "AttackSequence:ECS/CompromisedCluster",
        "attack-sequence-ecs-compromised-cluster",
    ),
    (
        "AttackSequence:EC2/CompromisedInstanceGroup",
        "attack-sequence-ec2-compromised-instance-group",
    ),
    (
        "AttackSequence:IAM/CompromisedCredentials",
        "attack-sequence-iam-compromised-credentials",
    ),
    (
        "AttackSequence:S3/CompromisedData",
        "attack-sequence-s3-compromised-data",
    ),
];

/// The link to the GuardDuty User Guide's section on `finding_type`, in the documentation of
/// `partition` (`aws-cn`: docs.amazonaws.cn; every other partition: docs.aws.amazon.com).
/// `None` for a type with no purpose (an empty or malformed type).
pub fn docs_url(partition: &str, finding_type: &str) -> Option<String> {
    docs_url_for(partition, finding_type, &FindingType::parse(finding_type))
}

/// [`docs_url`] for a type already split into `kind` (the classification's), so the record of
/// each finding does not split it again.
pub fn docs_url_for(partition: &str, finding_type: &str, kind: &FindingType<'_>) -> Option<String> {
    if kind.threat_purpose.is_empty()
        || !kind
            .threat_purpose
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let base = match partition {
        "aws-cn" => "https://docs.amazonaws.cn/en_us/guardduty/latest/ug/",
        _ => "https://docs.aws.amazon.com/guardduty/latest/ug/",
    };
    let Some(page) = page(kind) else {
        return Some(format!("{base}{ALL_TYPES_PAGE}.html"));
    };
    // One allocation: the link is written in place, its anchor included.
    let mut url = String::with_capacity(base.len() + page.len() + 6 + finding_type.len() + 32);
    url.push_str(base);
    url.push_str(page);
    url.push_str(".html");
    match ATTACK_SEQUENCES.iter().find(|(t, _)| *t == finding_type) {
        Some((_, anchor)) => {
            url.push('#');
            url.push_str(anchor);
        }
        None if kind.threat_purpose == "AttackSequence" => {}
        None => {
            url.push('#');
            push_anchor(&mut url, finding_type);
        }
    }
    Some(url)
}

fn page(kind: &FindingType<'_>) -> Option<&'static str> {
    let affected = kind.resource_type_affected?;
    let family = kind.threat_family.unwrap_or("");
    PAGES
        .iter()
        .find(|(p, a, f, _)| {
            (*p == "*" || *p == kind.threat_purpose)
                && (*a == "*" || *a == affected)
                && (*f == "*" || *f == family)
        })
        .map(|(_, _, _, page)| *page)
}

/// Appends the anchor by the rule the User Guide's anchors follow (see the module documentation).
/// Only ASCII letters, digits and `-` come out, so the anchor is safe in any URL whatever the
/// type holds.
fn push_anchor(out: &mut String, finding_type: &str) {
    let (purpose, rest) = finding_type.split_once(':').unwrap_or((finding_type, ""));
    let (affected, family) = rest.split_once('/').unwrap_or((rest, ""));
    let affected = if affected == "IAMUser" {
        "IAM"
    } else {
        affected
    };
    for (i, part) in [purpose, affected, family].into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.extend(
            part.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UG: &str = "https://docs.aws.amazon.com/guardduty/latest/ug/";

    #[test]
    fn each_type_links_to_its_section() {
        // Anchors as the User Guide's table of active finding types links them.
        for (ty, want) in [
            (
                "Backdoor:EC2/C&CActivity.B!DNS",
                "guardduty_finding-types-ec2.html#backdoor-ec2-ccactivitybdns",
            ),
            (
                "Recon:EC2/PortProbeUnprotectedPort",
                "guardduty_finding-types-ec2.html#recon-ec2-portprobeunprotectedport",
            ),
            (
                "PenTest:IAMUser/KaliLinux",
                "guardduty_finding-types-iam.html#pentest-iam-kalilinux",
            ),
            (
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                "guardduty_finding-types-iam.html#unauthorizedaccess-iam-instancecredentialexfiltrationoutsideaws",
            ),
            (
                "Policy:S3/BucketBlockPublicAccessDisabled",
                "guardduty_finding-types-s3.html#policy-s3-bucketblockpublicaccessdisabled",
            ),
            (
                "Discovery:S3/AnomalousBehavior",
                "guardduty_finding-types-s3.html#discovery-s3-anomalousbehavior",
            ),
            (
                "Backdoor:Runtime/C&CActivity.B!DNS",
                "findings-runtime-monitoring.html#backdoor-runtime-ccactivitybdns",
            ),
            (
                "CryptoCurrency:Runtime/BitcoinTool.B",
                "findings-runtime-monitoring.html#cryptocurrency-runtime-bitcointoolb",
            ),
            (
                "CredentialAccess:Kubernetes/MaliciousIPCaller",
                "guardduty-finding-types-eks-audit-logs.html#credentialaccess-kubernetes-maliciousipcaller",
            ),
            (
                "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
                "findings-rds-protection.html#credentialaccess-rds-anomalousbehaviorsuccessfullogin",
            ),
            (
                "Backdoor:Lambda/C&CActivity.B",
                "lambda-protection-finding-types.html#backdoor-lambda-ccactivityb",
            ),
            (
                "Execution:EC2/MaliciousFile",
                "findings-malware-protection.html#execution-ec2-maliciousfile",
            ),
            (
                "Object:S3/MaliciousFile",
                "gdu-malware-protection-s3-finding-types.html#object-s3-maliciousfile",
            ),
            (
                "AttackSequence:S3/CompromisedData",
                "guardduty-attack-sequence-finding-types.html#attack-sequence-s3-compromised-data",
            ),
            // An attack sequence the table does not know: its page, no guessed anchor.
            (
                "AttackSequence:RDS/CompromisedDatabase",
                "guardduty-attack-sequence-finding-types.html",
            ),
            // A resource the table does not know: the page of every type.
            (
                "Impact:Bedrock/Something",
                "guardduty_finding-types-active.html",
            ),
            ("Recon", "guardduty_finding-types-active.html"),
        ] {
            assert_eq!(
                docs_url("aws", ty).as_deref(),
                Some(format!("{UG}{want}").as_str()),
                "{ty}"
            );
        }
    }

    #[test]
    fn china_uses_its_own_documentation_site() {
        assert_eq!(
            docs_url("aws-cn", "Recon:EC2/Portscan").as_deref(),
            Some(
                "https://docs.amazonaws.cn/en_us/guardduty/latest/ug/guardduty_finding-types-ec2.html#recon-ec2-portscan"
            )
        );
        assert!(
            docs_url("aws-us-gov", "Recon:EC2/Portscan")
                .unwrap()
                .starts_with(UG)
        );
    }

    #[test]
    fn hostile_types_yield_safe_links_or_none() {
        assert_eq!(docs_url("aws", ""), None);
        assert_eq!(docs_url("aws", "<script>:EC2/x"), None);
        assert_eq!(docs_url("aws", "a b:EC2/x"), None);
        let url = docs_url("aws", "Recon:EC2/<a href=\"x\">\"#?&%20 ü").unwrap();
        assert_eq!(
            url,
            format!("{UG}guardduty_finding-types-ec2.html#recon-ec2-ahrefx20")
        );
        let anchor = url.split_once('#').unwrap().1;
        assert!(
            anchor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{url}"
        );
    }

    #[test]
    fn every_documented_resource_has_a_page() {
        for affected in crate::classify::DOCUMENTED_AFFECTED {
            let url = docs_url("aws", &format!("Recon:{affected}/Example")).unwrap();
            assert!(
                !url.contains(ALL_TYPES_PAGE),
                "{affected} has no page of its own: {url}"
            );
        }
        for (ty, _) in ATTACK_SEQUENCES {
            assert!(docs_url("aws", ty).unwrap().contains('#'), "{ty}");
        }
    }
}
