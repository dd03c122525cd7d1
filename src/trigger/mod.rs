//! What a Lambda invocation asks for: the export objects named by the event that started it.
//!
//! Pure functions over the event's JSON, no I/O. These shapes are recognised:
//!
//! - an S3 event notification (`Records[].s3`), object keys URL-encoded;
//! - an EventBridge `GuardDuty Finding` event (`source` `aws.guardduty`): one finding in
//!   `detail`, no object ([`EventFinding`]);
//! - an S3 Batch Operations invocation (schema 1.0 or 2.0): one [`Unit`] per task, keys
//!   URL-encoded, answered per task ([`BatchJob`]);
//! - S3's `s3:TestEvent`, sent when a notification is configured (acknowledged, skipped);
//! - an EventBridge event from `aws.s3` (`detail-type` `Object Created`), keys as stored;
//! - an SQS batch (`Records[].body`), each body holding one of the above or an SNS notification
//!   of one (S3 -> SNS -> SQS without raw delivery, or EventBridge -> SQS). One [`Unit`] per message, so a message that
//!   cannot be understood fails alone (`batchItemFailures`);
//! - an SNS notification (`Records[].Sns.Message`) of an S3 event or a test event;
//! - an EventBridge `Scheduled Event` (`source` `aws.events`): the health check, no objects.
//!
//! Objects that are not exports (`*.jsonl.gz` / `*.jsonl`, see
//! [`is_export_key`]) and events that do not create objects are [`Skipped`],
//! never errors. Fields the shapes do not need are ignored; missing optional ones (`versionId`,
//! `eventTime`, …) are fine.

use std::fmt;

use serde_json::Value;

mod batch;
mod failure;
mod finding;
mod object;

pub use batch::BatchJob;
pub use failure::{FailedInvocation, failed_invocation};
pub use finding::EventFinding;
pub use object::{ExportKey, ObjectRef, is_export_key, parse_export_key};

/// The shape of the event that started the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An S3 event notification delivered straight to the function.
    S3,
    /// S3's `s3:TestEvent`, sent when a bucket notification is configured.
    S3TestEvent,
    /// An EventBridge event (an S3 `Object Created`, or another that is skipped).
    EventBridge,
    /// An EventBridge `GuardDuty Finding` event: the finding itself.
    Finding,
    /// An S3 Batch Operations invocation: a result per task.
    BatchOperations,
    /// An SQS batch.
    Sqs,
    /// An SNS notification.
    Sns,
    /// An EventBridge `Scheduled Event` (`source` `aws.events`): the health check of the
    /// publishing destinations ([`crate::health`]), no objects.
    Schedule,
}

impl Shape {
    /// A short snake_case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::S3 => "s3",
            Shape::S3TestEvent => "s3_test_event",
            Shape::EventBridge => "eventbridge",
            Shape::Finding => "guardduty_finding",
            Shape::BatchOperations => "s3_batch_operations",
            Shape::Sqs => "sqs",
            Shape::Sns => "sns",
            Shape::Schedule => "schedule",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an invocation asks for: one unit per SQS message (so failures can be reported per
/// message in `batchItemFailures`) or per Batch Operations task, one unit for every other shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The shape of the event.
    pub shape: Shape,
    /// The units of work, in event order.
    pub units: Vec<Unit>,
    /// For [`Shape::BatchOperations`]: the job, echoed in the response.
    pub batch: Option<BatchJob>,
}

/// One unit of work: what one SQS message, one Batch Operations task, or the whole of any
/// other event, asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// SQS `messageId`, for partial-batch responses; `None` for other shapes.
    pub message_id: Option<String>,
    /// Batch Operations `taskId`, for the task's result; `None` for other shapes.
    pub task_id: Option<String>,
    /// Export objects to process, in event order, each once.
    pub objects: Vec<ObjectRef>,
    /// Findings that came inside the event (`GuardDuty Finding`), in event order.
    pub findings: Vec<EventFinding>,
    /// Things deliberately skipped (logged by the caller, never an error).
    pub skipped: Vec<Skipped>,
    /// Set when (part of) this unit's payload could not be understood, e.g. an SQS body that is
    /// not JSON or an object key that is not valid URL encoding: the caller reports the unit as
    /// failed. A sentence naming the problem (several joined by `; `). `objects` still lists
    /// whatever was understood.
    pub error: Option<String>,
}

