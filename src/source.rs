//! Where exports come from: a local file, standard input, or an S3 object. A source opens to an
//! async byte stream; what the bytes are (gzip or not) is decided by [`crate::export`].

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::AsyncRead;

/// An open export: an async byte stream.
pub type ByteStream = Pin<Box<dyn AsyncRead + Send>>;

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

/// One source named on the command line or by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// `-`: standard input.
    Stdin,
    /// A local path.
    File(PathBuf),
    /// `s3://bucket/key`.
    S3(ObjectRef),
}

impl SourceRef {
    /// Parses a command-line argument: `-`, `s3://bucket/key` (the key taken literally, spaces
    /// and all), or a path.
    pub fn parse(arg: &str) -> Result<SourceRef, String> {
        if arg == "-" {
            return Ok(SourceRef::Stdin);
        }
        if let Some(rest) = arg.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(SourceRef::S3(ObjectRef {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                        version_id: None,
                        etag: None,
                    }))
                }
                _ => Err(format!(
                    "{arg:?} is not an S3 object: write s3://BUCKET/KEY (the key as stored, not URL-encoded)"
                )),
            };
        }
        if arg.is_empty() {
            return Err(
                "an empty source name: give a file, - for stdin, or s3://BUCKET/KEY".into(),
            );
        }
        Ok(SourceRef::File(PathBuf::from(arg)))
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceRef::Stdin => f.write_str("stdin"),
            SourceRef::File(p) => write!(f, "{}", p.display()),
            SourceRef::S3(o) => o.fmt(f),
        }
    }
}

/// Why a source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// It does not exist (any more).
    #[error("{source_name}: not found ({detail})")]
    NotFound {
        /// The source.
        source_name: String,
        /// What the system said.
        detail: String,
    },
    /// Permission denied, with what to grant.
    #[error("{source_name}: access denied: {hint}")]
    Denied {
        /// The source.
        source_name: String,
        /// What to do about it.
        hint: String,
    },
    /// This build or configuration cannot read that kind of source.
    #[error("{source_name}: {detail}")]
    Unsupported {
        /// The source.
        source_name: String,
        /// Why, and what to do.
        detail: String,
    },
    /// Any other failure.
    #[error("{source_name}: {detail}")]
    Other {
        /// The source.
        source_name: String,
        /// What failed.
        detail: String,
        /// Whether trying again may help.
        retryable: bool,
    },
}

/// Opens sources. The CLI and the Lambda use the same trait; an S3-capable opener lives in
/// the Lambda build.
pub trait Opener: Sync {
    /// Opens one source as a byte stream.
    fn open(&self, src: &SourceRef) -> impl Future<Output = Result<ByteStream, OpenError>> + Send;
}

/// Opens local files and standard input. S3 sources are refused with a clear message.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalOpener;

impl Opener for LocalOpener {
    async fn open(&self, src: &SourceRef) -> Result<ByteStream, OpenError> {
        open_local(src).await
    }
}

/// Opens a file or standard input.
pub async fn open_local(src: &SourceRef) -> Result<ByteStream, OpenError> {
    match src {
        SourceRef::Stdin => Ok(Box::pin(tokio::io::stdin())),
        SourceRef::File(path) => match tokio::fs::File::open(path).await {
            Ok(f) => {
                if f.metadata().await.is_ok_and(|m| m.is_dir()) {
                    return Err(OpenError::Other {
                        source_name: src.to_string(),
                        detail: "is a directory: name the export files in it".into(),
                        retryable: false,
                    });
                }
                Ok(Box::pin(f))
            }
            Err(e) => Err(local_error(src, e)),
        },
        SourceRef::S3(_) => Err(OpenError::Unsupported {
            source_name: src.to_string(),
            detail: "S3 sources are not available in this opener".into(),
        }),
    }
}

fn local_error(src: &SourceRef, e: io::Error) -> OpenError {
    let source_name = src.to_string();
    match e.kind() {
        io::ErrorKind::NotFound => OpenError::NotFound {
            source_name,
            detail: "check the path".into(),
        },
        io::ErrorKind::PermissionDenied => OpenError::Denied {
            source_name,
            hint: "the file is not readable by this user".into(),
        },
        _ => OpenError::Other {
            source_name,
            detail: e.to_string(),
            retryable: false,
        },
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
        [a, "GuardDuty", r, y, m, d, file, ..] if is_account(a) && !file.is_empty() => {
            (*a, *r, (*y, *m, *d))
        }
        ["GuardDuty", a, r, y, m, d, file, ..] if is_account(a) && !file.is_empty() => {
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

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
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
    fn source_args() {
        assert_eq!(SourceRef::parse("-"), Ok(SourceRef::Stdin));
        assert_eq!(
            SourceRef::parse("exports/a.jsonl.gz"),
            Ok(SourceRef::File("exports/a.jsonl.gz".into()))
        );
        assert_eq!(
            SourceRef::parse("s3://b/My Export/AWSLogs/x.jsonl.gz"),
            Ok(SourceRef::S3(ObjectRef {
                bucket: "b".into(),
                key: "My Export/AWSLogs/x.jsonl.gz".into(),
                version_id: None,
                etag: None,
            }))
        );
        for bad in ["s3://", "s3://bucket", "s3://bucket/", "s3:///key", ""] {
            assert!(SourceRef::parse(bad).is_err(), "{bad}");
        }
    }

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
