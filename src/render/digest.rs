//! One digest (many alerts of one export for one destination, see [`crate::decide::digest`]) as
//! each destination's message: the SNS message (JSON or the Amazon Q Developer custom
//! notification), the generic webhook body (the SNS JSON body, byte for byte, as for alerts),
//! and — in their own modules, with their own escaping — Slack, Teams and PagerDuty.
//!
//! A digest says how many alerts it stands for, by severity band and by type, names the
//! [`DIGEST_TOP`](crate::decide::digest::DIGEST_TOP) most severe with their console links, the
//! object they came from, and how many alerts of that object went out individually (the
//! Critical ones). Every value from a finding is escaped exactly as in single alerts.

use crate::common::hash::fnv1a;
use serde_json::{Value, json};

use crate::classify::{SeverityLabel, format_severity};
use crate::common::format::MessageFormat;
use crate::common::hash::fifo_id;
use crate::decide::digest::{AlertSummary, Digest};
use crate::render::sns::{
    AlertMessage, Attribute, SNS_MAX_BYTES, SUBJECT_MAX_CHARS, escape_markdown, number_attribute,
};

/// Finding types listed by name in chat messages; the rest are summed up as "N more types".
pub const TYPES_SHOWN: usize = 10;

/// Everything a digest renderer needs.
#[derive(Debug, Clone, Copy)]
pub struct DigestContext<'a> {
    /// The digest.
    pub digest: &'a Digest,
    /// The export object the alerts came from (`s3://bucket/key`).
    pub source: &'a str,
    /// The destination's name.
    pub destination: &'a str,
}

