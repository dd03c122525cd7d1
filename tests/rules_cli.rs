//! `guardduty-alerts check-config FILE`: the real binary on rules files of our own.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn check(path: &Path) -> Run {
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run the binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Writes `text` to a file under the test's own scratch directory.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rules-cli");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write rules file");
    p
}

#[test]
fn the_example_file_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.toml");
    let r = check(&example);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr, "", "no warnings");
    assert_eq!(r.stdout.lines().count(), 1, "one paragraph: {}", r.stdout);
    let want = "5 destinations [security-sns (sns), slack-sec (slack), teams-platform (teams), \
                pagerduty (pagerduty), siem (webhook)], 8 rules (first match wins), 3 named \
                accounts [111122223333 = prod, 444455556666 = staging, 777788889999 = sandbox]. \
                Findings no rule matches go to security-sns. Above 20 alerts for one destination \
                from one export, non-critical alerts are gathered into one digest (overridden: \
                pagerduty 50).\n";
    assert!(
        r.stdout.ends_with(want),
        "got:\n{}\nwant to end with:\n{want}",
        r.stdout
    );
    assert!(r.stdout.starts_with(&example.display().to_string()));
}

#[test]
fn every_error_is_printed_and_the_status_is_2() {
    let p = file(
        "broken.toml",
        r#"[destinations.slack]
type = "slack"
url = "https://hooks.slack.com/services/T0/B0/SUPERSECRETVALUE"

[[rules]]
name = "page-critical-prod"
match = { severity = "9..7", accounts = ["prod"] }
action = "route"
destinations = ["pd"]
"#,
    );
    let r = check(&p);
    assert_eq!(r.code, Some(2), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "");
    let shown = p.display().to_string();
    let want = [
        format!(
            r#"error: {shown}:3: destinations.slack: url: a credential must not be written into the rules file (its value is not shown here); write where it is kept: {{ env = "VAR" }}, {{ ssm = "/name" }} or {{ secret = "arn-or-name", key = "field" }}"#
        ),
        format!(
            r#"error: {shown}:7: rule #1 "page-critical-prod": match.severity: "9..7" is not a range (low > high); write e.g. "7..9", "7.." or "..4""#
        ),
        format!(
            r#"error: {shown}:7: rule #1 "page-critical-prod": match.accounts: "prod" is neither a 12-digit account id nor a name in [accounts] (there is no [accounts] table)"#
        ),
        format!(
            r#"error: {shown}:9: rule #1 "page-critical-prod": destinations: unknown destination "pd" (destinations: slack)"#
        ),
        format!("{shown}: 4 errors found; nothing was loaded"),
    ];
    let got: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(got, want);
    assert!(
        !r.stderr.contains("SUPERSECRETVALUE"),
        "a secret was echoed"
    );
}

#[test]
fn warnings_go_to_stderr_and_do_not_fail() {
    let p = file(
        "warn.toml",
        r#"[destinations.a]
type = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts"

[destinations.b]
type = "pagerduty"
routing_key = { ssm = "/gd/pd" }

[[rules]]
name = "all"
match = {}
action = "route"
destinations = ["a"]
"#,
    );
    let r = check(&p);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "warning: {}: destinations.b: no rule and not settings.default sends anything here\n",
            p.display()
        )
    );
    assert!(r.stdout.contains("2 destinations [a (sns), b (pagerduty)], 1 rule (first match wins), 0 named accounts. Findings no rule matches are suppressed (no_rule_matched)."), "{}", r.stdout);
}

