//! A fault-injecting HTTP/1.1 proxy in front of a real local service (moto): every request is
//! read whole, then a script decides — forward it, forward it but cut the response body after
//! some bytes (a connection dropped mid-stream), or answer it itself (an AWS error such as a
//! deleted topic or throttling). Each forwarded request gets its own upstream connection.
//!
//! Hand-written on tokio, like `http.rs`: it handles `Content-Length` and chunked bodies, which
//! is what the SDK sends and moto answers.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as the script sees it.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The body as text (the SNS query protocol is a form).
    pub body: String,
}

impl ProxyRequest {
    /// An SNS query-protocol request for `action` (e.g. `PublishBatch`).
    pub fn is_sns(&self, action: &str) -> bool {
        self.method == "POST" && self.body.contains(&format!("Action={action}&"))
    }

    /// An S3 `GetObject` (path-style `GET /bucket/key`; the SDK adds `?x-id=GetObject`).
    pub fn is_get_object(&self) -> bool {
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        self.method == "GET"
            && path.matches('/').count() >= 2
            && (query.is_empty() || query.split('&').any(|p| p == "x-id=GetObject"))
    }
}

/// What to do with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Forward it and relay the whole answer.
    Forward,
    /// Forward it, relay the answer's head and this many bytes of its body, then drop the
    /// connection.
    CutBodyAfter(usize),
    /// Answer it here: status, content type, body.
    Reply(u16, &'static str, String),
}

type Script = dyn Fn(&ProxyRequest) -> Action + Send + Sync;

/// The proxy; stops when dropped.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    seen: Arc<Mutex<Vec<(ProxyRequest, String)>>>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`) run by `script`.
    pub async fn start(
        upstream: &str,
        script: impl Fn(&ProxyRequest) -> Action + Send + Sync + 'static,
    ) -> FaultProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let script: Arc<Script> = Arc::new(script);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (script, seen, upstream) = (script.clone(), seen2.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, &*script, &seen).await;
                });
            }
        });
        FaultProxy {
            endpoint,
            seen,
            task,
        }
    }

    /// Every request so far, with what was done (`forward`, `cut`, `reply STATUS`).
    pub fn seen(&self) -> Vec<(ProxyRequest, String)> {
        self.seen.lock().unwrap().clone()
    }
}

/// A message (head and body) read whole from `r`.
async fn read_message<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let mut body = Vec::new();
    if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        // Re-frame as Content-Length below.
        head = head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("transfer-encoding"))
            .map(|l| format!("{l}\r\n"))
            .collect::<String>();
        head.truncate(head.len() - 2);
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    }
    Ok(Some((head, body)))
}

async fn serve(
    client: TcpStream,
    upstream: &str,
    script: &Script,
    seen: &Mutex<Vec<(ProxyRequest, String)>>,
) -> std::io::Result<()> {
    let (r, mut w) = client.into_split();
    let mut r = BufReader::new(r);
    while let Some((head, body)) = read_message(&mut r).await? {
        let mut first = head.lines().next().unwrap_or_default().split(' ');
        let req = ProxyRequest {
            method: first.next().unwrap_or_default().to_owned(),
            path: first.next().unwrap_or_default().to_owned(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let action = script(&req);
        let what = match &action {
            Action::Forward => "forward".to_owned(),
            Action::CutBodyAfter(n) => format!("cut after {n}"),
            Action::Reply(code, _, _) => format!("reply {code}"),
        };
        seen.lock().unwrap().push((req, what));
        match action {
            Action::Reply(code, content_type, text) => {
                let answer = format!(
                    "HTTP/1.1 {code} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: injected\r\n\r\n{text}",
                    text.len()
                );
                w.write_all(answer.as_bytes()).await?;
            }
            Action::Forward | Action::CutBodyAfter(_) => {
                let up = TcpStream::connect(upstream).await?;
                let (ur, mut uw) = up.into_split();
                uw.write_all(head.as_bytes()).await?;
                uw.write_all(&body).await?;
                let mut ur = BufReader::new(ur);
                let Some((rhead, rbody)) = read_message(&mut ur).await? else {
                    return Ok(());
                };
                w.write_all(rhead.as_bytes()).await?;
                if let Action::CutBodyAfter(n) = action {
                    w.write_all(&rbody[..n.min(rbody.len())]).await?;
                    w.flush().await?;
                    return Ok(()); // drops the connection mid-body
                }
                w.write_all(&rbody).await?;
            }
        }
        w.flush().await?;
    }
    Ok(())
}
