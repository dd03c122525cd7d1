//! End-to-end throughput benchmark: `guardduty-alerts process` against `zcat`.
//!
//! Run it with
//!
//! ```text
//! cargo bench --bench throughput
//! BENCH_FINDINGS=20000 BENCH_ROUNDS=3 cargo bench --bench throughput     # quick smoke run
//! BENCH_EXTRA_ARGS="--some-flag value" cargo bench --bench throughput    # compare options
//! ```
//!
//! It is a plain program (`harness = false`), not a timed test: it reports and does not assert
//! performance. It exits non-zero only when a run fails or our binary's counts are wrong.
//!
//! What it does:
//!
//! 1. **Input.** Generates a synthetic GuardDuty findings export (gzip'd JSON Lines) at
//!    `$CARGO_TARGET_DIR/bench-data/export-{N}.jsonl.gz` (default target dir: `target/` next to
//!    `Cargo.toml`), N = `BENCH_FINDINGS` (default 500 000, about 1.8 GB decompressed). Findings
//!    rotate through 13 templates (EC2 port probe / network connection / DNS, access-key API calls,
//!    S3 bucket, EKS audit log, container runtime, ECS, RDS login, Lambda, attack sequence) with
//!    varied ids, accounts, regions, severities, counts, timestamps and addresses; a fixed seed
//!    makes the file reproducible. A new gzip member starts every 50 000 findings, so the reader's
//!    multi-member path is exercised. Generation streams; a sidecar `export-{N}.meta` records the
//!    counts so later runs reuse the file instead of regenerating it.
//! 2. **Runs.** `BENCH_ROUNDS` rounds (default 5), alternating which tool goes first, of
//!    `zcat FILE > /dev/null` (the decompress-only floor every reader pays) and
//!    `guardduty-alerts process --format json FILE [BENCH_EXTRA_ARGS…] > /dev/null`. Each run is
//!    timed from spawn to reap, and its peak RSS is read from `wait4(2)` for that child alone.
//!    Our binary's last stderr line must be a JSON summary whose `findings` equals N and whose
//!    `decompressed_bytes` equals the generated size.
//! 3. **Report.** Median and minimum wall time, decompressed MB/s and findings/s (on the median),
//!    median peak RSS, the speed-up over `zcat`, and whether the targets hold: at least
//!    2.4x faster than `zcat` and at most 32 MB peak RSS (MB = 10^6 bytes throughout).

#[path = "common/mod.rs"]
mod common;
#[path = "common/findings.rs"]
mod findings;
#[path = "common/process.rs"]
mod process;
use common::{cpu_model, env_number};
use findings::Generator;
use process::measure;
use std::env;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

/// Path of the binary under test; Cargo builds it for bench targets.
const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");
/// Findings per gzip member.
const MEMBER_FINDINGS: u64 = 50_000;
/// Bump when the generator's output changes, so stale files are regenerated.
const GENERATOR_VERSION: u32 = 2;
/// Seed of the generator's PRNG: the same N always gives the same file.
const SEED: u64 = 0x6775_6172_6464_7574;
/// Speed-up over `zcat` the product aims for.
const TARGET_SPEEDUP: f64 = 2.4;
/// Peak RSS the product aims to stay under, in bytes.
const TARGET_RSS_BYTES: f64 = 32e6;

