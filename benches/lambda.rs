//! Lambda benchmark: binary size, cold start, and warm invocations of `guardduty-alerts-lambda`
//! through cargo-lambda's runtime emulator against moto.
//!
//! Run it with
//!
//! ```text
//! cargo bench --bench lambda
//! BENCH_COLD_RUNS=10 BENCH_WARM_RUNS=5 cargo bench --bench lambda    # quick smoke run
//! ```
//!
//! It is a plain program (`harness = false`), not a timed test: it reports and does not assert
//! performance. It exits non-zero only when something fails to run or a result is wrong (a
//! response without the expected counts, alerts missing from the queue).
//!
//! It needs `moto_server` and `cargo-lambda`, looked up like the integration tests do
//! (`$GUARDDUTY_ALERTS_VENV/bin`, `.venv/bin`, `PATH`; `tests/run` installs them into `.venv`).
//!
//! What it does:
//!
//! 1. **Binary size.** The release binary Cargo builds for benches (`bench` profile, which
//!    inherits `release`: thin LTO, one codegen unit, `panic = "abort"`, stripped), in MB (10^6)
//!    and MiB, and whether it still has a symbol table.
//! 2. **Cold start.** `BENCH_COLD_RUNS` runs (default 30): a `TcpListener` on 127.0.0.1:0 plays the
//!    Lambda Runtime API; the binary is spawned directly with the environment a real Lambda sets
//!    (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, …, `AWS_REGION`, credentials,
//!    `SNS_TOPIC_ARN`; nothing else). Timed from just before the spawn to the moment the first
//!    request line (`GET /2018-06-01/runtime/invocation/next`) has been read on the accepted
//!    connection; then the child is killed. This covers exec, the tracing subscriber, the
//!    configuration, the AWS SDK configuration and clients, and the runtime's first request. For
//!    context, the same number of `/bin/true` spawn-and-wait runs (plain process start).
//! 3. **Warm invocations.** moto with an SSE-KMS bucket `guardduty-alerts-exports`, a standard
//!    topic with an SQS queue subscribed (and a second topic without subscribers), and a
//!    1,000-finding export (the 12 lines of `events/sample-export.jsonl` cycled, each copy with a
//!    unique id in `id` and `arn`; gzip'd JSON Lines, 2.5 MB decompressed) at the key
//!    `events/s3-put.json` names. `cargo lambda watch --offline --ignore-changes --release` runs
//!    the function (`cargo run --release`, this target dir; Cargo's own variables for this bench
//!    are removed from its environment, or ring's build script would rerun and rebuild the TLS
//!    stack). Each invocation is an HTTP POST of `events/s3-put.json` to the emulator's invoke
//!    endpoint, timed round trip (connect to last response byte). Four sessions, one emulator
//!    each; each times its first invocation (which builds if needed and starts the function) on
//!    its own, then `BENCH_WARM_RUNS` warm invocations (default 20):
//!    - `MIN_SEVERITY=medium`, topic -> SQS: the target's set-up (10 of 12 templates alert);
//!      then as many `s3:TestEvent` invocations (no S3, no SNS: the emulator and runtime floor);
//!    - `MIN_SEVERITY=critical`, topic -> SQS: a tenth of the alerts;
//!    - `MIN_SEVERITY=10`: no alerts at all, so S3, decompression and parsing only;
//!    - `MIN_SEVERITY=medium` to the topic without subscribers: SNS without moto's SQS delivery.
//!
//!    Every response must count 1,000 findings and the expected alerts, all sent; after each
//!    session's first invocation the queue must hold exactly that many alerts. The queue is
//!    purged after every invocation, outside the timing: moto's delivery to SQS costs more the
//!    more messages are queued (each `SendMessage` computes the queue's attributes, which counts
//!    the queued messages three times), so a filling queue would slow every later run. The
//!    handler's own time is the `DurationMs` of the EMF document each invocation prints. For
//!    context, from this process with the SDK: moto's latency for one `PublishBatch` of 10 real
//!    alert messages (read back from the queue) at an empty and at a full queue, the time for as
//!    many batches as the function sends with 8 in flight (its limit), to either topic, and
//!    `GetObject` of the export.
//! 4. **Report.** A table (median, p90, min) and whether each target holds: warm invocation
//!    <= 50 ms, cold start <= 20 ms, stripped release binary <= 15 MB.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;
#[path = "common/emulator.rs"]
mod emulator;
use common::{Summary, cpu_model, env_count};
use emulator::{Watch, scratch_path, tail};
use std::env;
use std::fs::{self, File};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use support::{
    Moto, create_export_bucket, create_kms_key, create_queue, create_topic, drain_queue, gzip,
    put_export, s3_client, sdk_config, sdk_error, subscribe_queue,
};

