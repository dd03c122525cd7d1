//! Webhook destinations (Slack, Microsoft Teams Workflows, PagerDuty Events API v2, generic
//! JSON) and delivery that survives real endpoints: connect and total timeouts, retries with
//! exponential backoff and jitter on timeouts, connection errors, 408, 429 (honouring
//! `Retry-After`) and 5xx; no retry on other 4xx; bounded concurrency and a rate limit per
//! destination; a deadline after which nothing new is sent and what is left is reported as
//! undelivered.
//!
//! The URL (and routing key, signing secret, static header values) are [`Secret`]s: no log
//! line, error or `Debug` output contains them. Errors from the HTTP client are stripped of the
//! URL and passed through [`scrub`] before they are kept.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use serde_json::Value;
use tracing::{debug, warn};

use crate::classify::SeverityLabel;
use crate::common::hash::dedup_id;
use crate::common::retry::DEADLINE;
use crate::common::secret::{REDACTED, Secret, scrub};
use crate::common::time::parse_retry_after;
use crate::decide::Record;
use crate::deliver::{DeliveryReport, Undelivered};
use crate::render::digest::DigestContext;
use crate::render::json::JsonRecord;
use crate::render::{self, AlertContext};

/// PagerDuty's Events API v2 endpoint (US service region).
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Header carrying the Unix time (seconds) a generic webhook request was signed at.
pub const TIMESTAMP_HEADER: &str = "x-guardduty-alerts-timestamp";
/// Header carrying `v1=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY` under the signing secret.
pub const SIGNATURE_HEADER: &str = "x-guardduty-alerts-signature";
/// Header carrying a stable id of the alert (finding id and `updatedAt`), the same on every
/// retry, so a receiver can drop repeats.
pub const DELIVERY_ID_HEADER: &str = "x-guardduty-alerts-delivery-id";
/// Most bytes of an error response kept for the log.
pub const ERROR_BODY_BYTES: usize = 300;

/// The kinds of webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookKind {
    /// A Slack incoming webhook (Block Kit message).
    Slack,
    /// A Microsoft Teams Workflows webhook (Adaptive Card).
    Teams,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// Any HTTPS endpoint that takes the JSON body (the SNS JSON body), optionally signed.
    Generic,
}

impl WebhookKind {
    /// The kind's name, as used for the destination's default name and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Slack => "slack",
            WebhookKind::Teams => "teams",
            WebhookKind::PagerDuty => "pagerduty",
            WebhookKind::Generic => "webhook",
        }
    }

    /// Default concurrency and rate for the kind: Slack allows about one message per second per
    /// webhook; Teams Workflows throttle bursts (4 per second, as the old connectors did);
    /// PagerDuty's Events API allows about 120 events a minute per routing key; a generic
    /// receiver is ours to size (16 at once, no rate limit).
    pub fn default_limits(self) -> Limits {
        match self {
            WebhookKind::Slack => Limits {
                concurrency: 1,
                rate_per_second: Some(1.0),
            },
            WebhookKind::Teams => Limits {
                concurrency: 2,
                rate_per_second: Some(4.0),
            },
            WebhookKind::PagerDuty => Limits {
                concurrency: 2,
                rate_per_second: Some(2.0),
            },
            WebhookKind::Generic => Limits {
                concurrency: 16,
                rate_per_second: None,
            },
        }
    }
}

/// How much one destination may be sent at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Requests started per second at most (`None`: no limit).
    pub rate_per_second: Option<f64>,
}

/// Timeouts and retries, the same for every webhook.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// Time to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time for a whole request, answer included.
    pub timeout: Duration,
    /// Attempts per alert, the first included.
    pub attempts: u32,
    /// Wait before the first retry; each retry waits 4 times longer (±50% jitter), at most
    /// `max_delay`.
    pub base_delay: Duration,
    /// Longest wait between attempts, and longest `Retry-After` honoured.
    pub max_delay: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// One configured webhook, its secrets resolved.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The destination's name (in logs, reports and dry runs).
    pub name: String,
    /// What it is.
    pub kind: WebhookKind,
    /// Where to POST. For PagerDuty the Events API URL (not secret, but kept the same way).
    pub url: Secret,
    /// PagerDuty's routing (integration) key.
    pub routing_key: Option<Secret>,
    /// Generic webhooks: the HMAC-SHA256 signing secret.
    pub signing_secret: Option<Secret>,
    /// Generic webhooks: static headers (values are treated as secrets).
    pub headers: Vec<(String, Secret)>,
    /// Concurrency and rate.
    pub limits: Limits,
}

