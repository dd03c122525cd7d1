//! Byte stream -> findings: gzip sniffing, multi-member gzip decoding, bounded line framing and
//! a tolerant parse of each line.
//!
//! The work runs on two tasks joined by a bounded channel, so decompression overlaps parsing on
//! a multi-threaded runtime:
//!
//! ```text
//! AsyncRead --> [sniff gzip] --> GzipDecoder (multi-member) --> framer --chunks--> parser --> RecordSink
//!                                                     (task 1)        (bounded)   (caller's task)
//! ```
//!
//! Memory is bounded whatever the size of the object: at most [`CHANNEL_CHUNKS`] chunks of about
//! [`CHUNK_BYTES`] wait in the channel and one more is being parsed, and a line longer than [`ReaderOptions::max_line_bytes`] is
//! skipped (and reported) rather than buffered.

pub mod finding;

use std::borrow::Cow;
use std::future::Future;
use std::io;

use async_compression::tokio::bufread::GzipDecoder;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use crate::export::finding::{Finding, ParseError};

/// Decompressed bytes handed from the framer to the parser at a time.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks buffered between the framer and the parser.
pub const CHANNEL_CHUNKS: usize = 4;
/// Read size for the compressed input.
const INPUT_BUFFER: usize = 128 * 1024;

/// Limits for reading one export.
#[derive(Debug, Clone, Copy)]
pub struct ReaderOptions {
    /// Longest line accepted, in bytes (default 1 MiB). Longer lines are skipped and reported.
    pub max_line_bytes: usize,
    /// Most decompressed bytes read from one object (default 64 GiB): a guard against
    /// decompression bombs. Past it the object fails with [`ReadError::TooLarge`].
    pub max_decompressed_bytes: u64,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_line_bytes: 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024 * 1024,
        }
    }
}

/// How the object is compressed, from its first bytes (never from its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Starts with the gzip magic bytes `1f 8b`.
    Gzip,
    /// Anything else is read as plain JSON Lines.
    None,
}

/// Decides the compression from the first bytes of an object. An empty object is plain.
pub fn sniff(prefix: &[u8]) -> Compression {
    match prefix {
        [0x1f, 0x8b, ..] | [0x1f] => Compression::Gzip,
        _ => Compression::None,
    }
}

/// Why a line was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// Not UTF-8.
    InvalidUtf8,
    /// Not JSON.
    InvalidJson,
    /// JSON, but not a finding.
    NotAFinding,
    /// Longer than [`ReaderOptions::max_line_bytes`].
    TooLong,
    /// The last, incomplete line before the stream broke off.
    Truncated,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 5] = [
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::NotAFinding,
        Self::TooLong,
        Self::Truncated,
    ];

    /// The stable snake_case name used in output, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::NotAFinding => "not_a_finding",
            Self::TooLong => "too_long",
            Self::Truncated => "truncated",
        }
    }
}

/// A rejected line: where, why, and a detail that never quotes the line itself.
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    /// 1-based line number in the decompressed object.
    pub line: u64,
    /// Why.
    pub reason: RejectReason,
    /// What exactly (e.g. the JSON error and column).
    pub detail: Cow<'a, str>,
}

/// One line that parsed as a finding, borrowed from its chunk.
pub struct Parsed<'a> {
    /// The line number in the object (1-based).
    pub line: u64,
    /// The finding.
    pub finding: Finding<'a>,
    /// The line as read (without its line ending).
    pub raw: &'a str,
}

/// Where parsed lines go, on the caller's task. Each chunk of lines (a few hundred findings):
/// first its rejected lines to `rejected`, then its findings at once to `chunk` (in line
/// order, while the chunk is still in memory, so that a sink may await — claim, deliver —
/// before it lets go of them), then `flush`; so a sink can deliver in batches while memory
/// stays bounded. An `Err` from any of them stops reading the object.
pub trait RecordSink {
    /// The findings of one chunk, in line order.
    fn chunk(&mut self, parsed: &[Parsed<'_>]) -> impl Future<Output = io::Result<()>> + Send;
    /// A line that did not parse as a finding.
    fn rejected(&mut self, rejection: &Rejection<'_>) -> io::Result<()>;
    /// Called after each chunk of lines and once at the end.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        async { Ok(()) }
    }
}

/// How far reading one object got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Lines seen (findings, rejected and blank).
    pub lines: u64,
    /// Decompressed bytes read.
    pub decompressed_bytes: u64,
}

/// What reading a whole object gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSummary {
    /// How much was read.
    pub progress: Progress,
    /// The compression found.
    pub compression: Compression,
}

