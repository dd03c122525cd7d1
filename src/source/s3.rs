//! The S3 source: `GetObject` streamed into the export reader (never buffered whole). S3 decrypts
//! SSE-KMS objects for a caller that has `kms:Decrypt` on the key.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use tracing::debug;

use crate::source::{ByteStream, OpenError, Opener, SourceRef, open_local};
use crate::trigger::ObjectRef;

/// Opens `s3://` sources with an S3 client, and files and stdin locally.
#[derive(Debug, Clone)]
pub struct S3Opener {
    client: aws_sdk_s3::Client,
}

impl S3Opener {
    /// Uses `client` for S3 sources.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Opener { client }
    }

    /// Starts a streamed `GetObject`.
    pub async fn open_object(&self, obj: &ObjectRef) -> Result<ByteStream, OpenError> {
        let mut req = self.client.get_object().bucket(&obj.bucket).key(&obj.key);
        if let Some(v) = &obj.version_id {
            req = req.version_id(v);
        }
        match req.send().await {
            Ok(out) => {
                debug!(object = %obj, size = out.content_length(), sse = ?out.server_side_encryption(), "GetObject streaming");
                Ok(Box::pin(out.body.into_async_read()))
            }
            Err(e) => Err(map_get_error(obj, e)),
        }
    }
}

impl Opener for S3Opener {
    async fn open(&self, src: &SourceRef) -> Result<ByteStream, OpenError> {
        match src {
            SourceRef::S3(obj) => self.open_object(obj).await,
            other => open_local(other).await,
        }
    }
}

/// Turns a `GetObject` failure into an error that says what to do.
fn map_get_error(obj: &ObjectRef, e: SdkError<GetObjectError>) -> OpenError {
    let source_name = obj.to_string();
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().map(str::to_owned);
    match (&e, code.as_deref(), status) {
        (SdkError::ServiceError(se), _, _) if se.err().is_no_such_key() => OpenError::NotFound {
            source_name,
            detail: "NoSuchKey: the object does not exist (deleted after the event was sent, or never there)".into(),
        },
        (_, Some("NoSuchKey" | "NoSuchVersion"), _) | (_, _, Some(404)) => OpenError::NotFound {
            source_name,
            detail: format!("{}: the object or version no longer exists", code.as_deref().unwrap_or("404")),
        },
        (_, Some("AccessDenied" | "AccessDeniedException" | "KMS.AccessDeniedException"), _)
        | (_, _, Some(403)) => OpenError::Denied {
            source_name,
            hint: "the function's role needs s3:GetObject on the export prefix and kms:Decrypt on the \
                   KMS key the export is encrypted with (SSE-KMS), and the key policy must allow the role"
                .into(),
        },
        (_, Some("NoSuchBucket"), _) => OpenError::Other {
            source_name,
            detail: "NoSuchBucket: check the bucket name in the event".into(),
            retryable: false,
        },
        _ => OpenError::Other {
            source_name,
            detail: format!(
                "GetObject failed: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            ),
            retryable: true,
        },
    }
}
