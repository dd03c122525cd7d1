//! Shared helpers for integration tests that talk to real local stand-ins, never mocks:
//!
//! - [`Moto`]: a `moto_server` of its own per test (S3 with SSE-KMS, KMS, SNS, SQS), plus
//!   [`sdk_config`] / [`s3_client`] for SDK clients aimed at it and small fixture helpers
//!   ([`create_kms_key`], [`create_export_bucket`], [`put_export`], [`create_topic`],
//!   [`create_queue`], [`subscribe_queue`], [`drain_queue`], [`gzip`]).
//! - [`Emulator`]: a Lambda binary of this package run through cargo-lambda's runtime emulator
//!   (`cargo lambda watch`), invoked the way `cargo lambda invoke` does it.
//!
//! Tools are looked up in `$GUARDDUTY_ALERTS_VENV/bin`, then `<repo>/.venv/bin`, then `PATH`
//! (`tests/run` installs them into `.venv`). A missing tool fails the test with a message that says
//! how to install it: nothing is skipped.
//!
//! Child processes run in their own process group, which is killed when the handle drops. Their
//! output goes to a file under `target/tmp/stand-ins/`, kept when the test panics, removed
//! otherwise.
//!
//! Use from a test crate with `mod support;` (and `use support::*;`).

// Each test crate uses a different subset of the helpers.
#![allow(dead_code)]
pub mod http;
pub mod proxy;
pub mod runtime_api;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{
    AsyncSleep, Credentials, SharedAsyncSleep, SharedCredentialsProvider, Sleep,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use aws_sdk_sns::types::PublishBatchRequestEntry;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde_json::Value;

/// The repository root (the package's manifest directory).
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// The region every client and fixture uses.
pub const REGION: &str = "us-east-1";
/// moto accepts any credentials; these are what the SDK signs with.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

// ---------------------------------------------------------------------------------------------
// Tools, ports, logs, processes
// ---------------------------------------------------------------------------------------------

/// Finds an executable in `$GUARDDUTY_ALERTS_VENV/bin`, then `<repo>/.venv/bin`, then `PATH`;
/// panics with `how_to_install` when none has it.
pub fn find_tool(name: &str, how_to_install: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("GUARDDUTY_ALERTS_VENV").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(venv).join("bin"));
    }
    dirs.push(Path::new(REPO).join(".venv/bin"));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    for dir in &dirs {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return candidate;
        }
    }
    panic!(
        "{name} not found (looked in $GUARDDUTY_ALERTS_VENV/bin, {REPO}/.venv/bin and PATH): \
         {how_to_install}"
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn moto_server_path() -> PathBuf {
    find_tool(
        "moto_server",
        "run tests/run, which installs it into .venv, or `pip install 'moto[server]'` \
         (the version pinned in tests/requirements.txt)",
    )
}

fn cargo_lambda_path() -> PathBuf {
    find_tool(
        "cargo-lambda",
        "run tests/run, which installs it into .venv, or `pip install --no-deps cargo-lambda` \
         (the version pinned in tests/requirements.txt)",
    )
}

/// Ports handed out by this process, never handed out twice.
static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port that was free a moment ago: bound on 127.0.0.1:0 and released. Another
/// process may still take it before our server binds it; callers retry on a new port then.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        let mut ports = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if ports.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// A fresh file path under `target/tmp/stand-ins/` (created), unique within the test run.
fn scratch_path(stem: &str, ext: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stand-ins");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{stem}-{}-{n}.{ext}", std::process::id()))
}

/// The last `max` bytes of a file, as text (lossy), prefixed with `…` when cut.
fn tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no output: {} does not exist)", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    let _ = file.seek(SeekFrom::Start(start));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    if start > 0 {
        format!("…{text}")
    } else {
        text.into_owned()
    }
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A child process in its own process group, with stdout and stderr in one log file. Dropping it
/// sends SIGTERM to the whole group (SIGKILL after `grace`) and reaps the child; the log is removed
/// unless the thread is panicking (a failing test keeps it for inspection).
struct Group {
    child: Mutex<Child>,
    pid: i32,
    log: PathBuf,
    grace: Duration,
    extra_files: Vec<PathBuf>,
}

impl Group {
    fn spawn(mut cmd: Command, log: PathBuf, grace: Duration) -> std::io::Result<Group> {
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        Ok(Group {
            child: Mutex::new(child),
            pid,
            log,
            grace,
            extra_files: Vec::new(),
        })
    }

