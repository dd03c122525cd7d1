//! Tests of the parent module.

use std::path::PathBuf;

use serde_json::json;

use super::*;

const BUCKET: &str = "guardduty-alerts-exports";
const KEY: &str = "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b.jsonl.gz";
const OLD_KEY: &str = "AWSLogs/GuardDuty/111122223333/us-east-1/2026/11/26/3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b.jsonl.gz";

fn obj(bucket: &str, key: &str, version: Option<&str>) -> ObjectRef {
    ObjectRef {
        bucket: bucket.into(),
        key: key.into(),
        version_id: version.map(Into::into),
        etag: None,
    }
}

fn skip(what: &str, reason: SkipReason, event: Option<&str>) -> Skipped {
    Skipped {
        what: what.into(),
        reason,
        event: event.map(Into::into),
    }
}

fn unit(objects: Vec<ObjectRef>, skipped: Vec<Skipped>) -> Unit {
    Unit {
        objects,
        skipped,
        ..Unit::default()
    }
}

/// The invocation of a fixture, ETags left out (they have their own test).
fn parse(text: &str) -> Invocation {
    let mut inv = parse_with_etags(text);
    for u in &mut inv.units {
        for o in &mut u.objects {
            o.etag = None;
        }
    }
    inv
}

fn parse_with_etags(text: &str) -> Invocation {
    let v: Value = serde_json::from_str(text).expect("fixture is JSON");
    parse_event(&v).expect("recognised")
}

#[test]
fn etags_are_read_where_the_event_has_them() {
    let etags = |text: &str| -> Vec<Option<String>> {
        parse_with_etags(text)
            .units
            .iter()
            .flat_map(|u| u.objects.iter().map(|o| o.etag.clone()))
            .collect()
    };
    let want = Some("6f1c2b9e0d4a7c3e8b5f1a2d9c0e7b4a".to_owned());
    assert_eq!(
        etags(include_str!("../../events/s3-put.json")),
        std::slice::from_ref(&want)
    );
    assert_eq!(
        etags(include_str!("../../events/eventbridge-object-created.json")),
        std::slice::from_ref(&want)
    );
    assert_eq!(etags(include_str!("../../events/sns-s3.json")), [want]);
    let none = s3_rec("ObjectCreated:Put", KEY, json!({}));
    let inv = parse_event(&json!({"Records": [none]})).unwrap();
    assert_eq!(inv.units[0].objects[0].etag, None);
}

