//! What the function costs at the memory sizes users pick, and the S3 path against a local file.
//!
//! Run it with
//!
//! ```text
//! cargo bench --bench lambda_memory                              # as recorded in BENCHMARKS.md
//! BENCH_FINDINGS=50000 BENCH_ROUNDS=1 cargo bench --bench lambda_memory   # quick smoke run
//! BENCH_MIN_SEVERITY=10 cargo bench --bench lambda_memory        # and publish the severity-10 alerts
//! BENCH_SIZES=none cargo bench --bench lambda_memory             # only the S3 path
//! ```
//!
//! It is a plain program (`harness = false`), not a timed test: it reports and does not assert
//! performance. It exits non-zero only when something fails to run or a count is wrong. It needs
//! `moto_server` and `cargo-lambda` (as the lambda bench: `tests/run` installs them into `.venv`),
//! and a writable cgroup `cpu` controller (v1 `cpu.cfs_quota_us` or v2 `cpu.max`; root).
//!
//! Lambda gives a function CPU in proportion to its memory: one vCPU's worth at 1,769 MB. A CFS
//! quota of `period x MB / 1769` on the function process stands in for each size (the process
//! still sees both cores, as a Lambda function does, but gets that share of one in total).
//!
//! 1. **Objects.** The throughput bench's synthetic export (`BENCH_FINDINGS`, default 500 000
//!    findings, 1.8 GB decompressed, 427 MB gzip'd; generated into `target/bench-data/` if
//!    missing) and a small one of `BENCH_SMALL_FINDINGS` (default 1 000), both put SSE-KMS into a
//!    moto bucket under GuardDuty's key layout.
//! 2. **The function.** The release binary through `cargo lambda watch --release` (the runtime
//!    emulator) with a rules file (`RULES_CONFIG`) that has no rules and suppresses by default:
//!    every finding is read, classified and decided, and none is delivered. This measures the
//!    reading, which is what grows with the object; alert delivery costs per alert, not per
//!    finding, and is the lambda bench's subject. `BENCH_MIN_SEVERITY=10` runs the function with
//!    `MIN_SEVERITY=10` instead: the 1.3 % of these findings at severity 10 alert and are
//!    published to a moto topic without subscribers (6,516 alerts in the large object), which
//!    on 2026-12-07 took more time and CPU than the reading (BENCHMARKS.md). Its process is found by a
//!    marker variable and moved into a cgroup of its own; nothing else is limited.
//! 3. **The S3 path.** Without a quota, `BENCH_ROUNDS` rounds (default 3), the order rotated:
//!    the large object through the function (its handler's `DurationMs`), the CLI on the same
//!    file on disk (`process --format json FILE > /dev/null`, the throughput bench's
//!    measurement), and moto's own `GetObject` of it (this process reads the body and drops it:
//!    the stand-in's speed, which bounds the function's). The ratios of the medians (function
//!    against the local file, target >= 0.8; function against moto alone), and the function's
//!    peak RSS (`VmHWM`, reset before each invocation). `BENCH_SIZES=none` runs only this part.
//! 4. **Memory sizes.** For 128, 256, 512, 1,024 and 1,769 MB (`BENCH_SIZES`), `BENCH_ROUNDS`
//!    invocations on each object: duration, CPU used in the cgroup, peak RSS, and the cost per
//!    million findings at the published arm64 and x86_64 prices per GB-second (billed duration
//!    rounded up to 1 ms, plus $0.20 per million requests). Then the default it suggests: of the
//!    sizes whose large object (the worst case) ends within half of the template's default
//!    timeout, the one where the small object (the typical export) costs least.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;
#[path = "common/emulator.rs"]
mod emulator;
#[path = "common/export_file.rs"]
mod export_file;
#[path = "common/findings.rs"]
mod findings;
#[path = "common/process.rs"]
mod process;

use common::{Summary, cpu_model, env_count};
use emulator::Watch;
use export_file::{ExportMeta, mb, prepare, warm_page_cache};
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Moto, create_export_bucket, create_kms_key, create_topic, put_export, s3_client, sdk_config,
};