impl DigestContext<'_> {
    /// The highest severity band in the digest (Low for an empty one).
    pub fn top_label(&self) -> SeverityLabel {
        self.digest
            .by_severity
            .first()
            .map_or(SeverityLabel::Low, |(l, _)| *l)
    }

    /// The highest numeric severity in the digest.
    pub fn top_severity(&self) -> f64 {
        self.digest.top.first().map_or(0.0, |a| a.severity)
    }

    /// `2 High, 35 Medium`.
    pub fn severity_counts(&self) -> String {
        self.digest
            .by_severity
            .iter()
            .map(|(l, n)| format!("{n} {l}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `GuardDuty digest: 37 alerts (2 High, 35 Medium)`.
    pub fn headline(&self) -> String {
        let n = self.digest.total;
        format!(
            "GuardDuty digest: {n} alert{} ({})",
            if n == 1 { "" } else { "s" },
            self.severity_counts()
        )
    }

    /// `plus 3 alerts sent individually` (the Critical ones), or `None`.
    pub fn individually_note(&self) -> Option<String> {
        match self.digest.sent_individually {
            0 => None,
            1 => Some("plus 1 Critical alert sent individually".to_owned()),
            n => Some(format!("plus {n} Critical alerts sent individually")),
        }
    }

    /// `12 × Recon:EC2/PortProbeUnprotectedPort` for the first [`TYPES_SHOWN`] types, then
    /// `N more types` (unescaped).
    pub fn type_lines(&self) -> Vec<String> {
        let d = self.digest;
        let mut lines: Vec<String> = d
            .by_type
            .iter()
            .take(TYPES_SHOWN)
            .map(|(t, n)| format!("{n} \u{d7} {t}"))
            .collect();
        if d.by_type.len() > TYPES_SHOWN {
            let rest = d.by_type.len() - TYPES_SHOWN;
            let alerts: usize = d.by_type[TYPES_SHOWN..].iter().map(|t| t.1).sum();
            lines.push(format!("{alerts} more in {rest} other types"));
        }
        lines
    }

    /// A stable id for this digest: the same object and destination give the same id, so a
    /// receiver (PagerDuty's `dedup_key`, a FIFO topic, `x-guardduty-alerts-delivery-id`) can
    /// drop a repeat.
    pub fn id(&self) -> String {
        let key = format!("{}\n{}", self.source, self.destination);
        format!(
            "digest-{:016x}{:016x}",
            fnv1a(key.as_bytes(), 0),
            fnv1a(key.as_bytes(), 1)
        )
    }
}

/// `[High 8] Recon:EC2/PortProbeUnprotectedPort: title, 111122223333 (prod)/us-east-1`,
/// unescaped.
pub fn summary_line(a: &AlertSummary) -> String {
    let mut s = format!(
        "[{} {}] {}",
        a.label,
        format_severity(a.severity),
        a.finding_type
    );
    if let Some(t) = a.title.as_deref().filter(|t| !t.trim().is_empty()) {
        s.push_str(": ");
        s.push_str(t);
    }
    let account = match (&a.account_id, &a.account_name) {
        (Some(id), Some(name)) => format!("{id} ({name})"),
        (Some(id), None) => id.clone(),
        (None, Some(name)) => name.clone(),
        (None, None) => "-".to_owned(),
    };
    s.push_str(&format!(
        ", {account}/{}",
        a.region.as_deref().unwrap_or("-")
    ));
    s
}

/// The JSON document of a digest (the `digest` member of the SNS JSON body).
pub fn json_digest(ctx: &DigestContext<'_>) -> Value {
    let d = ctx.digest;
    let by_severity: serde_json::Map<String, Value> = d
        .by_severity
        .iter()
        .map(|(l, n)| (l.as_str().to_owned(), json!(n)))
        .collect();
    let by_type: Vec<Value> = d
        .by_type
        .iter()
        .map(|(t, n)| json!({"type": t, "count": n}))
        .collect();
    let top: Vec<Value> = d
        .top
        .iter()
        .map(|a| {
            json!({
                "id": a.finding_id,
                "type": a.finding_type,
                "severity": a.severity,
                "severity_label": a.label,
                "title": a.title,
                "account_id": a.account_id,
                "account_name": a.account_name,
                "region": a.region,
                "console_url": a.console_url,
            })
        })
        .collect();
    json!({
        "id": ctx.id(),
        "source": ctx.source,
        "destination": ctx.destination,
        "total": d.total,
        "sent_individually": d.sent_individually,
        "by_severity": by_severity,
        "by_type": by_type,
        "top": top,
    })
}

/// The SNS JSON body of a digest, `{"version":"1","digest":{…}}`; also the generic webhook's
/// body. Fits [`SNS_MAX_BYTES`]: type names are capped at [`crate::decide::digest::MAX_TYPES`],
/// long strings are cut when needed.
pub fn json_body(ctx: &DigestContext<'_>) -> String {
    let mut v = json!({"version": "1", "digest": json_digest(ctx)});
    let budget = SNS_MAX_BYTES - 2048;
    let mut body = v.to_string();
    if body.len() > budget {
        // Many long type names: keep the counts, drop names past the first ones.
        if let Some(types) = v["digest"]["by_type"].as_array_mut() {
            types.truncate(100);
        }
        cap_strings(&mut v, 512);
        body = v.to_string();
    }
    body
}

fn cap_strings(v: &mut Value, max: usize) {
    match v {
        Value::String(s) => {
            if let Some((cut, _)) = s.char_indices().nth(max) {
                s.truncate(cut);
                s.push('\u{2026}');
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| cap_strings(x, max)),
        Value::Object(o) => o.values_mut().for_each(|x| cap_strings(x, max)),
        _ => {}
    }
}

/// The SNS subject: `[Digest] 37 GuardDuty alerts (2 High, 35 Medium)`: ASCII, at most
/// [`SUBJECT_MAX_CHARS`].
fn subject(ctx: &DigestContext<'_>) -> String {
    let n = ctx.digest.total;
    let mut s = format!(
        "[Digest] {n} GuardDuty alert{} ({})",
        if n == 1 { "" } else { "s" },
        ctx.severity_counts()
    );
    s.truncate(SUBJECT_MAX_CHARS);
    s
}

/// The Amazon Q Developer custom notification of a digest.
fn chatbot_body(ctx: &DigestContext<'_>) -> String {
    let mut description = format!("*{}*", escape_markdown(&ctx.headline()));
    if let Some(note) = ctx.individually_note() {
        description.push_str(&format!(", {note}"));
    }
    description.push_str("\n\n*By type*");
    for line in ctx.type_lines() {
        description.push('\n');
        description.push_str(&escape_markdown(&line));
    }
    description.push_str("\n\n*Most severe*");
    for a in &ctx.digest.top {
        description.push('\n');
        description.push_str(&escape_markdown(&summary_line(a)));
    }
    description.push_str(&format!("\n\nFrom {}", escape_markdown(ctx.source)));
    let next_steps: Vec<String> = ctx
        .digest
        .top
        .iter()
        .filter_map(|a| a.console_url.as_deref())
        .take(5)
        .map(|u| format!("Open the finding in the GuardDuty console: {u}"))
        .collect();
    let id = ctx.id();
    let mut v = json!({
        "version": "1.0",
        "source": "custom",
        "id": id,
        "content": {
            "textType": "client-markdown",
            "title": format!(":clipboard: {}", escape_markdown(&ctx.headline())),
            "description": description,
            "nextSteps": next_steps,
            "keywords": ["digest", ctx.top_label().as_str()],
        },
        "metadata": {
            "threadId": id,
            "summary": subject(ctx),
            "eventType": "GuardDutyDigest",
            "additionalContext": {"source": ctx.source, "total": ctx.digest.total.to_string()},
        },
    });
    let body = v.to_string();
    if body.len() <= SNS_MAX_BYTES - 2048 {
        return body;
    }
    cap_strings(&mut v, 4096);
    v.to_string()
}

/// The SNS message of a digest. Attributes: `severity` (the highest in the digest),
/// `severity_label` (the highest band), and `kind` = `digest` for subscription filters (single
/// alerts have no `kind`, so `{"kind": [{"exists": false}]}` selects them).
pub fn sns_digest(ctx: &DigestContext<'_>, format: MessageFormat) -> AlertMessage {
    let body = match format {
        MessageFormat::Json => json_body(ctx),
        MessageFormat::Chatbot => chatbot_body(ctx),
    };
    let id = ctx.id();
    AlertMessage {
        finding_id: format!("{id} ({} alerts)", ctx.digest.total),
        finding_type: "digest".to_owned(),
        label: ctx.top_label(),
        subject: subject(ctx),
        body,
        email: Some(digest_email(ctx)),
        finding_truncated: false,
        attributes: vec![
            Attribute {
                name: "severity",
                data_type: "Number",
                value: number_attribute(ctx.top_severity()),
            },
            Attribute {
                name: "severity_label",
                data_type: "String",
                value: ctx.top_label().as_str().to_owned(),
            },
            Attribute {
                name: "kind",
                data_type: "String",
                value: "digest".to_owned(),
            },
        ],
        group_id: fifo_id("digest", "digest"),
        dedup_id: id,
        digest: true,
        alerts: ctx.digest.total as u64,
    }
}

/// The e-mail text of a digest.
pub fn digest_email(ctx: &DigestContext<'_>) -> String {
    let mut t = String::with_capacity(2048);
    t.push_str(&super::email::field(&ctx.headline()));
    t.push('\n');
    if let Some(note) = ctx.individually_note() {
        t.push_str(&super::email::field(&note));
        t.push('\n');
    }
    t.push_str("\nBy type:\n");
    for line in ctx.type_lines() {
        t.push_str(&format!("  {}\n", super::email::field(&line)));
    }
    t.push_str("\nMost severe:\n");
    for a in &ctx.digest.top {
        t.push_str(&format!("  {}\n", super::email::field(&summary_line(a))));
        if let Some(url) = &a.console_url {
            t.push_str(&format!("    {}\n", super::email::field(url)));
        }
    }
    t.push_str(&format!(
        "\nSent by guardduty-alerts from {}.\n",
        super::email::field(ctx.source)
    ));
    super::email::finish(t)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decide::digest::DigestBuilder;

    /// A digest of `n` alerts whose text fields all hold `hostile`.
    pub(crate) fn digest_of(n: usize, hostile: &str) -> Digest {
        let mut b = DigestBuilder::default();
        for i in 0..n {
            let sev = [2.0, 5.0, 8.0][i % 3];
            b.add(AlertSummary {
                finding_id: format!("{hostile}{i}"),
                finding_type: format!("Recon:EC2/{hostile}{}", i % 13),
                severity: sev,
                label: SeverityLabel::from_score(sev),
                title: Some(hostile.to_owned()),
                account_id: Some("111122223333".to_owned()),
                account_name: Some(hostile.to_owned()),
                region: Some("us-east-1".to_owned()),
                console_url: Some(format!(
                    "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?fId={i}"
                )),
            });
        }
        b.finish(2)
    }

    #[test]
    fn json_body_counts_and_top() {
        let d = digest_of(30, "x");
        let ctx = DigestContext {
            digest: &d,
            source: "s3://b/k.jsonl.gz",
            destination: "slack",
        };
        let v: Value = serde_json::from_str(&json_body(&ctx)).unwrap();
        let g = &v["digest"];
        assert_eq!(v["version"], "1");
        assert_eq!(g["total"], 30);
        assert_eq!(g["sent_individually"], 2);
        assert_eq!(
            g["by_severity"],
            json!({"High": 10, "Medium": 10, "Low": 10})
        );
        assert_eq!(g["by_type"].as_array().unwrap().len(), 13);
        assert_eq!(g["top"].as_array().unwrap().len(), 10);
        assert_eq!(g["top"][0]["severity"], 8.0);
        assert_eq!(g["source"], "s3://b/k.jsonl.gz");
        assert!(g["id"].as_str().unwrap().starts_with("digest-"));
    }

    #[test]
    fn digest_email_lists_counts_types_and_the_most_severe() {
        let d = digest_of(30, "line\nbreak\u{2028}forged");
        let ctx = DigestContext {
            digest: &d,
            source: "s3://b/k",
            destination: "t",
        };
        let t = digest_email(&ctx);
        assert!(
            t.starts_with("GuardDuty digest: 30 alerts (10 High, 10 Medium, 10 Low)\nplus 2 Critical alerts sent individually\n\nBy type:\n"),
            "{t}"
        );
        // 13 types: TYPES_SHOWN lines and one for the rest; 10 alerts, each with its link.
        let by_type = t
            .split("\nBy type:\n")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        assert_eq!(by_type.lines().count(), TYPES_SHOWN + 1, "{t}");
        assert!(by_type.ends_with("6 more in 3 other types"), "{t}");
        let top = t
            .split("\nMost severe:\n")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        assert_eq!(top.lines().count(), 20, "{t}");
        assert!(!t.contains("line\nbreak") && !t.contains('\u{2028}'), "{t}");
        assert!(t.ends_with("\nSent by guardduty-alerts from s3://b/k.\n"));
        let m = sns_digest(&ctx, MessageFormat::Json);
        assert_eq!(m.email.as_deref(), Some(t.as_str()));
    }

    #[test]
    fn sns_digest_subject_and_attributes() {
        let d = digest_of(30, "<!channel> *x*");
        let ctx = DigestContext {
            digest: &d,
            source: "s3://b/k",
            destination: "t",
        };
        for format in [MessageFormat::Json, MessageFormat::Chatbot] {
            let m = sns_digest(&ctx, format);
            assert_eq!(
                m.subject,
                "[Digest] 30 GuardDuty alerts (10 High, 10 Medium, 10 Low)"
            );
            assert!(m.subject.len() <= SUBJECT_MAX_CHARS);
            assert!(m.size() <= SNS_MAX_BYTES);
            let kind = m.attributes.iter().find(|a| a.name == "kind").unwrap();
            assert_eq!(kind.value, "digest");
            let v: Value = serde_json::from_str(&m.body).unwrap();
            if format == MessageFormat::Chatbot {
                let text = v["content"]["description"].as_str().unwrap();
                assert!(!text.contains("<!channel>"), "{text}");
                assert!(text.contains("&lt;\\!channel&gt; \\*x\\*"), "{text}");
            }
        }
    }

    #[test]
    fn a_huge_digest_still_fits_sns() {
        let long = "L".repeat(3000);
        let mut b = DigestBuilder::default();
        for i in 0..2000 {
            b.add(AlertSummary {
                finding_id: format!("{i}"),
                finding_type: format!("Recon:EC2/{long}{i}"),
                severity: 5.0,
                label: SeverityLabel::Medium,
                title: Some(long.clone()),
                account_id: None,
                account_name: None,
                region: None,
                console_url: None,
            });
        }
        let d = b.finish(0);
        let ctx = DigestContext {
            digest: &d,
            source: "s3://b/k",
            destination: "t",
        };
        let m = sns_digest(&ctx, MessageFormat::Json);
        assert!(m.size() <= SNS_MAX_BYTES, "{}", m.size());
        let v: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(v["digest"]["total"], 2000);
    }

    #[test]
    fn ids_are_stable_per_object_and_destination() {
        let d = digest_of(3, "x");
        let id = |source, destination| {
            DigestContext {
                digest: &d,
                source,
                destination,
            }
            .id()
        };
        assert_eq!(id("s3://b/k", "a"), id("s3://b/k", "a"));
        assert_ne!(id("s3://b/k", "a"), id("s3://b/k", "b"));
        assert_ne!(id("s3://b/k", "a"), id("s3://b/k2", "a"));
    }

    #[test]
    fn chat_digests_keep_every_invariant_of_single_alerts() {
        use crate::render::{
            Secret, check_pagerduty_invariants, check_slack_invariants, check_teams_invariants,
            pagerduty_digest, slack_digest, teams_digest,
        };
        let hostile = [
            "plain",
            "<!channel> <@U123> <http://evil.example|click> *bold* _i_ `code`",
            "{{DATE(2026-01-01T00:00:00Z)}} <at>boss</at> [x](http://evil.example)",
            "\u{202e}txt.exe \u{1b}[31mred\r\n- list &amp; &lt;",
            &"long ".repeat(2000),
        ];
        for h in hostile {
            for n in [1, 9, 40] {
                let d = digest_of(n, h);
                let ctx = DigestContext {
                    digest: &d,
                    source: "s3://bucket/AWSLogs/111122223333/GuardDuty/us-east-1/x.jsonl.gz",
                    destination: "dest",
                };
                let slack = slack_digest(&ctx);
                check_slack_invariants(&slack).unwrap_or_else(|e| panic!("slack {h:?} {n}: {e}"));
                let teams = teams_digest(&ctx);
                check_teams_invariants(&teams).unwrap_or_else(|e| panic!("teams {h:?} {n}: {e}"));
                let pd = pagerduty_digest(&ctx, &Secret::new("R0UTINGKEY"));
                check_pagerduty_invariants(&pd)
                    .unwrap_or_else(|e| panic!("pagerduty {h:?} {n}: {e}"));
                assert_eq!(pd["dedup_key"], ctx.id());
                // PagerDuty shows text as typed (it parses no markup), as for single alerts.
                for v in [&slack, &teams] {
                    let all = v.to_string();
                    assert!(
                        !all.contains("<!channel>") && !all.contains("<@U123>"),
                        "{all}"
                    );
                }
            }
        }
    }
}