fn main() {
    let findings = env_number::<u64>("BENCH_FINDINGS", 500_000);
    let rounds = env_number::<u64>("BENCH_ROUNDS", 5);
    assert!(findings > 0, "BENCH_FINDINGS must be at least 1");
    assert!(rounds > 0, "BENCH_ROUNDS must be at least 1");
    let extra_args: Vec<String> = env::var("BENCH_EXTRA_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();

    let data_dir = target_dir().join("bench-data");
    fs::create_dir_all(&data_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
    let export = data_dir.join(format!("export-{findings}.jsonl.gz"));
    let meta_path = data_dir.join(format!("export-{findings}.meta"));

    let meta = match ExportMeta::load_matching(&meta_path, &export, findings) {
        Some(meta) => {
            println!("reusing {} ({})", export.display(), meta.describe());
            meta
        }
        None => {
            println!("generating {} ({findings} findings)…", export.display());
            let meta = generate(&export, findings);
            meta.store(&meta_path);
            println!(
                "generated in {:.1} s ({})",
                meta.generation_seconds,
                meta.describe()
            );
            meta
        }
    };

    let cpus = thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!();
    println!(
        "machine : {cpus} CPUs available to this process{}",
        cpu_model()
    );
    println!("input   : {} ({})", export.display(), meta.describe());
    println!("zcat    : zcat FILE > /dev/null");
    println!(
        "ours    : {BIN} process --format json FILE{}{} > /dev/null",
        if extra_args.is_empty() { "" } else { " " },
        extra_args.join(" ")
    );
    println!("rounds  : {rounds}, alternating which tool runs first");
    println!();

    warm_page_cache(&export);

    let mut zcat_runs = Vec::new();
    let mut our_runs = Vec::new();
    for round in 1..=rounds {
        let ours_first = round % 2 == 0;
        for ours in [ours_first, !ours_first] {
            if ours {
                let run = run_ours(&export, &extra_args);
                check_summary(&run, &meta);
                print_run(round, rounds, "guardduty-alerts", &run, &meta);
                our_runs.push(run);
            } else {
                let run = run_zcat(&export);
                print_run(round, rounds, "zcat", &run, &meta);
                zcat_runs.push(run);
            }
        }
    }

    report(&zcat_runs, &our_runs, &meta);
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `target/` next to `Cargo.toml`.
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
}

// ---------------------------------------------------------------------------------------------
// The generated export and its sidecar
// ---------------------------------------------------------------------------------------------

/// What is known about a generated export; stored as `key=value` lines in `export-{N}.meta`.
#[derive(Debug, Clone, PartialEq)]
struct ExportMeta {
    generator: u32,
    findings: u64,
    members: u64,
    compressed_bytes: u64,
    decompressed_bytes: u64,
    generation_seconds: f64,
}

impl ExportMeta {
    /// The sidecar at `path`, if it describes `export` as the current generator would write it
    /// for `findings` findings (and the file is still there with the recorded size).
    fn load_matching(path: &Path, export: &Path, findings: u64) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        let meta = Self::parse(&text)?;
        let on_disk = fs::metadata(export).ok()?.len();
        let current = meta.generator == GENERATOR_VERSION
            && meta.findings == findings
            && meta.compressed_bytes == on_disk;
        if !current {
            println!("{} is stale; regenerating", path.display());
        }
        current.then_some(meta)
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
        };
        Some(Self {
            generator: field("generator")?.parse().ok()?,
            findings: field("findings")?.parse().ok()?,
            members: field("members")?.parse().ok()?,
            compressed_bytes: field("compressed_bytes")?.parse().ok()?,
            decompressed_bytes: field("decompressed_bytes")?.parse().ok()?,
            generation_seconds: field("generation_seconds")?.parse().ok()?,
        })
    }

    fn store(&self, path: &Path) {
        let text = format!(
            "generator={}\nfindings={}\nmembers={}\ncompressed_bytes={}\ndecompressed_bytes={}\n\
             generation_seconds={:.3}\n",
            self.generator,
            self.findings,
            self.members,
            self.compressed_bytes,
            self.decompressed_bytes,
            self.generation_seconds,
        );
        fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    fn describe(&self) -> String {
        format!(
            "{} findings, {:.1} MB gzip in {} member{}, {:.1} MB decompressed, {:.0} bytes/finding",
            self.findings,
            mb(self.compressed_bytes),
            self.members,
            if self.members == 1 { "" } else { "s" },
            mb(self.decompressed_bytes),
            self.decompressed_bytes as f64 / self.findings as f64,
        )
    }
}

/// Writes `findings` synthetic findings to `path` (via a temporary file, renamed at the end).
/// Streams: only one line is ever held in memory.
fn generate(path: &Path, findings: u64) -> ExportMeta {
    let started = Instant::now();
    let tmp = path.with_extension("gz.partial");
    let file = must(File::create(&tmp), "creating", &tmp);
    let mut out = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        Compression::default(),
    );
    let mut generator = Generator::new(SEED);
    let mut line = Vec::with_capacity(16 * 1024);
    let mut decompressed_bytes = 0u64;
    let mut members = 1u64;
    for n in 0..findings {
        if n > 0 && n % MEMBER_FINDINGS == 0 {
            let inner = must(out.finish(), "writing", &tmp);
            out = GzEncoder::new(inner, Compression::default());
            members += 1;
        }
        line.clear();
        generator.finding(n, &mut line);
        must(out.write_all(&line), "writing", &tmp);
        decompressed_bytes += line.len() as u64;
    }
    let buffered = must(out.finish(), "writing", &tmp);
    let file = must(
        buffered
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error),
        "writing",
        &tmp,
    );
    must(file.sync_all(), "syncing", &tmp);
    drop(file);
    must(fs::rename(&tmp, path), "renaming", &tmp);
    let compressed_bytes = must(fs::metadata(path), "reading the size of", path).len();

    ExportMeta {
        generator: GENERATOR_VERSION,
        findings,
        members,
        compressed_bytes,
        decompressed_bytes,
        generation_seconds: started.elapsed().as_secs_f64(),
    }
}