#[test]
fn a_missing_file_is_an_error() {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rules-cli/does-not-exist.toml");
    let r = check(&p);
    assert_eq!(r.code, Some(2));
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "error: {}: cannot read the rules file: ",
            p.display()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn a_toml_syntax_error_is_reported_with_its_line() {
    let p = file("syntax.toml", "[settings]\ndigest_threshold = \n");
    let r = check(&p);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr
            .starts_with(&format!("error: {}:2: invalid TOML: ", p.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn usage() {
    let out = Command::new(BIN)
        .args(["check-config", "--help"])
        .output()
        .expect("run the binary");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        help.contains("Usage: guardduty-alerts check-config <FILE>"),
        "{help}"
    );
    let out = Command::new(BIN)
        .arg("check-config")
        .output()
        .expect("run the binary");
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

fn process(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(BIN)
        .arg("process")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/events/sample-export.jsonl.gz");

/// `process --config FILE --format json`: every finding names the rule that decided it, as the
/// library decides it (computed here, not written in), with destinations and account names.
#[test]
fn process_with_a_rules_file_names_the_deciding_rule_of_every_finding() {
    use guardduty_alerts::classify::classify;
    use guardduty_alerts::decide::rules::{DecidedBy, RulesConfig};
    use guardduty_alerts::decide::{Decide, Decision};
    use guardduty_alerts::export::finding::Finding;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.toml");
    let r = process(
        &[
            "--config",
            example.to_str().unwrap(),
            "--format",
            "json",
            SAMPLE,
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let records: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let rules = RulesConfig::from_file(&example).expect("valid");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl"
    ))
    .unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(records.len(), lines.len());
    let mut suppressed = 0;
    let mut runbooks = 0;
    for (rec, line) in records.iter().zip(lines) {
        let f = Finding::parse(line).unwrap();
        let c = classify(&f);
        let d = rules.decide(&f, &c);
        assert_eq!(rec["id"], f.id());
        assert_eq!(rec["rule"], d.rule().unwrap(), "{rec}");
        assert_eq!(rec["decision"], d.as_str(), "{rec}");
        match d {
            Decision::Routed { to, by, .. } => {
                // The rule's runbook, filled in (percent-encoded here, independently).
                let template = match by {
                    DecidedBy::Rule { index, .. } => rules.rules()[index].runbook.as_deref(),
                    DecidedBy::Default => None,
                };
                match template {
                    Some(t) => {
                        let enc = |s: Option<&str>| -> String {
                            s.unwrap_or("")
                                .bytes()
                                .map(|b| match b {
                                    b'A'..=b'Z'
                                    | b'a'..=b'z'
                                    | b'0'..=b'9'
                                    | b'-'
                                    | b'_'
                                    | b'.'
                                    | b'~' => (b as char).to_string(),
                                    _ => format!("%{b:02X}"),
                                })
                                .collect()
                        };
                        let want = t
                            .replace("{type}", &enc(Some(f.type_str())))
                            .replace("{account}", &enc(c.account_id))
                            .replace("{region}", &enc(c.region))
                            .replace("{resource}", &enc(c.resource.as_deref()))
                            .replace("{id}", &enc(Some(f.id())));
                        assert_eq!(rec["runbook_url"], want.as_str(), "{rec}");
                        runbooks += 1;
                    }
                    None => assert!(rec.get("runbook_url").is_none(), "{rec}"),
                }
                let names: Vec<&str> = to
                    .iter()
                    .map(|i| rules.destinations()[*i].name.as_str())
                    .collect();
                assert_eq!(rec["destinations"], serde_json::json!(names), "{rec}");
            }
            Decision::RuleSuppressed { reason, .. } => {
                suppressed += 1;
                assert_eq!(rec["reason"], reason, "{rec}");
            }
            other => panic!("{other:?}"),
        }
        if let Some(name) = c.account_id.and_then(|id| rules.account_name(id)) {
            assert_eq!(rec["account_name"], name, "{rec}");
        }
    }
    let summary: serde_json::Value =
        serde_json::from_str(r.stderr.lines().last().unwrap()).expect("summary");
    assert_eq!(summary["account"]["balanced"], true);
    assert_eq!(summary["account"]["suppressed"], suppressed);
    assert!(
        runbooks > 0,
        "the example's page-critical-prod rule links a runbook"
    );
}

/// `process --config FILE --dry-run`: the deciding rule on every line, a line per suppressed
/// finding with its rule and reason, a digest when a destination gets more than its threshold,
/// and no secret (the webhook URL comes from the environment and never appears).
#[test]
fn dry_run_with_a_rules_file_shows_rules_suppressions_and_digests() {
    let p = file(
        "dry-run.toml",
        r#"
[settings]
digest_threshold = 2
[accounts]
"111122223333" = "prod"
[destinations.siem]
type = "webhook"
url = { env = "TEST_SIEM_URL" }
[[rules]]
name = "quiet-low"
match = { severity = "low" }
action = "suppress"
reason = "low findings are reviewed weekly"
[[rules]]
name = "everything-else"
match = {}
action = "route"
destinations = ["siem"]
"#,
    );
    let secret_url = "https://siem.example/ingest/T0KEN-s3cr3t";
    let r = process(
        &[
            "--config",
            p.to_str().unwrap(),
            "--dry-run",
            "--format",
            "json",
            SAMPLE,
        ],
        &[("TEST_SIEM_URL", secret_url)],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stdout.contains("T0KEN") && !r.stderr.contains("T0KEN"));
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let suppressed: Vec<_> = lines
        .iter()
        .filter(|l| l["decision"] == "suppressed")
        .collect();
    assert!(!suppressed.is_empty());
    for l in &suppressed {
        assert_eq!(l["rule"], "quiet-low");
        assert_eq!(l["reason"], "low findings are reviewed weekly");
    }
    let digests: Vec<_> = lines.iter().filter(|l| l.get("digest").is_some()).collect();
    assert_eq!(digests.len(), 1, "{}", r.stdout);
    let individual: Vec<_> = lines
        .iter()
        .filter(|l| l["destination"] == "siem" && l.get("digest").is_none())
        .collect();
    // Over the threshold: only Critical alerts go out alone, the rest are in the digest.
    for l in &individual {
        assert_eq!(l["rule"], "everything-else");
        assert_eq!(l["body"]["alert"]["severity_label"], "Critical", "{l}");
    }
    let digest = &digests[0];
    assert_eq!(digest["url"], "***");
    assert_eq!(
        digest["body"]["digest"]["sent_individually"],
        individual.len()
    );
    // Every alert exactly once: alone or in the digest.
    let summary: serde_json::Value =
        serde_json::from_str(r.stderr.lines().last().unwrap()).expect("JSON summary");
    assert_eq!(
        digest["digest"]["alerts"].as_u64().unwrap() + individual.len() as u64,
        summary["alerts"].as_u64().unwrap(),
        "{summary}"
    );
    assert_eq!(summary["suppressed"]["quiet-low"], suppressed.len());
    assert_eq!(summary["account"]["balanced"], true);
}