impl WebhookTarget {
    /// Checks the target: an `https://` URL (plain `http://` only to a loopback address and
    /// only when `allow_http` is set), a routing key for PagerDuty, valid header names and
    /// values, sane limits. The error never contains the URL or any secret.
    pub fn validate(&self, allow_http: bool) -> Result<(), String> {
        let url = reqwest::Url::parse(self.url.expose())
            .map_err(|e| format!("the URL is not a valid URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http && is_loopback(&url) => {}
            "http" if allow_http => {
                return Err(
                    "plain http:// is allowed only to a loopback address (127.0.0.1, ::1, localhost)"
                        .into(),
                );
            }
            "http" => {
                return Err("the URL must be https:// (plain http:// is allowed only to loopback addresses, for tests, with ALLOW_HTTP_WEBHOOKS=true)".into());
            }
            other => {
                return Err(format!(
                    "the URL's scheme is {other:?}; it must be https://"
                ));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL has no host".into());
        }
        if self.kind == WebhookKind::PagerDuty
            && self
                .routing_key
                .as_ref()
                .is_none_or(|k| k.expose().trim().is_empty())
        {
            return Err("a PagerDuty destination needs a routing key".into());
        }
        for (name, value) in &self.headers {
            crate::common::headers::check_header_name(name)
                .map_err(|why| format!("header {name:?} {why}"))?;
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header name {name:?} is not a valid HTTP header name"))?;
            HeaderValue::from_str(value.expose())
                .map_err(|_| format!("the value of header {name:?} is not a valid header value"))?;
        }
        if self.limits.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if let Some(r) = self.limits.rate_per_second
            && !(r.is_finite() && r > 0.0)
        {
            return Err("rate_per_second must be a positive number".into());
        }
        Ok(())
    }

    fn secrets(&self) -> Vec<&Secret> {
        let mut v = vec![&self.url];
        v.extend(&self.routing_key);
        v.extend(&self.signing_secret);
        v.extend(self.headers.iter().map(|(_, s)| s));
        v
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The payload for one alert: `(content, delivery id)`. The routing key goes in only when
/// `routing_key` is given (a dry run passes [`Secret::redacted`]).
pub fn payload(kind: WebhookKind, r: &Record<'_>, routing_key: Option<&Secret>) -> String {
    let j = JsonRecord::new(r);
    let ctx = AlertContext::new(&j).with_account_name(r.account_name);
    let v: Value = match kind {
        WebhookKind::Slack => render::slack(&ctx),
        WebhookKind::Teams => render::teams(&ctx),
        WebhookKind::PagerDuty => match routing_key {
            Some(k) => render::pagerduty(&ctx, k),
            None => render::pagerduty_redacted(&ctx),
        },
        WebhookKind::Generic => return render::generic(r),
    };
    v.to_string()
}

/// `v1=` and the lower-case hex HMAC-SHA256 of `TIMESTAMP.BODY` under `secret`: what the
/// [`SIGNATURE_HEADER`] carries. Receivers recompute it and compare in constant time, and
/// reject timestamps more than a few minutes old.
pub fn signature(secret: &Secret, timestamp: u64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose().as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = String::with_capacity(3 + 64);
    out.push_str("v1=");
    for b in tag.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The request headers of one delivery, in the order sent. With `redact`, secret values (static
/// header values, the signature) show as [`REDACTED`].
pub fn headers(
    t: &WebhookTarget,
    delivery_id: &str,
    timestamp: u64,
    body: &[u8],
    redact: bool,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "user-agent".to_owned(),
            concat!("guardduty-alerts/", env!("CARGO_PKG_VERSION")).to_owned(),
        ),
    ];
    if t.kind == WebhookKind::Generic {
        // Configured headers first, ours after: where names met, ours would win (they cannot:
        // `validate` and both config paths refuse x-guardduty-alerts-* names).
        for (name, value) in &t.headers {
            h.push((
                name.to_ascii_lowercase(),
                if redact {
                    REDACTED.to_owned()
                } else {
                    value.expose().to_owned()
                },
            ));
        }
        h.push((DELIVERY_ID_HEADER.to_owned(), delivery_id.to_owned()));
        if let Some(s) = &t.signing_secret {
            h.push((TIMESTAMP_HEADER.to_owned(), timestamp.to_string()));
            h.push((
                SIGNATURE_HEADER.to_owned(),
                if redact {
                    format!("v1={REDACTED}")
                } else {
                    signature(s, timestamp, body)
                },
            ));
        }
    }
    h
}

/// Pacing shared by every output of one destination (and across invocations of a warm
/// function): when the next request may start, and a pause after a 429.
#[derive(Debug)]
struct Pace {
    next_start: Instant,
    paused_until: Option<Instant>,
    /// Set after an answer that says the webhook itself is gone or refuses us (401, 403, 404,
    /// 410): later alerts fail at once with this reason instead of hammering it.
    gave_up: Option<String>,
}

/// A webhook destination: a target, an HTTP client and pacing.
#[derive(Debug, Clone)]
pub struct WebhookDestination {
    target: Arc<WebhookTarget>,
    client: reqwest::Client,
    http: HttpSettings,
    pace: Arc<Mutex<Pace>>,
}

/// An HTTPS client on rustls with the ring provider, TLS verification always on, redirects not
/// followed (a webhook that redirects is misconfigured, and following could send the alert
/// somewhere else).
pub fn http_client(http: &HttpSettings) -> Result<reqwest::Client, String> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(http.connect_timeout)
        .timeout(http.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .https_only(false)
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))
}

/// Installs rustls' ring provider as the process default (once; later calls do nothing).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl WebhookDestination {
    /// A destination for a validated target.
    pub fn new(target: WebhookTarget, client: reqwest::Client, http: HttpSettings) -> Self {
        WebhookDestination {
            target: Arc::new(target),
            client,
            http,
            pace: Arc::new(Mutex::new(Pace {
                next_start: Instant::now(),
                paused_until: None,
                gave_up: None,
            })),
        }
    }

    /// The target.
    pub fn target(&self) -> &WebhookTarget {
        &self.target
    }

    /// The destination's name.
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// An output gathering the alerts of one source; nothing is sent after `deadline`. A
    /// webhook given up on (401, 403, 404, 410) is tried again from the next source on: it may
    /// have been fixed, and a warm function must not stay cut off from it.
    pub fn output(&self, deadline: Option<Instant>) -> WebhookOutput<'_> {
        self.pace.lock().unwrap_or_else(|e| e.into_inner()).gave_up = None;
        WebhookOutput {
            dest: self,
            deadline,
            pending: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            report: DeliveryReport::default(),
        }
    }

