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