/// A minimal S3 notification record; `extra` members are merged into `s3.object`.
fn s3_rec(event_name: &str, key: &str, extra: Value) -> Value {
    let mut object = json!({ "key": key });
    if let (Some(o), Some(e)) = (object.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    json!({
        "eventSource": "aws:s3",
        "eventName": event_name,
        "s3": { "bucket": { "name": BUCKET }, "object": object }
    })
}

fn sqs_rec(id: &str, body: &str) -> Value {
    json!({ "messageId": id, "eventSource": "aws:sqs", "body": body })
}

#[test]
fn decode_s3_key_table() {
    let ok = [
        ("plain/key.jsonl.gz", "plain/key.jsonl.gz"),
        ("My+Exports/a.jsonl.gz", "My Exports/a.jsonl.gz"),
        ("My%20Exports/a.jsonl.gz", "My Exports/a.jsonl.gz"),
        ("c%2B%2B/a+b%2Bc", "c++/a b+c"),
        (
            "AWSLogs%2F111122223333%2FGuardDuty%2Fus-east-1%2F2026%2F11%2F26%2Fx.jsonl.gz",
            "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/x.jsonl.gz",
        ),
        ("Caf%C3%A9/%e2%82%ac", "Café/€"),
        ("100%25+sure", "100% sure"),
        ("already/Café", "already/Café"),
        ("", ""),
    ];
    for (raw, want) in ok {
        assert_eq!(decode_s3_key(raw).as_deref(), Ok(want), "{raw}");
    }
    let bad = [
        ("bad%zz/key", "\"%zz\" at byte 3 is not a percent-escape"),
        ("bad%2/key", "\"%2/\" at byte 3 is not a percent-escape"),
        ("%+1", "\"%+1\" at byte 0 is not a percent-escape"),
        (
            "truncated%2",
            "ends in the middle of a percent-escape (\"%2\")",
        ),
        (
            "truncated%",
            "ends in the middle of a percent-escape (\"%\")",
        ),
        ("latin1-%FF", "not UTF-8"),
        ("half-%C3", "not UTF-8"),
    ];
    for (raw, want) in bad {
        let err = decode_s3_key(raw).expect_err(raw);
        let TriggerError::BadKey { raw: got_raw, .. } = &err else {
            panic!("{raw}: {err:?}");
        };
        assert_eq!(got_raw, raw);
        let text = err.to_string();
        assert!(text.contains(want), "{raw}: {text}");
        assert!(
            text.contains(&format!("{raw:?}")),
            "names the raw key: {text}"
        );
    }
}

#[test]
fn decode_inverts_s3_style_encoding() {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // S3 encodes like a form: space as '+', other bytes as %XX ('/' is left alone by AWS,
    // encoded by some emitters; both must decode).
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*')
        .remove(b' ');
    for key in [
        "My Exports/Café/AWSLogs/111122223333/GuardDuty/x.jsonl.gz",
        "a+b c%d/e=f;g:h,i?j&k@l$m'n(o)p!q~r#s",
        "ünïcödé/日本語/🦀.jsonl",
        "  leading and trailing  ",
    ] {
        let encoded = utf8_percent_encode(key, SET).to_string().replace(' ', "+");
        assert_eq!(decode_s3_key(&encoded).as_deref(), Ok(key), "{encoded}");
        let slashes_kept = encoded.replace("%2F", "/");
        assert_eq!(decode_s3_key(&slashes_kept).as_deref(), Ok(key));
    }
}

#[test]
fn fixture_s3_put() {
    let inv = parse(include_str!("../../events/s3-put.json"));
    assert_eq!(inv.shape, Shape::S3);
    assert_eq!(inv.units, vec![unit(vec![obj(BUCKET, KEY, None)], vec![])]);
}

#[test]
fn fixture_s3_multi() {
    let inv = parse(include_str!("../../events/s3-multi.json"));
    assert_eq!(inv.shape, Shape::S3);
    let want = unit(
        vec![
            obj(BUCKET, KEY, None),
            obj(BUCKET, &format!("My Exports/Café/{KEY}"), None),
        ],
        vec![skip(
            "s3://guardduty-alerts-exports/AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/25/9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d.jsonl.gz",
            SkipReason::NotObjectCreated,
            Some("ObjectRemoved:Delete"),
        )],
    );
    assert_eq!(inv.units, vec![want]);
}

#[test]
fn fixture_s3_test_event() {
    let inv = parse(include_str!("../../events/s3-test-event.json"));
    assert_eq!(inv.shape, Shape::S3TestEvent);
    let want = unit(
        vec![],
        vec![skip(
            "s3:TestEvent (bucket guardduty-alerts-exports)",
            SkipReason::TestEvent,
            None,
        )],
    );
    assert_eq!(inv.units, vec![want]);
}

#[test]
fn fixture_eventbridge() {
    let inv = parse(include_str!("../../events/eventbridge-object-created.json"));
    assert_eq!(inv.shape, Shape::EventBridge);
    assert_eq!(inv.units, vec![unit(vec![obj(BUCKET, KEY, None)], vec![])]);
}

#[test]
fn fixture_sqs_s3() {
    let inv = parse(include_str!("../../events/sqs-s3.json"));
    assert_eq!(inv.shape, Shape::Sqs);
    let want = vec![
        Unit {
            message_id: Some("4b1c2d3e-5f60-4718-9a2b-3c4d5e6f7081".into()),
            ..unit(vec![obj(BUCKET, KEY, None)], vec![])
        },
        Unit {
            message_id: Some("9e8d7c6b-5a49-4837-a625-1403f2e1d0c9".into()),
            ..unit(
                vec![],
                vec![skip(
                    "s3:TestEvent (bucket guardduty-alerts-exports)",
                    SkipReason::TestEvent,
                    None,
                )],
            )
        },
    ];
    assert_eq!(inv.units, want);
}

#[test]
fn fixture_sqs_sns_s3() {
    let inv = parse(include_str!("../../events/sqs-sns-s3.json"));
    assert_eq!(inv.shape, Shape::Sqs);
    let want = Unit {
        message_id: Some("d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6".into()),
        ..unit(vec![obj(BUCKET, OLD_KEY, None)], vec![])
    };
    assert_eq!(inv.units, vec![want]);
}

#[test]
fn fixture_sns_s3() {
    let inv = parse(include_str!("../../events/sns-s3.json"));
    assert_eq!(inv.shape, Shape::Sns);
    assert_eq!(inv.units, vec![unit(vec![obj(BUCKET, KEY, None)], vec![])]);
}

/// Every fixture in events/ is tested above, and deserializes into the matching
/// aws_lambda_events type (so it is a faithful envelope, not just JSON we happen to accept).
#[test]
fn fixtures_are_complete_and_well_formed() {
    use aws_lambda_events::event::{eventbridge::EventBridgeEvent, s3::S3Event};
    use aws_lambda_events::event::{sns::SnsEvent, sns::SnsMessage, sqs::SqsEvent};

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "batch-operations-1.0.json",
            "batch-operations-2.0.json",
            "eventbridge-object-created.json",
            "guardduty-finding.json",
            "s3-multi.json",
            "s3-put.json",
            "s3-test-event.json",
            "schedule-health-check.json",
            "sns-s3.json",
            "sqs-s3.json",
            "sqs-sns-s3.json",
        ],
        "a new fixture in events/ needs a test here"
    );

    let s3 = |t: &str| serde_json::from_str::<S3Event>(t).expect("S3Event");
    for t in [
        include_str!("../../events/s3-put.json"),
        include_str!("../../events/s3-multi.json"),
    ] {
        s3(t);
    }
    serde_json::from_str::<EventBridgeEvent>(include_str!(
        "../../events/eventbridge-object-created.json"
    ))
    .expect("EventBridgeEvent");
    let finding = include_str!("../../events/guardduty-finding.json");
    serde_json::from_str::<EventBridgeEvent>(finding).expect("EventBridgeEvent");
    assert_eq!(parse(finding).shape, Shape::Finding);
    for t in [
        include_str!("../../events/batch-operations-1.0.json"),
        include_str!("../../events/batch-operations-2.0.json"),
    ] {
        let e: aws_lambda_events::event::s3::batch_job::S3BatchJobEvent =
            serde_json::from_str(t).expect("S3BatchJobEvent");
        assert_eq!(e.tasks.len(), 1);
        assert_eq!(parse(t).shape, Shape::BatchOperations);
    }
    let schedule = include_str!("../../events/schedule-health-check.json");
    serde_json::from_str::<EventBridgeEvent>(schedule).expect("EventBridgeEvent");
    assert_eq!(parse(schedule).shape, Shape::Schedule);
    let sns: SnsEvent =
        serde_json::from_str(include_str!("../../events/sns-s3.json")).expect("SnsEvent");
    s3(&sns.records[0].sns.message);
    let sqs: SqsEvent =
        serde_json::from_str(include_str!("../../events/sqs-s3.json")).expect("SqsEvent");
    s3(sqs.records[0].body.as_deref().expect("body"));
    let sqs: SqsEvent =
        serde_json::from_str(include_str!("../../events/sqs-sns-s3.json")).expect("SqsEvent");
    let envelope: SnsMessage =
        serde_json::from_str(sqs.records[0].body.as_deref().expect("body")).expect("SNS");
    s3(&envelope.message);
    // Each md5OfBody is the real MD5 of its body (checked when the fixtures were written;
    // there is no MD5 crate here to check it again).
}

