//! The compiled form of a rule's `match` table and its evaluation against one finding.
//!
//! Everything here is built once when the rules file is loaded: globs are split into their
//! literal parts, severity ranges and labels become numeric intervals, account names are
//! resolved to ids (kept as numbers). Evaluating a finding allocates nothing and never calls
//! libc's `memcmp`, nor builds a substring searcher: the texts compared are a few dozen bytes,
//! where both cost more than the comparison (with `==` and `str::find`, 50 rules took 9.1 µs
//! per finding on the CI machine; without, 1.1 µs; with the prefilter of `index.rs` as well,
//! 0.12 µs: see `cargo bench --bench rules`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::bits::Bits;
use crate::classify::{Classification, SeverityLabel};
use crate::export::finding::{Finding, List, Tag, items};

/// Byte equality without a `memcmp` call: 8 bytes at a time, then the tail.
#[inline]
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_ne_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        if x != y {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

/// A 12-digit account id as a number, for comparisons without string compares; `None` for
/// anything else (such an account matches no `accounts` criterion).
#[inline]
pub(crate) fn account_number(id: &str) -> Option<u64> {
    let b = id.as_bytes();
    if b.len() != 12 {
        return None;
    }
    let mut n = 0u64;
    for &d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    Some(n)
}

/// The first occurrence of `needle` (not empty) in `hay`: the needle's first byte found with
/// `memchr`, the rest compared in place. For haystacks of a few dozen bytes this beats building
/// a searcher.
#[inline]
fn find_short(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let at = from + memchr::memchr(first, &hay[from..=last_start])?;
        if eq_bytes(&hay[at + 1..at + needle.len()], rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The bytes and byte pairs present in a text, as 512 bits: 256 for the bytes, 256 for a hash
/// of each pair of neighbours. A literal can only occur in a text whose sketch covers the
/// literal's, so most globs that do not match a type are rejected by four word operations
/// instead of a substring search (the type's sketch is made once per finding, when a glob first
/// needs it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sketch([u64; 8]);

impl Sketch {
    /// The sketch of `text`.
    pub fn of(text: &[u8]) -> Sketch {
        let mut s = Sketch::default();
        s.add(text);
        s
    }

    /// Adds the bytes and neighbour pairs of `text`.
    fn add(&mut self, text: &[u8]) {
        for &b in text {
            self.set(usize::from(b));
        }
        for pair in text.windows(2) {
            let h = (u32::from(pair[0]) << 8 | u32::from(pair[1])).wrapping_mul(0x9e37_79b1) >> 24;
            self.set(256 + h as usize);
        }
    }

    fn set(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    /// Whether every bit of `need` is in `self`.
    pub fn covers(&self, need: &Sketch) -> bool {
        self.0
            .iter()
            .zip(&need.0)
            .all(|(have, need)| need & !have == 0)
    }
}

/// A finding-type pattern where `*` matches any run of characters (including none, and
/// including `:`, `/`, `.` and `!`). Every other character matches itself, case-sensitively.
/// There is no `?`, no character class and no escape: GuardDuty types never contain `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The pattern as written.
    pattern: String,
    /// How it is matched.
    kind: GlobKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobKind {
    /// No `*`: the text must equal the pattern.
    Exact,
    /// At least one `*`: `prefix`, then each of `middle` in order, then `suffix`. `need` is
    /// the sketch of all of them.
    Star {
        prefix: String,
        middle: Vec<String>,
        suffix: String,
        need: Sketch,
    },
}

impl Glob {
    /// Compiles a pattern. Any string is a valid pattern; the rules file rejects empty ones.
    pub fn new(pattern: &str) -> Glob {
        let kind = if pattern.contains('*') {
            let mut parts: Vec<&str> = pattern.split('*').collect();
            // `split` yields at least two parts when there is a `*`.
            let suffix = parts.pop().unwrap_or_default().to_owned();
            let prefix = if parts.is_empty() {
                String::new()
            } else {
                parts.remove(0).to_owned()
            };
            let middle = parts
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>();
            let mut need = Sketch::default();
            for part in middle.iter().chain([&prefix, &suffix]) {
                need.add(part.as_bytes());
            }
            GlobKind::Star {
                prefix,
                middle,
                suffix,
                need,
            }
        } else {
            GlobKind::Exact
        };
        Glob {
            pattern: pattern.to_owned(),
            kind,
        }
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        self.matches_sketched(text, || Sketch::of(text.as_bytes()))
    }

    /// [`Glob::matches`], with the text's [`Sketch`] made by `sketch` only when needed.
    pub(crate) fn matches_sketched(&self, text: &str, sketch: impl FnOnce() -> Sketch) -> bool {
        let text = text.as_bytes();
        match &self.kind {
            GlobKind::Exact => eq_bytes(text, self.pattern.as_bytes()),
            GlobKind::Star {
                prefix,
                middle,
                suffix,
                need,
            } => {
                let (p, s) = (prefix.as_bytes(), suffix.as_bytes());
                if text.len() < p.len() + s.len()
                    || !eq_bytes(&text[..p.len()], p)
                    || !eq_bytes(&text[text.len() - s.len()..], s)
                {
                    return false;
                }
                if !middle.is_empty() && !sketch().covers(need) {
                    return false;
                }
                // The middle parts, leftmost first, between the prefix and the suffix. Taking
                // the leftmost occurrence of each is optimal for `*`-only patterns.
                let mut rest = &text[p.len()..text.len() - s.len()];
                for part in middle {
                    match find_short(rest, part.as_bytes()) {
                        Some(at) => rest = &rest[at + part.len()..],
                        None => return false,
                    }
                }
                true
            }
        }
    }
}

/// A severity interval: `low <= s` and `s < high` (or `s <= high` when `high_inclusive`).
/// Labels are intervals too: `high` is `7 <= s < 9`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeverityRange {
    /// Lowest matching score (`-inf` when open).
    pub low: f64,
    /// Upper end (`+inf` when open).
    pub high: f64,
    /// Whether `high` itself matches (`..=`).
    pub high_inclusive: bool,
}

impl SeverityRange {
    /// The interval of one GuardDuty band.
    pub fn band(label: SeverityLabel) -> SeverityRange {
        SeverityRange {
            low: label.lower_bound(),
            high: band_end(label),
            high_inclusive: false,
        }
    }

    /// Whether `score` lies in the interval.
    pub fn contains(&self, score: f64) -> bool {
        score >= self.low && (score < self.high || (self.high_inclusive && score == self.high))
    }
}

/// Where a band ends (exclusive): the next band's lower bound; `+inf` for Critical.
pub(crate) fn band_end(label: SeverityLabel) -> f64 {
    match label {
        SeverityLabel::Low => SeverityLabel::Medium.lower_bound(),
        SeverityLabel::Medium => SeverityLabel::High.lower_bound(),
        SeverityLabel::High => SeverityLabel::Critical.lower_bound(),
        SeverityLabel::Critical => f64::INFINITY,
    }
}

/// One `tags` entry: a tag whose key equals `key` and whose value matches `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMatch {
    /// The tag key, matched exactly.
    pub key: String,
    /// The tag value, as a [`Glob`] (`*` for any value).
    pub value: Glob,
}

/// A compiled `match` table. `None` means the criterion was not given (matches anything);
/// every given criterion must hold; a list criterion holds when any element matches.
///
/// Type globs and tag matchers are kept once per config and referred to by
/// index, so that a glob several rules share is matched once per finding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matcher {
    /// `severity`: ranges and bands.
    pub(crate) severity: Option<Vec<SeverityRange>>,
    /// `types`: indices of globs over the whole finding type.
    pub(crate) types: Option<Vec<usize>>,
    /// `purposes`: the type's ThreatPurpose, exactly.
    pub(crate) purposes: Option<Vec<String>>,
    /// `affected`: the type's ResourceTypeAffected, exactly.
    pub(crate) affected: Option<Vec<String>>,
    /// `resource_types`: `resource.resourceType`, exactly.
    pub(crate) resource_types: Option<Vec<String>>,
    /// `accounts`: 12-digit account ids as numbers (names are resolved when the file is
    /// loaded).
    pub(crate) accounts: Option<Vec<u64>>,
    /// `regions`: the finding's region, exactly.
    pub(crate) regions: Option<Vec<String>>,
    /// `tags`: indices of resource tag matchers.
    pub(crate) tags: Option<Vec<usize>>,
    /// `features`: `service.featureName`, exactly.
    pub(crate) features: Option<Vec<String>>,
    /// `sample`: whether the finding is a sample.
    pub(crate) sample: Option<bool>,
    /// `archived`: whether `service.archived` is true.
    pub(crate) archived: Option<bool>,
}

/// The distinct type globs and tag matchers of a config, each stored once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Patterns {
    pub globs: Vec<Glob>,
    pub tags: Vec<TagMatch>,
}

