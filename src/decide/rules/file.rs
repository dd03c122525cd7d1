//! The rules file as written: serde structs that mirror the TOML, with spans for error
//! messages. [`super::compile`] checks them and builds the [`super::RulesConfig`].
//!
//! Each top-level section and each destination and rule is deserialized on its own, so one
//! broken rule does not hide the errors of the others. Every struct denies unknown keys.
//!
//! Credentials (webhook URLs, routing keys, signing secrets) are never kept from the file:
//! a literal string where a secret reference belongs is recorded as [`SecretInput::Literal`]
//! without its value, so no error message can echo it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// `[settings]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsFile {
    /// Alerts per destination per export above which non-critical alerts go into one digest
    /// (default 20).
    pub digest_threshold: Option<Spanned<u64>>,
    /// What happens to a finding no rule matches: `"suppress"` (the default) or a list of
    /// destination names to route it to.
    pub default: Option<Spanned<DefaultInput>>,
}

/// `settings.default`: the string `"suppress"`, or a list of destination names.
#[derive(Debug)]
pub(crate) enum DefaultInput {
    /// `"suppress"`.
    Suppress,
    /// Another string (an error, reported with a hint).
    OtherString(String),
    /// A list of destination names.
    Route(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for DefaultInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DefaultInput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#""suppress" or a list of destination names"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DefaultInput, E> {
                Ok(if v == "suppress" {
                    DefaultInput::Suppress
                } else {
                    DefaultInput::OtherString(v.to_owned())
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DefaultInput, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<Spanned<String>>()? {
                    names.push(n);
                }
                Ok(DefaultInput::Route(names))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string, or a list of strings (each with its span). A single string is a list of one.
#[derive(Debug)]
pub(crate) struct StrOrList {
    /// Where the whole value is.
    pub span: std::ops::Range<usize>,
    /// The strings.
    pub items: Vec<Spanned<String>>,
}

/// The span-less first form of [`StrOrList`], before the outer span is known.
#[derive(Debug)]
enum StrOrListInner {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for StrOrListInner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrListInner;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrListInner, E> {
                Ok(StrOrListInner::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrOrListInner, A::Error> {
                let mut items = Vec::new();
                while let Some(n) = seq.next_element::<Spanned<String>>()? {
                    items.push(n);
                }
                Ok(StrOrListInner::Many(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for StrOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<StrOrListInner>::deserialize(d)?;
        let span = spanned.span();
        let items = match spanned.into_inner() {
            StrOrListInner::One(s) => vec![Spanned::new(span.clone(), s)],
            StrOrListInner::Many(v) => v,
        };
        Ok(StrOrList { span, items })
    }
}

/// One `[destinations.NAME]` table. Which keys apply depends on `type`; the others are
/// reported as errors by the compiler.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestinationFile {
    /// `sns`, `slack`, `teams`, `pagerduty` or `webhook`.
    #[serde(rename = "type")]
    pub kind: Spanned<DestType>,
    /// sns: the topic ARN.
    pub topic_arn: Option<Spanned<String>>,
    /// sns: `json` (default) or `chatbot`.
    pub format: Option<Spanned<SnsFormatInput>>,
    /// slack, teams, webhook: where the webhook URL is kept.
    pub url: Option<Spanned<SecretInput>>,
    /// pagerduty: where the Events API v2 routing key is kept.
    pub routing_key: Option<Spanned<SecretInput>>,
    /// webhook: where the request signing secret is kept (optional).
    pub signing_secret: Option<Spanned<SecretInput>>,
    /// webhook: extra request headers, a literal value or a secret reference each.
    pub headers: Option<Spanned<BTreeMap<String, Spanned<HeaderInput>>>>,
    /// Requests in flight at once to this destination.
    pub concurrency: Option<Spanned<u64>>,
    /// Most requests per second to this destination.
    pub rate_per_second: Option<Spanned<f64>>,
    /// Overrides `settings.digest_threshold` for this destination.
    pub digest_threshold: Option<Spanned<u64>>,
}

/// The `type` of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DestType {
    /// An SNS topic.
    Sns,
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams Workflows webhook.
    Teams,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// Any HTTPS endpoint, generic JSON body.
    Webhook,
}

impl DestType {
    /// `an sns`, `a slack`, … for messages.
    pub fn with_article(self) -> &'static str {
        match self {
            DestType::Sns => "an sns",
            DestType::Slack => "a slack",
            DestType::Teams => "a teams",
            DestType::Pagerduty => "a pagerduty",
            DestType::Webhook => "a webhook",
        }
    }
}

/// `format` of an SNS destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SnsFormatInput {
    /// The JSON body.
    Json,
    /// The Amazon Q Developer in chat applications (formerly AWS Chatbot) custom notification.
    Chatbot,
}

/// Where a credential is kept: a table with one of `secret` (+ optional `key`), `ssm`, `env`;
/// or a literal string, which is refused (and whose value is dropped here).
#[derive(Debug)]
pub(crate) enum SecretInput {
    /// A literal string: a credential written into the file. Its value is not kept.
    Literal,
    /// A reference table.
    Ref(SecretRefFile),
}

/// The reference table of a credential.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretRefFile {
    /// A Secrets Manager secret: its ARN or name.
    pub secret: Option<String>,
    /// With `secret` or `ssm`: the member of a JSON value (without it the whole value is used).
    pub key: Option<String>,
    /// An SSM Parameter Store parameter name or ARN (a SecureString is decrypted).
    pub ssm: Option<String>,
    /// An environment variable of the function.
    pub env: Option<String>,
}

impl<'de> Deserialize<'de> for SecretInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretInput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a secret reference such as { env = "NAME" }"#)
            }
            // Never echo the string: it is most likely the credential itself.
            fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretInput, E> {
                Ok(SecretInput::Literal)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretInput, A::Error> {
                SecretRefFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(SecretInput::Ref)
            }
        }
        d.deserialize_any(V)
    }
}

