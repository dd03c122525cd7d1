//! The `guardduty-alerts` command line: run the pipeline on local exports, S3 objects and
//! stdin, check a rules file.

pub mod args;
pub mod backfill;
pub mod many;
pub mod output;
pub mod replay;
pub mod report;
pub mod size;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::app::aws::AwsOptions;
use crate::app::resolve::DestinationsConfig;
use crate::app::resolve::RulesLocation;
use crate::app::{Settings, Wiring};
use crate::cli::args::{Cli, Command, Format, Input, ProcessArgs};
use crate::cli::many::{Chunked, Plan, Ran, SharedOut, run_many};
use crate::cli::output::{JsonLines, Text};
use crate::cli::report::{error, warning};
use crate::decide::Sink;
use crate::decide::dedup::DedupSettings;
use crate::decide::{Decide, Decider, Policy};
use crate::deliver::{Deliveries, DeliveryReport, Destination, DryRun};
use crate::export::ReaderOptions;
use crate::pipeline::{DedupStage, Stats};
use crate::source::s3::S3Opener;
use crate::source::{LocalOpener, Opener};
use crate::state::DedupStore;
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
        Command::ReplayFailures(args) => {
            return block_on(replay::replay_failures(args));
        }
        Command::Backfill(args) => return block_on(backfill::backfill(args)),
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

