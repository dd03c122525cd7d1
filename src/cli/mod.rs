//! The `guardduty-alerts` command line: run the pipeline on local exports, S3 objects and
//! stdin, check a rules file.

pub mod output;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use crate::app::resolve::DestinationsConfig;
use crate::app::resolve::RulesLocation;
use crate::app::{Settings, Wiring};
use crate::classify::MinSeverity;
use crate::cli::output::{JsonLines, Text};
use crate::decide::Sink;
use crate::decide::{Decide, Decider, Policy};
use crate::deliver::{Deliveries, Destination, DryRun};
use crate::export::ReaderOptions;
use crate::pipeline::{SourceError, Stats, process_source};
use crate::source::s3::S3Opener;
use crate::source::{LocalOpener, Opener, SourceRef};
use clap::{Parser, Subcommand, ValueEnum};
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

    /// Check a routing rules file (TOML, see docs/rules.md) and say what it does.
    ///
    /// Exit status: 0 when the file is valid (a one-paragraph summary on stdout, warnings on
    /// stderr); 2 when it is not (every error on stderr, with its rule, key and line).
    CheckConfig {
        /// The rules file.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
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

    /// Routing rules (TOML, see docs/rules.md): a path, s3://BUCKET/KEY or ssm:NAME. The rules
    /// decide every finding (the output names the deciding rule) and name the destinations
    /// used by --deliver and --dry-run.
    #[arg(long, value_name = "RULES", value_parser = RulesLocation::parse,
          conflicts_with_all = ["min_severity", "include_samples", "include_archived"])]
    config: Option<RulesLocation>,

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

    /// Also deliver the alerts to the destinations configured in the environment (or in the
    /// --config file), exactly as the Lambda function does (SNS_TOPIC_ARN, WEBHOOK_SECRET,
    /// SLACK_WEBHOOK_URL, … — see the README). Exit status 1 when a delivery failed.
    #[arg(long, conflicts_with = "dry_run")]
    deliver: bool,

    /// Send nothing: for each alert and configured destination, print (as one JSON line) the
    /// exact payload that would be sent, with webhook URLs, routing keys, signing secrets and
    /// header values shown as ***. Secrets are still fetched, to check that they resolve.
    /// With --config, each line names the deciding rule, digests are shown as they would be
    /// sent, and each suppressed finding gets a line with its rule and reason.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_min_severity(s: &str) -> Result<MinSeverity, String> {
    s.parse()
}