    /// Waits for the next start slot. `Err` when the slot would come after the deadline.
    async fn wait_turn(&self, deadline: Option<Instant>) -> Result<(), String> {
        let start = {
            let mut p = self.pace.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(reason) = &p.gave_up {
                return Err(format!("not attempted: {reason}"));
            }
            let now = Instant::now();
            let start = [Some(now), Some(p.next_start), p.paused_until]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(now);
            if deadline.is_some_and(|d| start >= d) {
                return Err(DEADLINE.into());
            }
            if let Some(rate) = self.target.limits.rate_per_second {
                p.next_start = start + Duration::from_secs_f64(1.0 / rate);
            }
            start
        };
        // A timer, even one already due, costs up to a tick of the timer wheel (1 ms): only
        // sleep when there is something to wait for.
        if start > Instant::now() {
            tokio::time::sleep_until(start.into()).await;
        }
        Ok(())
    }

    fn pause(&self, until: Instant) {
        let mut p = self.pace.lock().unwrap_or_else(|e| e.into_inner());
        p.paused_until = Some(p.paused_until.map_or(until, |u| u.max(until)));
    }

    fn give_up(&self, reason: &str) {
        let mut p = self.pace.lock().unwrap_or_else(|e| e.into_inner());
        p.gave_up.get_or_insert_with(|| reason.to_owned());
    }

