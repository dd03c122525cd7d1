//! Where exports come from: a local file, standard input, or an S3 object ([`s3::S3Opener`]).
//! A source opens to an async byte stream behind the [`Opener`] trait; what the bytes are (gzip
//! or not) is decided by the next stage, `export`.

pub mod listing;
pub mod s3;

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::trigger::ObjectRef;

/// An open export: an async byte stream.
pub type ByteStream = Pin<Box<dyn AsyncRead + Send>>;

/// One source named on the command line or by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// `-`: standard input.
    Stdin,
    /// A local path.
    File(PathBuf),
    /// `s3://bucket/key`.
    S3(ObjectRef),
    /// Findings that came inside an event (an EventBridge `GuardDuty Finding`), as JSON Lines,
    /// with the name logs and records give them.
    Inline {
        /// How it is named: `GuardDuty Finding event ID (finding ID)`.
        name: String,
        /// The JSON Lines.
        body: bytes::Bytes,
    },
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
            SourceRef::Inline { name, .. } => f.write_str(name),
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
        SourceRef::File(path) => match std::fs::File::open(path) {
            Ok(f) => {
                if f.metadata().is_ok_and(|m| m.is_dir()) {
                    return Err(OpenError::Other {
                        source_name: src.to_string(),
                        detail: "is a directory: name the export files in it".into(),
                        retryable: false,
                    });
                }
                Ok(Box::pin(LocalFile(f)))
            }
            Err(e) => Err(local_error(src, e)),
        },
        SourceRef::Inline { body, .. } => Ok(Box::pin(io::Cursor::new(body.clone()))),
        SourceRef::S3(_) => Err(OpenError::Unsupported {
            source_name: src.to_string(),
            detail: "S3 sources are not available in this opener".into(),
        }),
    }
}

/// A local file, read with plain blocking reads by the task that decodes it.
///
/// `tokio::fs::File` hands every read to the blocking pool and copies the result once more; the
/// decoder waits for each of those round trips (one per 128 KiB of compressed input). A read
/// from the page cache takes microseconds, so it is done in place: a slow disk stalls only the
/// decoding task's worker, and the runtime has others.
struct LocalFile(std::fs::File);

impl AsyncRead for LocalFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let file = &mut self.get_mut().0;
        let dst = buf.initialize_unfilled();
        loop {
            match io::Read::read(file, dst) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
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
}
