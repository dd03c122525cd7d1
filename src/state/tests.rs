//! The store's item handling and ids (the verdict's table is in `decide::dedup`).

use super::item::*;
use super::*;
use crate::classify::SeverityLabel::*;
use crate::decide::dedup::test_alerted as state;

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 86400;

fn settings() -> DedupSettings {
    DedupSettings::new("gd-dedup")
}

#[test]
fn items_round_trip() {
    let cur = state(High, 20, NOW);
    let prev = state(Medium, 9, NOW - DAY);
    for lease in [
        None,
        Some(Lease {
            until_s: NOW + 900,
            prev: None,
        }),
        Some(Lease {
            until_s: NOW + 900,
            prev: Some(prev),
        }),
    ] {
        let item = finding_item(finding_pk("a/b/c"), &cur, new_ver(), NOW + 30 * DAY, lease);
        assert_eq!(item["pk"], s("finding#a/b/c"));
        assert_eq!(item["band"], n(2));
        assert_eq!(
            parse_stored(&item),
            Ok(Stored {
                current: cur,
                lease,
                expires_at_s: NOW + 30 * DAY,
            })
        );
    }
}

#[test]
fn malformed_items_are_reasons_not_panics() {
    let good = finding_item(
        finding_pk("k"),
        &state(Low, 1, NOW),
        "v".into(),
        NOW + DAY,
        Some(Lease {
            until_s: NOW + 1,
            prev: Some(state(Low, 1, NOW - DAY)),
        }),
    );
    let prev_of = |k: &str, v: AttributeValue| {
        let AttributeValue::M(mut m) = good["prev"].clone() else {
            unreachable!()
        };
        m.insert(k.into(), v);
        AttributeValue::M(m)
    };
    let cases: Vec<(&str, Option<AttributeValue>, &str)> = vec![
        ("band", None, "band is missing"),
        ("band", Some(n(7)), "band 7 is not 0 to 3"),
        ("band", Some(s("2")), "band is not of type N"),
        (
            "band",
            Some(n(-1)),
            "band is not a number of the expected kind: \"-1\"",
        ),
        ("severity", Some(n("NaN")), "severity is not finite"),
        (
            "count",
            Some(n("1.5")),
            "count is not a number of the expected kind",
        ),
        (
            "alerted_at",
            Some(AttributeValue::Bool(true)),
            "alerted_at is not of type N",
        ),
        ("expires_at", None, "expires_at is missing"),
        (
            "lease_until",
            Some(s("soon")),
            "lease_until is not of type N",
        ),
        ("prev", Some(s("x")), "prev is not of type M"),
        (
            "prev",
            Some(prev_of("count", s("1"))),
            "prev: count is not of type N",
        ),
    ];
    for (member, value, want) in cases {
        let mut item = good.clone();
        match value {
            Some(v) => item.insert(member.into(), v),
            None => item.remove(member),
        };
        let got = parse_stored(&item).expect_err(want);
        assert!(got.starts_with(want), "{member}: {got}");
    }
    // A Null prev is no previous alert.
    let mut item = good.clone();
    item.insert("prev".into(), AttributeValue::Null(true));
    assert_eq!(parse_stored(&item).unwrap().lease.unwrap().prev, None);
}

#[test]
fn a_malformed_item_reads_as_absent_but_present() {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    let store = DedupStore::new(Client::from_conf(config), settings());
    let slot = store.slot("k", None);
    assert!(!slot.exists && slot.stored.is_none());
    let mut item = finding_item(finding_pk("k"), &state(Low, 1, NOW), "v1".into(), NOW, None);
    assert_eq!(store.slot("k", Some(&item)).ver.as_deref(), Some("v1"));
    item.insert("band".into(), s("High"));
    let slot = store.slot("k", Some(&item));
    assert!(slot.exists && slot.stored.is_none());
    assert_eq!(slot.ver.as_deref(), Some("v1"));
    item.remove("ver");
    let slot = store.slot("k", Some(&item));
    assert!(slot.exists && slot.ver.is_none() && slot.stored.is_none());
}

#[test]
fn versions_are_unique() {
    let vers: std::collections::HashSet<String> = (0..10_000).map(|_| new_ver()).collect();
    assert_eq!(vers.len(), 10_000);
}

#[test]
fn object_ids() {
    assert_eq!(
        object_id("b", "AWSLogs/1/GuardDuty/x.jsonl.gz", "3HL4kqtJ"),
        "s3://b/AWSLogs/1/GuardDuty/x.jsonl.gz@3HL4kqtJ"
    );
}

#[test]
fn claim_outcomes_fail_open() {
    let err = DedupError {
        table: "t".into(),
        operation: "PutItem",
        kind: DedupErrorKind::Other,
        problem: "p".into(),
    };
    assert!(ClaimOutcome::Error(err).alerts(), "fail open");
    assert!(!ClaimOutcome::Skip(Verdict::InFlight).alerts());
}
