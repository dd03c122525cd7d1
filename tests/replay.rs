//! Replays at scale, from the command line, against moto: `process s3://BUCKET/PREFIX/` over
//! more than one ListObjectsV2 page with days, resume and concurrency; replays through the
//! dedup table (`--deliver`, `--realert`); `replay-failures` on a failure queue; `backfill`.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");
const BUCKET: &str = "org-guardduty-exports";
const ACCOUNT: &str = "111122223333";
const PREFIX: &str = "AWSLogs/111122223333/GuardDuty/us-east-1/";

/// One High finding with its own id (so that every alert can be told apart).
fn finding(id: &str) -> String {
    serde_json::json!({
        "schemaVersion": "2.0", "accountId": ACCOUNT, "region": "us-east-1", "partition": "aws",
        "id": id, "type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8,
        "arn": format!("arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d/finding/{id}"),
        "title": "SSH brute force", "createdAt": "2026-11-01T00:00:00.000Z",
        "updatedAt": "2026-11-01T00:00:00.000Z",
        "resource": { "resourceType": "Instance", "instanceDetails": { "instanceId": "i-0123456789abcdef0" } },
        "service": { "count": 1, "archived": false }
    })
    .to_string()
}

/// The key of export `n` of day `day` (November 2026).
fn key(day: u32, n: u32) -> String {
    format!("{PREFIX}2026/11/{day:02}/{n:08x}-0000-4000-8000-000000000000.jsonl.gz")
}

struct World {
    moto: Moto,
    sdk: aws_config::SdkConfig,
    key_arn: String,
}

/// moto with the bucket holding `per_day` exports (one finding each, id `f-DAY-N`) for each of
/// `days`, and a few objects that are not exports.
async fn world(days: std::ops::RangeInclusive<u32>, per_day: u32) -> World {
    let moto = Moto::start().await;
    let sdk = sdk_config(&moto.endpoint);
    let s3 = s3_client(&sdk);
    let key_arn = create_kms_key(&aws_sdk_kms::Client::new(&sdk)).await;
    create_export_bucket(&s3, BUCKET, &key_arn).await;
    let mut puts = Vec::new();
    for day in days {
        for n in 0..per_day {
            puts.push((
                key(day, n),
                gzip(finding(&format!("f-{day}-{n}")).as_bytes()),
            ));
        }
    }
    for i in 0..3 {
        puts.push((format!("{PREFIX}permission-check-{i}"), b"x".to_vec()));
    }
    for chunk in puts.chunks(64) {
        futures_util::future::join_all(chunk.iter().map(|(k, body)| {
            s3.put_object()
                .bucket(BUCKET)
                .key(k)
                .body(body.clone().into())
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(&key_arn)
                .send()
        }))
        .await
        .into_iter()
        .for_each(|r| {
            r.expect("PutObject");
        });
    }
    World { moto, sdk, key_arn }
}

impl World {
    fn cli(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        Command::new(BIN)
            .args(args)
            .envs(self.moto.env())
            .envs(extra_env.iter().copied())
            .output()
            .expect("run guardduty-alerts")
    }
}

/// The finding id of one JSON record line.
fn id_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    v["id"].as_str().unwrap().to_owned()
}

/// The ids of the JSON records, and the JSON summary (the last stderr line).
fn records(out: &Output) -> (Vec<String>, Value) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ids = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(id_of)
        .collect();
    let summary = serde_json::from_str(stderr.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stderr}"));
    (ids, summary)
}