/// Why an object could not be read to its end. Every variant says how far it got: the lines
/// before that point were handed to the sink.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The byte stream or the gzip data broke off or is corrupt.
    #[error(
        "stream failed after {} lines ({} decompressed bytes): {source}",
        progress.lines,
        progress.decompressed_bytes
    )]
    Stream {
        /// How far it got.
        progress: Progress,
        /// The I/O or gzip error.
        source: io::Error,
    },
    /// More decompressed data than [`ReaderOptions::max_decompressed_bytes`].
    #[error(
        "decompressed size exceeds the limit of {limit} bytes after {} lines (a decompression bomb, or raise the limit)",
        progress.lines
    )]
    TooLarge {
        /// How far it got.
        progress: Progress,
        /// The limit.
        limit: u64,
    },
    /// The sink stopped the read.
    #[error("output failed after {} lines: {source}", progress.lines)]
    Sink {
        /// How far it got.
        progress: Progress,
        /// The sink's error.
        source: io::Error,
    },
}

impl ReadError {
    /// How far reading got before the error.
    pub fn progress(&self) -> Progress {
        match self {
            ReadError::Stream { progress, .. }
            | ReadError::TooLarge { progress, .. }
            | ReadError::Sink { progress, .. } => *progress,
        }
    }
}

enum Frame {
    /// Complete lines (the last one may lack its newline at the end of the object).
    Lines(Vec<u8>),
    /// One line longer than the limit was skipped.
    TooLong { seen: usize },
    /// The incomplete last line when the stream broke off.
    Partial(Vec<u8>),
    /// End of the object.
    End(Result<u64, EndError>),
}

enum EndError {
    Io(io::Error, u64),
    TooLarge(u64),
}