/// The function's name in the emulator (the binary's name).
const FUNCTION: &str = "guardduty-alerts-lambda";
const CLI_BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BUCKET: &str = "guardduty-alerts-exports";
/// Limit for the first invocation of the session (it may compile the binary).
const FIRST_INVOKE_TIMEOUT: Duration = Duration::from_secs(900);
/// Memory sizes (MB) measured by default.
const SIZES: [u32; 5] = [128, 256, 512, 1024, 1769];
/// Memory at which Lambda gives a function one vCPU's worth of time.
const ONE_VCPU_MB: f64 = 1769.0;
/// CFS period of the quota.
const PERIOD_US: u64 = 100_000;
/// Published prices (US East (N. Virginia), first pricing tier): per GB-second and per request.
const ARM64_GB_SECOND: f64 = 0.000_013_333_4;
const X86_GB_SECOND: f64 = 0.000_016_666_7;
const PER_REQUEST: f64 = 0.000_000_2;
/// The template's default `Timeout` (template.yaml), in seconds.
const DEFAULT_TIMEOUT_S: f64 = 300.0;
/// Targets (issue 14).
const TARGET_S3_RATIO: f64 = 0.8;

fn main() {
    let big_findings = env_count("BENCH_FINDINGS", 500_000) as u64;
    let small_findings = env_count("BENCH_SMALL_FINDINGS", 1_000) as u64;
    let rounds = env_count("BENCH_ROUNDS", 3);
    let sizes: Vec<u32> = match env::var("BENCH_SIZES") {
        // `none`: only the S3 path.
        Ok(text) if text.trim().is_empty() || text.trim() == "none" => Vec::new(),
        Ok(text) => text
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("BENCH_SIZES: {s:?}: {e}"))
            })
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    let cpus = thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "machine : {cpus} CPUs available to this process{}",
        cpu_model()
    );
    let cgroup = CpuCgroup::create();
    println!("cgroup  : {}", cgroup.describe());

    let (big_path, big) = prepare(big_findings);
    let (small_path, small) = prepare(small_findings);
    println!("large   : {}", big.describe());
    println!("small   : {}", small.describe());

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let moto = runtime.block_on(Moto::start());
    let sdk = sdk_config(&moto.endpoint);
    let s3 = s3_client(&sdk);
    let mut keys = Vec::new();
    let (big_event, small_event) = runtime.block_on(async {
        let kms = aws_sdk_kms::Client::new(&sdk);
        let key_arn = create_kms_key(&kms).await;
        create_export_bucket(&s3, BUCKET, &key_arn).await;
        // The function's configuration names a topic; nothing is published to it (see 2.).
        let sns = aws_sdk_sns::Client::new(&sdk);
        create_topic(&sns, "alerts", false).await;
        let mut events = Vec::new();
        for (path, meta, name) in [(&big_path, &big, "large"), (&small_path, &small, "small")] {
            let key = format!(
                "AWSLogs/111122223333/GuardDuty/us-east-1/2026/12/07/bench-{name}-{}.jsonl.gz",
                meta.findings
            );
            let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            put_export(&s3, BUCKET, &key, &key_arn, bytes).await;
            events.push(s3_event(&key, meta.compressed_bytes));
            keys.push(key);
        }
        let small_event = events.pop().expect("two events");
        (events.pop().expect("two events"), small_event)
    });

    let marker = format!("GUARDDUTY_ALERTS_BENCH_MEMORY={}", std::process::id());
    let mut fn_env = moto.env();
    fn_env.push((
        "SNS_TOPIC_ARN",
        "arn:aws:sns:us-east-1:123456789012:alerts".to_owned(),
    ));
    let min_severity = env::var("BENCH_MIN_SEVERITY").ok();
    match &min_severity {
        // The findings at or above it alert and are published to the topic.
        Some(min) => fn_env.push(("MIN_SEVERITY", min.clone())),
        None => {
            let rules = big_path.with_file_name("suppress-all.toml");
            fs::write(&rules, "[settings]\ndefault = \"suppress\"\n")
                .unwrap_or_else(|e| panic!("{}: {e}", rules.display()));
            fn_env.push(("RULES_CONFIG", rules.display().to_string()));
        }
    }
    println!(
        "alerts  : {}",
        match &min_severity {
            Some(min) => format!(
                "MIN_SEVERITY={min} (BENCH_MIN_SEVERITY): findings at or above it are published to a moto SNS topic without subscribers"
            ),
            None => "none: a rules file with no rules suppresses every finding (set BENCH_MIN_SEVERITY to publish some)".to_owned(),
        }
    );
    let alerting = min_severity.is_some();
    fn_env.push((
        "GUARDDUTY_ALERTS_BENCH_MEMORY",
        std::process::id().to_string(),
    ));
    let watch = Watch::start("memory", &fn_env);
    // The first invocation builds if needed and starts the function process.
    let first = invoke(&watch, &small_event, &small, FIRST_INVOKE_TIMEOUT, alerting);
    println!(
        "started : first invocation {:.0} ms{}",
        first.round_trip.as_secs_f64() * 1e3,
        watch
            .build_line()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default()
    );
    let pid = support::process_with_env(&marker)
        .unwrap_or_else(|| panic!("no process with {marker} in its environment: the function"));
    cgroup.adopt(pid);
    println!("function: pid {pid}, moved into the cgroup");

    // 3. The S3 path against the local file, no quota.
    println!();
    println!(
        "S3 path: the large object through the function (moto, SSE-KMS) against the CLI on the same file on disk, {rounds} rounds alternating"
    );
    warm_page_cache(&big_path);
    cgroup.set_quota(None);
    let mut s3_runs = Vec::new();
    let mut local_runs = Vec::new();
    let mut moto_runs = Vec::new();
    for round in 0..rounds {
        for step in 0..3 {
            match (step + round) % 3 {
                0 => {
                    let r = invoke_measured(&watch, &big_event, &big, pid, alerting);
                    println!(
                        "  round {}/{rounds}  function via S3  {:>7.3} s  {:>7.1} MB/s  CPU {:>6.2} s  peak RSS {:>5.1} MB",
                        round + 1,
                        r.duration_s,
                        mb(big.decompressed_bytes) / r.duration_s,
                        r.cpu_s,
                        mb(r.peak_rss)
                    );
                    s3_runs.push(r);
                }
                1 => {
                    let secs = run_local(&big_path, &big);
                    println!(
                        "  round {}/{rounds}  CLI, local file  {secs:>7.3} s  {:>7.1} MB/s",
                        round + 1,
                        mb(big.decompressed_bytes) / secs,
                    );
                    local_runs.push(secs);
                }
                _ => {
                    let secs = runtime.block_on(moto_get(&s3, &keys[0], big.compressed_bytes));
                    println!(
                        "  round {}/{rounds}  moto GetObject   {secs:>7.3} s  {:>7.1} MB/s of gzip, body read and dropped (no decoding)",
                        round + 1,
                        mb(big.compressed_bytes) / secs,
                    );
                    moto_runs.push(secs);
                }
            }
        }
    }
    let s3_med = median(&s3_runs.iter().map(|r| r.duration_s).collect::<Vec<_>>());
    let local_med = median(&local_runs);
    let s3_rss = s3_runs.iter().map(|r| r.peak_rss).max().unwrap_or(0);
    let ratio = local_med / s3_med;
    let s3_line = format!(
        "S3 path / local file = {ratio:.3} ({local_med:.3} s / {s3_med:.3} s, medians; target >= {TARGET_S3_RATIO}): {}; function peak RSS {:.1} MB",
        if ratio >= TARGET_S3_RATIO {
            "MET"
        } else {
            "NOT MET"
        },
        mb(s3_rss)
    );
    println!("{s3_line}");
    let moto_med = median(&moto_runs);
    let moto_line = format!(
        "moto's GetObject alone (body read, no decoding): {moto_med:.3} s; the function takes {:.1}x that ({s3_med:.3} s, medians): {}",
        s3_med / moto_med,
        if moto_med * 2.0 <= s3_med {
            "the stand-in does not bound the S3 path"
        } else {
            "the stand-in bounds the S3 path: the ratio above is moto's"
        }
    );
    println!("{moto_line}");
    let s3_line = format!("{s3_line}\n{moto_line}");

    // 4. Memory sizes.
    let mut rows = Vec::new();
    for &size in &sizes {
        let quota = (PERIOD_US as f64 * f64::from(size) / ONE_VCPU_MB).round() as u64;
        cgroup.set_quota(Some(quota));
        println!();
        println!(
            "{size} MB: CPU quota {quota} us per {PERIOD_US} us ({:.3} vCPU)",
            quota as f64 / PERIOD_US as f64
        );
        for (name, event, meta) in [("small", &small_event, &small), ("large", &big_event, &big)] {
            let mut runs = Vec::new();
            for round in 0..rounds {
                let r = invoke_measured(&watch, event, meta, pid, alerting);
                println!(
                    "  {name:<5} round {}/{rounds}: {:>8.3} s  CPU {:>6.2} s  peak RSS {:>5.1} MB",
                    round + 1,
                    r.duration_s,
                    r.cpu_s,
                    mb(r.peak_rss)
                );
                runs.push(r);
            }
            rows.push(Row::of(size, name, meta, &runs));
        }
    }
    cgroup.set_quota(None);

    report(&rows, &s3_line, &small, &big);
    drop(watch);
    drop(moto);
}