/// The value of `result`, or a panic saying what failed on which file.
fn must<T>(result: std::io::Result<T>, doing: &str, path: &Path) -> T {
    result.unwrap_or_else(|e| panic!("{doing} {} failed: {e}", path.display()))
}

/// Reads the export once so that neither tool pays for the first read from disk.
fn warm_page_cache(path: &Path) {
    let mut file =
        File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut buf = vec![0u8; 1 << 20];
    while file
        .read(&mut buf)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        > 0
    {}
}

// ---------------------------------------------------------------------------------------------
// Running the tools
// ---------------------------------------------------------------------------------------------

/// One measured run of a child process.
struct Run {
    wall: Duration,
    /// Peak resident set size of the child, in bytes.
    peak_rss: u64,
    /// Our binary's summary line (absent for `zcat`).
    summary: Option<Summary>,
}

/// The one-line JSON summary our binary prints last on stderr.
struct Summary {
    findings: u64,
    alerts: u64,
    decompressed_bytes: u64,
    elapsed_ms: f64,
}

fn run_zcat(export: &Path) -> Run {
    let mut command = Command::new("zcat");
    command
        .arg(export)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let measured = measure(&mut command, "zcat", false);
    if let Err(why) = measured.outcome {
        panic!("zcat {} failed: {why}", export.display());
    }
    Run {
        wall: measured.wall,
        peak_rss: measured.peak_rss,
        summary: None,
    }
}

fn run_ours(export: &Path, extra_args: &[String]) -> Run {
    let mut command = Command::new(BIN);
    command
        .args(["process", "--format", "json"])
        .arg(export)
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let measured = measure(&mut command, BIN, true);
    if let Err(why) = measured.outcome {
        panic!(
            "{BIN} process --format json {} {} failed: {why}\nlast stderr output:\n{}",
            export.display(),
            extra_args.join(" "),
            measured.stderr
        );
    }
    Run {
        wall: measured.wall,
        peak_rss: measured.peak_rss,
        summary: Some(parse_summary(&measured.stderr)),
    }
}

/// The summary on the last non-blank line of our binary's stderr.
fn parse_summary(stderr: &str) -> Summary {
    let line = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_else(|| panic!("{BIN} printed nothing on stderr; expected a JSON summary line"));
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("the last stderr line of {BIN} is not a JSON summary ({e}):\n{line}")
    });
    let field = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("the JSON summary of {BIN} has no numeric `{key}`:\n{line}"))
    };
    let whole = |key: &str| {
        value.get(key).and_then(Value::as_u64).unwrap_or_else(|| {
            panic!("the JSON summary of {BIN} has no whole-number `{key}`:\n{line}")
        })
    };
    Summary {
        findings: whole("findings"),
        alerts: whole("alerts"),
        decompressed_bytes: whole("decompressed_bytes"),
        elapsed_ms: field("elapsed_ms"),
    }
}

