//! `backfill s3://BUCKET/PREFIX/`: the S3 Batch Operations manifest of the exports under a prefix
//! (and, with `--create-job`, the job that runs the deployed function on each of them).
//!
//! The manifest is written line by line as the listing goes (a page of keys in memory at a
//! time): to a local file, or to a temporary file uploaded to S3 at the end.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::args::{BackfillArgs, Input};
use crate::cli::many::human_bytes;
use crate::cli::output::terminal_safe;
use crate::cli::report::error;
use crate::source::listing::{Lister, manifest_line};

/// Where the manifest goes.
enum Target {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

/// Runs `backfill`.
pub async fn backfill(args: BackfillArgs) -> ExitCode {
    let (bucket, prefix) = match Input::parse(&args.prefix).map(Input::recursive) {
        Ok(Input::Prefix { bucket, prefix }) => (bucket, prefix),
        _ => {
            error(format_args!(
                "{}: name the exports as s3://BUCKET/PREFIX/",
                terminal_safe(&args.prefix)
            ));
            return ExitCode::from(2);
        }
    };
    let target = match args.manifest.strip_prefix("s3://") {
        Some(rest) => match rest.split_once('/') {
            Some((b, k)) if !b.is_empty() && !k.is_empty() && !k.ends_with('/') => Target::S3 {
                bucket: b.to_owned(),
                key: k.to_owned(),
            },
            _ => {
                error(format_args!(
                    "--manifest {}: write s3://BUCKET/KEY (e.g. s3://my-replays/guardduty-alerts/backfill/manifest.csv) or a local path",
                    terminal_safe(&args.manifest)
                ));
                return ExitCode::from(2);
            }
        },
        None => Target::File(PathBuf::from(&args.manifest)),
    };
    let job = match (&args.create_job, &target) {
        (true, Target::File(_)) => {
            error(
                "--create-job needs the manifest in S3: --manifest s3://BUCKET/KEY (Batch Operations reads it from there)",
            );
            return ExitCode::from(2);
        }
        (true, _) => match JobSettings::of(&args) {
            Ok(j) => Some(j),
            Err(e) => {
                error(e);
                return ExitCode::from(2);
            }
        },
        (false, _) => None,
    };
    let sdk = match super::aws_config(&args.profile, &args.region).await {
        Ok(sdk) => sdk,
        Err(e) => {
            error(e);
            return ExitCode::from(2);
        }
    };
    let s3 = crate::app::aws::s3_client(&sdk);
    // The manifest file: the target itself, or a temporary file beside nothing else.
    let path = match &target {
        Target::File(p) => p.clone(),
        Target::S3 { .. } => std::env::temp_dir().join(format!(
            "guardduty-alerts-manifest-{}-{}.csv",
            std::process::id(),
            fastrand::u64(..)
        )),
    };
    let file = match std::fs::File::create(&path) {
        Ok(f) => f,
        Err(e) => {
            error(format_args!(
                "{}: cannot create the manifest ({e})",
                path.display()
            ));
            return ExitCode::from(2);
        }
    };
    let mut out = BufWriter::new(file);
    let selection = args.choose.selection();
    let mut lister = Lister::new(s3.clone(), &bucket, &prefix, selection);
    let (mut objects, mut bytes, mut left_out) = (0u64, 0u64, 0u64);
    let mut written = Ok(());
    while written.is_ok() {
        match lister.next_page().await {
            Ok(Some(page)) => {
                left_out += page.not_exports + page.outside_days;
                for listed in &page.taken {
                    objects += 1;
                    bytes += listed.size;
                    written = writeln!(out, "{}", manifest_line(&listed.object));
                    if written.is_err() {
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                error(terminal_safe(&e.to_string()));
                cleanup(&target, &path);
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = written.and_then(|()| out.flush()) {
        error(format_args!(
            "{}: writing the manifest: {e}",
            path.display()
        ));
        cleanup(&target, &path);
        return ExitCode::FAILURE;
    }
    drop(out);
    eprintln!(
        "{objects} export object(s), {} in all, under s3://{bucket}/{prefix} ({left_out} other object(s) left out)",
        human_bytes(bytes)
    );
    let (manifest_arn, etag) = match &target {
        Target::File(p) => {
            eprintln!("manifest written to {}", p.display());
            return ExitCode::SUCCESS;
        }
        Target::S3 { bucket: b, key } => {
            let body = match aws_smithy_types::byte_stream::ByteStream::from_path(&path).await {
                Ok(b) => b,
                Err(e) => {
                    error(format_args!("{}: {e}", path.display()));
                    cleanup(&target, &path);
                    return ExitCode::FAILURE;
                }
            };
            let put = s3
                .put_object()
                .bucket(b)
                .key(key)
                .content_type("text/csv")
                .body(body)
                .send()
                .await;
            cleanup(&target, &path);
            match put {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().trim_matches('"').to_owned();
                    eprintln!("manifest written to s3://{b}/{key} (ETag {etag})");
                    let partition = job.as_ref().map_or("aws", |j| j.partition.as_str());
                    (format!("arn:{partition}:s3:::{b}/{key}"), etag)
                }
                Err(e) => {
                    error(format_args!(
                        "s3://{b}/{key}: PutObject of the manifest failed: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    ));
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let Some(job) = job else {
        return ExitCode::SUCCESS;
    };
    if objects == 0 {
        eprintln!("no export matched: no job created");
        return ExitCode::SUCCESS;
    }
    match create_job(&sdk, &job, &manifest_arn, &etag, objects).await {
        Ok(id) => {
            println!("{id}");
            eprintln!(
                "created S3 Batch Operations job {id} ({objects} task(s), realert {}); watch it with:\n  aws s3control describe-job --account-id {} --region {} --job-id {id} --query 'Job.[Status,ProgressSummary]'",
                job.realert,
                job.account_id,
                sdk.region()
                    .map_or("REGION".to_owned(), ToString::to_string)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            error(e);
            ExitCode::FAILURE
        }
    }
}

fn cleanup(target: &Target, path: &std::path::Path) {
    if matches!(target, Target::S3 { .. }) {
        let _ = std::fs::remove_file(path);
    }
}

/// The job's settings, checked before anything is listed.
struct JobSettings {
    function_arn: String,
    role_arn: String,
    account_id: String,
    partition: String,
    report_bucket_arn: String,
    report_prefix: String,
    realert: bool,
}

impl JobSettings {
    fn of(args: &BackfillArgs) -> Result<JobSettings, String> {
        let (Some(function_arn), Some(role_arn), Some(report)) =
            (&args.function_arn, &args.role_arn, &args.report)
        else {
            return Err("--create-job needs --function-arn (the stack's function), --role-arn (its output BatchOperationsRoleArn) and --report s3://BUCKET/PREFIX (where the completion report goes)".into());
        };
        // arn:PARTITION:iam::ACCOUNT:role/NAME
        let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
        let (partition, account_id) = match parts[..] {
            ["arn", p, "iam", "", a, r]
                if crate::common::names::is_account_id(a) && r.starts_with("role/") =>
            {
                (p, a)
            }
            _ => {
                return Err(format!(
                    "--role-arn {}: not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                    terminal_safe(role_arn)
                ));
            }
        };
        if !function_arn.starts_with(&format!("arn:{partition}:lambda:")) {
            return Err(format!(
                "--function-arn {}: not a Lambda function ARN in {partition} (arn:{partition}:lambda:REGION:ACCOUNT:function:NAME)",
                terminal_safe(function_arn)
            ));
        }
        let Some((bucket, prefix)) = report
            .strip_prefix("s3://")
            .and_then(|r| r.split_once('/').or(Some((r, ""))))
            .filter(|(b, _)| !b.is_empty())
        else {
            return Err(format!(
                "--report {}: write s3://BUCKET/PREFIX",
                terminal_safe(report)
            ));
        };
        Ok(JobSettings {
            function_arn: function_arn.clone(),
            role_arn: role_arn.clone(),
            account_id: account_id.to_owned(),
            partition: partition.to_owned(),
            report_bucket_arn: format!("arn:{partition}:s3:::{bucket}"),
            report_prefix: prefix.trim_end_matches('/').to_owned(),
            realert: args.realert,
        })
    }
}

/// `s3control:CreateJob`: a LambdaInvoke job (invocation schema 2.0, the `realert` user
/// argument) over the manifest, with a completion report of every task. Returns the job id.
async fn create_job(
    sdk: &aws_config::SdkConfig,
    job: &JobSettings,
    manifest_arn: &str,
    etag: &str,
    tasks: u64,
) -> Result<String, String> {
    use aws_sdk_s3control::types::{
        JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestLocation, JobManifestSpec,
        JobOperation, JobReport, JobReportFormat, JobReportScope, LambdaInvokeOperation,
    };
    let built = |e: aws_smithy_types::error::operation::BuildError| e.to_string();
    let manifest = JobManifest::builder()
        .spec(
            JobManifestSpec::builder()
                .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                .fields(JobManifestFieldName::Bucket)
                .fields(JobManifestFieldName::Key)
                .build()
                .map_err(built)?,
        )
        .location(
            JobManifestLocation::builder()
                .object_arn(manifest_arn)
                .e_tag(etag)
                .build()
                .map_err(built)?,
        )
        .build();
    let operation = JobOperation::builder()
        .lambda_invoke(
            LambdaInvokeOperation::builder()
                .function_arn(&job.function_arn)
                .invocation_schema_version("2.0")
                .user_arguments("realert", job.realert.to_string())
                .build(),
        )
        .build();
    let report = JobReport::builder()
        .bucket(&job.report_bucket_arn)
        .prefix(&job.report_prefix)
        .format(JobReportFormat::ReportCsv20180820)
        .enabled(true)
        .report_scope(JobReportScope::AllTasks)
        .build();
    let client = aws_sdk_s3control::Client::new(sdk);
    client
        .create_job()
        .account_id(&job.account_id)
        .confirmation_required(false)
        .priority(10)
        .role_arn(&job.role_arn)
        .client_request_token(format!("guardduty-alerts-{:016x}", fastrand::u64(..)))
        .description(format!("guardduty-alerts backfill: {tasks} export(s)"))
        .operation(operation)
        .manifest(manifest)
        .report(report)
        .send()
        .await
        .map_err(|e| {
            format!(
                "s3control CreateJob failed: {} (the caller needs s3:CreateJob and iam:PassRole on {})",
                aws_sdk_s3control::error::DisplayErrorContext(&e),
                job.role_arn
            )
        })?
        .job_id
        .ok_or_else(|| "CreateJob answered without a JobId".to_owned())
}
