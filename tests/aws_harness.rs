//! Smoke tests of the test harness (`tests/support`): moto really stores SSE-KMS objects and
//! delivers SNS messages to SQS the way the product's tests rely on, and the runtime emulator runs
//! the real Lambda binary. These also record what moto enforces and what it does not.

mod support;

use std::io::Read as _;
use std::time::{Duration, Instant};

use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::Value;
use support::*;

const BUCKET: &str = "guardduty-alerts-exports";
const KEY: &str = "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b.jsonl.gz";

struct Clients {
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
}

fn clients(moto: &Moto) -> Clients {
    let sdk = sdk_config(&moto.endpoint);
    Clients {
        s3: s3_client(&sdk),
        kms: aws_sdk_kms::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn attribute(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .expect("message attribute")
}

/// The service error code of an SDK error (`TooManyEntriesInBatchRequest` …).
fn error_code<E, R>(err: &aws_sdk_sns::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_sns::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("").to_owned(),
        other => format!("not a service error: {other:?}"),
    }
}

// --- moto itself ---------------------------------------------------------------------------------

#[tokio::test]
async fn each_test_gets_its_own_moto_quickly() {
    let started = Instant::now();
    let a = Moto::start().await;
    let first = started.elapsed();
    let b = Moto::start().await;
    assert_ne!(a.endpoint, b.endpoint);
    // ~0.4 s on an idle 2-core machine; generous here because tests run in parallel with builds.
    assert!(
        first < Duration::from_secs(10),
        "moto took {first:?} to start"
    );
    let (ca, cb) = (clients(&a), clients(&b));
    ca.s3
        .create_bucket()
        .bucket("only-in-a")
        .send()
        .await
        .expect("create bucket");
    let in_b = cb.s3.list_buckets().send().await.expect("list buckets");
    assert!(
        in_b.buckets().is_empty(),
        "state leaked between servers: {in_b:?}"
    );
    let port = a.port;
    drop(a);
    // Dropped means stopped: the port no longer answers.
    let conn = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        conn.is_err(),
        "moto on port {port} still answers after drop"
    );
}

#[test]
fn a_missing_tool_fails_with_how_to_install_it() {
    let err = std::panic::catch_unwind(|| {
        find_tool(
            "no-such-tool-guardduty-alerts",
            "run tests/run, which installs it",
        )
    })
    .expect_err("must panic");
    let message = err.downcast_ref::<String>().expect("panic message");
    assert!(
        message.contains("no-such-tool-guardduty-alerts not found"),
        "{message}"
    );
    assert!(
        message.contains(".venv/bin") && message.contains("PATH"),
        "{message}"
    );
    assert!(
        message.contains("run tests/run, which installs it"),
        "{message}"
    );
}

// --- S3 with SSE-KMS -----------------------------------------------------------------------------

#[tokio::test]
async fn an_sse_kms_object_round_trips_decrypted() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    let key_arn = create_kms_key(&c.kms).await;
    assert!(key_arn.starts_with("arn:aws:kms:us-east-1:"), "{key_arn}");
    create_export_bucket(&c.s3, BUCKET, &key_arn).await;
    let lines = b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n".repeat(1000);
    let gz = gzip(&lines);
    put_export(&c.s3, BUCKET, KEY, &key_arn, gz.clone()).await;

    let got =
        c.s3.get_object()
            .bucket(BUCKET)
            .key(KEY)
            .send()
            .await
            .expect("GetObject");
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(
        body.as_ref(),
        gz.as_slice(),
        "GetObject returns the plaintext bytes"
    );
    assert_eq!(gunzip(&body), lines);
}

#[tokio::test]
async fn head_object_reports_aws_kms_and_the_key() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    let key_arn = create_kms_key(&c.kms).await;
    create_export_bucket(&c.s3, BUCKET, &key_arn).await;
    put_export(&c.s3, BUCKET, KEY, &key_arn, gzip(b"{}\n")).await;

    let head =
        c.s3.head_object()
            .bucket(BUCKET)
            .key(KEY)
            .send()
            .await
            .expect("HeadObject");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(
        head.ssekms_key_id(),
        Some(key_arn.as_str()),
        "moto echoes the key as given"
    );

    let enc =
        c.s3.get_bucket_encryption()
            .bucket(BUCKET)
            .send()
            .await
            .expect("encryption");
    let rule = &enc
        .server_side_encryption_configuration()
        .expect("config")
        .rules()[0];
    let default = rule
        .apply_server_side_encryption_by_default()
        .expect("default");
    assert_eq!(default.sse_algorithm(), &ServerSideEncryption::AwsKms);
    assert_eq!(default.kms_master_key_id(), Some(key_arn.as_str()));

    // moto applies the bucket default to an upload that names no encryption, like S3.
    c.s3.put_object()
        .bucket(BUCKET)
        .key("plain.jsonl.gz")
        .body(gzip(b"{}\n").into())
        .send()
        .await
        .expect("PutObject");
    let head =
        c.s3.head_object()
            .bucket(BUCKET)
            .key("plain.jsonl.gz")
            .send()
            .await
            .expect("head");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(key_arn.as_str()));
}

