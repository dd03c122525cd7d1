//! End-to-end throughput benchmark: `guardduty-alerts process` against the physical floor (a
//! bare streaming gunzip that writes nothing) and against `zcat`.
//!
//! Run it with
//!
//! ```text
//! cargo bench --bench throughput                                          # 500k and 50k, 7 rounds
//! BENCH_FINDINGS=20000 BENCH_ROUNDS=3 cargo bench --bench throughput      # quick smoke run
//! BENCH_TOOLS=floor,ours cargo bench --bench throughput                   # only these tools
//! BENCH_EXTRA_ARGS="--some-flag value" cargo bench --bench throughput     # compare options
//! ```
//!
//! It is a plain program (`harness = false`), not a timed test: it reports and does not assert
//! performance. It exits non-zero only when a run fails or a tool's counts are wrong.
//!
//! What it does:
//!
//! 1. **Input.** For each N in `BENCH_FINDINGS` (comma-separated; default `500000,50000`),
//!    generates a synthetic GuardDuty findings export (gzip'd JSON Lines) at
//!    `$CARGO_TARGET_DIR/bench-data/export-{N}.jsonl.gz` (default target dir: `target/` next to
//!    `Cargo.toml`); 500 000 findings are about 1.8 GB decompressed. Findings rotate through 13
//!    templates (EC2 port probe / network connection / DNS, access-key API calls, S3 bucket, EKS
//!    audit log, container runtime, ECS, RDS login, Lambda, attack sequence) with varied ids,
//!    accounts, regions, severities, counts, timestamps and addresses; a fixed seed makes the file
//!    reproducible. A new gzip member starts every 50 000 findings, so the reader's multi-member
//!    path is exercised. Generation streams; a sidecar `export-{N}.meta` records the counts so
//!    later runs reuse the file instead of regenerating it.
//! 2. **Runs.** `BENCH_ROUNDS` rounds (default 7); in each, every tool of `BENCH_TOOLS` once, the
//!    order rotated by one each round:
//!    - `floor`: [`floor::gunzip`] in a child process (this executable started again with
//!      `GUARDDUTY_ALERTS_BENCH_FLOOR_FILE=FILE`): flate2 with zlib-rs, `MultiGzDecoder`, 256 KiB
//!      reads, newlines counted, nothing written;
//!    - `ours`: `guardduty-alerts process --format json FILE [BENCH_EXTRA_ARGS…] > /dev/null`;
//!    - `rules`: the same with `--config examples/rules.toml`;
//!    - `zcat`: `zcat FILE > /dev/null`.
//!
//!    Each run is timed from spawn to reap; its CPU time and peak RSS come from `wait4(2)` for
//!    that child alone. Our binary's last stderr line must be a JSON summary whose `findings`
//!    equals N and whose `decompressed_bytes` equals the generated size; the floor must count
//!    the same bytes and N newlines.
//! 3. **Report.** Per export: median and minimum wall time, MB/s and findings/s (on the median),
//!    median CPU time, highest peak RSS; then the targets: floor / ours >= 0.95, floor / ours with
//!    the rules >= 0.9, at least 2.4x faster than `zcat`, at most 32 MB peak RSS (MB = 10^6
//!    bytes throughout). A summary of every verdict ends the output.

#[path = "common/mod.rs"]
mod common;
#[path = "common/export_file.rs"]
mod export_file;
#[path = "common/findings.rs"]
mod findings;
#[path = "common/floor.rs"]
mod floor;
#[path = "common/process.rs"]
mod process;
use common::{cpu_model, env_number};
use export_file::{ExportMeta, mb, prepare, warm_page_cache};
use process::measure;
use std::env;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// Path of the binary under test; Cargo builds it for bench targets.
const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");
/// Speed-up over `zcat` the product aims for.
const TARGET_SPEEDUP: f64 = 2.4;
/// Floor time over our time (issue 14).
const TARGET_FLOOR_RATIO: f64 = 0.95;
/// The same with the example rules.
const TARGET_RULES_RATIO: f64 = 0.9;
/// Peak RSS the product aims to stay under, in bytes.
const TARGET_RSS_BYTES: f64 = 32e6;