/// Runs `f` on a multi-threaded runtime.
fn block_on(f: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            error(format_args!("cannot start the async runtime: {e}"));
            ExitCode::FAILURE
        }
    }
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
    let inputs: Vec<Input> = args
        .sources
        .iter()
        .cloned()
        .map(|i| if args.recursive { i.recursive() } else { i })
        .collect();
    let has_prefix = inputs.iter().any(|i| matches!(i, Input::Prefix { .. }));
    if !has_prefix
        && (args.choose.since.is_some()
            || args.choose.until.is_some()
            || args.choose.resume_after.is_some())
    {
        error(
            "--since, --until and --resume-after choose objects under a prefix: name one as s3://BUCKET/PREFIX/ (a trailing /) or add --recursive",
        );
        return ExitCode::from(2);
    }
    if let (Some(since), Some(until)) = (args.choose.since, args.choose.until)
        && since > until
    {
        error(format_args!(
            "--since {since} is after --until {until}: nothing to read"
        ));
        return ExitCode::from(2);
    }
    let needs_s3 = inputs.iter().any(Input::is_s3);
    let delivering = args.deliver || args.dry_run;
    // With --deliver, the dedup table the function uses (DEDUP_TABLE), unless --realert.
    let dedup_settings = if args.deliver && !args.realert {
        match DedupSettings::from_lookup(|k: &str| std::env::var(k).ok()) {
            Ok(d) => d,
            Err(e) => {
                error(format_args!("{}: {}", e.setting, e.problem));
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
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
        || dedup_settings.is_some()
        || args.config.as_ref().is_some_and(RulesLocation::needs_aws)
        || (delivering && args.config.is_some())
        || dest_config
            .as_ref()
            .is_some_and(DestinationsConfig::needs_aws)
    {
        match aws_config(&args.profile, &args.region).await {
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
    let dedup = match (&sdk, dedup_settings) {
        (Some(sdk), Some(settings)) => Some(DedupStore::new(
            crate::app::aws::dynamodb_client(sdk),
            settings,
        )),
        _ => None,
    };
    let s3 = sdk
        .as_ref()
        .filter(|_| needs_s3)
        .map(crate::app::aws::s3_client);
    let concurrency = args
        .concurrency
        .map_or(if has_prefix { 4 } else { 1 }, usize::from);
    let run = Run {
        args: &args,
        plan: Plan {
            inputs: &inputs,
            s3: s3.clone().filter(|_| has_prefix),
            selection: args.choose.selection(),
            concurrency,
            opts: &opts,
            progress: has_prefix && !args.quiet && io::stderr().is_terminal(),
        },
        decider: &decider,
        destinations: &destinations,
        color,
        dedup: dedup.as_ref(),
    };
    let outcome = match s3 {
        Some(client) => run.with_opener(&S3Opener::new(client), out).await,
        None => run.with_opener(&LocalOpener, out).await,
    };
    let elapsed = started.elapsed();
    // Under a prefix, the failed objects again, by name (their errors scrolled past), and where
    // to resume; then the summary, whose JSON form is the last line.
    let ran = &outcome.ran;
    if has_prefix && !ran.failures.is_empty() {
        eprintln!("{} source(s) failed:", ran.failures.len());
        for (name, _) in &ran.failures {
            eprintln!("  {}", output::terminal_safe(name));
        }
    }
    if has_prefix && (!ran.complete || ran.interrupted) {
        match &ran.resume_after {
            Some(key) => eprintln!(
                "{}: to continue after the last object read in full, run again with --resume-after {}",
                if ran.interrupted {
                    "interrupted"
                } else {
                    "stopped"
                },
                shell_quote(&output::terminal_safe(key))
            ),
            None => eprintln!(
                "stopped before the first listed object was read in full: run again as before"
            ),
        }
    }
    if outcome.dedup_errors > 0 {
        warning(format_args!(
            "{} alert(s) were sent without the dedup table, which failed (see above)",
            outcome.dedup_errors
        ));
    }
    match args.format {
        Format::Json => {
            let summary = ran.stats.summary_json_with(elapsed, outcome.failed_alerts);
            eprintln!("{}", with_listing(summary, ran, has_prefix));
        }
        Format::Text => {
            if has_prefix {
                eprintln!("{}", listing_summary(ran));
            }
            eprintln!(
                "{}",
                human_summary(&ran.stats, outcome.failed_alerts, elapsed)
            );
        }
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
    if outcome.ran.stats.sources_failed == 0
        && outcome.ran.failures.is_empty()
        && outcome.undelivered == 0
        && (!has_prefix || outcome.ran.complete)
    {
        ExitCode::SUCCESS
    } else if outcome.ran.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::FAILURE
    }
}

/// What a run did.
#[derive(Default)]
struct Outcome {
    ran: Ran,
    sent: u64,
    digests: u64,
    undelivered: usize,
    /// Alerts not delivered (each finding once).
    failed_alerts: u64,
    /// Alerts sent without the dedup table because it failed.
    dedup_errors: u64,
}

impl Outcome {
    fn of(ran: Ran) -> Outcome {
        Outcome {
            ran,
            ..Outcome::default()
        }
    }

    fn add(&mut self, reports: Vec<(String, DeliveryReport)>) {
        for (_, report) in reports {
            self.sent += report.sent;
            self.digests += report.digests_sent;
            self.undelivered += report.failed.len();
            self.failed_alerts += crate::deliver::failed_alerts(&report.failed);
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
    }
}

/// The settings of one `process` run.
struct Run<'a> {
    args: &'a ProcessArgs,
    plan: Plan<'a>,
    decider: &'a Decider,
    destinations: &'a [Destination],
    /// Whether the text output is coloured.
    color: bool,
    /// With --deliver: the dedup table (DEDUP_TABLE) in front of the destinations.
    dedup: Option<&'a DedupStore>,
}

impl Run<'_> {
    async fn with_opener<P: Opener>(&self, opener: &P, out: Out) -> Outcome {
        let shared: SharedOut<BufWriter<Out>> =
            Arc::new(Mutex::new(BufWriter::with_capacity(256 * 1024, out)));
        let w = || Chunked::new(shared.clone());
        let outcome = if self.args.dry_run {
            let dry = || match self.decider.rules() {
                None => DryRun::new(self.destinations, w()),
                Some(rules) => DryRun::routed(self.destinations, rules, w()),
            };
            Outcome::of(run_many(&self.plan, opener, self.decider, dry).await.1)
        } else {
            match self.args.format {
                Format::Json => self.deliver(opener, || JsonLines::new(w())).await,
                Format::Text => {
                    self.deliver(opener, || Text::colored(w(), self.color))
                        .await
                }
            }
        };
        let flushed = shared.lock().unwrap_or_else(|e| e.into_inner()).flush();
        if let Err(e) = flushed
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            error(format_args!("writing the output: {e}"));
        }
        outcome
    }

    /// Prints with `print`; with `--deliver`, also delivers (through the dedup table, when
    /// there is one).
    async fn deliver<P: Opener, O: Sink + Send>(
        &self,
        opener: &P,
        print: impl Fn() -> O,
    ) -> Outcome {
        if !self.args.deliver {
            return Outcome::of(run_many(&self.plan, opener, self.decider, print).await.1);
        }
        let deliveries = || match self.decider.rules() {
            None => Deliveries::new(self.destinations, None),
            Some(rules) => Deliveries::routed(self.destinations, rules, None),
        };
        let Some(store) = self.dedup else {
            let (outs, ran) =
                run_many(&self.plan, opener, self.decider, || (print(), deliveries())).await;
            let mut outcome = Outcome::of(ran);
            for (_, d) in outs {
                outcome.add(d.into_reports());
            }
            return outcome;
        };
        // Claims hold for 15 minutes (the function's longest timeout) from the start.
        let lease_until = crate::common::time::now_secs() + 900;
        let stage = || DedupStage::new(store, deliveries(), lease_until);
        let (outs, ran) = run_many(&self.plan, opener, self.decider, || (print(), stage())).await;
        let mut outcome = Outcome::of(ran);
        for (_, stage) in outs {
            outcome
                .ran
                .stats
                .deduplicate(&stage.deduplicated, stage.deduplicated_by_label);
            outcome.dedup_errors += stage.errors;
            outcome.add(stage.into_inner().into_reports());
        }
        outcome
    }
}

/// The JSON summary, with the listing's account when a prefix was read.
fn with_listing(summary: String, ran: &Ran, has_prefix: bool) -> String {
    if !has_prefix {
        return summary;
    }
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&summary) else {
        return summary;
    };
    v["objects_listed"] = ran.listed.into();
    v["objects_not_exports"] = ran.not_exports.into();
    v["objects_outside_days"] = ran.outside_days.into();
    v["failures"] = ran
        .failures
        .iter()
        .map(|(source, error)| serde_json::json!({ "source": source, "error": error }))
        .collect();
    v["complete"] = ran.complete.into();
    v["resume_after"] = ran.resume_after.clone().into();
    v.to_string()
}

/// The listing's account, for people.
fn listing_summary(ran: &Ran) -> String {
    format!(
        "listed {} export object(s) ({} other object(s) left out, {} outside the days){}",
        ran.listed,
        ran.not_exports,
        ran.outside_days,
        if ran.complete {
            ""
        } else {
            "; NOT every listed object was read"
        }
    )
}

/// `KEY` quoted for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=:@%+".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
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
async fn aws_config(
    profile: &Option<String>,
    region: &Option<String>,
) -> Result<aws_config::SdkConfig, String> {
    let options = AwsOptions {
        profile: profile.clone(),
        region: region.clone(),
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