    /// `Some(status)` once the child (the group leader) has exited.
    fn exited(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().ok().flatten()
    }

    fn tail(&self) -> String {
        tail(&self.log, 6000)
    }

    fn kill_group(&mut self) {
        let pgid = self.pid;
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        // SAFETY: plain syscalls on a process group this handle created (process_group(0)).
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + self.grace;
        loop {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if Instant::now() >= deadline {
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The leader is gone; make sure nothing else in its group outlives it.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill_group();
        if !std::thread::panicking() {
            let _ = fs::remove_file(&self.log);
            for f in &self.extra_files {
                let _ = fs::remove_file(f);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// moto
// ---------------------------------------------------------------------------------------------

/// A `moto_server` of this test's own on 127.0.0.1 (about 0.4 s to start): S3, KMS, SNS, SQS and
/// more, all in memory. Killed (process group) when dropped.
pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub port: u16,
    group: Group,
}

impl Moto {
    const READY_TIMEOUT: Duration = Duration::from_secs(20);

    /// Starts moto on a free port and waits until `GET /moto-api/` answers 200.
    pub async fn start() -> Moto {
        let program = moto_server_path();
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = scratch_path(&format!("moto-{port}"), "log");
            let mut cmd = Command::new(&program);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(REPO)
                .env("PYTHONUNBUFFERED", "1");
            let group = Group::spawn(cmd, log, Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            let started = Instant::now();
            loop {
                if let Some(status) = group.exited() {
                    let out = group.tail();
                    if out.contains("Address already in use") || out.contains("is in use by") {
                        last_failure = format!("port {port} taken: {out}");
                        break; // another process won the race for the port: try another one
                    }
                    panic!(
                        "moto_server ({}) exited ({status}) before answering; its output:\n{out}",
                        program.display()
                    );
                }
                if http_get_status(port, "/moto-api/").await == Some(200) {
                    // Answered, and still ours (not another server that holds the port).
                    if group.exited().is_none() {
                        return Moto {
                            endpoint: format!("http://127.0.0.1:{port}"),
                            port,
                            group,
                        };
                    }
                    continue;
                }
                if started.elapsed() > Self::READY_TIMEOUT {
                    panic!(
                        "moto_server ({}) did not answer GET http://127.0.0.1:{port}/moto-api/ \
                         within {:?}; its output:\n{}",
                        program.display(),
                        Self::READY_TIMEOUT,
                        group.tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        panic!("moto_server: no free port after 5 attempts; last: {last_failure}");
    }

    /// The server's output so far (one line per request).
    pub fn logs(&self) -> String {
        read_lossy(&self.group.log)
    }

    /// Environment for a function or CLI run against this server: endpoint, region, test
    /// credentials. Extend it with the function's own settings.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ]
    }
}

/// The status code of `GET path` on 127.0.0.1:port, or `None` when nothing answers (in time).
async fn http_get_status(port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12]; // "HTTP/1.1 200"
        stream.read_exact(&mut head).await.ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
}

// ---------------------------------------------------------------------------------------------
// DynamoDB
// ---------------------------------------------------------------------------------------------

/// The table as the product documents it: `pk` (S) hash key, on demand, TTL on `expires_at`.
pub async fn create_dedup_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    ddb.create_table()
        .table_name(name)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("UpdateTimeToLive");
}

// ---------------------------------------------------------------------------------------------
// SDK clients
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// SDK configuration for a local endpoint: us-east-1, static test credentials, `endpoint_url`, and
/// the HTTP client the product builds (rustls + ring; aws-config has no default client here).
/// Nothing is read from the environment or `~/.aws`: a test never reaches real AWS by accident.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "tests");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint)
        .http_client(http)
        .sleep_impl(SharedAsyncSleep::new(TokioSleep))
        .build()
}

/// An S3 client with path-style addressing (`http://127.0.0.1:PORT/bucket/key`).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The message of an SDK error with its service error code, for panics and assertions.
pub fn sdk_error<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use std::error::Error as _;
    let mut text = format!("{err}");
    let mut source = err.source();
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A symmetric KMS key in moto; returns its ARN.
pub async fn create_kms_key(kms: &aws_sdk_kms::Client) -> String {
    let out = kms
        .create_key()
        .description("guardduty-alerts test: findings export key")
        .send()
        .await
        .unwrap_or_else(|e| panic!("KMS CreateKey: {}", sdk_error(&e)));
    out.key_metadata()
        .and_then(|m| m.arn())
        .expect("CreateKey returns the key ARN")
        .to_owned()
}

/// A bucket whose default encryption is SSE-KMS with `kms_key_arn`, as GuardDuty's publishing
/// destination requires.
pub async fn create_export_bucket(s3: &aws_sdk_s3::Client, bucket: &str, kms_key_arn: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("S3 CreateBucket {bucket}: {}", sdk_error(&e)));
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(kms_key_arn)
        .build()
        .expect("SSE-KMS default");
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(by_default)
        .build();
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .expect("encryption configuration");
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .unwrap_or_else(|e| panic!("S3 PutBucketEncryption {bucket}: {}", sdk_error(&e)));
}

/// Uploads an export object encrypted with SSE-KMS under `kms_key_arn` (as GuardDuty writes them)
/// and checks with HeadObject that moto recorded the encryption.
pub async fn put_export(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    kms_key_arn: &str,
    bytes: Vec<u8>,
) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(kms_key_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("S3 PutObject s3://{bucket}/{key}: {}", sdk_error(&e)));
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("S3 HeadObject s3://{bucket}/{key}: {}", sdk_error(&e)));
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms),
        "s3://{bucket}/{key} is not recorded as SSE-KMS: {head:?}"
    );
    let key_id = kms_key_arn.rsplit('/').next().unwrap_or(kms_key_arn);
    assert!(
        head.ssekms_key_id().is_some_and(|k| k.contains(key_id)),
        "s3://{bucket}/{key} is not recorded under key {kms_key_arn}: {:?}",
        head.ssekms_key_id()
    );
}