/// Runs the command line (the `guardduty-alerts` binary's `main`).
pub fn main() -> ExitCode {
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
        Command::CheckConfig { file } => crate::decide::rules::check_config(
            &file,
            &mut io::stdout().lock(),
            &mut io::stderr().lock(),
        ),
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
    let needs_s3 = args.sources.iter().any(|s| matches!(s, SourceRef::S3(_)));
    let delivering = args.deliver || args.dry_run;
    let dest_config = if delivering {
        match DestinationsConfig::from_lookup_with(|k| std::env::var(k).ok(), args.config.is_none())
        {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("guardduty-alerts: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    // The default credential chain and region; AWS_ENDPOINT_URL is honoured. (A rules file's
    // destinations may be SNS topics or secrets: with --config and delivery, AWS is set up.)
    let sdk = if needs_s3
        || args.config.as_ref().is_some_and(RulesLocation::needs_aws)
        || (delivering && args.config.is_some())
        || dest_config
            .as_ref()
            .is_some_and(DestinationsConfig::needs_aws)
    {
        Some(crate::app::aws::load_config().await)
    } else {
        None
    };
    let wiring = match Wiring::build(Settings {
        policy,
        rules: args.config.as_ref().map(|l| (l, "--config")),
        destinations: dest_config.as_ref(),
        sdk: sdk.as_ref(),
    })
    .await
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("guardduty-alerts: {e}");
            return ExitCode::from(2);
        }
    };
    for w in &wiring.warnings {
        eprintln!("warning: {w}");
    }
    let (decider, destinations) = (wiring.decider, wiring.destinations);
    let run = Run {
        args: &args,
        opts: &opts,
        decider: &decider,
        destinations: &destinations,
    };
    let outcome = match &sdk {
        Some(sdk) if needs_s3 => {
            run.with_opener(&S3Opener::new(crate::app::aws::s3_client(sdk)))
                .await
        }
        _ => run.with_opener(&LocalOpener).await,
    };
    let elapsed = started.elapsed();
    match args.format {
        Format::Json => eprintln!(
            "{}",
            outcome
                .stats
                .summary_json_with(elapsed, outcome.failed_alerts)
        ),
        Format::Text => eprintln!(
            "{}",
            human_summary(&outcome.stats, outcome.failed_alerts, elapsed)
        ),
    }
    if args.deliver {
        eprintln!(
            "delivered {} alert(s) and {} digest(s) to {} destination(s), {} failed",
            outcome.sent,
            outcome.digests,
            destinations.len(),
            outcome.undelivered
        );
    }
    if outcome.failed_sources == 0 && outcome.undelivered == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What a run did.
struct Outcome {
    stats: Stats,
    failed_sources: usize,
    sent: u64,
    digests: u64,
    undelivered: usize,
    /// Alerts not delivered (each finding once).
    failed_alerts: u64,
}

/// The settings of one `process` run.
struct Run<'a> {
    args: &'a ProcessArgs,
    opts: &'a ReaderOptions,
    decider: &'a Decider,
    destinations: &'a [Destination],
}

impl Run<'_> {
    async fn with_opener<P: Opener>(&self, opener: &P) -> Outcome {
        let stdout = BufWriter::with_capacity(256 * 1024, io::stdout());
        if self.args.dry_run {
            let mut out = match self.decider.rules() {
                None => DryRun::new(self.destinations, stdout),
                Some(rules) => DryRun::routed(self.destinations, rules, stdout),
            };
            return self.sources(opener, &mut out).await;
        }
        match self.args.format {
            Format::Json => self.deliver(opener, JsonLines::new(stdout)).await,
            Format::Text => self.deliver(opener, Text::new(stdout)).await,
        }
    }

    /// Prints alerts with `print`; with `--deliver`, also delivers them.
    async fn deliver<P: Opener, O: Sink + Send>(&self, opener: &P, print: O) -> Outcome {
        if !self.args.deliver {
            let mut print = print;
            return self.sources(opener, &mut print).await;
        }
        let deliveries = match self.decider.rules() {
            None => Deliveries::new(self.destinations, None),
            Some(rules) => Deliveries::routed(self.destinations, rules, None),
        };
        let mut both = (print, deliveries);
        let mut outcome = self.sources(opener, &mut both).await;
        for (_, report) in both.1.into_reports() {
            outcome.sent += report.sent;
            outcome.digests += report.digests_sent;
            outcome.undelivered += report.failed.len();
            outcome.failed_alerts += crate::deliver::failed_alerts(&report.failed);
            for u in &report.failed {
                error!(destination = %u.destination, finding_id = %u.finding_id, finding_type = %u.finding_type, reason = %u.reason, "alert not delivered");
            }
        }
        outcome
    }

    /// Processes every source in order; a failed source is reported and the others still run.
    async fn sources<P: Opener, O: Sink + Send>(&self, opener: &P, out: &mut O) -> Outcome {
        let mut stats = Stats::default();
        let mut failed_sources = 0;
        for src in &self.args.sources {
            if let Err(e) =
                process_source(src, opener, self.opts, self.decider, out, &mut stats).await
            {
                failed_sources += 1;
                if is_broken_pipe(&e) {
                    // The reader of our output went away (e.g. `| head`): stop quietly.
                    break;
                }
                error!(source = %src, "{e}");
            }
        }
        Outcome {
            stats,
            failed_sources,
            sent: 0,
            digests: 0,
            undelivered: 0,
            failed_alerts: 0,
        }
    }
}

fn is_broken_pipe(e: &SourceError) -> bool {
    use crate::export::ReadError;
    matches!(e, SourceError::Read { error: ReadError::Sink { source, .. }, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

fn human_summary(s: &Stats, failed_alerts: u64, elapsed: std::time::Duration) -> String {
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
    if failed_alerts > 0 {
        let _ = write!(out, " ({failed_alerts} of the alerts not delivered)");
    }
    if !crate::pipeline::Account::new(s, failed_alerts).balanced {
        let _ = write!(out, " [ACCOUNT DOES NOT BALANCE: a bug, please report it]");
    }
    let nonzero = |c: &crate::pipeline::Counts| {
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
