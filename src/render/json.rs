//! The JSON view of one decided finding ([`JsonRecord`]): the CLI's `--format json` record, and
//! the `alert` member of SNS and generic-webhook bodies.

use serde::Serialize;

use crate::classify::SeverityLabel;
use crate::decide::rules::DecidedBy;
use crate::decide::rules::runbook::{RunbookFields, expand};
use crate::decide::{Decision, Record};

/// The `--format json` record: one object per finding read. Its keys are a contract that
/// scripts rely on; add keys, never rename or remove them.
///
/// It is written two ways that must agree: by serde (SNS and generic-webhook bodies) and by
/// [`JsonRecord::write_json`] (the CLI). A member added here goes into both; the tests compare
/// their output byte for byte.
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
    /// The GuardDuty User Guide's section on this finding type
    /// ([`crate::classify::docs_url`]): where to start reading.
    pub docs_url: Option<String>,
    /// The deciding rule's `runbook`, filled in for this finding; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
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
            docs_url: crate::classify::docs_url_for(c.partition, f.type_str(), &c.kind),
            runbook_url: runbook_url(r),
            source: r.source,
            line: r.line,
        }
    }
}

impl JsonRecord<'_> {
    /// Appends the record as one compact JSON object: byte for byte what
    /// `serde_json::to_writer` writes for it (the tests compare the two), without going through
    /// a serializer and a writer call per token. The CLI's `--format json` writes every finding
    /// this way, so it is on the throughput path.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::start(out);
        o.str("id", self.id);
        o.str("type", self.finding_type);
        o.key("severity");
        // serde_json's own float formatting (and `null` for NaN and infinities).
        let _ = serde_json::to_writer(&mut *o.out, &self.severity);
        o.str("severity_label", self.severity_label.as_str());
        o.str("threat_purpose", self.threat_purpose);
        o.opt("resource_type_affected", self.resource_type_affected);
        o.opt("threat_family", self.threat_family);
        o.opt("detection_mechanism", self.detection_mechanism);
        o.opt("artifact", self.artifact);
        o.opt("account_id", self.account_id);
        if let Some(name) = self.account_name {
            o.str("account_name", name);
        }
        o.opt("region", self.region);
        o.opt("resource_type", self.resource_type);
        o.opt("resource", self.resource);
        o.opt("title", self.title);
        o.key("count");
        match self.count {
            Some(n) => o
                .out
                .extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            None => o.out.extend_from_slice(b"null"),
        }
        o.opt("first_seen", self.first_seen);
        o.opt("last_seen", self.last_seen);
        o.opt("updated_at", self.updated_at);
        o.bool("sample", self.sample);
        o.bool("archived", self.archived);
        o.str("decision", self.decision);
        o.opt("reason", self.reason);
        if let Some(rule) = self.rule {
            o.str("rule", rule);
        }
        if let Some(destinations) = &self.destinations {
            o.key("destinations");
            o.out.push(b'[');
            for (i, d) in destinations.iter().enumerate() {
                if i > 0 {
                    o.out.push(b',');
                }
                write_json_str(o.out, d);
            }
            o.out.push(b']');
        }
        if let Some(digest_only) = self.digest_only {
            o.bool("digest_only", digest_only);
        }
        o.opt("console_url", self.console_url);
        o.opt("docs_url", self.docs_url.as_deref());
        if let Some(runbook) = &self.runbook_url {
            o.str("runbook_url", runbook);
        }
        o.str("source", self.source);
        o.key("line");
        o.out
            .extend_from_slice(itoa::Buffer::new().format(self.line).as_bytes());
        o.out.push(b'}');
    }
}

/// A JSON object being written: keys are our own constants (written as they are), values are
/// escaped.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Object<'o> {
    fn start(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, first: true }
    }

    #[inline]
    fn key(&mut self, key: &'static str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    #[inline]
    fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        write_json_str(self.out, value);
    }

    #[inline]
    fn opt(&mut self, key: &'static str, value: Option<&str>) {
        self.key(key);
        match value {
            Some(v) => write_json_str(self.out, v),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    #[inline]
    fn bool(&mut self, key: &'static str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }
}

/// Appends `s` as a JSON string with serde_json's escapes: `\"`, `\\`, `\b`, `\t`, `\n`, `\f`,
/// `\r`, and `\u00xx` (lower-case hex) for the other control bytes; everything else, including
/// DEL and non-ASCII, as it is. Runs without an escape are copied whole; eight bytes at a time
/// are checked for one.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.reserve(b.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    while i + 8 <= b.len() {
        let word = u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ]);
        if !word_needs_escape(word) {
            i += 8;
            continue;
        }
        for _ in 0..8 {
            if needs_escape(b[i]) {
                out.extend_from_slice(&b[run..i]);
                push_escape(out, b[i]);
                run = i + 1;
            }
            i += 1;
        }
    }
    while i < b.len() {
        if needs_escape(b[i]) {
            out.extend_from_slice(&b[run..i]);
            push_escape(out, b[i]);
            run = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

#[inline]
fn needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// Whether any of the eight bytes of `w` is below 0x20, `"` or `\`. Exact for the word as a
/// whole (the bit tricks can flag a byte next to a real hit, never miss one), which is all the
/// caller asks.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_space
        | zero_byte(w ^ (ONES * u64::from(b'"')))
        | zero_byte(w ^ (ONES * u64::from(b'\\'))))
        != 0
}

