//! Webhook delivery against real loopback HTTP servers (tests/support/http.rs), never a mocked
//! client: payloads as received, escaping of hostile fields, retries and `Retry-After`,
//! timeouts, reset connections, closed ports, 4xx without retry, concurrency and rate bounds,
//! the deadline, secret redaction, and secrets from Secrets Manager and SSM in moto.

mod support;

use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use guardduty_alerts::app::resolve::DestinationsConfig;
use guardduty_alerts::common::secret::Secret;
use guardduty_alerts::decide::Policy;
use guardduty_alerts::deliver::secret::SecretStore;
use guardduty_alerts::deliver::webhook::{
    self, HttpSettings, Limits, WebhookDestination, WebhookKind, WebhookTarget,
};
use guardduty_alerts::deliver::{Deliveries, DeliveryReport, Destination, DryRun};
use guardduty_alerts::export::ReaderOptions;
use guardduty_alerts::pipeline::{Stats, process_source};
use guardduty_alerts::render;
use guardduty_alerts::source::{LocalOpener, SourceRef};
use serde_json::{Value, json};
use support::http::{Reply, Server, closed_port_url};

const TOKEN: &str = "T0KEN-s3cr3t-path";

/// A finding line: id `f{i}`, the given severity and title.
fn finding(i: usize, severity: f64, title: &str) -> String {
    json!({
        "schemaVersion": "2.0",
        "accountId": "111122223333",
        "region": "us-east-1",
        "partition": "aws",
        "id": format!("f{i:05}"),
        "arn": format!("arn:aws:guardduty:us-east-1:111122223333:detector/d/finding/f{i:05}"),
        "type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0abc", "tags": [{"key": "Name", "value": title}]}},
        "service": {"count": 3, "archived": false, "eventFirstSeen": "2026-11-26T09:00:00Z", "eventLastSeen": "2026-11-26T09:55:00Z", "action": {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {"remoteIpDetails": {"ipAddressV4": "198.51.100.7"}}}},
        "severity": severity,
        "createdAt": "2026-11-26T09:00:00Z",
        "updatedAt": "2026-11-26T10:00:00Z",
        "title": title,
        "description": title,
    })
    .to_string()
}

fn export(name: &str, lines: &[String]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webhooks");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.jsonl"));
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    path
}

fn alerts(n: usize) -> Vec<String> {
    (0..n).map(|i| finding(i, 8.0, "SSH brute force")).collect()
}

fn quick() -> HttpSettings {
    HttpSettings {
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_secs(2),
        attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(2),
    }
}

fn target(kind: WebhookKind, url: String, limits: Limits) -> WebhookTarget {
    WebhookTarget {
        name: kind.as_str().into(),
        kind,
        url: Secret::new(url),
        routing_key: (kind == WebhookKind::PagerDuty).then(|| Secret::new("R0UTING-s3cr3t-KEY")),
        signing_secret: None,
        headers: Vec::new(),
        limits,
    }
}

fn open(limits: Limits) -> Limits {
    Limits {
        rate_per_second: None,
        ..limits
    }
}

fn destination(t: WebhookTarget, http: HttpSettings) -> Destination {
    t.validate(true).expect("valid target");
    Destination::Webhook(WebhookDestination::new(
        t,
        webhook::http_client(&http).unwrap(),
        http,
    ))
}

/// Runs the lines through the pipeline into the destinations; the reports by destination.
async fn deliver(
    name: &str,
    lines: &[String],
    dests: &[Destination],
    deadline: Option<Instant>,
) -> (Stats, Vec<(String, DeliveryReport)>) {
    let src = SourceRef::parse(export(name, lines).to_str().unwrap()).unwrap();
    let mut out = Deliveries::new(dests, deadline);
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
    .expect("source read");
    (stats, out.into_reports())
}

