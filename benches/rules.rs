//! Cost of routing-rule evaluation: median nanoseconds per `RulesConfig::evaluate` with 50
//! rules, over the findings of `events/sample-export.jsonl`.
//!
//! ```text
//! cargo bench --bench rules
//! BENCH_ROUNDS=21 BENCH_EVALS=24000 cargo bench --bench rules      # quicker
//! ```
//!
//! A plain program (`harness = false`): it reports, it does not assert. Findings are parsed
//! and classified once, outside the timed loop; each round times many passes of `evaluate`
//! over all of them, and the report gives the median, minimum and p90 of the rounds, next to
//! the cost of parsing and classifying one of the same findings (what the pipeline pays per
//! finding anyway) so the share rules add can be read off. The measurements alternate within
//! each round, so a busy machine slows them alike.
//!
//! Two rule sets of 50:
//!
//! - **realistic**: what an organisation with 20 teams writes. 20 per-team rules name
//!   accounts the sample findings are not in, 10 tag rules name tags they do not carry, noise
//!   and routing rules follow, and the rule that finally decides is near the end of the file
//!   for most findings (printed per finding).
//! - **unindexed**: 49 rules of distinct type globs that never match, then a severity rule.
//!   Nothing in them lets the prefilter skip a rule, so every finding is matched against all
//!   50 in full: the upper bound for 50 rules.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;

use common::{Summary, env_count};
use guardduty_alerts::classify::{Classification, classify};
use guardduty_alerts::decide::rules::{DecidedBy, RulesConfig};
use guardduty_alerts::export::finding::Finding;

/// Evaluations per round (spread over all findings); `BENCH_EVALS` overrides it.
const EVALS_PER_ROUND: usize = 240_000;

fn main() {
    let rounds = env_count("BENCH_ROUNDS", 101);
    let per_round = env_count("BENCH_EVALS", EVALS_PER_ROUND);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("events/sample-export.jsonl"))
        .expect("events/sample-export.jsonl");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let findings: Vec<Finding<'_>> = lines
        .iter()
        .map(|l| Finding::parse(l).expect("sample finding parses"))
        .collect();
    let classes: Vec<Classification<'_>> = findings.iter().map(classify).collect();

    let sets = [
        ("realistic", fifty_rules()),
        ("unindexed", fifty_unindexed_rules()),
    ];
    let configs: Vec<(&str, RulesConfig)> = sets
        .iter()
        .map(|(name, text)| {
            let c = RulesConfig::from_toml_str(text, name)
                .unwrap_or_else(|e| panic!("bench rules {name} are invalid:\n{e}"));
            assert_eq!(c.rules().len(), 50, "{name}");
            (*name, c)
        })
        .collect();

    println!(
        "machine : {} CPUs available to this process",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!(
        "findings: {} from events/sample-export.jsonl",
        findings.len()
    );
    for (name, config) in &configs {
        println!(
            "{name}: 50 rules, {} destinations, {} named accounts; decided by",
            config.destinations().len(),
            config.accounts().len()
        );
        for (f, c) in findings.iter().zip(&classes) {
            let o = config.evaluate(f, c);
            let at = match o.decided_by {
                DecidedBy::Rule { index, .. } => format!("rule #{} of 50", index + 1),
                DecidedBy::Default => "the default, after all 50".to_owned(),
            };
            println!("  {:<70} {} ({at})", f.type_str(), o.decided_by.name());
        }
    }

    let passes = (per_round / findings.len()).max(1);
    let evals = passes * findings.len();
    let parse_passes = (passes / 20).max(1);
    let mut eval_ns = vec![Vec::with_capacity(rounds); configs.len()];
    let mut parse_ns = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let measure_parse = || {
            let t = Instant::now();
            for _ in 0..parse_passes {
                for l in &lines {
                    let f = Finding::parse(black_box(l)).expect("parses");
                    black_box(classify(&f).label);
                }
            }
            t.elapsed().as_nanos() as f64 / (parse_passes * lines.len()) as f64
        };
        // Rotate the order of the three measurements from round to round.
        for step in 0..=configs.len() {
            let k = (step + round) % (configs.len() + 1);
            if k == configs.len() {
                parse_ns.push(measure_parse());
                continue;
            }
            let config = &configs[k].1;
            let t = Instant::now();
            for _ in 0..passes {
                for (f, c) in findings.iter().zip(&classes) {
                    black_box(config.evaluate(black_box(f), black_box(c)));
                }
            }
            eval_ns[k].push(t.elapsed().as_nanos() as f64 / evals as f64);
        }
    }
    let (p_med, p_min, _) = stats(&parse_ns);
    println!();
    println!("rounds  : {rounds}, each {evals} evaluations per rule set");
    for ((name, _), samples) in configs.iter().zip(&eval_ns) {
        let (med, min, p90) = stats(samples);
        println!(
            "evaluate, 50 rules, {name:<9}: median {med:>7.1} ns, min {min:>7.1} ns, p90 {p90:>7.1} ns per finding ({:.1}% of parse + classify)",
            100.0 * med / p_med
        );
    }
    println!(
        "parse + classify, same findings: median {p_med:>7.0} ns, min {p_min:>7.0} ns per finding"
    );
    println!(
        "(the pipeline also inflates, frames and writes each finding, so the share of its time is smaller)"
    );
    end_to_end(&lines, &configs);
}

