//! The plain-text body e-mail subscribers of the SNS topic read. SNS messages are published
//! with `MessageStructure: json`, `{"default": BODY, "email": TEXT}`: e-mail subscriptions get
//! this text, every other protocol (SQS, Lambda, HTTPS, Amazon Q) the JSON body as before
//! ([`super::sns`]).
//!
//! Digests make theirs in [`super::digest`] with the same helpers.
//!
//! Finding fields are attacker-influenced: every control character (line breaks included) in a
//! field becomes a space, so a finding cannot forge lines of the e-mail, and each field is cut
//! to [`MAX_FIELD`] characters; the whole text to [`MAX_EMAIL`] bytes.

use super::json::JsonRecord;
use super::{AlertContext, ELLIPSIS, account_display, resource_display};
use crate::classify::format_severity;

/// The most characters shown of one field.
pub const MAX_FIELD: usize = 1000;
/// The most bytes of one e-mail body.
pub const MAX_EMAIL: usize = 16 * 1024;

/// One field for a line of the e-mail: control characters as spaces, at most [`MAX_FIELD`]
/// characters (then `…`).
pub(crate) fn field(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_FIELD)
        .map(|c| {
            if c.is_control() || is_line_break(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    if s.chars().nth(MAX_FIELD).is_some() {
        out.push(ELLIPSIS);
    }
    out
}

/// Unicode line and paragraph separators, which some mail clients break lines at.
fn is_line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// `text`, cut to [`MAX_EMAIL`] bytes (then `…`).
pub(crate) fn finish(mut text: String) -> String {
    if text.len() > MAX_EMAIL {
        text.truncate(text.floor_char_boundary(MAX_EMAIL - ELLIPSIS.len_utf8()));
        text.push(ELLIPSIS);
    }
    text
}

/// The e-mail text of one alert.
pub fn alert_email(ctx: &AlertContext<'_>) -> String {
    let j: &JsonRecord<'_> = ctx.record;
    let mut t = String::with_capacity(1024);
    let severity = format!("{} ({})", format_severity(j.severity), j.severity_label);
    t.push_str(&format!(
        "[{}] {}\n",
        j.severity_label,
        field(j.finding_type)
    ));
    if let Some(title) = j.title.filter(|s| !s.trim().is_empty()) {
        t.push_str(&field(title));
        t.push('\n');
    }
    t.push('\n');
    let count = j.count.map_or_else(|| "-".to_owned(), |c| c.to_string());
    for (name, value) in [
        ("Severity", severity.as_str()),
        ("Account", &account_display(ctx)),
        ("Region", j.region.unwrap_or("-")),
        ("Resource", &resource_display(j)),
        ("Count", &count),
        ("First seen", j.first_seen.unwrap_or("-")),
        ("Last seen", j.last_seen.unwrap_or("-")),
        ("Finding", j.id),
    ] {
        t.push_str(&format!("{name:<11} {}\n", field(value)));
    }
    t.push('\n');
    for (label, url) in [
        ("Open the finding in the GuardDuty console", j.console_url),
        ("What this finding type means", j.docs_url.as_deref()),
        ("Runbook", j.runbook_url.as_deref()),
    ] {
        if let Some(url) = url {
            t.push_str(&format!("{label}:\n  {}\n", field(url)));
        }
    }
    t.push_str(&format!(
        "\nSent by guardduty-alerts from {}, line {}.\n",
        field(j.source),
        j.line
    ));
    finish(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::{HOSTILE, hostile_record, long_hostile, with_sample};

    #[test]
    fn an_alert_reads_as_text() {
        with_sample(2, |_, j| {
            let t = alert_email(&AlertContext::new(j).with_account_name(Some("prod")));
            let want = format!(
                "[High] UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS
Credentials for instance role web-frontend-role used from external IP address.

Severity    8 (High)
Account     111122223333 (prod)
Region      us-east-1
Resource    AccessKey: ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)
Count       6
First seen  2025-06-04T02:13:51.000Z
Last seen   2025-06-04T02:41:07.000Z
Finding     4a5e5f82cf5387ba6ffaa0e35da2d70a

Open the finding in the GuardDuty console:
  {}
What this finding type means:
  {}

Sent by guardduty-alerts from events/sample-export.jsonl, line 1.
",
                j.console_url.unwrap(),
                j.docs_url.as_deref().unwrap()
            );
            assert_eq!(t, want);
        });
    }

    #[test]
    fn hostile_fields_cannot_add_lines_and_the_text_is_bounded() {
        for s in HOSTILE {
            let j = hostile_record(s, "https://x.example/a");
            let t = alert_email(&AlertContext::new(&j).with_account_name(Some(s)));
            // The template's lines only: the headline, the title (unless blank), 8 fields, 3
            // links of 2 lines, the sender, and 3 empty separators.
            let title = usize::from(!s.trim().is_empty());
            assert_eq!(t.lines().count(), 19 + title, "{s:?}\n{t}");
            assert!(
                !t.chars()
                    .any(|c| (c.is_control() && c != '\n') || is_line_break(c))
            );
        }
        let long = long_hostile();
        let j = hostile_record(&long, "https://x.example/a");
        let t = alert_email(&AlertContext::new(&j));
        assert!(t.len() <= MAX_EMAIL, "{}", t.len());
    }
}
