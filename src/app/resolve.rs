//! Destinations from the environment, shared by the Lambda function and `process --deliver` /
//! `--dry-run`: which SNS topic and webhooks to deliver to, where their secrets are kept, and
//! how to pace them. Reading the variables ([`DestinationsConfig::from_lookup`]) is pure and
//! checks their form; [`DestinationsConfig::build`] fetches the secrets (once per cold start)
//! and builds the clients.
//!
//! | variable | meaning |
//! |---|---|
//! | `SNS_TOPIC_ARN` | the alert topic (optional when a webhook is configured) |
//! | `SNS_MESSAGE_FORMAT` | `json` (default) or `chatbot` |
//! | `WEBHOOK_SECRET` | a Secrets Manager secret (ARN or `secretsmanager:NAME`) or SSM parameter (`ssm:NAME` or ARN) holding a JSON object with any of the members `slack_webhook_url`, `teams_webhook_url`, `pagerduty_routing_key`, `webhook_url`, `webhook_signing_secret`, `webhook_headers` |
//! | `SLACK_WEBHOOK_URL`, `TEAMS_WEBHOOK_URL`, `PAGERDUTY_ROUTING_KEY`, `WEBHOOK_URL`, `WEBHOOK_SIGNING_SECRET`, `WEBHOOK_HEADERS` | the same, one by one: the value itself (local use) or a reference (`arn:…`, `secretsmanager:…`, `ssm:…`, optionally `#member`) |
//! | `PAGERDUTY_EVENTS_URL` | default `https://events.pagerduty.com/v2/enqueue` (EU accounts: `https://events.eu.pagerduty.com/v2/enqueue`) |
//! | `WEBHOOK_TIMEOUT_SECONDS` | total time per request, default 10 |
//! | `WEBHOOK_CONCURRENCY`, `WEBHOOK_RATE_PER_SECOND` | the generic webhook's limits (default 16 at once, no rate limit); Slack, Teams and PagerDuty use their platforms' limits |
//! | `ALLOW_HTTP_WEBHOOKS` | `true` allows plain `http://` to loopback addresses only, for tests |

use std::time::Duration;

use serde_json::Value;

use crate::common::format::MessageFormat;
use crate::common::secret::{Secret, SecretRef, member};
use crate::decide::rules::{DestinationKind as RulesKind, HeaderValue, RulesConfig};
use crate::deliver::Destination;
use crate::deliver::secret::SecretStore;
use crate::deliver::sns::SnsDestination;
use crate::deliver::webhook::{
    HttpSettings, Limits, PAGERDUTY_EVENTS_URL, WebhookDestination, WebhookKind, WebhookTarget,
    http_client,
};

/// Every variable [`DestinationsConfig::from_lookup`] reads.
pub const DESTINATION_ENV_VARS: [&str; 14] = [
    "SNS_TOPIC_ARN",
    "SNS_MESSAGE_FORMAT",
    "WEBHOOK_SECRET",
    "SLACK_WEBHOOK_URL",
    "TEAMS_WEBHOOK_URL",
    "PAGERDUTY_ROUTING_KEY",
    "WEBHOOK_URL",
    "WEBHOOK_SIGNING_SECRET",
    "WEBHOOK_HEADERS",
    "PAGERDUTY_EVENTS_URL",
    "WEBHOOK_TIMEOUT_SECONDS",
    "WEBHOOK_CONCURRENCY",
    "WEBHOOK_RATE_PER_SECOND",
    "ALLOW_HTTP_WEBHOOKS",
];

/// The secret settings: environment variable and the matching member of `WEBHOOK_SECRET`.
const SECRET_SETTINGS: [(&str, &str); 6] = [
    ("SLACK_WEBHOOK_URL", "slack_webhook_url"),
    ("TEAMS_WEBHOOK_URL", "teams_webhook_url"),
    ("PAGERDUTY_ROUTING_KEY", "pagerduty_routing_key"),
    ("WEBHOOK_URL", "webhook_url"),
    ("WEBHOOK_SIGNING_SECRET", "webhook_signing_secret"),
    ("WEBHOOK_HEADERS", "webhook_headers"),
];