    /// Sends one alert with retries. `Err` holds why it was not delivered.
    async fn deliver(&self, item: &Pending, deadline: Option<Instant>) -> Result<(), String> {
        let t = &*self.target;
        let mut last = String::new();
        for attempt in 1..=self.http.attempts.max(1) {
            if let Err(e) = self.wait_turn(deadline).await {
                return Err(if last.is_empty() {
                    e
                } else {
                    format!("{e}; last error: {last}")
                });
            }
            let mut timeout = self.http.timeout;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(DEADLINE.into());
                }
                timeout = timeout.min(left);
            }
            let timestamp = unix_seconds();
            let mut headers = HeaderMap::new();
            for (k, v) in
                self::headers(t, &item.delivery_id, timestamp, item.body.as_bytes(), false)
            {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    headers.insert(k, v);
                }
            }
            debug_assert!(headers.contains_key(CONTENT_TYPE) && headers.contains_key(USER_AGENT));
            let sent = self
                .client
                .post(t.url.expose())
                .headers(headers)
                .timeout(timeout)
                .body(item.body.clone())
                .send()
                .await;
            let retry_in: Option<Duration>;
            match sent {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        drain(resp).await;
                        return Ok(());
                    }
                    let retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let body = error_body(resp).await;
                    let reason = scrub(&format!("HTTP {}{}", status.as_u16(), body), &t.secrets());
                    let code = status.as_u16();
                    if code == 429 || code == 408 || status.is_server_error() {
                        if let Some(wait) = retry_after {
                            let wait = wait.min(self.http.max_delay);
                            self.pause(Instant::now() + wait);
                        }
                        retry_in = Some(retry_after.unwrap_or_default());
                        last = reason;
                    } else {
                        if matches!(code, 401 | 403 | 404 | 410) {
                            warn!(destination = %t.name, status = code, answer = %reason, "the webhook refuses us or is gone; the remaining alerts to it are not attempted");
                            self.give_up(&reason);
                        } else {
                            warn!(destination = %t.name, status = code, answer = %reason, "the webhook rejected an alert; not retrying");
                        }
                        return Err(reason);
                    }
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        format!("timed out after {:.1} s", timeout.as_secs_f64())
                    } else if e.is_connect() {
                        "connection failed".to_owned()
                    } else {
                        "request failed".to_owned()
                    };
                    let detail = error_chain(&e.without_url());
                    last = scrub(&format!("{kind}: {detail}"), &t.secrets());
                    retry_in = Some(Duration::ZERO);
                }
            }
            if attempt == self.http.attempts.max(1) {
                break;
            }
            let wait = backoff(&self.http, attempt).max(retry_in.unwrap_or_default());
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                return Err(format!("{DEADLINE}; last error: {last}"));
            }
            debug!(destination = %t.name, attempt, wait_ms = wait.as_millis() as u64, error = %last, "retrying");
            tokio::time::sleep(wait).await;
        }
        Err(format!(
            "gave up after {} attempts: {last}",
            self.http.attempts.max(1)
        ))
    }
}

/// Why an alert was not sent when time ran out.
fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Exponential backoff with ±50% jitter: base × 4^(attempt-1), at most `max_delay`.
fn backoff(h: &HttpSettings, attempt: u32) -> Duration {
    crate::common::retry::backoff(h.base_delay, attempt, h.max_delay)
}

/// Reads (and discards) a short success answer so the connection can be reused.
async fn drain(mut resp: reqwest::Response) {
    let mut read = 0usize;
    while let Ok(Some(chunk)) = resp.chunk().await {
        read += chunk.len();
        if read > 64 * 1024 {
            break;
        }
    }
}

/// The start of an error answer, for the log: `: text…`, or empty.
async fn error_body(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    let cut = buf.len() > ERROR_BODY_BYTES;
    buf.truncate(ERROR_BODY_BYTES);
    let text: String = String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}{}", if cut { "…" } else { "" })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        src = s.source();
    }
    out
}

/// One rendered alert (or digest) waiting to be sent.
#[derive(Debug)]
struct Pending {
    finding_id: String,
    finding_type: String,
    label: SeverityLabel,
    delivery_id: String,
    body: String,
    /// Alerts it stands for: 1, or a digest's total.
    alerts: u64,
    digest: bool,
}