/// Reads one export from `reader` into `sink`.
///
/// Detects gzip by its magic bytes, decodes every gzip member, splits lines (LF or CRLF; blank
/// lines are skipped), parses each into a [`Finding`] and hands findings and rejections to
/// `sink` in order. Must be called within a Tokio runtime: the decoding runs on a spawned task.
pub async fn read_export<R, S>(
    reader: R,
    opts: &ReaderOptions,
    sink: &mut S,
) -> Result<ReadSummary, ReadError>
where
    R: AsyncRead + Send + Unpin + 'static,
    S: RecordSink + ?Sized,
{
    let mut input = BufReader::with_capacity(INPUT_BUFFER, reader);
    let compression = match input.fill_buf().await {
        Ok(prefix) => sniff(prefix),
        Err(source) => {
            return Err(ReadError::Stream {
                progress: Progress::default(),
                source,
            });
        }
    };
    let (tx, mut rx) = mpsc::channel::<Frame>(CHANNEL_CHUNKS);
    let (recycle_tx, recycle_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let framer_opts = *opts;
    let framer = async move {
        match compression {
            Compression::Gzip => {
                let mut decoder = GzipDecoder::new(input);
                decoder.multiple_members(true);
                frame(decoder, framer_opts, tx, recycle_rx).await
            }
            Compression::None => frame(input, framer_opts, tx, recycle_rx).await,
        }
    };
    let framer = tokio::spawn(tracing::Instrument::in_current_span(framer));

    let mut progress = Progress::default();
    let result = loop {
        let Some(frame) = rx.recv().await else {
            // The framer ended without an End frame: it panicked.
            let source = match framer.await {
                Err(e) => io::Error::other(format!("reader task failed: {e}")),
                Ok(()) => io::Error::other("reader task ended early"),
            };
            break Err(ReadError::Stream { progress, source });
        };
        let step = match frame {
            Frame::Lines(buf) => {
                let r = match parse_lines(&buf, opts, &mut progress.lines, sink) {
                    Ok(parsed) => match sink.chunk(&parsed).await {
                        Ok(()) => sink.flush().await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                let _ = recycle_tx.send(buf);
                r
            }
            Frame::TooLong { seen } => {
                progress.lines += 1;
                sink.rejected(&Rejection {
                    line: progress.lines,
                    reason: RejectReason::TooLong,
                    detail: Cow::Owned(format!(
                        "line is longer than the limit of {} bytes (more than {seen} bytes); skipped",
                        opts.max_line_bytes
                    )),
                })
            }
            Frame::Partial(buf) => {
                progress.lines += 1;
                sink.rejected(&Rejection {
                    line: progress.lines,
                    reason: RejectReason::Truncated,
                    detail: Cow::Owned(format!(
                        "incomplete last line ({} bytes) where the stream broke off",
                        buf.len()
                    )),
                })
            }
            Frame::End(end) => {
                let flushed = sink.flush().await;
                break match (end, flushed) {
                    (_, Err(source)) => Err(ReadError::Sink { progress, source }),
                    (Ok(bytes), Ok(())) => {
                        progress.decompressed_bytes = bytes;
                        Ok(ReadSummary {
                            progress,
                            compression,
                        })
                    }
                    (Err(EndError::Io(source, bytes)), Ok(())) => {
                        progress.decompressed_bytes = bytes;
                        Err(ReadError::Stream { progress, source })
                    }
                    (Err(EndError::TooLarge(bytes)), Ok(())) => {
                        progress.decompressed_bytes = bytes;
                        Err(ReadError::TooLarge {
                            progress,
                            limit: opts.max_decompressed_bytes,
                        })
                    }
                };
            }
        };
        if let Err(source) = step {
            break Err(ReadError::Sink { progress, source });
        }
    };
    // Dropping the receiver stops the framer if we are ending early.
    drop(rx);
    result
}

/// Task 1: reads decompressed bytes and cuts them into chunks of whole lines.
async fn frame<R: AsyncRead + Unpin>(
    mut reader: R,
    opts: ReaderOptions,
    tx: mpsc::Sender<Frame>,
    mut recycle: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let max_line = opts.max_line_bytes.max(1);
    let mut take_buf = move || match recycle.try_recv() {
        Ok(mut b) => {
            b.clear();
            b
        }
        Err(_) => Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
    };
    let mut buf = take_buf();
    let mut total: u64 = 0;
    // Skipping the rest of an over-long line.
    let mut skipping = false;
    let mut skipped = 0usize;
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(CHUNK_BYTES);
        }
        let n = match reader.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                if send_rest(&tx, buf, skipping.then_some(skipped))
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = tx.send(Frame::End(Err(EndError::Io(e, total)))).await;
                return;
            }
        };
        if n == 0 {
            if skipping {
                if tx.send(Frame::TooLong { seen: skipped }).await.is_err() {
                    return;
                }
            } else if !buf.is_empty() && tx.send(Frame::Lines(buf)).await.is_err() {
                return;
            }
            let _ = tx.send(Frame::End(Ok(total))).await;
            return;
        }
        total += n as u64;
        if total > opts.max_decompressed_bytes {
            if send_rest(&tx, buf, skipping.then_some(skipped))
                .await
                .is_err()
            {
                return;
            }
            let _ = tx.send(Frame::End(Err(EndError::TooLarge(total)))).await;
            return;
        }
        if skipping {
            match memchr::memchr(b'\n', &buf) {
                None => {
                    skipped += buf.len();
                    buf.clear();
                    continue;
                }
                Some(p) => {
                    skipped += p;
                    if tx.send(Frame::TooLong { seen: skipped }).await.is_err() {
                        return;
                    }
                    buf.drain(..=p);
                    skipping = false;
                    skipped = 0;
                }
            }
        }
        if buf.len() < CHUNK_BYTES {
            continue;
        }
        match memchr::memrchr(b'\n', &buf) {
            Some(p) => {
                let mut next = take_buf();
                next.extend_from_slice(&buf[p + 1..]);
                buf.truncate(p + 1);
                if tx.send(Frame::Lines(buf)).await.is_err() {
                    return;
                }
                buf = next;
                // The carried partial line may itself be over the limit already.
                if buf.len() > max_line {
                    skipping = true;
                    skipped = buf.len();
                    buf.clear();
                }
            }
            None if buf.len() > max_line => {
                skipping = true;
                skipped = buf.len();
                buf.clear();
            }
            None => {}
        }
    }
}

/// When the stream ends in an error: an over-long line being skipped is still reported; else
/// the complete lines go to the parser and the incomplete rest is reported as one truncated line.
async fn send_rest(
    tx: &mpsc::Sender<Frame>,
    mut buf: Vec<u8>,
    skipping: Option<usize>,
) -> Result<(), mpsc::error::SendError<Frame>> {
    if let Some(seen) = skipping {
        return tx.send(Frame::TooLong { seen }).await;
    }
    let partial = match memchr::memrchr(b'\n', &buf) {
        Some(p) => buf.split_off(p + 1),
        None => std::mem::take(&mut buf),
    };
    if !buf.is_empty() {
        tx.send(Frame::Lines(buf)).await?;
    }
    if !partial.is_empty() {
        tx.send(Frame::Partial(partial)).await?;
    }
    Ok(())
}

