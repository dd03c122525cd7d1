//! The Slack incoming-webhook payload: a Block Kit message.
//!
//! Layout: a header (severity emoji, band, title), the whole title in a section when the header
//! had to cut it, two sections of label/value fields (type, severity, account, region, resource;
//! count, first and last seen), a button to the finding in the GuardDuty console, a context line
//! with the finding id and its update time, and a plain-text `text` fallback for notifications.
//!
//! Severity is shown by a Unicode emoji in the header (🚨 Critical, 🔴 High, 🟠 Medium,
//! 🔵 Low) rather than by the colour bar of an attachment: Slack documents secondary
//! attachments as legacy, to be avoided for a message's main content, and a Unicode emoji
//! needs no shortcode parsing, so every text object keeps `emoji: false` (a `:shortcode:` in a
//! finding stays text).
//!
//! Escaping: every value from the finding is put in a `plain_text` object (`emoji: false`), so
//! Slack applies no mrkdwn to it at all: `*`, `_`, `~` and `` ` `` show as typed, `:smile:` stays
//! text, and nothing is auto-linked or turned into a mention. The characters Slack itself parses
//! in every text field, `&`, `<` and `>`, become `&amp;`, `&lt;` and `&gt;` ([`escape_slack`]),
//! so `<!channel>`, `<@U123>` or `<http://x|y>` cannot take effect and `&amp;` shows as typed.
//! This keeps values exact: inserting zero-width spaces or look-alike characters would also
//! neutralise mrkdwn, but an instance id or an S3 key copied out of the alert would then no
//! longer match the real one. The only `mrkdwn` objects are the constant field labels, sent with
//! `verbatim: true`. The top-level fallback `text` goes with `mrkdwn: false`, and link unfurling
//! is off.

use serde_json::{Value, json};

use super::{
    AlertContext, account_display, alert_links, cap_escaped, capped, check_strings, count_display,
    is_clean_char, is_safe_url, resource_display, safe_url, utf16_len,
};
use crate::classify::SeverityLabel;

/// Longest section text, and the longest fallback `text` this renderer sends.
pub const MAX_TEXT: usize = 3000;
/// Longest header text.
pub const MAX_HEADER: usize = 150;
/// Longest text of one section field.
pub const MAX_FIELD: usize = 2000;
/// Most fields in one section.
pub const MAX_FIELDS: usize = 10;
/// Most blocks in a message.
pub const MAX_BLOCKS: usize = 50;
/// Longest button text.
pub const MAX_BUTTON_TEXT: usize = 75;
/// Longest button URL.
pub const MAX_URL: usize = 3000;
/// Most elements in a context block.
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
/// Most elements in an actions block.
pub const MAX_ACTIONS: usize = 25;
/// The button's text.
pub const BUTTON_TEXT: &str = super::CONSOLE_LINK_TEXT;

/// The emoji shown for a severity band.
pub fn severity_emoji(label: SeverityLabel) -> &'static str {
    match label {
        SeverityLabel::Critical => "\u{1f6a8}", // 🚨
        SeverityLabel::High => "\u{1f534}",     // 🔴
        SeverityLabel::Medium => "\u{1f7e0}",   // 🟠
        SeverityLabel::Low => "\u{1f535}",      // 🔵
    }
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

/// Escapes text for any Slack text field: `&`, `<` and `>` become entities (so no mention, link
/// or command takes effect), control characters become spaces, bidi controls U+FFFD, and
/// leading and trailing whitespace goes. mrkdwn characters are left alone: values go into
/// `plain_text` objects, where they have no effect.
pub fn escape_slack(s: &str) -> String {
    cap_escaped(s, usize::MAX, escape_char).0
}

/// `s` escaped and capped at `max` UTF-16 units, `-` when empty.
fn text(s: &str, max: usize) -> String {
    capped(s, max, escape_char)
}

fn plain(text: String) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": false})
}

fn label(name: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{name}*"), "verbatim": true})
}

fn fields(pairs: &[(&str, &str)]) -> Value {
    let fields: Vec<Value> = pairs
        .iter()
        .flat_map(|(name, value)| [label(name), plain(text(value, MAX_FIELD))])
        .collect();
    json!({"type": "section", "fields": fields})
}