/// The payload of a digest for a webhook of `kind` (see [`payload`]).
pub fn digest_payload(
    kind: WebhookKind,
    ctx: &DigestContext<'_>,
    routing_key: Option<&Secret>,
) -> String {
    match kind {
        WebhookKind::Slack => render::slack_digest(ctx).to_string(),
        WebhookKind::Teams => render::teams_digest(ctx).to_string(),
        WebhookKind::PagerDuty => {
            let redacted = Secret::redacted();
            render::pagerduty_digest(ctx, routing_key.unwrap_or(&redacted)).to_string()
        }
        WebhookKind::Generic => render::digest::json_body(ctx),
    }
}

/// Gathers the alerts of one source for one webhook and sends them at every flush.
pub struct WebhookOutput<'d> {
    dest: &'d WebhookDestination,
    deadline: Option<Instant>,
    pending: VecDeque<Pending>,
    in_flight: FuturesUnordered<InFlight<'d>>,
    report: DeliveryReport,
}

/// One delivery under way, with its outcome.
type InFlight<'d> = Pin<Box<dyn Future<Output = (Pending, Result<(), String>)> + Send + 'd>>;

impl WebhookOutput<'_> {
    /// Queues one alert.
    pub fn push(&mut self, r: &Record<'_>) {
        let t = &*self.dest.target;
        let body = payload(t.kind, r, t.routing_key.as_ref());
        let id = r.finding.id.get().unwrap_or_default();
        self.pending.push_back(Pending {
            finding_id: id.to_owned(),
            finding_type: r.finding.finding_type.get().unwrap_or_default().to_owned(),
            label: r.class.label,
            delivery_id: dedup_id(id, r.finding.updated_at.get()),
            body,
            alerts: 1,
            digest: false,
        });
    }

    /// Queues a digest.
    pub fn push_digest(&mut self, ctx: &DigestContext<'_>) {
        let t = &*self.dest.target;
        self.pending.push_back(Pending {
            finding_id: format!("{} ({} alerts)", ctx.id(), ctx.digest.total),
            finding_type: "digest".to_owned(),
            label: ctx.top_label(),
            delivery_id: ctx.id(),
            body: digest_payload(t.kind, ctx, t.routing_key.as_ref()),
            alerts: ctx.digest.total as u64,
            digest: true,
        });
    }

    /// Drops the queued alerts below Critical (they go into a digest instead).
    pub fn keep_only_critical(&mut self) {
        self.pending.retain(|p| p.label == SeverityLabel::Critical);
    }

    /// Sends what is queued, `concurrency` at a time, paced. Returns when the queue is empty,
    /// leaving up to `concurrency` deliveries in flight (they go on at the next call) — or, with
    /// `finish`, when every delivery has its outcome.
    pub async fn send(&mut self, finish: bool) {
        let dest = self.dest;
        let deadline = self.deadline;
        let limit = dest.target.limits.concurrency.max(1);
        loop {
            while self.in_flight.len() < limit
                && let Some(item) = self.pending.pop_front()
            {
                self.in_flight.push(Box::pin(async move {
                    let result = dest.deliver(&item, deadline).await;
                    (item, result)
                }));
            }
            if self.in_flight.is_empty() || (!finish && self.pending.is_empty()) {
                return;
            }
            if let Some((item, result)) = self.in_flight.next().await {
                match result {
                    Ok(()) if item.digest => {
                        self.report.digests_sent += 1;
                        self.report.digested_alerts += item.alerts;
                    }
                    Ok(()) => self.report.sent += 1,
                    Err(reason) => self.report.failed.push(Undelivered {
                        destination: dest.target.name.clone(),
                        finding_id: item.finding_id,
                        finding_type: item.finding_type,
                        reason,
                        alerts: item.alerts,
                    }),
                }
            }
        }
    }

    /// The destination's name.
    pub fn name(&self) -> &str {
        &self.dest.target.name
    }

    /// The report so far.
    pub fn report(&self) -> &DeliveryReport {
        &self.report
    }

    /// The report, once [`WebhookOutput::send`] with `finish` is done.
    pub fn into_report(self) -> DeliveryReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, kind: WebhookKind) -> WebhookTarget {
        WebhookTarget {
            name: kind.as_str().into(),
            kind,
            url: Secret::new(url),
            routing_key: (kind == WebhookKind::PagerDuty).then(|| Secret::new("R0UTINGKEY")),
            signing_secret: None,
            headers: Vec::new(),
            limits: kind.default_limits(),
        }
    }

    #[test]
    fn urls_must_be_https_or_loopback_http_when_allowed() {
        let ok = |u: &str, allow| target(u, WebhookKind::Slack).validate(allow);
        assert!(ok("https://hooks.slack.com/services/T/B/x", false).is_ok());
        assert!(ok("http://127.0.0.1:8080/hook", true).is_ok());
        assert!(ok("http://[::1]:8080/hook", true).is_ok());
        assert!(ok("http://localhost:8080/hook", true).is_ok());
        let cases = [
            ("http://127.0.0.1:8080/hook", false, "must be https://"),
            (
                "http://hooks.example.com/secret-path",
                true,
                "only to a loopback",
            ),
            ("http://10.0.0.1/secret-path", true, "only to a loopback"),
            ("ftp://example.com/secret-path", false, "scheme is \"ftp\""),
            ("not a url secret-path", false, "not a valid URL"),
        ];
        for (u, allow, want) in cases {
            let e = ok(u, allow).unwrap_err();
            assert!(e.contains(want), "{u}: {e}");
            assert!(
                !e.contains("secret-path"),
                "{u}: the error shows the URL: {e}"
            );
        }
        let mut pd = target(PAGERDUTY_EVENTS_URL, WebhookKind::PagerDuty);
        pd.routing_key = None;
        assert_eq!(
            pd.validate(false).unwrap_err(),
            "a PagerDuty destination needs a routing key"
        );
        let mut g = target("https://example.com/h", WebhookKind::Generic);
        // Our own names are refused even where a target is built in code: a configured
        // x-guardduty-alerts-signature would stand in for the HMAC.
        for own in [
            "x-guardduty-alerts-signature",
            "X-GuardDuty-Alerts-Timestamp",
        ] {
            g.headers = vec![(own.into(), Secret::new("v1=forged"))];
            let e = g.validate(false).unwrap_err();
            assert!(e.contains("set by guardduty-alerts itself"), "{own}: {e}");
        }
        g.headers = vec![("X Bad".into(), Secret::new("v"))];
        assert!(g.validate(false).unwrap_err().contains("X Bad"));
        g.headers = vec![("X-Token".into(), Secret::new("line\nbreak-secret"))];
        let e = g.validate(false).unwrap_err();
        assert!(e.contains("X-Token") && !e.contains("break-secret"), "{e}");
    }

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently with Python's hmac module:
        //   hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        let sig = signature(&Secret::new("s3cret"), 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
    }

    #[test]
    fn headers_of_generic_webhooks_and_redaction() {
        let mut t = target("https://example.com/h", WebhookKind::Generic);
        t.signing_secret = Some(Secret::new("s3cret"));
        t.headers = vec![("X-Team".into(), Secret::new("sec-token"))];
        let h = headers(&t, "id-1", 1_700_000_000, b"{}", false);
        let names: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "user-agent",
                "x-team",
                DELIVERY_ID_HEADER,
                TIMESTAMP_HEADER,
                SIGNATURE_HEADER,
            ]
        );
        assert_eq!(h[2].1, "sec-token");
        let r = headers(&t, "id-1", 1_700_000_000, b"{}", true);
        assert_eq!(r[2].1, "***");
        assert_eq!(r[5].1, "v1=***");
        // Slack gets no extra headers.
        let s = headers(
            &target("https://x/y", WebhookKind::Slack),
            "id",
            1,
            b"",
            false,
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let h = HttpSettings::default();
        for attempt in 1..=6 {
            let d = backoff(&h, attempt).as_secs_f64();
            let nominal = (0.25 * 4f64.powi(attempt as i32 - 1)).min(30.0);
            assert!(d >= nominal * 0.5 && d <= nominal * 1.5, "{attempt}: {d}");
        }
    }
}