fn main() {
    // The floor program: this same executable, started again with the file to gunzip.
    if let Some(path) = env::var_os(FLOOR_CHILD_ENV) {
        let counted = floor::gunzip(Path::new(&path))
            .unwrap_or_else(|e| panic!("floor: gunzip {} failed: {e}", Path::new(&path).display()));
        eprintln!(
            "{{\"bytes\":{},\"newlines\":{}}}",
            counted.bytes, counted.newlines
        );
        return;
    }
    let sizes = env_list::<u64>("BENCH_FINDINGS", &[500_000, 50_000]);
    let rounds = env_number::<u64>("BENCH_ROUNDS", 7);
    assert!(
        sizes.iter().all(|&n| n > 0),
        "BENCH_FINDINGS must be at least 1"
    );
    assert!(rounds > 0, "BENCH_ROUNDS must be at least 1");
    let extra_args: Vec<String> = env::var("BENCH_EXTRA_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let tools = Tool::from_env();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules.toml");

    let cpus = thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "machine : {cpus} CPUs available to this process{}",
        cpu_model()
    );
    println!(
        "floor   : flate2 (zlib-rs) MultiGzDecoder, 128 KiB input buffer, 256 KiB reads, newlines counted, nothing written (benches/common/floor.rs)"
    );
    println!(
        "ours    : {BIN} process --format json FILE{}{} > /dev/null",
        if extra_args.is_empty() { "" } else { " " },
        extra_args.join(" ")
    );
    println!("rules   : the same with --config {}", rules.display());
    println!("zcat    : zcat FILE > /dev/null");
    println!(
        "tools   : {} (BENCH_TOOLS); rounds: {rounds}, the order rotated each round",
        tools
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut verdicts = Vec::new();
    for &findings in &sizes {
        let (export, meta) = prepare(findings);
        println!();
        println!("input   : {} ({})", export.display(), meta.describe());
        warm_page_cache(&export);
        let mut runs: Vec<Vec<Run>> = tools.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for k in 0..tools.len() {
                let i = (k + round as usize) % tools.len();
                let tool = tools[i];
                let run = match tool {
                    Tool::Floor => run_floor(&export),
                    Tool::Zcat => run_zcat(&export),
                    Tool::Ours => run_ours(&export, &extra_args),
                    Tool::Rules => {
                        let mut args = vec!["--config".to_owned(), rules.display().to_string()];
                        args.extend(extra_args.iter().cloned());
                        run_ours(&export, &args)
                    }
                };
                check_counts(tool, &run, &meta);
                print_run(round + 1, rounds, tool.name(), &run, &meta);
                runs[i].push(run);
            }
        }
        verdicts.extend(report(&tools, &runs, &meta));
    }
    println!();
    println!("summary ({} CPUs available):", cpus);
    for line in &verdicts {
        println!("  {line}");
    }
}

/// The environment variable that makes this executable the floor program.
const FLOOR_CHILD_ENV: &str = "GUARDDUTY_ALERTS_BENCH_FLOOR_FILE";

/// One of the programs the bench runs on the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// The bare gunzip ([`floor::gunzip`]).
    Floor,
    /// `process --format json`.
    Ours,
    /// `process --format json --config examples/rules.toml`.
    Rules,
    /// `zcat`.
    Zcat,
}

impl Tool {
    const ALL: [Tool; 4] = [Tool::Floor, Tool::Ours, Tool::Rules, Tool::Zcat];