/// gzip-compresses `bytes` (one gzip member).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use flate2::{Compression, write::GzEncoder};
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// An SNS topic; returns its ARN. A FIFO topic (name ending in `.fifo`) has content-based
/// deduplication off: publishers give a MessageDeduplicationId.
pub async fn create_topic(sns: &aws_sdk_sns::Client, name: &str, fifo: bool) -> String {
    assert_eq!(
        name.ends_with(".fifo"),
        fifo,
        "topic {name:?}: FIFO topic names end in .fifo"
    );
    let mut req = sns.create_topic().name(name);
    if fifo {
        req = req
            .attributes("FifoTopic", "true")
            .attributes("ContentBasedDeduplication", "false");
    }
    let out = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("SNS CreateTopic {name}: {}", sdk_error(&e)));
    out.topic_arn()
        .expect("CreateTopic returns the ARN")
        .to_owned()
}

/// An SQS queue; returns `(queue_url, queue_arn)`. A FIFO queue (name ending in `.fifo`) has
/// content-based deduplication off, like the FIFO topics that feed it.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, fifo: bool) -> (String, String) {
    assert_eq!(
        name.ends_with(".fifo"),
        fifo,
        "queue {name:?}: FIFO queue names end in .fifo"
    );
    let mut req = sqs.create_queue().queue_name(name);
    if fifo {
        req = req
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false");
    }
    let out = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("SQS CreateQueue {name}: {}", sdk_error(&e)));
    let url = out
        .queue_url()
        .expect("CreateQueue returns the URL")
        .to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SQS GetQueueAttributes {url}: {}", sdk_error(&e)));
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("QueueArn")
        .to_owned();
    (url, arn)
}

/// Subscribes an SQS queue to a topic; returns the subscription ARN. `raw`: the queue gets the
/// bare message with SNS message attributes as SQS message attributes; otherwise the SNS JSON
/// envelope (`Type`, `Message`, `Subject`, `MessageAttributes` …) is the SQS message body.
pub async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_arn: &str,
    raw: bool,
) -> String {
    let mut req = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .return_subscription_arn(true);
    if raw {
        req = req.attributes("RawMessageDelivery", "true");
    }
    let out = req.send().await.unwrap_or_else(|e| {
        panic!(
            "SNS Subscribe {queue_arn} to {topic_arn}: {}",
            sdk_error(&e)
        )
    });
    out.subscription_arn().unwrap_or_default().to_owned()
}