pub use crate::common::error::SetupError;

fn setup_err(setting: impl Into<String>, problem: impl Into<String>) -> SetupError {
    SetupError::new(setting, problem)
}

/// A secret setting: its value, or where to fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given directly (local use).
    Value(Secret),
    /// Fetched at start.
    Ref(SecretRef),
}

impl SecretSource {
    /// A reference when the text is one, else the value itself.
    pub fn parse(v: &str) -> SecretSource {
        match SecretRef::parse(v) {
            Some(r) => SecretSource::Ref(r),
            None => SecretSource::Value(Secret::new(v.trim())),
        }
    }

    async fn get(&self, store: &mut SecretStore) -> Result<Secret, String> {
        match self {
            SecretSource::Value(s) => Ok(s.clone()),
            SecretSource::Ref(r) => store.resolve(r).await.map_err(|e| e.to_string()),
        }
    }
}

/// The destinations, as read from the environment (secrets not fetched yet).
#[derive(Debug, Clone)]
pub struct DestinationsConfig {
    /// `SNS_TOPIC_ARN`.
    pub sns_topic_arn: Option<String>,
    /// `SNS_MESSAGE_FORMAT`.
    pub message_format: MessageFormat,
    /// `WEBHOOK_SECRET`.
    pub bundle: Option<SecretRef>,
    /// The secret settings given one by one: (variable, source).
    pub secrets: Vec<(&'static str, SecretSource)>,
    /// `PAGERDUTY_EVENTS_URL`.
    pub pagerduty_events_url: String,
    /// Timeouts and retries.
    pub http: HttpSettings,
    /// The generic webhook's limits.
    pub generic_limits: Limits,
    /// `ALLOW_HTTP_WEBHOOKS`.
    pub allow_http: bool,
}

impl DestinationsConfig {
    /// Reads and checks the variables. At least one destination must be configured.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SetupError> {
        Self::from_lookup_with(get, true)
    }

