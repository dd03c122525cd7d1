//! Webhook delivery benchmark: 10,000 alerts to a local receiver that answers each request in
//! 20 ms, through the real pipeline (file -> findings -> alerts -> generic webhook) at
//! concurrency 16. The ideal rate is concurrency / latency = 800 alerts/s; the target is at
//! least 90% of it, with every alert delivered exactly once.
//!
//! ```text
//! cargo bench --bench webhooks
//! BENCH_ALERTS=2000 BENCH_RUNS=1 cargo bench --bench webhooks    # quick smoke run
//! ```
//!
//! A plain program (`harness = false`), not a timed test: it prints figures and exits non-zero
//! only when a result is wrong (an alert lost or delivered twice). The receiver is
//! tests/support/http.rs (a real HTTP/1.1 server on loopback, keep-alive) on its own runtime
//! thread; the client runs on a two-worker runtime, as many as the machine has cores.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/support/http.rs"]
#[allow(dead_code)]
mod http;

use common::{env_count, env_number};
use std::collections::HashSet;
use std::io::Write as _;
use std::time::{Duration, Instant};

use guardduty_alerts::common::secret::Secret;
use guardduty_alerts::decide::Policy;
use guardduty_alerts::deliver::webhook::{
    self, DELIVERY_ID_HEADER, HttpSettings, Limits, WebhookDestination, WebhookKind, WebhookTarget,
};
use guardduty_alerts::deliver::{Deliveries, Destination};
use guardduty_alerts::export::ReaderOptions;
use guardduty_alerts::pipeline::{Stats, process_source};
use guardduty_alerts::source::{LocalOpener, SourceRef};

/// The receiver's answer time (`BENCH_LATENCY_MS`, default 20).
static LATENCY_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
const CONCURRENCY: usize = 16;

fn main() {
    let latency = Duration::from_millis(
        *LATENCY_MS.get_or_init(|| env_number::<u64>("BENCH_LATENCY_MS", 20)),
    );
    let alerts = env_count("BENCH_ALERTS", 10_000);
    let runs = env_count("BENCH_RUNS", 3);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-webhooks.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..alerts {
            writeln!(
                f,
                r#"{{"schemaVersion":"2.0","accountId":"111122223333","region":"us-east-1","partition":"aws","id":"bench{i:06}","type":"UnauthorizedAccess:EC2/SSHBruteForce","resource":{{"resourceType":"Instance","instanceDetails":{{"instanceId":"i-0abc{i}"}}}},"service":{{"count":1,"archived":false}},"severity":8,"updatedAt":"2026-11-26T10:00:00Z","title":"SSH brute force {i}"}}"#
            )
            .unwrap();
        }
    }
    println!(
        "webhook delivery: {alerts} alerts, receiver latency {} ms, concurrency {CONCURRENCY}, {runs} run(s); {} cores{}",
        latency.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        common::cpu_model()
    );
    let ideal = CONCURRENCY as f64 / latency.as_secs_f64().max(1e-3);

    // The receiver on its own runtime thread.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = http::Server::start(move |_, _| http::Reply::ok_after(latency)).await;
            tx.send(server.url("/ingest")).unwrap();
            // Keep it (and its records) alive; requests() is read through the channel below.
            let (qtx, qrx) = std::sync::mpsc::channel();
            QUERY.set(qtx).ok();
            loop {
                while let Ok(reply) = qrx.try_recv() {
                    let ids = server
                        .requests()
                        .iter()
                        .map(|r| {
                            r.headers
                                .get(DELIVERY_ID_HEADER)
                                .cloned()
                                .unwrap_or_default()
                        })
                        .collect();
                    reply.send((ids, server.timing())).unwrap();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    });
    let url = rx.recv().unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let http = HttpSettings::default();
    let target = WebhookTarget {
        name: "webhook".into(),
        kind: WebhookKind::Generic,
        url: Secret::new(url),
        routing_key: None,
        signing_secret: Some(Secret::new("bench-signing-secret")),
        headers: Vec::new(),
        limits: Limits {
            concurrency: CONCURRENCY,
            rate_per_second: None,
        },
    };
    target.validate(true).unwrap();
    let dests = vec![Destination::Webhook(WebhookDestination::new(
        target,
        webhook::http_client(&http).unwrap(),
        http,
    ))];
    let src = SourceRef::parse(path.to_str().unwrap()).unwrap();
    let mut rates = Vec::new();
    let mut wrong = false;
    let mut delivered_before = 0usize;
    for run in 1..=runs {
        let (elapsed, stats, sent, failed) = rt.block_on(async {
            let started = Instant::now();
            let mut out = Deliveries::new(&dests, None);
            let mut stats = Stats::default();
            process_source(
                &src,
                &LocalOpener,
                &ReaderOptions::default(),
                &Policy::default(),
                &mut out,
                &mut stats,
            )
            .await
            .unwrap();
            let elapsed = started.elapsed();
            let reports = out.into_reports();
            let sent: u64 = reports.iter().map(|(_, r)| r.sent).sum();
            let failed: usize = reports.iter().map(|(_, r)| r.failed.len()).sum();
            (elapsed, stats, sent, failed)
        });
        // Exactly once: the receiver saw each delivery id of this run once.
        let (rtx, rrx) = std::sync::mpsc::channel();
        QUERY.get().unwrap().send(rtx).unwrap();
        let (ids, (service_ms, turnaround_ms)) = rrx.recv().unwrap();
        let this_run = &ids[delivered_before..];
        delivered_before = ids.len();
        let unique: HashSet<&String> = this_run.iter().collect();
        let rate = sent as f64 / elapsed.as_secs_f64();
        println!(
            "  run {run}: {alerts} alerts in {:.2} s = {rate:.0}/s ({:.1}% of the ideal {ideal:.0}/s); sent {sent}, failed {failed}; receiver got {} requests, {} distinct",
            elapsed.as_secs_f64(),
            100.0 * rate / ideal,
            this_run.len(),
            unique.len()
        );
        println!(
            "    receiver answered in {service_ms:.2} ms on average (so {:.0}/s is the most 16 connections can carry); client turnaround {turnaround_ms:.2} ms between an answer and the next request on a connection",
            CONCURRENCY as f64 / (service_ms / 1e3)
        );
        if stats.alerts != alerts as u64
            || sent != alerts as u64
            || failed != 0
            || this_run.len() != alerts
            || unique.len() != alerts
        {
            eprintln!("WRONG: not every alert was delivered exactly once");
            wrong = true;
        }
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "median {median:.0} alerts/s = {:.1}% of concurrency/latency ({ideal:.0}/s); target >= 90%",
        100.0 * median / ideal
    );
    if wrong {
        std::process::exit(1);
    }
}

/// The receiver's answer to a query: the delivery ids seen so far, and its timing (ms).
type Seen = (Vec<String>, (f64, f64));

/// Asks the receiver's thread for the delivery ids it has seen so far.
static QUERY: std::sync::OnceLock<std::sync::mpsc::Sender<std::sync::mpsc::Sender<Seen>>> =
    std::sync::OnceLock::new();