impl Unit {
    /// Adds an object unless the unit already has it (same bucket, key and version).
    fn add_object(&mut self, object: ObjectRef) {
        if !self.objects.contains(&object) {
            self.objects.push(object);
        }
    }

    /// Adds an object created by the event: to `objects` if it is an export, else skipped.
    fn add_created(&mut self, object: ObjectRef) {
        if is_export_key(&object.key) {
            self.add_object(object);
        } else {
            self.skip(object.to_string(), SkipReason::NotAnExport, None);
        }
    }

    fn skip(&mut self, what: String, reason: SkipReason, event: Option<&str>) {
        self.skipped.push(Skipped {
            what,
            reason,
            event: event.map(str::to_owned),
        });
    }

    fn fail(&mut self, problem: impl Into<String>) {
        let problem = problem.into();
        match &mut self.error {
            Some(e) => {
                e.push_str("; ");
                e.push_str(&problem);
            }
            None => self.error = Some(problem),
        }
    }

    /// Takes in another unit's objects, skips and errors, prefixing its errors with `context`.
    fn absorb(&mut self, other: Unit, context: &str) {
        for object in other.objects {
            self.add_object(object);
        }
        self.findings.extend(other.findings);
        self.skipped.extend(other.skipped);
        if let Some(e) = other.error {
            self.fail(format!("{context}: {e}"));
        }
    }
}

/// Something an event named that is deliberately not processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What was skipped: `s3://bucket/key` (with ` (version …)` when the event names one),
    /// `s3:TestEvent (bucket …)`, or `EventBridge event from SOURCE`.
    pub what: String,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// For [`SkipReason::NotObjectCreated`]: the S3 `eventName` or EventBridge `detail-type`
    /// that was not an object creation (`None` when the event had none).
    pub event: Option<String>,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.reason.as_str())?;
        if let Some(event) = &self.event {
            write!(f, " ({event})")?;
        }
        Ok(())
    }
}

/// Why something was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// S3's `s3:TestEvent`.
    TestEvent,
    /// An event that does not create an object (a delete, a restore, a tag change, another
    /// service's EventBridge event …); [`Skipped::event`] says which.
    NotObjectCreated,
    /// The key does not name a findings export (`*.jsonl.gz` / `*.jsonl`).
    NotAnExport,
    /// A GuardDuty event that is not a finding (a malware scan result, …); [`Skipped::event`]
    /// says which.
    NotAFinding,
}

impl SkipReason {
    /// A short snake_case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::TestEvent => "test_event",
            SkipReason::NotObjectCreated => "not_object_created",
            SkipReason::NotAnExport => "not_an_export",
            SkipReason::NotAFinding => "not_a_finding",
        }
    }
}

/// Why an event could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// The event is none of the accepted shapes; the text describes what it is instead.
    #[error("unrecognised event: {0}; {ACCEPTED}")]
    UnrecognisedEvent(String),
    /// An S3 notification's object key is not valid URL encoding.
    #[error("object key {raw:?} is not valid URL encoding: {problem}")]
    BadKey {
        /// The key as the event gave it.
        raw: String,
        /// What is wrong with it.
        problem: String,
    },
}

const ACCEPTED: &str = "accepted: an S3 event notification, an s3:TestEvent, an EventBridge \
    \"Object Created\" event from aws.s3, an EventBridge \"GuardDuty Finding\" event, an SNS \
    notification of one of those, an SQS batch whose messages hold one of those, an S3 Batch \
    Operations invocation, or an EventBridge \"Scheduled Event\" (the health check)";