/// The Slack incoming-webhook payload of one alert (see the module documentation).
pub fn slack(ctx: &AlertContext<'_>) -> Value {
    let j = ctx.record;
    let band = j.severity_label;
    let emoji = severity_emoji(band);
    let headline = j
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(j.finding_type);
    let (header, header_cut) = cap_escaped(
        &format!("{emoji} [{band}] {headline}"),
        MAX_HEADER,
        escape_char,
    );
    let mut blocks = vec![json!({"type": "header", "text": plain(header)})];
    if header_cut {
        blocks.push(json!({"type": "section", "text": plain(text(headline, MAX_TEXT))}));
    }
    let account = account_display(ctx);
    let resource = resource_display(j);
    let severity = format!("{} ({band})", crate::classify::format_severity(j.severity));
    blocks.push(fields(&[
        ("Type", j.finding_type),
        ("Severity", &severity),
        ("Account", &account),
        ("Region", j.region.unwrap_or("-")),
        ("Resource", &resource),
    ]));
    blocks.push(fields(&[
        ("Count", &count_display(j)),
        ("First seen", j.first_seen.unwrap_or("-")),
        ("Last seen", j.last_seen.unwrap_or("-")),
    ]));
    let buttons: Vec<Value> = alert_links(j, MAX_URL)
        .into_iter()
        .map(|(label, url)| json!({"type": "button", "text": plain(label.to_owned()), "url": url}))
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    let context = match j.updated_at {
        Some(updated) => format!("Finding {} \u{b7} updated {updated}", j.id),
        None => format!("Finding {}", j.id),
    };
    blocks.push(json!({"type": "context", "elements": [plain(text(&context, MAX_TEXT))]}));

    let mut fallback = format!(
        "{emoji} [{band}] {} in {account}/{}",
        j.finding_type,
        j.region.unwrap_or("-")
    );
    if let Some(title) = j.title {
        fallback.push_str(": ");
        fallback.push_str(title);
    }
    json!({
        "text": text(&fallback, MAX_TEXT),
        "mrkdwn": false,
        "unfurl_links": false,
        "unfurl_media": false,
        "blocks": blocks,
    })
}

/// The Slack payload of a digest: a header with the count, the counts by band, the types, the
/// most severe findings (each in its own section, escaped like single alerts) with a button to
/// each in the console, and the object they came from.
pub fn slack_digest(ctx: &super::digest::DigestContext<'_>) -> Value {
    let d = ctx.digest;
    let emoji = severity_emoji(ctx.top_label());
    let (header, _) = cap_escaped(
        &format!("{emoji} {}", ctx.headline()),
        MAX_HEADER,
        escape_char,
    );
    let mut blocks = vec![json!({"type": "header", "text": plain(header)})];
    let counts: Vec<(String, String)> = d
        .by_severity
        .iter()
        .map(|(l, n)| (l.as_str().to_owned(), n.to_string()))
        .collect();
    if !counts.is_empty() {
        let pairs: Vec<(&str, &str)> = counts
            .iter()
            .map(|(l, n)| (l.as_str(), n.as_str()))
            .collect();
        blocks.push(fields(&pairs));
    }
    let types = ctx.type_lines().join(" \u{b7} ");
    blocks.push(
        json!({"type": "section", "text": plain(text(&format!("By type: {types}"), MAX_TEXT))}),
    );
    let mut buttons = Vec::new();
    for (i, a) in d.top.iter().enumerate() {
        let line = format!("{}. {}", i + 1, super::digest::summary_line(a));
        blocks.push(json!({"type": "section", "text": plain(text(&line, MAX_TEXT))}));
        if let Some(url) = a.console_url.as_deref().and_then(|u| safe_url(u, MAX_URL)) {
            buttons.push(
                json!({"type": "button", "text": plain(format!("Open {}", i + 1)), "url": url}),
            );
        }
    }
    if !buttons.is_empty() {
        buttons.truncate(MAX_ACTIONS);
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    let mut context = format!("From {}", ctx.source);
    if let Some(note) = ctx.individually_note() {
        context.push_str(" \u{b7} ");
        context.push_str(&note);
    }
    blocks.push(json!({"type": "context", "elements": [plain(text(&context, MAX_TEXT))]}));
    json!({
        "text": text(&format!("{emoji} {}", ctx.headline()), MAX_TEXT),
        "mrkdwn": false,
        "unfurl_links": false,
        "unfurl_media": false,
        "blocks": blocks,
    })
}

/// Checks text that Slack will parse: no `<` or `>`, every `&` starting `&amp;`, `&lt;` or
/// `&gt;`, no control or bidi characters, not empty, at most `max` UTF-16 units.
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
    if s.contains(['<', '>']) {
        return Err(format!("unescaped < or > in {s:?}"));
    }
    for (i, _) in s.match_indices('&') {
        let rest = &s[i..];
        if !(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;")) {
            return Err(format!("& that starts no entity in {s:?}"));
        }
    }
    Ok(())
}