/// The function binary, built by Cargo for bench targets (`bench` profile = `release`).
const LAMBDA_BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts-lambda");
/// The function's name in the emulator (the binary's name).
const FUNCTION: &str = "guardduty-alerts-lambda";
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const BUCKET: &str = "guardduty-alerts-exports";
/// Findings in the export the warm invocations read.
const FINDINGS: usize = 1000;
/// moto's default account and the topic the bench creates: `SNS_TOPIC_ARN` everywhere.
const TOPIC_NAME: &str = "alerts";
const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:alerts";
/// A second topic without subscribers: SNS publishing without moto's delivery to SQS.
const LONE_TOPIC_NAME: &str = "alerts-unsubscribed";
const LONE_TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:alerts-unsubscribed";
/// The function's `PublishBatch` limits (src/sns.rs): entries per batch, batches in flight.
const BATCH_ENTRIES: usize = 10;
const IN_FLIGHT: usize = 8;
/// Targets (issue).
const TARGET_WARM_MS: f64 = 50.0;
const TARGET_COLD_MS: f64 = 20.0;
const TARGET_SIZE_BYTES: f64 = 15e6;
/// How long a cold-start run may take before it counts as failed.
const COLD_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit for the first invocation of a session (it may compile the binary).
const FIRST_INVOKE_TIMEOUT: Duration = Duration::from_secs(900);
/// Limit for later invocations.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// Rounds of the moto context measurements.
const MOTO_ROUNDS: usize = 20;
const MOTO_FANOUT_ROUNDS: usize = 3;

fn main() {
    // moto (started later, inheriting this environment) otherwise allows one PurgeQueue a
    // minute, as SQS does; the queue must be emptied between invocations, because moto's cost of
    // delivering a message to SQS grows with the number of messages already queued.
    // SAFETY: first thing in `main`, before this program starts any thread.
    unsafe { env::set_var("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false") };
    let cold_runs = env_count("BENCH_COLD_RUNS", 30);
    let warm_runs = env_count("BENCH_WARM_RUNS", 20);

    let cpus = thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "machine : {cpus} CPUs available to this process{}",
        cpu_model()
    );
    println!("binary  : {LAMBDA_BIN}");
    println!("runs    : cold start {cold_runs}, warm invocations {warm_runs} per session");
    println!();

    // 1. Binary size.
    let size = binary_size();
    println!(
        "binary size: {} bytes = {:.2} MB = {:.2} MiB ({})",
        size.bytes,
        size.bytes as f64 / 1e6,
        size.bytes as f64 / 1_048_576.0,
        if size.symbol_tables == 0 {
            "stripped: no symbol table".to_owned()
        } else {
            format!("NOT stripped: {} symbol table(s)", size.symbol_tables)
        }
    );
    println!();

    // 2. Cold start.
    println!("cold start: spawn -> first `GET /2018-06-01/runtime/invocation/next` read");
    let cold = cold_starts(cold_runs);
    println!("  runs (ms): {}", list_ms(&cold));
    let true_runs = bin_true_runs(cold_runs);
    println!("  /bin/true spawn+exit (ms): {}", list_ms(&true_runs));
    println!();

    // 3. Warm invocations.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let warm = runtime.block_on(warm_bench(warm_runs));

    // 4. Report.
    report(&size, &cold, &true_runs, &warm);
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 1. Binary size
// ---------------------------------------------------------------------------------------------

struct BinarySize {
    bytes: u64,
    /// `SHT_SYMTAB` sections in the ELF file (0 once stripped).
    symbol_tables: usize,
}

fn binary_size() -> BinarySize {
    let bytes = fs::read(LAMBDA_BIN).unwrap_or_else(|e| panic!("read {LAMBDA_BIN}: {e}"));
    BinarySize {
        bytes: bytes.len() as u64,
        symbol_tables: elf_symbol_tables(&bytes)
            .unwrap_or_else(|| panic!("{LAMBDA_BIN} is not a 64-bit little-endian ELF file")),
    }
}

/// The number of `SHT_SYMTAB` sections of a 64-bit little-endian ELF file.
fn elf_symbol_tables(elf: &[u8]) -> Option<usize> {
    const SHT_SYMTAB: u32 = 2;
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    let table = usize::try_from(u64_at(0x28)?).ok()?;
    let entry_size = usize::from(u16_at(0x3a)?);
    let entries = usize::from(u16_at(0x3c)?);
    let mut count = 0;
    for i in 0..entries {
        if u32_at(table + i * entry_size + 4)? == SHT_SYMTAB {
            count += 1;
        }
    }
    Some(count)
}

// ---------------------------------------------------------------------------------------------
// 2. Cold start
// ---------------------------------------------------------------------------------------------

/// The environment a real Lambda sets for a `provided.al2023` function (plus the function's own
/// `SNS_TOPIC_ARN`), with `AWS_LAMBDA_RUNTIME_API` pointing at `api`.
fn lambda_env(api: SocketAddr) -> Vec<(&'static str, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{FUNCTION}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
        ("AWS_REGION", support::REGION.to_owned()),
        ("AWS_DEFAULT_REGION", support::REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", support::ACCESS_KEY_ID.to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            support::SECRET_ACCESS_KEY.to_owned(),
        ),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ("SNS_TOPIC_ARN", TOPIC_ARN.to_owned()),
    ]
    .into_iter()
    .collect()
}

/// What the fake Runtime API saw first on one connection.
struct FirstRequest {
    at: Instant,
    line: String,
    /// Kept open until the child is killed, so the runtime never sees its request fail.
    _stream: TcpStream,
}

fn cold_starts(runs: usize) -> Vec<Duration> {
    (0..runs).map(|_| cold_start()).collect()
}

