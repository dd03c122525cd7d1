//! `process --deliver` and `process --dry-run` end to end: the built binary, destinations from
//! the environment (as the Lambda reads them), a real loopback HTTP receiver.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::http::{Reply, Server};

const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/events/sample-export.jsonl.gz");
const TOKEN: &str = "T0KEN-s3cr3t-path";

/// Runs the CLI with only the given destination variables (nothing inherited that could add
/// a destination).
async fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("process").args(args);
    for v in guardduty_alerts::app::resolve::DESTINATION_ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    tokio::task::spawn_blocking(move || cmd.output().expect("run the CLI"))
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_each_payload_and_sends_nothing() {
    let server = Server::ok().await;
    let env = [
        ("SLACK_WEBHOOK_URL", server.url(&format!("/slack/{TOKEN}"))),
        ("PAGERDUTY_ROUTING_KEY", "R0UTING-s3cr3t-KEY".to_owned()),
        ("ALLOW_HTTP_WEBHOOKS", "true".to_owned()),
    ];
    let out = run(&["--dry-run", SAMPLE], &env).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    // The sample export yields 10 alerts at the default minimum severity: one line per alert
    // and destination.
    assert_eq!(lines.len(), 20, "{stdout}");
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "slack").count(), 10);
    assert_eq!(kinds.iter().filter(|k| **k == "pagerduty").count(), 10);
    for l in &lines {
        assert_eq!(l["url"], "***");
        if l["kind"] == "pagerduty" {
            assert_eq!(l["body"]["routing_key"], "***");
            assert_eq!(l["body"]["dedup_key"], l["finding_id"]);
        } else {
            assert!(l["body"]["blocks"].is_array());
        }
    }
    for s in [TOKEN, "R0UTING-s3cr3t-KEY"] {
        assert!(
            !stdout.contains(s) && !stderr.contains(s),
            "dry run shows {s}"
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.count(), 0, "a dry run sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_sends_every_alert_and_reports_failures_without_secrets() {
    let server = Server::ok().await;
    let env = [
        ("WEBHOOK_URL", server.url(&format!("/hook/{TOKEN}"))),
        ("ALLOW_HTTP_WEBHOOKS", "true".to_owned()),
    ];
    let out = run(&["--deliver", "--format", "json", SAMPLE], &env).await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        text(&out.stdout).lines().count(),
        12,
        "all records still printed"
    );
    assert!(
        stderr.contains("delivered 10 alert(s) and 0 digest(s) to 1 destination(s), 0 failed"),
        "{stderr}"
    );
    assert_eq!(server.count(), 10);

    // A receiver that refuses (and echoes the secret path): exit 1, every finding named in
    // the log, the secret nowhere.
    let refusing =
        Server::start(|_, r| Reply::status(400, &format!("bad payload at {}", r.path))).await;
    let env = [
        ("WEBHOOK_URL", refusing.url(&format!("/hook/{TOKEN}"))),
        ("ALLOW_HTTP_WEBHOOKS", "true".to_owned()),
    ];
    let out = run(&["--deliver", SAMPLE], &env).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("delivered 0 alert(s) and 0 digest(s) to 1 destination(s), 10 failed"),
        "{stderr}"
    );
    // One plain error line per undelivered alert, the destination first.
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("error: webhook: alert not delivered: finding "))
            .count(),
        10,
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 400: bad payload at ***"), "{stderr}");
    assert!(!stderr.contains(TOKEN) && !text(&out.stdout).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_errors_exit_2_naming_the_setting() {
    let cases = [
        (vec![], "error: destinations: none is configured"),
        (
            vec![(
                "SLACK_WEBHOOK_URL",
                format!("http://hooks.example.com/{TOKEN}"),
            )],
            "error: SLACK_WEBHOOK_URL: the URL must be https://",
        ),
        (
            vec![("TEAMS_WEBHOOK_URL", format!("env:NO_SUCH_VAR_{TOKEN}"))],
            "error: TEAMS_WEBHOOK_URL: secret env:NO_SUCH_VAR_",
        ),
    ];
    for (env, want) in cases {
        let out = run(&["--dry-run", SAMPLE], &env).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        // One plain line that starts with the setting at fault.
        assert!(stderr.starts_with(want), "{env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{env:?}: {stderr}");
        if !want.contains("NO_SUCH_VAR") {
            assert!(!stderr.contains(TOKEN), "{stderr}");
        }
    }
    // --deliver and --dry-run together are a usage error.
    let out = run(&["--deliver", "--dry-run", SAMPLE], &[]).await;
    assert_eq!(out.status.code(), Some(2));
}
