//! The Lambda function: configuration from the environment (validated once per cold start), the
//! handler that runs every trigger shape through the same pipeline as the CLI, the failure
//! semantics, and per-invocation metrics in CloudWatch Embedded Metric Format.
//!
//! Failure semantics: an object that cannot be read (other than deleted since), or an alert
//! that SNS did not accept after retries, fails its *unit*: for an SQS batch the message is
//! returned in `batchItemFailures` (only that message comes back); for every other shape the
//! invocation fails, so Lambda's retries and on-failure destination take over. The log names
//! every finding that was not delivered.

mod handler;
mod summary;

pub use handler::{InvocationError, delivery_deadline, handle, handle_until};
pub use summary::{InvocationSummary, ObjectFailure, emf};

use tracing::{info, warn};

use crate::app::resolve::RulesLocation;
use crate::app::resolve::{DestinationsConfig, SetupError};
use crate::app::{Settings, Wiring};
use crate::classify::MinSeverity;
use crate::common::env::parse_bool;
use crate::decide::dedup::DedupSettings;
use crate::decide::{Decide, Decider, Policy};
use crate::deliver::Destination;
use crate::export::ReaderOptions;
use crate::health::{HealthSettings, SdkExportListing, SdkGuardDuty};
use crate::source::s3::S3Opener;
use crate::state::DedupStore;

/// Sets up logging as Lambda's advanced logging controls ask: `AWS_LAMBDA_LOG_LEVEL` (`TRACE`,
/// `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`; default `INFO`; `RUST_LOG` overrides) and
/// `AWS_LAMBDA_LOG_FORMAT` (`JSON` for one JSON object per line, else text). Never colour codes:
/// the output goes to CloudWatch, not a terminal.
pub fn init_logging() {
    let level = match std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

/// Every setting of the function, read from environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where alerts go: `SNS_TOPIC_ARN`, `SNS_MESSAGE_FORMAT`, the webhooks and their secrets
    /// (see [`crate::app`]).
    pub destinations: DestinationsConfig,
    /// `MIN_SEVERITY` (number or label, default `medium`), `INCLUDE_SAMPLES`,
    /// `INCLUDE_ARCHIVED` (`true`/`false`, default false).
    pub policy: Policy,
    /// `MAX_LINE_BYTES`, `MAX_DECOMPRESSED_BYTES`.
    pub reader: ReaderOptions,
    /// `METRICS_NAMESPACE` (default `GuardDutyAlerts`); `METRICS=off` disables EMF output.
    pub metrics_namespace: Option<String>,
    /// `RULES_CONFIG`: a rules file (path, `s3://BUCKET/KEY`, `ssm:NAME`). With one, the rules
    /// decide and route every finding, and the file names the destinations; `MIN_SEVERITY`,
    /// `INCLUDE_SAMPLES`, `INCLUDE_ARCHIVED` and the destination variables (`SNS_TOPIC_ARN`,
    /// `WEBHOOK_SECRET`, …) are not used (the HTTP settings still are).
    pub rules: Option<RulesLocation>,
    /// `DEDUP_TABLE` and its settings (see [`crate::state`]); `None`: no dedup.
    pub dedup: Option<DedupSettings>,
    /// `HEALTH_CHECK_REGIONS`, `HEALTH_MAX_EXPORT_AGE_HOURS`: the scheduled health check (see
    /// [`crate::health`]).
    pub health: HealthSettings,
}

/// The function's own settings (the destinations' are
/// [`crate::app::resolve::DESTINATION_ENV_VARS`]).
const OWN_ENV_VARS: [&str; 8] = [
    "MIN_SEVERITY",
    "INCLUDE_SAMPLES",
    "INCLUDE_ARCHIVED",
    "MAX_LINE_BYTES",
    "MAX_DECOMPRESSED_BYTES",
    "METRICS_NAMESPACE",
    "METRICS",
    "RULES_CONFIG",
];