#[test]
fn s3_event_names() {
    let names = [
        ("ObjectCreated:Put", true),
        ("ObjectCreated:Post", true),
        ("ObjectCreated:Copy", true),
        ("ObjectCreated:CompleteMultipartUpload", true),
        ("s3:ObjectCreated:Put", true),
        ("s3:ObjectCreated:CompleteMultipartUpload", true),
        ("ObjectRemoved:Delete", false),
        ("s3:ObjectRemoved:DeleteMarkerCreated", false),
        ("ObjectRestore:Completed", false),
        ("ObjectTagging:Put", false),
        ("LifecycleExpiration:Delete", false),
        ("ObjectCreated", false),
        ("objectcreated:put", false),
        ("", false),
    ];
    for (name, created) in names {
        let inv = parse_event(&json!({ "Records": [s3_rec(name, KEY, json!({}))] })).unwrap();
        let want = if created {
            unit(vec![obj(BUCKET, KEY, None)], vec![])
        } else {
            unit(
                vec![],
                vec![skip(
                    &format!("s3://{BUCKET}/{KEY}"),
                    SkipReason::NotObjectCreated,
                    Some(name),
                )],
            )
        };
        assert_eq!(inv.units, vec![want], "{name}");
    }
}

#[test]
fn s3_records_versions_non_exports_and_duplicates() {
    let event = json!({ "Records": [
        s3_rec("ObjectCreated:Put", KEY, json!({ "versionId": "v1" })),
        s3_rec("ObjectCreated:Put", KEY, json!({ "versionId": "" })),
        s3_rec("ObjectCreated:Put", KEY, json!({ "versionId": null })),
        s3_rec("ObjectCreated:Put", KEY, json!({ "versionId": "v1", "size": 1 })),
        s3_rec("ObjectCreated:Copy", "AWSLogs%2F111122223333%2FGuardDuty%2F", json!({})),
        s3_rec("ObjectCreated:Put", "a/b.jsonl", json!({})),
        s3_rec("ObjectCreated:Put", "a/b.jsonl", json!({})),
        s3_rec("ObjectCreated:Put", "a/b.json.gz", json!({ "versionId": "v9" })),
    ]});
    let inv = parse_event(&event).unwrap();
    let want = unit(
        vec![
            obj(BUCKET, KEY, Some("v1")),
            obj(BUCKET, KEY, None),
            obj(BUCKET, "a/b.jsonl", None),
        ],
        vec![
            skip(
                &format!("s3://{BUCKET}/AWSLogs/111122223333/GuardDuty/"),
                SkipReason::NotAnExport,
                None,
            ),
            skip(
                &format!("s3://{BUCKET}/a/b.json.gz (version v9)"),
                SkipReason::NotAnExport,
                None,
            ),
        ],
    );
    assert_eq!(
        inv,
        Invocation {
            shape: Shape::S3,
            units: vec![want],
            batch: None,
        }
    );
}

