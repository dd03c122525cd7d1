//! The artifact packaged as SAM packages it: `cargo lambda build --x86-64 --bin
//! guardduty-alerts-lambda` makes `target/lambda/guardduty-alerts-lambda/bootstrap` with the
//! packaging `sam build` uses (cargo-lambda, zig as the linker, the glibc target), in the dev
//! profile (`sam build` adds `--release`; tests/run builds it first). This runs that exact file
//! once, against a loopback Lambda Runtime API and moto: an SSE-KMS export in, alerts out through
//! SNS to SQS.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::*;

fn bootstrap() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/lambda/guardduty-alerts-lambda/bootstrap");
    assert!(
        p.is_file(),
        "{} is missing: build it with `cargo lambda build --x86-64 --bin guardduty-alerts-lambda` \
         (tests/run does; cargo-lambda and ziglang come from tests/requirements.txt)",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packaged_bootstrap_processes_an_export() {
    let binary = bootstrap();
    let moto = Moto::start().await;
    let sdk = sdk_config(&moto.endpoint);
    let s3 = s3_client(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key_arn = create_kms_key(&kms).await;
    let bucket = "guardduty-alerts-exports";
    create_export_bucket(&s3, bucket, &key_arn).await;
    let key = "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b.jsonl.gz";
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl.gz"
    ))
    .expect("sample");
    put_export(&s3, bucket, key, &key_arn, sample).await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = create_topic(&sns, "alerts", false).await;
    let (queue_url, queue_arn) = create_queue(&sqs, "alerts", false).await;
    subscribe_queue(&sns, &topic, &queue_arn, true).await;

    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/s3-put.json"))
            .expect("event"),
    )
    .expect("event JSON");
    let env: Vec<(String, String)> = [
        ("SNS_TOPIC_ARN", topic.as_str()),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let (answer, output) = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        runtime_api::invoke_once(&binary, &env, &event, Duration::from_secs(60))
    })
    .await
    .expect("runtime API thread");
    let response = answer.unwrap_or_else(|e| panic!("the function failed: {e}\n{output}"));
    assert_eq!(response["findings"], 12, "{response}");
    assert_eq!(response["alerts_sent"], 10, "{response}");
    let messages = drain_queue(&sqs, &queue_url, 10, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 10);
    // JSON logs, one object per line (as the template configures), no colour codes.
    let json_lines = output.lines().filter(|l| l.starts_with('{')).count();
    assert!(json_lines >= 2, "{output}");
    let lines: Vec<Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // Every log line of the invocation carries the request id (Logs Insights:
    // `filter span.requestId = "..."`); the EMF document is not a log line.
    let logs: Vec<&Value> = lines.iter().filter(|l| l.get("level").is_some()).collect();
    assert!(!logs.is_empty(), "{output}");
    for l in &logs {
        assert_eq!(l["span"]["requestId"], "test-request-1", "{l}");
    }
    // The summary is one line of fields, numbers as numbers.
    let done = logs
        .iter()
        .find(|l| l["message"] == "invocation done")
        .unwrap_or_else(|| panic!("no summary line: {output}"));
    assert_eq!(done["findings"], 12, "{done}");
    assert_eq!(done["alerts_sent"], 10, "{done}");
    assert_eq!(done["account.balanced"], 1, "{done}");
    assert_eq!(done["account.alerted"], 10, "{done}");
    assert_eq!(done["cold_start"], true, "{done}");
    assert_eq!(done["shape"], "s3", "{done}");
    let emf = lines
        .iter()
        .find(|l| l.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF document: {output}"));
    assert_eq!(emf["ColdStart"], 1.0, "{emf}");
    assert!(!output.contains('\u{1b}'));
}