// --- SNS to SQS ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_standard_topic_delivers_raw_and_enveloped_with_attributes() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    let topic = create_topic(&c.sns, "alerts", false).await;
    let (raw_url, raw_arn) = create_queue(&c.sqs, "alerts-raw", false).await;
    let (env_url, env_arn) = create_queue(&c.sqs, "alerts-enveloped", false).await;
    subscribe_queue(&c.sns, &topic, &raw_arn, true).await;
    subscribe_queue(&c.sns, &topic, &env_arn, false).await;

    c.sns
        .publish()
        .topic_arn(&topic)
        .subject("[High] Trojan:EC2/DropPoint!DNS")
        .message(r#"{"alert":{"id":"f1"}}"#)
        .message_attributes("severity", attribute("Number", "8"))
        .message_attributes("severity_label", attribute("String", "High"))
        .send()
        .await
        .expect("Publish");

    let raw = drain_queue(&c.sqs, &raw_url, 1, Duration::from_secs(10)).await;
    assert_eq!(raw.len(), 1);
    assert_eq!(
        raw[0].body(),
        Some(r#"{"alert":{"id":"f1"}}"#),
        "raw: the bare message"
    );
    let attrs = raw[0]
        .message_attributes()
        .expect("raw: SQS message attributes");
    assert_eq!(attrs["severity"].data_type(), "Number");
    assert_eq!(attrs["severity"].string_value(), Some("8"));
    assert_eq!(attrs["severity_label"].string_value(), Some("High"));

    let enveloped = drain_queue(&c.sqs, &env_url, 1, Duration::from_secs(10)).await;
    assert_eq!(enveloped.len(), 1);
    let envelope: Value = serde_json::from_str(enveloped[0].body().expect("body")).expect("JSON");
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(envelope["Subject"], "[High] Trojan:EC2/DropPoint!DNS");
    assert_eq!(envelope["Message"], r#"{"alert":{"id":"f1"}}"#);
    assert_eq!(envelope["MessageAttributes"]["severity"]["Type"], "Number");
    assert_eq!(envelope["MessageAttributes"]["severity"]["Value"], "8");
    assert_eq!(
        envelope["MessageAttributes"]["severity_label"]["Value"],
        "High"
    );
}

#[tokio::test]
async fn a_fifo_topic_delivers_in_groups_and_deduplicates() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    let topic = create_topic(&c.sns, "alerts.fifo", true).await;
    let (url, arn) = create_queue(&c.sqs, "alerts.fifo", true).await;
    subscribe_queue(&c.sns, &topic, &arn, false).await;

    for (group, dedup) in [
        ("111122223333", "f1-v1"),
        ("444455556666", "f2-v1"),
        ("111122223333", "f1-v1"),
    ] {
        c.sns
            .publish()
            .topic_arn(&topic)
            .message(format!("{dedup} for {group}"))
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .message_attributes("account_id", attribute("String", group))
            .send()
            .await
            .expect("Publish to FIFO");
    }
    let got = drain_queue(&c.sqs, &url, 3, Duration::from_secs(3)).await;
    assert_eq!(
        got.len(),
        2,
        "the repeated deduplication id is dropped: {got:?}"
    );
    for m in &got {
        let group =
            &m.attributes().expect("attributes")[&MessageSystemAttributeName::MessageGroupId];
        let envelope: Value = serde_json::from_str(m.body().expect("body")).expect("JSON");
        assert_eq!(
            envelope["MessageAttributes"]["account_id"]["Value"],
            group.as_str()
        );
        assert!(
            envelope["Message"]
                .as_str()
                .is_some_and(|b| b.ends_with(group.as_str()))
        );
    }

    // Without a deduplication id (content-based deduplication is off) or a group id: rejected.
    let no_dedup = c
        .sns
        .publish()
        .topic_arn(&topic)
        .message("m")
        .message_group_id("g")
        .send()
        .await;
    assert!(
        no_dedup.is_err(),
        "FIFO publish without MessageDeduplicationId must fail"
    );
    let no_group = c
        .sns
        .publish()
        .topic_arn(&topic)
        .message("m")
        .message_deduplication_id("d")
        .send()
        .await;
    assert!(
        no_group.is_err(),
        "FIFO publish without MessageGroupId must fail"
    );
}

#[tokio::test]
async fn a_publish_batch_of_ten_arrives() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    for fifo in [false, true] {
        let name = if fifo { "batch.fifo" } else { "batch" };
        let topic = create_topic(&c.sns, name, fifo).await;
        let (url, arn) = create_queue(&c.sqs, name, fifo).await;
        subscribe_queue(&c.sns, &topic, &arn, true).await;
        let out = c
            .sns
            .publish_batch()
            .topic_arn(&topic)
            .set_publish_batch_request_entries(Some(batch_entries(10, fifo)))
            .send()
            .await
            .expect("PublishBatch of 10");
        assert_eq!(out.successful().len(), 10, "{name}: {out:?}");
        assert!(out.failed().is_empty(), "{name}: {out:?}");
        let got = drain_queue(&c.sqs, &url, 10, Duration::from_secs(10)).await;
        let mut bodies: Vec<&str> = got.iter().filter_map(|m| m.body()).collect();
        bodies.sort_by_key(|b| {
            b.trim_start_matches("message-")
                .parse::<u32>()
                .unwrap_or(99)
        });
        let expected: Vec<String> = (0..10).map(|i| format!("message-{i}")).collect();
        assert_eq!(bodies, expected, "{name}");
    }
}