/// Every environment variable the function reads. The SAM template sets only variables from
/// this list.
pub const ENV_VARS: [&str; 28] = concat(
    concat::<22, 4, 26>(
        concat::<14, 8, 22>(crate::app::resolve::DESTINATION_ENV_VARS, OWN_ENV_VARS),
        crate::decide::dedup::DEDUP_ENV_VARS,
    ),
    crate::health::HEALTH_ENV_VARS,
);

/// `a` then `b` (`C` must be their total length, checked at compile time).
const fn concat<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    assert!(A + B == C);
    let mut out = [""; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}

/// A setting with a bad value: names the variable, the value and what is accepted. (Only for
/// settings that are not secret; destinations report [`SetupError`], which never shows a
/// value.)
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A plain setting.
    #[error("configuration error: {name}={value:?} is invalid: {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A destination setting.
    #[error(transparent)]
    Destinations(#[from] SetupError),
}

impl ConfigError {
    /// The setting at fault.
    pub fn setting(&self) -> &str {
        match self {
            ConfigError::Invalid { name, .. } => name,
            ConfigError::Destinations(e) => &e.setting,
        }
    }
}

/// Tells Lambda why the cold start failed (the Runtime API's `/runtime/init/error`), so that the
/// invocation's error is `InvalidSetting.NAME` with the message, not a bare `Runtime.ExitError`.
/// The caller exits afterwards. Without `AWS_LAMBDA_RUNTIME_API` (not in Lambda) it does nothing;
/// a failure to report is printed, never hidden.
pub async fn report_init_error(setting: &str, message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let name: String = setting
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // `host:port` in Lambda; emulators may give a URL with a path (`http://host:port/.rt`).
    let api = api.strip_prefix("http://").unwrap_or(&api);
    let (host, base) = api.split_once('/').map_or((api, ""), |(h, p)| (h, p));
    let path = format!("/{}/2018-06-01/runtime/init/error", base.trim_matches('/'));
    let path = path.replace("//", "/");
    let error_type = format!("InvalidSetting.{name}");
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let post = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(host).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&status[9..]).into_owned())
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), post).await {
        Ok(Ok(status)) if status.starts_with('2') => {}
        Ok(Ok(status)) => eprintln!("the Runtime API answered {status} to /runtime/init/error"),
        Ok(Err(e)) => eprintln!("could not report the init error to the Runtime API: {e}"),
        Err(_) => eprintln!("the Runtime API did not answer /runtime/init/error within 2 s"),
    }
}

impl Config {
    /// Reads and validates the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads and validates the configuration from `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let bad = |name: &'static str, value: &str, expected: &str| ConfigError::Invalid {
            name,
            value: value.to_owned(),
            expected: expected.to_owned(),
        };
        let rules = match get("RULES_CONFIG").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(RulesLocation::parse(&v).map_err(|e| bad("RULES_CONFIG", &v, &e))?),
        };
        let destinations = DestinationsConfig::from_lookup_with(&get, rules.is_none())?;
        let min_severity = match get("MIN_SEVERITY") {
            None => MinSeverity::default(),
            Some(v) => v.parse().map_err(|_| {
                bad(
                    "MIN_SEVERITY",
                    &v,
                    "a number from 0 to 10 or one of low, medium, high, critical",
                )
            })?,
        };
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name) {
                None => Ok(false),
                Some(v) => parse_bool(&v).ok_or_else(|| bad(name, &v, "true or false")),
            }
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(name, &v, "a positive whole number of bytes")),
            }
        };
        let defaults = ReaderOptions::default();
        let reader = ReaderOptions {
            max_line_bytes: number("MAX_LINE_BYTES", defaults.max_line_bytes as u64)? as usize,
            max_decompressed_bytes: number(
                "MAX_DECOMPRESSED_BYTES",
                defaults.max_decompressed_bytes,
            )?,
        };
        let metrics_on = match get("METRICS") {
            None => true,
            Some(v) => parse_bool(&v).ok_or_else(|| bad("METRICS", &v, "on or off"))?,
        };
        let namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| "GuardDutyAlerts".into());
        if namespace.trim().is_empty() || namespace.len() > 255 {
            return Err(bad("METRICS_NAMESPACE", &namespace, "1 to 255 characters"));
        }
        Ok(Config {
            destinations,
            policy: Policy {
                min_severity,
                include_samples: flag("INCLUDE_SAMPLES")?,
                include_archived: flag("INCLUDE_ARCHIVED")?,
            },
            reader,
            metrics_namespace: metrics_on.then_some(namespace),
            rules,
            dedup: DedupSettings::from_lookup(&get)?,
            health: HealthSettings::from_lookup(&get)
                .map_err(|(name, value, expected)| bad(name, &value, expected))?,
        })
    }
}

