//! The `guardduty-alerts` command line: run the pipeline on local exports.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use guardduty_alerts::classify::MinSeverity;
use guardduty_alerts::decision::Policy;
use guardduty_alerts::export::ReaderOptions;
use guardduty_alerts::output::{JsonLines, Text};
use guardduty_alerts::pipeline::{Output, SourceError, Stats, process_source};
use guardduty_alerts::s3::S3Opener;
use guardduty_alerts::source::{LocalOpener, Opener, SourceRef};
use tracing::error;

/// Turn Amazon GuardDuty findings exports into alerts.
#[derive(Parser, Debug)]
#[command(name = "guardduty-alerts", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read exports (gzip'd or plain JSON Lines), classify each finding and print the alerts.
    ///
    /// Exit status: 0 when every source was read to its end (rejected lines are counted, not
    /// fatal); 1 when a source could not be opened or broke off part-way (its findings before
    /// the failure are still printed); 2 for a usage error.
    Process(ProcessArgs),
}

#[derive(clap::Args, Debug)]
struct ProcessArgs {
    /// Exports to read, in order: a file, `-` for standard input, or s3://BUCKET/KEY.
    #[arg(required = true, value_name = "SOURCE", value_parser = SourceRef::parse)]
    sources: Vec<SourceRef>,

    /// `text`: one short block per alert. `json`: one JSON object per finding read (alerts
    /// and suppressed), then a one-line JSON summary on stderr.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Alert on findings at or above this severity: a number (0-10) or low, medium, high,
    /// critical.
    #[arg(long, value_name = "N|LABEL", default_value = "medium", value_parser = parse_min_severity)]
    min_severity: MinSeverity,

    /// Let sample findings (made by CreateSampleFindings or the console) through.
    #[arg(long)]
    include_samples: bool,

    /// Let archived findings through.
    #[arg(long)]
    include_archived: bool,

    /// Longest line accepted, in bytes; longer lines are skipped and counted.
    #[arg(long, value_name = "BYTES", default_value_t = ReaderOptions::default().max_line_bytes)]
    max_line_bytes: usize,

    /// Most decompressed bytes read from one source (guards against decompression bombs).
    #[arg(long, value_name = "BYTES", default_value_t = ReaderOptions::default().max_decompressed_bytes)]
    max_decompressed_bytes: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_min_severity(s: &str) -> Result<MinSeverity, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("guardduty-alerts: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Process(args) => runtime.block_on(process(args)),
    }
}

fn init_logging() {
    // Logs go to stderr; RUST_LOG overrides the default level (warn).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn process(args: ProcessArgs) -> ExitCode {
    let opts = ReaderOptions {
        max_line_bytes: args.max_line_bytes,
        max_decompressed_bytes: args.max_decompressed_bytes,
    };
    let policy = Policy {
        min_severity: args.min_severity,
        include_samples: args.include_samples,
        include_archived: args.include_archived,
    };
    let started = Instant::now();
    let stdout = BufWriter::with_capacity(256 * 1024, io::stdout());
    let needs_s3 = args.sources.iter().any(|s| matches!(s, SourceRef::S3(_)));
    let (stats, failures) = if needs_s3 {
        // The default credential chain and region; AWS_ENDPOINT_URL is honoured.
        let sdk = guardduty_alerts::aws::load_config().await;
        let opener = S3Opener::new(guardduty_alerts::aws::s3_client(&sdk));
        run_with(&opener, &args, &opts, &policy, stdout).await
    } else {
        run_with(&LocalOpener, &args, &opts, &policy, stdout).await
    };
    let elapsed = started.elapsed();
    match args.format {
        Format::Json => eprintln!("{}", stats.summary_json(elapsed)),
        Format::Text => eprintln!("{}", human_summary(&stats, elapsed)),
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the sources with the chosen output format.
async fn run_with<P: Opener, W: Write + Send>(
    opener: &P,
    args: &ProcessArgs,
    opts: &ReaderOptions,
    policy: &Policy,
    stdout: W,
) -> (Stats, usize) {
    match args.format {
        Format::Json => run(opener, &args.sources, opts, policy, JsonLines::new(stdout)).await,
        Format::Text => run(opener, &args.sources, opts, policy, Text::new(stdout)).await,
    }
}

/// Processes every source in order; a failed source is reported and the others still run.
async fn run<P: Opener, O: Output>(
    opener: &P,
    sources: &[SourceRef],
    opts: &ReaderOptions,
    policy: &Policy,
    mut out: O,
) -> (Stats, usize) {
    let mut stats = Stats::default();
    let mut failures = 0;
    for src in sources {
        if let Err(e) = process_source(src, opener, opts, policy, &mut out, &mut stats).await {
            failures += 1;
            if is_broken_pipe(&e) {
                // The reader of our output went away (e.g. `| head`): stop quietly.
                break;
            }
            error!(source = %src, "{e}");
        }
    }
    (stats, failures)
}

fn is_broken_pipe(e: &SourceError) -> bool {
    use guardduty_alerts::export::ReadError;
    matches!(e, SourceError::Read { error: ReadError::Sink { source, .. }, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

fn human_summary(s: &Stats, elapsed: std::time::Duration) -> String {
    let mut out = Vec::new();
    let _ = write!(
        out,
        "{} source(s), {} failed: {} findings, {} alerts, {} suppressed",
        s.sources,
        s.sources_failed,
        s.findings,
        s.alerts,
        s.suppressed.total()
    );
    let nonzero = |c: &guardduty_alerts::pipeline::Counts| {
        c.0.iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if s.suppressed.total() > 0 {
        let _ = write!(out, " ({})", nonzero(&s.suppressed));
    }
    let _ = write!(out, ", {} rejected lines", s.rejected.total());
    if s.rejected.total() > 0 {
        let _ = write!(out, " ({})", nonzero(&s.rejected));
    }
    let _ = write!(out, " in {:.2}s", elapsed.as_secs_f64());
    String::from_utf8_lossy(&out).into_owned()
}