fn entry(id: &str, message: String) -> aws_sdk_sns::types::PublishBatchRequestEntry {
    aws_sdk_sns::types::PublishBatchRequestEntry::builder()
        .id(id)
        .message(message)
        .build()
        .expect("batch entry")
}

/// SNS limits in moto 5.2.5, as AWS has them:
/// - PublishBatch with more than 10 entries: `TooManyEntriesInBatchRequest` (whole request);
/// - PublishBatch with repeated entry ids: `BatchEntryIdsNotDistinct` (whole request);
/// - a message over 256 KiB: Publish fails with `InvalidParameter`; in a PublishBatch, that entry
///   is in `Failed` (code `InvalidParameter`, sender fault) and the others are delivered.
///
/// and where moto is looser than AWS (the product must keep to AWS's limits on its own):
/// - the 256 KiB limit on the whole PublishBatch request (`BatchRequestTooLong` on AWS) is not
///   checked: two 150 KiB entries are delivered;
/// - moto measures a message in characters, AWS in UTF-8 bytes (with message attributes): 140,000
///   `é` (280,000 bytes) pass;
/// - moto does not count message attributes or the subject towards the size;
/// - a Subject over 100 characters fails a Publish (`InvalidParameter`, as on AWS), but in a
///   PublishBatch moto drops that entry silently: it is in neither `Successful` nor `Failed`.
#[tokio::test]
async fn sns_limits_moto_enforces_and_those_it_does_not() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    let topic = create_topic(&c.sns, "limits", false).await;
    let (url, arn) = create_queue(&c.sqs, "limits", false).await;
    subscribe_queue(&c.sns, &topic, &arn, true).await;
    let batch = |entries: Vec<aws_sdk_sns::types::PublishBatchRequestEntry>| {
        c.sns
            .publish_batch()
            .topic_arn(&topic)
            .set_publish_batch_request_entries(Some(entries))
            .send()
    };
    const KIB: usize = 1024;

    // Enforced.
    let eleven = batch(batch_entries(11, false))
        .await
        .expect_err("11 entries: rejected");
    assert_eq!(
        error_code(&eleven),
        "TooManyEntriesInBatchRequest",
        "{eleven:?}"
    );

    let same_ids = vec![entry("0", "a".into()), entry("0", "b".into())];
    let dup = batch(same_ids).await.expect_err("repeated ids: rejected");
    assert_eq!(error_code(&dup), "BatchEntryIdsNotDistinct", "{dup:?}");

    let one_too_big = vec![
        entry("ok", "small".into()),
        entry("big", "x".repeat(256 * KIB + 1)),
    ];
    let out = batch(one_too_big)
        .await
        .expect("a batch with one oversized entry is accepted");
    let ok: Vec<_> = out.successful().iter().filter_map(|e| e.id()).collect();
    assert_eq!(ok, ["ok"], "{out:?}");
    assert_eq!(out.failed().len(), 1, "{out:?}");
    assert_eq!(out.failed()[0].id(), "big");
    assert_eq!(out.failed()[0].code(), "InvalidParameter");
    assert!(out.failed()[0].sender_fault());

    let single = c
        .sns
        .publish()
        .topic_arn(&topic)
        .message("x".repeat(256 * KIB + 1))
        .send()
        .await;
    let single = single.expect_err("a message over 256 KiB: rejected");
    assert_eq!(error_code(&single), "InvalidParameter", "{single:?}");

    // Not enforced.
    let big_pair = vec![
        entry("0", "y".repeat(150 * KIB)),
        entry("1", "z".repeat(150 * KIB)),
    ];
    let out = batch(big_pair)
        .await
        .expect("moto accepts a 300 KiB PublishBatch");
    assert_eq!(out.successful().len(), 2, "{out:?}");

    let wide = "é".repeat(140_000);
    assert!(wide.len() > 256 * KIB);
    c.sns
        .publish()
        .topic_arn(&topic)
        .message(wide.clone())
        .send()
        .await
        .expect("moto counts characters, not bytes");

    let long_subject = aws_sdk_sns::types::PublishBatchRequestEntry::builder()
        .id("subject")
        .message("lost")
        .subject("s".repeat(101))
        .build()
        .expect("entry");
    let out = batch(vec![long_subject, entry("fine", "fine!".into())])
        .await
        .expect("batch");
    let ok: Vec<_> = out.successful().iter().filter_map(|e| e.id()).collect();
    assert_eq!(ok, ["fine"], "{out:?}");
    assert!(
        out.failed().is_empty(),
        "moto reports nothing for the dropped entry: {out:?}"
    );
    let long = c
        .sns
        .publish()
        .topic_arn(&topic)
        .message("m")
        .subject("s".repeat(101))
        .send();
    let long = long
        .await
        .expect_err("Publish with a 101-character subject: rejected");
    assert_eq!(error_code(&long), "InvalidParameter", "{long:?}");

    let got = drain_queue(&c.sqs, &url, 5, Duration::from_secs(10)).await;
    let mut sizes: Vec<usize> = got.iter().filter_map(|m| m.body()).map(str::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [5, 5, 150 * KIB, 150 * KIB, wide.len()], "delivered");
}

