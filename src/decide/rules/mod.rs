//! Routing rules: which findings go where, which are dropped, which are gathered into a digest.
//! Pure: no I/O beyond reading the file in [`RulesConfig::from_file`] and [`check_config`],
//! no AWS, nothing fetched (secret references stay references).
//!
//! The rules file (TOML, documented in `docs/rules.md`) is read and checked once, with every
//! error reported at once and pointing at its rule, field and line ([`ConfigErrors`]):
//!
//! ```
//! use guardduty_alerts::decide::rules::{Action, DecidedBy, RulesConfig};
//! use guardduty_alerts::{classify::classify, export::finding::Finding};
//!
//! let rules = RulesConfig::from_toml_str(r#"
//!     [destinations.sec]
//!     type = "sns"
//!     topic_arn = "arn:aws:sns:us-east-1:123456789012:alerts"
//!
//!     [[rules]]
//!     name = "drop-samples"
//!     match = { sample = true }
//!     action = "suppress"
//!     reason = "sample finding"
//!
//!     [[rules]]
//!     name = "high-and-up"
//!     match = { severity = "high.." }
//!     action = "route"
//!     destinations = ["sec"]
//! "#, "rules.toml").map_err(|e| e.to_string())?;
//!
//! let line = r#"{"id":"a","type":"Recon:EC2/PortProbeUnprotectedPort","severity":8}"#;
//! let finding = Finding::parse(line).map_err(|e| format!("{e:?}"))?;
//! let class = classify(&finding);
//! let outcome = rules.evaluate(&finding, &class);
//! assert_eq!(outcome.decided_by, DecidedBy::Rule { index: 1, name: "high-and-up" });
//! assert_eq!(outcome.action, Action::Route(&[0]));
//! assert_eq!(rules.destinations()[0].name, "sec");
//! # Ok::<(), String>(())
//! ```
//!
//! [`RulesConfig::evaluate`] decides one finding: the rules are tried in file order and the
//! **first rule whose `match` holds decides**; when none does, `settings.default` decides.
//! It allocates nothing. Burst control (which routed alerts go out one by one and which are
//! gathered into one [`crate::decide::digest::Digest`] per destination and export) is applied
//! where they are delivered, `deliver::fanout`.

mod bits;
mod check;
mod compile;
mod criteria;
mod cx;
mod destinations;
mod file;
mod index;
mod matcher;
pub mod runbook;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use crate::classify::Classification;
use crate::common::format::MessageFormat;
use crate::export::finding::Finding;

/// Where a credential is kept: the same reference [`crate::deliver::secret::SecretStore`] resolves.
/// The rules file only holds references; nothing is fetched when it is loaded.
pub use crate::common::secret::SecretRef;
pub use check::check_config;
pub use matcher::Matcher;

/// A fresh [`RulesConfig`] id.
fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The reason reported for a finding that no rule matched under `default = "suppress"`.
pub const NO_RULE_MATCHED: &str = "no_rule_matched";

/// The digest threshold when the file sets none: more alerts than this for one destination
/// from one export are gathered into a digest.
pub const DEFAULT_DIGEST_THRESHOLD: usize = 20;

/// The largest digest threshold a file may set (alerts up to it are held until the export has
/// been read, so it bounds memory).
pub const MAX_DIGEST_THRESHOLD: usize = 1000;

/// A checked rules file, ready to evaluate findings. Build it with
/// [`RulesConfig::from_toml_str`] or [`RulesConfig::from_file`].
#[derive(Debug, Clone)]
pub struct RulesConfig {
    /// Unique per file loaded (copies share it): keys the per-thread type memo.
    id: u64,
    /// Whether some rule has a `types` criterion (then the type memo is used).
    type_globs: bool,
    origin: String,
    digest_threshold: usize,
    default: StoredAction,
    accounts: Vec<Account>,
    destinations: Vec<Destination>,
    rules: Vec<Rule>,
    patterns: matcher::Patterns,
    prefilter: index::Prefilter,
    warnings: Vec<ConfigError>,
}