/// Task 2 (the caller's): splits a chunk into lines and parses each; rejections go to `sink`
/// at once, the findings are returned.
fn parse_lines<'b, S: RecordSink + ?Sized>(
    buf: &'b [u8],
    opts: &ReaderOptions,
    line_no: &mut u64,
    sink: &mut S,
) -> io::Result<Vec<Parsed<'b>>> {
    let mut parsed = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let end = memchr::memchr(b'\n', &buf[start..]).map_or(buf.len(), |p| start + p);
        let mut line = &buf[start..end];
        start = end + 1;
        *line_no += 1;
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > opts.max_line_bytes {
            sink.rejected(&Rejection {
                line: *line_no,
                reason: RejectReason::TooLong,
                detail: Cow::Owned(format!(
                    "line of {} bytes is longer than the limit of {} bytes; skipped",
                    line.len(),
                    opts.max_line_bytes
                )),
            })?;
            continue;
        }
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(e) => {
                sink.rejected(&Rejection {
                    line: *line_no,
                    reason: RejectReason::InvalidUtf8,
                    detail: Cow::Owned(format!(
                        "invalid UTF-8 at byte {} of the line",
                        e.valid_up_to() + 1
                    )),
                })?;
                continue;
            }
        };
        match Finding::parse(text) {
            Ok(finding) => parsed.push(Parsed {
                line: *line_no,
                finding,
                raw: text,
            }),
            Err(ParseError::InvalidJson(detail)) => sink.rejected(&Rejection {
                line: *line_no,
                reason: RejectReason::InvalidJson,
                detail: Cow::Owned(detail),
            })?,
            Err(ParseError::NotAFinding(detail)) => sink.rejected(&Rejection {
                line: *line_no,
                reason: RejectReason::NotAFinding,
                detail: Cow::Owned(detail),
            })?,
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Default)]
    struct Collect {
        ids: Vec<(u64, String)>,
        rejected: Vec<(u64, RejectReason)>,
    }

    impl RecordSink for Collect {
        async fn chunk(&mut self, parsed: &[Parsed<'_>]) -> io::Result<()> {
            for p in parsed {
                self.ids.push((p.line, p.finding.id().to_owned()));
            }
            Ok(())
        }
        fn rejected(&mut self, r: &Rejection<'_>) -> io::Result<()> {
            self.rejected.push((r.line, r.reason));
            Ok(())
        }
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn finding(id: usize) -> String {
        format!(r#"{{"id":"f{id}","type":"Recon:EC2/PortProbeUnprotectedPort","severity":2}}"#)
    }

    async fn read(
        bytes: Vec<u8>,
        opts: ReaderOptions,
    ) -> (Collect, Result<ReadSummary, ReadError>) {
        let mut sink = Collect::default();
        let r = read_export(io::Cursor::new(bytes), &opts, &mut sink).await;
        (sink, r)
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(sniff(b"{\"id\""), Compression::None);
        assert_eq!(sniff(b""), Compression::None);
        assert_eq!(sniff(&[0x8b, 0x1f]), Compression::None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_across_chunk_boundaries_in_many_members() {
        // ~40 MB of findings, in members that split lines mid-way.
        let n = 400_000;
        let text: String = (0..n).map(|i| finding(i) + "\n").collect();
        let bytes = text.as_bytes();
        let mut data = Vec::new();
        for part in bytes.chunks(1_000_003) {
            data.extend(gz(part));
        }
        let (sink, r) = read(data, ReaderOptions::default()).await;
        let summary = r.unwrap();
        assert_eq!(summary.compression, Compression::Gzip);
        assert_eq!(summary.progress.decompressed_bytes, bytes.len() as u64);
        assert_eq!(sink.ids.len(), n);
        assert!(sink.rejected.is_empty());
        for (i, (line, id)) in sink.ids.iter().enumerate() {
            assert_eq!(
                (*line, id.as_str()),
                (i as u64 + 1, format!("f{i}").as_str())
            );
        }
    }

    #[tokio::test]
    async fn over_long_lines_are_skipped_and_counted_with_bounded_memory() {
        let opts = ReaderOptions {
            max_line_bytes: 1000,
            ..Default::default()
        };
        let long = "x".repeat(3 * CHUNK_BYTES + 17);
        let mut text = String::new();
        text.push_str(&finding(1));
        text.push('\n');
        text.push_str(&long); // line 2: far over the limit, across chunks
        text.push('\n');
        text.push_str(&finding(3));
        text.push('\n');
        text.push_str(&"y".repeat(1001)); // line 4: just over, within a chunk
        text.push('\n');
        text.push_str(&finding(5));
        text.push('\n');
        text.push_str(&"z".repeat(CHUNK_BYTES * 2)); // line 6: over the limit, at EOF
        let (sink, r) = read(text.into_bytes(), opts).await;
        r.unwrap();
        assert_eq!(
            sink.ids.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [1, 3, 5]
        );
        assert_eq!(
            sink.rejected,
            [
                (2, RejectReason::TooLong),
                (4, RejectReason::TooLong),
                (6, RejectReason::TooLong)
            ]
        );
    }

    #[tokio::test]
    async fn bad_lines_are_counted_and_reading_goes_on() {
        let mut data = Vec::new();
        data.extend(finding(1).as_bytes());
        data.extend(b"\r\n\r\n   \n");
        data.extend(b"{\"findings\":[]}\n");
        data.extend(b"{not json\n");
        data.extend(b"{\"id\":\"\xff\xfe\",\"type\":\"T\",\"severity\":1}\n");
        data.extend(finding(7).as_bytes());
        data.extend(b"\r\n");
        data.extend(finding(8).as_bytes()); // no final newline
        let (sink, r) = read(gz(&data), ReaderOptions::default()).await;
        assert_eq!(r.unwrap().progress.lines, 8);
        assert_eq!(
            sink.ids,
            [(1, "f1".into()), (7, "f7".into()), (8, "f8".into())]
        );
        assert_eq!(
            sink.rejected,
            [
                (4, RejectReason::NotAFinding),
                (5, RejectReason::InvalidJson),
                (6, RejectReason::InvalidUtf8)
            ]
        );
    }

    #[tokio::test]
    async fn empty_object_and_empty_gzip() {
        let (sink, r) = read(Vec::new(), ReaderOptions::default()).await;
        assert_eq!(r.unwrap().progress, Progress::default());
        assert!(sink.ids.is_empty());
        let (sink, r) = read(gz(b""), ReaderOptions::default()).await;
        assert_eq!(r.unwrap().compression, Compression::Gzip);
        assert!(sink.ids.is_empty());
    }

    #[tokio::test]
    async fn truncated_gzip_keeps_what_came_before() {
        let text: String = (0..20_000).map(|i| finding(i) + "\n").collect();
        let full = gz(text.as_bytes());
        let cut = full[..full.len() / 2].to_vec();
        let (sink, r) = read(cut, ReaderOptions::default()).await;
        let err = r.unwrap_err();
        assert!(matches!(err, ReadError::Stream { .. }), "{err}");
        let got = sink.ids.len() as u64;
        assert!(got > 1000, "only {got} findings before the damage");
        // Every line up to the damage is accounted for: findings plus one partial line.
        assert_eq!(err.progress().lines, got + sink.rejected.len() as u64);
        assert!(
            sink.rejected
                .iter()
                .all(|(_, r)| *r == RejectReason::Truncated)
        );
    }

    #[tokio::test]
    async fn a_stream_that_breaks_inside_an_over_long_line_still_reports_it() {
        let opts = ReaderOptions {
            max_line_bytes: 1000,
            ..Default::default()
        };
        let mut text = finding(1);
        text.push('\n');
        // Random-looking bytes so the gzip stays large and the cut lands inside this line.
        let mut x: u32 = 1;
        for _ in 0..(4 * CHUNK_BYTES) {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            text.push(char::from(b'a' + (x >> 24) as u8 % 26));
        }
        let full = gz(text.as_bytes());
        let (sink, r) = read(full[..full.len() * 3 / 4].to_vec(), opts).await;
        assert!(matches!(r, Err(ReadError::Stream { .. })), "{r:?}");
        assert_eq!(sink.ids, [(1, "f1".to_owned())]);
        assert_eq!(sink.rejected, [(2, RejectReason::TooLong)]);
    }

    #[tokio::test]
    async fn decompressed_size_is_bounded() {
        let zeros = vec![b'\n'; 10 * 1024 * 1024];
        let opts = ReaderOptions {
            max_decompressed_bytes: 1024 * 1024,
            ..Default::default()
        };
        let (_, r) = read(gz(&zeros), opts).await;
        assert!(matches!(r, Err(ReadError::TooLarge { .. })), "{r:?}");
    }
}