#[test]
fn s3_records_with_missing_members() {
    // Only eventName, bucket name and key are needed; everything else may be missing.
    let minimal = json!({ "Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": BUCKET }, "object": { "key": "x.jsonl.gz" } }
    }]});
    assert_eq!(
        parse_event(&minimal).unwrap().units,
        vec![unit(vec![obj(BUCKET, "x.jsonl.gz", None)], vec![])]
    );

    let event = json!({ "Records": [
        { "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
          "s3": { "bucket": { "name": BUCKET }, "object": {} } },
        { "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
          "s3": { "object": { "key": "y.jsonl.gz" } } },
        { "eventSource": "aws:s3", "s3": { "bucket": { "name": BUCKET }, "object": { "key": "z.jsonl.gz" } } },
        { "eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete", "s3": {} },
        s3_rec("ObjectCreated:Put", "ok.jsonl.gz", json!({})),
    ]});
    let inv = parse_event(&event).unwrap();
    assert_eq!(inv.shape, Shape::S3);
    let u = &inv.units[0];
    assert_eq!(u.objects, vec![obj(BUCKET, "ok.jsonl.gz", None)]);
    assert_eq!(
        u.skipped,
        vec![
            skip(
                &format!("s3://{BUCKET}/z.jsonl.gz"),
                SkipReason::NotObjectCreated,
                None
            ),
            skip(
                "S3 record 4",
                SkipReason::NotObjectCreated,
                Some("ObjectRemoved:Delete")
            ),
        ]
    );
    assert_eq!(
        u.error.as_deref(),
        Some(
            "S3 record 1 (ObjectCreated:Put) has no s3.bucket.name or no s3.object.key; \
             S3 record 2 (ObjectCreated:Put) has no s3.bucket.name or no s3.object.key"
        )
    );
}

#[test]
fn s3_undecodable_key_is_a_unit_error() {
    let event = json!({ "Records": [
        s3_rec("ObjectCreated:Put", "AWSLogs/%zz.jsonl.gz", json!({})),
        s3_rec("ObjectCreated:Put", "good.jsonl.gz", json!({})),
        // Not a creation: only logged, so the raw key is shown rather than failing.
        s3_rec("ObjectRemoved:Delete", "gone%FF.jsonl.gz", json!({})),
    ]});
    let inv = parse_event(&event).unwrap();
    let u = &inv.units[0];
    assert_eq!(u.objects, vec![obj(BUCKET, "good.jsonl.gz", None)]);
    assert_eq!(
        u.skipped,
        vec![skip(
            &format!("s3://{BUCKET}/gone%FF.jsonl.gz"),
            SkipReason::NotObjectCreated,
            Some("ObjectRemoved:Delete")
        )]
    );
    assert_eq!(
        u.error.as_deref(),
        Some(
            "object key \"AWSLogs/%zz.jsonl.gz\" is not valid URL encoding: \"%zz\" at byte 8 \
             is not a percent-escape (% must be followed by two hex digits)"
        )
    );
}

#[test]
fn eventbridge_events() {
    let eb = |detail_type: &str, key: &str, version: Value| {
        json!({
            "version": "0", "source": "aws.s3", "detail-type": detail_type,
            "detail": { "bucket": { "name": BUCKET },
                        "object": { "key": key, "version-id": version } }
        })
    };
    // Keys are taken as stored: '+' and '%' are literal.
    let inv = parse_event(&eb(
        "Object Created",
        "My Exports/c++%20/x.jsonl.gz",
        json!("v2"),
    ))
    .unwrap();
    assert_eq!(inv.shape, Shape::EventBridge);
    assert_eq!(
        inv.units,
        vec![unit(
            vec![obj(BUCKET, "My Exports/c++%20/x.jsonl.gz", Some("v2"))],
            vec![]
        )]
    );
    let inv = parse_event(&eb("Object Created", "x.jsonl.gz", json!(""))).unwrap();
    assert_eq!(inv.units[0].objects, vec![obj(BUCKET, "x.jsonl.gz", None)]);
    let inv = parse_event(&eb("Object Created", "folder/", Value::Null)).unwrap();
    assert_eq!(
        inv.units,
        vec![unit(
            vec![],
            vec![skip(
                &format!("s3://{BUCKET}/folder/"),
                SkipReason::NotAnExport,
                None
            )]
        )]
    );
    let inv = parse_event(&eb("Object Deleted", KEY, Value::Null)).unwrap();
    assert_eq!(
        inv.units,
        vec![unit(
            vec![],
            vec![skip(
                &format!("s3://{BUCKET}/{KEY}"),
                SkipReason::NotObjectCreated,
                Some("Object Deleted")
            )]
        )]
    );
    let other = json!({ "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification",
                        "detail": { "instance-id": "i-0123456789abcdef0" } });
    let inv = parse_event(&other).unwrap();
    assert_eq!(inv.shape, Shape::EventBridge);
    assert_eq!(
        inv.units[0].skipped,
        vec![skip(
            "EventBridge event from aws.ec2",
            SkipReason::NotObjectCreated,
            Some("EC2 Instance State-change Notification")
        )]
    );
    // The health check's schedule: its own shape, nothing to process; another event from
    // aws.events is skipped like any other source.
    let schedule = json!({ "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-12-05T14:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/health"], "detail": {} });
    let inv = parse_event(&schedule).unwrap();
    assert_eq!(inv.shape, Shape::Schedule);
    assert_eq!(inv.units, vec![Unit::default()]);
    let other = json!({ "source": "aws.events", "detail-type": "Something Else", "detail": {} });
    assert_eq!(parse_event(&other).unwrap().shape, Shape::EventBridge);
    let broken = json!({ "source": "aws.s3", "detail-type": "Object Created", "detail": {} });
    let inv = parse_event(&broken).unwrap();
    assert!(inv.units[0].objects.is_empty());
    assert!(
        inv.units[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no detail.bucket.name"),
        "{:?}",
        inv.units[0].error
    );
}