fn unique(ids: &[String]) -> BTreeSet<String> {
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "every record once");
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_of_1200_exports_across_pages_with_days_and_resume() {
    let w = world(1..=12, 100).await;
    let prefix = format!("s3://{BUCKET}/{PREFIX}");

    // Everything: 1,200 exports over two ListObjectsV2 pages, 8 at a time.
    let out = w.cli(
        &["process", "--format", "json", "--concurrency", "8", &prefix],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let (ids, s) = records(&out);
    assert_eq!(unique(&ids).len(), 1200, "{s}");
    assert_eq!(s["objects_listed"], 1200, "{s}");
    assert_eq!(s["objects_not_exports"], 3, "{s}");
    assert_eq!(s["objects_outside_days"], 0, "{s}");
    assert_eq!(
        (s["sources"].as_u64(), s["findings"].as_u64()),
        (Some(1200), Some(1200))
    );
    assert_eq!(s["account"]["balanced"], true, "{s}");
    assert_eq!(
        (s["complete"].clone(), s["failures"].clone()),
        (true.into(), serde_json::json!([]))
    );
    assert_eq!(s["resume_after"], key(12, 99), "{s}");

    // Two days (inclusive), by the day in the key.
    let out = w.cli(
        &[
            "process",
            "--format",
            "json",
            "--since",
            "2026-11-03",
            "--until",
            "2026-11-04",
            &prefix,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ids, s) = records(&out);
    let got = unique(&ids);
    assert_eq!(got.len(), 200, "{s}");
    assert!(
        got.iter()
            .all(|id| id.starts_with("f-3-") || id.starts_with("f-4-"))
    );
    assert_eq!(s["objects_outside_days"], 1000, "{s}");

    // --recursive on a key prefix without the trailing slash; --resume-after a key.
    let after = key(5, 49);
    let out = w.cli(
        &[
            "process",
            "--format",
            "json",
            "--recursive",
            "--resume-after",
            &after,
            &format!("s3://{BUCKET}/{PREFIX}2026/11/0"),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ids, s) = records(&out);
    // Days 5 (from n = 50) to 9: the listing continues after the key, in S3's order.
    assert_eq!(unique(&ids).len(), 50 + 4 * 100, "{s}");
    assert!(
        !ids.iter()
            .any(|id| id == "f-5-49" || id.starts_with("f-4-"))
    );

    // A run cut short (its output's reader goes away) says where to resume, and resuming
    // there reads the rest: together, every export at least once.
    let mut child = Command::new(BIN)
        .args(["process", "--format", "json", "--concurrency", "1", &prefix])
        .envs(w.moto.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let mut first: Vec<String> = Vec::new();
    {
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for _ in 0..300 {
            first.push(id_of(&lines.next().expect("a record").expect("read")));
        }
    } // stdout closed: the CLI's next writes fail with EPIPE
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let hint = stderr
        .lines()
        .find_map(|l| l.strip_prefix("stopped: to continue after the last object read in full, run again with --resume-after "))
        .unwrap_or_else(|| panic!("no resume hint:\n{stderr}"));
    assert!(hint.starts_with(PREFIX), "{hint}");
    let out = w.cli(
        &[
            "process",
            "--format",
            "json",
            "--resume-after",
            hint,
            &prefix,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (rest, _) = records(&out);
    let all: BTreeSet<String> = first.iter().chain(rest.iter()).cloned().collect();
    assert_eq!(
        all.len(),
        1200,
        "first {} + rest {}",
        first.len(),
        rest.len()
    );

    // Ctrl-C (SIGINT): the objects being read finish, then the resume key; exit 130.
    let mut child = Command::new(BIN)
        .args(["process", "--format", "json", "--concurrency", "2", &prefix])
        .envs(w.moto.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first: Vec<String> = Vec::new();
    for _ in 0..100 {
        first.push(id_of(&lines.next().expect("a record").expect("read")));
    }
    // SAFETY: kill(2) on our own child's pid, which has not been reaped.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    for l in lines {
        first.push(id_of(&l.expect("read")));
    }
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let hint = stderr
        .lines()
        .find_map(|l| l.strip_prefix("interrupted: to continue after the last object read in full, run again with --resume-after "))
        .unwrap_or_else(|| panic!("no resume hint:\n{stderr}"));
    assert!(
        first.len() < 1200,
        "it stopped early: {} records",
        first.len()
    );
    let out = w.cli(
        &[
            "process",
            "--format",
            "json",
            "--resume-after",
            hint,
            &prefix,
        ],
        &[],
    );
    let (rest, _) = records(&out);
    let all: BTreeSet<String> = first.iter().chain(rest.iter()).cloned().collect();
    assert_eq!(
        all.len(),
        1200,
        "interrupted {} + resumed {}",
        first.len(),
        rest.len()
    );

    // Usage errors: days without a prefix; days the wrong way round.
    let out = w.cli(&["process", "--since", "2026-11-03", "x.jsonl.gz"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--recursive"));
    let out = w.cli(
        &[
            "process",
            "--since",
            "2026-11-05",
            "--until",
            "2026-11-04",
            &prefix,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = w.cli(&["process", "--since", "2026-11-31", &prefix], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
}

/// A damaged export under the prefix: named at the end and in the JSON summary, the run goes on
/// with the rest, exit status 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_export_under_a_prefix_is_named_and_the_rest_is_read() {
    let w = world(1..=1, 30).await;
    let damaged = key(1, 7);
    let gz = gzip(finding("f-damaged").repeat(50).as_bytes());
    put_export(
        &s3_client(&w.sdk),
        BUCKET,
        &damaged,
        &w.key_arn,
        gz[..gz.len() / 2].to_vec(),
    )
    .await;
    let prefix = format!("s3://{BUCKET}/{PREFIX}");
    let out = w.cli(&["process", "--format", "json", &prefix], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let (ids, s) = records(&out);
    assert!(ids.len() >= 29, "{s}");
    let failures = s["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{s}");
    assert_eq!(failures[0]["source"], format!("s3://{BUCKET}/{damaged}"));
    assert!(
        stderr.contains(&format!("1 source(s) failed:\n  s3://{BUCKET}/{damaged}")),
        "{stderr}"
    );
    assert_eq!(s["complete"], true, "every object was reached: {s}");
}

/// Replays through the dedup table: what was delivered is not sent again, unless --realert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_send_only_what_was_never_sent_unless_realert() {
    let w = world(1..=2, 10).await;
    let sns = aws_sdk_sns::Client::new(&w.sdk);
    let sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let topic = create_topic(&sns, "alerts", false).await;
    let (queue_url, queue_arn) = create_queue(&sqs, "alerts", false).await;
    subscribe_queue(&sns, &topic, &queue_arn, true).await;
    let table = "guardduty-alerts-dedup";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table).await;
    let env = [("SNS_TOPIC_ARN", topic.as_str()), ("DEDUP_TABLE", table)];
    let prefix = format!("s3://{BUCKET}/{PREFIX}");

    // Day 1 first (as the function would have), then the whole prefix.
    let out = w.cli(
        &[
            "process",
            "--format",
            "json",
            "--deliver",
            "--until",
            "2026-11-01",
            &prefix,
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        drain_queue(&sqs, &queue_url, 10, Duration::from_secs(10))
            .await
            .len(),
        10
    );
    let out = w.cli(&["process", "--format", "json", "--deliver", &prefix], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("delivered 10 alert(s)"), "{stderr}");
    let summary: Value =
        serde_json::from_str(stderr.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(summary["deduplicated"]["duplicate"], 10, "{summary}");
    assert_eq!(summary["alerts"], 10, "{summary}");
    assert_eq!(summary["account"]["balanced"], true, "{summary}");
    let bodies: BTreeSet<String> = drain_queue(&sqs, &queue_url, 10, Duration::from_secs(10))
        .await
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            v["alert"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(bodies.len(), 10);
    assert!(bodies.iter().all(|id| id.starts_with("f-2-")), "{bodies:?}");
    // Again: nothing; with --realert: all twenty.
    let out = w.cli(&["process", "--format", "json", "--deliver", &prefix], &env);
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivered 0 alert(s)"));
    let out = w.cli(
        &[
            "process",
            "--format",
            "json",
            "--deliver",
            "--realert",
            &prefix,
        ],
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("delivered 20 alert(s)"), "{stderr}");
    assert_eq!(
        drain_queue(&sqs, &queue_url, 20, Duration::from_secs(10))
            .await
            .len(),
        20
    );
}

/// The failure queue filled by a real failed invocation of the function (through the runtime
/// emulator; the record is the one Lambda's on-failure destination writes around it, which the
/// emulator does not) and by an event EventBridge could not deliver, then drained by
/// `replay-failures`: every alert delivered exactly once, the messages deleted, one that is not
/// a record left in the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_failures_delivers_each_alert_once_and_deletes_what_succeeded() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use support::http::{Reply, Server};
    let w = world(1..=1, 0).await;
    let export = key(1, 0);
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl.gz"
    ))
    .unwrap();
    put_export(&s3_client(&w.sdk), BUCKET, &export, &w.key_arn, sample).await;
    let table = "guardduty-alerts-dedup";
    create_dedup_table(&guardduty_alerts::app::aws::dynamodb_client(&w.sdk), table).await;
    // The receiver takes the first 4 alerts, then answers 404 until it is mended.
    let mended = Arc::new(AtomicBool::new(false));
    let m2 = mended.clone();
    let hook = Server::start(move |n, _| {
        if n < 4 || m2.load(Ordering::SeqCst) {
            Reply::status(200, "ok")
        } else {
            Reply::status(404, "gone")
        }
    })
    .await;
    let url = hook.url("/alerts");
    let mut env = w.moto.env();
    env.extend([
        ("WEBHOOK_URL", url.clone()),
        ("ALLOW_HTTP_WEBHOOKS", "true".into()),
        ("DEDUP_TABLE", table.into()),
        ("WEBHOOK_CONCURRENCY", "1".into()),
    ]);
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let event: Value = serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-01T00:05:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": BUCKET }, "object": { "key": export } }
    }]});
    let emulator = Emulator::start("guardduty-alerts-lambda", &env_refs).await;
    let err = emulator
        .invoke(&event)
        .await
        .expect_err("the receiver refuses: the invocation fails");
    let (kind, message) = err.split_once(": ").unwrap();
    assert_eq!(kind, "DeliveryFailed", "{err}");
    drop(emulator);
    // What Lambda's on-failure destination writes after the retries, around that invocation.
    let record = serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-11-01T00:11:00.000Z",
        "requestContext": {
            "requestId": "0b1c2d3e-aaaa-4bbb-8ccc-1d2e3f4a5b6c",
            "functionArn": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:guardduty-alerts:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
        "responsePayload": { "errorType": kind, "errorMessage": message }
    });
    // An EventBridge GuardDuty Finding event that could not be delivered (a dead letter).
    let mut dead: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/events/guardduty-finding.json"
        ))
        .unwrap(),
    )
    .unwrap();
    dead["detail"]["id"] = "f-from-eventbridge".into();
    let sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let (queue, _) = create_queue(&sqs, "guardduty-alerts-failures", false).await;
    for body in [
        record.to_string(),
        dead.to_string(),
        "not a record".to_owned(),
    ] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .expect("SendMessage");
    }
    let depth = async || {
        let a = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("GetQueueAttributes");
        a.attributes().unwrap()
            [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
            .parse::<u64>()
            .unwrap()
    };
    let accepted = |hook: &Server| -> Vec<String> {
        hook.requests()
            .iter()
            .zip(0..)
            .filter(|(_, n)| *n < 4 || mended.load(Ordering::SeqCst))
            .map(|(r, _)| r.json()["alert"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = accepted(&hook);
    assert_eq!(
        before.len(),
        4,
        "four alerts got through before the failure"
    );
    let requests_before = hook.requests().len();

    // --dry-run: says what it would do, sends and deletes nothing.
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run")
    };
    let out = run(&["replay-failures", "--dry-run", &queue]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("would replay message "))
            .count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("request 0b1c2d3e-aaaa-4bbb-8ccc-1d2e3f4a5b6c; RetriesExhausted; last error DeliveryFailed: "), "{stdout}");
    assert!(
        stdout.contains(&format!("s3://{BUCKET}/{export}")),
        "{stdout}"
    );
    assert!(stdout.contains("GuardDuty Finding event 5e1c7a3b-9d2f-4e6a-8b0c-1f2e3d4c5b6a (finding f-from-eventbridge)"), "{stdout}");
    assert!(stderr.contains("not a failed invocation"), "{stderr}");
    assert_eq!(hook.requests().len(), requests_before, "nothing sent");
    assert_eq!(
        depth().await,
        3,
        "nothing deleted, every message visible again"
    );

    // The receiver mended: the replay sends what was not delivered, once.
    mended.store(true, Ordering::SeqCst);
    let out = run(&["replay-failures", &queue]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the unreadable message is kept: {stderr}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("replayed message "))
            .count(),
        2,
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("findings 12, alerts sent 6, already sent before 4"),
        "{stdout}"
    );
    assert!(
        stderr.contains("2 message(s) replayed and deleted, 0 failed, 1 not understood"),
        "{stderr}"
    );
    let mut all: Vec<String> = before;
    all.extend(
        hook.requests()[requests_before..]
            .iter()
            .map(|r| r.json()["alert"]["id"].as_str().unwrap().to_owned()),
    );
    let set: BTreeSet<&String> = all.iter().collect();
    assert_eq!(set.len(), all.len(), "no alert twice: {all:?}");
    assert_eq!(
        all.len(),
        11,
        "the export's 10 alerts and the event's one: {all:?}"
    );
    assert_eq!(depth().await, 1, "only the unreadable message is left");
    // Nothing more to do.
    let out = run(&["replay-failures", &queue]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 message(s) replayed"));
}

/// `backfill`: the manifest of the exports under a prefix (two listing pages, days), locally and
/// in S3 (its ETag reported), every line decoding to a listed key. `--create-job` cannot reach a
/// local stand-in: moto has no S3 Batch Operations jobs, and the SDK sends S3 Control requests to
/// `ACCOUNT.` + the endpoint's host, a name loopback does not resolve; so this checks that the
/// manifest is uploaded first and that the failed CreateJob is one error naming the call, the
/// cause and what the caller needs (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_writes_the_manifest_and_asks_for_the_job() {
    let w = world(1..=11, 100).await;
    let s3 = s3_client(&w.sdk);
    s3.create_bucket()
        .bucket("replays")
        .send()
        .await
        .expect("CreateBucket");
    let dir = std::env::temp_dir().join(format!("backfill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join("manifest.csv");
    let prefix = format!("s3://{BUCKET}/{PREFIX}");
    let out = w.cli(
        &[
            "backfill",
            &prefix,
            "--since",
            "2026-11-02",
            "--manifest",
            local.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1000 export object(s)"), "{stderr}");
    assert!(
        stderr.contains("(103 other object(s) left out)"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&local).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    assert_eq!(lines[0], format!("{BUCKET},{}", key(2, 0)));
    let keys: BTreeSet<String> = lines
        .iter()
        .map(|l| {
            let (b, k) = l.split_once(',').unwrap();
            assert_eq!(b, BUCKET);
            guardduty_alerts::trigger::decode_s3_key(k).unwrap()
        })
        .collect();
    assert_eq!(keys.len(), 1000);
    assert!(!keys.contains(&key(1, 0)) && keys.contains(&key(11, 99)));

    // To S3, then the job: moto has no S3 Batch Operations.
    let out = w.cli(
        &[
            "backfill",
            &prefix,
            "--until",
            "2026-11-01",
            "--manifest",
            "s3://replays/guardduty-alerts/backfill/manifest.csv",
            "--create-job",
            "--function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:guardduty-alerts",
            "--role-arn",
            "arn:aws:iam::123456789012:role/guardduty-alerts-BatchOperationsRole",
            "--report",
            "s3://replays/guardduty-alerts/backfill/reports",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let head = s3
        .head_object()
        .bucket("replays")
        .key("guardduty-alerts/backfill/manifest.csv")
        .send()
        .await
        .expect("the manifest is in S3");
    let etag = head.e_tag().unwrap().trim_matches('"').to_owned();
    assert!(
        stderr.contains(&format!(
            "manifest written to s3://replays/guardduty-alerts/backfill/manifest.csv (ETag {etag})"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("100 export object(s)"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: s3control CreateJob failed: "),
        "{stderr}"
    );
    assert!(stderr.contains("s3:CreateJob and iam:PassRole"), "{stderr}");

    // Usage errors before anything is listed.
    for (manifest, says) in [
        ("m.csv", "--create-job needs the manifest in S3"),
        ("s3://r/m.csv", "not an IAM role ARN"),
    ] {
        let job = [
            "--create-job",
            "--function-arn",
            "x",
            "--role-arn",
            "y",
            "--report",
            "s3://r/p",
        ];
        let mut args = vec!["backfill", prefix.as_str(), "--manifest", manifest];
        args.extend(job);
        let out = w.cli(&args, &[]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(says));
    }
}
