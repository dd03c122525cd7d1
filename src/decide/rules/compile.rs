//! Checking a rules file and building the [`RulesConfig`]: every error is collected, each
//! naming its rule or destination, the key and the line, and saying what to write instead.

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::file::{DefaultInput, SettingsFile};
use super::index::Prefilter;
use super::matcher::Patterns;
use super::{
    Account, ConfigError, ConfigErrors, DEFAULT_DIGEST_THRESHOLD, NO_RULE_MATCHED, RulesConfig,
    StoredAction,
};
use crate::common::names::is_account_id;

use super::criteria::{rule_context, rules};
use super::cx::{Cx, deserialize, threshold};
use super::destinations::{destination_refs, destinations};

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
            cx.warn(cx.make(
                default_span,
                "settings",
                "default",
                format!(
                    "never used: {} matches every finding",
                    rule_context(first, Some(&catch_all.name))
                ),
            ));
        }
    }
    for (name, used) in names.iter().zip(&used) {
        if !used {
            cx.warn(cx.make(
                None,
                &format!("destinations.{name}"),
                "",
                "no rule and not settings.default sends anything here",
            ));
        }
    }
    if rules.is_empty() && matches!(default, StoredAction::Suppress(_)) && cx.errors.is_empty() {
        cx.warn(cx.make(
            None,
            "",
            "",
            "there are no rules and settings.default is \"suppress\": every finding is suppressed",
        ));
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