    /// [`DestinationsConfig::from_lookup`]; with `require` false, no destination is needed (a
    /// rules file names them, and only the HTTP settings here apply).
    pub fn from_lookup_with(
        get: impl Fn(&str) -> Option<String>,
        require: bool,
    ) -> Result<Self, SetupError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let sns_topic_arn = match get("SNS_TOPIC_ARN") {
            None => None,
            Some(t) if crate::common::names::is_sns_topic_arn(t.trim()) => {
                Some(t.trim().to_owned())
            }
            Some(t) => {
                return Err(setup_err(
                    "SNS_TOPIC_ARN",
                    format!(
                        "{t:?} is not an SNS topic ARN: set it to arn:PARTITION:sns:REGION:ACCOUNT:NAME"
                    ),
                ));
            }
        };
        let message_format = match get("SNS_MESSAGE_FORMAT") {
            None => MessageFormat::Json,
            Some(v) => v.parse().map_err(|_| {
                setup_err("SNS_MESSAGE_FORMAT", format!("{v:?}: use json or chatbot"))
            })?,
        };
        let bundle = match get("WEBHOOK_SECRET") {
            None => None,
            Some(v) => match SecretRef::parse(&v) {
                Some(SecretRef::Env { .. }) | None => {
                    return Err(setup_err(
                        "WEBHOOK_SECRET",
                        "must name a Secrets Manager secret (its ARN, or secretsmanager:NAME) or an SSM parameter (ssm:NAME or its ARN)",
                    ));
                }
                Some(r) => Some(r),
            },
        };
        let secrets: Vec<(&'static str, SecretSource)> = SECRET_SETTINGS
            .iter()
            .filter_map(|(var, _)| get(var).map(|v| (*var, SecretSource::parse(&v))))
            .collect();
        let pagerduty_events_url = get("PAGERDUTY_EVENTS_URL")
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_owned());
        let allow_http = match get("ALLOW_HTTP_WEBHOOKS") {
            None => false,
            Some(v) => crate::common::env::parse_bool(&v).ok_or_else(|| {
                setup_err("ALLOW_HTTP_WEBHOOKS", format!("{v:?}: use true or false"))
            })?,
        };
        let positive = |name: &str| -> Result<Option<f64>, SetupError> {
            match get(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() && n > 0.0 => Ok(Some(n)),
                    _ => Err(setup_err(name, format!("{v:?}: use a positive number"))),
                },
            }
        };
        let mut http = HttpSettings::default();
        if let Some(t) = positive("WEBHOOK_TIMEOUT_SECONDS")? {
            http.timeout = Duration::from_secs_f64(t.min(900.0));
        }
        let mut generic_limits = WebhookKind::Generic.default_limits();
        if let Some(c) = positive("WEBHOOK_CONCURRENCY")? {
            if c.fract() != 0.0 || c > 256.0 {
                return Err(setup_err(
                    "WEBHOOK_CONCURRENCY",
                    "use a whole number from 1 to 256",
                ));
            }
            generic_limits.concurrency = c as usize;
        }
        generic_limits.rate_per_second = positive("WEBHOOK_RATE_PER_SECOND")?;
        let has = |var: &str| secrets.iter().any(|(v, _)| *v == var);
        for (needs, var) in [
            ("WEBHOOK_URL", "WEBHOOK_SIGNING_SECRET"),
            ("WEBHOOK_URL", "WEBHOOK_HEADERS"),
        ] {
            if has(var) && !has(needs) && bundle.is_none() {
                return Err(setup_err(
                    var,
                    format!("is set but {needs} is not: it applies to the generic webhook only"),
                ));
            }
        }
        if require && sns_topic_arn.is_none() && bundle.is_none() && secrets.is_empty() {
            return Err(setup_err(
                "destinations",
                "none is configured: set SNS_TOPIC_ARN, WEBHOOK_SECRET, or one of SLACK_WEBHOOK_URL, TEAMS_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY, WEBHOOK_URL",
            ));
        }
        Ok(DestinationsConfig {
            sns_topic_arn,
            message_format,
            bundle,
            secrets,
            pagerduty_events_url,
            http,
            generic_limits,
            allow_http,
        })
    }

    /// Builds the destinations — the one place they are built, for both binaries: a rules
    /// file's, in its order (a rule's destination indices index the result), or else the
    /// environment's (SNS first, then Slack, Teams, PagerDuty and the generic webhook). Fetches
    /// each secret (each document once) and checks every webhook (https, routing key, headers)
    /// with this configuration's HTTP settings (`WEBHOOK_TIMEOUT_SECONDS`,
    /// `PAGERDUTY_EVENTS_URL`, `ALLOW_HTTP_WEBHOOKS`). Errors name the setting, or the
    /// destination and key, never a value.
    pub async fn build(
        &self,
        rules: Option<&RulesConfig>,
        store: &mut SecretStore,
        sns: Option<aws_sdk_sns::Client>,
    ) -> Result<Vec<Destination>, SetupError> {
        match rules {
            Some(rules) => self.of_rules_file(rules, store, sns).await,
            None => self.of_variables(store, sns).await,
        }
    }

    /// A checked webhook destination; `from` names where its URL or key came from.
    fn webhook(
        &self,
        client: &reqwest::Client,
        from: String,
        target: WebhookTarget,
    ) -> Result<Destination, SetupError> {
        target
            .validate(self.allow_http)
            .map_err(|p| setup_err(from, p))?;
        Ok(Destination::Webhook(WebhookDestination::new(
            target,
            client.clone(),
            self.http,
        )))
    }

    /// The environment's destinations.
    async fn of_variables(
        &self,
        store: &mut SecretStore,
        sns: Option<aws_sdk_sns::Client>,
    ) -> Result<Vec<Destination>, SetupError> {
        // Every secret setting: (where it came from, its value).
        let mut values: Vec<(&'static str, String, Secret)> = Vec::new();
        if let Some(bundle) = &self.bundle {
            let doc = store
                .resolve(bundle)
                .await
                .map_err(|e| setup_err("WEBHOOK_SECRET", e.to_string()))?;
            let v: Value = serde_json::from_str(doc.expose()).map_err(|_| {
                setup_err(
                    "WEBHOOK_SECRET",
                    format!("{bundle}: the value is not a JSON object"),
                )
            })?;
            let Value::Object(map) = v else {
                return Err(setup_err(
                    "WEBHOOK_SECRET",
                    format!("{bundle}: the value is not a JSON object"),
                ));
            };
            for key in map.keys() {
                if !SECRET_SETTINGS.iter().any(|(_, m)| m == key) {
                    return Err(setup_err(
                        "WEBHOOK_SECRET",
                        format!(
                            "{bundle}: unknown member {key:?}; the members are {}",
                            SECRET_SETTINGS.map(|(_, m)| m).join(", ")
                        ),
                    ));
                }
            }
            for (var, m) in SECRET_SETTINGS {
                let Some(value) = map.get(m) else { continue };
                if self.secrets.iter().any(|(v, _)| *v == var) {
                    return Err(setup_err(
                        var,
                        format!("is set, and WEBHOOK_SECRET has the member {m:?} too: keep one"),
                    ));
                }
                let value = match value {
                    // Headers may be given as an object.
                    Value::Object(_) if m == "webhook_headers" => Secret::new(value.to_string()),
                    _ => member(&doc, m)
                        .map_err(|p| setup_err("WEBHOOK_SECRET", format!("{bundle}: {p}")))?,
                };
                values.push((var, format!("WEBHOOK_SECRET member {m}"), value));
            }
        }
        for (var, source) in &self.secrets {
            let value = source.get(store).await.map_err(|p| setup_err(*var, p))?;
            values.push((var, (*var).to_owned(), value));
        }
        let find = |var: &str| {
            values
                .iter()
                .find(|(v, _, _)| *v == var)
                .map(|(_, from, s)| (from.clone(), s.clone()))
        };

        let mut out = Vec::new();
        if let Some(topic) = &self.sns_topic_arn {
            let client = sns.clone().ok_or_else(|| {
                setup_err(
                    "SNS_TOPIC_ARN",
                    "an SNS client is needed (AWS configuration)",
                )
            })?;
            out.push(Destination::Sns(SnsDestination::new(
                client,
                topic.clone(),
                self.message_format,
            )));
        }
        let client = http_client(&self.http).map_err(|p| setup_err("webhooks", p))?;
        let mut add = |from: String, target: WebhookTarget| -> Result<(), SetupError> {
            out.push(self.webhook(&client, from, target)?);
            Ok(())
        };
        for (var, kind) in [
            ("SLACK_WEBHOOK_URL", WebhookKind::Slack),
            ("TEAMS_WEBHOOK_URL", WebhookKind::Teams),
        ] {
            if let Some((from, url)) = find(var) {
                add(from, target(kind, url))?;
            }
        }
        if let Some((from, key)) = find("PAGERDUTY_ROUTING_KEY") {
            let mut t = target(
                WebhookKind::PagerDuty,
                Secret::new(&self.pagerduty_events_url),
            );
            t.routing_key = Some(key);
            add(from, t)?;
        }
        let signing = find("WEBHOOK_SIGNING_SECRET");
        let headers = find("WEBHOOK_HEADERS");
        match find("WEBHOOK_URL") {
            Some((from, url)) => {
                let mut t = target(WebhookKind::Generic, url);
                t.limits = self.generic_limits;
                t.signing_secret = signing.map(|(_, s)| s);
                if let Some((hfrom, h)) = headers {
                    t.headers = parse_headers(&h).map_err(|p| setup_err(hfrom, p))?;
                }
                add(from, t)?;
            }
            None => {
                if let Some((from, _)) = signing.or(headers) {
                    return Err(setup_err(
                        from,
                        "applies to the generic webhook, but no webhook_url / WEBHOOK_URL is set",
                    ));
                }
            }
        }
        if out.is_empty() {
            return Err(setup_err(
                "WEBHOOK_SECRET",
                "has none of slack_webhook_url, teams_webhook_url, pagerduty_routing_key, webhook_url, and SNS_TOPIC_ARN is not set: no destination",
            ));
        }
        Ok(out)
    }

    /// Whether resolving needs AWS (an SNS topic or a secret reference other than `env:`).
    pub fn needs_aws(&self) -> bool {
        let aws_ref = |r: &SecretRef| !matches!(r, SecretRef::Env { .. });
        self.sns_topic_arn.is_some()
            || self.bundle.as_ref().is_some_and(aws_ref)
            || self
                .secrets
                .iter()
                .any(|(_, s)| matches!(s, SecretSource::Ref(r) if aws_ref(r)))
    }
}

