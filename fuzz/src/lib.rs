//! The checks behind the fuzz targets, shared with the main crate's `tests/fuzz_corpus.rs`.
//!
//! Each target is one function from the fuzzer's bytes to `Result<(), String>`: `Err` names the
//! invariant that failed (`[id] detail`). The fuzz targets (`fuzz_targets/*.rs`) panic on `Err`;
//! `tests/fuzz_corpus.rs` includes this file (`#[path]`) and replays every committed corpus file
//! through the same functions, so CI keeps the corpus passing without running a fuzzer.
//!
//! Only the crate's public API is used, plus `serde_json`, `tokio` and `flate2`, which both the
//! fuzz crate and the main crate's tests have.
//!
//! - [`trigger_event`]: the bytes as a Lambda event, and as the payload inside an SQS body, an
//!   SNS notification and an SNS envelope in an SQS body; structural invariants of what
//!   [`parse_event`] returns, agreement between the wrapped and unwrapped parses, and the S3 key
//!   decoding round trip.
//! - [`export_reader`]: a 7-byte header chooses plain / gzip / multi-member gzip / cut gzip, the
//!   line limit, the read sizes, an injected read error and the decompressed-size limit; the rest
//!   is the export. Every line is accounted for against an independent model of the framing.
//! - [`render`]: a finding built from the bytes (or the bytes themselves when they start with
//!   `{`), classified and rendered by every renderer, each `check_*_invariants` must hold; the
//!   SNS messages (JSON and Chatbot) must meet SNS's limits; the CLI text output must carry no
//!   control characters.

use std::collections::HashSet;
use std::io::{self, Read as _, Write as _};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use guardduty_alerts::classify::classify;
use guardduty_alerts::cli::output::write_text_alert;
use guardduty_alerts::common::format::MessageFormat;
use guardduty_alerts::decide::Policy;
use guardduty_alerts::decide::Record;
use guardduty_alerts::export::finding::{Finding, ParseError};
use guardduty_alerts::export::{
    Compression, Parsed, ReadError, ReaderOptions, RecordSink, RejectReason, Rejection,
    read_export, sniff,
};
use guardduty_alerts::render::json::JsonRecord;
use guardduty_alerts::render::sns::{self, AlertMessage, SNS_MAX_BYTES, SUBJECT_MAX_CHARS};
use guardduty_alerts::render::{
    AlertContext, Secret, check_generic_invariants, check_pagerduty_invariants,
    check_slack_invariants, check_teams_invariants, generic, pagerduty, pagerduty_redacted, slack,
    teams,
};
use guardduty_alerts::trigger::is_export_key;
use guardduty_alerts::trigger::{Invocation, Shape, decode_s3_key, parse_event};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};

/// One target's check: the fuzzer's bytes in, `Err("[id] detail")` when an invariant fails.
pub type Check = fn(&[u8]) -> Result<(), String>;

/// The fuzz targets, by name (also the folder names under `fuzz/corpus/`).
pub const TARGETS: [(&str, Check); 3] = [
    ("trigger_event", trigger_event),
    ("export_reader", export_reader),
    ("render", render),
];

/// Invariant ids a fuzzing run tolerates (see [`allow_from_env`]); empty unless set.
static ALLOWED: OnceLock<Vec<String>> = OnceLock::new();

/// Reads `GUARDDUTY_FUZZ_ALLOW` (comma-separated invariant ids, e.g. `sns-group-id`): violations
/// of those invariants are not reported, so a fuzzing run can go on past a known, reported bug
/// that is not fixed yet. Only the fuzz targets call this; `tests/fuzz_corpus.rs` never does,
/// so the test suite tolerates nothing.
#[cfg_attr(test, allow(dead_code))]
pub fn allow_from_env() {
    let ids = std::env::var("GUARDDUTY_FUZZ_ALLOW").unwrap_or_default();
    let ids: Vec<String> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !ids.is_empty() {
        eprintln!("GUARDDUTY_FUZZ_ALLOW: not reporting violations of {ids:?}");
    }
    let _ = ALLOWED.set(ids);
}

/// A failed invariant: `[id] detail` (`Ok` when the id is allowed, see [`allow_from_env`]).
fn violation(id: &str, detail: impl std::fmt::Display) -> Result<(), String> {
    if ALLOWED.get().is_some_and(|ids| ids.iter().any(|a| a == id)) {
        return Ok(());
    }
    Err(format!("[{id}] {detail}"))
}

/// `Err` unless `cond`.
fn ensure(cond: bool, id: &str, detail: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        violation(id, detail())
    }
}

/// At most `n` characters of `s`, for messages.
fn short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

// ------------------------------------------------------------------------------------------------
// trigger_event
// ------------------------------------------------------------------------------------------------