/// Reads the event that started the invocation. Fails only when the event as a whole is not a
/// recognised shape; problems inside one part (an SQS message, a record) go to that
/// [`Unit::error`].
pub fn parse_event(event: &Value) -> Result<Invocation, TriggerError> {
    if batch::is_batch_event(event) {
        let (job, units) = batch::batch_event(event);
        return Ok(Invocation {
            shape: Shape::BatchOperations,
            units,
            batch: Some(job),
        });
    }
    if let Some(records) = records(event)
        && let Some(first) = records.first()
    {
        if is_sqs_record(first) {
            let units = records.iter().enumerate().map(sqs_message).collect();
            return Ok(Invocation {
                shape: Shape::Sqs,
                units,
                batch: None,
            });
        }
        if is_sns_record(first) {
            let mut unit = Unit::default();
            for (i, record) in records.iter().enumerate() {
                let (part, context) = sns_record(i, record);
                unit.absorb(part, &context);
            }
            return Ok(Invocation {
                shape: Shape::Sns,
                units: vec![unit],
                batch: None,
            });
        }
    }
    let mut unit = Unit::default();
    match payload(event, &mut unit, false) {
        Some(shape) => Ok(Invocation {
            shape,
            units: vec![unit],
            batch: None,
        }),
        None => Err(TriggerError::UnrecognisedEvent(describe(event))),
    }
}

/// Decodes an object key from an S3 event notification, which encodes keys like an HTML form:
/// `+` is a space, then `%XX` escapes are bytes of UTF-8 (`My+Exports/Caf%C3%A9` is
/// `My Exports/Café`, `%2B` is a literal `+`, `AWSLogs%2F…` is `AWSLogs/…`). A `%` not followed
/// by two hex digits, or bytes that are not UTF-8, are errors: S3 never produces them.
pub fn decode_s3_key(raw: &str) -> Result<String, TriggerError> {
    let bad = |problem: String| TriggerError::BadKey {
        raw: raw.to_owned(),
        problem,
    };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let shown = String::from_utf8_lossy(&bytes[i..bytes.len().min(i + 3)]);
                let rest = &bytes[i + 1..];
                match (rest.first().and_then(hex), rest.get(1).and_then(hex)) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ if rest.len() < 2 && rest.iter().all(u8::is_ascii_hexdigit) => {
                        return Err(bad(format!(
                            "it ends in the middle of a percent-escape ({shown:?})"
                        )));
                    }
                    _ => {
                        return Err(bad(format!(
                            "{shown:?} at byte {i} is not a percent-escape (% must be followed by two hex digits)"
                        )));
                    }
                }
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad("it decodes to bytes that are not UTF-8".into()))
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// Recognises and reads one payload: an S3 notification, an `s3:TestEvent`, an EventBridge
/// event (a `GuardDuty Finding` among them), and, when `sns_envelope`, an SNS notification of
/// one of those (an SQS body from S3 -> SNS -> SQS). Returns its shape, or `None` if it is none
/// of them.
fn payload(v: &Value, unit: &mut Unit, sns_envelope: bool) -> Option<Shape> {
    if let Some(records) = records(v).filter(|r| r.first().is_some_and(is_s3_record)) {
        for (i, record) in records.iter().enumerate() {
            s3_record(i, record, unit);
        }
        return Some(Shape::S3);
    }
    if str_at(v, "/Event") == Some("s3:TestEvent") {
        let what = match str_at(v, "/Bucket") {
            Some(bucket) => format!("s3:TestEvent (bucket {bucket})"),
            None => "s3:TestEvent".to_owned(),
        };
        unit.skip(what, SkipReason::TestEvent, None);
        return Some(Shape::S3TestEvent);
    }
    if !sns_envelope
        && str_at(v, "/source") == Some("aws.events")
        && str_at(v, "/detail-type") == Some("Scheduled Event")
    {
        return Some(Shape::Schedule);
    }
    if finding::is_finding_event(v) {
        finding::finding_event(v, unit);
        return Some(Shape::Finding);
    }
    if str_at(v, "/source") == Some(finding::SOURCE) && v.get("detail-type").is_some() {
        finding::other_guardduty_event(v, unit);
        return Some(Shape::EventBridge);
    }
    if v.get("detail-type").is_some_and(Value::is_string) && v.get("source").is_some() {
        eventbridge(v, unit);
        return Some(Shape::EventBridge);
    }
    if sns_envelope
        && str_at(v, "/Type") == Some("Notification")
        && let Some(message) = str_at(v, "/Message")
    {
        sns_message(message, unit);
        return Some(Shape::Sns);
    }
    None
}

