//! The Lambda bench's harness: `cargo lambda watch --release` (the Lambda runtime emulator) in
//! its own process group, and a minimal blocking HTTP client for its invoke port, so the bench
//! times invocations without an async client in the measured path.

use std::env;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::support::{env_file_contents, find_tool, free_port};
use super::{FIRST_INVOKE_TIMEOUT, FUNCTION, REPO};
use serde_json::Value;

/// A scratch file under `target/tmp/bench-lambda/` (Cargo's temporary directory for benches).
pub fn scratch_path(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-lambda");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir.join(format!("{}-{name}", std::process::id()))
}

/// The last `max` bytes of a file, as text.
pub fn tail(path: &std::path::Path, max: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Variables Cargo sets for the program it runs (`cargo bench`), which a nested Cargo must not
/// inherit.
fn is_cargo_run_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_CFG_")
        || name.starts_with("CARGO_BIN_EXE_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// `cargo lambda watch --release` in its own process group, killed (group) when dropped.
pub struct Watch {
    child: Child,
    pgid: i32,
    port: u16,
    log: PathBuf,
    env_file: PathBuf,
}

impl Watch {
    const READY_TIMEOUT: Duration = Duration::from_secs(60);

    pub fn start(label: &str, env: &[(&'static str, String)]) -> Watch {
        let program = find_tool(
            "cargo-lambda",
            "run tests/run, which installs it into .venv, or `pip install --no-deps cargo-lambda`",
        );
        let env_file = scratch_path(&format!("{label}.env"));
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fs::write(&env_file, env_file_contents(&pairs))
            .unwrap_or_else(|e| panic!("write {}: {e}", env_file.display()));
        let timeout = FIRST_INVOKE_TIMEOUT.as_secs().to_string();
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = scratch_path(&format!("{label}-{port}.log"));
            let out = File::create(&log).expect("watch log");
            let mut command = Command::new(&program);
            command
                .args([
                    "lambda",
                    "watch",
                    "--offline",
                    "--ignore-changes",
                    "--release",
                ])
                .args(["--color", "never", "--timeout", &timeout])
                .args(["--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &port.to_string()])
                .arg("--env-file")
                .arg(&env_file)
                .current_dir(REPO)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log handle"))
                .stderr(out)
                .process_group(0);
            for (key, _) in env::vars_os() {
                let name = key.to_string_lossy();
                // No AWS settings of ours reach the function; and none of the variables Cargo
                // set for this bench reach the nested `cargo run`: build scripts watch some
                // (ring: CARGO_MANIFEST_DIR, CARGO_PKG_NAME, CARGO_PKG_VERSION_*, OUT_DIR …),
                // and a value there that a plain `cargo build` does not have reruns them,
                // rebuilding ring, rustls and everything above it, here and in the next build.
                if name.starts_with("AWS_") || is_cargo_run_variable(&name) {
                    command.env_remove(key);
                }
            }
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
            let pgid = i32::try_from(child.id()).expect("pid fits in i32");
            let mut watch = Watch {
                child,
                pgid,
                port,
                log,
                env_file: env_file.clone(),
            };
            let started = Instant::now();
            loop {
                if let Ok(Some(status)) = watch.child.try_wait() {
                    let out = tail(&watch.log, 4000);
                    if out.contains("in use") {
                        last_failure = format!("port {port} taken: {out}");
                        break;
                    }
                    panic!("`cargo lambda watch` exited ({status}) before listening:\n{out}");
                }
                // A TCP connect, not an HTTP request: any request there starts an invocation.
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return watch;
                }
                if started.elapsed() > Self::READY_TIMEOUT {
                    panic!(
                        "`cargo lambda watch` did not listen on {addr} within {:?}:\n{}",
                        Self::READY_TIMEOUT,
                        tail(&watch.log, 4000)
                    );
                }
                thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("cargo lambda watch: no free port after 5 attempts; last: {last_failure}");
    }

    /// POSTs `event` to the emulator's invoke endpoint; returns the round trip and the response.
    pub fn invoke(&self, event: &[u8], limit: Duration) -> (Duration, Value) {
        let path = format!("/2015-03-31/functions/{FUNCTION}/invocations");
        let started = Instant::now();
        let response = http_post(self.port, &path, event, limit);
        let elapsed = started.elapsed();
        let response = response.unwrap_or_else(|why| {
            panic!(
                "invocation failed: {why}\nemulator log tail:\n{}",
                tail(&self.log, 6000)
            )
        });
        if response.status != 200 || response.function_error.is_some() {
            panic!(
                "invocation failed: HTTP {} (function error: {:?}): {}\nemulator log tail:\n{}",
                response.status,
                response.function_error,
                String::from_utf8_lossy(&response.body),
                tail(&self.log, 6000)
            );
        }
        let value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
            panic!(
                "the response is not JSON ({e}): {}",
                String::from_utf8_lossy(&response.body)
            )
        });
        (elapsed, value)
    }

    /// Cargo's `Finished …` line, when the session's first invocation compiled something.
    pub fn build_line(&self) -> Option<String> {
        let log = String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned();
        if !log.contains("Compiling ") {
            return None;
        }
        log.lines()
            .find(|l| l.trim_start().starts_with("Finished "))
            .map(|l| l.trim().to_owned())
    }

    /// `DurationMs` of every EMF document the function printed so far, in order.
    pub fn handler_durations_ms(&self) -> Vec<f64> {
        let log = String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned();
        log.lines()
            .filter(|l| l.contains("\"CloudWatchMetrics\""))
            .filter_map(|l| {
                let doc: Value = serde_json::from_str(&l[l.find('{')?..]).ok()?;
                doc["DurationMs"].as_f64()
            })
            .collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: plain syscalls on the process group this handle created (process_group(0)).
        unsafe { libc::kill(-self.pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; whatever is left of the group (the function process) goes too.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        if !thread::panicking() {
            let _ = fs::remove_file(&self.log);
            let _ = fs::remove_file(&self.env_file);
        }
    }
}

pub struct HttpResponse {
    status: u16,
    function_error: Option<String>,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 POST (`Connection: close`); reads until the body is complete.
pub fn http_post(
    port: u16,
    path: &str,
    body: &[u8],
    limit: Duration,
) -> Result<HttpResponse, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("{e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("{e}"))?;
    stream
        .set_read_timeout(Some(limit))
        .map_err(|e| format!("{e}"))?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(response) = parse_response(&buf)? {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(response);
        }
        let n = stream.read(&mut chunk).map_err(|e| {
            format!(
                "read the response ({e}); got so far: {:?}",
                String::from_utf8_lossy(&buf)
            )
        })?;
        if n == 0 {
            return parse_response_at_eof(&buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `Some(response)` once `buf` holds a complete response with a known length.
pub fn parse_response(buf: &[u8]) -> Result<Option<HttpResponse>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let rest = &buf[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let (mut length, mut chunked, mut function_error) = (None, false, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "x-amz-function-error" => function_error = Some(value.to_owned()),
            _ => {}
        }
    }
    let body = if chunked {
        match dechunk(rest)? {
            Some(body) => body,
            None => return Ok(None),
        }
    } else if let Some(length) = length {
        if rest.len() < length {
            return Ok(None);
        }
        rest[..length].to_vec()
    } else {
        return Ok(None); // delimited by the end of the connection
    };
    Ok(Some(HttpResponse {
        status,
        function_error,
        body,
    }))
}

pub fn parse_response_at_eof(buf: &[u8]) -> Result<HttpResponse, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!(
            "the connection closed before a complete response: {:?}",
            String::from_utf8_lossy(buf)
        ));
    };
    if let Some(response) = parse_response(buf)? {
        return Ok(response);
    }
    // No length: the body runs to the end of the connection.
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad response head {head:?}"))?;
    let function_error = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("x-amz-function-error"))
        .map(|(_, v)| v.trim().to_owned());
    Ok(HttpResponse {
        status,
        function_error,
        body: buf[head_end + 4..].to_vec(),
    })
}

/// The body of a chunked message, or `None` when its last chunk has not arrived yet.
pub fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(Some(body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