impl Patterns {
    /// The index of `g`, adding it when new.
    pub fn glob(&mut self, g: Glob) -> usize {
        intern(&mut self.globs, g)
    }

    /// The index of `t`, adding it when new.
    pub fn tag(&mut self, t: TagMatch) -> usize {
        intern(&mut self.tags, t)
    }
}

fn intern<T: PartialEq>(table: &mut Vec<T>, v: T) -> usize {
    match table.iter().position(|x| *x == v) {
        Some(i) => i,
        None => {
            table.push(v);
            table.len() - 1
        }
    }
}

/// Remembered results for the first [`Memo::SLOTS`] globs and tag matchers during one
/// evaluation (on the stack; later ones are matched every time).
#[derive(Debug, Default)]
pub(crate) struct Memo {
    known: [u64; 4],
    hit: [u64; 4],
}

impl Memo {
    /// How many results a memo holds.
    const SLOTS: usize = 256;

    fn get_or(&mut self, slot: usize, f: impl FnOnce() -> bool) -> bool {
        if slot >= Self::SLOTS {
            return f();
        }
        let (w, bit) = (slot / 64, 1u64 << (slot % 64));
        if self.known[w] & bit != 0 {
            return self.hit[w] & bit != 0;
        }
        let hit = f();
        self.known[w] |= bit;
        if hit {
            self.hit[w] |= bit;
        }
        hit
    }
}