fn push_escape(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        b'\t' => out.extend_from_slice(b"\\t"),
        b'\n' => out.extend_from_slice(b"\\n"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\r' => out.extend_from_slice(b"\\r"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(c >> 4)],
            HEX[usize::from(c & 0xf)],
        ]),
    }
}

/// The deciding rule's runbook link for this finding, if the rule has one.
fn runbook_url(r: &Record<'_>) -> Option<String> {
    let (
        Decision::Routed {
            by: DecidedBy::Rule { index, .. },
            ..
        },
        Some(rules),
    ) = (r.decision, r.rules)
    else {
        return None;
    };
    let template = rules.rules().get(index)?.runbook.as_deref()?;
    let fields = RunbookFields {
        finding_type: r.finding.type_str(),
        account: r.class.account_id,
        region: r.class.region,
        resource: r.class.resource.as_deref(),
        id: r.finding.id(),
    };
    Some(expand(template, &fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::{
        HOSTILE, cut_point_strings, hostile_record, long_hostile, sample_lines, with_line,
    };

    fn serde_str(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    fn ours_str(s: &str) -> String {
        let mut out = Vec::new();
        write_json_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn assert_same_record(j: &JsonRecord<'_>) {
        let mut ours = Vec::new();
        j.write_json(&mut ours);
        let serde = serde_json::to_vec(j).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&serde),
            "write_json differs from serde_json for {j:?}"
        );
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Every char below 0x80 and some beyond, alone and at every position of runs that span
        // one, two and three eight-byte words.
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(['\u{80}', 'é', '\u{2028}', '日', '😀', '\u{feff}']);
        for c in chars {
            for len in 0..=24 {
                for at in 0..=len {
                    let s: String = (0..len)
                        .map(|i| if i == at { c } else { 'a' })
                        .chain((at == len).then_some(c))
                        .collect();
                    assert_eq!(ours_str(&s), serde_str(&s), "{s:?}");
                }
            }
        }
        let mut many: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
        many.push(long_hostile());
        many.extend(cut_point_strings(&[1, 7, 8, 9, 15, 16, 17, 64]));
        for s in &many {
            assert_eq!(ours_str(s), serde_str(s), "{s:?}");
        }
    }

    #[test]
    fn random_strings_are_escaped_as_serde_json_escapes_them() {
        let mut rng = fastrand::Rng::with_seed(14);
        let alphabet: Vec<char> = "abc\"\\/\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}é😀\u{2028}"
            .chars()
            .collect();
        for _ in 0..20_000 {
            let len = rng.usize(0..40);
            let s: String = (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            assert_eq!(ours_str(&s), serde_str(&s), "{s:?}");
        }
    }

    #[test]
    fn records_are_written_as_serde_json_writes_them() {
        // The sample export and the odd fixtures, as the pipeline builds their records.
        let odd = include_str!("../../tests/fixtures/odd-findings.jsonl");
        let samples = include_str!("../../tests/fixtures/samples.jsonl");
        let mut lines = sample_lines();
        lines.extend(odd.lines().chain(samples.lines()));
        let mut n = 0;
        for line in lines {
            if crate::export::finding::Finding::parse(line).is_ok() {
                with_line(line, |_, j| assert_same_record(j));
                n += 1;
            }
        }
        assert!(n >= 12, "only {n} fixture findings parsed");

        // Every optional member present and absent, with hostile text, odd numbers and the
        // rules-file members.
        let dests = ["pager", "sec\"ops", "\u{1}"];
        for s in HOSTILE {
            for variant in 0..8u32 {
                let mut j = hostile_record(s, s);
                let bit = |k: u32| variant & (1 << k) != 0;
                j.severity =
                    [8.0, 5.5, f64::NAN, f64::INFINITY, -0.0, 1e300, 0.1, 7.25][variant as usize];
                j.count = [Some(0), None, Some(u64::MAX), Some(42)][variant as usize % 4];
                j.line = u64::from(variant) * 1_000_003;
                if bit(0) {
                    j.account_name = None;
                    j.resource_type_affected = None;
                    j.title = None;
                    j.console_url = None;
                    j.docs_url = None;
                }
                if bit(1) {
                    j.rule = Some(s);
                    j.destinations = Some(dests[..variant as usize % 4].to_vec());
                    j.digest_only = Some(bit(2));
                    j.reason = Some(s);
                    j.decision = "suppressed";
                } else {
                    j.runbook_url = None;
                }
                j.sample = bit(2);
                j.archived = bit(0);
                assert_same_record(&j);
            }
        }
    }
}