/// The dry-run lines for the same input: what would be sent.
async fn dry_run(name: &str, lines: &[String], dests: &[Destination]) -> Vec<Value> {
    let src = SourceRef::parse(export(name, lines).to_str().unwrap()).unwrap();
    let mut buf = Vec::new();
    {
        let mut out = DryRun::new(dests, &mut buf);
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
    }
    String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn one(reports: &[(String, DeliveryReport)]) -> &DeliveryReport {
    assert_eq!(reports.len(), 1);
    &reports[0].1
}

#[tokio::test]
async fn every_destination_receives_exactly_what_the_dry_run_shows() {
    let server = Server::start(|_, r| {
        if r.path.starts_with("/teams") || r.path.starts_with("/pd") {
            Reply::status(202, "")
        } else {
            Reply::status(200, "ok")
        }
    })
    .await;
    let mut generic = target(
        WebhookKind::Generic,
        server.url(&format!("/hook/{TOKEN}")),
        WebhookKind::Generic.default_limits(),
    );
    generic.signing_secret = Some(Secret::new("sign-s3cr3t"));
    generic.headers = vec![("X-Team".into(), Secret::new("hdr-s3cr3t"))];
    let dests = vec![
        destination(
            target(
                WebhookKind::Slack,
                server.url(&format!("/slack/{TOKEN}")),
                open(WebhookKind::Slack.default_limits()),
            ),
            quick(),
        ),
        destination(
            target(
                WebhookKind::Teams,
                server.url(&format!("/teams/{TOKEN}")),
                open(WebhookKind::Teams.default_limits()),
            ),
            quick(),
        ),
        destination(
            target(
                WebhookKind::PagerDuty,
                server.url("/pd/v2/enqueue"),
                open(WebhookKind::PagerDuty.default_limits()),
            ),
            quick(),
        ),
        destination(generic, quick()),
    ];
    let lines = vec![
        finding(1, 8.5, "SSH brute force against i-0abc"),
        finding(2, 2.0, "low: suppressed by the default policy"),
        finding(3, 9.5, "Critical one"),
    ];
    let (stats, reports) = deliver("golden", &lines, &dests, None).await;
    assert_eq!(stats.alerts, 2);
    for (name, r) in &reports {
        assert_eq!((r.sent, r.failed.len()), (2, 0), "{name}: {:?}", r.failed);
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 8);
    let expected = dry_run("golden", &lines, &dests).await;
    assert_eq!(expected.len(), 8);
    for e in &expected {
        let kind = e["kind"].as_str().unwrap();
        let prefix = match kind {
            "slack" => "/slack/",
            "teams" => "/teams/",
            "pagerduty" => "/pd/",
            _ => "/hook/",
        };
        let got = requests
            .iter()
            .find(|r| {
                r.path.starts_with(prefix) && r.text().contains(e["finding_id"].as_str().unwrap())
            })
            .unwrap_or_else(|| panic!("no {kind} request for {}", e["finding_id"]));
        assert_eq!(got.method, "POST");
        assert_eq!(got.headers["content-type"], "application/json");
        assert!(got.headers["user-agent"].starts_with("guardduty-alerts/"));
        let mut body = got.json();
        match kind {
            "slack" => render::check_slack_invariants(&body).unwrap(),
            "teams" => render::check_teams_invariants(&body).unwrap(),
            "pagerduty" => {
                render::check_pagerduty_invariants(&body).unwrap();
                assert_eq!(body["routing_key"], "R0UTING-s3cr3t-KEY");
                assert_eq!(body["dedup_key"], e["finding_id"]);
                assert_eq!(body["event_action"], "trigger");
                let sev = body["payload"]["severity"].as_str().unwrap();
                assert_eq!(
                    sev,
                    if e["finding_id"] == "f00003" {
                        "critical"
                    } else {
                        "error"
                    }
                );
                body["routing_key"] = json!("***");
            }
            _ => {
                render::check_generic_invariants(&got.text()).unwrap();
                // Signed over timestamp + "." + body with the signing secret.
                let ts: u64 = got.headers[webhook::TIMESTAMP_HEADER].parse().unwrap();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                assert!(now.abs_diff(ts) < 60);
                let want = webhook::signature(&Secret::new("sign-s3cr3t"), ts, &got.body);
                assert_eq!(got.headers[webhook::SIGNATURE_HEADER], want);
                assert_eq!(got.headers["x-team"], "hdr-s3cr3t");
                assert_eq!(
                    got.headers[webhook::DELIVERY_ID_HEADER],
                    format!("{}-2026-11-26T10:00:00Z", e["finding_id"].as_str().unwrap())
                );
                assert_eq!(e["headers"][webhook::SIGNATURE_HEADER], "v1=***");
                assert_eq!(e["headers"]["x-team"], "***");
            }
        }
        assert_eq!(body, e["body"], "{kind}: the dry run shows what is sent");
        assert_eq!(e["url"], "***");
    }
    // No secret in the dry run.
    let all = serde_json::to_string(&expected).unwrap();
    for s in [TOKEN, "R0UTING-s3cr3t-KEY", "sign-s3cr3t", "hdr-s3cr3t"] {
        assert!(!all.contains(s), "dry run shows {s}");
    }
}

#[tokio::test]
async fn hostile_fields_arrive_escaped() {
    let server = Server::ok().await;
    let hostile = "<!channel> <!here> <@U0123> @team [click](https://evil.example/x) <https://evil.example|here> *bold* **b** _i_ `code` &amp; \u{202e}rtl\n# heading";
    let dests = vec![
        destination(
            target(
                WebhookKind::Slack,
                server.url("/slack"),
                open(WebhookKind::Slack.default_limits()),
            ),
            quick(),
        ),
        destination(
            target(
                WebhookKind::Teams,
                server.url("/teams"),
                open(WebhookKind::Teams.default_limits()),
            ),
            quick(),
        ),
    ];
    let (_, reports) = deliver("hostile", &[finding(7, 8.0, hostile)], &dests, None).await;
    assert!(
        reports
            .iter()
            .all(|(_, r)| r.sent == 1 && r.failed.is_empty())
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for r in reqs {
        let body = r.json();
        let text = r.text();
        if r.path == "/slack" {
            render::check_slack_invariants(&body).unwrap();
            for raw in ["<!channel>", "<!here>", "<@U0123>", "<https://evil"] {
                assert!(!text.contains(raw), "slack got {raw} unescaped");
            }
        } else {
            render::check_teams_invariants(&body).unwrap();
            assert!(
                !text.contains("[click](https://evil"),
                "teams got a live link"
            );
        }
        assert!(!text.contains('\u{202e}'));
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_delivered_once() {
    let server = Server::start(|n, _| {
        if n < 2 {
            Reply::status(500, "try again")
        } else {
            Reply::status(200, "ok")
        }
    })
    .await;
    let d = vec![destination(
        target(
            WebhookKind::Generic,
            server.url("/h"),
            WebhookKind::Generic.default_limits(),
        ),
        quick(),
    )];
    let (_, reports) = deliver("retry500", &alerts(1), &d, None).await;
    let r = one(&reports);
    assert_eq!((r.sent, r.failed.len()), (1, 0));
    assert_eq!(server.count(), 3, "two 500s, then the delivery");
    // The same delivery id on every attempt, so a receiver can drop repeats.
    let ids: HashSet<String> = server
        .requests()
        .iter()
        .map(|r| r.headers[webhook::DELIVERY_ID_HEADER].clone())
        .collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_for_the_whole_destination() {
    let server = Server::start(|n, _| {
        if n == 0 {
            Reply::with_header(429, "retry-after", "1")
        } else {
            Reply::status(200, "ok")
        }
    })
    .await;
    let d = vec![destination(
        target(
            WebhookKind::Generic,
            server.url("/h"),
            Limits {
                concurrency: 1,
                rate_per_second: None,
            },
        ),
        quick(),
    )];
    let (_, reports) = deliver("retry429", &alerts(3), &d, None).await;
    let r = one(&reports);
    assert_eq!((r.sent, r.failed.len()), (3, 0));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    let gap = reqs[1].arrived.duration_since(reqs[0].arrived);
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, Retry-After was 1 s"
    );
}

#[tokio::test]
async fn a_server_that_does_not_answer_times_out_and_is_reported() {
    let server = Server::start(|_, _| Reply::Hang).await;
    let http = HttpSettings {
        timeout: Duration::from_millis(300),
        attempts: 2,
        ..quick()
    };
    let d = vec![destination(
        target(
            WebhookKind::Slack,
            server.url(&format!("/s/{TOKEN}")),
            open(WebhookKind::Slack.default_limits()),
        ),
        http,
    )];
    let started = Instant::now();
    let (_, reports) = deliver("timeout", &alerts(1), &d, None).await;
    let r = one(&reports);
    assert_eq!(r.sent, 0);
    assert_eq!(r.failed.len(), 1);
    let reason = &r.failed[0].reason;
    assert!(reason.contains("timed out after 0.3 s"), "{reason}");
    assert!(reason.contains("gave up after 2 attempts"), "{reason}");
    assert!(
        !reason.contains(TOKEN) && !reason.contains("127.0.0.1"),
        "{reason}"
    );
    assert_eq!(r.failed[0].finding_id, "f00000");
    assert_eq!(server.count(), 2);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_reset_connection_is_retried() {
    let server = Server::start(|n, _| {
        if n == 0 {
            Reply::Reset
        } else {
            Reply::status(200, "ok")
        }
    })
    .await;
    let d = vec![destination(
        target(
            WebhookKind::Generic,
            server.url("/h"),
            WebhookKind::Generic.default_limits(),
        ),
        quick(),
    )];
    let (_, reports) = deliver("reset", &alerts(1), &d, None).await;
    let r = one(&reports);
    assert_eq!((r.sent, r.failed.len()), (1, 0), "{:?}", r.failed);
    assert_eq!(server.count(), 2);
    assert_eq!(server.connections(), 2, "a new connection after the reset");
}

#[tokio::test]
async fn a_closed_port_fails_with_a_connection_error_and_no_url() {
    let url = closed_port_url(&format!("/hook/{TOKEN}"));
    let d = vec![destination(
        target(
            WebhookKind::Generic,
            url,
            WebhookKind::Generic.default_limits(),
        ),
        quick(),
    )];
    let (_, reports) = deliver("closed", &alerts(2), &d, None).await;
    let r = one(&reports);
    assert_eq!(r.sent, 0);
    assert_eq!(r.failed.len(), 2);
    for u in &r.failed {
        assert!(u.reason.contains("connection failed"), "{}", u.reason);
        assert!(
            u.reason.contains("gave up after 3 attempts"),
            "{}",
            u.reason
        );
        assert!(!u.reason.contains(TOKEN), "{}", u.reason);
        assert_eq!(u.destination, "webhook");
    }
}

#[tokio::test]
async fn client_errors_are_not_retried_and_a_gone_webhook_stops_further_attempts() {
    // 400: this alert is refused; the others still go.
    let server = Server::start(|n, _| {
        if n == 0 {
            Reply::status(400, "invalid_blocks")
        } else {
            Reply::status(200, "ok")
        }
    })
    .await;
    let d = vec![destination(
        target(
            WebhookKind::Slack,
            server.url("/s"),
            Limits {
                concurrency: 1,
                rate_per_second: None,
            },
        ),
        quick(),
    )];
    let (_, reports) = deliver("http400", &alerts(3), &d, None).await;
    let r = one(&reports);
    assert_eq!((r.sent, r.failed.len()), (2, 1));
    assert_eq!(r.failed[0].reason, "HTTP 400: invalid_blocks");
    assert_eq!(server.count(), 3, "no retry of the 400");

    // 404 that echoes the URL: the webhook is gone; one request, every alert reported, no
    // secret in any reason.
    let server =
        Server::start(|_, r| Reply::status(404, &format!("no_service for {}", r.path))).await;
    let d = vec![destination(
        target(
            WebhookKind::Slack,
            server.url(&format!("/services/{TOKEN}")),
            Limits {
                concurrency: 1,
                rate_per_second: None,
            },
        ),
        quick(),
    )];
    let (_, reports) = deliver("http404", &alerts(5), &d, None).await;
    let r = one(&reports);
    assert_eq!((r.sent, r.failed.len()), (0, 5));
    assert_eq!(server.count(), 1);
    assert_eq!(r.failed[0].reason, "HTTP 404: no_service for ***");
    for u in &r.failed[1..] {
        assert_eq!(u.reason, "not attempted: HTTP 404: no_service for ***");
    }
    // Long error bodies are cut.
    let long = "x".repeat(5000);
    let server = Server::start(move |_, _| Reply::status(422, &long)).await;
    let d = vec![destination(
        target(
            WebhookKind::Generic,
            server.url("/h"),
            WebhookKind::Generic.default_limits(),
        ),
        quick(),
    )];
    let (_, reports) = deliver("http422", &alerts(1), &d, None).await;
    let reason = &one(&reports).failed[0].reason;
    assert!(
        reason.len() < 400 && reason.ends_with('…'),
        "{} bytes",
        reason.len()
    );
}

#[tokio::test]
async fn concurrency_is_bounded_and_used() {
    let server = Server::start(|_, _| Reply::ok_after(Duration::from_millis(100))).await;
    let d = vec![destination(
        target(
            WebhookKind::Generic,
            server.url("/h"),
            Limits {
                concurrency: 4,
                rate_per_second: None,
            },
        ),
        quick(),
    )];
    let (_, reports) = deliver("concurrency", &alerts(20), &d, None).await;
    assert_eq!(one(&reports).sent, 20);
    assert_eq!(server.max_in_flight(), 4);
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let server = Server::ok().await;
    let d = vec![destination(
        target(
            WebhookKind::Slack,
            server.url("/s"),
            Limits {
                concurrency: 4,
                rate_per_second: Some(5.0),
            },
        ),
        quick(),
    )];
    let (_, reports) = deliver("rate", &alerts(6), &d, None).await;
    assert_eq!(one(&reports).sent, 6);
    // Request k starts no earlier than k × 200 ms after the first; arrival times add network
    // jitter, and the first request's may include opening a connection (allowed for: 40 ms).
    let reqs = server.requests();
    let first = reqs[0].arrived;
    for (k, r) in reqs.iter().enumerate().skip(1) {
        let after = r.arrived.duration_since(first);
        assert!(
            after + Duration::from_millis(40) >= Duration::from_millis(200) * k as u32,
            "request {k} arrived {after:?} after the first, at 5 per second"
        );
    }
}

#[tokio::test]
async fn nothing_is_sent_after_the_deadline_and_the_rest_is_reported() {
    let server = Server::start(|_, _| Reply::ok_after(Duration::from_millis(100))).await;
    let d = vec![destination(
        target(
            WebhookKind::Generic,
            server.url("/h"),
            Limits {
                concurrency: 1,
                rate_per_second: None,
            },
        ),
        quick(),
    )];
    let started = Instant::now();
    let (_, reports) = deliver(
        "deadline",
        &alerts(20),
        &d,
        Some(started + Duration::from_millis(450)),
    )
    .await;
    let r = one(&reports);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // 100 ms per answer, 450 ms: about four (fewer on a loaded machine), never more than five.
    assert!((1..=5).contains(&r.sent), "sent {}", r.sent);
    assert_eq!(
        r.sent as usize + r.failed.len(),
        20,
        "every alert accounted for"
    );
    // At most one request (concurrency 1) was cut off by the deadline.
    let requests = server.count() as u64;
    assert!(
        (r.sent..=r.sent + 1).contains(&requests),
        "{requests} requests, {} sent",
        r.sent
    );
    for u in &r.failed {
        assert!(u.reason.contains("deadline"), "{}", u.reason);
    }
}

#[tokio::test]
async fn secrets_from_secrets_manager_and_ssm_in_moto() {
    let moto = support::Moto::start().await;
    let sdk = support::sdk_config(&moto.endpoint);
    let server = Server::start(|_, r| {
        if r.path.starts_with("/pd") {
            Reply::status(202, "")
        } else {
            Reply::status(200, "ok")
        }
    })
    .await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let bundle = json!({
        "slack_webhook_url": server.url(&format!("/slack/{TOKEN}")),
        "webhook_url": server.url("/hook"),
        "webhook_signing_secret": "sign-s3cr3t",
        "webhook_headers": {"X-Team": "hdr-s3cr3t"},
    });
    let arn = sm
        .create_secret()
        .name("guardduty-alerts/webhooks")
        .secret_string(bundle.to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    ssm.put_parameter()
        .name("/guardduty-alerts/pagerduty")
        .value("R0UTING-s3cr3t-KEY")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let vars = [
        ("WEBHOOK_SECRET", arn.clone()),
        (
            "PAGERDUTY_ROUTING_KEY",
            "ssm:/guardduty-alerts/pagerduty".to_owned(),
        ),
        ("PAGERDUTY_EVENTS_URL", server.url("/pd/v2/enqueue")),
        ("ALLOW_HTTP_WEBHOOKS", "true".to_owned()),
    ];
    let lookup = |vars: &[(&str, String)]| {
        let vars = vars.to_vec();
        DestinationsConfig::from_lookup(move |k| {
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .unwrap()
    };
    let dests = lookup(&vars)
        .build(None, &mut SecretStore::new(&sdk), None)
        .await
        .expect("resolved from moto");
    let names: Vec<&str> = dests.iter().map(Destination::name).collect();
    assert_eq!(names, ["slack", "pagerduty", "webhook"]);
    let (_, reports) = deliver("secrets", &alerts(1), &dests, None).await;
    assert!(reports.iter().all(|(_, r)| r.sent == 1), "{reports:?}");
    let reqs = server.requests();
    let pd = reqs.iter().find(|r| r.path.starts_with("/pd")).unwrap();
    assert_eq!(pd.json()["routing_key"], "R0UTING-s3cr3t-KEY");
    let hook = reqs.iter().find(|r| r.path == "/hook").unwrap();
    assert_eq!(hook.headers["x-team"], "hdr-s3cr3t");
    assert!(hook.headers.contains_key(webhook::SIGNATURE_HEADER));
    // Debug output of the resolved destinations shows no secret.
    let dbg = format!("{dests:?}");
    for s in [TOKEN, "R0UTING-s3cr3t-KEY", "sign-s3cr3t", "hdr-s3cr3t"] {
        assert!(!dbg.contains(s), "Debug shows {s}");
    }

    // Errors name the reference and what to do.
    let cases = [
        (
            vec![(
                "SLACK_WEBHOOK_URL",
                "secretsmanager:no/such/secret".to_owned(),
            )],
            "configuration error: SLACK_WEBHOOK_URL: secret secretsmanager:no/such/secret: it does not exist; create it or fix the reference",
        ),
        (
            vec![("SLACK_WEBHOOK_URL", "ssm:/no/such/parameter".to_owned())],
            "configuration error: SLACK_WEBHOOK_URL: secret ssm:/no/such/parameter: it does not exist; create it or fix the reference",
        ),
        (
            vec![("SLACK_WEBHOOK_URL", format!("{arn}#teams_webhook_url"))],
            "the JSON object has no member \"teams_webhook_url\" (members: slack_webhook_url, webhook_headers, webhook_signing_secret, webhook_url)",
        ),
        (
            vec![
                ("WEBHOOK_SECRET", arn.clone()),
                ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/x".to_owned()),
            ],
            "configuration error: SLACK_WEBHOOK_URL: is set, and WEBHOOK_SECRET has the member \"slack_webhook_url\" too: keep one",
        ),
        (
            vec![("WEBHOOK_SECRET", arn.clone())],
            "configuration error: WEBHOOK_SECRET member slack_webhook_url: the URL must be https://",
        ),
    ];
    for (vars, want) in cases {
        let e = lookup(&vars)
            .build(None, &mut SecretStore::new(&sdk), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{vars:?}:\n got {e}\nwant {want}");
        assert!(!e.contains(TOKEN), "{e}");
    }
}
