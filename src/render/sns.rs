//! Rendering one alert into a message for a destination: the JSON body (classification plus the
//! raw finding), the Amazon Q Developer in chat applications (formerly AWS Chatbot) custom
//! notification, the SNS subject, and message attributes for subscription filter policies.
//! Pure functions.

use serde::Serialize;

use crate::classify::{SeverityLabel, format_severity};
use crate::common::format::MessageFormat;
use crate::common::hash::{dedup_id, fifo_id};
use crate::decide::Record;
use crate::render::AlertContext;
use crate::render::email::alert_email;
use crate::render::json::JsonRecord;

/// SNS's limit for one message (body plus attributes), and for a whole PublishBatch request.
pub const SNS_MAX_BYTES: usize = 262_144;
/// SNS's limit for a subject.
pub const SUBJECT_MAX_CHARS: usize = 100;

/// A message attribute: name, SNS data type (`String` or `Number`), value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: &'static str,
    /// `String` or `Number`.
    pub data_type: &'static str,
    /// Never empty.
    pub value: String,
}

/// One alert, rendered and ready to publish. Owns everything: it outlives the line it came from.
#[derive(Debug, Clone)]
pub struct AlertMessage {
    /// The finding id.
    pub finding_id: String,
    /// The finding type.
    pub finding_type: String,
    /// The severity band.
    pub label: SeverityLabel,
    /// At most [`SUBJECT_MAX_CHARS`] printable ASCII characters.
    pub subject: String,
    /// The body every protocol but e-mail receives (SQS, Lambda, HTTPS, Amazon Q).
    pub body: String,
    /// The plain text e-mail subscribers receive ([`super::email`]); when set, the message is
    /// published with `MessageStructure: json` ([`AlertMessage::message`]).
    pub email: Option<String>,
    /// Whether the raw finding had to be shortened to fit.
    pub finding_truncated: bool,
    /// Attributes for subscription filter policies.
    pub attributes: Vec<Attribute>,
    /// FIFO message group: the account id.
    pub group_id: String,
    /// FIFO deduplication id: from the finding id and `updatedAt`.
    pub dedup_id: String,
    /// Whether this is a digest (standing for [`AlertMessage::alerts`] alerts).
    pub digest: bool,
    /// Alerts this message stands for: 1, or a digest's total.
    pub alerts: u64,
}

impl AlertMessage {
    /// Bytes this message counts against SNS's size limits (at most [`SNS_MAX_BYTES`]): the
    /// published message ([`AlertMessage::message`]) and the attributes.
    pub fn size(&self) -> usize {
        let message = match &self.email {
            None => self.body.len(),
            Some(email) => {
                r#"{"default":,"email":}"#.len()
                    + json_string_len(&self.body)
                    + json_string_len(email)
            }
        };
        message + attributes_size(&self.attributes)
    }

    /// The message to publish: the body, or with an e-mail text
    /// `{"default": BODY, "email": TEXT}` (to be sent with `MessageStructure: json`).
    pub fn message(&self) -> std::borrow::Cow<'_, str> {
        match &self.email {
            None => std::borrow::Cow::Borrowed(&self.body),
            Some(email) => std::borrow::Cow::Owned(
                serde_json::json!({"default": self.body, "email": email}).to_string(),
            ),
        }
    }
}

/// The length of `s` as a JSON string, quotes included (as serde_json escapes it).
fn json_string_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}

fn attributes_size(attrs: &[Attribute]) -> usize {
    attrs
        .iter()
        .map(|a| a.name.len() + a.data_type.len() + a.value.len())
        .sum()
}

/// Renders one decided finding as an alert message.
pub fn render(r: &Record<'_>, format: MessageFormat) -> AlertMessage {
    let j = JsonRecord::new(r);
    let attributes = attributes(&j);
    let email = alert_email(&AlertContext::new(&j).with_account_name(j.account_name));
    let mut budget = SNS_MAX_BYTES - attributes_size(&attributes) - 1024 - json_string_len(&email);
    let (mut body, mut finding_truncated);
    loop {
        (body, finding_truncated) = match format {
            MessageFormat::Json => json_body(&j, r.raw, budget),
            MessageFormat::Chatbot => (chatbot_body(&j, budget), false),
        };
        // Inside the "default" string, the body's quotes and backslashes are escaped: shrink
        // the budget by what that adds until the whole message fits (twice at most in practice).
        let published = r#"{"default":,"email":}"#.len()
            + json_string_len(&body)
            + json_string_len(&email)
            + attributes_size(&attributes);
        if published <= SNS_MAX_BYTES || budget < 4096 {
            break;
        }
        budget = budget.saturating_sub(published - SNS_MAX_BYTES + 1024);
    }
    AlertMessage {
        finding_id: j.id.to_owned(),
        finding_type: j.finding_type.to_owned(),
        label: r.class.label,
        subject: subject(&j),
        body,
        email: Some(email),
        finding_truncated,
        attributes,
        group_id: fifo_id(j.account_id.unwrap_or(""), "unknown-account"),
        dedup_id: dedup_id(j.id, j.updated_at),
        digest: false,
        alerts: 1,
    }
}

