//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/`) through the same checks
//! the fuzz targets run (`fuzz/src/lib.rs`, included below), so the corpus keeps passing without
//! running a fuzzer. A failure names the target, the file and the invariant; reproduce it with
//! `cargo fuzz run <target> fuzz/corpus/<target>/<file>` (see fuzz/README.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

/// Fewest files each corpus must hold: its hand-written seeds (fuzz/make_seeds.py).
const MIN_FILES: usize = 10;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file of a target's corpus; returns the failures.
fn replay(target: &str, check: fuzz_checks::Check) -> Vec<String> {
    let dir = corpus_dir(target);
    let files = files(&dir);
    assert!(
        files.len() >= MIN_FILES,
        "{}: {} files, expected at least {MIN_FILES} (the seeds; regenerate with fuzz/make_seeds.py)",
        dir.display(),
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read a corpus file");
        let name = path.file_name().unwrap().to_string_lossy();
        match catch_unwind(AssertUnwindSafe(|| check(&data))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{target}/{name}: {e}")),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                failures.push(format!("{target}/{name}: panicked: {msg}"));
            }
        }
    }
    eprintln!("{target}: {} corpus files replayed", files.len());
    failures
}

fn assert_corpus_passes(target: &str) {
    let (_, check) = fuzz_checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let failures = replay(target, *check);
    assert!(
        failures.is_empty(),
        "{} corpus files fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn trigger_event_corpus() {
    assert_corpus_passes("trigger_event");
}

#[test]
fn export_reader_corpus() {
    assert_corpus_passes("export_reader");
}

#[test]
fn render_corpus() {
    assert_corpus_passes("render");
}

/// Every corpus folder belongs to a target this test replays, and the other way round.
#[test]
fn every_target_has_a_replayed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .expect("fuzz/corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = fuzz_checks::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    targets.sort();
    assert_eq!(dirs, targets);
    // And the fuzz crate builds exactly these targets.
    let manifest = std::fs::read_to_string(root.join("../Cargo.toml")).expect("fuzz/Cargo.toml");
    for t in &targets {
        assert!(
            manifest.contains(&format!("name = \"{t}\"")),
            "fuzz/Cargo.toml has no [[bin]] {t}"
        );
    }
}

/// A plain finding, an unrecognised event and a one-line export pass every check (the checks
/// catching violations is tested in fuzz/src/lib.rs, whose tests run here too).
#[test]
fn known_good_inputs_pass_every_check() {
    // A finding line that the model parses: accepted as is.
    let line = br#"{"id":"a","type":"Recon:EC2/Probe","severity":5}"#;
    fuzz_checks::render(line).expect("a plain finding renders");
    fuzz_checks::trigger_event(br#"{"Records":[]}"#).expect("an unrecognised event is fine");
    let mut case = vec![0u8; fuzz_checks::EXPORT_HEADER];
    case.extend_from_slice(line);
    fuzz_checks::export_reader(&case).expect("one finding, read plainly");
}
