//! The Microsoft Teams payload: a Workflows webhook message carrying one Adaptive Card 1.4.
//!
//! Layout: a TextBlock with the severity band in its colour (`attention` Critical, `warning`
//! High, `accent` Medium, `good` Low), the title, the type, a FactSet (account, region,
//! resource, count, first and last seen, finding id) and an `Action.OpenUrl` to the finding in
//! the GuardDuty console.
//!
//! Escaping: TextBlocks and facts are rendered as a Markdown subset, and Adaptive Cards have no
//! switch to turn it off (TextRuns have no Markdown, but facts have no TextRuns). Every value is
//! therefore backslash-escaped with CommonMark's own escape ([`escape_teams`]), which renders as
//! the character itself, so values stay exact: `` \ * _ ` ~ [ ] < > & { } # `` are always escaped
//! (emphasis, code, links and images, the `<at>…</at>` mention tag, entity references such as
//! `&amp;`, the `{{DATE(…)}}` functions, headings), and `-`, `+` or digits followed by `.` or
//! `)` when they open the value (lists). Newlines were already turned into spaces, so no other
//! position can start a block. `<at>` can then never appear literally: mentions also need an
//! `msteams.entities` entry, which this card never has. Plain `@name` text does not mention
//! anyone in Teams.
//!
//! Size: Teams refuses messages over about 28 KB; every value is capped (title
//! [`MAX_TITLE`], other values [`MAX_VALUE`], URL [`MAX_URL`]), which keeps the whole message
//! under [`MAX_MESSAGE_BYTES`] whatever the finding holds.

use serde_json::{Value, json};

use super::{
    AlertContext, account_display, alert_links, cap_escaped, check_strings, count_display,
    is_clean_char, is_safe_url, resource_display, safe_url, utf16_len,
};
use crate::classify::SeverityLabel;

/// The Adaptive Card schema version sent.
pub const CARD_VERSION: &str = "1.4";
/// The attachment's content type.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// Longest title, in UTF-16 units once escaped.
pub const MAX_TITLE: usize = 1000;
/// Longest other value (type, fact values), in UTF-16 units once escaped.
pub const MAX_VALUE: usize = 400;
/// Longest console URL.
pub const MAX_URL: usize = 2048;
/// Largest message this renderer produces (serialised), well under Teams' ~28 KB.
pub const MAX_MESSAGE_BYTES: usize = 24 * 1024;
/// The action's title.
pub const ACTION_TITLE: &str = super::CONSOLE_LINK_TEXT;

/// The TextBlock colour of a severity band.
pub fn severity_color(label: SeverityLabel) -> &'static str {
    match label {
        SeverityLabel::Critical => "attention",
        SeverityLabel::High => "warning",
        SeverityLabel::Medium => "accent",
        SeverityLabel::Low => "good",
    }
}

/// Characters escaped wherever they are.
fn always_escaped(c: char) -> bool {
    matches!(
        c,
        '\\' | '*' | '_' | '`' | '~' | '[' | ']' | '<' | '>' | '&' | '{' | '}' | '#'
    )
}

/// An escaper for one value: knows where the value starts, for list markers.
fn escaper() -> impl FnMut(char, &mut String) {
    let mut index = 0usize;
    let mut leading_digits = true;
    move |c, out| {
        let list_marker = (index == 0 && matches!(c, '-' | '+'))
            || (index > 0 && leading_digits && matches!(c, '.' | ')'));
        if always_escaped(c) || list_marker {
            out.push('\\');
        }
        out.push(c);
        leading_digits &= c.is_ascii_digit();
        index += 1;
    }
}

/// Escapes text for a TextBlock or a fact in an Adaptive Card (see the module documentation):
/// Markdown, mention tags, entities and date functions are backslash-escaped, list markers
/// at the start too; control characters become spaces, bidi controls U+FFFD, leading and
/// trailing whitespace goes.
pub fn escape_teams(s: &str) -> String {
    cap_escaped(s, usize::MAX, escaper()).0
}

/// `s` escaped and capped at `max` UTF-16 units; `\-` (an escaped dash: a bare `-` is an empty
/// list item) when empty.
fn text(s: &str, max: usize) -> String {
    let (t, _) = cap_escaped(s, max, escaper());
    if t.is_empty() { escape_teams("-") } else { t }
}

fn fact(title: &str, value: &str) -> Value {
    json!({"title": title, "value": text(value, MAX_VALUE)})
}