impl DestinationsConfig {
    /// Whether any destination is set in the environment (ignored when a rules file names the
    /// destinations).
    pub fn has_destinations(&self) -> bool {
        self.sns_topic_arn.is_some() || self.bundle.is_some() || !self.secrets.is_empty()
    }

    /// A rules file's destinations, in its order.
    async fn of_rules_file(
        &self,
        rules: &RulesConfig,
        store: &mut SecretStore,
        sns: Option<aws_sdk_sns::Client>,
    ) -> Result<Vec<Destination>, SetupError> {
        let client = http_client(&self.http).map_err(|p| setup_err("webhooks", p))?;
        let mut out = Vec::with_capacity(rules.destinations().len());
        for d in rules.destinations() {
            let at = |key: &str| format!("{}: destinations.{}.{key}", rules.origin(), d.name);
            let mut fetch = async |key: &str, r: &SecretRef| -> Result<Secret, SetupError> {
                store
                    .resolve(r)
                    .await
                    .map_err(|e| setup_err(at(key), e.to_string()))
            };
            let (kind, url, routing_key, signing_secret, headers) = match &d.kind {
                RulesKind::Sns { topic_arn, format } => {
                    let client = sns.clone().ok_or_else(|| {
                        setup_err(
                            at("topic_arn"),
                            "an SNS client is needed (AWS configuration)",
                        )
                    })?;
                    out.push(Destination::Sns(
                        SnsDestination::new(client, topic_arn.clone(), *format)
                            .with_name(d.name.clone()),
                    ));
                    continue;
                }
                RulesKind::Slack { url } => (
                    WebhookKind::Slack,
                    fetch("url", url).await?,
                    None,
                    None,
                    Vec::new(),
                ),
                RulesKind::Teams { url } => (
                    WebhookKind::Teams,
                    fetch("url", url).await?,
                    None,
                    None,
                    Vec::new(),
                ),
                RulesKind::PagerDuty { routing_key } => (
                    WebhookKind::PagerDuty,
                    Secret::new(&self.pagerduty_events_url),
                    Some(fetch("routing_key", routing_key).await?),
                    None,
                    Vec::new(),
                ),
                RulesKind::Webhook {
                    url,
                    signing_secret,
                    headers,
                } => {
                    let url = fetch("url", url).await?;
                    let signing = match signing_secret {
                        Some(r) => Some(fetch("signing_secret", r).await?),
                        None => None,
                    };
                    let mut resolved = Vec::with_capacity(headers.len());
                    for (name, value) in headers {
                        let v = match value {
                            HeaderValue::Literal(v) => Secret::new(v),
                            HeaderValue::Secret(r) => fetch(&format!("headers.{name}"), r).await?,
                        };
                        resolved.push((name.clone(), v));
                    }
                    (WebhookKind::Generic, url, None, signing, resolved)
                }
            };
            let mut limits = kind.default_limits();
            if let Some(c) = d.concurrency {
                limits.concurrency = c as usize;
            }
            if let Some(r) = d.rate_per_second {
                limits.rate_per_second = Some(r);
            }
            let t = WebhookTarget {
                name: d.name.clone(),
                kind,
                url,
                routing_key,
                signing_secret,
                headers,
                limits,
            };
            let key = if kind == WebhookKind::PagerDuty {
                "routing_key"
            } else {
                "url"
            };
            out.push(self.webhook(&client, at(key), t)?);
        }
        Ok(out)
    }
}