#[test]
fn sqs_mixed_batch_fails_only_bad_messages() {
    let s3_body =
        json!({ "Records": [s3_rec("ObjectCreated:Put", "My+Exports/a.jsonl.gz", json!({}))] });
    let eb_body = json!({ "source": "aws.s3", "detail-type": "Object Created",
        "detail": { "bucket": { "name": BUCKET }, "object": { "key": "My Exports/b.jsonl.gz" } } });
    let sns_body = json!({ "Type": "Notification", "MessageId": "sns-1",
        "Message": json!({ "Records": [s3_rec("s3:ObjectCreated:Post", "c.jsonl.gz", json!({}))] }).to_string() });
    let sns_test = json!({ "Type": "Notification",
        "Message": json!({ "Service": "Amazon S3", "Event": "s3:TestEvent" }).to_string() });
    let event = json!({ "Records": [
        sqs_rec("m1", &s3_body.to_string()),
        sqs_rec("m2", "Message Body"),
        sqs_rec("m3", &eb_body.to_string()),
        sqs_rec("m4", &sns_body.to_string()),
        sqs_rec("m5", r#"{"hello":"world"}"#),
        sqs_rec("m6", &sns_test.to_string()),
        sqs_rec("m7", &json!({ "Type": "Notification", "Message": "not json" }).to_string()),
        sqs_rec("m8", &json!({ "Records": [s3_rec("ObjectCreated:Put", "bad%2", json!({}))] }).to_string()),
        { "eventSource": "aws:sqs", "messageId": "m9" },
        { "eventSource": "aws:sqs", "body": "[]" },
    ]});
    let inv = parse_event(&event).unwrap();
    assert_eq!(inv.shape, Shape::Sqs);
    let ids: Vec<Option<&str>> = inv.units.iter().map(|u| u.message_id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some("m1"),
            Some("m2"),
            Some("m3"),
            Some("m4"),
            Some("m5"),
            Some("m6"),
            Some("m7"),
            Some("m8"),
            Some("m9"),
            None
        ]
    );
    let u = &inv.units;
    assert_eq!(
        u[0].objects,
        vec![obj(BUCKET, "My Exports/a.jsonl.gz", None)]
    );
    assert_eq!(
        u[2].objects,
        vec![obj(BUCKET, "My Exports/b.jsonl.gz", None)]
    );
    assert_eq!(u[3].objects, vec![obj(BUCKET, "c.jsonl.gz", None)]);
    assert_eq!(
        u[5].skipped,
        vec![skip("s3:TestEvent", SkipReason::TestEvent, None)]
    );
    for i in [0, 2, 3, 5] {
        assert_eq!(u[i].error, None, "unit {i}");
    }
    let err = |i: usize| u[i].error.clone().unwrap_or_default();
    assert!(
        err(1).starts_with("SQS message m2: its body is not JSON ("),
        "{}",
        err(1)
    );
    assert_eq!(
        err(4),
        format!(
            "SQS message m5: its body is not a recognised event: a JSON object with members \
             hello; {ACCEPTED}"
        )
    );
    assert!(
        err(6).starts_with("SQS message m7: the SNS Message is not JSON ("),
        "{}",
        err(6)
    );
    assert_eq!(
        err(7),
        "SQS message m8: object key \"bad%2\" is not valid URL encoding: it ends in the \
         middle of a percent-escape (\"%2\")"
    );
    assert_eq!(err(8), "SQS message m9: it has no body");
    assert!(
        err(9).starts_with(
            "SQS message 10 (no messageId): its body is not a recognised event: a JSON array"
        ),
        "{}",
        err(9)
    );
    for i in [1, 4, 6, 7, 8, 9] {
        assert!(
            u[i].objects.is_empty() && u[i].skipped.is_empty(),
            "unit {i}"
        );
    }
}

#[test]
fn sqs_duplicates_are_per_message() {
    let body = json!({ "Records": [
        s3_rec("ObjectCreated:Put", "a.jsonl.gz", json!({})),
        s3_rec("ObjectCreated:Put", "a.jsonl.gz", json!({})),
    ]})
    .to_string();
    let inv =
        parse_event(&json!({ "Records": [sqs_rec("m1", &body), sqs_rec("m2", &body)] })).unwrap();
    for u in &inv.units {
        assert_eq!(u.objects, vec![obj(BUCKET, "a.jsonl.gz", None)]);
    }
}

