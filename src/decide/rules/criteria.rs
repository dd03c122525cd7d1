//! Checking the `[[rule]]` entries of a rules file: names, actions, destination references and
//! every match criterion (severity ranges, type globs, the documented vocabularies).

/// The vocabularies GuardDuty documents (open sets: others are accepted with a warning).
use crate::classify::{
    DOCUMENTED_AFFECTED as AFFECTED, DOCUMENTED_PURPOSES as PURPOSES,
    DOCUMENTED_RESOURCE_TYPES as RESOURCE_TYPES,
};

use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use super::file::{ActionKind, MatchFile, RuleFile, StrOrList};
use super::matcher::{Glob, Matcher, Patterns, SeverityRange, TagMatch, account_number, band_end};
use super::{Account, Rule, StoredAction};
use crate::classify::SeverityLabel;
use crate::common::names::is_region;

use super::cx::{Cx, deserialize};
use super::destinations::{SEVERITY_HINT, destination_refs};

pub(crate) fn rule_context(index: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("rule #{} {n:?}", index + 1),
        None => format!("rule #{}", index + 1),
    }
}

pub(super) fn is_rule_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub(super) fn rules(
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

pub(super) fn rule(
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
    if let Some(t) = &r.runbook {
        let problem = if matches!(action, StoredAction::Suppress(_)) {
            Err("a suppress rule sends nothing: remove runbook (or use action = \"route\")".into())
        } else {
            super::runbook::check_template(t.get_ref())
        };
        if let Err(e) = problem {
            cx.error(Some(t.span()), ctx, "runbook", e);
        }
    }
    if cx.errors.len() > errors_before {
        return None;
    }
    Some(Rule {
        name,
        description: r.description,
        line: cx.line(Some(span)),
        matcher: matcher?,
        runbook: r.runbook.map(Spanned::into_inner),
        action,
    })
}

/// Compiles a `match` table; `None` when any criterion has an error (all are reported).
pub(super) fn matcher(
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
pub(super) fn list<T>(
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

pub(super) fn label(s: &str) -> Option<SeverityLabel> {
    SeverityLabel::ALL
        .into_iter()
        .find(|l| s.eq_ignore_ascii_case(l.as_str()))
}

/// One bound of a severity range: a number from 0 to 10 or a label.
pub(super) enum Bound {
    Number(f64),
    Label(SeverityLabel),
}

pub(super) fn parse_bound(whole: &str, b: &str) -> Result<Bound, String> {
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

pub(super) fn type_glob(
    cx: &mut Cx<'_>,
    ctx: &str,
    field: &str,
    s: &Spanned<String>,
) -> Option<Glob> {
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
pub(super) enum Vocab {
    Purpose,
    Affected,
    ResourceType,
}

impl Vocab {
    pub(super) fn known(self) -> &'static [&'static str] {
        match self {
            Vocab::Purpose => PURPOSES,
            Vocab::Affected => AFFECTED,
            Vocab::ResourceType => RESOURCE_TYPES,
        }
    }
    pub(super) fn key(self) -> &'static str {
        match self {
            Vocab::Purpose => "purposes",
            Vocab::Affected => "affected",
            Vocab::ResourceType => "resource_types",
        }
    }
    pub(super) fn what(self) -> &'static str {
        match self {
            Vocab::Purpose => "a threat purpose (the type's part before ':')",
            Vocab::Affected => "an affected resource type (the type's part between ':' and '/')",
            Vocab::ResourceType => "a resource.resourceType",
        }
    }
}

pub(super) fn vocabulary(
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
    cx.warn(cx.make(
        Some(s.span()),
        ctx,
        field,
        format!(
            "{v:?} is not {} GuardDuty documents (known: {}); kept, since new ones appear",
            vocab.what(),
            known.join(", ")
        ),
    ));
    Some(v.clone())
}