/// Where the rules file is: `RULES_CONFIG` (Lambda) or `process --config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesLocation {
    /// A local file.
    File(std::path::PathBuf),
    /// An S3 object, `s3://BUCKET/KEY`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// An SSM parameter, `ssm:NAME` or its ARN (a SecureString is decrypted).
    Ssm(String),
}

/// Largest rules file read from anywhere.
pub const MAX_RULES_BYTES: usize = 1024 * 1024;

impl std::fmt::Display for RulesLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesLocation::File(p) => write!(f, "{}", p.display()),
            RulesLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            RulesLocation::Ssm(name) => write!(f, "ssm:{name}"),
        }
    }
}

impl RulesLocation {
    /// `s3://BUCKET/KEY`, `ssm:NAME`, an SSM parameter ARN, or a path.
    pub fn parse(s: &str) -> Result<RulesLocation, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("is empty: give a path, s3://BUCKET/KEY or ssm:NAME".into());
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(RulesLocation::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    })
                }
                _ => Err(format!("{s:?} is not s3://BUCKET/KEY")),
            };
        }
        if let Some(name) = s.strip_prefix("ssm:") {
            if name.is_empty() {
                return Err("ssm: needs a parameter name, e.g. ssm:/guardduty-alerts/rules".into());
            }
            return Ok(RulesLocation::Ssm(name.to_owned()));
        }
        if s.starts_with("arn:") && s.contains(":ssm:") && s.contains(":parameter/") {
            return Ok(RulesLocation::Ssm(s.to_owned()));
        }
        Ok(RulesLocation::File(s.into()))
    }

    /// Whether reading it needs AWS.
    pub fn needs_aws(&self) -> bool {
        !matches!(self, RulesLocation::File(_))
    }

    /// Reads and checks the rules file. A missing file, a fetch error or every error in the
    /// file is one message naming the location.
    pub async fn load(&self, sdk: Option<&aws_config::SdkConfig>) -> Result<RulesConfig, String> {
        let origin = self.to_string();
        let text = match self {
            RulesLocation::File(p) => {
                let meta = std::fs::metadata(p)
                    .map_err(|e| format!("{origin}: cannot read the rules file: {e}"))?;
                if meta.len() > MAX_RULES_BYTES as u64 {
                    return Err(format!(
                        "{origin}: {} bytes; a rules file is at most {MAX_RULES_BYTES} bytes",
                        meta.len()
                    ));
                }
                std::fs::read_to_string(p)
                    .map_err(|e| format!("{origin}: cannot read the rules file: {e}"))?
            }
            RulesLocation::S3 { bucket, key } => {
                let sdk = sdk.ok_or_else(|| format!("{origin}: no AWS configuration"))?;
                read_s3_text(&crate::app::aws::s3_client(sdk), bucket, key)
                    .await
                    .map_err(|e| format!("{origin}: {e}"))?
            }
            RulesLocation::Ssm(name) => {
                let sdk = sdk.ok_or_else(|| format!("{origin}: no AWS configuration"))?;
                let r = SecretRef::Ssm {
                    name: name.clone(),
                    key: None,
                };
                SecretStore::new(sdk)
                    .resolve(&r)
                    .await
                    .map_err(|e| format!("{origin}: {}", e.problem))?
                    .expose()
                    .to_owned()
            }
        };
        RulesConfig::from_toml_str(&text, &origin).map_err(|e| e.to_string())
    }
}