/// Everything built once per cold start.
pub struct App {
    /// The configuration.
    pub config: Config,
    /// Opens S3 objects.
    pub opener: S3Opener,
    /// Where alerts go (with a rules file, its destinations in its order).
    pub destinations: Vec<Destination>,
    /// The policy from the environment, or the rules file.
    pub decider: Decider,
    /// The dedup table, if configured.
    pub dedup: Option<DedupStore>,
    /// GuardDuty in each Region the health check looks at.
    pub guardduty: SdkGuardDuty,
    /// Lists export objects for the health check's age check.
    pub listing: SdkExportListing,
    /// The function's own Region (`AWS_REGION`).
    pub region: String,
}

impl App {
    /// Builds clients from the SDK configuration and fetches the destinations' secrets (once
    /// per cold start). An error names the setting at fault, never a secret.
    pub async fn new(config: Config, sdk: &aws_config::SdkConfig) -> Result<App, SetupError> {
        let opener = S3Opener::new(crate::app::aws::s3_client(sdk));
        let wiring = Wiring::build(Settings {
            policy: config.policy,
            rules: config.rules.as_ref().map(|l| (l, "RULES_CONFIG")),
            destinations: Some(&config.destinations),
            sdk: Some(sdk),
        })
        .await?;
        for w in &wiring.warnings {
            warn!(warning = %w, "rules file");
        }
        if let (Some(location), Some(rules)) = (&config.rules, wiring.decider.rules()) {
            if wiring.unused_destination_variables {
                info!(rules = %location, "the destination variables (SNS_TOPIC_ARN, WEBHOOK_SECRET, ...) are not used: the rules file names the destinations");
            }
            info!(rules = %location, summary = %rules.summary(), "rules loaded");
        }
        let (destinations, decider) = (wiring.destinations, wiring.decider);
        let dedup = config
            .dedup
            .clone()
            .map(|s| DedupStore::new(crate::app::aws::dynamodb_client(sdk), s));
        Ok(App {
            guardduty: SdkGuardDuty::new(sdk, &config.health.regions),
            listing: SdkExportListing::new(crate::app::aws::s3_client(sdk)),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            config,
            opener,
            destinations,
            decider,
            dedup,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::resolve::DESTINATION_ENV_VARS;
    use crate::common::format::MessageFormat;
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const TOPIC: (&str, &str) = ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:111122223333:alerts");

    #[test]
    fn config_defaults_and_values() {
        let c = config(&[TOPIC]).unwrap();
        assert_eq!(c.policy.min_severity.0, 4.0);
        assert!(!c.policy.include_samples);
        assert_eq!(c.destinations.message_format, MessageFormat::Json);
        assert_eq!(c.metrics_namespace.as_deref(), Some("GuardDutyAlerts"));
        let c = config(&[
            TOPIC,
            ("MIN_SEVERITY", "high"),
            ("INCLUDE_SAMPLES", "true"),
            ("SNS_MESSAGE_FORMAT", "chatbot"),
            ("MAX_LINE_BYTES", "4096"),
            ("METRICS", "off"),
        ])
        .unwrap();
        assert_eq!(c.policy.min_severity.0, 7.0);
        assert!(c.policy.include_samples);
        assert_eq!(c.destinations.message_format, MessageFormat::Chatbot);
        assert_eq!(c.reader.max_line_bytes, 4096);
        assert_eq!(c.metrics_namespace, None);
    }

    #[test]
    fn config_errors_name_the_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "destinations: none is configured: set SNS_TOPIC_ARN"),
            (
                &[("SNS_TOPIC_ARN", "alerts")],
                "SNS_TOPIC_ARN: \"alerts\" is not an SNS topic ARN",
            ),
            (
                &[("SNS_TOPIC_ARN", "arn:aws:sqs:us-east-1:1:q")],
                "SNS_TOPIC_ARN",
            ),
            (
                &[TOPIC, ("MIN_SEVERITY", "severe")],
                "MIN_SEVERITY=\"severe\" is invalid: a number",
            ),
            (
                &[TOPIC, ("INCLUDE_SAMPLES", "maybe")],
                "INCLUDE_SAMPLES=\"maybe\" is invalid: true or false",
            ),
            (
                &[TOPIC, ("SNS_MESSAGE_FORMAT", "xml")],
                "SNS_MESSAGE_FORMAT: \"xml\": use json or chatbot",
            ),
            (&[TOPIC, ("MAX_LINE_BYTES", "0")], "MAX_LINE_BYTES=\"0\""),
            (
                &[TOPIC, ("MAX_DECOMPRESSED_BYTES", "lots")],
                "MAX_DECOMPRESSED_BYTES",
            ),
            (&[TOPIC, ("METRICS", "sometimes")], "METRICS=\"sometimes\""),
        ];
        for (vars, want) in cases {
            let e = config(vars).unwrap_err().to_string();
            assert!(e.contains(want), "{vars:?}: {e}");
        }
    }

