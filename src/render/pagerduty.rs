//! The PagerDuty Events API v2 `trigger` event.
//!
//! `dedup_key` is the finding id, so every re-export of a finding (higher count, newer
//! `updatedAt`) updates the one open alert instead of paging again. PagerDuty shows these fields
//! as plain text, so values are cleaned (control characters become spaces, bidi controls
//! U+FFFD) and capped, not Markdown-escaped: a backslash would show as typed.
//!
//! The routing key is a credential: it is taken as a [`Secret`], and [`pagerduty_redacted`]
//! renders the same event with [`REDACTED`](super::REDACTED) in its place for dry runs.

use crate::common::hash::fnv1a;
use serde_json::{Map, Value, json};

use super::{
    AlertContext, Secret, account_display, alert_links, cap_escaped, capped, is_clean_char,
    is_safe_url, resource_display, safe_url, utf16_len,
};
use crate::classify::SeverityLabel;

/// The `client` of every event.
pub const CLIENT: &str = "guardduty-alerts";
/// Longest `payload.summary`.
pub const MAX_SUMMARY: usize = 1024;
/// Longest `dedup_key`.
pub const MAX_DEDUP_KEY: usize = 255;
/// Longest `source`, `component`, `group` and `class` this renderer sends.
pub const MAX_NAME: usize = 255;
/// Longest value in `custom_details`.
pub const MAX_DETAIL: usize = 1024;
/// Longest link.
pub const MAX_URL: usize = 2048;
/// PagerDuty's limit for a whole event.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// The link's text.
pub const LINK_TEXT: &str = super::CONSOLE_LINK_TEXT;

/// The PagerDuty severity of a band: Critical -> `critical`, High -> `error`, Medium ->
/// `warning`, Low -> `info`.
pub fn severity(label: SeverityLabel) -> &'static str {
    match label {
        SeverityLabel::Critical => "critical",
        SeverityLabel::High => "error",
        SeverityLabel::Medium => "warning",
        SeverityLabel::Low => "info",
    }
}

fn keep(c: char, out: &mut String) {
    out.push(c);
}

/// Cleaned and capped, `-` when empty.
fn text(s: &str, max: usize) -> String {
    capped(s, max, keep)
}

/// Whether `s` is an ISO 8601 / RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS`, optional fraction,
/// then `Z` or `±HH:MM`.
pub fn is_iso8601(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19))
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// The finding id as a dedup key: cleaned; when empty or longer than [`MAX_DEDUP_KEY`], a
/// prefix and a hash of the whole id, so distinct ids stay distinct.
fn dedup_key(id: &str) -> String {
    let (key, cut) = cap_escaped(id, MAX_DEDUP_KEY, keep);
    if !cut && !key.is_empty() {
        return key;
    }
    let (prefix, _) = cap_escaped(id, 200, keep);
    let prefix = prefix.trim_end_matches(super::ELLIPSIS);
    format!(
        "{prefix}#{:016x}{:016x}",
        fnv1a(id.as_bytes(), 0),
        fnv1a(id.as_bytes(), 1)
    )
}

/// The classification, cleaned and capped, for `custom_details`; absent values are left out.
fn custom_details(ctx: &AlertContext<'_>) -> Value {
    let j = ctx.record;
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), Value::String(text(v, MAX_DETAIL)));
        }
    };
    put("id", Some(j.id));
    put("type", Some(j.finding_type));
    put("severity_label", Some(j.severity_label.as_str()));
    put("threat_purpose", Some(j.threat_purpose));
    put("resource_type_affected", j.resource_type_affected);
    put("threat_family", j.threat_family);
    put("detection_mechanism", j.detection_mechanism);
    put("artifact", j.artifact);
    put("account_id", j.account_id);
    put("account_name", ctx.account_name);
    put("region", j.region);
    put("resource_type", j.resource_type);
    put("resource", j.resource);
    put("title", j.title);
    put("first_seen", j.first_seen);
    put("last_seen", j.last_seen);
    put("updated_at", j.updated_at);
    if let Some(url) = j.console_url.and_then(|u| safe_url(u, MAX_URL)) {
        m.insert("console_url".into(), Value::String(url));
    }
    if let Some(url) = j.docs_url.as_deref().and_then(|u| safe_url(u, MAX_URL)) {
        m.insert("docs_url".into(), Value::String(url));
    }
    if let Some(url) = j.runbook_url.as_deref().and_then(|u| safe_url(u, MAX_URL)) {
        m.insert("runbook_url".into(), Value::String(url));
    }
    m.insert("severity".into(), json!(j.severity));
    if let Some(c) = j.count {
        m.insert("count".into(), json!(c));
    }
    Value::Object(m)
}

