//! Credentials (webhook URLs, routing keys, signing secrets): the [`Secret`] wrapper that never
//! prints its value, and references to where a secret is kept ([`SecretRef`]: AWS Secrets
//! Manager, SSM Parameter Store, an environment variable). Pure; fetching is
//! `deliver::SecretStore`'s job.

use std::fmt;

use serde_json::Value;

/// What a [`Secret`] shows instead of its value, and the routing key of dry-run payloads.
pub const REDACTED: &str = "***";

/// A credential (a PagerDuty routing key, a webhook URL): its `Debug` and `Display` print
/// `Secret(***)`, it has no `Serialize`, and its value is reached only through
/// [`Secret::expose`], so it cannot end up in a log line or a dry-run output by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// A stand-in whose value is [`REDACTED`]: render with it to show a payload (dry runs)
    /// without its credential.
    pub fn redacted() -> Self {
        Secret(REDACTED.to_owned())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

/// Where a secret is kept. The display form is the reference, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// An AWS Secrets Manager secret (ARN or name); with `key`, the secret string is a JSON
    /// object and the value is that member.
    SecretsManager {
        /// ARN or name.
        id: String,
        /// Member of the JSON object, if any.
        key: Option<String>,
    },
    /// An SSM Parameter Store parameter (name or ARN), decrypted when it is a SecureString;
    /// with `key`, its value is a JSON object and the value is that member.
    Ssm {
        /// Name (`/path/name`) or ARN.
        name: String,
        /// Member of the JSON object, if any.
        key: Option<String>,
    },
    /// An environment variable of the process (for local use).
    Env {
        /// The variable's name.
        var: String,
    },
}

impl SecretRef {
    /// Parses a reference: `arn:…:secretsmanager:…` or `secretsmanager:NAME` (Secrets
    /// Manager), `arn:…:ssm:…:parameter/NAME` or `ssm:NAME` (Parameter Store), `env:VAR`;
    /// any of the first four may end in `#KEY` to pick a member of a JSON object. Returns
    /// `None` for anything else (a literal value).
    pub fn parse(s: &str) -> Option<SecretRef> {
        let s = s.trim();
        let (base, key) = match s.rsplit_once('#') {
            Some((b, k)) if !k.is_empty() && !k.contains('/') => (b, Some(k.to_owned())),
            _ => (s, None),
        };
        if let Some(var) = s.strip_prefix("env:") {
            return (!var.is_empty()).then(|| SecretRef::Env {
                var: var.to_owned(),
            });
        }
        if let Some(name) = base.strip_prefix("ssm:") {
            return (!name.is_empty()).then(|| SecretRef::Ssm {
                name: name.to_owned(),
                key,
            });
        }
        if let Some(id) = base.strip_prefix("secretsmanager:") {
            return (!id.is_empty()).then(|| SecretRef::SecretsManager {
                id: id.to_owned(),
                key,
            });
        }
        let parts: Vec<&str> = base.splitn(6, ':').collect();
        if parts.len() == 6 && parts[0] == "arn" && parts[1].starts_with("aws") {
            match parts[2] {
                "secretsmanager" if parts[5].starts_with("secret:") => {
                    return Some(SecretRef::SecretsManager {
                        id: base.to_owned(),
                        key,
                    });
                }
                "ssm" if parts[5].starts_with("parameter/") => {
                    return Some(SecretRef::Ssm {
                        name: base.to_owned(),
                        key,
                    });
                }
                _ => {}
            }
        }
        None
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = |k: &Option<String>| k.as_ref().map(|k| format!("#{k}")).unwrap_or_default();
        match self {
            SecretRef::SecretsManager { id, key: k } if id.starts_with("arn:") => {
                write!(f, "{id}{}", key(k))
            }
            SecretRef::SecretsManager { id, key: k } => write!(f, "secretsmanager:{id}{}", key(k)),
            SecretRef::Ssm { name, key: k } if name.starts_with("arn:") => {
                write!(f, "{name}{}", key(k))
            }
            SecretRef::Ssm { name, key: k } => write!(f, "ssm:{name}{}", key(k)),
            SecretRef::Env { var } => write!(f, "env:{var}"),
        }
    }
}