    #[test]
    fn every_destination_variable_is_listed() {
        for v in DESTINATION_ENV_VARS {
            assert!(ENV_VARS.contains(&v), "{v}");
        }
    }

    #[test]
    fn deadlines_keep_time_back() {
        assert!(delivery_deadline(0, 1_795_700_108_993).is_none());
        // cargo-lambda's emulator sends its timeout instead of a time.
        assert!(delivery_deadline(600_000, 1_795_700_108_993).is_none());
        let now = Instant::now();
        // 30 s left: 3 s kept back.
        let d = delivery_deadline(1_000_030_000, 1_000_000_000).unwrap();
        let left = d.duration_since(now).as_secs_f64();
        assert!((26.9..27.1).contains(&left), "{left}");
        // 2 s left: 0.5 s kept back.
        let d = delivery_deadline(1_000_002_000, 1_000_000_000).unwrap();
        let left = d.duration_since(now).as_secs_f64();
        assert!((1.4..1.6).contains(&left), "{left}");
        // Just past: now.
        let d = delivery_deadline(1_795_700_100_000, 1_795_700_108_993).unwrap();
        assert!(d.duration_since(now) < Duration::from_millis(100));
    }

    #[test]
    fn emf_document() {
        let mut s = InvocationSummary {
            shape: "s3",
            objects: 2,
            alerts_sent: 3,
            export_lag_seconds: Some(42.0),
            ..Default::default()
        };
        s.stats.findings = 5;
        s.stats.alerts = 3;
        s.stats.alerts_by_severity.bump("High");
        let doc: Value =
            serde_json::from_str(&emf("NS", &s, Duration::from_millis(7), 1000)).unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 1000);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
        assert_eq!(doc["Findings"], 5.0);
        assert_eq!(doc["AlertsHigh"], 1.0);
        assert_eq!(doc["ExportLagSeconds"], 42.0);
        let names: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in &names {
            assert!(doc.get(*n).is_some(), "{n} has no value");
        }
        assert!(names.contains(&"DeliveryFailures"));
    }
}