/// Receives (10 at a time, all message attributes and all system attributes such as
/// `MessageGroupId`) and deletes messages until `expect` have arrived or `timeout` has passed;
/// returns what arrived (possibly fewer, so the caller's assertion shows the shortfall, or more
/// when one receive brought more).
///
/// `expect == 0` means "whatever was sent": for a caller whose invocation has already returned.
/// moto delivers SNS to its SQS subscribers inside the Publish call, so by then every message is
/// in the queue, and the drain stops at the first 1-second long poll that comes back empty
/// (instead of waiting out `timeout`, which cost these tests 10 s each).
pub async fn drain_queue(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    expect: usize,
    timeout: Duration,
) -> Vec<Message> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < expect || expect == 0 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let wait = if remaining >= Duration::from_secs(1) {
            1
        } else {
            0
        };
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SQS ReceiveMessage {queue_url}: {}", sdk_error(&e)));
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() && expect == 0 && wait == 1 {
            break;
        }
        if messages.is_empty() && wait == 0 {
            tokio::time::sleep(remaining.min(Duration::from_millis(100))).await;
        }
        for m in messages {
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("SQS DeleteMessage {queue_url}: {}", sdk_error(&e)));
            }
            got.push(m);
        }
    }
    got
}

/// `n` PublishBatch entries with ids `0..n`, message `message-{i}` and, for FIFO topics, a
/// group id and a deduplication id.
pub fn batch_entries(n: usize, fifo: bool) -> Vec<PublishBatchRequestEntry> {
    (0..n)
        .map(|i| {
            let mut entry = PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .message(format!("message-{i}"));
            if fifo {
                entry = entry
                    .message_group_id("group")
                    .message_deduplication_id(format!("dedup-{i}"));
            }
            entry.build().expect("batch entry")
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// cargo-lambda runtime emulator
// ---------------------------------------------------------------------------------------------

/// A Lambda binary of this package running under cargo-lambda's runtime emulator:
///
/// `cargo lambda watch --offline --ignore-changes --color never --invoke-address 127.0.0.1
///  --invoke-port PORT --env-file FILE`, run from the repository root.
///
/// The watch builds the binary (`cargo run --bin NAME`, dev profile, this target dir) on the
/// first invocation and keeps one function instance for later ones. The function's environment
/// is the test process's minus `AWS_*`, `RUST_LOG` and what `cargo test` adds (see
/// [`inherited_var_to_drop`]), plus `env` (through `--env-file`: values may hold commas, `=`, `#`,
/// spaces), plus what the emulator sets (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_RUNTIME_API`,
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` …; not `AWS_REGION`). The function's stdout and stderr,
/// cargo's build output and the emulator's own lines are in [`Emulator::logs`].
///
/// The emulator does not restart a function process that exits: an invocation during which it
/// exits fails with the exit and the log tail, and so does every later one.
pub struct Emulator {
    pub port: u16,
    bin: String,
    group: Group,
    invocations: AtomicUsize,
    /// Why the function cannot be invoked any more (its process exited).
    dead: Mutex<Option<String>>,
}

impl Emulator {
    /// Limit for the first invocation, which compiles the binary.
    pub const FIRST_INVOKE_TIMEOUT: Duration = Duration::from_secs(300);
    /// Limit for later invocations.
    pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
    const READY_TIMEOUT: Duration = Duration::from_secs(60);
    /// What cargo-lambda 1.9 logs when the function's process ends.
    const EXIT_MARKER: &'static str = "command exited";

    /// Starts the emulator for the binary `bin_name` with these environment variables for the
    /// function, and waits until the invoke port accepts connections (a TCP connect, not an HTTP
    /// request: any request there would start an invocation).
    pub async fn start(bin_name: &str, env: &[(&str, &str)]) -> Emulator {
        let program = cargo_lambda_path();
        let env_file = scratch_path(&format!("emulator-{bin_name}"), "env");
        fs::write(&env_file, env_file_contents(env))
            .unwrap_or_else(|e| panic!("write {}: {e}", env_file.display()));
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = scratch_path(&format!("emulator-{bin_name}-{port}"), "log");
            let mut cmd = Command::new(&program);
            cmd.args([
                "lambda",
                "watch",
                "--offline",
                "--ignore-changes",
                "--color",
                "never",
            ])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .arg("--env-file")
            .arg(&env_file)
            .current_dir(REPO);
            for (key, _) in std::env::vars_os() {
                if inherited_var_to_drop(&key.to_string_lossy()) {
                    cmd.env_remove(key);
                }
            }
            let mut group = Group::spawn(cmd, log, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            let started = Instant::now();
            loop {
                if let Some(status) = group.exited() {
                    let out = group.tail();
                    if out.contains("Address already in use") || out.contains("address in use") {
                        last_failure = format!("port {port} taken: {out}");
                        break;
                    }
                    panic!(
                        "`cargo lambda watch` ({}) exited ({status}) before listening on \
                         127.0.0.1:{port}; its output:\n{out}",
                        program.display()
                    );
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                    && group.exited().is_none()
                {
                    group.extra_files.push(env_file);
                    return Emulator {
                        port,
                        bin: bin_name.to_owned(),
                        group,
                        invocations: AtomicUsize::new(0),
                        dead: Mutex::new(None),
                    };
                }
                if started.elapsed() > Self::READY_TIMEOUT {
                    panic!(
                        "`cargo lambda watch` did not listen on 127.0.0.1:{port} within {:?}; \
                         its output:\n{}",
                        Self::READY_TIMEOUT,
                        group.tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        panic!("cargo lambda watch: no free port after 5 attempts; last: {last_failure}");
    }

    /// Invokes the function with `event`: `Ok(response)`, or `Err(text)`, which is
    /// `"{errorType}: {errorMessage}"` for an error the function returned (e.g.
    /// `DeliveryFailed: 10 alert(s) not delivered …`), and for a function process that exited, a
    /// timeout or an emulator failure says what happened, with the end of [`Emulator::logs`].
    /// The first invocation may take minutes: it compiles the binary.
    ///
    /// The request is the one `cargo lambda invoke NAME --data-file EVENT` sends (`POST
    /// /2015-03-31/functions/NAME/invocations` on the invoke port), made here directly: that
    /// command prints a function error re-wrapped at 80 columns (long ARNs and keys split over
    /// lines, whatever `COLUMNS` says), which tests could not match reliably.
    pub async fn invoke(&self, event: &Value) -> Result<Value, String> {
        let first = self.invocations.fetch_add(1, Ordering::SeqCst) == 0;
        let limit = if first {
            Self::FIRST_INVOKE_TIMEOUT
        } else {
            Self::INVOKE_TIMEOUT
        };
        self.invoke_with_timeout(event, limit).await
    }

    /// [`Emulator::invoke`] with an explicit time limit.
    pub async fn invoke_with_timeout(
        &self,
        event: &Value,
        limit: Duration,
    ) -> Result<Value, String> {
        if let Some(reason) = self.dead.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(reason);
        }
        let log_offset = fs::metadata(&self.group.log).map(|m| m.len()).unwrap_or(0);
        let path = format!("/2015-03-31/functions/{}/invocations", self.bin);
        let body = serde_json::to_vec(event).expect("event JSON");
        let request = http_post(self.port, &path, &body);
        tokio::pin!(request);
        let started = Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_millis(50));
        let (status, response) = loop {
            tokio::select! {
                answer = &mut request => match answer {
                    Ok(answer) => break answer,
                    Err(e) => return Err(format!(
                        "the emulator did not answer the invocation ({e}); its log tail:\n{}",
                        self.group.tail()
                    )),
                },
                _ = ticker.tick() => {}
            }
            if let Some(exit) = self.function_exit_since(log_offset) {
                let reason = format!(
                    "the function process exited during the invocation ({exit}); the emulator \
                     does not restart it. Emulator log tail:\n{}",
                    self.group.tail()
                );
                *self.dead.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.clone());
                return Err(reason);
            }
            if let Some(status) = self.group.exited() {
                return Err(format!(
                    "`cargo lambda watch` exited ({status}); its output:\n{}",
                    self.group.tail()
                ));
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "no response within {limit:?} (the first invocation compiles the binary); \
                     emulator log tail:\n{}",
                    self.group.tail()
                ));
            }
        };
        let text = String::from_utf8_lossy(&response);
        let json: Result<Value, _> = serde_json::from_slice(&response);
        match (status, json) {
            // A cold start that failed (`/runtime/init/error`): the emulator answers with that
            // error, and the process has exited, never to be restarted.
            (_, Ok(error))
                if error["errorType"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("InvalidSetting.")) =>
            {
                let reason = format!(
                    "the function's cold start failed ({}: {}); the emulator does not restart it",
                    error["errorType"].as_str().unwrap_or("?"),
                    error["errorMessage"].as_str().unwrap_or("")
                );
                *self.dead.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.clone());
                Err(reason)
            }
            (200, Ok(value)) => Ok(value),
            (_, Ok(error)) if error.get("errorType").is_some() => Err(format!(
                "{}: {}",
                error["errorType"].as_str().unwrap_or("?"),
                error["errorMessage"].as_str().unwrap_or("")
            )),
            (status, _) => Err(format!(
                "unexpected answer from the emulator (HTTP {status}): {text}\nlog tail:\n{}",
                self.group.tail()
            )),
        }
    }

    /// Everything the emulator and the function wrote to stdout and stderr so far (cargo's build
    /// output, the function's logs, the emulator's INFO/ERROR lines).
    pub fn logs(&self) -> String {
        read_lossy(&self.group.log)
    }

    /// Where [`Emulator::logs`] are written (kept after a failing test).
    pub fn log_path(&self) -> &Path {
        &self.group.log
    }

    /// The emulator's "command exited code=N" line logged after `offset`, if any.
    fn function_exit_since(&self, offset: u64) -> Option<String> {
        let mut file = File::open(&self.group.log).ok()?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .find(|l| l.contains(Self::EXIT_MARKER))
            .map(|l| l.trim().to_owned())
    }
}

