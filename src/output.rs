//! The CLI's outputs: readable text (alerts only) and JSON Lines (every finding read).

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;

use crate::classify::SeverityLabel;
use crate::decision::Decision;
use crate::pipeline::{Output, Record};

/// The `--format json` record: one object per finding read. Its keys are a contract that
/// scripts rely on; add keys, never rename or remove them.
#[derive(Debug, Serialize)]
pub struct JsonRecord<'a> {
    /// Finding id.
    pub id: &'a str,
    /// Finding type.
    #[serde(rename = "type")]
    pub finding_type: &'a str,
    /// Numeric severity as GuardDuty gave it.
    pub severity: f64,
    /// `Low`, `Medium`, `High` or `Critical`.
    pub severity_label: SeverityLabel,
    /// Type part before `:`.
    pub threat_purpose: &'a str,
    /// Type part between `:` and `/`.
    pub resource_type_affected: Option<&'a str>,
    /// Type part after `/`, before `.` and `!`.
    pub threat_family: Option<&'a str>,
    /// Type part after `.`.
    pub detection_mechanism: Option<&'a str>,
    /// Type part after `!`.
    pub artifact: Option<&'a str>,
    /// Account, from the finding body.
    pub account_id: Option<&'a str>,
    /// The account's name from the rules file (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<&'a str>,
    /// Region, from the finding body.
    pub region: Option<&'a str>,
    /// `resource.resourceType`.
    pub resource_type: Option<&'a str>,
    /// Short resource summary.
    pub resource: Option<&'a str>,
    /// Finding title.
    pub title: Option<&'a str>,
    /// `service.count`: how often GuardDuty saw the activity.
    pub count: Option<u64>,
    /// `service.eventFirstSeen`.
    pub first_seen: Option<&'a str>,
    /// `service.eventLastSeen`.
    pub last_seen: Option<&'a str>,
    /// `updatedAt`.
    pub updated_at: Option<&'a str>,
    /// A sample finding.
    pub sample: bool,
    /// `service.archived`.
    pub archived: bool,
    /// `alert` or `suppressed`.
    pub decision: &'static str,
    /// Why suppressed; null for alerts.
    pub reason: Option<&'a str>,
    /// The rule that decided (`default` when none matched); absent without a rules file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    /// Where a rules file routes the alert (destination names); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<&'a str>>,
    /// `true` when a rule sends the alert into a digest only; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_only: Option<bool>,
    /// GuardDuty console link.
    pub console_url: Option<&'a str>,
    /// Where it was read.
    pub source: &'a str,
    /// Line in the decompressed object.
    pub line: u64,
}

impl<'a> JsonRecord<'a> {
    /// Builds the record for one decided finding.
    pub fn new(r: &'a Record<'a>) -> Self {
        let f = r.finding;
        let c = r.class;
        let service = f.service();
        JsonRecord {
            id: f.id(),
            finding_type: f.type_str(),
            severity: f.severity(),
            severity_label: c.label,
            threat_purpose: c.kind.threat_purpose,
            resource_type_affected: c.kind.resource_type_affected,
            threat_family: c.kind.threat_family,
            detection_mechanism: c.kind.detection_mechanism,
            artifact: c.kind.artifact,
            account_id: c.account_id,
            account_name: r.account_name,
            region: c.region,
            resource_type: c.resource_type,
            resource: c.resource.as_deref(),
            title: f.title.get(),
            count: service
                .and_then(|s| s.count.0)
                .filter(|c| *c >= 0.0)
                .map(|c| c as u64),
            first_seen: service.and_then(|s| s.event_first_seen.get()),
            last_seen: service.and_then(|s| s.event_last_seen.get()),
            updated_at: f.updated_at.get(),
            sample: c.sample,
            archived: c.archived,
            decision: r.decision.as_str(),
            reason: r.decision.reason(),
            rule: r.decision.rule(),
            destinations: match (r.decision, r.rules) {
                (Decision::Routed { to, .. }, Some(rules)) => Some(
                    to.iter()
                        .filter_map(|i| rules.destinations().get(*i))
                        .map(|d| d.name.as_str())
                        .collect(),
                ),
                _ => None,
            },
            digest_only: match r.decision {
                Decision::Routed { digest: true, .. } => Some(true),
                _ => None,
            },
            console_url: c.console_url.as_deref(),
            source: r.source,
            line: r.line,
        }
    }
}

/// Writes every finding as one JSON object per line.
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    /// Writes to `out` (buffer it).
    pub fn new(out: W) -> Self {
        JsonLines { out }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> Output for JsonLines<W> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &JsonRecord::new(r))?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        // Buffered writes go out when the buffer fills; at the end of a source, write them out.
        let r = self.out.flush();
        async move { r }
    }
}

/// Writes alerts (only) as short readable blocks.
pub struct Text<W: Write> {
    out: W,
}

impl<W: Write> Text<W> {
    /// Writes to `out` (buffer it).
    pub fn new(out: W) -> Self {
        Text { out }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> Output for Text<W> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        if !r.decision.is_alert() {
            return Ok(());
        }
        write_text_alert(&mut self.out, r)
    }

    fn flush(&mut self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        let r = self.out.flush();
        async move { r }
    }
}

/// One alert as a short text block. Every value from the finding passes through
/// [`terminal_safe`]: a crafted finding cannot move the cursor or recolour a terminal.
pub fn write_text_alert(out: &mut impl Write, r: &Record<'_>) -> io::Result<()> {
    let j = JsonRecord::new(r);
    let s = |v: Option<&str>| terminal_safe(v.unwrap_or("-")).into_owned();
    writeln!(
        out,
        "[{}] {} (severity {})",
        j.severity_label.as_str().to_uppercase(),
        terminal_safe(j.finding_type),
        crate::classify::format_severity(j.severity)
    )?;
    writeln!(out, "  {}", s(j.title))?;
    match j.account_name {
        Some(name) => writeln!(
            out,
            "  account {} ({})  region {}",
            s(j.account_id),
            terminal_safe(name),
            s(j.region)
        )?,
        None => writeln!(out, "  account {}  region {}", s(j.account_id), s(j.region))?,
    }
    writeln!(out, "  resource {}: {}", s(j.resource_type), s(j.resource))?;
    let count = j.count.map_or_else(|| "-".to_owned(), |c| c.to_string());
    writeln!(
        out,
        "  count {count}  first seen {}  last seen {}",
        s(j.first_seen),
        s(j.last_seen)
    )?;
    writeln!(out, "  {}", s(j.console_url))?;
    if let (Some(rule), Some(dests)) = (j.rule, &j.destinations) {
        let how = if j.digest_only == Some(true) {
            "digest for"
        } else {
            "to"
        };
        writeln!(out, "  rule {rule}: {how} {}", dests.join(", "))?;
    }
    writeln!(out)
}

/// Replaces control characters (escape sequences, carriage returns, bidi overrides) with
/// visible `\u{..}` escapes.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_made_visible() {
        assert_eq!(
            terminal_safe("plain <!channel> *x*"),
            "plain <!channel> *x*"
        );
        assert_eq!(terminal_safe("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(terminal_safe("x\ry\nz"), "x\\u{d}y\\u{a}z");
        assert_eq!(terminal_safe("\u{202e}txt"), "\\u{202e}txt");
    }
}