/// `[High] UnauthorizedAccess:EC2/SSHBruteForce in 123456789012/us-east-1`, made to fit SNS:
/// printable ASCII only, at most 100 characters.
pub fn subject(j: &JsonRecord<'_>) -> String {
    let s = format!(
        "[{}] {} in {}/{}",
        j.severity_label,
        j.finding_type,
        j.account_id.unwrap_or("unknown"),
        j.region.unwrap_or("unknown")
    );
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if out.len() > SUBJECT_MAX_CHARS {
        out.truncate(SUBJECT_MAX_CHARS - 3);
        out.push_str("...");
    }
    out
}

fn attributes(j: &JsonRecord<'_>) -> Vec<Attribute> {
    let mut attrs = vec![Attribute {
        name: "severity",
        data_type: "Number",
        value: number_attribute(j.severity),
    }];
    let mut push = |name: &'static str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            attrs.push(Attribute {
                name,
                data_type: "String",
                value: v.chars().take(256).collect(),
            });
        }
    };
    push("severity_label", Some(j.severity_label.as_str()));
    push("finding_type", Some(j.finding_type));
    push("threat_purpose", Some(j.threat_purpose));
    push("account_id", j.account_id);
    push("account_name", j.account_name);
    push("region", j.region);
    push("resource_type", j.resource_type);
    attrs
}

/// A severity as an SNS `Number` attribute, which SNS takes only from 10^-128 to 10^126 with at
/// most 38 significant digits: GuardDuty's severities (0 to 10, a few decimals) as they are; a
/// corrupt value is clamped to ±10^9 and rounded to 6 decimals.
pub fn number_attribute(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let v = (v.clamp(-1e9, 1e9) * 1e6).round() / 1e6;
    if v == 0.0 {
        return "0".into();
    }
    format_severity(v)
}

