//! What the function costs at the memory sizes users pick, and the S3 path against a local file.
//!
//! Run it with
//!
//! ```text
//! cargo bench --bench lambda_memory                              # as recorded in BENCHMARKS.md
//! BENCH_FINDINGS=50000 BENCH_ROUNDS=1 cargo bench --bench lambda_memory   # quick smoke run
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
//!    emulator) with `MIN_SEVERITY=10`, so every finding is read, classified and decided and only
//!    the severity-10 ones (a few per cent) are published, to a topic without subscribers: this measures the reading, which is what grows with the object (alert
//!    delivery is the lambda bench's subject). Its process is found by a marker variable and
//!    moved into a cgroup of its own; nothing else is limited.
//! 3. **The S3 path.** Without a quota, `BENCH_ROUNDS` rounds (default 3) alternating the large
//!    object through the function (its handler's `DurationMs`) with the CLI on the same file on
//!    disk (`process --format json FILE > /dev/null`, the throughput bench's measurement); the
//!    ratio of the medians against the target (>= 0.8), and the function's peak RSS (`VmHWM`,
//!    reset before each invocation).
//! 4. **Memory sizes.** For 128, 256, 512, 1,024 and 1,769 MB (`BENCH_SIZES`), `BENCH_ROUNDS`
//!    invocations on each object: duration, CPU used in the cgroup, peak RSS, and the cost per
//!    million findings at the published arm64 and x86_64 prices per GB-second (billed duration
//!    rounded up to 1 ms, plus $0.20 per million requests). Then the cheapest size whose large
//!    object ends within half of the template's default timeout.

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
use std::time::Duration;

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
    let (big_event, small_event) = runtime.block_on(async {
        let sdk = sdk_config(&moto.endpoint);
        let s3 = s3_client(&sdk);
        let kms = aws_sdk_kms::Client::new(&sdk);
        let key_arn = create_kms_key(&kms).await;
        create_export_bucket(&s3, BUCKET, &key_arn).await;
        // Severity-10 findings alert even at MIN_SEVERITY=10: they are published to a topic
        // without subscribers (a few per cent of the findings).
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
    fn_env.push(("MIN_SEVERITY", "10".to_owned()));
    fn_env.push((
        "GUARDDUTY_ALERTS_BENCH_MEMORY",
        std::process::id().to_string(),
    ));
    let watch = Watch::start("memory", &fn_env);
    // The first invocation builds if needed and starts the function process.
    let first = invoke(&watch, &small_event, &small, FIRST_INVOKE_TIMEOUT);
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
    for round in 0..rounds {
        for s3_first in [round % 2 == 0, round % 2 != 0] {
            if s3_first {
                let r = invoke_measured(&watch, &big_event, &big, pid);
                println!(
                    "  round {}/{rounds}  function via S3  {:>7.3} s  {:>7.1} MB/s  CPU {:>6.2} s  peak RSS {:>5.1} MB",
                    round + 1,
                    r.duration_s,
                    mb(big.decompressed_bytes) / r.duration_s,
                    r.cpu_s,
                    mb(r.peak_rss)
                );
                s3_runs.push(r);
            } else {
                let (secs, rss) = run_local(&big_path, &big);
                println!(
                    "  round {}/{rounds}  CLI, local file  {secs:>7.3} s  {:>7.1} MB/s                peak RSS {:>5.1} MB",
                    round + 1,
                    mb(big.decompressed_bytes) / secs,
                    mb(rss)
                );
                local_runs.push(secs);
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
                let r = invoke_measured(&watch, event, meta, pid);
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
fn invoke(watch: &Watch, event: &[u8], meta: &ExportMeta, limit: Duration) -> Invocation {
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
    assert_eq!(
        count("alerts"),
        count("alerts_sent"),
        "every alert sent: {response}"
    );
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

fn invoke_measured(watch: &Watch, event: &[u8], meta: &ExportMeta, pid: i32) -> Measured {
    // Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let before = watch.handler_durations_ms().len();
    let cpu_before = process_cpu(pid).expect("the function process is running");
    invoke(watch, event, meta, FIRST_INVOKE_TIMEOUT);
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

/// The CLI on the file on disk, as the throughput bench runs it: wall seconds and peak RSS.
fn run_local(path: &Path, meta: &ExportMeta) -> (f64, u64) {
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
    (measured.wall.as_secs_f64(), measured.peak_rss)
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
    println!(
        "| memory | CPU share | object | duration (median) | CPU | peak RSS | $ per million findings, arm64 | x86_64 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} MB | {:.3} vCPU | {} ({} findings) | {:.3} s | {:.2} s | {:.1} MB | ${:.4} | ${:.4} |",
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
    let fits: Vec<&Row> = rows
        .iter()
        .filter(|r| r.object == "large" && r.max_duration_s * 2.0 <= DEFAULT_TIMEOUT_S)
        .collect();
    match fits.iter().min_by(|a, b| {
        a.cost_per_million(ARM64_GB_SECOND)
            .total_cmp(&b.cost_per_million(ARM64_GB_SECOND))
    }) {
        Some(r) => println!(
            "cheapest size whose large object ends within half of the default timeout ({DEFAULT_TIMEOUT_S:.0} s): {} MB (slowest run {:.1} s, ${:.4} per million findings on arm64)",
            r.size_mb,
            r.max_duration_s,
            r.cost_per_million(ARM64_GB_SECOND)
        ),
        None => println!(
            "no size measured ends the large object within half of the default timeout ({DEFAULT_TIMEOUT_S:.0} s)"
        ),
    }
}