/// The Events API v2 `trigger` event of one alert, with `routing_key` set to the secret.
pub fn pagerduty(ctx: &AlertContext<'_>, routing_key: &Secret) -> Value {
    let j = ctx.record;
    let band = j.severity_label;
    let account = account_display(ctx);
    let region = j.region.unwrap_or("-");
    let mut summary = format!("[{band}] {} in {account}/{region}", j.finding_type);
    if let Some(title) = j.title {
        summary.push_str(": ");
        summary.push_str(title);
    }
    let mut payload = json!({
        "summary": text(&summary, MAX_SUMMARY),
        "source": text(&format!("{}/{region}", j.account_id.unwrap_or("-")), MAX_NAME),
        "severity": severity(band),
        "component": text(&resource_display(j), MAX_NAME),
        "group": text(j.account_id.unwrap_or("-"), MAX_NAME),
        "class": text(j.finding_type, MAX_NAME),
        "custom_details": custom_details(ctx),
    });
    if let Some(ts) = j.updated_at.filter(|t| is_iso8601(t)) {
        payload["timestamp"] = Value::String(ts.to_owned());
    }
    let links: Vec<Value> = alert_links(j, MAX_URL)
        .into_iter()
        .map(|(text, href)| json!({"href": href, "text": text}))
        .collect();
    json!({
        "routing_key": routing_key.expose(),
        "event_action": "trigger",
        "dedup_key": dedup_key(j.id),
        "payload": payload,
        "links": links,
        "client": CLIENT,
    })
}

/// The Events API v2 `trigger` event of a digest: the headline as summary, the highest band's
/// severity, the counts and the most severe findings in `custom_details` (cleaned, capped), a
/// link to each of them, and a `dedup_key` stable per object and destination.
pub fn pagerduty_digest(ctx: &super::digest::DigestContext<'_>, routing_key: &Secret) -> Value {
    let d = ctx.digest;
    let mut summary = ctx.headline();
    if let Some(note) = ctx.individually_note() {
        summary.push_str(&format!(", {note}"));
    }
    summary.push_str(&format!(" from {}", ctx.source));
    let mut details = Map::new();
    details.insert("total".into(), json!(d.total));
    details.insert("sent_individually".into(), json!(d.sent_individually));
    for (l, n) in &d.by_severity {
        details.insert(l.as_str().to_ascii_lowercase(), json!(n));
    }
    details.insert(
        "types".into(),
        Value::String(text(&ctx.type_lines().join("; "), MAX_DETAIL)),
    );
    for (i, a) in d.top.iter().enumerate() {
        details.insert(
            format!("top_{:02}", i + 1),
            Value::String(text(&super::digest::summary_line(a), MAX_DETAIL)),
        );
    }
    details.insert(
        "source_object".into(),
        Value::String(text(ctx.source, MAX_DETAIL)),
    );
    let links: Vec<Value> = d
        .top
        .iter()
        .filter_map(|a| a.console_url.as_deref())
        .filter_map(|u| safe_url(u, MAX_URL))
        .map(|href| json!({"href": href, "text": LINK_TEXT}))
        .collect();
    json!({
        "routing_key": routing_key.expose(),
        "event_action": "trigger",
        "dedup_key": ctx.id(),
        "payload": {
            "summary": text(&summary, MAX_SUMMARY),
            "source": CLIENT,
            "severity": severity(ctx.top_label()),
            "component": "digest",
            "group": text(ctx.destination, MAX_NAME),
            "class": "digest",
            "custom_details": Value::Object(details),
        },
        "links": links,
        "client": CLIENT,
    })
}

/// [`pagerduty`] with the routing key replaced by [`REDACTED`](super::REDACTED): what a dry run
/// shows.
pub fn pagerduty_redacted(ctx: &AlertContext<'_>) -> Value {
    pagerduty(ctx, &Secret::redacted())
}

