//! Many sources in one run: the named sources and every export listed under S3 prefixes, read
//! by up to `--concurrency` readers at once, with one account across them all, each failure
//! named, a progress bar on a terminal, and the key to resume from after an interruption.
//!
//! Memory is bounded whatever the number of objects: the listing is read a page (at most 1,000
//! keys) ahead of the readers, through a queue of `2 × concurrency` objects; each reader holds
//! one object's pipeline (its decompressed chunks: [`crate::export::CHANNEL_CHUNKS`] + 2 of
//! [`crate::export::CHUNK_BYTES`], about 1.5 MiB, and one chunk's output until it is written).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::cli::args::Input;
use crate::cli::output::terminal_safe;
use crate::cli::report::error;
use crate::decide::{Decide, Sink};
use crate::export::ReaderOptions;
use crate::pipeline::{SourceError, Stats, process_source};
use crate::source::listing::{Lister, Selection};
use crate::source::{Opener, SourceRef};

/// What a run reads, and how.
pub struct Plan<'a> {
    /// The sources, in order.
    pub inputs: &'a [Input],
    /// Lists prefixes (`None` when no input is a prefix).
    pub s3: Option<aws_sdk_s3::Client>,
    /// Which listed objects to take.
    pub selection: Selection,
    /// Readers at once.
    pub concurrency: usize,
    /// The reader's limits.
    pub opts: &'a ReaderOptions,
    /// Whether to draw a progress bar (stderr is a terminal, a prefix is read, no --quiet).
    pub progress: bool,
}

/// What a run came to.
#[derive(Debug, Default)]
pub struct Ran {
    /// The account of every source read.
    pub stats: Stats,
    /// Sources (and listings) that failed, by name, with the error.
    pub failures: Vec<(String, String)>,
    /// Objects listed under the prefixes and taken.
    pub listed: u64,
    /// Listed objects left out: not exports.
    pub not_exports: u64,
    /// Listed objects left out: outside `--since`/`--until`.
    pub outside_days: u64,
    /// Where to resume a prefix (`--resume-after`): every listed object up to this key was
    /// read (or failed, and is named in `failures`). `None` when nothing was listed.
    pub resume_after: Option<String>,
    /// Whether every listed object was reached (not interrupted, no broken output).
    pub complete: bool,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
}

/// One source to read.
struct Job {
    src: SourceRef,
    /// Its place among the listed objects (0, 1, 2, … in S3's order), for the resume point;
    /// `None` for a named source.
    listed: Option<u64>,
}

/// What the readers share.
struct Shared {
    stop: AtomicBool,
    interrupted: AtomicBool,
    bar: ProgressBar,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures: Vec<(String, String)>,
    /// Listed objects queued so far (their places are 0 ..).
    queued: u64,
    /// The first listed place not known to be finished.
    next: u64,
    /// Listed objects finished ahead of `next`, by place, with their keys.
    finished: BTreeMap<u64, String>,
    /// The key of the listed object at `next - 1`: every listed object up to it is finished.
    resume_after: Option<String>,
    findings: u64,
    alerts: u64,
    bytes: u64,
}

impl State {
    /// Listed object `place` (key `key`) is finished: the resume point moves on over every
    /// finished object in a row.
    fn finish(&mut self, place: u64, key: String) {
        self.finished.insert(place, key);
        while let Some(key) = self.finished.remove(&self.next) {
            self.resume_after = Some(key);
            self.next += 1;
        }
    }
}