/// One record of an S3 notification (`i` counts from 0).
fn s3_record(i: usize, record: &Value, unit: &mut Unit) {
    let event_name = str_at(record, "/eventName");
    let bucket = str_at(record, "/s3/bucket/name").unwrap_or_default();
    let raw_key = str_at(record, "/s3/object/key").unwrap_or_default();
    let version_id = str_at(record, "/s3/object/versionId")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let etag = str_at(record, "/s3/object/eTag")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let created = event_name.is_some_and(|name| {
        name.strip_prefix("s3:")
            .unwrap_or(name)
            .starts_with("ObjectCreated:")
    });
    if !created {
        let what = if bucket.is_empty() || raw_key.is_empty() {
            format!("S3 record {}", i + 1)
        } else {
            // Only named in a log line: an undecodable key is shown as given.
            let key = decode_s3_key(raw_key).unwrap_or_else(|_| raw_key.to_owned());
            let object = ObjectRef {
                bucket: bucket.to_owned(),
                key,
                version_id,
                etag,
            };
            object.to_string()
        };
        unit.skip(what, SkipReason::NotObjectCreated, event_name);
        return;
    }
    if bucket.is_empty() || raw_key.is_empty() {
        unit.fail(format!(
            "S3 record {} ({}) has no s3.bucket.name or no s3.object.key",
            i + 1,
            event_name.unwrap_or_default()
        ));
        return;
    }
    match decode_s3_key(raw_key) {
        Ok(key) => unit.add_created(ObjectRef {
            bucket: bucket.to_owned(),
            key,
            version_id,
            etag,
        }),
        Err(e) => unit.fail(e.to_string()),
    }
}

/// An EventBridge event: an `Object Created` event from `aws.s3` names an object; any other is
/// skipped.
fn eventbridge(v: &Value, unit: &mut Unit) {
    let source = str_at(v, "/source").unwrap_or_default();
    let detail_type = str_at(v, "/detail-type");
    let bucket = str_at(v, "/detail/bucket/name").unwrap_or_default();
    // EventBridge keys are taken as stored, NOT URL-decoded (unlike S3 notifications).
    // What we found: the S3 user guide says of notifications to SQS, SNS and Lambda that "the
    // object key name value is URL encoded" (userguide/notification-content-structure.html); its
    // EventBridge page (userguide/ev-events.html, "Event message detail field") says nothing of
    // the kind and its examples show plain keys: silence, not an explicit "not encoded". Practice
    // settles it: the AWS Solutions Library sample aws-solutions-library-samples/
    // guidance-for-medialake-on-aws (PR #21, March 2026) removed its decoding of EventBridge keys
    // after sending keys such as `test+b.png` and `%2B%20%%%.png` through EventBridge, which
    // arrived as stored. Decoding them would corrupt keys containing `+` or `%`.
    let key = str_at(v, "/detail/object/key").unwrap_or_default();
    let version_id = str_at(v, "/detail/object/version-id")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let etag = str_at(v, "/detail/object/etag")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    if source != "aws.s3" || detail_type != Some("Object Created") {
        let what = if source == "aws.s3" && !bucket.is_empty() && !key.is_empty() {
            ObjectRef {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version_id,
                etag,
            }
            .to_string()
        } else {
            format!("EventBridge event from {source}")
        };
        unit.skip(what, SkipReason::NotObjectCreated, detail_type);
        return;
    }
    if bucket.is_empty() || key.is_empty() {
        unit.fail("EventBridge \"Object Created\" event has no detail.bucket.name or no detail.object.key");
        return;
    }
    unit.add_created(ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id,
        etag,
    });
}

