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

/// The ids of the JSON records, and the JSON summary (the last stderr line).
fn records(out: &Output) -> (Vec<String>, Value) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ids = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["id"].as_str().unwrap().to_owned()
        })
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
            let l = lines.next().expect("a record").expect("read");
            let v: Value = serde_json::from_str(&l).unwrap();
            first.push(v["id"].as_str().unwrap().to_owned());
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
    let summary: Value = serde_json::from_str(
        stderr
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap(),
    )
    .unwrap();
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