/// The Teams Workflows webhook payload of one alert (see the module documentation).
pub fn teams(ctx: &AlertContext<'_>) -> Value {
    let j = ctx.record;
    let band = j.severity_label;
    let headline = j
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(j.finding_type);
    let body = vec![
        json!({
            "type": "TextBlock",
            "text": format!("{band} severity GuardDuty finding ({})", crate::classify::format_severity(j.severity)),
            "color": severity_color(band),
            "weight": "Bolder",
            "wrap": true,
        }),
        json!({
            "type": "TextBlock",
            "text": text(headline, MAX_TITLE),
            "size": "Medium",
            "weight": "Bolder",
            "wrap": true,
        }),
        json!({
            "type": "TextBlock",
            "text": text(j.finding_type, MAX_VALUE),
            "isSubtle": true,
            "spacing": "None",
            "wrap": true,
        }),
        json!({
            "type": "FactSet",
            "facts": [
                fact("Account", &account_display(ctx)),
                fact("Region", j.region.unwrap_or("-")),
                fact("Resource", &resource_display(j)),
                fact("Count", &count_display(j)),
                fact("First seen", j.first_seen.unwrap_or("-")),
                fact("Last seen", j.last_seen.unwrap_or("-")),
                fact("Finding ID", j.id),
            ],
        }),
    ];
    let actions: Vec<Value> = alert_links(j, MAX_URL)
        .into_iter()
        .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
        .collect();
    card(body, actions)
}

/// The Workflows message around an Adaptive Card of `body` and `actions`.
fn card(body: Vec<Value>, actions: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": CONTENT_TYPE,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": CARD_VERSION,
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions,
            },
        }],
    })
}

/// The Teams payload of a digest: the count and bands, a fact per type and per most severe
/// finding (escaped like single alerts), the object they came from, and a button to the most
/// severe finding.
pub fn teams_digest(ctx: &super::digest::DigestContext<'_>) -> Value {
    let d = ctx.digest;
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": text(&ctx.headline(), MAX_TITLE),
        "color": severity_color(ctx.top_label()),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    if let Some(note) = ctx.individually_note() {
        body.push(json!({"type": "TextBlock", "text": text(&note, MAX_TITLE), "isSubtle": true, "wrap": true}));
    }
    let type_facts: Vec<Value> = d
        .by_type
        .iter()
        .take(super::digest::TYPES_SHOWN)
        .map(|(t, n)| fact(&n.to_string(), t))
        .collect();
    body.push(json!({"type": "TextBlock", "text": "By type", "weight": "Bolder", "wrap": true}));
    body.push(json!({"type": "FactSet", "facts": type_facts}));
    if d.by_type.len() > super::digest::TYPES_SHOWN {
        let rest = d.by_type.len() - super::digest::TYPES_SHOWN;
        body.push(json!({"type": "TextBlock", "text": text(&format!("and {rest} other types"), MAX_TITLE), "isSubtle": true, "wrap": true}));
    }
    let top_facts: Vec<Value> = d
        .top
        .iter()
        .map(|a| {
            let what = match a.title.as_deref().filter(|t| !t.trim().is_empty()) {
                Some(t) => format!("{}: {t}", a.finding_type),
                None => a.finding_type.clone(),
            };
            let account = match (&a.account_id, &a.account_name) {
                (Some(id), Some(name)) => format!("{id} ({name})"),
                (Some(id), None) => id.clone(),
                (None, Some(name)) => name.clone(),
                (None, None) => "-".to_owned(),
            };
            fact(
                &format!(
                    "{} {}",
                    a.label,
                    crate::classify::format_severity(a.severity)
                ),
                &format!("{what} in {account}/{}", a.region.as_deref().unwrap_or("-")),
            )
        })
        .collect();
    body.push(
        json!({"type": "TextBlock", "text": "Most severe", "weight": "Bolder", "wrap": true}),
    );
    body.push(json!({"type": "FactSet", "facts": top_facts}));
    body.push(json!({"type": "TextBlock", "text": text(&format!("From {}", ctx.source), MAX_TITLE), "isSubtle": true, "wrap": true}));
    let actions: Vec<Value> = d
        .top
        .first()
        .and_then(|a| a.console_url.as_deref())
        .and_then(|u| safe_url(u, MAX_URL))
        .map(|url| json!({"type": "Action.OpenUrl", "title": ACTION_TITLE, "url": url}))
        .into_iter()
        .collect();
    let mut v = card(body, actions);
    // Ten long facts can pass Teams' message size: drop facts from the end until it fits.
    while v.to_string().len() > MAX_MESSAGE_BYTES {
        let Some(facts) = v["attachments"][0]["content"]["body"]
            .as_array_mut()
            .and_then(|b| {
                b.iter_mut().rev().find(|e| {
                    e["type"] == "FactSet" && e["facts"].as_array().is_some_and(|f| !f.is_empty())
                })
            })
            .and_then(|e| e["facts"].as_array_mut())
        else {
            break;
        };
        facts.pop();
    }
    v
}