/// Per-evaluation memos for globs and tag matchers.
#[derive(Debug, Default)]
pub(crate) struct Memos {
    globs: Memo,
    tags: Memo,
    /// The finding type's sketch, once a glob needed it.
    type_sketch: Option<Sketch>,
}

/// Which rules accept each finding type, kept across evaluations on this thread: the `types`
/// criterion depends on the finding type alone, and an export has few distinct types, so each
/// type's globs are matched once per thread rather than once per finding, and rules whose
/// `types` cannot match are not looked at. Bounded: cleared when it holds [`TYPE_MEMO_MAX`]
/// types; keyed by the rules file's id, so two files never share results.
struct TypeMemos {
    owner: u64,
    accepting: HashMap<Box<str>, Bits, BuildHasherDefault<Fnv>>,
}

/// Most finding types remembered per thread (GuardDuty has a few hundred).
pub(crate) const TYPE_MEMO_MAX: usize = 4096;

thread_local! {
    static TYPE_MEMOS: RefCell<TypeMemos> = RefCell::new(TypeMemos {
        owner: 0,
        accepting: HashMap::default(),
    });
}

/// FNV-1a for the type memo's keys (short ASCII strings; the bound limits what a flood of
/// crafted types can cost).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The rules (of the file `owner`) whose `types` accept `finding_type`: remembered, or made by
/// `compute` and remembered.
pub(crate) fn type_accepting(
    owner: u64,
    finding_type: &str,
    compute: impl FnOnce() -> Bits,
) -> Bits {
    let known = TYPE_MEMOS.with(|t| {
        let t = t.borrow();
        if t.owner == owner {
            t.accepting.get(finding_type).copied()
        } else {
            None
        }
    });
    if let Some(bits) = known {
        return bits;
    }
    let bits = compute();
    TYPE_MEMOS.with(|t| {
        let mut t = t.borrow_mut();
        if t.owner != owner || t.accepting.len() >= TYPE_MEMO_MAX {
            t.owner = owner;
            t.accepting.clear();
        }
        t.accepting.insert(finding_type.into(), bits);
    });
    bits
}

