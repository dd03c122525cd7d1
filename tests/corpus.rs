//! Conformance over real public GuardDuty findings in `../shared/corpus/findings/` (published by
//! other projects; not copied into this repository). Runs whenever that folder exists; set
//! `GUARDDUTY_CORPUS` to point elsewhere, or `GUARDDUTY_CORPUS_REQUIRED=1` to fail when absent.
//!
//! Expectations are computed here independently of the product's code, from `serde_json::Value`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_guardduty-alerts");

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GUARDDUTY_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/findings")
        });
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var_os("GUARDDUTY_CORPUS_REQUIRED").is_some() {
        panic!(
            "corpus folder {} not found (GUARDDUTY_CORPUS_REQUIRED is set)",
            dir.display()
        );
    } else {
        eprintln!(
            "NOTE: corpus folder {} not found: conformance over public findings NOT run",
            dir.display()
        );
        None
    }
}

fn expected_sample(f: &Value) -> bool {
    let info = &f["service"]["additionalInfo"];
    if info["sample"] == true {
        return true;
    }
    info["value"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .is_some_and(|v| v["sample"] == true)
}

fn expected_label(sev: f64) -> &'static str {
    match sev {
        s if s >= 9.0 => "Critical",
        s if s >= 7.0 => "High",
        s if s >= 4.0 => "Medium",
        _ => "Low",
    }
}

#[test]
fn every_public_finding_parses_and_classifies() {
    let Some(dir) = corpus_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.jsonl in {}", dir.display());
    let mut total = 0;
    let mut samples = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read corpus file");
        let originals: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("corpus line is JSON"))
            .collect();
        let out = Command::new(BIN)
            .args(["process", "--format", "json", "--min-severity", "0"])
            .arg(file)
            .output()
            .expect("run binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", file.display());
        let records: Vec<Value> = String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("record JSON"))
            .collect();
        assert_eq!(
            records.len(),
            originals.len(),
            "{}: every line is a finding\n{stderr}",
            file.display()
        );
        for (orig, rec) in originals.iter().zip(&records) {
            let ctx = format!("{} {}", file.display(), orig["id"]);
            assert_eq!(rec["id"], orig["id"], "{ctx}");
            assert_eq!(rec["type"], orig["type"], "{ctx}");
            let sev = orig["severity"].as_f64().expect("numeric severity");
            assert_eq!(rec["severity"].as_f64(), Some(sev), "{ctx}");
            assert_eq!(rec["severity_label"], expected_label(sev), "{ctx}");
            // The type parts put back together give the type.
            let mut rebuilt = rec["threat_purpose"].as_str().expect("purpose").to_owned();
            if let Some(r) = rec["resource_type_affected"].as_str() {
                rebuilt = format!("{rebuilt}:{r}");
            }
            if let Some(f) = rec["threat_family"].as_str() {
                rebuilt = format!("{rebuilt}/{f}");
            }
            if let Some(m) = rec["detection_mechanism"].as_str() {
                rebuilt = format!("{rebuilt}.{m}");
            }
            if let Some(a) = rec["artifact"].as_str() {
                rebuilt = format!("{rebuilt}!{a}");
            }
            assert_eq!(rebuilt, orig["type"].as_str().expect("type"), "{ctx}");
            assert_eq!(rec["sample"], expected_sample(orig), "{ctx}");
            if orig["accountId"].is_string() {
                assert_eq!(rec["account_id"], orig["accountId"], "{ctx}");
            }
            if let Some(region) = orig["region"].as_str() {
                assert_eq!(rec["region"], region, "{ctx}");
                let url = rec["console_url"].as_str().expect("console url");
                assert!(url.contains(&format!("region={region}")), "{ctx}");
            }
            if orig["resource"].is_object() && orig["resource"]["resourceType"] != "AttackSequence"
            {
                assert!(
                    rec["resource"].is_string(),
                    "{ctx}: no resource summary for {}",
                    orig["resource"]["resourceType"]
                );
            }
            // Every type links to its own section of the User Guide (its resource's page and
            // an anchor made of the type's letters and digits), never to the page of all types.
            let docs = rec["docs_url"].as_str().expect("docs_url");
            let (page, anchor) = docs.split_once('#').unwrap_or((docs, ""));
            assert!(
                page.starts_with("https://docs.aws.amazon.com/guardduty/latest/ug/")
                    && !page.ends_with("guardduty_finding-types-active.html")
                    && !anchor.is_empty()
                    && anchor
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{ctx}: {} has no documentation link of its own: {docs}",
                orig["type"]
            );
            samples += usize::from(rec["sample"] == true);
        }
        total += records.len();
    }
    eprintln!(
        "corpus conformance: {total} findings in {} files, {samples} samples",
        files.len()
    );
    assert!(total >= 40, "expected the whole corpus, got {total}");
}
