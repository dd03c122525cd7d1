//! A real HTTP/1.1 server on loopback for webhook tests and benchmarks: keep-alive, requests
//! recorded (method, path, headers, body, arrival and answer times), and a script that decides
//! each answer — a status with headers and body after a delay, a reset connection, or no answer
//! at all. It also measures how many requests were in flight at once.
//!
//! Hand-written on tokio (no HTTP server crate) so the tests depend on nothing but a socket.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names lower-cased; the last value wins.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
    /// When its head arrived.
    pub arrived: Instant,
    /// Which connection it came on (0, 1, …).
    pub connection: usize,
}

impl Request {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response after `delay`.
    Status {
        /// HTTP status code.
        code: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body.
        body: String,
        /// Wait before answering.
        delay: Duration,
    },
    /// Close the connection with a TCP reset, without answering.
    Reset,
    /// Never answer (the client must time out).
    Hang,
}

impl Reply {
    /// `code` with a short body and no delay.
    pub fn status(code: u16, body: &str) -> Reply {
        Reply::Status {
            code,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    /// `200 ok` after `delay`.
    pub fn ok_after(delay: Duration) -> Reply {
        Reply::Status {
            code: 200,
            headers: Vec::new(),
            body: "ok".into(),
            delay,
        }
    }

    /// `code` with one extra header.
    pub fn with_header(code: u16, name: &str, value: &str) -> Reply {
        Reply::Status {
            code,
            headers: vec![(name.to_owned(), value.to_owned())],
            body: String::new(),
            delay: Duration::ZERO,
        }
    }
}

type Script = dyn Fn(usize, &Request) -> Reply + Send + Sync;

struct Shared {
    requests: Mutex<Vec<Request>>,
    script: Box<Script>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    connections: AtomicUsize,
    /// Per answered request: (connection, head arrived, answer written).
    answers: Mutex<Vec<(usize, Instant, Instant)>>,
}

/// A running server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts a server on 127.0.0.1 (a free port) answering with `script(n, request)`, where
    /// `n` counts requests from 0.
    pub async fn start(
        script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            script: Box::new(script),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            answers: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let id = s.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, id, s.clone()));
            }
        });
        Server { addr, shared, task }
    }

    /// Always `200 ok`.
    pub async fn ok() -> Server {
        Server::start(|_, _| Reply::status(200, "ok")).await
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// The most requests that were being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Timing of answered requests: mean time from a request's head to its answer (the
    /// receiver's own latency), and mean time from an answer to the next request on the same
    /// connection (the client's turnaround), both in milliseconds.
    pub fn timing(&self) -> (f64, f64) {
        let a = self.shared.answers.lock().unwrap();
        let service: f64 = a
            .iter()
            .map(|(_, s, e)| (*e - *s).as_secs_f64())
            .sum::<f64>()
            / a.len().max(1) as f64;
        let mut by_conn: BTreeMap<usize, Vec<(Instant, Instant)>> = BTreeMap::new();
        for (c, s, e) in a.iter() {
            by_conn.entry(*c).or_default().push((*s, *e));
        }
        let (mut gaps, mut n) = (0.0, 0usize);
        for v in by_conn.values_mut() {
            v.sort();
            for w in v.windows(2) {
                gaps += w[1].0.saturating_duration_since(w[0].1).as_secs_f64();
                n += 1;
            }
        }
        (service * 1e3, gaps / n.max(1) as f64 * 1e3)
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback address where nothing listens (bound, then released).
pub fn closed_port_url(path: &str) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}{path}")
}

async fn serve(mut stream: TcpStream, connection: usize, s: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        // Read a head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 64 * 1024 {
                return;
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let arrived = Instant::now();
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or_default().to_owned();
        let path = first.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let req = Request {
            method,
            path,
            headers,
            body,
            arrived,
            connection,
        };
        let n = {
            let mut all = s.requests.lock().unwrap();
            all.push(req.clone());
            all.len() - 1
        };
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let reply = (s.script)(n, &req);
        let keep_going = match reply {
            Reply::Status {
                code,
                headers,
                body,
                delay,
            } => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let mut out = format!(
                    "HTTP/1.1 {code} {}\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n",
                    reason(code),
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                let ok = stream.write_all(out.as_bytes()).await.is_ok();
                s.answers
                    .lock()
                    .unwrap()
                    .push((connection, arrived, Instant::now()));
                ok
            }
            Reply::Reset => {
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                false
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                false
            }
        };
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !keep_going {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