/// The foundation pipeline end to end (gzip'd export on disk -> decompress -> frame -> parse
/// -> classify -> decide -> JSON Lines to a sink, as `process --format json > /dev/null`), with
/// the default policy and with each 50-rule set, alternating within each round. Reports the
/// median time of each and its ratio to the policy's.
fn end_to_end(lines: &[&str], configs: &[(&str, RulesConfig)]) {
    use guardduty_alerts::cli::output::JsonLines;
    use guardduty_alerts::decide::{Decide, Policy};
    use guardduty_alerts::export::ReaderOptions;
    use guardduty_alerts::pipeline::{Stats, process_source};
    use guardduty_alerts::source::{LocalOpener, SourceRef};
    use std::io::Write as _;

    let copies = env_count("BENCH_E2E_FINDINGS", 200_000) / lines.len();
    let rounds = env_count("BENCH_E2E_ROUNDS", 11);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench-data dir");
    let path = dir.join(format!("rules-e2e-{}.jsonl.gz", copies * lines.len()));
    {
        let file = std::fs::File::create(&path).expect("create the export");
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        for i in 0..copies {
            for l in lines {
                // A distinct id per copy: `"id":"` is followed by the finding id.
                let l = l.replacen("\"id\":\"", &format!("\"id\":\"{i:08x}"), 1);
                gz.write_all(l.as_bytes()).expect("write");
                gz.write_all(b"\n").expect("write");
            }
        }
        gz.finish().expect("finish gzip").flush().expect("flush");
    }
    let src = SourceRef::parse(path.to_str().expect("utf-8 path")).expect("source");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let run = |decider: &dyn Decide| -> f64 {
        rt.block_on(async {
            let mut out = JsonLines::new(std::io::sink());
            let mut stats = Stats::default();
            let t = Instant::now();
            process_source(
                &src,
                &LocalOpener,
                &ReaderOptions::default(),
                decider,
                &mut out,
                &mut stats,
            )
            .await
            .expect("pipeline");
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(stats.findings as usize, copies * lines.len());
            secs
        })
    };
    let policy = Policy::default();
    let mut deciders: Vec<(&str, &dyn Decide)> = vec![("policy (no rules)", &policy)];
    for (name, c) in configs {
        deciders.push((name, c));
    }
    let mut times = vec![Vec::with_capacity(rounds); deciders.len()];
    run(&policy); // warm the page cache and the allocator
    for round in 0..rounds {
        for step in 0..deciders.len() {
            let k = (step + round) % deciders.len();
            times[k].push(run(deciders[k].1));
        }
    }
    let n = copies * lines.len();
    println!();
    println!(
        "end to end: {n} findings ({} MB gzip'd), process --format json to a sink, {rounds} rounds alternating",
        std::fs::metadata(&path).map_or(0, |m| m.len()) / 1_000_000
    );
    let (base, _, _) = stats(&times[0]);
    for ((name, _), t) in deciders.iter().zip(&mut times) {
        let (med, min, _) = stats(t);
        println!(
            "  {name:<18}: median {:>7.1} ms, min {:>7.1} ms, {:>6.0} k findings/s, {:+.1}% vs policy",
            med * 1e3,
            min * 1e3,
            n as f64 / med / 1e3,
            100.0 * (med / base - 1.0)
        );
    }
}

/// 49 rules of distinct type globs that match none of the sample findings, then
/// `severity = "0.."`: nothing for the prefilter to go on.
fn fifty_unindexed_rules() -> String {
    let mut s = String::from(
        "[destinations.a]\ntype = \"sns\"\ntopic_arn = \"arn:aws:sns:us-east-1:111122223333:a\"\n",
    );
    for i in 0..49 {
        let _ = writeln!(
            s,
            "\n[[rules]]\nname = \"glob{i}\"\nmatch = {{ types = [\"*:EC2/Family{i}*\", \"*Thing{i}!DNS\"] }}\naction = \"route\"\ndestinations = [\"a\"]"
        );
    }
    s.push_str("\n[[rules]]\nname = \"all\"\nmatch = { severity = \"0..\" }\naction = \"route\"\ndestinations = [\"a\"]\n");
    s
}

/// (median, min, p90) of the samples.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let s = Summary::of(v).expect("at least one round");
    (s.median, s.min, s.p90)
}