/// The facts of one finding that rules look at, gathered once per evaluation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub severity: f64,
    pub finding_type: &'a str,
    pub purpose: &'a str,
    pub affected: Option<&'a str>,
    pub resource_type: Option<&'a str>,
    pub account: Option<u64>,
    pub region: Option<&'a str>,
    pub feature: Option<&'a str>,
    pub sample: bool,
    pub archived: bool,
    pub finding: &'a Finding<'a>,
}

impl<'a> Facts<'a> {
    pub fn new(f: &'a Finding<'a>, c: &'a Classification<'a>) -> Self {
        Facts {
            severity: f.severity(),
            finding_type: f.type_str(),
            purpose: c.kind.threat_purpose,
            affected: c.kind.resource_type_affected,
            resource_type: c.resource_type,
            account: c.account_id.and_then(account_number),
            region: c.region,
            feature: f.service().and_then(|s| s.feature_name.get()),
            sample: c.sample,
            archived: c.archived,
            finding: f,
        }
    }
}

fn any_eq(list: &Option<Vec<String>>, value: Option<&str>) -> bool {
    match list {
        None => true,
        Some(list) => {
            value.is_some_and(|v| list.iter().any(|x| eq_bytes(x.as_bytes(), v.as_bytes())))
        }
    }
}

impl Matcher {
    /// Whether the matcher has no criteria (it matches every finding).
    pub fn is_empty(&self) -> bool {
        *self == Matcher::default()
    }

    /// Whether the finding meets every given criterion. Cheap checks come first.
    /// Whether the `types` criterion (absent: any type) accepts `finding_type`.
    pub(crate) fn accepts_type(&self, finding_type: &str, p: &Patterns) -> bool {
        self.types
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|&g| p.globs[g].matches(finding_type)))
    }

    /// Whether there is a `types` criterion.
    pub(crate) fn has_types(&self) -> bool {
        self.types.is_some()
    }

    pub(crate) fn matches(&self, x: &Facts<'_>, p: &Patterns, memo: &mut Memos) -> bool {
        if self.sample.is_some_and(|want| want != x.sample)
            || self.archived.is_some_and(|want| want != x.archived)
        {
            return false;
        }
        if let Some(ranges) = &self.severity
            && !ranges.iter().any(|r| r.contains(x.severity))
        {
            return false;
        }
        if !any_eq(&self.purposes, Some(x.purpose))
            || !any_eq(&self.affected, x.affected)
            || !self
                .accounts
                .as_ref()
                .is_none_or(|ids| x.account.is_some_and(|a| ids.contains(&a)))
            || !any_eq(&self.regions, x.region)
            || !any_eq(&self.resource_types, x.resource_type)
            || !any_eq(&self.features, x.feature)
        {
            return false;
        }
        if let Some(globs) = &self.types
            && !globs.iter().any(|&g| {
                memo.globs.get_or(g, || {
                    p.globs[g].matches_sketched(x.finding_type, || {
                        *memo
                            .type_sketch
                            .get_or_insert_with(|| Sketch::of(x.finding_type.as_bytes()))
                    })
                })
            })
        {
            return false;
        }
        if let Some(tags) = &self.tags
            && !tags
                .iter()
                .any(|&t| memo.tags.get_or(t, || has_tag(x.finding, &p.tags[t])))
        {
            return false;
        }
        true
    }
}