/// One SQS message (`i` counts from 0): its own unit.
fn sqs_message((i, record): (usize, &Value)) -> Unit {
    let message_id = str_at(record, "/messageId").map(str::to_owned);
    let label = match &message_id {
        Some(id) => format!("SQS message {id}"),
        None => format!("SQS message {} (no messageId)", i + 1),
    };
    let mut part = Unit::default();
    match str_at(record, "/body") {
        None => part.fail("it has no body"),
        Some(body) => match serde_json::from_str::<Value>(body) {
            Err(e) => part.fail(format!("its body is not JSON ({e})")),
            Ok(v) => {
                if payload(&v, &mut part, true).is_none() {
                    part.fail(format!(
                        "its body is not a recognised event: {}; {ACCEPTED}",
                        describe(&v)
                    ));
                }
            }
        },
    }
    let mut unit = Unit {
        message_id,
        ..Unit::default()
    };
    unit.absorb(part, &label);
    unit
}

/// One record of an SNS event (`i` counts from 0): what it asks for, and how to name it.
fn sns_record(i: usize, record: &Value) -> (Unit, String) {
    let label = match str_at(record, "/Sns/MessageId") {
        Some(id) => format!("SNS message {id}"),
        None => format!("SNS record {}", i + 1),
    };
    let mut unit = Unit::default();
    match str_at(record, "/Sns/Message") {
        Some(message) => sns_message(message, &mut unit),
        None => unit.fail("it has no Sns.Message"),
    }
    (unit, label)
}

/// An SNS notification's `Message`: an S3 notification, a test event or an EventBridge event
/// (a `GuardDuty Finding` among them).
fn sns_message(message: &str, unit: &mut Unit) {
    match serde_json::from_str::<Value>(message) {
        Err(e) => unit.fail(format!("the SNS Message is not JSON ({e})")),
        Ok(v) => {
            if payload(&v, unit, false).is_none() {
                unit.fail(format!(
                    "the SNS Message is not a recognised event: {}",
                    describe(&v)
                ));
            }
        }
    }
}

fn records(v: &Value) -> Option<&[Value]> {
    v.get("Records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
}

fn is_sqs_record(r: &Value) -> bool {
    str_at(r, "/eventSource") == Some("aws:sqs")
}

fn is_sns_record(r: &Value) -> bool {
    str_at(r, "/EventSource") == Some("aws:sns") || r.get("Sns").is_some_and(Value::is_object)
}

fn is_s3_record(r: &Value) -> bool {
    str_at(r, "/eventSource") == Some("aws:s3") || r.get("s3").is_some_and(Value::is_object)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// What a JSON value is, for an error message: its kind, and for an object its first members
/// (and the event source of its first record, if it has records).
fn describe(v: &Value) -> String {
    match v {
        Value::Object(map) if map.is_empty() => "an empty JSON object".to_owned(),
        Value::Object(map) => {
            let mut names: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
            if map.len() > names.len() {
                names.push("…");
            }
            let mut s = format!("a JSON object with members {}", names.join(", "));
            if let Some(first) = records(v).and_then(<[Value]>::first) {
                match str_at(first, "/eventSource").or_else(|| str_at(first, "/EventSource")) {
                    Some(source) => s.push_str(&format!(" (first record from {source:?})")),
                    None => s.push_str(" (first record has no eventSource)"),
                }
            } else if records(v).is_some() {
                s.push_str(" (no records)");
            }
            s
        }
        Value::Array(_) => "a JSON array".to_owned(),
        Value::String(_) => "a JSON string".to_owned(),
        Value::Number(_) => "a JSON number".to_owned(),
        Value::Bool(_) => "a JSON boolean".to_owned(),
        Value::Null => "JSON null".to_owned(),
    }
}

#[cfg(test)]
mod tests;
