//! The Lambda function against real local services: moto server for S3 (SSE-KMS objects), KMS,
//! SNS and SQS; the real function binary through cargo-lambda's runtime emulator for every
//! trigger shape; the handler in-process for the failure semantics. Every test reads back what
//! reached SQS through a subscription, attributes included.

mod support;

use std::io::Write as _;
use std::net::TcpListener;
use std::time::Duration;

use guardduty_alerts::common::format::MessageFormat;
use guardduty_alerts::lambda::{App, Config, handle};
use serde_json::{Value, json};
use support::*;

const BUCKET: &str = "guardduty-alerts-exports";
const UUID: &str = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b";

fn key_current() -> String {
    format!("AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/{UUID}.jsonl.gz")
}
fn key_spaces() -> String {
    format!("My Exports/Café/AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/{UUID}.jsonl.gz")
}
fn key_old_layout() -> String {
    format!("AWSLogs/GuardDuty/111122223333/us-east-1/2026/11/26/{UUID}.jsonl.gz")
}

fn sample_gz() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl.gz"
    ))
    .expect("events/sample-export.jsonl.gz")
}

/// The summary's account balances (findings = alerted + suppressed + deduplicated + failed) and
/// agrees with the summary's own counts; returns (alerted, failed).
fn assert_account(r: &Value) -> (u64, u64) {
    let a = &r["account"];
    let n = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("not a count: {v} in {r}"))
    };
    let sum = |v: &Value| v.as_object().map_or(0, |m| m.values().map(n).sum::<u64>());
    assert_eq!(a["balanced"], true, "{r}");
    assert_eq!(n(&a["findings"]), n(&r["findings"]), "{r}");
    assert_eq!(n(&a["suppressed"]), sum(&r["suppressed"]), "{r}");
    assert_eq!(n(&a["deduplicated"]), sum(&r["deduplicated"]), "{r}");
    assert_eq!(n(&a["rejected_lines"]), sum(&r["rejected"]), "{r}");
    assert_eq!(n(&a["alerted"]) + n(&a["failed"]), n(&r["alerts"]), "{r}");
    assert_eq!(
        n(&a["findings"]),
        n(&a["alerted"]) + n(&a["suppressed"]) + n(&a["deduplicated"]) + n(&a["failed"]),
        "{r}"
    );
    (n(&a["alerted"]), n(&a["failed"]))
}

fn event(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("event file")).expect("event JSON")
}

/// moto with the export bucket (SSE-KMS), the three objects the events name, a topic and a
/// queue subscribed to it (enveloped, so Subject and attributes can be checked).
struct World {
    moto: Moto,
    sdk: aws_config::SdkConfig,
    key_arn: String,
    topic_arn: String,
    queue_url: String,
}