/// Every tag of the finding's resource, as (key, value), until `f` returns true: the tag
/// lists of the EC2 instance, each S3 bucket, the EKS and ECS clusters, the Lambda function
/// and the RDS instance. A tag without a key is skipped; a missing value reads as empty.
pub(crate) fn any_tag(finding: &Finding<'_>, mut f: impl FnMut(&str, &str) -> bool) -> bool {
    let Some(r) = finding.resource.get() else {
        return false;
    };
    let mut hit = |list: &List<Tag<'_>>| {
        items(list).any(|tag| match tag.key.0.as_deref() {
            Some(k) => f(k, tag.value.0.as_deref().unwrap_or_default()),
            None => false,
        })
    };
    r.instance_details.get().is_some_and(|d| hit(&d.tags))
        || items(&r.s3_bucket_details).any(|b| hit(&b.tags))
        || r.eks_cluster_details.get().is_some_and(|d| hit(&d.tags))
        || r.ecs_cluster_details.get().is_some_and(|d| hit(&d.tags))
        || r.lambda_details.get().is_some_and(|d| hit(&d.tags))
        || r.rds_db_instance_details
            .get()
            .is_some_and(|d| hit(&d.tags))
}

/// Whether any tag of the finding's resource matches `t`.
fn has_tag(f: &Finding<'_>, t: &TagMatch) -> bool {
    any_tag(f, |k, v| {
        eq_bytes(k.as_bytes(), t.key.as_bytes()) && t.value.matches(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            // Exact patterns.
            (
                "Recon:EC2/PortProbeUnprotectedPort",
                "Recon:EC2/PortProbeUnprotectedPort",
                true,
            ),
            (
                "Recon:EC2/PortProbeUnprotectedPort",
                "Recon:EC2/PortProbeUnprotectedPortX",
                false,
            ),
            (
                "Recon:EC2/Port",
                "Recon:EC2/PortProbeUnprotectedPort",
                false,
            ),
            // Case-sensitive.
            ("recon:*", "Recon:EC2/PortProbeUnprotectedPort", false),
            ("Recon:*", "Recon:EC2/PortProbeUnprotectedPort", true),
            // Leading, trailing, middle stars.
            ("*:EC2/*", "Recon:EC2/PortProbeUnprotectedPort", true),
            ("*:EC2/*", "UnauthorizedAccess:IAMUser/ConsoleLogin", false),
            ("*!DNS", "Trojan:EC2/DropPoint!DNS", true),
            ("*!DNS", "CryptoCurrency:Runtime/BitcoinTool.B!DNS", true),
            ("*!DNS", "CryptoCurrency:EC2/BitcoinTool.B", false),
            ("*.B*", "CryptoCurrency:Runtime/BitcoinTool.B!DNS", true),
            // `*` crosses every separator.
            (
                "Crypto*DNS",
                "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
                true,
            ),
            ("*", "Anything:At/All.X!Y", true),
            ("*", "", true),
            ("**", "x", true),
            ("a**b", "ab", true),
            // `*` matches the empty run.
            ("Recon:*", "Recon:", true),
            ("*Recon:EC2/*", "Recon:EC2/", true),
            // Prefix and suffix must not overlap.
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            // Middle parts in order, leftmost first.
            ("*a*b*c*", "xaxbxcx", true),
            ("*a*b*c*", "xcxbxax", false),
            ("*ab*ab*", "abab", true),
            ("*ab*ab*", "aba", false),
            ("*aa*aa", "aaaa", true),
            ("*aa*aa", "aaa", false),
            // Non-ASCII is literal too.
            ("*é*", "Caf\u{e9}:X/Y", true),
            ("*é", "Caf\u{e9}", true),
        ];
        for (pattern, text, want) in cases {
            let g = Glob::new(pattern);
            assert_eq!(g.matches(text), *want, "{pattern:?} against {text:?}");
            // A sketch that covers everything: the same answers without the shortcut.
            assert_eq!(
                g.matches_sketched(text, || Sketch([u64::MAX; 8])),
                *want,
                "{pattern:?} against {text:?}, unsketched"
            );
        }
    }

    #[test]
    fn a_sketch_covers_every_substring() {
        let text = "CryptoCurrency:Runtime/BitcoinTool.B!DNS";
        let sketch = Sketch::of(text.as_bytes());
        for start in 0..text.len() {
            for end in start..=text.len() {
                assert!(sketch.covers(&Sketch::of(&text.as_bytes()[start..end])));
            }
        }
        for absent in [":EC2/", "Family7", "!DNSX", "z"] {
            assert!(!sketch.covers(&Sketch::of(absent.as_bytes())), "{absent}");
        }
    }

    #[test]
    fn short_substring_search() {
        let cases: &[(&str, &str, Option<usize>)] = &[
            ("Recon:EC2/Port", ":EC2/", Some(5)),
            ("Recon:EC2/Port", "Recon", Some(0)),
            ("Recon:EC2/Port", "Port", Some(10)),
            ("Recon:EC2/Port", "Portx", None),
            ("aaab", "aab", Some(1)),
            ("abababc", "ababc", Some(2)),
            ("ab", "abc", None),
            ("", "a", None),
            ("a", "a", Some(0)),
            ("xa", "a", Some(1)),
            ("abc", "", None),
        ];
        for (hay, needle, want) in cases {
            assert_eq!(
                find_short(hay.as_bytes(), needle.as_bytes()),
                *want,
                "{needle:?} in {hay:?}"
            );
        }
    }

    #[test]
    fn byte_equality_and_account_numbers() {
        for (a, b) in [
            ("", ""),
            ("a", "a"),
            ("12345678", "12345678"),
            ("111122223333", "111122223333"),
            ("us-east-1", "us-east-1"),
            (
                "AttackSequence:S3/CompromisedData",
                "AttackSequence:S3/CompromisedData",
            ),
        ] {
            assert!(eq_bytes(a.as_bytes(), b.as_bytes()), "{a:?}");
        }
        for (a, b) in [
            ("", "a"),
            ("a", "b"),
            ("12345678", "12345679"),
            ("111122223333", "111122223334"),
            ("211122223333", "111122223333"),
            ("us-east-1", "us-east-2"),
            ("abc", "abcd"),
        ] {
            assert!(!eq_bytes(a.as_bytes(), b.as_bytes()), "{a:?} {b:?}");
        }
        assert_eq!(account_number("111122223333"), Some(111_122_223_333));
        assert_eq!(account_number("000000000001"), Some(1));
        assert_eq!(account_number("999999999999"), Some(999_999_999_999));
        for bad in [
            "1",
            "123456789",
            "1111222233334",
            "11112222333a",
            "-11122223333",
            "",
        ] {
            assert_eq!(account_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn memo_remembers_each_slot() {
        let mut m = Memo::default();
        let mut calls = 0;
        for slot in [0, 63, 64, 255] {
            for want in [true, false] {
                // The first answer sticks.
                let got = m.get_or(slot, || {
                    calls += 1;
                    slot % 2 == 0
                });
                assert_eq!(got, slot % 2 == 0, "{slot} {want}");
            }
        }
        assert_eq!(calls, 4);
        // Beyond the slots: asked every time.
        assert!(m.get_or(256, || true));
        assert!(!m.get_or(256, || false));
    }

    #[test]
    fn severity_ranges() {
        let r = |low: f64, high: f64, inc: bool| SeverityRange {
            low,
            high,
            high_inclusive: inc,
        };
        let cases = [
            (r(7.0, 9.0, false), 6.99, false),
            (r(7.0, 9.0, false), 7.0, true),
            (r(7.0, 9.0, false), 8.99, true),
            (r(7.0, 9.0, false), 9.0, false),
            (r(7.0, 9.0, true), 9.0, true),
            (r(7.0, f64::INFINITY, false), 10.0, true),
            (r(f64::NEG_INFINITY, 4.0, false), 0.0, true),
            (r(f64::NEG_INFINITY, 4.0, false), 4.0, false),
            (SeverityRange::band(SeverityLabel::Medium), 6.95, true),
            (SeverityRange::band(SeverityLabel::Medium), 7.0, false),
            (SeverityRange::band(SeverityLabel::Critical), 10.0, true),
            (SeverityRange::band(SeverityLabel::Low), 3.99, true),
        ];
        for (range, score, want) in cases {
            assert_eq!(range.contains(score), want, "{range:?} {score}");
        }
    }
}
