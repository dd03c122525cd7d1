//! The `guardduty-alerts` command line: run the pipeline on local exports, S3 objects and
//! stdin, check a rules file.

pub mod args;
pub mod output;
pub mod report;
pub mod size;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use crate::app::aws::AwsOptions;
use crate::app::resolve::DestinationsConfig;
use crate::app::resolve::RulesLocation;
use crate::app::{Settings, Wiring};
use crate::cli::args::{Cli, Command, Format, ProcessArgs};
use crate::cli::output::{JsonLines, Text};
use crate::cli::report::{error, warning};
use crate::decide::Sink;
use crate::decide::{Decide, Decider, Policy};
use crate::deliver::{Deliveries, Destination, DryRun};
use crate::export::ReaderOptions;
use crate::pipeline::{SourceError, Stats, process_source};
use crate::source::s3::S3Opener;
use crate::source::{LocalOpener, Opener, SourceRef};
use clap::{CommandFactory, Parser};

/// Runs the command line (the `guardduty-alerts` binary's `main`).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    report::init_logging();
    let args = match cli.command {
        Command::Process(args) => args,
        Command::CheckConfig { file } => {
            return crate::decide::rules::check_config(
                &file,
                &mut io::stdout().lock(),
                &mut io::stderr().lock(),
            );
        }
        Command::Completions { shell } => return completions(shell),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error(format_args!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(process(args))
}

/// Prints the completion script of `shell` on stdout.
fn completions(shell: args::Shell) -> ExitCode {
    match io::stdout()
        .lock()
        .write_all(completion_script(shell).as_bytes())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            error(format_args!("standard output: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// The completion script of `shell`. clap_complete's bash script for a name with a hyphen
/// never completes past the subcommand (clap-rs/clap#6421: its dispatch loop and its case
/// labels escape the hyphen differently), so bash's is made for `guardduty_alerts` and then
/// registered for `guardduty-alerts`.
fn completion_script(shell: args::Shell) -> String {
    const NAME: &str = "guardduty-alerts";
    let generated_as = match shell {
        args::Shell::Bash => "guardduty_alerts",
        _ => NAME,
    };
    let mut out = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::from(shell),
        &mut Cli::command(),
        generated_as,
        &mut out,
    );
    let script = String::from_utf8_lossy(&out).into_owned();
    match shell {
        args::Shell::Bash => script.replace(
            &format!(" -o default {generated_as}\n"),
            &format!(" -o default {NAME}\n"),
        ),
        _ => script,
    }
}

async fn process(args: ProcessArgs) -> ExitCode {
    let opts = ReaderOptions {
        max_line_bytes: usize::try_from(args.max_line_bytes.0).unwrap_or(usize::MAX),
        max_decompressed_bytes: args.max_decompressed_bytes.0,
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
                error(format_args!("{}: {}", e.setting, e.problem));
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    // The default credential chain and region, or --profile and --region over them;
    // AWS_ENDPOINT_URL is honoured. (A rules file's destinations may be SNS topics or secrets:
    // with --config and delivery, AWS is set up.)
    let sdk = if needs_s3
        || args.config.as_ref().is_some_and(RulesLocation::needs_aws)
        || (delivering && args.config.is_some())
        || dest_config
            .as_ref()
            .is_some_and(DestinationsConfig::needs_aws)
    {
        match aws_config(&args).await {
            Ok(sdk) => Some(sdk),
            Err(e) => {
                error(e);
                return ExitCode::from(2);
            }
        }
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
            error(format_args!("{}: {}", e.setting, e.problem));
            return ExitCode::from(2);
        }
    };
    for w in &wiring.warnings {
        warning(w);
    }
    let (decider, destinations) = (wiring.decider, wiring.destinations);
    let (out, color) = match Out::open(&args) {
        Ok(o) => o,
        Err(e) => {
            error(e);
            return ExitCode::from(2);
        }
    };
    let run = Run {
        args: &args,
        opts: &opts,
        decider: &decider,
        destinations: &destinations,
        color,
    };
    let outcome = match &sdk {
        Some(sdk) if needs_s3 => {
            run.with_opener(&S3Opener::new(crate::app::aws::s3_client(sdk)), out)
                .await
        }
        _ => run.with_opener(&LocalOpener, out).await,
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
    /// Whether the text output is coloured.
    color: bool,
}

impl Run<'_> {
    async fn with_opener<P: Opener>(&self, opener: &P, out: Out) -> Outcome {
        let stdout = BufWriter::with_capacity(256 * 1024, out);
        if self.args.dry_run {
            let mut out = match self.decider.rules() {
                None => DryRun::new(self.destinations, stdout),
                Some(rules) => DryRun::routed(self.destinations, rules, stdout),
            };
            return self.sources(opener, &mut out).await;
        }
        match self.args.format {
            Format::Json => self.deliver(opener, JsonLines::new(stdout)).await,
            Format::Text => {
                self.deliver(opener, Text::colored(stdout, self.color))
                    .await
            }
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
                error(format_args!(
                    "{}: alert not delivered: finding {} ({}): {}",
                    u.destination,
                    output::terminal_safe(&u.finding_id.to_string()),
                    output::terminal_safe(&u.finding_type.to_string()),
                    output::terminal_safe(&u.reason.to_string())
                ));
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
                error(output::terminal_safe(&e.to_string()));
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

/// Where standard output's output goes: standard output, or the `--output` file.
enum Out {
    Stdout(io::Stdout),
    File(File),
}

impl Out {
    /// Standard output, or `--output FILE` created or truncated (`-`: standard output); and
    /// whether the text output is coloured (`--color`, NO_COLOR, whether it is a terminal).
    fn open(args: &ProcessArgs) -> Result<(Out, bool), String> {
        let out = match args.output.as_deref() {
            Some(path) if path != std::path::Path::new("-") => match File::create(path) {
                Ok(f) => Out::File(f),
                Err(e) => {
                    return Err(format!(
                        "{}: cannot create the --output file ({e})",
                        path.display()
                    ));
                }
            },
            _ => Out::Stdout(io::stdout()),
        };
        let is_terminal = match &out {
            Out::Stdout(s) => s.is_terminal(),
            Out::File(f) => f.is_terminal(),
        };
        let color = args.format == Format::Text
            && !args.dry_run
            && args
                .color
                .enabled(is_terminal, std::env::var_os("NO_COLOR").as_deref());
        Ok((out, color))
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Stdout(s) => s.write(buf),
            Out::File(f) => f.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::Stdout(s) => s.write_all(buf),
            Out::File(f) => f.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stdout(s) => s.flush(),
            Out::File(f) => f.flush(),
        }
    }
}

/// The SDK configuration with `--profile` and `--region` over the environment. With a profile
/// (from `--profile` or AWS_PROFILE), its credentials are got once here, so that a profile
/// that cannot give any is one error that names it.
async fn aws_config(args: &ProcessArgs) -> Result<aws_config::SdkConfig, String> {
    let options = AwsOptions {
        profile: args.profile.clone(),
        region: args.region.clone(),
    };
    let sdk = crate::app::aws::load_config_with(&options).await;
    let profile = options.profile.or_else(|| {
        std::env::var("AWS_PROFILE")
            .ok()
            .filter(|p| !p.trim().is_empty())
    });
    let Some(profile) = profile else {
        return Ok(sdk);
    };
    crate::app::aws::resolve_credentials(sdk)
        .await
        .map_err(|e| {
            let profile = output::terminal_safe(&profile);
            format!(
                "profile {profile}: cannot get AWS credentials: {}; check the profile in \
                 ~/.aws/config (or AWS_CONFIG_FILE), and for an IAM Identity Center profile \
                 log in again: aws sso login --profile {profile}",
                output::terminal_safe(&e)
            )
        })
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