/// The JSON body: the classification always whole; the raw finding whole when it fits, else an
/// excerpt with its size.
fn json_body(j: &JsonRecord<'_>, raw: &str, budget: usize) -> (String, bool) {
    let mut alert = serde_json::to_string(j).unwrap_or_else(|_| "null".into());
    if alert.len() > budget / 2 {
        // A pathological finding (a title or resource of hundreds of KB): the summary must
        // still fit, so its long strings are cut.
        let mut v = serde_json::to_value(j).unwrap_or(serde_json::Value::Null);
        cap_strings(&mut v, SUMMARY_FIELD_MAX_CHARS);
        alert = v.to_string();
    }
    let mut body = String::with_capacity(alert.len() + raw.len() + 48);
    body.push_str(r#"{"version":"1","alert":"#);
    body.push_str(&alert);
    if body.len() + raw.len() + 16 <= budget {
        body.push_str(r#","finding":"#);
        body.push_str(raw);
        body.push('}');
        return (body, false);
    }
    #[derive(Serialize)]
    struct Truncated<'a> {
        bytes: usize,
        excerpt: &'a str,
    }
    let room = budget.saturating_sub(body.len() + 128) / 2; // JSON escaping can double it
    let cut = raw.floor_char_boundary(room);
    let t = serde_json::to_string(&Truncated {
        bytes: raw.len(),
        excerpt: &raw[..cut],
    })
    .unwrap_or_else(|_| "null".into());
    body.push_str(r#","finding":null,"finding_truncated":"#);
    body.push_str(&t);
    body.push('}');
    (body, true)
}

/// Longest string kept in a message's summary fields when the summary alone would not fit.
pub const SUMMARY_FIELD_MAX_CHARS: usize = 4096;

/// Cuts every string in `v` to at most `max` characters (marked with `…`).
fn cap_strings(v: &mut serde_json::Value, max: usize) {
    match v {
        serde_json::Value::String(s) => {
            if let Some((cut, _)) = s.char_indices().nth(max) {
                s.truncate(cut);
                s.push('…');
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| cap_strings(x, max)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| cap_strings(x, max)),
        _ => {}
    }
}

/// Escapes text for Markdown rendered in chat: Markdown syntax is backslash-escaped and `<`, `>`,
/// `&` become entities, so mentions (`<!channel>`, `<@U…>`), links and formatting that arrive in
/// a finding field do not take effect.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '*' | '_' | '~' | '`' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The Amazon Q Developer in chat applications custom notification.
fn chatbot_body(j: &JsonRecord<'_>, budget: usize) -> String {
    let e = |v: Option<&str>| escape_markdown(v.unwrap_or("-"));
    let emoji = match j.severity_label {
        SeverityLabel::Critical => ":rotating_light:",
        SeverityLabel::High => ":red_circle:",
        SeverityLabel::Medium => ":large_orange_circle:",
        SeverityLabel::Low => ":large_blue_circle:",
    };
    let mut description = format!(
        "*{}*\nSeverity {} ({})\nAccount {}{} / {}\nResource {}: {}\nCount {}, first seen {}, last seen {}",
        e(j.title),
        format_severity(j.severity),
        j.severity_label,
        e(j.account_id),
        j.account_name
            .map_or_else(String::new, |n| format!(" ({})", escape_markdown(n))),
        e(j.region),
        e(j.resource_type),
        e(j.resource),
        j.count.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        e(j.first_seen),
        e(j.last_seen),
    );
    if description.len() > budget / 2 {
        description.truncate(description.floor_char_boundary(budget / 2));
    }
    let mut next_steps = Vec::new();
    if let Some(url) = j.console_url {
        next_steps.push(format!("Open the finding in the GuardDuty console: {url}"));
    }
    if let Some(url) = &j.docs_url {
        next_steps.push(format!(
            "Read what this finding type means and how to respond: {url}"
        ));
    }
    if let Some(url) = &j.runbook_url {
        next_steps.push(format!("Follow your team's runbook: {url}"));
    }
    let keywords: Vec<String> = [
        Some(j.severity_label.as_str()),
        Some(j.threat_purpose),
        j.resource_type_affected,
        j.account_id,
        j.region,
    ]
    .into_iter()
    .flatten()
    .map(escape_markdown)
    .collect();
    let mut notification = serde_json::json!({
        "version": "1.0",
        "source": "custom",
        "id": j.id,
        "content": {
            "textType": "client-markdown",
            "title": format!("{emoji} [{}] {}", j.severity_label, escape_markdown(j.finding_type)),
            "description": description,
            "nextSteps": next_steps,
            "keywords": keywords,
        },
        "metadata": {
            "threadId": j.id,
            "summary": subject(j),
            "eventType": "GuardDutyFinding",
            "relatedResources": j.resource.map(|r| vec![r]).unwrap_or_default(),
            "additionalContext": {
                "finding_id": j.id,
                "finding_type": j.finding_type,
                "severity": format_severity(j.severity),
                "console_url": j.console_url.unwrap_or(""),
                "docs_url": j.docs_url.as_deref().unwrap_or(""),
                "runbook_url": j.runbook_url.as_deref().unwrap_or(""),
            },
        },
    });
    let body = notification.to_string();
    if body.len() <= budget {
        return body;
    }
    cap_strings(&mut notification, SUMMARY_FIELD_MAX_CHARS);
    notification.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;
    use crate::decide::Decision;
    use crate::export::finding::Finding;

    fn message(line: &str, format: MessageFormat) -> AlertMessage {
        let f = Finding::parse(line).unwrap();
        let c = classify(&f);
        render(
            &Record {
                source: "test",
                line: 1,
                finding: &f,
                class: &c,
                decision: Decision::Alert,
                raw: line,
                account_name: None,
                rules: None,
            },
            format,
        )
    }

    const LINE: &str = r#"{"id":"abc","type":"UnauthorizedAccess:EC2/SSHBruteForce","severity":8,"accountId":"123456789012","region":"us-east-1","updatedAt":"2026-11-26T10:00:00.000Z","title":"<!channel> *pwn* [x](http://evil.example)","resource":{"resourceType":"Instance","instanceDetails":{"instanceId":"i-1"}}}"#;

    #[test]
    fn subject_is_short_ascii() {
        let m = message(LINE, MessageFormat::Json);
        assert_eq!(
            m.subject,
            "[High] UnauthorizedAccess:EC2/SSHBruteForce in 123456789012/us-east-1"
        );
        let long = LINE.replace(
            "UnauthorizedAccess:EC2/SSHBruteForce",
            &format!("Évil\\u001b:{}", "X".repeat(200)),
        );
        let m = message(&long, MessageFormat::Json);
        assert_eq!(m.subject.len(), 100);
        assert!(m.subject.ends_with("..."));
        assert!(m.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }

    #[test]
    fn json_body_holds_classification_and_raw_finding() {
        let m = message(LINE, MessageFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(v["alert"]["severity_label"], "High");
        assert_eq!(v["alert"]["resource"], "i-1");
        assert_eq!(
            v["finding"],
            serde_json::from_str::<serde_json::Value>(LINE).unwrap()
        );
        assert!(!m.finding_truncated);
        assert_eq!(m.group_id, "123456789012");
        assert_eq!(m.dedup_id, "abc-2026-11-26T10:00:00.000Z");
        let names: Vec<_> = m.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "severity",
                "severity_label",
                "finding_type",
                "threat_purpose",
                "account_id",
                "region",
                "resource_type"
            ]
        );
        assert_eq!(m.attributes[0].value, "8");
    }

    #[test]
    fn e_mail_gets_text_every_other_protocol_the_body() {
        for format in [MessageFormat::Json, MessageFormat::Chatbot] {
            let m = message(LINE, format);
            let published: serde_json::Value = serde_json::from_str(&m.message()).unwrap();
            assert_eq!(published["default"].as_str(), Some(m.body.as_str()));
            let email = published["email"].as_str().unwrap();
            assert!(
                email.starts_with("[High] UnauthorizedAccess:EC2/SSHBruteForce\n"),
                "{email}"
            );
            assert_eq!(m.message().len() + attributes_size(&m.attributes), m.size());
        }
    }

    #[test]
    fn oversized_findings_are_shortened_never_the_summary() {
        let big = LINE.replace(
            r#""resource":"#,
            &format!(r#""pad":"{}","resource":"#, "é\\\"".repeat(200_000)),
        );
        let m = message(&big, MessageFormat::Json);
        assert!(m.finding_truncated);
        assert!(m.size() <= SNS_MAX_BYTES, "{}", m.size());
        let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(v["alert"]["id"], "abc");
        assert_eq!(v["finding"], serde_json::Value::Null);
        assert_eq!(v["finding_truncated"]["bytes"], big.len());
        // Escaped twice (in the body, then in the message's "default" string) this padding
        // takes 10 bytes per 4 of the finding, so about 100 KB of it fit.
        assert!(v["finding_truncated"]["excerpt"].as_str().unwrap().len() > 90_000);
        // size() counts the published message exactly.
        assert_eq!(m.message().len() + attributes_size(&m.attributes), m.size());
    }

    #[test]
    fn huge_summary_fields_still_fit() {
        let huge = "T".repeat(400_000);
        let line = LINE
            .replace(
                "UnauthorizedAccess:EC2/SSHBruteForce",
                &format!("Recon:EC2/{huge}"),
            )
            .replace("<!channel> *pwn* [x](http://evil.example)", &huge)
            .replace("i-1", &huge);
        for format in [MessageFormat::Json, MessageFormat::Chatbot] {
            let m = message(&line, format);
            assert!(m.size() <= SNS_MAX_BYTES, "{format:?}: {}", m.size());
            let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
            if format == MessageFormat::Json {
                assert_eq!(v["alert"]["id"], "abc");
                assert_eq!(v["alert"]["severity_label"], "High");
                assert!(v["alert"]["title"].as_str().unwrap().ends_with('…'));
                assert!(m.finding_truncated);
            } else {
                assert_eq!(v["metadata"]["threadId"], "abc");
            }
        }
    }

    #[test]
    fn chatbot_body_follows_the_schema_and_escapes() {
        let m = message(LINE, MessageFormat::Chatbot);
        let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        assert_eq!(v["content"]["textType"], "client-markdown");
        let d = v["content"]["description"].as_str().unwrap();
        assert!(d.contains("&lt;\\!channel&gt;"), "{d}");
        assert!(!d.contains("<!channel>"));
        assert!(!d.contains("[x](http"));
        assert!(
            v["content"]["nextSteps"][0]
                .as_str()
                .unwrap()
                .contains("fId=abc")
        );
        assert_eq!(v["metadata"]["threadId"], "abc");
    }

    #[test]
    fn dedup_ids_fit_fifo_rules() {
        assert_eq!(dedup_id("a", Some("t")), "a-t");
        assert_eq!(dedup_id("a b\u{e9}", None), "ab-");
        let long = dedup_id(&"x".repeat(300), Some("t"));
        assert_eq!(long.len(), 32);
        assert_ne!(long, dedup_id(&"x".repeat(301), Some("t")));
    }
}
