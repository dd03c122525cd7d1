//! Checking a rules file and building the [`RulesConfig`]: every error is collected, each
//! naming its rule or destination, the key and the line, and saying what to write instead.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::file::{
    ActionKind, DefaultInput, DestType, DestinationFile, HeaderInput, MatchFile, RuleFile,
    SecretInput, SecretRefFile, SettingsFile, SnsFormatInput, StrOrList,
};
use super::index::Prefilter;
use super::matcher::{Glob, Matcher, Patterns, SeverityRange, TagMatch, account_number, band_end};
use super::{
    Account, ConfigError, ConfigErrors, DEFAULT_DIGEST_THRESHOLD, Destination, DestinationKind,
    HeaderValue, MAX_DIGEST_THRESHOLD, NO_RULE_MATCHED, Rule, RulesConfig, SecretRef, StoredAction,
};
use crate::classify::SeverityLabel;
use crate::common::format::MessageFormat;
use crate::common::names::{is_account_id, is_region, is_sns_topic_arn};

/// The vocabularies GuardDuty documents (open sets: others are accepted with a warning).
pub(crate) use crate::classify::{
    DOCUMENTED_AFFECTED as AFFECTED, DOCUMENTED_PURPOSES as PURPOSES,
    DOCUMENTED_RESOURCE_TYPES as RESOURCE_TYPES,
};

/// Most requests in flight a destination may ask for.
const MAX_CONCURRENCY: u64 = 64;

const SEVERITY_HINT: &str = r#"write e.g. "7..9", "7.." or "..4""#;
const SECRET_HINT: &str =
    r#"{ env = "VAR" }, { ssm = "/name" } or { secret = "arn-or-name", key = "field" }"#;

/// Collects errors and warnings with their lines.
struct Cx<'t> {
    origin: &'t str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl<'t> Cx<'t> {
    fn new(text: &'t str, origin: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Cx {
            origin,
            line_starts,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        let at = span?.start;
        Some(self.line_starts.partition_point(|&s| s <= at).max(1))
    }

    fn make(
        &self,
        span: Option<Range<usize>>,
        context: &str,
        field: &str,
        message: String,
    ) -> ConfigError {
        ConfigError {
            origin: self.origin.to_owned(),
            line: self.line(span),
            context: context.to_owned(),
            field: field.to_owned(),
            message,
        }
    }

    fn error(
        &mut self,
        span: Option<Range<usize>>,
        ctx: &str,
        field: &str,
        msg: impl Into<String>,
    ) {
        let e = self.make(span, ctx, field, msg.into());
        self.errors.push(e);
    }

    fn warn(&mut self, span: Option<Range<usize>>, ctx: &str, field: &str, msg: impl Into<String>) {
        let e = self.make(span, ctx, field, msg.into());
        self.warnings.push(e);
    }

    /// A serde error while reading one part: the key path is found from the error's position.
    fn serde_error(&mut self, e: &toml::de::Error, ctx: &str, raw: &Spanned<DeValue<'_>>) {
        let span = e.span();
        let field = span.as_ref().map(|s| path_at(raw, s)).unwrap_or_default();
        self.error(span, ctx, &field, e.message().trim_end().to_owned());
    }
}

/// The dotted path of the innermost key whose value holds `at`, within `v`. A table written
/// with its own `[header]` has a span covering only the header, so a table also holds what
/// its entries hold.
fn path_at(v: &Spanned<DeValue<'_>>, at: &Range<usize>) -> String {
    fn within(s: &Range<usize>, at: &Range<usize>) -> bool {
        s.start <= at.start && at.end <= s.end
    }
    fn holds(v: &Spanned<DeValue<'_>>, at: &Range<usize>) -> bool {
        within(&v.span(), at)
            || match v.get_ref() {
                DeValue::Table(t) => t.iter().any(|(k, v)| within(&k.span(), at) || holds(v, at)),
                _ => false,
            }
    }
    let mut path: Vec<String> = Vec::new();
    let mut cur = v;
    while let DeValue::Table(t) = cur.get_ref() {
        // The error is about a key of this table (e.g. an unknown one): the path ends here.
        if t.iter().any(|(k, _)| within(&k.span(), at)) {
            break;
        }
        match t.iter().find(|(_, v)| holds(v, at)) {
            Some((k, v)) => {
                path.push(k.get_ref().to_string());
                cur = v;
            }
            None => break,
        }
    }
    path.join(".")
}

fn deserialize<'i, T: Deserialize<'i>>(v: Spanned<DeValue<'i>>) -> Result<T, toml::de::Error> {
    T::deserialize(ValueDeserializer::from(v))
}

