//! The fast path of [`Finding::parse`]: one pass over the line that reads the members the
//! product models and skips the rest, without serde's visitor machinery.
//!
//! It answers only where its answer is certainly the one serde_json gives: the line is valid
//! JSON, one object, and every modelled member has a plain shape (strings, short unsigned
//! decimal numbers, objects where structs are modelled, arrays where lists are). Anything else
//! — invalid JSON, an escape in a key, a `\u` escape of a surrogate anywhere, a duplicate
//! modelled key, a negative or long number or a number where text is modelled, an array where a
//! struct is modelled, nesting deeper than 64 — gives `None`, and the caller parses the line
//! with serde_json, which then gives the answer (or the exact error) it always gave. Skipped members are validated as strictly as
//! serde_json's `IgnoredAny` does: the grammar, escapes, control characters in strings.
//!
//! The `same_as_serde` tests check the two paths against each other on every fixture, the public
//! corpus and mutations of them.

use std::borrow::Cow;

use super::{
    AccessKeyDetails, Action, AdditionalInfo, ClusterDetails, ContainerDetails, Finding, Flag,
    InstanceDetails, KubernetesDetails, KubernetesWorkload, LambdaDetails, Lenient, List, Num,
    RdsDbInstanceDetails, Resource, S3BucketDetails, Service, Tag, Text,
};

/// The finding on `line`, or `None` where serde_json must decide.
pub(super) fn finding(line: &str) -> Option<Finding<'_>> {
    let mut s = Scan {
        src: line,
        b: line.as_bytes(),
        i: 0,
    };
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    let f = s.finding()?;
    s.ws();
    (s.i == s.b.len()).then_some(f)
}

/// Most nesting skipped here; deeper values go to serde_json.
const MAX_DEPTH: u32 = 64;

struct Scan<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Reads the members of one object into `$target`: each key names a field and the method of
/// [`Scan`] that reads its value; other keys are skipped. A modelled key seen twice (serde's
/// "duplicate field" error) gives `None`.
macro_rules! fields {
    ($s:ident, $target:ident, { $($key:literal => $field:ident : $read:ident),* $(,)? }) => {{
        let mut seen: u32 = 0;
        $s.object(|s, key| {
            let mut bit = 1u32;
            $(
                if key == $key {
                    if seen & bit != 0 {
                        return None;
                    }
                    seen |= bit;
                    $target.$field = s.$read()?;
                    return Some(());
                }
                bit <<= 1;
            )*
            let _ = bit;
            s.skip_value()
        })
    }};
}

