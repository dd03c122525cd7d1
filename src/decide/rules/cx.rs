//! What the rules-file checks share: [`Cx`], which collects errors and warnings with their
//! lines, the key path of a serde error, and small conversions.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::{ConfigError, MAX_DIGEST_THRESHOLD};

/// Collects errors and warnings with their lines.
pub(super) struct Cx<'t> {
    pub(super) origin: &'t str,
    /// Byte offset of the start of each line.
    pub(super) line_starts: Vec<usize>,
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<ConfigError>,
}

impl<'t> Cx<'t> {
    pub(super) fn new(text: &'t str, origin: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Cx {
            origin,
            line_starts,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        let at = span?.start;
        Some(self.line_starts.partition_point(|&s| s <= at).max(1))
    }

    pub(super) fn make(
        &self,
        span: Option<Range<usize>>,
        context: &str,
        field: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            origin: self.origin.to_owned(),
            line: self.line(span),
            context: context.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub(super) fn error(
        &mut self,
        span: Option<Range<usize>>,
        ctx: &str,
        field: &str,
        msg: impl Into<String>,
    ) {
        let e = self.make(span, ctx, field, msg);
        self.errors.push(e);
    }

    /// A warning made with [`Cx::make`]: `cx.warn(cx.make(span, context, field, message))`.
    pub(super) fn warn(&mut self, warning: ConfigError) {
        self.warnings.push(warning);
    }

    /// A serde error while reading one part: the key path is found from the error's position.
    pub(super) fn serde_error(
        &mut self,
        e: &toml::de::Error,
        ctx: &str,
        raw: &Spanned<DeValue<'_>>,
    ) {
        let span = e.span();
        let field = span.as_ref().map(|s| path_at(raw, s)).unwrap_or_default();
        self.error(span, ctx, &field, e.message().trim_end().to_owned());
    }
}

/// The dotted path of the innermost key whose value holds `at`, within `v`. A table written
/// with its own `[header]` has a span covering only the header, so a table also holds what
/// its entries hold.
pub(super) fn path_at(v: &Spanned<DeValue<'_>>, at: &Range<usize>) -> String {
    pub(super) fn within(s: &Range<usize>, at: &Range<usize>) -> bool {
        s.start <= at.start && at.end <= s.end
    }
    pub(super) fn holds(v: &Spanned<DeValue<'_>>, at: &Range<usize>) -> bool {
        within(&v.span(), at)
            || match v.get_ref() {
                DeValue::Table(t) => t.iter().any(|(k, v)| within(&k.span(), at) || holds(v, at)),
                _ => false,
            }
    }
    let mut path: Vec<String> = Vec::new();
    let mut cur = v;
    while let DeValue::Table(t) = cur.get_ref() {
        // The error is about a key of this table (e.g. an unknown one): the path ends here.
        if t.iter().any(|(k, _)| within(&k.span(), at)) {
            break;
        }
        match t.iter().find(|(_, v)| holds(v, at)) {
            Some((k, v)) => {
                path.push(k.get_ref().to_string());
                cur = v;
            }
            None => break,
        }
    }
    path.join(".")
}

pub(super) fn deserialize<'i, T: Deserialize<'i>>(
    v: Spanned<DeValue<'i>>,
) -> Result<T, toml::de::Error> {
    T::deserialize(ValueDeserializer::from(v))
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A digest threshold, at most [`MAX_DIGEST_THRESHOLD`]: alerts up to the threshold are held
/// until the export ends, so it bounds what is held in memory.
pub(super) fn threshold(cx: &mut Cx<'_>, t: &Spanned<u64>, ctx: &str, field: &str) -> usize {
    let v = *t.get_ref();
    if v > MAX_DIGEST_THRESHOLD as u64 {
        cx.error(
            Some(t.span()),
            ctx,
            field,
            format!(
                "{v} is more than {MAX_DIGEST_THRESHOLD}: alerts up to the threshold are held \
                 until the export has been read, so it is bounded; give at most \
                 {MAX_DIGEST_THRESHOLD}"
            ),
        );
    }
    to_usize(v.min(MAX_DIGEST_THRESHOLD as u64))
}

pub(super) fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
