//! The bench's synthetic export on disk: generated once per size with [`Generator`], reused
//! while its sidecar matches (shared by the benches that read a large export).

use std::env;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::findings::{Generator, SEED};

/// Findings per gzip member.
const MEMBER_FINDINGS: u64 = 50_000;
/// Bump when the generator's output changes, so stale files are regenerated.
const GENERATOR_VERSION: u32 = 2;

/// Bytes to MB (10^6 bytes).
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The generated export of `findings` findings, reused when its sidecar matches.
pub fn prepare(findings: u64) -> (PathBuf, ExportMeta) {
    let data_dir = target_dir().join("bench-data");
    fs::create_dir_all(&data_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", data_dir.display()));
    let export = data_dir.join(format!("export-{findings}.jsonl.gz"));
    let meta_path = data_dir.join(format!("export-{findings}.meta"));
    let meta = match ExportMeta::load_matching(&meta_path, &export, findings) {
        Some(meta) => {
            println!("reusing {} ({})", export.display(), meta.describe());
            meta
        }
        None => {
            println!("generating {} ({findings} findings)…", export.display());
            let meta = generate(&export, findings);
            meta.store(&meta_path);
            println!(
                "generated in {:.1} s ({})",
                meta.generation_seconds,
                meta.describe()
            );
            meta
        }
    };
    (export, meta)
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `target/` next to `Cargo.toml`.
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
}

// ---------------------------------------------------------------------------------------------
// The generated export and its sidecar
// ---------------------------------------------------------------------------------------------

/// What is known about a generated export; stored as `key=value` lines in `export-{N}.meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportMeta {
    pub generator: u32,
    pub findings: u64,
    pub members: u64,
    pub compressed_bytes: u64,
    pub decompressed_bytes: u64,
    pub generation_seconds: f64,
}

impl ExportMeta {
    /// The sidecar at `path`, if it describes `export` as the current generator would write it
    /// for `findings` findings (and the file is still there with the recorded size).
    fn load_matching(path: &Path, export: &Path, findings: u64) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        let meta = Self::parse(&text)?;
        let on_disk = fs::metadata(export).ok()?.len();
        let current = meta.generator == GENERATOR_VERSION
            && meta.findings == findings
            && meta.compressed_bytes == on_disk;
        if !current {
            println!("{} is stale; regenerating", path.display());
        }
        current.then_some(meta)
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |key: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
        };
        Some(Self {
            generator: field("generator")?.parse().ok()?,
            findings: field("findings")?.parse().ok()?,
            members: field("members")?.parse().ok()?,
            compressed_bytes: field("compressed_bytes")?.parse().ok()?,
            decompressed_bytes: field("decompressed_bytes")?.parse().ok()?,
            generation_seconds: field("generation_seconds")?.parse().ok()?,
        })
    }

    fn store(&self, path: &Path) {
        let text = format!(
            "generator={}\nfindings={}\nmembers={}\ncompressed_bytes={}\ndecompressed_bytes={}\n\
             generation_seconds={:.3}\n",
            self.generator,
            self.findings,
            self.members,
            self.compressed_bytes,
            self.decompressed_bytes,
            self.generation_seconds,
        );
        fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    pub fn describe(&self) -> String {
        format!(
            "{} findings, {:.1} MB gzip in {} member{}, {:.1} MB decompressed, {:.0} bytes/finding",
            self.findings,
            mb(self.compressed_bytes),
            self.members,
            if self.members == 1 { "" } else { "s" },
            mb(self.decompressed_bytes),
            self.decompressed_bytes as f64 / self.findings as f64,
        )
    }
}

/// Writes `findings` synthetic findings to `path` (via a temporary file, renamed at the end).
/// Streams: only one line is ever held in memory.
fn generate(path: &Path, findings: u64) -> ExportMeta {
    let started = Instant::now();
    let tmp = path.with_extension("gz.partial");
    let file = must(File::create(&tmp), "creating", &tmp);
    let mut out = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        Compression::default(),
    );
    let mut generator = Generator::new(SEED);
    let mut line = Vec::with_capacity(16 * 1024);
    let mut decompressed_bytes = 0u64;
    let mut members = 1u64;
    for n in 0..findings {
        if n > 0 && n % MEMBER_FINDINGS == 0 {
            let inner = must(out.finish(), "writing", &tmp);
            out = GzEncoder::new(inner, Compression::default());
            members += 1;
        }
        line.clear();
        generator.finding(n, &mut line);
        must(out.write_all(&line), "writing", &tmp);
        decompressed_bytes += line.len() as u64;
    }
    let buffered = must(out.finish(), "writing", &tmp);
    let file = must(
        buffered
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error),
        "writing",
        &tmp,
    );
    must(file.sync_all(), "syncing", &tmp);
    drop(file);
    must(fs::rename(&tmp, path), "renaming", &tmp);
    let compressed_bytes = must(fs::metadata(path), "reading the size of", path).len();

    ExportMeta {
        generator: GENERATOR_VERSION,
        findings,
        members,
        compressed_bytes,
        decompressed_bytes,
        generation_seconds: started.elapsed().as_secs_f64(),
    }
}

/// The value of `result`, or a panic saying what failed on which file.
fn must<T>(result: std::io::Result<T>, doing: &str, path: &Path) -> T {
    result.unwrap_or_else(|e| panic!("{doing} {} failed: {e}", path.display()))
}

/// Reads the export once so that neither tool pays for the first read from disk.
pub fn warm_page_cache(path: &Path) {
    let mut file =
        File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut buf = vec![0u8; 1 << 20];
    while file
        .read(&mut buf)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        > 0
    {}
}
