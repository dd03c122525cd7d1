//! End-to-end tests of the `guardduty-alerts process` command: the real binary on export files
//! of our own (events/, tests/fixtures/), in every compression and damage variant.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sample_jsonl() -> Vec<u8> {
    std::fs::read(root().join("events/sample-export.jsonl")).expect("events/sample-export.jsonl")
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// A scratch directory under target/, unique per test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write fixture");
    p.to_string_lossy().into_owned()
}

struct Run {
    code: i32,
    records: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The one-line JSON summary: the last line of stderr.
    fn summary(&self) -> Value {
        let last = self.stderr.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "last stderr line is not the JSON summary ({e}):\n{}",
                self.stderr
            )
        })
    }
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        // The plain warning lines, not RUST_LOG's diagnostic ones.
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run guardduty-alerts");
    if let Some(data) = stdin {
        let mut s = child.stdin.take().expect("stdin");
        s.write_all(data).expect("write stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8(stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let records = if args.contains(&"json") {
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON record {e}: {l}")))
            .collect()
    } else {
        Vec::new()
    };
    Run {
        code: status.code().expect("exit code"),
        records,
        stdout,
        stderr,
    }
}

fn json(args: &[&str]) -> Run {
    let mut all = vec!["process", "--format", "json"];
    all.extend_from_slice(args);
    run(&all, None)
}

fn by_id<'a>(records: &'a [Value], id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no record for {id}"))
}

#[test]
fn sample_export_classifies_every_finding() {
    let r = json(&["events/sample-export.jsonl.gz"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records.len(), 12);
    // (id, label, resource_type, resource, decision)
    let want = [
        (
            "4c9e0abff57adae1ae4a69a5ef00c40f",
            "Low",
            "Instance",
            "i-0a1b2c3d4e5f67890 (web-frontend-1)",
            "suppressed",
        ),
        (
            "4a5e5f82cf5387ba6ffaa0e35da2d70a",
            "High",
            "AccessKey",
            "ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)",
            "alert",
        ),
        (
            "838069c99211d0173cd7123416594a33",
            "Low",
            "S3Bucket",
            "acme-reports-444455556666",
            "suppressed",
        ),
        (
            "33a04ff410f2d5edf61bc6158f942adb",
            "Medium",
            "EKSCluster",
            "payments-prod: kube-system/coredns-6d4b75cb6d-x7k2p",
            "alert",
        ),
        (
            "8baa3b379398344a565628cc4916205d",
            "High",
            "Container",
            "batch-worker (111122223333.dkr.ecr.us-west-2.amazonaws.com/batch-worker:1.8.2)",
            "alert",
        ),
        (
            "63ad7c7c001925544da5cbed269f0123",
            "High",
            "ECSCluster",
            "orders-cluster",
            "alert",
        ),
        (
            "fe05e51d83003fd387ad6ec34941003a",
            "Medium",
            "RDSDBInstance",
            "customers-db-instance-1 (Aurora PostgreSQL)",
            "alert",
        ),
        (
            "a576537d1d1f715f45db81bae038d4c4",
            "High",
            "Lambda",
            "image-resizer",
            "alert",
        ),
        (
            "7091bdea64d6b4a4556bc0c341eab860",
            "Critical",
            "AttackSequence",
            "attack sequence",
            "alert",
        ),
        (
            "3a13c6854edb52ef36f6e430b3eac5ab",
            "High",
            "Instance",
            "i-0c9d8e7f6a5b4c3d2 (jump-host-eu)",
            "alert",
        ),
        (
            "015ce2b6cc6d1de12d69ee9943830919",
            "Medium",
            "Instance",
            "i-0d1e2f3a4b5c6d7e8 (build-agent-2)",
            "alert",
        ),
        (
            "2431f072bbff49256db7c34e18bce67b",
            "Medium",
            "AccessKey",
            "AKIAEXAMPLECIDEPLOY1 (IAMUser ci-deployer)",
            "alert",
        ),
    ];
    for (i, (id, label, rtype, resource, decision)) in want.iter().enumerate() {
        let rec = &r.records[i];
        assert_eq!(rec["id"], *id, "order of record {i}");
        assert_eq!(rec["severity_label"], *label, "{id}");
        assert_eq!(rec["resource_type"], *rtype, "{id}");
        assert_eq!(rec["resource"], *resource, "{id}");
        assert_eq!(rec["decision"], *decision, "{id}");
        assert_eq!(rec["line"], i + 1);
        let reason = if *decision == "alert" {
            Value::Null
        } else {
            "below_min_severity".into()
        };
        assert_eq!(rec["reason"], reason, "{id}");
        assert_eq!(rec["sample"], false);
    }
    // The contract keys, with their types.
    let pp = &r.records[0];
    assert_eq!(pp["type"], "Recon:EC2/PortProbeUnprotectedPort");
    assert_eq!(pp["severity"], 2.0);
    assert_eq!(pp["threat_purpose"], "Recon");
    assert_eq!(pp["resource_type_affected"], "EC2");
    assert_eq!(pp["threat_family"], "PortProbeUnprotectedPort");
    assert_eq!(pp["detection_mechanism"], Value::Null);
    assert_eq!(pp["artifact"], Value::Null);
    assert_eq!(pp["account_id"], "111122223333");
    assert_eq!(pp["region"], "us-east-1");
    assert_eq!(pp["count"], 14);
    assert_eq!(
        pp["console_url"],
        "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=4c9e0abff57adae1ae4a69a5ef00c40f"
    );
    let btc = by_id(&r.records, "8baa3b379398344a565628cc4916205d");
    assert_eq!(
        (
            &btc["threat_family"],
            &btc["detection_mechanism"],
            &btc["artifact"]
        ),
        (&"BitcoinTool".into(), &"B".into(), &"DNS".into())
    );
    assert_eq!(
        by_id(&r.records, "015ce2b6cc6d1de12d69ee9943830919")["severity"],
        6.95
    );

    let s = r.summary();
    assert_eq!(s["sources"], 1);
    assert_eq!(s["sources_failed"], 0);
    assert_eq!(s["findings"], 12);
    assert_eq!(s["alerts"], 10);
    assert_eq!(s["suppressed"]["below_min_severity"], 2);
    assert_eq!(
        s["alerts_by_severity"],
        serde_json::json!({"Low":0,"Medium":4,"High":5,"Critical":1})
    );
    assert_eq!(
        s["rejected"]
            .as_object()
            .expect("rejected")
            .values()
            .map(|v| v.as_u64().unwrap_or(99))
            .sum::<u64>(),
        0
    );
    assert_eq!(s["decompressed_bytes"], sample_jsonl().len());
    assert!(s["elapsed_ms"].is_u64());
}

#[test]
fn committed_gzip_matches_its_source() {
    let mut d = flate2::read::MultiGzDecoder::new(
        std::fs::File::open(root().join("events/sample-export.jsonl.gz")).expect("gz"),
    );
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut out).expect("gunzip");
    assert_eq!(out, sample_jsonl());
}