/// One webhook header value: a literal string or a secret reference.
#[derive(Debug)]
pub(crate) enum HeaderInput {
    /// A literal value.
    Literal(String),
    /// A reference to a credential.
    Ref(SecretRefFile),
}

impl<'de> Deserialize<'de> for HeaderInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderInput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a string or a secret reference such as { env = "NAME" }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HeaderInput, E> {
                Ok(HeaderInput::Literal(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HeaderInput, A::Error> {
                SecretRefFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(HeaderInput::Ref)
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[rules]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    /// Unique name, shown in logs, metrics and outputs.
    pub name: Spanned<String>,
    /// Free text for the reader of the file.
    pub description: Option<String>,
    /// The criteria; `{}` matches every finding. Required, so that a forgotten `match` does not
    /// silently catch everything.
    #[serde(rename = "match")]
    pub matcher: Spanned<MatchFile>,
    /// `route`, `digest` or `suppress`.
    pub action: Spanned<ActionKind>,
    /// route, digest: destination names.
    pub destinations: Option<Spanned<Vec<Spanned<String>>>>,
    /// suppress: why (reported for every suppressed finding).
    pub reason: Option<Spanned<String>>,
    /// route, digest: a link template for the alerts' runbook (see [`super::runbook`]).
    pub runbook: Option<Spanned<String>>,
}

/// `action` of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ActionKind {
    /// Send an alert per finding (subject to the digest threshold).
    Route,
    /// Put the finding into the export's digest only.
    Digest,
    /// Drop the finding, with a reason.
    Suppress,
}

/// A rule's `match` table. Every key is optional; list keys also take a single string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchFile {
    /// Severity ranges (`"7..9"`, `"4.5.."`, `"..=3"`, `"high.."`) or bands (`"high"`).
    pub severity: Option<StrOrList>,
    /// Finding-type globs (`"Recon:*"`, `"*:EC2/*"`, `"*!DNS"`).
    pub types: Option<StrOrList>,
    /// Threat purposes (`"Recon"`, `"UnauthorizedAccess"`).
    pub purposes: Option<StrOrList>,
    /// The type's ResourceTypeAffected (`"EC2"`, `"IAMUser"`, `"S3"`, `"Kubernetes"`).
    pub affected: Option<StrOrList>,
    /// `resource.resourceType` (`"Instance"`, `"AccessKey"`, `"S3Bucket"`, `"EKSCluster"`).
    pub resource_types: Option<StrOrList>,
    /// 12-digit account ids or names from `[accounts]`.
    pub accounts: Option<StrOrList>,
    /// Regions (`"us-east-1"`).
    pub regions: Option<StrOrList>,
    /// Resource tags, `"key=value"`; the value may use `*`.
    pub tags: Option<StrOrList>,
    /// `service.featureName` (`"FlowLogs"`, `"RuntimeMonitoring"`).
    pub features: Option<StrOrList>,
    /// Sample findings only (`true`) or real ones only (`false`).
    pub sample: Option<bool>,
    /// Archived findings only (`true`) or unarchived ones only (`false`).
    pub archived: Option<bool>,
}