    fn name(self) -> &'static str {
        match self {
            Tool::Floor => "floor",
            Tool::Ours => "ours",
            Tool::Rules => "ours+rules",
            Tool::Zcat => "zcat",
        }
    }

    /// `BENCH_TOOLS` (comma-separated names; default all four).
    fn from_env() -> Vec<Tool> {
        let Ok(text) = env::var("BENCH_TOOLS") else {
            return Self::ALL.to_vec();
        };
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|name| {
                Self::ALL
                    .into_iter()
                    .find(|t| t.name() == name || (name == "rules" && *t == Tool::Rules))
                    .unwrap_or_else(|| {
                        panic!("BENCH_TOOLS: unknown tool {name:?} (floor, ours, rules, zcat)")
                    })
            })
            .collect()
    }
}

/// A comma-separated list of numbers from the environment, or `default`.
fn env_list<T>(name: &str, default: &[T]) -> Vec<T>
where
    T: std::str::FromStr + Clone,
    T::Err: std::fmt::Display,
{
    match env::var(name) {
        Ok(text) => {
            text.split(',')
                .map(|part| {
                    part.trim().replace('_', "").parse().unwrap_or_else(|e| {
                        panic!("{name}={text:?}: {part:?} is not a number: {e}")
                    })
                })
                .collect()
        }
        Err(_) => default.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Running the tools
// ---------------------------------------------------------------------------------------------

/// One measured run of a child process.
struct Run {
    wall: Duration,
    /// CPU time (user + system) of the child.
    cpu: Duration,
    /// Peak resident set size of the child, in bytes.
    peak_rss: u64,
    /// Our binary's summary line (absent for `zcat` and the floor).
    summary: Option<Summary>,
    /// What the floor counted.
    floor: Option<floor::Counted>,
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
        cpu: measured.cpu,
        peak_rss: measured.peak_rss,
        summary: None,
        floor: None,
    }
}

fn run_floor(export: &Path) -> Run {
    let me = env::current_exe().expect("the path of this bench executable");
    let mut command = Command::new(&me);
    command
        .env(FLOOR_CHILD_ENV, export)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let measured = measure(&mut command, "the floor program", true);
    if let Err(why) = measured.outcome {
        panic!(
            "the floor program on {} failed: {why}\n{}",
            export.display(),
            measured.stderr
        );
    }
    let line = measured.stderr.lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the floor program printed {line:?}, not its counts: {e}"));
    let count = |key: &str| value[key].as_u64().expect("the floor's counts are numbers");
    Run {
        wall: measured.wall,
        cpu: measured.cpu,
        peak_rss: measured.peak_rss,
        summary: None,
        floor: Some(floor::Counted {
            bytes: count("bytes"),
            newlines: count("newlines"),
        }),
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
        cpu: measured.cpu,
        peak_rss: measured.peak_rss,
        summary: Some(parse_summary(&measured.stderr)),
        floor: None,
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

/// Panics unless the run saw exactly the export that was generated: our binary every finding
/// and every byte, the floor every byte and one newline per finding.
fn check_counts(tool: Tool, run: &Run, meta: &ExportMeta) {
    if let Some(summary) = &run.summary {
        assert_eq!(
            summary.findings,
            meta.findings,
            "{} reported {} findings, but the export holds {}",
            tool.name(),
            summary.findings,
            meta.findings
        );
        assert_eq!(
            summary.decompressed_bytes,
            meta.decompressed_bytes,
            "{} reported {} decompressed bytes, but the export decompresses to {}",
            tool.name(),
            summary.decompressed_bytes,
            meta.decompressed_bytes
        );
    }
    if let Some(counted) = run.floor {
        assert_eq!(
            (counted.bytes, counted.newlines),
            (meta.decompressed_bytes, meta.findings),
            "the floor counted (bytes, newlines) = {counted:?}, but the export holds {} bytes in {} lines",
            meta.decompressed_bytes,
            meta.findings
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

fn median(values: &[f64]) -> f64 {
    common::Summary::of(values)
        .expect("at least one run")
        .median
}

fn print_run(round: u64, rounds: u64, tool: &str, run: &Run, meta: &ExportMeta) {
    let secs = run.wall.as_secs_f64();
    let mut line = format!(
        "round {round}/{rounds}  {tool:<11} {secs:>8.3} s  {:>7.1} MB/s  CPU {:>6.2} s  peak RSS {:>6.1} MB",
        mb(meta.decompressed_bytes) / secs,
        run.cpu.as_secs_f64(),
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

/// Median and best wall time, median CPU time and peak RSS of one tool.
struct Stats {
    median_s: f64,
    min_s: f64,
    median_cpu_s: f64,
    max_rss: f64,
}

impl Stats {
    fn of(runs: &[Run]) -> Self {
        let secs: Vec<f64> = runs.iter().map(|run| run.wall.as_secs_f64()).collect();
        let cpu: Vec<f64> = runs.iter().map(|run| run.cpu.as_secs_f64()).collect();
        Self {
            median_s: median(&secs),
            min_s: secs.iter().copied().fold(f64::INFINITY, f64::min),
            median_cpu_s: median(&cpu),
            max_rss: runs
                .iter()
                .map(|run| run.peak_rss as f64)
                .fold(0.0, f64::max),
        }
    }
}

/// Prints the table for one export and returns its verdict lines.
fn report(tools: &[Tool], runs: &[Vec<Run>], meta: &ExportMeta) -> Vec<String> {
    let decompressed_mb = mb(meta.decompressed_bytes);
    let findings = meta.findings as f64;
    let stats: Vec<Stats> = runs.iter().map(|r| Stats::of(r)).collect();
    let of = |tool: Tool| tools.iter().position(|t| *t == tool).map(|i| &stats[i]);

    println!();
    println!(
        "{:<12} {:>9} {:>8} {:>11} {:>12} {:>10} {:>13}",
        "tool", "median s", "min s", "MB/s (med)", "findings/s", "CPU s", "peak RSS MB"
    );
    for (tool, s) in tools.iter().zip(&stats) {
        println!(
            "{:<12} {:>9.3} {:>8.3} {:>11.1} {:>12.0} {:>10.2} {:>13.1}",
            tool.name(),
            s.median_s,
            s.min_s,
            decompressed_mb / s.median_s,
            findings / s.median_s,
            s.median_cpu_s,
            s.max_rss / 1e6,
        );
    }

    let verdict = |met: bool| if met { "MET" } else { "NOT MET" };
    let n = meta.findings;
    let mut lines = Vec::new();
    if let Some(floor) = of(Tool::Floor) {
        for (tool, target) in [
            (Tool::Ours, TARGET_FLOOR_RATIO),
            (Tool::Rules, TARGET_RULES_RATIO),
        ] {
            if let Some(s) = of(tool) {
                let ratio = floor.median_s / s.median_s;
                lines.push(format!(
                    "N = {n}: floor / {} = {ratio:.3} ({:.3} s / {:.3} s, medians; target >= {target}): {}",
                    tool.name(),
                    floor.median_s,
                    s.median_s,
                    verdict(ratio >= target)
                ));
            }
        }
    }
    if let (Some(zcat), Some(ours)) = (of(Tool::Zcat), of(Tool::Ours)) {
        let speedup = zcat.median_s / ours.median_s;
        lines.push(format!(
            "N = {n}: ours is {speedup:.2}x faster than zcat (target >= {TARGET_SPEEDUP}x): {}",
            verdict(speedup >= TARGET_SPEEDUP)
        ));
    }
    for tool in [Tool::Ours, Tool::Rules] {
        if let Some(s) = of(tool) {
            lines.push(format!(
                "N = {n}: {} peak RSS {:.1} MB (highest of {} runs; target <= {:.0} MB): {}",
                tool.name(),
                s.max_rss / 1e6,
                runs[0].len(),
                TARGET_RSS_BYTES / 1e6,
                verdict(s.max_rss <= TARGET_RSS_BYTES)
            ));
        }
    }
    for line in &lines {
        println!("{line}");
    }
    lines
}
