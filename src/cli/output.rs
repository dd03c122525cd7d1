//! The CLI's outputs: readable text (alerts only) and JSON Lines (every finding read).

use std::borrow::Cow;
use std::io::{self, Write};

use crate::classify::SeverityLabel;
use crate::decide::{Record, Sink};
use crate::render::json::JsonRecord;

/// Writes every finding as one JSON object per line.
pub struct JsonLines<W: Write> {
    out: W,
    /// The record being written, reused (one `write_all` per record).
    line: Vec<u8>,
}

impl<W: Write> JsonLines<W> {
    /// Writes to `out` (buffer it).
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            line: Vec::with_capacity(4096),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        self.line.clear();
        JsonRecord::new(r).write_json(&mut self.line);
        self.line.push(b'\n');
        self.out.write_all(&self.line)
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
    color: bool,
}

impl<W: Write> Text<W> {
    /// Writes to `out` (buffer it), without colour.
    pub fn new(out: W) -> Self {
        Text { out, color: false }
    }

    /// Writes to `out`, with each alert's severity tag coloured when `color` is true.
    pub fn colored(out: W, color: bool) -> Self {
        Text { out, color }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> Sink for Text<W> {
    fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        if !r.decision.is_alert() {
            return Ok(());
        }
        write_alert(&mut self.out, r, self.color)
    }

    fn flush(&mut self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        let r = self.out.flush();
        async move { r }
    }
}

/// One alert as a short text block, without colour. Every value from the finding passes
/// through [`terminal_safe`]: a crafted finding cannot move the cursor or recolour a terminal.
pub fn write_text_alert(out: &mut impl Write, r: &Record<'_>) -> io::Result<()> {
    write_alert(out, r, false)
}

/// The SGR sequence that colours a severity tag: bold bright red, red, yellow, cyan. With
/// [`RESET`], the only escape sequences the text output ever contains.
pub fn severity_color(label: SeverityLabel) -> &'static str {
    match label {
        SeverityLabel::Critical => "\x1b[1;91m",
        SeverityLabel::High => "\x1b[31m",
        SeverityLabel::Medium => "\x1b[33m",
        SeverityLabel::Low => "\x1b[36m",
    }
}

/// Ends a coloured tag.
pub const RESET: &str = "\x1b[0m";

/// One alert as a short text block; with `color`, its `[SEVERITY]` tag is coloured. The
/// colours are our own constant sequences around our own label: the finding's values still
/// pass through [`terminal_safe`].
pub fn write_alert(out: &mut impl Write, r: &Record<'_>, color: bool) -> io::Result<()> {
    let j = JsonRecord::new(r);
    let s = |v: Option<&str>| terminal_safe(v.unwrap_or("-")).into_owned();
    let tag = format!("[{}]", j.severity_label.as_str().to_uppercase());
    let tag = if color {
        format!("{}{tag}{RESET}", severity_color(j.severity_label))
    } else {
        tag
    };
    writeln!(
        out,
        "{tag} {} (severity {})",
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
    if let Some(docs) = &j.docs_url {
        writeln!(out, "  docs {}", terminal_safe(docs))?;
    }
    if let Some(runbook) = &j.runbook_url {
        writeln!(out, "  runbook {}", terminal_safe(runbook))?;
    }
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
