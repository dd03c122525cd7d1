//! What the CLI says on stderr: plain `error: …` and `warning: …` lines for people, and, with
//! `RUST_LOG` set, tracing's full log lines (timestamp, level, fields) for diagnostics.
//!
//! The library logs its warnings (a rejected line, a webhook that refuses) as tracing events
//! with fields, which the Lambda function writes as JSON. Without `RUST_LOG`, the CLI writes
//! each such event of ours at warning level or above (and the dependencies' errors) as one line: `warning: SUBJECT: MESSAGE (FIELD:
//! VALUE, …)`, where the subject is the object the event is about (its `source`, with `:LINE`
//! when it has one, or its `destination`, `topic`, `table` or `finding`), and every value goes
//! through [`terminal_safe`] (an S3 key or a webhook's answer cannot reach the terminal raw).

use std::fmt::{self, Display, Write as _};
use std::io::{self, IsTerminal};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::output::terminal_safe;

/// Prints `error: MESSAGE` on stderr.
pub fn error(message: impl Display) {
    eprintln!("error: {message}");
}

/// Prints `warning: MESSAGE` on stderr.
pub fn warning(message: impl Display) {
    eprintln!("warning: {message}");
}

/// Sets up stderr logging: with `RUST_LOG` set, tracing's log lines at the levels it asks for
/// (`RUST_LOG=debug`); without it, plain lines for warnings and errors.
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
            .with_target(false)
            .init();
    } else {
        // Our own warnings; the SDK's only when they are errors (its warnings repeat what our
        // error line says, e.g. "failed to load base credentials").
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "error,guardduty_alerts=warn",
            ))
            .with_writer(io::stderr)
            .event_format(Plain)
            .init();
    }
}

/// The plain one-line format of an event.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(writer, "{}", fields.line(*event.metadata().level()))
    }
}

/// The fields an event was logged with, in order, each value made terminal-safe.
#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, String)>,
}

/// The fields that name what an event is about, most specific first.
const SUBJECTS: [&str; 6] = [
    "source",
    "object",
    "destination",
    "topic",
    "table",
    "finding",
];

impl Fields {
    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.others.iter().position(|(n, _)| *n == name)?;
        Some(self.others.remove(i).1)
    }

    /// `LEVEL: SUBJECT[:LINE]: MESSAGE (FIELD: VALUE, …)`.
    fn line(mut self, level: Level) -> String {
        let level = match level {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let mut out = format!("{level}: ");
        if let Some(subject) = SUBJECTS.iter().find_map(|s| self.take(s)) {
            out.push_str(&subject);
            if let Some(line) = self.take("line") {
                let _ = write!(out, ":{line}");
            }
            out.push_str(": ");
        }
        out.push_str(&self.message);
        if !self.others.is_empty() {
            let rest: Vec<String> = self
                .others
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = write!(out, " ({})", rest.join(", "));
        }
        out
    }

    fn push(&mut self, field: &Field, value: String) {
        let value = terminal_safe(&value).into_owned();
        if field.name() == "message" {
            self.message = value;
        } else {
            self.others.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(message: &str, others: &[(&'static str, &str)]) -> Fields {
        Fields {
            message: message.to_owned(),
            others: others.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn an_event_is_one_plain_line_subject_first() {
        let f = fields(
            "line rejected; the rest of the object is still processed",
            &[
                ("source", "x.jsonl.gz"),
                ("line", "5"),
                ("reason", "invalid_json"),
                ("detail", "EOF while parsing"),
            ],
        );
        assert_eq!(
            f.line(Level::WARN),
            "warning: x.jsonl.gz:5: line rejected; the rest of the object is still processed \
             (reason: invalid_json, detail: EOF while parsing)"
        );
        let f = fields(
            "the webhook rejected an alert; not retrying",
            &[("status", "400"), ("destination", "slack")],
        );
        assert_eq!(
            f.line(Level::WARN),
            "warning: slack: the webhook rejected an alert; not retrying (status: 400)"
        );
        assert_eq!(
            fields("publishing task failed", &[]).line(Level::ERROR),
            "error: publishing task failed"
        );
    }
}