#[test]
fn sns_records() {
    let sns = |id: &str, message: &str| json!({ "EventSource": "aws:sns", "Sns": { "MessageId": id, "Message": message } });
    let s3_msg = json!({ "Records": [
        s3_rec("ObjectCreated:Put", "a.jsonl.gz", json!({})),
        s3_rec("ObjectCreated:Put", "a.jsonl.gz", json!({})),
    ]})
    .to_string();
    let test_msg =
        json!({ "Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET }).to_string();
    let event = json!({ "Records": [
        sns("n1", &s3_msg),
        sns("n2", &test_msg),
        sns("n3", "Hello\r\nworld!"),
        sns("n4", &s3_msg),
        sns("n5", "{\"Type\":\"Notification\",\"Message\":\"{}\"}"),
    ]});
    let inv = parse_event(&event).unwrap();
    assert_eq!(inv.shape, Shape::Sns);
    assert_eq!(inv.units.len(), 1);
    let u = &inv.units[0];
    assert_eq!(u.message_id, None);
    assert_eq!(u.objects, vec![obj(BUCKET, "a.jsonl.gz", None)]);
    assert_eq!(
        u.skipped,
        vec![skip(
            "s3:TestEvent (bucket guardduty-alerts-exports)",
            SkipReason::TestEvent,
            None
        )]
    );
    let e = u.error.as_deref().unwrap();
    assert!(
        e.starts_with("SNS message n3: the SNS Message is not JSON ("),
        "{e}"
    );
    assert!(
        e.contains("; SNS message n5: the SNS Message is not a recognised event: a JSON object with members Message, Type"),
        "{e}"
    );
}

#[test]
fn unrecognised_events() {
    let cases = [
        (json!({}), "an empty JSON object"),
        (json!([]), "a JSON array"),
        (json!("s3://b/k"), "a JSON string"),
        (json!(null), "JSON null"),
        (
            json!({ "Records": [] }),
            "a JSON object with members Records (no records)",
        ),
        (
            json!({ "Records": [{ "eventSource": "aws:kinesis", "kinesis": {} }] }),
            "a JSON object with members Records (first record from \"aws:kinesis\")",
        ),
        (
            json!({ "Records": [{ "foo": 1 }] }),
            "a JSON object with members Records (first record has no eventSource)",
        ),
        (
            json!({ "Type": "Notification", "Message": "{}" }),
            "a JSON object with members Message, Type",
        ),
        (
            json!({ "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9 }),
            "a JSON object with members a, b, c, d, e, f, g, h, …",
        ),
    ];
    for (event, found) in cases {
        let err = parse_event(&event).expect_err(&event.to_string());
        assert_eq!(err, TriggerError::UnrecognisedEvent(found.into()));
        let text = err.to_string();
        assert!(text.starts_with("unrecognised event: "), "{text}");
        for shape in [
            "S3 event notification",
            "s3:TestEvent",
            "EventBridge",
            "SNS",
            "SQS",
        ] {
            assert!(text.contains(shape), "{text}");
        }
    }
}

#[test]
fn names() {
    assert_eq!(SkipReason::TestEvent.as_str(), "test_event");
    assert_eq!(SkipReason::NotObjectCreated.as_str(), "not_object_created");
    assert_eq!(SkipReason::NotAnExport.as_str(), "not_an_export");
    assert_eq!(Shape::S3TestEvent.to_string(), "s3_test_event");
    assert_eq!(
        skip(
            "s3://b/k",
            SkipReason::NotObjectCreated,
            Some("ObjectRemoved:Delete")
        )
        .to_string(),
        "s3://b/k: not_object_created (ObjectRemoved:Delete)"
    );
    assert_eq!(
        skip("s3://b/k", SkipReason::NotAnExport, None).to_string(),
        "s3://b/k: not_an_export"
    );
}

/// The public fixtures in `../shared/corpus/events/` (other projects' files, not copied in).
/// Runs when that folder exists; `GUARDDUTY_CORPUS_REQUIRED=1` makes its absence a failure.
#[test]
fn public_corpus_events() {
    /// What a known file must give: its shape, its one unit's single skip (none of these
    /// files names an export), and whether that unit fails.
    struct Known {
        file: &'static str,
        shape: Shape,
        skip: Option<(SkipReason, &'static str)>,
        failed: bool,
    }
    const HAPPY: &str = "s3://sourcebucket/Happy Face.jpg (version version)";
    let known = [
        Known {
            file: "aws-docs_s3-eventbridge-object-created.json",
            shape: Shape::EventBridge,
            skip: Some((
                SkipReason::NotAnExport,
                "s3://amzn-s3-demo-bucket1/example-key (version IYV3p45BT0ac8hjHg1houSdS1a.Mro8e)",
            )),
            failed: false,
        },
        Known {
            file: "aws-lambda-go_s3-event.json",
            shape: Shape::S3,
            skip: Some((SkipReason::NotAnExport, HAPPY)),
            failed: false,
        },
        Known {
            file: "aws-lambda-go_s3-test-event.json",
            shape: Shape::S3TestEvent,
            skip: Some((SkipReason::TestEvent, "s3:TestEvent (bucket bmoffatt)")),
            failed: false,
        },
        Known {
            file: "rust-runtime_example-eventbridge-event-obj.json",
            shape: Shape::EventBridge,
            skip: Some((
                SkipReason::NotObjectCreated,
                "EventBridge event from aws.ec2",
            )),
            failed: false,
        },
        Known {
            file: "rust-runtime_example-s3-event-with-decoded.json",
            shape: Shape::S3,
            skip: Some((SkipReason::NotAnExport, HAPPY)),
            failed: false,
        },
        Known {
            file: "rust-runtime_example-s3-event.json",
            shape: Shape::S3,
            skip: Some((SkipReason::NotAnExport, HAPPY)),
            failed: false,
        },
        // Their SNS Message and SQS body are plain text: recognised, the unit fails.
        Known {
            file: "rust-runtime_example-sns-event.json",
            shape: Shape::Sns,
            skip: None,
            failed: true,
        },
        Known {
            file: "rust-runtime_example-sqs-event.json",
            shape: Shape::Sqs,
            skip: None,
            failed: true,
        },
    ];

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/events");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("GUARDDUTY_CORPUS_REQUIRED").is_none(),
            "corpus folder {} not found (GUARDDUTY_CORPUS_REQUIRED is set)",
            dir.display()
        );
        eprintln!(
            "NOTE: {} not found: public event fixtures NOT tested",
            dir.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no events in {}", dir.display());
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let text = std::fs::read_to_string(path).expect("read");
        let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every file is a recognised shape, and every key in it decodes.
        let inv = parse_event(&event).unwrap_or_else(|e| panic!("{name}: {e}"));
        for u in &inv.units {
            let error = u.error.as_deref().unwrap_or_default();
            assert!(!error.contains("URL encoding"), "{name}: {error}");
            for o in &u.objects {
                assert!(is_export_key(&o.key), "{name}: {o}");
            }
        }
        let Some(k) = known.iter().find(|k| k.file == name) else {
            eprintln!(
                "NOTE: {name}: recognised as {}, no expectations listed",
                inv.shape
            );
            continue;
        };
        assert_eq!(inv.shape, k.shape, "{name}");
        let [u] = inv.units.as_slice() else {
            panic!("{name}: {} units", inv.units.len());
        };
        assert!(u.objects.is_empty(), "{name}: {:?}", u.objects);
        let skips: Vec<(SkipReason, &str)> = u
            .skipped
            .iter()
            .map(|s| (s.reason, s.what.as_str()))
            .collect();
        assert_eq!(skips, Vec::from_iter(k.skip), "{name}");
        assert_eq!(u.error.is_some(), k.failed, "{name}: {:?}", u.error);
        if k.shape == Shape::Sqs {
            assert_eq!(u.message_id.as_deref(), Some("MessageID_1"), "{name}");
        }
    }

    // Our GuardDuty Finding fixture has the envelope the public EventBridge events have, and
    // every public finding, as its detail, is read as one finding, unchanged.
    let ours: Value =
        serde_json::from_str(include_str!("../../events/guardduty-finding.json")).unwrap();
    for name in [
        "aws-docs_s3-eventbridge-object-created.json",
        "rust-runtime_example-eventbridge-event-obj.json",
    ] {
        let theirs: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        for member in theirs.as_object().unwrap().keys() {
            assert!(
                ours.get(member).is_some(),
                "{name} has {member:?}, our fixture has not"
            );
        }
    }
    let findings_dir = dir.join("../findings");
    let mut read = 0;
    for entry in std::fs::read_dir(&findings_dir).expect("corpus findings") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        for (i, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let finding: Value = serde_json::from_str(line).unwrap();
            let mut event = ours.clone();
            event["detail"] = finding.clone();
            let inv = parse_event(&event).unwrap();
            let what = format!("{}:{}", path.display(), i + 1);
            assert_eq!(inv.shape, Shape::Finding, "{what}");
            assert_eq!(inv.units[0].error, None, "{what}");
            let [f] = &inv.units[0].findings[..] else {
                panic!("{what}")
            };
            assert_eq!(
                serde_json::from_str::<Value>(&f.json).unwrap(),
                finding,
                "{what}"
            );
            read += 1;
        }
    }
    assert!(read > 40, "{read} public findings read as events");
}

#[test]
fn guardduty_finding_events() {
    let text = include_str!("../../events/guardduty-finding.json");
    let event: Value = serde_json::from_str(text).unwrap();
    let inv = parse(text);
    assert_eq!(inv.shape, Shape::Finding);
    assert_eq!(inv.batch, None);
    let [unit] = &inv.units[..] else {
        panic!("{inv:?}")
    };
    assert_eq!(unit.error, None);
    assert!(unit.objects.is_empty() && unit.skipped.is_empty());
    let [f] = &unit.findings[..] else {
        panic!("{unit:?}")
    };
    assert_eq!(
        f.name,
        "GuardDuty Finding event 5e1c7a3b-9d2f-4e6a-8b0c-1f2e3d4c5b6a (finding 4a5e5f82cf5387ba6ffaa0e35da2d70a)"
    );
    // The finding is the detail, whole, on one line.
    assert!(!f.json.contains('\n'));
    assert_eq!(
        serde_json::from_str::<Value>(&f.json).unwrap(),
        event["detail"]
    );

    // Through SQS (EventBridge -> SQS) and SNS (EventBridge -> SNS -> SQS).
    let sqs = json!({ "Records": [sqs_rec("m1", text)] });
    let inv = parse_event(&sqs).unwrap();
    assert_eq!(inv.shape, Shape::Sqs);
    assert_eq!(inv.units[0].findings, unit.findings);
    assert_eq!(inv.units[0].message_id.as_deref(), Some("m1"));
    let sns_body =
        json!({ "Type": "Notification", "MessageId": "n1", "Message": text }).to_string();
    let inv = parse_event(&json!({ "Records": [sqs_rec("m2", &sns_body)] })).unwrap();
    assert_eq!(inv.units[0].findings, unit.findings);
    let sns = json!({ "Records": [{ "EventSource": "aws:sns", "Sns": { "MessageId": "n2", "Message": text } }] });
    assert_eq!(parse_event(&sns).unwrap().units[0].findings, unit.findings);

    // Not a finding: no detail, or a detail without id or type, is the unit's error.
    for (detail, problem) in [
        (Value::Null, "has no detail object (the finding)"),
        (
            json!({ "type": "Recon:EC2/PortProbeUnprotectedPort" }),
            "its detail has no id or no type",
        ),
        (json!({ "id": "abc" }), "its detail has no id or no type"),
    ] {
        let mut e = event.clone();
        e["detail"] = detail;
        let inv = parse_event(&e).unwrap();
        let err = inv.units[0].error.as_deref().unwrap_or_default();
        assert!(err.contains(problem), "{err}");
        assert!(
            err.contains("5e1c7a3b-9d2f-4e6a-8b0c-1f2e3d4c5b6a"),
            "{err}"
        );
        assert!(inv.units[0].findings.is_empty());
    }

    // Other GuardDuty events are skipped, named by their detail-type.
    let mut e = event.clone();
    e["detail-type"] = json!("GuardDuty Malware Protection Object Scan Result");
    let inv = parse_event(&e).unwrap();
    assert_eq!(inv.shape, Shape::EventBridge);
    assert_eq!(
        inv.units[0].skipped,
        [skip(
            "EventBridge event from aws.guardduty",
            SkipReason::NotAFinding,
            Some("GuardDuty Malware Protection Object Scan Result")
        )]
    );
    assert!(inv.units[0].findings.is_empty() && inv.units[0].error.is_none());
}

#[test]
fn batch_operations_events() {
    let v1 = parse(include_str!("../../events/batch-operations-1.0.json"));
    assert_eq!(v1.shape, Shape::BatchOperations);
    assert_eq!(
        v1.batch,
        Some(BatchJob {
            schema_version: "1.0".into(),
            invocation_id: "YXNkZmdoamtsMTIzNDU2Nzg5MGFzZGZnaGprbA".into(),
            job_id: "8d2f4b6a-1c3e-4a5b-9d7f-0e2c4a6b8d0f".into(),
            user_arguments: Default::default(),
        })
    );
    assert_eq!(
        v1.units,
        [Unit {
            task_id: Some("dGFzay0xLTAwMDEK".into()),
            ..unit(vec![obj(BUCKET, KEY, None)], vec![])
        }]
    );
    // Schema 2.0: the bucket by name, user arguments, the key URL-encoded (`+` is a space).
    let v2 = parse(include_str!("../../events/batch-operations-2.0.json"));
    assert_eq!(v2.shape, Shape::BatchOperations);
    let job = v2.batch.clone().unwrap();
    assert_eq!(job.schema_version, "2.0");
    assert_eq!(
        job.user_arguments.get("realert").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        v2.units,
        [Unit {
            task_id: Some("dGFzay0yLTAwMDEK".into()),
            ..unit(
                vec![obj(
                    BUCKET,
                    &format!("My Exports/{KEY}"),
                    Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
                )],
                vec![]
            )
        }]
    );

    // Several tasks, each its own unit: a non-export key is skipped, a task without a bucket or
    // with a bad key is that task's error, and the others are unaffected.
    let event = json!({
        "invocationSchemaVersion": "1.0",
        "invocationId": "inv",
        "job": { "id": "job" },
        "tasks": [
            { "taskId": "t1", "s3Key": "AWSLogs/a%2Bb.jsonl.gz", "s3VersionId": null, "s3BucketArn": "arn:aws-cn:s3:::b" },
            { "taskId": "t2", "s3Key": "AWSLogs/manifest.csv", "s3BucketArn": "arn:aws:s3:::b" },
            { "taskId": "t3", "s3Key": "k.jsonl.gz" },
            { "taskId": "t4", "s3Key": "bad%zz.jsonl.gz", "s3BucketArn": "arn:aws:s3:::b" },
            { "s3Key": "k.jsonl.gz", "s3BucketArn": "arn:aws:s3:::b" },
        ]
    });
    let inv = parse_event(&event).unwrap();
    assert_eq!(inv.units.len(), 5);
    assert_eq!(
        inv.units[0].objects,
        [obj("b", "AWSLogs/a+b.jsonl.gz", None)]
    );
    assert_eq!(
        inv.units[1].skipped,
        [skip(
            "s3://b/AWSLogs/manifest.csv",
            SkipReason::NotAnExport,
            None
        )]
    );
    assert!(
        inv.units[2]
            .error
            .as_deref()
            .unwrap()
            .contains("no s3Bucket")
    );
    assert!(
        inv.units[3]
            .error
            .as_deref()
            .unwrap()
            .contains("not a percent-escape")
    );
    assert_eq!(
        inv.units[4].task_id.as_deref(),
        Some("(task 5 has no taskId)")
    );
    assert_eq!(inv.units[4].objects, [obj("b", "k.jsonl.gz", None)]);
}