impl<'a> Scan<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// The index of the first `"`, `\` or control character at or after `self.i`.
    #[inline]
    fn to_special(&self) -> Option<usize> {
        const ONES: u64 = u64::MAX / 255;
        let mut i = self.i;
        while i + 8 <= self.b.len() {
            let chunk: [u8; 8] = self.b[i..i + 8].try_into().ok()?;
            let v = u64::from_le_bytes(chunk);
            let ctrl = v.wrapping_sub(ONES * 0x20) & !v;
            let q = v ^ (ONES * u64::from(b'"'));
            let quote = q.wrapping_sub(ONES) & !q;
            let bs = v ^ (ONES * u64::from(b'\\'));
            let backslash = bs.wrapping_sub(ONES) & !bs;
            let hit = (ctrl | quote | backslash) & (ONES << 7);
            if hit != 0 {
                return Some(i + hit.trailing_zeros() as usize / 8);
            }
            i += 8;
        }
        while i < self.b.len() {
            if matches!(self.b[i], b'"' | b'\\' | 0..=0x1f) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// A string without escapes, after its opening quote: its text, borrowed. An escape, a
    /// control character or the end of the line gives `None`.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        let start = self.i;
        let end = self.to_special()?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        // The line is UTF-8 and `"` is never inside a multi-byte sequence.
        self.src.get(start..end)
    }

    /// A string after its opening quote, escapes decoded: borrowed when it has none.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let at = self.to_special()?;
        if self.b[at] == b'"' {
            self.i = at + 1;
            return self.src.get(start..at).map(Cow::Borrowed);
        }
        let mut out = String::with_capacity(at - start + 16);
        out.push_str(self.src.get(start..at)?);
        self.i = at;
        loop {
            let at = self.to_special()?;
            out.push_str(self.src.get(self.i..at)?);
            match self.b[at] {
                b'"' => {
                    self.i = at + 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    self.i = at;
                    out.push(self.escape()?);
                }
                _ => return None,
            }
        }
    }

    /// One escape at `self.i` (its backslash): the character. Surrogates (`\uD800`-`\uDFFF`,
    /// halves of a pair or lone) are left to serde_json, which checks them differently in
    /// different places.
    #[inline]
    fn escape(&mut self) -> Option<char> {
        let c = match *self.b.get(self.i + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hex = self.src.get(self.i + 2..self.i + 6)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                self.i += 6;
                return Some(c);
            }
            _ => return None,
        };
        self.i += 2;
        Some(c)
    }

    /// Skips a string after its opening quote, escapes included.
    fn skip_str(&mut self) -> Option<()> {
        loop {
            let at = self.to_special()?;
            match self.b[at] {
                b'"' => {
                    self.i = at + 1;
                    return Some(());
                }
                b'\\' => {
                    self.i = at;
                    self.escape()?;
                }
                _ => return None,
            }
        }
    }

    /// A number per JSON's grammar: its text.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        self.src.get(start..self.i)
    }

    #[inline]
    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// Skips one value of any type, iteratively.
    fn skip_value(&mut self) -> Option<()> {
        // One bit per open container: 1 for an object.
        let mut stack: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            self.ws();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    self.skip_str()?;
                }
                b'{' | b'[' => {
                    let object = self.b[self.i] == b'{';
                    self.i += 1;
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    stack = (stack << 1) | u64::from(object);
                    depth += 1;
                    self.ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.i += 1;
                        stack >>= 1;
                        depth -= 1;
                    } else {
                        if object {
                            self.key_start()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => {
                    self.number()?;
                }
                _ => return None,
            }
            // After a value: a comma and the next one, or the ends of containers.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.ws();
                let object = stack & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        if object {
                            self.key_start()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                self.i += 1;
                stack >>= 1;
                depth -= 1;
            }
        }
    }

    /// A key (skipped) and its colon, inside an object being skipped.
    fn key_start(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.skip_str()?;
        self.eat(b':')
    }

    /// The members of an object (at its `{`): `member` reads or skips the value of each key.
    #[inline]
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let key = self.plain_str()?;
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// [`Text`]: a plain string, `true`/`false`, or absent for `null`, objects and arrays.
    fn text(&mut self) -> Option<Text<'a>> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                Some(Text(Some(self.string()?)))
            }
            b't' => {
                self.literal(b"true")?;
                Some(Text(Some(Cow::Borrowed("true"))))
            }
            b'f' => {
                self.literal(b"false")?;
                Some(Text(Some(Cow::Borrowed("false"))))
            }
            b'n' => {
                self.literal(b"null")?;
                Some(Text(None))
            }
            b'{' | b'[' => {
                self.skip_value()?;
                Some(Text(None))
            }
            // Numbers become owned text in serde's path; leave them to it.
            _ => None,
        }
    }

    /// [`Num`]: a short unsigned decimal, a plain string holding a number, or absent.
    fn num(&mut self) -> Option<Num> {
        match self.peek()? {
            b'0'..=b'9' => {
                let text = self.number()?;
                // Up to 15 digits without an exponent: exactly what serde_json computes.
                let digits = text.bytes().filter(u8::is_ascii_digit).count();
                if digits > 15 || text.contains(['e', 'E']) {
                    return None;
                }
                Some(Num(Some(text.parse().ok()?)))
            }
            b'"' => {
                self.i += 1;
                let v = self.string()?;
                Some(Num(v.trim().parse::<f64>().ok().filter(|v| v.is_finite())))
            }
            b'-' => None,
            _ => {
                self.skip_value()?;
                Some(Num(None))
            }
        }
    }

    /// [`Flag`]: `true`, or a plain string equal to `true` in any case.
    fn flag(&mut self) -> Option<Flag> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                Some(Flag(self.string()?.eq_ignore_ascii_case("true")))
            }
            b't' => {
                self.literal(b"true")?;
                Some(Flag(true))
            }
            _ => {
                self.skip_value()?;
                Some(Flag(false))
            }
        }
    }

    /// [`Lenient`] of a struct: an object is read by `read`; an array goes to serde (which
    /// reads structs from arrays by position); anything else is absent.
    fn lenient<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Lenient<T>> {
        match self.peek()? {
            b'{' => Some(Lenient(Some(read(self)?))),
            b'[' => None,
            _ => {
                self.skip_value()?;
                Some(Lenient(None))
            }
        }
    }

    /// [`List`] of a struct: an array of objects (read by `read`; other scalars absent).
    fn list<T>(&mut self, read: impl Fn(&mut Self) -> Option<T>) -> Option<List<T>> {
        match self.peek()? {
            b'[' => {}
            b'{' => return None,
            _ => {
                self.skip_value()?;
                return Some(Lenient(None));
            }
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Lenient(Some(items)));
        }
        loop {
            self.ws();
            items.push(self.lenient(&read)?);
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Lenient(Some(items)));
                }
                _ => return None,
            }
        }
    }

    fn finding(&mut self) -> Option<Finding<'a>> {
        let mut f = Finding::default();
        fields!(self, f, {
            "id" => id: text,
            "type" => finding_type: text,
            "severity" => severity: num,
            "accountId" => account_id: text,
            "region" => region: text,
            "partition" => partition: text,
            "arn" => arn: text,
            "title" => title: text,
            "createdAt" => created_at: text,
            "updatedAt" => updated_at: text,
            "resource" => resource: resource,
            "service" => service: service,
        })?;
        Some(f)
    }

    fn resource(&mut self) -> Option<Lenient<Resource<'a>>> {
        self.lenient(|s| {
            let mut r = Resource::default();
            fields!(s, r, {
                "resourceType" => resource_type: text,
                "instanceDetails" => instance_details: instance,
                "accessKeyDetails" => access_key_details: access_key,
                "s3BucketDetails" => s3_bucket_details: buckets,
                "eksClusterDetails" => eks_cluster_details: cluster,
                "kubernetesDetails" => kubernetes_details: kubernetes,
                "ecsClusterDetails" => ecs_cluster_details: cluster,
                "containerDetails" => container_details: container,
                "rdsDbInstanceDetails" => rds_db_instance_details: rds,
                "lambdaDetails" => lambda_details: lambda,
            })?;
            Some(r)
        })
    }

    fn tags(&mut self) -> Option<List<Tag<'a>>> {
        self.list(|s| {
            let mut t = Tag::default();
            fields!(s, t, { "key" => key: text, "value" => value: text })?;
            Some(t)
        })
    }

    fn instance(&mut self) -> Option<Lenient<InstanceDetails<'a>>> {
        self.lenient(|s| {
            let mut d = InstanceDetails::default();
            fields!(s, d, { "instanceId" => instance_id: text, "tags" => tags: tags })?;
            Some(d)
        })
    }

    fn access_key(&mut self) -> Option<Lenient<AccessKeyDetails<'a>>> {
        self.lenient(|s| {
            let mut d = AccessKeyDetails::default();
            fields!(s, d, {
                "accessKeyId" => access_key_id: text,
                "principalId" => principal_id: text,
                "userName" => user_name: text,
                "userType" => user_type: text,
            })?;
            Some(d)
        })
    }

    fn buckets(&mut self) -> Option<List<S3BucketDetails<'a>>> {
        self.list(|s| {
            let mut d = S3BucketDetails::default();
            fields!(s, d, { "name" => name: text, "tags" => tags: tags })?;
            Some(d)
        })
    }

    fn cluster(&mut self) -> Option<Lenient<ClusterDetails<'a>>> {
        self.lenient(|s| {
            let mut d = ClusterDetails::default();
            fields!(s, d, { "name" => name: text, "tags" => tags: tags })?;
            Some(d)
        })
    }

    fn kubernetes(&mut self) -> Option<Lenient<KubernetesDetails<'a>>> {
        self.lenient(|s| {
            let mut d = KubernetesDetails::default();
            fields!(s, d, { "kubernetesWorkloadDetails" => kubernetes_workload_details: workload })?;
            Some(d)
        })
    }

    fn workload(&mut self) -> Option<Lenient<KubernetesWorkload<'a>>> {
        self.lenient(|s| {
            let mut d = KubernetesWorkload::default();
            fields!(s, d, { "name" => name: text, "namespace" => namespace: text })?;
            Some(d)
        })
    }

    fn container(&mut self) -> Option<Lenient<ContainerDetails<'a>>> {
        self.lenient(|s| {
            let mut d = ContainerDetails::default();
            fields!(s, d, { "id" => id: text, "name" => name: text, "image" => image: text })?;
            Some(d)
        })
    }

    fn rds(&mut self) -> Option<Lenient<RdsDbInstanceDetails<'a>>> {
        self.lenient(|s| {
            let mut d = RdsDbInstanceDetails::default();
            fields!(s, d, {
                "dbInstanceIdentifier" => db_instance_identifier: text,
                "dbClusterIdentifier" => db_cluster_identifier: text,
                "engine" => engine: text,
                "tags" => tags: tags,
            })?;
            Some(d)
        })
    }

    fn lambda(&mut self) -> Option<Lenient<LambdaDetails<'a>>> {
        self.lenient(|s| {
            let mut d = LambdaDetails::default();
            fields!(s, d, { "functionName" => function_name: text, "tags" => tags: tags })?;
            Some(d)
        })
    }

    fn service(&mut self) -> Option<Lenient<Service<'a>>> {
        self.lenient(|s| {
            let mut d = Service::default();
            fields!(s, d, {
                "action" => action: action,
                "archived" => archived: flag,
                "count" => count: num,
                "eventFirstSeen" => event_first_seen: text,
                "eventLastSeen" => event_last_seen: text,
                "additionalInfo" => additional_info: additional_info,
                "featureName" => feature_name: text,
            })?;
            Some(d)
        })
    }

    fn action(&mut self) -> Option<Lenient<Action<'a>>> {
        self.lenient(|s| {
            let mut d = Action::default();
            fields!(s, d, { "actionType" => action_type: text })?;
            Some(d)
        })
    }

    fn additional_info(&mut self) -> Option<Lenient<AdditionalInfo<'a>>> {
        self.lenient(|s| {
            let mut d = AdditionalInfo::default();
            fields!(s, d, { "sample" => sample: flag, "value" => value: text })?;
            Some(d)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The fast path either leaves the line to serde_json or gives exactly serde's finding.
    fn check(line: &str) -> bool {
        let fast = finding(line);
        if let Some(f) = &fast {
            match Finding::parse_with_serde(line) {
                Ok(g) => assert_eq!(f, &g, "fast path differs from serde on {line:?}"),
                Err(e) => panic!("fast path accepted what serde rejects ({e:?}): {line:?}"),
            }
        }
        fast.is_some()
    }

    /// Lines of every UTF-8 file under `dir` (fuzz corpora are raw bytes; gzip'd ones are
    /// skipped as not UTF-8 line by line).
    fn lines_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return out;
        };
        for e in entries.flatten() {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            for line in bytes.split(|b| *b == b'\n') {
                if let Ok(text) = std::str::from_utf8(line) {
                    out.push(text.trim_end_matches('\r').to_owned());
                }
            }
        }
        out
    }

    fn base_lines() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut lines: Vec<String> =
            std::fs::read_to_string(root.join("events/sample-export.jsonl"))
                .expect("events/sample-export.jsonl")
                .lines()
                .map(str::to_owned)
                .collect();
        for sub in ["fuzz/corpus/export_reader", "fuzz/corpus/render"] {
            lines.extend(lines_under(&root.join(sub)));
        }
        // The public corpus, where it is beside the checkout (tests/corpus.rs says when not).
        lines.extend(lines_under(&root.join("../shared/corpus/findings")));
        lines
    }

    #[test]
    fn the_sample_export_takes_the_fast_path() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("events/sample-export.jsonl")).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            assert!(check(line), "not on the fast path: {line}");
        }
    }

    #[test]
    fn same_as_serde_on_fixtures_corpora_and_their_mutations() {
        let lines = base_lines();
        assert!(lines.len() > 100, "only {} lines to compare", lines.len());
        let mut answered = 0usize;
        let mut tried = 0usize;
        let specials: &[&str] = &[
            "\"", "\\", "{", "}", "[", "]", ",", ":", "-", "0", "1e5", ".", "\u{1}", " ", "n",
            "\\u00e9", "\\\"", "-0", "1.", "tru", "null", "\"true\"", "[]", "{}",
        ];
        for line in &lines {
            tried += 1;
            answered += usize::from(check(line));
            // Cut at, and splice specials into, a spread of positions (on char boundaries).
            let n = line.len();
            let step = (n / 12).max(1);
            for at in (0..n).step_by(step) {
                let at = line.floor_char_boundary(at);
                tried += 1;
                check(&line[..at]);
                for sp in specials {
                    let mut m = String::with_capacity(n + sp.len());
                    m.push_str(&line[..at]);
                    m.push_str(sp);
                    m.push_str(&line[at..]);
                    check(&m);
                    // Replace the next char instead of inserting.
                    let next = line[at..].chars().next().map_or(0, char::len_utf8);
                    let mut r = String::with_capacity(n + sp.len());
                    r.push_str(&line[..at]);
                    r.push_str(sp);
                    r.push_str(&line[at + next..]);
                    check(&r);
                    tried += 2;
                }
            }
        }
        assert!(answered > 0, "the fast path answered none of {tried} lines");
    }

    /// Random objects over the modelled keys (and others), with values of every JSON shape.
    #[test]
    fn same_as_serde_on_random_findings() {
        let mut rng = 0x5eed_u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        const KEYS: &[&str] = &[
            "id",
            "type",
            "severity",
            "accountId",
            "region",
            "partition",
            "arn",
            "title",
            "createdAt",
            "updatedAt",
            "resource",
            "service",
            "resourceType",
            "instanceDetails",
            "accessKeyDetails",
            "s3BucketDetails",
            "eksClusterDetails",
            "kubernetesDetails",
            "kubernetesWorkloadDetails",
            "ecsClusterDetails",
            "containerDetails",
            "rdsDbInstanceDetails",
            "lambdaDetails",
            "instanceId",
            "tags",
            "key",
            "value",
            "name",
            "namespace",
            "image",
            "engine",
            "functionName",
            "action",
            "actionType",
            "archived",
            "count",
            "eventFirstSeen",
            "eventLastSeen",
            "additionalInfo",
            "sample",
            "featureName",
            "accessKeyId",
            "userName",
            "other",
            "Id",
            "",
        ];
        const SCALARS: &[&str] = &[
            "\"x\"",
            "\"\"",
            "\"a\\\"b\"",
            "\"\\u00e9t\u{e9}\"",
            "\"true\"",
            "\"TRUE\"",
            "\" 7 \"",
            "\"8.5\"",
            "1",
            "0",
            "-0",
            "-3",
            "8.25",
            "1e3",
            "12345678901234567",
            "0.1",
            "123456789012345",
            "true",
            "false",
            "null",
            "\"\\ud800\"",
        ];
        fn value(depth: u32, next: &mut impl FnMut(u64) -> u64, out: &mut String) {
            match next(if depth > 4 { 2 } else { 5 }) {
                0 | 1 => out.push_str(SCALARS[next(SCALARS.len() as u64) as usize]),
                2 | 3 => {
                    out.push('{');
                    for k in 0..next(5) {
                        if k > 0 {
                            out.push(',');
                        }
                        out.push('"');
                        out.push_str(KEYS[next(KEYS.len() as u64) as usize]);
                        out.push_str("\":");
                        value(depth + 1, next, out);
                    }
                    out.push('}');
                }
                _ => {
                    out.push('[');
                    for k in 0..next(4) {
                        if k > 0 {
                            out.push(',');
                        }
                        value(depth + 1, next, out);
                    }
                    out.push(']');
                }
            }
        }
        let mut answered = 0;
        for _ in 0..20_000 {
            let mut line = String::from(r#"{"id":"a","type":"T:R/F","severity":5"#);
            for _ in 0..next(6) {
                line.push_str(",\"");
                line.push_str(KEYS[next(KEYS.len() as u64) as usize]);
                line.push_str("\":");
                value(0, &mut next, &mut line);
            }
            line.push('}');
            answered += usize::from(check(&line));
        }
        assert!(
            answered > 2_000,
            "the fast path answered only {answered} of 20000"
        );
    }
}