/// The bytes as a Lambda event, and as the payload of each wrapper shape.
pub fn trigger_event(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let inner: Option<Value> = serde_json::from_str(&text).ok();
    let direct = match &inner {
        Some(v) => Some(checked_parse(v)?),
        None => None,
    };

    // The same text inside each envelope the function accepts.
    let envelope = json!({"Type": "Notification", "MessageId": "fuzz-env", "Message": text});
    let wrappers = [
        (
            "SQS body",
            "SQS message fuzz-1: ",
            json!({"Records": [{"eventSource": "aws:sqs", "messageId": "fuzz-1", "body": text}]}),
        ),
        (
            "SNS Message",
            "SNS message fuzz-1: ",
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "fuzz-1", "Message": text}}]}),
        ),
        (
            "SNS envelope in an SQS body",
            "SQS message fuzz-1: ",
            json!({"Records": [{"eventSource": "aws:sqs", "messageId": "fuzz-1", "body": envelope.to_string()}]}),
        ),
    ];
    for (what, label, event) in wrappers {
        let inv = match checked_parse(&event)? {
            Ok(inv) => inv,
            Err(e) => return violation("trigger-wrapper", format!("{what}: not recognised: {e}")),
        };
        let [unit] = inv.units.as_slice() else {
            return violation(
                "trigger-wrapper",
                format!("{what}: {} units", inv.units.len()),
            );
        };
        if let Some(e) = &unit.error {
            ensure(e.starts_with(label), "trigger-error-label", || {
                format!(
                    "{what}: error does not start with {label:?}: {}",
                    short(e, 200)
                )
            })?;
        }
        let Some(v) = &inner else {
            // Not JSON: the unit fails and asks for nothing.
            ensure(
                unit.error.is_some() && unit.objects.is_empty() && unit.skipped.is_empty(),
                "trigger-not-json",
                || format!("{what}: a payload that is not JSON gave {unit:?}"),
            )?;
            continue;
        };
        let is_envelope = v.get("Type").and_then(Value::as_str) == Some("Notification")
            && v.get("Message").is_some_and(Value::is_string);
        match direct.as_ref().expect("parsed when inner is Some") {
            Ok(d) if matches!(d.shape, Shape::S3 | Shape::S3TestEvent | Shape::EventBridge) => {
                // A payload that is an event by itself asks for the same thing when wrapped.
                let du = &d.units[0];
                ensure(
                    unit.objects == du.objects
                        && unit.skipped == du.skipped
                        && unit.error.is_some() == du.error.is_some(),
                    "trigger-wrapped-differs",
                    || format!("{what}: wrapped {unit:?}\nunwrapped {du:?}"),
                )?;
            }
            Err(_) if !(what == "SQS body" && is_envelope) => {
                ensure(
                    unit.error.is_some() && unit.objects.is_empty() && unit.skipped.is_empty(),
                    "trigger-unrecognised-wrapped",
                    || format!("{what}: an unrecognised payload gave {unit:?}"),
                )?;
            }
            _ => {}
        }
    }

    // S3 key decoding: never panics, and inverts S3's form encoding.
    let _ = decode_s3_key(&text);
    let encoded = form_encode(&text);
    match decode_s3_key(&encoded) {
        Ok(k) if k == text => Ok(()),
        other => violation(
            "s3-key-round-trip",
            format!(
                "{:?} encoded as {:?} decodes to {other:?}",
                short(&text, 100),
                short(&encoded, 300)
            ),
        ),
    }
}

/// S3's encoding of keys in event notifications: like an HTML form, space as `+`.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*' | b'/') => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// [`parse_event`] plus the invariants of every invocation it returns.
fn checked_parse(event: &Value) -> Result<Result<Invocation, String>, String> {
    let inv = match parse_event(event) {
        Ok(inv) => inv,
        Err(e) => {
            let text = e.to_string();
            ensure(!text.is_empty(), "trigger-error-text", || {
                "empty error".into()
            })?;
            return Ok(Err(text));
        }
    };
    let records = event.get("Records").and_then(Value::as_array);
    if inv.shape == Shape::Sqs {
        let records = records.map_or(&[][..], Vec::as_slice);
        ensure(
            inv.units.len() == records.len(),
            "trigger-sqs-units",
            || format!("{} units for {} records", inv.units.len(), records.len()),
        )?;
        for (u, r) in inv.units.iter().zip(records) {
            let id = r.get("messageId").and_then(Value::as_str);
            ensure(
                u.message_id.as_deref() == id,
                "trigger-sqs-message-id",
                || {
                    format!(
                        "unit message id {:?}, record messageId {id:?}",
                        u.message_id
                    )
                },
            )?;
        }
    } else {
        ensure(inv.units.len() == 1, "trigger-one-unit", || {
            format!("{} shape with {} units", inv.shape, inv.units.len())
        })?;
        ensure(
            inv.units[0].message_id.is_none(),
            "trigger-one-unit",
            || "a message id outside SQS".into(),
        )?;
    }
    for u in &inv.units {
        let mut seen = HashSet::new();
        for o in &u.objects {
            ensure(
                !o.bucket.is_empty() && !o.key.is_empty(),
                "trigger-object-named",
                || format!("object with an empty bucket or key: {o:?}"),
            )?;
            ensure(is_export_key(&o.key), "trigger-object-export", || {
                format!("object that is not an export: {o:?}")
            })?;
            ensure(
                o.version_id.as_deref() != Some(""),
                "trigger-object-version",
                || format!("empty version id: {o:?}"),
            )?;
            ensure(seen.insert(o.clone()), "trigger-object-once", || {
                format!("object listed twice in one unit: {o}")
            })?;
            let _ = o.to_string();
        }
        for s in &u.skipped {
            ensure(!s.what.is_empty(), "trigger-skip-named", || {
                format!("{s:?}")
            })?;
            let _ = s.to_string();
        }
        if let Some(e) = &u.error {
            ensure(!e.is_empty(), "trigger-error-text", || {
                "empty unit error".into()
            })?;
        }
    }
    Ok(Ok(inv))
}

// ------------------------------------------------------------------------------------------------
// export_reader
// ------------------------------------------------------------------------------------------------

/// Length of the header in front of an `export_reader` input.
pub const EXPORT_HEADER: usize = 7;

/// Read sizes chosen by the low four bits of header byte 2 (`usize::MAX`: whatever fits).
const READ_SIZES: [usize; 11] = [usize::MAX, 1, 2, 3, 5, 8, 13, 64, 511, 4096, 65536];

/// One `export_reader` case, decoded from the header:
///
/// | byte | meaning |
/// |---|---|
/// | 0 | `% 4`: 0 the body as is, 1 gzip (one member), 2 gzip in many members, 3 gzip cut short |
/// | 1 | `max_line_bytes`: 0 the default (1 MiB), else `byte - 1` |
/// | 2 | low 4 bits: read size ([`READ_SIZES`], at least 1/4096 of the stream); bit 7: every read is `Pending` first |
/// | 3 | `< 224`: the body once; else repeated up to `248 + (byte - 224)` KiB (across the first 256 KiB chunk) |
/// | 4 | 0: no failure; else at `len * byte / 256` of the stream an I/O error (mode 3: the cut) |
/// | 5 | `max_decompressed_bytes`: 0 the default, else `(byte - 1)² * 16` |
/// | 6 | mode 2: members of `1 + byte²` bytes (at least 1/1024 of the body); odd: an empty member between them |
#[derive(Debug)]
struct ExportCase {
    mode: u8,
    opts: ReaderOptions,
    read_size: usize,
    pending: bool,
    /// The stream handed to the reader.
    stream: Vec<u8>,
    /// The decompressed bytes of the whole stream, when known.
    plain: Option<Vec<u8>>,
    /// Where the reader fails with an I/O error.
    fail_at: Option<usize>,
    /// Mode 3: the gzip stream was cut short (and is not empty).
    cut: bool,
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).expect("in memory");
        out.extend(e.finish().expect("in memory"));
    }
    out
}

