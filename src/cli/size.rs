//! Byte sizes on the command line: `4MiB`, `64 GiB`, `1000000`, `2MB`.
//!
//! A size is a whole number, then optionally (after optional spaces) a unit, case-insensitive:
//! `B`; `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024); `KB`, `MB`, `GB`, `TB` (powers of 1000, as
//! in SI). A bare `K`/`M`/`G` is refused (it is not clear which of the two it means), and so are
//! fractions (`1.5GiB`: write `1536MiB`). Defaults are shown in the largest binary unit that
//! divides them exactly, without a space (`1MiB`: clap would quote a default with a space, and
//! this way the default can be copied as an argument), else in bytes.

use std::fmt;
use std::str::FromStr;

/// A number of bytes given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

const UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

const HOW: &str = "write a whole number of bytes, optionally with a unit: B, KiB, MiB, GiB, TiB \
                   (powers of 1024) or KB, MB, GB, TB (powers of 1000), e.g. 4MiB";

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = t.split_at(digits);
        let unit = unit.trim_start();
        if number.is_empty() {
            return Err(format!("{s:?} is not a size: {HOW}"));
        }
        if unit.starts_with(['.', ',']) {
            return Err(format!(
                "{s:?}: fractions are not accepted: use a smaller unit (1536MiB, not 1.5GiB)"
            ));
        }
        let multiplier = if unit.is_empty() {
            1
        } else {
            let lower = unit.to_ascii_lowercase();
            match UNITS.iter().find(|(name, _)| *name == lower) {
                Some((_, m)) => *m,
                None => return Err(format!("{s:?}: unknown unit {unit:?}: {HOW}")),
            }
        };
        let too_large = || format!("{s:?} is too large (the most is {} bytes)", u64::MAX);
        let n: u64 = number.parse().map_err(|_| too_large())?;
        n.checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(too_large)
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly (`1MiB`, `64GiB`), else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (name, m) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if n >= m && n.is_multiple_of(m) {
                return write!(f, "{}{name}", n / m);
            }
        }
        write!(f, "{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        for (text, want) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("4MiB", 4 << 20),
            ("4 MiB", 4 << 20),
            ("  4mib ", 4 << 20),
            ("4MIB", 4 << 20),
            ("1KiB", 1024),
            ("64GiB", 64 << 30),
            ("2TiB", 2 << 40),
            ("512B", 512),
            ("512 b", 512),
            ("1KB", 1000),
            ("4MB", 4_000_000),
            ("3GB", 3_000_000_000),
            ("1TB", 1_000_000_000_000),
            ("16777215TiB", 16_777_215 << 40),
        ] {
            assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(want)), "{text:?}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_what_to_write() {
        for (text, says) in [
            ("", "is not a size"),
            ("MiB", "is not a size"),
            ("-1", "is not a size"),
            ("4XB", "unknown unit \"XB\""),
            ("4M", "unknown unit \"M\""),
            ("4 k", "unknown unit \"k\""),
            ("4MiBs", "unknown unit"),
            ("4 MiB 2", "unknown unit"),
            ("1.5GiB", "fractions are not accepted"),
            ("1,5GiB", "fractions are not accepted"),
            ("16777216TiB", "too large"),
            ("99999999999999999999", "too large"),
        ] {
            let err = text.parse::<ByteSize>().expect_err(text);
            assert!(err.contains(says), "{text:?}: {err}");
        }
        assert!("4XB".parse::<ByteSize>().unwrap_err().contains("e.g. 4MiB"));
    }

    #[test]
    fn sizes_display_in_the_largest_exact_binary_unit() {
        for (n, want) in [
            (0, "0"),
            (1000, "1000"),
            (1024, "1KiB"),
            (1 << 20, "1MiB"),
            (1536 << 20, "1536MiB"),
            (64 << 30, "64GiB"),
            (1 << 40, "1TiB"),
            (4_000_000, "4000000"),
        ] {
            let shown = ByteSize(n).to_string();
            assert_eq!(shown, want);
            assert_eq!(shown.parse::<ByteSize>(), Ok(ByteSize(n)), "round trip");
        }
    }
}