/// Checks a text object: `plain_text` with `emoji: false`, or a constant `mrkdwn` label
/// (`*Letters and spaces*`, `verbatim: true`); then [`check_text`].
fn check_text_object(v: &Value, max: usize) -> Result<(), String> {
    let text = v["text"].as_str().ok_or("text object without text")?;
    match v["type"].as_str() {
        Some("plain_text") => {
            if v["emoji"] != Value::Bool(false) {
                return Err("plain_text without emoji: false".into());
            }
        }
        Some("mrkdwn") => {
            if v["verbatim"] != Value::Bool(true) {
                return Err("mrkdwn without verbatim: true".into());
            }
            let inner = text.strip_prefix('*').and_then(|t| t.strip_suffix('*'));
            if !inner.is_some_and(|t| {
                !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
            }) {
                return Err(format!("mrkdwn that is not a constant label: {text:?}"));
            }
        }
        other => return Err(format!("text object of type {other:?}")),
    }
    check_text(text, max)
}

/// What every payload from [`slack`] guarantees, for tests and fuzzers: a fallback `text` and
/// at most [`MAX_BLOCKS`] blocks of known types, each within Slack's limits (header
/// [`MAX_HEADER`], section text [`MAX_TEXT`], at most [`MAX_FIELDS`] fields of [`MAX_FIELD`],
/// button text [`MAX_BUTTON_TEXT`], URL [`MAX_URL`]); every text free of unescaped `<`, `>` and
/// stray `&`, of control and bidi characters; finding data only in `plain_text` with
/// `emoji: false`; `mrkdwn` only for constant labels with `verbatim: true`; buttons only to
/// `https://` URLs as [`super::safe_url`] makes them.
pub fn check_slack_invariants(v: &Value) -> Result<(), String> {
    let top = v.as_object().ok_or("payload is not an object")?;
    let text = top
        .get("text")
        .and_then(Value::as_str)
        .ok_or("no fallback text")?;
    check_text(text, MAX_TEXT).map_err(|e| format!("text: {e}"))?;
    if top.get("mrkdwn") != Some(&Value::Bool(false)) {
        return Err("fallback text without mrkdwn: false".into());
    }
    if top.contains_key("attachments") || top.contains_key("link_names") {
        return Err("attachments or link_names present".into());
    }
    let blocks = top
        .get("blocks")
        .and_then(Value::as_array)
        .ok_or("no blocks")?;
    if blocks.is_empty() || blocks.len() > MAX_BLOCKS {
        return Err(format!("{} blocks", blocks.len()));
    }
    for (i, b) in blocks.iter().enumerate() {
        check_block(b).map_err(|e| format!("blocks[{i}]: {e}"))?;
    }
    // Every string anywhere is free of control and bidi characters.
    check_strings(
        v,
        &mut String::new(),
        &mut |_, s| match s.chars().find(|c| !is_clean_char(*c)) {
            Some(c) => Err(format!("control or bidi character {c:?}")),
            None => Ok(()),
        },
    )
}