fn export_case(data: &[u8]) -> ExportCase {
    let mut h = [0u8; EXPORT_HEADER];
    let n = data.len().min(EXPORT_HEADER);
    h[..n].copy_from_slice(&data[..n]);
    let mut body = data[n..].to_vec();
    if h[3] >= 224 && !body.is_empty() {
        // Around the framer's first chunk boundary (`CHUNK_BYTES`, 256 KiB): enough for every
        // path across chunks (a line carried over, one skipped across reads), and no bigger.
        let want = (248 + usize::from(h[3] - 224)) * 1024;
        let unit = body.clone();
        while body.len() < want {
            body.extend_from_slice(&unit);
        }
    }
    let defaults = ReaderOptions::default();
    let opts = ReaderOptions {
        max_line_bytes: if h[1] == 0 {
            defaults.max_line_bytes
        } else {
            usize::from(h[1]) - 1
        },
        max_decompressed_bytes: if h[5] == 0 {
            defaults.max_decompressed_bytes
        } else {
            (u64::from(h[5]) - 1).pow(2) * 16
        },
    };
    let mode = h[0] % 4;
    let (mut stream, plain) = match mode {
        0 => (
            body.clone(),
            (sniff(&body) == Compression::None).then(|| body.clone()),
        ),
        1 | 3 => (gzip(&[&body]), Some(body.clone())),
        _ => {
            // At most about 1024 members (each costs a header, a trailer and a decoder reset).
            let size = (1 + usize::from(h[6]).pow(2)).max(body.len() / 1024);
            let mut parts: Vec<&[u8]> = Vec::new();
            for chunk in body.chunks(size) {
                parts.push(chunk);
                if h[6] % 2 == 1 {
                    parts.push(b"");
                }
            }
            (gzip(&parts), Some(body.clone()))
        }
    };
    let at = (h[4] != 0).then(|| stream.len() * usize::from(h[4]) / 256);
    let mut plain = plain;
    let full_len = stream.len();
    let fail_at = if mode == 3 {
        stream.truncate(at.unwrap_or(stream.len() / 2));
        if stream.is_empty() {
            // Cut to nothing: an empty object, read as plain text.
            plain = Some(Vec::new());
        }
        None
    } else {
        at
    };
    let cut = mode == 3 && !stream.is_empty() && stream.len() < full_len;
    // At most about 4096 reads, so a large stream read byte by byte stays quick.
    let read_size =
        READ_SIZES[usize::from(h[2] & 0x0f) % READ_SIZES.len()].max(stream.len() / 4096);
    ExportCase {
        mode,
        opts,
        read_size,
        pending: h[2] & 0x80 != 0,
        stream,
        cut,
        plain,
        fail_at,
    }
}

/// An `AsyncRead` over a byte vector: reads of at most `read_size`, optionally `Pending` before
/// each, and an I/O error at `fail_at`.
struct FuzzReader {
    data: Vec<u8>,
    pos: usize,
    read_size: usize,
    pending: bool,
    woken: bool,
    fail_at: Option<usize>,
}