fn cold_start() -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let api = listener.local_addr().expect("listener address");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(first_request_line(&listener));
    });
    let log = scratch_path("cold-start.log");
    let out = File::create(&log).expect("cold start log");
    let mut command = Command::new(LAMBDA_BIN);
    command
        .env_clear()
        .envs(lambda_env(api))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out);

    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {LAMBDA_BIN}: {e}"));
    let outcome = loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(result) => break result,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("the Runtime API thread ended".to_owned());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!(
                "the function exited ({status}) before its first request"
            ));
        }
        if started.elapsed() > COLD_TIMEOUT {
            break Err(format!("no request within {COLD_TIMEOUT:?}"));
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let first = outcome.unwrap_or_else(|why| {
        panic!(
            "cold start of {LAMBDA_BIN} failed: {why}; its output:\n{}",
            tail(&log, 4000)
        )
    });
    assert!(
        first
            .line
            .starts_with("GET /2018-06-01/runtime/invocation/next "),
        "the first request to the Runtime API is not `GET /2018-06-01/runtime/invocation/next`: \
         {:?}",
        first.line
    );
    let _ = fs::remove_file(&log);
    first.at.duration_since(started)
}

/// Accepts one connection and reads up to the end of the first line.
fn first_request_line(listener: &TcpListener) -> Result<FirstRequest, String> {
    let (mut stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    stream
        .set_read_timeout(Some(COLD_TIMEOUT))
        .map_err(|e| format!("set_read_timeout: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("read the request: {e}"))?;
        if n == 0 {
            return Err(format!(
                "the connection closed after {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let at = Instant::now();
            return Ok(FirstRequest {
                at,
                line: String::from_utf8_lossy(&buf[..end]).into_owned(),
                _stream: stream,
            });
        }
    }
}

/// Spawn-to-reap times of `/bin/true`: what process creation alone costs here.
fn bin_true_runs(runs: usize) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new("/bin/true")
                .env_clear()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run /bin/true");
            let elapsed = started.elapsed();
            assert!(status.success(), "/bin/true failed: {status}");
            elapsed
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 3. Warm invocations: the world in moto
// ---------------------------------------------------------------------------------------------

/// The 1,000-finding export and what the function must report for it.
struct Export {
    key: String,
    gz: Vec<u8>,
    decompressed_bytes: usize,
    /// The severity of every finding, in order.
    severities: Vec<f64>,
}

impl Export {
    /// Alerts at `MIN_SEVERITY=min`. None of the samples is archived or a sample finding
    /// (src/decision.rs checks those first), so the severity alone decides.
    fn alerts_at(&self, min: f64) -> u64 {
        self.severities.iter().filter(|s| **s >= min).count() as u64
    }
}

/// Cycles the 12 sample findings, each copy with a unique 32-hex id (in `id` and in `arn`).
fn build_export() -> Export {
    let sample = fs::read_to_string(Path::new(REPO).join("events/sample-export.jsonl"))
        .expect("events/sample-export.jsonl");
    let templates: Vec<(&str, String, f64)> = sample
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("sample finding JSON");
            let id = v["id"].as_str().expect("sample finding id").to_owned();
            let severity = v["severity"].as_f64().expect("numeric severity");
            assert_eq!(
                line.matches(id.as_str()).count(),
                2,
                "sample finding {id}: its id should appear exactly twice (id and arn)"
            );
            (line, id, severity)
        })
        .collect();
    assert_eq!(
        templates.len(),
        12,
        "events/sample-export.jsonl: 12 findings"
    );
    let mut text = String::new();
    let mut severities = Vec::with_capacity(FINDINGS);
    for i in 0..FINDINGS {
        let (line, id, severity) = &templates[i % templates.len()];
        let new_id = format!("be{i:030x}");
        let copy = line.replace(id.as_str(), &new_id);
        if i < templates.len() {
            let v: Value = serde_json::from_str(&copy).expect("rewritten finding JSON");
            assert_eq!(v["id"], new_id.as_str());
            assert!(v["arn"].as_str().is_some_and(|a| a.ends_with(&new_id)));
        }
        text.push_str(&copy);
        text.push('\n');
        severities.push(*severity);
    }
    let event = read_event("s3-put.json");
    let key = event["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .expect("s3-put.json names an object key")
        .to_owned();
    assert!(
        !key.contains('%') && !key.contains('+'),
        "the key in s3-put.json is URL-encoded; decode it: {key}"
    );
    Export {
        key,
        gz: gzip(text.as_bytes()),
        decompressed_bytes: text.len(),
        severities,
    }
}

fn read_event(name: &str) -> Value {
    let path = Path::new(REPO).join("events").join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// moto with the bucket, the export, the topic and its queue, and a topic nobody subscribes to.
struct World {
    moto: Moto,
    s3: aws_sdk_s3::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

async fn world(export: &Export) -> World {
    let moto = Moto::start().await;
    let sdk = sdk_config(&moto.endpoint);
    let s3 = s3_client(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let key_arn = create_kms_key(&kms).await;
    create_export_bucket(&s3, BUCKET, &key_arn).await;
    put_export(&s3, BUCKET, &export.key, &key_arn, export.gz.clone()).await;
    let topic_arn = create_topic(&sns, TOPIC_NAME, false).await;
    assert_eq!(topic_arn, TOPIC_ARN, "moto's topic ARN");
    let (queue_url, queue_arn) = create_queue(&sqs, "alerts", false).await;
    subscribe_queue(&sns, &topic_arn, &queue_arn, false).await;
    let lone_arn = create_topic(&sns, LONE_TOPIC_NAME, false).await;
    assert_eq!(lone_arn, LONE_TOPIC_ARN, "moto's topic ARN");
    World {
        moto,
        s3,
        sns,
        sqs,
        queue_url,
    }
}

impl World {
    /// The function's environment under the emulator, plus `extra`.
    fn function_env(&self, spec: &SessionSpec) -> Vec<(&'static str, String)> {
        let mut env = self.moto.env();
        env.push(("SNS_TOPIC_ARN", spec.topic_arn.to_owned()));
        if let Some(min) = spec.min_severity {
            env.push(("MIN_SEVERITY", min.to_owned()));
        }
        env
    }

    async fn queue_depth(&self) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SQS GetQueueAttributes: {}", sdk_error(&e)));
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .expect("ApproximateNumberOfMessages")
    }

    /// Empties the queue (moto runs with `MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR=false`,
    /// so a purge is allowed at any time, not once a minute).
    async fn purge(&self) {
        self.sqs
            .purge_queue()
            .queue_url(&self.queue_url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SQS PurgeQueue: {}", sdk_error(&e)));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Warm invocations: the emulator
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 3. Warm invocations: the runs
// ---------------------------------------------------------------------------------------------

/// One emulator session: the function's settings and what every response must say.
struct SessionSpec {
    label: &'static str,
    /// `MIN_SEVERITY`, when not the default (medium).
    min_severity: Option<&'static str>,
    topic_arn: &'static str,
    /// The topic has the SQS queue subscribed (so the queue is checked and purged).
    subscribed: bool,
    expected_alerts: u64,
    /// Also time `s3:TestEvent` invocations (the emulator and runtime floor).
    floor: bool,
}

/// One emulator session's measurements.
struct Session {
    label: &'static str,
    expected_alerts: u64,
    first: Duration,
    /// Cargo's `Finished …` line when the first invocation compiled the binary.
    first_build: Option<String>,
    first_handler_ms: Option<f64>,
    warm: Vec<Duration>,
    /// The handler's own `DurationMs` for the warm invocations (empty if the log had fewer).
    warm_handler_ms: Vec<f64>,
    floor: Vec<Duration>,
    floor_handler_ms: Vec<f64>,
    /// Requests the first warm invocation made to moto, from moto's request log:
    /// (`PublishBatch` = `POST /`, `GetObject` = `GET /bucket/…`).
    requests: Option<(usize, usize)>,
}

struct WarmResults {
    export_gz_bytes: usize,
    export_decompressed_bytes: usize,
    /// medium to the subscribed topic (the target), critical, no alerts, medium unsubscribed.
    sessions: Vec<Session>,
    /// One `PublishBatch` of 10 alert messages to the subscribed topic, queue empty.
    publish_batch: Vec<Duration>,
    /// The same after the fan-out below filled the queue.
    publish_batch_full_queue: Vec<Duration>,
    full_queue_depth: u64,
    /// As many batches as the medium invocation sends, 8 in flight, subscribed topic from an
    /// empty queue.
    publish_fanout: Vec<Duration>,
    /// The same to the topic without subscribers.
    publish_fanout_lone: Vec<Duration>,
    /// The same, one at a time.
    publish_serial_lone: Vec<Duration>,
    fanout_batches: usize,
    get_object: Vec<Duration>,
}

async fn warm_bench(runs: usize) -> WarmResults {
    let export = build_export();
    println!(
        "export: {FINDINGS} findings, {} bytes gzip, {} bytes decompressed, at s3://{BUCKET}/{}",
        export.gz.len(),
        export.decompressed_bytes,
        export.key
    );
    let medium = export.alerts_at(4.0);
    println!(
        "expected alerts: {medium} at MIN_SEVERITY=medium, {} at critical, 0 at 10",
        export.alerts_at(9.0)
    );
    let world = world(&export).await;
    println!("moto: {}", world.moto.endpoint);
    let events = Events {
        put: serde_json::to_vec(&read_event("s3-put.json")).expect("event JSON"),
        test: serde_json::to_vec(&read_event("s3-test-event.json")).expect("event JSON"),
    };

    let specs = [
        SessionSpec {
            label: "MIN_SEVERITY=medium, topic -> SQS",
            min_severity: None,
            topic_arn: TOPIC_ARN,
            subscribed: true,
            expected_alerts: medium,
            floor: true,
        },
        SessionSpec {
            label: "MIN_SEVERITY=critical, topic -> SQS",
            min_severity: Some("critical"),
            topic_arn: TOPIC_ARN,
            subscribed: true,
            expected_alerts: export.alerts_at(9.0),
            floor: false,
        },
        SessionSpec {
            label: "MIN_SEVERITY=10 (no alerts: S3 + parse)",
            min_severity: Some("10"),
            topic_arn: TOPIC_ARN,
            subscribed: true,
            expected_alerts: export.alerts_at(10.0),
            floor: false,
        },
        SessionSpec {
            label: "MIN_SEVERITY=medium, topic w/o subscribers",
            min_severity: None,
            topic_arn: LONE_TOPIC_ARN,
            subscribed: false,
            expected_alerts: medium,
            floor: false,
        },
    ];
    let mut sessions = Vec::new();
    let mut samples = Vec::new();
    for spec in &specs {
        let (session, messages) = run_session(&world, spec, &events, runs).await;
        sessions.push(session);
        if samples.is_empty() {
            samples = messages;
        }
    }
    assert!(
        samples.len() >= BATCH_ENTRIES,
        "{} alert messages read back from the queue",
        samples.len()
    );
    let entries = republish_entries(&samples[..BATCH_ENTRIES]);

    // Context: moto's own latency, from this process with the SDK.
    println!();
    println!("moto from this process (SDK):");
    // As many batches as the function sent for the medium export (it flushes per chunk of the
    // decompressed object, so that is more than alerts / 10).
    let fanout_batches = sessions[0].requests.map_or_else(
        || {
            usize::try_from(medium)
                .expect("alert count")
                .div_ceil(BATCH_ENTRIES)
        },
        |(posts, _)| posts,
    );
    world.purge().await;
    let publish_batch = publish_one_at_a_time(&world, TOPIC_ARN, &entries, true).await;
    println!(
        "  PublishBatch x{BATCH_ENTRIES} to the subscribed topic, queue empty (ms): {}",
        list_ms(&publish_batch)
    );
    let (publish_fanout, full_queue_depth, publish_batch_full_queue) =
        publish_many(&world, TOPIC_ARN, &entries, fanout_batches, IN_FLIGHT).await;
    println!(
        "  {fanout_batches} PublishBatch, {IN_FLIGHT} in flight, subscribed topic (ms): {}",
        list_ms(&publish_fanout)
    );
    println!(
        "  PublishBatch x{BATCH_ENTRIES} to the subscribed topic, queue at {full_queue_depth} \
         messages (ms): {}",
        list_ms(&publish_batch_full_queue)
    );
    let (publish_fanout_lone, _, _) =
        publish_many(&world, LONE_TOPIC_ARN, &entries, fanout_batches, IN_FLIGHT).await;
    println!(
        "  {fanout_batches} PublishBatch, {IN_FLIGHT} in flight, topic w/o subscribers (ms): {}",
        list_ms(&publish_fanout_lone)
    );
    let (publish_serial_lone, _, _) =
        publish_many(&world, LONE_TOPIC_ARN, &entries, fanout_batches, 1).await;
    println!(
        "  {fanout_batches} PublishBatch, one at a time, topic w/o subscribers (ms): {}",
        list_ms(&publish_serial_lone)
    );
    let get_object = get_objects(&world, &export).await;
    println!("  GetObject + read body (ms): {}", list_ms(&get_object));

    WarmResults {
        export_gz_bytes: export.gz.len(),
        export_decompressed_bytes: export.decompressed_bytes,
        sessions,
        publish_batch,
        publish_batch_full_queue,
        full_queue_depth,
        publish_fanout,
        publish_fanout_lone,
        publish_serial_lone,
        fanout_batches,
        get_object,
    }
}

/// The event bodies the invocations send.
struct Events {
    put: Vec<u8>,
    test: Vec<u8>,
}

/// One `cargo lambda watch` session: the first invocation, `runs` warm ones, optionally `runs`
/// `s3:TestEvent` ones. Returns up to 10 alert messages read back from the queue after the first
/// invocation (for a subscribed topic with alerts).
async fn run_session(
    world: &World,
    spec: &SessionSpec,
    events: &Events,
    runs: usize,
) -> (Session, Vec<aws_sdk_sqs::types::Message>) {
    println!();
    println!("session {}: cargo lambda watch --release", spec.label);
    let label = spec.label.split(',').next().unwrap_or("session");
    let watch = Watch::start(
        &label.replace(['=', ' ', '(', ')', ':', '+'], "-"),
        &world.function_env(spec),
    );
    if spec.subscribed {
        world.purge().await;
    }
    let (first, response) = watch.invoke(&events.put, FIRST_INVOKE_TIMEOUT);
    check_put_response(&response, spec.expected_alerts);
    let first_build = watch.build_line();
    let mut samples = Vec::new();
    if spec.subscribed {
        let depth = world.queue_depth().await;
        assert_eq!(
            depth, spec.expected_alerts,
            "{}: the queue holds {depth} alerts after the first invocation, expected {}",
            spec.label, spec.expected_alerts
        );
        if spec.expected_alerts > 0 {
            samples = drain_queue(
                &world.sqs,
                &world.queue_url,
                BATCH_ENTRIES,
                Duration::from_secs(10),
            )
            .await;
        }
        world.purge().await;
    }
    println!(
        "  first invocation {:.1} ms ({} alerts sent{}){}",
        ms(first),
        response["alerts_sent"],
        if spec.subscribed {
            ", all in the queue"
        } else {
            ""
        },
        first_build
            .as_deref()
            .map_or_else(String::new, |b| format!("; it compiled: {b}"))
    );

    let mut warm = Vec::with_capacity(runs);
    let mut requests = None;
    for i in 1..=runs {
        let log_before = world.moto.logs().len();
        let (elapsed, response) = watch.invoke(&events.put, INVOKE_TIMEOUT);
        check_put_response(&response, spec.expected_alerts);
        if i == 1 {
            // moto writes a request's log line just after its response: give it a moment.
            thread::sleep(Duration::from_millis(300));
            requests = Some(count_requests(
                world.moto.logs().get(log_before..).unwrap_or_default(),
            ));
        }
        println!("  warm {i}/{runs}: {:.1} ms", ms(elapsed));
        warm.push(elapsed);
        if spec.subscribed {
            world.purge().await;
        }
    }
    let mut floor = Vec::new();
    if spec.floor {
        for _ in 0..runs {
            let (elapsed, response) = watch.invoke(&events.test, INVOKE_TIMEOUT);
            assert_eq!(response["objects"], 0, "s3:TestEvent: {response}");
            assert_eq!(response["objects_skipped"], 1, "s3:TestEvent: {response}");
            floor.push(elapsed);
        }
        println!("  s3:TestEvent (ms): {}", list_ms(&floor));
    }

    // The EMF documents, in order: first, warm runs, test events.
    let handler = watch.handler_durations_ms();
    let expected_docs = 1 + runs + floor.len();
    let (first_handler_ms, warm_handler_ms, floor_handler_ms) = if handler.len() == expected_docs {
        (
            Some(handler[0]),
            handler[1..=runs].to_vec(),
            handler[runs + 1..].to_vec(),
        )
    } else {
        println!(
            "  ({} EMF documents in the emulator log, expected {expected_docs}; handler times \
             not reported)",
            handler.len()
        );
        (None, Vec::new(), Vec::new())
    };
    drop(watch);
    (
        Session {
            label: spec.label,
            expected_alerts: spec.expected_alerts,
            first,
            first_build,
            first_handler_ms,
            warm,
            warm_handler_ms,
            floor,
            floor_handler_ms,
            requests,
        },
        samples,
    )
}

/// (`POST /` requests, `GET /{BUCKET}/…` requests) in a stretch of moto's request log. While an
/// invocation runs nobody else talks to moto, and the function's only `POST /` is `PublishBatch`.
fn count_requests(log: &str) -> (usize, usize) {
    let get = format!("\"GET /{BUCKET}/");
    let posts = log.lines().filter(|l| l.contains("\"POST / ")).count();
    let gets = log.lines().filter(|l| l.contains(&get)).count();
    (posts, gets)
}

/// Panics unless an S3-event response counts the whole export and every expected alert sent.
fn check_put_response(response: &Value, alerts: u64) {
    let field = |key: &str| {
        response[key]
            .as_u64()
            .unwrap_or_else(|| panic!("the response has no whole-number `{key}`: {response}"))
    };
    assert_eq!(field("objects"), 1, "objects: {response}");
    assert_eq!(field("findings"), FINDINGS as u64, "findings: {response}");
    assert_eq!(field("alerts"), alerts, "alerts: {response}");
    assert_eq!(field("alerts_sent"), alerts, "alerts_sent: {response}");
    assert_eq!(
        field("delivery_failures"),
        0,
        "delivery_failures: {response}"
    );
}

/// `PublishBatch` entries carrying the same message, subject and attributes as the alerts the
/// function sent (read back from the queue as SNS envelopes).
fn republish_entries(messages: &[aws_sdk_sqs::types::Message]) -> Vec<PublishBatchRequestEntry> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let envelope: Value =
                serde_json::from_str(m.body().expect("message body")).expect("SNS envelope");
            let mut entry = PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .message(envelope["Message"].as_str().expect("Message"))
                .subject(envelope["Subject"].as_str().expect("Subject"));
            if let Some(attributes) = envelope["MessageAttributes"].as_object() {
                for (name, attribute) in attributes {
                    let value = MessageAttributeValue::builder()
                        .data_type(attribute["Type"].as_str().expect("attribute Type"))
                        .string_value(attribute["Value"].as_str().expect("attribute Value"))
                        .build()
                        .expect("message attribute");
                    entry = entry.message_attributes(name, value);
                }
            }
            entry.build().expect("batch entry")
        })
        .collect()
}

async fn publish(sns: &aws_sdk_sns::Client, topic_arn: &str, entries: &[PublishBatchRequestEntry]) {
    let out = sns
        .publish_batch()
        .topic_arn(topic_arn)
        .set_publish_batch_request_entries(Some(entries.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("SNS PublishBatch: {}", sdk_error(&e)));
    assert_eq!(out.successful().len(), entries.len(), "{out:?}");
}

/// [`MOTO_ROUNDS`] sequential `PublishBatch` calls; with `purge`, the queue is emptied after each
/// (outside the timing).
async fn publish_one_at_a_time(
    world: &World,
    topic_arn: &str,
    entries: &[PublishBatchRequestEntry],
    purge: bool,
) -> Vec<Duration> {
    publish(&world.sns, topic_arn, entries).await; // connection set-up, not timed
    if purge {
        world.purge().await;
    }
    let mut times = Vec::with_capacity(MOTO_ROUNDS);
    for _ in 0..MOTO_ROUNDS {
        let started = Instant::now();
        publish(&world.sns, topic_arn, entries).await;
        times.push(started.elapsed());
        if purge {
            world.purge().await;
        }
    }
    times
}

/// [`MOTO_FANOUT_ROUNDS`] rounds of `batches` `PublishBatch` calls, `in_flight` at a time
/// (the function: [`IN_FLIGHT`]), starting from an empty queue. Also returns, after the last round and
/// before its purge, the queue depth and [`MOTO_ROUNDS`] single `PublishBatch` times at that
/// depth.
async fn publish_many(
    world: &World,
    topic_arn: &str,
    entries: &[PublishBatchRequestEntry],
    batches: usize,
    in_flight: usize,
) -> (Vec<Duration>, u64, Vec<Duration>) {
    let entries: Arc<[PublishBatchRequestEntry]> = entries.into();
    let mut times = Vec::with_capacity(MOTO_FANOUT_ROUNDS);
    let (mut depth, mut at_depth) = (0, Vec::new());
    for round in 1..=MOTO_FANOUT_ROUNDS {
        world.purge().await;
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batches {
            if set.len() >= in_flight {
                set.join_next()
                    .await
                    .expect("a task")
                    .expect("publish task");
            }
            let (sns, entries, topic) = (
                world.sns.clone(),
                Arc::clone(&entries),
                topic_arn.to_owned(),
            );
            set.spawn(async move { publish(&sns, &topic, &entries).await });
        }
        while let Some(done) = set.join_next().await {
            done.expect("publish task");
        }
        times.push(started.elapsed());
        if round == MOTO_FANOUT_ROUNDS && topic_arn == TOPIC_ARN {
            depth = world.queue_depth().await;
            at_depth = publish_one_at_a_time(world, topic_arn, &entries, false).await;
        }
    }
    world.purge().await;
    (times, depth, at_depth)
}

async fn get_objects(world: &World, export: &Export) -> Vec<Duration> {
    let mut times = Vec::with_capacity(MOTO_ROUNDS);
    for _ in 0..MOTO_ROUNDS {
        let started = Instant::now();
        let out = world
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(&export.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("S3 GetObject: {}", sdk_error(&e)));
        let body = out
            .body
            .collect()
            .await
            .expect("GetObject body")
            .into_bytes();
        times.push(started.elapsed());
        assert_eq!(body.len(), export.gz.len(), "GetObject returned the export");
    }
    times
}

// ---------------------------------------------------------------------------------------------
// 4. Reporting
// ---------------------------------------------------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn list_ms(times: &[Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.1}", ms(*t)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The summary of durations, in milliseconds.
fn summary_ms(times: &[Duration]) -> Option<Summary> {
    Summary::of(&times.iter().map(|t| ms(*t)).collect::<Vec<_>>())
}

fn row(what: &str, summary: Option<&Summary>) {
    match summary {
        Some(s) => println!(
            "{what:<62} {:>4} {:>10.1} {:>9.1} {:>9.1}",
            s.n, s.median, s.p90, s.min
        ),
        None => println!(
            "{what:<62} {:>4} {:>10} {:>9} {:>9}",
            0, "n/a", "n/a", "n/a"
        ),
    }
}

fn report(size: &BinarySize, cold: &[Duration], true_runs: &[Duration], warm: &WarmResults) {
    let cold_s = summary_ms(cold).expect("cold-start runs");
    let true_s = summary_ms(true_runs).expect("/bin/true runs");
    let batch = summary_ms(&warm.publish_batch).expect("PublishBatch runs");
    let batch_full = summary_ms(&warm.publish_batch_full_queue).expect("PublishBatch runs");
    let fanout = summary_ms(&warm.publish_fanout).expect("fan-out runs");
    let fanout_lone = summary_ms(&warm.publish_fanout_lone).expect("fan-out runs");
    let serial_lone = summary_ms(&warm.publish_serial_lone).expect("serial runs");
    let get = summary_ms(&warm.get_object).expect("GetObject runs");

    println!();
    println!(
        "{:<62} {:>4} {:>10} {:>9} {:>9}",
        "what (milliseconds)", "n", "median", "p90", "min"
    );
    row(
        "cold start: spawn -> first /invocation/next request read",
        Some(&cold_s),
    );
    row("  context: /bin/true spawn + exit", Some(&true_s));
    let mut medians = Vec::new();
    let mut floor = None;
    for s in &warm.sessions {
        let handler = s
            .first_handler_ms
            .map_or_else(String::new, |h| format!("  (handler {h:.1})"));
        let built = if s.first_build.is_some() {
            "  (compiled first)"
        } else {
            ""
        };
        println!(
            "{:<62} {:>4} {:>10.1}{handler}{built}",
            format!("first invocation, {}", s.label),
            1,
            ms(s.first)
        );
        let summary = summary_ms(&s.warm).expect("warm runs");
        row(
            &format!("warm, {} [{} alerts]", s.label, s.expected_alerts),
            Some(&summary),
        );
        let handler = Summary::of(&s.warm_handler_ms);
        row("  handler's own DurationMs (EMF)", handler.as_ref());
        medians.push((summary.median, handler.map(|h| h.median)));
        if !s.floor.is_empty() {
            let f = summary_ms(&s.floor).expect("floor runs");
            row("emulator floor: s3:TestEvent (no S3, no SNS)", Some(&f));
            row(
                "  handler's own DurationMs (EMF)",
                Summary::of(&s.floor_handler_ms).as_ref(),
            );
            floor = Some(f.median);
        }
    }
    let n = warm.fanout_batches;
    row(
        &format!("moto: PublishBatch x{BATCH_ENTRIES}, subscribed topic, queue empty"),
        Some(&batch),
    );
    row(
        &format!(
            "moto: PublishBatch x{BATCH_ENTRIES}, subscribed topic, queue at {}",
            warm.full_queue_depth
        ),
        Some(&batch_full),
    );
    row(
        &format!("moto: {n} PublishBatch, {IN_FLIGHT} in flight, subscribed topic"),
        Some(&fanout),
    );
    row(
        &format!("moto: {n} PublishBatch, {IN_FLIGHT} in flight, no subscribers"),
        Some(&fanout_lone),
    );
    row(
        &format!("moto: {n} PublishBatch, one at a time, no subscribers"),
        Some(&serial_lone),
    );
    row(
        &format!(
            "moto: GetObject, {} KB SSE-KMS object, whole body",
            warm.export_gz_bytes / 1000
        ),
        Some(&get),
    );

    // Where the warm time goes (medians).
    let [
        (full, full_h),
        (critical, critical_h),
        (none, none_h),
        (lone, lone_h),
    ] = medians[..]
    else {
        panic!("four sessions expected");
    };
    let handler = |h: Option<f64>| h.map_or_else(|| "n/a".to_owned(), |h| format!("{h:.1}"));
    let calls = |s: &Session| {
        s.requests.map_or_else(
            || "? PublishBatch".to_owned(),
            |(posts, gets)| format!("{posts} PublishBatch, {gets} GetObject"),
        )
    };
    let target = &warm.sessions[0];
    println!();
    println!(
        "where the warm time goes (medians, ms: round trip / handler's own DurationMs; requests \
         to moto counted in its log):"
    );
    if let Some(f) = floor {
        println!(
            "  {:<44} {:<30} {f:>9.1}",
            "emulator + runtime, empty event", "(s3:TestEvent: no requests)"
        );
    }
    for (s, round_trip, own) in [
        (&warm.sessions[2], none, none_h),
        (&warm.sessions[1], critical, critical_h),
        (&warm.sessions[3], lone, lone_h),
        (target, full, full_h),
    ] {
        println!(
            "  {:<44} {:<30} {round_trip:>9.1} / {}",
            s.label,
            format!("{} alerts: {}", s.expected_alerts, calls(s)),
            handler(own)
        );
    }
    println!(
        "  => the function's own work (GetObject, gunzip, parse, classify 1,000 findings) is \
         {none:.1} ms; publishing {} alerts adds {:.1} ms to a topic without subscribers and \
         {:.1} ms with moto's delivery to SQS",
        target.expected_alerts,
        lone - none,
        full - none
    );
    println!(
        "  => moto alone, from this process, {n} batches: {:.1} ms {IN_FLIGHT} in flight to the \
         subscribed topic; without subscribers {:.1} ms {IN_FLIGHT} in flight, {:.1} ms one at a \
         time ({:.1} ms per batch; {IN_FLIGHT} in flight gains {:.2}x); one batch to the \
         subscribed topic {:.1} ms at an empty queue, {:.1} ms at {} queued messages",
        fanout.median,
        fanout_lone.median,
        serial_lone.median,
        serial_lone.median / n.max(1) as f64,
        serial_lone.median / fanout_lone.median,
        batch.median,
        batch_full.median,
        warm.full_queue_depth
    );

    let verdict = |met: bool| if met { "MET" } else { "NOT MET" };
    let warm_s = summary_ms(&target.warm).expect("warm runs");
    println!();
    println!(
        "binary size {:.2} MB ({:.2} MiB, stripped release binary; target <= {:.0} MB): {}",
        size.bytes as f64 / 1e6,
        size.bytes as f64 / 1_048_576.0,
        TARGET_SIZE_BYTES / 1e6,
        verdict(size.bytes as f64 <= TARGET_SIZE_BYTES && size.symbol_tables == 0)
    );
    println!(
        "cold start median {:.1} ms, p90 {:.1} ms (target <= {TARGET_COLD_MS:.0} ms): {}",
        cold_s.median,
        cold_s.p90,
        verdict(cold_s.median <= TARGET_COLD_MS)
    );
    println!(
        "warm invocation ({FINDINGS} findings, {} alerts, moto topic -> SQS) median {:.1} ms, \
         p90 {:.1} ms (target <= {TARGET_WARM_MS:.0} ms): {}",
        target.expected_alerts,
        warm_s.median,
        warm_s.p90,
        verdict(warm_s.median <= TARGET_WARM_MS)
    );
    println!(
        "(export: {FINDINGS} findings, {} bytes gzip, {:.2} MB decompressed; {} CPUs available)",
        warm.export_gz_bytes,
        warm.export_decompressed_bytes as f64 / 1e6,
        thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
}