async fn world(fifo: bool) -> World {
    let moto = Moto::start().await;
    let sdk = sdk_config(&moto.endpoint);
    let s3 = s3_client(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key_arn = create_kms_key(&kms).await;
    create_export_bucket(&s3, BUCKET, &key_arn).await;
    for key in [key_current(), key_spaces(), key_old_layout()] {
        put_export(&s3, BUCKET, &key, &key_arn, sample_gz()).await;
    }
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let suffix = if fifo { ".fifo" } else { "" };
    let topic_arn = create_topic(&sns, &format!("alerts{suffix}"), fifo).await;
    let (queue_url, queue_arn) = create_queue(&sqs, &format!("alerts{suffix}"), fifo).await;
    subscribe_queue(&sns, &topic_arn, &queue_arn, false).await;
    World {
        moto,
        sdk,
        key_arn,
        topic_arn,
        queue_url,
    }
}

impl World {
    /// Uploads (or replaces) an export object, SSE-KMS under the world's export key.
    async fn put(&self, key: &str, bytes: Vec<u8>) {
        put_export(&s3_client(&self.sdk), BUCKET, key, &self.key_arn, bytes).await;
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SNS_TOPIC_ARN", self.topic_arn.clone()),
            ("AWS_ENDPOINT_URL", self.moto.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ]
    }

    async fn app(&self, extra: &[(&str, &str)]) -> App {
        self.app_via(&self.moto.endpoint, extra).await
    }

    /// The app with its AWS calls sent to `endpoint` (a fault proxy in front of moto).
    async fn app_via(&self, endpoint: &str, extra: &[(&str, &str)]) -> App {
        let mut vars: Vec<(String, String)> = self
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for (k, v) in extra {
            vars.retain(|(name, _)| name != k);
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
        let config = Config::from_lookup(|k| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
        .expect("valid config");
        App::new(config, &sdk_config(endpoint))
            .await
            .expect("destinations")
    }

    /// Alerts that reached the queue, as (SNS envelope, parsed body).
    async fn alerts(&self, expect: usize) -> Vec<(Value, Value)> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let messages = drain_queue(&sqs, &self.queue_url, expect, Duration::from_secs(10)).await;
        messages
            .into_iter()
            .map(|m| {
                let envelope: Value =
                    serde_json::from_str(m.body().expect("body")).expect("SNS envelope JSON");
                let body: Value =
                    serde_json::from_str(envelope["Message"].as_str().expect("Message"))
                        .expect("alert body JSON");
                (envelope, body)
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trigger_shape_through_the_runtime_emulator() {
    let w = world(false).await;
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    // (event file, objects processed, objects skipped, alerts expected in SQS)
    let cases = [
        ("s3-put.json", 1, 0, 10),
        ("s3-multi.json", 2, 1, 20),
        ("s3-test-event.json", 0, 1, 0),
        ("eventbridge-object-created.json", 1, 0, 10),
        ("sqs-s3.json", 1, 1, 10),
        ("sqs-sns-s3.json", 1, 0, 10),
        ("sns-s3.json", 1, 0, 10),
    ];
    for (file, objects, skipped, alerts) in cases {
        let response = emulator
            .invoke(&event(file))
            .await
            .unwrap_or_else(|e| panic!("{file}: invocation failed: {e}\n{}", emulator.logs()));
        assert_eq!(response["objects"], objects, "{file}: {response}");
        assert_eq!(response["objects_skipped"], skipped, "{file}: {response}");
        assert_eq!(response["findings"], 12 * objects, "{file}: {response}");
        assert_eq!(response["alerts_sent"], alerts, "{file}: {response}");
        assert_eq!(response["delivery_failures"], 0, "{file}: {response}");
        if file.starts_with("sqs") {
            assert_eq!(
                response["batchItemFailures"],
                json!([]),
                "{file}: {response}"
            );
        }
        let got = w.alerts(alerts).await;
        assert_eq!(got.len(), alerts, "{file}: alerts in SQS");
        for (envelope, body) in &got {
            let subject = envelope["Subject"].as_str().expect("Subject");
            assert!(
                subject.len() <= 100 && subject.starts_with('['),
                "{subject}"
            );
            let attrs = &envelope["MessageAttributes"];
            assert_eq!(
                attrs["severity_label"]["Value"],
                body["alert"]["severity_label"]
            );
            assert_eq!(attrs["severity"]["Type"], "Number");
            assert_eq!(attrs["account_id"]["Value"], body["alert"]["account_id"]);
            assert_eq!(
                body["finding"]["id"], body["alert"]["id"],
                "raw finding forwarded"
            );
        }
    }
    let logs = emulator.logs();
    assert!(
        logs.contains("test_event"),
        "the test event is logged as skipped:\n{logs}"
    );
    assert!(logs.contains("not_object_created"), "{logs}");
    // Every line of an invocation names its request id (text logs: the span's prefix).
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("invocation done") || l.contains(" skipped"))
        .collect();
    assert!(lines.len() >= 7, "{logs}");
    for l in lines {
        assert!(l.contains("requestId="), "{l}");
    }
    assert!(
        logs.contains("\"CloudWatchMetrics\""),
        "EMF metrics are printed:\n{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes in logs bound for CloudWatch:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_carry_subject_attributes_and_the_raw_finding() {
    let w = world(false).await;
    let app = w.app(&[]).await;
    let response = handle(&app, event("s3-put.json"))
        .await
        .expect("invocation");
    assert_eq!(response["alerts_sent"], 10);
    let got = w.alerts(10).await;
    let (envelope, body) = got
        .iter()
        .find(|(_, b)| b["alert"]["id"] == "7091bdea64d6b4a4556bc0c341eab860")
        .expect("the attack sequence alert");
    assert_eq!(
        envelope["Subject"],
        "[Critical] AttackSequence:S3/CompromisedData in 111122223333/us-east-1"
    );
    let attrs = &envelope["MessageAttributes"];
    for (name, value) in [
        ("severity", "9"),
        ("severity_label", "Critical"),
        ("finding_type", "AttackSequence:S3/CompromisedData"),
        ("threat_purpose", "AttackSequence"),
        ("account_id", "111122223333"),
        ("region", "us-east-1"),
        ("resource_type", "AttackSequence"),
    ] {
        assert_eq!(attrs[name]["Value"], value, "attribute {name}");
    }
    assert_eq!(body["version"], "1");
    assert_eq!(body["alert"]["decision"], "alert");
    assert_eq!(body["finding"]["type"], "AttackSequence:S3/CompromisedData");
    // Published with MessageStructure json: e-mail subscribers get text, every other protocol
    // (this SQS queue) the JSON body, unchanged.
    let published = support::moto_sns_published(&w.moto, &w.topic_arn).await;
    assert_eq!(published.len(), 10);
    let mut seen = 0;
    for message in &published {
        let m: Value = serde_json::from_str(message).expect("a JSON message structure");
        let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["default", "email"], "{message}");
        let default: Value = serde_json::from_str(m["default"].as_str().unwrap()).unwrap();
        let id = default["alert"]["id"].clone();
        let (_, via_sqs) = got.iter().find(|(_, b)| b["alert"]["id"] == id).unwrap();
        assert_eq!(&default, via_sqs, "SQS got the default body");
        let email = m["email"].as_str().unwrap();
        assert!(!email.trim_start().starts_with('{'), "{email}");
        if id == "7091bdea64d6b4a4556bc0c341eab860" {
            assert!(
                email.starts_with("[Critical] AttackSequence:S3/CompromisedData\n"),
                "{email}"
            );
            assert!(email.contains("\nAccount     111122223333\n"), "{email}");
            assert!(
                email.contains("guardduty-attack-sequence-finding-types.html#attack-sequence-s3-compromised-data"),
                "{email}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 1);
    assert!(
        response["export_lag_seconds"]
            .as_f64()
            .is_some_and(|l| l > 0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_topics_group_by_account_and_deduplicate_by_finding_version() {
    let w = world(true).await;
    let app = w.app(&[]).await;
    let response = handle(&app, event("s3-put.json"))
        .await
        .expect("invocation");
    assert_eq!(response["alerts_sent"], 10, "{response}");
    let sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let first = fifo_ids(&sqs, &w.queue_url).await;
    // The same export again (a re-export of unchanged findings): the same deduplication ids,
    // so SNS FIFO drops them within its 5-minute window. moto passes the ids through but does
    // not enforce deduplication on the SNS -> SQS path, so the ids are what is checked here.
    let again = handle(&app, event("s3-put.json"))
        .await
        .expect("second invocation");
    assert_eq!(again["alerts_sent"], 10);
    assert_eq!(fifo_ids(&sqs, &w.queue_url).await, first);
}

/// (deduplication id, group id) of the 10 alerts in a FIFO queue, checked against the body.
async fn fifo_ids(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<(String, String)> {
    use aws_sdk_sqs::types::MessageSystemAttributeName as A;
    let messages = drain_queue(sqs, queue_url, 10, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 10);
    let mut ids: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let envelope: Value = serde_json::from_str(m.body().expect("body")).expect("envelope");
            let body: Value =
                serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("body");
            let attr = |name: A| {
                m.attributes()
                    .and_then(|a| a.get(&name))
                    .cloned()
                    .unwrap_or_default()
            };
            let (dedup, group) = (attr(A::MessageDeduplicationId), attr(A::MessageGroupId));
            assert_eq!(Some(group.as_str()), body["alert"]["account_id"].as_str());
            let want = format!(
                "{}-{}",
                body["finding"]["id"].as_str().expect("id"),
                body["finding"]["updatedAt"].as_str().expect("updatedAt")
            );
            assert_eq!(dedup, want);
            (dedup, group)
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatbot_format_follows_the_custom_notification_schema() {
    let w = world(false).await;
    let app = w.app(&[("SNS_MESSAGE_FORMAT", "chatbot")]).await;
    assert_eq!(
        app.config.destinations.message_format,
        MessageFormat::Chatbot
    );
    handle(&app, event("s3-put.json"))
        .await
        .expect("invocation");
    let got = w.alerts(10).await;
    assert_eq!(got.len(), 10);
    for (_, body) in &got {
        assert_eq!(body["version"], "1.0");
        assert_eq!(body["source"], "custom");
        assert_eq!(body["content"]["textType"], "client-markdown");
        assert!(
            body["content"]["title"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let d = body["content"]["description"]
            .as_str()
            .expect("description");
        assert!(
            !d.contains("<!channel>") && !d.contains("<@U123>"),
            "mentions escaped: {d}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_objects_are_skipped_not_retried() {
    let w = world(false).await;
    let s3 = s3_client(&w.sdk);
    s3.delete_object()
        .bucket(BUCKET)
        .key(key_current())
        .send()
        .await
        .expect("delete");
    let response = handle(&w.app(&[]).await, event("s3-put.json"))
        .await
        .expect("not a failure");
    assert_eq!(response["objects_skipped"], 1, "{response}");
    assert_eq!(response["failures"], json!([]));
    assert_eq!(response["alerts_sent"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_failures_fail_the_invocation_and_name_the_undelivered_findings() {
    let w = world(false).await;
    let missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let app = w.app(&[("SNS_TOPIC_ARN", missing)]).await;
    let err = handle(&app, event("s3-put.json"))
        .await
        .expect_err("must fail");
    assert_eq!(err.kind, "DeliveryFailed");
    assert!(
        err.message.contains("10 alert(s) not delivered"),
        "{}",
        err.message
    );
    for id in [
        "4a5e5f82cf5387ba6ffaa0e35da2d70a",
        "7091bdea64d6b4a4556bc0c341eab860",
    ] {
        assert!(err.message.contains(id), "{id} named: {}", err.message);
    }
    // Through SQS, only the message whose alerts failed comes back.
    let response = handle(&app, event("sqs-s3.json"))
        .await
        .expect("partial batch response");
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "4b1c2d3e-5f60-4718-9a2b-3c4d5e6f7081"}])
    );
    assert_eq!(response["delivery_failures"], 10);
    assert_eq!(assert_account(&response), (0, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_object_alerts_what_came_before_and_fails() {
    let w = world(false).await;
    let gz = sample_gz();
    w.put(&key_current(), gz[..gz.len() * 3 / 4].to_vec()).await;
    let err = handle(&w.app(&[]).await, event("s3-put.json"))
        .await
        .expect_err("must fail");
    assert_eq!(err.kind, "ObjectFailed");
    assert!(
        err.message
            .contains(&format!("s3://{BUCKET}/{}", key_current())),
        "{}",
        err.message
    );
    // The invocation has returned: whatever it sent is in the queue (0 = all of it).
    let got = w.alerts(0).await;
    assert!(
        !got.is_empty() && got.len() < 10,
        "{} alerts before the damage",
        got.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_findings_are_shortened_to_fit_sns() {
    let w = world(false).await;
    let pad = "A".repeat(300 * 1024);
    let line = format!(
        r#"{{"id":"big1","type":"Recon:EC2/Portscan","severity":8,"accountId":"111122223333","region":"us-east-1","description":"{pad}"}}"#
    );
    w.put(&key_current(), gzip(line.as_bytes())).await;
    let response = handle(&w.app(&[]).await, event("s3-put.json"))
        .await
        .expect("invocation");
    assert_eq!(response["alerts_sent"], 1, "{response}");
    assert_eq!(response["findings_truncated"], 1);
    let got = w.alerts(1).await;
    let (_, body) = &got[0];
    assert_eq!(body["alert"]["id"], "big1");
    assert_eq!(body["finding_truncated"]["bytes"], line.len());
}

/// A loopback HTTP server that answers every request with S3's AccessDenied.
fn access_denied_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let body = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R</RequestId></Error>"#;
            let _ = write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_says_which_permissions_the_role_needs() {
    let w = world(false).await;
    let denied = sdk_config(&access_denied_server());
    let mut app = w.app(&[]).await;
    app.opener = guardduty_alerts::source::s3::S3Opener::new(s3_client(&denied));
    let err = handle(&app, event("s3-put.json"))
        .await
        .expect_err("must fail");
    assert_eq!(err.kind, "ObjectFailed");
    assert!(
        err.message
            .contains(&format!("s3://{BUCKET}/{}", key_current())),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("s3:GetObject") && err.message.contains("kms:Decrypt"),
        "{}",
        err.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reads_s3_objects_through_the_same_code() {
    let w = world(false).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guardduty-alerts"))
        .args([
            "process",
            "--format",
            "json",
            &format!("s3://{BUCKET}/{}", key_spaces()),
        ])
        .envs(w.env())
        .output()
        .expect("run CLI");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        12,
        "{stderr}"
    );
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_guardduty-alerts"))
        .args(["process", &format!("s3://{BUCKET}/AWSLogs/none.jsonl.gz")])
        .envs(w.env())
        .output()
        .expect("run CLI");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_keys_with_spaces_and_non_ascii_under_the_older_layout() {
    let w = world(false).await;
    let key = format!(
        "Sécurité exports/AWSLogs/GuardDuty/111122223333/eu-west-1/2026/11/26/{UUID}.jsonl.gz"
    );
    w.put(&key, sample_gz()).await;
    // As S3 encodes it in notifications: '+' for spaces, UTF-8 percent-encoded.
    let encoded = format!(
        "S%C3%A9curit%C3%A9+exports/AWSLogs/GuardDuty/111122223333/eu-west-1/2026/11/26/{UUID}.jsonl.gz"
    );
    let mut ev = event("s3-put.json");
    ev["Records"][0]["s3"]["object"]["key"] = json!(encoded);
    let response = handle(&w.app(&[]).await, ev).await.expect("invocation");
    assert_eq!(response["objects"], 1, "{response}");
    assert_eq!(response["alerts_sent"], 10, "{response}");
    assert_eq!(w.alerts(10).await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_a_secrets_manager_bundle_through_the_runtime_emulator() {
    use support::http::{Reply, Server};
    let w = world(false).await;
    let token = "T0KEN-s3cr3t-path";
    let slack = Server::start(|_, _| Reply::status(200, "ok")).await;
    // A generic receiver that fails every alert once (500), so retries happen inside the
    // function, then accepts it.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen2 = seen.clone();
    let generic = Server::start(move |_, r| {
        let id = r
            .headers
            .get("x-guardduty-alerts-delivery-id")
            .cloned()
            .unwrap_or_default();
        if seen2.lock().unwrap().insert(id) {
            Reply::status(500, "try again")
        } else {
            Reply::status(202, "")
        }
    })
    .await;
    let sm = aws_sdk_secretsmanager::Client::new(&w.sdk);
    let bundle = json!({
        "slack_webhook_url": slack.url(&format!("/services/{token}")),
        "webhook_url": generic.url("/ingest"),
        "webhook_signing_secret": "sign-s3cr3t",
    });
    let arn = sm
        .create_secret()
        .name("guardduty-alerts/webhooks")
        .secret_string(bundle.to_string())
        .send()
        .await
        .expect("create secret")
        .arn()
        .expect("arn")
        .to_owned();
    let mut env = w.env();
    env.retain(|(k, _)| *k != "SNS_TOPIC_ARN");
    env.push(("WEBHOOK_SECRET", arn));
    env.push(("ALLOW_HTTP_WEBHOOKS", "true".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let response = emulator
        .invoke(&event("s3-put.json"))
        .await
        .unwrap_or_else(|e| panic!("invocation failed: {e}\n{}", emulator.logs()));
    assert_eq!(response["alerts"], 10, "{response}");
    assert_eq!(response["alerts_sent"], 20, "{response}");
    assert_eq!(response["delivery_failures"], 0, "{response}");
    assert_eq!(response["deliveries"]["slack"]["sent"], 10, "{response}");
    assert_eq!(response["deliveries"]["webhook"]["sent"], 10, "{response}");
    assert_eq!(slack.count(), 10);
    assert_eq!(
        generic.count(),
        20,
        "each alert failed once, then went through"
    );
    assert!(
        slack
            .requests()
            .iter()
            .all(|r| r.json()["blocks"].is_array())
    );
    let logs = emulator.logs();
    for secret in [token, "sign-s3cr3t"] {
        assert!(!logs.contains(secret), "the logs show {secret}:\n{logs}");
    }
}

/// The real function binary against a loopback Runtime API that gives a 3-second deadline, and
/// a Slack webhook that needs a second per alert: the function stops sending before the
/// deadline, fails the invocation and names every alert that did not go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_stops_before_its_deadline_and_names_what_was_not_sent() {
    use support::http::{Reply, Server};
    let w = world(false).await;
    let slack = Server::start(|_, _| Reply::ok_after(Duration::from_millis(900))).await;
    let mut env = w.env();
    env.retain(|(k, _)| *k != "SNS_TOPIC_ARN");
    env.push(("SLACK_WEBHOOK_URL", slack.url("/services/T0/B0/x")));
    env.push(("ALLOW_HTTP_WEBHOOKS", "true".into()));
    let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_guardduty-alerts-lambda"));
    let started = std::time::Instant::now();
    let (answer, output) = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        support::runtime_api::invoke_once(
            &binary,
            &env,
            &event("s3-put.json"),
            Duration::from_secs(3),
        )
    })
    .await
    .expect("runtime API thread");
    let took = started.elapsed();
    let err = answer.expect_err("the invocation must fail");
    assert!(err.contains("DeliveryFailed"), "{err}\n{output}");
    let not_sent: usize = err
        .split(" alert(s) not delivered")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {err}"));
    assert!((1..10).contains(&not_sent), "{err}");
    // Every alert is either answered by the receiver or named as not delivered; at most one
    // request was cut off by the deadline after it reached the receiver.
    let requests = slack.count();
    assert!(
        (10 - not_sent..=10 - not_sent + 1).contains(&requests),
        "{requests} requests, {not_sent} not delivered"
    );
    assert_eq!(
        output.matches("alert not delivered").count(),
        not_sent,
        "{output}"
    );
    assert!(output.contains("deadline is near"), "{output}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

/// A rules file in S3 (`RULES_CONFIG`), read by the real function binary at cold start: Low
/// findings suppressed by a named rule, Critical ones to the SNS topic and both webhooks, the
/// rest to the webhooks only; more alerts than the digest threshold (3) for a webhook, so the
/// Critical ones go individually and the rest in one digest per webhook. Expectations are
/// computed from the sample export with the library's own rules evaluation, not written in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_from_s3_route_alerts_and_digest_bursts_through_the_runtime_emulator() {
    use guardduty_alerts::classify::{SeverityLabel, classify};
    use guardduty_alerts::decide::rules::RulesConfig;
    use guardduty_alerts::decide::{Decide, Decision};
    use guardduty_alerts::export::finding::Finding;
    use support::http::{Reply, Server};
    let w = world(false).await;
    let slack = Server::start(|_, _| Reply::status(200, "ok")).await;
    let hook = Server::start(|_, _| Reply::status(202, "")).await;
    let rules = format!(
        r#"
        [settings]
        digest_threshold = 3
        [accounts]
        "111122223333" = "prod"
        [destinations.topic]
        type = "sns"
        topic_arn = "{topic}"
        [destinations.chat]
        type = "slack"
        url = {{ env = "TEST_SLACK_URL" }}
        [destinations.siem]
        type = "webhook"
        url = {{ env = "TEST_HOOK_URL" }}
        [[rules]]
        name = "drop-low"
        match = {{ severity = "low" }}
        action = "suppress"
        reason = "low findings are reviewed in the console"
        [[rules]]
        name = "critical-everywhere"
        match = {{ severity = "critical" }}
        action = "route"
        destinations = ["topic", "chat", "siem"]
        [[rules]]
        name = "rest-to-webhooks"
        match = {{}}
        action = "route"
        destinations = ["chat", "siem"]
        "#,
        topic = w.topic_arn
    );
    s3_client(&w.sdk)
        .put_object()
        .bucket(BUCKET)
        .key("config/rules.toml")
        .body(aws_sdk_s3::primitives::ByteStream::from(
            rules.clone().into_bytes(),
        ))
        .send()
        .await
        .expect("put the rules file");

    // What the rules say about the sample export.
    let parsed = RulesConfig::from_toml_str(&rules, "rules.toml").expect("valid rules");
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl"
    ))
    .expect("events/sample-export.jsonl");
    let (mut critical, mut rest, mut low, mut prod) = (0u64, 0u64, 0u64, 0u64);
    for line in sample.lines().filter(|l| !l.trim().is_empty()) {
        let f = Finding::parse(line).expect("finding");
        let c = classify(&f);
        match parsed.decide(&f, &c) {
            Decision::RuleSuppressed { .. } => low += 1,
            Decision::Routed { .. } if c.label == SeverityLabel::Critical => critical += 1,
            Decision::Routed { .. } => {
                rest += 1;
                prod += u64::from(c.account_id == Some("111122223333"));
            }
            other => panic!("unexpected decision {other:?}"),
        }
    }
    assert!(
        critical >= 1 && rest > 3 && low >= 1 && prod >= 1,
        "the sample exercises every path: {critical} {rest} {low} {prod}"
    );

    let mut env = w.env();
    env.push(("RULES_CONFIG", format!("s3://{BUCKET}/config/rules.toml")));
    env.push(("ALLOW_HTTP_WEBHOOKS", "true".into()));
    env.push(("TEST_SLACK_URL", slack.url("/services/T0KEN")));
    env.push(("TEST_HOOK_URL", hook.url("/ingest")));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let response = emulator
        .invoke(&event("s3-put.json"))
        .await
        .unwrap_or_else(|e| panic!("invocation failed: {e}\n{}", emulator.logs()));
    assert_eq!(response["alerts"], critical + rest, "{response}");
    assert_eq!(response["suppressed"]["drop-low"], low, "{response}");
    assert_eq!(response["alerts_sent"], 3 * critical, "{response}");
    assert_eq!(response["digests_sent"], 2, "{response}");
    assert_eq!(response["digested_alerts"], 2 * rest, "{response}");
    assert_eq!(response["delivery_failures"], 0, "{response}");
    assert_eq!(
        response["deliveries"]["topic"]["sent"], critical,
        "{response}"
    );
    assert_eq!(response["deliveries"]["chat"]["digests"], 1, "{response}");
    assert_eq!(assert_account(&response), (critical + rest, 0));

    // SNS: only the Critical alerts, one by one.
    let alerts = w.alerts(critical as usize).await;
    assert_eq!(alerts.len() as u64, critical);
    for (_, body) in &alerts {
        assert_eq!(body["alert"]["severity_label"], "Critical");
        assert_eq!(body["alert"]["rule"], "critical-everywhere");
    }
    // Slack: the Critical alerts and one digest of the rest.
    let chat = slack.requests();
    assert_eq!(chat.len() as u64, critical + 1);
    let digest_text: Vec<String> = chat
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .filter(|t| t.contains("GuardDuty digest"))
        .collect();
    assert_eq!(digest_text.len(), 1, "{digest_text:?}");
    assert!(
        digest_text[0].contains(&format!("{rest} alerts")),
        "{digest_text:?}"
    );
    // The generic webhook: the digest as JSON, counting exactly the non-Critical alerts.
    let bodies: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert_eq!(bodies.len() as u64, critical + 1);
    let digest = bodies
        .iter()
        .find(|b| b.get("digest").is_some())
        .expect("a digest");
    assert_eq!(digest["digest"]["total"], rest);
    assert_eq!(digest["digest"]["sent_individually"], critical);
    assert_eq!(
        digest["digest"]["source"],
        format!("s3://{BUCKET}/{}", key_current())
    );
    let named = digest["digest"]["top"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["account_name"] == "prod")
        .count();
    assert!(named >= 1, "account names in the digest: {digest}");
    let logs = emulator.logs();
    assert!(logs.contains("rules loaded"), "{logs}");
    // The metrics document is in the same output: no secret in logs, errors or metrics.
    assert!(logs.contains("\"CloudWatchMetrics\""), "{logs}");
    assert!(
        !logs.contains("T0KEN"),
        "the logs show the Slack URL:\n{logs}"
    );
}

/// With a dedup table: the same event delivered twice alerts once (the object is recorded as
/// processed, by its ETag); the same findings in another object (a re-export) are deduplicated
/// finding by finding; two invocations racing on the same findings alert exactly once between
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_table_makes_redelivery_and_re_exports_alert_once() {
    let w = world(false).await;
    let table = "guardduty-alerts-dedup";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table).await;
    let app = w.app(&[("DEDUP_TABLE", table)]).await;

    let first = handle(&app, event("s3-put.json")).await.expect("first");
    assert_eq!(first["alerts"], 10, "{first}");
    assert_eq!(first["alerts_sent"], 10, "{first}");
    assert_eq!(w.alerts(10).await.len(), 10);

    // The same event again (S3 notifications are at least once): skipped as processed.
    let again = handle(&app, event("s3-put.json")).await.expect("again");
    assert_eq!(again["objects_already_processed"], 1, "{again}");
    assert_eq!(again["alerts_sent"], 0, "{again}");

    // The same findings in another object (as GuardDuty re-exports them): each one a duplicate.
    let other = format!(
        "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/{}.jsonl.gz",
        "0a0b0c0d-1111-4222-8333-444455556666"
    );
    w.put(&other, sample_gz()).await;
    let mut ev = event("s3-put.json");
    ev["Records"][0]["s3"]["object"]["key"] = json!(other);
    ev["Records"][0]["s3"]["object"]["eTag"] = json!("0a0b0c0d0e0f");
    let re_export = handle(&app, ev.clone()).await.expect("re-export");
    assert_eq!(re_export["alerts"], 0, "{re_export}");
    assert_eq!(re_export["deduplicated"]["duplicate"], 10, "{re_export}");
    assert_eq!(re_export["alerts_sent"], 0, "{re_export}");
    assert_eq!(assert_account(&re_export), (0, 0));
    assert_eq!(assert_account(&first), (10, 0));
    // Findings = alerts + suppressed + deduplicated.
    let findings = re_export["findings"].as_u64().unwrap();
    let suppressed: u64 = re_export["suppressed"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(findings, 10 + suppressed, "{re_export}");

    // Two invocations at once on fresh findings (a new table): exactly one alert per finding.
    let table2 = "guardduty-alerts-dedup-race";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table2).await;
    let (a, b) = (
        w.app(&[("DEDUP_TABLE", table2)]).await,
        w.app(&[("DEDUP_TABLE", table2)]).await,
    );
    ev["Records"][0]["s3"]["object"]["eTag"] = json!("race");
    let (ra, rb) = tokio::join!(handle(&a, ev.clone()), handle(&b, ev.clone()));
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    let sent = ra["alerts_sent"].as_u64().unwrap() + rb["alerts_sent"].as_u64().unwrap();
    assert_eq!(
        sent, 10,
        "exactly one alert per finding between the two: {ra} {rb}"
    );
    let skipped = |r: &Value| {
        r["deduplicated"]["duplicate"].as_u64().unwrap()
            + r["deduplicated"]["in_flight"].as_u64().unwrap()
            + r["objects_already_processed"].as_u64().unwrap() * 10
    };
    assert_eq!(skipped(&ra) + skipped(&rb), 10, "{ra} {rb}");
    assert_eq!(w.alerts(10).await.len(), 10, "SQS got exactly ten more");
}

/// A proxy in front of the world's moto that cuts every GetObject body after `cut` bytes.
async fn cut_get_objects_after(w: &World, cut: usize) -> support::proxy::FaultProxy {
    use support::proxy::{Action, FaultProxy};
    FaultProxy::start(&w.moto.endpoint, move |r| {
        if r.is_get_object() {
            Action::CutBodyAfter(cut)
        } else {
            Action::Forward
        }
    })
    .await
}

/// A Slack stand-in that answers 404 until `up` is set, and the app sending to it alone (no
/// SNS), with the dedup table `table`.
async fn slack_until_up(
    w: &World,
    table: &str,
) -> (
    support::http::Server,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    App,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use support::http::{Reply, Server};
    let up = std::sync::Arc::new(AtomicBool::new(false));
    let up2 = up.clone();
    let slack = Server::start(move |_, _| {
        if up2.load(Ordering::SeqCst) {
            Reply::status(200, "ok")
        } else {
            Reply::status(404, "no_service")
        }
    })
    .await;
    let url = slack.url("/services/T0KEN");
    let app = w
        .app(&[
            ("SNS_TOPIC_ARN", ""),
            ("SLACK_WEBHOOK_URL", &url),
            ("ALLOW_HTTP_WEBHOOKS", "true"),
            ("DEDUP_TABLE", table),
        ])
        .await;
    (slack, up, app)
}

/// With a dedup table, an alert that was not delivered is not recorded as alerted: the retry of
/// the failed invocation sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_releases_what_was_not_delivered_so_the_retry_sends_it() {
    use std::sync::atomic::Ordering;
    let w = world(false).await;
    let table = "guardduty-alerts-dedup";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table).await;
    let (_slack, up, app) = slack_until_up(&w, table).await;
    let failed = handle(&app, event("s3-put.json"))
        .await
        .expect_err("Slack refuses");
    assert_eq!(failed.kind, "DeliveryFailed", "{}", failed.message);
    up.store(true, Ordering::SeqCst);
    let retry = handle(&app, event("s3-put.json")).await.expect("retry");
    assert_eq!(retry["objects_already_processed"], 0, "{retry}");
    assert_eq!(retry["deduplicated"]["duplicate"], 0, "{retry}");
    assert_eq!(retry["alerts_sent"], 10, "{retry}");
    assert_eq!(assert_account(&retry), (10, 0));
    let third = handle(&app, event("s3-put.json")).await.expect("third");
    assert_eq!(third["objects_already_processed"], 1, "{third}");
}

/// The sample export `copies` times over, each copy's ids made distinct: 10 alerts per copy at
/// the default policy.
fn big_export(copies: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl"
    ))
    .expect("sample");
    let mut out = String::new();
    for i in 0..copies {
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            out.push_str(&l.replacen("\"id\":\"", &format!("\"id\":\"c{i:04}-"), 1));
            out.push('\n');
        }
    }
    gzip(out.as_bytes())
}

fn sns_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"#
    )
}

/// S3 drops the connection half-way through the object's body (a proxy cuts it): the findings
/// before the cut are alerted, the object fails (its SQS message comes back), and the account
/// balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_stream_cut_mid_body_alerts_what_came_before_and_fails_the_object() {
    let w = world(false).await;
    let gz = big_export(40);
    w.put(&key_current(), gz.clone()).await;
    let cut = gz.len() / 2;
    let proxy = cut_get_objects_after(&w, cut).await;
    let app = w.app_via(&proxy.endpoint, &[]).await;
    let response = handle(&app, event("sqs-s3.json"))
        .await
        .expect("partial batch response");
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "4b1c2d3e-5f60-4718-9a2b-3c4d5e6f7081"}]),
        "{response}"
    );
    let error = response["failures"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains(&format!("s3://{BUCKET}/{}", key_current())),
        "{error}"
    );
    assert!(error.contains("processed"), "says what was kept: {error}");
    let (alerted, failed) = assert_account(&response);
    assert_eq!(failed, 0);
    assert!(
        alerted > 0 && alerted < 400,
        "{alerted} alerted before the cut: {response}"
    );
    assert_eq!(w.alerts(alerted as usize).await.len() as u64, alerted);
    assert!(
        proxy
            .seen()
            .iter()
            .any(|(r, what)| r.is_get_object() && what.starts_with("cut"))
    );
}

/// The topic disappears mid-run (after two PublishBatch requests SNS answers NotFound): what
/// went out before stays delivered, the rest fail at once without hammering SNS, every
/// undelivered finding is counted, and the SQS message comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_topic_deleted_mid_run_fails_the_rest_and_counts_every_one() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use support::proxy::{Action, FaultProxy};
    let w = world(false).await;
    w.put(&key_current(), big_export(40)).await;
    let batches = std::sync::Arc::new(AtomicUsize::new(0));
    let b = batches.clone();
    let proxy = FaultProxy::start(&w.moto.endpoint, move |r| {
        if r.is_sns("PublishBatch") && b.fetch_add(1, Ordering::SeqCst) >= 2 {
            Action::Reply(
                404,
                "text/xml",
                sns_error("NotFound", "Topic does not exist"),
            )
        } else {
            Action::Forward
        }
    })
    .await;
    let app = w.app_via(&proxy.endpoint, &[]).await;
    let response = handle(&app, event("sqs-s3.json"))
        .await
        .expect("partial batch response");
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "4b1c2d3e-5f60-4718-9a2b-3c4d5e6f7081"}]),
        "{response}"
    );
    assert_eq!(assert_account(&response), (20, 380), "{response}");
    assert_eq!(response["delivery_failures"], 380);
    assert_eq!(w.alerts(20).await.len(), 20);
    // Not hammered: 40 batches were needed; after the first NotFound only those already in
    // flight (up to 8 per flush) went out.
    let publishes = proxy
        .seen()
        .iter()
        .filter(|(r, _)| r.is_sns("PublishBatch"))
        .count();
    assert!(publishes <= 2 + 2 * 8, "{publishes} PublishBatch requests");
}

/// SNS throttles the first three PublishBatch requests: the SDK and the product retry with
/// backoff until every alert is delivered, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_throttling_is_retried_until_every_alert_is_delivered() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use support::proxy::{Action, FaultProxy};
    let w = world(false).await;
    let batches = std::sync::Arc::new(AtomicUsize::new(0));
    let b = batches.clone();
    let proxy = FaultProxy::start(&w.moto.endpoint, move |r| {
        if r.is_sns("PublishBatch") && b.fetch_add(1, Ordering::SeqCst) < 3 {
            Action::Reply(400, "text/xml", sns_error("Throttling", "Rate exceeded"))
        } else {
            Action::Forward
        }
    })
    .await;
    let app = w.app_via(&proxy.endpoint, &[]).await;
    let response = handle(&app, event("s3-put.json"))
        .await
        .expect("delivered in the end");
    assert_eq!(assert_account(&response), (10, 0), "{response}");
    assert_eq!(response["alerts_sent"], 10);
    assert_eq!(w.alerts(10).await.len(), 10);
    assert!(
        batches.load(Ordering::SeqCst) >= 4,
        "throttled three times, then sent"
    );
}

/// The soak: 200 invocations in a row of the real function binary through the runtime
/// emulator, with random faults (seeded, so every run is the same): S3 behind a proxy that cuts
/// the object's body mid-stream or answers NoSuchKey; the alert webhook answering 500 (retried)
/// or 404 (that object's remaining alerts fail at once). Every invocation's account balances;
/// the alerts counted as delivered are exactly the requests the webhook accepted; and the
/// function process's memory does not grow (resident size after the last invocation within
/// 2 MiB of its size after the 20th).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_200_invocations_with_random_faults() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use support::http::{Reply, Server};
    use support::proxy::{Action, FaultProxy};
    // xorshift64*, seeded: the same faults every run.
    fn roller(seed: u64) -> impl Fn() -> u64 + Send + Sync + 'static {
        let state = AtomicU64::new(seed);
        move || {
            let mut x = state.load(Ordering::SeqCst);
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            state.store(x, Ordering::SeqCst);
            x.wrapping_mul(0x2545_f491_4f6c_dd1d) % 100
        }
    }
    let w = world(false).await;
    let cut = sample_gz().len() / 2;
    let roll = roller(0x9e37_79b9_7f4a_7c15);
    let proxy = FaultProxy::start(&w.moto.endpoint, move |r| {
        if !r.is_get_object() {
            return Action::Forward;
        }
        match roll() {
            0..5 => Action::CutBodyAfter(cut),
            5..8 => Action::Reply(
                404,
                "application/xml",
                "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>".to_owned(),
            ),
            _ => Action::Forward,
        }
    })
    .await;
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let acc = accepted.clone();
    let roll = roller(0x5851_f42d_4c95_7f2d);
    let hook = Server::start(move |_, _| match roll() {
        0..3 => Reply::status(500, "injected"),
        3..4 => Reply::status(404, "injected"),
        _ => {
            acc.fetch_add(1, Ordering::SeqCst);
            Reply::status(202, "")
        }
    })
    .await;
    let marker = format!("SOAK_MARKER={}", std::process::id());
    let mut env = w.env();
    env.retain(|(k, _)| !matches!(*k, "AWS_ENDPOINT_URL" | "SNS_TOPIC_ARN"));
    env.push(("AWS_ENDPOINT_URL", proxy.endpoint.clone()));
    env.push(("WEBHOOK_URL", hook.url("/ingest")));
    env.push(("ALLOW_HTTP_WEBHOOKS", "true".into()));
    env.push(("SOAK_MARKER", std::process::id().to_string()));
    env.push(("METRICS", "off".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let ev = event("sqs-s3.json");
    let (mut alerted, mut failed, mut failed_messages) = (0u64, 0u64, 0u64);
    let mut rss_after_20 = None;
    for i in 1..=200 {
        let r = emulator
            .invoke(&ev)
            .await
            .unwrap_or_else(|e| panic!("invocation {i}: {e}"));
        let (a, f) = assert_account(&r);
        alerted += a;
        failed += f;
        failed_messages += r["batchItemFailures"]
            .as_array()
            .map_or(0, |v| v.len() as u64);
        if i == 20 {
            let pid = process_with_env(&marker).expect("the function process");
            rss_after_20 = rss_kib(pid);
        }
    }
    let pid = process_with_env(&marker).expect("the function process");
    let (before, after) = (rss_after_20.expect("RSS"), rss_kib(pid).expect("RSS"));
    println!(
        "soak: {alerted} alerted, {failed} failed, {failed_messages} SQS messages returned; function RSS {before} KiB after 20 invocations, {after} KiB after 200"
    );
    assert!(
        failed > 0 && failed_messages > 0 && alerted > 1000,
        "faults happened and most alerts went through"
    );
    assert!(
        after <= before + 2048,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst) as u64,
        alerted,
        "every alert counted as delivered reached the webhook, and no other"
    );
}

/// GuardDuty's publishing-destination API on loopback (moto has detectors but no publishing
/// destinations): per Region (read from the request's SigV4 credential scope), detectors and
/// their destinations; `ap-south-1` refuses as a role without guardduty:ListDetectors would.
async fn guardduty_stand_in(bucket: &str, failing_since_ms: i64) -> support::http::Server {
    use support::http::Reply;
    let bucket = bucket.to_owned();
    support::http::Server::start(move |_, req| {
        let auth = req.headers.get("authorization").cloned().unwrap_or_default();
        let region = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').nth(2))
            .unwrap_or("")
            .to_owned();
        let json = |code: u16, body: Value| {
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if code == 403 {
                headers.push(("x-amzn-errortype".into(), "AccessDeniedException".into()));
            }
            Reply::Status {
                code,
                headers,
                body: body.to_string(),
                delay: Duration::ZERO,
            }
        };
        let path = req.path.split('?').next().unwrap_or("").to_owned();
        let (detector, destination, status, failing) = match region.as_str() {
            "us-east-1" => ("d1111111111111111111111111111111", "p1", "PUBLISHING", 0),
            "eu-west-1" => (
                "d2222222222222222222222222222222",
                "p2",
                "UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY",
                failing_since_ms,
            ),
            "ap-south-1" => {
                return json(403, json!({"message": "User is not authorized to perform: guardduty:ListDetectors", "__type": "AccessDeniedException"}));
            }
            _ => return json(200, json!({"detectorIds": []})),
        };
        if path == "/detector" {
            json(200, json!({"detectorIds": [detector]}))
        } else if path == format!("/detector/{detector}/publishingDestination") {
            json(200, json!({"destinations": [{"destinationId": destination, "destinationType": "S3", "status": status}]}))
        } else if path == format!("/detector/{detector}/publishingDestination/{destination}") {
            json(200, json!({
                "destinationId": destination, "destinationType": "S3", "status": status,
                "publishingFailureStartTimestamp": failing,
                "destinationProperties": {"destinationArn": format!("arn:aws:s3:::{bucket}/gd"), "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"}
            }))
        } else {
            json(404, json!({"message": format!("no route {path}")}))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_health_check_reports_each_publishing_destination_through_the_runtime_emulator() {
    let w = world(false).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let failing_since = (now - 7200) * 1000;
    let gd = guardduty_stand_in(BUCKET, failing_since).await;
    // A fresh export for us-east-1 in today's folder of the scheduled event's account; none
    // for eu-west-1.
    let today = aws_smithy_types::DateTime::from_secs(now)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()[..10]
        .replace('-', "/");
    w.put(
        &format!("gd/AWSLogs/123456789012/GuardDuty/us-east-1/{today}/{UUID}.jsonl.gz"),
        sample_gz(),
    )
    .await;
    let mut env = w.env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.url("")));
    env.push((
        "HEALTH_CHECK_REGIONS",
        "us-east-1,eu-west-1,ap-south-1,sa-east-1".into(),
    ));
    env.push(("HEALTH_MAX_EXPORT_AGE_HOURS", "24".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let r = emulator
        .invoke(&event("schedule-health-check.json"))
        .await
        .unwrap_or_else(|e| panic!("health check failed: {e}\n{}", emulator.logs()));
    assert_eq!(r["shape"], "schedule", "{r}");
    assert_eq!(r["checked"], 2, "{r}");
    assert_eq!(r["unhealthy"], 3, "{r}");
    let entry = |region: &str| {
        r["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["region"] == region)
            .unwrap_or_else(|| panic!("no entry for {region}: {r}"))
            .clone()
    };
    let us = entry("us-east-1");
    assert_eq!(us["problems"], json!([]), "{r}");
    assert_eq!(us["status"], "PUBLISHING");
    assert_eq!(us["destination_arn"], format!("arn:aws:s3:::{BUCKET}/gd"));
    assert!(us["newest_export_age_hours"].as_f64().unwrap() < 0.5, "{r}");
    let eu = entry("eu-west-1");
    let eu_problems = eu["problems"].to_string();
    assert!(
        eu_problems.contains("status is UNABLE_TO_PUBLISH_FIX_DESTINATION_PROPERTY"),
        "{r}"
    );
    assert!(
        eu_problems.contains("failed to publish for 2.0 hours"),
        "{r}"
    );
    assert!(
        eu_problems.contains("no export in the last 24 hours"),
        "{r}"
    );
    let denied = entry("ap-south-1")["problems"].to_string();
    assert!(
        denied.contains("ListDetectors in ap-south-1 failed: AccessDeniedException: the function's role needs guardduty:ListDetectors"),
        "{r}"
    );
    assert!(
        entry("sa-east-1")["problems"]
            .to_string()
            .contains("no GuardDuty detector in sa-east-1")
    );
    // The metrics the template's alarm watches, and a log line per unhealthy destination.
    let logs = emulator.logs();
    let emf = logs
        .lines()
        .find(|l| l.contains("PublishingDestinationsUnhealthy") && l.contains("_aws"))
        .unwrap_or_else(|| panic!("no EMF document in the logs:\n{logs}"));
    let emf: Value = serde_json::from_str(&emf[emf.find('{').unwrap()..]).expect("EMF JSON");
    assert_eq!(emf["PublishingDestinationsUnhealthy"], 3);
    assert_eq!(emf["PublishingDestinationsChecked"], 2);
    assert!(emf["ExportAgeHours"].as_f64().is_some(), "{emf}");
    assert_eq!(
        logs.matches("publishing destination unhealthy").count(),
        3,
        "{logs}"
    );
    // Every Region's calls reached the stand-in, signed for that Region.
    let regions: std::collections::BTreeSet<String> = gd
        .requests()
        .iter()
        .filter_map(|q| {
            q.headers
                .get("authorization")
                .and_then(|a| a.split('/').nth(2))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(regions.len(), 4, "{regions:?}");
}

/// A `GuardDuty Finding` event through the real binary: the finding alerts like an export line,
/// and with a dedup table the two paths share state: the export that holds the same finding, and
/// the event again, do not alert it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardduty_finding_events_alert_once_beside_exports() {
    let w = world(false).await;
    let table = "guardduty-alerts-dedup";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table).await;
    let mut env = w.env();
    env.push(("DEDUP_TABLE", table.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let invoke = async |e: &Value| {
        emulator
            .invoke(e)
            .await
            .unwrap_or_else(|err| panic!("invocation failed: {err}\n{}", emulator.logs()))
    };
    let finding_event = event("guardduty-finding.json");
    let r = invoke(&finding_event).await;
    assert_eq!(r["shape"], "guardduty_finding", "{r}");
    assert_eq!(r["event_findings"], 1, "{r}");
    assert_eq!(r["objects"], 0, "{r}");
    assert_eq!(r["findings"], 1, "{r}");
    assert_eq!(r["alerts_sent"], 1, "{r}");
    assert_eq!(assert_account(&r), (1, 0));
    let got = w.alerts(1).await;
    assert_eq!(got.len(), 1);
    let (envelope, body) = &got[0];
    assert_eq!(body["alert"]["id"], finding_event["detail"]["id"]);
    assert_eq!(body["alert"]["severity_label"], "High");
    assert_eq!(
        body["finding"], finding_event["detail"],
        "the raw finding, whole"
    );
    assert!(
        envelope["Subject"]
            .as_str()
            .unwrap()
            .contains("InstanceCredentialExfiltration"),
        "{envelope}"
    );

    // The export holding the same finding (and eleven others): that one is a duplicate.
    let r = invoke(&event("s3-put.json")).await;
    assert_eq!(r["alerts_sent"], 9, "{r}");
    assert_eq!(r["deduplicated"]["duplicate"], 1, "{r}");
    assert_eq!(w.alerts(9).await.len(), 9);
    // The event again (EventBridge delivers at least once): nothing sent.
    let r = invoke(&finding_event).await;
    assert_eq!(r["alerts_sent"], 0, "{r}");
    assert_eq!(r["deduplicated"]["duplicate"], 1, "{r}");
    assert_eq!(assert_account(&r), (0, 0));

    // Through SQS: a detail that is not a finding fails its message only.
    let mut bad = finding_event.clone();
    bad["detail"] = json!({ "type": "Recon:EC2/PortProbeUnprotectedPort" });
    let sqs = json!({ "Records": [
        { "messageId": "good", "eventSource": "aws:sqs", "body": finding_event.to_string() },
        { "messageId": "bad", "eventSource": "aws:sqs", "body": bad.to_string() },
    ]});
    let r = invoke(&sqs).await;
    assert_eq!(
        r["batchItemFailures"],
        json!([{ "itemIdentifier": "bad" }]),
        "{r}"
    );
    assert_eq!(r["deduplicated"]["duplicate"], 1, "{r}");
    assert!(w.alerts(0).await.is_empty());
}

/// The result codes of S3 Batch Operations tasks, from the real binary: Succeeded with the
/// counts, PermanentFailure for what a retry cannot mend, and replays that send nothing unless
/// the job asks to realert. The response is what Batch Operations reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_operations_tasks_get_a_result_each() {
    use aws_lambda_events::event::s3::batch_job::S3BatchJobResponse;
    let w = world(false).await;
    let table = "guardduty-alerts-dedup";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table).await;
    let damaged = key_current().replace(UUID, "0d0d0d0d-1111-4222-8333-444455556666");
    let gz = sample_gz();
    w.put(&damaged, gz[..gz.len() * 3 / 4].to_vec()).await;
    let mut env = w.env();
    env.push(("DEDUP_TABLE", table.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let task = |id: &str, key: &str| {
        json!({ "taskId": id, "s3Key": key, "s3VersionId": null,
                "s3BucketArn": format!("arn:aws:s3:::{BUCKET}") })
    };
    let encoded = |key: &str| key.replace(' ', "+");
    let v1 = json!({
        "invocationSchemaVersion": "1.0",
        "invocationId": "inv-1",
        "job": { "id": "job-1" },
        "tasks": [
            task("ok", &key_current()),
            task("spaces", &encoded(&key_spaces())),
            task("not-an-export", "AWSLogs/111122223333/GuardDuty/us-east-1/manifest.csv"),
            task("missing", &key_current().replace(UUID, "99999999-1111-4222-8333-444455556666")),
            task("damaged", &damaged),
        ]
    });
    let r = emulator
        .invoke(&v1)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", emulator.logs()));
    let typed: S3BatchJobResponse = serde_json::from_value(r.clone()).expect("S3BatchJobResponse");
    assert_eq!(typed.invocation_schema_version.as_deref(), Some("1.0"));
    assert_eq!(typed.invocation_id.as_deref(), Some("inv-1"));
    assert_eq!(
        typed.treat_missing_keys_as.as_deref(),
        Some("PermanentFailure")
    );
    let results: Vec<(String, String, String)> = typed
        .results
        .iter()
        .map(|t| {
            (
                t.task_id.clone().unwrap(),
                t.result_code.clone().unwrap(),
                t.result_string.clone().unwrap(),
            )
        })
        .collect();
    let by_id = |id: &str| {
        results
            .iter()
            .find(|(t, _, _)| t == id)
            .unwrap_or_else(|| panic!("{id} in {r}"))
            .clone()
    };
    assert_eq!(results.len(), 5, "{r}");
    assert_eq!(by_id("ok").1, "Succeeded", "{r}");
    assert_eq!(by_id("ok").2, "findings 12, alerts 10", "{r}");
    // The same findings under another key: the dedup table says they went out.
    assert_eq!(by_id("spaces").1, "Succeeded", "{r}");
    assert_eq!(by_id("spaces").2, "findings 12, alerts 0", "{r}");
    let (_, code, why) = by_id("not-an-export");
    assert_eq!(code, "PermanentFailure", "{r}");
    assert!(
        why.contains("not_an_export") && why.contains("manifest"),
        "{why}"
    );
    let (_, code, why) = by_id("missing");
    assert_eq!(code, "PermanentFailure", "{r}");
    assert!(
        why.contains("99999999-1111") && why.contains("NoSuchKey"),
        "{why}"
    );
    let (_, code, why) = by_id("damaged");
    assert_eq!(code, "PermanentFailure", "{r}");
    assert!(why.contains(&damaged) && why.contains("processed"), "{why}");
    // Ten alerts from "ok", and those of the damaged object before the damage were duplicates.
    assert_eq!(w.alerts(10).await.len(), 10);

    // Schema 2.0: a replay sends nothing; with the user argument realert=true, everything again.
    let v2 = |realert: &str| {
        json!({
            "invocationSchemaVersion": "2.0",
            "invocationId": "inv-2",
            "job": { "id": "job-2", "userArguments": { "realert": realert } },
            "tasks": [{ "taskId": "again", "s3Bucket": BUCKET, "s3Key": key_current(), "s3VersionId": null }]
        })
    };
    let r = emulator.invoke(&v2("false")).await.expect("replay");
    assert_eq!(r["invocationSchemaVersion"], "2.0", "{r}");
    assert_eq!(
        r["results"],
        json!([{ "taskId": "again", "resultCode": "Succeeded", "resultString": "findings 12, alerts 0" }]),
        "{r}"
    );
    assert!(w.alerts(0).await.is_empty());
    let r = emulator.invoke(&v2("true")).await.expect("realert");
    assert_eq!(
        r["results"][0]["resultString"], "findings 12, alerts 10",
        "{r}"
    );
    assert_eq!(w.alerts(10).await.len(), 10);
}

/// A task whose alerts could not be delivered, or whose object's stream broke off, is a
/// TemporaryFailure, so that Batch Operations tries it again; the retry sends only what did not
/// go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_operations_retry_what_a_retry_can_mend() {
    use std::sync::atomic::Ordering;
    let w = world(false).await;
    let table = "guardduty-alerts-dedup";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table).await;
    let (_slack, up, app) = slack_until_up(&w, table).await;
    let batch = json!({
        "invocationSchemaVersion": "1.0",
        "invocationId": "inv",
        "job": { "id": "job" },
        "tasks": [{ "taskId": "t", "s3Key": key_current(), "s3VersionId": null,
                    "s3BucketArn": format!("arn:aws:s3:::{BUCKET}") }]
    });
    let r = handle(&app, batch.clone())
        .await
        .expect("a response, not an error");
    let result = &r["results"][0];
    assert_eq!(result["resultCode"], "TemporaryFailure", "{r}");
    let why = result["resultString"].as_str().unwrap();
    assert!(why.contains("10 alert(s) not delivered"), "{why}");
    assert!(!why.contains("T0KEN"), "the webhook URL is a secret: {why}");
    up.store(true, Ordering::SeqCst);
    let r = handle(&app, batch.clone()).await.expect("retry");
    assert_eq!(r["results"][0]["resultCode"], "Succeeded", "{r}");
    assert_eq!(
        r["results"][0]["resultString"], "findings 12, alerts 10",
        "{r}"
    );

    // A stream cut mid-body: temporary (the network, not the object).
    let big = key_current().replace(UUID, "0b0b0b0b-1111-4222-8333-444455556666");
    let gz = big_export(40);
    let cut = gz.len() / 2;
    w.put(&big, gz).await;
    let proxy = cut_get_objects_after(&w, cut).await;
    let app = w.app_via(&proxy.endpoint, &[("DEDUP_TABLE", table)]).await;
    let mut cut_batch = batch.clone();
    cut_batch["tasks"][0]["s3Key"] = json!(big);
    let r = handle(&app, cut_batch).await.expect("a response");
    assert_eq!(r["results"][0]["resultCode"], "TemporaryFailure", "{r}");
    assert!(
        r["results"][0]["resultString"]
            .as_str()
            .unwrap()
            .contains(&big),
        "{r}"
    );
}

/// A bad setting fails the cold start with an error that names it: the function posts it to the
/// Runtime API's `/runtime/init/error` (errorType `InvalidSetting.NAME`), which the emulator
/// shows as the invocation's error (Lambda shows it the same way, instead of Runtime.ExitError).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_fails_the_cold_start_naming_it() {
    let w = world(false).await;
    let mut env = w.env();
    env.push(("MIN_SEVERITY", "severe".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    // The emulator answers the invocation with the init error it was given.
    let err = emulator
        .invoke(&event("s3-put.json"))
        .await
        .expect_err("the cold start fails");
    assert!(
        err.contains(
            "(InvalidSetting.MIN_SEVERITY: configuration error: MIN_SEVERITY=\"severe\" is invalid: a number from 0 to 10 or one of low, medium, high, critical)"
        ),
        "{err}"
    );
    let logs = emulator.logs();
    assert!(!logs.contains("could not report"), "{logs}");
}
