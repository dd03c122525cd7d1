//! Measuring one child process: wall time from spawn to reap, and its own peak RSS from
//! `wait4(2)` (shared by the benches that run the CLI).

use std::collections::VecDeque;
use std::io::Read;
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

/// The tail of a child's stderr kept by [`measure`].
const STDERR_TAIL_BYTES: usize = 64 * 1024;

/// What [`measure`] observed of one child process.
pub struct Measured {
    /// From spawn to reap.
    pub wall: Duration,
    /// Peak resident set size, in bytes (`ru_maxrss`: it includes the parent's high-water mark
    /// at exec, so it is the child's only when the parent is small).
    #[allow(dead_code)] // not every bench reads it
    pub peak_rss: u64,
    /// CPU time (user + system) of the child.
    #[allow(dead_code)] // not every bench reads it
    pub cpu: Duration,
    /// `Err` with a description unless the child exited with status 0.
    pub outcome: Result<(), String>,
    /// The tail of its stderr, when captured.
    pub stderr: String,
}

/// Spawns `command` and reaps it with `wait4(2)`, which reports the resource usage of that
/// child alone. With `capture_stderr` the command must have a piped stderr, whose tail is kept.
pub fn measure(command: &mut Command, name: &str, capture_stderr: bool) -> Measured {
    let started = Instant::now();
    let mut child: Child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // Drain stderr on another thread so that a chatty child never blocks on a full pipe.
    let stderr_reader = capture_stderr.then(|| {
        let mut stderr = child.stderr.take().expect("stderr was configured as piped");
        thread::spawn(move || read_tail(&mut stderr))
    });
    let pid = libc::pid_t::try_from(child.id()).expect("a process id fits in pid_t");

    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not reaped yet (`Child::wait` is never called for it);
        // `status` and `usage` are valid for writes for the duration of the call.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            panic!("wait4 for {name} (pid {pid}) failed: {error}");
        }
    }
    let wall = started.elapsed();
    drop(child);

    let outcome = if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if libc::WIFEXITED(status) {
        Err(format!("exit status {}", libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Err(format!("killed by signal {}", libc::WTERMSIG(status)))
    } else {
        Err(format!("unexpected wait status {status:#x}"))
    };
    let stderr = stderr_reader
        .map(|reader| reader.join().expect("the stderr reader thread panicked"))
        .unwrap_or_default();
    // ru_maxrss is in KiB on Linux.
    let peak_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measured {
        wall,
        peak_rss,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        outcome,
        stderr,
    }
}

/// Reads `source` to its end, keeping only the last [`STDERR_TAIL_BYTES`] bytes.
fn read_tail(source: &mut impl Read) -> String {
    let mut tail: VecDeque<u8> = VecDeque::with_capacity(STDERR_TAIL_BYTES);
    let mut buf = [0u8; 8192];
    let mut failure = None;
    loop {
        match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                tail.extend(&buf[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                tail.drain(..excess);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let mut text = String::from_utf8_lossy(tail.make_contiguous()).into_owned();
    if let Some(e) = failure {
        // Keep it off the last line, where the summary is expected.
        text.insert_str(0, &format!("[reading stderr failed: {e}]\n"));
    }
    text
}