/// Checks text rendered as Markdown: within `max` UTF-16 units, not empty, no control or bidi
/// characters, every character of [`always_escaped`] behind a backslash, no list marker at the
/// start, and so no `<at>`, `[text](url)`, `{{` or entity that could take effect.
fn check_text(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty text".into());
    }
    if utf16_len(s) > max {
        return Err(format!("{} UTF-16 units, limit {max}", utf16_len(s)));
    }
    if let Some(c) = s.chars().find(|c| !is_clean_char(*c)) {
        return Err(format!("control or bidi character {c:?}"));
    }
    // A mention tag or a date function takes effect only unescaped: `\<at x` is plain text.
    let lower = s.to_ascii_lowercase();
    for needle in ["<at>", "<at ", "{{"] {
        let live = lower
            .match_indices(needle)
            .any(|(i, _)| !lower[..i].ends_with('\\'));
        if live {
            return Err(format!("{needle:?} in {s:?}"));
        }
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut leading_digits = true;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some(n) if n.is_ascii_punctuation() => {
                    leading_digits = false;
                    i += 2;
                    continue;
                }
                _ => return Err(format!("backslash escaping nothing in {s:?}")),
            }
        }
        if always_escaped(c) {
            return Err(format!("unescaped {c:?} in {s:?}"));
        }
        if (i == 0 && matches!(c, '-' | '+')) || (i > 0 && leading_digits && matches!(c, '.' | ')'))
        {
            return Err(format!("list marker at the start of {s:?}"));
        }
        leading_digits &= c.is_ascii_digit();
        i += 1;
    }
    Ok(())
}