/// What every event from [`pagerduty`] guarantees, for tests and fuzzers: a `trigger` with a
/// non-empty routing key, a `dedup_key` of 1 to [`MAX_DEDUP_KEY`] units, a summary within
/// [`MAX_SUMMARY`], `source`, `component`, `group` and `class` within [`MAX_NAME`], a severity
/// PagerDuty knows, an ISO 8601 timestamp when there is one, `custom_details` values within
/// [`MAX_DETAIL`], links only to `https://` URLs as [`super::safe_url`] makes them, no control
/// or bidi characters in any string, the whole event within [`MAX_EVENT_BYTES`].
pub fn check_pagerduty_invariants(v: &Value) -> Result<(), String> {
    let size = v.to_string().len();
    if size > MAX_EVENT_BYTES {
        return Err(format!("{size} bytes, limit {MAX_EVENT_BYTES}"));
    }
    let string = |v: &Value, name: &str, max: usize| -> Result<(), String> {
        let s = v
            .as_str()
            .ok_or_else(|| format!("{name} is not a string"))?;
        if s.is_empty() || utf16_len(s) > max {
            return Err(format!(
                "{name}: {} UTF-16 units, limit {max}",
                utf16_len(s)
            ));
        }
        match s.chars().find(|c| !is_clean_char(*c)) {
            Some(c) => Err(format!("{name}: control or bidi character {c:?}")),
            None => Ok(()),
        }
    };
    string(&v["routing_key"], "routing_key", 1024)?;
    if v["event_action"] != "trigger" || v["client"] != CLIENT {
        return Err("not a trigger from guardduty-alerts".into());
    }
    string(&v["dedup_key"], "dedup_key", MAX_DEDUP_KEY)?;
    let p = &v["payload"];
    string(&p["summary"], "summary", MAX_SUMMARY)?;
    for name in ["source", "component", "group", "class"] {
        string(&p[name], name, MAX_NAME)?;
    }
    if !["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap_or("")) {
        return Err(format!("severity {}", p["severity"]));
    }
    if let Some(ts) = p.get("timestamp")
        && !ts.as_str().is_some_and(is_iso8601)
    {
        return Err(format!("timestamp {ts}"));
    }
    let details = p["custom_details"]
        .as_object()
        .ok_or("custom_details is not an object")?;
    for (k, d) in details
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "console_url" | "docs_url" | "runbook_url"))
    {
        match d {
            Value::String(_) => string(d, k, MAX_DETAIL)?,
            Value::Number(_) | Value::Null => {}
            other => return Err(format!("custom_details.{k} is {other}")),
        }
    }
    for key in ["console_url", "docs_url", "runbook_url"] {
        if let Some(url) = details.get(key)
            && !url.as_str().is_some_and(|u| is_safe_url(u, MAX_URL))
        {
            return Err(format!("unsafe {key} {url}"));
        }
    }
    for link in v["links"].as_array().ok_or("links is not an array")? {
        let href = link["href"].as_str().ok_or("link without href")?;
        let text_ok = super::LINK_TEXTS.contains(&link["text"].as_str().unwrap_or(""));
        if !is_safe_url(href, MAX_URL) || !text_ok {
            return Err(format!("unsafe link {link}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::REDACTED;
    use crate::render::fixtures::*;

    const KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12";

    fn render(j: &crate::render::json::JsonRecord<'_>, account_name: Option<&str>) -> Value {
        let v = pagerduty(
            &AlertContext::new(j).with_account_name(account_name),
            &Secret::new(KEY),
        );
        if let Err(e) = check_pagerduty_invariants(&v) {
            panic!(
                "{e}\n{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
        v
    }

    #[test]
    fn severity_mapping_table() {
        for (score, label, want) in [
            (0.0, SeverityLabel::Low, "info"),
            (3.9, SeverityLabel::Low, "info"),
            (4.0, SeverityLabel::Medium, "warning"),
            (6.95, SeverityLabel::Medium, "warning"),
            (7.0, SeverityLabel::High, "error"),
            (8.9, SeverityLabel::High, "error"),
            (9.0, SeverityLabel::Critical, "critical"),
            (10.0, SeverityLabel::Critical, "critical"),
        ] {
            assert_eq!(SeverityLabel::from_score(score), label);
            assert_eq!(severity(label), want, "{score}");
            let mut j = hostile_record("x", "https://h/");
            j.severity = score;
            j.severity_label = label;
            assert_eq!(render(&j, None)["payload"]["severity"], want, "{score}");
        }
    }

    #[test]
    fn iso_timestamps() {
        for ok in [
            "2025-06-04T02:47:30.671Z",
            "2025-06-04T02:47:30Z",
            "2025-06-04T02:47:30+02:00",
            "2025-06-04T02:47:30.123456-05:30",
        ] {
            assert!(is_iso8601(ok), "{ok}");
        }
        for bad in [
            "",
            "1717468050.671",
            "1717468050671",
            "2025-06-04",
            "2025-06-04 02:47:30Z",
            "2025-06-04T02:47:30",
            "2025-06-04T02:47:30.Z",
            "2025-06-04T02:47:30Zjunk",
            "2025-06-04T02:47:30+0200",
            "２025-06-04T02:47:30Z",
        ] {
            assert!(!is_iso8601(bad), "{bad}");
        }
    }

    #[test]
    fn golden_access_key_high_with_account_name() {
        with_sample(2, |_, j| {
            let v = render(j, Some("prod"));
            assert_json_eq(
                &v,
                &json!({
                    "routing_key": KEY,
                    "event_action": "trigger",
                    "dedup_key": "4a5e5f82cf5387ba6ffaa0e35da2d70a",
                    "client": "guardduty-alerts",
                    "payload": {
                        "summary": "[High] UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS in 111122223333 (prod)/us-east-1: Credentials for instance role web-frontend-role used from external IP address.",
                        "source": "111122223333/us-east-1",
                        "severity": "error",
                        "timestamp": "2025-06-04T02:47:30.671Z",
                        "component": "AccessKey: ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)",
                        "group": "111122223333",
                        "class": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                        "custom_details": {
                            "id": "4a5e5f82cf5387ba6ffaa0e35da2d70a",
                            "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                            "severity": 8.0,
                            "severity_label": "High",
                            "threat_purpose": "UnauthorizedAccess",
                            "resource_type_affected": "IAMUser",
                            "threat_family": "InstanceCredentialExfiltration",
                            "detection_mechanism": "OutsideAWS",
                            "account_id": "111122223333",
                            "account_name": "prod",
                            "region": "us-east-1",
                            "resource_type": "AccessKey",
                            "resource": "ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)",
                            "title": "Credentials for instance role web-frontend-role used from external IP address.",
                            "count": 6,
                            "first_seen": "2025-06-04T02:13:51.000Z",
                            "last_seen": "2025-06-04T02:41:07.000Z",
                            "updated_at": "2025-06-04T02:47:30.671Z",
                            "console_url": "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=4a5e5f82cf5387ba6ffaa0e35da2d70a",
                            "docs_url": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html#unauthorizedaccess-iam-instancecredentialexfiltrationoutsideaws",
                        },
                    },
                    "links": [{
                        "href": "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=4a5e5f82cf5387ba6ffaa0e35da2d70a",
                        "text": "Open in GuardDuty",
                    }, {
                        "href": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html#unauthorizedaccess-iam-instancecredentialexfiltrationoutsideaws",
                        "text": "About this finding type",
                    }],
                }),
            );
        });
    }

    #[test]
    fn golden_hostile_sample_title_is_plain_text() {
        with_sample(12, |_, j| {
            let v = render(j, None);
            assert_eq!(
                v["payload"]["summary"],
                "[Medium] PenTest:IAMUser/KaliLinux in 444455556666/eu-west-1: API GetCallerIdentity was invoked from a Kali Linux computer <!channel> <@U123> *bold* _it_ ~strike~ `code` [link](http://evil.example) <http://evil.example|click> a & b  [31mRED [0m"
            );
            assert_eq!(v["payload"]["severity"], "warning");
            assert_eq!(v["payload"]["class"], "PenTest:IAMUser/KaliLinux");
            assert_eq!(v["payload"]["custom_details"]["artifact"], Value::Null);
        });
    }

    #[test]
    fn every_sample_maps_severity_source_and_component() {
        let want = [
            (
                "info",
                "111122223333/us-east-1",
                "Instance: i-0a1b2c3d4e5f67890 (web-frontend-1)",
            ),
            (
                "error",
                "111122223333/us-east-1",
                "AccessKey: ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)",
            ),
            (
                "info",
                "444455556666/eu-west-1",
                "S3Bucket: acme-reports-444455556666",
            ),
            (
                "warning",
                "444455556666/eu-west-1",
                "EKSCluster: payments-prod: kube-system/coredns-6d4b75cb6d-x7k2p",
            ),
            (
                "error",
                "111122223333/us-west-2",
                "Container: batch-worker (111122223333.dkr.ecr.us-west-2.amazonaws.com/batch-worker:1.8.2)",
            ),
            (
                "error",
                "111122223333/us-west-2",
                "ECSCluster: orders-cluster",
            ),
            (
                "warning",
                "444455556666/eu-west-1",
                "RDSDBInstance: customers-db-instance-1 (Aurora PostgreSQL)",
            ),
            ("error", "111122223333/us-east-1", "Lambda: image-resizer"),
            (
                "critical",
                "111122223333/us-east-1",
                "AttackSequence: attack sequence",
            ),
            (
                "error",
                "444455556666/eu-west-1",
                "Instance: i-0c9d8e7f6a5b4c3d2 (jump-host-eu)",
            ),
            (
                "warning",
                "111122223333/us-west-2",
                "Instance: i-0d1e2f3a4b5c6d7e8 (build-agent-2)",
            ),
            (
                "warning",
                "444455556666/eu-west-1",
                "AccessKey: AKIAEXAMPLECIDEPLOY1 (IAMUser ci-deployer)",
            ),
        ];
        assert_eq!(sample_lines().len(), want.len());
        for (n, (sev, source, component)) in want.iter().enumerate() {
            with_sample(n + 1, |_, j| {
                let v = render(j, None);
                let p = &v["payload"];
                assert_eq!(p["severity"], *sev, "finding {}", n + 1);
                assert_eq!(p["source"], *source, "finding {}", n + 1);
                assert_eq!(p["component"], *component, "finding {}", n + 1);
                assert_eq!(v["dedup_key"], j.id);
                assert_eq!(p["class"], j.finding_type);
                assert_eq!(p["timestamp"].as_str(), j.updated_at);
                assert_eq!(v["links"][0]["href"].as_str(), j.console_url);
            });
        }
    }

    #[test]
    fn hostile_text_in_every_field_stays_within_limits() {
        for (s, url) in hostile_cases(&[MAX_SUMMARY, MAX_NAME, MAX_DETAIL, MAX_DEDUP_KEY]) {
            let j = hostile_record(&s, &url);
            let v = render(&j, Some(&s));
            let out = v.to_string();
            assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
            if !is_iso8601(&s) {
                assert!(v["payload"].get("timestamp").is_none());
            }
        }
    }

    #[test]
    fn long_ids_get_distinct_bounded_dedup_keys() {
        let a = "a".repeat(300);
        let b = format!("{}b", "a".repeat(299));
        let ka = dedup_key(&a);
        let kb = dedup_key(&b);
        assert_ne!(ka, kb);
        assert!(utf16_len(&ka) <= MAX_DEDUP_KEY && utf16_len(&kb) <= MAX_DEDUP_KEY);
        assert!(ka.starts_with(&"a".repeat(199)));
        assert_eq!(dedup_key(&"é".repeat(255)), "é".repeat(255));
        assert_ne!(dedup_key(" "), dedup_key("\n"));
        assert!(!dedup_key(" ").is_empty());
    }

    #[test]
    fn the_routing_key_never_shows_when_redacted() {
        with_sample(2, |_, j| {
            let ctx = AlertContext::new(j);
            let secret = Secret::new(KEY);
            let real = pagerduty(&ctx, &secret);
            assert_eq!(real["routing_key"], KEY);
            let dry = pagerduty_redacted(&ctx);
            assert_eq!(dry["routing_key"], REDACTED);
            check_pagerduty_invariants(&dry).unwrap();
            let shown = serde_json::to_string_pretty(&dry).unwrap();
            assert!(!shown.contains(KEY));
            assert!(!format!("{secret:?} {secret} {secret:#?}").contains(KEY));
            // Everything but the key is the same event.
            let mut real = real;
            real["routing_key"] = json!(REDACTED);
            assert_eq!(real, dry);
        });
    }

    #[test]
    fn checker_rejects_what_must_not_be_sent() {
        let good = with_sample(2, |_, j| render(j, None));
        let bad = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            check_pagerduty_invariants(&v).expect_err("should be rejected");
        };
        bad(&|v| v["payload"]["summary"] = json!("x".repeat(MAX_SUMMARY + 1)));
        bad(&|v| v["payload"]["summary"] = json!("a\nb"));
        bad(&|v| v["payload"]["severity"] = json!("high"));
        bad(&|v| v["payload"]["timestamp"] = json!("1717468050"));
        bad(&|v| v["dedup_key"] = json!("k".repeat(256)));
        bad(&|v| v["dedup_key"] = json!(""));
        bad(&|v| v["routing_key"] = json!(""));
        bad(&|v| v["event_action"] = json!("resolve"));
        bad(&|v| v["links"][0]["href"] = json!("javascript:alert(1)"));
        bad(&|v| v["payload"]["custom_details"]["title"] = json!("\u{202e}x"));
        check_pagerduty_invariants(&good).unwrap();
    }
}