#[test]
fn text_output_is_one_block_per_alert_and_terminal_safe() {
    let r = run(&["process", "events/sample-export.jsonl.gz"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let blocks: Vec<&str> = r
        .stdout
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    assert_eq!(blocks.len(), 10, "{}", r.stdout);
    let crit = blocks
        .iter()
        .find(|b| b.starts_with("[CRITICAL]"))
        .expect("critical block");
    assert!(crit.contains("AttackSequence:S3/CompromisedData"));
    assert!(crit.contains("account 111122223333  region us-east-1"));
    assert!(crit.contains("fId=7091bdea64d6b4a4556bc0c341eab860"));
    assert!(crit.contains("first seen ") && crit.contains("last seen "));
    // The crafted finding carries ESC characters: they must not reach the terminal raw.
    assert!(!r.stdout.contains('\u{1b}'));
    assert!(r.stdout.contains("\\u{1b}[31m"));
    assert!(r.stderr.contains("10 alerts"), "{}", r.stderr);
}

#[test]
fn plain_jsonl_and_stdin_give_the_same_records() {
    let from_gz = json(&["events/sample-export.jsonl.gz"]);
    let from_plain = json(&["events/sample-export.jsonl"]);
    let from_stdin = run(
        &["process", "--format", "json", "-"],
        Some(&gz(&sample_jsonl())),
    );
    let from_plain_stdin = run(&["process", "--format", "json", "-"], Some(&sample_jsonl()));
    let strip = |rs: &[Value]| -> Vec<Value> {
        rs.iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().expect("object").remove("source");
                r
            })
            .collect()
    };
    for other in [&from_plain, &from_stdin, &from_plain_stdin] {
        assert_eq!(other.code, 0, "{}", other.stderr);
        assert_eq!(strip(&other.records), strip(&from_gz.records));
    }
    assert_eq!(from_stdin.records[0]["source"], "stdin");
}

