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
    // Each rejection is logged with its line number and reason, and never quotes the line.
    for (line, reason) in [
        (4, "not_a_finding"),
        (5, "invalid_json"),
        (6, "invalid_utf8"),
        (7, "too_long"),
        (10, "not_a_finding"),
        (11, "not_a_finding"),
    ] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(&format!("line={line}")) && l.contains(reason)),
            "no log for line {line} ({reason}):\n{}",
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
    assert!(
        r.stderr.contains(&format!("{missing}: not found")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("is a directory"), "{}", r.stderr);
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