/// Reads every input with `concurrency` readers, each writing to its own output from `make`;
/// returns the outputs (for their delivery reports) and the account.
pub async fn run_many<P, D, O, F>(
    plan: &Plan<'_>,
    opener: &P,
    decider: &D,
    make: F,
) -> (Vec<O>, Ran)
where
    P: Opener,
    D: Decide + Sync + ?Sized,
    O: Sink + Send,
    F: Fn() -> O,
{
    let bar = if plan.progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} objects  {msg}  {elapsed_precise} (ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let shared = Shared {
        stop: AtomicBool::new(false),
        interrupted: AtomicBool::new(false),
        bar,
        state: Mutex::new(State::default()),
    };
    let (tx, rx) = mpsc::channel::<Job>(2 * plan.concurrency.max(1));
    let rx = tokio::sync::Mutex::new(rx);
    let mut ran = Ran::default();
    let produce = produce(plan, tx, &shared, &mut ran);
    let readers = futures_util::future::join_all(
        (0..plan.concurrency.max(1))
            .map(|_| reader(&rx, opener, plan.opts, decider, make(), &shared)),
    );
    let listing = plan
        .inputs
        .iter()
        .any(|i| matches!(i, Input::Prefix { .. }));
    let interrupt = async {
        // Under a prefix, Ctrl-C: no new objects; those being read finish, so the resume point
        // is exact. A second Ctrl-C ends the process at once. (Without a prefix, Ctrl-C keeps
        // its default: the process ends at once.)
        if listing && tokio::signal::ctrl_c().await.is_ok() {
            shared.interrupted.store(true, Ordering::SeqCst);
            shared.stop.store(true, Ordering::SeqCst);
            shared.bar.suspend(|| {
                eprintln!(
                    "interrupted: finishing the objects being read (Ctrl-C again to stop at once)"
                )
            });
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted again: stopping now; objects being read are not finished");
                std::process::exit(130);
            }
        }
        std::future::pending::<()>().await
    };
    let ((), results) = tokio::select! {
        both = async { tokio::join!(produce, readers) } => both,
        () = interrupt => unreachable!("pending"),
    };
    shared.bar.finish_and_clear();
    let mut outs = Vec::with_capacity(results.len());
    for (out, stats) in results {
        ran.stats.add(&stats);
        outs.push(out);
    }
    let state = shared.state.into_inner().unwrap_or_else(|e| e.into_inner());
    ran.failures.extend(state.failures);
    ran.interrupted = shared.interrupted.load(Ordering::SeqCst);
    ran.complete &= !shared.stop.load(Ordering::SeqCst) && state.next == state.queued;
    ran.resume_after = state.resume_after;
    (outs, ran)
}

/// Hands out the jobs in order: each named source, and each listed object under a prefix, a
/// page at a time. Sets `ran.complete` when it reached the end of every input.
async fn produce(plan: &Plan<'_>, tx: mpsc::Sender<Job>, shared: &Shared, ran: &mut Ran) {
    for input in plan.inputs {
        match input {
            Input::One(src) => {
                shared.bar.inc_length(1);
                let job = Job {
                    src: src.clone(),
                    listed: None,
                };
                if !send(&tx, shared, job).await {
                    return;
                }
            }
            Input::Prefix { bucket, prefix } => {
                let Some(client) = &plan.s3 else { return };
                let mut lister =
                    Lister::new(client.clone(), bucket, prefix, plan.selection.clone());
                loop {
                    let page = match lister.next_page().await {
                        Ok(Some(page)) => page,
                        Ok(None) => break,
                        Err(e) => {
                            let name = format!("s3://{bucket}/{prefix}");
                            shared.bar.suspend(|| error(terminal_safe(&e.to_string())));
                            lock(&shared.state).failures.push((name, e.to_string()));
                            break;
                        }
                    };
                    ran.not_exports += page.not_exports;
                    ran.outside_days += page.outside_days;
                    ran.listed += page.taken.len() as u64;
                    shared.bar.inc_length(page.taken.len() as u64);
                    for listed in page.taken {
                        let place = {
                            let mut st = lock(&shared.state);
                            st.queued += 1;
                            st.queued - 1
                        };
                        let job = Job {
                            src: SourceRef::S3(listed.object),
                            listed: Some(place),
                        };
                        if !send(&tx, shared, job).await {
                            return;
                        }
                    }
                }
            }
        }
    }
    ran.complete = true;
}

/// Queues a job unless the run is stopping; `false` when it is.
async fn send(tx: &mpsc::Sender<Job>, shared: &Shared, job: Job) -> bool {
    !shared.stop.load(Ordering::SeqCst) && tx.send(job).await.is_ok()
}

