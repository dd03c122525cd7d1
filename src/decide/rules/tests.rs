//! Tests of the rules engine: matching (every criterion), first match wins, the default, one
//! test per configuration error with its exact message, the example file, and the public
//! corpus.

use std::path::PathBuf;

use super::*;
use crate::classify::classify;

/// Two destinations every test config has: `a` (SNS) and `b` (Slack).
const DESTINATIONS: &str = r#"
[destinations.a]
type = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts"

[destinations.b]
type = "slack"
url = { env = "SLACK_URL" }
"#;

fn config(text: &str) -> RulesConfig {
    RulesConfig::from_toml_str(text, "rules.toml").unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

/// What a config does with a finding, as text: `rule-name: route a,b`,
/// `default: suppress no_rule_matched`.
fn outcome(c: &RulesConfig, line: &str) -> String {
    let f = Finding::parse(line).unwrap_or_else(|e| panic!("{e:?}: {line}"));
    let class = classify(&f);
    let o = c.evaluate(&f, &class);
    assert_eq!(
        o,
        c.evaluate_linear(&f, &class),
        "the prefilter changed the outcome"
    );
    let names = |d: &[usize]| {
        d.iter()
            .map(|&i| c.destinations()[i].name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let action = match o.action {
        Action::Route(d) => format!("route {}", names(d)),
        Action::Digest(d) => format!("digest {}", names(d)),
        Action::Suppress(r) => format!("suppress {r}"),
    };
    if let DecidedBy::Rule { index, name } = o.decided_by {
        assert_eq!(c.rules()[index].name, name);
    }
    format!("{}: {action}", o.decided_by.name())
}

/// A finding: type, severity, then extra top-level members (JSON, without braces).
/// `accountId` (111122223333) and `region` (us-east-1) are added unless `extra` has them.
fn finding(finding_type: &str, severity: f64, extra: &str) -> String {
    let mut s = format!(r#"{{"id":"f1","type":"{finding_type}","severity":{severity}"#);
    if !extra.contains(r#""accountId""#) {
        s.push_str(r#","accountId":"111122223333""#);
    }
    if !extra.contains(r#""region""#) {
        s.push_str(r#","region":"us-east-1""#);
    }
    if !extra.is_empty() {
        s.push(',');
        s.push_str(extra);
    }
    s.push('}');
    s
}

/// Whether a single rule with this `match` (inline table contents) matches the finding.
fn matches(criteria: &str, line: &str) -> bool {
    let text = format!(
        r#"
[accounts]
"111122223333" = "prod"
"444455556666" = "prod"
"777788889999" = "dev"
{DESTINATIONS}
[[rules]]
name = "r"
match = {{ {criteria} }}
action = "route"
destinations = ["a"]
"#
    );
    let c = config(&text);
    match outcome(&c, line).as_str() {
        "r: route a" => true,
        "default: suppress no_rule_matched" => false,
        other => panic!("unexpected outcome {other}"),
    }
}

const EC2: &str = "Recon:EC2/PortProbeUnprotectedPort";

#[test]
fn severity_criterion() {
    let cases: &[(&str, f64, bool)] = &[
        (r#"severity = "7..9""#, 6.99, false),
        (r#"severity = "7..9""#, 7.0, true),
        (r#"severity = "7..9""#, 8.99, true),
        (r#"severity = "7..9""#, 9.0, false),
        (r#"severity = "7..=9""#, 9.0, true),
        (r#"severity = "4.5..""#, 4.4, false),
        (r#"severity = "4.5..""#, 4.5, true),
        (r#"severity = "4.5..""#, 10.0, true),
        (r#"severity = "..4""#, 3.9, true),
        (r#"severity = "..4""#, 4.0, false),
        (r#"severity = "..=3""#, 3.0, true),
        (r#"severity = "..=3""#, 3.1, false),
        (r#"severity = " 2 .. 3 ""#, 2.5, true),
        (r#"severity = "high""#, 6.95, false),
        (r#"severity = "high""#, 7.0, true),
        (r#"severity = "High""#, 8.9, true),
        (r#"severity = "high""#, 9.0, false),
        (r#"severity = "high..""#, 10.0, true),
        (r#"severity = "high..""#, 6.99, false),
        (r#"severity = "..medium""#, 6.95, true),
        (r#"severity = "..medium""#, 7.0, false),
        (r#"severity = "low..medium""#, 0.0, true),
        (r#"severity = "medium..high""#, 8.99, true),
        (r#"severity = "medium..high""#, 9.0, false),
        (r#"severity = "medium..8""#, 8.0, false),
        (r#"severity = "critical""#, 9.0, true),
        (r#"severity = ["low", "critical"]"#, 2.0, true),
        (r#"severity = ["low", "critical"]"#, 5.0, false),
        (r#"severity = ["low", "critical"]"#, 9.5, true),
        (r#"severity = ["1..2", "8.."]"#, 0.0, false),
        (r#"severity = ["1..2", "8.."]"#, 1.5, true),
        (r#"severity = ["1..2", "8.."]"#, 8.0, true),
    ];
    for (criteria, severity, want) in cases {
        assert_eq!(
            matches(criteria, &finding(EC2, *severity, "")),
            *want,
            "{criteria} at {severity}"
        );
    }
}

#[test]
fn type_criteria() {
    let cases: &[(&str, &str, bool)] = &[
        (r#"types = ["Recon:*"]"#, EC2, true),
        (r#"types = ["Recon:*"]"#, "Trojan:EC2/DropPoint!DNS", false),
        (r#"types = ["*:EC2/*"]"#, "Trojan:EC2/DropPoint!DNS", true),
        (
            r#"types = ["*:EC2/*"]"#,
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            false,
        ),
        (r#"types = ["*!DNS"]"#, "Trojan:EC2/DropPoint!DNS", true),
        (r#"types = ["*!DNS"]"#, "Trojan:EC2/DropPoint", false),
        (r#"types = ["*!DNS", "Recon:*"]"#, EC2, true),
        (r#"types = "Recon:EC2/PortProbeUnprotectedPort""#, EC2, true),
        (r#"types = ["Recon:EC2/PortProbe"]"#, EC2, false),
        (r#"types = ["*"]"#, "Anything", true),
        (r#"purposes = ["Recon"]"#, EC2, true),
        (
            r#"purposes = ["Recon", "Trojan"]"#,
            "Trojan:EC2/DropPoint!DNS",
            true,
        ),
        (r#"purposes = ["Recon"]"#, "Trojan:EC2/DropPoint!DNS", false),
        (r#"affected = ["EC2"]"#, EC2, true),
        (
            r#"affected = "IAMUser""#,
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            true,
        ),
        (
            r#"affected = ["EC2"]"#,
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            false,
        ),
        // A type without a resource part matches no `affected`.
        (r#"affected = ["EC2"]"#, "Weird", false),
        (r#"purposes = ["Weird"]"#, "Weird", true),
    ];
    for (criteria, finding_type, want) in cases {
        assert_eq!(
            matches(criteria, &finding(finding_type, 5.0, "")),
            *want,
            "{criteria} for {finding_type}"
        );
    }
}

#[test]
fn finding_body_criteria() {
    let cases: &[(&str, &str, bool)] = &[
        // resource.resourceType
        (
            r#"resource_types = ["Instance"]"#,
            r#""resource":{"resourceType":"Instance"}"#,
            true,
        ),
        (
            r#"resource_types = ["Instance"]"#,
            r#""resource":{"resourceType":"AccessKey"}"#,
            false,
        ),
        (r#"resource_types = ["Instance"]"#, "", false),
        (
            r#"resource_types = ["Instance"]"#,
            r#""resource":null"#,
            false,
        ),
        // Accounts by id and by name (a name may cover several ids).
        (r#"accounts = ["111122223333"]"#, "", true),
        (r#"accounts = ["prod"]"#, "", true),
        (
            r#"accounts = ["prod"]"#,
            r#""accountId":"444455556666""#,
            true,
        ),
        (r#"accounts = ["dev"]"#, "", false),
        (r#"accounts = ["dev", "111122223333"]"#, "", true),
        // The account from the ARN when accountId is missing.
        (
            r#"accounts = ["dev"]"#,
            r#""accountId":null,"arn":"arn:aws:guardduty:us-east-1:777788889999:detector/d/finding/f1""#,
            true,
        ),
        (r#"regions = ["us-east-1"]"#, "", true),
        (r#"regions = ["eu-west-1", "us-east-1"]"#, "", true),
        (r#"regions = ["eu-west-1"]"#, "", false),
        (
            r#"regions = ["eu-west-1"]"#,
            r#""region":"eu-west-1""#,
            true,
        ),
        // Samples, both forms.
        (
            r#"sample = true"#,
            r#""service":{"additionalInfo":{"sample":true}}"#,
            true,
        ),
        (
            r#"sample = true"#,
            r#""service":{"additionalInfo":{"value":"{\"sample\":true}","type":"default"}}"#,
            true,
        ),
        (r#"sample = true"#, "", false),
        (r#"sample = false"#, "", true),
        (
            r#"sample = false"#,
            r#""service":{"additionalInfo":{"sample":true}}"#,
            false,
        ),
        (r#"archived = true"#, r#""service":{"archived":true}"#, true),
        (r#"archived = true"#, "", false),
        (
            r#"archived = false"#,
            r#""service":{"archived":false}"#,
            true,
        ),
        (
            r#"features = ["FlowLogs"]"#,
            r#""service":{"featureName":"FlowLogs"}"#,
            true,
        ),
        (
            r#"features = ["FlowLogs"]"#,
            r#""service":{"featureName":"DnsLogs"}"#,
            false,
        ),
        (r#"features = ["FlowLogs"]"#, "", false),
    ];
    for (criteria, extra, want) in cases {
        assert_eq!(
            matches(criteria, &finding(EC2, 5.0, extra)),
            *want,
            "{criteria} with {extra}"
        );
    }
}

#[test]
fn tag_criteria() {
    let tags = |json_tags: &str| format!(r#"[{json_tags}]"#);
    let instance = |t: &str| format!(r#""resource":{{"instanceDetails":{{"tags":{}}}}}"#, tags(t));
    let env_prod = r#"{"key":"env","value":"prod"}"#;
    let cases: Vec<(&str, String, bool)> = vec![
        (r#"tags = ["env=prod"]"#, instance(env_prod), true),
        (r#"tags = ["env=Prod"]"#, instance(env_prod), false),
        (
            r#"tags = ["env=prod*"]"#,
            instance(r#"{"key":"env","value":"prod-eu"}"#),
            true,
        ),
        (r#"tags = ["env=*"]"#, instance(env_prod), true),
        (
            r#"tags = ["env=*"]"#,
            instance(r#"{"key":"env","value":null}"#),
            true,
        ),
        (
            r#"tags = ["env="]"#,
            instance(r#"{"key":"env","value":""}"#),
            true,
        ),
        (r#"tags = ["env="]"#, instance(env_prod), false),
        (r#"tags = ["owner=*"]"#, instance(env_prod), false),
        (
            r#"tags = ["env=dev", "env=prod"]"#,
            instance(env_prod),
            true,
        ),
        // A value holding "=" splits at the first "=".
        (
            r#"tags = ["k=a=b"]"#,
            instance(r#"{"key":"k","value":"a=b"}"#),
            true,
        ),
        (r#"tags = ["env=prod"]"#, String::new(), false),
        (
            r#"tags = ["env=prod"]"#,
            r#""resource":{"instanceDetails":{"tags":null}}"#.to_owned(),
            false,
        ),
        // Every kind of resource with tags.
        (
            r#"tags = ["env=prod"]"#,
            format!(
                r#""resource":{{"s3BucketDetails":[{{"name":"a"}},{{"name":"b","tags":{}}}]}}"#,
                tags(env_prod)
            ),
            true,
        ),
        (
            r#"tags = ["env=prod"]"#,
            format!(
                r#""resource":{{"eksClusterDetails":{{"tags":{}}}}}"#,
                tags(env_prod)
            ),
            true,
        ),
        (
            r#"tags = ["env=prod"]"#,
            format!(
                r#""resource":{{"ecsClusterDetails":{{"tags":{}}}}}"#,
                tags(env_prod)
            ),
            true,
        ),
        (
            r#"tags = ["env=prod"]"#,
            format!(
                r#""resource":{{"lambdaDetails":{{"functionName":"f","tags":{}}}}}"#,
                tags(env_prod)
            ),
            true,
        ),
        (
            r#"tags = ["env=prod"]"#,
            format!(
                r#""resource":{{"rdsDbInstanceDetails":{{"tags":{}}}}}"#,
                tags(env_prod)
            ),
            true,
        ),
    ];
    for (criteria, extra, want) in cases {
        assert_eq!(
            matches(criteria, &finding(EC2, 5.0, &extra)),
            want,
            "{criteria} with {extra}"
        );
    }
}

#[test]
fn every_given_criterion_must_hold() {
    let all = r#"severity = "high..", types = ["*:EC2/*"], purposes = ["Recon"], affected = ["EC2"], resource_types = ["Instance"], accounts = ["prod"], regions = ["us-east-1"], tags = ["env=prod"], features = ["FlowLogs"], sample = false, archived = false"#;
    let good = [
        r#""resource":{"resourceType":"Instance","instanceDetails":{"tags":[{"key":"env","value":"prod"}]}}"#,
        r#""service":{"featureName":"FlowLogs","archived":false}"#,
    ]
    .join(",");
    assert!(matches(all, &finding(EC2, 8.0, &good)));
    // Break one fact at a time.
    let broken = [
        finding(EC2, 5.0, &good),
        finding("Recon:IAMUser/MaliciousIPCaller", 8.0, &good),
        finding("Trojan:EC2/DropPoint", 8.0, &good),
        finding(EC2, 8.0, &good.replace("Instance\"", "AccessKey\"")),
        finding(EC2, 8.0, &good.replace("\"prod\"}", "\"dev\"}")),
        finding(EC2, 8.0, &good.replace("FlowLogs", "DnsLogs")),
        finding(
            EC2,
            8.0,
            &good.replace("\"archived\":false", "\"archived\":true"),
        ),
        finding(
            EC2,
            8.0,
            &good.replace("\"archived\":false", "\"additionalInfo\":{\"sample\":true}"),
        ),
        finding(EC2, 8.0, &format!(r#"{good},"accountId":"777788889999""#)),
        finding(EC2, 8.0, &format!(r#"{good},"region":"us-west-2""#)),
    ];
    for line in &broken {
        assert!(!matches(all, line), "{line}");
    }
}

#[test]
fn rules_sharing_globs_and_tags_decide_alike() {
    // The same glob and tag matcher in several rules is matched once per finding and
    // remembered; the answers must be those of matching each time.
    let c = config(&format!(
        r#"
{DESTINATIONS}
[[rules]]
name = "ec2-critical-tagged"
match = {{ types = ["*:EC2/*"], severity = "critical", tags = ["env=prod"] }}
action = "route"
destinations = ["a"]

[[rules]]
name = "ec2-tagged-dev"
match = {{ types = ["*:EC2/*"], tags = ["env=dev"] }}
action = "route"
destinations = ["b"]

[[rules]]
name = "tagged-prod"
match = {{ tags = ["env=prod"] }}
action = "digest"
destinations = ["a"]

[[rules]]
name = "ec2"
match = {{ types = ["Nothing:*", "*:EC2/*"] }}
action = "digest"
destinations = ["b"]
"#
    ));
    let tagged = |v: &str| {
        format!(r#""resource":{{"instanceDetails":{{"tags":[{{"key":"env","value":"{v}"}}]}}}}"#)
    };
    let cases = [
        (
            finding(EC2, 9.5, &tagged("prod")),
            "ec2-critical-tagged: route a",
        ),
        (finding(EC2, 5.0, &tagged("prod")), "tagged-prod: digest a"),
        (finding(EC2, 9.5, &tagged("dev")), "ec2-tagged-dev: route b"),
        (finding(EC2, 5.0, &tagged("qa")), "ec2: digest b"),
        (
            finding("Recon:IAMUser/TorIPCaller", 9.5, &tagged("prod")),
            "tagged-prod: digest a",
        ),
        (
            finding("Recon:IAMUser/TorIPCaller", 9.5, &tagged("dev")),
            "default: suppress no_rule_matched",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(outcome(&c, &line), want, "{line}");
    }
    assert_eq!(c.patterns.globs.len(), 2, "two distinct globs");
    assert_eq!(c.patterns.tags.len(), 2, "two distinct tag matchers");
}

/// A small deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

#[test]
fn the_prefilter_never_changes_an_outcome() {
    // Random rule files (each rule with a few criteria from a small vocabulary) against
    // random findings from the same vocabulary: `outcome` checks that evaluate and
    // evaluate_linear agree on every one.
    let types = [
        "Recon:EC2/PortProbeUnprotectedPort",
        "Trojan:EC2/DropPoint!DNS",
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        "Execution:Kubernetes/ExecInKubeSystemPod",
        "AttackSequence:S3/CompromisedData",
        "Weird",
    ];
    let accounts = ["111122223333", "444455556666", "777788889999"];
    let regions = ["us-east-1", "eu-west-1"];
    let resource_types = ["Instance", "AccessKey", "EKSCluster"];
    let features = ["FlowLogs", "CloudTrail"];
    let criteria = [
        r#"severity = "high..""#,
        r#"severity = ["low", "8..=9"]"#,
        r#"severity = "4..7""#,
        r#"types = ["*:EC2/*"]"#,
        r#"types = ["*!DNS", "Recon:*"]"#,
        r#"purposes = ["Recon", "Trojan"]"#,
        r#"purposes = "AttackSequence""#,
        r#"affected = ["EC2"]"#,
        r#"affected = ["IAMUser", "Kubernetes"]"#,
        r#"resource_types = ["Instance"]"#,
        r#"resource_types = ["AccessKey", "EKSCluster"]"#,
        r#"accounts = ["111122223333"]"#,
        r#"accounts = ["prod"]"#,
        r#"regions = ["eu-west-1"]"#,
        r#"tags = ["env=prod"]"#,
        r#"tags = ["team=*", "env=dev"]"#,
        r#"features = ["FlowLogs"]"#,
        "sample = true",
        "sample = false",
        "archived = true",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decided_by_rules = 0;
    for round in 0..40 {
        let n_rules = [1, 5, 30, 70, 300][round % 5];
        let mut text = format!(
            "[accounts]\n\"444455556666\" = \"prod\"\n\"777788889999\" = \"prod\"\n{DESTINATIONS}"
        );
        for i in 0..n_rules {
            let mut picked: Vec<&str> = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let c = rng.pick(&criteria);
                let key = c.split_whitespace().next().unwrap_or_default();
                if !picked.iter().any(|p| p.starts_with(key)) {
                    picked.push(c);
                }
            }
            text.push_str(&format!(
                "\n[[rules]]\nname = \"r{i}\"\nmatch = {{ {} }}\naction = \"route\"\ndestinations = [\"a\"]\n",
                picked.join(", ")
            ));
        }
        let c = config(&text);
        for _ in 0..200 {
            let severity = [1.0, 4.0, 6.95, 7.0, 8.5, 9.0, 10.0][rng.below(7)];
            let extra = format!(
                r#""accountId":"{}","region":"{}","resource":{{"resourceType":"{}","instanceDetails":{{"tags":[{{"key":"{}","value":"{}"}}]}}}},"service":{{"featureName":"{}","archived":{},"additionalInfo":{{"sample":{}}}}}"#,
                rng.pick(&accounts),
                rng.pick(&regions),
                rng.pick(&resource_types),
                rng.pick(&["env", "team", "owner"]),
                rng.pick(&["prod", "dev"]),
                rng.pick(&features),
                rng.below(4) == 0,
                rng.below(3) == 0,
            );
            let got = outcome(&c, &finding(rng.pick(&types), severity, &extra));
            decided_by_rules += usize::from(!got.starts_with("default:"));
        }
    }
    // The files and findings are varied enough that most findings meet some rule.
    assert!(decided_by_rules > 4000, "{decided_by_rules} of 8000");
}

#[test]
fn rules_beyond_the_prefilter_still_decide_in_order() {
    let mut text = DESTINATIONS.to_owned();
    for i in 0..300 {
        let m = match i {
            100 => r#"regions = ["eu-west-1"]"#.to_owned(),
            270 => r#"severity = "critical""#.to_owned(),
            280 => "sample = false".to_owned(),
            _ => format!(r#"accounts = ["{:012}"]"#, 200_000_000_000u64 + i),
        };
        text.push_str(&format!(
            "\n[[rules]]\nname = \"r{i}\"\nmatch = {{ {m} }}\naction = \"route\"\ndestinations = [\"a\"]\n"
        ));
    }
    let c = config(&text);
    let sample = r#""service":{"additionalInfo":{"sample":true}}"#;
    let cases = [
        (
            finding(EC2, 5.0, r#""region":"eu-west-1""#),
            "r100: route a",
        ),
        (finding(EC2, 9.5, ""), "r270: route a"),
        (finding(EC2, 5.0, ""), "r280: route a"),
        (
            finding(EC2, 5.0, r#""accountId":"200000000007""#),
            "r7: route a",
        ),
        (
            finding(EC2, 5.0, &format!(r#""accountId":"200000000290",{sample}"#)),
            "r290: route a",
        ),
        (
            finding(EC2, 5.0, sample),
            "default: suppress no_rule_matched",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(outcome(&c, &line), want, "{line}");
    }
}

#[test]
fn empty_match_matches_everything() {
    for line in [
        finding(EC2, 0.0, ""),
        finding("X", 10.0, r#""resource":null,"service":null"#),
        r#"{"id":"x","type":"T","severity":1}"#.to_owned(),
    ] {
        assert!(matches("", &line), "{line}");
    }
}

#[test]
fn first_match_wins_then_default() {
    let c = config(&format!(
        r#"
[settings]
default = ["b", "a"]
{DESTINATIONS}
[[rules]]
name = "samples"
match = {{ sample = true }}
action = "suppress"
reason = "sample finding"

[[rules]]
name = "critical"
match = {{ severity = "critical" }}
action = "route"
destinations = ["a", "b"]

[[rules]]
name = "ec2-high"
match = {{ severity = "high..", types = ["*:EC2/*"] }}
action = "route"
destinations = ["b"]

[[rules]]
name = "recon"
match = {{ purposes = ["Recon"] }}
action = "digest"
destinations = ["a"]
"#
    ));
    let sample = r#""service":{"additionalInfo":{"sample":true}}"#;
    let cases = [
        // A critical sample: the earlier rule wins.
        (
            finding(EC2, 9.5, sample),
            "samples: suppress sample finding",
        ),
        (finding(EC2, 9.5, ""), "critical: route a,b"),
        (finding(EC2, 8.0, ""), "ec2-high: route b"),
        (finding(EC2, 5.0, ""), "recon: digest a"),
        (
            finding("Recon:IAMUser/TorIPCaller", 8.0, ""),
            "recon: digest a",
        ),
        (finding("Trojan:IAMUser/X", 8.0, ""), "default: route b,a"),
    ];
    for (line, want) in cases {
        assert_eq!(outcome(&c, &line), want, "{line}");
    }
    // The index reported is the rule's position in the file.
    let line = finding(EC2, 8.0, "");
    let f = Finding::parse(&line).expect("finding");
    let o = c.evaluate(&f, &classify(&f));
    assert_eq!(
        o.decided_by,
        DecidedBy::Rule {
            index: 2,
            name: "ec2-high"
        }
    );
    assert_eq!(o.action, Action::Route(&[1]));
    assert_eq!(c.default_action(), Action::Route(&[1, 0]));
}

#[test]
fn default_is_suppress_with_a_stable_reason() {
    let c = config(&format!(
        "{DESTINATIONS}\n[[rules]]\nname = \"x\"\nmatch = {{ severity = \"critical\" }}\naction = \"route\"\ndestinations = [\"a\", \"b\"]\n"
    ));
    assert_eq!(
        outcome(&c, &finding(EC2, 2.0, "")),
        "default: suppress no_rule_matched"
    );
    assert_eq!(c.default_action(), Action::Suppress(NO_RULE_MATCHED));
    assert_eq!(c.digest_threshold(), DEFAULT_DIGEST_THRESHOLD);
    let explicit = config(&format!(
        "[settings]\ndefault = \"suppress\"\n{DESTINATIONS}\n[[rules]]\nname = \"x\"\nmatch = {{}}\naction = \"route\"\ndestinations = [\"a\", \"b\"]\n"
    ));
    assert_eq!(explicit.default_action(), Action::Suppress(NO_RULE_MATCHED));
}

#[test]
fn example_file_is_valid_and_does_what_it_says() {
    let text = include_str!("../../../examples/rules.toml");
    let c = config(text);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    let names: Vec<&str> = c.destinations().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "security-sns",
            "slack-sec",
            "teams-platform",
            "pagerduty",
            "siem"
        ],
        "file order"
    );
    assert_eq!(c.rules().len(), 8);
    assert_eq!(c.account_name("777788889999"), Some("sandbox"));
    assert_eq!(c.account_name("123456789012"), None);
    let pd = &c.destinations()[3];
    assert_eq!(pd.digest_threshold, 50);
    assert_eq!(
        pd.kind,
        DestinationKind::PagerDuty {
            routing_key: SecretRef::Ssm {
                name: "/guardduty-alerts/pagerduty-routing-key".into(),
                key: None
            }
        }
    );
    assert_eq!(c.destinations()[0].digest_threshold, 20);
    assert_eq!(
        c.destinations()[4].kind,
        DestinationKind::Webhook {
            url: SecretRef::Env {
                var: "SIEM_WEBHOOK_URL".into()
            },
            signing_secret: Some(SecretRef::SecretsManager {
                id: "gd-webhooks".into(),
                key: Some("siem-signing".into())
            }),
            headers: vec![
                (
                    "Authorization".into(),
                    HeaderValue::Secret(SecretRef::Env {
                        var: "SIEM_TOKEN".into()
                    })
                ),
                ("X-Team".into(), HeaderValue::Literal("security".into())),
            ],
        }
    );
    assert_eq!(c.destinations()[4].concurrency, Some(4));
    assert_eq!(c.destinations()[1].rate_per_second, Some(1.0));
    assert_eq!(c.rules()[3].line, Some(67));
    assert_eq!(
        c.rules()[2].runbook.as_deref(),
        Some(
            "https://wiki.example.com/security/guardduty/{type}?account={account}&region={region}"
        )
    );
    assert_eq!(c.rules()[3].runbook, None);

    let prod = r#""accountId":"111122223333""#;
    let sandbox = r#""accountId":"777788889999""#;
    let prod_instance = r#""accountId":"111122223333","resource":{"resourceType":"Instance","instanceDetails":{"tags":[{"key":"env","value":"prod-eu"}]}}"#;
    let cases = [
        (
            finding(EC2, 9.5, r#""service":{"additionalInfo":{"sample":true}}"#),
            "drop-samples: suppress sample finding",
        ),
        (
            finding(EC2, 8.0, sandbox),
            "sandbox-below-critical: suppress sandbox account: only Critical findings are sent",
        ),
        (
            finding(EC2, 9.0, sandbox),
            "medium-and-up: route slack-sec,siem",
        ),
        (
            finding(EC2, 9.0, prod),
            "page-critical-prod: route pagerduty,slack-sec,siem",
        ),
        (
            finding("Backdoor:EC2/C&CActivity.B", 8.0, prod_instance),
            "page-high-compute-prod: route pagerduty,slack-sec",
        ),
        (
            finding("Backdoor:EC2/C&CActivity.B", 8.0, prod),
            "medium-and-up: route slack-sec,siem",
        ),
        (finding(EC2, 2.0, prod), "recon-digest: digest slack-sec"),
        (
            finding("Execution:Kubernetes/ExecInKubeSystemPod", 5.0, prod),
            "kubernetes-to-platform: route teams-platform,siem",
        ),
        (
            finding("Trojan:EC2/DropPoint!DNS", 2.0, prod),
            "quiet-low-dns: suppress low-severity DNS findings are reviewed weekly in the console",
        ),
        (
            finding("Policy:IAMUser/RootCredentialUsage", 2.0, prod),
            "default: route security-sns",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(outcome(&c, &line), want, "{line}");
    }
    let summary = c.summary();
    assert!(summary.starts_with("rules.toml: 5 destinations [security-sns (sns), slack-sec (slack), teams-platform (teams), pagerduty (pagerduty), siem (webhook)], 8 rules (first match wins), 3 named accounts"), "{summary}");
}

#[test]
fn the_documentation_shows_the_example_file() {
    let doc = include_str!("../../../docs/rules.md");
    let example = include_str!("../../../examples/rules.toml");
    assert!(
        doc.contains(&format!("```toml\n{example}```")),
        "docs/rules.md must show examples/rules.toml verbatim"
    );
}

// ---- configuration errors: one test per check, exact messages ----

/// Every error message for a file: `DESTINATIONS` plus `text`; line numbers count from the
/// first line of `text`.
fn errors(text: &str) -> Vec<String> {
    let full = format!("{text}\n{DESTINATIONS}");
    match RulesConfig::from_toml_str(&full, "rules.toml") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

/// The single error of a file with one rule `name = "r"` and this `match` contents.
fn match_error(criteria: &str) -> String {
    let e = errors(&format!(
        "[[rules]]\nname = \"r\"\nmatch = {{ {criteria} }}\naction = \"route\"\ndestinations = [\"a\"]"
    ));
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].clone()
}

#[test]
fn severity_errors() {
    let cases = [
        (
            r#"severity = "9..7""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "9..7" is not a range (low > high); write e.g. "7..9", "7.." or "..4""#,
        ),
        (
            r#"severity = "critical..high""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "critical..high" is not a range (low > high); write e.g. "7..9", "7.." or "..4""#,
        ),
        (
            r#"severity = "7..7""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "7..7" is empty: ".." leaves out its upper end; write "7..=7" for exactly 7"#,
        ),
        (
            r#"severity = "7..11""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "7..11": 11 is outside GuardDuty's severity scale, 0 to 10"#,
        ),
        (
            r#"severity = "-1..""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "-1..": -1 is outside GuardDuty's severity scale, 0 to 10"#,
        ),
        (
            r#"severity = "8""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "8" is a single number: write "8.." for 8 and above, or "8..=8" for exactly 8"#,
        ),
        (
            r#"severity = ["high", "severe"]"#,
            r#"rules.toml:3: rule #1 "r": match.severity: "severe" is neither a severity range nor a label: write e.g. "7..9", "7.." or "..4", or one of low, medium, high, critical"#,
        ),
        (
            r#"severity = "hi..""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "hi..": "hi" is neither a number from 0 to 10 nor one of low, medium, high, critical; write e.g. "7..9", "7.." or "..4""#,
        ),
        (
            r#"severity = "NaN..""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "NaN..": "NaN" is neither a number from 0 to 10 nor one of low, medium, high, critical; write e.g. "7..9", "7.." or "..4""#,
        ),
        (
            r#"severity = "..=high""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "..=high": write "..high" without "=": a label as upper bound already includes its whole band"#,
        ),
        (
            r#"severity = "7..=""#,
            r#"rules.toml:3: rule #1 "r": match.severity: "7..=": "..=" needs an upper bound; write e.g. "7..9", "7.." or "..4""#,
        ),
        (
            r#"severity = "..""#,
            r#"rules.toml:3: rule #1 "r": match.severity: ".." matches every severity: remove severity instead"#,
        ),
        (
            r#"severity = 7"#,
            r#"rules.toml:3: rule #1 "r": match.severity: invalid type: integer `7`, expected a string or a list of strings"#,
        ),
        (
            r#"severity = []"#,
            r#"rules.toml:3: rule #1 "r": match.severity: an empty list never matches: remove severity to match any value"#,
        ),
    ];
    for (criteria, want) in cases {
        assert_eq!(match_error(criteria), want, "{criteria}");
    }
}

#[test]
fn type_and_name_errors() {
    let cases = [
        (
            r#"types = [""]"#,
            r#"rules.toml:3: rule #1 "r": match.types: an empty pattern matches nothing: write e.g. "Recon:*", "*:EC2/*" or "*!DNS""#,
        ),
        (
            r#"types = ["Recon"]"#,
            r#"rules.toml:3: rule #1 "r": match.types: "Recon" has no "*" and no ":", so it can only match a type spelt exactly "Recon", which GuardDuty does not use: write "Recon:*" or "*Recon*", or use purposes/affected"#,
        ),
        (
            r#"types = ["recon:EC2/*"]"#,
            r#"rules.toml:3: rule #1 "r": match.types: "recon:EC2/*": types are case-sensitive; did you mean "Recon:EC2/*"?"#,
        ),
        (
            r#"types = ["Recon: EC2/*"]"#,
            r#"rules.toml:3: rule #1 "r": match.types: "Recon: EC2/*": finding types have no spaces"#,
        ),
        (
            r#"purposes = ["recon"]"#,
            r#"rules.toml:3: rule #1 "r": match.purposes: "recon": names are case-sensitive; did you mean "Recon"?"#,
        ),
        (
            r#"purposes = ["Recon:*"]"#,
            r#"rules.toml:3: rule #1 "r": match.purposes: "Recon:*" looks like a finding type pattern: put it in match.types (e.g. types = ["Recon:*"])"#,
        ),
        (
            r#"affected = ["Instance"]"#,
            r#"rules.toml:3: rule #1 "r": match.affected: "Instance" is a resource.resourceType, not an affected resource type (the type's part between ':' and '/'): put "Instance" in match.resource_types"#,
        ),
        (
            r#"resource_types = ["ec2"]"#,
            r#"rules.toml:3: rule #1 "r": match.resource_types: "ec2" is an affected resource type (the type's part between ':' and '/'), not a resource.resourceType: put "EC2" in match.affected"#,
        ),
        (
            r#"resource_types = ["instance"]"#,
            r#"rules.toml:3: rule #1 "r": match.resource_types: "instance": names are case-sensitive; did you mean "Instance"?"#,
        ),
        (
            r#"regions = ["US-EAST-1"]"#,
            r#"rules.toml:3: rule #1 "r": match.regions: "US-EAST-1": region names are lowercase, write "us-east-1""#,
        ),
        (
            r#"regions = ["useast1"]"#,
            r#"rules.toml:3: rule #1 "r": match.regions: "useast1" is not a region name such as "us-east-1""#,
        ),
        (
            r#"features = [""]"#,
            r#"rules.toml:3: rule #1 "r": match.features: "" is not a feature name such as "FlowLogs" or "RuntimeMonitoring""#,
        ),
        (
            r#"tags = ["env"]"#,
            r#"rules.toml:3: rule #1 "r": match.tags: "env" has no "=": write "key=value", or "env=*" for any value"#,
        ),
        (
            r#"tags = ["=prod"]"#,
            r#"rules.toml:3: rule #1 "r": match.tags: "=prod" has an empty key: write "key=value""#,
        ),
        (
            r#"accounts = ["prd"]"#,
            r#"rules.toml:3: rule #1 "r": match.accounts: "prd" is neither a 12-digit account id nor a name in [accounts] (there is no [accounts] table)"#,
        ),
        (
            r#"accounts = ["12345"]"#,
            r#"rules.toml:3: rule #1 "r": match.accounts: "12345" has 5 digits; an account id has 12 (keep leading zeros)"#,
        ),
        (
            r#"accounts = [123456789012]"#,
            r#"rules.toml:3: rule #1 "r": match.accounts: invalid type: integer `123456789012`, expected a string"#,
        ),
        (
            r#"sample = "yes""#,
            r#"rules.toml:3: rule #1 "r": match.sample: invalid type: string "yes", expected a boolean"#,
        ),
        (
            r#"sevrity = "7..""#,
            "rules.toml:3: rule #1 \"r\": match: unknown field `sevrity`, expected one of `severity`, `types`, `purposes`, `affected`, `resource_types`, `accounts`, `regions`, `tags`, `features`, `sample`, `archived`",
        ),
    ];
    for (criteria, want) in cases {
        assert_eq!(match_error(criteria), want, "{criteria}");
    }
}

#[test]
fn account_names_are_listed_when_a_name_is_unknown() {
    let e = errors(
        "[accounts]\n\"111122223333\" = \"prod\"\n\"444455556666\" = \"staging\"\n\n[[rules]]\nname = \"r\"\nmatch = { accounts = [\"prod\", \"stage\"] }\naction = \"route\"\ndestinations = [\"a\"]",
    );
    assert_eq!(
        e,
        [
            r#"rules.toml:7: rule #1 "r": match.accounts: "stage" is neither a 12-digit account id nor a name in [accounts] (names: prod, staging)"#
        ]
    );
}

#[test]
fn accounts_table_errors() {
    let e = errors(
        "[accounts]\n\"12345\" = \"short\"\n\"111122223333\" = 5\n\"444455556666\" = \" prod\"\n\"777788889999\" = \"123456789012\"",
    );
    assert_eq!(
        e,
        [
            r#"rules.toml:2: accounts: "12345": is not a 12-digit account id (write the id in quotes, leading zeros included)"#,
            r#"rules.toml:3: accounts: "111122223333": the name must be a string, not integer: write "111122223333" = "prod""#,
            r#"rules.toml:4: accounts: "444455556666": " prod" is not a usable name: give a non-empty name without surrounding spaces"#,
            r#"rules.toml:5: accounts: "777788889999": "123456789012" looks like an account id: a name must not be 12 digits"#,
        ]
    );
}

#[test]
fn action_errors() {
    let rule = |body: &str| errors(&format!("[[rules]]\nname = \"r\"\nmatch = {{}}\n{body}"));
    let cases: &[(&str, &[&str])] = &[
        (
            "action = \"route\"",
            &[
                r#"rules.toml:4: rule #1 "r": destinations: a route rule needs destinations, e.g. destinations = ["security-sns"]"#,
            ],
        ),
        (
            "action = \"digest\"\ndestinations = []",
            &[
                r#"rules.toml:5: rule #1 "r": destinations: a digest rule needs at least one destination"#,
            ],
        ),
        (
            "action = \"route\"\ndestinations = [\"a\", \"nope\", \"a\"]",
            &[
                r#"rules.toml:5: rule #1 "r": destinations: unknown destination "nope" (destinations: a, b)"#,
                r#"rules.toml:5: rule #1 "r": destinations: "a" is listed twice"#,
            ],
        ),
        (
            "action = \"route\"\ndestinations = [\"a\"]\nreason = \"x\"",
            &[
                r#"rules.toml:6: rule #1 "r": reason: a route rule has no reason (reason goes with action = "suppress"; use description for notes)"#,
            ],
        ),
        (
            "action = \"suppress\"",
            &[
                r#"rules.toml:4: rule #1 "r": reason: a suppress rule needs a reason, reported for every finding it drops, e.g. reason = "sample findings""#,
            ],
        ),
        (
            "action = \"suppress\"\nreason = \" \"",
            &[r#"rules.toml:5: rule #1 "r": reason: is empty: say why these findings are dropped"#],
        ),
        (
            "action = \"suppress\"\nreason = \"x\"\ndestinations = [\"a\"]",
            &[
                r#"rules.toml:6: rule #1 "r": destinations: a suppress rule sends nothing: remove destinations (or use action = "route")"#,
            ],
        ),
        (
            "action = \"route\"\ndestinations = [\"a\"]\nrunbook = \"http://wiki.example/{type}\"",
            &[
                r#"rules.toml:6: rule #1 "r": runbook: must be an https:// link, e.g. runbook = "https://wiki.example/guardduty/{type}""#,
            ],
        ),
        (
            "action = \"route\"\ndestinations = [\"a\"]\nrunbook = \"https://wiki.example/{finding}\"",
            &[
                r#"rules.toml:6: rule #1 "r": runbook: has an unknown placeholder {finding}; use {type}, {account}, {region}, {resource}, {id}"#,
            ],
        ),
        (
            "action = \"suppress\"\nreason = \"x\"\nrunbook = \"https://wiki.example/{type}\"",
            &[
                r#"rules.toml:6: rule #1 "r": runbook: a suppress rule sends nothing: remove runbook (or use action = "route")"#,
            ],
        ),
        (
            "action = \"rout\"",
            &[
                r#"rules.toml:4: rule #1 "r": action: unknown variant `rout`, expected one of `route`, `digest`, `suppress`"#,
            ],
        ),
        (
            "action = \"route\"\ndestinations = [\"a\"]\nenabled = false",
            &[
                "rules.toml:6: rule #1 \"r\": unknown field `enabled`, expected one of `name`, `description`, `match`, `action`, `destinations`, `reason`, `runbook`",
            ],
        ),
    ];
    for (body, want) in cases {
        assert_eq!(rule(body), *want, "{body}");
    }
}

#[test]
fn rule_structure_errors() {
    // A missing match is an error (write `match = {}` to match everything).
    assert_eq!(
        errors("[[rules]]\nname = \"r\"\naction = \"route\"\ndestinations = [\"a\"]"),
        ["rules.toml:1: rule #1 \"r\": missing field `match`"]
    );
    assert_eq!(
        errors("[[rules]]\nmatch = {}\naction = \"route\"\ndestinations = [\"a\"]"),
        ["rules.toml:1: rule #1: missing field `name`"]
    );
    assert_eq!(
        errors(
            "[[rules]]\nname = \"page critical\"\nmatch = {}\naction = \"route\"\ndestinations = [\"a\"]"
        ),
        [
            r#"rules.toml:2: rule #1 "page critical": name: a rule name has 1 to 64 letters, digits, '-', '_' or '.' (it appears in logs and metrics)"#
        ]
    );
    assert_eq!(
        errors(
            "[[rules]]\nname = \"r\"\nmatch = { types = [\"A:*\"] }\naction = \"route\"\ndestinations = [\"a\"]\n[[rules]]\nname = \"r\"\nmatch = { types = [\"B:*\"] }\naction = \"route\"\ndestinations = [\"a\"]"
        ),
        [
            r#"rules.toml:7: rule #2 "r": name: "r" is already the name of rule #1: rule names must be unique"#
        ]
    );
    assert_eq!(
        errors("rules = 5"),
        ["rules.toml:1: rules: must be an array of tables: write each rule under [[rules]]"]
    );
    assert_eq!(
        errors("[rule]\nname = \"x\""),
        [
            "rules.toml:1: unknown section `rule`: a rules file has [settings], [accounts], [destinations.NAME] and [[rules]]"
        ]
    );
}

#[test]
fn rules_after_a_catch_all_are_errors() {
    let e = errors(
        "[[rules]]\nname = \"all\"\nmatch = {}\naction = \"route\"\ndestinations = [\"a\"]\n\n[[rules]]\nname = \"never\"\nmatch = { sample = true }\naction = \"suppress\"\nreason = \"x\"",
    );
    assert_eq!(
        e,
        [
            r#"rules.toml:7: rule #2 "never": can never match: rule #1 "all" has an empty match and decides every finding first (move it to the end, or give it criteria)"#
        ]
    );
    // As the last rule it is fine; an explicit default is then unused (a warning).
    let c = config(&format!(
        "[settings]\ndefault = [\"b\"]\n{DESTINATIONS}\n[[rules]]\nname = \"all\"\nmatch = {{}}\naction = \"route\"\ndestinations = [\"a\"]"
    ));
    let w: Vec<String> = c.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [r#"rules.toml:2: settings: default: never used: rule #1 "all" matches every finding"#]
    );
}

#[test]
fn settings_errors() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[settings]\ndefault = \"a\"",
            &[
                r#"rules.toml:2: settings: default: "a" is not an action: write "suppress" or a list of destination names, e.g. ["security-sns"]; to route unmatched findings to it write ["a"]"#,
            ],
        ),
        (
            "[settings]\ndefault = \"drop\"",
            &[
                r#"rules.toml:2: settings: default: "drop" is not an action: write "suppress" or a list of destination names, e.g. ["security-sns"]"#,
            ],
        ),
        (
            "[settings]\ndefault = [\"security-sns\"]",
            &[
                r#"rules.toml:2: settings: default: unknown destination "security-sns" (destinations: a, b)"#,
            ],
        ),
        (
            "[settings]\ndefault = []",
            &[
                r#"rules.toml:2: settings: default: an empty list sends unmatched findings nowhere: write "suppress" to drop them, or name destinations"#,
            ],
        ),
        (
            "[settings]\ndigest_threshold = -1",
            &[
                "rules.toml:2: settings: digest_threshold: invalid value: integer `-1`, expected u64",
            ],
        ),
        (
            "[settings]\ndigest = 5",
            &[
                "rules.toml:2: settings: unknown field `digest`, expected `digest_threshold` or `default`",
            ],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(errors(text), *want, "{text}");
    }
}

/// Errors for one destination table `[destinations.d]` with this body.
fn destination_errors(body: &str) -> Vec<String> {
    errors(&format!("[destinations.d]\n{body}"))
}

#[test]
fn destination_errors_table() {
    let cases: &[(&str, &[&str])] = &[
        (
            "type = \"sns\"\ntopic_arn = \"arn:aws:sns:us-east-1:alerts\"",
            &[
                r#"rules.toml:3: destinations.d: topic_arn: "arn:aws:sns:us-east-1:alerts" is not an SNS topic ARN: write arn:PARTITION:sns:REGION:ACCOUNT:TOPIC, e.g. "arn:aws:sns:us-east-1:123456789012:guardduty-alerts""#,
            ],
        ),
        (
            "type = \"sns\"\ntopic_arn = \"arn:aws:sqs:us-east-1:123456789012:alerts\"",
            &[
                r#"rules.toml:3: destinations.d: topic_arn: "arn:aws:sqs:us-east-1:123456789012:alerts" is not an SNS topic ARN: write arn:PARTITION:sns:REGION:ACCOUNT:TOPIC, e.g. "arn:aws:sns:us-east-1:123456789012:guardduty-alerts""#,
            ],
        ),
        (
            "type = \"sns\"",
            &[
                r#"rules.toml:1: destinations.d: An sns destination needs topic_arn, e.g. topic_arn = "arn:aws:sns:us-east-1:123456789012:guardduty-alerts""#,
            ],
        ),
        (
            "type = \"sns\"\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:a\"\nformat = \"xml\"",
            &[
                "rules.toml:4: destinations.d: format: unknown variant `xml`, expected `json` or `chatbot`",
            ],
        ),
        (
            "type = \"sns\"\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:a\"\nurl = { env = \"X\" }",
            &[
                "rules.toml:4: destinations.d: url: not a setting of an sns destination (its settings: topic_arn, format)",
            ],
        ),
        (
            "type = \"email\"",
            &[
                "rules.toml:2: destinations.d: type: unknown variant `email`, expected one of `sns`, `slack`, `teams`, `pagerduty`, `webhook`",
            ],
        ),
        (
            "topic_arn = \"arn:aws:sns:us-east-1:123456789012:a\"",
            &["rules.toml:1: destinations.d: missing field `type`"],
        ),
        (
            "type = \"slack\"",
            &[
                r#"rules.toml:1: destinations.d: A slack destination needs url, e.g. url = { env = "D_URL" }"#,
            ],
        ),
        (
            "type = \"pagerduty\"",
            &[
                r#"rules.toml:1: destinations.d: A pagerduty destination needs routing_key, e.g. routing_key = { ssm = "/guardduty-alerts/d" }"#,
            ],
        ),
        (
            "type = \"teams\"\nurl = {}",
            &[
                r#"rules.toml:3: destinations.d: url: names no place: give exactly one of secret, ssm or env, e.g. { env = "VAR" }, { ssm = "/name" } or { secret = "arn-or-name", key = "field" }"#,
            ],
        ),
        (
            "type = \"teams\"\nurl = { env = \"A\", ssm = \"/b\" }",
            &[
                r#"rules.toml:3: destinations.d: url: gives ssm and env: give exactly one of secret, ssm or env, e.g. { env = "VAR" }, { ssm = "/name" } or { secret = "arn-or-name", key = "field" }"#,
            ],
        ),
        (
            "type = \"teams\"\nurl = { env = \"B\", key = \"k\" }",
            &[
                "rules.toml:3: destinations.d: url: key goes with secret or ssm (a member of a JSON secret or parameter), not env",
            ],
        ),
        (
            "type = \"teams\"\nurl = { vault = \"x\" }",
            &[
                "rules.toml:3: destinations.d: url: unknown field `vault`, expected one of `secret`, `key`, `ssm`, `env`",
            ],
        ),
        (
            "type = \"teams\"\nurl = { env = \"1X\" }",
            &[
                r#"rules.toml:3: destinations.d: url: "1X" is not an environment variable name: letters, digits and _, not starting with a digit"#,
            ],
        ),
        (
            "type = \"teams\"\nurl = { ssm = \"gd/teams\" }",
            &[
                r#"rules.toml:3: destinations.d: url: "gd/teams" is not a parameter name: no spaces, and a name with a path starts with / (e.g. "/guardduty-alerts/slack")"#,
            ],
        ),
        (
            "type = \"teams\"\nurl = { secret = \"arn:aws:ssm:us-east-1:123456789012:parameter/x\" }",
            &[
                r#"rules.toml:3: destinations.d: url: "arn:aws:ssm:us-east-1:123456789012:parameter/x" is not a Secrets Manager secret ARN: write arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, or just the name"#,
            ],
        ),
        (
            "type = \"pagerduty\"\nrouting_key = { secret = \"gd\", key = \"\" }",
            &[
                "rules.toml:3: destinations.d: routing_key: key is empty: name the member of the JSON value, or leave key out to use the whole value",
            ],
        ),
        (
            "type = \"webhook\"\nurl = { env = \"U\" }\nheaders = { \"Content-Type\" = \"text/plain\", \"X Bad\" = \"v\", \"X-Ok\" = \"a\\nb\" }",
            &[
                "rules.toml:4: destinations.d: headers.Content-Type: is set by the sender and cannot be configured",
                "rules.toml:4: destinations.d: headers.X Bad: is not a header name (letters, digits and -)",
                "rules.toml:4: destinations.d: headers.X-Ok: the value holds a control character (a line break?)",
            ],
        ),
        (
            // Issue #16: this passed the rules file's check and then replaced the real HMAC
            // signature on every delivery. One check (common::headers) now serves both paths.
            "type = \"webhook\"\nurl = { env = \"U\" }\nsigning_secret = { env = \"S\" }\nheaders = { \"x-guardduty-alerts-signature\" = { env = \"X\" }, \"X-GuardDuty-Alerts-Delivery-Id\" = \"1\", \"User-Agent\" = \"me\" }",
            &[
                "rules.toml:5: destinations.d: headers.User-Agent: is set by the sender and cannot be configured",
                "rules.toml:5: destinations.d: headers.X-GuardDuty-Alerts-Delivery-Id: is set by guardduty-alerts itself (x-guardduty-alerts-*: the delivery id and the HMAC signature)",
                "rules.toml:5: destinations.d: headers.x-guardduty-alerts-signature: is set by guardduty-alerts itself (x-guardduty-alerts-*: the delivery id and the HMAC signature)",
            ],
        ),
        (
            "type = \"webhook\"\nurl = { env = \"U\" }\nconcurrency = 0\nrate_per_second = 0\ndigest_threshold = 5",
            &[
                "rules.toml:4: destinations.d: concurrency: 0 is out of range: give 1 to 64 requests in flight",
                "rules.toml:5: destinations.d: rate_per_second: 0 is not a rate: give a number of requests per second above 0, e.g. 1 or 0.5",
            ],
        ),
        (
            "type = \"webhook\"\nurl = { env = \"U\" }\ntimeout = 5",
            &[
                "rules.toml:4: destinations.d: unknown field `timeout`, expected one of `type`, `topic_arn`, `format`, `url`, `routing_key`, `signing_secret`, `headers`, `concurrency`, `rate_per_second`, `digest_threshold`",
            ],
        ),
    ];
    for (body, want) in cases {
        assert_eq!(destination_errors(body), *want, "{body}");
    }
    assert_eq!(
        errors(
            "[destinations.\"bad name\"]\ntype = \"sns\"\ntopic_arn = \"arn:aws:sns:us-east-1:123456789012:a\""
        ),
        [
            "rules.toml:1: destinations.bad name: a destination name has 1 to 64 letters, digits, '-' or '_'"
        ]
    );
}

#[test]
fn credentials_in_the_file_are_refused_and_never_echoed() {
    let secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX";
    let e = destination_errors(&format!(
        "type = \"webhook\"\nurl = \"{secret_url}\"\nsigning_secret = \"s3cr3t-value\"\nheaders = {{ Authorization = \"Bearer tok3n-value\" }}"
    ));
    assert_eq!(
        e,
        [
            r#"rules.toml:3: destinations.d: url: a credential must not be written into the rules file (its value is not shown here); write where it is kept: { env = "VAR" }, { ssm = "/name" } or { secret = "arn-or-name", key = "field" }"#,
            r#"rules.toml:4: destinations.d: signing_secret: a credential must not be written into the rules file (its value is not shown here); write where it is kept: { env = "VAR" }, { ssm = "/name" } or { secret = "arn-or-name", key = "field" }"#,
            r#"rules.toml:5: destinations.d: headers.Authorization: looks like a credential, which must not be written into the rules file (its value is not shown here); write where it is kept: Authorization = { env = "VAR" } (or ssm, or secret)"#,
        ]
    );
    for leaked in [secret_url, "s3cr3t-value", "tok3n-value", "XXXXSECRET"] {
        assert!(!e.iter().any(|m| m.contains(leaked)), "{leaked} echoed");
    }
    // Neither in a type error.
    let e = destination_errors("type = \"pagerduty\"\nrouting_key = [\"R0UTINGKEY\"]");
    assert!(!e.iter().any(|m| m.contains("R0UTINGKEY")), "{e:?}");
}

#[test]
fn every_error_is_reported_at_once() {
    let e = errors(
        r#"[settings]
default = ["nowhere"]

[[rules]]
name = "one"
match = { severity = "9..7", tags = ["env"] }
action = "route"
destinations = ["a"]

[[rules]]
name = "two"
match = { sevrity = "high" }
action = "route"
destinations = ["a"]

[[rules]]
name = "three"
match = { types = ["Recon"] }
action = "suppress"
"#,
    );
    assert_eq!(
        e,
        [
            r#"rules.toml:2: settings: default: unknown destination "nowhere" (destinations: a, b)"#,
            r#"rules.toml:6: rule #1 "one": match.severity: "9..7" is not a range (low > high); write e.g. "7..9", "7.." or "..4""#,
            r#"rules.toml:6: rule #1 "one": match.tags: "env" has no "=": write "key=value", or "env=*" for any value"#,
            "rules.toml:12: rule #2 \"two\": match: unknown field `sevrity`, expected one of `severity`, `types`, `purposes`, `affected`, `resource_types`, `accounts`, `regions`, `tags`, `features`, `sample`, `archived`",
            r#"rules.toml:18: rule #3 "three": match.types: "Recon" has no "*" and no ":", so it can only match a type spelt exactly "Recon", which GuardDuty does not use: write "Recon:*" or "*Recon*", or use purposes/affected"#,
            r#"rules.toml:19: rule #3 "three": reason: a suppress rule needs a reason, reported for every finding it drops, e.g. reason = "sample findings""#,
        ]
    );
}

#[test]
fn syntax_errors_stop_the_checks() {
    let e = RulesConfig::from_toml_str("[[rules]]\nname = \"x\nmatch = {}\n", "r.toml")
        .expect_err("syntax error");
    assert!(!e.errors.is_empty());
    let first = e.errors[0].to_string();
    assert!(first.starts_with("r.toml:2: invalid TOML: "), "{first}");
    let e = RulesConfig::from_toml_str("a = 1\na = 2\n", "r.toml").expect_err("duplicate key");
    assert!(
        e.errors[0]
            .to_string()
            .starts_with("r.toml:2: invalid TOML: "),
        "{e}"
    );
}

#[test]
fn warnings() {
    let c = config(&format!(
        "{DESTINATIONS}\n[[rules]]\nname = \"r\"\nmatch = {{ purposes = [\"Sabotage\"] }}\naction = \"route\"\ndestinations = [\"a\"]\n"
    ));
    let w: Vec<String> = c.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(w[0].starts_with(r#"rules.toml:12: rule #1 "r": match.purposes: "Sabotage" is not a threat purpose (the type's part before ':') GuardDuty documents (known: AttackSequence, "#), "{}", w[0]);
    assert_eq!(
        w[1],
        "rules.toml: destinations.b: no rule and not settings.default sends anything here"
    );
    let c = config("");
    let w: Vec<String> = c.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            r#"rules.toml: there are no rules and settings.default is "suppress": every finding is suppressed"#
        ]
    );
}

#[test]
fn secret_references_stay_references() {
    let c = config(
        r#"
[destinations.s]
type = "slack"
url = { secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gd-webhooks-AbCdEf", key = "slack" }
[destinations.t]
type = "teams"
url = { secret = "gd-webhooks" }
[destinations.p]
type = "pagerduty"
routing_key = { ssm = "/gd/pagerduty-key" }
[destinations.w]
type = "webhook"
url = { ssm = "arn:aws:ssm:us-east-1:123456789012:parameter/gd/url" }
signing_secret = { ssm = "/gd/bundle", key = "signing" }

[[rules]]
name = "all"
match = {}
action = "route"
destinations = ["s", "t", "p", "w"]
"#,
    );
    let kinds: Vec<&DestinationKind> = c.destinations().iter().map(|d| &d.kind).collect();
    assert_eq!(
        kinds[0],
        &DestinationKind::Slack {
            url: SecretRef::SecretsManager {
                id: "arn:aws:secretsmanager:us-east-1:123456789012:secret:gd-webhooks-AbCdEf"
                    .into(),
                key: Some("slack".into())
            }
        }
    );
    assert_eq!(
        kinds[1],
        &DestinationKind::Teams {
            url: SecretRef::SecretsManager {
                id: "gd-webhooks".into(),
                key: None
            }
        }
    );
    assert_eq!(
        kinds[2],
        &DestinationKind::PagerDuty {
            routing_key: SecretRef::Ssm {
                name: "/gd/pagerduty-key".into(),
                key: None
            }
        }
    );
    assert!(
        matches!(kinds[3], DestinationKind::Webhook { url: SecretRef::Ssm { key: None, .. }, signing_secret: Some(SecretRef::Ssm { name, key: Some(k) }), headers } if headers.is_empty() && name == "/gd/bundle" && k == "signing")
    );
    assert_eq!(c.destination_index("p"), Some(2));
}

#[test]
fn multiline_inline_tables_and_single_strings() {
    // TOML 1.1 allows newlines in inline tables; single strings stand for one-element lists.
    let c = config(&format!(
        "{DESTINATIONS}\n[[rules]]\nname = \"r\"\nmatch = {{\n  purposes = \"Recon\",\n  regions = \"us-east-1\",\n}}\naction = \"route\"\ndestinations = [\"a\", \"b\"]\n"
    ));
    assert_eq!(
        c.rules()[0].matcher.purposes.as_deref(),
        Some(&["Recon".to_owned()][..])
    );
}

// ---- the public corpus ----

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GUARDDUTY_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/findings")
        });
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var_os("GUARDDUTY_CORPUS_REQUIRED").is_some() {
        panic!(
            "corpus folder {} not found (GUARDDUTY_CORPUS_REQUIRED is set)",
            dir.display()
        );
    } else {
        eprintln!(
            "NOTE: corpus folder {} not found: rules over public findings NOT run",
            dir.display()
        );
        None
    }
}

const CORPUS_RULES: &str = r#"
[accounts]
"973743533182" = "elastic"
"111111111111" = "sekoia"

[destinations.a]
type = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts"
[destinations.b]
type = "slack"
url = { env = "SLACK_URL" }

[[rules]]
name = "s3-foo-bar"
match = { affected = ["S3"], tags = ["foo=bar"] }
action = "suppress"
reason = "test bucket"

[[rules]]
name = "k8s-elastic"
match = { accounts = ["elastic"], affected = ["Kubernetes"], tags = ["GeneratedFindingEKSClusterTag1=GeneratedFindingEKSClusterTagValue1"] }
action = "route"
destinations = ["b"]

[[rules]]
name = "ebs-scan"
match = { features = ["EbsVolumeScan"], regions = ["eu-west-2"] }
action = "digest"
destinations = ["a"]

[[rules]]
name = "build-server"
match = { resource_types = ["Container"], tags = ["group=build-*"] }
action = "route"
destinations = ["a", "b"]

[[rules]]
name = "attack-sequences"
match = { purposes = ["AttackSequence"], severity = "critical", sample = false }
action = "route"
destinations = ["a"]

[[rules]]
name = "ssh-brute-force"
match = { types = ["*:EC2/SSHBruteForce"] }
action = "route"
destinations = ["b"]

[[rules]]
name = "samples"
match = { sample = true }
action = "suppress"
reason = "sample finding"

[[rules]]
name = "high"
match = { severity = "high.." }
action = "route"
destinations = ["a"]
"#;

#[test]
fn every_public_finding_evaluates() {
    let Some(dir) = corpus_dir() else { return };
    let configs = [
        config(CORPUS_RULES),
        config(include_str!("../../../examples/rules.toml")),
    ];
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut seen = std::collections::BTreeMap::new();
    let mut total = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read corpus file");
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            for c in &configs {
                outcome(c, line);
            }
            seen.insert(format!("{name}:{}", i + 1), outcome(&configs[0], line));
            total += 1;
        }
    }
    assert!(total >= 40, "expected the whole corpus, got {total}");
    // Hand-checked against the files (see shared/corpus/findings/SOURCES.md).
    let want = [
        // Impact:S3/MaliciousIPCaller, a sample whose bucket is tagged foo=bar.
        (
            "elastic_test-guard_duty.jsonl:1",
            "s3-foo-bar: suppress test bucket",
        ),
        // Execution:Kubernetes/ExecInKubeSystemPod in account 973743533182, EKS cluster tags.
        ("elastic_test-guard_duty.jsonl:10", "k8s-elastic: route b"),
        // Execution:Container/SuspiciousFile, featureName EbsVolumeScan, eu-west-2.
        ("sekoia.jsonl:3", "ebs-scan: digest a"),
        // PrivilegeEscalation:Runtime/DockerSocketAccessed, instance tag group=build-server.
        ("elastic_test-guardduty.jsonl:5", "build-server: route a,b"),
        // AttackSequence:IAM/CompromisedCredentials, severity 9, not a sample.
        ("panther.jsonl:1", "attack-sequences: route a"),
        // AttackSequence:S3/CompromisedData is a sample.
        ("panther.jsonl:2", "samples: suppress sample finding"),
        // No account, no region: matched by type alone.
        ("aws-samples_waf-acl.jsonl:1", "ssh-brute-force: route b"),
        // PrivilegeEscalation:IAMUser/AdministrativePermissions, severity 8, not a sample.
        ("panther.jsonl:3", "high: route a"),
        // The same at severity 1: nothing matches.
        ("panther.jsonl:7", "default: suppress no_rule_matched"),
        // Canary:EC2/Stateless.IntegTest, severity 5, not a sample.
        (
            "aws-samples_automated-response.jsonl:1",
            "default: suppress no_rule_matched",
        ),
    ];
    for (at, outcome) in want {
        assert_eq!(seen.get(at).map(String::as_str), Some(outcome), "{at}");
    }
}

/// Type-glob results are remembered per finding type and thread, keyed by the rules file: two
/// files whose first glob differs never see each other's results, and a file's results for a
/// type hold for every finding of that type, whatever rule decided first.
#[test]
fn remembered_type_globs_belong_to_their_file() {
    let file = |glob: &str| {
        RulesConfig::from_toml_str(
            &format!(
                r#"
                [destinations.a]
                type = "sns"
                topic_arn = "arn:aws:sns:us-east-1:111122223333:a"
                [[rules]]
                name = "glob"
                match = {{ types = ["{glob}"] }}
                action = "route"
                destinations = ["a"]
                "#
            ),
            "t.toml",
        )
        .unwrap()
    };
    let (recon, trojan) = (file("Recon:*"), file("Trojan:*"));
    let line = r#"{"id":"x","type":"Recon:EC2/PortProbeUnprotectedPort","severity":5}"#;
    let f = Finding::parse(line).unwrap();
    let c = classify(&f);
    for _ in 0..3 {
        assert_eq!(recon.evaluate(&f, &c).decided_by.name(), "glob");
        assert_eq!(trojan.evaluate(&f, &c).decided_by.name(), "default");
        // A copy shares its file's memo and agrees.
        assert_eq!(recon.clone().evaluate(&f, &c).decided_by.name(), "glob");
    }
}