#[test]
fn multi_member_gzip_is_read_to_the_end() {
    let dir = scratch("multi");
    let data = sample_jsonl();
    // Three members, split mid-line, plus an empty member.
    let (a, b) = data.split_at(data.len() / 3);
    let (b, c) = b.split_at(b.len() / 2);
    let mut bytes = gz(a);
    bytes.extend(gz(b));
    bytes.extend(gz(b""));
    bytes.extend(gz(c));
    bytes.extend(gz(&data));
    let f = write(&dir, "multi.jsonl.gz", &bytes);
    let r = json(&[&f]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records.len(), 24);
    assert_eq!(r.summary()["decompressed_bytes"], 2 * data.len());
}

fn many_findings(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(
            out,
            r#"{{"id":"f{i:06}","type":"Recon:EC2/PortProbeUnprotectedPort","severity":5,"region":"us-east-1","accountId":"111122223333","title":"probe {i} with some padding to make the export compress to a realistic ratio {}"}}"#,
            i * 7919 % 10007
        )
        .expect("write");
    }
    out
}

#[test]
fn truncated_gzip_keeps_findings_before_the_damage_and_fails() {
    let dir = scratch("truncated");
    let full = gz(&many_findings(50_000));
    let f = write(&dir, "truncated.jsonl.gz", &full[..full.len() * 2 / 3]);
    let r = json(&[&f]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let got = r.records.len();
    assert!(
        got > 20_000 && got < 50_000,
        "{got} findings before the damage"
    );
    // The findings that came out are exactly the first ones, in order.
    for (i, rec) in r.records.iter().enumerate() {
        assert_eq!(rec["id"], format!("f{i:06}"));
    }
    assert!(
        r.stderr.contains(&f),
        "error names the source: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("after {} lines", got + 1))
            || r.stderr.contains(&format!("after {got} lines")),
        "error says how far it got: {}",
        r.stderr
    );
    assert!(r.stderr.contains("truncated or corrupt"), "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["sources_failed"], 1);
    assert_eq!(s["findings"], got);
}

#[test]
fn corrupt_gzip_keeps_findings_before_the_damage_and_fails() {
    let dir = scratch("corrupt");
    let mut bytes = gz(&many_findings(50_000));
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let f = write(&dir, "corrupt.jsonl.gz", &bytes);
    let r = json(&[&f]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.records.len() > 10_000,
        "{} findings before the damage",
        r.records.len()
    );
    assert!(
        r.stderr.contains(&f) && r.stderr.contains("stream failed after"),
        "{}",
        r.stderr
    );
    // Whatever came out before the error is valid; damaged lines, if any, are counted, not printed.
    let s = r.summary();
    assert_eq!(s["findings"], r.records.len());
}

#[test]
fn garbage_after_a_gzip_member_is_an_error_not_silence() {
    let dir = scratch("garbage");
    let mut bytes = gz(&sample_jsonl());
    bytes.extend_from_slice(b"this is not gzip");
    let f = write(&dir, "garbage.jsonl.gz", &bytes);
    let r = json(&[&f]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.records.len(), 12);
}

#[test]
fn every_kind_of_bad_line_is_counted_and_the_rest_is_processed() {
    let dir = scratch("badlines");
    let good = |id: &str| {
        format!(r#"{{"id":"{id}","type":"Recon:EC2/Portscan","severity":5,"region":"us-east-1"}}"#)
    };
    let mut data = Vec::new();
    data.extend(good("ok-1").as_bytes()); // line 1
    data.extend(b"\r\n");
    data.extend(b"\n"); // 2: blank
    data.extend(b"   \r\n"); // 3: blank with CRLF
    data.extend(b"{\"findings\":[]}\n"); // 4: JSON, not a finding
    data.extend(b"{\"id\":\"x\",\"type\":\n"); // 5: invalid JSON
    data.extend(b"{\"id\":\"\xc3\x28\",\"type\":\"T\",\"severity\":1}\n"); // 6: invalid UTF-8
    data.extend(
        format!(
            r#"{{"id":"long","type":"T","severity":5,"pad":"{}"}}"#,
            "x".repeat(5000)
        )
        .as_bytes(),
    ); // 7
    data.extend(b"\n");
    data.extend(br#"{"id":"nores","type":"Recon:EC2/Portscan","severity":8,"region":"us-east-1"}"#); // 8: no resource
    data.extend(b"\n");
    data.extend(br#"{"id":"nulls","type":"Recon:EC2/Portscan","severity":8,"resource":null,"service":null,"title":null,"region":null}"#); // 9
    data.extend(b"\n");
    data.extend(b"[1,2,3]\n"); // 10: not a finding
    data.extend(br#"{"id":"nosev","type":"Recon:EC2/Portscan"}"#); // 11: not a finding
    data.extend(b"\n");
    data.extend(good("ok-12").as_bytes()); // 12, no final newline
    let f = write(&dir, "bad.jsonl.gz", &gz(&data));
    let r = json(&["--max-line-bytes", "4096", &f]);
    assert_eq!(r.code, 0, "bad lines are not fatal: {}", r.stderr);
    let ids: Vec<&str> = r
        .records
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(ids, ["ok-1", "nores", "nulls", "ok-12"]);
    assert_eq!(by_id(&r.records, "nores")["resource"], Value::Null);
    assert_eq!(by_id(&r.records, "nulls")["console_url"], Value::Null);
    let s = r.summary();
    assert_eq!(s["lines"], 12);
    assert_eq!(
        s["rejected"],
        serde_json::json!({"invalid_json":1,"invalid_utf8":1,"not_a_finding":3,"too_long":1,"truncated":0})
    );
    // Each rejection is one plain warning line, SOURCE:LINE first, with its reason; the line
    // itself is never quoted.
    for (line, reason) in [
        (4, "not_a_finding"),
        (5, "invalid_json"),
        (6, "invalid_utf8"),
        (7, "too_long"),
        (10, "not_a_finding"),
        (11, "not_a_finding"),
    ] {
        let start = format!(
            "warning: {f}:{line}: line rejected; the rest of the object is still processed \
             (reason: {reason}, detail: "
        );
        assert!(
            r.stderr.lines().any(|l| l.starts_with(&start)),
            "no warning for line {line} ({reason}):\n{}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains("xxxxxxxxxx"));
}

#[test]
fn empty_objects_are_fine() {
    let dir = scratch("empty");
    for (name, bytes) in [
        ("empty.jsonl", Vec::new()),
        ("empty.jsonl.gz", gz(b"")),
        ("blank.jsonl", b"\n\r\n\n".to_vec()),
    ] {
        let f = write(&dir, name, &bytes);
        let r = json(&[&f]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(r.records.is_empty(), "{name}");
        assert_eq!(r.summary()["findings"], 0, "{name}");
    }
}

#[test]
fn an_unreadable_source_is_reported_and_the_others_still_run() {
    let dir = scratch("unreadable");
    let missing = dir.join("missing.jsonl.gz");
    let missing = missing.to_string_lossy();
    let r = json(&[
        "events/sample-export.jsonl.gz",
        &missing,
        "events/sample-export.jsonl",
        &dir.to_string_lossy(),
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(r.records.len(), 24);
    // Plain lines, the object first: no timestamp, level or `source=` field.
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines.contains(&format!("error: {missing}: not found (check the path)").as_str()),
        "{}",
        r.stderr
    );
    assert!(
        lines.contains(
            &format!(
                "error: {}: is a directory: name the export files in it",
                dir.display()
            )
            .as_str()
        ),
        "{}",
        r.stderr
    );
    assert_eq!(lines.len(), 3, "two errors and the summary: {}", r.stderr);
    let s = r.summary();
    assert_eq!(
        (s["sources"].as_u64(), s["sources_failed"].as_u64()),
        (Some(4), Some(2))
    );
}

#[test]
fn min_severity_takes_numbers_and_labels() {
    for (arg, alerts) in [
        ("high", 6),
        ("7", 6),
        ("critical", 1),
        ("9.0", 1),
        ("low", 12),
        ("0", 12),
        ("6.95", 7),
        ("7.5", 6),
    ] {
        let r = json(&["--min-severity", arg, "events/sample-export.jsonl.gz"]);
        assert_eq!(r.code, 0, "{arg}: {}", r.stderr);
        assert_eq!(r.summary()["alerts"], alerts, "--min-severity {arg}");
    }
    let r = json(&["--min-severity", "severe", "events/sample-export.jsonl.gz"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("low, medium, high, critical"),
        "{}",
        r.stderr
    );
}

#[test]
fn samples_and_archived_are_suppressed_unless_let_through() {
    let f = "tests/fixtures/samples.jsonl";
    let r = json(&[f]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let samples: Vec<_> = r.records.iter().filter(|r| r["sample"] == true).collect();
    assert_eq!(samples.len(), 3, "both sample forms are recognised");
    assert!(samples.iter().all(|r| r["reason"] == "sample"));
    let archived: Vec<_> = r.records.iter().filter(|r| r["archived"] == true).collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["reason"], "archived");
    assert_eq!(r.summary()["alerts"], 0);

    let r = json(&["--include-samples", f]);
    assert_eq!(r.summary()["alerts"], 3);
    assert_eq!(r.summary()["suppressed"]["archived"], 1);
    let r = json(&["--include-samples", "--include-archived", f]);
    assert_eq!(r.summary()["alerts"], 4);
}

#[test]
fn odd_but_real_shapes_all_parse() {
    let r = json(&["--min-severity", "0", "tests/fixtures/odd-findings.jsonl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.records.len(), 15);
    assert_eq!(r.summary()["rejected"]["not_a_finding"], 0);
    let weird = r
        .records
        .iter()
        .find(|r| r["type"] == "Weird:NoSlash")
        .expect("Weird:NoSlash");
    assert_eq!(weird["threat_purpose"], "Weird");
    assert_eq!(weird["threat_family"], Value::Null);
    let gov = r
        .records
        .iter()
        .find(|r| r["region"] == "us-gov-west-1")
        .expect("gov finding");
    assert!(
        gov["console_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://console.amazonaws-us-gov.com/"))
    );
    let cn = r
        .records
        .iter()
        .find(|r| r["region"] == "cn-north-1")
        .expect("cn finding");
    assert!(
        cn["console_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://console.amazonaws.cn/"))
    );
    for rec in &r.records {
        let sev = rec["severity"].as_f64().expect("severity");
        let want = if sev >= 9.0 {
            "Critical"
        } else if sev >= 7.0 {
            "High"
        } else if sev >= 4.0 {
            "Medium"
        } else {
            "Low"
        };
        assert_eq!(rec["severity_label"], want, "{}", rec["id"]);
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["process"],
        vec!["process", "s3://bucket"],
        vec!["nonsense"],
    ] {
        let r = run(&args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_closed_stdout_stops_quietly() {
    let dir = scratch("pipe");
    let f = write(&dir, "many.jsonl.gz", &gz(&many_findings(100_000)));
    let mut child = Command::new(BIN)
        .args(["process", "--format", "json", &f])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// A 10 MB single line between two findings (default limit 1 MiB): skipped without being
/// buffered, counted as `too_long`, and the findings around it are processed.
#[test]
fn a_10_mb_line_is_skipped_counted_and_the_rest_processed() {
    let dir = scratch("ten-mb-line");
    let good = |id: &str| {
        format!(r#"{{"id":"{id}","type":"Recon:EC2/Portscan","severity":5,"region":"us-east-1"}}"#)
    };
    let mut data = good("before").into_bytes();
    data.push(b'\n');
    data.extend(br#"{"id":"huge","type":"T","severity":9,"pad":""#);
    data.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    data.extend(b"\"}\n");
    data.extend(good("after").as_bytes());
    data.push(b'\n');
    let f = write(&dir, "ten-mb-line.jsonl.gz", &gz(&data));
    let r = json(&[&f]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids: Vec<&str> = r
        .records
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["before", "after"]);
    let s = r.summary();
    assert_eq!(s["rejected"]["too_long"], 1);
    assert_eq!(s["account"]["balanced"], true);
    assert_eq!(s["account"]["rejected_lines"], 1);
    assert!(!r.stderr.contains("xxxxxxxx"), "the line is not quoted");
}

/// JSON nested a million levels deep is rejected as invalid without a stack overflow; a finding
/// with a member nested 100 000 levels deep keeps what can be read (that member is left out),
/// so the finding is not lost; the rest is processed.
#[test]
fn deeply_nested_json_is_rejected_without_a_crash() {
    let dir = scratch("nested");
    let mut data = Vec::new();
    data.extend(std::iter::repeat_n(b'[', 1_000_000));
    data.push(b'\n');
    let mut nested =
        String::from(r#"{"id":"deep","type":"Recon:EC2/Portscan","severity":5,"resource":"#);
    nested.push_str(&"{\"a\":".repeat(100_000));
    nested.push('1');
    nested.push_str(&"}".repeat(100_000));
    nested.push_str("}\n");
    data.extend(nested.as_bytes());
    data.extend(br#"{"id":"fine","type":"Recon:EC2/Portscan","severity":5}"#);
    data.push(b'\n');
    let f = write(&dir, "nested.jsonl", &data);
    let r = json(&["--max-line-bytes", "4000000", &f]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids: Vec<&str> = r
        .records
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["deep", "fine"]);
    assert_eq!(by_id(&r.records, "deep")["resource"], Value::Null);
    assert_eq!(by_id(&r.records, "deep")["severity_label"], "Medium");
    let s = r.summary();
    assert_eq!(s["rejected"]["invalid_json"], 1, "{s}");
    assert_eq!(s["account"]["balanced"], true);
}

/// A decompression bomb: 3 MB of gzip that inflate to 3 GB. The decompressed-size bound stops
/// it early with an error naming the limit; nothing near 3 GB is read or held.
#[test]
fn a_decompression_bomb_is_stopped_by_the_size_bound() {
    let dir = scratch("bomb");
    // One gzip member of 1 MiB of newlines, repeated: a multi-member stream of 3 GiB.
    let member = gz(&vec![b'\n'; 1 << 20]);
    let bomb = member.repeat(3072);
    assert!(bomb.len() < 4 << 20, "{} bytes of gzip", bomb.len());
    let f = write(&dir, "bomb.jsonl.gz", &bomb);
    let r = json(&["--max-decompressed-bytes", "100000000", &f]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("decompressed size exceeds the limit of 100000000 bytes"),
        "{}",
        r.stderr
    );
    let s = r.summary();
    assert!(
        s["decompressed_bytes"].as_u64().unwrap() <= 100_000_000 + (1 << 20),
        "{s}"
    );
}

// ---------------------------------------------------------------------------------------------
// For people: help, sizes, colour, --output, completions, plain error lines
// ---------------------------------------------------------------------------------------------

/// Runs the binary with `env` set and `remove` unset (stdin empty, stdout and stderr piped).
fn run_env(args: &[&str], env: &[(&str, &str)], remove: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for k in remove {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run guardduty-alerts");
    Run {
        code: out.status.code().expect("exit code"),
        records: Vec::new(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What the sample export's text output looks like with every colour on.
const SGR: [&str; 5] = [
    "\u{1b}[1;91m",
    "\u{1b}[31m",
    "\u{1b}[33m",
    "\u{1b}[36m",
    "\u{1b}[0m",
];

/// Every ESC in `text` starts one of our own sequences (a crafted finding emits none of its own).
fn only_our_escapes(text: &str) -> bool {
    text.match_indices('\u{1b}')
        .all(|(i, _)| SGR.iter().any(|s| text[i..].starts_with(s)))
}

#[test]
fn help_wraps_to_the_width_in_columns() {
    for width in [80usize, 200] {
        let columns = width.to_string();
        let mut longest_seen = 0;
        for args in [
            vec!["--help"],
            vec!["process", "--help"],
            vec!["process", "-h"],
            vec!["check-config", "--help"],
            vec!["completions", "--help"],
        ] {
            let r = run_env(&args, &[("COLUMNS", &columns)], &["LINES"]);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
            for line in r.stdout.lines() {
                let n = line.chars().count();
                assert!(n <= width, "{args:?} at {width} columns: {n}: {line}");
                longest_seen = longest_seen.max(n);
            }
        }
        // The text uses the width it is given (300-character lines before wrap_help).
        assert!(
            longest_seen > width * 3 / 4,
            "at {width} columns the longest line is {longest_seen}"
        );
    }
    let r = run_env(&["process", "--help"], &[("COLUMNS", "100")], &[]);
    // The examples end `process --help`, and defaults are shown in human units.
    let examples = r.stdout.split_once("\nExamples:\n").expect("examples").1;
    assert!(
        examples.contains("guardduty-alerts process --min-severity high exports/*.jsonl.gz"),
        "{examples}"
    );
    assert!(examples.contains("--profile security-audit --region eu-west-1"));
    assert!(r.stdout.contains("[default: 1MiB]"), "{}", r.stdout);
    assert!(r.stdout.contains("[default: 64GiB]"), "{}", r.stdout);
}

#[test]
fn sizes_take_units() {
    let dir = scratch("units");
    let mut data = br#"{"id":"short","type":"Recon:EC2/Portscan","severity":5}"#.to_vec();
    data.push(b'\n');
    let mut long = String::from(r#"{"id":"long","type":"Recon:EC2/Portscan","severity":5,"pad":""#);
    long.push_str(&"x".repeat(4500 - long.len() - 2));
    long.push_str("\"}");
    assert_eq!(long.len(), 4500);
    data.extend(long.as_bytes());
    data.push(b'\n');
    let f = write(&dir, "units.jsonl", &data);
    for (limit, too_long) in [
        ("4KiB", 1),
        ("4 KiB", 1),
        ("4096", 1),
        ("4499", 1),
        ("4500", 0),
        ("5KB", 0),
        ("1MiB", 0),
        ("1mb", 0),
    ] {
        let r = json(&["--max-line-bytes", limit, &f]);
        assert_eq!(r.code, 0, "{limit}: {}", r.stderr);
        assert_eq!(
            r.summary()["rejected"]["too_long"],
            too_long,
            "--max-line-bytes {limit}"
        );
    }
    for (limit, says) in [
        (
            "4XB",
            "\"4XB\": unknown unit \"XB\": write a whole number of bytes",
        ),
        ("1.5MiB", "fractions are not accepted"),
        ("4M", "unknown unit \"M\""),
        ("lots", "is not a size"),
    ] {
        let r = json(&["--max-line-bytes", limit, &f]);
        assert_eq!(r.code, 2, "{limit}: {}", r.stderr);
        assert!(
            r.stderr.contains("invalid value") && r.stderr.contains(says),
            "{limit}: {}",
            r.stderr
        );
    }
    let r = json(&[
        "--max-decompressed-bytes",
        "16KiB",
        "events/sample-export.jsonl.gz",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("decompressed size exceeds the limit of 16384 bytes"),
        "{}",
        r.stderr
    );
}

#[test]
fn colour_always_never_and_no_color_off_a_terminal() {
    let sample = "events/sample-export.jsonl.gz";
    let always = run_env(
        &["process", "--color", "always", sample],
        &[],
        &["NO_COLOR"],
    );
    assert_eq!(always.code, 0, "{}", always.stderr);
    assert!(
        always
            .stdout
            .contains("\u{1b}[1;91m[CRITICAL]\u{1b}[0m AttackSequence:S3/CompromisedData"),
        "{}",
        always.stdout
    );
    assert!(always.stdout.contains("\u{1b}[31m[HIGH]\u{1b}[0m "));
    assert!(always.stdout.contains("\u{1b}[33m[MEDIUM]\u{1b}[0m "));
    // The crafted finding's own ESC characters are still shown escaped, never emitted.
    assert!(always.stdout.contains("\\u{1b}[31m"));
    assert!(only_our_escapes(&always.stdout), "{:?}", always.stdout);
    // Colour or not, the same text.
    let plain = run_env(&["process", sample], &[], &["NO_COLOR"]);
    let stripped = SGR
        .iter()
        .fold(always.stdout.clone(), |t, s| t.replace(s, ""));
    assert_eq!(stripped, plain.stdout);
    // Not a terminal (auto), NO_COLOR, never: no colour. `always` beats NO_COLOR.
    assert!(!plain.stdout.contains('\u{1b}'));
    for (args, env) in [
        (vec!["--color", "never"], vec![]),
        (vec!["--color", "auto"], vec![]),
        (vec![], vec![("NO_COLOR", "1")]),
    ] {
        let mut all = vec!["process"];
        all.extend(args.iter().copied());
        all.push(sample);
        let r = run_env(&all, &env, &["NO_COLOR"]);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, plain.stdout, "{args:?} {env:?}");
    }
    let r = run_env(
        &["process", "--color", "always", sample],
        &[("NO_COLOR", "1")],
        &[],
    );
    assert_eq!(r.stdout, always.stdout, "--color always overrides NO_COLOR");
    // JSON is never coloured.
    let r = run_env(
        &["process", "--color", "always", "--format", "json", sample],
        &[],
        &[],
    );
    assert!(!r.stdout.contains('\u{1b}'));
}

/// Runs `process` with stdout on a pseudo-terminal (so `--color auto` sees a terminal) and
/// returns what it wrote there.
fn on_a_terminal(args: &[&str], env: &[(&str, &str)]) -> String {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors; each is owned by one File below.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptors from openpty, not owned elsewhere.
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut cmd = Command::new(BIN);
    cmd.arg("process")
        .args(args)
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn on a pty");
    drop(cmd); // our copy of the terminal's slave side
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // Linux answers EIO once the last slave descriptor is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    String::from_utf8(reader.join().expect("reader")).expect("UTF-8")
}

#[test]
fn colour_auto_on_a_terminal_unless_no_color() {
    let sample = "events/sample-export.jsonl.gz";
    let on = on_a_terminal(&[sample], &[]);
    assert!(on.contains("\u{1b}[1;91m[CRITICAL]\u{1b}[0m"), "{on:?}");
    assert!(only_our_escapes(&on), "{on:?}");
    // NO_COLOR set to an empty string does not count (no-color.org).
    assert_eq!(on_a_terminal(&[sample], &[("NO_COLOR", "")]), on);
    for (args, env) in [
        (vec![sample], vec![("NO_COLOR", "1")]),
        (vec!["--color", "never", sample], vec![]),
    ] {
        let off = on_a_terminal(&args, &env);
        assert!(off.contains("[CRITICAL] "), "{off:?}");
        assert!(!off.contains('\u{1b}'), "{args:?} {env:?}: {off:?}");
    }
}

#[test]
fn output_goes_to_the_file_created_or_truncated() {
    let dir = scratch("output");
    let sample = "events/sample-export.jsonl.gz";
    let file = dir.join("alerts.txt");
    std::fs::write(&file, "x".repeat(100_000)).expect("old contents");
    let path = file.to_string_lossy();
    let to_stdout = run(&["process", sample], None);
    for output in ["--output", "-o"] {
        let r = run(&["process", output, &path, sample], None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, "", "nothing on stdout");
        assert!(
            r.stderr.contains("10 alerts"),
            "the summary stays on stderr"
        );
        let written = std::fs::read_to_string(&file).expect("the output file");
        assert_eq!(written, to_stdout.stdout, "truncated, then the same text");
    }
    // JSON records and dry-run lines go there too; `-` is standard output.
    let r = run(
        &["process", "--format", "json", "--output", &path, sample],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let written = std::fs::read_to_string(&file).expect("the output file");
    assert_eq!(written.lines().count(), 12);
    let r = run(&["process", "--output", "-", sample], None);
    assert_eq!(r.stdout, to_stdout.stdout);
    // A file that cannot be created: exit 2, the file named, nothing read.
    let bad = dir.join("no-such-dir/alerts.txt");
    let r = run(
        &["process", "--output", &bad.to_string_lossy(), sample],
        None,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "error: {}: cannot create the --output file (No such file or directory (os error 2))\n",
            bad.display()
        )
    );
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell], None);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.len() > 500, "{shell}: {}", r.stdout);
        for word in ["process", "check-config", "max-line-bytes", "always"] {
            assert!(r.stdout.contains(word), "{shell} script lacks {word}");
        }
    }
    // bash, as it completes `guardduty-alerts process --co<TAB>` and `--color <TAB>` (a
    // hyphen in the name once broke everything past the subcommand: clap-rs/clap#6421).
    let dir = scratch("completions");
    let script = write(
        &dir,
        "guardduty-alerts.bash",
        run(&["completions", "bash"], None).stdout.as_bytes(),
    );
    let complete = |words: &str, cword: usize, cur: &str, prev: &str| -> String {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                r#"source "{script}"
                spec=$(complete -p guardduty-alerts) || exit 3
                f=${{spec##*-F }}; f=${{f%% *}}
                COMP_WORDS=({words}); COMP_CWORD={cword}
                "$f" guardduty-alerts "{cur}" "{prev}"
                echo "${{COMPREPLY[*]}}""#
            ))
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        complete("guardduty-alerts pro", 1, "pro", "guardduty-alerts"),
        "process"
    );
    assert_eq!(
        complete("guardduty-alerts process --co", 2, "--co", "process"),
        "--concurrency --color --config"
    );
    assert_eq!(
        complete("guardduty-alerts process --color ''", 3, "", "--color"),
        "auto always never"
    );
    let r = run(&["completions", "tcsh"], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("bash, zsh, fish"), "{}", r.stderr);
}

#[test]
fn rust_log_turns_on_the_diagnostic_log_lines() {
    let dir = scratch("rust-log");
    let f = write(&dir, "one-bad.jsonl", b"{\"findings\":[]}\n");
    let plain = run_env(&["process", &f], &[], &["RUST_LOG"]);
    assert_eq!(
        plain.stderr.lines().next(),
        Some(
            format!(
                "warning: {f}:1: line rejected; the rest of the object is still processed \
                 (reason: not_a_finding, detail: no id, type, severity (a GuardDuty finding has \
                 id, type and a numeric severity))"
            )
            .as_str()
        ),
        "{}",
        plain.stderr
    );
    let debug = run_env(&["process", &f], &[("RUST_LOG", "debug")], &[]);
    assert_eq!(debug.code, 0, "{}", debug.stderr);
    assert!(
        debug.stderr.lines().any(|l| l.contains(" WARN ")
            && l.contains("line rejected")
            && l.contains(&format!("source={f} line=1"))),
        "{}",
        debug.stderr
    );
    assert!(
        debug
            .stderr
            .lines()
            .any(|l| l.contains("DEBUG") && l.contains("source done")),
        "{}",
        debug.stderr
    );
}
