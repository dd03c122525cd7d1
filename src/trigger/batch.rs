//! S3 Batch Operations `LambdaInvoke` events (invocation schema 1.0 and 2.0): each task names one
//! object of the job's manifest; the function answers with a result per task.
//!
//! Schema 1.0 names the bucket by ARN (`s3BucketArn`), 2.0 by name (`s3Bucket`) and adds the
//! job's `userArguments`. Task keys are URL-encoded as in the manifest (AWS's own examples decode
//! them with `unquote_plus`), so they are decoded like S3 notification keys.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ObjectRef, Unit, decode_s3_key, str_at};

/// The job an invocation belongs to, echoed in the response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchJob {
    /// `invocationSchemaVersion` (`1.0` or `2.0`), answered in kind.
    pub schema_version: String,
    /// `invocationId`, answered in kind.
    pub invocation_id: String,
    /// `job.id`.
    pub job_id: String,
    /// `job.userArguments` (schema 2.0): `realert = "true"` alerts findings again even when the
    /// dedup table says they were alerted.
    pub user_arguments: BTreeMap<String, String>,
}

/// Whether `v` is a Batch Operations invocation.
pub(super) fn is_batch_event(v: &Value) -> bool {
    v.get("invocationSchemaVersion")
        .is_some_and(Value::is_string)
        && v.get("tasks").is_some_and(Value::is_array)
}

/// Reads the job and one unit per task (its `task_id` set).
pub(super) fn batch_event(v: &Value) -> (BatchJob, Vec<Unit>) {
    let user_arguments = v
        .pointer("/job/userArguments")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let job = BatchJob {
        schema_version: str_at(v, "/invocationSchemaVersion")
            .unwrap_or_default()
            .to_owned(),
        invocation_id: str_at(v, "/invocationId").unwrap_or_default().to_owned(),
        job_id: str_at(v, "/job/id").unwrap_or_default().to_owned(),
        user_arguments,
    };
    let tasks = v
        .get("tasks")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let units = tasks.iter().enumerate().map(task).collect();
    (job, units)
}

fn task((i, t): (usize, &Value)) -> Unit {
    let mut unit = Unit {
        task_id: Some(
            str_at(t, "/taskId")
                .map_or_else(|| format!("(task {} has no taskId)", i + 1), str::to_owned),
        ),
        ..Unit::default()
    };
    let bucket = str_at(t, "/s3Bucket").or_else(|| {
        str_at(t, "/s3BucketArn").and_then(|arn| {
            // arn:PARTITION:s3:::NAME
            let (prefix, name) = arn.rsplit_once(":::")?;
            prefix.ends_with(":s3").then_some(name)
        })
    });
    let (Some(bucket), Some(raw_key)) = (bucket.filter(|b| !b.is_empty()), str_at(t, "/s3Key"))
    else {
        unit.fail("the task has no s3Bucket (schema 2.0) or s3BucketArn (schema 1.0), or no s3Key");
        return unit;
    };
    match decode_s3_key(raw_key) {
        Ok(key) => unit.add_created(ObjectRef {
            bucket: bucket.to_owned(),
            key,
            version_id: str_at(t, "/s3VersionId")
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            etag: None,
        }),
        Err(e) => unit.fail(e.to_string()),
    }
    unit
}