/// A named account from `[accounts]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// Its name, shown in alerts and usable in rules.
    pub name: String,
}

/// A destination from `[destinations.NAME]`. Rules refer to destinations by their index in
/// [`RulesConfig::destinations`] (file order).
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// The name used in the file.
    pub name: String,
    /// What it is and how to reach it.
    pub kind: DestinationKind,
    /// Requests in flight at once (`concurrency`), if set.
    pub concurrency: Option<u32>,
    /// Most requests per second (`rate_per_second`), if set.
    pub rate_per_second: Option<f64>,
    /// The digest threshold of this destination (its own `digest_threshold`, else the
    /// file's, else [`DEFAULT_DIGEST_THRESHOLD`]).
    pub digest_threshold: usize,
}

/// The kind of a destination and its settings. Credentials are [`SecretRef`]s, never values.
#[derive(Debug, Clone, PartialEq)]
pub enum DestinationKind {
    /// An SNS topic.
    Sns {
        /// `arn:PARTITION:sns:REGION:ACCOUNT:NAME`.
        topic_arn: String,
        /// The message body format.
        format: MessageFormat,
    },
    /// A Slack incoming webhook.
    Slack {
        /// Where the webhook URL is kept.
        url: SecretRef,
    },
    /// A Microsoft Teams Workflows webhook.
    Teams {
        /// Where the webhook URL is kept.
        url: SecretRef,
    },
    /// PagerDuty Events API v2.
    PagerDuty {
        /// Where the routing (integration) key is kept.
        routing_key: SecretRef,
    },
    /// A generic HTTPS webhook (the generic JSON body).
    Webhook {
        /// Where the URL is kept.
        url: SecretRef,
        /// Where the request signing secret is kept, if requests are signed.
        signing_secret: Option<SecretRef>,
        /// Extra request headers, sorted by name.
        headers: Vec<(String, HeaderValue)>,
    },
}

impl DestinationKind {
    /// `sns`, `slack`, `teams`, `pagerduty` or `webhook`, as in the file.
    pub fn type_name(&self) -> &'static str {
        match self {
            DestinationKind::Sns { .. } => "sns",
            DestinationKind::Slack { .. } => "slack",
            DestinationKind::Teams { .. } => "teams",
            DestinationKind::PagerDuty { .. } => "pagerduty",
            DestinationKind::Webhook { .. } => "webhook",
        }
    }
}

/// A webhook header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// A value written in the file.
    Literal(String),
    /// A credential kept elsewhere.
    Secret(SecretRef),
}

/// One rule, checked and compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its unique name.
    pub name: String,
    /// Its `description`, if any.
    pub description: Option<String>,
    /// The line of the file where it starts (1-based), when known.
    pub line: Option<usize>,
    /// Its criteria.
    pub matcher: Matcher,
    /// Its `runbook` link template, checked ([`runbook::check_template`]); route and digest
    /// rules only.
    pub runbook: Option<String>,
    action: StoredAction,
}

impl Rule {
    /// What the rule does with a finding it matches.
    pub fn action(&self) -> Action<'_> {
        self.action.as_action()
    }
}

/// An action as stored in the config (the owned form of [`Action`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum StoredAction {
    Route(Vec<usize>),
    Digest(Vec<usize>),
    Suppress(String),
}

impl StoredAction {
    fn as_action(&self) -> Action<'_> {
        match self {
            StoredAction::Route(d) => Action::Route(d),
            StoredAction::Digest(d) => Action::Digest(d),
            StoredAction::Suppress(r) => Action::Suppress(r),
        }
    }
}