async fn read_s3_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<String, String> {
    use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| match e.code() {
            Some("NoSuchKey" | "NoSuchBucket") => "the object does not exist".to_owned(),
            Some("AccessDenied") => {
                "access denied: the role needs s3:GetObject on the rules object (and kms:Decrypt on its key if it is SSE-KMS encrypted)".to_owned()
            }
            _ => format!("cannot be read: {}", DisplayErrorContext(&e)),
        })?;
    let mut body = out.body;
    let mut buf = Vec::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("reading it broke off: {e}"))?
    {
        if buf.len() + chunk.len() > MAX_RULES_BYTES {
            return Err(format!(
                "more than {MAX_RULES_BYTES} bytes; a rules file is at most that"
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| "is not UTF-8 text".to_owned())
}

fn target(kind: WebhookKind, url: Secret) -> WebhookTarget {
    WebhookTarget {
        name: kind.as_str().to_owned(),
        kind,
        url,
        routing_key: None,
        signing_secret: None,
        headers: Vec::new(),
        limits: kind.default_limits(),
    }
}

/// Static headers: a JSON object of strings, `{"X-Team": "security"}`. Errors name headers,
/// never values.
pub fn parse_headers(s: &Secret) -> Result<Vec<(String, Secret)>, String> {
    let v: Value = serde_json::from_str(s.expose()).map_err(|_| {
        "must be a JSON object of strings, e.g. {\"X-Team\": \"security\"}".to_owned()
    })?;
    let Value::Object(map) = v else {
        return Err("must be a JSON object of strings, e.g. {\"X-Team\": \"security\"}".into());
    };
    map.into_iter()
        .map(|(k, v)| {
            crate::common::headers::check_header_name(&k)
                .map_err(|why| format!("header {k:?} {why}"))?;
            match v {
                Value::String(s) => Ok((k, Secret::new(s))),
                _ => Err(format!("the value of header {k:?} is not a string")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<DestinationsConfig, SetupError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        DestinationsConfig::from_lookup(|k| m.get(k).cloned())
    }

    async fn resolve(vars: &[(&str, &str)]) -> Result<Vec<Destination>, SetupError> {
        cfg(vars)?
            .build(None, &mut SecretStore::env_only(), None)
            .await
    }

    const SLACK: &str = "https://hooks.slack.com/services/T0/B0/s3cr3tToken";

    #[test]
    fn reading_the_variables() {
        let e = cfg(&[]).unwrap_err().to_string();
        assert!(
            e.starts_with("configuration error: destinations: none is configured"),
            "{e}"
        );
        let e = cfg(&[("SNS_TOPIC_ARN", "alerts")]).unwrap_err().to_string();
        assert!(
            e.contains("SNS_TOPIC_ARN") && e.contains("not an SNS topic ARN"),
            "{e}"
        );
        let e = cfg(&[("WEBHOOK_SECRET", "https://x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("must name a Secrets Manager secret"), "{e}");
        let e = cfg(&[("SLACK_WEBHOOK_URL", SLACK), ("WEBHOOK_CONCURRENCY", "2.5")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WEBHOOK_CONCURRENCY: use a whole number"), "{e}");
        let e = cfg(&[
            ("SLACK_WEBHOOK_URL", SLACK),
            ("WEBHOOK_SIGNING_SECRET", "k"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("WEBHOOK_SIGNING_SECRET: is set but WEBHOOK_URL is not"),
            "{e}"
        );
        let c = cfg(&[
            ("SLACK_WEBHOOK_URL", SLACK),
            ("PAGERDUTY_ROUTING_KEY", "ssm:/gd/pd#key"),
            ("WEBHOOK_RATE_PER_SECOND", "5"),
            ("WEBHOOK_TIMEOUT_SECONDS", "2.5"),
        ])
        .unwrap();
        assert_eq!(c.generic_limits.rate_per_second, Some(5.0));
        assert_eq!(c.http.timeout, Duration::from_millis(2500));
        assert!(c.needs_aws());
        assert!(matches!(
            &c.secrets[1].1,
            SecretSource::Ref(SecretRef::Ssm { .. })
        ));
        assert!(!cfg(&[("SLACK_WEBHOOK_URL", SLACK)]).unwrap().needs_aws());
        // Debug output of the whole configuration shows no secret.
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3tToken"), "{dbg}");
    }

    #[tokio::test]
    async fn resolving_literal_values() {
        let d = resolve(&[
            ("SLACK_WEBHOOK_URL", SLACK),
            ("TEAMS_WEBHOOK_URL", "https://prod.example.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=abc"),
            ("PAGERDUTY_ROUTING_KEY", "0123456789abcdef0123456789abcdef"),
            ("WEBHOOK_URL", "https://siem.example.com/ingest"),
            ("WEBHOOK_SIGNING_SECRET", "sign-me"),
            ("WEBHOOK_HEADERS", r#"{"X-Team":"sec"}"#),
        ])
        .await
        .unwrap();
        let names: Vec<&str> = d.iter().map(Destination::name).collect();
        assert_eq!(names, ["slack", "teams", "pagerduty", "webhook"]);
        let Destination::Webhook(pd) = &d[2] else {
            panic!()
        };
        assert_eq!(pd.target().url.expose(), PAGERDUTY_EVENTS_URL);
        let Destination::Webhook(g) = &d[3] else {
            panic!()
        };
        assert_eq!(g.target().headers.len(), 1);
        assert!(g.target().signing_secret.is_some());
        assert_eq!(g.target().limits.concurrency, 16);
    }

    #[tokio::test]
    async fn resolving_errors_name_the_setting_never_the_value() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![(
                    "SLACK_WEBHOOK_URL",
                    "http://hooks.slack.com/services/s3cr3tToken",
                )],
                "configuration error: SLACK_WEBHOOK_URL: the URL must be https://",
            ),
            (
                vec![("TEAMS_WEBHOOK_URL", "s3cr3tToken")],
                "configuration error: TEAMS_WEBHOOK_URL: the URL is not a valid URL",
            ),
            (
                vec![("WEBHOOK_URL", SLACK), ("WEBHOOK_HEADERS", "s3cr3tToken")],
                "configuration error: WEBHOOK_HEADERS: must be a JSON object of strings",
            ),
            (
                vec![
                    ("WEBHOOK_URL", SLACK),
                    ("WEBHOOK_HEADERS", r#"{"Content-Type":"s3cr3tToken"}"#),
                ],
                "configuration error: WEBHOOK_HEADERS: header \"Content-Type\" is set by the sender and cannot be configured",
            ),
            (
                vec![
                    ("WEBHOOK_URL", SLACK),
                    (
                        "WEBHOOK_HEADERS",
                        r#"{"X-GuardDuty-Alerts-Signature":"v1=s3cr3tToken"}"#,
                    ),
                ],
                "configuration error: WEBHOOK_HEADERS: header \"X-GuardDuty-Alerts-Signature\" is set by guardduty-alerts itself",
            ),
            (
                vec![("SLACK_WEBHOOK_URL", "env:GUARDDUTY_ALERTS_TEST_UNSET_VAR")],
                "configuration error: SLACK_WEBHOOK_URL: secret env:GUARDDUTY_ALERTS_TEST_UNSET_VAR: the environment variable GUARDDUTY_ALERTS_TEST_UNSET_VAR is not set",
            ),
            (
                vec![
                    ("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/s3cr3tToken"),
                    ("ALLOW_HTTP_WEBHOOKS", "true"),
                ],
                "",
            ),
        ];
        for (vars, want) in cases {
            match resolve(&vars).await {
                Err(e) => {
                    let e = e.to_string();
                    assert!(!want.is_empty() && e.starts_with(want), "{vars:?}: {e}");
                    assert!(!e.contains("s3cr3tToken"), "{e}");
                }
                Ok(_) => assert!(want.is_empty(), "{vars:?} resolved"),
            }
        }
    }
}
