//! What an event names: S3 objects, and what their keys say (the export key layouts, and
//! which keys are exports at all).

use std::fmt;

use crate::common::names::is_account_id;

/// An S3 object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded (never URL-encoded).
    pub key: String,
    /// A specific version, when the event names one.
    pub version_id: Option<String>,
    /// The object's ETag, when the event gives it (it tells one content of a key from another,
    /// for object idempotency).
    pub etag: Option<String>,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)?;
        if let Some(v) = &self.version_id {
            write!(f, " (version {v})")?;
        }
        Ok(())
    }
}

/// What an export's object key says. Only informative: the account and region of each finding
/// come from the finding itself (an administrator account's export carries its members').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportKey<'a> {
    /// The account that owns the export (the 12 digits in the key).
    pub account_id: &'a str,
    /// The region of the detector.
    pub region: &'a str,
    /// `YYYY/MM/DD`.
    pub date: (&'a str, &'a str, &'a str),
}

/// Recognises both key layouts of GuardDuty exports, after any prefix:
/// `AWSLogs/{account}/GuardDuty/{region}/YYYY/MM/DD/{uuid}.jsonl.gz` and the older
/// `AWSLogs/GuardDuty/{account}/{region}/YYYY/MM/DD/{uuid}.jsonl.gz`.
pub fn parse_export_key(key: &str) -> Option<ExportKey<'_>> {
    let parts: Vec<&str> = key.split('/').collect();
    let start = parts.iter().rposition(|p| *p == "AWSLogs")?;
    let rest = &parts[start + 1..];
    let (account, region, date) = match rest {
        [a, "GuardDuty", r, y, m, d, file, ..] if is_account_id(a) && !file.is_empty() => {
            (*a, *r, (*y, *m, *d))
        }
        ["GuardDuty", a, r, y, m, d, file, ..] if is_account_id(a) && !file.is_empty() => {
            (*a, *r, (*y, *m, *d))
        }
        _ => return None,
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if region.is_empty() || !digits(date.0, 4) || !digits(date.1, 2) || !digits(date.2, 2) {
        return None;
    }
    Some(ExportKey {
        account_id: account,
        region,
        date,
    })
}

/// Whether a key names a findings export (`*.jsonl.gz` or `*.jsonl`). Other keys (GuardDuty's
/// own permission checks, folders, unrelated objects) are skipped by the Lambda.
pub fn is_export_key(key: &str) -> bool {
    key.ends_with(".jsonl.gz") || key.ends_with(".jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_keys() {
        let k = |a, r, y, m, d| ExportKey {
            account_id: a,
            region: r,
            date: (y, m, d),
        };
        let cases = [
            (
                "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/0b1c2d3e-aaaa-4bbb-8ccc-123456789abc.jsonl.gz",
                Some(k("111122223333", "us-east-1", "2026", "11", "26")),
            ),
            (
                "my prefix/AWSLogs/111122223333/GuardDuty/eu-west-1/2026/01/02/x.jsonl.gz",
                Some(k("111122223333", "eu-west-1", "2026", "01", "02")),
            ),
            (
                "AWSLogs/GuardDuty/444455556666/ap-south-1/2019/05/07/x.jsonl.gz",
                Some(k("444455556666", "ap-south-1", "2019", "05", "07")),
            ),
            ("AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/", None),
            (
                "AWSLogs/1111/GuardDuty/us-east-1/2026/11/26/x.jsonl.gz",
                None,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/26/x.json.gz",
                None,
            ),
            (
                "AWSLogs/111122223333/GuardDuty/us-east-1/26/11/26/x.jsonl.gz",
                None,
            ),
            ("x.jsonl.gz", None),
        ];
        for (key, want) in cases {
            assert_eq!(parse_export_key(key), want, "{key}");
        }
    }

    #[test]
    fn export_key_suffixes() {
        for (key, want) in [
            ("a/b.jsonl.gz", true),
            ("a/b.jsonl", true),
            ("a/b.json.gz", false),
            ("AWSLogs/111122223333/GuardDuty/", false),
            ("a/b.jsonl.gz.tmp", false),
        ] {
            assert_eq!(is_export_key(key), want, "{key}");
        }
    }
}