fn check_block(b: &Value) -> Result<(), String> {
    match b["type"].as_str() {
        Some("header") => check_text_object(&b["text"], MAX_HEADER).and_then(|()| {
            match b["text"]["type"].as_str() {
                Some("plain_text") => Ok(()),
                _ => Err("header text is not plain_text".into()),
            }
        }),
        Some("section") => {
            let text = b.get("text");
            let fields = b.get("fields");
            if text.is_none() && fields.is_none() {
                return Err("section without text or fields".into());
            }
            if let Some(t) = text {
                check_text_object(t, MAX_TEXT)?;
            }
            if let Some(f) = fields {
                let f = f.as_array().ok_or("fields is not an array")?;
                if f.is_empty() || f.len() > MAX_FIELDS {
                    return Err(format!("{} fields", f.len()));
                }
                for (i, t) in f.iter().enumerate() {
                    check_text_object(t, MAX_FIELD).map_err(|e| format!("fields[{i}]: {e}"))?;
                }
            }
            Ok(())
        }
        Some("actions") => {
            let elements = b["elements"].as_array().ok_or("actions without elements")?;
            if elements.is_empty() || elements.len() > MAX_ACTIONS {
                return Err(format!("{} action elements", elements.len()));
            }
            for e in elements {
                if e["type"] != "button" {
                    return Err("action element is not a button".into());
                }
                check_text_object(&e["text"], MAX_BUTTON_TEXT)?;
                let url = e["url"].as_str().ok_or("button without url")?;
                if !is_safe_url(url, MAX_URL) {
                    return Err(format!("unsafe button url {url:?}"));
                }
            }
            Ok(())
        }
        Some("context") => {
            let elements = b["elements"].as_array().ok_or("context without elements")?;
            if elements.is_empty() || elements.len() > MAX_CONTEXT_ELEMENTS {
                return Err(format!("{} context elements", elements.len()));
            }
            elements
                .iter()
                .try_for_each(|e| check_text_object(e, MAX_TEXT))
        }
        other => Err(format!("unexpected block type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::*;

    fn render(j: &crate::render::json::JsonRecord<'_>, account_name: Option<&str>) -> Value {
        let v = slack(&AlertContext::new(j).with_account_name(account_name));
        if let Err(e) = check_slack_invariants(&v) {
            panic!(
                "{e}\n{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
        v
    }

    #[test]
    fn escape_slack_leaves_only_entities() {
        assert_eq!(
            escape_slack("<!channel> <@U123> <http://evil|click> a & b &amp;"),
            "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|click&gt; a &amp; b &amp;amp;"
        );
        assert_eq!(
            escape_slack("*b* _i_ ~s~ `c` @here"),
            "*b* _i_ ~s~ `c` @here"
        );
        assert_eq!(escape_slack(" x\ny\u{202e} "), "x y\u{fffd}");
    }

    #[test]
    fn golden_access_key_high_with_account_name() {
        with_sample(2, |_, j| {
            let v = render(j, Some("prod <web>"));
            assert_json_eq(
                &v,
                &json!({
                    "text": "🔴 [High] UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS in 111122223333 (prod &lt;web&gt;)/us-east-1: Credentials for instance role web-frontend-role used from external IP address.",
                    "mrkdwn": false,
                    "unfurl_links": false,
                    "unfurl_media": false,
                    "blocks": [
                        {"type": "header", "text": {"type": "plain_text", "emoji": false,
                            "text": "🔴 [High] Credentials for instance role web-frontend-role used from external IP address."}},
                        {"type": "section", "fields": [
                            {"type": "mrkdwn", "text": "*Type*", "verbatim": true},
                            {"type": "plain_text", "text": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "emoji": false},
                            {"type": "mrkdwn", "text": "*Severity*", "verbatim": true},
                            {"type": "plain_text", "text": "8 (High)", "emoji": false},
                            {"type": "mrkdwn", "text": "*Account*", "verbatim": true},
                            {"type": "plain_text", "text": "111122223333 (prod &lt;web&gt;)", "emoji": false},
                            {"type": "mrkdwn", "text": "*Region*", "verbatim": true},
                            {"type": "plain_text", "text": "us-east-1", "emoji": false},
                            {"type": "mrkdwn", "text": "*Resource*", "verbatim": true},
                            {"type": "plain_text", "text": "AccessKey: ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)", "emoji": false},
                        ]},
                        {"type": "section", "fields": [
                            {"type": "mrkdwn", "text": "*Count*", "verbatim": true},
                            {"type": "plain_text", "text": "6", "emoji": false},
                            {"type": "mrkdwn", "text": "*First seen*", "verbatim": true},
                            {"type": "plain_text", "text": "2025-06-04T02:13:51.000Z", "emoji": false},
                            {"type": "mrkdwn", "text": "*Last seen*", "verbatim": true},
                            {"type": "plain_text", "text": "2025-06-04T02:41:07.000Z", "emoji": false},
                        ]},
                        {"type": "actions", "elements": [{
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open in GuardDuty", "emoji": false},
                            "url": "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=4a5e5f82cf5387ba6ffaa0e35da2d70a",
                        }, {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "About this finding type", "emoji": false},
                            "url": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html#unauthorizedaccess-iam-instancecredentialexfiltrationoutsideaws",
                        }]},
                        {"type": "context", "elements": [{"type": "plain_text", "emoji": false,
                            "text": "Finding 4a5e5f82cf5387ba6ffaa0e35da2d70a · updated 2025-06-04T02:47:30.671Z"}]},
                    ],
                }),
            );
        });
    }

    #[test]
    fn golden_attack_sequence_critical() {
        with_sample(9, |_, j| {
            let v = render(j, None);
            let title = "Potential data compromise of S3 bucket acme-prod-backups involving a sequence of actions associated with AssumedRole/web-frontend-role.";
            assert_json_eq(
                &v,
                &json!({
                    "text": format!("🚨 [Critical] AttackSequence:S3/CompromisedData in 111122223333/us-east-1: {title}"),
                    "mrkdwn": false,
                    "unfurl_links": false,
                    "unfurl_media": false,
                    "blocks": [
                        // 149 UTF-16 units (🚨 counts 2): the header holds the whole title.
                        {"type": "header", "text": {"type": "plain_text", "emoji": false,
                            "text": format!("🚨 [Critical] {title}")}},
                        {"type": "section", "fields": [
                            {"type": "mrkdwn", "text": "*Type*", "verbatim": true},
                            {"type": "plain_text", "text": "AttackSequence:S3/CompromisedData", "emoji": false},
                            {"type": "mrkdwn", "text": "*Severity*", "verbatim": true},
                            {"type": "plain_text", "text": "9 (Critical)", "emoji": false},
                            {"type": "mrkdwn", "text": "*Account*", "verbatim": true},
                            {"type": "plain_text", "text": "111122223333", "emoji": false},
                            {"type": "mrkdwn", "text": "*Region*", "verbatim": true},
                            {"type": "plain_text", "text": "us-east-1", "emoji": false},
                            {"type": "mrkdwn", "text": "*Resource*", "verbatim": true},
                            {"type": "plain_text", "text": "AttackSequence: attack sequence", "emoji": false},
                        ]},
                        {"type": "section", "fields": [
                            {"type": "mrkdwn", "text": "*Count*", "verbatim": true},
                            {"type": "plain_text", "text": "1", "emoji": false},
                            {"type": "mrkdwn", "text": "*First seen*", "verbatim": true},
                            {"type": "plain_text", "text": "2025-06-04T02:13:51.000Z", "emoji": false},
                            {"type": "mrkdwn", "text": "*Last seen*", "verbatim": true},
                            {"type": "plain_text", "text": "2025-06-04T02:41:07.000Z", "emoji": false},
                        ]},
                        {"type": "actions", "elements": [{
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open in GuardDuty", "emoji": false},
                            "url": "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=7091bdea64d6b4a4556bc0c341eab860",
                        }, {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "About this finding type", "emoji": false},
                            "url": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty-attack-sequence-finding-types.html#attack-sequence-s3-compromised-data",
                        }]},
                        {"type": "context", "elements": [{"type": "plain_text", "emoji": false,
                            "text": "Finding 7091bdea64d6b4a4556bc0c341eab860 · updated 2025-06-04T03:02:41.905Z"}]},
                    ],
                }),
            );
        });
    }

    #[test]
    fn golden_hostile_sample_title() {
        // The sample's last finding carries mentions, formatting, links and ANSI escapes.
        with_sample(12, |_, j| {
            let v = render(j, None);
            let title = "API GetCallerIdentity was invoked from a Kali Linux computer &lt;!channel&gt; &lt;@U123&gt; *bold* _it_ ~strike~ `code` [link](http://evil.example) &lt;http://evil.example|click&gt; a &amp; b  [31mRED [0m";
            assert_eq!(
                v["blocks"][0]["text"]["text"],
                // Cut at exactly 150 UTF-16 units, between whole entities; the whole title follows.
                "🟠 [Medium] API GetCallerIdentity was invoked from a Kali Linux computer &lt;!channel&gt; &lt;@U123&gt; *bold* _it_ ~strike~ `code` [link](http://evi…"
            );
            assert_json_eq(
                &v["blocks"][1],
                &json!({"type": "section", "text": {"type": "plain_text", "emoji": false, "text": title}}),
            );
            assert_eq!(
                v["text"],
                format!("🟠 [Medium] PenTest:IAMUser/KaliLinux in 444455556666/eu-west-1: {title}")
            );
            assert_eq!(
                v["blocks"][2]["fields"][9]["text"],
                "AccessKey: AKIAEXAMPLECIDEPLOY1 (IAMUser ci-deployer)"
            );
        });
    }

    #[test]
    fn every_sample_renders_within_limits() {
        // (header, resource field) for each finding of the sample export.
        let want = [
            (
                "🔵 [Low] Unprotected port on EC2 instance i-0a1b2c3d4e5f67890 is being probed.",
                "Instance: i-0a1b2c3d4e5f67890 (web-frontend-1)",
            ),
            (
                "🔴 [High] Credentials for instance role web-frontend-role used from external IP address.",
                "AccessKey: ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)",
            ),
            (
                "🔵 [Low] Amazon S3 Block Public Access was disabled for S3 bucket acme-reports-444455556666.",
                "S3Bucket: acme-reports-444455556666",
            ),
            (
                "🟠 [Medium] Command executed inside a pod in kube-system namespace.",
                "EKSCluster: payments-prod: kube-system/coredns-6d4b75cb6d-x7k2p",
            ),
            (
                "🔴 [High] Bitcoin-related domain name queried by container batch-worker.",
                "Container: batch-worker (111122223333.dkr.ecr.us-west-2.amazonaws.com/batch-worker:1.8.2)",
            ),
            (
                "🔴 [High] A process in container orders-api executed a reverse shell.",
                "ECSCluster: orders-cluster",
            ),
            (
                "🟠 [Medium] Unusual successful login by reporting_ro observed on RDS instance customers-db-instance-1.",
                "RDSDBInstance: customers-db-instance-1 (Aurora PostgreSQL)",
            ),
            (
                "🔴 [High] Lambda function image-resizer is communicating with a known command and control server.",
                "Lambda: image-resizer",
            ),
            (
                "🚨 [Critical] Potential data compromise of S3 bucket acme-prod-backups involving a sequence of actions associated with AssumedRole/web-frontend-role.",
                "AttackSequence: attack sequence",
            ),
            (
                "🔴 [High] Drop Point domain name queried by EC2 instance i-0c9d8e7f6a5b4c3d2.",
                "Instance: i-0c9d8e7f6a5b4c3d2 (jump-host-eu)",
            ),
            (
                "🟠 [Medium] EC2 instance i-0d1e2f3a4b5c6d7e8 is communicating with a disallowed IP address.",
                "Instance: i-0d1e2f3a4b5c6d7e8 (build-agent-2)",
            ),
            (
                "🟠 [Medium] API GetCallerIdentity was invoked from a Kali Linux computer &lt;!channel&gt; &lt;@U123&gt; *bold* _it_ ~strike~ `code` [link](http://evi…",
                "AccessKey: AKIAEXAMPLECIDEPLOY1 (IAMUser ci-deployer)",
            ),
        ];
        assert_eq!(sample_lines().len(), want.len());
        for (n, (header, resource)) in want.iter().enumerate() {
            with_sample(n + 1, |_, j| {
                let v = render(j, None);
                assert_eq!(v["blocks"][0]["text"]["text"], *header, "finding {}", n + 1);
                let fields = v["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b.get("fields").is_some())
                    .unwrap();
                assert_eq!(fields["fields"][9]["text"], *resource, "finding {}", n + 1);
                let button = &v["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["type"] == "actions")
                    .unwrap()["elements"][0]["url"];
                assert_eq!(button.as_str(), j.console_url);
            });
        }
    }

    #[test]
    fn hostile_text_in_every_field_never_takes_effect() {
        for (s, url) in hostile_cases(&[MAX_HEADER, MAX_FIELD, MAX_TEXT, MAX_TEXT - 20]) {
            let j = hostile_record(&s, &url);
            for name in [None, Some(s.as_str())] {
                let v = render(&j, name);
                let out = v.to_string();
                for needle in ["<!channel>", "<!here>", "<@U123>", "<http", "<at>", "<#C"] {
                    assert!(
                        !out.contains(needle),
                        "{needle} survived in {}",
                        &out[..out.len().min(300)]
                    );
                }
                // Still valid JSON once serialised.
                assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
                assert!(out.len() < 64 * 1024, "{} bytes", out.len());
            }
        }
    }

    #[test]
    fn hostile_urls_give_no_button_or_an_encoded_one() {
        let j = hostile_record("x", "javascript:alert(1)");
        let v = render(&j, None);
        assert!(!v.to_string().contains("javascript"));
        assert!(
            v["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["type"] != "actions")
        );
        let url = "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?fId=<!channel> a|b\"c";
        let j = hostile_record("x", url);
        let v = render(&j, None);
        let actions = v["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap();
        assert_eq!(
            actions["elements"][0]["url"],
            "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?fId=%3C!channel%3E%20a%7Cb%22c"
        );
    }

    #[test]
    fn minimal_record_renders() {
        with_line(
            r#"{"id":"x","type":"Recon:EC2/Probe","severity":1}"#,
            |_, j| {
                let v = render(j, None);
                assert_eq!(v["blocks"][0]["text"]["text"], "🔵 [Low] Recon:EC2/Probe");
                assert_eq!(v["text"], "🔵 [Low] Recon:EC2/Probe in -/-");
                assert_eq!(v["blocks"][1]["fields"][9]["text"], "-");
                // No region, so no console link; the type's documentation is still linked.
                let actions = v["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["type"] == "actions")
                    .expect("actions");
                assert_eq!(actions["elements"].as_array().unwrap().len(), 1);
                assert_eq!(
                    actions["elements"][0]["url"],
                    "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-ec2.html#recon-ec2-probe"
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
            check_slack_invariants(&v).expect_err("should be rejected");
        };
        bad(&|v| v["text"] = json!("<!channel>"));
        bad(&|v| v["text"] = json!("a & b"));
        bad(&|v| v["blocks"][0]["text"]["text"] = json!("x".repeat(151)));
        bad(&|v| v["blocks"][0]["text"]["type"] = json!("mrkdwn"));
        bad(&|v| {
            v["blocks"][1]["fields"][1] =
                json!({"type": "mrkdwn", "text": "*x*", "verbatim": false})
        });
        bad(&|v| {
            v["blocks"][1]["fields"][1] =
                json!({"type": "mrkdwn", "text": "<@U1>", "verbatim": true})
        });
        bad(&|v| v["blocks"][1]["fields"][1]["emoji"] = json!(true));
        bad(&|v| v["blocks"][1]["fields"][1]["text"] = json!("a\nb"));
        bad(&|v| v["blocks"][1]["fields"][1]["text"] = json!(""));
        bad(&|v| {
            v["blocks"][1]["fields"]
                .as_array_mut()
                .unwrap()
                .extend(vec![
                    json!({"type": "plain_text", "text": "x", "emoji": false});
                    2
                ])
        });
        bad(&|v| v["blocks"][3]["elements"][0]["url"] = json!("http://evil.example"));
        bad(&|v| v["blocks"] = json!(vec![json!({"type": "divider"}); 51]));
        bad(&|v| v["blocks"][0]["type"] = json!("image"));
        bad(&|v| v["attachments"] = json!([]));
        bad(&|v| v["mrkdwn"] = json!(true));
        check_slack_invariants(&good).unwrap();
    }
}