/// One reader: takes jobs until there are none (or the run stops), each into `out`.
async fn reader<P, D, O>(
    rx: &tokio::sync::Mutex<mpsc::Receiver<Job>>,
    opener: &P,
    opts: &ReaderOptions,
    decider: &D,
    mut out: O,
    shared: &Shared,
) -> (O, Stats)
where
    P: Opener,
    D: Decide + Sync + ?Sized,
    O: Sink + Send,
{
    let mut total = Stats::default();
    loop {
        let job = rx.lock().await.recv().await;
        let Some(job) = job else { break };
        if shared.stop.load(Ordering::SeqCst) {
            // Not started: it stays after the resume point.
            continue;
        }
        let mut stats = Stats::default();
        let result = process_source(&job.src, opener, opts, decider, &mut out, &mut stats).await;
        total.add(&stats);
        let mut st = lock(&shared.state);
        st.findings += stats.findings;
        st.alerts += stats.alerts;
        st.bytes += stats.decompressed_bytes;
        if let Err(e) = result {
            if is_broken_pipe(&e) {
                // The reader of our output went away (e.g. `| head`): stop quietly. (The loop
                // goes on emptying the queue, so that the listing, waiting to queue more, sees
                // the stop.)
                shared.stop.store(true, Ordering::SeqCst);
                continue;
            }
            let text = e.to_string();
            shared.bar.suspend(|| error(terminal_safe(&text)));
            st.failures.push((job.src.to_string(), text));
        }
        if let (Some(place), SourceRef::S3(o)) = (job.listed, &job.src) {
            st.finish(place, o.key.clone());
        }
        shared.bar.set_message(format!(
            "findings {}, alerts {}, {} read",
            st.findings,
            st.alerts,
            human_bytes(st.bytes)
        ));
        drop(st);
        shared.bar.inc(1);
    }
    (out, total)
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a source failed because our output's reader went away.
pub fn is_broken_pipe(e: &SourceError) -> bool {
    use crate::export::ReadError;
    matches!(e, SourceError::Read { error: ReadError::Sink { source, .. }, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

/// `1.5 GiB`, `320 KiB`, `12 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The output all readers share; each reader writes through a [`Chunked`] writer, so that one
/// object's records (a chunk's, between flushes) are never interleaved with another's.
pub type SharedOut<W> = Arc<Mutex<W>>;

/// A reader's writer: collects what one chunk's records write, and hands it to the shared
/// output whole, and on to the OS, when the pipeline flushes (after every chunk).
pub struct Chunked<W: Write> {
    buf: Vec<u8>,
    shared: SharedOut<W>,
}

impl<W: Write> Chunked<W> {
    /// A writer into `shared`.
    pub fn new(shared: SharedOut<W>) -> Self {
        Chunked {
            buf: Vec::with_capacity(64 * 1024),
            shared,
        }
    }
}

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Through to the OS: once a source's last flush succeeded, its output is out, which
        // is what makes the resume point exact.
        let mut out = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let r = out.write_all(&self.buf).and_then(|()| out.flush());
        self.buf.clear();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_point_is_before_the_first_unfinished() {
        let mut st = State {
            queued: 4,
            ..State::default()
        };
        st.finish(1, "b".into());
        assert_eq!(st.resume_after, None, "a is still being read");
        st.finish(0, "a".into());
        assert_eq!(st.resume_after.as_deref(), Some("b"));
        st.finish(3, "d".into());
        assert_eq!(
            st.resume_after.as_deref(),
            Some("b"),
            "c is still being read"
        );
        st.finish(2, "c".into());
        assert_eq!(st.resume_after.as_deref(), Some("d"));
        assert_eq!(st.next, st.queued);
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(320 * 1024), "320.0 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn chunks_go_out_whole() {
        let shared: SharedOut<Vec<u8>> = Arc::new(Mutex::new(Vec::new()));
        let (mut a, mut b) = (Chunked::new(shared.clone()), Chunked::new(shared.clone()));
        a.write_all(b"a1\n").unwrap();
        b.write_all(b"b1\n").unwrap();
        a.write_all(b"a2\n").unwrap();
        b.flush().unwrap();
        a.flush().unwrap();
        assert_eq!(&*shared.lock().unwrap(), b"b1\na1\na2\n");
    }
}