/// What happens to one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'c> {
    /// An alert to each of these destinations (indices into [`RulesConfig::destinations`]),
    /// individually unless the export brings more than the destination's digest threshold.
    Route(&'c [usize]),
    /// Into the export's digest for each of these destinations, never individually.
    Digest(&'c [usize]),
    /// No alert, for this reason: the rule's `reason`, or [`NO_RULE_MATCHED`].
    Suppress(&'c str),
}

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy<'c> {
    /// A rule: its 0-based position in the file (messages show it 1-based, `rule #1`) and name.
    Rule {
        /// Position in [`RulesConfig::rules`].
        index: usize,
        /// The rule's name.
        name: &'c str,
    },
    /// No rule matched: `settings.default`.
    Default,
}

impl DecidedBy<'_> {
    /// The rule's name, or `default`.
    pub fn name(&self) -> &str {
        match self {
            DecidedBy::Rule { name, .. } => name,
            DecidedBy::Default => "default",
        }
    }
}

/// The decision for one finding and who made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome<'c> {
    /// The deciding rule, or the default.
    pub decided_by: DecidedBy<'c>,
    /// What happens.
    pub action: Action<'c>,
}

/// One problem in a rules file: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file's name as given to [`RulesConfig::from_toml_str`].
    pub origin: String,
    /// 1-based line, when the TOML parser gave a position.
    pub line: Option<usize>,
    /// Which part of the file: `rule #3 "page-critical-prod"`, `destinations.slack-sec`,
    /// `settings`, `accounts`; empty for the file as a whole.
    pub context: String,
    /// The key within it, e.g. `match.severity`; empty when the message is about the part as
    /// a whole.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `rules.toml:14: rule #3 "page-critical-prod": match.severity: "9..7" is not a range …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        for part in [&self.context, &self.field] {
            if !part.is_empty() {
                write!(f, "{part}: ")?;
            }
        }
        f.write_str(&self.message)
    }
}