/// Variables of the test process that the emulator (and so the function, and the `cargo run`
/// that builds it) must not inherit:
/// - `AWS_*`: a developer's profile, credentials or endpoint must never reach the function;
/// - what `cargo test` sets for the test process (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*` …): build
///   scripts track some of them (ring: `rerun-if-env-changed=CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`
///   …), so with them the emulator's build would see a changed environment and rebuild ring,
///   rustls and everything above them on every run, and the next plain `cargo build` again;
/// - `RUST_LOG`: cargo-lambda filters its own log with it, and the harness needs its ERROR line
///   for an exited function (give the function a `RUST_LOG` through `env`).
fn inherited_var_to_drop(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
        "RUST_LOG",
    ];
    const PREFIXES: &[&str] = &["AWS_", "CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_CFG_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// `KEY='value'` lines for `cargo lambda watch --env-file`. Its parser (cargo-lambda 1.9): single
/// quotes are literal; double quotes turn only `\"` into `"`; unquoted values cannot hold `=` or
/// spaces; nothing can hold a newline.
pub fn env_file_contents(env: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in env {
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "environment variable name {key:?}: use letters, digits and _"
        );
        assert!(
            !value.contains('\n') && !value.contains('\r'),
            "{key}: cargo lambda watch --env-file cannot pass a value with a line break"
        );
        if !value.contains('\'') {
            let _ = writeln!(out, "{key}='{value}'");
        } else if !value.contains('"') && !value.ends_with('\\') {
            let _ = writeln!(out, "{key}=\"{value}\"");
        } else {
            panic!("{key}: cargo lambda watch --env-file cannot pass {value:?} (both quote kinds)");
        }
    }
    out
}