/// A member of a JSON object secret. The error never quotes the document.
pub fn member(document: &Secret, key: &str) -> Result<Secret, String> {
    let v: Value = serde_json::from_str(document.expose())
        .map_err(|_| format!("the value is not a JSON object, so it has no member {key:?}"))?;
    let Value::Object(map) = v else {
        return Err(format!(
            "the value is not a JSON object, so it has no member {key:?}"
        ));
    };
    match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Secret::new(s.trim())),
        Some(Value::String(_)) => Err(format!("member {key:?} is empty")),
        Some(_) => Err(format!("member {key:?} is not a string")),
        None => {
            let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
            keys.sort_unstable();
            Err(format!(
                "the JSON object has no member {key:?} (members: {})",
                keys.join(", ")
            ))
        }
    }
}

/// Replaces every occurrence of each secret (and of a URL secret's path and query, which are
/// the secret part of a webhook URL) in `text` with [`REDACTED`]. A last line of defence for
/// messages that quote a server's answer or a library's error.
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        let v = s.expose();
        let mut needles = vec![v];
        if let Some(rest) = v
            .strip_prefix("https://")
            .or_else(|| v.strip_prefix("http://"))
            && let Some(i) = rest.find('/')
            && rest.len() - i > 1
        {
            needles.push(&rest[i..]);
        }
        for n in needles {
            if n.len() >= 4 && out.contains(n) {
                out = out.replace(n, REDACTED);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let sm = |id: &str, key: Option<&str>| {
            Some(SecretRef::SecretsManager {
                id: id.into(),
                key: key.map(Into::into),
            })
        };
        let ssm = |name: &str, key: Option<&str>| {
            Some(SecretRef::Ssm {
                name: name.into(),
                key: key.map(Into::into),
            })
        };
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gd-webhooks-AbCdEf";
        let cases: Vec<(String, Option<SecretRef>)> = vec![
            (arn.into(), sm(arn, None)),
            (
                format!("{arn}#slack_webhook_url"),
                sm(arn, Some("slack_webhook_url")),
            ),
            ("secretsmanager:gd/hooks".into(), sm("gd/hooks", None)),
            (
                "secretsmanager:gd/hooks#k".into(),
                sm("gd/hooks", Some("k")),
            ),
            ("ssm:/gd/slack".into(), ssm("/gd/slack", None)),
            (
                "ssm:/gd/all#pagerduty".into(),
                ssm("/gd/all", Some("pagerduty")),
            ),
            (
                "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/gd/slack".into(),
                ssm(
                    "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/gd/slack",
                    None,
                ),
            ),
            (
                "env:SLACK_URL".into(),
                Some(SecretRef::Env {
                    var: "SLACK_URL".into(),
                }),
            ),
            // Literal values.
            ("https://hooks.slack.com/services/T0/B0/xyz".into(), None),
            ("https://example.com/hook#frag".into(), None),
            ("0123456789abcdef0123456789abcdef".into(), None),
            ("arn:aws:sns:us-east-1:123456789012:t".into(), None),
            ("ssm:".into(), None),
            ("env:".into(), None),
        ];
        for (input, want) in cases {
            assert_eq!(SecretRef::parse(&input), want, "{input}");
            if let Some(r) = want {
                assert_eq!(SecretRef::parse(&r.to_string()), Some(r.clone()), "{r}");
            }
        }
    }

    #[test]
    fn members_of_json_secrets() {
        let doc = Secret::new(r#"{"slack":"https://hooks.slack.com/x","n":1,"e":" "}"#);
        assert_eq!(
            member(&doc, "slack").unwrap().expose(),
            "https://hooks.slack.com/x"
        );
        let e = member(&doc, "teams").unwrap_err();
        assert_eq!(
            e,
            r#"the JSON object has no member "teams" (members: e, n, slack)"#
        );
        assert!(!e.contains("hooks.slack.com"));
        assert_eq!(
            member(&doc, "n").unwrap_err(),
            r#"member "n" is not a string"#
        );
        assert_eq!(member(&doc, "e").unwrap_err(), r#"member "e" is empty"#);
        let e = member(&Secret::new("https://hooks.slack.com/secret"), "k").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("https://hooks.slack.com/services/T/B/token");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) Secret(***)");
        let r = SecretRef::Env { var: "X".into() };
        assert_eq!(r.to_string(), "env:X");
    }

    #[test]
    fn scrub_removes_urls_paths_and_values() {
        let url = Secret::new("https://hooks.slack.com/services/T0/B0/tok3n");
        let key = Secret::new("R0UT1NGKEY");
        let text = "POST https://hooks.slack.com/services/T0/B0/tok3n failed; path /services/T0/B0/tok3n; key R0UT1NGKEY";
        let out = scrub(text, &[&url, &key]);
        assert_eq!(out, "POST *** failed; path ***; key ***");
        assert_eq!(scrub("nothing here", &[&url]), "nothing here");
    }
}
