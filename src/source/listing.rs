//! Many exports at once: the objects under an S3 prefix (`ListObjectsV2`, page by page), chosen
//! by day and by where an interrupted run stopped.
//!
//! Which objects: export keys (`*.jsonl.gz` / `*.jsonl`) whose day is within `since..=until`
//! (UTC). The day is the `YYYY/MM/DD` of the export key layout; a key without that layout (an
//! export copied elsewhere) is judged by the day of its `LastModified`. Keys come in S3's order
//! (UTF-8 binary), which is what `--resume-after KEY` continues from (S3's `StartAfter`).

use std::fmt;

use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::trigger::{ObjectRef, is_export_key, parse_export_key};

/// A UTC calendar day, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    year: u16,
    month: u8,
    day: u8,
}

impl Day {
    /// Parses `YYYY-MM-DD` or `YYYY/MM/DD` (a real calendar day).
    pub fn parse(s: &str) -> Result<Day, String> {
        let bad = || format!("{s:?} is not a day: write YYYY-MM-DD (UTC), e.g. 2026-11-26");
        let parts: Vec<&str> = s.trim().split(['-', '/']).collect();
        let [y, m, d] = parts[..] else {
            return Err(bad());
        };
        let num = |t: &str, n: usize| {
            (t.len() == n && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u16>().ok())
                .flatten()
        };
        let (Some(year), Some(month), Some(day)) = (num(y, 4), num(m, 2), num(d, 2)) else {
            return Err(bad());
        };
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if day == 0 || day > days {
            return Err(bad());
        }
        Ok(Day {
            year,
            month: month as u8,
            day: day as u8,
        })
    }

    /// The UTC day of a time in seconds since the epoch.
    pub fn of_epoch(secs: i64) -> Day {
        // Howard Hinnant's days-to-civil algorithm.
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Day { year, month, day }
    }

    /// The day an export key names (its `YYYY/MM/DD`), if it follows the export layout.
    pub fn of_key(key: &str) -> Option<Day> {
        let k = parse_export_key(key)?;
        Day::parse(&format!("{}-{}-{}", k.date.0, k.date.1, k.date.2)).ok()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Which listed objects to take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The first day taken (inclusive).
    pub since: Option<Day>,
    /// The last day taken (inclusive).
    pub until: Option<Day>,
    /// Start after this key (S3's `StartAfter`): where an interrupted run stopped.
    pub resume_after: Option<String>,
}

/// Why a listed object was left out (counted in the run's summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftOut {
    /// Not `*.jsonl.gz` / `*.jsonl` (GuardDuty's permission checks, manifests, other files).
    NotAnExport,
    /// Its day is outside `since..=until`.
    OutsideDays,
}

impl Selection {
    /// Whether to take an object: `Ok(())`, or why not.
    pub fn take(&self, key: &str, last_modified_s: Option<i64>) -> Result<(), LeftOut> {
        if !is_export_key(key) {
            return Err(LeftOut::NotAnExport);
        }
        if self.since.is_none() && self.until.is_none() {
            return Ok(());
        }
        let day = Day::of_key(key).or_else(|| last_modified_s.map(Day::of_epoch));
        let inside = day.is_some_and(|d| {
            self.since.is_none_or(|s| d >= s) && self.until.is_none_or(|u| d <= u)
        });
        if inside {
            Ok(())
        } else {
            Err(LeftOut::OutsideDays)
        }
    }
}

/// An object the listing found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The object (its ETag set, so a run can tell one content of a key from another).
    pub object: ObjectRef,
    /// Its size in bytes.
    pub size: u64,
}

/// One page of a listing, after the selection.
#[derive(Debug, Default)]
pub struct Page {
    /// The objects taken, in S3's key order.
    pub taken: Vec<Listed>,
    /// Objects left out because they are not exports.
    pub not_exports: u64,
    /// Objects left out by day.
    pub outside_days: u64,
    /// The last key of the page (taken or not): where to resume after it.
    pub last_key: Option<String>,
}

/// A `ListObjectsV2` that failed: names the prefix and what to do.
#[derive(Debug, thiserror::Error)]
#[error("s3://{bucket}/{prefix}: ListObjectsV2 failed: {detail}")]
pub struct ListError {
    /// The bucket.
    pub bucket: String,
    /// The prefix.
    pub prefix: String,
    /// What S3 said, and what to grant when it refused.
    pub detail: String,
}

/// Lists the objects under `s3://bucket/prefix`, a page (up to 1,000 keys) at a time.
#[derive(Debug)]
pub struct Lister {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    selection: Selection,
    token: Option<String>,
    done: bool,
}

impl Lister {
    /// Starts a listing (nothing is requested until [`Lister::next_page`]).
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: &str,
        prefix: &str,
        selection: Selection,
    ) -> Lister {
        Lister {
            client,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            selection,
            token: None,
            done: false,
        }
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ListError> {
        if self.done {
            return Ok(None);
        }
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix);
        req = match self.token.take() {
            Some(t) => req.continuation_token(t),
            None => req.set_start_after(self.selection.resume_after.clone()),
        };
        let out = req.send().await.map_err(|e| ListError {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            detail: match e.code() {
                Some(c) if c.contains("AccessDenied") => {
                    format!("{c}: the caller needs s3:ListBucket on the bucket (for this prefix)")
                }
                Some("NoSuchBucket") => "NoSuchBucket: check the bucket name".to_owned(),
                _ => format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)),
            },
        })?;
        let mut page = Page::default();
        for o in out.contents() {
            let Some(key) = o.key() else { continue };
            page.last_key = Some(key.to_owned());
            match self
                .selection
                .take(key, o.last_modified().map(|t| t.secs()))
            {
                Ok(()) => page.taken.push(Listed {
                    object: ObjectRef {
                        bucket: self.bucket.clone(),
                        key: key.to_owned(),
                        version_id: None,
                        etag: o.e_tag().map(|t| t.trim_matches('"').to_owned()),
                    },
                    size: o.size().unwrap_or_default().max(0) as u64,
                }),
                Err(LeftOut::NotAnExport) => page.not_exports += 1,
                Err(LeftOut::OutsideDays) => page.outside_days += 1,
            }
        }
        match out.next_continuation_token().filter(|t| !t.is_empty()) {
            Some(t) if out.is_truncated() == Some(true) => self.token = Some(t.to_owned()),
            _ => self.done = true,
        }
        Ok(Some(page))
    }
}

