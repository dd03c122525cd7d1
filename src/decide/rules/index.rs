//! A prefilter over the rules, so that evaluating a finding costs little more than the rules
//! that could match it: for each exact-valued criterion (accounts, regions, purposes, affected
//! resource types, resource types, features), each severity band, each value of `sample` and
//! `archived`, and each tag key rules name, the set of rules that accept it, as bits. A
//! finding's candidates are the intersection of the sets for its values; only those are
//! matched in full, in file order.
//!
//! The prefilter may let through rules that do not match (the full match decides), never the
//! reverse. It covers the first [`MAX_INDEXED`](super::bits::MAX_INDEXED) rules; any beyond are matched one by one.

use super::bits::{Bits, MAX_INDEXED, and, or, set};
use super::matcher::{Facts, Matcher, Patterns, SeverityRange, any_tag, eq_bytes};
use crate::classify::SeverityLabel;

/// Which rules accept each value of one criterion.
#[derive(Debug, Clone, Default)]
struct Criterion<K> {
    /// Rules that do not constrain this criterion.
    free: Bits,
    /// For each value some rule lists: the rules listing it.
    values: Vec<(K, Bits)>,
}

impl<K: PartialEq + Clone> Criterion<K> {
    fn add(&mut self, rule: usize, list: Option<&[K]>) {
        let Some(list) = list else {
            set(&mut self.free, rule);
            return;
        };
        for v in list {
            match self.values.iter_mut().find(|(k, _)| k == v) {
                Some((_, bits)) => set(bits, rule),
                None => {
                    let mut bits = Bits::default();
                    set(&mut bits, rule);
                    self.values.push((v.clone(), bits));
                }
            }
        }
    }
}

impl Criterion<String> {
    fn accepting(&self, value: Option<&str>) -> Bits {
        let listed = value.and_then(|v| {
            self.values
                .iter()
                .find(|(k, _)| super::matcher::eq_bytes(k.as_bytes(), v.as_bytes()))
        });
        match listed {
            Some((_, bits)) => or(&self.free, bits),
            None => self.free,
        }
    }
}

impl Criterion<u64> {
    fn accepting(&self, value: Option<u64>) -> Bits {
        match value.and_then(|v| self.values.iter().find(|(k, _)| *k == v)) {
            Some((_, bits)) => or(&self.free, bits),
            None => self.free,
        }
    }
}

/// The prefilter of a rule list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefilter {
    /// Rules covered (at most [`MAX_INDEXED`]).
    indexed: usize,
    /// By band, lowest first: rules whose severity criterion may include that band.
    bands: [Bits; 4],
    /// By `sample` / `archived` value (false, true): the rules that accept it.
    sample: [Bits; 2],
    archived: [Bits; 2],
    purposes: Criterion<String>,
    affected: Criterion<String>,
    resource_types: Criterion<String>,
    accounts: Criterion<u64>,
    regions: Criterion<String>,
    features: Criterion<String>,
    /// Rules without a `tags` criterion.
    untagged: Bits,
    /// For each tag key some rule names: the rules naming it (a rule with tags needs one of
    /// its keys on the resource).
    tag_keys: Vec<(String, Bits)>,
}

/// Whether some score in `r` lies in `band` (conservative: the upper end counts as included).
fn may_overlap(r: &SeverityRange, band: SeverityLabel) -> bool {
    let band = SeverityRange::band(band);
    r.low < band.high && r.high >= band.low
}