/// What every payload from [`teams`] guarantees, for tests and fuzzers: a `message` with one
/// Adaptive Card [`CARD_VERSION`] attachment; a body of TextBlocks and one FactSet whose texts
/// pass the Markdown check (every Markdown, mention, entity and date-function character
/// backslash-escaped, no list marker at the start, no control or bidi characters, within
/// [`MAX_TITLE`]); actions only `Action.OpenUrl` to `https://` URLs as [`super::safe_url`]
/// makes them, within [`MAX_URL`]; the whole message within [`MAX_MESSAGE_BYTES`].
pub fn check_teams_invariants(v: &Value) -> Result<(), String> {
    let size = v.to_string().len();
    if size > MAX_MESSAGE_BYTES {
        return Err(format!("{size} bytes, limit {MAX_MESSAGE_BYTES}"));
    }
    if v["type"] != "message" {
        return Err("type is not message".into());
    }
    let attachments = v["attachments"].as_array().ok_or("no attachments")?;
    if attachments.len() != 1 {
        return Err(format!("{} attachments", attachments.len()));
    }
    let a = &attachments[0];
    if a["contentType"] != CONTENT_TYPE {
        return Err("wrong contentType".into());
    }
    let card = &a["content"];
    if card["type"] != "AdaptiveCard" || card["version"] != CARD_VERSION {
        return Err("not an Adaptive Card 1.4".into());
    }
    let body = card["body"].as_array().ok_or("no body")?;
    for (i, el) in body.iter().enumerate() {
        let at = |e: String| format!("body[{i}]: {e}");
        match el["type"].as_str() {
            Some("TextBlock") => {
                let t = el["text"].as_str().ok_or_else(|| at("no text".into()))?;
                check_text(t, MAX_TITLE).map_err(at)?;
            }
            Some("FactSet") => {
                let facts = el["facts"]
                    .as_array()
                    .ok_or_else(|| at("no facts".into()))?;
                for f in facts {
                    for key in ["title", "value"] {
                        let t = f[key].as_str().ok_or_else(|| at(format!("fact {key}")))?;
                        check_text(t, MAX_VALUE).map_err(at)?;
                    }
                }
            }
            other => return Err(at(format!("unexpected element {other:?}"))),
        }
    }
    let actions = card["actions"].as_array().ok_or("no actions")?;
    for act in actions {
        let title_ok = super::LINK_TEXTS.contains(&act["title"].as_str().unwrap_or(""));
        if act["type"] != "Action.OpenUrl" || !title_ok {
            return Err(format!("unexpected action {act}"));
        }
        let url = act["url"].as_str().ok_or("action without url")?;
        if !is_safe_url(url, MAX_URL) {
            return Err(format!("unsafe action url {url:?}"));
        }
    }
    check_strings(
        v,
        &mut String::new(),
        &mut |_, s| match s.chars().find(|c| !is_clean_char(*c)) {
            Some(c) => Err(format!("control or bidi character {c:?}")),
            None => Ok(()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::*;

    fn render(j: &crate::render::json::JsonRecord<'_>, account_name: Option<&str>) -> Value {
        let v = teams(&AlertContext::new(j).with_account_name(account_name));
        if let Err(e) = check_teams_invariants(&v) {
            panic!(
                "{e}\n{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
        v
    }

    #[test]
    fn escape_teams_table() {
        for (input, want) in [
            ("plain text, (parens) ok!", "plain text, (parens) ok!"),
            ("*bold* _it_ ~s~ `code`", r"\*bold\* \_it\_ \~s\~ \`code\`"),
            ("[x](http://evil.example)", r"\[x\](http://evil.example)"),
            ("<at>Bob</at>", r"\<at\>Bob\</at\>"),
            ("a &amp; b", r"a \&amp; b"),
            (
                "{{DATE(2017-02-14T06:08:39Z, SHORT)}}",
                r"\{\{DATE(2017-02-14T06:08:39Z, SHORT)\}\}",
            ),
            ("# head", r"\# head"),
            ("- item", r"\- item"),
            ("+ item", r"\+ item"),
            ("1. one", r"1\. one"),
            ("12) one", r"12\) one"),
            ("i-0a1b-2c.3", "i-0a1b-2c.3"),
            ("2025-06-04T02:13:51.000Z", "2025-06-04T02:13:51.000Z"),
            ("111122223333", "111122223333"),
            ("8.5", r"8\.5"),
            ("a\\b", r"a\\b"),
            ("  - x\n1. y", r"\- x 1. y"),
            ("@channel @here", "@channel @here"),
            ("x\u{202e}y\u{1b}", "x\u{fffd}y"),
        ] {
            assert_eq!(escape_teams(input), want, "{input:?}");
        }
    }

    #[test]
    fn golden_access_key_high_with_account_name() {
        with_sample(2, |_, j| {
            let v = render(j, Some("prod_eu *main*"));
            assert_json_eq(
                &v,
                &json!({
                    "type": "message",
                    "attachments": [{
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "content": {
                            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "type": "AdaptiveCard",
                            "version": "1.4",
                            "msteams": {"width": "Full"},
                            "body": [
                                {"type": "TextBlock", "text": "High severity GuardDuty finding (8)",
                                 "color": "warning", "weight": "Bolder", "wrap": true},
                                {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                                 "text": "Credentials for instance role web-frontend-role used from external IP address."},
                                {"type": "TextBlock", "isSubtle": true, "spacing": "None", "wrap": true,
                                 "text": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"},
                                {"type": "FactSet", "facts": [
                                    {"title": "Account", "value": r"111122223333 (prod\_eu \*main\*)"},
                                    {"title": "Region", "value": "us-east-1"},
                                    {"title": "Resource", "value": "AccessKey: ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)"},
                                    {"title": "Count", "value": "6"},
                                    {"title": "First seen", "value": "2025-06-04T02:13:51.000Z"},
                                    {"title": "Last seen", "value": "2025-06-04T02:41:07.000Z"},
                                    {"title": "Finding ID", "value": "4a5e5f82cf5387ba6ffaa0e35da2d70a"},
                                ]},
                            ],
                            "actions": [{
                                "type": "Action.OpenUrl",
                                "title": "Open in GuardDuty",
                                "url": "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=4a5e5f82cf5387ba6ffaa0e35da2d70a",
                            }, {
                                "type": "Action.OpenUrl",
                                "title": "About this finding type",
                                "url": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html#unauthorizedaccess-iam-instancecredentialexfiltrationoutsideaws",
                            }],
                        },
                    }],
                }),
            );
        });
    }

    #[test]
    fn golden_hostile_sample_title() {
        with_sample(12, |_, j| {
            let v = render(j, None);
            let card = &v["attachments"][0]["content"];
            assert_json_eq(
                &card["body"][0],
                &json!({"type": "TextBlock", "text": "Medium severity GuardDuty finding (5)",
                        "color": "accent", "weight": "Bolder", "wrap": true}),
            );
            assert_eq!(
                card["body"][1]["text"],
                r"API GetCallerIdentity was invoked from a Kali Linux computer \<!channel\> \<@U123\> \*bold\* \_it\_ \~strike\~ \`code\` \[link\](http://evil.example) \<http://evil.example|click\> a \& b  \[31mRED \[0m"
            );
            assert_eq!(card["body"][2]["text"], "PenTest:IAMUser/KaliLinux");
            assert_eq!(
                card["body"][3]["facts"][2]["value"],
                "AccessKey: AKIAEXAMPLECIDEPLOY1 (IAMUser ci-deployer)"
            );
        });
    }

    #[test]
    fn every_sample_renders_with_its_colour() {
        let colours = [
            "good",
            "warning",
            "good",
            "accent",
            "warning",
            "warning",
            "accent",
            "warning",
            "attention",
            "warning",
            "accent",
            "accent",
        ];
        assert_eq!(sample_lines().len(), colours.len());
        for (n, colour) in colours.iter().enumerate() {
            with_sample(n + 1, |_, j| {
                let v = render(j, None);
                let card = &v["attachments"][0]["content"];
                assert_eq!(card["body"][0]["color"], *colour, "finding {}", n + 1);
                assert_eq!(
                    card["body"][2]["text"].as_str().unwrap(),
                    escape_teams(j.finding_type)
                );
                assert_eq!(card["actions"][0]["url"].as_str(), j.console_url);
            });
        }
    }

    #[test]
    fn hostile_text_in_every_field_never_takes_effect() {
        for (s, url) in hostile_cases(&[MAX_TITLE, MAX_VALUE]) {
            let j = hostile_record(&s, &url);
            for name in [None, Some(s.as_str())] {
                let v = render(&j, name);
                let out = v.to_string();
                assert!(!out.to_ascii_lowercase().contains("<at>"));
                assert!(!out.contains("[x](") && !out.contains("[link]("));
                assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
            }
        }
    }

    #[test]
    fn minimal_record_renders() {
        with_line(
            r#"{"id":"x","type":"Recon:EC2/Probe","severity":9.5}"#,
            |_, j| {
                let v = render(j, None);
                let card = &v["attachments"][0]["content"];
                assert_eq!(
                    card["body"][0]["text"],
                    "Critical severity GuardDuty finding (9.5)"
                );
                assert_eq!(card["body"][0]["color"], "attention");
                assert_eq!(card["body"][1]["text"], "Recon:EC2/Probe");
                assert_eq!(card["body"][3]["facts"][0]["value"], r"\-");
                // No region, so no console link; the type's documentation is still linked.
                assert_eq!(
                    card["actions"],
                    json!([{
                        "type": "Action.OpenUrl",
                        "title": "About this finding type",
                        "url": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html#recon-ec2-probe",
                    }])
                );
            },
        );
    }

    #[test]
    fn checker_rejects_what_must_not_be_sent() {
        let good = with_sample(2, |_, j| render(j, None));
        let bad = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            check_teams_invariants(&v).expect_err("should be rejected");
        };
        let body = |v: &mut Value, i: usize, t: &str| {
            v["attachments"][0]["content"]["body"][i]["text"] = json!(t);
        };
        bad(&|v| body(v, 1, "<at>Bob</at>"));
        bad(&|v| body(v, 1, "[x](http://evil.example)"));
        bad(&|v| body(v, 1, "*bold*"));
        bad(&|v| body(v, 1, "- item"));
        bad(&|v| body(v, 1, "1. item"));
        bad(&|v| body(v, 1, "a &amp; b"));
        bad(&|v| body(v, 1, "{{DATE(2017-02-14T06:08:39Z)}}"));
        bad(&|v| body(v, 1, "a\nb"));
        bad(&|v| body(v, 1, "trailing \\"));
        bad(&|v| body(v, 1, &"x".repeat(MAX_TITLE + 1)));
        bad(&|v| body(v, 1, ""));
        bad(&|v| v["attachments"][0]["content"]["body"][3]["facts"][0]["value"] = json!("_x_"));
        bad(&|v| {
            v["attachments"][0]["content"]["actions"][0]["url"] = json!("http://evil.example")
        });
        bad(&|v| v["attachments"][0]["content"]["version"] = json!("1.0"));
        bad(&|v| v["attachments"][0]["content"]["body"][0]["type"] = json!("Image"));
        bad(&|v| {
            v["attachments"][0]["content"]["body"][0]["pad"] = json!("x".repeat(MAX_MESSAGE_BYTES))
        });
        check_teams_invariants(&good).unwrap();
    }
}