/// Builds the config from the file's text, or every error found.
pub(crate) fn compile(text: &str, origin: &str) -> Result<RulesConfig, ConfigErrors> {
    let mut cx = Cx::new(text, origin);
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in &syntax {
            cx.error(
                e.span(),
                "",
                "",
                format!("invalid TOML: {}", e.message().trim_end()),
            );
        }
        return Err(ConfigErrors { errors: cx.errors });
    }

    let mut sections: BTreeMap<&'static str, Spanned<DeValue<'_>>> = BTreeMap::new();
    for (key, value) in root.into_inner() {
        let name = match key.get_ref().as_ref() {
            "settings" => "settings",
            "accounts" => "accounts",
            "destinations" => "destinations",
            "rules" => "rules",
            other => {
                cx.error(
                    Some(key.span()),
                    "",
                    "",
                    format!(
                        "unknown section `{other}`: a rules file has [settings], [accounts], \
                         [destinations.NAME] and [[rules]]"
                    ),
                );
                continue;
            }
        };
        sections.insert(name, value);
    }

    let accounts = sections
        .remove("accounts")
        .map(|v| accounts(&mut cx, v))
        .unwrap_or_default();

    let settings = match sections.remove("settings") {
        None => None,
        Some(v) => {
            let raw = v.clone();
            match deserialize::<SettingsFile>(v) {
                Ok(s) => Some(s),
                Err(e) => {
                    cx.serde_error(&e, "settings", &raw);
                    None
                }
            }
        }
    };
    let digest_threshold = settings
        .as_ref()
        .and_then(|s| s.digest_threshold.as_ref())
        .map_or(DEFAULT_DIGEST_THRESHOLD, |t| {
            threshold(&mut cx, t, "settings", "digest_threshold")
        });

    // `declared` names every destination, also those with errors, so that rules naming them
    // are not reported again; when there are no errors it matches `destinations`.
    let (destinations, declared) = sections
        .remove("destinations")
        .map(|v| destinations(&mut cx, v, digest_threshold))
        .unwrap_or_default();
    let names: Vec<&str> = declared.iter().map(String::as_str).collect();
    let mut used = vec![false; names.len()];

    let mut default_span = None;
    let default = match settings.and_then(|s| s.default) {
        None => StoredAction::Suppress(NO_RULE_MATCHED.to_owned()),
        Some(d) => {
            let span = d.span();
            default_span = Some(span.clone());
            match d.into_inner() {
                DefaultInput::Suppress => StoredAction::Suppress(NO_RULE_MATCHED.to_owned()),
                DefaultInput::OtherString(s) => {
                    let hint = if names.contains(&s.as_str()) {
                        format!("; to route unmatched findings to it write [{s:?}]")
                    } else {
                        String::new()
                    };
                    cx.error(
                        Some(span),
                        "settings",
                        "default",
                        format!(
                            r#"{s:?} is not an action: write "suppress" or a list of destination names, e.g. ["security-sns"]{hint}"#
                        ),
                    );
                    StoredAction::Suppress(NO_RULE_MATCHED.to_owned())
                }
                DefaultInput::Route(list) => {
                    if list.is_empty() {
                        cx.error(
                            Some(span),
                            "settings",
                            "default",
                            r#"an empty list sends unmatched findings nowhere: write "suppress" to drop them, or name destinations"#,
                        );
                    }
                    let ids = destination_refs(&mut cx, "settings", "default", &list, &names);
                    for &i in &ids {
                        used[i] = true;
                    }
                    StoredAction::Route(ids)
                }
            }
        }
    };

    let mut patterns = Patterns::default();
    let rules = match sections.remove("rules") {
        None => Vec::new(),
        Some(v) => rules(&mut cx, v, &names, &accounts, &mut used, &mut patterns),
    };

    // A rule with an empty match decides every finding: the rules after it never run.
    if let Some(first) = rules.iter().position(|r| r.matcher.is_empty()) {
        let catch_all = &rules[first];
        for (i, r) in rules.iter().enumerate().skip(first + 1) {
            let span = r.line.map(|l| cx.line_starts[l - 1]..cx.line_starts[l - 1]);
            cx.error(
                span,
                &rule_context(i, Some(&r.name)),
                "",
                format!(
                    "can never match: {} has an empty match and decides every finding first \
                     (move it to the end, or give it criteria)",
                    rule_context(first, Some(&catch_all.name))
                ),
            );
        }
        if default_span.is_some() {
            cx.warn(
                default_span,
                "settings",
                "default",
                format!(
                    "never used: {} matches every finding",
                    rule_context(first, Some(&catch_all.name))
                ),
            );
        }
    }
    for (name, used) in names.iter().zip(&used) {
        if !used {
            cx.warn(
                None,
                &format!("destinations.{name}"),
                "",
                "no rule and not settings.default sends anything here",
            );
        }
    }
    if rules.is_empty() && matches!(default, StoredAction::Suppress(_)) && cx.errors.is_empty() {
        cx.warn(
            None,
            "",
            "",
            "there are no rules and settings.default is \"suppress\": every finding is suppressed",
        );
    }

    // File order; stable, so errors on one line keep the order they were found in.
    let by_line = |e: &ConfigError| e.line.unwrap_or(usize::MAX);
    cx.errors.sort_by_key(by_line);
    cx.warnings.sort_by_key(by_line);
    if !cx.errors.is_empty() {
        return Err(ConfigErrors { errors: cx.errors });
    }
    let mut accounts: Vec<Account> = accounts;
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(RulesConfig {
        id: super::next_id(),
        type_globs: rules.iter().any(|r| r.matcher.has_types()),
        origin: origin.to_owned(),
        digest_threshold,
        default,
        accounts,
        destinations,
        prefilter: Prefilter::new(rules.iter().map(|r| &r.matcher), &patterns),
        rules,
        patterns,
        warnings: cx.warnings,
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A digest threshold, at most [`MAX_DIGEST_THRESHOLD`]: alerts up to the threshold are held
/// until the export ends, so it bounds what is held in memory.
fn threshold(cx: &mut Cx<'_>, t: &Spanned<u64>, ctx: &str, field: &str) -> usize {
    let v = *t.get_ref();
    if v > MAX_DIGEST_THRESHOLD as u64 {
        cx.error(
            Some(t.span()),
            ctx,
            field,
            format!(
                "{v} is more than {MAX_DIGEST_THRESHOLD}: alerts up to the threshold are held \
                 until the export has been read, so it is bounded; give at most \
                 {MAX_DIGEST_THRESHOLD}"
            ),
        );
    }
    to_usize(v.min(MAX_DIGEST_THRESHOLD as u64))
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn accounts(cx: &mut Cx<'_>, v: Spanned<DeValue<'_>>) -> Vec<Account> {
    let span = v.span();
    let DeValue::Table(t) = v.into_inner() else {
        cx.error(
            Some(span),
            "accounts",
            "",
            r#"must be a table of account id = name, e.g. "123456789012" = "prod""#,
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in t {
        let id = k.get_ref().to_string();
        let field = format!("{id:?}");
        if !is_account_id(&id) {
            cx.error(
                Some(k.span()),
                "accounts",
                &field,
                "is not a 12-digit account id (write the id in quotes, leading zeros included)",
            );
            continue;
        }
        let vspan = v.span();
        let name = match v.into_inner() {
            DeValue::String(s) => s.to_string(),
            other => {
                cx.error(
                    Some(vspan),
                    "accounts",
                    &field,
                    format!(
                        r#"the name must be a string, not {}: write "{id}" = "prod""#,
                        other.type_str()
                    ),
                );
                continue;
            }
        };
        if name.trim().is_empty() || name.trim() != name || name.chars().any(char::is_control) {
            cx.error(
                Some(vspan),
                "accounts",
                &field,
                format!("{name:?} is not a usable name: give a non-empty name without surrounding spaces"),
            );
            continue;
        }
        if is_account_id(&name) {
            cx.error(
                Some(vspan),
                "accounts",
                &field,
                format!("{name:?} looks like an account id: a name must not be 12 digits"),
            );
            continue;
        }
        out.push(Account { id, name });
    }
    out
}

fn is_destination_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The destinations that are correct, and the names of all declared, both in file order.
fn destinations(
    cx: &mut Cx<'_>,
    v: Spanned<DeValue<'_>>,
    default_threshold: usize,
) -> (Vec<Destination>, Vec<String>) {
    let span = v.span();
    let DeValue::Table(t) = v.into_inner() else {
        cx.error(
            Some(span),
            "destinations",
            "",
            "must be tables, one per destination: [destinations.NAME]",
        );
        return (Vec::new(), Vec::new());
    };
    // File order, not the parser's (alphabetical) order.
    let mut entries: Vec<_> = t.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let declared = entries
        .iter()
        .map(|(k, _)| k.get_ref().to_string())
        .collect();
    let mut out = Vec::new();
    for (k, v) in entries {
        let name = k.get_ref().to_string();
        let ctx = format!("destinations.{name}");
        if !is_destination_name(&name) {
            cx.error(
                Some(k.span()),
                &ctx,
                "",
                "a destination name has 1 to 64 letters, digits, '-' or '_'",
            );
            continue;
        }
        let raw = v.clone();
        let table_span = v.span();
        match deserialize::<DestinationFile>(v) {
            Err(e) => cx.serde_error(&e, &ctx, &raw),
            Ok(d) => {
                if let Some(d) = destination(cx, &ctx, name, d, table_span, default_threshold) {
                    out.push(d);
                }
            }
        }
    }
    (out, declared)
}

fn destination(
    cx: &mut Cx<'_>,
    ctx: &str,
    name: String,
    d: DestinationFile,
    table_span: Range<usize>,
    default_threshold: usize,
) -> Option<Destination> {
    let ty = *d.kind.get_ref();
    let errors_before = cx.errors.len();
    let allowed: &[&str] = match ty {
        DestType::Sns => &["topic_arn", "format"],
        DestType::Slack | DestType::Teams => &["url"],
        DestType::Pagerduty => &["routing_key"],
        DestType::Webhook => &["url", "signing_secret", "headers"],
    };
    let present: [(&str, Option<Range<usize>>); 6] = [
        ("topic_arn", d.topic_arn.as_ref().map(Spanned::span)),
        ("format", d.format.as_ref().map(Spanned::span)),
        ("url", d.url.as_ref().map(Spanned::span)),
        ("routing_key", d.routing_key.as_ref().map(Spanned::span)),
        (
            "signing_secret",
            d.signing_secret.as_ref().map(Spanned::span),
        ),
        ("headers", d.headers.as_ref().map(Spanned::span)),
    ];
    for (key, span) in &present {
        if let Some(span) = span
            && !allowed.contains(key)
        {
            cx.error(
                Some(span.clone()),
                ctx,
                key,
                format!(
                    "not a setting of {} destination (its settings: {})",
                    ty.with_article(),
                    allowed.join(", ")
                ),
            );
        }
    }
    let required = |key: &str| -> String {
        let example = match key {
            "topic_arn" => {
                r#"topic_arn = "arn:aws:sns:us-east-1:123456789012:guardduty-alerts""#.to_owned()
            }
            "url" => format!(
                r#"url = {{ env = "{}_URL" }}"#,
                name.to_ascii_uppercase().replace('-', "_")
            ),
            _ => format!(r#"{key} = {{ ssm = "/guardduty-alerts/{name}" }}"#),
        };
        format!(
            "{} destination needs {key}, e.g. {example}",
            capitalise(ty.with_article())
        )
    };

    let kind = match ty {
        DestType::Sns => {
            let topic_arn = match d.topic_arn {
                None => {
                    cx.error(Some(table_span.clone()), ctx, "", required("topic_arn"));
                    None
                }
                Some(arn) => {
                    if is_sns_topic_arn(arn.get_ref()) {
                        Some(arn.into_inner())
                    } else {
                        cx.error(
                            Some(arn.span()),
                            ctx,
                            "topic_arn",
                            format!(
                                r#"{:?} is not an SNS topic ARN: write arn:PARTITION:sns:REGION:ACCOUNT:TOPIC, e.g. "arn:aws:sns:us-east-1:123456789012:guardduty-alerts""#,
                                arn.get_ref()
                            ),
                        );
                        None
                    }
                }
            };
            let format = match d.format.map(Spanned::into_inner) {
                None | Some(SnsFormatInput::Json) => MessageFormat::Json,
                Some(SnsFormatInput::Chatbot) => MessageFormat::Chatbot,
            };
            topic_arn.map(|topic_arn| DestinationKind::Sns { topic_arn, format })
        }
        DestType::Slack | DestType::Teams => {
            let url = match d.url {
                None => {
                    cx.error(Some(table_span.clone()), ctx, "", required("url"));
                    None
                }
                Some(u) => secret(cx, ctx, "url", u),
            };
            url.map(|url| match ty {
                DestType::Slack => DestinationKind::Slack { url },
                _ => DestinationKind::Teams { url },
            })
        }
        DestType::Pagerduty => match d.routing_key {
            None => {
                cx.error(Some(table_span.clone()), ctx, "", required("routing_key"));
                None
            }
            Some(k) => secret(cx, ctx, "routing_key", k)
                .map(|routing_key| DestinationKind::PagerDuty { routing_key }),
        },
        DestType::Webhook => {
            let url = match d.url {
                None => {
                    cx.error(Some(table_span.clone()), ctx, "", required("url"));
                    None
                }
                Some(u) => secret(cx, ctx, "url", u),
            };
            let signing_secret = d
                .signing_secret
                .and_then(|s| secret(cx, ctx, "signing_secret", s));
            let headers = d.headers.map(|h| headers(cx, ctx, h)).unwrap_or_default();
            url.map(|url| DestinationKind::Webhook {
                url,
                signing_secret,
                headers,
            })
        }
    };

    let concurrency = d.concurrency.and_then(|c| {
        let v = *c.get_ref();
        if (1..=MAX_CONCURRENCY).contains(&v) {
            u32::try_from(v).ok()
        } else {
            cx.error(
                Some(c.span()),
                ctx,
                "concurrency",
                format!("{v} is out of range: give 1 to {MAX_CONCURRENCY} requests in flight"),
            );
            None
        }
    });
    let rate_per_second = d.rate_per_second.and_then(|r| {
        let v = *r.get_ref();
        if v.is_finite() && v > 0.0 {
            Some(v)
        } else {
            cx.error(
                Some(r.span()),
                ctx,
                "rate_per_second",
                format!(
                    "{v} is not a rate: give a number of requests per second above 0, e.g. 1 or 0.5"
                ),
            );
            None
        }
    });
    let digest_threshold = d.digest_threshold.map_or(default_threshold, |t| {
        threshold(cx, &t, ctx, "digest_threshold")
    });
    if cx.errors.len() > errors_before {
        return None;
    }
    Some(Destination {
        name,
        kind: kind?,
        concurrency,
        rate_per_second,
        digest_threshold,
    })
}

fn is_env_var(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn secret(cx: &mut Cx<'_>, ctx: &str, field: &str, s: Spanned<SecretInput>) -> Option<SecretRef> {
    let span = s.span();
    match s.into_inner() {
        SecretInput::Literal => {
            cx.error(
                Some(span),
                ctx,
                field,
                format!(
                    "a credential must not be written into the rules file (its value is not \
                     shown here); write where it is kept: {SECRET_HINT}"
                ),
            );
            None
        }
        SecretInput::Ref(r) => secret_ref(cx, ctx, field, span, r),
    }
}

fn secret_ref(
    cx: &mut Cx<'_>,
    ctx: &str,
    field: &str,
    span: Range<usize>,
    r: SecretRefFile,
) -> Option<SecretRef> {
    let given: Vec<&str> = [
        ("secret", r.secret.is_some()),
        ("ssm", r.ssm.is_some()),
        ("env", r.env.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    let mut bad = |msg: String| {
        cx.error(Some(span.clone()), ctx, field, msg);
        None
    };
    if given.len() != 1 {
        let what = if given.is_empty() {
            "names no place".to_owned()
        } else {
            format!("gives {}", given.join(" and "))
        };
        return bad(format!(
            "{what}: give exactly one of secret, ssm or env, e.g. {SECRET_HINT}"
        ));
    }
    if r.key.is_some() && r.env.is_some() {
        return bad(
            "key goes with secret or ssm (a member of a JSON secret or parameter), not env"
                .to_owned(),
        );
    }
    if let Some(k) = &r.key
        && k.is_empty()
    {
        return bad(
            "key is empty: name the member of the JSON value, or leave key out to use the whole value"
                .to_owned(),
        );
    }
    if let Some(id) = r.secret {
        if id.trim().is_empty() || id.chars().any(char::is_whitespace) {
            return bad(format!(
                "{id:?} is not a secret name or ARN (no spaces; e.g. \"gd-webhooks\")"
            ));
        }
        if id.starts_with("arn:") {
            let parts: Vec<&str> = id.splitn(7, ':').collect();
            if parts.len() != 7
                || parts[2] != "secretsmanager"
                || parts[5] != "secret"
                || !is_account_id(parts[4])
                || parts[6].is_empty()
            {
                return bad(format!(
                    "{id:?} is not a Secrets Manager secret ARN: write \
                     arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, or just the name"
                ));
            }
        }
        return Some(SecretRef::SecretsManager { id, key: r.key });
    }
    if let Some(name) = r.ssm {
        let ok = !name.is_empty()
            && !name.chars().any(|c| c.is_whitespace() || c.is_control())
            && (name.starts_with('/') || name.starts_with("arn:") || !name.contains('/'));
        if !ok {
            return bad(format!(
                "{name:?} is not a parameter name: no spaces, and a name with a path starts with / (e.g. \"/guardduty-alerts/slack\")"
            ));
        }
        return Some(SecretRef::Ssm { name, key: r.key });
    }
    let var = r.env.unwrap_or_default();
    if !is_env_var(&var) {
        return bad(format!(
            "{var:?} is not an environment variable name: letters, digits and _, not starting with a digit"
        ));
    }
    Some(SecretRef::Env { var })
}

fn headers(
    cx: &mut Cx<'_>,
    ctx: &str,
    h: Spanned<BTreeMap<String, Spanned<HeaderInput>>>,
) -> Vec<(String, HeaderValue)> {
    let mut out = Vec::new();
    for (name, v) in h.into_inner() {
        let field = format!("headers.{name}");
        let span = v.span();
        let lower = name.to_ascii_lowercase();
        // The same check as WEBHOOK_HEADERS: not our own x-guardduty-alerts-* names (a
        // configured signature header would replace the real HMAC), not the sender's.
        if let Err(why) = crate::common::headers::check_header_name(&name) {
            cx.error(Some(span), ctx, &field, why);
            continue;
        }
        match v.into_inner() {
            HeaderInput::Literal(value) => {
                let looks_secret = [
                    "auth",
                    "token",
                    "secret",
                    "key",
                    "cookie",
                    "password",
                    "signature",
                ]
                .iter()
                .any(|w| lower.contains(w));
                if looks_secret {
                    cx.error(
                        Some(span),
                        ctx,
                        &field,
                        format!(
                            "looks like a credential, which must not be written into the rules \
                             file (its value is not shown here); write where it is kept: \
                             {name} = {{ env = \"VAR\" }} (or ssm, or secret)"
                        ),
                    );
                    continue;
                }
                if value.chars().any(char::is_control) {
                    cx.error(
                        Some(span),
                        ctx,
                        &field,
                        "the value holds a control character (a line break?)",
                    );
                    continue;
                }
                out.push((name, HeaderValue::Literal(value)));
            }
            HeaderInput::Ref(r) => {
                if let Some(s) = secret_ref(cx, ctx, &field, span, r) {
                    out.push((name, HeaderValue::Secret(s)));
                }
            }
        }
    }
    out
}

/// Destination names to indices; unknown and repeated names are errors.
fn destination_refs(
    cx: &mut Cx<'_>,
    ctx: &str,
    field: &str,
    list: &[Spanned<String>],
    names: &[&str],
) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for n in list {
        match names.iter().position(|x| *x == n.get_ref().as_str()) {
            None => {
                let known = if names.is_empty() {
                    "there are no [destinations.NAME] tables".to_owned()
                } else {
                    format!("destinations: {}", names.join(", "))
                };
                cx.error(
                    Some(n.span()),
                    ctx,
                    field,
                    format!("unknown destination {:?} ({known})", n.get_ref()),
                );
            }
            Some(i) if out.contains(&i) => cx.error(
                Some(n.span()),
                ctx,
                field,
                format!("{:?} is listed twice", n.get_ref()),
            ),
            Some(i) => out.push(i),
        }
    }
    out
}

pub(crate) fn rule_context(index: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("rule #{} {n:?}", index + 1),
        None => format!("rule #{}", index + 1),
    }
}

fn is_rule_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn rules(
    cx: &mut Cx<'_>,
    v: Spanned<DeValue<'_>>,
    names: &[&str],
    accounts: &[Account],
    used: &mut [bool],
    patterns: &mut Patterns,
) -> Vec<Rule> {
    let span = v.span();
    let DeValue::Array(items) = v.into_inner() else {
        cx.error(
            Some(span),
            "rules",
            "",
            "must be an array of tables: write each rule under [[rules]]",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let raw_name = match item.get_ref() {
            DeValue::Table(t) => t
                .get("name")
                .and_then(|n| n.get_ref().as_str())
                .map(str::to_owned),
            _ => None,
        };
        let ctx = rule_context(i, raw_name.as_deref());
        if let Some(n) = &raw_name {
            if let Some((_, first)) = seen.iter().find(|(s, _)| s == n) {
                let name_span = match item.get_ref() {
                    DeValue::Table(t) => t.get("name").map(Spanned::span),
                    _ => None,
                };
                cx.error(
                    name_span,
                    &ctx,
                    "name",
                    format!(
                        "{n:?} is already the name of rule #{}: rule names must be unique",
                        first + 1
                    ),
                );
            } else {
                seen.push((n.clone(), i));
            }
        }
        let raw = item.clone();
        let item_span = item.span();
        match deserialize::<RuleFile>(item) {
            Err(e) => cx.serde_error(&e, &ctx, &raw),
            Ok(r) => {
                if let Some(rule) = rule(cx, &ctx, r, item_span, (names, accounts), used, patterns)
                {
                    out.push(rule);
                }
            }
        }
    }
    out
}

fn rule(
    cx: &mut Cx<'_>,
    ctx: &str,
    r: RuleFile,
    span: Range<usize>,
    (names, accounts): (&[&str], &[Account]),
    used: &mut [bool],
    patterns: &mut Patterns,
) -> Option<Rule> {
    let errors_before = cx.errors.len();
    let name = r.name.get_ref().clone();
    if !is_rule_name(&name) {
        cx.error(
            Some(r.name.span()),
            ctx,
            "name",
            "a rule name has 1 to 64 letters, digits, '-', '_' or '.' (it appears in logs and metrics)",
        );
    }
    let matcher = matcher(cx, ctx, r.matcher.into_inner(), accounts, patterns);
    let action_span = r.action.span();
    let action = match r.action.into_inner() {
        kind @ (ActionKind::Route | ActionKind::Digest) => {
            let word = if kind == ActionKind::Route {
                "route"
            } else {
                "digest"
            };
            if let Some(reason) = &r.reason {
                cx.error(
                    Some(reason.span()),
                    ctx,
                    "reason",
                    format!("a {word} rule has no reason (reason goes with action = \"suppress\"; use description for notes)"),
                );
            }
            let ids = match &r.destinations {
                None => {
                    cx.error(
                        Some(action_span),
                        ctx,
                        "destinations",
                        format!(r#"a {word} rule needs destinations, e.g. destinations = ["security-sns"]"#),
                    );
                    Vec::new()
                }
                Some(list) => {
                    if list.get_ref().is_empty() {
                        cx.error(
                            Some(list.span()),
                            ctx,
                            "destinations",
                            format!("a {word} rule needs at least one destination"),
                        );
                    }
                    destination_refs(cx, ctx, "destinations", list.get_ref(), names)
                }
            };
            for &i in &ids {
                used[i] = true;
            }
            if kind == ActionKind::Route {
                StoredAction::Route(ids)
            } else {
                StoredAction::Digest(ids)
            }
        }
        ActionKind::Suppress => {
            if let Some(d) = &r.destinations {
                cx.error(
                    Some(d.span()),
                    ctx,
                    "destinations",
                    "a suppress rule sends nothing: remove destinations (or use action = \"route\")",
                );
            }
            match r.reason {
                Some(reason) if !reason.get_ref().trim().is_empty() => {
                    StoredAction::Suppress(reason.into_inner())
                }
                Some(reason) => {
                    cx.error(
                        Some(reason.span()),
                        ctx,
                        "reason",
                        "is empty: say why these findings are dropped",
                    );
                    StoredAction::Suppress(String::new())
                }
                None => {
                    cx.error(
                        Some(action_span),
                        ctx,
                        "reason",
                        r#"a suppress rule needs a reason, reported for every finding it drops, e.g. reason = "sample findings""#,
                    );
                    StoredAction::Suppress(String::new())
                }
            }
        }
    };
    if cx.errors.len() > errors_before {
        return None;
    }
    Some(Rule {
        name,
        description: r.description,
        line: cx.line(Some(span)),
        matcher: matcher?,
        action,
    })
}

/// Compiles a `match` table; `None` when any criterion has an error (all are reported).
fn matcher(
    cx: &mut Cx<'_>,
    ctx: &str,
    m: MatchFile,
    accounts: &[Account],
    patterns: &mut Patterns,
) -> Option<Matcher> {
    let errors_before = cx.errors.len();
    let mut out = Matcher {
        sample: m.sample,
        archived: m.archived,
        ..Matcher::default()
    };

    out.severity = list(
        cx,
        ctx,
        "severity",
        m.severity,
        |cx, field, s| match parse_severity(s.get_ref()) {
            Ok(r) => Some(r),
            Err(msg) => {
                cx.error(Some(s.span()), ctx, field, msg);
                None
            }
        },
    );
    out.types = list(cx, ctx, "types", m.types, |cx, field, s| {
        type_glob(cx, ctx, field, s).map(|g| patterns.glob(g))
    });
    out.purposes = list(cx, ctx, "purposes", m.purposes, |cx, field, s| {
        vocabulary(cx, ctx, field, s, Vocab::Purpose)
    });
    out.affected = list(cx, ctx, "affected", m.affected, |cx, field, s| {
        vocabulary(cx, ctx, field, s, Vocab::Affected)
    });
    out.resource_types = list(
        cx,
        ctx,
        "resource_types",
        m.resource_types,
        |cx, field, s| vocabulary(cx, ctx, field, s, Vocab::ResourceType),
    );
    out.features = list(cx, ctx, "features", m.features, |cx, field, s| {
        let v = s.get_ref();
        if v.is_empty() || v.chars().any(char::is_whitespace) {
            cx.error(
                Some(s.span()),
                ctx,
                field,
                format!(r#"{v:?} is not a feature name such as "FlowLogs" or "RuntimeMonitoring""#),
            );
            return None;
        }
        Some(v.clone())
    });
    out.regions = list(cx, ctx, "regions", m.regions, |cx, field, s| {
        let v = s.get_ref();
        if is_region(v) {
            return Some(v.clone());
        }
        let lower = v.to_ascii_lowercase();
        let msg = if is_region(&lower) {
            format!("{v:?}: region names are lowercase, write {lower:?}")
        } else {
            format!(r#"{v:?} is not a region name such as "us-east-1""#)
        };
        cx.error(Some(s.span()), ctx, field, msg);
        None
    });
    out.tags = list(cx, ctx, "tags", m.tags, |cx, field, s| {
        let v = s.get_ref();
        match v.split_once('=') {
            None => {
                cx.error(
                    Some(s.span()),
                    ctx,
                    field,
                    format!(r#"{v:?} has no "=": write "key=value", or "{v}=*" for any value"#),
                );
                None
            }
            Some(("", _)) => {
                cx.error(
                    Some(s.span()),
                    ctx,
                    field,
                    format!(r#"{v:?} has an empty key: write "key=value""#),
                );
                None
            }
            Some((k, val)) => Some(patterns.tag(TagMatch {
                key: k.to_owned(),
                value: Glob::new(val),
            })),
        }
    });
    let account_field = "accounts";
    let accounts_list = list(cx, ctx, account_field, m.accounts, |cx, field, s| {
        let v = s.get_ref();
        if let Some(id) = account_number(v) {
            return Some(vec![id]);
        }
        let ids: Vec<u64> = accounts
            .iter()
            .filter(|a| a.name == *v)
            .filter_map(|a| account_number(&a.id))
            .collect();
        if !ids.is_empty() {
            return Some(ids);
        }
        let known = if accounts.is_empty() {
            "there is no [accounts] table".to_owned()
        } else {
            let mut n: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
            n.sort_unstable();
            n.dedup();
            format!("names: {}", n.join(", "))
        };
        let what = if v.bytes().all(|b| b.is_ascii_digit()) {
            format!(
                "{v:?} has {} digits; an account id has 12 (keep leading zeros)",
                v.len()
            )
        } else {
            format!("{v:?} is neither a 12-digit account id nor a name in [accounts] ({known})")
        };
        cx.error(Some(s.span()), ctx, field, what);
        None
    });
    out.accounts = accounts_list.map(|lists| {
        let mut ids: Vec<u64> = lists.into_iter().flatten().collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    });

    (cx.errors.len() == errors_before).then_some(out)
}

/// Checks each element of an optional list criterion with `each`; an empty list is an error.
fn list<T>(
    cx: &mut Cx<'_>,
    ctx: &str,
    key: &str,
    input: Option<StrOrList>,
    mut each: impl FnMut(&mut Cx<'_>, &str, &Spanned<String>) -> Option<T>,
) -> Option<Vec<T>> {
    let StrOrList { span, items } = input?;
    let field = format!("match.{key}");
    if items.is_empty() {
        cx.error(
            Some(span),
            ctx,
            &field,
            format!("an empty list never matches: remove {key} to match any value"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for s in &items {
        match each(cx, &field, s) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn label(s: &str) -> Option<SeverityLabel> {
    SeverityLabel::ALL
        .into_iter()
        .find(|l| s.eq_ignore_ascii_case(l.as_str()))
}

/// One bound of a severity range: a number from 0 to 10 or a label.
enum Bound {
    Number(f64),
    Label(SeverityLabel),
}

fn parse_bound(whole: &str, b: &str) -> Result<Bound, String> {
    let b = b.trim();
    if let Some(l) = label(b) {
        return Ok(Bound::Label(l));
    }
    match b.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=10.0).contains(&v) => Ok(Bound::Number(v)),
        Ok(v) if v.is_finite() => Err(format!(
            "{whole:?}: {b} is outside GuardDuty's severity scale, 0 to 10"
        )),
        _ => Err(format!(
            "{whole:?}: {b:?} is neither a number from 0 to 10 nor one of low, medium, high, critical; {SEVERITY_HINT}"
        )),
    }
}

/// `"7..9"` (7 <= s < 9), `"7..=9"`, `"4.5.."`, `"..4"`, `"high.."` (s >= 7),
/// `"low..medium"` (s < 7: a label as upper bound includes its band), or a label alone.
pub(crate) fn parse_severity(s: &str) -> Result<SeverityRange, String> {
    let t = s.trim();
    if let Some(l) = label(t) {
        return Ok(SeverityRange::band(l));
    }
    let Some((lo, hi)) = t.split_once("..") else {
        return Err(if t.parse::<f64>().is_ok_and(f64::is_finite) {
            format!(
                r#"{s:?} is a single number: write "{t}.." for {t} and above, or "{t}..={t}" for exactly {t}"#
            )
        } else {
            format!(
                "{s:?} is neither a severity range nor a label: {SEVERITY_HINT}, or one of low, medium, high, critical"
            )
        });
    };
    let (hi, inclusive) = match hi.strip_prefix('=') {
        Some(h) => (h, true),
        None => (hi, false),
    };
    let low = if lo.trim().is_empty() {
        None
    } else {
        Some(parse_bound(s, lo)?)
    };
    let high = if hi.trim().is_empty() {
        if inclusive {
            return Err(format!(
                "{s:?}: \"..=\" needs an upper bound; {SEVERITY_HINT}"
            ));
        }
        None
    } else {
        Some(parse_bound(s, hi)?)
    };
    if low.is_none() && high.is_none() {
        return Err(format!(
            "{s:?} matches every severity: remove severity instead"
        ));
    }
    let mut labels = false;
    let low = match low {
        None => f64::NEG_INFINITY,
        Some(Bound::Number(v)) => v,
        Some(Bound::Label(l)) => {
            labels = true;
            l.lower_bound()
        }
    };
    let high = match high {
        None => f64::INFINITY,
        Some(Bound::Number(v)) => v,
        Some(Bound::Label(l)) => {
            if inclusive {
                return Err(format!(
                    "{s:?}: write \"..{}\" without \"=\": a label as upper bound already includes its whole band",
                    hi.trim()
                ));
            }
            labels = true;
            band_end(l)
        }
    };
    if low > high || (low == high && !inclusive && labels) {
        return Err(format!(
            "{s:?} is not a range (low > high); {SEVERITY_HINT}"
        ));
    }
    if low == high && !inclusive {
        return Err(format!(
            r#"{s:?} is empty: ".." leaves out its upper end; write "{0}..={0}" for exactly {0}"#,
            lo.trim()
        ));
    }
    Ok(SeverityRange {
        low,
        high,
        high_inclusive: inclusive,
    })
}

fn type_glob(cx: &mut Cx<'_>, ctx: &str, field: &str, s: &Spanned<String>) -> Option<Glob> {
    let v = s.get_ref();
    let mut bad = |msg: String| {
        cx.error(Some(s.span()), ctx, field, msg);
        None
    };
    if v.is_empty() {
        return bad(
            r#"an empty pattern matches nothing: write e.g. "Recon:*", "*:EC2/*" or "*!DNS""#
                .to_owned(),
        );
    }
    if v.chars().any(char::is_whitespace) {
        return bad(format!("{v:?}: finding types have no spaces"));
    }
    if !v.contains('*') && !v.contains(':') {
        return bad(format!(
            r#"{v:?} has no "*" and no ":", so it can only match a type spelt exactly {v:?}, which GuardDuty does not use: write "{v}:*" or "*{v}*", or use purposes/affected"#
        ));
    }
    // A purpose spelt in the wrong case would silently never match.
    let purpose = v.split(':').next().unwrap_or_default();
    if !purpose.contains('*')
        && !PURPOSES.contains(&purpose)
        && let Some(p) = PURPOSES.iter().find(|p| p.eq_ignore_ascii_case(purpose))
    {
        let fixed = format!("{p}{}", &v[purpose.len()..]);
        return bad(format!(
            "{v:?}: types are case-sensitive; did you mean {fixed:?}?"
        ));
    }
    Some(Glob::new(v))
}

#[derive(Clone, Copy)]
enum Vocab {
    Purpose,
    Affected,
    ResourceType,
}

impl Vocab {
    fn known(self) -> &'static [&'static str] {
        match self {
            Vocab::Purpose => PURPOSES,
            Vocab::Affected => AFFECTED,
            Vocab::ResourceType => RESOURCE_TYPES,
        }
    }
    fn key(self) -> &'static str {
        match self {
            Vocab::Purpose => "purposes",
            Vocab::Affected => "affected",
            Vocab::ResourceType => "resource_types",
        }
    }
    fn what(self) -> &'static str {
        match self {
            Vocab::Purpose => "a threat purpose (the type's part before ':')",
            Vocab::Affected => "an affected resource type (the type's part between ':' and '/')",
            Vocab::ResourceType => "a resource.resourceType",
        }
    }
}

fn vocabulary(
    cx: &mut Cx<'_>,
    ctx: &str,
    field: &str,
    s: &Spanned<String>,
    vocab: Vocab,
) -> Option<String> {
    let v = s.get_ref();
    let known = vocab.known();
    if known.contains(&v.as_str()) {
        return Some(v.clone());
    }
    let mut bad = |msg: String| {
        cx.error(Some(s.span()), ctx, field, msg);
        None
    };
    if v.is_empty() {
        return bad("an empty name never matches".to_owned());
    }
    if v.contains([':', '/', '*', '!']) {
        return bad(format!(
            r#"{v:?} looks like a finding type pattern: put it in match.types (e.g. types = ["{v}"])"#
        ));
    }
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(v)) {
        return bad(format!(
            "{v:?}: names are case-sensitive; did you mean {k:?}?"
        ));
    }
    for other in [Vocab::Purpose, Vocab::Affected, Vocab::ResourceType] {
        if other.key() != vocab.key()
            && let Some(k) = other.known().iter().find(|k| k.eq_ignore_ascii_case(v))
        {
            return bad(format!(
                "{v:?} is {}, not {}: put {k:?} in match.{}",
                other.what(),
                vocab.what(),
                other.key()
            ));
        }
    }
    cx.warn(
        Some(s.span()),
        ctx,
        field,
        format!(
            "{v:?} is not {} GuardDuty documents (known: {}); kept, since new ones appear",
            vocab.what(),
            known.join(", ")
        ),
    );
    Some(v.clone())
}
