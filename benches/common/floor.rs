//! The physical floor of reading an export: a bare streaming gunzip that writes nothing.
//!
//! flate2 with the zlib-rs backend (the one our reader uses), a `MultiGzDecoder` over a
//! 128 KiB buffered file (our reader's input buffer), 256 KiB reads of decompressed output
//! (our chunk size), and the newlines counted so that the work cannot be optimised away and
//! the line count can be checked. No parsing, no output: anything the product does beyond
//! this is overhead against the floor.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Size of each read of decompressed bytes.
pub const READ_BYTES: usize = 256 * 1024;
/// Size of the buffer over the compressed file.
pub const INPUT_BYTES: usize = 128 * 1024;

/// What the floor read: decompressed bytes and newlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Decompressed bytes.
    pub bytes: u64,
    /// `\n` bytes among them.
    pub newlines: u64,
}

/// Gunzips every member of `path`, counting bytes and newlines.
pub fn gunzip(path: &Path) -> io::Result<Counted> {
    let file = File::open(path)?;
    let mut decoder =
        flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(INPUT_BYTES, file));
    let mut buf = vec![0u8; READ_BYTES];
    let mut counted = Counted {
        bytes: 0,
        newlines: 0,
    };
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => return Ok(counted),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        counted.bytes += n as u64;
        counted.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}
