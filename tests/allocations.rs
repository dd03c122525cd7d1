//! Allocations per finding on the CLI's `--format json` path, counted by a counting global
//! allocator around the real pipeline (`process_source`: gunzip, frame, parse, classify, decide,
//! write).
//!
//! What a finding costs: the console link, the resource summary and the documentation link are
//! owned strings (one allocation each, of exactly their length), the finding's non-empty lists
//! (instance tags, S3 buckets) are a `Vec` each, and with a rules file a routed finding's
//! destination list is one more. Nothing else allocates per finding: the framer's chunks and the
//! record buffer are reused, the parse borrows from the line, and the record is written without
//! a serializer. On the bundled sample that is 4.65 per finding without rules and 5.74 with
//! `examples/rules.toml` (2026-12-07); the budgets below leave less than one allocation of room,
//! so a new allocation per finding fails them. Fixed costs (the runtime, the decoder, the
//! channel) cancel out: two exports are counted, one twice the size of the other, and the
//! difference is divided by the difference in findings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use guardduty_alerts::classify::{classify, docs_url};
use guardduty_alerts::cli::output::JsonLines;
use guardduty_alerts::decide::rules::RulesConfig;
use guardduty_alerts::decide::{Decide, Policy};
use guardduty_alerts::export::ReaderOptions;
use guardduty_alerts::export::finding::Finding;
use guardduty_alerts::pipeline::{Stats, process_source};
use guardduty_alerts::source::{LocalOpener, SourceRef};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// The count is process-wide: the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Counting on this thread only (the harness's own threads allocate meanwhile).
    static COUNTING_HERE: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed) || COUNTING_HERE.try_with(Cell::get).unwrap_or(false)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample's findings, `copies` times over, gzip'd.
fn export(copies: usize) -> (bytes::Bytes, u64) {
    let text = std::fs::read_to_string(root().join("events/sample-export.jsonl"))
        .expect("events/sample-export.jsonl");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..copies {
        for l in &lines {
            gz.write_all(l.as_bytes()).expect("write");
            gz.write_all(b"\n").expect("write");
        }
    }
    let body = gz.finish().expect("gzip");
    (body.into(), (copies * lines.len()) as u64)
}

/// Allocations made while the pipeline reads `copies` copies of the sample.
fn allocations(
    rt: &tokio::runtime::Runtime,
    decider: &(dyn Decide + Sync),
    copies: usize,
) -> (u64, u64) {
    let (body, findings) = export(copies);
    let src = SourceRef::Inline {
        name: format!("sample x {copies}"),
        body,
    };
    rt.block_on(async {
        let mut out = JsonLines::new(std::io::sink());
        let mut stats = Stats::default();
        ALLOCATIONS.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        let result = process_source(
            &src,
            &LocalOpener,
            &ReaderOptions::default(),
            decider,
            &mut out,
            &mut stats,
        )
        .await;
        COUNTING.store(false, Ordering::SeqCst);
        result.expect("the pipeline reads the export");
        assert_eq!(stats.findings, findings, "every finding read");
        (ALLOCATIONS.load(Ordering::SeqCst), findings)
    })
}

/// Allocations per finding, fixed costs cancelled: (2N run - N run) / N.
fn per_finding(decider: &(dyn Decide + Sync)) -> f64 {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    allocations(&rt, decider, 50); // warm the runtime's pools
    let (small, n_small) = allocations(&rt, decider, 500);
    let (large, n_large) = allocations(&rt, decider, 1_000);
    let per = (large.saturating_sub(small)) as f64 / (n_large - n_small) as f64;
    eprintln!(
        "{small} allocations for {n_small} findings, {large} for {n_large}: {per:.3} per finding"
    );
    per
}

#[test]
fn allocations_per_finding_stay_within_budget_without_rules() {
    let per = per_finding(&Policy::default());
    assert!(
        per <= 5.0,
        "{per:.3} allocations per finding without rules (budget 5: the console link, the resource summary, the documentation link, the lists)"
    );
    assert!(per >= 2.0, "{per:.3} per finding: is the counter counting?");
}

#[test]
fn with_a_rules_file_a_routed_finding_adds_its_destination_list() {
    let text = std::fs::read_to_string(root().join("examples/rules.toml")).expect("rules.toml");
    let rules = RulesConfig::from_toml_str(&text, "examples/rules.toml").expect("rules compile");
    let per = per_finding(&rules);
    assert!(
        per <= 6.5,
        "{per:.3} allocations per finding with examples/rules.toml (budget 6.5: as without rules, and the destination list)"
    );
}

#[test]
fn classifying_allocates_the_two_owned_strings_and_the_docs_link_one() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = std::fs::read_to_string(root().join("events/sample-export.jsonl"))
        .expect("events/sample-export.jsonl");
    let count = |f: &dyn Fn()| {
        ALLOCATIONS.store(0, Ordering::SeqCst);
        COUNTING_HERE.with(|c| c.set(true));
        f();
        COUNTING_HERE.with(|c| c.set(false));
        ALLOCATIONS.load(Ordering::SeqCst)
    };
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let f = Finding::parse(line).expect("a sample finding");
        let c = classify(&f);
        let owned = u64::from(c.console_url.is_some()) + u64::from(c.resource.is_some());
        let classifying = count(&|| {
            std::hint::black_box(classify(&f));
        });
        assert_eq!(
            classifying,
            owned,
            "sample finding {}: classify allocates its console link and resource summary, once each",
            n + 1
        );
        let docs = count(&|| {
            std::hint::black_box(docs_url(c.partition, f.type_str()));
        });
        assert_eq!(
            docs,
            1,
            "sample finding {}: one allocation for the documentation link",
            n + 1
        );
    }
}