/// A 50-rule file of the kind an organisation with 20 teams writes.
fn fifty_rules() -> String {
    let mut s =
        String::from("[settings]\ndigest_threshold = 20\ndefault = \"suppress\"\n\n[accounts]\n");
    // 40 team accounts (prod and dev per team); the sample findings are in none of them.
    for t in 0..20 {
        let _ = writeln!(s, "\"{:012}\" = \"team{t}-prod\"", 200_000_000_000u64 + t);
        let _ = writeln!(s, "\"{:012}\" = \"team{t}-dev\"", 300_000_000_000u64 + t);
    }
    s.push_str("\"111122223333\" = \"shared-prod\"\n\"444455556666\" = \"shared-dev\"\n\n");
    s.push_str(
        r#"[destinations.security-sns]
type = "sns"
topic_arn = "arn:aws:sns:us-east-1:111122223333:guardduty-alerts"
[destinations.pagerduty]
type = "pagerduty"
routing_key = { ssm = "/gd/pagerduty" }
[destinations.siem]
type = "webhook"
url = { env = "SIEM_URL" }
"#,
    );
    for t in 0..20 {
        let _ = writeln!(
            s,
            "[destinations.team{t}]\ntype = \"slack\"\nurl = {{ secret = \"gd-webhooks\", key = \"team{t}\" }}"
        );
    }
    let mut rule = |name: &str, m: &str, action: &str| {
        let _ = writeln!(
            s,
            "\n[[rules]]\nname = \"{name}\"\nmatch = {{ {m} }}\n{action}"
        );
    };
    let suppress = |why: &str| format!("action = \"suppress\"\nreason = \"{why}\"");
    let route = |d: &str| format!("action = \"route\"\ndestinations = [{d}]");
    let digest = |d: &str| format!("action = \"digest\"\ndestinations = [{d}]");

    rule("drop-samples", "sample = true", &suppress("sample finding"));
    rule("drop-archived", "archived = true", &suppress("archived"));
    // 20 team rules: prod and dev account of each team, High and up.
    for t in 0..20 {
        rule(
            &format!("team{t}"),
            &format!(r#"accounts = ["team{t}-prod", "team{t}-dev"], severity = "high..""#),
            &route(&format!("\"team{t}\", \"siem\"")),
        );
    }
    // 10 rules on tags of compute resources.
    for t in 0..10 {
        rule(
            &format!("tagged-team{t}"),
            &format!(
                r#"types = ["*:EC2/*", "*:Runtime/*", "*:ECS/*"], tags = ["team=team{t}", "owner=team{t}*"]"#
            ),
            &route(&format!("\"team{t}\"")),
        );
    }
    // Known noise.
    rule(
        "noisy-portprobe-dev",
        r#"types = ["Recon:EC2/PortProbe*"], accounts = ["shared-dev"]"#,
        &suppress("dev port probes"),
    );
    rule(
        "noisy-dns-low",
        r#"types = ["*!DNS"], severity = "low""#,
        &suppress("low DNS"),
    );
    rule(
        "pentest-tools",
        r#"types = ["PenTest:*"], regions = ["ap-southeast-2"]"#,
        &suppress("red team"),
    );
    rule("canary", r#"purposes = ["Canary"]"#, &suppress("canary"));
    rule(
        "policy-low",
        r#"purposes = ["Policy"], severity = "..4", accounts = ["shared-dev"]"#,
        &suppress("policy findings in dev"),
    );
    rule(
        "s3-public-test",
        r#"resource_types = ["S3Bucket"], tags = ["env=test"]"#,
        &suppress("test buckets"),
    );
    rule(
        "kube-dev",
        r#"affected = ["Kubernetes"], accounts = ["shared-dev"], severity = "..7""#,
        &digest("\"siem\""),
    );
    rule(
        "lambda-dev",
        r#"affected = ["Lambda"], regions = ["ap-south-1", "sa-east-1"]"#,
        &digest("\"siem\""),
    );
    // Feature- and purpose-based routing.
    rule(
        "rds-logins",
        r#"features = ["RdsLoginEventMonitoring"], severity = "high..""#,
        &route("\"pagerduty\""),
    );
    rule(
        "recon-digest",
        r#"purposes = ["Recon", "Discovery"], severity = "..7""#,
        &digest("\"security-sns\""),
    );
    rule(
        "malware-scan",
        r#"features = ["EbsVolumeScan"]"#,
        &route("\"security-sns\", \"siem\""),
    );
    rule(
        "crypto",
        r#"purposes = ["CryptoCurrency"], severity = "critical""#,
        &route("\"pagerduty\""),
    );
    rule(
        "runtime-dev",
        r#"affected = ["Runtime"], accounts = ["shared-dev"]"#,
        &digest("\"siem\""),
    );
    rule(
        "exfiltration",
        r#"purposes = ["Exfiltration"], severity = "medium..""#,
        &route("\"pagerduty\""),
    );
    rule(
        "critical",
        r#"severity = "critical""#,
        &route("\"pagerduty\", \"security-sns\", \"siem\""),
    );
    rule(
        "iam-high",
        r#"affected = ["IAMUser", "IAM"], severity = "7..""#,
        &route("\"security-sns\", \"siem\""),
    );
    rule(
        "medium-and-up",
        r#"severity = "4..""#,
        &route("\"security-sns\""),
    );
    rule(
        "low-digest",
        r#"severity = "..4", regions = ["us-east-1", "eu-west-1"]"#,
        &digest("\"security-sns\""),
    );
    s
}
