//! A minimal Lambda Runtime API on loopback, to run a *prebuilt* function binary (the
//! `bootstrap` that `cargo lambda build` makes and SAM packages) for one invocation. The
//! emulator (`cargo lambda watch`) always builds its own binary, so it cannot run that artifact.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the function answered: `Ok(body)` from `/response`, `Err(body)` from `/error`.
pub type Answer = Result<serde_json::Value, String>;

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, path, body })
}

/// Runs `binary` with `env` against a loopback Runtime API, hands it `event` once, and returns
/// its answer and its combined stdout/stderr. Panics with the output when it does not answer
/// within `limit`.
pub fn invoke_once(
    binary: &Path,
    env: &[(&str, &str)],
    event: &serde_json::Value,
    limit: Duration,
) -> (Answer, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind runtime API");
    let addr = listener.local_addr().expect("addr");
    let log = std::env::temp_dir().join(format!("bootstrap-{}.log", addr.port()));
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "guardduty-alerts")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/guardduty-alerts")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    listener.set_nonblocking(true).expect("nonblocking");
    let started = Instant::now();
    let output = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut answer: Option<Answer> = None;
    let mut handed_out = false;
    while answer.is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!(
                "{} did not answer within {limit:?}:\n{}",
                binary.display(),
                output()
            );
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{} exited ({status}) without answering:\n{}",
                binary.display(),
                output()
            );
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        while let Some(req) = read_request(&mut reader) {
            if req.method == "GET" && req.path.ends_with("/runtime/invocation/next") {
                if handed_out {
                    // The function asks for the next event: we are done with it.
                    break;
                }
                handed_out = true;
                let body = event.to_string();
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() + limit.as_millis())
                    .unwrap_or(0);
                let _ = write!(
                    writer,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Lambda-Runtime-Aws-Request-Id: test-request-1\r\n\
                     Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:guardduty-alerts\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            } else if req.method == "POST"
                && req.path.contains("/runtime/invocation/test-request-1/")
            {
                let text = String::from_utf8_lossy(&req.body).into_owned();
                answer = Some(if req.path.ends_with("/response") {
                    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
                } else {
                    Err(text)
                });
                let _ = write!(
                    writer,
                    "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{{}}"
                );
                break;
            } else {
                let _ = write!(
                    writer,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                );
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let out = output();
    let _ = std::fs::remove_file(&log);
    (answer.expect("an answer"), out)
}