/// `POST path` with a JSON body to 127.0.0.1:port (HTTP/1.1, `Connection: close`); returns the
/// status and the (de-chunked) body.
async fn http_post(port: u16, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
    http_request("POST", port, path, body).await
}

/// What moto's SNS published to `topic_arn`, as moto holds it (its `/moto-api/data.json`
/// inspection endpoint: `[message id, message, subject, attributes, group id]` per publish):
/// the messages exactly as the function sent them, before SNS picks what each protocol gets.
pub async fn moto_sns_published(moto: &Moto, topic_arn: &str) -> Vec<String> {
    let (status, body) = http_request("GET", moto.port, "/moto-api/data.json", b"")
        .await
        .unwrap_or_else(|e| panic!("GET /moto-api/data.json: {e}"));
    assert_eq!(status, 200, "GET /moto-api/data.json");
    let data: serde_json::Value = serde_json::from_slice(&body).expect("moto-api JSON");
    let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
    let topic = topics
        .iter()
        .find(|t| t["arn"] == topic_arn)
        .unwrap_or_else(|| panic!("moto has no topic {topic_arn}"));
    topic["sent_notifications"]
        .as_array()
        .expect("sent_notifications")
        .iter()
        .map(|n| n[1].as_str().expect("message").to_owned())
        .collect()
}

async fn http_request(
    method: &str,
    port: u16,
    path: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect to 127.0.0.1:{port}: {e}"))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    stream
        .write_all(body)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("receive: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {head:?}"))?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .lines()
        .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
    {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// The process (of this user) whose environment holds `marker` (`NAME=VALUE`), e.g. the
/// function process an emulator started with that variable.
pub fn process_with_env(marker: &str) -> Option<i32> {
    let needle = marker.as_bytes();
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let environ = fs::read(e.path().join("environ")).ok()?;
        environ
            .split(|b| *b == 0)
            .any(|kv| kv == needle)
            .then_some(pid)
    })
}

/// The resident set size of `pid` in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