#[tokio::test]
async fn drain_queue_returns_the_shortfall_after_its_timeout() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    let (url, _) = create_queue(&c.sqs, "empty", false).await;
    let started = Instant::now();
    let got = drain_queue(&c.sqs, &url, 1, Duration::from_millis(1500)).await;
    let took = started.elapsed();
    assert!(got.is_empty());
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

// --- cargo-lambda runtime emulator ---------------------------------------------------------------

#[test]
fn emulator_env_file_quotes_what_env_var_cannot_pass() {
    let text = env_file_contents(&[
        ("PLAIN", "abc"),
        ("LIST", "a,b=c d#e"),
        ("QUOTE", "it's"),
        ("URL", "http://127.0.0.1:5000/?a=b&c=d"),
    ]);
    assert_eq!(
        text,
        "PLAIN='abc'\nLIST='a,b=c d#e'\nQUOTE=\"it's\"\nURL='http://127.0.0.1:5000/?a=b&c=d'\n"
    );
}

fn s3_test_event() -> Value {
    let path = format!("{REPO}/events/s3-test-event.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")),
        Err(_) => serde_json::json!({
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2026-11-26T10:00:00.000Z",
            "Bucket": "guardduty-alerts-exports",
            "RequestId": "X",
            "HostId": "Y"
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_runs_the_lambda_binary() {
    let moto = Moto::start().await;
    let c = clients(&moto);
    let topic = create_topic(&c.sns, "alerts", false).await;
    let mut env = moto.env();
    env.push(("SNS_TOPIC_ARN", topic));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let response = emulator
        .invoke(&s3_test_event())
        .await
        .unwrap_or_else(|e| panic!("invocation failed: {e}"));
    assert!(
        response.is_object(),
        "the response is a JSON object: {response}"
    );
    // An error the function returns comes back as Err with its type and message; the instance
    // keeps running.
    let err = emulator
        .invoke(&serde_json::json!({"not": "an event the function knows"}))
        .await
        .expect_err("an unknown event shape is an error");
    assert!(err.starts_with("UnrecognisedEvent: "), "{err}");
    // Later invocations reuse the running instance (no rebuild).
    let started = Instant::now();
    let again = emulator
        .invoke(&s3_test_event())
        .await
        .expect("second invocation");
    assert!(again.is_object(), "{again}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        emulator.logs().contains("guardduty-alerts-lambda"),
        "{}",
        emulator.logs()
    );
}

/// The emulator does not restart a function whose process exits (here: a cold start without its
/// required setting, which the function reports as its init error); the invocation fails at once
/// with that error, and so does the next, instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_reports_a_function_process_that_exits() {
    let moto = Moto::start().await;
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let emulator = Emulator::start("guardduty-alerts-lambda", &env).await;
    let err = emulator
        .invoke(&s3_test_event())
        .await
        .expect_err("no SNS_TOPIC_ARN: must fail");
    assert!(
        err.contains("cold start failed (InvalidSetting.") && err.contains("SNS_TOPIC_ARN"),
        "{err}"
    );
    let started = Instant::now();
    let again = emulator
        .invoke(&s3_test_event())
        .await
        .expect_err("still dead");
    assert_eq!(again, err);
    assert!(started.elapsed() < Duration::from_secs(1));
}
