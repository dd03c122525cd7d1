//! Checking the `[destinations]` of a rules file: names, types, secret references, headers
//! and limits.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::file::{
    DestType, DestinationFile, HeaderInput, SecretInput, SecretRefFile, SnsFormatInput,
};
use super::{Destination, DestinationKind, HeaderValue, SecretRef};
use crate::common::format::MessageFormat;
use crate::common::names::{is_account_id, is_sns_topic_arn};

use super::cx::{Cx, capitalise, deserialize, threshold};

/// Most requests in flight a destination may ask for.
pub(super) const MAX_CONCURRENCY: u64 = 64;

pub(super) const SEVERITY_HINT: &str = r#"write e.g. "7..9", "7.." or "..4""#;
pub(super) const SECRET_HINT: &str =
    r#"{ env = "VAR" }, { ssm = "/name" } or { secret = "arn-or-name", key = "field" }"#;

pub(super) fn is_destination_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The destinations that are correct, and the names of all declared, both in file order.
pub(super) fn destinations(
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

pub(super) fn destination(
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

pub(super) fn is_env_var(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

pub(super) fn secret(
    cx: &mut Cx<'_>,
    ctx: &str,
    field: &str,
    s: Spanned<SecretInput>,
) -> Option<SecretRef> {
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

pub(super) fn secret_ref(
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

pub(super) fn headers(
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
pub(super) fn destination_refs(
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
