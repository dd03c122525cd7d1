//! Replay benchmark: `guardduty-alerts process s3://BUCKET/PREFIX/` over 2,000 export objects in
//! moto S3, at concurrency 1, 4 and 16, side by side.
//!
//! Run it with
//!
//! ```text
//! cargo bench --bench replay
//! BENCH_OBJECTS=500 BENCH_ROUNDS=1 cargo bench --bench replay    # quick smoke run
//! ```
//!
//! A plain program (`harness = false`) that reports and does not assert performance; it exits
//! non-zero only when a run fails or its account is wrong (objects listed, findings, complete).
//! It needs `moto_server` (looked up like the tests do; `tests/run` installs it into `.venv`).
//!
//! What it does: moto with an SSE-KMS bucket holding `BENCH_OBJECTS` (2,000) copies of
//! `events/sample-export.jsonl.gz` (12 findings, 10 of them alerts at the default policy) under
//! the export key layout, spread over 20 days; then `BENCH_ROUNDS` (3) rounds, each running the
//! release CLI once per concurrency in turn (1, 4, 16: interleaved, so a slow moment of this
//! shared machine hits all three alike) with `--format json --quiet`, stdout to /dev/null. Each
//! run is timed from spawn to reap; its peak RSS comes from `wait4(2)`. Reported per
//! concurrency: the median wall time, objects/s and findings/s, the median peak RSS, and the
//! speed-up over concurrency 1. moto (one Python process) serves every GetObject, so these are
//! the CLI's rates against moto on this machine, not S3's.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;
#[path = "common/process.rs"]
mod process;

use std::process::{Command, Stdio};

use common::{Summary, cpu_model, env_count};
use process::measure;
use serde_json::Value;
use support::{Moto, create_export_bucket, create_kms_key, s3_client, sdk_config};

const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");
const BUCKET: &str = "org-guardduty-exports";
const PREFIX: &str = "AWSLogs/111122223333/GuardDuty/us-east-1/";
const CONCURRENCY: [usize; 3] = [1, 4, 16];

#[tokio::main]
async fn main() {
    let objects = env_count("BENCH_OBJECTS", 2000);
    let rounds = env_count("BENCH_ROUNDS", 3);
    let moto = Moto::start().await;
    let sdk = sdk_config(&moto.endpoint);
    let s3 = s3_client(&sdk);
    let key_arn = create_kms_key(&aws_sdk_kms::Client::new(&sdk)).await;
    create_export_bucket(&s3, BUCKET, &key_arn).await;
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/sample-export.jsonl.gz"
    ))
    .expect("events/sample-export.jsonl.gz");
    let started = std::time::Instant::now();
    let keys: Vec<String> = (0..objects)
        .map(|i| {
            format!(
                "{PREFIX}2026/11/{:02}/{i:08x}-0000-4000-8000-000000000000.jsonl.gz",
                1 + i % 20
            )
        })
        .collect();
    for chunk in keys.chunks(64) {
        for r in futures_util::future::join_all(chunk.iter().map(|k| {
            s3.put_object()
                .bucket(BUCKET)
                .key(k)
                .body(sample.clone().into())
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(&key_arn)
                .send()
        }))
        .await
        {
            r.expect("PutObject");
        }
    }
    println!(
        "replay bench: {objects} objects ({} bytes each, 12 findings) put in moto in {:.1} s; {} round(s); CPU: {}",
        sample.len(),
        started.elapsed().as_secs_f64(),
        rounds,
        cpu_model()
    );
    let source = format!("s3://{BUCKET}/{PREFIX}");
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); CONCURRENCY.len()];
    let mut rss: Vec<Vec<f64>> = vec![Vec::new(); CONCURRENCY.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); CONCURRENCY.len()];
    // moto's own floor: every object fetched and read by this process with the SDK, 16 at a
    // time (no decompression, no parsing, no output), timed once per round.
    let mut floor: Vec<f64> = Vec::new();
    for round in 0..rounds {
        let t = std::time::Instant::now();
        for chunk in keys.chunks(16) {
            for r in futures_util::future::join_all(chunk.iter().map(|k| {
                let s3 = &s3;
                async move {
                    let out = s3
                        .get_object()
                        .bucket(BUCKET)
                        .key(k)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    out.body
                        .collect()
                        .await
                        .map(|b| b.into_bytes().len())
                        .map_err(|e| e.to_string())
                }
            }))
            .await
            {
                assert_eq!(r.expect("GetObject"), sample.len());
            }
        }
        floor.push(t.elapsed().as_secs_f64());
        println!(
            "  round {}: moto GetObject floor (16 in flight, bodies read): {:.2} s",
            round + 1,
            t.elapsed().as_secs_f64()
        );
        for (i, c) in CONCURRENCY.iter().enumerate() {
            let mut cmd = Command::new(BIN);
            cmd.args(["process", "--format", "json", "--quiet", "--concurrency"])
                .arg(c.to_string())
                .arg(&source)
                .envs(moto.env())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let m = measure(&mut cmd, "guardduty-alerts", true);
            if let Err(e) = &m.outcome {
                panic!("concurrency {c}: {e}\n{}", m.stderr);
            }
            let summary: Value = serde_json::from_str(m.stderr.lines().last().unwrap_or_default())
                .unwrap_or_else(|e| {
                    panic!("concurrency {c}: no JSON summary ({e}):\n{}", m.stderr)
                });
            assert_eq!(summary["objects_listed"], objects, "{summary}");
            assert_eq!(summary["findings"], 12 * objects, "{summary}");
            assert_eq!(summary["complete"], true, "{summary}");
            println!(
                "  round {}: concurrency {c:>2}: {:.2} s, CPU {:.2} s, peak RSS {:.1} MiB",
                round + 1,
                m.wall.as_secs_f64(),
                m.cpu.as_secs_f64(),
                m.peak_rss as f64 / 1048576.0
            );
            cpu[i].push(m.cpu.as_secs_f64());
            walls[i].push(m.wall.as_secs_f64());
            rss[i].push(m.peak_rss as f64 / 1048576.0);
        }
    }
    println!();
    let f = Summary::of(&floor).map_or(f64::NAN, |s| s.median);
    println!(
        "moto floor: {f:.2} s for {objects} GetObjects = {:.0} objects/s (median of {rounds})",
        objects as f64 / f
    );
    println!(
        "| concurrency | wall (median) | objects/s | findings/s | CPU per object | peak RSS (median) | vs 1 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let base = Summary::of(&walls[0]).map_or(f64::NAN, |s| s.median);
    for (i, c) in CONCURRENCY.iter().enumerate() {
        let w = Summary::of(&walls[i]).map_or(f64::NAN, |s| s.median);
        let r = Summary::of(&rss[i]).map_or(f64::NAN, |s| s.median);
        let u = Summary::of(&cpu[i]).map_or(f64::NAN, |s| s.median);
        println!(
            "| {c} | {w:.2} s | {:.0} | {:.0} | {:.2} ms | {r:.1} MiB | {:.2}x |",
            objects as f64 / w,
            (12 * objects) as f64 / w,
            u * 1000.0 / objects as f64,
            base / w
        );
    }
}