impl Prefilter {
    pub fn new<'m>(
        matchers: impl IntoIterator<Item = &'m Matcher>,
        patterns: &Patterns,
    ) -> Prefilter {
        let mut p = Prefilter::default();
        for (i, m) in matchers.into_iter().take(MAX_INDEXED).enumerate() {
            p.indexed = i + 1;
            for (b, label) in SeverityLabel::ALL.into_iter().enumerate() {
                if m.severity
                    .as_ref()
                    .is_none_or(|ranges| ranges.iter().any(|r| may_overlap(r, label)))
                {
                    set(&mut p.bands[b], i);
                }
            }
            for value in [false, true] {
                if m.sample.is_none_or(|want| want == value) {
                    set(&mut p.sample[usize::from(value)], i);
                }
                if m.archived.is_none_or(|want| want == value) {
                    set(&mut p.archived[usize::from(value)], i);
                }
            }
            p.purposes.add(i, m.purposes.as_deref());
            p.affected.add(i, m.affected.as_deref());
            p.resource_types.add(i, m.resource_types.as_deref());
            p.accounts.add(i, m.accounts.as_deref());
            p.regions.add(i, m.regions.as_deref());
            p.features.add(i, m.features.as_deref());
            match &m.tags {
                None => set(&mut p.untagged, i),
                Some(tags) => {
                    for &t in tags {
                        let key = &patterns.tags[t].key;
                        match p.tag_keys.iter_mut().find(|(k, _)| k == key) {
                            Some((_, bits)) => set(bits, i),
                            None => {
                                let mut bits = Bits::default();
                                set(&mut bits, i);
                                p.tag_keys.push((key.clone(), bits));
                            }
                        }
                    }
                }
            }
        }
        p
    }

    /// How many rules the prefilter covers; rules from this index on are matched one by one.
    pub fn indexed(&self) -> usize {
        self.indexed
    }

    /// The rules (among the covered ones) that may match the finding.
    pub fn candidates(&self, x: &Facts<'_>) -> Bits {
        let band = SeverityLabel::from_score(x.severity) as usize;
        let mut c = self.bands[band];
        and(&mut c, &self.sample[usize::from(x.sample)]);
        and(&mut c, &self.archived[usize::from(x.archived)]);
        and(&mut c, &self.purposes.accepting(Some(x.purpose)));
        and(&mut c, &self.affected.accepting(x.affected));
        and(&mut c, &self.accounts.accepting(x.account));
        and(&mut c, &self.regions.accepting(x.region));
        and(&mut c, &self.resource_types.accepting(x.resource_type));
        and(&mut c, &self.features.accepting(x.feature));
        // Tag rules still in the running need one of their keys on the resource: one walk
        // over the finding's tags, and only when such a rule is left.
        if c.iter().zip(&self.untagged).any(|(c, u)| c & !u != 0) {
            let mut present = self.untagged;
            any_tag(x.finding, |key, _| {
                if let Some((_, bits)) = self
                    .tag_keys
                    .iter()
                    .find(|(k, _)| eq_bytes(k.as_bytes(), key.as_bytes()))
                {
                    present = or(&present, bits);
                }
                false
            });
            and(&mut c, &present);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_overlap_is_conservative() {
        let r = |low: f64, high: f64, high_inclusive: bool| SeverityRange {
            low,
            high,
            high_inclusive,
        };
        use SeverityLabel::*;
        let cases = [
            (r(7.0, 9.0, false), [false, false, true, true]),
            (r(7.0, f64::INFINITY, false), [false, false, true, true]),
            (r(f64::NEG_INFINITY, 4.0, false), [true, true, false, false]),
            (r(4.5, 4.6, false), [false, true, false, false]),
            (SeverityRange::band(Medium), [false, true, true, false]),
            (SeverityRange::band(Critical), [false, false, false, true]),
        ];
        for (range, want) in cases {
            let got = [Low, Medium, High, Critical].map(|b| may_overlap(&range, b));
            assert_eq!(got, want, "{range:?}");
            // Never excludes a band the range really reaches.
            for (b, label) in SeverityLabel::ALL.into_iter().enumerate() {
                for tenth in 0..=100 {
                    let s = f64::from(tenth) / 10.0;
                    if range.contains(s) && SeverityLabel::from_score(s) == label {
                        assert!(got[b], "{range:?} reaches {s} in {label}");
                    }
                }
            }
        }
    }
}