// ---------------------------------------------------------------------------------------------
// Configuration used by the shared emulator harness
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// The cgroup
// ---------------------------------------------------------------------------------------------

/// A cgroup of this bench's own with the `cpu` controller, removed when dropped.
struct CpuCgroup {
    dir: PathBuf,
    v2: bool,
}

impl CpuCgroup {
    fn create() -> CpuCgroup {
        let name = format!("guardduty-alerts-bench-{}", std::process::id());
        let v2_root = Path::new("/sys/fs/cgroup");
        let (dir, v2) = if v2_root.join("cgroup.controllers").exists() {
            (v2_root.join(&name), true)
        } else {
            (v2_root.join("cpu").join(&name), false)
        };
        fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot create the cgroup {} ({e}): this bench limits the function's CPU with a \
                 cgroup's cpu controller, which needs root and a writable /sys/fs/cgroup",
                dir.display()
            )
        });
        CpuCgroup { dir, v2 }
    }

    fn describe(&self) -> String {
        format!(
            "{} (cgroup {})",
            self.dir.display(),
            if self.v2 {
                "v2, cpu.max"
            } else {
                "v1, cpu.cfs_quota_us"
            }
        )
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        fs::write(&path, value)
            .unwrap_or_else(|e| panic!("write {value:?} to {}: {e}", path.display()));
    }

    /// Moves every thread of `pid` into the cgroup.
    fn adopt(&self, pid: i32) {
        self.write("cgroup.procs", &pid.to_string());
    }

    /// The quota in microseconds per [`PERIOD_US`], or none.
    fn set_quota(&self, quota_us: Option<u64>) {
        if self.v2 {
            let q = quota_us.map_or("max".to_owned(), |q| q.to_string());
            self.write("cpu.max", &format!("{q} {PERIOD_US}"));
        } else {
            self.write("cpu.cfs_period_us", &PERIOD_US.to_string());
            self.write(
                "cpu.cfs_quota_us",
                &quota_us.map_or(-1, |q| q as i64).to_string(),
            );
        }
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        // Processes still inside keep it busy; the function is gone by now (the emulator's
        // process group is killed first), so this normally succeeds.
        let _ = fs::remove_dir(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Invocations
// ---------------------------------------------------------------------------------------------

/// An `ObjectCreated:Put` event for `key` (from `events/s3-put.json`, key and size replaced).
fn s3_event(key: &str, size: u64) -> Vec<u8> {
    let path = Path::new(REPO).join("events/s3-put.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut event: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let object = &mut event["Records"][0]["s3"]["object"];
    object["key"] = Value::from(key);
    object["size"] = Value::from(size);
    serde_json::to_vec(&event).expect("event JSON")
}

struct Invocation {
    round_trip: Duration,
}

/// Invokes the function on `event` and checks that the whole export was read.
fn invoke(
    watch: &Watch,
    event: &[u8],
    meta: &ExportMeta,
    limit: Duration,
    alerting: bool,
) -> Invocation {
    let (round_trip, response) = watch.invoke(event, limit);
    let count = |key: &str| response[key].as_u64();
    assert_eq!(
        (
            count("objects"),
            count("findings"),
            count("delivery_failures")
        ),
        (Some(1), Some(meta.findings), Some(0)),
        "the function did not read the whole export: {response}"
    );
    if alerting {
        assert_eq!(
            count("alerts"),
            count("alerts_sent"),
            "every alert sent: {response}"
        );
    } else {
        assert_eq!(
            count("alerts"),
            Some(0),
            "the rules file suppresses every finding: {response}"
        );
    }
    Invocation { round_trip }
}

/// One measured invocation.
struct Measured {
    /// The handler's own `DurationMs`, in seconds.
    duration_s: f64,
    /// CPU used by the function meanwhile.
    cpu_s: f64,
    /// Peak RSS during the invocation (`VmHWM`, reset before it).
    peak_rss: u64,
}

fn invoke_measured(
    watch: &Watch,
    event: &[u8],
    meta: &ExportMeta,
    pid: i32,
    alerting: bool,
) -> Measured {
    // Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let before = watch.handler_durations_ms().len();
    let cpu_before = process_cpu(pid).expect("the function process is running");
    invoke(watch, event, meta, FIRST_INVOKE_TIMEOUT, alerting);
    let cpu_after = process_cpu(pid).expect("the function process is running");
    let durations = watch.handler_durations_ms();
    assert_eq!(
        durations.len(),
        before + 1,
        "one EMF document per invocation"
    );
    Measured {
        duration_s: durations[before] / 1e3,
        cpu_s: cpu_after.saturating_sub(cpu_before).as_secs_f64(),
        peak_rss: vm_hwm(pid).unwrap_or(0),
    }
}

/// User + system CPU time of `pid` (all its threads), from /proc/PID/stat.
fn process_cpu(pid: i32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    Some(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
}

/// Peak RSS of `pid` in bytes (`VmHWM`).
fn vm_hwm(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The CLI on the file on disk, as the throughput bench runs it: wall seconds. (Its peak RSS is
/// the throughput bench's to report: here `ru_maxrss` would carry this process's own high-water
/// mark, which held the object to upload it, into the child at exec.)
fn run_local(path: &Path, meta: &ExportMeta) -> f64 {
    let mut command = Command::new(CLI_BIN);
    command
        .args(["process", "--format", "json"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let measured = process::measure(&mut command, CLI_BIN, true);
    if let Err(why) = measured.outcome {
        panic!(
            "{CLI_BIN} process {} failed: {why}\n{}",
            path.display(),
            measured.stderr
        );
    }
    let summary: Value = measured
        .stderr
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the CLI's JSON summary");
    assert_eq!(
        summary["findings"].as_u64(),
        Some(meta.findings),
        "the CLI read every finding"
    );
    measured.wall.as_secs_f64()
}

/// moto's own `GetObject` of `key`, the body read to the end and dropped: the most the S3 path
/// can do against this stand-in. Seconds.
async fn moto_get(s3: &aws_sdk_s3::Client, key: &str, expect: u64) -> f64 {
    let t = Instant::now();
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {key}: {e}"));
    let mut body = out.body;
    let mut n = 0u64;
    while let Some(chunk) = body.try_next().await.expect("GetObject body") {
        n += chunk.len() as u64;
    }
    assert_eq!(n, expect, "moto returned the whole object");
    t.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

fn median(values: &[f64]) -> f64 {
    Summary::of(values).expect("at least one run").median
}

/// One memory size and object: medians of its invocations, and what they cost.
struct Row {
    size_mb: u32,
    object: &'static str,
    findings: u64,
    duration_s: f64,
    max_duration_s: f64,
    cpu_s: f64,
    peak_rss: u64,
}

impl Row {
    fn of(size_mb: u32, object: &'static str, meta: &ExportMeta, runs: &[Measured]) -> Row {
        Row {
            size_mb,
            object,
            findings: meta.findings,
            duration_s: median(&runs.iter().map(|r| r.duration_s).collect::<Vec<_>>()),
            max_duration_s: runs.iter().map(|r| r.duration_s).fold(0.0, f64::max),
            cpu_s: median(&runs.iter().map(|r| r.cpu_s).collect::<Vec<_>>()),
            peak_rss: runs.iter().map(|r| r.peak_rss).max().unwrap_or(0),
        }
    }

    /// Dollars per million findings at `gb_second` dollars per GB-second.
    fn cost_per_million(&self, gb_second: f64) -> f64 {
        let billed_s = (self.duration_s * 1e3).ceil() / 1e3;
        let per_invocation = billed_s * f64::from(self.size_mb) / 1024.0 * gb_second + PER_REQUEST;
        per_invocation * 1e6 / self.findings as f64
    }
}

fn report(rows: &[Row], s3_line: &str, small: &ExportMeta, big: &ExportMeta) {
    println!();
    if rows.is_empty() {
        println!("{s3_line}");
        return;
    }
    println!(
        "| memory | CPU share | object | duration (median) | CPU | peak RSS | $ per million findings, arm64 | x86_64 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} MB | {:.3} vCPU | {} ({} findings) | {:.3} s | {:.2} s | {:.1} MB | ${:.5} | ${:.5} |",
            r.size_mb,
            f64::from(r.size_mb) / ONE_VCPU_MB,
            r.object,
            r.findings,
            r.duration_s,
            r.cpu_s,
            mb(r.peak_rss),
            r.cost_per_million(ARM64_GB_SECOND),
            r.cost_per_million(X86_GB_SECOND),
        );
    }
    println!();
    println!("small = {}; large = {}", small.describe(), big.describe());
    println!("{s3_line}");
    // The default: of the sizes whose large object (the worst case) ends within half of the
    // timeout, the one where the typical small export costs least; the large object's cost
    // breaks a tie.
    let large = |size: u32| {
        rows.iter()
            .find(|r| r.object == "large" && r.size_mb == size)
    };
    let fits: Vec<(&Row, &Row)> = rows
        .iter()
        .filter(|r| r.object == "small")
        .filter_map(|small| large(small.size_mb).map(|l| (small, l)))
        .filter(|(_, l)| l.max_duration_s * 2.0 <= DEFAULT_TIMEOUT_S)
        .collect();
    match fits.iter().min_by(|(s1, l1), (s2, l2)| {
        s1.cost_per_million(ARM64_GB_SECOND)
            .total_cmp(&s2.cost_per_million(ARM64_GB_SECOND))
            .then(
                l1.cost_per_million(ARM64_GB_SECOND)
                    .total_cmp(&l2.cost_per_million(ARM64_GB_SECOND)),
            )
    }) {
        Some((s, l)) => println!(
            "default: {} MB: of the sizes whose large object ends within half of the default timeout ({DEFAULT_TIMEOUT_S:.0} s), the one where the small export costs least (${:.5} per million findings on arm64; the large one ${:.5}, its slowest run {:.1} s)",
            s.size_mb,
            s.cost_per_million(ARM64_GB_SECOND),
            l.cost_per_million(ARM64_GB_SECOND),
            l.max_duration_s
        ),
        None => println!(
            "no size measured ends the large object within half of the default timeout ({DEFAULT_TIMEOUT_S:.0} s)"
        ),
    }
}