/// Characters a manifest key keeps as they are: RFC 3986's unreserved ones and `/`.
const MANIFEST_KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// One line of an S3 Batch Operations CSV manifest (`S3BatchOperations_CSV_20180820`, fields
/// `Bucket,Key`): the key URL-encoded, as Batch Operations requires (and as the function decodes
/// task keys: `+` and `%` are escaped too).
pub fn manifest_line(object: &ObjectRef) -> String {
    format!(
        "{},{}",
        object.bucket,
        percent_encoding::utf8_percent_encode(&object.key, MANIFEST_KEEP)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_round_trip_through_the_task_decoding() {
        for key in [
            KEY,
            "My Exports/Café/AWSLogs/x.jsonl.gz",
            "a+b/100%/x,y.jsonl.gz",
            "emoji/\u{1f512}.jsonl.gz",
        ] {
            let o = ObjectRef {
                bucket: "b".into(),
                key: key.into(),
                version_id: None,
                etag: None,
            };
            let line = manifest_line(&o);
            let (bucket, encoded) = line.split_once(',').unwrap();
            assert_eq!(bucket, "b");
            assert!(!encoded.contains([',', ' ', '+', '\n']), "{line}");
            assert_eq!(
                crate::trigger::decode_s3_key(encoded).unwrap(),
                key,
                "{line}"
            );
        }
        assert_eq!(
            manifest_line(&ObjectRef {
                bucket: "b".into(),
                key: "AWSLogs/a b.jsonl.gz".into(),
                version_id: None,
                etag: None,
            }),
            "b,AWSLogs/a%20b.jsonl.gz"
        );
    }

    const KEY: &str = "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/x.jsonl.gz";

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    #[test]
    fn days() {
        assert_eq!(day("2026-11-26").to_string(), "2026-11-26");
        assert_eq!(day("2026/11/26"), day("2026-11-26"));
        assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2026-11",
            "26-11-2026",
            "2026-13-01",
            "2026-02-29",
            "2100-02-29",
            "2026-04-31",
            "2026-1-01",
            "x",
            "",
        ] {
            let e = Day::parse(bad).unwrap_err();
            assert!(e.contains("YYYY-MM-DD"), "{bad}: {e}");
        }
        assert!(day("2026-01-31") < day("2026-02-01"));
        assert!(day("2025-12-31") < day("2026-01-01"));
        for (secs, want) in [
            (0, "1970-01-01"),
            (86_399, "1970-01-01"),
            (86_400, "1970-01-02"),
            (951_782_400, "2000-02-29"),
            (1_795_737_599, "2026-11-26"),
            (1_795_737_600, "2026-11-27"),
            (-1, "1969-12-31"),
        ] {
            assert_eq!(Day::of_epoch(secs).to_string(), want, "{secs}");
        }
        assert_eq!(Day::of_key(KEY), Some(day("2026-11-26")));
        assert_eq!(
            Day::of_key("AWSLogs/GuardDuty/111122223333/eu-west-1/2025/01/02/y.jsonl.gz"),
            Some(day("2025-01-02"))
        );
        assert_eq!(Day::of_key("copies/x.jsonl.gz"), None);
    }

    #[test]
    fn selection() {
        let all = Selection::default();
        assert_eq!(all.take(KEY, None), Ok(()));
        assert_eq!(
            all.take("AWSLogs/x/GuardDuty/permission-check", None),
            Err(LeftOut::NotAnExport)
        );
        let nov = Selection {
            since: Some(day("2026-11-01")),
            until: Some(day("2026-11-26")),
            resume_after: None,
        };
        assert_eq!(nov.take(KEY, None), Ok(()));
        // The key's day decides, not LastModified (a copy made later keeps its day).
        assert_eq!(nov.take(KEY, Some(1_900_000_000)), Ok(()));
        let dec = KEY.replace("2026/11/26", "2026/12/01");
        assert_eq!(
            nov.take(&dec, Some(1_795_737_000)),
            Err(LeftOut::OutsideDays)
        );
        let oct = KEY.replace("2026/11/26", "2026/10/31");
        assert_eq!(nov.take(&oct, None), Err(LeftOut::OutsideDays));
        // Without the layout, LastModified's day; without either, left out.
        assert_eq!(nov.take("copies/a.jsonl.gz", Some(1_795_737_000)), Ok(()));
        assert_eq!(
            nov.take("copies/a.jsonl.gz", Some(1_900_000_000)),
            Err(LeftOut::OutsideDays)
        );
        assert_eq!(
            nov.take("copies/a.jsonl.gz", None),
            Err(LeftOut::OutsideDays)
        );
        let since = Selection {
            since: Some(day("2026-11-26")),
            ..Selection::default()
        };
        assert_eq!(since.take(KEY, None), Ok(()));
        assert_eq!(since.take(&oct, None), Err(LeftOut::OutsideDays));
    }
}
