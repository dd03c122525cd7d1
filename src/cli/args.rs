//! The command line's grammar: subcommands, options, their help and their parsers.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::resolve::RulesLocation;
use crate::classify::MinSeverity;
use crate::cli::size::ByteSize;
use crate::export::ReaderOptions;
use crate::source::SourceRef;
use crate::source::listing::Day;

/// Turn Amazon GuardDuty findings exports into alerts.
#[derive(Parser, Debug)]
#[command(name = "guardduty-alerts", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read exports (gzip'd or plain JSON Lines), classify each finding and print the alerts.
    ///
    /// Exit status: 0 when every source was read to its end (rejected lines are counted, not
    /// fatal); 1 when a source could not be opened or broke off part-way (its findings before
    /// the failure are still printed) or a delivery failed; 2 for a usage or setup error (bad
    /// option, rules file, destination, AWS credentials, an --output file that cannot be
    /// created).
    #[command(after_long_help = PROCESS_EXAMPLES)]
    Process(ProcessArgs),

    /// Check a routing rules file (TOML, see docs/rules.md) and say what it does.
    ///
    /// Exit status: 0 when the file is valid (a one-paragraph summary on stdout, warnings on
    /// stderr); 2 when it is not (every error on stderr, with its rule, key and line).
    CheckConfig {
        /// The rules file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },

    /// Run again the invocations that failed: the records in the function's failure queue.
    ///
    /// Reads the SQS queue the function's failed asynchronous invocations go to (the stack's
    /// FailureQueueUrl): Lambda's on-failure records (the original event in requestPayload) and
    /// EventBridge's undeliverable events. Each event goes through the same handler as in the
    /// function, configured from the environment as the function is (SNS_TOPIC_ARN,
    /// DEDUP_TABLE, RULES_CONFIG, ...); with the function's dedup table, alerts delivered
    /// before are not sent again. A message is deleted only after its event succeeded; the
    /// others stay in the queue (visible again at once).
    ///
    /// Exit status: 0 when every message was replayed (or, with --dry-run, read); 1 when one
    /// failed or could not be understood (it stays in the queue); 2 for a usage or setup error.
    ReplayFailures(ReplayArgs),

    /// Write the S3 Batch Operations manifest of the exports under a prefix, and optionally
    /// create the job that runs the deployed function on each of them.
    ///
    /// The manifest is a CSV of Bucket,Key lines (keys URL-encoded), written as the listing
    /// goes. With --create-job, a LambdaInvoke job (invocation schema 2.0, user argument
    /// realert) reads it and writes a completion report with each object's result; its id is
    /// printed on stdout.
    ///
    /// Exit status: 0 when the manifest (and the job) was made; 1 when listing, writing or
    /// CreateJob failed; 2 for a usage or setup error.
    Backfill(BackfillArgs),

    /// Print a shell completion script on stdout.
    ///
    /// bash: guardduty-alerts completions bash >
    /// ~/.local/share/bash-completion/completions/guardduty-alerts
    ///
    /// zsh: guardduty-alerts completions zsh > ~/.zfunc/_guardduty-alerts (with fpath+=~/.zfunc
    /// before compinit in ~/.zshrc)
    ///
    /// fish: guardduty-alerts completions fish >
    /// ~/.config/fish/completions/guardduty-alerts.fish
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// The end of `process --help`. Each line is under 80 columns, so none wraps on a terminal of
/// that width.
const PROCESS_EXAMPLES: &str = "\
Examples:
  # The alerts at High and above in a day's exports
  guardduty-alerts process --min-severity high exports/*.jsonl.gz

  # Every finding as JSON with the rule that decided it
  guardduty-alerts process --config rules.toml --format json x.jsonl.gz \\
    | jq '{id, rule, decision, reason}'

  # What would be sent to the destinations, sending nothing
  guardduty-alerts process --config rules.toml --dry-run x.jsonl.gz

  # An object in S3, with an IAM Identity Center (SSO) profile
  aws sso login --profile security-audit
  guardduty-alerts process --profile security-audit --region eu-west-1 \\
    s3://exports/AWSLogs/111122223333/GuardDuty/eu-west-1/2026/11/26/x.jsonl.gz

  # Larger lines allowed, alerts saved to a file
  guardduty-alerts process --max-line-bytes 4MiB --output alerts.txt x.jsonl.gz";

/// The options of `process`.
#[derive(clap::Args, Debug)]
pub struct ProcessArgs {
    /// Exports to read, in order: a file, `-` for standard input, s3://BUCKET/KEY, or every
    /// export under s3://BUCKET/PREFIX/ (a trailing `/`; s3://BUCKET/ for the whole bucket).
    #[arg(required = true, value_name = "SOURCE", value_parser = Input::parse)]
    pub sources: Vec<Input>,

    /// Take every s3://BUCKET/KEY source as a prefix, as if it ended in `/`.
    #[arg(long, short = 'r')]
    pub recursive: bool,

    /// Which objects under a prefix.
    #[command(flatten)]
    pub choose: Choose,

    /// Objects read at once (1-64). Default: 4 when a prefix is read, else 1 (sources in
    /// order, one output). Above 1, each object's records stay together but objects
    /// interleave, and each reader has its own deliveries (digests, as in the function, per
    /// object or reader).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,

    /// No progress bar (it is shown only when stderr is a terminal and a prefix is read).
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// With --deliver and a dedup table (DEDUP_TABLE, as the function's): alert again what
    /// the table says was alerted. Without it, a replay sends only what was never sent.
    #[arg(long, requires = "deliver")]
    pub realert: bool,

    /// `text`: one short block per alert. `json`: one JSON object per finding read (alerts
    /// and suppressed), then a one-line JSON summary on stderr.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write what would go to standard output (alerts, JSON records or dry-run lines) to FILE
    /// instead, created or truncated (`-`: standard output). The summary stays on stderr.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Colour the text output by severity: `auto` when the output is a terminal and NO_COLOR
    /// is unset or empty, `always` (even with NO_COLOR), `never`.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Routing rules (TOML, see docs/rules.md): a path, s3://BUCKET/KEY or ssm:NAME. The rules
    /// decide every finding (the output names the deciding rule) and name the destinations
    /// used by --deliver and --dry-run.
    #[arg(long, value_name = "RULES", value_parser = RulesLocation::parse,
          conflicts_with_all = ["min_severity", "include_samples", "include_archived"])]
    pub config: Option<RulesLocation>,

    /// Alert on findings at or above this severity: a number (0-10) or low, medium, high,
    /// critical.
    #[arg(long, value_name = "N|LABEL", default_value = "medium", value_parser = parse_min_severity)]
    pub min_severity: MinSeverity,

    /// Let sample findings (made by CreateSampleFindings or the console) through.
    #[arg(long)]
    pub include_samples: bool,

    /// Let archived findings through.
    #[arg(long)]
    pub include_archived: bool,

    /// Longest line accepted; longer lines are skipped and counted. Bytes, or with a unit:
    /// KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000), e.g. 4MiB.
    #[arg(long, value_name = "SIZE",
          default_value_t = ByteSize(ReaderOptions::default().max_line_bytes as u64))]
    pub max_line_bytes: ByteSize,

    /// Most decompressed bytes read from one source (guards against decompression bombs),
    /// with a unit as for --max-line-bytes.
    #[arg(long, value_name = "SIZE",
          default_value_t = ByteSize(ReaderOptions::default().max_decompressed_bytes))]
    pub max_decompressed_bytes: ByteSize,

    /// The AWS profile (~/.aws/config) for S3 sources, ssm: and s3:// rules and AWS
    /// destinations, as with the AWS CLI: it overrides AWS_PROFILE, and its credentials are
    /// used even when AWS_ACCESS_KEY_ID is set. IAM Identity Center (SSO) profiles, after `aws
    /// sso login`, and credential_process profiles work.
    #[arg(long, value_name = "NAME", value_parser = parse_profile)]
    pub profile: Option<String>,

    /// The AWS Region, overriding AWS_REGION, AWS_DEFAULT_REGION and the profile's region.
    #[arg(long, value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,

    /// Also deliver the alerts to the destinations configured in the environment (or in the
    /// --config file), exactly as the Lambda function does (SNS_TOPIC_ARN, WEBHOOK_SECRET,
    /// SLACK_WEBHOOK_URL, … — see the README). Exit status 1 when a delivery failed.
    #[arg(long, conflicts_with = "dry_run")]
    pub deliver: bool,

    /// Send nothing: for each alert and configured destination, print (as one JSON line) the
    /// exact payload that would be sent, with webhook URLs, routing keys, signing secrets and
    /// header values shown as ***. Secrets are still fetched, to check that they resolve.
    /// With --config, each line names the deciding rule, digests are shown as they would be
    /// sent, and each suppressed finding gets a line with its rule and reason.
    #[arg(long)]
    pub dry_run: bool,
}

/// The options of `replay-failures`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The failure queue's URL (the stack's output FailureQueueUrl).
    #[arg(value_name = "QUEUE_URL")]
    pub queue_url: String,

    /// Replay nothing and delete nothing: list each message, what failed and what its event
    /// names.
    #[arg(long)]
    pub dry_run: bool,

    /// The AWS profile, as for `process`.
    #[arg(long, value_name = "NAME", value_parser = parse_profile)]
    pub profile: Option<String>,

    /// The AWS Region, as for `process`.
    #[arg(long, value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,
}

/// Which objects under a prefix (`process`, `backfill`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Choose {
    /// With a prefix: only exports of this day or later (YYYY-MM-DD, UTC): the day in the
    /// export's key (AWSLogs/…/YYYY/MM/DD/), or, for a key without one, of its LastModified.
    #[arg(long, value_name = "DAY", value_parser = Day::parse)]
    pub since: Option<Day>,

    /// With a prefix: only exports of this day or earlier (YYYY-MM-DD, UTC, inclusive).
    #[arg(long, value_name = "DAY", value_parser = Day::parse)]
    pub until: Option<Day>,

    /// With a prefix: start after this key (S3's order), to continue an interrupted run; an
    /// interrupted or failed run prints the key to give here.
    #[arg(long, value_name = "KEY")]
    pub resume_after: Option<String>,
}

impl Choose {
    /// As the listing's selection.
    pub fn selection(&self) -> crate::source::listing::Selection {
        crate::source::listing::Selection {
            since: self.since,
            until: self.until,
            resume_after: self.resume_after.clone(),
        }
    }
}

/// The options of `backfill`.
#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    /// The exports: s3://BUCKET/PREFIX/ (a trailing / is assumed).
    #[arg(value_name = "S3_PREFIX")]
    pub prefix: String,

    /// Which objects under a prefix.
    #[command(flatten)]
    pub choose: Choose,

    /// Where the manifest goes: a local path, or s3://BUCKET/KEY (needed for --create-job;
    /// with the template's role, under guardduty-alerts/backfill/ in BatchOperationsBucket).
    #[arg(long, value_name = "PATH|S3_URI")]
    pub manifest: String,

    /// Also create the Batch Operations job (s3control:CreateJob, no confirmation needed).
    #[arg(long, requires_all = ["function_arn", "role_arn", "report"])]
    pub create_job: bool,

    /// The function the job invokes (the stack's function ARN).
    #[arg(long, value_name = "ARN")]
    pub function_arn: Option<String>,

    /// The role the job runs as (the stack's output BatchOperationsRoleArn).
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,

    /// Where the completion report goes: s3://BUCKET/PREFIX.
    #[arg(long, value_name = "S3_URI")]
    pub report: Option<String>,

    /// The job alerts again what the dedup table says was alerted (user argument realert).
    #[arg(long)]
    pub realert: bool,

    /// The AWS profile, as for `process`.
    #[arg(long, value_name = "NAME", value_parser = parse_profile)]
    pub profile: Option<String>,

    /// The AWS Region, as for `process`.
    #[arg(long, value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,
}

/// One SOURCE argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file, stdin or one S3 object.
    One(SourceRef),
    /// Every export under `s3://bucket/prefix`.
    Prefix {
        /// The bucket.
        bucket: String,
        /// The key prefix (may be empty: the whole bucket).
        prefix: String,
    },
}

impl Input {
    /// `s3://BUCKET/PREFIX/` (or `s3://BUCKET/`) is a prefix; anything else is a
    /// [`SourceRef`].
    pub fn parse(arg: &str) -> Result<Input, String> {
        if let Some(rest) = arg.strip_prefix("s3://")
            && let Some((bucket, prefix)) = rest.split_once('/')
            && !bucket.is_empty()
            && (prefix.is_empty() || prefix.ends_with('/'))
        {
            return Ok(Input::Prefix {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        SourceRef::parse(arg).map(Input::One)
    }

    /// With `--recursive`, an S3 object is read as a prefix.
    pub fn recursive(self) -> Input {
        match self {
            Input::One(SourceRef::S3(o)) => Input::Prefix {
                bucket: o.bucket,
                prefix: o.key,
            },
            other => other,
        }
    }

    /// Whether it names S3.
    pub fn is_s3(&self) -> bool {
        matches!(self, Input::Prefix { .. } | Input::One(SourceRef::S3(_)))
    }
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One short block per alert.
    Text,
    /// One JSON object per finding.
    Json,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when the output is a terminal and NO_COLOR is unset or empty.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour, given whether the output is a terminal and the value of NO_COLOR
    /// (<https://no-color.org>: set and not empty turns colour off).
    pub fn enabled(self, is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// The shells `completions` writes a script for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU Bash (with bash-completion).
    Bash,
    /// The Z shell.
    Zsh,
    /// The friendly interactive shell.
    Fish,
}

impl From<Shell> for clap_complete::Shell {
    fn from(s: Shell) -> Self {
        match s {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

fn parse_min_severity(s: &str) -> Result<MinSeverity, String> {
    s.parse()
}

fn parse_region(s: &str) -> Result<String, String> {
    if crate::common::names::is_region(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not a Region name such as us-east-1"))
    }
}

fn parse_profile(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Err(format!(
            "{s:?} is not a profile name (a name from ~/.aws/config, without spaces)"
        ))
    } else {
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_choice_the_terminal_and_no_color() {
        let set = Some(std::ffi::OsStr::new("1"));
        let empty = Some(std::ffi::OsStr::new(""));
        for (choice, tty, no_color, want) in [
            (ColorChoice::Auto, true, None, true),
            (ColorChoice::Auto, true, empty, true),
            (ColorChoice::Auto, true, set, false),
            (ColorChoice::Auto, false, None, false),
            (ColorChoice::Always, false, set, true),
            (ColorChoice::Never, true, None, false),
        ] {
            assert_eq!(
                choice.enabled(tty, no_color),
                want,
                "{choice:?} tty={tty} NO_COLOR={no_color:?}"
            );
        }
    }

    #[test]
    fn prefixes_and_sources() {
        let prefix = |b: &str, p: &str| Input::Prefix {
            bucket: b.into(),
            prefix: p.into(),
        };
        assert_eq!(Input::parse("s3://b/AWSLogs/"), Ok(prefix("b", "AWSLogs/")));
        assert_eq!(Input::parse("s3://b/"), Ok(prefix("b", "")));
        assert_eq!(
            Input::parse("s3://b/k.jsonl.gz"),
            Ok(Input::One(SourceRef::parse("s3://b/k.jsonl.gz").unwrap()))
        );
        assert_eq!(
            Input::parse("s3://b/AWSLogs").unwrap().recursive(),
            prefix("b", "AWSLogs")
        );
        assert_eq!(
            Input::parse("x.gz").unwrap().recursive(),
            Input::parse("x.gz").unwrap()
        );
        for bad in ["s3://", "s3://bucket", "s3:///k/"] {
            assert!(Input::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_grammar_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn regions_and_profiles_are_checked() {
        assert_eq!(parse_region("eu-west-1").as_deref(), Ok("eu-west-1"));
        assert!(
            parse_region("us-east1")
                .unwrap_err()
                .contains("Region name")
        );
        assert_eq!(parse_profile("dev-sso").as_deref(), Ok("dev-sso"));
        assert!(parse_profile("").is_err());
        assert!(parse_profile("a b").is_err());
    }
}