impl AsyncRead for FuzzReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        if me.pending && !me.woken {
            me.woken = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        me.woken = false;
        let end = me.fail_at.unwrap_or(me.data.len()).min(me.data.len());
        if me.fail_at.is_some_and(|f| me.pos >= f) {
            return Poll::Ready(Err(io::Error::other("injected read error")));
        }
        let n = (end - me.pos).min(me.read_size).min(buf.remaining());
        buf.put_slice(&me.data[me.pos..me.pos + n]);
        me.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// What the reader handed to the sink, in order.
#[derive(Debug, PartialEq)]
enum Event {
    Finding {
        line: u64,
        raw: String,
    },
    Rejected {
        line: u64,
        reason: RejectReason,
        detail: String,
    },
}

impl Event {
    fn line(&self) -> u64 {
        match self {
            Event::Finding { line, .. } | Event::Rejected { line, .. } => *line,
        }
    }
}

#[derive(Default)]
struct Collect {
    events: Vec<Event>,
}

impl RecordSink for Collect {
    async fn chunk(&mut self, parsed: &[Parsed<'_>]) -> io::Result<()> {
        let mut findings = Vec::with_capacity(parsed.len());
        for p in parsed {
            // The finding handed over is the one in `raw`.
            let again = Finding::parse(p.raw).map_err(|e| io::Error::other(format!("{e:?}")))?;
            if again.id() != p.finding.id() {
                return Err(io::Error::other("finding and raw line differ"));
            }
            findings.push(Event::Finding {
                line: p.line,
                raw: p.raw.to_owned(),
            });
        }
        // The chunk's rejected lines came first (after the previous chunk's findings): merge
        // the two, each in the order it came, by line; the checks then see whether the result
        // is in line order.
        let start = self
            .events
            .iter()
            .rposition(|e| matches!(e, Event::Finding { .. }))
            .map_or(0, |i| i + 1);
        let rejected = self.events.split_off(start);
        let (mut a, mut b) = (
            rejected.into_iter().peekable(),
            findings.into_iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.line() <= y.line() => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            self.events.extend(next);
        }
        Ok(())
    }

    fn rejected(&mut self, r: &Rejection<'_>) -> io::Result<()> {
        self.events.push(Event::Rejected {
            line: r.line,
            reason: r.reason,
            detail: r.detail.clone().into_owned(),
        });
        Ok(())
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread Tokio runtime");
}

/// The bytes (with the header) as an export read by [`read_export`].
pub fn export_reader(data: &[u8]) -> Result<(), String> {
    let case = export_case(data);
    let reader = FuzzReader {
        data: case.stream.clone(),
        pos: 0,
        read_size: case.read_size,
        pending: case.pending,
        woken: false,
        fail_at: case.fail_at,
    };
    let mut sink = Collect::default();
    let result = RUNTIME.with(|rt| rt.block_on(read_export(reader, &case.opts, &mut sink)));
    check_export(&case, &sink.events, &result)
}

/// What the model expects of one line.
#[derive(Debug)]
enum Expect {
    /// Whitespace only: no event (or `TooLong` when `too_long_ok`).
    Blank {
        too_long_ok: bool,
    },
    /// A line whose length allows either a `TooLong` rejection or the given outcome (a line of
    /// exactly the limit plus `\r` that the framer saw before its `\n`).
    Either(Box<Expect>),
    TooLong,
    InvalidUtf8,
    InvalidJson,
    NotAFinding,
    Finding(String),
    /// The incomplete last line where the stream broke off; `TooLong` allowed when long.
    Partial {
        too_long_ok: bool,
    },
}

/// The lines of `text` as the reader must report them. `complete`: the stream ended cleanly
/// (the last line needs no newline); otherwise the part after the last newline is a partial line.
fn model(text: &[u8], complete: bool, max_line: usize) -> Vec<Expect> {
    let framer_max = max_line.max(1);
    let mut out = Vec::new();
    let mut segments: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let last = segments.pop().unwrap_or_default();
    let one = |raw: &[u8]| -> Expect {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let too_long_ok = raw.len() > framer_max;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Expect::Blank { too_long_ok };
        }
        if line.len() > max_line {
            return Expect::TooLong;
        }
        let e = match std::str::from_utf8(line) {
            Err(_) => Expect::InvalidUtf8,
            Ok(t) => match Finding::parse(t) {
                Ok(_) => Expect::Finding(t.to_owned()),
                Err(ParseError::InvalidJson(_)) => Expect::InvalidJson,
                Err(ParseError::NotAFinding(_)) => Expect::NotAFinding,
            },
        };
        if too_long_ok {
            Expect::Either(Box::new(e))
        } else {
            e
        }
    };
    for raw in segments {
        out.push(one(raw));
    }
    if !last.is_empty() {
        out.push(if complete {
            one(last)
        } else {
            Expect::Partial {
                too_long_ok: last.len() > framer_max,
            }
        });
    }
    out
}

/// Whether `event` (for line `line`) is what `expect` allows.
fn matches_expect(expect: &Expect, event: &Event) -> bool {
    use RejectReason as R;
    match (expect, event) {
        (Expect::Either(e), ev) => {
            matches!(
                ev,
                Event::Rejected {
                    reason: R::TooLong,
                    ..
                }
            ) || matches_expect(e, ev)
        }
        (
            Expect::Blank { too_long_ok: true },
            Event::Rejected {
                reason: R::TooLong, ..
            },
        ) => true,
        (Expect::Partial { too_long_ok }, Event::Rejected { reason, .. }) => {
            *reason == R::Truncated || (*too_long_ok && *reason == R::TooLong)
        }
        (Expect::TooLong, Event::Rejected { reason, .. }) => *reason == R::TooLong,
        (Expect::InvalidUtf8, Event::Rejected { reason, .. }) => *reason == R::InvalidUtf8,
        (Expect::InvalidJson, Event::Rejected { reason, .. }) => *reason == R::InvalidJson,
        (Expect::NotAFinding, Event::Rejected { reason, .. }) => *reason == R::NotAFinding,
        (Expect::Finding(want), Event::Finding { raw, .. }) => raw == want,
        _ => false,
    }
}

/// Every line of `text` accounted for: the events match the model line by line, and the
/// number of lines read is the model's.
fn check_lines(
    text: &[u8],
    complete: bool,
    max_line: usize,
    events: &[Event],
    lines: u64,
) -> Result<(), String> {
    let expected = model(text, complete, max_line);
    ensure(lines == expected.len() as u64, "export-line-count", || {
        format!("{lines} lines read, the text has {}", expected.len())
    })?;
    let mut events = events.iter().peekable();
    for (i, e) in expected.iter().enumerate() {
        let n = i as u64 + 1;
        let event = events.next_if(|ev| ev.line() == n);
        let ok = match (e, event) {
            (Expect::Blank { .. }, None) => true,
            (_, Some(ev)) => matches_expect(e, ev),
            (_, None) => false,
        };
        ensure(ok, "export-line-outcome", || {
            let raw = text.split(|&b| b == b'\n').nth(i).unwrap_or_default();
            format!(
                "line {n} ({} bytes, starts {:?}): expected {e:?}, got {event:?}",
                raw.len(),
                String::from_utf8_lossy(&raw[..raw.len().min(60)])
            )
        })?;
    }
    let rest: Vec<&Event> = events.collect();
    ensure(rest.is_empty(), "export-extra-events", || {
        format!(
            "events past the last line: {:?}",
            &rest[..rest.len().min(3)]
        )
    })
}

fn check_export(
    case: &ExportCase,
    events: &[Event],
    result: &Result<guardduty_alerts::export::ReadSummary, ReadError>,
) -> Result<(), String> {
    let opts = &case.opts;
    // A panic in the reader task is reported as this stream error.
    if let Err(ReadError::Stream { source, .. }) = result {
        let s = source.to_string();
        ensure(!s.starts_with("reader task"), "export-reader-task", || {
            s.clone()
        })?;
    }
    ensure(
        !matches!(result, Err(ReadError::Sink { .. })),
        "export-sink-error",
        || format!("{result:?}"),
    )?;

    // Whatever the input: events in line order, findings within the line limit.
    let mut last = 0u64;
    for ev in events {
        ensure(ev.line() > last, "export-line-order", || {
            format!("line {} after line {last}", ev.line())
        })?;
        last = ev.line();
        match ev {
            Event::Finding { raw, .. } => {
                ensure(raw.len() <= opts.max_line_bytes, "export-max-line", || {
                    format!(
                        "a finding line of {} bytes, limit {}",
                        raw.len(),
                        opts.max_line_bytes
                    )
                })?;
                ensure(
                    !raw.contains('\n') && !raw.ends_with('\r'),
                    "export-line-ending",
                    || format!("line ending left in {:?}", short(raw, 80)),
                )?;
            }
            Event::Rejected { detail, .. } => {
                ensure(!detail.is_empty(), "export-rejection-detail", || {
                    "empty detail".into()
                })?;
            }
        }
    }
    let progress = match result {
        Ok(s) => s.progress,
        Err(e) => e.progress(),
    };
    ensure(progress.lines >= last, "export-line-count", || {
        format!("{} lines read but an event for line {last}", progress.lines)
    })?;

    // A rejection's detail never quotes the line itself.
    if let Some(plain) = &case.plain {
        let lines: Vec<&[u8]> = plain.split(|&b| b == b'\n').collect();
        for ev in events {
            let Event::Rejected {
                line: n, detail, ..
            } = ev
            else {
                continue;
            };
            let Some(raw) = usize::try_from(*n - 1).ok().and_then(|i| lines.get(i)) else {
                continue;
            };
            let Ok(line) = std::str::from_utf8(raw.strip_suffix(b"\r").unwrap_or(raw)) else {
                continue;
            };
            if line.len() >= 40 {
                ensure(!detail.contains(line), "export-detail-quotes-line", || {
                    format!("line {n}: {}", short(detail, 200))
                })?;
            }
        }
    }

    let expected_compression = sniff(&case.stream[..case.stream.len().min(2)]);
    if let Ok(summary) = result {
        ensure(
            summary.compression == expected_compression,
            "export-sniff",
            || {
                format!(
                    "{:?} for a stream starting {:?}",
                    summary.compression,
                    &case.stream[..case.stream.len().min(4)]
                )
            },
        )?;
    }

    // The decompressed text: known from the case, or from flate2 for raw gzip-looking input.
    let plain: Option<Vec<u8>> = case.plain.clone().or_else(|| {
        let Ok(s) = result else { return None };
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&case.stream[..])
            .read_to_end(&mut out)
            .ok()
            .map(|_| out)
            .filter(|out| out.len() as u64 == s.progress.decompressed_bytes)
    });
    let Some(plain) = plain else { return Ok(()) };
    let got = progress.decompressed_bytes;
    ensure(
        got <= plain.len() as u64 || matches!(result, Err(ReadError::TooLarge { .. })),
        "export-decompressed-size",
        || {
            format!(
                "{got} decompressed bytes from {} bytes of text",
                plain.len()
            )
        },
    )?;
    let limit = opts.max_decompressed_bytes;
    match result {
        Ok(_) => {
            ensure(
                got == plain.len() as u64,
                "export-decompressed-size",
                || {
                    format!(
                        "read {got} of {} bytes and ended without error",
                        plain.len()
                    )
                },
            )?;
            ensure(got <= limit, "export-limit", || {
                format!("{got} bytes read, limit {limit}")
            })?;
            ensure(
                case.fail_at.is_none() && !case.cut,
                "export-missed-failure",
                || "a broken stream read without error".into(),
            )?;
            check_lines(&plain, true, opts.max_line_bytes, events, progress.lines)
        }
        Err(ReadError::TooLarge { .. }) => {
            ensure(got > limit, "export-limit", || {
                format!("TooLarge at {got} bytes, limit {limit}")
            })?;
            ensure(plain.len() as u64 > limit, "export-limit", || {
                format!("TooLarge for {} bytes of text, limit {limit}", plain.len())
            })?;
            let got = usize::try_from(got).unwrap_or(usize::MAX).min(plain.len());
            check_lines(
                &plain[..got],
                false,
                opts.max_line_bytes,
                events,
                progress.lines,
            )
        }
        Err(ReadError::Stream { .. }) => {
            // Only a broken stream may fail, and only past what was decompressed.
            let gzip_stream = case.mode != 0;
            ensure(
                case.fail_at.is_some() || case.cut || !gzip_stream && case.plain.is_none(),
                "export-unexpected-error",
                || format!("{result:?} on an intact stream"),
            )?;
            if case.mode == 0 && case.plain.is_some() {
                // Plain text: exactly the bytes before the injected error were read.
                let want = case.fail_at.unwrap_or(0) as u64;
                ensure(got == want, "export-decompressed-size", || {
                    format!("{got} bytes read before an error at {want}")
                })?;
            }
            let got = usize::try_from(got).unwrap_or(usize::MAX).min(plain.len());
            check_lines(
                &plain[..got],
                false,
                opts.max_line_bytes,
                events,
                progress.lines,
            )
        }
        Err(ReadError::Sink { .. }) => Ok(()),
    }
}

// ------------------------------------------------------------------------------------------------
// render
// ------------------------------------------------------------------------------------------------

/// Length of the header in front of a structured `render` input.
pub const RENDER_HEADER: usize = 4;
/// Separates the strings of a structured `render` input (never part of UTF-8).
pub const RENDER_SEPARATOR: u8 = 0xfe;

/// `resource.resourceType` chosen by header byte 0 (the types GuardDuty documents, in the
/// crate's order); past the end: the string field, or none.
const RESOURCE_TYPES: &[&str] = guardduty_alerts::classify::DOCUMENTED_RESOURCE_TYPES;

/// Severities chosen by header byte 1 (bands' edges, GuardDuty's odd forms, absurd values).
fn severity_value(b: u8, text: &str) -> Value {
    let nums = [
        0.0,
        1.0,
        2.0,
        3.9,
        3.95,
        4.0,
        5.0,
        6.95,
        7.0,
        8.0,
        8.9,
        9.0,
        10.0,
        -1.0,
        1e15,
        1e16,
        1e300,
        -1e300,
        1e-300,
        0.30000000000000004,
    ];
    match usize::from(b) % (nums.len() + 3) {
        i if i < nums.len() => json!(nums[i]),
        i if i == nums.len() => json!("7.5"),
        i if i == nums.len() + 1 => json!(text),
        _ => json!(u64::MAX),
    }
}

/// Builds a finding line from a structured input: see [`RENDER_HEADER`]. The strings after the
/// header, split at [`RENDER_SEPARATOR`], fill (in order) id, type, title, accountId, region,
/// partition, arn, updatedAt, resourceType, then the resource's strings, the times, the count
/// and the account name; missing ones take plain defaults.
///
/// | byte | meaning |
/// |---|---|
/// | 0 | `resource.resourceType`: [`RESOURCE_TYPES`], then the string field, then no resource |
/// | 1 | severity ([`severity_value`]) |
/// | 2 | flags: bit 0 sample, bit 1 archived, bits 2-5 drop details objects, bit 6 no region, bit 7 accountId from the ARN only |
/// | 3 | bit 0: an account name; bit 1: count as a string |
fn structured_finding(data: &[u8]) -> (String, Option<String>) {
    let mut h = [0u8; RENDER_HEADER];
    let n = data.len().min(RENDER_HEADER);
    h[..n].copy_from_slice(&data[..n]);
    let parts: Vec<String> = data[n..]
        .split(|&b| b == RENDER_SEPARATOR)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let defaults = [
        "fuzz-id",
        "Recon:EC2/PortProbeUnprotectedPort",
        "A title",
        "111122223333",
        "us-east-1",
        "aws",
        "arn:aws:guardduty:us-east-1:111122223333:detector/d/finding/f",
        "2026-11-26T10:00:00.000Z",
        "Custom",
    ];
    let field = |i: usize| -> String {
        parts
            .get(i)
            .cloned()
            .unwrap_or_else(|| defaults.get(i).copied().unwrap_or("x").to_owned())
    };
    let flags = h[2];
    let resource_type = match usize::from(h[0]) % (RESOURCE_TYPES.len() + 2) {
        i if i < RESOURCE_TYPES.len() => Some(RESOURCE_TYPES[i].to_owned()),
        i if i == RESOURCE_TYPES.len() => Some(field(8)),
        _ => None,
    };
    let s = |i: usize| field(9 + i);
    let drop = |bit: u8| flags & (1 << bit) != 0;
    let mut resource = json!({
        "resourceType": resource_type,
        "instanceDetails": {"instanceId": s(0), "tags": [{"key": "Name", "value": s(1)}]},
        "accessKeyDetails": {"accessKeyId": s(2), "userName": s(3), "userType": s(4), "principalId": s(5)},
        "s3BucketDetails": [{"name": s(6)}, {"name": s(7)}],
        "eksClusterDetails": {"name": s(8)},
        "kubernetesDetails": {"kubernetesWorkloadDetails": {"namespace": s(9), "name": s(10)}},
        "ecsClusterDetails": {"name": s(11)},
        "containerDetails": {"name": s(12), "image": s(13), "id": s(14)},
        "rdsDbInstanceDetails": {"dbInstanceIdentifier": s(15), "engine": s(16), "dbClusterIdentifier": s(17)},
        "lambdaDetails": {"functionName": s(18)},
    });
    let groups: [&[&str]; 4] = [
        &["instanceDetails", "accessKeyDetails"],
        &["s3BucketDetails", "eksClusterDetails", "kubernetesDetails"],
        &["ecsClusterDetails", "containerDetails"],
        &["rdsDbInstanceDetails", "lambdaDetails"],
    ];
    for (bit, group) in (2u8..).zip(groups) {
        if drop(bit) {
            for key in group {
                resource.as_object_mut().expect("an object").remove(*key);
            }
        }
    }
    let times = 9 + 19;
    let count_text = field(times + 2);
    let count = if h[3] & 2 != 0 {
        json!(count_text)
    } else {
        json!(count_text.len() * 7)
    };
    let mut finding = json!({
        "schemaVersion": "2.0",
        "id": field(0),
        "type": field(1),
        "title": field(2),
        "accountId": field(3),
        "region": field(4),
        "partition": field(5),
        "arn": field(6),
        "updatedAt": field(7),
        "severity": severity_value(h[1], &field(1)),
        "service": {
            "archived": drop(1),
            "count": count,
            "eventFirstSeen": field(times),
            "eventLastSeen": field(times + 1),
            "additionalInfo": {"sample": drop(0)},
        },
    });
    let f = finding.as_object_mut().expect("an object");
    if resource_type_present(h[0]) {
        f.insert("resource".into(), resource);
    }
    if drop(6) {
        f.remove("region");
    }
    if drop(7) {
        f.remove("accountId");
    }
    let account_name = (h[3] & 1 != 0).then(|| field(times + 3));
    (finding.to_string(), account_name)
}

fn resource_type_present(b: u8) -> bool {
    usize::from(b) % (RESOURCE_TYPES.len() + 2) <= RESOURCE_TYPES.len()
}

/// A finding from the bytes (a raw finding line when they start with `{`, else built by
/// [`structured_finding`]), classified and rendered every way; every renderer's invariants and
/// SNS's limits must hold.
pub fn render(data: &[u8]) -> Result<(), String> {
    let (line, account_name) = if data.first() == Some(&b'{') {
        match std::str::from_utf8(data) {
            Ok(t) => (t.to_owned(), None),
            Err(_) => return Ok(()),
        }
    } else {
        structured_finding(data)
    };
    let finding = match Finding::parse(&line) {
        Ok(f) => f,
        Err(_) => return Ok(()),
    };
    let class = classify(&finding);
    let decision = Policy::default().decide(&finding, &class);
    let record = Record {
        source: "fuzz",
        line: 1,
        finding: &finding,
        class: &class,
        decision,
        raw: &line,
        account_name: account_name.as_deref(),
        rules: None,
    };
    let j = JsonRecord::new(&record);
    for name in [None, account_name.as_deref()] {
        let ctx = AlertContext::new(&j).with_account_name(name);
        let v = slack(&ctx);
        check_slack_invariants(&v).or_else(|e| violation("slack", e))?;
        let out = v.to_string();
        ensure(!out.contains(['<', '>']), "slack", || {
            format!("< or > in the payload: {}", short(&out, 300))
        })?;
        let v = teams(&ctx);
        check_teams_invariants(&v).or_else(|e| {
            // Its own id, so a run can allow this known, reported disagreement alone: the
            // escaped text `\<at x` of a field holding `<at x` fails the checker's `<at ` test.
            let id = if e.contains("\"<at \" in") {
                "teams-at-space"
            } else {
                "teams"
            };
            violation(id, e)
        })?;
        check_pagerduty_invariants(&pagerduty_redacted(&ctx))
            .or_else(|e| violation("pagerduty", e))?;
        let v = pagerduty(&ctx, &Secret::new("R0UT1NGKEY0123456789abcdef012345"));
        check_pagerduty_invariants(&v).or_else(|e| violation("pagerduty", e))?;
    }
    check_generic_invariants(&generic(&record)).or_else(|e| violation("generic", e))?;
    for format in [MessageFormat::Json, MessageFormat::Chatbot] {
        check_sns_message(&sns::render(&record, format), &j, format)?;
    }
    let mut text = Vec::new();
    write_text_alert(&mut text, &record).or_else(|e| violation("text", e))?;
    let text = String::from_utf8(text).or_else(|e| violation("text", e).map(|_| String::new()))?;
    ensure(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "text",
        || {
            format!(
                "a control character in the text output: {:?}",
                short(&text, 300)
            )
        },
    )
}

/// SNS's documented rule for `MessageGroupId` and `MessageDeduplicationId`: 1 to 128 characters,
/// ASCII letters, digits and punctuation.
fn sns_fifo_id_ok(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation())
}

