//! The generic JSON webhook body: exactly the SNS JSON body,
//! `{"version":"1","alert":{…classification…},"finding":{…raw finding…}}`, byte for byte, so a
//! receiver (and a signature over the bytes) sees the same document whichever way it came.
//!
//! It is taken from [`sns::render`] rather than rebuilt, so the two cannot drift apart: the
//! classification always whole, the raw finding as read (not re-serialised), and a finding too
//! large for SNS's 256 KiB replaced by `finding_truncated: {bytes, excerpt}` the same way. JSON
//! needs no escaping beyond what serde does: a receiver that renders the values must escape
//! them for its own format.

use serde_json::Value;

use crate::common::format::MessageFormat;
use crate::decide::Record;
use crate::render::sns::{self, SNS_MAX_BYTES};

/// The generic JSON body of one decided finding: the SNS JSON body. It needs the raw finding,
/// so it takes the [`Record`] rather than an [`AlertContext`](super::AlertContext).
pub fn generic(r: &Record<'_>) -> String {
    sns::render(r, MessageFormat::Json).body
}

/// What every body from [`generic`] guarantees, for tests and fuzzers: valid JSON within
/// [`SNS_MAX_BYTES`]; `version` `"1"`; an `alert` object with the finding's `id`, `type` and
/// `severity_label`; and either the raw `finding` object or `finding: null` with
/// `finding_truncated: {bytes, excerpt}`.
pub fn check_generic_invariants(body: &str) -> Result<(), String> {
    if body.len() > SNS_MAX_BYTES {
        return Err(format!("{} bytes, limit {SNS_MAX_BYTES}", body.len()));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    if v["version"] != "1" {
        return Err("version is not \"1\"".into());
    }
    let a = v["alert"].as_object().ok_or("alert is not an object")?;
    for key in ["id", "type", "severity_label"] {
        if !a.get(key).is_some_and(Value::is_string) {
            return Err(format!("alert.{key} is not a string"));
        }
    }
    match (&v["finding"], v.get("finding_truncated")) {
        (Value::Object(_), None) => Ok(()),
        (Value::Null, Some(t)) if t["bytes"].is_u64() && t["excerpt"].is_string() => Ok(()),
        _ => Err("neither a finding nor finding_truncated".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::*;
    use crate::render::json::JsonRecord;

    #[test]
    fn identical_to_the_sns_json_body_for_every_sample() {
        assert_eq!(sample_lines().len(), 12);
        for line in sample_lines() {
            with_line(line, |r, j| {
                let body = generic(r);
                assert_eq!(body, sns::render(r, MessageFormat::Json).body);
                check_generic_invariants(&body).unwrap();
                // The raw finding byte for byte, after the classification.
                let alert = serde_json::to_string(j).unwrap();
                assert_eq!(
                    body,
                    format!(r#"{{"version":"1","alert":{alert},"finding":{line}}}"#)
                );
            });
        }
    }

    #[test]
    fn golden_access_key_alert_part() {
        with_sample(2, |r, _| {
            let v: Value = serde_json::from_str(&generic(r)).unwrap();
            assert_json_eq(
                &v["alert"],
                &serde_json::json!({
                    "id": "4a5e5f82cf5387ba6ffaa0e35da2d70a",
                    "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                    "severity": 8.0,
                    "severity_label": "High",
                    "threat_purpose": "UnauthorizedAccess",
                    "resource_type_affected": "IAMUser",
                    "threat_family": "InstanceCredentialExfiltration",
                    "detection_mechanism": "OutsideAWS",
                    "artifact": null,
                    "account_id": "111122223333",
                    "region": "us-east-1",
                    "resource_type": "AccessKey",
                    "resource": "ASIAEXAMPLE7Q2RZ4KXM (AssumedRole web-frontend-role)",
                    "title": "Credentials for instance role web-frontend-role used from external IP address.",
                    "count": 6,
                    "first_seen": "2025-06-04T02:13:51.000Z",
                    "last_seen": "2025-06-04T02:41:07.000Z",
                    "updated_at": "2025-06-04T02:47:30.671Z",
                    "sample": false,
                    "archived": false,
                    "decision": "alert",
                    "reason": null,
                    "console_url": "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=4a5e5f82cf5387ba6ffaa0e35da2d70a",
                    "docs_url": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html#unauthorizedaccess-iam-instancecredentialexfiltrationoutsideaws",
                    "source": "events/sample-export.jsonl",
                    "line": 1,
                }),
            );
        });
    }

    #[test]
    fn hostile_and_huge_findings_stay_valid_json() {
        let long = long_hostile();
        for s in HOSTILE
            .iter()
            .copied()
            .chain([long.as_str()])
            .filter(|s| !s.is_empty())
        {
            let title = serde_json::to_string(s).unwrap();
            let line = format!(
                r#"{{"id":{title},"type":{title},"severity":8,"title":{title},"region":{title},"accountId":{title},"updatedAt":{title}}}"#
            );
            with_line(&line, |r, j: &JsonRecord<'_>| {
                let body = generic(r);
                assert_eq!(body, sns::render(r, MessageFormat::Json).body);
                // Always within SNS's limit: when the classification alone would not fit,
                // alert.rs cuts its long strings (marked with …).
                check_generic_invariants(&body).unwrap();
                let v: Value = serde_json::from_str(&body).unwrap();
                if serde_json::to_string(j).unwrap().len() < SNS_MAX_BYTES / 2 {
                    assert_eq!(v["alert"]["title"].as_str(), j.title);
                } else {
                    assert!(
                        v["alert"]["title"]
                            .as_str()
                            .is_some_and(|t| t.ends_with('…'))
                    );
                }
                if v["finding_truncated"].is_null() {
                    assert!(v["finding"]["title"] == s, "raw finding kept whole");
                }
            });
        }
    }

    #[test]
    fn oversized_findings_are_truncated_like_sns() {
        let line = format!(
            r#"{{"id":"big","type":"Recon:EC2/Probe","severity":8,"pad":"{}"}}"#,
            "é".repeat(200_000)
        );
        with_line(&line, |r, _| {
            let body = generic(r);
            assert_eq!(body, sns::render(r, MessageFormat::Json).body);
            check_generic_invariants(&body).unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["finding"], Value::Null);
            assert_eq!(v["finding_truncated"]["bytes"], line.len());
        });
    }

    #[test]
    fn checker_rejects_what_must_not_be_sent() {
        for bad in [
            "",
            "{",
            r#"{"version":"2","alert":{"id":"a","type":"t","severity_label":"Low"},"finding":{}}"#,
            r#"{"version":"1","alert":{"id":"a","type":"t"},"finding":{}}"#,
            r#"{"version":"1","alert":{"id":"a","type":"t","severity_label":"Low"},"finding":null}"#,
        ] {
            assert!(check_generic_invariants(bad).is_err(), "{bad}");
        }
        assert!(check_generic_invariants(&" ".repeat(SNS_MAX_BYTES + 1)).is_err());
    }
}