/// Every error found in a rules file, in file order (syntax errors stop the checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The errors; never empty.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl RulesConfig {
    /// Parses and checks a rules file. `origin` names it in messages (e.g. its path).
    /// Collects every error rather than stopping at the first; only a TOML syntax error stops
    /// the checks (all syntax errors the parser recovers from are still reported).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<RulesConfig, ConfigErrors> {
        compile::compile(text, origin)
    }

    /// Reads and checks a rules file; an unreadable file is one [`ConfigError`].
    pub fn from_file(path: &Path) -> Result<RulesConfig, ConfigErrors> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml_str(&text, &origin),
            Err(e) => Err(ConfigErrors {
                errors: vec![ConfigError {
                    origin,
                    line: None,
                    context: String::new(),
                    field: String::new(),
                    message: format!("cannot read the rules file: {e}"),
                }],
            }),
        }
    }

    /// Decides one finding: the first rule (in file order) whose `match` holds, else the
    /// default. Only the rules a prefilter lets through (by account, region, type parts,
    /// resource type, feature, severity band, sample and archived, and — remembered per
    /// finding type in a bounded per-thread memo — `types`) are matched in full. The only
    /// allocation is the memo's, once per new finding type.
    pub fn evaluate<'c>(
        &'c self,
        finding: &Finding<'_>,
        class: &Classification<'_>,
    ) -> Outcome<'c> {
        let facts = matcher::Facts::new(finding, class);
        let mut memo = matcher::Memos::default();
        let mut candidates = self.prefilter.candidates(&facts);
        if self.type_globs {
            let accepting = matcher::type_accepting(self.id, facts.finding_type, || {
                let mut bits = bits::Bits::default();
                for (i, rule) in self.rules.iter().take(bits::MAX_INDEXED).enumerate() {
                    if rule
                        .matcher
                        .accepts_type(facts.finding_type, &self.patterns)
                    {
                        bits::set(&mut bits, i);
                    }
                }
                bits
            });
            bits::and(&mut candidates, &accepting);
        }
        let rest = self.prefilter.indexed()..self.rules.len();
        for index in bits::members(candidates).chain(rest) {
            let rule = &self.rules[index];
            if rule.matcher.matches(&facts, &self.patterns, &mut memo) {
                return self.decided_by(index);
            }
        }
        self.decided_by_default()
    }

    /// [`RulesConfig::evaluate`] without the prefilter: every rule in turn (for tests that
    /// check the two agree).
    #[cfg(test)]
    pub(crate) fn evaluate_linear<'c>(
        &'c self,
        finding: &Finding<'_>,
        class: &Classification<'_>,
    ) -> Outcome<'c> {
        let facts = matcher::Facts::new(finding, class);
        let mut memo = matcher::Memos::default();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.matcher.matches(&facts, &self.patterns, &mut memo) {
                return self.decided_by(index);
            }
        }
        self.decided_by_default()
    }

    fn decided_by(&self, index: usize) -> Outcome<'_> {
        let rule = &self.rules[index];
        Outcome {
            decided_by: DecidedBy::Rule {
                index,
                name: &rule.name,
            },
            action: rule.action.as_action(),
        }
    }

    fn decided_by_default(&self) -> Outcome<'_> {
        Outcome {
            decided_by: DecidedBy::Default,
            action: self.default.as_action(),
        }
    }

    /// The file's name as given when it was loaded.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The destinations, in file order. [`Action`]s index into this.
    pub fn destinations(&self) -> &[Destination] {
        &self.destinations
    }

    /// The index of the destination called `name`.
    pub fn destination_index(&self, name: &str) -> Option<usize> {
        self.destinations.iter().position(|d| d.name == name)
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The named accounts, by id.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// The name given to an account id in `[accounts]`.
    pub fn account_name(&self, account_id: &str) -> Option<&str> {
        self.accounts
            .binary_search_by(|a| a.id.as_str().cmp(account_id))
            .ok()
            .map(|i| self.accounts[i].name.as_str())
    }

    /// `settings.digest_threshold` (each destination may override it, see
    /// [`Destination::digest_threshold`]).
    pub fn digest_threshold(&self) -> usize {
        self.digest_threshold
    }

    /// What happens to a finding no rule matches.
    pub fn default_action(&self) -> Action<'_> {
        self.default.as_action()
    }

    /// Things that are legal but probably not meant (an unused destination, a threat purpose
    /// GuardDuty does not document). [`check_config`] prints them; they do not stop loading.
    pub fn warnings(&self) -> &[ConfigError] {
        &self.warnings
    }

    /// A one-paragraph account of the configuration, for `check-config` and start-up logs.
    /// Names where credentials are kept, never a credential.
    pub fn summary(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let dests: Vec<String> = self
            .destinations
            .iter()
            .map(|d| format!("{} ({})", d.name, d.kind.type_name()))
            .collect();
        let mut s = format!(
            "{}: {}",
            self.origin,
            plural(self.destinations.len(), "destination", "destinations")
        );
        if !dests.is_empty() {
            s.push_str(&format!(" [{}]", dests.join(", ")));
        }
        s.push_str(&format!(
            ", {} (first match wins)",
            plural(self.rules.len(), "rule", "rules")
        ));
        let accounts: Vec<String> = self
            .accounts
            .iter()
            .map(|a| format!("{} = {}", a.id, a.name))
            .collect();
        s.push_str(&format!(
            ", {}",
            plural(self.accounts.len(), "named account", "named accounts")
        ));
        if !accounts.is_empty() {
            s.push_str(&format!(" [{}]", accounts.join(", ")));
        }
        match &self.default {
            StoredAction::Route(d) => {
                let names: Vec<&str> = d
                    .iter()
                    .map(|&i| self.destinations[i].name.as_str())
                    .collect();
                s.push_str(&format!(
                    ". Findings no rule matches go to {}",
                    names.join(", ")
                ));
            }
            _ => s.push_str(&format!(
                ". Findings no rule matches are suppressed ({NO_RULE_MATCHED})"
            )),
        }
        s.push_str(&format!(
            ". Above {} alerts for one destination from one export, non-critical alerts are \
             gathered into one digest",
            self.digest_threshold
        ));
        let overrides: Vec<String> = self
            .destinations
            .iter()
            .filter(|d| d.digest_threshold != self.digest_threshold)
            .map(|d| format!("{} {}", d.name, d.digest_threshold))
            .collect();
        if !overrides.is_empty() {
            s.push_str(&format!(" (overridden: {})", overrides.join(", ")));
        }
        s.push('.');
        s
    }
}