/// An SNS `Number` attribute: SNS takes up to 38 digits of precision, from 10^-128 to 10^126.
fn sns_number_ok(s: &str) -> bool {
    let Ok(v) = s.parse::<f64>() else {
        return false;
    };
    let digits = s
        .trim_start_matches('-')
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    v.is_finite() && (v == 0.0 || (1e-128..=1e126).contains(&v.abs())) && significant <= 38
}

fn check_sns_message(
    m: &AlertMessage,
    j: &JsonRecord<'_>,
    format: MessageFormat,
) -> Result<(), String> {
    let at = |e: String| format!("{format:?}: {e}");
    ensure(m.size() <= SNS_MAX_BYTES, "sns-size", || {
        at(format!("{} bytes, limit {SNS_MAX_BYTES}", m.size()))
    })?;
    let body: Value = match serde_json::from_str(&m.body) {
        Ok(v) => v,
        Err(e) => return violation("sns-body-json", at(e.to_string())),
    };
    ensure(
        m.finding_id == j.id && m.label == j.severity_label,
        "sns-identity",
        || at(format!("{:?} {:?} for {:?}", m.finding_id, m.label, j.id)),
    )?;
    // SNS takes subjects of printable ASCII up to 100 characters. (Its API reference says "less
    // than 100", but SNS takes exactly 100 and AWS Config sends such subjects: getmoto/moto#1503.)
    ensure(
        !m.subject.is_empty()
            && m.subject.len() <= SUBJECT_MAX_CHARS
            && m.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "sns-subject",
        || at(format!("subject {:?}", m.subject)),
    )?;
    ensure(sns_fifo_id_ok(&m.dedup_id), "sns-dedup-id", || {
        at(format!("dedup id {:?}", m.dedup_id))
    })?;
    ensure(sns_fifo_id_ok(&m.group_id), "sns-group-id", || {
        at(format!(
            "MessageGroupId {:?} breaks SNS's rule (1-128 ASCII letters, digits, punctuation)",
            short(&m.group_id, 150)
        ))
    })?;
    let mut names = HashSet::new();
    for a in &m.attributes {
        ensure(
            names.insert(a.name) && !a.value.is_empty(),
            "sns-attributes",
            || at(format!("{a:?}")),
        )?;
        match a.data_type {
            "String" => {}
            "Number" => ensure(sns_number_ok(&a.value), "sns-number-attribute", || {
                at(format!(
                    "Number attribute {} = {:?} is outside what SNS takes (38 digits, 10^-128..10^126)",
                    a.name,
                    short(&a.value, 80)
                ))
            })?,
            other => return violation("sns-attributes", at(format!("data type {other}"))),
        }
    }
    if format == MessageFormat::Chatbot {
        // Finding text in the rendered parts is escaped: no tag, mention or link survives.
        // (nextSteps holds the console link, whose query has a literal `&`: no entity there.)
        let content = &body["content"];
        let mut escaped: Vec<&str> = vec![
            content["title"].as_str().unwrap_or_default(),
            content["description"].as_str().unwrap_or_default(),
        ];
        escaped.extend(
            content["keywords"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        let next_steps = content["nextSteps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        for t in escaped.iter().copied().chain(next_steps) {
            ensure(!t.contains(['<', '>']), "chatbot-escaping", || {
                at(format!("< or > in {:?}", short(t, 200)))
            })?;
        }
        for t in escaped {
            ensure(
                t.match_indices('&').all(|(i, _)| {
                    ["&amp;", "&lt;", "&gt;"]
                        .iter()
                        .any(|e| t[i..].starts_with(e))
                }),
                "chatbot-escaping",
                || at(format!("& that starts no entity in {:?}", short(t, 200))),
            )?;
        }
    }
    Ok(())
}

/// Tests of the checks themselves; they run in the main crate's `cargo test`, through
/// `tests/fuzz_corpus.rs`, which includes this file.
#[cfg(test)]
mod tests {
    use super::*;
    use guardduty_alerts::classify::SeverityLabel;
    use guardduty_alerts::export::{Progress, ReadSummary};

    fn ok_summary(lines: u64, bytes: u64) -> Result<ReadSummary, ReadError> {
        Ok(ReadSummary {
            progress: Progress {
                lines,
                decompressed_bytes: bytes,
            },
            compression: Compression::None,
        })
    }

    fn case(body: &[u8], max_line: usize) -> ExportCase {
        let mut data = vec![0u8; EXPORT_HEADER];
        data[1] = u8::try_from(max_line + 1).unwrap();
        data.extend_from_slice(body);
        export_case(&data)
    }

    fn finding(line: u64, raw: &str) -> Event {
        Event::Finding {
            line,
            raw: raw.into(),
        }
    }

    fn rejected(line: u64, reason: RejectReason) -> Event {
        Event::Rejected {
            line,
            reason,
            detail: "d".into(),
        }
    }

    const F: &str = r#"{"id":"a","type":"T","severity":5}"#;

    #[test]
    fn the_model_accounts_for_every_line() {
        let body = format!("{F}\r\n\n  \nnot json\n{}\n{F}", "x".repeat(60));
        let c = case(body.as_bytes(), 50);
        let good = [
            finding(1, F),
            rejected(4, RejectReason::InvalidJson),
            rejected(5, RejectReason::TooLong),
            finding(6, F),
        ];
        let n = body.len() as u64;
        check_export(&c, &good, &ok_summary(6, n)).unwrap();
        // A line lost, a wrong reason, a wrong count, lines out of order, a blank line
        // reported, a finding past the line limit: each is caught.
        let bad: [(&[Event], u64, &str); 6] = [
            (&good[1..], 6, "export-line-outcome"),
            (
                &[
                    finding(1, F),
                    rejected(4, RejectReason::NotAFinding),
                    rejected(5, RejectReason::TooLong),
                    finding(6, F),
                ],
                6,
                "export-line-outcome",
            ),
            (&good, 7, "export-line-count"),
            (
                &[
                    finding(1, F),
                    rejected(5, RejectReason::TooLong),
                    rejected(4, RejectReason::InvalidJson),
                    finding(6, F),
                ],
                6,
                "export-line-order",
            ),
            (
                &[
                    finding(1, F),
                    rejected(2, RejectReason::InvalidJson),
                    rejected(4, RejectReason::InvalidJson),
                    rejected(5, RejectReason::TooLong),
                    finding(6, F),
                ],
                6,
                "export-line-outcome",
            ),
            (
                &[
                    finding(1, F),
                    rejected(4, RejectReason::InvalidJson),
                    finding(5, &"x".repeat(60)),
                    finding(6, F),
                ],
                6,
                "export-max-line",
            ),
        ];
        for (events, lines, id) in bad {
            let e = check_export(&c, events, &ok_summary(lines, n)).unwrap_err();
            assert!(e.starts_with(&format!("[{id}]")), "{id}: {e}");
        }
        // Ending early without an error is caught too.
        let e = check_export(&c, &good[..2], &ok_summary(4, 40)).unwrap_err();
        assert!(e.starts_with("[export-decompressed-size]"), "{e}");
    }

    #[test]
    fn the_model_knows_partial_and_long_lines() {
        use Expect as E;
        let m = model(b"a\n  \nbbbbbbbbbb\ncc", false, 5);
        assert!(
            matches!(
                m.as_slice(),
                [
                    E::InvalidJson,
                    E::Blank { too_long_ok: false },
                    E::TooLong,
                    E::Partial { too_long_ok: false }
                ]
            ),
            "{m:?}"
        );
        // A line of exactly the limit plus \r: parsed, or too long where the framer saw it whole.
        let m = model(format!("{F}\r\n").as_bytes(), true, F.len());
        assert!(matches!(m.as_slice(), [E::Either(_)]), "{m:?}");
        assert!(matches!(
            model(b"abc", true, 5).as_slice(),
            [E::InvalidJson]
        ));
        assert!(model(b"", true, 5).is_empty());
    }

    #[test]
    fn sns_rules() {
        assert!(sns_fifo_id_ok("111122223333"));
        assert!(sns_fifo_id_ok("a-b_c!~"));
        for bad in ["", "a b", "é", &"x".repeat(129)] {
            assert!(!sns_fifo_id_ok(bad), "{bad:?}");
        }
        for good in ["8", "6.95", "0", "-1", "18446744073709552000"] {
            assert!(sns_number_ok(good), "{good}");
        }
        let huge = format!("1{}", "0".repeat(300));
        let tiny = format!("0.{}1", "0".repeat(299));
        for bad in [
            "x",
            "NaN",
            "inf",
            huge.as_str(),
            tiny.as_str(),
            "1.234567890123456789012345678901234567891",
        ] {
            assert!(!sns_number_ok(bad), "{bad}");
        }
    }

    #[test]
    fn sns_message_checks_catch_what_sns_refuses() {
        let line = r#"{"id":"a","type":"Recon:EC2/Probe","severity":5,"accountId":"111122223333"}"#;
        let finding = Finding::parse(line).unwrap();
        let class = classify(&finding);
        let record = Record {
            source: "t",
            line: 1,
            finding: &finding,
            class: &class,
            decision: Policy::default().decide(&finding, &class),
            raw: line,
            account_name: None,
            rules: None,
        };
        let j = JsonRecord::new(&record);
        let good = sns::render(&record, MessageFormat::Json);
        check_sns_message(&good, &j, MessageFormat::Json).unwrap();
        type Spoil = fn(&mut AlertMessage);
        let cases: [(&str, Spoil); 6] = [
            ("sns-subject", |m| m.subject = "x".repeat(101)),
            ("sns-subject", |m| m.subject = "a\nb".into()),
            ("sns-group-id", |m| m.group_id = "1111 2222".into()),
            ("sns-dedup-id", |m| m.dedup_id = String::new()),
            ("sns-size", |m| m.body = "x".repeat(SNS_MAX_BYTES)),
            ("sns-identity", |m| m.label = SeverityLabel::Critical),
        ];
        for (id, spoil) in cases {
            let mut m = good.clone();
            spoil(&mut m);
            let e = check_sns_message(&m, &j, MessageFormat::Json).unwrap_err();
            assert!(e.starts_with(&format!("[{id}]")), "{id}: {e}");
        }
    }

    #[test]
    fn structured_render_inputs_reach_every_field() {
        let sep = RENDER_SEPARATOR;
        let mut data = vec![0u8, 9, 0, 1];
        for i in 0..32 {
            if i > 0 {
                data.push(sep);
            }
            data.extend_from_slice(format!("f{i}").as_bytes());
        }
        let (line, name) = structured_finding(&data);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["id"], "f0");
        assert_eq!(v["type"], "f1");
        assert_eq!(v["title"], "f2");
        assert_eq!(v["accountId"], "f3");
        assert_eq!(v["resource"]["resourceType"], "Instance");
        assert_eq!(v["resource"]["instanceDetails"]["instanceId"], "f9");
        assert_eq!(v["resource"]["lambdaDetails"]["functionName"], "f27");
        assert_eq!(v["service"]["eventFirstSeen"], "f28");
        assert_eq!(v["service"]["eventLastSeen"], "f29");
        assert_eq!(v["severity"], 8.0);
        assert_eq!(name.as_deref(), Some("f31"));
        render(&data).unwrap();
    }

    #[test]
    fn trigger_checks_hold_for_every_event_fixture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let data = std::fs::read(&path).unwrap();
                trigger_event(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 7, "{n} event fixtures");
    }
}