/// Panics unless our binary saw exactly the export that was generated.
fn check_summary(run: &Run, meta: &ExportMeta) {
    let summary = run.summary.as_ref().expect("our runs carry a summary");
    assert_eq!(
        summary.findings, meta.findings,
        "{BIN} reported {} findings, but the export holds {}",
        summary.findings, meta.findings
    );
    assert_eq!(
        summary.decompressed_bytes, meta.decompressed_bytes,
        "{BIN} reported {} decompressed bytes, but the export decompresses to {}",
        summary.decompressed_bytes, meta.decompressed_bytes
    );
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/// Bytes to MB (10^6 bytes).
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn median(values: &[f64]) -> f64 {
    common::Summary::of(values)
        .expect("at least one run")
        .median
}

fn print_run(round: u64, rounds: u64, tool: &str, run: &Run, meta: &ExportMeta) {
    let secs = run.wall.as_secs_f64();
    let mut line = format!(
        "round {round}/{rounds}  {tool:<17} {secs:>8.3} s  {:>8.1} MB/s  peak RSS {:>7.1} MB",
        mb(meta.decompressed_bytes) / secs,
        mb(run.peak_rss),
    );
    if let Some(summary) = &run.summary {
        let _ = write!(
            line,
            "  ({} alerts, {:.0} ms by its own clock)",
            summary.alerts, summary.elapsed_ms
        );
    }
    println!("{line}");
}

/// Median and best wall time, throughput and median peak RSS of one tool.
struct Stats {
    median_s: f64,
    min_s: f64,
    median_rss: f64,
    max_rss: f64,
}

impl Stats {
    fn of(runs: &[Run]) -> Self {
        let secs: Vec<f64> = runs.iter().map(|run| run.wall.as_secs_f64()).collect();
        let rss: Vec<f64> = runs.iter().map(|run| run.peak_rss as f64).collect();
        Self {
            median_s: median(&secs),
            min_s: secs.iter().copied().fold(f64::INFINITY, f64::min),
            median_rss: median(&rss),
            max_rss: rss.iter().copied().fold(0.0, f64::max),
        }
    }
}

fn report(zcat_runs: &[Run], our_runs: &[Run], meta: &ExportMeta) {
    let zcat = Stats::of(zcat_runs);
    let ours = Stats::of(our_runs);
    let decompressed_mb = mb(meta.decompressed_bytes);
    let findings = meta.findings as f64;

    println!();
    println!(
        "{:<18} {:>10} {:>9} {:>13} {:>14} {:>15}",
        "tool", "median s", "min s", "MB/s (med)", "findings/s", "peak RSS MB"
    );
    for (tool, stats) in [("zcat", &zcat), ("guardduty-alerts", &ours)] {
        println!(
            "{tool:<18} {:>10.3} {:>9.3} {:>13.1} {:>14.0} {:>15.1}",
            stats.median_s,
            stats.min_s,
            decompressed_mb / stats.median_s,
            findings / stats.median_s,
            stats.median_rss / 1e6,
        );
    }

    let speedup = zcat.median_s / ours.median_s;
    let verdict = |met: bool| if met { "MET" } else { "NOT MET" };
    println!();
    println!(
        "guardduty-alerts is {speedup:.2}x faster than zcat (median wall time; target >= {TARGET_SPEEDUP}x): {}",
        verdict(speedup >= TARGET_SPEEDUP)
    );
    println!(
        "guardduty-alerts peak RSS {:.1} MB (highest of {} runs; target <= {:.0} MB): {}",
        ours.max_rss / 1e6,
        our_runs.len(),
        TARGET_RSS_BYTES / 1e6,
        verdict(ours.max_rss <= TARGET_RSS_BYTES)
    );
    println!(
        "(N = {} findings, {:.1} MB decompressed; {} CPUs available)",
        meta.findings,
        decompressed_mb,
        thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
}
